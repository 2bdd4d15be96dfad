"""Weight initialisers: fill a parameter array in place from an explicit ``np.random.Generator``.

Every initialiser takes the array first, fills it in place and returns it, so
``init.kaiming_normal(layer.params["w"], rng)`` and
``w = init.xavier_uniform(np.empty((D, M)), rng)`` both read well.  Nothing
reads NumPy's global random state.

Fan-in and fan-out follow fastnn's weight layouts (:func:`fans`):

=====================  ================  ==========  =================
layer                  weight shape      fan_in      fan_out
=====================  ================  ==========  =================
affine (y = x W + b)   (D, M)            D           M
conv                   (F, C, HH, WW)    C*HH*WW     F*HH*WW
=====================  ================  ==========  =================

Note the affine layout is the *transpose* of PyTorch's ``Linear.weight`` (M, D):
the fans are the same numbers, read from the other axes.

Gains follow PyTorch's ``calculate_gain`` (:func:`calculate_gain`), and the
variances are PyTorch's: Xavier/Glorot ``gain**2 * 2 / (fan_in + fan_out)``
(or ``gain**2 / fan_in`` with ``mode="fan_in"``, the course notes'
``randn(n) / sqrt(n)`` calibration), Kaiming/He ``gain**2 / fan``, LeCun
``1 / fan_in``.  Uniform variants draw from ``U(-a, a)`` with
``a = sqrt(3) * std``.
"""
import math
import numbers

import numpy as np

__all__ = ["calculate_gain", "fans", "zeros", "constant", "normal", "uniform",
           "xavier_normal", "xavier_uniform", "kaiming_normal", "kaiming_uniform",
           "lecun_normal", "orthogonal", "relu_bias", "zero_residual_branch"]

_LINEAR = ("linear", "identity", "conv1d", "conv2d", "conv3d", "conv", "affine",
           "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity (PyTorch's ``torch.nn.init.calculate_gain``).

    ============================  =====================================
    nonlinearity                  gain
    ============================  =====================================
    linear, conv*, sigmoid        1
    tanh                          5/3
    relu                          sqrt(2)
    leaky_relu                    sqrt(2 / (1 + slope**2)), slope = param or 0.01
    selu                          3/4
    ============================  =====================================
    """
    if not isinstance(nonlinearity, str):
        raise TypeError(f"calculate_gain: nonlinearity must be a string, got {nonlinearity!r}")
    name = nonlinearity.lower()
    if name in _LINEAR:
        return 1.0
    if name == "tanh":
        return 5.0 / 3.0
    if name == "relu":
        return math.sqrt(2.0)
    if name == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, bool) or not isinstance(param, numbers.Real):
            raise TypeError(f"calculate_gain: leaky_relu slope must be a number, got {param!r}")
        else:
            slope = float(param)
        return math.sqrt(2.0 / (1.0 + slope ** 2))
    if name == "selu":
        return 0.75
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}; expected one of "
                     f"{sorted(set(_LINEAR) | {'tanh', 'relu', 'leaky_relu', 'selu'})}")


def fans(shape):
    """(fan_in, fan_out) of a weight of fastnn's layout.

    ``(D, M)`` affine weight: ``(D, M)``.  ``(F, C, k1, k2, ...)`` conv weight:
    ``(C * k1 * k2 ..., F * k1 * k2 ...)``.  A 1-d shape (a bias) has no fans.
    """
    if isinstance(shape, np.ndarray):
        shape = shape.shape
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2:
        raise ValueError(f"fans: a weight needs at least 2 dimensions, got shape {shape} "
                         "(biases have no fan-in/fan-out: use zeros, constant or relu_bias)")
    if len(shape) == 2:
        return shape[0], shape[1]
    field = math.prod(shape[2:])
    return shape[1] * field, shape[0] * field


# ----------------------------------------------------------------- helpers

def _target(w, fn):
    if not isinstance(w, np.ndarray):
        raise TypeError(f"{fn}: w must be a numpy array (filled in place), got {type(w).__name__}")
    if w.dtype.kind != "f":
        raise TypeError(f"{fn}: w must be a float array, got dtype {w.dtype}")
    if not w.flags.writeable:
        raise ValueError(f"{fn}: w is read-only")
    return w


def _rng(rng, fn):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{fn}: rng must be a numpy.random.Generator "
                        f"(e.g. np.random.default_rng(0)), got {type(rng).__name__}")
    return rng


def _number(v, name, fn, positive=False):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
        raise TypeError(f"{fn}: {name} must be a finite number, got {v!r}")
    if positive and v <= 0:
        raise ValueError(f"{fn}: {name} must be > 0, got {v}")
    return float(v)


def _fan(w, mode, fn):
    fan_in, fan_out = fans(w.shape)
    if mode == "fan_in":
        f = fan_in
    elif mode == "fan_out":
        f = fan_out
    elif mode == "fan_avg":
        f = (fan_in + fan_out) / 2.0
    else:
        raise ValueError(f"{fn}: mode must be 'fan_in', 'fan_out' or 'fan_avg', got {mode!r}")
    if f == 0:
        raise ValueError(f"{fn}: weight of shape {w.shape} has {mode} 0")
    return f


def _fill_normal(w, rng, std):
    if w.size:
        w[...] = rng.standard_normal(w.shape) * std
    return w


def _fill_uniform(w, rng, bound):
    if w.size:
        w[...] = rng.uniform(-bound, bound, w.shape)
    return w


# ------------------------------------------------------------ initialisers

def zeros(w):
    """Fill w with 0 (biases; for weights it shows the symmetry problem)."""
    _target(w, "zeros").fill(0)
    return w


def constant(w, value):
    """Fill w with ``value``."""
    _target(w, "constant").fill(_number(value, "value", "constant"))
    return w


def normal(w, rng, std=0.01, mean=0.0):
    """``N(mean, std**2)``: the course's "small random numbers" ``0.01 * randn``."""
    _target(w, "normal")
    std = _number(std, "std", "normal")
    if std < 0:
        raise ValueError(f"normal: std must be >= 0, got {std}")
    _fill_normal(w, _rng(rng, "normal"), std)
    if mean:
        w += _number(mean, "mean", "normal")
    return w


def uniform(w, rng, low=-0.01, high=0.01):
    """``U(low, high)``."""
    _target(w, "uniform")
    low, high = _number(low, "low", "uniform"), _number(high, "high", "uniform")
    if not low <= high:
        raise ValueError(f"uniform: low must be <= high, got {low} > {high}")
    if w.size:
        w[...] = _rng(rng, "uniform").uniform(low, high, w.shape)
    return w


def _xavier_std(w, gain, mode, fn):
    gain = _number(gain, "gain", fn, positive=True)
    if mode not in ("fan_avg", "fan_in"):
        raise ValueError(f"{fn}: mode must be 'fan_avg' (Glorot) or 'fan_in', got {mode!r}")
    return gain / math.sqrt(_fan(w, mode, fn))


def xavier_normal(w, rng, gain=1.0, mode="fan_avg"):
    """Glorot normal: ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    ``mode="fan_in"``: ``std = gain / sqrt(fan_in)`` (the course notes' Xavier,
    ``randn(fan_in, fan_out) / sqrt(fan_in)``).
    """
    _target(w, "xavier_normal")
    return _fill_normal(w, _rng(rng, "xavier_normal"), _xavier_std(w, gain, mode, "xavier_normal"))


def xavier_uniform(w, rng, gain=1.0, mode="fan_avg"):
    """Glorot uniform: ``U(-a, a)``, ``a = gain * sqrt(6 / (fan_in + fan_out))``."""
    _target(w, "xavier_uniform")
    std = _xavier_std(w, gain, mode, "xavier_uniform")
    return _fill_uniform(w, _rng(rng, "xavier_uniform"), math.sqrt(3.0) * std)


def _kaiming_std(w, a, mode, nonlinearity, fn):
    if nonlinearity == "leaky_relu":
        gain = calculate_gain("leaky_relu", a)
    else:
        gain = calculate_gain(nonlinearity)
    return gain / math.sqrt(_fan(w, mode, fn))


def kaiming_normal(w, rng, a=0.0, mode="fan_in", nonlinearity="relu"):
    """He/MSRA normal: ``std = gain / sqrt(fan)``; relu gives ``sqrt(2 / fan_in)``.

    ``a`` is the negative slope when ``nonlinearity="leaky_relu"`` (PyTorch's
    convention); ``mode`` is ``"fan_in"`` (preserves the forward variance) or
    ``"fan_out"`` (the backward).
    """
    _target(w, "kaiming_normal")
    std = _kaiming_std(w, a, mode, nonlinearity, "kaiming_normal")
    return _fill_normal(w, _rng(rng, "kaiming_normal"), std)


def kaiming_uniform(w, rng, a=0.0, mode="fan_in", nonlinearity="relu"):
    """He uniform: ``U(-b, b)``, ``b = gain * sqrt(3 / fan)``."""
    _target(w, "kaiming_uniform")
    std = _kaiming_std(w, a, mode, nonlinearity, "kaiming_uniform")
    return _fill_uniform(w, _rng(rng, "kaiming_uniform"), math.sqrt(3.0) * std)


def lecun_normal(w, rng):
    """LeCun normal: ``std = 1 / sqrt(fan_in)`` (the init SELU networks need)."""
    _target(w, "lecun_normal")
    return _fill_normal(w, _rng(rng, "lecun_normal"), 1.0 / math.sqrt(_fan(w, "fan_in",
                                                                         "lecun_normal")))


def orthogonal(w, rng, gain=1.0):
    """A (semi-)orthogonal matrix times ``gain`` (Saxe et al.).

    w is viewed as a matrix ``(shape[0], prod(shape[1:]))`` -- ``(D, M)`` for an
    affine weight, ``(F, C*HH*WW)`` for a conv weight -- whose columns are
    orthonormal when it is tall (``W.T @ W = I``) and rows when it is wide
    (``W @ W.T = I``).  QR of a Gaussian matrix with the signs of R's diagonal
    folded in, so the result is uniformly (Haar) distributed.
    """
    _target(w, "orthogonal")
    rng = _rng(rng, "orthogonal")
    gain = _number(gain, "gain", "orthogonal", positive=True)
    if w.ndim < 2:
        raise ValueError(f"orthogonal: w needs at least 2 dimensions, got shape {w.shape}")
    rows, cols = w.shape[0], math.prod(w.shape[1:])
    if w.size == 0:
        return w
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))            # a zero diagonal has probability 0
    if rows < cols:
        q = q.T
    w[...] = (gain * q).reshape(w.shape)
    return w


def relu_bias(b, value=0.01):
    """Fill a bias with a small positive constant (default 0.01) so ReLUs start active."""
    _target(b, "relu_bias")
    value = _number(value, "value", "relu_bias")
    if value < 0:
        raise ValueError(f"relu_bias: value must be >= 0, got {value}")
    b.fill(value)
    return b


def zero_residual_branch(branch):
    """Zero-init the last layer of a residual branch, so the block starts as the identity.

    ``branch`` is the branch's layers in order (objects with a ``params``
    dict, or ``params`` dicts themselves).  The last one with parameters is
    zeroed: its ``"gamma"`` only if it is a normalisation layer (Goyal et al.;
    ``beta`` stays as it is), otherwise every parameter it has (weight and
    bias).  Returns the dict that was zeroed.
    """
    items = list(branch) if not isinstance(branch, dict) else [branch]
    for layer in reversed(items):
        params = layer if isinstance(layer, dict) else getattr(layer, "params", None)
        if params is None:
            continue
        if not isinstance(params, dict):
            raise TypeError(f"zero_residual_branch: params of {type(layer).__name__} must be a "
                            f"dict, got {type(params).__name__}")
        if not params:
            continue
        keys = ["gamma"] if "gamma" in params else list(params)
        for k in keys:
            zeros(params[k])
        return params
    raise ValueError("zero_residual_branch: no layer of the branch has parameters")
