"""NumPy twins of the activations of :mod:`fastnn.ops.activations`.

Written to be read: one forward/backward pair per op, the textbook formula,
no tricks beyond what numerical stability needs.  Same signatures as
``fastnn.ops``; caches are plain tuples.  Computations happen in the input's
dtype.
"""
import math

import numpy as np

__all__ = [
    "relu_forward",
    "relu_backward",
    "leaky_relu_forward",
    "leaky_relu_backward",
    "elu_forward",
    "elu_backward",
    "selu_forward",
    "selu_backward",
    "sigmoid_forward",
    "sigmoid_backward",
    "tanh_forward",
    "tanh_backward",
    "gelu_forward",
    "gelu_backward",
    "softplus_forward",
    "softplus_backward",
    "silu_forward",
    "silu_backward",
    "prelu_forward",
    "prelu_backward",
    "maxout_forward",
    "maxout_backward",
]

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

_erfc = np.frompyfunc(math.erfc, 1, 1)


def _np_erfc(x):
    """Elementwise erfc through math.erfc (NumPy has none): exact, slow."""
    return np.asarray(_erfc(x), dtype=x.dtype)


def relu_forward(x):
    """``max(x, 0)`` (NaN kept); returns ``(out, cache)``."""
    out = np.where(x <= 0, np.zeros_like(x), x)   # keeps NaN, like torch.relu
    return out, x


def relu_backward(dout, cache):
    """``dx``: ``dout`` where the input was positive, 0 elsewhere."""
    x = cache
    return np.where(x <= 0, np.zeros_like(dout), dout)


def leaky_relu_forward(x, negative_slope=0.01):
    """``x`` for ``x > 0`` else ``negative_slope * x``; returns ``(out, cache)``."""
    return np.where(x > 0, x, x * x.dtype.type(negative_slope)), (x, negative_slope)


def leaky_relu_backward(dout, cache):
    """``dx``: ``dout`` where the input was positive, ``negative_slope * dout`` elsewhere."""
    x, slope = cache
    return np.where(x > 0, dout, dout * x.dtype.type(slope))


def elu_forward(x, alpha=1.0, scale=1.0):
    """``scale * x`` for ``x > 0`` else ``scale * alpha * (exp(x) - 1)``; returns ``(out, cache)``."""
    a, s = x.dtype.type(alpha), x.dtype.type(scale)
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.where(x > 0, x * s, np.expm1(np.minimum(x, 0)) * a * s)
    out = np.where(np.isnan(x), x, out)
    return out, (x, alpha, scale)


def elu_backward(dout, cache):
    """``dx`` of :func:`elu_forward`."""
    x, alpha, scale = cache
    a, s = x.dtype.type(alpha), x.dtype.type(scale)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(x <= 0, dout * a * s * np.exp(np.minimum(x, 0)), dout * s)


def selu_forward(x):
    """ELU with the SELU constants (``SELU_ALPHA``, ``SELU_SCALE``); returns ``(out, cache)``."""
    out, (x, _, _) = elu_forward(x, SELU_ALPHA, SELU_SCALE)
    return out, (x, SELU_ALPHA, SELU_SCALE)


def selu_backward(dout, cache):
    """``dx`` of :func:`selu_forward`."""
    return elu_backward(dout, cache)


def sigmoid_forward(x):
    # stable: exp of a non-positive number only
    """``1 / (1 + exp(-x))``, stable for both signs; returns ``(out, cache)``."""
    e = np.exp(-np.abs(x))
    out = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return out, out


def sigmoid_backward(dout, cache):
    """``dx = dout * y * (1 - y)`` from the saved output ``y``."""
    y = cache
    return dout * (1 - y) * y


def tanh_forward(x):
    """``tanh(x)``; returns ``(out, cache)`` (the cache is the output)."""
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    """``dx = dout * (1 - y**2)`` from the saved output ``y``."""
    y = cache
    return dout * (1 - y * y)


def _normal_cdf(x):
    """Phi(x) = erfc(-x / sqrt 2) / 2, accurate in the left tail too."""
    return 0.5 * _np_erfc(-x / np.sqrt(x.dtype.type(2)))


def gelu_forward(x, approximate="none"):
    """``x * Phi(x)`` (``approximate="none"``) or the tanh approximation; returns ``(out, cache)``."""
    if approximate == "tanh":
        k = np.sqrt(x.dtype.type(2 / np.pi))
        with np.errstate(over="ignore", invalid="ignore"):
            out = 0.5 * x * (1 + np.tanh(k * (x + x.dtype.type(0.044715) * x ** 3)))
    else:
        with np.errstate(invalid="ignore"):
            out = x * _normal_cdf(x)
    return out, (x, approximate)


def gelu_backward(dout, cache):
    """``dx`` of :func:`gelu_forward`, exact or tanh form as in the cache."""
    x, approximate = cache
    with np.errstate(over="ignore", invalid="ignore"):
        if approximate == "tanh":
            k = np.sqrt(x.dtype.type(2 / np.pi))
            kappa = x.dtype.type(0.044715)
            t = np.tanh(k * (x + kappa * x ** 3))
            return dout * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * kappa * x * x))
        pdf = np.exp(-0.5 * x * x) / np.sqrt(x.dtype.type(2 * np.pi))
        return dout * (_normal_cdf(x) + x * pdf)


def softplus_forward(x, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta * x)) / beta``, ``x`` where ``beta * x > threshold``; returns ``(out, cache)``."""
    b = x.dtype.type(beta)
    z = x * b
    with np.errstate(over="ignore"):
        soft = np.log1p(np.exp(np.minimum(z, threshold))) / b
    return np.where(z > threshold, x, soft), (x, beta, threshold)


def softplus_backward(dout, cache):
    """``dx = dout * sigmoid(beta * x)`` (``dout`` above the threshold)."""
    x, beta, threshold = cache
    z = x * x.dtype.type(beta)
    s, _ = sigmoid_forward(z)
    return np.where(z > threshold, dout, dout * s)


def silu_forward(x):
    """``x * sigmoid(x)``; returns ``(out, cache)``."""
    s, _ = sigmoid_forward(x)
    with np.errstate(invalid="ignore"):
        return x * s, x


def silu_backward(dout, cache):
    """``dx`` of :func:`silu_forward`."""
    x = cache
    s, _ = sigmoid_forward(x)
    with np.errstate(invalid="ignore"):
        return dout * s * (1 + x * (1 - s))


def _prelu_alpha_view(x, alpha):
    """alpha broadcast against x: shared, or per channel on axis 1."""
    if alpha.shape[0] == 1:
        return alpha.reshape(())
    return alpha.reshape((1, -1) + (1,) * (x.ndim - 2))


def prelu_forward(x, alpha):
    """Leaky ReLU with slope ``alpha``: shape (1,) shared or (C,) per channel (axis 1); returns ``(out, cache)``."""
    a = _prelu_alpha_view(x, alpha)
    return np.where(x > 0, x, a * x), (x, alpha)


def prelu_backward(dout, cache):
    """``(dx, dalpha)`` of :func:`prelu_forward`."""
    x, alpha = cache
    a = _prelu_alpha_view(x, alpha)
    dx = np.where(x > 0, dout, a * dout)
    contrib = np.where(x > 0, 0, x * dout)
    if alpha.shape[0] == 1:
        dalpha = np.array([contrib.sum()], dtype=x.dtype)
    else:
        axes = (0,) + tuple(range(2, x.ndim))
        dalpha = contrib.sum(axis=axes).astype(x.dtype)
    return dx, dalpha


def maxout_forward(x, w, b):
    """Max over k affine pieces: x (N, D), w (k, D, M), b (k, M) -> (N, M); the first maximum wins; returns ``(out, cache)``."""
    N = x.shape[0]
    x2 = x.reshape(N, w.shape[1])
    z = np.stack([x2 @ w[j] + b[j] for j in range(w.shape[0])])   # (k, N, M)
    idx = np.argmax(z, axis=0)                                      # first maximum
    out = np.take_along_axis(z, idx[None], axis=0)[0]
    out = np.where(np.isnan(z).any(axis=0), np.nan, out).astype(x.dtype)
    return out, (x, w, idx)


def maxout_backward(dout, cache):
    """``(dx, dw, db)`` of :func:`maxout_forward`, each gradient routed to the winning piece."""
    x, w, idx = cache
    N = x.shape[0]
    x2 = x.reshape(N, w.shape[1])
    k = w.shape[0]
    dx = np.zeros_like(x2)
    dw = np.zeros_like(w)
    db = np.zeros((k, w.shape[2]), dtype=x.dtype)
    for j in range(k):
        dz = np.where(idx == j, dout, 0).astype(x.dtype)   # (N, M)
        dx += dz @ w[j].T
        dw[j] = x2.T @ dz
        db[j] = dz.sum(axis=0)
    return dx.reshape(x.shape), dw, db
