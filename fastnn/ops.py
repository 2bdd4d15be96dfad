"""Functional API, the CS231n convention: ``out, cache = <op>_forward(...)``,
``grads = <op>_backward(dout, cache)``.

Every function here validates its arguments (clear errors naming the argument
and what was expected), allocates outputs and calls a compiled kernel of the
SIMD target chosen at import (``fastnn._dispatch``).  Kernels trust their
inputs; all checking happens here.

Common behaviour of the activations:

* any float32/float64 array-like of any shape (0-d and empty included); the
  output has the input's dtype and shape; non-contiguous input is copied once
  to C order;
* ``out=`` (forward): a C-contiguous, writeable array of the input's shape and
  dtype that receives the result.  ``out=x`` (exact in-place) is allowed for
  ``relu``, ``sigmoid`` and ``tanh``, whose backward needs only the output;
  other partial or full overlaps with ``x`` raise ``ValueError``;
* ``dout`` is converted to the forward dtype; its shape must match;
* semantics, constants and NaN/inf behaviour equal PyTorch's functions of the
  same name (``torch.nn.functional``).
"""
import math
import numbers

import numpy as np

from fastnn import _dispatch
from fastnn._kernels import _buffers, _runtime

__all__ = [
    "Cache",
    "relu_forward", "relu_backward",
    "leaky_relu_forward", "leaky_relu_backward",
    "elu_forward", "elu_backward",
    "selu_forward", "selu_backward",
    "sigmoid_forward", "sigmoid_backward",
    "tanh_forward", "tanh_backward",
    "gelu_forward", "gelu_backward",
    "softplus_forward", "softplus_backward",
    "silu_forward", "silu_backward",
    "prelu_forward", "prelu_backward",
    "maxout_forward", "maxout_backward",
]

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class Cache:
    """What a forward pass saves for its backward pass.

    ``cache.op`` names the forward function's op; the other attributes are
    the saved arrays and parameters (e.g. ``cache.x``, ``cache.out``).
    """

    def __init__(self, op, **saved):
        self.op = op
        self.__dict__.update(saved)

    def __repr__(self):
        fields = ", ".join(
            f"{k}=<{v.dtype} array {v.shape}>" if isinstance(v, np.ndarray) else f"{k}={v!r}"
            for k, v in self.__dict__.items() if k != "op")
        return f"Cache(op={self.op!r}, {fields})"


# ---------------------------------------------------------------- validation

def _float_array(x, name, fn):
    """x as a C-contiguous float32/float64 ndarray (copied only when needed)."""
    a = np.asarray(x)
    if a.dtype not in _FLOATS:
        raise TypeError(f"{fn}: {name} must be a float32 or float64 array, "
                        f"got dtype {a.dtype}")
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)
    return a


def _param_array(p, name, dtype, fn):
    """A parameter array (alpha, w, b) in the input's dtype.

    Array-likes (lists, scalars) are converted; an ndarray of another float
    dtype is refused rather than silently copied.
    """
    if isinstance(p, np.ndarray):
        if p.dtype not in _FLOATS:
            raise TypeError(f"{fn}: {name} must be a float32 or float64 array, got dtype {p.dtype}")
        if p.dtype != dtype:
            raise TypeError(f"{fn}: {name} has dtype {p.dtype} but x has dtype {dtype}; "
                            f"convert one of them (e.g. {name}.astype(np.{dtype}))")
        return np.ascontiguousarray(p)
    a = np.asarray(p)
    if a.dtype.kind not in "fiu" or a.dtype.kind == "b":
        raise TypeError(f"{fn}: {name} must be real numbers, got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=dtype)


def _real(v, name, fn, finite=True, nonzero=False):
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{fn}: {name} must be a real number, got {v!r}")
    v = float(v)
    if math.isnan(v) or (finite and math.isinf(v)):
        raise ValueError(f"{fn}: {name} must be a finite number, got {v}")
    if nonzero and v == 0.0:
        raise ValueError(f"{fn}: {name} must be non-zero, got {v}")
    return v


def _output(x, out, fn, inplace_ok):
    """Allocate the output, or check a user's `out` against the input x."""
    if out is None:
        return _buffers.empty_like(x)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{fn}: out must be a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != x.dtype:
        raise TypeError(f"{fn}: out must have dtype {x.dtype} (the input's), got {out.dtype}")
    if out.shape != x.shape:
        raise ValueError(f"{fn}: out must have shape {x.shape} (the input's), got {out.shape}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{fn}: out must be C-contiguous")
    if not out.flags.writeable:
        raise ValueError(f"{fn}: out is read-only")
    if np.may_share_memory(out, x):
        same = (out.__array_interface__["data"][0] == x.__array_interface__["data"][0]
                and out.strides == x.strides)
        if not same:
            raise ValueError(f"{fn}: out partially overlaps x; pass a separate array or out=x")
        if not inplace_ok:
            raise ValueError(f"{fn}: out=x (in-place) is not supported because the backward "
                             "pass needs the unmodified input; pass a separate out array")
    return out


def _cache_for(cache, op, fn):
    if not isinstance(cache, Cache):
        raise TypeError(f"{fn}: cache must be the cache returned by {op}_forward, "
                        f"got {type(cache).__name__}")
    if cache.op != op:
        raise ValueError(f"{fn}: cache comes from {cache.op}_forward, "
                         f"expected a cache from {op}_forward")
    return cache


def _dout(dout, shape, dtype, fn):
    """dout as a C-contiguous array of the forward output's shape, in the forward dtype."""
    g = np.asarray(dout)
    if g.dtype.kind != "f":
        raise TypeError(f"{fn}: dout must be a float array, got dtype {g.dtype}")
    if g.shape != shape:
        raise ValueError(f"{fn}: dout has shape {g.shape}, expected {shape} "
                         "(the forward output's)")
    return np.ascontiguousarray(g, dtype=dtype)


def _threads():
    return _runtime.get_max_threads()


# ------------------------------------------------- elementwise activations

def _unary_forward(op, kernel_op, x, out, a, b, inplace_ok, save_output):
    fn = f"{op}_forward"
    x = _float_array(x, "x", fn)
    out = _output(x, out, fn, inplace_ok)
    ops = _dispatch.kernels.activations
    ops.unary_forward(ops.OPS[kernel_op], x.reshape(-1), out.reshape(-1), a, b, _threads())
    saved = out if save_output else x
    return out, Cache(op, kernel_op=kernel_op, saved=saved, a=a, b=b,
                      saved_is_output=save_output)


def _unary_backward(op, dout, cache):
    fn = f"{op}_backward"
    c = _cache_for(cache, op, fn)
    g = _dout(dout, c.saved.shape, c.saved.dtype, fn)
    dx = _buffers.empty_like(c.saved)
    ops = _dispatch.kernels.activations
    ops.unary_backward(ops.OPS[c.kernel_op], g.reshape(-1), c.saved.reshape(-1), dx.reshape(-1),
                       c.a, c.b, _threads())
    return dx


def relu_forward(x, out=None):
    """Rectified linear unit, out = max(x, 0) (NaN stays NaN).

    Parameters
    ----------
    x : array_like of float32 or float64, any shape
    out : ndarray, optional
        Receives the result; ``out=x`` works in place.

    Returns
    -------
    out : ndarray, same shape and dtype as x
    cache : Cache
        For :func:`relu_backward` (holds the output).
    """
    return _unary_forward("relu", "relu", x, out, 0.0, 0.0, True, True)


def relu_backward(dout, cache):
    """dx = dout where x > 0, else 0 (dout passes where x is NaN, like PyTorch).

    Shape: dout and dx have the shape of the forward output.
    """
    return _unary_backward("relu", dout, cache)


def leaky_relu_forward(x, negative_slope=0.01, out=None):
    """Leaky ReLU, out = x if x > 0 else negative_slope * x (``F.leaky_relu``).

    Returns ``(out, cache)``; shape and dtype of x.
    """
    s = _real(negative_slope, "negative_slope", "leaky_relu_forward")
    return _unary_forward("leaky_relu", "leaky_relu", x, out, s, 0.0, False, False)


def leaky_relu_backward(dout, cache):
    """dx = dout if x > 0 else negative_slope * dout."""
    return _unary_backward("leaky_relu", dout, cache)


def elu_forward(x, alpha=1.0, out=None):
    """ELU, out = x if x > 0 else alpha * (exp(x) - 1) (``F.elu``).

    Returns ``(out, cache)``; shape and dtype of x.
    """
    a = _real(alpha, "alpha", "elu_forward")
    return _unary_forward("elu", "elu", x, out, a, 1.0, False, False)


def elu_backward(dout, cache):
    """dx = dout if x > 0 else dout * alpha * exp(x)."""
    return _unary_backward("elu", dout, cache)


def selu_forward(x, out=None):
    """SELU, scale * (x if x > 0 else alpha * (exp(x) - 1)) with the self-normalising
    constants alpha = 1.6732632423543772, scale = 1.0507009873554805 (``F.selu``).

    Returns ``(out, cache)``; shape and dtype of x.
    """
    return _unary_forward("selu", "elu", x, out, SELU_ALPHA, SELU_SCALE, False, False)


def selu_backward(dout, cache):
    """dx = scale * dout if x > 0 else dout * scale * alpha * exp(x)."""
    return _unary_backward("selu", dout, cache)


def sigmoid_forward(x, out=None):
    """Logistic sigmoid 1 / (1 + exp(-x)), computed stably in both tails.

    ``out=x`` works in place.  Returns ``(out, cache)``; shape and dtype of x.
    """
    return _unary_forward("sigmoid", "sigmoid", x, out, 0.0, 0.0, True, True)


def sigmoid_backward(dout, cache):
    """dx = dout * (1 - y) * y, y the forward output."""
    return _unary_backward("sigmoid", dout, cache)


def tanh_forward(x, out=None):
    """Hyperbolic tangent.  ``out=x`` works in place.  Returns ``(out, cache)``."""
    return _unary_forward("tanh", "tanh", x, out, 0.0, 0.0, True, True)


def tanh_backward(dout, cache):
    """dx = dout * (1 - y^2), y the forward output."""
    return _unary_backward("tanh", dout, cache)


def gelu_forward(x, approximate="none", out=None):
    """GELU (``F.gelu``).

    ``approximate="none"``: x * Phi(x), Phi the standard normal CDF (exact, erf).
    ``approximate="tanh"``: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).

    gelu(+inf) = +inf in both dtypes (PyTorch 2.13 gives +inf in float64 but
    NaN in float32); gelu(-inf) = NaN, as in PyTorch.

    Returns ``(out, cache)``; shape and dtype of x.
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu_forward: approximate must be 'none' or 'tanh', got {approximate!r}")
    kop = "gelu" if approximate == "none" else "gelu_tanh"
    return _unary_forward("gelu", kop, x, out, 0.0, 0.0, False, False)


def gelu_backward(dout, cache):
    """dx = dout * d/dx gelu(x) for the form used in the forward pass."""
    return _unary_backward("gelu", dout, cache)


def softplus_forward(x, beta=1.0, threshold=20.0, out=None):
    """Softplus, log(1 + exp(beta x)) / beta, and x where beta x > threshold
    (``F.softplus``).  Returns ``(out, cache)``; shape and dtype of x.
    """
    fn = "softplus_forward"
    b = _real(beta, "beta", fn, nonzero=True)
    t = _real(threshold, "threshold", fn, finite=False)
    return _unary_forward("softplus", "softplus", x, out, b, t, False, False)


def softplus_backward(dout, cache):
    """dx = dout * sigmoid(beta x), and dout where beta x > threshold."""
    return _unary_backward("softplus", dout, cache)


def silu_forward(x, out=None):
    """SiLU / Swish, x * sigmoid(x) (``F.silu``).  Returns ``(out, cache)``."""
    return _unary_forward("silu", "silu", x, out, 0.0, 0.0, False, False)


def silu_backward(dout, cache):
    """dx = dout * s * (1 + x (1 - s)), s = sigmoid(x)."""
    return _unary_backward("silu", dout, cache)


# ---------------------------------------------------------------- PReLU

def prelu_forward(x, alpha, out=None):
    """Parametric ReLU, out = x if x > 0 else alpha * x (``F.prelu``).

    Parameters
    ----------
    x : array_like of float32 or float64
    alpha : array_like, shape (1,) or (C,)
        Shape (1,): one slope shared by all elements.  Shape (C,): one slope
        per channel, the channel axis being axis 1 of x (so x.ndim >= 2 and
        x.shape[1] == C), as in PyTorch.
    out : ndarray, optional

    Returns
    -------
    out : ndarray, shape and dtype of x
    cache : Cache for :func:`prelu_backward`

    Shape
    -----
    x (N, C, *), alpha (C,) or (1,).
    """
    fn = "prelu_forward"
    x = _float_array(x, "x", fn)
    alpha = _param_array(alpha, "alpha", x.dtype, fn)
    C, S = _prelu_layout(x, alpha, fn)
    out = _output(x, out, fn, False)
    _dispatch.kernels.activations.prelu_forward(
        x.reshape(-1), alpha, out.reshape(-1), C, S, _threads())
    return out, Cache("prelu", x=x, alpha=alpha, C=C, S=S)


def _prelu_layout(x, alpha, fn):
    """(C, S): channels per row and elements per channel segment."""
    if alpha.ndim != 1 or alpha.shape[0] < 1:
        raise ValueError(f"{fn}: alpha must have shape (1,) or (C,), got {alpha.shape}")
    if alpha.shape[0] == 1:
        return 1, 8192                       # shared slope: rows are blocks of elements
    if x.ndim < 2 or x.shape[1] != alpha.shape[0]:
        raise ValueError(f"{fn}: alpha has shape {alpha.shape}, so x must have {alpha.shape[0]} "
                         f"channels on axis 1; x has shape {x.shape}")
    return alpha.shape[0], int(np.prod(x.shape[2:], dtype=np.int64))


def prelu_backward(dout, cache):
    """Gradients of PReLU.

    Returns
    -------
    dx : ndarray, shape of x
    dalpha : ndarray, shape of alpha; sum over elements with x <= 0 of x * dout
        (per channel, or over everything for a shared alpha), accumulated in float64.
    """
    fn = "prelu_backward"
    c = _cache_for(cache, "prelu", fn)
    g = _dout(dout, c.x.shape, c.x.dtype, fn)
    dx = _buffers.empty_like(c.x)
    total = c.x.size
    rows = -(-total // max(c.C * c.S, 1)) if total else 0
    partial = np.empty((rows, c.C), dtype=np.float64)
    _dispatch.kernels.activations.prelu_backward(
        g.reshape(-1), c.x.reshape(-1), c.alpha, dx.reshape(-1), partial, c.C, c.S, _threads())
    dalpha = partial.sum(axis=0).astype(c.x.dtype)
    return dx, dalpha.reshape(c.alpha.shape)


# ---------------------------------------------------------------- Maxout

def maxout_forward(x, w, b):
    """Maxout with k linear pieces: out = max over j of x @ w[j] + b[j].

    The k matrix products are one BLAS GEMM against the pieces side by side;
    a compiled kernel adds the biases and picks the winner.

    Parameters
    ----------
    x : array_like, shape (N, D) (or (N, d1, ..., dk), flattened per sample)
    w : array_like, shape (k, D, M)
    b : array_like, shape (k, M)

    Returns
    -------
    out : ndarray, shape (N, M)
    cache : Cache for :func:`maxout_backward`

    Ties go to the first maximal piece; a NaN piece wins (the output is NaN),
    like ``torch.max``.
    """
    fn = "maxout_forward"
    x = _float_array(x, "x", fn)
    if x.ndim < 2:
        raise ValueError(f"{fn}: x must have shape (N, D), got {x.shape}")
    w = _param_array(w, "w", x.dtype, fn)
    b = _param_array(b, "b", x.dtype, fn)
    N = x.shape[0]
    D = int(np.prod(x.shape[1:], dtype=np.int64))
    if w.ndim != 3 or w.shape[1] != D or w.shape[0] < 1:
        raise ValueError(f"{fn}: w must have shape (k, D, M) with k >= 1 and D = {D} "
                         f"(x has shape {x.shape}), got {w.shape}")
    k, _, M = w.shape
    if b.shape != (k, M):
        raise ValueError(f"{fn}: b must have shape (k, M) = {(k, M)}, got {b.shape}")
    x2 = x.reshape(N, D)
    w_cat = np.ascontiguousarray(w.transpose(1, 0, 2).reshape(D, k * M))  # (D, k*M)
    z = x2 @ w_cat                                                       # (N, k*M), BLAS
    out = np.empty((N, M), dtype=x.dtype)
    idx = np.empty((N, M), dtype=np.int32)
    _dispatch.kernels.activations.maxout_select(z, b, out, idx, _threads())
    return out, Cache("maxout", x=x, w_cat=w_cat, idx=idx, k=k)


def maxout_backward(dout, cache):
    """Gradients of Maxout, each output's gradient routed to its winning piece.

    Returns
    -------
    dx : ndarray, shape of x
    dw : ndarray, shape (k, D, M)
    db : ndarray, shape (k, M)
    """
    fn = "maxout_backward"
    c = _cache_for(cache, "maxout", fn)
    g = _dout(dout, c.idx.shape, c.x.dtype, fn)
    N, M = c.idx.shape
    k = c.k
    D = c.w_cat.shape[0]
    dz = _buffers.empty((N, k * M), c.x.dtype)
    _dispatch.kernels.activations.maxout_scatter(g, c.idx, dz, _threads())
    dx = (dz @ c.w_cat.T).reshape(c.x.shape)
    dw = np.ascontiguousarray((c.x.reshape(N, D).T @ dz).reshape(D, k, M).transpose(1, 0, 2))
    db = dz.reshape(N, k, M).sum(axis=0)
    return dx, dw, db
