"""The Solver: CS231n's training loop for classification models.

    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3},
                    lr_decay=0.95, batch_size=100, num_epochs=10, seed=0)
    solver.train()
    solver.best_val_acc, solver.loss_history, solver.val_acc_history

The model contract (CS231n): ``model.params`` is a dict name -> array, and
``model.loss(X, y=None)`` returns class scores (N, C) when ``y`` is None and
``(loss, grads)`` otherwise, ``grads`` a dict with the keys of ``params``.
If the model also has ``train()`` and ``eval()`` methods (fastnn's layers and
models do), the Solver calls ``train()`` before each training step and
``eval()`` while measuring accuracy.

``data`` holds ``X_train``, ``y_train``, ``X_val``, ``y_val`` (N along axis 0).

Each update rule returns a new array (CS231n's contract); the Solver copies it
into the parameter's existing array in place (layers share their arrays with
``model.params``), and so it does with ``best_params`` at the end of training.
Mini-batches are drawn without replacement within a batch (with replacement
only when the training set is smaller than a batch).
"""
import copy
import math
import numbers
import os
import sys

import numpy as np

from fastnn import checkpoint as _ckpt
from fastnn import optim
from fastnn.layers import generators

__all__ = ["Solver"]

_DATA_KEYS = ("X_train", "y_train", "X_val", "y_val")


def _int(v, name, minimum=1, allow_none=False):
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum:
        raise ValueError(f"Solver: {name} must be an integer >= {minimum}"
                         f"{' or None' if allow_none else ''}, got {v!r}")
    return int(v)


def _buffers(model):
    """The model's non-trained state (batch norm running statistics), name -> array."""
    buffers = getattr(model, "buffers", None)
    return dict(buffers) if isinstance(buffers, dict) else {}


def _check_meta(meta, path):
    """Refuse Solver metadata of the wrong shape before anything is restored (an untrusted
    file must give CheckpointError, never a KeyError halfway through the restore)."""
    def bad(msg):
        raise _ckpt.CheckpointError(f"Solver.load: {path!r}: {msg}")

    number = (int, float)
    for key, kind in (("epoch", int), ("best_val_acc", number), ("loss_history", list),
                      ("train_acc_history", list), ("val_acc_history", list),
                      ("optim_configs", dict)):
        if key not in meta:
            bad(f"the Solver metadata lacks {key!r}")
        if not isinstance(meta[key], kind) or isinstance(meta[key], bool):
            bad(f"{key!r} is a {type(meta[key]).__name__}")
    for key in ("loss_history", "train_acc_history", "val_acc_history"):
        if not all(isinstance(v, number) and not isinstance(v, bool) for v in meta[key]):
            bad(f"{key!r} holds non-numbers")
    if not all(isinstance(c, dict) for c in meta["optim_configs"].values()):
        bad("'optim_configs' must map each parameter to a dict")
    for key in ("run_t", "run_iterations", "epochs_without_best"):
        if not isinstance(meta.get(key, 0), int) or meta.get(key, 0) < 0:
            bad(f"{key!r} must be a non-negative integer")
    states = [meta["rng"]] if "rng" in meta else []
    layer_rngs = meta.get("layer_rngs") or {}
    if not isinstance(layer_rngs, dict):
        bad("'layer_rngs' must be a dict")
    states += list(layer_rngs.values())
    for state in states:                       # try each on a scratch generator first
        try:
            np.random.default_rng().bit_generator.state = state
        except (TypeError, ValueError, KeyError) as exc:
            bad(f"invalid generator state: {exc}")
    monitor = meta.get("monitor")
    if monitor is not None and not isinstance(monitor, list):
        bad("'monitor' must be a list")


class Solver:
    """Mini-batch training of a classification model, with history, checkpoints and best-model keeping.

    Parameters
    ----------
    model : object
        ``params`` dict and ``loss(X, y=None)`` (see the module docstring).
    data : dict
        ``X_train``, ``y_train``, ``X_val``, ``y_val``.
    update_rule : str or callable, default "sgd"
        A rule of :mod:`fastnn.optim` (``"sgd"``, ``"sgd_momentum"``,
        ``"nesterov"``, ``"rmsprop"``, ``"adam"``) or a callable
        ``rule(w, dw, config) -> (next_w, config)``.
    optim_config : dict, optional
        Hyperparameters for the rule; every parameter gets its own deep copy
        (its state: velocity, moments, step count).
    lr_decay : float, default 1.0
        Every config's ``learning_rate`` is multiplied by it after each epoch.
    batch_size : int, default 100
    num_epochs : int, default 10
    num_train_samples : int or None, default 1000
        Training samples used to measure train accuracy (None: all).
    num_val_samples : int or None, default None
        Validation samples used to measure val accuracy (None: all).
    checkpoint_name : str, optional
        If given, ``<checkpoint_name>_epoch_<e>.npz`` is written after every
        epoch (see :meth:`save`).
    print_every : int, default 10
        Print the loss every this many iterations (when not showing a
        progress bar).
    verbose : bool, default True
        Report progress: a tqdm progress bar when stderr is a terminal and
        tqdm is installed, else printed lines.  False: silent.
    seed : int, optional
        Seeds the Solver's own generator (mini-batch sampling and accuracy
        subsampling): the same seed and model init give the same run.
    patience : int, optional
        Early stopping: stop after this many epochs without a new best
        validation accuracy (None: never).
    augment : list, optional
        Batch augmentations (e.g. ``fastnn.data.from_spec("crop,flip")``), each
        called as ``aug(X, y, seed=int) -> (X, y)`` on every training batch with
        a seed drawn from the Solver's generator (so a seeded run is
        reproducible).  ``y`` may come back as mixup's ``MixedLabels``.
    monitor : fastnn.monitor.Monitor or True, optional
        Records the lecture's diagnostics (per-layer activation statistics,
        dead-ReLU and saturation fractions, update/weight ratios, gradient
        norms) after the first iteration and after every epoch, on a probe
        batch of training images; see :meth:`history`.
    interrupt_checkpoint : str, optional
        Where to save a resumable checkpoint when training is interrupted
        (SIGINT / Ctrl-C).  The interrupt is handled between two iterations:
        the checkpoint is written, then ``KeyboardInterrupt`` is raised.
        :meth:`load` of that file followed by :meth:`train` finishes the run
        exactly as an uninterrupted run with the same seed would have.
    checkpoint_tag : str, optional
        A label of the run's settings (``fastnn train`` uses a hash of its
        config), written into every checkpoint's metadata; :meth:`load` then
        refuses a checkpoint carrying another tag, or none.

    Attributes
    ----------
    loss_history : list of float, one per iteration
    train_acc_history, val_acc_history : list of float, one per accuracy check:
        after the first iteration and after every epoch, ``num_epochs + 1``
        entries for a full run (``num_epochs`` when an epoch is one iteration)
    best_val_acc : float; best_params : dict (copied into ``model.params`` at the end)
    epoch : int; stopped_early : bool; interrupted : bool
    run_finished : bool, True when the last run (or the one a checkpoint holds) has ended
    monitor : the Monitor, or None
    """

    def __init__(self, model, data, **kwargs):
        if not isinstance(getattr(model, "params", None), dict) or not callable(
                getattr(model, "loss", None)):
            raise TypeError("Solver: model must have a params dict and a loss(X, y=None) method, "
                            f"got {type(model).__name__}")
        if not isinstance(data, dict):
            raise TypeError(f"Solver: data must be a dict, got {type(data).__name__}")
        missing = [k for k in _DATA_KEYS if k not in data]
        if missing:
            raise KeyError(f"Solver: data is missing {missing} (needs {list(_DATA_KEYS)})")
        self.model = model
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]
        for a, b, name in ((self.X_train, self.y_train, "train"), (self.X_val, self.y_val, "val")):
            if len(a) != len(b):
                raise ValueError(f"Solver: X_{name} has {len(a)} samples but y_{name} has {len(b)}")
        if len(self.X_train) == 0:
            raise ValueError("Solver: X_train is empty")

        self.update_rule = kwargs.pop("update_rule", "sgd")
        self.optim_config = kwargs.pop("optim_config", None) or {}
        self.lr_decay = kwargs.pop("lr_decay", 1.0)
        self.batch_size = _int(kwargs.pop("batch_size", 100), "batch_size")
        self.num_epochs = _int(kwargs.pop("num_epochs", 10), "num_epochs", minimum=0)
        self.num_train_samples = _int(kwargs.pop("num_train_samples", 1000), "num_train_samples",
                                      allow_none=True)
        self.num_val_samples = _int(kwargs.pop("num_val_samples", None), "num_val_samples",
                                    allow_none=True)
        self.checkpoint_name = kwargs.pop("checkpoint_name", None)
        self.print_every = _int(kwargs.pop("print_every", 10), "print_every")
        self.verbose = bool(kwargs.pop("verbose", True))
        self.seed = kwargs.pop("seed", None)
        self.patience = _int(kwargs.pop("patience", None), "patience", allow_none=True)
        self.augment = list(kwargs.pop("augment", None) or [])
        self.monitor = kwargs.pop("monitor", None)
        self.interrupt_checkpoint = kwargs.pop("interrupt_checkpoint", None)
        self.checkpoint_tag = kwargs.pop("checkpoint_tag", None)
        if kwargs:
            raise TypeError(f"Solver: unexpected keyword argument(s) {sorted(kwargs)}; "
                            "accepted: update_rule, optim_config, lr_decay, batch_size, "
                            "num_epochs, num_train_samples, num_val_samples, checkpoint_name, "
                            "print_every, verbose, seed, patience, augment, monitor, "
                            "interrupt_checkpoint, checkpoint_tag")
        if self.checkpoint_tag is not None and not isinstance(self.checkpoint_tag, str):
            raise TypeError(f"Solver: checkpoint_tag must be a string or None, "
                            f"got {type(self.checkpoint_tag).__name__}")
        for aug in self.augment:
            if not callable(aug):
                raise TypeError(f"Solver: every augment entry must be callable as "
                                f"aug(X, y, seed=...), got {type(aug).__name__}")
        if self.monitor is True:
            from fastnn.monitor import Monitor
            self.monitor = Monitor()
        elif self.monitor is False:
            self.monitor = None
        if self.monitor is not None and not (callable(getattr(self.monitor, "observe_update", None))
                                             and callable(getattr(self.monitor, "observe_epoch",
                                                                  None))):
            raise TypeError(f"Solver: monitor must be a fastnn.monitor.Monitor or True, "
                            f"got {type(self.monitor).__name__}")

        if isinstance(self.update_rule, str):
            if self.update_rule not in optim.RULES:
                raise ValueError(f"Solver: unknown update_rule {self.update_rule!r}; expected "
                                 f"one of {sorted(optim.RULES)} or a callable")
            self._rule = optim.RULES[self.update_rule]
        elif callable(self.update_rule):
            self._rule = self.update_rule
        else:
            raise TypeError(f"Solver: update_rule must be a name or a callable, "
                            f"got {type(self.update_rule).__name__}")
        if not isinstance(self.optim_config, dict):
            raise TypeError(f"Solver: optim_config must be a dict, "
                            f"got {type(self.optim_config).__name__}")
        if isinstance(self.lr_decay, bool) or not isinstance(self.lr_decay, numbers.Real) \
                or not math.isfinite(self.lr_decay) or self.lr_decay <= 0:
            raise ValueError(f"Solver: lr_decay must be a positive number, got {self.lr_decay!r}")
        if self.seed is not None and (isinstance(self.seed, bool)
                                      or not isinstance(self.seed, numbers.Integral)):
            raise TypeError(f"Solver: seed must be an integer or None, got {self.seed!r}")
        self._reset()

    # ----------------------------------------------------------------- state

    def _reset(self):
        self.rng = np.random.default_rng(self.seed)
        self.epoch = 0
        self.best_val_acc = 0.0
        self.best_params = {}
        self.loss_history = []
        self.train_acc_history = []
        self.val_acc_history = []
        self.stopped_early = False
        self.interrupted = False
        self._epochs_without_best = 0
        self._run_t = 0                 # iterations done in the current run
        self._run_iterations = 0        # iterations of the current run (0: no run started)
        self._interrupt_requested = False
        self.optim_configs = {p: copy.deepcopy(self.optim_config) for p in self.model.params}

    @property
    def run_finished(self):
        """True when a run has been started and has ended (all its iterations done, or an
        early stop); False for a fresh Solver and for one restored in the middle of a run."""
        return self._run_iterations > 0 and self._run_t >= self._run_iterations

    def _mode(self, name):
        m = getattr(self.model, name, None)
        if callable(m) and callable(getattr(self.model, "train" if name == "eval" else "eval",
                                            None)):
            m()

    # ------------------------------------------------------------ the loop

    def _step(self, it, observe=False):
        num_train = len(self.X_train)
        idx = self.rng.choice(num_train, self.batch_size, replace=num_train < self.batch_size)
        X_batch, y_batch = self.X_train[idx], self.y_train[idx]
        for aug in self.augment:
            X_batch, y_batch = aug(X_batch, y_batch, seed=int(self.rng.integers(2**63)))
        self._mode("train")
        loss, grads = self.model.loss(X_batch, y_batch)
        loss = float(loss)
        if not math.isfinite(loss):
            raise FloatingPointError(
                f"Solver: the loss is {loss} at epoch {self.epoch + 1}, iteration {it + 1} "
                f"of this run; training stopped before the update, so the parameters and "
                f"the last checkpoint hold the last finite state; lower the learning rate "
                f"or check the model/inputs")
        self.loss_history.append(loss)
        missing = [p for p in self.model.params if p not in grads]
        if missing:
            raise KeyError(f"Solver: model.loss returned no gradient for parameter(s) {missing}")
        before = ({k: np.array(v, copy=True) for k, v in self.model.params.items()}
                  if observe else None)
        for p, w in self.model.params.items():
            next_w, next_config = self._rule(w, grads[p], self.optim_configs[p])
            self._assign(p, next_w)
            self.optim_configs[p] = next_config
        if observe:
            self.monitor.observe_update(self.model, grads, before)

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """Fraction of ``X`` classified as ``y`` (argmax of ``model.loss(X)``).

        ``num_samples`` subsamples X first (with the Solver's generator);
        scores are computed ``batch_size`` rows at a time, in eval mode.
        """
        N = len(X)
        if num_samples is not None and N > num_samples:
            mask = self.rng.choice(N, num_samples, replace=False)
            N = num_samples
            X, y = X[mask], y[mask]
        if N == 0:
            return 0.0
        self._mode("eval")
        preds = []
        for start in range(0, N, batch_size):
            scores = self.model.loss(X[start:start + batch_size])
            preds.append(np.argmax(scores, axis=1))
        return float(np.mean(np.hstack(preds) == y))

    def train(self):
        """Run the optimisation; swaps the best parameters into the model at the end.

        A fresh Solver (or one whose last run finished) runs ``num_epochs``
        epochs.  A Solver restored by :meth:`load` from a checkpoint written in
        the middle of a run (an epoch checkpoint or an interrupt checkpoint)
        finishes that run instead.
        """
        num_train = len(self.X_train)
        per_epoch = max(num_train // self.batch_size, 1)
        if self._run_t >= self._run_iterations:          # start a new run
            self._run_t, self._run_iterations = 0, self.num_epochs * per_epoch
        num_iterations = self._run_iterations
        self.interrupted = False
        bar = self._progress_bar(num_iterations)
        if bar is not None and self._run_t:
            bar.update(self._run_t)
        restore_sigint = self._catch_sigint()
        try:
            while self._run_t < num_iterations:
                t = self._run_t
                epoch_end = (t + 1) % per_epoch == 0
                record = t == 0 or t == num_iterations - 1 or epoch_end
                self._step(t, observe=record and self.monitor is not None)
                self._run_t += 1
                if bar is not None:
                    bar.update(1)
                    if t % self.print_every == 0:
                        acc = ({"train_acc": f"{self.train_acc_history[-1]:.3f}",
                                "val_acc": f"{self.val_acc_history[-1]:.3f}"}
                               if self.val_acc_history else {})
                        bar.set_postfix(loss=f"{self.loss_history[-1]:.4f}",
                                        epoch=self.epoch + 1, **acc)
                elif self.verbose and t % self.print_every == 0:
                    print(f"(Iteration {t + 1} / {num_iterations}) loss: "
                          f"{self.loss_history[-1]:f}")
                if epoch_end:
                    self.epoch += 1
                    for c in self.optim_configs.values():
                        if "learning_rate" in c:
                            c["learning_rate"] *= self.lr_decay
                if record:
                    self._record(bar, epoch_end)
                    if self.patience is not None and self._epochs_without_best >= self.patience:
                        self.stopped_early = True
                        self._run_t = num_iterations
                        if self.verbose:
                            self._write(bar, f"Early stop after epoch {self.epoch}: no better "
                                        f"val accuracy in {self.patience} epochs")
                        break
                if self._interrupt_requested and self._run_t < num_iterations:
                    self.interrupted = True
                    path = None
                    if self.interrupt_checkpoint is not None:
                        path = self.save(self.interrupt_checkpoint)
                    if self.verbose:
                        self._write(bar, f"Interrupted at epoch {self.epoch + 1}, iteration "
                                    f"{self._run_t} of {num_iterations}"
                                    + (f"; resumable checkpoint: {path}" if path else ""))
                    raise KeyboardInterrupt
        finally:
            restore_sigint()
            self._interrupt_requested = False
            if bar is not None:
                bar.close()
            self._mode("train")
        for k, v in self.best_params.items():
            self._assign(k, v)
        return self

    def _catch_sigint(self):
        """Turn the first SIGINT into a request to stop between two iterations.

        Only in the main thread (where Python delivers signals); a second
        SIGINT interrupts at once.  Returns a function restoring the old handler.
        """
        import signal
        import threading
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = signal.getsignal(signal.SIGINT)

        def handler(signum, frame):
            if self._interrupt_requested:
                raise KeyboardInterrupt
            self._interrupt_requested = True

        try:
            signal.signal(signal.SIGINT, handler)
        except ValueError:                       # not allowed here (embedded interpreters)
            return lambda: None
        return lambda: signal.signal(signal.SIGINT, previous)

    def history(self):
        """A JSON-serialisable dict of the run: what ``fastnn train`` writes to history.json.

        Keys: ``loss_history`` (per iteration), ``train_acc_history`` and
        ``val_acc_history`` (per accuracy check), ``best_val_acc``, ``epoch``,
        ``stopped_early``, ``update_rule``, ``batch_size``, ``num_epochs`` and
        ``monitor`` (the Monitor's records, one per accuracy check; empty without one).
        """
        return {
            "loss_history": [float(v) for v in self.loss_history],
            "train_acc_history": [float(v) for v in self.train_acc_history],
            "val_acc_history": [float(v) for v in self.val_acc_history],
            "best_val_acc": float(self.best_val_acc),
            "epoch": int(self.epoch),
            "stopped_early": bool(self.stopped_early),
            "update_rule": self.update_rule if isinstance(self.update_rule, str) else None,
            "batch_size": self.batch_size,
            "num_epochs": self.num_epochs,
            "monitor": list(self.monitor.history) if self.monitor is not None else [],
        }

    def _assign(self, name, value):
        """Put a new value of a parameter into the model: into its array, in place, when it can.

        Layers share their parameter arrays with ``model.params``, so an update
        must not rebind the dict entry; a plain dict model sees no difference.
        """
        params = self.model.params
        w = params[name]
        if value is w:
            return
        if (isinstance(w, np.ndarray) and w.flags.writeable
                and np.shape(value) == w.shape):
            w[...] = value
        else:
            params[name] = np.array(value, copy=True)

    def _record(self, bar, epoch_end):
        train_acc = self.check_accuracy(self.X_train, self.y_train,
                                        num_samples=self.num_train_samples)
        val_acc = self.check_accuracy(self.X_val, self.y_val, num_samples=self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        if self.verbose:
            self._write(bar, f"(Epoch {self.epoch} / {self.num_epochs}) train acc: {train_acc:f}; "
                        f"val_acc: {val_acc:f}")
        improved = val_acc > self.best_val_acc
        if improved or not self.best_params:
            self.best_val_acc = max(val_acc, self.best_val_acc)
            self.best_params = {k: np.array(v, copy=True) for k, v in self.model.params.items()}
        if self.monitor is not None:
            probe = self.X_train[:getattr(self.monitor, "probe_size", 256)]
            rec = self.monitor.observe_epoch(self.model, probe, self.epoch)
            if self.verbose and callable(getattr(self.monitor, "summary", None)):
                self._write(bar, self.monitor.summary(rec))
        if epoch_end:
            self._epochs_without_best = 0 if improved else self._epochs_without_best + 1
            if self.checkpoint_name is not None:
                self.save(f"{self.checkpoint_name}_epoch_{self.epoch}.npz")

    def _progress_bar(self, total):
        if not self.verbose or total == 0:
            return None
        try:
            isatty = sys.stderr.isatty()
        except (AttributeError, ValueError):
            isatty = False
        if not isatty:
            return None
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return None
        return tqdm(total=total, unit="it", desc="train", dynamic_ncols=True)

    @staticmethod
    def _write(bar, msg):
        if bar is not None:
            bar.write(msg)
        else:
            print(msg)

    # ------------------------------------------------------------ checkpoints

    def _check_optim_state(self, meta_configs, optim_arrays, bad):
        """The optimiser configs of a checkpoint (scalars from the meta, arrays from
        ``optim/<param>/<key>``), validated against the model and the update rule."""
        model_params = self.model.params
        configs = {p: dict(c) for p, c in meta_configs.items()}
        for k, v in optim_arrays.items():
            p, sep, key = k.rpartition("/")
            if not sep or p not in model_params:
                bad(f"optimiser array 'optim/{k}' belongs to no parameter of the model")
            configs.setdefault(p, {})[key] = v
        missing = sorted(set(model_params) - set(configs))
        extra = sorted(set(configs) - set(model_params))
        if missing or extra:
            bad(f"the optimiser state does not match the model's parameters: missing "
                f"{missing}, unexpected {extra}")
        builtin = isinstance(self.update_rule, str)

        def finite(v):
            return (isinstance(v, numbers.Real) and not isinstance(v, bool)
                    and math.isfinite(v))

        for p, config in configs.items():
            shape = np.shape(model_params[p])
            for key, v in config.items():
                where = f"optimiser state of {p!r}: {key!r}"
                if isinstance(v, np.ndarray):
                    if builtin and (v.shape != shape or v.dtype.kind != "f"):
                        bad(f"{where} (optim/{p}/{key}) is {v.dtype} {v.shape}, expected a "
                            f"floating array of the parameter's shape {shape}")
                elif key == "t" and builtin:
                    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                        bad(f"{where} must be an integer >= 0, got {v!r}")
                elif (builtin or key == "learning_rate") and not finite(v):
                    bad(f"{where} must be a finite number, got {v!r}")
        return configs

    def _state(self):
        arrays = {f"params/{k}": v for k, v in self.model.params.items()}
        arrays.update({f"best/{k}": v for k, v in self.best_params.items()})
        arrays.update({f"buffers/{k}": v for k, v in _buffers(self.model).items()})
        configs = {}
        for p, c in self.optim_configs.items():
            configs[p] = {}
            for k, v in c.items():
                if isinstance(v, np.ndarray):
                    arrays[f"optim/{p}/{k}"] = v
                elif isinstance(v, (bool, numbers.Real, str)) or v is None:
                    configs[p][k] = v.item() if isinstance(v, np.generic) else v
                else:
                    raise TypeError(f"Solver.save: optim config {p!r} key {k!r} holds a "
                                    f"{type(v).__name__}, which a checkpoint cannot store")
        meta = {
            "format": "fastnn.Solver/1",
            "update_rule": self.update_rule if isinstance(self.update_rule, str) else None,
            "lr_decay": self.lr_decay, "batch_size": self.batch_size,
            "num_epochs": self.num_epochs, "epoch": self.epoch,
            "best_val_acc": self.best_val_acc, "loss_history": self.loss_history,
            "train_acc_history": self.train_acc_history, "val_acc_history": self.val_acc_history,
            "optim_configs": configs, "epochs_without_best": self._epochs_without_best,
            "run_t": self._run_t, "run_iterations": self._run_iterations,
            "stopped_early": self.stopped_early,
            "rng": self.rng.bit_generator.state,
            "layer_rngs": {k: g.bit_generator.state for k, g in generators(self.model).items()},
            "monitor": list(self.monitor.history) if self.monitor is not None else None,
        }
        if self.checkpoint_tag is not None:
            meta["tag"] = self.checkpoint_tag
        return arrays, meta

    def save(self, path):
        """Write the model's parameters, best parameters, optimiser state and histories.

        One ``.npz`` (see :mod:`fastnn.checkpoint`: no pickle, atomic write).
        Returns the path written.
        """
        arrays, meta = self._state()
        return _ckpt.save_params(path, arrays, meta)

    def load(self, path):
        """Restore what :meth:`save` wrote, into this Solver and its model.

        Everything is validated before anything is restored, and a defect is a
        :class:`fastnn.checkpoint.CheckpointError` naming the array or key:

        * ``params/*`` and ``best/*`` (when present): exactly the model's
          parameter names, each with the parameter's shape and dtype;
          ``buffers/*``: the model's buffers, same shapes and dtypes;
        * the optimiser state: one config per parameter; with a built-in
          ``update_rule``, every array (velocity, moments, cache) has its
          parameter's shape and a floating dtype, and every scalar is a finite
          number (``t`` an integer >= 0); with any rule, ``learning_rate`` is a
          finite number;
        * with ``checkpoint_tag`` set, the checkpoint carries the same tag.

        Parameters are copied into the model's arrays in place.  A checkpoint
        written in the middle of a run makes :meth:`train` finish that run; one
        of a finished run (:attr:`run_finished`) makes it start a new one.
        """
        arrays, meta = _ckpt.load_params(path)
        path = os.fspath(path)

        def bad(msg):
            raise _ckpt.CheckpointError(f"Solver.load: {path!r}: {msg}")

        if not meta or meta.get("format") != "fastnn.Solver/1":
            raise _ckpt.CheckpointError(f"Solver.load: {path!r} is not a Solver "
                                        "checkpoint (no Solver metadata)")
        if self.checkpoint_tag is not None and meta.get("tag") != self.checkpoint_tag:
            bad(f"the checkpoint belongs to another run: its tag is {meta.get('tag')!r}, this "
                f"Solver's is {self.checkpoint_tag!r}")
        _check_meta(meta, path)
        groups = {"params": {}, "best": {}, "buffers": {}, "optim": {}}
        for k, v in arrays.items():
            head, _, rest = k.partition("/")
            if head not in groups or not rest:
                bad(f"unexpected array {k!r} (a Solver checkpoint holds params/, best/, "
                    f"buffers/ and optim/ arrays)")
            groups[head][rest] = v
        params, best, buffers = groups["params"], groups["best"], groups["buffers"]
        model_params = self.model.params

        def same_names(found, expected, what):
            missing = sorted(set(expected) - set(found))
            extra = sorted(set(found) - set(expected))
            if missing or extra:
                bad(f"{what} do not match the model: missing {missing}, unexpected {extra}")

        def same_arrays(found, expected, prefix):
            for k, v in found.items():
                want = np.asarray(expected[k])
                if v.shape != want.shape or v.dtype != want.dtype:
                    bad(f"{prefix}{k!r} is {v.dtype} {v.shape} in the checkpoint, the model "
                        f"has {want.dtype} {want.shape}")

        same_names(params, model_params, "the parameters (params/*)")
        same_arrays(params, model_params, "params/")
        if best:
            same_names(best, model_params, "the best parameters (best/*)")
            same_arrays(best, model_params, "best/")
        model_buffers = _buffers(self.model)
        if buffers:
            same_names(buffers, model_buffers, "the buffers (buffers/*)")
            same_arrays(buffers, model_buffers, "buffers/")
        configs = self._check_optim_state(meta["optim_configs"], groups["optim"], bad)

        for k, v in params.items():
            model_params[k][...] = v
        for k, v in buffers.items():
            model_buffers[k][...] = v
        self.best_params = best
        self.optim_configs = configs
        self.epoch = meta["epoch"]
        self.best_val_acc = meta["best_val_acc"]
        self.loss_history = list(meta["loss_history"])
        self.train_acc_history = list(meta["train_acc_history"])
        self.val_acc_history = list(meta["val_acc_history"])
        self._epochs_without_best = meta.get("epochs_without_best", 0)
        # where the run stands (older checkpoints: a finished run)
        self._run_t = int(meta.get("run_t", 0))
        self._run_iterations = int(meta.get("run_iterations", 0))
        self.stopped_early = bool(meta.get("stopped_early", False))
        if "rng" in meta:
            self.rng.bit_generator.state = meta["rng"]
        streams = generators(self.model)
        for k, state in (meta.get("layer_rngs") or {}).items():
            if k in streams:
                streams[k].bit_generator.state = state
        if self.monitor is not None and meta.get("monitor") is not None:
            self.monitor.history = list(meta["monitor"])
        return self
