"""Optimisers: the CS231n update rules, fused in-place optimiser objects, LR schedules.

Two ways to update parameters:

* **Update rules** (the course's functions), ``next_w, config = rule(w, dw, config)``:
  :func:`sgd`, :func:`sgd_momentum`, :func:`nesterov`, :func:`rmsprop`, :func:`adam`.
  Plain NumPy, readable, used by :class:`fastnn.Solver`.  ``w`` is not modified:
  the rule returns a new array and keeps its state (velocity, moments, step
  count) in ``config``, which starts as ``None`` or a dict of hyperparameters;
  missing keys get the course's defaults.  An optional ``weight_decay`` key adds
  L2 decay to the gradient (``g = dw + weight_decay * w``; default 0).

* **Optimiser objects** :class:`SGD`, :class:`RMSProp`, :class:`Adam` update
  parameters **in place** with one fused compiled pass (w, dw and the state
  read and written once per element).  One kernel call per step steps every
  parameter of a dtype, parallel over blocks that span all of them (one
  OpenMP region per step, like PyTorch's foreach).
  Same maths as the rules -- a fused step equals the rule's ``next_w`` up to
  rounding -- in float32 or float64 (the parameter's dtype).

The ``params`` contract of the optimiser objects
-------------------------------------------------
``params`` is one of

1. an object with ``params`` and ``grads`` dicts of the same keys (a layer or a
   model): gradients are read from ``obj.grads[name]`` at every step;
2. a list of such objects (parameter names become ``"<i>.<name>"``);
3. a list of ``(param, grad)`` array pairs (names ``"0"``, ``"1"``, ...);
4. a dict ``name -> param`` (e.g. a CS231n model's ``model.params``), with
   the gradients given either as ``grads=`` (a dict of the same keys, read at
   every step) or to every ``step(grads)`` call (a CS231n model's
   ``loss(X, y)`` returns a fresh grads dict each time).

Parameters and gradients are looked up by name at every step, so a layer may
replace its arrays; parameters must be C-contiguous, writeable float32/float64
arrays, updated in place, and each gradient must have its parameter's shape
and dtype.  :meth:`Optimizer.zero_grad` fills the gradient arrays the
optimiser holds (forms 1-3, and 4 with ``grads=``) with zeros, in place.

``state_dict()`` / ``load_state_dict()`` move the optimiser state (velocities,
moments, step counts, lr) through :func:`fastnn.checkpoint.save_params` /
:func:`~fastnn.checkpoint.load_params`.

Weight decay is L2 added to the gradient before the update, as PyTorch's SGD,
RMSprop and Adam do (not AdamW's decoupled decay), and applies to every
parameter the optimiser holds.

Momentum is stored in the course's form, ``v = momentum * v - lr * g``
(``v`` is a step in parameter units), so it equals PyTorch's
``-lr * momentum_buffer`` while the learning rate is constant; when a schedule
changes the learning rate, the velocity keeps the steps taken at the old rate
(PyTorch rescales its buffer by the new rate instead).
"""
import math
import numbers
from collections.abc import Mapping

import numpy as np

from fastnn import _dispatch
from fastnn.ops._common import c_aligned, num_threads, real_number

__all__ = ["sgd", "sgd_momentum", "nesterov", "rmsprop", "adam", "RULES",
           "Optimizer", "SGD", "RMSProp", "Adam",
           "LRSchedule", "StepLR", "ExponentialLR", "CosineAnnealingLR"]


# ====================================================================== rules

def _config(config, fn, **defaults):
    if config is None:
        config = {}
    elif not isinstance(config, dict):
        raise TypeError(f"{fn}: config must be a dict or None, got {type(config).__name__}")
    for k, v in defaults.items():
        config.setdefault(k, v)
    return config


def _grad(w, dw, config, fn):
    if not isinstance(w, np.ndarray) or not isinstance(dw, np.ndarray):
        raise TypeError(f"{fn}: w and dw must be numpy arrays, got "
                        f"{type(w).__name__} and {type(dw).__name__}")
    if w.shape != dw.shape:
        raise ValueError(f"{fn}: dw has shape {dw.shape}, expected {w.shape} (w's)")
    wd = config.get("weight_decay", 0.0)
    return dw + wd * w if wd else dw


def sgd(w, dw, config=None):
    """Vanilla SGD: ``w - learning_rate * dw``.

    config: ``learning_rate`` (default 1e-2), optional ``weight_decay``.
    """
    config = _config(config, "sgd", learning_rate=1e-2)
    g = _grad(w, dw, config, "sgd")
    return w - config["learning_rate"] * g, config


def sgd_momentum(w, dw, config=None):
    """SGD with momentum: ``v = momentum * v - learning_rate * dw; w + v``.

    config: ``learning_rate`` (1e-2), ``momentum`` (0.9), ``velocity`` (zeros
    like w, stored back), optional ``weight_decay``.
    """
    config = _config(config, "sgd_momentum", learning_rate=1e-2, momentum=0.9)
    g = _grad(w, dw, config, "sgd_momentum")
    v = config.get("velocity")
    if v is None:
        v = np.zeros_like(w)
    v = config["momentum"] * v - config["learning_rate"] * g
    config["velocity"] = v
    return w + v, config


def nesterov(w, dw, config=None):
    """Nesterov momentum, the course notes' form.

    ``v_prev = v; v = momentum * v - learning_rate * dw;
    w + (-momentum * v_prev + (1 + momentum) * v)``.
    config: as :func:`sgd_momentum`.
    """
    config = _config(config, "nesterov", learning_rate=1e-2, momentum=0.9)
    g = _grad(w, dw, config, "nesterov")
    v_prev = config.get("velocity")
    if v_prev is None:
        v_prev = np.zeros_like(w)
    mu = config["momentum"]
    v = mu * v_prev - config["learning_rate"] * g
    config["velocity"] = v
    return w + (-mu * v_prev + (1 + mu) * v), config


def rmsprop(w, dw, config=None):
    """RMSProp: ``cache = d * cache + (1 - d) * dw**2; w - lr * dw / (sqrt(cache) + eps)``.

    config: ``learning_rate`` (1e-2), ``decay_rate`` (0.99), ``epsilon`` (1e-8),
    ``cache`` (zeros like w, stored back), optional ``weight_decay``.
    """
    config = _config(config, "rmsprop", learning_rate=1e-2, decay_rate=0.99, epsilon=1e-8)
    g = _grad(w, dw, config, "rmsprop")
    cache = config.get("cache")
    if cache is None:
        cache = np.zeros_like(w)
    d = config["decay_rate"]
    cache = d * cache + (1 - d) * (g * g)
    config["cache"] = cache
    return w - config["learning_rate"] * g / (np.sqrt(cache) + config["epsilon"]), config


def adam(w, dw, config=None):
    """Adam with bias correction; ``t`` is incremented before the correction.

    ``t += 1; m = b1 m + (1 - b1) dw; v = b2 v + (1 - b2) dw**2;
    w - lr * (m / (1 - b1**t)) / (sqrt(v / (1 - b2**t)) + eps)``.
    config: ``learning_rate`` (1e-3), ``beta1`` (0.9), ``beta2`` (0.999),
    ``epsilon`` (1e-8), ``m``, ``v`` (zeros like w), ``t`` (0), optional
    ``weight_decay``.
    """
    config = _config(config, "adam", learning_rate=1e-3, beta1=0.9, beta2=0.999,
                     epsilon=1e-8, t=0)
    g = _grad(w, dw, config, "adam")
    m = config.get("m")
    v = config.get("v")
    if m is None:
        m = np.zeros_like(w)
    if v is None:
        v = np.zeros_like(w)
    b1, b2 = config["beta1"], config["beta2"]
    t = config["t"] + 1
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * (g * g)
    mt = m / (1 - b1 ** t)
    vt = v / (1 - b2 ** t)
    config.update(m=m, v=v, t=t)
    return w - config["learning_rate"] * mt / (np.sqrt(vt) + config["epsilon"]), config


RULES = {"sgd": sgd, "sgd_momentum": sgd_momentum, "nesterov": nesterov,
         "rmsprop": rmsprop, "adam": adam}


# ========================================================= optimiser objects

class _Slot:
    """One parameter: where to find it and its gradient at each step."""
    __slots__ = ("name", "pdict", "key", "gdict")

    def __init__(self, name, pdict, key, gdict):
        self.name, self.pdict, self.key, self.gdict = name, pdict, key, gdict


def _has_params(obj):
    return (isinstance(getattr(obj, "params", None), Mapping)
            and isinstance(getattr(obj, "grads", None), Mapping))


def _collect(params, grads, fn):
    if _has_params(params):
        if grads is not None:
            raise TypeError(f"{fn}: grads= is only for a dict of parameters; "
                            f"{type(params).__name__} has its own grads")
        return [_Slot(str(k), params.params, k, params.grads) for k in params.params]
    if isinstance(params, Mapping):
        if grads is not None and not isinstance(grads, Mapping):
            raise TypeError(f"{fn}: grads must be a dict of the same keys as params, "
                            f"got {type(grads).__name__}")
        return [_Slot(str(k), params, k, grads) for k in params]
    if grads is not None:
        raise TypeError(f"{fn}: grads= is only for a dict of parameters")
    if isinstance(params, np.ndarray) or not hasattr(params, "__iter__"):
        raise TypeError(f"{fn}: params must be a layer/model with params and grads dicts, a list "
                        f"of them, a list of (param, grad) pairs, or a dict of parameters; "
                        f"got {type(params).__name__}")
    slots = []
    for i, item in enumerate(params):
        if _has_params(item):
            slots += [_Slot(f"{i}.{k}", item.params, k, item.grads) for k in item.params]
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            slots.append(_Slot(str(i), {0: item[0]}, 0, {0: item[1]}))
        else:
            raise TypeError(f"{fn}: params[{i}] must be a (param, grad) pair or an object with "
                            f"params and grads dicts, got {type(item).__name__}")
    return slots


class Optimizer:
    """Base class: holds the parameters (see the module docstring) and steps them in place.

    One :meth:`step` makes one fused kernel call per dtype, over all the
    parameters of that dtype (one OpenMP region, like PyTorch's foreach).
    Subclasses implement ``_state_buffers`` (the state arrays of a parameter)
    and ``_launch`` (the kernel call).
    """

    def __init__(self, params, lr, weight_decay=0.0, grads=None):
        name = type(self).__name__
        self._slots = _collect(params, grads, name)
        if not self._slots:
            raise ValueError(f"{name}: params is empty")
        names = [s.name for s in self._slots]
        if len(set(names)) != len(names):
            raise ValueError(f"{name}: parameter names repeat: {names}")
        seen = {}
        for s in self._slots:
            p = s.pdict[s.key]
            if id(p) in seen:
                raise ValueError(f"{name}: parameters {seen[id(p)]!r} and {s.name!r} are the same "
                                 "array; it would be updated twice per step")
            seen[id(p)] = s.name
        self.lr = lr
        self.weight_decay = real_number(weight_decay, "weight_decay", name)
        if self.weight_decay < 0:
            raise ValueError(f"{name}: weight_decay must be >= 0, got {self.weight_decay}")
        self.state = {s.name: {} for s in self._slots}
        self._tables = {}

    @property
    def lr(self):
        return self._lr

    @lr.setter
    def lr(self, value):
        value = real_number(value, "lr", type(self).__name__)
        if value < 0:
            raise ValueError(f"{type(self).__name__}: lr must be >= 0, got {value}")
        self._lr = value

    def param_names(self):
        return [s.name for s in self._slots]

    def _arrays(self, slot, grads, fn):
        w = slot.pdict[slot.key]
        if grads is not None:
            if slot.key not in grads:
                raise KeyError(f"{fn}: grads has no entry for parameter {slot.name!r}")
            g = grads[slot.key]
        elif slot.gdict is not None:
            if slot.key not in slot.gdict:
                raise KeyError(f"{fn}: no gradient for parameter {slot.name!r}")
            g = slot.gdict[slot.key]
        else:
            raise TypeError(f"{fn}: this optimiser holds a dict of parameters without grads; "
                            "pass the gradients: step(grads)")
        if not isinstance(w, np.ndarray) or w.dtype not in (np.float32, np.float64):
            raise TypeError(f"{fn}: parameter {slot.name!r} must be a float32 or float64 array, "
                            f"got {getattr(w, 'dtype', type(w).__name__)}")
        if not w.flags.c_contiguous or not w.flags.writeable:
            raise ValueError(f"{fn}: parameter {slot.name!r} must be a C-contiguous, writeable "
                             "array (it is updated in place)")
        if not w.flags.aligned:
            raise ValueError(f"{fn}: parameter {slot.name!r} must be aligned to its dtype "
                             "(it is updated in place; copy it first: np.array(w))")
        if not isinstance(g, np.ndarray):
            raise TypeError(f"{fn}: gradient of {slot.name!r} must be a numpy array, "
                            f"got {type(g).__name__}")
        if g.shape != w.shape:
            raise ValueError(f"{fn}: gradient of {slot.name!r} has shape {g.shape}, "
                             f"expected {w.shape}")
        if g.dtype != w.dtype:
            raise TypeError(f"{fn}: gradient of {slot.name!r} has dtype {g.dtype}, "
                            f"expected {w.dtype} (the parameter's)")
        return w, c_aligned(g)

    def _buffer(self, state, key, w, slot):
        buf = state.get(key)
        if buf is None:
            buf = state[key] = np.zeros_like(w)
        elif buf.shape != w.shape or buf.dtype != w.dtype:
            raise ValueError(f"{type(self).__name__}.step: state {key!r} of {slot.name!r} is "
                             f"{buf.dtype} {buf.shape} but the parameter is now {w.dtype} "
                             f"{w.shape}; make a new optimiser")
        return buf

    def step(self, grads=None):
        """Update every parameter in place from its gradient.

        grads : dict, optional
            Gradients by parameter key, for an optimiser over a dict of
            parameters (overrides ``grads=`` of the constructor).
        """
        fn = f"{type(self).__name__}.step"
        if grads is not None and not isinstance(grads, Mapping):
            raise TypeError(f"{fn}: grads must be a dict, got {type(grads).__name__}")
        nt = num_threads()
        groups = {}
        for slot in self._slots:
            w, g = self._arrays(slot, grads, fn)
            bufs = self._state_buffers(slot, w, self.state[slot.name])
            groups.setdefault(w.dtype, []).append((slot, w, g, bufs))
        for slot in self._slots:        # every argument checked: only now does the state advance
            self._advance(self.state[slot.name])
        for dtype, items in groups.items():
            ptrs, sizes, first_block = self._table(dtype, [(w, g, *bufs) for _, w, g, bufs in items])
            self._launch(items[0][1].reshape(-1), ptrs, sizes, first_block, items, nt)

    def _table(self, dtype, arrays):
        """The kernels' parameter table: addresses, sizes, first blocks (cached while the arrays stay)."""
        key = tuple(id(a) for row in arrays for a in row)
        cached = self._tables.get(dtype)
        if cached is not None and cached[0] == key:
            return cached[2]
        T, K = len(arrays), len(arrays[0])
        ptrs = np.empty((T, K), np.intp)
        sizes = np.empty(T, np.intp)
        spans = []
        for i, row in enumerate(arrays):
            sizes[i] = row[0].size
            for j, a in enumerate(row):
                ptrs[i, j] = a.__array_interface__["data"][0]
            if row[0].size:
                spans.append((int(ptrs[i, 0]), int(ptrs[i, 0]) + row[0].nbytes, i))
        spans.sort()
        names = [s.name for s in self._slots if s.pdict[s.key].dtype == dtype]
        for (_, end, i), (start, _, j) in zip(spans, spans[1:]):
            if start < end:
                raise ValueError(f"{type(self).__name__}.step: parameters {names[i]!r} and "
                                 f"{names[j]!r} overlap in memory; each must own its elements")
        block = _dispatch.kernels.optim.BLOCK_SIZE
        first_block = np.zeros(T + 1, np.intp)
        np.cumsum((sizes + block - 1) // block, out=first_block[1:])
        table = (ptrs, sizes, first_block)
        self._tables[dtype] = (key, arrays, table)     # `arrays` keeps the addresses valid
        return table

    def zero_grad(self):
        """Fill the gradient arrays the optimiser holds with zeros (in place)."""
        for slot in self._slots:
            if slot.gdict is not None and slot.key in slot.gdict:
                g = slot.gdict[slot.key]
                if isinstance(g, np.ndarray):
                    g.fill(0)

    def state_dict(self):
        """The optimiser's state as a flat dict of arrays, for :func:`fastnn.checkpoint.save_params`.

        Keys: ``"lr"`` and ``"state/<param name>/<buffer>"`` (velocity, cache,
        m, v, and Adam's step count t as a 0-d int64 array).
        """
        out = {"lr": np.array(self.lr)}
        for name, st in self.state.items():
            for k, v in st.items():
                out[f"state/{name}/{k}"] = np.array(v, copy=True)
        return out

    def load_state_dict(self, arrays):
        """Restore what :meth:`state_dict` returned (checked against the parameters held)."""
        fn = f"{type(self).__name__}.load_state_dict"
        if not isinstance(arrays, Mapping) or "lr" not in arrays:
            raise ValueError(f"{fn}: expected the dict returned by state_dict() (with 'lr')")
        slots = {s.name: s for s in self._slots}
        state = {name: {} for name in slots}
        for key, v in arrays.items():
            if key == "lr":
                continue
            if not key.startswith("state/") or key.count("/") < 2:
                raise ValueError(f"{fn}: unexpected entry {key!r}")
            name, buf = key[len("state/"):].rsplit("/", 1)
            if name not in slots:
                raise ValueError(f"{fn}: state for unknown parameter {name!r} "
                                 f"(this optimiser holds {list(slots)})")
            v = np.asarray(v)
            if buf == "t":
                state[name][buf] = int(v)
                continue
            w = slots[name].pdict[slots[name].key]
            if v.shape != w.shape or v.dtype != w.dtype:
                raise ValueError(f"{fn}: state {buf!r} of {name!r} is {v.dtype} {v.shape}, "
                                 f"the parameter is {w.dtype} {w.shape}")
            state[name][buf] = np.array(v, copy=True)
        self.lr = float(arrays["lr"])
        self.state = state

    def _advance(self, state):
        """Advance a parameter's per-step state (Adam's step count); a step that raises on a
        bad argument never gets here, so it leaves the state as it was."""

    def _state_buffers(self, slot, w, state):  # pragma: no cover - abstract
        """The state arrays of one parameter, in kernel order (created on first use)."""
        raise NotImplementedError

    def _launch(self, probe, ptrs, sizes, first_block, items, n_threads):  # pragma: no cover
        """Call the fused kernel on one dtype's parameters (items: (slot, w, g, bufs))."""
        raise NotImplementedError


def _fraction(v, name, fn, lo_open=False):
    v = real_number(v, name, fn)
    if not (0.0 <= v < 1.0) or (lo_open and v == 0.0):
        raise ValueError(f"{fn}: {name} must be in {'(0' if lo_open else '[0'}, 1), got {v}")
    return v


class SGD(Optimizer):
    """SGD, optionally with momentum (heavy ball or Nesterov) and L2 weight decay.

    Parameters
    ----------
    params : see the module docstring
    lr : float, default 1e-2
    momentum : float in [0, 1), default 0 (vanilla SGD)
    nesterov : bool, default False (needs momentum > 0)
    weight_decay : float, default 0
    grads : dict, optional (only with a dict of parameters)

    Equals :func:`sgd`, :func:`sgd_momentum` or :func:`nesterov` step by step;
    the velocity lives in ``state[name]["velocity"]``.

    Shape
    -----
    Every parameter any shape; its gradient and velocity the same shape.
    """

    def __init__(self, params, lr=1e-2, momentum=0.0, nesterov=False, weight_decay=0.0,
                 grads=None):
        super().__init__(params, lr, weight_decay, grads)
        self.momentum = _fraction(momentum, "momentum", "SGD")
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"SGD: nesterov must be True or False, got {nesterov!r}")
        if nesterov and self.momentum == 0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")
        self.nesterov = bool(nesterov)

    def _state_buffers(self, slot, w, state):
        return [] if self.momentum == 0 else [self._buffer(state, "velocity", w, slot)]

    def _launch(self, probe, ptrs, sizes, first_block, items, nt):
        k = _dispatch.kernels.optim
        if self.momentum == 0:
            k.sgd_step(probe, ptrs, sizes, first_block, self.lr, self.weight_decay, nt)
        else:
            k.momentum_step(probe, ptrs, sizes, first_block, self.lr, self.momentum,
                            self.weight_decay, self.nesterov, nt)


class RMSProp(Optimizer):
    """RMSProp (PyTorch's RMSprop without centring or momentum): equals :func:`rmsprop`.

    Parameters
    ----------
    params : see the module docstring
    lr : float, default 1e-2
    decay_rate : float in [0, 1), default 0.99
    eps : float, default 1e-8
    weight_decay : float, default 0

    Shape
    -----
    Every parameter any shape; ``state[name]["cache"]`` the same shape.
    """

    def __init__(self, params, lr=1e-2, decay_rate=0.99, eps=1e-8, weight_decay=0.0, grads=None):
        super().__init__(params, lr, weight_decay, grads)
        self.decay_rate = _fraction(decay_rate, "decay_rate", "RMSProp")
        self.eps = real_number(eps, "eps", "RMSProp")
        if self.eps < 0:
            raise ValueError(f"RMSProp: eps must be >= 0, got {self.eps}")

    def _state_buffers(self, slot, w, state):
        return [self._buffer(state, "cache", w, slot)]

    def _launch(self, probe, ptrs, sizes, first_block, items, nt):
        _dispatch.kernels.optim.rmsprop_step(probe, ptrs, sizes, first_block, self.lr,
                                             self.decay_rate, self.eps, self.weight_decay, nt)


class Adam(Optimizer):
    """Adam with bias correction (PyTorch's Adam, L2 weight decay): equals :func:`adam`.

    Parameters
    ----------
    params : see the module docstring
    lr : float, default 1e-3
    beta1, beta2 : float in [0, 1), default 0.9, 0.999
    eps : float, default 1e-8
    weight_decay : float, default 0

    Each parameter counts its own steps in ``state[name]["t"]`` (incremented
    before the bias correction), next to ``"m"`` and ``"v"``.

    Shape
    -----
    Every parameter any shape; ``m`` and ``v`` the same shape.
    """

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                 grads=None):
        super().__init__(params, lr, weight_decay, grads)
        self.beta1 = _fraction(beta1, "beta1", "Adam")
        self.beta2 = _fraction(beta2, "beta2", "Adam")
        self.eps = real_number(eps, "eps", "Adam")
        if self.eps < 0:
            raise ValueError(f"Adam: eps must be >= 0, got {self.eps}")

    def _state_buffers(self, slot, w, state):
        return [self._buffer(state, "m", w, slot), self._buffer(state, "v", w, slot)]

    def _advance(self, state):
        state["t"] = state.get("t", 0) + 1

    def _launch(self, probe, ptrs, sizes, first_block, items, nt):
        steps = np.array([self.state[slot.name]["t"] for slot, _, _, _ in items], np.float64)
        _dispatch.kernels.optim.adam_step(probe, ptrs, sizes, first_block,
                                          1.0 - self.beta1 ** steps, 1.0 - self.beta2 ** steps,
                                          self.lr, self.beta1, self.beta2, self.eps,
                                          self.weight_decay, nt)


# ========================================================= LR schedules

class LRSchedule:
    """Base class of the learning-rate schedules.

    A schedule sets ``optimizer.lr`` (any object with an ``lr`` attribute) from
    the learning rate it had when the schedule was made (``base_lr``) and the
    epoch count: call :meth:`step` once per epoch.  :meth:`lr_at` gives the
    rate of any epoch without side effects.
    """

    def __init__(self, optimizer):
        if not hasattr(optimizer, "lr"):
            raise TypeError(f"{type(self).__name__}: optimizer must have an lr attribute, "
                            f"got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr)
        self.epoch = 0

    def lr_at(self, epoch):  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self):
        """Advance one epoch and set the optimiser's learning rate; returns it."""
        self.epoch += 1
        self.optimizer.lr = self.lr_at(self.epoch)
        return self.optimizer.lr


def _positive_int(v, name, fn):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
        raise ValueError(f"{fn}: {name} must be an integer >= 1, got {v!r}")
    return int(v)


class StepLR(LRSchedule):
    """``lr = base_lr * gamma ** (epoch // step_size)``"""

    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer)
        self.step_size = _positive_int(step_size, "step_size", "StepLR")
        self.gamma = real_number(gamma, "gamma", "StepLR")

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRSchedule):
    """``lr = base_lr * gamma ** epoch``"""

    def __init__(self, optimizer, gamma):
        super().__init__(optimizer)
        self.gamma = real_number(gamma, "gamma", "ExponentialLR")

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** epoch


class CosineAnnealingLR(LRSchedule):
    """``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``

    (PyTorch's closed form; epochs past ``T_max`` follow the cosine back up, as
    PyTorch's do.)
    """

    def __init__(self, optimizer, T_max, eta_min=0.0):
        super().__init__(optimizer)
        self.T_max = _positive_int(T_max, "T_max", "CosineAnnealingLR")
        self.eta_min = real_number(eta_min, "eta_min", "CosineAnnealingLR")

    def lr_at(self, epoch):
        return self.eta_min + (self.base_lr - self.eta_min) * (
            1 + math.cos(math.pi * epoch / self.T_max)) / 2
