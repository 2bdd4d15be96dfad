"""Affine (fully connected) layer: out = x.reshape(N, D) @ w + b.

The three GEMMs (forward, dx, dw) go to NumPy's BLAS through ``np.matmul``
with preallocated outputs; transposes are views, so BLAS reads them in place.
BLAS threads are BLAS's own pool (``threadpoolctl.threadpool_limits(n,
user_api="blas")``).

The bias add and the ``db`` column sum are Cython kernels run on ONE thread:
right after a GEMM, OpenBLAS's worker threads are still spinning, and waking
an OpenMP team beside them cost more than the whole pass (measured, 2 cores,
256x3072 -> 1024 forward+backward: 42-56 ms with 2-thread passes, 31.7 ms
with 1-thread passes, 27 ms for the three GEMMs alone).  Each pass touches
N*M values, at most 1/D of the GEMM's work.
"""
import numpy as np

from fastnn import _dispatch
from fastnn._kernels import _buffers
from fastnn.ops._common import Cache, cache_for, check_dout, float_array, param_array

# threads of the bias-add and db passes (see the module docstring)
PASS_THREADS = 1

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
    np.matmul(x2, w, out=out)
    _dispatch.kernels.affine.bias_add(out, b, PASS_THREADS)
    return out, Cache("affine", x=x2, x_shape=x.shape, w=w)


def affine_backward(dout, cache):
    """Gradients of :func:`affine_forward`.

    Parameters
    ----------
    dout : array_like, shape (N, M)
        Upstream gradient.
    cache : Cache from :func:`affine_forward`

    Returns
    -------
    dx : ndarray, x's original shape (N, d1, ..., dk)
        dout @ w.T
    dw : ndarray, shape (D, M)
        x.T @ dout
    db : ndarray, shape (M,)
        dout summed over N.
    """
    fn = "affine_backward"
    c = cache_for(cache, "affine", fn)
    x2, w = c.x, c.w
    g = check_dout(dout, (x2.shape[0], w.shape[1]), x2.dtype, fn)
    dx = _buffers.empty(x2.shape, x2.dtype)
    np.matmul(g, w.T, out=dx)
    dw = _buffers.empty(w.shape, x2.dtype)
    np.matmul(x2.T, g, out=dw)
    db = np.empty(w.shape[1], x2.dtype)
    _dispatch.kernels.affine.column_sum(g, db, PASS_THREADS)
    return dx.reshape(c.x_shape), dw, db
