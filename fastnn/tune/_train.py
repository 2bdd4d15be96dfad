"""The ready-made trial function: a fastnn model built by ``make_model`` and trained by the Solver.

A trial reads every option of ``fastnn train`` from its config (model,
optimiser and its options, learning-rate schedule, architecture, dropout,
activation, initialisation, normalisation, augmentation, ...), with the same
defaults.  It trains in segments when a scheduler asks for it:
``run(config, seed, until=E, state=S)`` trains up to epoch ``E`` and returns
the Solver's checkpoint bytes, from which the next segment continues to the
same result as an uninterrupted run.  Stopping is done with Solver callbacks
(:class:`DivergenceStop`, :class:`PauseAt`) that set ``solver.stop_training``.
"""
import math
import numbers
import os
import tempfile
import warnings

import numpy as np

from fastnn.callbacks import Callback
from fastnn.tune import _data

# the options of ``fastnn train`` a trial reads, with that command's defaults
DEFAULTS = {"model": "convnet", "lr": 6e-4, "lr_decay": 1.0, "optimizer": "adam", "reg": 1e-4,
            "init": "kaiming", "weight_scale": 1e-2, "activation": "relu",
            "normalization": "none", "dropout": 0.0, "augment": "none", "filters": 32,
            "schedule": "none", "warmup": 0, "sampling": "random", "clip_grad_norm": None,
            "label_smoothing": 0.0}
_OPTIM_KEYS = ("momentum", "beta1", "beta2", "decay_rate", "epsilon", "weight_decay")
_ARCH_KEYS = ("hidden", "depth", "width")
# deprecated spelling -> the key spelled like its ``fastnn train`` option
_DEPRECATED = {"update_rule": "optimizer", "num_filters": "filters", "hidden_dim": "width"}
_MAX_LAYERS = 16
_RULE_NAMES = ("sgd", "sgd_momentum", "nesterov", "rmsprop", "adam", "adamw", "adagrad")


def _known(key):
    if key in DEFAULTS or key in _OPTIM_KEYS or key in _ARCH_KEYS or key in _DEPRECATED:
        return True
    if key in ("batch_size", "epochs"):
        return True
    if key.startswith("width_") and key[6:].isdigit():
        return 1 <= int(key[6:]) <= _MAX_LAYERS
    return False


class DivergenceStop(Callback):
    """Stop training at the iteration whose loss is non-finite or above ``factor`` x the first.

    ``error`` holds the reason (with the epoch and iteration) once it stopped.
    """

    def __init__(self, factor=3.0):
        self.factor, self.error = factor, None

    def on_iteration_end(self, solver, iteration, loss):
        first = solver.loss_history[0]
        if not math.isfinite(loss):
            self.error = f"diverged: loss {loss} at iteration {iteration + 1}"
        elif self.factor is not None and first > 0 and loss > self.factor * first:
            self.error = (f"diverged: loss {loss:.4g} at iteration {iteration + 1} is over "
                          f"{self.factor:g}x the initial loss {first:.4g}")
        if self.error is not None:
            self.error += f" (epoch {solver.epoch + (0 if solver.epoch_end else 1)})"
            solver.stop_training = True


class PauseAt(Callback):
    """At the end of epoch ``epoch`` (before the last), checkpoint the Solver and stop.

    ``state`` holds the checkpoint's bytes; a Solver that loads them continues
    the run exactly where it paused.
    """

    def __init__(self, epoch):
        self.epoch, self.state = int(epoch), None

    def on_epoch_end(self, solver, epoch, logs):
        if epoch == self.epoch and epoch < solver.num_epochs and not solver.stop_training:
            self.state = _save_state(solver)
            solver.stop_training = True


def _save_state(solver):
    fd, path = tempfile.mkstemp(suffix=".npz", prefix="fastnn-trial-")
    os.close(fd)
    try:
        solver.save(path)
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.remove(path)


def _load_state(solver, state):
    fd, path = tempfile.mkstemp(suffix=".npz", prefix="fastnn-trial-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(state)
        solver.load(path)
    finally:
        os.remove(path)


_PREPARED = {}


class TrainFn:
    """A picklable trial function: a :func:`fastnn.models.make_model` network trained by a Solver.

    ``TrainFn(model, dataset, epochs, batch_size, update_rule)(config, seed)``
    returns ``{"val_acc": best validation accuracy, "train_acc": final train
    accuracy, "loss_history": [loss per iteration], "val_acc_history": [val
    accuracy per epoch], "epochs_trained": epochs trained}``.

    Config keys (all optional; unknown keys raise ValueError), spelled and
    defaulted as the options of ``fastnn train``:

    ======================  ========================================================
    ``model``               "mlp", "convnet" or "vgg" (default: the TrainFn's)
    ``lr``                  learning rate, 6e-4
    ``reg``                 L2 strength, 1e-4
    ``optimizer``           a :mod:`fastnn.optim` rule, the TrainFn's ``update_rule``
    rule options            ``momentum``, ``beta1``, ``beta2``, ``decay_rate``, ``epsilon``,
                            ``weight_decay``: the rule's options (ignored by a rule that
                            has no such option)
    ``lr_decay``            per-epoch factor, 1.0
    ``schedule``            "none", "cosine", "step", "onecycle", "plateau"
    ``warmup``              linear warm-up epochs, 0
    ``init``                "kaiming", "xavier", "lecun", "normal" (with ``weight_scale``)
    ``activation``          a key of :data:`fastnn.models.ACTIVATIONS`, "relu"
    ``normalization``       "none", "batchnorm", "layernorm"
    ``dropout``             drop probability, 0
    ``hidden``              hidden widths, a list (or "256,128")
    ``depth``, ``width``    ``depth`` hidden layers of ``width`` units; ``width_1`` ..
                            ``width_16`` override one layer's width
    ``filters``             conv filters, 32
    ``augment``             comma list of :func:`fastnn.data.from_spec` names, "none"
    ``batch_size``          default: the TrainFn's
    ``epochs``              default: the TrainFn's (coarse_to_fine sets it per stage)
    other keys              ``clip_grad_norm``, ``label_smoothing``, ``sampling``: as
                            ``fastnn train``
    ======================  ========================================================

    The spellings ``update_rule``, ``hidden_dim`` and ``num_filters`` are
    deprecated (a DeprecationWarning) for ``optimizer``, ``width`` and ``filters``.

    Data: ``dataset`` is a built-in name ("digits") or a CIFAR-10 / MNIST
    folder; ``data`` (a dict of ``X_train``, ``y_train``, ``X_val``, ``y_val``
    arrays) replaces it.  ``preprocess`` (default "standardize", as ``fastnn
    train``) is fitted on the training set once, before the search; worker
    processes share the result (see :mod:`fastnn.tune`).
    """

    def __init__(self, model="convnet", dataset="digits", epochs=1, batch_size=50,
                 update_rule="adam", *, data=None, preprocess="standardize"):
        from fastnn.data import PREPROCESSORS
        from fastnn.models import MODEL_NAMES
        if model not in MODEL_NAMES:
            raise ValueError(f"make_train_fn: model must be one of {list(MODEL_NAMES)}, "
                             f"got {model!r}")
        if data is None and not isinstance(dataset, (str, os.PathLike)):
            raise ValueError(f"make_train_fn: dataset must be a name or a folder, got {dataset!r}")
        for v, n in ((epochs, "epochs"), (batch_size, "batch_size")):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"make_train_fn: {n} must be an integer >= 1, got {v!r}")
        if preprocess not in PREPROCESSORS and preprocess is not None:
            raise ValueError(f"make_train_fn: preprocess must be one of {list(PREPROCESSORS)}, "
                             f"got {preprocess!r}")
        self.model, self.update_rule = model, update_rule
        self.dataset = "arrays" if data is not None else os.fspath(dataset)
        if data is None:
            from fastnn.data import BUILTIN
            if self.dataset not in BUILTIN and not os.path.isdir(self.dataset):
                raise ValueError(f"make_train_fn: dataset must be one of {sorted(BUILTIN)} or a "
                                 f"CIFAR-10 / MNIST folder, got {dataset!r}")
        self.epochs, self.batch_size = int(epochs), int(batch_size)
        self.preprocess = preprocess or "none"
        self._raw = None if data is None else _data.check_arrays(data, "make_train_fn")
        self._arrays = None

    def __repr__(self):
        return (f"TrainFn(model={self.model!r}, dataset={self.dataset!r}, epochs={self.epochs}, "
                f"batch_size={self.batch_size}, update_rule={self.update_rule!r})")

    def __getstate__(self):
        # worker processes get the data through the runner (memory-mapped or scattered)
        state = dict(self.__dict__)
        state["_arrays"] = None
        if state["_raw"] is not None:
            state["_raw"] = "shared"
        return state

    # ------------------------------------------------------------ data

    def shared_data(self):
        """The preprocessed training and validation arrays (loaded once per process)."""
        if self._arrays is None:
            if self._raw == "shared":
                raise RuntimeError("TrainFn: the user's arrays did not reach this worker process "
                                   "(run it through fastnn.tune's searches)")
            key = None if self._raw is not None else (self.dataset, self.preprocess)
            if key is not None and key in _PREPARED:
                self._arrays = _PREPARED[key]
            else:
                from fastnn.data import make_preprocessor
                raw = self._raw if self._raw is not None else _data.load(self.dataset)
                pre = make_preprocessor(self.preprocess)
                arrays = {"X_train": pre.fit_transform(raw["X_train"]),
                          "y_train": np.asarray(raw["y_train"]),
                          "X_val": pre.transform(raw["X_val"]), "y_val": np.asarray(raw["y_val"])}
                if key is not None:
                    _PREPARED.clear()
                    _PREPARED[key] = arrays
                self._arrays = arrays
        return self._arrays

    def use_data(self, arrays):
        """Train on these arrays (a worker's shared copy) instead of loading them."""
        self._arrays = arrays

    # ------------------------------------------------------------ configs

    def check_space(self, space):
        """Raise ValueError naming any space key this function does not read (or a key given
        in both its spelling and its deprecated one); warn about a deprecated spelling."""
        bad = [k for k in space if not _known(k)]
        if bad:
            raise ValueError(f"unknown config key(s) {bad} for the {self.model} trial; known: "
                             f"{', '.join(sorted(set(DEFAULTS) | set(_OPTIM_KEYS) | set(_ARCH_KEYS)))}"
                             f", width_1..width_{_MAX_LAYERS}, batch_size, epochs")
        for old, new in deprecated_keys(space):
            if new in space:
                raise ValueError(f"config key {old!r} is the deprecated spelling of {new!r}; "
                                 f"give only {new!r}")
            warnings.warn(deprecation_message(old), DeprecationWarning, stacklevel=2)

    def settings(self, config):
        """The full option dict of a config: its keys over the defaults (aliases resolved)."""
        self.check_space(config)
        cfg = dict(DEFAULTS, model=self.model, optimizer=self.update_rule,
                   batch_size=self.batch_size, epochs=self.epochs)
        for k, v in config.items():
            cfg[_DEPRECATED.get(k, k)] = v
        cfg["hidden"] = _hidden_dims(config)
        return cfg

    def build(self, config, seed):
        """The model of a config (seeded by ``seed``)."""
        from fastnn.models import make_model
        cfg = self.settings(config)
        arrays = self.shared_data()
        X = arrays["X_train"]
        input_dim = X.shape[1:] if X.ndim == 4 else (1, 1, X.shape[1])
        n_classes = int(max(arrays["y_train"].max(), arrays["y_val"].max())) + 1
        model_name = cfg["model"]
        if X.ndim != 4 and model_name != "mlp":
            raise ValueError(f"TrainFn: the {model_name} model needs images (N, C, H, W); the "
                             f"data has flat features {X.shape}: use model='mlp'")
        norm = cfg["normalization"]
        model = make_model(model_name, input_dim, n_classes, hidden_dims=cfg["hidden"],
                           num_filters=int(cfg["filters"]), activation=cfg["activation"],
                           normalization=None if norm in (None, "none") else norm,
                           dropout=float(cfg["dropout"]), init=cfg["init"],
                           weight_scale=float(cfg["weight_scale"]), reg=float(cfg["reg"]),
                           seed=seed)
        model.label_smoothing = float(cfg["label_smoothing"])
        return model

    def _solver(self, config, seed, callbacks):
        from fastnn.commands.train import build_schedule
        from fastnn.solver import Solver
        cfg = self.settings(config)
        model_seed, solver_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(2))
        model = self.build(config, model_seed)
        arrays = self.shared_data()
        rule = cfg["optimizer"]
        from fastnn.optim import rule_config_keys
        accepted = rule_config_keys(rule) if rule in _RULE_NAMES else ()
        optim_config = {"learning_rate": float(cfg["lr"])}
        optim_config.update({k: float(cfg[k]) for k in _OPTIM_KEYS
                             if k in cfg and k in accepted and cfg[k] is not None})
        per_epoch = max(len(arrays["X_train"]) // int(cfg["batch_size"]), 1)
        schedule = build_schedule({"schedule": cfg["schedule"], "warmup": cfg["warmup"],
                                   "epochs": cfg["epochs"], "lr": cfg["lr"],
                                   "optimizer": rule, "lr_decay": cfg["lr_decay"]}, per_epoch)
        augment = []
        if cfg["augment"] not in (None, "", "none"):
            from fastnn.data import from_spec
            augment = from_spec(cfg["augment"])
        clip = cfg["clip_grad_norm"]
        return Solver(model, arrays, update_rule=rule, optim_config=optim_config,
                      lr_decay=float(cfg["lr_decay"]) if schedule is None else 1.0,
                      lr_schedule=schedule, batch_size=int(cfg["batch_size"]),
                      num_epochs=int(cfg["epochs"]), augment=augment,
                      sampling=cfg["sampling"], clip_grad_norm=None if clip is None else float(clip),
                      num_train_samples=1000, verbose=False, seed=solver_seed,
                      callbacks=callbacks)

    # ------------------------------------------------------------ running

    def run(self, config, seed, until=None, state=None, diverge_factor=3.0):
        """Train ``config`` up to epoch ``until`` (None: its last), from ``state`` if given.

        Returns ``(metrics, state)``: the metrics so far (``val_acc`` the best
        validation accuracy up to now, ``val_acc_history``, ``loss_history``,
        ``train_acc``, ``epochs_trained``, and ``diverged``: the reason when the loss
        diverged, which stops the run at that iteration) and the checkpoint
        bytes to continue from (None when the run is over).
        """
        stop = DivergenceStop(diverge_factor)
        pause = PauseAt(until if until is not None else -1)
        solver = self._solver(config, seed, [stop, pause])
        if state is not None:
            _load_state(solver, state)
        solver.train()
        hist = solver.val_acc_history          # a check after iteration 1, then one per epoch
        per_epoch = hist[len(hist) - solver.epoch:] if solver.epoch else []
        metrics = {"val_acc": float(solver.best_val_acc),
                   "train_acc": float(solver.train_acc_history[-1]),
                   "epochs_trained": int(solver.epoch),
                   "val_acc_history": [float(v) for v in per_epoch],
                   "loss_history": [float(x) for x in solver.loss_history]}
        if stop.error is not None:
            metrics["diverged"] = stop.error
            return metrics, None
        return metrics, pause.state

    def __call__(self, config, seed):
        return self.run(config, seed)[0]


def deprecated_keys(space):
    """``(old, new)`` for every key of ``space`` spelled in its deprecated way."""
    return [(k, _DEPRECATED[k]) for k in space if k in _DEPRECATED]


def deprecation_message(old):
    """What a search prints for a config key in its deprecated spelling ``old``."""
    new = _DEPRECATED[old]
    like = ("each of the depth hidden layers' width" if new == "width"
            else f"as fastnn train --{new}")
    return f"config key {old!r} is deprecated, use {new!r} ({like})"


def _hidden_dims(config):
    """The hidden widths a config asks for (None: the model's default)."""
    if "hidden" in config and config["hidden"] is not None:
        h = config["hidden"]
        if isinstance(h, str):
            h = [int(v) for v in h.split(",") if v.strip()]
        if isinstance(h, numbers.Integral):
            h = [int(h)]
        dims = [int(v) for v in h]
    else:
        width = config.get("width", config.get("hidden_dim"))
        depth = config.get("depth")
        if depth is None and width is None:
            return None
        depth = 2 if depth is None else int(depth)
        dims = [int(width) if width is not None else 128] * depth
        for i in range(depth):
            w = config.get(f"width_{i + 1}")
            if w is not None:
                dims[i] = int(w)
    if not dims or any(d < 1 for d in dims):
        raise ValueError(f"TrainFn: hidden widths must be >= 1 and at least one layer, got {dims}")
    return tuple(dims)


def make_train_fn(model="convnet", dataset="digits", epochs=1, batch_size=50, update_rule="adam",
                  *, data=None, preprocess="standardize"):
    """The ready trial function: a :class:`TrainFn` (picklable, for worker processes).

    Parameters
    ----------
    model : "convnet", "mlp" or "vgg"
        The :func:`fastnn.models.make_model` network (a config's ``model`` overrides it).
    dataset : str, default "digits"
        A built-in dataset, or a folder holding the CIFAR-10 python batches or
        the MNIST IDX files (loaded once per search).
    epochs, batch_size : int
        Defaults for the config keys of the same names.
    update_rule : str, default "adam"
    data : dict of arrays, optional
        ``X_train``, ``y_train``, ``X_val``, ``y_val``: the user's own data
        (instead of ``dataset``); images (N, C, H, W) or features (N, D).
    preprocess : str, default "standardize"
        A :func:`fastnn.data.make_preprocessor` name, fitted on the training set.

    Returns
    -------
    TrainFn
        ``fn(config, seed) -> {"val_acc", "train_acc", "loss_history", ...}``; see
        :class:`TrainFn` for the config keys (``lr``, ``reg``, ``dropout``, ...).
    """
    return TrainFn(model, dataset, epochs, batch_size, update_rule, data=data,
                   preprocess=preprocess)
