"""Training faults (issue 8, item 8) and the Solver's resumable runs.

* an interrupt (a real SIGINT) stops between two iterations, writes a
  resumable checkpoint, and loading it then training finishes the run with
  exactly the parameters and histories of an uninterrupted run;
* a loss that becomes NaN/inf stops with an error naming epoch and iteration,
  and the last epoch checkpoint stays intact and loadable.
"""
import os
import signal
import threading

import numpy as np
import pytest

from fastnn import Solver
from fastnn.checkpoint import load_params
from fastnn.models import make_model


def digits_like(seed=0, N=96, Nval=32):
    rng = np.random.default_rng(seed)
    return {"X_train": rng.standard_normal((N, 1, 8, 8)).astype(np.float32),
            "y_train": rng.integers(0, 4, N),
            "X_val": rng.standard_normal((Nval, 1, 8, 8)).astype(np.float32),
            "y_val": rng.integers(0, 4, Nval)}


def build(seed=0, **kw):
    # dropout and batch norm: layer generators and running statistics must resume too
    model = make_model("convnet", (1, 8, 8), 4, hidden_dims=(16,), num_filters=4,
                       normalization="batchnorm", dropout=0.3, seed=seed)
    args = dict(update_rule="adam", lr=1e-2, batch_size=16,
                num_epochs=3, verbose=False, seed=seed, lr_decay=0.9)
    args.update(kw)
    return model, Solver(model, digits_like(), **args)


@pytest.fixture(autouse=True)
def _python_sigint_handler():
    """Python's own SIGINT handler for each test, whatever pytest started with: a process
    launched in the background by a shell without job control (`cmd &` in a script) starts
    with SIGINT ignored, Python then leaves it ignored, and these tests would fail."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


class InterruptAt:
    """An 'augmentation' that sends this process a real SIGINT at a chosen training batch."""

    def __init__(self, at):
        self.at, self.calls = at, 0

    def __call__(self, X, y, seed):
        self.calls += 1
        if self.calls == self.at:
            os.kill(os.getpid(), signal.SIGINT)
        return X, y


def flip(X, y, seed):
    """A seeded augmentation, so the resumed run must also restore the Solver's generator."""
    rng = np.random.default_rng(seed)
    keep = rng.random(len(X)) < 0.5
    return np.where(keep[:, None, None, None], X, X[..., ::-1]), y


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals are delivered to the main thread")
@pytest.mark.parametrize("at", [4, 8, 13])     # mid-epoch, at an epoch end (6 per epoch), later
def test_sigint_saves_resumable_checkpoint_and_resume_matches(tmp_path, at):
    # every run has the same augment list (each entry draws a seed from the Solver's generator)
    ref_model, ref = build(augment=[flip, InterruptAt(None)])
    ref.train()

    path = str(tmp_path / "interrupted.npz")
    model, s = build(augment=[flip, InterruptAt(at)], interrupt_checkpoint=path)
    with pytest.raises(KeyboardInterrupt):
        s.train()
    assert s.interrupted and os.path.exists(path)
    assert len(s.loss_history) == at                     # stopped right after the batch
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # handler restored

    model2, s2 = build(seed=123, augment=[flip, InterruptAt(None)])        # different init: load must overwrite it
    s2.load(path)
    s2.train()
    assert s2.loss_history == ref.loss_history
    assert s2.val_acc_history == ref.val_acc_history
    assert s2.train_acc_history == ref.train_acc_history
    for k in ref_model.params:
        np.testing.assert_array_equal(model2.params[k], ref_model.params[k])
    for k, v in ref_model.buffers.items():
        np.testing.assert_array_equal(model2.buffers[k], v)


def test_second_sigint_interrupts_at_once():
    class TwoSignals:
        calls = 0

        def __call__(self, X, y, seed):
            self.calls += 1
            if self.calls == 2:
                os.kill(os.getpid(), signal.SIGINT)
                os.kill(os.getpid(), signal.SIGINT)       # raises inside this call
            return X, y

    _, s = build(augment=[TwoSignals()])
    with pytest.raises(KeyboardInterrupt):
        s.train()
    assert len(s.loss_history) == 1                       # the second batch never finished
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_finished_run_then_train_starts_a_new_run(tmp_path):
    _, s = build(checkpoint_name=str(tmp_path / "run"))
    s.train()
    _, s2 = build()
    s2.load(tmp_path / "run_epoch_3.npz")                # last epoch of a finished run
    s2.train()                                           # a new run of num_epochs
    assert s2.epoch == 6 and len(s2.loss_history) == 2 * len(s.loss_history)

    _, s3 = build()
    s3.load(tmp_path / "run_epoch_1.npz")                # mid-run: finishes that run
    s3.train()
    assert s3.epoch == 3 and s3.loss_history == s.loss_history


class BadAfter:
    """Wraps a model; its loss turns to ``value`` (nan or inf) after some training calls."""

    def __init__(self, model, after, value):
        self.model, self.after, self.value, self.calls = model, after, value, 0
        self.params = model.params

    def loss(self, X, y=None):
        if y is None:
            return self.model.loss(X)
        self.calls += 1
        loss, grads = self.model.loss(X, y)
        return (self.value if self.calls > self.after else loss), grads


@pytest.mark.parametrize("bad", ["nan", "inf"])
def test_non_finite_loss_stops_with_epoch_and_iteration_and_keeps_checkpoint(tmp_path, bad):
    model = make_model("mlp", (1, 8, 8), 4, hidden_dims=(8,), seed=0)
    wrapped = BadAfter(model, after=8, value=float(bad))   # 6 iterations per epoch
    s = Solver(wrapped, digits_like(), update_rule="sgd", batch_size=16, num_epochs=3,
               verbose=False, seed=0, checkpoint_name=str(tmp_path / "run"))
    with pytest.raises(FloatingPointError, match=r"loss is (nan|inf) at epoch 2, iteration 9"):
        s.train()
    assert sorted(os.listdir(tmp_path)) == ["run_epoch_1.npz"]
    arrays, meta = load_params(tmp_path / "run_epoch_1.npz")
    assert meta["epoch"] == 1
    assert all(np.isfinite(v).all() for v in arrays.values())
    # the last update was never applied: the parameters are finite too
    assert all(np.isfinite(v).all() for v in model.params.values())
