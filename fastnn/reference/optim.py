"""NumPy twins of the optimisers of :mod:`fastnn.optim`: the course's update rules.

``next_w, config = rule(w, dw, config)``: ``w`` is not modified; the rule
returns a new array and keeps its state (velocity, moments, step count) in
``config``, which starts as ``None`` or a dict of hyperparameters; missing keys
get the defaults.  An optional ``weight_decay`` key adds L2 decay to the
gradient (``g = dw + weight_decay * w``; default 0), except in :func:`adamw`,
where the decay is decoupled (PyTorch's AdamW).

These are the oracle of the fused optimisers (:class:`fastnn.optim.SGD`,
:class:`~fastnn.optim.RMSProp`, :class:`~fastnn.optim.Adam`,
:class:`~fastnn.optim.AdamW`, :class:`~fastnn.optim.Adagrad`), which compute
the same maths in place, and of the gradient clipping functions
(:func:`clip_grad_norm`, :func:`clip_grad_value`, which here return new arrays).
"""
import numpy as np

__all__ = ["sgd", "sgd_momentum", "nesterov", "rmsprop", "adam", "adamw", "adagrad", "RULES",
           "clip_grad_norm", "clip_grad_value"]


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
    mt, vt = _adam_moments(w, g, config)
    return w - config["learning_rate"] * mt / (np.sqrt(vt) + config["epsilon"]), config


def _adam_moments(w, g, config):
    """Adam's moments advanced by the gradient g, bias-corrected: ``(m / (1 - b1**t),
    v / (1 - b2**t))``; config's ``m``, ``v`` (zeros like w at first) and ``t`` are updated."""
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
    config.update(m=m, v=v, t=t)
    return m / (1 - b1 ** t), v / (1 - b2 ** t)


def adamw(w, dw, config=None):
    """AdamW (PyTorch's): Adam with decoupled weight decay.

    ``w = w * (1 - learning_rate * weight_decay)``, then the :func:`adam` step
    with ``g = dw`` (the decay never enters the moments).
    config: as :func:`adam`, ``weight_decay`` default 1e-2 (PyTorch's).
    """
    config = _config(config, "adamw", learning_rate=1e-3, beta1=0.9, beta2=0.999,
                     epsilon=1e-8, weight_decay=1e-2, t=0)
    if not isinstance(w, np.ndarray) or not isinstance(dw, np.ndarray):
        raise TypeError(f"adamw: w and dw must be numpy arrays, got "
                        f"{type(w).__name__} and {type(dw).__name__}")
    if w.shape != dw.shape:
        raise ValueError(f"adamw: dw has shape {dw.shape}, expected {w.shape} (w's)")
    lr = config["learning_rate"]
    w = w * (1 - lr * config["weight_decay"])
    mt, vt = _adam_moments(w, dw, config)
    return w - lr * mt / (np.sqrt(vt) + config["epsilon"]), config


def adagrad(w, dw, config=None):
    """Adagrad (PyTorch's): ``sum += g**2; w - clr * g / (sqrt(sum) + eps)``.

    ``clr = learning_rate / (1 + (t - 1) * lr_decay)`` with ``t`` the step
    count (incremented first).  config: ``learning_rate`` (1e-2),
    ``lr_decay`` (0), ``epsilon`` (1e-10), ``sum`` (zeros like w), ``t`` (0),
    optional ``weight_decay``.
    """
    config = _config(config, "adagrad", learning_rate=1e-2, lr_decay=0.0, epsilon=1e-10, t=0)
    g = _grad(w, dw, config, "adagrad")
    acc = config.get("sum")
    if acc is None:
        acc = np.zeros_like(w)
    t = config["t"] + 1
    acc = acc + g * g
    clr = config["learning_rate"] / (1 + (t - 1) * config["lr_decay"])
    config.update(sum=acc, t=t)
    return w - clr * g / (np.sqrt(acc) + config["epsilon"]), config


RULES = {"sgd": sgd, "sgd_momentum": sgd_momentum, "nesterov": nesterov,
         "rmsprop": rmsprop, "adam": adam, "adamw": adamw, "adagrad": adagrad}


def clip_grad_norm(grads, max_norm):
    """PyTorch's ``clip_grad_norm_`` (2-norm) on a list of arrays, returning new arrays.

    ``total = sqrt(sum of every g**2)``; each ``g * min(1, max_norm / (total + 1e-6))``.
    Returns ``(clipped, total)``, ``total`` the norm before clipping.
    """
    total = float(np.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads)))
    coef = min(1.0, max_norm / (total + 1e-6))
    return [g * g.dtype.type(coef) for g in grads], total


def clip_grad_value(grads, clip_value):
    """PyTorch's ``clip_grad_value_``: each element clamped to [-clip_value, clip_value]."""
    return [np.clip(g, -clip_value, clip_value) for g in grads]



