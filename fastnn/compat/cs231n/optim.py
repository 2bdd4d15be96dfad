"""The course's ``cs231n/optim.py``: update rules ``next_w, config = rule(w, dw, config)``.

These are fastnn's rule functions (:mod:`fastnn.reference.optim`, the oracle
of the fused optimisers), with the course's config keys and defaults:
``sgd`` (``learning_rate`` 1e-2), ``sgd_momentum`` (``momentum`` 0.9,
``velocity``), ``rmsprop`` (``decay_rate`` 0.99, ``epsilon`` 1e-8, ``cache``)
and ``adam`` (``learning_rate`` 1e-3, ``beta1`` 0.9, ``beta2`` 0.999,
``epsilon`` 1e-8, ``m``, ``v``, ``t``).  :class:`fastnn.compat.cs231n.solver.Solver`
trains a rule given by name, or by one of these functions, through the fused
optimiser that computes it.
"""
from fastnn.reference.optim import adam, rmsprop, sgd, sgd_momentum

__all__ = ["sgd", "sgd_momentum", "rmsprop", "adam"]
