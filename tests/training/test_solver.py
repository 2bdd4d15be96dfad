"""The Solver on a tiny NumPy linear softmax classifier defined here."""
import os
import sys

import numpy as np
import pytest

import fastnn
from fastnn import Solver
from fastnn.checkpoint import CheckpointError


class LinearSoftmax:
    """scores = X W + b; softmax cross-entropy + 0.5 reg |W|^2 (the CS231n model contract)."""

    def __init__(self, D, C, seed=0, reg=0.0, dtype=np.float64):
        rng = np.random.default_rng(seed)
        self.params = {"W": (0.01 * rng.standard_normal((D, C))).astype(dtype),
                       "b": np.zeros(C, dtype)}
        self.reg = reg

    def loss(self, X, y=None):
        W, b = self.params["W"], self.params["b"]
        scores = X @ W + b
        if y is None:
            return scores
        s = scores - scores.max(axis=1, keepdims=True)
        logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
        N = len(X)
        loss = -logp[np.arange(N), y].mean() + 0.5 * self.reg * np.sum(W * W)
        ds = np.exp(logp)
        ds[np.arange(N), y] -= 1
        ds /= N
        return loss, {"W": X.T @ ds + self.reg * W, "b": ds.sum(axis=0)}


def make_data(seed=0, N=50, D=64, C=5, Nval=40):
    """N <= D: every labelling of N random points is linearly separable."""
    rng = np.random.default_rng(seed)
    return {"X_train": rng.standard_normal((N, D)), "y_train": rng.integers(0, C, N),
            "X_val": rng.standard_normal((Nval, D)), "y_val": rng.integers(0, C, Nval)}


def make_solver(model=None, data=None, **kw):
    args = dict(update_rule="adam", lr=5e-2, batch_size=25,
                num_epochs=15, verbose=False, seed=0)
    args.update(kw)
    return Solver(model or LinearSoftmax(64, 5), data or make_data(), **args)


def test_overfits_small_data_and_histories():
    model = LinearSoftmax(64, 5)
    s = make_solver(model)
    assert s.train() is s
    iters = 15 * (50 // 25)
    assert len(s.loss_history) == iters
    assert len(s.train_acc_history) == len(s.val_acc_history) == 15 + 1
    assert s.train_acc_history[-1] == 1.0
    assert s.loss_history[-1] < 0.2 * s.loss_history[0]
    assert s.epoch == 15 and not s.stopped_early
    # the initial loss of a small-init softmax is about log(C)
    assert abs(s.loss_history[0] - np.log(5)) < 0.1


def test_best_params_swapped_in():
    model = LinearSoftmax(64, 5)
    s = make_solver(model, num_val_samples=None)
    s.train()
    assert s.best_val_acc == max(s.val_acc_history)
    for k, v in s.best_params.items():
        np.testing.assert_array_equal(model.params[k], v)
        assert model.params[k] is not v             # a copy: further training cannot alter it
    assert s.check_accuracy(s.X_val, s.y_val) == s.best_val_acc


def test_best_is_the_best_epoch_not_the_last():
    # val labels are random: val accuracy wanders; the model must end at its best epoch
    data = make_data(seed=3)
    model = LinearSoftmax(64, 5)
    s = make_solver(model, data, num_epochs=10)
    s.train()
    best_epoch = int(np.argmax(s.val_acc_history))
    assert s.check_accuracy(data["X_val"], data["y_val"]) == s.val_acc_history[best_epoch]


def test_same_seed_same_run_and_different_seed_differs():
    a = make_solver(seed=7).train()
    b = make_solver(seed=7).train()
    c = make_solver(seed=8).train()
    assert a.loss_history == b.loss_history
    assert a.train_acc_history == b.train_acc_history
    assert a.loss_history != c.loss_history


def test_global_random_state_not_used():
    np.random.seed(0)
    a = make_solver(seed=1).train()
    np.random.seed(1)
    b = make_solver(seed=1).train()
    assert a.loss_history == b.loss_history


def test_lr_decay_and_per_parameter_configs():
    cfg = {"learning_rate": 0.1, "momentum": 0.5}
    # the rate in the course's optim_config spelling, not make_solver's lr=
    s = make_solver(update_rule="sgd_momentum", optim_config=cfg, lr=None, lr_decay=0.5,
                    num_epochs=3)
    s.train()
    assert cfg == {"learning_rate": 0.1, "momentum": 0.5}          # the user's dict untouched
    for p in ("W", "b"):
        assert s.optim_configs[p]["learning_rate"] == pytest.approx(0.1 * 0.5 ** 3)
        assert s.optim_configs[p]["velocity"].shape == s.model.params[p].shape
    assert s.optim_configs["W"] is not s.optim_configs["b"]


def test_callable_update_rule():
    calls = []

    def rule(w, dw, config):
        calls.append(config["learning_rate"])
        return w - config["learning_rate"] * dw, config

    s = make_solver(update_rule=rule, lr=0.5, num_epochs=2)
    s.train()
    assert len(calls) == 2 * 2 * 2                     # iterations x parameters
    assert s.loss_history[-1] < s.loss_history[0]


def test_every_rule_trains():
    for rule, lr in [("sgd", 1.0), ("sgd_momentum", 0.3), ("nesterov", 0.3), ("rmsprop", 1e-2),
                     ("adam", 5e-2)]:
        s = make_solver(update_rule=rule, lr=lr, num_epochs=10)
        s.train()
        assert s.train_acc_history[-1] >= 0.9, rule


def test_unknown_kwargs_and_bad_arguments():
    with pytest.raises(TypeError, match=r"Solver: unexpected keyword argument\(s\) "
                                        r"\['learnig_rate'\]"):
        make_solver(learnig_rate=0.1)
    with pytest.raises(ValueError, match="Solver: unknown update_rule 'adamx'"):
        make_solver(update_rule="adamx")
    with pytest.raises(ValueError, match="Solver: batch_size must be an integer >= 1"):
        make_solver(batch_size=0)
    with pytest.raises(ValueError, match="Solver: lr_decay must be a positive number"):
        make_solver(lr_decay=0)
    with pytest.raises(KeyError, match=r"Solver: data is missing \['y_val'\]"):
        Solver(LinearSoftmax(3, 2), {"X_train": 0, "y_train": 0, "X_val": 0})
    with pytest.raises(TypeError, match="model must have a params dict and a loss"):
        Solver(object(), make_data())
    with pytest.raises(TypeError, match=r"wrap a layer in fastnn.layers.Sequential"):
        Solver(fastnn.layers.Linear(64, 5), make_data())
    data = make_data()
    data["y_train"] = data["y_train"][:10]
    with pytest.raises(ValueError, match="X_train has 50 samples but y_train has 10"):
        make_solver(data=data)


class NaNModel(LinearSoftmax):
    def loss(self, X, y=None):
        out = super().loss(X, y)
        if y is None:
            return out
        self.calls = getattr(self, "calls", 0) + 1
        return (np.nan if self.calls == 3 else out[0]), out[1]


def test_nan_loss_stops_with_epoch_and_iteration():
    s = make_solver(NaNModel(64, 5))
    with pytest.raises(FloatingPointError, match="loss is nan at epoch 2, iteration 3"):
        s.train()


class ModeModel(LinearSoftmax):
    """Records its mode at every loss call (the future layers' train()/eval())."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.training = True
        self.log = []

    def train(self):
        self.training = True

    def eval(self):
        self.training = False

    def loss(self, X, y=None):
        self.log.append((y is None, self.training))
        return super().loss(X, y)


def test_train_eval_mode_switch():
    m = ModeModel(64, 5)
    make_solver(m, num_epochs=2).train()
    assert {training for is_eval, training in m.log if not is_eval} == {True}
    assert {training for is_eval, training in m.log if is_eval} == {False}
    assert m.training                                  # left in train mode


def test_early_stopping():
    # val labels unrelated to the inputs: val accuracy stops improving quickly
    s = make_solver(num_epochs=50, patience=2, lr=0.2)
    s.train()
    assert s.stopped_early
    n = len(s.val_acc_history)
    assert n < 51
    best = int(np.argmax(s.val_acc_history))
    assert n - 1 - best == 2                           # stopped 2 epochs after the best
    assert s.check_accuracy(s.X_val, s.y_val) == s.best_val_acc


def test_verbose_prints_without_a_terminal(capsys):
    make_solver(verbose=True, num_epochs=1, print_every=1).train()
    out = capsys.readouterr().out
    assert "(Iteration 1 / 2) loss:" in out and "(Epoch 1 / 1) train acc:" in out


def test_progress_bar_on_a_terminal(monkeypatch):
    pytest.importorskip("tqdm")
    s = make_solver(verbose=True, num_epochs=1)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    bar = s._progress_bar(10)
    assert bar is not None and bar.total == 10
    bar.close()
    s.verbose = False
    assert s._progress_bar(10) is None


def test_checkpoints_per_epoch_and_resume(tmp_path):
    name = str(tmp_path / "run")
    s = make_solver(num_epochs=3, checkpoint_name=name, update_rule="adam")
    s.train()
    assert sorted(os.listdir(tmp_path)) == [f"run_epoch_{e}.npz" for e in (1, 2, 3)]
    model2 = LinearSoftmax(64, 5, seed=5)
    s2 = make_solver(model2)
    s2.load(tmp_path / "run_epoch_3.npz")
    assert s2.epoch == 3 and s2.loss_history == s.loss_history
    assert s2.val_acc_history == s.val_acc_history and s2.best_val_acc == s.best_val_acc
    assert s2.optim_configs["W"]["t"] == s.optim_configs["W"]["t"]
    np.testing.assert_array_equal(s2.optim_configs["W"]["m"], s.optim_configs["W"]["m"])
    for k in s.best_params:
        np.testing.assert_array_equal(s2.best_params[k], s.best_params[k])
    # parameters of the checkpoint = the model at the end of epoch 3 (before the swap)
    ck = np.load(tmp_path / "run_epoch_3.npz", allow_pickle=False)
    np.testing.assert_array_equal(model2.params["W"], ck["params/W"])
    s2.train()                                         # continues, 15 more epochs
    assert len(s2.loss_history) == len(s.loss_history) + 15 * 2
    assert s2.epoch == 3 + 15 and s2.loss_history[:6] == s.loss_history


def test_load_rejects_mismatch(tmp_path):
    s = make_solver(num_epochs=1)
    s.train()
    path = s.save(tmp_path / "s.npz")
    other = make_solver(LinearSoftmax(10, 5), num_epochs=1,
                        data=make_data(D=10))
    with pytest.raises(CheckpointError, match=r"'W' is float64 \(64, 5\) in the checkpoint"):
        other.load(path)
    fastnn.checkpoint.save_params(tmp_path / "plain.npz", {"W": np.zeros(2)})
    with pytest.raises(CheckpointError, match="is not a Solver checkpoint"):
        s.load(tmp_path / "plain.npz")


def test_float32_model():
    data = {k: (v.astype(np.float32) if v.dtype.kind == "f" else v)
            for k, v in make_data().items()}
    model = LinearSoftmax(64, 5, dtype=np.float32)
    s = make_solver(model, data)
    s.train()
    assert model.params["W"].dtype == np.float32
    assert s.train_acc_history[-1] == 1.0


def test_parameters_updated_in_place():
    # layers share their arrays with model.params: the Solver must never rebind them
    model = LinearSoftmax(64, 5)
    W, b = model.params["W"], model.params["b"]
    W0 = W.copy()
    s = make_solver(model, num_epochs=3)
    s.train()
    assert model.params["W"] is W and model.params["b"] is b
    assert not np.array_equal(W, W0)
    np.testing.assert_array_equal(W, s.best_params["W"])
