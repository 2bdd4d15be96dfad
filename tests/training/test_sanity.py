"""fastnn.sanity: the initial-loss, regularisation and overfitting checks, and fastnn train --sanity."""
import math

import numpy as np
import pytest

from fastnn import cli, layers as L, sanity
from fastnn.models import FullyConnectedNet, Model, TwoLayerNet


@pytest.fixture(scope="module")
def digits():
    from fastnn.data import load_builtin
    d = load_builtin("digits")
    X = d["X_train"].reshape(len(d["X_train"]), -1)
    X = (X - X.mean(axis=0)) / (X.std(axis=0) + 1e-6)
    return X.astype(np.float32), d["y_train"]


def _net(weight_scale=1e-2, seed=0):
    return FullyConnectedNet([50], input_dim=64, num_classes=10, weight_scale=weight_scale,
                             reg=0.5, seed=seed)


def test_expected_initial_loss():
    assert sanity.expected_initial_loss(10) == pytest.approx(math.log(10))
    assert sanity.expected_initial_loss(10, "svm") == 9.0
    with pytest.raises(ValueError, match="expected_initial_loss: num_classes must be an integer >= 2"):
        sanity.expected_initial_loss(1)
    with pytest.raises(ValueError, match="loss must be one of"):
        sanity.expected_initial_loss(10, "hinge")


def test_healthy_model_passes_all_checks(digits):
    model = _net()
    before = {k: v.copy() for k, v in model.params.items()}
    report = sanity.check(model, digits, update_rule="adam",
                          optim_config={"learning_rate": 1e-2})
    assert report.ok, str(report)
    assert report.num_classes == 10 and report.loss == "softmax"
    assert report.expected_loss == pytest.approx(math.log(10))
    assert abs(report.initial_loss - math.log(10)) < 0.05      # tiny weights: chance level
    assert report.loss_with_reg > report.initial_loss
    assert 1 <= report.overfit_iterations <= 300
    assert report.overfit_accuracy == 1.0
    assert [c.name for c in report.checks] == ["initial_loss", "regularization", "overfit"]
    assert report["overfit"].details["num_samples"] == 20
    # the model itself is untouched (the checks work on copies) and keeps its reg
    for k, v in model.params.items():
        np.testing.assert_array_equal(v, before[k])
    assert model.reg == 0.5
    text = str(report)
    assert text.startswith("sanity checks (softmax loss, 10 classes): all passed")
    assert "[ok]" in text and "100% training accuracy after" in text


def test_large_init_flags_the_initial_loss(digits):
    report = sanity.check(_net(weight_scale=1.0), digits, max_iterations=50)
    c = report["initial_loss"]
    assert c.passed is False and not report.ok
    assert c.value > 1.2 * math.log(10)
    assert "scores at init are too large" in c.message
    assert "[FAIL] initial loss" in str(report)


def test_loss_below_chance_is_flagged(digits):
    X, y = digits
    Xl = np.hstack([X, np.eye(10, dtype=np.float32)[y] * 50])   # the label leaks into X
    rng = np.random.default_rng(0)
    net = L.Sequential(L.Linear(74, 10, seed=rng, init="normal", weight_scale=1e-3))
    model = Model(net)
    model.params["W1"][64:, :] = np.eye(10, dtype=np.float32) * 0.1
    c = sanity.initial_loss(model, Xl[:200], y[:200])
    assert c.passed is False and c.value < 0.8 * math.log(10)
    assert "below chance" in c.message


def test_svm_expected_loss(digits):
    X, y = digits
    c = sanity.initial_loss(_net(weight_scale=1e-4), X[:100], y[:100], loss="svm")
    # the model's loss is softmax (2.3), far from an SVM's C - 1 = 9
    assert c.expected == 9.0 and c.passed is False


def test_labels_out_of_range(digits):
    X, y = digits
    report = sanity.check(_net(), (X[:50], y[:50] + 5))
    assert report["initial_loss"].passed is False
    assert "labels run from 5 to 14 but the model has 10 outputs" in report["initial_loss"].message
    assert report["overfit"].passed is None and report.ok is False


def test_regularisation_not_wired_in_fails(digits):
    X, y = digits

    class NoReg(Model):
        def loss(self, X, y=None):
            saved, self.reg = self.reg, 0.0
            try:
                return super().loss(X, y)
            finally:
                self.reg = saved

    model = NoReg(_net().net, reg=1.0)
    c = sanity.regularization_raises_loss(model, X[:100], y[:100])
    assert c.passed is False and "not added to the loss" in c.message
    assert c.value == pytest.approx(c.expected)


def test_model_without_reg_skips_that_check(digits):
    X, y = digits

    class Plain:
        def __init__(self):
            self.m = _net()
            self.params = self.m.params

        def loss(self, X, y=None):
            return self.m.loss(X, y)

    c = sanity.regularization_raises_loss(Plain(), X[:10], y[:10])
    assert c.passed is None and "no reg attribute" in c.message
    assert str(c).startswith("[skip]")


def test_overfit_fails_with_advice_when_lr_is_too_low(digits):
    X, y = digits
    c = sanity.overfit_small_subset(_net(), X, y, max_iterations=30, update_rule="sgd",
                                    optim_config={"learning_rate": 1e-6})
    assert c.passed is False and c.details["iterations"] is None
    assert c.value < 1.0
    assert "barely moved: raise the learning rate" in c.message


def test_overfit_fails_with_advice_when_lr_is_too_high(digits):
    X, y = digits
    c = sanity.overfit_small_subset(_net(), X, y, max_iterations=30, update_rule="sgd",
                                    optim_config={"learning_rate": 1e3})
    assert c.passed is False
    assert "lower" in c.message and "learning rate" in c.message


def test_overfit_counts_iterations(digits):
    X, y = digits
    c = sanity.overfit_small_subset(TwoLayerNet(64, 50, 10, weight_scale=1e-2, seed=0), X, y,
                                    num_samples=10, optim_config={"learning_rate": 1e-2})
    assert c.passed and c.details["num_samples"] == 10
    it = c.details["iterations"]
    # train the same way by hand and find the same iteration count
    from fastnn.solver import Solver
    m = TwoLayerNet(64, 50, 10, weight_scale=1e-2, seed=0)
    sub = {"X_train": X[:10], "y_train": y[:10], "X_val": X[:10], "y_val": y[:10]}
    s = Solver(m, sub, update_rule="adam", lr=1e-2, batch_size=10,
               num_epochs=it, num_train_samples=None, verbose=False, seed=0)
    s.train()
    assert s.train_acc_history[-1] == 1.0
    assert (it == 1) or max(s.train_acc_history[:-1]) < 1.0


def test_errors(digits):
    X, y = digits
    with pytest.raises(TypeError, match="check: model must have a params dict"):
        sanity.check(L.Sequential(L.Linear(64, 10)), digits)
    with pytest.raises(TypeError, match="check: data must be a dict"):
        sanity.check(_net(), X)
    with pytest.raises(KeyError, match="X_train"):
        sanity.check(_net(), {"X": X})
    with pytest.raises(ValueError, match="X has 10 samples but y has 9"):
        sanity.check(_net(), (X[:10], y[:9]))
    with pytest.raises(ValueError, match="overfit_small_subset: num_samples must be an integer >= 1"):
        sanity.overfit_small_subset(_net(), X, y, num_samples=0)
    with pytest.raises(ValueError, match="initial_loss: tol must be a positive number"):
        sanity.initial_loss(_net(), X, y, tol=0)
    with pytest.raises(KeyError, match="no check named 'x'"):
        sanity.check(_net(), digits, max_iterations=2)["x"]


def test_cli_train_sanity_prints_the_report(tmp_path, capsys):
    code = cli.main(["train", "--sanity", "--epochs", "1", "--model", "mlp", "--hidden", "32",
                     "--no-plots", "--output-dir", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert code == 0
    assert "sanity checks (softmax loss, 10 classes)" in out
    assert "initial loss" in out and "reg 0 -> 1" in out and "overfit 20 samples" in out
    assert out.index("sanity checks") < out.index("test accuracy:")
