"""Optimisers: fused in-place optimiser objects, gradient clipping, the course's update rules.

* **Optimiser objects** :class:`SGD` (plain, momentum, Nesterov),
  :class:`RMSProp`, :class:`Adam`, :class:`AdamW`, :class:`Adagrad` update
  parameters **in place** with one fused compiled pass (w, dw and the state
  read and written once per element).  One kernel call per step steps every
  parameter of a dtype, parallel over blocks that span all of them (one
  OpenMP region per step, like PyTorch's foreach), in float32 or float64 (the
  parameter's dtype).  :class:`fastnn.Solver` trains through them.

* **Gradient clipping** :func:`clip_grad_norm` (by global 2-norm, returning
  the norm before clipping) and :func:`clip_grad_value`, in place, PyTorch's
  ``clip_grad_norm_`` / ``clip_grad_value_``.

* **Update rules** (the course's functions), ``next_w, config = rule(w, dw, config)``:
  :func:`sgd`, :func:`sgd_momentum`, :func:`nesterov`, :func:`rmsprop`,
  :func:`adam`, :func:`adamw`, :func:`adagrad`.  Plain NumPy; they live in
  :mod:`fastnn.reference.optim` (the oracle the fused optimisers are tested
  against) and are re-exported here.  A fused step equals the rule's
  ``next_w`` up to rounding.

* **Learning-rate schedules** live in :mod:`fastnn.schedules`; the classes
  are re-exported here.

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
RMSprop, Adam and Adagrad do; :class:`AdamW` decouples it (``w *= 1 - lr *
weight_decay`` before the Adam step).  It applies to every parameter the
optimiser holds.

Momentum is stored in the course's form, ``v = momentum * v - lr * g``
(``v`` is a step in parameter units), so it equals PyTorch's
``-lr * momentum_buffer`` while the learning rate is constant; when a schedule
changes the learning rate, the velocity keeps the steps taken at the old rate
(PyTorch rescales its buffer by the new rate instead).
"""
import math
from collections.abc import Mapping

import numpy as np

from fastnn import _dispatch
from fastnn.ops._common import c_aligned, num_threads, real_number
from fastnn.reference.optim import (RULES, adagrad, adam, adamw, nesterov, rmsprop, sgd,
                                    sgd_momentum)
from fastnn.schedules import (CosineAnnealingLR, ExponentialLR, LinearLR, LRSchedule,
                              MultiStepLR, OneCycleLR, ReduceLROnPlateau, SequentialLR, StepLR,
                              warmup)

__all__ = ["sgd", "sgd_momentum", "nesterov", "rmsprop", "adam", "adamw", "adagrad", "RULES",
           "Optimizer", "SGD", "RMSProp", "Adam", "AdamW", "Adagrad", "from_rule",
           "rule_config_keys", "normalize_config",
           "clip_grad_norm", "clip_grad_value",
           "LRSchedule", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
           "LinearLR", "SequentialLR", "OneCycleLR", "ReduceLROnPlateau", "warmup"]

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
        """The learning rate of the first parameter group; schedules set it."""
        return self._lr

    @lr.setter
    def lr(self, value):
        value = real_number(value, "lr", type(self).__name__)
        if value < 0:
            raise ValueError(f"{type(self).__name__}: lr must be >= 0, got {value}")
        self._lr = value

    def param_names(self):
        """Names of the parameters this optimiser updates, in order."""
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

    Equals :func:`sgd`, :func:`sgd_momentum` or :func:`nesterov` step by step;
    the velocity lives in ``state[name]["velocity"]``.

    Parameters
    ----------
    params : see the module docstring
    lr : float, default 1e-2
    momentum : float in [0, 1), default 0 (vanilla SGD)
    nesterov : bool, default False (needs momentum > 0)
    weight_decay : float, default 0
    grads : dict, optional (only with a dict of parameters)

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

    _kernel = "adam_step"       # AdamW: the decoupled-decay kernel, same arguments

    def _launch(self, probe, ptrs, sizes, first_block, items, nt):
        steps = np.array([self.state[slot.name]["t"] for slot, _, _, _ in items], np.float64)
        getattr(_dispatch.kernels.optim, self._kernel)(
            probe, ptrs, sizes, first_block, 1.0 - self.beta1 ** steps,
            1.0 - self.beta2 ** steps, self.lr, self.beta1, self.beta2, self.eps,
            self.weight_decay, nt)


class AdamW(Adam):
    """AdamW (PyTorch's): Adam with decoupled weight decay; equals :func:`adamw`.

    Each step first shrinks every parameter, ``w *= 1 - lr * weight_decay``,
    then takes the :class:`Adam` step with the raw gradient (the decay never
    enters the moments).

    Parameters
    ----------
    params : see the module docstring
    lr : float, default 1e-3
    beta1, beta2 : float in [0, 1), default 0.9, 0.999
    eps : float, default 1e-8
    weight_decay : float, default 1e-2 (PyTorch's default)

    Shape
    -----
    Every parameter any shape; ``m`` and ``v`` the same shape.
    """

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2,
                 grads=None):
        super().__init__(params, lr, beta1, beta2, eps, weight_decay, grads)

    _kernel = "adamw_step"


class Adagrad(Optimizer):
    """Adagrad (PyTorch's): equals :func:`adagrad`.

    ``sum += g**2; w -= clr * g / (sqrt(sum) + eps)``, ``g = dw + weight_decay * w``,
    ``clr = lr / (1 + (t - 1) * lr_decay)`` with ``t`` the parameter's step count.

    Parameters
    ----------
    params : see the module docstring
    lr : float, default 1e-2
    lr_decay : float, default 0
    weight_decay : float, default 0
    initial_accumulator_value : float, default 0
    eps : float, default 1e-10

    Shape
    -----
    Every parameter any shape; ``state[name]["sum"]`` the same shape.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, grads=None):
        super().__init__(params, lr, weight_decay, grads)
        self.lr_decay = real_number(lr_decay, "lr_decay", "Adagrad")
        self.initial_accumulator_value = real_number(initial_accumulator_value,
                                                     "initial_accumulator_value", "Adagrad")
        self.eps = real_number(eps, "eps", "Adagrad")
        for name in ("lr_decay", "initial_accumulator_value", "eps"):
            if getattr(self, name) < 0:
                raise ValueError(f"Adagrad: {name} must be >= 0, got {getattr(self, name)}")

    def _state_buffers(self, slot, w, state):
        if state.get("sum") is None and self.initial_accumulator_value:
            state["sum"] = np.full_like(w, self.initial_accumulator_value)
        return [self._buffer(state, "sum", w, slot)]

    def _advance(self, state):
        state["t"] = state.get("t", 0) + 1

    def _launch(self, probe, ptrs, sizes, first_block, items, nt):
        steps = np.array([self.state[slot.name]["t"] for slot, _, _, _ in items], np.float64)
        clr = self.lr / (1.0 + (steps - 1.0) * self.lr_decay)
        _dispatch.kernels.optim.adagrad_step(probe, ptrs, sizes, first_block, clr, self.eps,
                                             self.weight_decay, nt)


# ========================================================= from a course config

# the config keys of each rule: hyperparameters (-> optimiser argument) and state buffers
_RULE_KEYS = {
    "sgd": ({"learning_rate": "lr", "weight_decay": "weight_decay"}, ()),
    "sgd_momentum": ({"learning_rate": "lr", "momentum": "momentum",
                      "weight_decay": "weight_decay"}, ("velocity",)),
    "nesterov": ({"learning_rate": "lr", "momentum": "momentum",
                  "weight_decay": "weight_decay"}, ("velocity",)),
    "rmsprop": ({"learning_rate": "lr", "decay_rate": "decay_rate", "epsilon": "eps",
                 "weight_decay": "weight_decay"}, ("cache",)),
    "adam": ({"learning_rate": "lr", "beta1": "beta1", "beta2": "beta2", "epsilon": "eps",
              "weight_decay": "weight_decay"}, ("m", "v", "t")),
    "adamw": ({"learning_rate": "lr", "beta1": "beta1", "beta2": "beta2", "epsilon": "eps",
               "weight_decay": "weight_decay"}, ("m", "v", "t")),
    "adagrad": ({"learning_rate": "lr", "lr_decay": "lr_decay", "epsilon": "eps",
                 "weight_decay": "weight_decay"}, ("sum", "t")),
}
# the rules' defaults (fastnn.reference.optim), where they differ from the classes'
_RULE_DEFAULTS = {"sgd_momentum": {"momentum": 0.9}, "nesterov": {"momentum": 0.9},
                  "adam": {"lr": 1e-3}, "adamw": {"lr": 1e-3}}


def rule_config_keys(rule):
    """The keys a course config of ``rule`` accepts (hyperparameters, then state)."""
    hyper, state = _RULE_KEYS[rule]
    return list(hyper) + list(state)


def normalize_config(rule, config, fn="Solver"):
    """A copy of a course config with ``lr`` renamed ``learning_rate``; unknown keys are an error.

    Raises ValueError naming the accepted keys.
    """
    if rule not in _RULE_KEYS:
        raise ValueError(f"{fn}: unknown update rule {rule!r}; expected one of {sorted(_RULE_KEYS)}")
    config = dict(config or {})
    if "lr" in config:
        if "learning_rate" in config:
            raise ValueError(f"{fn}: optim_config gives both 'lr' and 'learning_rate'; "
                             "give one ('lr' is an alias of 'learning_rate')")
        config["learning_rate"] = config.pop("lr")
    accepted = rule_config_keys(rule)
    unknown = sorted(k for k in config if k not in accepted)
    if unknown:
        raise ValueError(f"{fn}: optim_config key(s) {unknown} are not used by {rule!r}; "
                         f"accepted: {accepted + ['lr']} ('lr' is an alias of 'learning_rate')")
    return config


def from_rule(rule, params, config=None, grads=None):
    """The fused optimiser that computes the course rule ``rule`` with ``config``.

    Parameters
    ----------
    rule : {"sgd", "sgd_momentum", "nesterov", "rmsprop", "adam", "adamw", "adagrad"}
    params : see the module docstring (a model's ``params`` dict, a layer, ...)
    config : dict, optional
        The rule's config (``learning_rate`` or its alias ``lr``, ``momentum``,
        ``weight_decay``, ...), with the rule's defaults; unknown keys raise
        ValueError.  State entries (``velocity``, ``m``, ``v``, ``t``, ...)
        are not taken here; see :meth:`Optimizer.load_state_dict`.
    grads : dict, optional
        As for the optimiser classes.

    Returns
    -------
    Optimizer
    """
    config = normalize_config(rule, config, "from_rule")
    hyper, _ = _RULE_KEYS[rule]
    kw = dict(_RULE_DEFAULTS.get(rule, {}))
    kw.update({hyper[k]: v for k, v in config.items() if k in hyper})
    if rule == "sgd":
        return SGD(params, grads=grads, **kw)
    if rule in ("sgd_momentum", "nesterov"):
        return SGD(params, nesterov=rule == "nesterov", grads=grads, **kw)
    cls = {"rmsprop": RMSProp, "adam": Adam, "adamw": AdamW, "adagrad": Adagrad}[rule]
    return cls(params, grads=grads, **kw)


# ========================================================= gradient clipping

def _gradient_arrays(grads, fn):
    """The gradient arrays of a list/dict of arrays, a layer/model (its grads) or an Optimizer."""
    if isinstance(grads, Optimizer):
        arrays = []
        for s in grads._slots:
            if s.gdict is None or s.key not in s.gdict:
                raise TypeError(f"{fn}: this optimiser holds no gradient arrays (a dict of "
                                "parameters without grads=); pass the gradients instead")
            arrays.append(s.gdict[s.key])
    elif _has_params(grads):
        arrays = list(grads.grads.values())
    elif isinstance(grads, Mapping):
        arrays = list(grads.values())
    elif isinstance(grads, np.ndarray):
        arrays = [grads]
    elif hasattr(grads, "__iter__"):
        arrays = list(grads)
    else:
        raise TypeError(f"{fn}: grads must be an array, a list or dict of arrays, a layer/model "
                        f"or an Optimizer, got {type(grads).__name__}")
    for i, g in enumerate(arrays):
        if not isinstance(g, np.ndarray) or g.dtype not in (np.float32, np.float64):
            raise TypeError(f"{fn}: gradient {i} must be a float32 or float64 array, "
                            f"got {getattr(g, 'dtype', type(g).__name__)}")
        if not (g.flags.c_contiguous and g.flags.writeable and g.flags.aligned):
            raise ValueError(f"{fn}: gradient {i} must be a C-contiguous, aligned, writeable "
                             "array (it is clipped in place)")
    return arrays


def _flat_tables(arrays):
    """dtype -> (probe, ptrs (T, 1), sizes, first_block) of the kernels' parameter table."""
    block = _dispatch.kernels.optim.BLOCK_SIZE
    out = {}
    for dtype in {a.dtype for a in arrays}:
        group = [a for a in arrays if a.dtype == dtype]
        ptrs = np.array([[a.__array_interface__["data"][0]] for a in group], np.intp)
        sizes = np.array([a.size for a in group], np.intp)
        first_block = np.zeros(len(group) + 1, np.intp)
        np.cumsum((sizes + block - 1) // block, out=first_block[1:])
        out[dtype] = (group[0].reshape(-1), ptrs, sizes, first_block)
    return out


def _clip_args(grads, bound, name, fn):
    """The clipping bound (a number > 0) and the flat tables of the gradient arrays."""
    bound = real_number(bound, name, fn)
    if not bound > 0:
        raise ValueError(f"{fn}: {name} must be > 0, got {bound}")
    return bound, _flat_tables(_gradient_arrays(grads, fn))


def clip_grad_norm(grads, max_norm):
    """Scale the gradients in place so that their global 2-norm is at most ``max_norm``.

    PyTorch's ``torch.nn.utils.clip_grad_norm_``: ``total`` is the 2-norm of
    all the gradients together; every gradient is multiplied by
    ``min(1, max_norm / (total + 1e-6))``.  The sum of squares is accumulated
    in float64 in a fixed order (the same for any thread count).

    Parameters
    ----------
    grads : array, list or dict of arrays, a layer/model (its ``grads``) or an Optimizer
        C-contiguous float32/float64 arrays, modified in place.
    max_norm : float > 0

    Returns
    -------
    float
        The global norm before clipping (inf or NaN when a gradient holds one).
    """
    max_norm, tables = _clip_args(grads, max_norm, "max_norm", "clip_grad_norm")
    k = _dispatch.kernels.optim
    nt = num_threads()
    total = 0.0
    for probe, ptrs, sizes, first_block in tables.values():
        total += k.sumsq(probe, ptrs, sizes, first_block, np.empty(max(int(first_block[-1]), 1)),
                         nt)
    norm = math.sqrt(total)
    coef = max_norm / (norm + 1e-6)
    if coef < 1.0 or not math.isfinite(norm):
        for probe, ptrs, sizes, first_block in tables.values():
            k.scale(probe, ptrs, sizes, first_block, min(coef, 1.0), nt)
    return norm


def clip_grad_value(grads, clip_value):
    """Clamp every gradient element to ``[-clip_value, clip_value]``, in place.

    PyTorch's ``torch.nn.utils.clip_grad_value_`` (NaN stays NaN).

    Parameters
    ----------
    grads : as :func:`clip_grad_norm`
    clip_value : float > 0
    """
    clip_value, tables = _clip_args(grads, clip_value, "clip_value", "clip_grad_value")
    k = _dispatch.kernels.optim
    nt = num_threads()
    for probe, ptrs, sizes, first_block in tables.values():
        k.clamp(probe, ptrs, sizes, first_block, -clip_value, clip_value, nt)
