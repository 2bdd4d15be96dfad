"""Batch augmentation ops: deterministic transforms of an (N, C, H, W) batch, given the
per-sample parameters.

The random augmentations of :mod:`fastnn.data.augment` draw these parameters
(window origins, flip flags, jitter factors, boxes, a permutation) from a
seeded generator and call the functions here; :mod:`fastnn.reference.augment`
holds their plain NumPy twins.  Each function returns a new array of the
input's dtype (float32 or float64) and has no backward pass (augmentation
happens before the network).

=================  ===============================================================
crop_at            windows of a zero-padded batch, one origin per sample
resized_crop_at    boxes resized with bilinear interpolation (half-pixel centres)
hflip_where        left-right flip of the samples whose flag is set
color_jitter_by    brightness, contrast, saturation, one factor of each per sample
cutout_at          a zeroed rectangle per sample
mixup_with         ``lam * x + (1 - lam) * x[perm]``
=================  ===============================================================
"""
import math

import numpy as np

from fastnn import _dispatch
from fastnn._kernels import _buffers
from fastnn.ops._common import float_array, num_threads, real_number

__all__ = ["crop_at", "resized_crop_at", "hflip_where", "color_jitter_by", "cutout_at",
           "mixup_with"]


# ---------------------------------------------------------------- argument checks

def _batch(x, fn):
    a = float_array(x, "x", fn)
    if a.ndim != 4:
        raise ValueError(f"{fn}: x must be a 4-d (N, C, H, W) batch, got shape {a.shape}")
    return a


def _per_sample(v, name, n, fn, kind="iu"):
    """``v`` as a contiguous (n,) int64 (kind "iu") or float64 (kind "f") array."""
    a = np.asarray(v)
    if not (a.dtype.kind in kind or (kind == "f" and a.dtype.kind in "iu")):
        what = "integers" if kind == "iu" else "real numbers"
        raise TypeError(f"{fn}: {name} must be an array of {what}, got dtype {a.dtype}")
    if a.shape != (n,):
        raise ValueError(f"{fn}: {name} must have shape ({n},) (one value per sample), "
                         f"got {a.shape}")
    return np.ascontiguousarray(a, dtype=np.int64 if kind == "iu" else np.float64)


def _within(a, lo, hi, name, fn, what):
    """Every element of ``a`` in [lo, hi] (hi may be an array)."""
    if a.size and (np.any(a < lo) or np.any(a > hi)):
        i = int(np.flatnonzero((a < lo) | (a > hi))[0])
        bound = hi[i] if isinstance(hi, np.ndarray) else hi
        raise ValueError(f"{fn}: {name}[{i}] = {a[i]} is outside [{lo}, {bound}] ({what})")


def _nonneg_int(v, name, fn):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{fn}: {name} must be a non-negative int, got {v!r}")
    if v < 0:
        raise ValueError(f"{fn}: {name} must be a non-negative int, got {v}")
    return int(v)


def _out_size(size, H, W, fn):
    """(OH, OW) from size: None -> (H, W), an int s -> (s, s), or a pair."""
    if size is None:
        return H, W
    pair = (size, size) if isinstance(size, (int, np.integer)) and not isinstance(size, bool) \
        else size
    try:
        oh, ow = pair
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: size must be None, an int or a pair (height, width) of ints, "
                        f"got {size!r}") from None
    for v in (oh, ow):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{fn}: size must be positive ints, got {size!r}")
    return int(oh), int(ow)


# ---------------------------------------------------------------- ops

def crop_at(x, top, left, padding=0, size=None):
    """Zero-pad every image by ``padding`` and cut the window of sample n at (top[n], left[n]).

    Parameters
    ----------
    x : ndarray, float32 or float64, shape (N, C, H, W)
    top, left : int arrays, shape (N,)
        Window origins in padded coordinates: ``0 <= top <= H + 2 * padding - OH``
        and ``0 <= left <= W + 2 * padding - OW``.
    padding : int >= 0
    size : None, int or (int, int)
        Window (OH, OW); default (H, W).

    Returns
    -------
    ndarray, shape (N, C, OH, OW): ``out[n, c, i, j] = padded[n, c, top[n] + i, left[n] + j]``.
    """
    fn = "crop_at"
    x = _batch(x, fn)
    N, C, H, W = x.shape
    pad = _nonneg_int(padding, "padding", fn)
    oh, ow = _out_size(size, H, W, fn)
    if oh > H + 2 * pad or ow > W + 2 * pad:
        raise ValueError(f"{fn}: crop {oh}x{ow} does not fit the padded image "
                         f"{H + 2 * pad}x{W + 2 * pad} (input {H}x{W}, padding {pad})")
    top, left = _per_sample(top, "top", N, fn), _per_sample(left, "left", N, fn)
    _within(top, 0, H + 2 * pad - oh, "top", fn, "the window must fit the padded image")
    _within(left, 0, W + 2 * pad - ow, "left", fn, "the window must fit the padded image")
    out = _buffers.empty((N, C, oh, ow), x.dtype)
    _dispatch.kernels.augment.crop(x, out, top, left, pad, num_threads())
    return out


def _taps(start, length, out_len, dtype):
    """Bilinear taps of resizing [start, start + length) to out_len samples, per sample:
    source index i0 and i1 = min(i0 + 1, last) and the weight of i1, with half-pixel centres
    (s = (k + 0.5) * length / out_len - 0.5, clamped at 0), shapes (N, out_len)."""
    s = (np.arange(out_len) + 0.5) * (length[:, None] / out_len) - 0.5
    s = np.maximum(s, 0.0)
    i0 = np.floor(s).astype(np.int64)
    i1 = np.where(i0 < length[:, None] - 1, i0 + 1, i0)
    return start[:, None] + i0, start[:, None] + i1, (s - i0).astype(dtype)


def resized_crop_at(x, top, left, height, width, size=None):
    """Cut box n (top[n], left[n], height[n], width[n]) of every image and resize it to
    (OH, OW), bilinear with half-pixel centres (``align_corners=False``), no antialiasing.

    Parameters
    ----------
    x : ndarray, float32 or float64, shape (N, C, H, W)
    top, left, height, width : int arrays, shape (N,)
        Boxes inside the image: ``height >= 1``, ``top + height <= H`` (likewise columns).
    size : None, int or (int, int)
        Output (OH, OW); default (H, W).

    Returns
    -------
    ndarray, shape (N, C, OH, OW); only pixels inside each box are read.
    """
    fn = "resized_crop_at"
    x = _batch(x, fn)
    N, C, H, W = x.shape
    oh, ow = _out_size(size, H, W, fn)
    top, left = _per_sample(top, "top", N, fn), _per_sample(left, "left", N, fn)
    height, width = _per_sample(height, "height", N, fn), _per_sample(width, "width", N, fn)
    _within(height, 1, H, "height", fn, "a box of at least one row, inside the image")
    _within(width, 1, W, "width", fn, "a box of at least one column, inside the image")
    _within(top, 0, H - height, "top", fn, "top + height must not pass the image's last row")
    _within(left, 0, W - width, "left", fn, "left + width must not pass the image's last column")
    r0, r1, wy = _taps(top, height, oh, x.dtype)
    c0, c1, wx = _taps(left, width, ow, x.dtype)
    out = _buffers.empty((N, C, oh, ow), x.dtype)
    _dispatch.kernels.augment.resized_crop(x, out, r0, r1, wy, c0, c1, wx, num_threads())
    return out


def hflip_where(x, flip):
    """Flip image n left-right where ``flip[n]`` is true; copy it otherwise.

    Parameters
    ----------
    x : ndarray, float32 or float64, shape (N, C, H, W)
    flip : bool or 0/1 array, shape (N,)

    Returns
    -------
    ndarray, shape (N, C, H, W)
    """
    fn = "hflip_where"
    x = _batch(x, fn)
    f = np.asarray(flip)
    if f.dtype.kind not in "biu":
        raise TypeError(f"{fn}: flip must be an array of booleans (or 0/1), got dtype {f.dtype}")
    f = _per_sample(f.astype(np.int64, copy=False), "flip", x.shape[0], fn)
    _within(f, 0, 1, "flip", fn, "a flag")
    out = _buffers.empty(x.shape, x.dtype)
    _dispatch.kernels.augment.hflip(x, out, f.astype(np.uint8), num_threads())
    return out


def color_jitter_by(x, brightness=None, contrast=None, saturation=None, clip=None):
    """Brightness, then contrast, then saturation, with one factor of each per image.

    torchvision's definitions: brightness ``x * b``; contrast ``c * x + (1 - c) * m``,
    m the mean grey level of the image (0.299 R + 0.587 G + 0.114 B for C = 3, the mean
    over all channels and pixels otherwise); saturation ``s * x + (1 - s) * grey(x)`` per
    pixel (a no-op for C = 1).  A step whose factors are None is skipped.

    Parameters
    ----------
    x : ndarray, float32 or float64, shape (N, C, H, W)
    brightness, contrast, saturation : None or float array, shape (N,)
    clip : None or (float, float)
        Clamp to [lo, hi] after every step.

    Returns
    -------
    ndarray, shape (N, C, H, W); C must be 1 or 3 when saturation is given.
    """
    fn = "color_jitter_by"
    x = _batch(x, fn)
    N, C = x.shape[:2]
    factors = []
    for name, v in (("brightness", brightness), ("contrast", contrast),
                    ("saturation", saturation)):
        if v is None:
            factors.append(np.zeros(N))
        else:
            f = _per_sample(v, name, N, fn, kind="f")
            if not np.all(np.isfinite(f)):
                raise ValueError(f"{fn}: {name} factors must be finite")
            factors.append(f)
    if saturation is not None and C not in (1, 3):
        raise ValueError(f"{fn}: saturation needs 1 or 3 channels (grey or RGB), got C={C}")
    if clip is not None:
        try:
            lo, hi = clip
        except (TypeError, ValueError):
            raise TypeError(f"{fn}: clip must be None or a pair (low, high), got {clip!r}") \
                from None
        lo, hi = real_number(lo, "clip", fn), real_number(hi, "clip", fn)
        if lo > hi:
            raise ValueError(f"{fn}: clip must have low <= high, got {clip!r}")
    else:
        lo = hi = 0.0
    out = _buffers.empty(x.shape, x.dtype)
    _dispatch.kernels.augment.color_jitter(x, out, *factors, brightness is not None,
                                           contrast is not None, saturation is not None,
                                           clip is not None, lo, hi, num_threads())
    return out


def cutout_at(x, y0, y1, x0, x1):
    """Zero rows ``y0[n]:y1[n]`` and columns ``x0[n]:x1[n]`` of image n (all channels).

    Parameters
    ----------
    x : ndarray, float32 or float64, shape (N, C, H, W)
    y0, y1, x0, x1 : int arrays, shape (N,)
        ``0 <= y0 <= y1 <= H`` and ``0 <= x0 <= x1 <= W`` (an empty box zeroes nothing).

    Returns
    -------
    ndarray, shape (N, C, H, W)
    """
    fn = "cutout_at"
    x = _batch(x, fn)
    N, _, H, W = x.shape
    y0, y1 = _per_sample(y0, "y0", N, fn), _per_sample(y1, "y1", N, fn)
    x0, x1 = _per_sample(x0, "x0", N, fn), _per_sample(x1, "x1", N, fn)
    _within(y1, 0, H, "y1", fn, "rows of the image")
    _within(y0, 0, y1, "y0", fn, "y0 <= y1")
    _within(x1, 0, W, "x1", fn, "columns of the image")
    _within(x0, 0, x1, "x0", fn, "x0 <= x1")
    out = _buffers.empty(x.shape, x.dtype)
    _dispatch.kernels.augment.cutout(x, out, y0, y1, x0, x1, num_threads())
    return out


def mixup_with(x, perm, lam):
    """``lam * x[n] + (1 - lam) * x[perm[n]]`` for every sample n.

    Parameters
    ----------
    x : ndarray, float32 or float64, shape (N, ...) (an (N, C, H, W) batch or any N rows)
    perm : int array, shape (N,), values in [0, N)
    lam : float in [0, 1]

    Returns
    -------
    ndarray, x's shape
    """
    fn = "mixup_with"
    a = float_array(x, "x", fn)
    if a.ndim < 1:
        raise ValueError(f"{fn}: x must have a sample axis, got a scalar")
    N = a.shape[0]
    perm = _per_sample(perm, "perm", N, fn)
    _within(perm, 0, N - 1, "perm", fn, "a sample of the batch")
    lam = real_number(lam, "lam", fn)
    if not 0 <= lam <= 1:
        raise ValueError(f"{fn}: lam must be in [0, 1], got {lam}")
    out = _buffers.empty(a.shape, a.dtype)
    D = math.prod(a.shape[1:])
    _dispatch.kernels.augment.mixup(a.reshape(N, D), out.reshape(N, D), perm, lam,
                                    num_threads())
    return out
