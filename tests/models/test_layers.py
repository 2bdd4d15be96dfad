"""Layers: gradient checks through Sequential, accumulation, modes, containers."""
import numpy as np
import pytest

from fastnn import layers as L
from fastnn import ops
from fastnn.gradcheck import eval_numerical_gradient, rel_error


def _check_layer(net, x, rng, tol=1e-7):
    """Gradient check of every input and parameter of `net` (float64, deterministic): the
    centred differences of the scalar sum(net(x) * dout)."""
    out = net.forward(x)
    dout = rng.standard_normal(out.shape)
    net.zero_grad()
    dx = net.backward(dout)
    num = eval_numerical_gradient(lambda v: np.sum(net.forward(v) * dout), x.copy(), h=1e-5)
    assert rel_error(dx, num) < tol
    for k, p in net.params.items():
        analytic = net.grads[k].copy()
        numeric = eval_numerical_gradient(lambda _: np.sum(net.forward(x) * dout), p, h=1e-5)
        # a bias right before batch norm has a true gradient of 0: there the
        # relative error compares rounding noise, so check it absolutely
        exact_zero = np.abs(numeric).max() < 1e-8
        assert (np.abs(analytic).max() < 1e-8) if exact_zero else rel_error(analytic, numeric) < tol, k


F64 = dict(dtype=np.float64)


@pytest.mark.parametrize("make,shape", [
    (lambda: L.Sequential(L.Linear(12, 5, seed=0, **F64), L.ReLU(), L.Linear(5, 3, seed=1, **F64)), (4, 3, 4)),
    (lambda: L.Sequential(L.Conv2d(2, 3, 3, padding=1, seed=0, **F64), L.ReLU(), L.MaxPool2d(2),
                          L.Flatten(), L.Linear(12, 4, seed=1, **F64)), (2, 2, 4, 4)),
    (lambda: L.Sequential(L.Conv2d(2, 4, (3, 2), stride=2, padding=1, seed=0, **F64), L.AvgPool2d(2),
                          L.GlobalAvgPool2d()), (2, 2, 7, 6)),
    (lambda: L.Sequential(L.Linear(6, 5, seed=0, **F64), L.BatchNorm1d(5, **F64), L.Tanh()), (7, 6)),
    (lambda: L.Sequential(L.Conv2d(3, 4, 3, seed=0, **F64), L.BatchNorm2d(4, **F64), L.Sigmoid()), (3, 3, 5, 5)),
    (lambda: L.Sequential(L.Linear(6, 5, seed=0, **F64), L.LayerNorm(5, **F64), L.GELU()), (4, 6)),
    (lambda: L.Sequential(L.Conv2d(2, 4, 1, seed=0, **F64), L.GroupNorm(2, 4, **F64), L.SiLU()), (2, 2, 3, 3)),
    (lambda: L.Sequential(L.Linear(5, 4, seed=0, **F64), L.PReLU(1, **F64), L.Linear(4, 3, seed=1, **F64),
                          L.ELU(), L.Softplus(), L.SELU(), L.LeakyReLU(0.1)), (6, 5)),
    (lambda: L.Sequential(L.Maxout(5, 4, k=3, seed=0, **F64), L.Linear(4, 2, seed=1, **F64)), (6, 5)),
    (lambda: L.Sequential(L.Conv2d(2, 2, 3, padding=1, seed=0, **F64),
                          L.Residual(L.Sequential(L.Conv2d(2, 2, 3, padding=1, seed=1, **F64), L.Tanh()))), (2, 2, 4, 4)),
], ids=["mlp", "conv-pool", "conv-avgpool-gap", "bn1d", "bn2d", "layernorm", "groupnorm",
        "activations", "maxout", "residual"])
def test_layer_gradients_through_sequential(make, shape, rng):
    net = make()
    x = rng.standard_normal(shape)
    if any(isinstance(layer, (L.ReLU, L.MaxPool2d, L.PReLU, L.LeakyReLU, L.Maxout)) for layer in net.layers):
        x += np.sign(x) * 0.05       # keep piecewise-linear layers away from their kinks
    _check_layer(net, x, rng)


def test_dropout_layers_gradients_with_a_fixed_mask(rng):
    x = rng.standard_normal((5, 6))
    for layer in (L.Dropout(0.3, seed=1), L.DropConnect(6, 4, p=0.3, seed=1, dtype=np.float64)):
        out = layer.forward(x)
        dout = rng.standard_normal(out.shape)
        layer.zero_grad()
        dx = layer.backward(dout)
        cache = layer._cache                       # the mask of this forward
        if isinstance(layer, L.Dropout):
            np.testing.assert_allclose(dx, ops.dropout_backward(dout, cache))
            kept = out != 0
            np.testing.assert_allclose(out[kept], x[kept] / 0.7)
        else:
            eval_out = layer.eval().forward(x)
            np.testing.assert_allclose(eval_out, x @ layer.params["w"] + layer.params["b"])
            assert not np.allclose(out, eval_out)


def test_grads_accumulate_dx_fresh_and_zero_grad(rng):
    lin = L.Linear(4, 3, seed=0, dtype=np.float64)
    x, dout = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    assert set(lin.params) == set(lin.grads) == {"w", "b"}
    lin.forward(x)
    dx1 = lin.backward(dout)
    g1 = lin.grads["w"].copy()
    lin.forward(x)
    dx2 = lin.backward(dout)
    np.testing.assert_allclose(lin.grads["w"], 2 * g1)          # accumulated
    assert dx1 is not dx2 and np.array_equal(dx1, dx2)          # fresh
    lin.zero_grad()
    assert not lin.grads["w"].any() and not lin.grads["b"].any()


def test_train_eval_switch_changes_dropout_and_batchnorm(rng):
    net = L.Sequential(L.Linear(8, 8, seed=0), L.BatchNorm1d(8), L.Dropout(0.5, seed=0))
    x = rng.standard_normal((16, 8)).astype(np.float32)
    out_train = net.forward(x)
    assert (out_train == 0).mean() > 0.2
    rm = net.buffers["1.running_mean"].copy()
    assert rm.any()                                             # updated in training
    net.eval()
    assert not net[1].training and not net[2].training
    out_eval = net.forward(x)
    np.testing.assert_array_equal(net.buffers["1.running_mean"], rm)   # untouched in eval
    np.testing.assert_array_equal(out_eval, net.eval().forward(x))     # deterministic
    assert (out_eval == 0).mean() < 0.1


def test_param_dict_writes_through():
    lin = L.Linear(3, 2, seed=0)
    seq = L.Sequential(lin)
    w = lin.params["w"]
    seq.params["0.w"] = np.ones((3, 2), np.float32)
    assert lin.params["w"] is w and (w == 1).all()
    with pytest.raises(ValueError, match="float32 array of shape \\(3, 2\\); cannot assign a float64"):
        seq.params["0.w"] = np.ones((3, 2))
    with pytest.raises(ValueError, match="cannot assign"):
        seq.params["0.w"] = np.ones((2, 3), np.float32)


def test_residual_stochastic_depth(rng):
    block = L.Sequential(L.Linear(4, 4, seed=0, dtype=np.float64))
    res = L.Residual(block, drop_prob=0.5, seed=3)
    x = rng.standard_normal((3, 4))
    dropped = kept = 0
    for _ in range(200):
        out = res.forward(x)
        if np.array_equal(out, x):
            dropped += 1
            np.testing.assert_array_equal(res.backward(np.ones_like(x)), np.ones_like(x))
        else:
            kept += 1
            np.testing.assert_allclose(out, x + block.forward(x))
    assert 60 < dropped < 140 and kept > 60
    res.eval()
    np.testing.assert_allclose(res.forward(x), x + 0.5 * block.forward(x))


def test_residual_zero_init_starts_as_identity(rng):
    res = L.Residual(L.Sequential(L.Conv2d(2, 2, 3, padding=1, seed=0), L.BatchNorm2d(2)), zero_init=True)
    x = rng.standard_normal((2, 2, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(res.forward(x), x)


def test_layer_errors():
    with pytest.raises(RuntimeError, match="Linear.backward called before forward"):
        L.Linear(2, 2).backward(np.ones((1, 2)))
    with pytest.raises(TypeError, match="item 1 is a int, not a Layer"):
        L.Sequential(L.ReLU(), 3)
    with pytest.raises(ValueError, match="init must be"):
        L.Linear(2, 2, init="bogus")
    with pytest.raises(ValueError, match="drop_prob must be in"):
        L.Residual(L.ReLU(), drop_prob=1.0)
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        L.Linear(2, 2, dtype=np.int32)
