"""The ready-made trial functions: fastnn models trained by the Solver."""
import numbers

import numpy as np


_DATA_CACHE = {}


def _dataset(name):
    if name not in _DATA_CACHE:
        from fastnn.data import load_builtin
        _DATA_CACHE[name] = load_builtin(name)
    return _DATA_CACHE[name]


class TrainFn:
    """A picklable trial function: train a fastnn model on a built-in dataset with a Solver.

    ``TrainFn(model, dataset, epochs, batch_size, update_rule)(config, seed)``
    returns ``{"val_acc": best validation accuracy, "train_acc": final train
    accuracy, "loss_history": [loss per iteration]}``.

    Config keys (all optional; unknown keys raise ValueError):

    ==================  ============================================================
    ``lr``              learning rate (``optim_config["learning_rate"]``), default 1e-3
    ``reg``             L2 strength of the model, default 0
    ``weight_scale``    std of the N(0, s^2) weight init, default 5e-2
    ``hidden_dim``      hidden units (each of the mlp's 2 layers; the convnet's one), 64
    ``num_filters``     convnet filters (3x3), default 16
    ``batch_size``      default: the TrainFn's
    ``epochs``          default: the TrainFn's (coarse_to_fine sets it per stage)
    ``lr_decay``        per epoch, default 1.0
    ``update_rule``     a :mod:`fastnn.optim` rule, default: the TrainFn's ("adam")
    ``momentum``        for sgd_momentum / nesterov
    ``beta1, beta2``    for adam
    ``decay_rate``      for rmsprop
    ==================  ============================================================
    """

    KEYS = ("lr", "reg", "weight_scale", "hidden_dim", "num_filters", "batch_size", "epochs",
            "lr_decay", "update_rule", "momentum", "beta1", "beta2", "decay_rate")
    _OPTIM_KEYS = ("momentum", "beta1", "beta2", "decay_rate")

    def __init__(self, model="convnet", dataset="digits", epochs=1, batch_size=50,
                 update_rule="adam"):
        if model not in ("convnet", "mlp"):
            raise ValueError(f"make_train_fn: model must be 'convnet' or 'mlp', got {model!r}")
        from fastnn.data.datasets import BUILTIN
        if dataset not in BUILTIN:
            raise ValueError(f"make_train_fn: dataset must be one of {sorted(BUILTIN)}, "
                             f"got {dataset!r}")
        for v, n in ((epochs, "epochs"), (batch_size, "batch_size")):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"make_train_fn: {n} must be an integer >= 1, got {v!r}")
        self.model, self.dataset = model, dataset
        self.epochs, self.batch_size, self.update_rule = int(epochs), int(batch_size), update_rule

    def __repr__(self):
        return (f"TrainFn(model={self.model!r}, dataset={self.dataset!r}, epochs={self.epochs}, "
                f"batch_size={self.batch_size}, update_rule={self.update_rule!r})")

    def check_space(self, space):
        """Raise ValueError naming any space key this function does not read."""
        bad = [k for k in space if k not in self.KEYS]
        if bad:
            raise ValueError(f"unknown config key(s) {bad} for the {self.model} trial; "
                             f"known: {', '.join(self.KEYS)}")

    def build(self, config, seed):
        from fastnn import models
        data = _dataset(self.dataset)
        C, H, W = data["X_train"].shape[1:]
        n_classes = int(data["y_train"].max()) + 1
        reg = float(config.get("reg", 0.0))
        hidden = int(config.get("hidden_dim", 64))
        if self.model == "convnet":
            return models.ThreeLayerConvNet(
                input_dim=(C, H, W), num_filters=int(config.get("num_filters", 16)),
                filter_size=3, hidden_dim=hidden, num_classes=n_classes,
                weight_scale=float(config.get("weight_scale", 5e-2)), reg=reg, seed=seed)
        return models.FullyConnectedNet(
            [hidden, hidden], input_dim=C * H * W, num_classes=n_classes,
            weight_scale=float(config.get("weight_scale", 5e-2)), reg=reg, seed=seed)

    def __call__(self, config, seed):
        from fastnn import Solver
        self.check_space(config)
        model_seed, solver_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(2))
        model = self.build(config, model_seed)
        data = _dataset(self.dataset)
        from fastnn.optim import rule_config_keys
        rule = config.get("update_rule", self.update_rule)
        accepted = rule_config_keys(rule) if isinstance(rule, str) and rule in _RULE_NAMES else ()
        optim_config = {"learning_rate": float(config.get("lr", 1e-3))}
        optim_config.update({k: float(config[k]) for k in self._OPTIM_KEYS
                             if k in config and k in accepted})
        solver = Solver(model, {k: data[k] for k in ("X_train", "y_train", "X_val", "y_val")},
                        update_rule=rule,
                        optim_config=optim_config,
                        lr_decay=float(config.get("lr_decay", 1.0)),
                        batch_size=int(config.get("batch_size", self.batch_size)),
                        num_epochs=int(config.get("epochs", self.epochs)),
                        verbose=False, seed=solver_seed)
        solver.train()
        return {"val_acc": float(solver.best_val_acc),
                "train_acc": float(solver.train_acc_history[-1]),
                "loss_history": [float(x) for x in solver.loss_history]}


_RULE_NAMES = ("sgd", "sgd_momentum", "nesterov", "rmsprop", "adam", "adamw", "adagrad")


def make_train_fn(model="convnet", dataset="digits", epochs=1, batch_size=50, update_rule="adam"):
    """The ready trial function: a :class:`TrainFn` (picklable, for worker processes).

    Parameters
    ----------
    model : "convnet" or "mlp"
        ``ThreeLayerConvNet(input_dim=(1, 8, 8), num_filters=16, filter_size=3,
        hidden_dim=64)`` or ``FullyConnectedNet([64, 64], input_dim=64)``.
    dataset : str, default "digits"
        A :func:`fastnn.data.load_builtin` dataset (loaded once per process).
    epochs, batch_size : int
        Defaults for the config keys of the same names.
    update_rule : str, default "adam"

    Returns
    -------
    TrainFn
        ``fn(config, seed) -> {"val_acc", "train_acc", "loss_history"}``; see
        :class:`TrainFn` for the config keys (``lr``, ``reg``, ...).
    """
    return TrainFn(model, dataset, epochs, batch_size, update_rule)
