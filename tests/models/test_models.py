"""Models: initial loss, gradient checks, regularisation, overfitting, the Solver and checkpoints."""
import math

import numpy as np
import pytest

import fastnn
from fastnn import layers as L
from fastnn.gradcheck import check_model_gradients
from fastnn.models import FullyConnectedNet, Model, SmallVGG, ThreeLayerConvNet, TwoLayerNet


def _data(rng, N, shape, C):
    return rng.standard_normal((N,) + shape), rng.integers(0, C, N)


def test_initial_loss_is_log_num_classes(rng):
    X, y = _data(rng, 64, (3, 8, 8), 10)
    for model in (TwoLayerNet(192, 50, 10, seed=0), FullyConnectedNet([40, 30], 192, 10, seed=0),
                  ThreeLayerConvNet((3, 8, 8), num_filters=4, filter_size=3, hidden_dim=20, seed=0),
                  SmallVGG((3, 8, 8), channels=(8, 8, 16, 16), seed=0),
                  SmallVGG((3, 8, 8), channels=(8, 8, 16, 16), residual=True, seed=0)):
        loss, _ = model.loss(X, y)
        assert abs(loss - math.log(10)) < 0.05, type(model).__name__


@pytest.mark.parametrize("make", [
    lambda: TwoLayerNet(12, 7, 4, weight_scale=0.3, reg=0.1, dtype=np.float64, seed=0),
    lambda: FullyConnectedNet([6, 5], 12, 4, normalization="batchnorm", reg=0.05, weight_scale=0.5,
                              dtype=np.float64, seed=0),
    lambda: FullyConnectedNet([6, 5], 12, 4, normalization="layernorm", weight_scale=0.5,
                              dtype=np.float64, seed=0),
    lambda: ThreeLayerConvNet((3, 4, 4), num_filters=3, filter_size=3, hidden_dim=5, num_classes=4,
                              weight_scale=0.3, reg=0.02, dtype=np.float64, seed=0),
    lambda: SmallVGG((2, 4, 4), channels=(3, 3, 4, 4), num_classes=4, classifier_std=0.5,
                     dtype=np.float64, seed=0),
    lambda: SmallVGG((2, 4, 4), channels=(3, 3, 4, 4), num_classes=4, residual=True, classifier_std=0.5,
                     dtype=np.float64, seed=0),
], ids=["two-layer", "fc-batchnorm", "fc-layernorm", "convnet", "vgg", "vgg-residual"])
def test_model_gradients(make, rng):
    model = make()
    shape = (12,) if isinstance(model, (TwoLayerNet, FullyConnectedNet)) else (
        (3, 4, 4) if isinstance(model, ThreeLayerConvNet) else (2, 4, 4))
    X, y = _data(rng, 3, shape, 4)
    errors = check_model_gradients(model, X, y)
    assert set(errors) == set(model.params)
    # a bias feeding batch norm has a true gradient of exactly 0 (the norm removes any
    # shift): its relative error compares rounding noise, so it is checked to be 0 instead
    _, grads = model.loss(X, y)
    zero = {k for k, g in grads.items() if k.startswith("b") and np.abs(g).max() < 1e-12}
    assert all(f"gamma{k[1:]}" in model.params for k in zero), zero     # only biases before a norm
    assert max(v for k, v in errors.items() if k not in zero) < 1e-6, errors


def test_course_parameter_names():
    fc = FullyConnectedNet([5, 4], 6, 3, normalization="batchnorm", seed=0)
    assert sorted(fc.params) == sorted(["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2",
                                        "W3", "b3"])
    assert fc.params["W1"].shape == (6, 5) and fc.params["gamma2"].shape == (4,)
    vgg = SmallVGG(residual=True, seed=0)
    assert {f"W{i}" for i in range(1, 6)} <= set(vgg.params) and "gamma4" in vgg.params


def test_regularisation_in_loss_and_grads(rng):
    X, y = _data(rng, 5, (6,), 3)
    m0 = TwoLayerNet(6, 4, 3, weight_scale=0.5, reg=0.0, dtype=np.float64, seed=1)
    m1 = TwoLayerNet(6, 4, 3, weight_scale=0.5, reg=0.7, dtype=np.float64, seed=1)
    l0, g0 = m0.loss(X, y)
    g0 = {k: v.copy() for k, v in g0.items()}
    l1, g1 = m1.loss(X, y)
    W1, W2 = m1.params["W1"], m1.params["W2"]
    assert l1 == pytest.approx(l0 + 0.35 * (np.sum(W1 ** 2) + np.sum(W2 ** 2)), rel=1e-12)
    np.testing.assert_allclose(g1["W1"], g0["W1"] + 0.7 * W1, rtol=1e-12)
    np.testing.assert_allclose(g1["b1"], g0["b1"], rtol=1e-12)     # biases are not regularised


def test_scores_in_eval_mode(rng):
    model = FullyConnectedNet([20], 10, 3, dropout=0.5, normalization="batchnorm", seed=0)
    X = rng.standard_normal((8, 10))
    s1, s2 = model.loss(X), model.loss(X)
    np.testing.assert_array_equal(s1, s2)          # no dropout noise, running statistics
    assert s1.shape == (8, 3) and s1.dtype == np.float32


@pytest.mark.parametrize("make,shape", [
    (lambda: FullyConnectedNet([64, 64], 30, 5, weight_scale=5e-2, seed=0), (30,)),
    (lambda: ThreeLayerConvNet((3, 8, 8), num_filters=8, filter_size=3, hidden_dim=32, num_classes=5,
                               weight_scale=5e-2, seed=0), (3, 8, 8)),
], ids=["fc", "convnet"])
def test_overfit_50_samples(make, shape, rng):
    X, y = _data(rng, 50, shape, 5)
    data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
    model = make()
    solver = fastnn.Solver(model, data, update_rule="adam", lr=5e-3,
                           batch_size=25, num_epochs=100, verbose=False, seed=0)
    solver.train()
    assert solver.check_accuracy(X, y) == 1.0


def test_sequential_model_with_solver_and_checkpoint(rng, tmp_path):
    from fastnn import checkpoint
    X, y = _data(rng, 40, (2, 6, 6), 3)
    net = L.Sequential(L.Conv2d(2, 4, 3, padding=1, seed=0), L.BatchNorm2d(4), L.ReLU(), L.MaxPool2d(2),
                       L.Flatten(), L.Linear(36, 3, seed=1))
    model = Model(net, reg=1e-4)
    solver = fastnn.Solver(model, {"X_train": X, "y_train": y, "X_val": X, "y_val": y},
                           update_rule="sgd_momentum", lr=0.05,
                           batch_size=20, num_epochs=30, verbose=False, seed=0)
    solver.train()
    assert solver.check_accuracy(X, y) >= 0.9
    path = tmp_path / "model.npz"
    model.save(path, meta={"epochs": 30})
    other = Model(L.Sequential(L.Conv2d(2, 4, 3, padding=1, seed=5), L.BatchNorm2d(4), L.ReLU(),
                               L.MaxPool2d(2), L.Flatten(), L.Linear(36, 3, seed=6)))
    assert other.load(path) == {"epochs": 30}
    wrong = Model(L.Sequential(L.Flatten(), L.Linear(72, 3, seed=0)))
    with pytest.raises(checkpoint.CheckpointError):
        wrong.load(path)
    for k in model.params:
        np.testing.assert_array_equal(other.params[k], model.params[k])
    np.testing.assert_array_equal(other.loss(X), model.loss(X))
