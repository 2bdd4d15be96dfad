"""Plain NumPy twins of the augmentation ops of :mod:`fastnn.ops.augment` and of the random
augmentations of :mod:`fastnn.data.augment`.

The ops (``crop_at`` ... ``mixup_with``) take the per-sample parameters
explicitly.  The random forms (``random_crop`` ... ``mixup``) have
``fastnn.data.augment``'s signatures and draw their parameters with its public
``draw_*`` functions from ``default_rng(seed)``, so for a seed they give the
same augmentation as the compiled kernels.  Arguments are trusted (no checks).
"""
import numpy as np

from fastnn.data.augment import (MixedLabels, draw_crop, draw_cutout, draw_flip, draw_jitter,
                                 draw_mixup, draw_resized_crop)

__all__ = ["crop_at", "resized_crop_at", "hflip_where", "color_jitter_by", "cutout_at",
           "mixup_with", "random_crop", "random_resized_crop", "hflip", "color_jitter", "cutout",
           "mixup"]


def _size(size, H, W):
    """(OH, OW): None -> (H, W), an int s -> (s, s), or the pair itself."""
    if size is None:
        return H, W
    return (int(size), int(size)) if np.ndim(size) == 0 else (int(size[0]), int(size[1]))


# ---------------------------------------------------------------- ops (parameters given)

def crop_at(x, top, left, padding=0, size=None):
    """Zero-pad by `padding`, then cut each image's window at (top[n], left[n])."""
    N, C, H, W = x.shape
    oh, ow = _size(size, H, W)
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    rows = np.asarray(top)[:, None] + np.arange(oh)        # (N, OH)
    cols = np.asarray(left)[:, None] + np.arange(ow)       # (N, OW)
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


def resized_crop_at(x, top, left, height, width, size=None):
    """Cut each image's box and resize it bilinearly (align_corners=False)."""
    N, C, H, W = x.shape
    oh, ow = _size(size, H, W)
    out = np.empty((N, C, oh, ow), x.dtype)
    for n in range(N):
        box = x[n, :, top[n]:top[n] + height[n], left[n]:left[n] + width[n]]
        y0, y1, wy = _bilinear_taps(oh, height[n])
        x0, x1, wx = _bilinear_taps(ow, width[n])
        wy = wy.astype(x.dtype)[:, None]
        wx = wx.astype(x.dtype)
        a = box[:, y0][:, :, x0] + wx * (box[:, y0][:, :, x1] - box[:, y0][:, :, x0])
        b = box[:, y1][:, :, x0] + wx * (box[:, y1][:, :, x1] - box[:, y1][:, :, x0])
        out[n] = a + wy * (b - a)
    return out


def hflip_where(x, flip):
    """Reverse the last axis of the images whose flip flag is set."""
    flip = np.asarray(flip).astype(bool)
    return np.where(flip[:, None, None, None], x[..., ::-1], x)


def _grey(x):
    """0.299 R + 0.587 G + 0.114 B, shape (N, 1, H, W) (C == 3)."""
    return 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]


def color_jitter_by(x, brightness=None, contrast=None, saturation=None, clip=None):
    """Brightness, then contrast, then saturation, each with its per-image factor."""
    C = x.shape[1]

    def clamp(a):
        return a if clip is None else np.clip(a, clip[0], clip[1]).astype(x.dtype)

    def per_image(f):
        return np.asarray(f).astype(x.dtype)[:, None, None, None]

    out = x.copy()
    if brightness is not None:
        out = clamp(per_image(brightness) * out)
    if contrast is not None:
        if C == 3:
            mean = _grey(out.astype(np.float64)).mean(axis=(1, 2, 3))
        else:
            mean = out.astype(np.float64).mean(axis=(1, 2, 3))
        c = per_image(contrast)
        out = clamp(c * out + (1 - c) * per_image(mean))
    if saturation is not None and C == 3:
        s = per_image(saturation)
        out = clamp(s * out + (1 - s) * _grey(out).astype(x.dtype))
    return out


def cutout_at(x, y0, y1, x0, x1):
    """Zero each image's box rows y0:y1, columns x0:x1."""
    out = x.copy()
    for n in range(x.shape[0]):
        out[n, :, y0[n]:y1[n], x0[n]:x1[n]] = 0
    return out


def mixup_with(x, perm, lam):
    """lam x + (1 - lam) x[perm]."""
    return (x.dtype.type(lam) * x + x.dtype.type(1.0 - lam) * x[perm]).astype(x.dtype)


# ---------------------------------------------------------------- random forms (seeded)

def random_crop(X, padding=4, seed=None, size=None):
    """Zero-pad by `padding` (None: an eighth of the smaller side, at least 1), then crop each
    image at its random window."""
    N, C, H, W = X.shape
    pad = max(1, min(H, W) // 8) if padding is None else padding
    oh, ow = _size(size, H, W)
    top, left = draw_crop(np.random.default_rng(seed), N, H, W, pad, oh, ow)
    return crop_at(X, top, left, pad, (oh, ow))


def random_resized_crop(X, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), size=None, seed=None):
    """Crop each image at its random box and resize it bilinearly (align_corners=False)."""
    N, C, H, W = X.shape
    top, left, bh, bw = draw_resized_crop(np.random.default_rng(seed), N, H, W, scale, ratio)
    return resized_crop_at(X, top, left, bh, bw, _size(size, H, W))


def hflip(X, p=0.5, seed=None):
    """Flip the images whose random flag is set (probability p each)."""
    return hflip_where(X, draw_flip(np.random.default_rng(seed), X.shape[0], p))


def color_jitter(X, brightness=0.0, contrast=0.0, saturation=0.0, seed=None, clip=None):
    """Brightness, then contrast, then saturation, each with its random per-image factor."""
    fb, fc, fs = draw_jitter(np.random.default_rng(seed), X.shape[0], brightness, contrast,
                             saturation)
    return color_jitter_by(X, fb if brightness > 0 else None, fc if contrast > 0 else None,
                           fs if saturation > 0 else None, clip)


def cutout(X, size=None, seed=None):
    """Zero each image's random square (None: half the smaller side, at least 1), clipped."""
    N, C, H, W = X.shape
    size = max(1, min(H, W) // 2) if size is None else size
    return cutout_at(X, *draw_cutout(np.random.default_rng(seed), N, H, W, size))


def mixup(X, y, alpha=0.2, seed=None):
    """lam X + (1 - lam) X[perm], with the labels of both."""
    y = np.asarray(y)
    lam, perm = draw_mixup(np.random.default_rng(seed), X.shape[0], alpha)
    return mixup_with(X, perm, lam), MixedLabels(y_a=y, y_b=y[perm], lam=lam)
