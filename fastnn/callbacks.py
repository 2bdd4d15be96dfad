"""Callbacks: code the :class:`fastnn.Solver` runs at fixed points of training.

A callback subclasses :class:`Callback` and overrides any of

* ``on_train_begin(solver)``: :meth:`Solver.train` starts (or resumes) a run;
* ``on_update_begin(solver, grads)``: the gradients of this iteration are
  computed and the parameters not yet updated (clip or inspect here);
* ``on_iteration_end(solver, iteration, loss)``: after each update
  (``iteration`` counts the run's iterations from 0);
* ``on_epoch_end(solver, epoch, logs)``: after each epoch's accuracy check;
  ``logs`` holds ``loss`` (the epoch's mean training loss), ``train_acc``,
  ``val_acc``, ``val_loss`` and ``lr``;
* ``on_train_end(solver)``: the run is over (also after an early stop).

Setting ``solver.stop_training = True`` in a callback ends the run after the
current iteration (``solver.stopped_early`` becomes True).  A callback with
state that must survive Ctrl-C and resume implements ``state_dict()`` (a
JSON-serialisable dict) and ``load_state_dict(state)``; the Solver stores it
in its checkpoints under the callback's ``name``.

The Solver's own features are callbacks on this mechanism: ``lr_decay`` and
``lr_schedule`` (:class:`LRScheduler`), ``monitor`` (:class:`MonitorCallback`),
``patience`` (:class:`EarlyStopping`), ``tensorboard`` (:class:`TensorBoard`)
and ``checkpoint_name`` (:class:`Checkpoint`, run after every other callback,
so that a checkpoint holds every callback's state of its epoch).
"""
import math
import os

import numpy as np

__all__ = ["Callback", "EarlyStopping", "Checkpoint", "LRScheduler", "MonitorCallback",
           "TensorBoard", "HOOKS"]

HOOKS = ("on_train_begin", "on_update_begin", "on_iteration_end", "on_epoch_end",
         "on_train_end")
_METRICS = ("val_acc", "val_loss", "train_acc", "loss")


class Callback:
    """Base class: every hook does nothing; ``name`` keys its state in a checkpoint."""

    name = None

    def on_train_begin(self, solver):
        """Called once when ``Solver.train`` starts, with the solver."""
        pass

    def on_update_begin(self, solver, grads):
        """Called after the gradients of an iteration are computed, before the parameters are updated."""
        pass

    def on_iteration_end(self, solver, iteration, loss):
        """Called after every iteration's update, with the iteration's loss."""
        pass

    def on_epoch_end(self, solver, epoch, logs):
        """Called at the end of every epoch with its ``logs`` (accuracies, loss); set ``solver.stop_training = True`` to end the run."""
        pass

    def on_train_end(self, solver):
        """Called once when ``Solver.train`` returns."""
        pass

    def state_dict(self):
        """JSON-serialisable state to checkpoint (None: nothing to keep)."""
        return None

    def load_state_dict(self, state):
        """Restore the state returned by ``state_dict`` (when a Solver checkpoint is loaded)."""
        pass


def _metric(name, fn):
    if name not in _METRICS:
        raise ValueError(f"{fn}: monitor must be one of {list(_METRICS)}, got {name!r}")
    return name


class EarlyStopping(Callback):
    """Stop when a metric has not improved for ``patience`` epochs.

    Parameters
    ----------
    patience : int >= 1
    monitor : {"val_acc", "val_loss", "train_acc", "loss"}, default "val_acc"
    mode : {"max", "min"}, optional
        "max" for accuracies, "min" for losses by default.
    min_delta : float, default 0
        An improvement must beat the best by more than this.

    The best value starts from the accuracy checks already made (the Solver
    checks once after the first iteration), so "improved" means a new best of
    the whole run, as ``best_val_acc`` does.
    """

    name = "early_stopping"

    def __init__(self, patience, monitor="val_acc", mode=None, min_delta=0.0):
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"EarlyStopping: patience must be an integer >= 1, got {patience!r}")
        self.patience = patience
        self.monitor = _metric(monitor, "EarlyStopping")
        self.mode = mode or ("max" if monitor.endswith("acc") else "min")
        if self.mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min' or 'max', got {mode!r}")
        self.min_delta = float(min_delta)
        self.wait = 0
        self.best = None

    def _better(self, a, b):
        return a > b + self.min_delta if self.mode == "max" else a < b - self.min_delta

    def _history(self, solver):
        return {"val_acc": solver.val_acc_history, "train_acc": solver.train_acc_history,
                "val_loss": solver.val_loss_history}.get(self.monitor)

    def on_epoch_end(self, solver, epoch, logs):
        current = logs[self.monitor]
        if self.best is None:
            earlier = (self._history(solver) or [])[:-1]
            earlier = [v for v in earlier if not math.isnan(v)]
            if earlier:
                self.best = max(earlier) if self.mode == "max" else min(earlier)
            if self.monitor == "val_acc":
                self.best = max(self.best or 0.0, 0.0)
        if self.best is None or self._better(current, self.best):
            self.best = current
            self.wait = 0
        else:
            self.wait += 1
        if self.wait >= self.patience:
            solver.stop_training = True
            solver.log(f"Early stop after epoch {epoch}: no better {self.monitor.replace('_', ' ')} "
                       f"in {self.patience} epochs")

    def state_dict(self):
        return {"wait": self.wait, "best": self.best}

    def load_state_dict(self, state):
        self.wait = int(state.get("wait", 0))
        self.best = state.get("best")


class Checkpoint(Callback):
    """Save the Solver (:meth:`Solver.save`) to ``<prefix>_epoch_<e>.npz`` after every ``every`` epochs."""

    name = "checkpoint"

    def __init__(self, prefix, every=1):
        self.prefix = os.fspath(prefix)
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"Checkpoint: every must be an integer >= 1, got {every!r}")
        self.every = every

    def on_epoch_end(self, solver, epoch, logs):
        if epoch % self.every == 0:
            solver.save(f"{self.prefix}_epoch_{epoch}.npz")


class LRScheduler(Callback):
    """Step a learning-rate schedule (:mod:`fastnn.schedules`) from the Solver.

    Bound to the Solver's optimiser at the start of a fresh run, with the run
    length in the schedule's steps (iterations or epochs, its ``interval``).
    A :class:`~fastnn.schedules.ReduceLROnPlateau` (alone or last in a
    :func:`~fastnn.schedules.warmup`) is fed ``logs[schedule.metric]``.
    ``decay`` (a float, no schedule) is the course's ``lr_decay``: the rate is
    multiplied by it after every epoch.
    """

    name = "lr_schedule"

    def __init__(self, schedule=None, decay=None):
        if (schedule is None) == (decay is None):
            raise ValueError("LRScheduler: give a schedule or a decay factor")
        self.schedule, self.decay = schedule, decay

    def on_train_begin(self, solver):
        if self.schedule is None:
            return
        per_epoch = solver.iterations_per_epoch
        total = solver.num_epochs * (per_epoch if self.schedule.interval == "iteration" else 1)
        resume = solver._run_t > 0 and self.schedule.base_lr is not None
        if not resume and self.schedule.optimizer is solver.optimizer:
            solver.optimizer.lr = self.schedule.base_lr       # a new run starts from base_lr
        self.schedule.bind(solver.optimizer, total, resume=resume)

    def on_iteration_end(self, solver, iteration, loss):
        if self.schedule is not None and self.schedule.interval == "iteration":
            self.schedule.step()

    def on_epoch_end(self, solver, epoch, logs):
        if self.schedule is None:
            solver.optimizer.lr = solver.optimizer.lr * self.decay
            return
        metric = getattr(self.schedule, "metric", None)
        if metric is not None:
            if self.schedule.interval == "epoch":
                self.schedule.step(logs[metric])
        elif self.schedule.interval == "epoch":
            self.schedule.step()

    def state_dict(self):
        return None if self.schedule is None else self.schedule.state_dict()

    def load_state_dict(self, state):
        if self.schedule is not None and state is not None:
            self.schedule.load_state_dict(state)


class MonitorCallback(Callback):
    """Run a :class:`fastnn.monitor.Monitor` at the Solver's accuracy checks.

    At the first iteration of a run and at every epoch end: the update
    statistics of that iteration's update (``observe_update``) and the
    activation statistics of a probe batch of training images
    (``observe_epoch``), with the monitor's summary printed when verbose.
    """

    name = "monitor"

    def __init__(self, monitor):
        self.monitor = monitor
        self._before = None

    def on_update_begin(self, solver, grads):
        if solver.recording:
            self._before = {k: np.array(v, copy=True) for k, v in solver.model.params.items()}

    def on_iteration_end(self, solver, iteration, loss):
        if self._before is not None:
            self.monitor.observe_update(solver.model, solver.last_grads, self._before)
            self._before = None
        if solver.recording and not solver.epoch_end:
            self._observe(solver)

    def on_epoch_end(self, solver, epoch, logs):
        self._observe(solver)

    def _observe(self, solver):
        probe = solver.X_train[:getattr(self.monitor, "probe_size", 256)]
        rec = self.monitor.observe_epoch(solver.model, probe, solver.epoch)
        if solver.verbose and callable(getattr(self.monitor, "summary", None)):
            solver.log(self.monitor.summary(rec))


class TensorBoard(Callback):
    """Write the run to TensorBoard event files (needs tensorboardX: ``pip install fastnn[tensorboard]``).

    Scalars, with the iteration as step: ``train/loss`` every ``every``
    iterations and ``train/lr``; at every epoch end ``epoch/train_acc``,
    ``epoch/val_acc``, ``epoch/val_loss``, ``epoch/loss``, ``epoch/lr``.  With
    a monitor: ``monitor/<param>/{grad_norm,weight_norm,update_ratio}``,
    ``monitor/<layer>/{mean,std,dead_fraction,saturation_fraction}`` and a
    histogram ``activations/<layer>`` of each activation layer's output.
    """

    name = "tensorboard"

    def __init__(self, logdir, every=10, flush_secs=30):
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise ImportError("TensorBoard: needs tensorboardX (pip install 'fastnn[tensorboard]' "
                              "or pip install tensorboardX)") from None
        self.logdir = os.fspath(logdir)
        self.every = every
        self._writer_cls = SummaryWriter
        self._flush_secs = flush_secs
        self.writer = None
        self._seen = 0

    def _w(self):
        if self.writer is None:
            self.writer = self._writer_cls(self.logdir, flush_secs=self._flush_secs)
        return self.writer

    def on_train_begin(self, solver):
        self._w()

    def on_iteration_end(self, solver, iteration, loss):
        step = len(solver.loss_history)
        if (step - 1) % self.every == 0:
            w = self._w()
            w.add_scalar("train/loss", loss, step)
            w.add_scalar("train/lr", solver.optimizer_lr(), step)
        if solver.recording and not solver.epoch_end:
            self._monitor(solver, step)

    def on_epoch_end(self, solver, epoch, logs):
        w = self._w()
        step = len(solver.loss_history)
        for k in ("train_acc", "val_acc", "val_loss", "loss", "lr"):
            v = logs.get(k)
            if v is not None and math.isfinite(v):
                w.add_scalar(f"epoch/{k}", v, step)
        self._monitor(solver, step)
        w.flush()

    def _monitor(self, solver, step):
        mon = getattr(solver, "monitor", None)
        if mon is None or not mon.history or len(mon.history) <= self._seen:
            return
        self._seen = len(mon.history)
        rec = mon.history[-1]
        w = self._w()
        for name, st in (rec.get("params") or {}).items():
            for k in ("grad_norm", "weight_norm", "update_ratio"):
                if st.get(k) is not None:
                    w.add_scalar(f"monitor/{name}/{k}", st[k], step)
        for name, st in (rec.get("activations") or {}).items():
            tag = name.replace(":", "_")
            for k in ("mean", "std", "dead_fraction", "saturation_fraction"):
                if st.get(k) is not None and math.isfinite(st[k]):
                    w.add_scalar(f"monitor/{tag}/{k}", st[k], step)
            hist = st.get("hist")
            if hist and sum(hist["counts"]):
                counts = np.asarray(hist["counts"], np.float64)
                edges = np.asarray(hist["edges"], np.float64)
                centres = (edges[:-1] + edges[1:]) / 2
                w.add_histogram_raw(f"activations/{tag}", min=float(edges[0]),
                                    max=float(edges[-1]), num=int(counts.sum()),
                                    sum=float((counts * centres).sum()),
                                    sum_squares=float((counts * centres ** 2).sum()),
                                    bucket_limits=edges[1:].tolist(),
                                    bucket_counts=counts.tolist(), global_step=step)

    def on_train_end(self, solver):
        self.close()           # a later run opens a new event file in the same folder

    def close(self):
        """Flush and close the event file."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
