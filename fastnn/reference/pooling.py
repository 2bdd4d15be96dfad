"""NumPy twins of fastnn.ops.pooling (loops over output pixels; caches are tuples)."""
import numpy as np

__all__ = ["max_pool_forward", "max_pool_backward", "avg_pool_forward", "avg_pool_backward",
           "global_avg_pool_forward", "global_avg_pool_backward",
           "max_pool_forward_reshape", "max_pool_backward_reshape"]


def _out_hw(x, ph, pw, s):
    H, W = x.shape[2:]
    return (H - ph) // s + 1, (W - pw) // s + 1


def _argmax_first(window):
    """First maximum in row-major order; the first NaN if there is one (PyTorch's rule)."""
    flat = window.reshape(window.shape[0], window.shape[1], -1)
    nan = np.isnan(flat)
    return np.where(nan.any(axis=-1), nan.argmax(axis=-1),
                    np.argmax(np.where(nan, -np.inf, flat), axis=-1))


def max_pool_forward(x, pool_height=2, pool_width=2, stride=2):
    """out[n, c, oh, ow] = max of x[n, c, oh*s : oh*s + ph, ow*s : ow*s + pw]"""
    N, C = x.shape[:2]
    Ho, Wo = _out_hw(x, pool_height, pool_width, stride)
    out = np.empty((N, C, Ho, Wo), x.dtype)
    arg = np.zeros((N, C, Ho, Wo), np.int64)
    for oh in range(Ho):
        for ow in range(Wo):
            win = x[:, :, oh * stride:oh * stride + pool_height, ow * stride:ow * stride + pool_width]
            k = _argmax_first(win)
            arg[:, :, oh, ow] = k
            out[:, :, oh, ow] = np.take_along_axis(
                win.reshape(N, C, -1), k[..., None], axis=-1)[..., 0]
    return out, (x.shape, arg, pool_height, pool_width, stride)


def max_pool_backward(dout, cache):
    """dx: each dout value added at the argmax of its window"""
    x_shape, arg, ph, pw, s = cache
    dx = np.zeros(x_shape, dout.dtype)
    N, C, Ho, Wo = dout.shape
    n, c = np.meshgrid(np.arange(N), np.arange(C), indexing="ij")
    for oh in range(Ho):
        for ow in range(Wo):
            k = arg[:, :, oh, ow]
            np.add.at(dx, (n, c, oh * s + k // pw, ow * s + k % pw), dout[:, :, oh, ow])
    return dx


def avg_pool_forward(x, pool_height=2, pool_width=2, stride=2):
    """out[n, c, oh, ow] = mean of x[n, c, oh*s : oh*s + ph, ow*s : ow*s + pw]"""
    N, C = x.shape[:2]
    Ho, Wo = _out_hw(x, pool_height, pool_width, stride)
    out = np.empty((N, C, Ho, Wo), x.dtype)
    for oh in range(Ho):
        for ow in range(Wo):
            win = x[:, :, oh * stride:oh * stride + pool_height, ow * stride:ow * stride + pool_width]
            out[:, :, oh, ow] = win.mean(axis=(2, 3))
    return out, (x.shape, pool_height, pool_width, stride)


def avg_pool_backward(dout, cache):
    """dx: each dout value spread evenly over its window"""
    x_shape, ph, pw, s = cache
    dx = np.zeros(x_shape, dout.dtype)
    Ho, Wo = dout.shape[2:]
    for oh in range(Ho):
        for ow in range(Wo):
            dx[:, :, oh * s:oh * s + ph, ow * s:ow * s + pw] += (dout[:, :, oh, ow] / (ph * pw))[:, :, None, None]
    return dx


def global_avg_pool_forward(x):
    """out[n, c] = mean of x[n, c]"""
    return x.mean(axis=(2, 3)), (x.shape,)


def global_avg_pool_backward(dout, cache):
    """dx[n, c, h, w] = dout[n, c] / (H*W)"""
    (x_shape,) = cache
    H, W = x_shape[2:]
    return np.broadcast_to((dout / (H * W))[:, :, None, None], x_shape).copy()


def max_pool_forward_reshape(x, pool_height=2, pool_width=2, stride=2):
    """Max pooling of square tiling windows (pool_height == pool_width == stride, dividing H and
    W) by viewing x as (N, C, H/s, s, W/s, s) and reducing axes 3 and 5: the CS231n
    assignment's "reshape" algorithm, the baseline of ``bench/compat.py``."""
    N, C, H, W = x.shape
    s = stride
    if not (pool_height == pool_width == s and H % s == 0 and W % s == 0):
        raise ValueError(f"max_pool_forward_reshape: needs square tiling windows (pool_height == "
                         f"pool_width == stride dividing H and W), got {pool_height}x{pool_width} "
                         f"stride {s} on {H}x{W}")
    x6 = x.reshape(N, C, H // s, s, W // s, s)
    out = x6.max(axis=3).max(axis=4)
    return out, (x6, out, x.shape)


def max_pool_backward_reshape(dout, cache):
    """dx of :func:`max_pool_forward_reshape`: dout goes to the positions equal to their
    window's maximum, split evenly among tied maxima."""
    x6, out, x_shape = cache
    mask = x6 == out[:, :, :, None, :, None]
    dx6 = np.where(mask, dout[:, :, :, None, :, None], 0.0).astype(x6.dtype)
    dx6 /= mask.sum(axis=(3, 5), keepdims=True)
    return dx6.reshape(x_shape)
