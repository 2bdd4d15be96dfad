"""Learning-rate schedules: PyTorch's ``torch.optim.lr_scheduler`` family on fastnn optimisers.

A schedule sets ``optimizer.lr`` (any object with an ``lr`` attribute: the
optimisers of :mod:`fastnn.optim`) from the rate the optimiser had when the
schedule was bound to it (``base_lr``) and the number of :meth:`~LRSchedule.step`
calls so far (``epoch``; it counts iterations for a schedule stepped per
iteration).  The rates over a run equal PyTorch's for the same settings:

============================  ==========================================================================
:class:`StepLR`               ``base_lr * gamma ** (epoch // step_size)``
:class:`MultiStepLR`          ``base_lr * gamma ** (milestones passed)``
:class:`ExponentialLR`        ``base_lr * gamma ** epoch``
:class:`CosineAnnealingLR`    ``eta_min + (base_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2``
:class:`LinearLR`             linear factor ``start_factor -> end_factor`` over ``total_iters``
:class:`SequentialLR`         one schedule after another at the milestones
:class:`OneCycleLR`           warm up to ``max_lr``, anneal to ``max_lr / div_factor / final_div_factor``
:class:`ReduceLROnPlateau`    ``lr *= factor`` when a metric stops improving
============================  ==========================================================================

:func:`warmup` puts a linear warm-up in front of any of them.

In a hand loop (the optimiser given to the constructor, as in PyTorch)::

    opt = fastnn.optim.SGD(model, lr=0.1, momentum=0.9)
    sched = CosineAnnealingLR(opt, T_max=100)
    for it in range(100):
        ...; opt.step(); sched.step()

With :class:`fastnn.Solver`, make the schedule without an optimiser and pass
it as ``lr_schedule=``; the Solver binds it to its optimiser, steps it after
every iteration or every epoch (``interval``), feeds ``ReduceLROnPlateau`` the
metric it watches, and fills ``T_max`` / ``total_steps`` left as None with the
length of the run.

Binding a schedule (the constructor with an optimiser, or :meth:`~LRSchedule.bind`)
sets the optimiser's rate to the schedule's rate at step 0, as PyTorch's
constructors do (``LinearLR`` and ``OneCycleLR`` start below ``base_lr``).
"""
import bisect
import math
import numbers

__all__ = ["LRSchedule", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
           "LinearLR", "SequentialLR", "OneCycleLR", "ReduceLROnPlateau", "warmup",
           "INTERVALS"]

INTERVALS = ("epoch", "iteration")


def _positive_int(v, name, fn, allow_none=False):
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
        raise ValueError(f"{fn}: {name} must be an integer >= 1"
                         f"{' or None' if allow_none else ''}, got {v!r}")
    return int(v)


def _real(v, name, fn, lo=None, lo_open=False, hi=None, hi_open=False):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
        raise ValueError(f"{fn}: {name} must be a finite number, got {v!r}")
    v = float(v)
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise ValueError(f"{fn}: {name} must be {'>' if lo_open else '>='} {lo}, got {v}")
    if hi is not None and (v > hi or (hi_open and v == hi)):
        raise ValueError(f"{fn}: {name} must be {'<' if hi_open else '<='} {hi}, got {v}")
    return v


class LRSchedule:
    """Base class of the schedules.

    Parameters
    ----------
    optimizer : object with an ``lr`` attribute, optional
        Bound at once when given (a hand loop); the Solver binds a schedule
        made without one.
    interval : {"epoch", "iteration"}
        How the Solver steps it: after every epoch or after every iteration
        (a hand loop calls :meth:`step` itself).

    Attributes
    ----------
    optimizer, base_lr : the bound optimiser and its rate when bound
    epoch : int, the number of :meth:`step` calls since binding
    """

    def __init__(self, optimizer=None, interval="epoch"):
        if interval not in INTERVALS:
            raise ValueError(f"{type(self).__name__}: interval must be 'epoch' or 'iteration', "
                             f"got {interval!r}")
        self.interval = interval
        self.optimizer = None
        self.base_lr = None
        self.epoch = 0
        if optimizer is not None:
            self.bind(optimizer)

    def bind(self, optimizer, total_steps=None, resume=False):
        """Attach to ``optimizer``: ``base_lr`` is its rate now; its rate becomes ``lr_at(0)``.

        ``total_steps`` (the Solver's run length in this schedule's steps) fills
        a length left as None.  ``resume=True`` (a run restored from a
        checkpoint, after ``load_state_dict``) keeps ``base_lr``, the step
        count and the optimiser's rate.  Returns self.
        """
        if not hasattr(optimizer, "lr"):
            raise TypeError(f"{type(self).__name__}: optimizer must have an lr attribute, "
                            f"got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self._fill(total_steps)
        if not resume:
            self.base_lr = float(optimizer.lr)
            self.epoch = 0
            optimizer.lr = self.lr_at(0)
        return self

    _length = None      # the attribute a None length is filled into (subclasses name it)

    def _fill(self, total_steps):
        """Fill the length named by ``_length``, when left as None, from the run length."""
        name = self._length
        if name is None or getattr(self, name) is not None:
            return
        if total_steps is None:
            raise ValueError(f"{type(self).__name__}: {name} is None; give {name} or let the "
                             "Solver fill it")
        setattr(self, name, max(int(total_steps), 1))

    def _need_bound(self):
        if self.optimizer is None:
            raise RuntimeError(f"{type(self).__name__}: not bound to an optimiser; give one to "
                               "the constructor or call bind(optimizer)")

    def lr_at(self, epoch):  # pragma: no cover - abstract
        """The rate after ``epoch`` steps (no side effects)."""
        raise NotImplementedError

    def step(self):
        """Advance one step and set the optimiser's learning rate; returns it."""
        self._need_bound()
        self.epoch += 1
        self.optimizer.lr = self.lr_at(self.epoch)
        return self.optimizer.lr

    def get_last_lr(self):
        """The optimiser's current rate (PyTorch's name, one value)."""
        self._need_bound()
        return float(self.optimizer.lr)

    def state_dict(self):
        """The schedule's progress as a JSON-serialisable dict."""
        return {"epoch": self.epoch, "base_lr": self.base_lr}

    def load_state_dict(self, state):
        """Restore :meth:`state_dict` (the optimiser's rate is restored with the optimiser)."""
        self.epoch = int(state["epoch"])
        self.base_lr = None if state["base_lr"] is None else float(state["base_lr"])


class StepLR(LRSchedule):
    """``lr = base_lr * gamma ** (epoch // step_size)`` (PyTorch's StepLR)."""

    def __init__(self, optimizer=None, step_size=1, gamma=0.1, interval="epoch"):
        self.step_size = _positive_int(step_size, "step_size", "StepLR")
        self.gamma = _real(gamma, "gamma", "StepLR", lo=0)
        super().__init__(optimizer, interval)

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class MultiStepLR(LRSchedule):
    """``lr = base_lr * gamma ** (number of milestones <= epoch)`` (PyTorch's MultiStepLR)."""

    def __init__(self, optimizer=None, milestones=(), gamma=0.1, interval="epoch"):
        ms = [_positive_int(m, "milestones", "MultiStepLR") for m in milestones]
        if ms != sorted(ms):
            raise ValueError(f"MultiStepLR: milestones must be increasing, got {list(milestones)}")
        self.milestones = ms
        self.gamma = _real(gamma, "gamma", "MultiStepLR", lo=0)
        super().__init__(optimizer, interval)

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** bisect.bisect_right(self.milestones, epoch)


class ExponentialLR(LRSchedule):
    """``lr = base_lr * gamma ** epoch`` (PyTorch's ExponentialLR)."""

    def __init__(self, optimizer=None, gamma=0.9, interval="epoch"):
        self.gamma = _real(gamma, "gamma", "ExponentialLR", lo=0)
        super().__init__(optimizer, interval)

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** epoch


class CosineAnnealingLR(LRSchedule):
    """``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``

    (PyTorch's closed form; steps past ``T_max`` follow the cosine back up, as
    PyTorch's do).  ``T_max=None``: the Solver's run length.
    """

    def __init__(self, optimizer=None, T_max=None, eta_min=0.0, interval="epoch"):
        self.T_max = _positive_int(T_max, "T_max", "CosineAnnealingLR", allow_none=True)
        self.eta_min = _real(eta_min, "eta_min", "CosineAnnealingLR", lo=0)
        super().__init__(optimizer, interval)

    _length = "T_max"

    def lr_at(self, epoch):
        return self.eta_min + (self.base_lr - self.eta_min) * (
            1 + math.cos(math.pi * epoch / self.T_max)) / 2


class LinearLR(LRSchedule):
    """Linear factor from ``start_factor`` to ``end_factor`` over ``total_iters`` steps.

    ``lr = base_lr * (start_factor + (end_factor - start_factor) * min(epoch, total_iters)
    / total_iters)`` (PyTorch's LinearLR: the warm-up ramp).
    """

    def __init__(self, optimizer=None, start_factor=1.0 / 3, end_factor=1.0, total_iters=5,
                 interval="epoch"):
        self.start_factor = _real(start_factor, "start_factor", "LinearLR", lo=0, lo_open=True,
                                  hi=1)
        self.end_factor = _real(end_factor, "end_factor", "LinearLR", lo=0, hi=1)
        self.total_iters = _positive_int(total_iters, "total_iters", "LinearLR")
        super().__init__(optimizer, interval)

    def lr_at(self, epoch):
        frac = min(epoch, self.total_iters) / self.total_iters
        return self.base_lr * (self.start_factor + (self.end_factor - self.start_factor) * frac)


class SequentialLR(LRSchedule):
    """Run ``schedulers[i]`` from ``milestones[i - 1]`` on (PyTorch's SequentialLR).

    Each schedule restarts its own count at its milestone, from the same
    ``base_lr``.  The schedules are made without an optimiser (this one binds
    them); the last may be a :class:`ReduceLROnPlateau`, which then starts
    from ``base_lr`` at its milestone and is fed the metric given to :meth:`step`.
    """

    def __init__(self, optimizer=None, schedulers=(), milestones=(), interval=None):
        scheds = list(schedulers)
        fn = "SequentialLR"
        if len(scheds) < 1 or not all(isinstance(s, LRSchedule) for s in scheds):
            raise TypeError(f"{fn}: schedulers must be a non-empty list of schedules")
        if any(isinstance(s, ReduceLROnPlateau) for s in scheds[:-1]):
            raise ValueError(f"{fn}: only the last schedule may be a ReduceLROnPlateau")
        ms = [_positive_int(m, "milestones", fn) for m in milestones]
        if len(ms) != len(scheds) - 1 or ms != sorted(ms):
            raise ValueError(f"{fn}: expected {len(scheds) - 1} increasing milestones for "
                             f"{len(scheds)} schedules, got {list(milestones)}")
        self.schedulers, self.milestones = scheds, ms
        super().__init__(optimizer, interval or scheds[0].interval)

    @property
    def metric(self):
        """The metric the current scheduler reads (``ReduceLROnPlateau``), or None."""
        return getattr(self.schedulers[-1], "metric", None)

    def bind(self, optimizer, total_steps=None, resume=False):
        if not hasattr(optimizer, "lr"):
            raise TypeError(f"SequentialLR: optimizer must have an lr attribute, "
                            f"got {type(optimizer).__name__}")
        base = self.base_lr if resume else float(optimizer.lr)
        starts = [0] + self.milestones
        for i, s in enumerate(self.schedulers):
            s.optimizer = optimizer
            if not resume:
                s.base_lr, s.epoch = base, 0
            left = None if total_steps is None else max(int(total_steps) - starts[i], 1)
            if i + 1 < len(starts):
                left = starts[i + 1] - starts[i] if left is None else min(
                    left, starts[i + 1] - starts[i])
            s._fill(left)
            if isinstance(s, ReduceLROnPlateau) and not resume:
                s.lr = base
        return super().bind(optimizer, total_steps, resume)

    def _segment(self, epoch):
        i = bisect.bisect_right(self.milestones, epoch)
        return i, epoch - (self.milestones[i - 1] if i else 0)

    def lr_at(self, epoch):
        i, local = self._segment(epoch)
        s = self.schedulers[i]
        if isinstance(s, ReduceLROnPlateau):
            return s.lr if local else self.base_lr
        return s.lr_at(local)

    def step(self, metric=None):
        """Advance one step (``metric``: for a final ReduceLROnPlateau past its milestone)."""
        self._need_bound()
        self.epoch += 1
        i, local = self._segment(self.epoch)
        s = self.schedulers[i]
        if isinstance(s, ReduceLROnPlateau):
            if local == 0:
                s.lr = self.base_lr
                s.epoch = 0
            elif metric is not None:
                s._update(metric)
        self.optimizer.lr = self.lr_at(self.epoch)
        return self.optimizer.lr

    def state_dict(self):
        return {"epoch": self.epoch, "base_lr": self.base_lr,
                "schedulers": [s.state_dict() for s in self.schedulers]}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        for s, st in zip(self.schedulers, state["schedulers"]):
            s.load_state_dict(st)


def warmup(schedule, warmup_steps, start_factor=0.1, optimizer=None):
    """A linear warm-up over ``warmup_steps`` steps, then ``schedule``.

    ``SequentialLR([LinearLR(start_factor, 1.0, warmup_steps), schedule], [warmup_steps])``,
    PyTorch's recipe: the rate climbs from ``start_factor * base_lr`` to
    ``base_lr``, then ``schedule`` runs from its own step 0.  The warm-up steps
    as often as ``schedule`` does (``schedule.interval``).  ``optimizer``:
    bound at once (a hand loop); ``schedule`` is made without one.
    """
    if not isinstance(schedule, LRSchedule):
        raise TypeError(f"warmup: schedule must be an LRSchedule, got {type(schedule).__name__}")
    n = _positive_int(warmup_steps, "warmup_steps", "warmup")
    ramp = LinearLR(start_factor=start_factor, end_factor=1.0, total_iters=n,
                    interval=schedule.interval)
    return SequentialLR(optimizer, schedulers=[ramp, schedule], milestones=[n],
                        interval=schedule.interval)


class OneCycleLR(LRSchedule):
    """The 1cycle policy (PyTorch's OneCycleLR), stepped per iteration by default.

    The rate climbs from ``max_lr / div_factor`` to ``max_lr`` over the first
    ``pct_start`` of ``total_steps``, then anneals to ``max_lr / div_factor /
    final_div_factor`` (``three_phase``: back to the start rate first, then
    down).  ``anneal_strategy`` is "cos" or "linear".  With
    ``cycle_momentum`` the optimiser's ``momentum`` (SGD) or ``beta1`` (Adam,
    AdamW) moves the other way, between ``max_momentum`` and ``base_momentum``.
    The optimiser's own rate is ignored.  ``total_steps=None``: the Solver's
    run length.  The rates of steps 0 .. ``total_steps - 1`` equal PyTorch's;
    after the last step (the ``total_steps``-th call of :meth:`step`, whose
    rate no update uses) the final rate is held, where PyTorch extrapolates
    the last phase (below zero with ``anneal_strategy="linear"``).
    """

    def __init__(self, optimizer=None, max_lr=0.1, total_steps=None, pct_start=0.3,
                 anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85,
                 max_momentum=0.95, div_factor=25.0, final_div_factor=1e4, three_phase=False,
                 interval="iteration"):
        fn = "OneCycleLR"
        self.max_lr = _real(max_lr, "max_lr", fn, lo=0, lo_open=True)
        self.total_steps = _positive_int(total_steps, "total_steps", fn, allow_none=True)
        self.pct_start = _real(pct_start, "pct_start", fn, lo=0, hi=1)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"{fn}: anneal_strategy must be 'cos' or 'linear', "
                             f"got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        self.cycle_momentum = bool(cycle_momentum)
        self.base_momentum = _real(base_momentum, "base_momentum", fn, lo=0, hi=1)
        self.max_momentum = _real(max_momentum, "max_momentum", fn, lo=0, hi=1)
        self.div_factor = _real(div_factor, "div_factor", fn, lo=0, lo_open=True)
        self.final_div_factor = _real(final_div_factor, "final_div_factor", fn, lo=0, lo_open=True)
        self.three_phase = bool(three_phase)
        self._momentum_attr = None
        super().__init__(optimizer, interval)

    def bind(self, optimizer, total_steps=None, resume=False):
        if self.cycle_momentum:
            if hasattr(optimizer, "beta1"):
                self._momentum_attr = "beta1"
            elif hasattr(optimizer, "momentum"):
                self._momentum_attr = "momentum"
            else:
                raise ValueError(f"OneCycleLR: cycle_momentum needs an optimiser with momentum "
                                 f"(SGD) or beta1 (Adam, AdamW); {type(optimizer).__name__} has "
                                 "neither: pass cycle_momentum=False")
        super().bind(optimizer, total_steps, resume)
        if not resume:
            self._set_momentum()
        return self

    _length = "total_steps"

    def _phases(self):
        initial = self.max_lr / self.div_factor
        final = initial / self.final_div_factor
        n, p = self.total_steps, self.pct_start
        lo_m, hi_m = self.base_momentum, self.max_momentum
        if self.three_phase:
            return [(float(p * n) - 1, initial, self.max_lr, hi_m, lo_m),
                    (float(2 * p * n) - 2, self.max_lr, initial, lo_m, hi_m),
                    (n - 1, initial, final, hi_m, hi_m)]
        return [(float(p * n) - 1, initial, self.max_lr, hi_m, lo_m),
                (n - 1, self.max_lr, final, lo_m, hi_m)]

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _at(self, epoch):
        if epoch > self.total_steps:
            raise ValueError(f"OneCycleLR: stepped {epoch} times, past total_steps = "
                             f"{self.total_steps}")
        if epoch == self.total_steps:      # after the last step: the final rate, held
            epoch = self.total_steps - 1
        start = 0
        phases = self._phases()
        for i, (end, lr0, lr1, m0, m1) in enumerate(phases):
            if epoch <= end or i == len(phases) - 1:
                pct = (epoch - start) / (end - start)
                return self._anneal(lr0, lr1, pct), self._anneal(m0, m1, pct)
            start = end
        raise AssertionError("unreachable")  # pragma: no cover

    def lr_at(self, epoch):
        return self._at(epoch)[0]

    def step(self):
        lr = super().step()
        self._set_momentum()
        return lr

    def _set_momentum(self):
        if self._momentum_attr is not None:
            setattr(self.optimizer, self._momentum_attr, self._at(self.epoch)[1])

    def get_last_momentum(self):
        """The momentum (or beta1) the schedule set last."""
        return self._at(self.epoch)[1]


class ReduceLROnPlateau(LRSchedule):
    """Multiply the rate by ``factor`` when a metric has not improved for ``patience`` epochs.

    PyTorch's ReduceLROnPlateau: ``mode`` "min" (a loss) or "max" (an
    accuracy); an improvement beats the best by ``threshold`` (relative, or
    absolute with ``threshold_mode="abs"``); after a reduction, ``cooldown``
    epochs pass before bad epochs count again; the rate never goes below
    ``min_lr``, and a change smaller than ``eps`` is skipped.  :meth:`step`
    takes the metric.

    ``metric`` names what the Solver feeds it: "val_loss", "val_acc",
    "train_acc" or "loss" (the epoch's mean training loss); ``mode`` None
    picks "max" for an accuracy, else "min".
    """

    def __init__(self, optimizer=None, mode=None, factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8, metric="val_loss"):
        fn = "ReduceLROnPlateau"
        if metric not in ("val_loss", "val_acc", "train_acc", "loss"):
            raise ValueError(f"{fn}: metric must be 'val_loss', 'val_acc', 'train_acc' or 'loss', "
                             f"got {metric!r}")
        self.metric = metric
        if mode is None:
            mode = "max" if metric.endswith("acc") else "min"
        if mode not in ("min", "max"):
            raise ValueError(f"{fn}: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{fn}: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.mode, self.threshold_mode = mode, threshold_mode
        self.factor = _real(factor, "factor", fn, lo=0, hi=1, hi_open=True)
        if isinstance(patience, bool) or not isinstance(patience, numbers.Integral) or patience < 0:
            raise ValueError(f"{fn}: patience must be an integer >= 0, got {patience!r}")
        if isinstance(cooldown, bool) or not isinstance(cooldown, numbers.Integral) or cooldown < 0:
            raise ValueError(f"{fn}: cooldown must be an integer >= 0, got {cooldown!r}")
        self.patience, self.cooldown = int(patience), int(cooldown)
        self.threshold = _real(threshold, "threshold", fn, lo=0)
        self.min_lr = _real(min_lr, "min_lr", fn, lo=0)
        self.eps = _real(eps, "eps", fn, lo=0)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.lr = None
        super().__init__(optimizer, "epoch")

    def bind(self, optimizer, total_steps=None, resume=False):
        super().bind(optimizer, total_steps, resume)
        if not resume:
            self.lr = self.base_lr
        return self

    def lr_at(self, epoch):
        """The current rate (a plateau schedule's rate depends on the metrics, not on ``epoch``)."""
        return self.lr if self.lr is not None else self.base_lr

    def _better(self, a, best):
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def _update(self, metric):
        current = float(metric)
        self.epoch += 1
        if self._better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            new = max(self.lr * self.factor, self.min_lr)
            if self.lr - new > self.eps:
                self.lr = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

    def step(self, metric):
        """Feed one epoch's metric; reduce the rate if it has not improved for long enough."""
        self._need_bound()
        self._update(metric)
        self.optimizer.lr = self.lr
        return self.lr

    def state_dict(self):
        best = self.best if math.isfinite(self.best) else None
        return {"epoch": self.epoch, "base_lr": self.base_lr, "best": best,
                "num_bad_epochs": self.num_bad_epochs, "cooldown_counter": self.cooldown_counter,
                "lr": self.lr}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        b = state["best"]
        self.best = (math.inf if self.mode == "min" else -math.inf) if b is None else float(b)
        self.num_bad_epochs = int(state["num_bad_epochs"])
        self.cooldown_counter = int(state["cooldown_counter"])
        self.lr = None if state["lr"] is None else float(state["lr"])
