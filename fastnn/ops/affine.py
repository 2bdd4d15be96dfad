"""Affine (fully connected) layer: out = x.reshape(N, D) @ w + b.

The three GEMMs (forward, dx, dw) each run as ONE OpenMP loop over blocks of
the output, every thread calling fastnn's single-threaded GEMM (fnn_gemm.h,
docs/gemm.md) on its block (``fastnn._kernels.affine.matmul``); the forward
bias is fused in (rows start as b, then GEMM with beta = 1).  So affine uses fastnn's own thread team
(``fastnn.set_num_threads``) like every other op, and no second thread pool
is left spinning between ops: NumPy's threaded matmul followed by fastnn's
OpenMP passes cost the next OpenMP region several milliseconds on 2 cores
(measured: a dropout of 200x100 took 7-8 ms after a GEMM in a training step),
and 256x3072 -> 1024 forward+backward took 42-56 ms against 27 ms for the
bare GEMMs.  The ``db`` column sum is a Cython kernel.
"""
import math

import numpy as np

from fastnn import _dispatch
from fastnn._kernels import _buffers
from fastnn.ops._common import (Cache, cache_array, cache_for, cache_shape, check_dout,
                                float_array, gemm_backend, num_threads,
                                param_array)

__all__ = ["affine_forward", "affine_backward"]


def affine_forward(x, w, b):
    """Fully connected layer: out = x.reshape(N, D) @ w + b.

    Parameters
    ----------
    x : array_like of float32 or float64, shape (N, d1, ..., dk)
        Each sample is flattened to D = d1 * ... * dk values.
    w : ndarray, shape (D, M), same dtype as x
        Weights (note: the transpose of ``torch.nn.Linear.weight``).
    b : array_like, shape (M,)
        Bias.

    Returns
    -------
    out : ndarray, shape (N, M), x's dtype
    cache : Cache
        For :func:`affine_backward` (holds x and w, no copies).

    Shape
    -----
    x (N, d1, ..., dk), w (D, M), b (M,) -> out (N, M), D = d1 * ... * dk.
    """
    fn = "affine_forward"
    x = float_array(x, "x", fn)
    if x.ndim < 2:
        raise ValueError(f"{fn}: x must have shape (N, d1, ..., dk) with at least 2 dimensions, "
                         f"got shape {x.shape}")
    N = x.shape[0]
    D = int(np.prod(x.shape[1:]))
    w = param_array(w, "w", x.dtype, fn)
    if w.ndim != 2 or w.shape[0] != D:
        raise ValueError(f"{fn}: w must have shape (D, M) with D = {D} (x's values per sample, "
                         f"x has shape {x.shape}), got {w.shape}")
    M = w.shape[1]
    b = param_array(b, "b", x.dtype, fn)
    if b.shape != (M,):
        raise ValueError(f"{fn}: b must have shape ({M},) (w's columns), got {b.shape}")
    x2 = x.reshape(N, D)
    out = _buffers.empty((N, M), x.dtype)
    matmul(x2, False, w, False, out, b)
    return out, Cache("affine", x=x2, x_shape=x.shape, w=w)


def matmul(a, trans_a, b, trans_b, out, bias=None):
    """out = op(a) @ op(b) (+ bias) for C-contiguous 2-D arrays of one dtype (op = transpose
    when trans_*): fastnn's threads, each running single-threaded GEMMs on whole blocks of
    out (:func:`fastnn.ops._common.gemm_backend`).  Shared by affine, maxout and
    DropConnect; callers validate shapes."""
    gemm = gemm_backend()
    with gemm.one_thread():
        _dispatch.kernels.affine.matmul(a, trans_a, b, trans_b, out,
                                        bias if bias is not None else out.reshape(-1)[:0],
                                        gemm.addr[out.dtype], num_threads())


def affine_backward(dout, cache, need_dx=True):
    """Gradients of :func:`affine_forward`.

    Parameters
    ----------
    dout : array_like, shape (N, M)
        Upstream gradient.
    cache : Cache from :func:`affine_forward`
    need_dx : bool, default True
        False skips the dx GEMM (the first layer of a network, whose input
        needs no gradient) and returns None for dx.

    Returns
    -------
    dx : ndarray, x's original shape (N, d1, ..., dk), or None
        dout @ w.T
    dw : ndarray, shape (D, M)
        x.T @ dout
    db : ndarray, shape (M,)
        dout summed over N.
    """
    fn = "affine_backward"
    c = cache_for(cache, "affine", fn)
    x2 = cache_array(c, "x", fn, ndim=2, floating=True)
    w = cache_array(c, "w", fn, ndim=2, dtype=x2.dtype)
    if w.shape[0] != x2.shape[1]:
        raise ValueError(f"{fn}: cache.w has shape {w.shape}, but cache.x {x2.shape} needs "
                         f"({x2.shape[1]}, M) (pass the cache affine_forward returned, "
                         "unmodified)")
    x_shape = cache_shape(c, "x_shape", fn)
    if len(x_shape) < 2 or x_shape[0] != x2.shape[0] or math.prod(x_shape) != x2.size:
        raise ValueError(f"{fn}: cache.x_shape {x_shape} does not hold cache.x {x2.shape} "
                         "(pass the cache affine_forward returned, unmodified)")
    g = check_dout(dout, (x2.shape[0], w.shape[1]), x2.dtype, fn)
    dx = None
    if need_dx:
        dx = _buffers.empty(x2.shape, x2.dtype)
        matmul(g, False, w, True, dx)
        dx = dx.reshape(c.x_shape)
    dw = _buffers.empty(w.shape, x2.dtype)
    matmul(x2, True, g, False, dw)
    db = np.empty(w.shape[1], x2.dtype)
    _dispatch.kernels.affine.column_sum(g, db, num_threads())
    return dx, dw, db
