"""NumPy twins of fastnn.ops.conv.

Two versions of the same convolution (PyTorch ``conv2d`` semantics, NCHW):

* :func:`conv_forward` / :func:`conv_backward`: the readable loop version, one
  output pixel at a time -- the test oracle;
* :func:`conv_forward_im2col` / :func:`conv_backward_im2col`: vectorised NumPy
  im2col (stride tricks + one batched matmul) -- the benchmark baseline.

Caches are plain tuples.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["conv_forward", "conv_backward", "conv_forward_im2col", "conv_backward_im2col",
           "im2col", "col2im"]


def _out_hw(H, W, HH, WW, stride, pad, dilation):
    eh, ew = dilation * (HH - 1) + 1, dilation * (WW - 1) + 1
    if eh > H + 2 * pad or ew > W + 2 * pad:
        raise ValueError(f"conv_forward: filter {HH}x{WW} with pad {pad} does not fit input {H}x{W}")
    return (H + 2 * pad - eh) // stride + 1, (W + 2 * pad - ew) // stride + 1


def _windows(N, w_shape, Ho, Wo, stride, dilation, groups):
    """Every output pixel in loop order (n, f, oh, ow), with the window of the padded input
    that filter f meets there: ``xpad[n, cs, hs, ws]`` (its group's channels ``cs``)."""
    F, Cg, HH, WW = w_shape
    Fg = F // groups
    d = dilation
    for n in range(N):
        for f in range(F):
            c0 = (f // Fg) * Cg
            cs = slice(c0, c0 + Cg)
            for oh in range(Ho):
                for ow in range(Wo):
                    h0, w0 = oh * stride, ow * stride
                    yield (n, f, oh, ow, cs, slice(h0, h0 + d * (HH - 1) + 1, d),
                           slice(w0, w0 + d * (WW - 1) + 1, d))


def conv_forward(x, w, b=None, stride=1, pad=0, dilation=1, groups=1):
    """out[n, f, oh, ow] = b[f] + sum_{c,i,j} w[f, c, i, j] * xpad[n, g*Cg + c, oh*s + i*d, ow*s + j*d]"""
    N, C, H, W = x.shape
    F, Cg, HH, WW = w.shape
    b = np.zeros(F, x.dtype) if b is None else np.asarray(b, x.dtype)
    Ho, Wo = _out_hw(H, W, HH, WW, stride, pad, dilation)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, Ho, Wo), x.dtype)
    for n, f, oh, ow, cs, hs, ws in _windows(N, w.shape, Ho, Wo, stride, dilation, groups):
        out[n, f, oh, ow] = np.sum(xp[n, cs, hs, ws] * w[f]) + b[f]
    return out, (x, w, b, stride, pad, dilation, groups)


def conv_backward(dout, cache):
    """dx, dw, db of conv_forward, by the same loops"""
    x, w, b, stride, pad, dilation, groups = cache
    N, C, H, W = x.shape
    _, _, Ho, Wo = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3)).astype(x.dtype)
    for n, f, oh, ow, cs, hs, ws in _windows(N, w.shape, Ho, Wo, stride, dilation, groups):
        g = dout[n, f, oh, ow]
        dw[f] += g * xp[n, cs, hs, ws]
        dxp[n, cs, hs, ws] += g * w[f]
    dx = dxp[:, :, pad:pad + H, pad:pad + W]
    return np.ascontiguousarray(dx), dw, db


def im2col(x, HH, WW, stride=1, pad=0, dilation=1):
    """cols[n, c*HH*WW + i*WW + j, oh*Wo + ow] = xpad[n, c, oh*s + i*d, ow*s + j*d] (stride tricks)"""
    N, C, H, W = x.shape
    Ho, Wo = _out_hw(H, W, HH, WW, stride, pad, dilation)
    d = dilation
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = sliding_window_view(xp, (d * (HH - 1) + 1, d * (WW - 1) + 1), axis=(2, 3))
    win = win[:, :, :(Ho - 1) * stride + 1:stride, :(Wo - 1) * stride + 1:stride, ::d, ::d]
    # (N, C, Ho, Wo, HH, WW) -> (N, C, HH, WW, Ho, Wo)
    return win.transpose(0, 1, 4, 5, 2, 3).reshape(N, C * HH * WW, Ho * Wo)


def col2im(cols, x_shape, HH, WW, stride=1, pad=0, dilation=1):
    """The adjoint of im2col: each column entry added back to its pixel"""
    N, C, H, W = x_shape
    Ho, Wo = _out_hw(H, W, HH, WW, stride, pad, dilation)
    d = dilation
    c6 = cols.reshape(N, C, HH, WW, Ho, Wo)
    xp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), cols.dtype)
    for i in range(HH):
        for j in range(WW):
            xp[:, :, i * d:i * d + stride * (Ho - 1) + 1:stride,
               j * d:j * d + stride * (Wo - 1) + 1:stride] += c6[:, :, i, j]
    return xp[:, :, pad:pad + H, pad:pad + W]


def conv_forward_im2col(x, w, b=None, stride=1, pad=0, dilation=1, groups=1):
    """conv_forward by im2col of the whole batch and one batched matmul per group"""
    N, C, H, W = x.shape
    F, Cg, HH, WW = w.shape
    b = np.zeros(F, x.dtype) if b is None else np.asarray(b, x.dtype)
    Ho, Wo = _out_hw(H, W, HH, WW, stride, pad, dilation)
    cols = im2col(x, HH, WW, stride, pad, dilation)           # (N, C*HH*WW, Ho*Wo)
    Kg, Fg = Cg * HH * WW, F // groups
    w2 = w.reshape(F, Kg)
    out = np.empty((N, F, Ho * Wo), x.dtype)
    for g in range(groups):
        out[:, g * Fg:(g + 1) * Fg] = w2[g * Fg:(g + 1) * Fg] @ cols[:, g * Kg:(g + 1) * Kg]
    out += b[:, None]
    return out.reshape(N, F, Ho, Wo), (x, w, b, stride, pad, dilation, groups, cols)


def conv_backward_im2col(dout, cache):
    """dx, dw, db of conv_forward_im2col: dw = sum_n dout_n cols_n^T, dcols = w^T dout_n, col2im"""
    x, w, b, stride, pad, dilation, groups, cols = cache
    N, C, H, W = x.shape
    F, Cg, HH, WW = w.shape
    Kg, Fg = Cg * HH * WW, F // groups
    g3 = dout.reshape(N, F, -1)
    w2 = w.reshape(F, Kg)
    db = g3.sum(axis=(0, 2))
    dw = np.empty((F, Kg), x.dtype)
    dcols = np.empty_like(cols)
    for g in range(groups):
        fs, ks = slice(g * Fg, (g + 1) * Fg), slice(g * Kg, (g + 1) * Kg)
        dw[fs] = np.einsum("nfp,nkp->fk", g3[:, fs], cols[:, ks], optimize=True)
        dcols[:, ks] = w2[fs].T @ g3[:, fs]
    dx = col2im(dcols, x.shape, HH, WW, stride, pad, dilation)
    return dx, dw.reshape(w.shape), db
