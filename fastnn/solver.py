"""The Solver: CS231n's training loop for classification models::

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

A named update rule trains through the fused optimiser of :mod:`fastnn.optim`
that computes it (the rule functions of :mod:`fastnn.reference.optim` are its
oracle): parameters and optimiser state are updated in place, and a fastnn
:class:`~fastnn.models.Model` hands the optimiser its own gradient arrays, so
an iteration copies no parameter and no gradient.  A callable rule returns a
new array (CS231n's contract) that the Solver copies into the parameter's
array in place (layers share their arrays with ``model.params``), as it does
with ``best_params`` at the end of training.

Mini-batches are drawn without replacement within a batch (with replacement
only when the training set is smaller than a batch), independently at every
iteration (``sampling="random"``, the course's Solver), or as one shuffled
pass per epoch (``sampling="shuffle"``).

Learning-rate decay and schedules, the monitor, early stopping, TensorBoard
logging and checkpoints are callbacks (:mod:`fastnn.callbacks`), run with the
user's own ``callbacks=``.
"""
import copy
import math
import numbers
import sys

import numpy as np

from fastnn import callbacks as _cb
from fastnn import checkpoint as _ckpt
from fastnn import _solver_state, ops, optim

__all__ = ["Solver"]

_DATA_KEYS = ("X_train", "y_train", "X_val", "y_val")
_KWARGS = ("update_rule", "optim_config", "lr", "lr_decay", "lr_schedule", "batch_size", "num_epochs",
           "sampling", "num_train_samples", "num_val_samples", "checkpoint_name", "print_every",
           "verbose", "seed", "patience", "augment", "monitor", "clip_grad_norm",
           "clip_grad_value", "callbacks", "tensorboard", "interrupt_checkpoint", "checkpoint_tag")


def _overrides(cb, hook):
    """Whether ``cb`` does something at ``hook`` (the Callback base class's hooks do nothing)."""
    fn = getattr(type(cb), hook, None)
    if fn is None:
        return callable(getattr(cb, hook, None))
    return fn is not getattr(_cb.Callback, hook, None)


def _as_grad(g, w):
    """A gradient as the fused optimiser takes it: an array of its parameter's dtype."""
    return g if isinstance(g, np.ndarray) and g.dtype == w.dtype else np.asarray(g, dtype=w.dtype)


def _stderr_is_terminal():
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _in_notebook():
    """True in a Jupyter kernel (where tqdm.auto draws a notebook widget)."""
    shell = sys.modules.get("IPython")
    if shell is None or "ipykernel" not in sys.modules:
        return False
    try:
        ip = shell.get_ipython()
    except AttributeError:
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def _int(v, name, minimum=1, allow_none=False):
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum:
        raise ValueError(f"Solver: {name} must be an integer >= {minimum}"
                         f"{' or None' if allow_none else ''}, got {v!r}")
    return int(v)


class _RuleOptimizer:
    """The slow path: a rule function ``rule(w, dw, config) -> (next_w, config)`` applied per
    parameter, with its result copied into the parameter's array (the course's contract)."""

    def __init__(self, rule, configs):
        self.rule = rule
        self.configs = configs

    @property
    def lr(self):
        for c in self.configs.values():
            if "learning_rate" in c:
                return c["learning_rate"]
        return None

    @lr.setter
    def lr(self, value):
        for c in self.configs.values():
            c["learning_rate"] = value


def _fusable(params):
    return all(isinstance(w, np.ndarray) and w.dtype in (np.float32, np.float64)
               and w.flags.c_contiguous and w.flags.writeable and w.flags.aligned
               for w in params.values()) and len(params) > 0


class Solver:
    """Mini-batch training of a classification model, with history, checkpoints and best-model keeping.

    Parameters
    ----------
    model : object
        ``params`` dict and ``loss(X, y=None)`` (see the module docstring), or
        a :class:`fastnn.layers.Sequential`, trained as
        ``fastnn.models.Model(net)`` (softmax loss, no regularisation).
    data : dict
        ``X_train``, ``y_train``, ``X_val``, ``y_val``.
    update_rule : str or callable, default "sgd"
        ``"sgd"``, ``"sgd_momentum"``, ``"nesterov"``, ``"rmsprop"``,
        ``"adam"``, ``"adamw"`` or ``"adagrad"``: trained with the fused
        optimiser of :mod:`fastnn.optim` (in place, no copy per step), which
        follows the rule of :mod:`fastnn.reference.optim` of that name.  Or a
        callable ``rule(w, dw, config) -> (next_w, config)``, applied per
        parameter (the course's contract; slower: a new array per step).
    optim_config : dict, optional
        Hyperparameters of the rule: ``learning_rate`` (alias ``lr``),
        ``momentum``, ``weight_decay``, ``beta1``, ... (a named rule rejects a
        key it does not use, naming the accepted ones).
    lr : float, optional
        The learning rate, as ``torch.optim`` spells it: the same as
        ``optim_config={"learning_rate": lr}`` (giving both is an error).
    lr_decay : float, default 1.0
        The learning rate is multiplied by it after each epoch.
    lr_schedule : fastnn.schedules.LRSchedule, optional
        A schedule made without an optimiser (``CosineAnnealingLR(T_max=None)``,
        ``warmup(OneCycleLR(max_lr=0.1), 100)``, ``ReduceLROnPlateau(metric="val_acc")``,
        ...), stepped after every iteration or epoch (its ``interval``); a
        length left as None becomes the run's.  Not with ``lr_decay``.
    batch_size : int, default 100
    num_epochs : int, default 10
    sampling : {"random", "shuffle"}, default "random"
        "random": every iteration draws its own random minibatch (the course's
        Solver; an "epoch" is ``N // batch_size`` such draws).  "shuffle": one
        shuffled pass over the training set per epoch, ``N // batch_size``
        consecutive minibatches of a fresh permutation (the remainder of
        ``N % batch_size`` samples sits out that epoch), as a PyTorch
        ``DataLoader(shuffle=True, drop_last=True)``.
    num_train_samples : int or None, default 1000
        Training samples used to measure train accuracy (None: all).
    num_val_samples : int or None, default None
        Validation samples used to measure val accuracy and loss (None: all).
    checkpoint_name : str, optional
        If given, ``<checkpoint_name>_epoch_<e>.npz`` is written after every
        epoch (see :meth:`save`).
    print_every : int, default 10
        Print the loss every this many iterations (when not showing a
        progress bar).
    verbose : bool, default True
        Report progress: a tqdm progress bar on a terminal or in a Jupyter
        notebook (tqdm's auto front end), printed lines elsewhere (pipes,
        logs).  False: silent.
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
    clip_grad_norm, clip_grad_value : float, optional
        Clip the gradients before every update: to a global 2-norm of at
        most this (:func:`fastnn.optim.clip_grad_norm`; the norms before
        clipping are kept in ``grad_norm_history``), or each element to
        ``[-v, v]`` (:func:`fastnn.optim.clip_grad_value`).
    callbacks : list of fastnn.callbacks.Callback, optional
        Run at the start and end of training, after every iteration and
        after every epoch (see :mod:`fastnn.callbacks`); a callback stops
        training with ``solver.stop_training = True``.
    tensorboard : str, optional
        A folder: write loss, accuracies, validation loss, learning rate and
        the monitor's statistics and histograms there as TensorBoard event
        files (:class:`fastnn.callbacks.TensorBoard`; needs tensorboardX).
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
    train_acc_history, val_acc_history, val_loss_history : list of float, one per accuracy
        check: after the first iteration and after every epoch, ``num_epochs + 1``
        entries for a full run (``num_epochs`` when an epoch is one iteration);
        the validation loss is the softmax cross-entropy of the scores, without
        regularisation
    lr_history : list of float, the learning rate at each accuracy check
    best_val_acc : float; best_params : dict (copied into ``model.params`` at the end)
    epoch : int; stopped_early : bool; interrupted : bool
    run_finished : bool, True when the last run (or the one a checkpoint holds) has ended
    optimizer : the fused optimiser of :mod:`fastnn.optim` (or the rule adapter of a callable)
    optim_configs : dict, per parameter, the course's view of the optimiser state
        (``learning_rate``, ``velocity``, ``m``, ``v``, ``t``, ...); assigning it
        loads that state
    monitor : the Monitor, or None
    callbacks : list, every callback the Solver runs, its own included
    """

    def __init__(self, model, data, **kwargs):
        from fastnn import layers as _layers
        if isinstance(model, _layers.Sequential):
            from fastnn.models import Model
            model = Model(model)
        if not isinstance(getattr(model, "params", None), dict) or not callable(
                getattr(model, "loss", None)):
            hint = ""
            if isinstance(model, _layers.Layer):
                hint = ("; wrap a layer in fastnn.layers.Sequential([...]) or "
                        "fastnn.models.Model(Sequential([...]), reg=...)")
            raise TypeError("Solver: model must have a params dict and a loss(X, y=None) method "
                            f"(or be a fastnn.layers.Sequential), got {type(model).__name__}"
                            + hint)
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
        lr = kwargs.pop("lr", None)
        self.lr_decay = kwargs.pop("lr_decay", 1.0)
        self.lr_schedule = kwargs.pop("lr_schedule", None)
        self.batch_size = _int(kwargs.pop("batch_size", 100), "batch_size")
        self.num_epochs = _int(kwargs.pop("num_epochs", 10), "num_epochs", minimum=0)
        self.sampling = kwargs.pop("sampling", "random")
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
        self.clip_grad_norm = kwargs.pop("clip_grad_norm", None)
        self.clip_grad_value = kwargs.pop("clip_grad_value", None)
        user_callbacks = list(kwargs.pop("callbacks", None) or [])
        self.tensorboard = kwargs.pop("tensorboard", None)
        self.interrupt_checkpoint = kwargs.pop("interrupt_checkpoint", None)
        self.checkpoint_tag = kwargs.pop("checkpoint_tag", None)
        if kwargs:
            raise TypeError(f"Solver: unexpected keyword argument(s) {sorted(kwargs)}; "
                            f"accepted: {', '.join(_KWARGS)}")
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
        if self.sampling not in ("random", "shuffle"):
            raise ValueError(f"Solver: sampling must be 'random' or 'shuffle', "
                             f"got {self.sampling!r}")
        for name in ("clip_grad_norm", "clip_grad_value"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Real)
                                  or not v > 0 or not math.isfinite(v)):
                raise ValueError(f"Solver: {name} must be a positive number or None, got {v!r}")

        if lr is not None:
            if not isinstance(self.optim_config, dict):
                raise TypeError(f"Solver: optim_config must be a dict, "
                                f"got {type(self.optim_config).__name__}")
            given = [k for k in ("learning_rate", "lr") if k in self.optim_config]
            if given:
                raise ValueError(f"Solver: got both lr= and optim_config[{given[0]!r}]; give the "
                                 "learning rate once")
            self.optim_config = {**self.optim_config, "learning_rate": lr}
        if isinstance(self.update_rule, str):
            if self.update_rule not in optim.RULES:
                raise ValueError(f"Solver: unknown update_rule {self.update_rule!r}; expected "
                                 f"one of {sorted(optim.RULES)} or a callable")
            if not isinstance(self.optim_config, dict):
                raise TypeError(f"Solver: optim_config must be a dict, "
                                f"got {type(self.optim_config).__name__}")
            self.optim_config = optim.normalize_config(self.update_rule, self.optim_config)
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
        from fastnn.schedules import LRSchedule
        if self.lr_schedule is not None:
            if not isinstance(self.lr_schedule, LRSchedule):
                raise TypeError(f"Solver: lr_schedule must be a fastnn.schedules schedule, "
                                f"got {type(self.lr_schedule).__name__}")
            if self.lr_decay != 1.0:
                raise ValueError("Solver: give lr_decay or lr_schedule, not both "
                                 "(ExponentialLR(gamma=...) is lr_decay as a schedule)")
        if self.seed is not None and (isinstance(self.seed, bool)
                                      or not isinstance(self.seed, numbers.Integral)):
            raise TypeError(f"Solver: seed must be an integer or None, got {self.seed!r}")
        for cb in user_callbacks:
            if not any(callable(getattr(cb, h, None)) for h in _cb.HOOKS):
                raise TypeError(f"Solver: callbacks must be fastnn.callbacks.Callback objects "
                                f"(with on_epoch_end, ...), got {type(cb).__name__}")
        self.callbacks = self._builtin_callbacks(user_callbacks)
        self._hooks = {h: [cb for cb in self.callbacks if _overrides(cb, h)] for h in _cb.HOOKS}
        self._reset()

    def _builtin_callbacks(self, user):
        cbs = []
        if self.lr_schedule is not None:
            cbs.append(_cb.LRScheduler(self.lr_schedule))
        elif self.lr_decay != 1.0:
            cbs.append(_cb.LRScheduler(decay=self.lr_decay))
        if self.monitor is not None:
            cbs.append(_cb.MonitorCallback(self.monitor))
        if self.tensorboard is not None:
            cbs.append(_cb.TensorBoard(self.tensorboard))
        if self.patience is not None:
            cbs.append(_cb.EarlyStopping(self.patience))
        cbs += user
        if self.checkpoint_name is not None:
            cbs.append(_cb.Checkpoint(self.checkpoint_name))
        return cbs

    # ----------------------------------------------------------------- state

    def _reset(self):
        self.rng = np.random.default_rng(self.seed)
        self.epoch = 0
        self.best_val_acc = 0.0
        self.best_params = {}
        self.loss_history = []
        self.train_acc_history = []
        self.val_acc_history = []
        self.val_loss_history = []
        self.lr_history = []
        self.grad_norm_history = []
        self.stopped_early = False
        self.stop_training = False
        self.interrupted = False
        self.recording = False
        self.epoch_end = False
        self.last_grads = None
        self._run_t = 0                 # iterations done in the current run
        self._run_iterations = 0        # iterations of the current run (0: no run started)
        self._interrupt_requested = False
        self._sampler_seed = None
        self._perm = None
        self._bar = None
        params = self.model.params
        self._fused = isinstance(self.update_rule, str) and _fusable(params)
        if self._fused:
            from fastnn.models import Model
            # a fastnn Model hands out its own gradient arrays (no copy); others return fresh ones
            self._own_grads = isinstance(self.model, Model)
            self.optimizer = optim.from_rule(
                self.update_rule, params, self.optim_config,
                grads=self.model.grads if self._own_grads else None)
        else:
            self._own_grads = False
            self.optimizer = _RuleOptimizer(self._rule, {
                p: copy.deepcopy(self.optim_config) for p in params})

    # the course's view of the optimiser state, per parameter
    @property
    def optim_configs(self):
        """Per-parameter optimiser state (the course's ``optim_configs`` dict)."""
        if not self._fused:
            return self.optimizer.configs
        hyper, state_keys = optim._RULE_KEYS[self.update_rule]
        opt = self.optimizer
        out = {}
        for p in self.model.params:
            c = {k: getattr(opt, a) for k, a in hyper.items()}
            for k, v in opt.state.get(str(p), {}).items():
                c[k] = v
            out[p] = c
        return out

    @optim_configs.setter
    def optim_configs(self, configs):
        if not self._fused:
            self.optimizer.configs = {p: dict(c) for p, c in configs.items()}
            return
        values, state = _solver_state.fused_state(self, configs)
        hyper, _ = optim._RULE_KEYS[self.update_rule]
        for k, v in values.items():
            setattr(self.optimizer, hyper[k], v)
        self.optimizer.state = state

    @property
    def iterations_per_epoch(self):
        """Iterations in one epoch: ``max(num_train // batch_size, 1)``."""
        return max(len(self.X_train) // self.batch_size, 1)

    def optimizer_lr(self):
        """The learning rate the next update uses (None for a rule without one)."""
        lr = self.optimizer.lr
        return None if lr is None else float(lr)

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

    def log(self, msg):
        """Print a line (above the progress bar when there is one) when verbose."""
        if self.verbose:
            self._write(self._bar, msg)

    # ------------------------------------------------------------ the loop

    def _batch_indices(self):
        num_train = len(self.X_train)
        if self.sampling == "random":
            return self.rng.choice(num_train, self.batch_size, replace=num_train < self.batch_size)
        pos = self._run_t % self.iterations_per_epoch
        if pos == 0 or self._sampler_seed is None:
            self._sampler_seed = int(self.rng.integers(2**63))
            self._perm = None
        if self._perm is None:
            self._perm = np.random.default_rng(self._sampler_seed).permutation(num_train)
        return self._perm[pos * self.batch_size:(pos + 1) * self.batch_size]

    def _step(self, it):
        idx = self._batch_indices()
        X_batch, y_batch = self.X_train[idx], self.y_train[idx]
        for aug in self.augment:
            X_batch, y_batch = aug(X_batch, y_batch, seed=int(self.rng.integers(2**63)))
        self._mode("train")
        if self._own_grads:
            loss, grads = self.model.loss(X_batch, y_batch, copy=False)
        else:
            loss, grads = self.model.loss(X_batch, y_batch)
        loss = float(loss)
        if not math.isfinite(loss):
            raise FloatingPointError(
                f"Solver: the loss is {loss} at epoch {self.epoch + 1}, iteration {it + 1} "
                f"of this run; training stopped before the update, so the parameters and "
                f"the last checkpoint hold the last finite state; lower the learning rate "
                f"or check the model/inputs")
        self.loss_history.append(loss)
        params = self.model.params
        if not self._own_grads:
            missing = [p for p in params if p not in grads]
            if missing:
                raise KeyError(f"Solver: model.loss returned no gradient for parameter(s) "
                               f"{missing}")
            if self._fused:
                grads = {p: _as_grad(grads[p], w) for p, w in params.items()}
        self.last_grads = grads
        if self.clip_grad_norm is not None or self.clip_grad_value is not None:
            if not self._fused:
                grads = {p: np.array(grads[p], dtype=np.asarray(w).dtype)
                         for p, w in params.items()}
                self.last_grads = grads
            gl = [grads[p] for p in params]
            if self.clip_grad_norm is not None:
                self.grad_norm_history.append(optim.clip_grad_norm(gl, self.clip_grad_norm))
            if self.clip_grad_value is not None:
                optim.clip_grad_value(gl, self.clip_grad_value)
        for cb in self._hooks["on_update_begin"]:
            cb.on_update_begin(self, grads)
        if self._fused:
            self.optimizer.step(None if self._own_grads else grads)
        else:
            configs = self.optimizer.configs
            for p, w in params.items():
                next_w, next_config = self._rule(w, grads[p], configs[p])
                self._assign(p, next_w)
                configs[p] = next_config
        return loss

    def _evaluate(self, X, y, num_samples=None, batch_size=100):
        """(accuracy, mean softmax cross-entropy of the scores) of ``X`` against ``y``."""
        N = len(X)
        if num_samples is not None and N > num_samples:
            mask = self.rng.choice(N, num_samples, replace=False)
            N = num_samples
            X, y = X[mask], y[mask]
        if N == 0:
            return 0.0, float("nan")
        self._mode("eval")
        preds, total = [], 0.0
        for start in range(0, N, batch_size):
            scores = self.model.loss(X[start:start + batch_size])
            preds.append(np.argmax(scores, axis=1))
            if total == total:                                   # not NaN yet
                try:
                    part, _ = ops.softmax_loss(scores, y[start:start + batch_size])
                    total += part * len(scores)
                except (TypeError, ValueError):
                    total = float("nan")
        return float(np.mean(np.hstack(preds) == y)), float(total / N)

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """Fraction of ``X`` classified as ``y`` (argmax of ``model.loss(X)``).

        ``num_samples`` subsamples X first (with the Solver's generator);
        scores are computed ``batch_size`` rows at a time, in eval mode.
        """
        return self._evaluate(X, y, num_samples, batch_size)[0]

    def train(self):
        """Run the optimisation; swaps the best parameters into the model at the end.

        A fresh Solver (or one whose last run finished) runs ``num_epochs``
        epochs.  A Solver restored by :meth:`load` from a checkpoint written in
        the middle of a run (an epoch checkpoint or an interrupt checkpoint)
        finishes that run instead.
        """
        per_epoch = self.iterations_per_epoch
        if self._run_t >= self._run_iterations:          # start a new run
            self._run_t, self._run_iterations = 0, self.num_epochs * per_epoch
        num_iterations = self._run_iterations
        self.interrupted = False
        self.stop_training = False
        bar = self._bar = self._progress_bar(num_iterations)
        if bar is not None and self._run_t:
            bar.update(self._run_t)
        hooks = self._hooks
        restore_sigint = self._catch_sigint()
        try:
            for cb in hooks["on_train_begin"]:
                cb.on_train_begin(self)
            while self._run_t < num_iterations:
                t = self._run_t
                self.epoch_end = (t + 1) % per_epoch == 0
                self.recording = t == 0 or t == num_iterations - 1 or self.epoch_end
                loss = self._step(t)
                self._run_t += 1
                if bar is not None:
                    bar.update(1)
                    if t % self.print_every == 0:
                        acc = ({"train_acc": f"{self.train_acc_history[-1]:.3f}",
                                "val_acc": f"{self.val_acc_history[-1]:.3f}"}
                               if self.val_acc_history else {})
                        bar.set_postfix(loss=f"{loss:.4f}", epoch=self.epoch + 1, **acc)
                elif self.verbose and t % self.print_every == 0:
                    print(f"(Iteration {t + 1} / {num_iterations}) loss: {loss:f}")
                if self.epoch_end:
                    self.epoch += 1
                if self.recording:
                    self._record()
                for cb in hooks["on_iteration_end"]:
                    cb.on_iteration_end(self, t, loss)
                if self.epoch_end and hooks["on_epoch_end"]:
                    recent = self.loss_history[-per_epoch:]
                    logs = {"loss": float(sum(recent) / len(recent)),
                            "train_acc": self.train_acc_history[-1],
                            "val_acc": self.val_acc_history[-1],
                            "val_loss": self.val_loss_history[-1],
                            "lr": self.optimizer_lr()}
                    for cb in hooks["on_epoch_end"]:
                        cb.on_epoch_end(self, self.epoch, logs)
                if self.stop_training:
                    self.stopped_early = True
                    self._run_t = num_iterations
                    break
                if self._interrupt_requested and self._run_t < num_iterations:
                    self.interrupted = True
                    path = None
                    if self.interrupt_checkpoint is not None:
                        path = self.save(self.interrupt_checkpoint)
                    self.log(f"Interrupted at epoch {self.epoch + 1}, iteration "
                             f"{self._run_t} of {num_iterations}"
                             + (f"; resumable checkpoint: {path}" if path else ""))
                    raise KeyboardInterrupt
            for cb in hooks["on_train_end"]:
                cb.on_train_end(self)
        finally:
            restore_sigint()
            self._interrupt_requested = False
            self.recording = self.epoch_end = False
            if bar is not None:
                bar.close()
            self._bar = None
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
        ``val_acc_history``, ``val_loss_history`` and ``lr_history`` (per accuracy
        check), ``best_val_acc``, ``epoch``,
        ``stopped_early``, ``update_rule``, ``batch_size``, ``num_epochs`` and
        ``monitor`` (the Monitor's records, one per accuracy check; empty without one).
        """
        return {
            "loss_history": [float(v) for v in self.loss_history],
            "train_acc_history": [float(v) for v in self.train_acc_history],
            "val_acc_history": [float(v) for v in self.val_acc_history],
            "val_loss_history": [float(v) for v in self.val_loss_history],
            "lr_history": [None if v is None else float(v) for v in self.lr_history],
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

    def _record(self):
        train_acc = self.check_accuracy(self.X_train, self.y_train,
                                        num_samples=self.num_train_samples)
        val_acc, val_loss = self._evaluate(self.X_val, self.y_val,
                                           num_samples=self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        self.val_loss_history.append(val_loss)
        self.lr_history.append(self.optimizer_lr())
        self.log(f"(Epoch {self.epoch} / {self.num_epochs}) train acc: {train_acc:f}; "
                 f"val_acc: {val_acc:f}; val_loss: {val_loss:f}")
        if val_acc > self.best_val_acc or not self.best_params:
            self.best_val_acc = max(val_acc, self.best_val_acc)
            self.best_params = {k: np.array(v, copy=True) for k, v in self.model.params.items()}

    def _progress_bar(self, total):
        """A tqdm bar on a terminal or in a Jupyter notebook (tqdm.auto); None in pipes and logs."""
        if not self.verbose or total == 0:
            return None
        if not (_stderr_is_terminal() or _in_notebook()):
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

    def save(self, path):
        """Write the model's parameters, best parameters, optimiser state and histories.

        One ``.npz`` (see :mod:`fastnn.checkpoint`: no pickle, atomic write).
        Returns the path written.
        """
        arrays, meta = _solver_state.state(self)
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
        _solver_state.restore(self, path)
        return self

    @property
    def _epochs_without_best(self):
        stop = next((cb for cb in self.callbacks if isinstance(cb, _cb.EarlyStopping)), None)
        return stop.wait if stop is not None else 0

    @_epochs_without_best.setter
    def _epochs_without_best(self, value):
        for cb in self.callbacks:
            if isinstance(cb, _cb.EarlyStopping):
                cb.wait = int(value)
