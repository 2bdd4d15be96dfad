"""Pooling over (N, C, H, W): max pool, average pool (any window and stride, no
padding) and global average pool, forward/backward.

Every kernel is one parallel pass over the N*C planes.  Max pool saves, per
output element, the position of the maximum inside its window (uint8 when the
window has <= 255 elements, else int32) and backward routes the gradient
there.  Ties go to the first maximum (row-major in the window), as in
PyTorch; a NaN in a window makes the output NaN (PyTorch's rule too) and the
first NaN receives the gradient.  2x2 windows with stride 2 have a fast path.
Output size: ``Ho = (H - pool_height) // stride + 1`` (floor, like PyTorch),
likewise Wo.
"""

import numpy as np

from fastnn import _dispatch
from fastnn._kernels import _buffers
from fastnn.ops._common import (Cache, cache_array, cache_dtype, cache_field, cache_for,
                                cache_indices, cache_shape, check_dout, float_array,
                                num_threads)
from fastnn.ops.conv import MAX_GEOMETRY, _int_param

__all__ = ["max_pool_forward", "max_pool_backward", "avg_pool_forward", "avg_pool_backward",
           "global_avg_pool_forward", "global_avg_pool_backward"]


def _positive(v, name, fn):
    """A window size or stride: an integer in 1 .. MAX_GEOMETRY (2**31 - 1)."""
    return _int_param(v, name, fn, 1, MAX_GEOMETRY)


def _pool_geometry(x, pool_height, pool_width, stride, fn):
    x = float_array(x, "x", fn)
    if x.ndim != 4:
        raise ValueError(f"{fn}: x must have shape (N, C, H, W), got shape {x.shape}")
    ph = _positive(pool_height, "pool_height", fn)
    pw = _positive(pool_width, "pool_width", fn)
    s = _positive(stride, "stride", fn)
    H, W = x.shape[2:]
    if ph > H or pw > W:
        raise ValueError(f"{fn}: pool window {ph}x{pw} does not fit input {H}x{W}")
    return x, ph, pw, s, ((H - ph) // s + 1, (W - pw) // s + 1)


def _cached_geometry(c, fn):
    """(x_shape, dtype, (ph, pw, s), (Ho, Wo)) of a pooling cache, re-derived and checked the
    way the forward pass checked its arguments: the backward kernel loops over them."""
    x_shape = cache_shape(c, "x_shape", fn, 4)
    dtype = cache_dtype(c, "dtype", fn)
    pool = cache_field(c, "pool", fn)
    if not isinstance(pool, tuple) or len(pool) != 3:
        raise ValueError(f"{fn}: cache.pool must be (pool_height, pool_width, stride), got "
                         f"{pool!r} (pass the cache {c.op}_forward returned, unmodified)")
    ph, pw, s = (_positive(v, f"cache.pool {name}", fn)
                 for v, name in zip(pool, ("pool_height", "pool_width", "stride")))
    H, W = x_shape[2:]
    if ph > H or pw > W:
        raise ValueError(f"{fn}: cache.pool window {ph}x{pw} does not fit cache.x_shape "
                         f"{x_shape} (pass the cache {c.op}_forward returned, unmodified)")
    return x_shape, dtype, (ph, pw, s), ((H - ph) // s + 1, (W - pw) // s + 1)


def max_pool_forward(x, pool_height=2, pool_width=2, stride=2):
    """Max pooling, ``torch.nn.functional.max_pool2d(x, (pool_height, pool_width), stride)``.

    Parameters
    ----------
    x : array_like of float32 or float64, shape (N, C, H, W)
    pool_height, pool_width, stride : int, 1 .. 2**31 - 1
        The window must fit the input (no padding).

    Returns
    -------
    out : ndarray, shape (N, C, Ho, Wo), ``Ho = (H - pool_height) // stride + 1``
    cache : Cache
        The argmax position inside each window (``cache.idx``, uint8 or int32)
        and the geometry; x itself is not kept.

    Shape
    -----
    x (N, C, H, W) -> out (N, C, Ho, Wo).
    """
    fn = "max_pool_forward"
    x, ph, pw, s, (Ho, Wo) = _pool_geometry(x, pool_height, pool_width, stride, fn)
    N, C, H, W = x.shape
    out = _buffers.empty((N, C, Ho, Wo), x.dtype)
    idx = _buffers.empty((N, C, Ho, Wo), np.uint8 if ph * pw <= 255 else np.int32)
    _dispatch.kernels.pooling.max_pool_forward(x, out, idx, ph, pw, s, num_threads())
    return out, Cache("max_pool", idx=idx, x_shape=x.shape, dtype=x.dtype, pool=(ph, pw, s))


def max_pool_backward(dout, cache):
    """dx: dout routed to the argmax of each window (summed where windows overlap).

    Shape: dout (N, C, Ho, Wo) -> dx (N, C, H, W).
    """
    fn = "max_pool_backward"
    c = cache_for(cache, "max_pool", fn)
    x_shape, dtype, (ph, pw, s), (Ho, Wo) = _cached_geometry(c, fn)
    idx = cache_array(c, "idx", fn, shape=x_shape[:2] + (Ho, Wo),
                      dtype=np.uint8 if ph * pw <= 255 else np.int32)
    cache_indices(c, "idx", fn, idx, ph * pw)     # the kernel writes dx at the window's idx
    g = check_dout(dout, idx.shape, dtype, fn)
    dx = _buffers.empty(x_shape, dtype)
    _dispatch.kernels.pooling.max_pool_backward(g, idx, dx, ph, pw, s, num_threads())
    return dx


def avg_pool_forward(x, pool_height=2, pool_width=2, stride=2):
    """Average pooling, ``torch.nn.functional.avg_pool2d(x, (pool_height, pool_width), stride)``.

    Returns ``(out, cache)``; out has shape (N, C, Ho, Wo) with
    ``Ho = (H - pool_height) // stride + 1``, likewise Wo.
    """
    fn = "avg_pool_forward"
    x, ph, pw, s, (Ho, Wo) = _pool_geometry(x, pool_height, pool_width, stride, fn)
    N, C = x.shape[:2]
    out = _buffers.empty((N, C, Ho, Wo), x.dtype)
    _dispatch.kernels.pooling.avg_pool_forward(x, out, ph, pw, s, num_threads())
    return out, Cache("avg_pool", x_shape=x.shape, out_shape=out.shape, dtype=x.dtype,
                      pool=(ph, pw, s))


def avg_pool_backward(dout, cache):
    """dx[n, c, h, w] = sum over the windows covering (h, w) of dout / (pool_height*pool_width).

    Shape: dout (N, C, Ho, Wo) -> dx (N, C, H, W).
    """
    fn = "avg_pool_backward"
    c = cache_for(cache, "avg_pool", fn)
    x_shape, dtype, (ph, pw, s), (Ho, Wo) = _cached_geometry(c, fn)
    if cache_shape(c, "out_shape", fn, 4) != x_shape[:2] + (Ho, Wo):
        raise ValueError(f"{fn}: cache.out_shape must be {x_shape[:2] + (Ho, Wo)}, got "
                         f"{c.out_shape} (pass the cache avg_pool_forward returned, unmodified)")
    g = check_dout(dout, x_shape[:2] + (Ho, Wo), dtype, fn)
    dx = _buffers.empty(x_shape, dtype)
    _dispatch.kernels.pooling.avg_pool_backward(g, dx, ph, pw, s, num_threads())
    return dx


def global_avg_pool_forward(x):
    """Mean over H and W: out[n, c] = mean(x[n, c]) (``x.mean(axis=(2, 3))``).

    Returns ``(out, cache)``, out of shape (N, C).  H*W = 0 gives NaN (the mean
    of nothing), as NumPy and PyTorch do.

    Shape
    -----
    x (N, C, H, W) -> out (N, C).
    """
    fn = "global_avg_pool_forward"
    x = float_array(x, "x", fn)
    if x.ndim != 4:
        raise ValueError(f"{fn}: x must have shape (N, C, H, W), got shape {x.shape}")
    N, C, H, W = x.shape
    if H * W == 0:
        out = np.full((N, C), np.nan, x.dtype)
    else:
        out = np.empty((N, C), x.dtype)
        _dispatch.kernels.pooling.global_avg_pool_forward(x.reshape(N, C, H * W), out, num_threads())
    return out, Cache("global_avg_pool", x_shape=x.shape, dtype=x.dtype)


def global_avg_pool_backward(dout, cache):
    """dx[n, c, h, w] = dout[n, c] / (H*W).

    Shape: dout (N, C) -> dx (N, C, H, W).
    """
    fn = "global_avg_pool_backward"
    c = cache_for(cache, "global_avg_pool", fn)
    N, C, H, W = cache_shape(c, "x_shape", fn, 4)
    dtype = cache_dtype(c, "dtype", fn)
    g = check_dout(dout, (N, C), dtype, fn)
    dx = _buffers.empty((N, C, H, W), dtype)
    if H * W:
        _dispatch.kernels.pooling.global_avg_pool_backward(g, dx.reshape(N, C, H * W), num_threads())
    return dx
