"""Seeded data augmentation on whole (N, C, H, W) batches, on compiled kernels.

Every function takes a batch ``X`` of shape (N, C, H, W) (float32 or float64)
and returns a NEW array; ``X`` is never modified.  Randomness is drawn here, in
Python, from ``numpy.random.default_rng(seed)``: a handful of per-sample
parameters (offsets, flip flags, factors, boxes), by the ``draw_*`` functions
below, which the ops of :mod:`fastnn.ops.augment` then apply.  So

* the same ``seed`` gives the same output on every call and any thread count;
* ``seed=None`` draws fresh OS entropy (a different result each call);
* :mod:`fastnn.reference.augment` (plain NumPy) draws its parameters with the
  very same ``draw_*`` functions, so it produces the same augmentation for a
  seed.

Functional forms: :func:`random_crop`, :func:`random_resized_crop`,
:func:`hflip`, :func:`color_jitter`, :func:`cutout`, :func:`mixup`.
Pipeline forms: :class:`RandomCrop`, :class:`RandomResizedCrop`,
:class:`HorizontalFlip`, :class:`ColorJitter`, :class:`Cutout`, :class:`Mixup`,
each called as ``X, y = aug(X, y, seed)``; :func:`apply` runs a list of them and
:func:`from_spec` builds a list from a short string such as
``"crop,flip,jitter,cutout"`` (the ``--augment`` command-line option).

Examples
--------
>>> import numpy as np
>>> from fastnn.data import augment as A
>>> X = np.random.default_rng(0).random((128, 3, 32, 32), dtype=np.float32)
>>> Xa = A.hflip(A.random_crop(X, padding=4, seed=1), seed=2)
>>> pipeline = A.from_spec("crop,flip,jitter,cutout")
>>> Xb, yb = A.apply(pipeline, X, np.zeros(128, np.int64), np.random.default_rng(0))
"""
import collections
import math

import numpy as np

from fastnn.ops import augment as _ops
from fastnn.ops._common import float_array, probability, real_number
from fastnn.ops.augment import _nonneg_int, _out_size

__all__ = ["MixedLabels", "random_crop", "random_resized_crop", "hflip", "color_jitter", "cutout",
           "mixup", "RandomCrop", "RandomResizedCrop", "HorizontalFlip", "ColorJitter", "Cutout",
           "Mixup", "apply", "from_spec", "SPEC_NAMES", "draw_crop", "draw_resized_crop",
           "draw_flip", "draw_jitter", "draw_cutout", "draw_mixup"]

MixedLabels = collections.namedtuple("MixedLabels", ["y_a", "y_b", "lam"])
MixedLabels.__doc__ = """Labels of a mixup batch: ``X_mixed = lam * X + (1 - lam) * X[perm]``.

The loss of a mixed batch is ``lam * L(scores, y_a) + (1 - lam) * L(scores, y_b)``
(``y_a = y``, ``y_b = y[perm]``, ``lam`` a float in [0, 1]).
"""


# ---------------------------------------------------------------- argument checks

def _batch(X, fn):
    x = float_array(X, "X", fn)
    if x.ndim != 4:
        raise ValueError(f"{fn}: X must be a 4-d (N, C, H, W) batch, got shape {x.shape}")
    return x


def _rng(seed, fn):
    """The Generator for `seed` (an int >= 0, or None for fresh OS entropy)."""
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{fn}: seed must be an int or None, got {seed!r}")
    if seed < 0:
        raise ValueError(f"{fn}: seed must be >= 0, got {seed}")
    return np.random.default_rng(int(seed))


def _range_pair(v, name, fn, positive=False):
    try:
        lo, hi = v
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: {name} must be a pair (low, high) of numbers, got {v!r}") from None
    lo, hi = real_number(lo, name, fn), real_number(hi, name, fn)
    if lo > hi:
        raise ValueError(f"{fn}: {name} must have low <= high, got {v!r}")
    if positive and lo <= 0:
        raise ValueError(f"{fn}: {name} must be positive, got {v!r}")
    return lo, hi


def _auto_padding(H, W):
    """Default crop padding: an eighth of the smaller side, at least 1 (32x32 -> 4, 8x8 -> 1)."""
    return max(1, min(H, W) // 8)


def _mixup_alpha(alpha, fn):
    """Mixup's Beta(alpha, alpha) parameter as a float > 0."""
    alpha = real_number(alpha, "alpha", fn)
    if alpha <= 0:
        raise ValueError(f"{fn}: alpha must be > 0, got {alpha}")
    return alpha


def _auto_cutout(H, W):
    """Default cutout side: half the smaller side, at least 1 (32x32 -> 16, 8x8 -> 4)."""
    return max(1, min(H, W) // 2)


# ---------------------------------------------------------------- parameter drawing
# Shared with fastnn.reference.augment: the same seed gives the same parameters.

def _generator(rng, fn):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{fn}: rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return rng


def draw_crop(rng, n, H, W, pad, oh, ow):
    """Window origins ``(top, left)`` (int64, shape (n,)) of :func:`random_crop`: uniform over
    every position of an (oh, ow) window in the (H + 2 pad, W + 2 pad) padded image."""
    _generator(rng, "draw_crop")
    top = rng.integers(0, H + 2 * pad - oh + 1, size=n, dtype=np.int64)
    left = rng.integers(0, W + 2 * pad - ow + 1, size=n, dtype=np.int64)
    return top, left


def draw_resized_crop(rng, n, H, W, scale, ratio, attempts=10):
    """Boxes ``(top, left, height, width)`` (int64, shape (n,)) of :func:`random_resized_crop`,
    torchvision's ``RandomResizedCrop.get_params`` per sample: area fraction ~ U(scale), log
    aspect ratio ~ U(log ratio), the first of ``attempts`` tries that fits; when none fits,
    the centre crop of the largest box within ``ratio``."""
    _generator(rng, "draw_resized_crop")
    area = H * W
    target = area * rng.uniform(scale[0], scale[1], size=(n, attempts))
    aspect = np.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1]), size=(n, attempts)))
    w = np.round(np.sqrt(target * aspect)).astype(np.int64)
    h = np.round(np.sqrt(target / aspect)).astype(np.int64)
    ok = (w > 0) & (w <= W) & (h > 0) & (h <= H)
    first = ok.argmax(axis=1)
    found = ok[np.arange(n), first]
    in_ratio = W / H
    if in_ratio < ratio[0]:
        fw, fh = W, min(H, int(round(W / ratio[0])))
    elif in_ratio > ratio[1]:
        fw, fh = min(W, int(round(H * ratio[1]))), H
    else:
        fw, fh = W, H
    bh = np.where(found, h[np.arange(n), first], fh).astype(np.int64)
    bw = np.where(found, w[np.arange(n), first], fw).astype(np.int64)
    top = rng.integers(0, H - bh + 1, dtype=np.int64) if n else np.zeros(0, np.int64)
    left = rng.integers(0, W - bw + 1, dtype=np.int64) if n else np.zeros(0, np.int64)
    top = np.where(found, top, (H - fh) // 2).astype(np.int64)
    left = np.where(found, left, (W - fw) // 2).astype(np.int64)
    return top, left, bh, bw


def draw_flip(rng, n, p):
    """Flip flags of :func:`hflip` (uint8, shape (n,)): 1 with probability ``p`` each."""
    _generator(rng, "draw_flip")
    return (rng.random(n) < p).astype(np.uint8)


def draw_jitter(rng, n, brightness, contrast, saturation):
    """Factors of :func:`color_jitter` (three float64 arrays, shape (n,)), each uniform in
    ``[max(0, 1 - v), 1 + v]`` for its ``v`` (all 1 when v == 0)."""
    _generator(rng, "draw_jitter")
    return tuple(rng.uniform(max(0.0, 1.0 - v), 1.0 + v, size=n)
                 for v in (brightness, contrast, saturation))


def draw_cutout(rng, n, H, W, size):
    """Boxes ``(y0, y1, x0, x1)`` (int64, shape (n,)) of :func:`cutout`: squares of side
    ``size``, centre uniform over the (H, W) image, clipped to it."""
    _generator(rng, "draw_cutout")
    cy = rng.integers(0, max(H, 1), size=n, dtype=np.int64)
    cx = rng.integers(0, max(W, 1), size=n, dtype=np.int64)
    y0, x0 = cy - size // 2, cx - size // 2
    return (np.clip(y0, 0, H), np.clip(y0 + size, 0, H),
            np.clip(x0, 0, W), np.clip(x0 + size, 0, W))


def draw_mixup(rng, n, alpha):
    """``(lam, perm)`` of :func:`mixup`: lam ~ Beta(alpha, alpha) (one per batch) and a
    permutation of the n samples (int64)."""
    _generator(rng, "draw_mixup")
    lam = float(rng.beta(alpha, alpha))
    return lam, rng.permutation(n).astype(np.int64)


# ---------------------------------------------------------------- functional ops

def random_crop(X, padding=4, seed=None, size=None):
    """Zero-pad each image by `padding` and crop a random window.

    Parameters
    ----------
    X : ndarray, float32 or float64, shape (N, C, H, W)
    padding : int >= 0 or None, default 4
        Zeros added on every side before cropping.  None: ``max(1, min(H, W) // 8)``
        (4 for 32x32, 1 for 8x8).
    seed : int or None
        Seeds the window positions (None: fresh OS entropy).
    size : None, int or (int, int)
        Window (OH, OW); default (H, W).  Must fit the padded image.

    Returns
    -------
    ndarray, shape (N, C, OH, OW), X's dtype
        A new array; the window origin is uniform over all positions in the
        padded image, one per sample (the same for every channel).

    Shape
    -----
    (N, C, H, W) -> (N, C, OH, OW)
    """
    fn = "random_crop"
    x = _batch(X, fn)
    N, C, H, W = x.shape
    pad = _auto_padding(H, W) if padding is None else _nonneg_int(padding, "padding", fn)
    oh, ow = _out_size(size, H, W, fn)
    if oh > H + 2 * pad or ow > W + 2 * pad:
        raise ValueError(f"{fn}: crop {oh}x{ow} does not fit the padded image "
                         f"{H + 2 * pad}x{W + 2 * pad} (input {H}x{W}, padding {pad})")
    top, left = draw_crop(_rng(seed, fn), N, H, W, pad, oh, ow)
    return _ops.crop_at(x, top, left, pad, size)


def random_resized_crop(X, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), size=None, seed=None):
    """Crop a random box of random area and aspect ratio, resize it back with bilinear interpolation.

    The box follows torchvision's ``RandomResizedCrop``: area fraction uniform
    in `scale`, aspect ratio (width / height) log-uniform in `ratio`, up to 10
    tries per sample, else the centre crop.  Resizing is bilinear with
    half-pixel centres (``align_corners=False``) and no antialiasing, as
    ``torch.nn.functional.interpolate(mode="bilinear")``; only pixels inside
    the box are read.

    Parameters
    ----------
    X : ndarray, float32 or float64, shape (N, C, H, W)
    scale : (float, float), default (0.08, 1.0)
        Range of the box area as a fraction of H*W, within (0, 1].
    ratio : (float, float), default (3/4, 4/3)
        Range of the box aspect ratio (width / height), positive.
    size : None, int or (int, int)
        Output (OH, OW); default (H, W).
    seed : int or None

    Returns
    -------
    ndarray, shape (N, C, OH, OW), X's dtype

    Shape
    -----
    (N, C, H, W) -> (N, C, OH, OW)
    """
    fn = "random_resized_crop"
    x = _batch(X, fn)
    N, C, H, W = x.shape
    scale = _range_pair(scale, "scale", fn, positive=True)
    if scale[1] > 1:
        raise ValueError(f"{fn}: scale must lie in (0, 1], got {scale!r}")
    ratio = _range_pair(ratio, "ratio", fn, positive=True)
    oh, ow = _out_size(size, H, W, fn)
    if N and (H == 0 or W == 0):
        raise ValueError(f"{fn}: X has empty images ({H}x{W})")
    top, left, bh, bw = draw_resized_crop(_rng(seed, fn), N, H, W, scale, ratio)
    return _ops.resized_crop_at(x, top, left, bh, bw, size)


def hflip(X, p=0.5, seed=None):
    """Flip each image left-right with probability `p`.

    Parameters
    ----------
    X : ndarray, float32 or float64, shape (N, C, H, W)
    p : float in [0, 1], default 0.5
        p=0 returns an exact copy, p=1 flips every image.
    seed : int or None

    Returns
    -------
    ndarray, shape (N, C, H, W), X's dtype

    Shape
    -----
    (N, C, H, W) -> (N, C, H, W)
    """
    fn = "hflip"
    x = _batch(X, fn)
    p = probability(p, fn)
    return _ops.hflip_where(x, draw_flip(_rng(seed, fn), x.shape[0], p))


def _jitter_args(brightness, contrast, saturation, clip, fn):
    b = real_number(brightness, "brightness", fn)
    c = real_number(contrast, "contrast", fn)
    s = real_number(saturation, "saturation", fn)
    for name, v in (("brightness", b), ("contrast", c), ("saturation", s)):
        if v < 0:
            raise ValueError(f"{fn}: {name} must be >= 0, got {v}")
    if clip is not None:
        clip = _range_pair(clip, "clip", fn)
    return b, c, s, clip


def color_jitter(X, brightness=0.0, contrast=0.0, saturation=0.0, seed=None, clip=None):
    """Random brightness, contrast and saturation, one factor of each per image.

    Factors are drawn uniformly in ``[max(0, 1 - v), 1 + v]`` for
    ``v = brightness, contrast, saturation`` and applied in that fixed order,
    with torchvision's definitions:

    * brightness: ``x * b``;
    * contrast: ``c * x + (1 - c) * m``, m the mean grey level of the image
      (grey = 0.299 R + 0.587 G + 0.114 B for C = 3; for other C, the mean over
      all channels and pixels);
    * saturation: ``s * x + (1 - s) * grey(x)`` per pixel; a no-op for C = 1.

    A step whose argument is 0 is skipped (so a NaN pixel spreads to the whole
    image only when contrast is on).  Values are not clamped unless `clip` is
    given; then every step clamps to ``[lo, hi]`` as torchvision does for
    images in [0, 1] (use ``clip=(0, 1)`` for such images).

    Parameters
    ----------
    X : ndarray, float32 or float64, shape (N, C, H, W)
    brightness, contrast, saturation : float >= 0, default 0
    seed : int or None
    clip : None or (float, float)

    Returns
    -------
    ndarray, shape (N, C, H, W), X's dtype

    Shape
    -----
    (N, C, H, W) -> (N, C, H, W); C must be 1 or 3 when saturation > 0.
    """
    fn = "color_jitter"
    x = _batch(X, fn)
    b, c, s, clip = _jitter_args(brightness, contrast, saturation, clip, fn)
    N, C = x.shape[:2]
    if s > 0 and C not in (1, 3):
        raise ValueError(f"{fn}: saturation needs 1 or 3 channels (grey or RGB), got C={C}")
    fb, fc, fs = draw_jitter(_rng(seed, fn), N, b, c, s)
    return _ops.color_jitter_by(x, fb if b > 0 else None, fc if c > 0 else None,
                                fs if s > 0 else None, clip)


def cutout(X, size=None, seed=None):
    """Zero a random `size` x `size` square in every image (all channels).

    The square's centre is uniform over the image; the part outside the image
    is cut off, so a square near a border is smaller (DeVries & Taylor, 2017).

    Parameters
    ----------
    X : ndarray, float32 or float64, shape (N, C, H, W)
    size : int >= 0 or None
        Side of the square; 0 returns a copy.  None: ``max(1, min(H, W) // 2)``
        (16 for 32x32, 4 for 8x8).
    seed : int or None

    Returns
    -------
    ndarray, shape (N, C, H, W), X's dtype

    Shape
    -----
    (N, C, H, W) -> (N, C, H, W)
    """
    fn = "cutout"
    x = _batch(X, fn)
    N, C, H, W = x.shape
    size = _auto_cutout(H, W) if size is None else _nonneg_int(size, "size", fn)
    return _ops.cutout_at(x, *draw_cutout(_rng(seed, fn), N, H, W, size))


def _labels(y, n, fn):
    if y is None:
        raise ValueError(f"{fn}: y is required (mixup mixes the labels too)")
    if isinstance(y, MixedLabels):
        raise ValueError(f"{fn}: y is already a MixedLabels (mixup applied twice?)")
    y = np.asarray(y)
    if y.ndim < 1 or y.shape[0] != n:
        raise ValueError(f"{fn}: y must have one label per sample ({n}), got shape {y.shape}")
    return y


def mixup(X, y, alpha=0.2, seed=None):
    """Mix each image with another of the batch: ``lam * X + (1 - lam) * X[perm]``.

    One ``lam ~ Beta(alpha, alpha)`` for the whole batch and a random
    permutation ``perm`` (Zhang et al., 2018).

    Parameters
    ----------
    X : ndarray, float32 or float64, shape (N, C, H, W)
    y : array, shape (N,) (or (N, ...))
        Labels.
    alpha : float > 0, default 0.2
    seed : int or None

    Returns
    -------
    X_mixed : ndarray, shape (N, C, H, W), X's dtype
    labels : MixedLabels
        ``(y_a=y, y_b=y[perm], lam)``; train with
        ``lam * L(y_a) + (1 - lam) * L(y_b)`` (``fastnn.models.Model.loss``
        accepts a MixedLabels).

    Shape
    -----
    (N, C, H, W) -> (N, C, H, W)
    """
    fn = "mixup"
    x = _batch(X, fn)
    alpha = _mixup_alpha(alpha, fn)
    N = x.shape[0]
    y = _labels(y, N, fn)
    lam, perm = draw_mixup(_rng(seed, fn), N, alpha)
    return _ops.mixup_with(x, perm, lam), MixedLabels(y_a=y, y_b=y[perm], lam=lam)


# ---------------------------------------------------------------- pipeline forms

class _Augmentation:
    """Base of the pipeline forms: ``X, y = aug(X, y, seed)``."""

    _fields = ()

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._fields)
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and all(
            getattr(self, k) == getattr(other, k) for k in self._fields)

    __hash__ = None


class RandomCrop(_Augmentation):
    """:func:`random_crop` as a pipeline step (padding None: an eighth of the image side)."""

    _fields = ("padding", "size")

    def __init__(self, padding=4, size=None):
        if padding is not None:
            _nonneg_int(padding, "padding", "RandomCrop")
        self.padding, self.size = padding, size

    def __call__(self, X, y=None, seed=None):
        return random_crop(X, padding=self.padding, seed=seed, size=self.size), y


class RandomResizedCrop(_Augmentation):
    """:func:`random_resized_crop` as a pipeline step."""

    _fields = ("scale", "ratio", "size")

    def __init__(self, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), size=None):
        _range_pair(scale, "scale", "RandomResizedCrop", positive=True)
        _range_pair(ratio, "ratio", "RandomResizedCrop", positive=True)
        self.scale, self.ratio, self.size = tuple(scale), tuple(ratio), size

    def __call__(self, X, y=None, seed=None):
        return random_resized_crop(X, self.scale, self.ratio, size=self.size, seed=seed), y


class HorizontalFlip(_Augmentation):
    """:func:`hflip` as a pipeline step."""

    _fields = ("p",)

    def __init__(self, p=0.5):
        self.p = probability(p, "HorizontalFlip")

    def __call__(self, X, y=None, seed=None):
        return hflip(X, p=self.p, seed=seed), y


class ColorJitter(_Augmentation):
    """:func:`color_jitter` as a pipeline step."""

    _fields = ("brightness", "contrast", "saturation", "clip")

    def __init__(self, brightness=0.4, contrast=0.4, saturation=0.4, clip=None):
        b, c, s, clip = _jitter_args(brightness, contrast, saturation, clip, "ColorJitter")
        self.brightness, self.contrast, self.saturation, self.clip = b, c, s, clip

    def __call__(self, X, y=None, seed=None):
        return color_jitter(X, self.brightness, self.contrast, self.saturation, seed=seed,
                            clip=self.clip), y


class Cutout(_Augmentation):
    """:func:`cutout` as a pipeline step (size None: half the image side)."""

    _fields = ("size",)

    def __init__(self, size=None):
        if size is not None:
            _nonneg_int(size, "size", "Cutout")
        self.size = size

    def __call__(self, X, y=None, seed=None):
        return cutout(X, size=self.size, seed=seed), y


class Mixup(_Augmentation):
    """:func:`mixup` as a pipeline step: returns ``(X_mixed, MixedLabels)``."""

    _fields = ("alpha",)

    def __init__(self, alpha=0.2):
        self.alpha = _mixup_alpha(alpha, "Mixup")

    def __call__(self, X, y=None, seed=None):
        return mixup(X, y, alpha=self.alpha, seed=seed)


def apply(augment, X, y, rng):
    """Run the pipeline `augment` on a batch.

    Parameters
    ----------
    augment : None, a step, or a list of steps
        Steps are callables ``(X, y, seed) -> (X, y)`` (the classes above).
    X : ndarray, shape (N, C, H, W)
    y : array or None
    rng : numpy.random.Generator
        Each step gets ``seed=int(rng.integers(2**63))``, drawn in order.

    Returns
    -------
    (X, y)
        New X (or X itself when there is no step); y, or a MixedLabels after Mixup.
    """
    if augment is None:
        return X, y
    steps = [augment] if callable(augment) else list(augment)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"apply: rng must be a numpy.random.Generator, got {type(rng).__name__}")
    for step in steps:
        if not callable(step):
            raise TypeError(f"apply: every augmentation step must be callable, got {step!r}")
        X, y = step(X, y, seed=int(rng.integers(2**63)))
    return X, y


# name -> factory of the step with its default settings
SPEC_NAMES = {
    "crop": lambda: RandomCrop(padding=None),
    "resized_crop": lambda: RandomResizedCrop(),
    "flip": lambda: HorizontalFlip(0.5),
    "jitter": lambda: ColorJitter(0.4, 0.4, 0.4),
    "cutout": lambda: Cutout(None),
    "mixup": lambda: Mixup(0.2),
}


def from_spec(spec):
    """A list of pipeline steps from a comma-separated list of names.

    Names and the defaults they get: ``crop`` RandomCrop(padding=None: an
    eighth of the image side), ``resized_crop`` RandomResizedCrop(),
    ``flip`` HorizontalFlip(0.5), ``jitter`` ColorJitter(0.4, 0.4, 0.4),
    ``cutout`` Cutout(None: half the image side), ``mixup`` Mixup(0.2).
    An empty string or ``"none"`` gives an empty list.

    Examples
    --------
    >>> from_spec("crop,flip")
    [RandomCrop(padding=None, size=None), HorizontalFlip(p=0.5)]
    """
    if isinstance(spec, str):
        names = [s.strip().lower() for s in spec.split(",")]
    elif isinstance(spec, (list, tuple)) and all(isinstance(s, str) for s in spec):
        names = [s.strip().lower() for s in spec]
    else:
        raise TypeError(f"from_spec: spec must be a string such as 'crop,flip', got {spec!r}")
    names = [s for s in names if s]
    if names == ["none"]:
        return []
    unknown = [s for s in names if s not in SPEC_NAMES]
    if unknown:
        raise ValueError(f"from_spec: unknown augmentation {unknown[0]!r}; valid names: "
                         f"{', '.join(SPEC_NAMES)}")
    return [SPEC_NAMES[s]() for s in names]

