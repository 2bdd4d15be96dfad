"""Plain NumPy twins of :mod:`fastnn.data.augment`'s functional ops.

Same signatures, and the per-sample parameters are drawn with the very same
helpers (``fastnn.data.augment._draw_*``) from ``default_rng(seed)``, so for a
seed these give the same augmentation as the compiled kernels.
"""
import numpy as np

from fastnn.data.augment import (
    MixedLabels, _auto_cutout, _auto_padding, _draw_crop, _draw_cutout, _draw_flip, _draw_jitter,
    _draw_mixup, _draw_resized_crop, _out_size, _rng,
)

__all__ = ["random_crop", "random_resized_crop", "hflip", "color_jitter", "cutout", "mixup"]


def random_crop(X, padding=4, seed=None, size=None):
    """Zero-pad by `padding`, then crop each image at its random window."""
    N, C, H, W = X.shape
    pad = _auto_padding(H, W) if padding is None else padding
    oh, ow = _out_size(size, H, W, "random_crop")
    top, left = _draw_crop(_rng(seed, "random_crop"), N, H, W, pad, oh, ow)
    padded = np.pad(X, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    rows = top[:, None] + np.arange(oh)              # (N, OH)
    cols = left[:, None] + np.arange(ow)             # (N, OW)
    n = np.arange(N)[:, None, None, None]
    c = np.arange(C)[None, :, None, None]
    return padded[n, c, rows[:, None, :, None], cols[:, None, None, :]]


def _bilinear_taps(out_len, box_len):
    """Source taps (i0, i1) and weights of half-pixel bilinear resizing box_len -> out_len."""
    s = (np.arange(out_len) + 0.5) * (box_len / out_len) - 0.5
    s = np.maximum(s, 0.0)
    i0 = np.floor(s).astype(np.int64)
    i1 = np.where(i0 < box_len - 1, i0 + 1, i0)
    return i0, i1, s - i0


def random_resized_crop(X, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), size=None, seed=None):
    """Crop each image at its random box and resize it bilinearly (align_corners=False)."""
    N, C, H, W = X.shape
    oh, ow = _out_size(size, H, W, "random_resized_crop")
    top, left, bh, bw = _draw_resized_crop(_rng(seed, "random_resized_crop"), N, H, W,
                                           scale, ratio)
    out = np.empty((N, C, oh, ow), X.dtype)
    for n in range(N):
        box = X[n, :, top[n]:top[n] + bh[n], left[n]:left[n] + bw[n]]
        y0, y1, wy = _bilinear_taps(oh, bh[n])
        x0, x1, wx = _bilinear_taps(ow, bw[n])
        wy = wy.astype(X.dtype)[:, None]
        wx = wx.astype(X.dtype)
        a = box[:, y0][:, :, x0] + wx * (box[:, y0][:, :, x1] - box[:, y0][:, :, x0])
        b = box[:, y1][:, :, x0] + wx * (box[:, y1][:, :, x1] - box[:, y1][:, :, x0])
        out[n] = a + wy * (b - a)
    return out


def hflip(X, p=0.5, seed=None):
    """Reverse the last axis of the images whose flip flag is set."""
    flip = _draw_flip(_rng(seed, "hflip"), X.shape[0], p).astype(bool)
    return np.where(flip[:, None, None, None], X[..., ::-1], X)


def _grey(X):
    """0.299 R + 0.587 G + 0.114 B, shape (N, 1, H, W) (C == 3)."""
    return 0.299 * X[:, 0:1] + 0.587 * X[:, 1:2] + 0.114 * X[:, 2:3]


def color_jitter(X, brightness=0.0, contrast=0.0, saturation=0.0, seed=None, clip=None):
    """Brightness, then contrast, then saturation, each with its per-image factor."""
    N, C = X.shape[:2]
    fb, fc, fs = _draw_jitter(_rng(seed, "color_jitter"), N, brightness, contrast, saturation)

    def clamp(a):
        return a if clip is None else np.clip(a, clip[0], clip[1]).astype(X.dtype)

    def per_image(f):
        return f.astype(X.dtype)[:, None, None, None]

    out = X.copy()
    if brightness > 0:
        out = clamp(per_image(fb) * out)
    if contrast > 0:
        if C == 3:
            mean = _grey(out.astype(np.float64)).mean(axis=(1, 2, 3))
        else:
            mean = out.astype(np.float64).mean(axis=(1, 2, 3))
        c = per_image(fc)
        out = clamp(c * out + (1 - c) * per_image(mean))
    if saturation > 0 and C == 3:
        s = per_image(fs)
        out = clamp(s * out + (1 - s) * _grey(out).astype(X.dtype))
    return out


def cutout(X, size=None, seed=None):
    """Zero each image's clipped square."""
    N, C, H, W = X.shape
    size = _auto_cutout(H, W) if size is None else size
    y0, y1, x0, x1 = _draw_cutout(_rng(seed, "cutout"), N, H, W, size)
    out = X.copy()
    for n in range(N):
        out[n, :, y0[n]:y1[n], x0[n]:x1[n]] = 0
    return out


def mixup(X, y, alpha=0.2, seed=None):
    """lam X + (1 - lam) X[perm], with the labels of both."""
    y = np.asarray(y)
    lam, perm = _draw_mixup(_rng(seed, "mixup"), X.shape[0], alpha)
    out = (X.dtype.type(lam) * X + X.dtype.type(1.0 - lam) * X[perm]).astype(X.dtype)
    return out, MixedLabels(y_a=y, y_b=y[perm], lam=lam)
