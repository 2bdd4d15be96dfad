"""Activation functions: elementwise forward/backward pairs, PReLU and Maxout.

Common behaviour of the elementwise activations:

* any float32/float64 array-like of any shape (0-d and empty included); the
  output has the input's dtype and shape; non-contiguous input is copied once
  to C order;
* ``out=`` (forward): a plain ``numpy.ndarray`` (not a subclass such as
  ``np.matrix``), C-contiguous, aligned and writeable, of the input's shape and
  dtype, that receives the result.  ``out=x`` (exact in-place) is allowed for
  ``relu``, ``sigmoid`` and ``tanh``, whose backward needs only the output;
  other partial or full overlaps with ``x`` raise ``ValueError``;
* ``dout`` is converted to the forward dtype; its shape must match;
* semantics, constants and NaN/inf behaviour equal PyTorch's functions of the
  same name (``torch.nn.functional``).
"""
import numpy as np

from fastnn import _dispatch
from fastnn._kernels import _buffers
from fastnn.ops.affine import matmul
from fastnn.ops._common import (Cache, cache_array, cache_for, cache_indices, cache_int,
                                cache_real, check_dout, float_array, output_for,
                                param_array, real_number, num_threads)

__all__ = [
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



def _unary_forward(op, kernel_op, x, out, a, b, inplace_ok, save_output):
    fn = f"{op}_forward"
    x = float_array(x, "x", fn)
    out = output_for(x, out, fn, inplace_ok)
    ops = _dispatch.kernels.activations
    ops.unary_forward(ops.OPS[kernel_op], x.reshape(-1), out.reshape(-1), a, b, num_threads())
    saved = out if save_output else x
    return out, Cache(op, kernel_op=kernel_op, saved=saved, a=a, b=b,
                      saved_is_output=save_output)


def _unary_backward(op, dout, cache):
    fn = f"{op}_backward"
    c = cache_for(cache, op, fn)
    saved = cache_array(c, "saved", fn, floating=True)
    ops = _dispatch.kernels.activations
    if c.__dict__.get("kernel_op") not in ops.OPS:
        raise ValueError(f"{fn}: cache.kernel_op is {c.__dict__.get('kernel_op')!r}, not a "
                         f"kernel of {op}_forward (pass the cache it returned, unmodified)")
    a, b = cache_real(c, "a", fn), cache_real(c, "b", fn)
    g = check_dout(dout, saved.shape, saved.dtype, fn)
    dx = _buffers.empty_like(saved)
    ops.unary_backward(ops.OPS[c.kernel_op], g.reshape(-1), saved.reshape(-1), dx.reshape(-1),
                       a, b, num_threads())
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
    s = real_number(negative_slope, "negative_slope", "leaky_relu_forward")
    return _unary_forward("leaky_relu", "leaky_relu", x, out, s, 0.0, False, False)


def leaky_relu_backward(dout, cache):
    """dx = dout if x > 0 else negative_slope * dout."""
    return _unary_backward("leaky_relu", dout, cache)


def elu_forward(x, alpha=1.0, out=None):
    """ELU, out = x if x > 0 else alpha * (exp(x) - 1) (``F.elu``).

    Returns ``(out, cache)``; shape and dtype of x.
    """
    a = real_number(alpha, "alpha", "elu_forward")
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
    b = real_number(beta, "beta", fn, nonzero=True)
    t = real_number(threshold, "threshold", fn, finite=False)
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
    ``x (N, C, *)``, ``alpha (C,)`` or ``(1,)``.
    """
    fn = "prelu_forward"
    x = float_array(x, "x", fn)
    alpha = param_array(alpha, "alpha", x.dtype, fn)
    C, S = _prelu_layout(x, alpha, fn)
    out = output_for(x, out, fn, False)
    _dispatch.kernels.activations.prelu_forward(
        x.reshape(-1), alpha, out.reshape(-1), C, S, num_threads())
    return out, Cache("prelu", x=x, alpha=alpha, C=C, S=S)


def _prelu_layout(x, alpha, fn):
    """(C, S): channels per row and elements per channel segment."""
    if alpha.ndim != 1 or alpha.shape[0] < 1:
        raise ValueError(f"{fn}: alpha must have shape (1,) or (C,), got {alpha.shape}")
    if alpha.shape[0] == 1:
        return 1, _dispatch.kernels.activations.BLOCK_SIZE   # shared slope: rows are blocks of elements
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
    c = cache_for(cache, "prelu", fn)
    x = cache_array(c, "x", fn, floating=True)
    alpha = cache_array(c, "alpha", fn, dtype=x.dtype, ndim=1)
    try:
        C, S = _prelu_layout(x, alpha, fn)       # the layout the kernel walks, from x and alpha
    except ValueError:
        raise ValueError(f"{fn}: cache.alpha {alpha.shape} does not fit cache.x {x.shape} (pass "
                         "the cache prelu_forward returned, unmodified)") from None
    if (cache_int(c, "C", fn, 0), cache_int(c, "S", fn, 0)) != (C, S):
        raise ValueError(f"{fn}: cache.C, cache.S are {c.C}, {c.S}, but x {x.shape} and alpha "
                         f"{alpha.shape} give {C}, {S} (pass the cache prelu_forward returned, "
                         "unmodified)")
    g = check_dout(dout, x.shape, x.dtype, fn)
    dx = _buffers.empty_like(x)
    total = x.size
    rows = -(-total // max(C * S, 1)) if total else 0
    partial = np.empty((rows, C), dtype=np.float64)
    _dispatch.kernels.activations.prelu_backward(
        g.reshape(-1), x.reshape(-1), alpha, dx.reshape(-1), partial, C, S, num_threads())
    dalpha = partial.sum(axis=0).astype(x.dtype)
    return dx, dalpha.reshape(alpha.shape)


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
    x = float_array(x, "x", fn)
    if x.ndim < 2:
        raise ValueError(f"{fn}: x must have shape (N, D), got {x.shape}")
    w = param_array(w, "w", x.dtype, fn)
    b = param_array(b, "b", x.dtype, fn)
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
    z = _buffers.empty((N, k * M), x.dtype)
    matmul(x2, False, w_cat, False, z)                                   # (N, k*M), BLAS
    out = np.empty((N, M), dtype=x.dtype)
    idx = np.empty((N, M), dtype=np.int32)
    _dispatch.kernels.activations.maxout_select(z, b, out, idx, num_threads())
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
    c = cache_for(cache, "maxout", fn)
    x = cache_array(c, "x", fn, floating=True)
    if x.ndim < 2:
        raise ValueError(f"{fn}: cache.x must have shape (N, D), got {x.shape} (pass the "
                         "cache maxout_forward returned, unmodified)")
    N, D = x.shape[0], int(np.prod(x.shape[1:], dtype=np.int64))
    k = cache_int(c, "k", fn, 1)
    idx = cache_array(c, "idx", fn, dtype=np.int32, ndim=2)
    M = idx.shape[1]
    cache_array(c, "idx", fn, shape=(N, M), dtype=np.int32)
    cache_array(c, "w_cat", fn, shape=(D, k * M), dtype=x.dtype)
    cache_indices(c, "idx", fn, idx, k)          # the scatter writes dz[n, idx * M + m]
    g = check_dout(dout, idx.shape, x.dtype, fn)
    dz = _buffers.empty((N, k * M), c.x.dtype)
    _dispatch.kernels.activations.maxout_scatter(g, c.idx, dz, num_threads())
    dx = _buffers.empty((N, D), c.x.dtype)
    matmul(dz, False, c.w_cat, True, dx)                                 # dz @ w_cat.T
    dw_cat = _buffers.empty((D, k * M), c.x.dtype)
    matmul(c.x.reshape(N, D), True, dz, False, dw_cat)                   # x.T @ dz
    dx = dx.reshape(c.x.shape)
    dw = np.ascontiguousarray(dw_cat.reshape(D, k, M).transpose(1, 0, 2))
    db = dz.reshape(N, k, M).sum(axis=0)
    return dx, dw, db
