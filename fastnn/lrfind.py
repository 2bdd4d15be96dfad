"""The learning-rate range test, joined to the lecture's diagnostics.

:func:`lrfind` trains a deep copy of a model for a few hundred mini-batch
iterations while the learning rate rises exponentially from ``start_lr`` to
``end_lr`` (one rate per iteration).  At every rate it records

* the training loss and its bias-corrected exponential moving average
  (``smooth``: ``avg = beta * avg + (1 - beta) * loss``, divided by
  ``1 - beta**k``);
* from :class:`fastnn.monitor.Monitor`: the dead-unit fraction of every
  ReLU-family layer (a forward pass of a fixed probe batch) and the
  update/weight ratio ``||w_new - w_old|| / ||w_old||`` of every weight.

It stops when the loss diverges (not finite, or the smoothed loss above
``diverge`` times its minimum), suggests a learning rate with a one-line
reason, and can draw one PNG (:func:`fastnn.plots.plot_lrfind`): loss, dead
fraction and update ratio against the learning rate on a log axis, the
suggestion marked.

Suggestion rules (``rule=``)
----------------------------
``"min10"`` (default)
    The rate of the lowest smoothed loss, divided by 10: the loss is still
    falling fast there and a tenth of the rate is far from divergence.
``"steepest"``
    The rate where the smoothed loss falls fastest per decade of learning rate
    (the most negative ``d avg / d log10(lr)``, before the minimum).

Either way the suggestion is then held back by the diagnostics: it is lowered
to the largest rate tested at which the worst dead fraction is at most
``max_dead_rise`` above its value at the start of the test and the worst
update/weight ratio is at most ``max_update_ratio`` (default 0.1, a hundred
times the healthy 1e-3; weights that start at zero, such as the zero-initialised
classifier of :func:`fastnn.models.make_model`, are not watched: growing from
zero, their ratio is about 1/k at step k whatever the rate).  ``"min10"`` is the default because it measured better
overall when trained with the suggested rate on the built-in digits (five seeds,
docs/babysitting.md has the table): on the ``fastnn train`` convnet with Adam
the two rules are within about one test image (mean 98.3% and 98.4%, the fixed
default 1e-3 97.9%); on a FullyConnectedNet with SGD+momentum ``"steepest"``
picked rates where training is unstable (mean 88.7%, against 95.5% for
``"min10"``).

Example::

    from fastnn.lrfind import lrfind
    result = lrfind(model, data, update_rule="adam", path="lrfind.png")
    print(result)                  # the suggestion and why
    solver = Solver(model, data, update_rule="adam",
                    optim_config={"learning_rate": result.suggested_lr})
"""
import copy
import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from fastnn.sanity import _arrays

__all__ = ["LRFindResult", "lrfind", "suggest_lr", "RULES"]

RULES = ("min10", "steepest")
UPDATE_RULES = ("sgd", "sgd_momentum", "nesterov", "rmsprop", "adam")


@dataclass
class LRFindResult:
    """What :func:`lrfind` measured and what it suggests.

    Attributes
    ----------
    lrs, losses, smoothed : list of float
        Per iteration: the learning rate, the mini-batch loss (before the update)
        and its smoothed value.
    dead_fraction : dict
        ReLU-family layer (``"<path>:<Type>"``) -> per-iteration dead fraction
        (None where not measured).
    update_ratio : dict
        Weight name -> per-iteration update/weight ratio (None while undefined).
    suggested_lr : float
    reason : str
        One line: why this rate.
    rule : str
        The suggestion rule used (see the module docstring).
    min_loss_lr, steepest_lr : float
        The rate of the lowest smoothed loss, and of its steepest descent.
    diverged : bool
        True when the test stopped at divergence before ``end_lr``.
    update_rule : str
    png : str or None
        The figure's path, when one was drawn.
    """

    lrs: list
    losses: list
    smoothed: list
    dead_fraction: dict
    update_ratio: dict
    suggested_lr: float
    reason: str
    rule: str
    min_loss_lr: float
    steepest_lr: float
    diverged: bool
    update_rule: str = "adam"
    png: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def iterations(self):
        """Number of learning rates tested."""
        return len(self.lrs)

    def worst_dead(self):
        """Per iteration, the largest dead fraction over the layers (None where unmeasured)."""
        return _worst(self.dead_fraction, len(self.lrs))

    def worst_update_ratio(self):
        """Per iteration, the largest update/weight ratio over the weights (None where undefined)."""
        return _worst(self.update_ratio, len(self.lrs))

    def to_dict(self):
        """A JSON-serialisable dict of every field."""
        return {"lrs": list(self.lrs), "losses": list(self.losses),
                "smoothed": list(self.smoothed),
                "dead_fraction": {k: list(v) for k, v in self.dead_fraction.items()},
                "update_ratio": {k: list(v) for k, v in self.update_ratio.items()},
                "suggested_lr": self.suggested_lr, "reason": self.reason, "rule": self.rule,
                "min_loss_lr": self.min_loss_lr, "steepest_lr": self.steepest_lr,
                "diverged": self.diverged, "update_rule": self.update_rule, "png": self.png,
                "extra": dict(self.extra)}

    def __str__(self):
        end = (f"diverged at lr {self.lrs[-1]:.2e}" if self.diverged
               else f"reached lr {self.lrs[-1]:.2e} without diverging")
        lines = [f"learning-rate range test ({self.update_rule}, {self.iterations} rates "
                 f"from {self.lrs[0]:.1e}): {end}",
                 f"  suggested lr {self.suggested_lr:.2e}: {self.reason}",
                 f"  lowest smoothed loss at lr {self.min_loss_lr:.2e}; steepest descent at "
                 f"lr {self.steepest_lr:.2e}"]
        if self.png:
            lines.append(f"  figure: {self.png}")
        return "\n".join(lines)


def _worst(series, n):
    out = []
    for i in range(n):
        vals = [v[i] for v in series.values() if i < len(v) and v[i] is not None]
        out.append(max(vals) if vals else None)
    return out


# ---------------------------------------------------------------- the suggestion

def suggest_lr(lrs, smoothed, rule="min10", dead=None, update_ratio=None, max_dead_rise=0.2,
               max_update_ratio=0.1, skip=0.1):
    """Pick a learning rate from a range test's curves.

    Parameters
    ----------
    lrs, smoothed : sequences of float
        The rates (increasing) and the smoothed loss at each.
    rule : {"min10", "steepest"}
        See the module docstring.
    dead, update_ratio : sequences of float or None, optional
        The worst dead fraction and worst update/weight ratio at each rate;
        the suggestion is lowered to the largest rate where neither limit is
        passed (``max_dead_rise`` above the first measured dead fraction,
        ``max_update_ratio``).
    skip : float
        Fraction of the first iterations left out of the steepest-descent
        search (the moving average is still warming up there).

    Returns
    -------
    (lr, reason, info) : (float, str, dict)
        ``info`` holds ``min_loss_lr``, ``steepest_lr``, ``cap_lr`` (None without a cap).
    """
    fn = "suggest_lr"
    if rule not in RULES:
        raise ValueError(f"{fn}: rule must be one of {list(RULES)}, got {rule!r}")
    lr = np.asarray(lrs, dtype=np.float64)
    s = np.asarray(smoothed, dtype=np.float64)
    if lr.ndim != 1 or lr.shape != s.shape or len(lr) < 3:
        raise ValueError(f"{fn}: lrs and smoothed must be 1-D of the same length >= 3, "
                         f"got {lr.shape} and {s.shape}")
    finite = np.isfinite(s)
    if not finite.any():
        raise ValueError(f"{fn}: the smoothed loss is never finite")
    s = np.where(finite, s, np.inf)
    i_min = int(np.argmin(s))
    start = min(int(len(s) * skip), max(i_min - 1, 0))
    if i_min - start >= 2:
        slope = np.gradient(s[start:i_min + 1], np.log10(lr[start:i_min + 1]))
        i_steep = start + int(np.argmin(slope))
    else:
        i_steep = max(i_min - 1, 0)
    info = {"min_loss_lr": float(lr[i_min]), "steepest_lr": float(lr[i_steep]),
            "cap_lr": None}
    if rule == "min10":
        pick = lr[i_min] / 10
        reason = (f"a tenth of lr {lr[i_min]:.2e}, where the smoothed loss is lowest "
                  f"({s[i_min]:.3g})")
    else:
        pick = lr[i_steep]
        reason = (f"the smoothed loss falls fastest there ({s[i_steep]:.3g}, lowest "
                  f"{s[i_min]:.3g} at lr {lr[i_min]:.2e})")
    # the diagnostics: the largest tested rate before dead units appear or updates get too big
    bad = np.zeros(len(lr), dtype=bool)
    why = [""] * len(lr)
    if dead is not None:
        d = [v for v in dead if v is not None]
        if d:
            d0 = d[0]
            for i, v in enumerate(dead):
                if v is not None and v > d0 + max_dead_rise:
                    bad[i], why[i] = True, (f"the worst dead fraction rises from {d0:.0%} "
                                            f"to {v:.0%}")
    if update_ratio is not None:
        for i, v in enumerate(update_ratio):
            if v is not None and v > max_update_ratio and not bad[i]:
                bad[i], why[i] = True, (f"the update/weight ratio reaches {v:.1e} "
                                        f"(healthy ~1e-3)")
    if bad.any():
        first_bad = int(np.argmax(bad))
        cap = lr[max(first_bad - 1, 0)]
        if cap < pick:
            info["cap_lr"] = float(cap)
            reason = (f"held back from {pick:.2e} ({reason}) because beyond lr "
                      f"{cap:.2e} {why[first_bad]}")
            pick = cap
    # what the monitor says at the chosen rate
    j = int(np.searchsorted(lr, pick))
    j = min(max(j, 0), len(lr) - 1)
    notes = []
    if dead is not None and j < len(dead) and dead[j] is not None:
        notes.append(f"dead units {dead[j]:.0%}")
    if update_ratio is not None and j < len(update_ratio) and update_ratio[j] is not None:
        notes.append(f"update/weight ratio {update_ratio[j]:.1e}")
    if notes:
        reason += "; at this rate: " + ", ".join(notes)
    return float(pick), reason, info


# ---------------------------------------------------------------- the test

def _positive(v, name, fn):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v <= 0:
        raise ValueError(f"{fn}: {name} must be a positive number, got {v!r}")
    return float(v)


def _posint(v, name, fn, minimum=1):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum:
        raise ValueError(f"{fn}: {name} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def _stepper(update_rule, params, optim_config, lr, fn):
    """A function ``step(grads, lr)`` that updates ``params`` in place."""
    from fastnn import optim
    cfg = dict(optim_config or {})
    for key in ("learning_rate", "lr"):
        cfg.pop(key, None)
    if callable(update_rule):
        configs = {k: copy.deepcopy(cfg) for k in params}

        def step_rule(grads, rate):
            for k, w in params.items():
                configs[k]["learning_rate"] = rate
                next_w, configs[k] = update_rule(w, grads[k], configs[k])
                w[...] = next_w
        return step_rule
    if update_rule not in UPDATE_RULES:
        raise ValueError(f"{fn}: update_rule must be one of {list(UPDATE_RULES)} or a callable "
                         f"rule(w, dw, config), got {update_rule!r}")
    if "epsilon" in cfg:
        cfg["eps"] = cfg.pop("epsilon")
    accepted = {"sgd": {"weight_decay"},
                "sgd_momentum": {"momentum", "weight_decay"},
                "nesterov": {"momentum", "weight_decay"},
                "rmsprop": {"decay_rate", "eps", "weight_decay"},
                "adam": {"beta1", "beta2", "eps", "weight_decay"}}[update_rule]
    unknown = sorted(set(cfg) - accepted)
    if unknown:
        raise ValueError(f"{fn}: optim_config keys {unknown} do not apply to {update_rule!r}; "
                         f"accepted: {sorted(accepted | {'learning_rate'})}")
    if update_rule == "sgd":
        opt = optim.SGD(params, lr=lr, **cfg)
    elif update_rule in ("sgd_momentum", "nesterov"):
        cfg.setdefault("momentum", 0.9)
        opt = optim.SGD(params, lr=lr, nesterov=update_rule == "nesterov", **cfg)
    elif update_rule == "rmsprop":
        opt = optim.RMSProp(params, lr=lr, **cfg)
    else:
        opt = optim.Adam(params, lr=lr, **cfg)

    def step_fused(grads, rate):
        opt.lr = rate
        opt.step(grads)
    return step_fused


def lrfind(model, data, update_rule="adam", optim_config=None, start_lr=1e-7, end_lr=10.0,
           num_iter=200, batch_size=32, beta=0.98, diverge=4.0, rule="min10", probe_size=64,
           max_dead_rise=0.2, max_update_ratio=0.1, seed=0, path=None):
    """Learning-rate range test on a deep copy of ``model`` (see the module docstring).

    Parameters
    ----------
    model : the Solver's model contract (``params`` dict, ``loss(X, y=None)``)
        Not modified: a deep copy is trained (with the model's own ``reg``).
    data : dict or (X, y)
        A Solver data dict (``X_train`` and ``y_train`` are used) or an (X, y) pair.
    update_rule : str or callable
        ``"sgd"``, ``"sgd_momentum"``, ``"nesterov"``, ``"rmsprop"``, ``"adam"``
        (run on the fused optimisers of :mod:`fastnn.optim`), or a course rule
        function ``rule(w, dw, config)``.
    optim_config : dict, optional
        The optimiser's other hyperparameters (momentum, beta1, ...); a learning
        rate in it is ignored.
    start_lr, end_lr : float
        The range, ``start_lr < end_lr``; rate k is ``start_lr * (end_lr / start_lr) ** (k / (num_iter - 1))``.
    num_iter : int
        Iterations (rates) at most, >= 10.
    batch_size : int
    beta : float in [0, 1)
        Smoothing of the loss.
    diverge : float > 1
        Stop when the smoothed loss exceeds ``diverge`` times its minimum.
    rule : {"min10", "steepest"}
    probe_size : int
        Samples of the probe batch for the dead-unit fraction (the first ones).
    max_dead_rise, max_update_ratio : float
        The diagnostics' limits on the suggestion (see :func:`suggest_lr`).
    seed : int
        Seeds the mini-batch draws.
    path : str, optional
        Write the figure there (PNG).

    Returns
    -------
    LRFindResult
    """
    from fastnn import layers as L
    from fastnn.monitor import Monitor
    fn = "lrfind"
    if not isinstance(getattr(model, "params", None), dict) or not callable(
            getattr(model, "loss", None)):
        raise TypeError(f"{fn}: model must have a params dict and a loss(X, y=None) method "
                        f"(a fastnn.models.Model; wrap a Sequential as Model(net)), "
                        f"got {type(model).__name__}")
    X, y = _arrays(data, fn)
    start_lr = _positive(start_lr, "start_lr", fn)
    end_lr = _positive(end_lr, "end_lr", fn)
    if end_lr <= start_lr:
        raise ValueError(f"{fn}: end_lr ({end_lr:g}) must be larger than start_lr ({start_lr:g})")
    num_iter = _posint(num_iter, "num_iter", fn, minimum=10)
    batch_size = _posint(batch_size, "batch_size", fn)
    probe_size = _posint(probe_size, "probe_size", fn)
    if not (isinstance(beta, numbers.Real) and 0 <= beta < 1):
        raise ValueError(f"{fn}: beta must be in [0, 1), got {beta!r}")
    if not (isinstance(diverge, numbers.Real) and diverge > 1):
        raise ValueError(f"{fn}: diverge must be a number > 1, got {diverge!r}")
    if rule not in RULES:
        raise ValueError(f"{fn}: rule must be one of {list(RULES)}, got {rule!r}")

    m = copy.deepcopy(model)
    params = m.params
    step = _stepper(update_rule, params, optim_config, start_lr, fn)
    weights = [k for k in params if k.startswith("W")] or list(params)
    # a weight that starts at zero (make_model's classifier head) has no meaningful update/weight
    # ratio while it grows from zero (about 1/k at step k whatever the rate): not watched
    weights = [k for k in weights if np.any(params[k])] or weights
    probe = X[:probe_size]
    monitor = Monitor(probe_size=probe_size, hist_bins=0)
    has_layers = isinstance(getattr(m, "net", m), L.Layer)   # the monitor's probe needs layers
    rng = np.random.default_rng(seed)
    factor = (end_lr / start_lr) ** (1.0 / (num_iter - 1))
    lrs, losses, smoothed = [], [], []
    dead, ratio = {}, {k: [] for k in weights}
    avg, best, diverged = 0.0, math.inf, False
    with np.errstate(all="ignore"):
        for k in range(num_iter):
            rate = start_lr * factor ** k
            idx = rng.choice(len(X), batch_size, replace=len(X) < batch_size)
            loss, grads = m.loss(X[idx], y[idx])
            loss = float(loss)
            lrs.append(rate)
            losses.append(loss)
            if not math.isfinite(loss):
                smoothed.append(math.nan)
                for series in list(dead.values()) + list(ratio.values()):
                    series.append(None)
                diverged = True
                break
            avg = beta * avg + (1 - beta) * loss
            sm = avg / (1 - beta ** (k + 1))
            smoothed.append(sm)
            before = {w: np.array(params[w], copy=True) for w in weights}
            step(grads, rate)
            stats = monitor.observe_update(m, grads, before)
            for w in weights:
                ratio[w].append(stats[w]["update_ratio"])
            if has_layers:
                rec = monitor.observe_epoch(m, probe, epoch=k)
                monitor.history.clear()
                for name, st in rec["activations"].items():
                    if st["dead_fraction"] is not None:
                        dead.setdefault(name, [None] * k).append(st["dead_fraction"])
            best = min(best, sm)
            if k >= 10 and sm > diverge * best:
                diverged = True
                break
    if len(lrs) < 3:
        raise FloatingPointError(f"{fn}: the loss was not finite within {len(lrs)} iterations "
                                 f"from lr {start_lr:g}; lower start_lr or check the model "
                                 f"and inputs")
    result_dead = _worst(dead, len(lrs)) if dead else None
    result_ratio = _worst(ratio, len(lrs))
    lr, reason, info = suggest_lr(lrs, smoothed, rule=rule, dead=result_dead,
                                  update_ratio=result_ratio, max_dead_rise=max_dead_rise,
                                  max_update_ratio=max_update_ratio)
    result = LRFindResult(lrs=lrs, losses=losses, smoothed=smoothed, dead_fraction=dead,
                          update_ratio=ratio, suggested_lr=lr, reason=reason, rule=rule,
                          min_loss_lr=info["min_loss_lr"], steepest_lr=info["steepest_lr"],
                          diverged=diverged,
                          update_rule=update_rule if isinstance(update_rule, str) else "custom",
                          extra={"cap_lr": info["cap_lr"], "batch_size": batch_size,
                                 "beta": float(beta), "seed": seed})
    if path is not None:
        from fastnn.plots import plot_lrfind
        result.png = plot_lrfind(result, path)
    return result
