"""The course's ``cs231n/solver.py``: the Solver, on fastnn's training loop.

:class:`Solver` is :class:`fastnn.solver.Solver` with the course's
constructor arguments (``update_rule``, ``optim_config``, ``lr_decay``,
``batch_size``, ``num_epochs``, ``num_train_samples``, ``num_val_samples``,
``checkpoint_name``, ``print_every``, ``verbose``) and attributes
(``loss_history``, ``train_acc_history``, ``val_acc_history``,
``best_val_acc``, ``best_params``, ``optim_configs``, ``model``, ``epoch``),
and the course's sampling: every iteration draws its minibatch with
``np.random.choice(num_train, batch_size)`` (with replacement, NumPy's global
generator), and accuracy checks on more than ``num_samples`` samples draw
them with ``np.random.choice(N, num_samples)``, so ``np.random.seed`` makes a
run repeatable.

The update rule, given by name (``"sgd"``, ``"sgd_momentum"``,
``"rmsprop"``, ``"adam"``, or fastnn's ``"nesterov"``, ``"adamw"``,
``"adagrad"``) or as one of :mod:`fastnn.compat.cs231n.optim`'s functions,
trains through fastnn's fused optimiser that computes it, in place; another
callable ``rule(w, dw, config) -> (next_w, config)`` is applied per
parameter as the course does.

Differences from the course's Solver: checkpoints (``checkpoint_name``) are
fastnn's ``<name>_epoch_<e>.npz`` files (no pickle; see
:meth:`fastnn.solver.Solver.save`), the best parameters are copied into the
model's arrays at the end of ``train()`` (the arrays ``model.params``
holds stay the same objects), and progress is a bar on a terminal or in
Jupyter (printed lines elsewhere).  fastnn's further keyword arguments
(``seed``, ``callbacks``, ``lr_schedule``, ...) are accepted too.
"""
import numpy as np

from fastnn import optim as _optim
from fastnn import solver as _solver

__all__ = ["Solver"]

# the course's rule functions (fastnn.reference.optim's) -> their names, for the fused path
_RULE_NAMES = {f: name for name, f in _optim.RULES.items()}


class Solver(_solver.Solver):
    """The course's Solver: ``Solver(model, data, **kwargs)``; ``train()`` runs it.

    Parameters
    ----------
    model : object
        ``params`` dict and ``loss(X, y=None)`` (the course's model contract),
        e.g. :class:`fastnn.compat.cs231n.classifiers.fc_net.FullyConnectedNet`.
    data : dict
        ``X_train``, ``y_train``, ``X_val``, ``y_val``.
    update_rule : str or callable, default "sgd"
    optim_config : dict, optional
        ``learning_rate`` and the rule's other hyperparameters.
    lr_decay : float, default 1.0
        Multiplies the learning rate after each epoch.
    batch_size : int, default 100
    num_epochs : int, default 10
    num_train_samples : int or None, default 1000
    num_val_samples : int or None, default None
    checkpoint_name : str, optional
    print_every : int, default 10
    verbose : bool, default True
    **kwargs
        fastnn's other :class:`fastnn.solver.Solver` arguments.
    """

    def __init__(self, model, data, **kwargs):
        rule = kwargs.get("update_rule", "sgd")
        name = next((n for f, n in _RULE_NAMES.items() if f is rule), None)
        if name is not None:
            kwargs["update_rule"] = name
        super().__init__(model, data, **kwargs)

    def _batch_indices(self):
        return np.random.choice(len(self.X_train), self.batch_size)

    def _evaluate(self, X, y, num_samples=None, batch_size=100):
        N = len(X)
        if num_samples is not None and N > num_samples:
            mask = np.random.choice(N, num_samples)
            X, y = X[mask], y[mask]
        return super()._evaluate(X, y, None, batch_size)
