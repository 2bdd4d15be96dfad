"""Augmentation ops (fastnn.data.augment) against their NumPy reference, plus semantics and errors."""
import numpy as np
import pytest

import fastnn
from fastnn import _dispatch
from fastnn import reference as R
from fastnn.data import augment as A

# (op, kwargs): every functional op except mixup (it takes y too)
OPS = [
    ("random_crop", {"padding": 4}),
    ("random_crop", {"padding": 0}),
    ("random_crop", {"padding": 2, "size": (5, 11)}),
    ("random_crop", {"padding": None}),
    ("random_resized_crop", {}),
    ("random_resized_crop", {"scale": (0.5, 1.0), "size": (12, 7)}),
    ("hflip", {}),
    ("color_jitter", {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4}),
    ("color_jitter", {"brightness": 0.8, "contrast": 0.3, "saturation": 0.6, "clip": (0.0, 1.0)}),
    ("color_jitter", {"contrast": 0.5}),
    ("cutout", {"size": 5}),
    ("cutout", {}),
]
OP_IDS = [name + "".join(f"-{k}={v}" for k, v in kw.items()) for name, kw in OPS]

# one batch below the kernels' default threading threshold ("augment" = 196608 elements), one above
SHAPES = [(4, 3, 8, 8), (72, 3, 32, 32)]


def tol(dtype):
    return dict(rtol=2e-6, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


def batch(shape, dtype, rng):
    return rng.random(shape).astype(dtype)


@pytest.mark.parametrize("shape", SHAPES, ids=["small", "large"])
@pytest.mark.parametrize("name,kw", OPS, ids=OP_IDS)
def test_agrees_with_reference(name, kw, shape, dtype, rng):
    X = batch(shape, dtype, rng)
    X0 = X.copy()
    out = getattr(A, name)(X, seed=7, **kw)
    ref = getattr(R, name)(X, seed=7, **kw)
    assert out.dtype == dtype and out.shape == ref.shape
    np.testing.assert_allclose(out, ref, **tol(dtype))
    np.testing.assert_array_equal(X, X0)        # the input is never modified
    assert not np.shares_memory(out, X)


@pytest.mark.parametrize("target", _dispatch.supported_targets())
@pytest.mark.parametrize("name,kw", OPS, ids=OP_IDS)
def test_every_simd_target(name, kw, target, dtype, rng):
    X = batch(SHAPES[1], dtype, rng)
    with _dispatch.use_target(target):
        out = getattr(A, name)(X, seed=8, **kw)
        mixed = A.mixup(X, np.arange(len(X)), seed=8)[0]
    np.testing.assert_allclose(out, getattr(R, name)(X, seed=8, **kw), **tol(dtype))
    np.testing.assert_allclose(mixed, R.mixup(X, np.arange(len(X)), seed=8)[0], **tol(dtype))


@pytest.mark.parametrize("shape", SHAPES, ids=["small", "large"])
def test_mixup_agrees_with_reference(shape, dtype, rng):
    X = batch(shape, dtype, rng)
    y = np.arange(shape[0])
    out, lab = A.mixup(X, y, alpha=0.4, seed=3)
    ref, rlab = R.mixup(X, y, alpha=0.4, seed=3)
    np.testing.assert_allclose(out, ref, **tol(dtype))
    assert lab.lam == rlab.lam and 0 <= lab.lam <= 1
    np.testing.assert_array_equal(lab.y_a, y)
    np.testing.assert_array_equal(lab.y_b, rlab.y_b)
    # y = arange: y_b is the permutation itself
    assert sorted(lab.y_b) == list(y)
    lam = dtype(lab.lam)
    np.testing.assert_allclose(out, lam * X + dtype(1 - lab.lam) * X[lab.y_b], **tol(dtype))


@pytest.mark.parametrize("name,kw", OPS, ids=OP_IDS)
def test_seeded(name, kw, rng):
    X = batch((32, 3, 12, 12), np.float32, rng)
    f = getattr(A, name)
    a, b, c = f(X, seed=1, **kw), f(X, seed=1, **kw), f(X, seed=2, **kw)
    np.testing.assert_array_equal(a, b)
    if kw != {"padding": 0}:        # a full-size crop without padding has one position only
        assert not np.array_equal(a, c)


def test_mixup_seeded(rng):
    X, y = batch((32, 3, 8, 8), np.float64, rng), np.arange(32)
    (a, la), (b, lb), (c, lc) = (A.mixup(X, y, seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a, b)
    assert la.lam == lb.lam and not np.array_equal(a, c)


@pytest.mark.parametrize("name,kw", OPS, ids=OP_IDS)
def test_threads_identical(name, kw, dtype, rng, restore_threads):
    X = batch(SHAPES[1], dtype, rng)
    fastnn.set_num_threads(1)
    one = getattr(A, name)(X, seed=5, **kw)
    fastnn.set_num_threads(2)
    two = getattr(A, name)(X, seed=5, **kw)
    np.testing.assert_array_equal(one, two)


def test_mixup_threads_identical(rng, restore_threads):
    X, y = batch(SHAPES[1], np.float32, rng), np.arange(SHAPES[1][0])
    fastnn.set_num_threads(1)
    one = A.mixup(X, y, seed=5)[0]
    fastnn.set_num_threads(2)
    np.testing.assert_array_equal(one, A.mixup(X, y, seed=5)[0])


@pytest.mark.parametrize("name,kw", OPS, ids=OP_IDS)
def test_empty_batch(name, kw, dtype):
    X = np.zeros((0, 3, 10, 10), dtype)
    out = getattr(A, name)(X, seed=0, **kw)
    assert out.shape[0] == 0 and out.shape[1] == 3 and out.dtype == dtype
    out, lab = A.mixup(X, np.zeros(0, np.int64), seed=0)
    assert out.shape == X.shape and lab.y_b.shape == (0,)


@pytest.mark.parametrize("name,kw", OPS, ids=OP_IDS)
def test_empty_images(name, kw):
    X = np.zeros((2, 3, 0, 0), np.float32)
    if name == "random_resized_crop":
        with pytest.raises(ValueError, match=r"random_resized_crop: X has empty images \(0x0\)"):
            A.random_resized_crop(X, seed=0, **kw)
        return
    if name == "random_crop" and "size" in kw:
        kw = {"padding": 3, "size": 4}
    out = getattr(A, name)(X, seed=0, **kw)
    assert out.shape[:2] == (2, 3) and not out.any()


def test_non_contiguous_input(rng):
    X = batch((8, 3, 10, 10), np.float64, rng)
    Xv = X[:, :, ::-1]
    np.testing.assert_array_equal(A.random_crop(Xv, 2, seed=1), R.random_crop(np.ascontiguousarray(Xv), 2, seed=1))


# ---------------------------------------------------------------- semantics of each op

def test_crop_padding0_full_size_is_identity(dtype, rng):
    X = batch((6, 3, 9, 7), dtype, rng)
    out = A.random_crop(X, padding=0, seed=1)
    np.testing.assert_array_equal(out, X)
    assert out is not X


def test_crop_is_a_window_of_the_padded_image(rng):
    X = batch((20, 2, 6, 5), np.float64, rng) + 1          # no zeros inside the images
    pad = 3
    out = A.random_crop(X, padding=pad, seed=4)
    P = np.pad(X, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    for n in range(len(X)):
        hits = [(t, l) for t in range(2 * pad + 1) for l in range(2 * pad + 1)
                if np.array_equal(P[n, :, t:t + 6, l:l + 5], out[n])]
        assert hits, f"sample {n} is not a window of its padded image"
    assert (out == 0).any()                                # some padding shows


def test_crop_auto_padding(rng):
    X = batch((4, 1, 8, 8), np.float32, rng)
    np.testing.assert_array_equal(A.random_crop(X, padding=None, seed=2),
                                  A.random_crop(X, padding=1, seed=2))


def test_resized_crop_full_box_is_identity(dtype, rng):
    X = batch((5, 3, 6, 9), dtype, rng)
    out = A.random_resized_crop(X, scale=(1.0, 1.0), ratio=(9 / 6, 9 / 6), seed=0)
    np.testing.assert_array_equal(out, X)


def test_resized_crop_matches_torch_interpolate(rng):
    torch = pytest.importorskip("torch")
    X = batch((12, 3, 16, 16), np.float64, rng)
    out = A.random_resized_crop(X, size=(20, 11), seed=9)
    top, left, h, w = A.draw_resized_crop(np.random.default_rng(9), 12, 16, 16, (0.08, 1.0),
                                           (3 / 4, 4 / 3))
    for n in range(12):
        box = torch.from_numpy(X[n:n + 1, :, top[n]:top[n] + h[n], left[n]:left[n] + w[n]].copy())
        t = torch.nn.functional.interpolate(box, size=(20, 11), mode="bilinear", align_corners=False)
        np.testing.assert_allclose(out[n], t[0].numpy(), rtol=1e-12, atol=1e-12)


def test_resized_crop_boxes_follow_scale_and_ratio():
    top, left, h, w = A.draw_resized_crop(np.random.default_rng(0), 2000, 32, 32, (0.25, 0.5), (0.5, 2.0))
    assert (top >= 0).all() and (left >= 0).all()
    assert (top + h <= 32).all() and (left + w <= 32).all()
    area = h * w / 1024
    assert area.min() > 0.2 and area.max() < 0.56         # rounding of w and h widens it a little
    assert (w / h).min() > 0.45 and (w / h).max() < 2.2


def test_resized_crop_fallback_is_centre_crop():
    # a wide image and ratios it cannot satisfy with 10 tries: the centre crop of ratio 1
    top, left, h, w = A.draw_resized_crop(np.random.default_rng(0), 3, 4, 40, (1.0, 1.0), (1.0, 1.0))
    assert list(h) == [4] * 3 and list(w) == [4] * 3 and list(left) == [18] * 3 and list(top) == [0] * 3


def test_flip_p0_p1_exact(dtype, rng):
    X = batch((10, 3, 5, 7), dtype, rng)
    np.testing.assert_array_equal(A.hflip(X, p=0.0, seed=1), X)
    np.testing.assert_array_equal(A.hflip(X, p=1.0, seed=1), X[..., ::-1])


def test_flip_flips_about_half(rng):
    X = batch((400, 1, 2, 3), np.float32, rng)
    out = A.hflip(X, seed=0)
    flipped = np.array([np.array_equal(o, x[..., ::-1]) for o, x in zip(out, X)])
    kept = np.array([np.array_equal(o, x) for o, x in zip(out, X)])
    assert (flipped ^ kept).all()
    assert 150 < flipped.sum() < 250


def test_jitter_all_zero_is_copy(dtype, rng):
    X = batch((4, 3, 5, 5), dtype, rng)
    np.testing.assert_array_equal(A.color_jitter(X, seed=1), X)


def test_jitter_brightness_scales_each_image(rng):
    X = batch((50, 3, 4, 4), np.float64, rng) + 0.5
    out = A.color_jitter(X, brightness=0.3, seed=2)
    f = out / X
    np.testing.assert_allclose(f, f[:, :1, :1, :1] * np.ones_like(f), rtol=1e-12)
    assert f.min() >= 0.7 - 1e-12 and f.max() <= 1.3 + 1e-12 and f.std() > 0.05


def test_jitter_contrast_keeps_mean_grey(rng):
    X = batch((20, 3, 6, 6), np.float64, rng)
    out = A.color_jitter(X, contrast=0.8, seed=3)
    grey = lambda a: (0.299 * a[:, 0] + 0.587 * a[:, 1] + 0.114 * a[:, 2]).mean(axis=(1, 2))  # noqa: E731
    np.testing.assert_allclose(grey(out), grey(X), rtol=1e-12)
    assert not np.allclose(out, X)


def test_jitter_saturation_keeps_grey_and_is_noop_for_one_channel(rng):
    X = batch((20, 3, 6, 6), np.float64, rng)
    out = A.color_jitter(X, saturation=0.9, seed=3)
    grey = lambda a: 0.299 * a[:, 0] + 0.587 * a[:, 1] + 0.114 * a[:, 2]  # noqa: E731
    np.testing.assert_allclose(grey(out), grey(X), rtol=1e-12, atol=1e-14)
    G = batch((5, 1, 6, 6), np.float32, rng)
    np.testing.assert_array_equal(A.color_jitter(G, saturation=0.9, seed=3), G)


def test_jitter_clip_and_no_clip(rng):
    X = batch((30, 3, 8, 8), np.float32, rng)
    big = A.color_jitter(X, brightness=0.9, contrast=0.9, saturation=0.9, seed=1)
    assert big.max() > 1 or big.min() < 0                   # not clamped by default
    out = A.color_jitter(X, brightness=0.9, contrast=0.9, saturation=0.9, seed=1, clip=(0.0, 1.0))
    assert out.min() >= 0 and out.max() <= 1


def test_cutout_zeroes_one_clipped_square(dtype, rng):
    X = batch((40, 3, 10, 10), dtype, rng) + 1
    out = A.cutout(X, size=4, seed=6)
    zero = out == 0
    assert (zero == zero[:, :1]).all()                      # same square in every channel
    for n in range(40):
        rows, cols = np.nonzero(zero[n, 0])
        assert len(rows) > 0
        assert rows.max() - rows.min() < 4 and cols.max() - cols.min() < 4
        assert len(rows) == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    np.testing.assert_array_equal(out[~zero], X[~zero])
    assert (zero[:, 0].sum(axis=(1, 2)) == 16).any() and (zero[:, 0].sum(axis=(1, 2)) < 16).any()


def test_cutout_size0_and_huge(rng):
    X = batch((5, 2, 6, 6), np.float64, rng)
    np.testing.assert_array_equal(A.cutout(X, size=0, seed=1), X)
    assert (A.cutout(X, size=12, seed=1) == 0).all()       # side 2H covers the image from any centre
    np.testing.assert_array_equal(A.cutout(X, seed=1), A.cutout(X, size=3, seed=1))


# ---------------------------------------------------------------- NaN

def test_nan_moves_with_its_pixel(dtype):
    X = np.ones((2, 3, 5, 5), dtype)
    X[:, 1, 2, 0] = np.nan
    out = A.hflip(X, p=1.0, seed=0)
    assert np.isnan(out[:, 1, 2, 4]).all() and np.isnan(out).sum() == 2
    out = A.color_jitter(X, brightness=0.5, saturation=0.5, seed=0)
    # saturation mixes the three channels of a pixel: the NaN reaches that pixel's channels only
    assert np.isnan(out[:, :, 2, 0]).all() and np.isnan(out).sum() == 6
    out = A.color_jitter(X, contrast=0.5, seed=0)
    assert np.isnan(out).all()                              # the image mean is NaN (as torchvision)
    out = A.random_crop(X, padding=0, seed=0)
    assert np.isnan(out[:, 1, 2, 0]).all() and np.isnan(out).sum() == 2
    out = A.cutout(X, size=0, seed=0)
    assert np.isnan(out).sum() == 2


def test_nan_in_mixup_reaches_its_partner(dtype):
    X = np.ones((6, 1, 2, 2), dtype)
    X[2, 0, 0, 0] = np.nan
    out, lab = A.mixup(X, np.arange(6), seed=1)
    bad = {2, int(np.flatnonzero(lab.y_b == 2)[0])}
    assert {n for n in range(6) if np.isnan(out[n]).any()} == bad


# ---------------------------------------------------------------- pipeline forms

def test_apply_runs_steps_with_seeds_from_rng(rng):
    X, y = batch((16, 3, 8, 8), np.float32, rng), np.arange(16)
    steps = [A.RandomCrop(2), A.HorizontalFlip(), A.ColorJitter(0.2, 0.2, 0.2), A.Cutout(3), A.Mixup(0.5)]
    Xa, ya = A.apply(steps, X, y, np.random.default_rng(11))
    g = np.random.default_rng(11)
    s = [int(g.integers(2**63)) for _ in steps]
    Xe = A.random_crop(X, 2, seed=s[0])
    Xe = A.hflip(Xe, 0.5, seed=s[1])
    Xe = A.color_jitter(Xe, 0.2, 0.2, 0.2, seed=s[2])
    Xe = A.cutout(Xe, 3, seed=s[3])
    Xe, ye = A.mixup(Xe, y, 0.5, seed=s[4])
    np.testing.assert_array_equal(Xa, Xe)
    assert isinstance(ya, A.MixedLabels) and ya.lam == ye.lam
    np.testing.assert_array_equal(ya.y_b, ye.y_b)


def test_apply_none_and_single_step(rng):
    X, y = batch((4, 1, 4, 4), np.float64, rng), np.arange(4)
    Xa, ya = A.apply(None, X, y, np.random.default_rng(0))
    assert Xa is X and ya is y
    Xa, ya = A.apply(A.HorizontalFlip(1.0), X, y, np.random.default_rng(0))
    np.testing.assert_array_equal(Xa, X[..., ::-1])
    with pytest.raises(TypeError, match="apply: rng must be a numpy.random.Generator"):
        A.apply([A.HorizontalFlip()], X, y, 3)


def test_repr_and_from_spec():
    assert repr(A.RandomCrop(4)) == "RandomCrop(padding=4, size=None)"
    assert repr(A.HorizontalFlip(0.3)) == "HorizontalFlip(p=0.3)"
    assert repr(A.Mixup()) == "Mixup(alpha=0.2)"
    steps = A.from_spec("crop, flip,jitter,cutout")
    assert steps == [A.RandomCrop(None), A.HorizontalFlip(0.5), A.ColorJitter(0.4, 0.4, 0.4), A.Cutout(None)]
    assert [type(s) for s in A.from_spec("resized_crop,mixup")] == [A.RandomResizedCrop, A.Mixup]
    assert A.from_spec("") == [] and A.from_spec("none") == []
    with pytest.raises(ValueError, match="unknown augmentation 'rotate'; valid names: crop, resized_crop, "
                                         "flip, jitter, cutout, mixup"):
        A.from_spec("crop,rotate")
    with pytest.raises(TypeError, match="from_spec: spec must be a string"):
        A.from_spec(3)


def test_mixed_labels_is_exported():
    assert "MixedLabels" in fastnn.data.__all__
    assert A.MixedLabels._fields == ("y_a", "y_b", "lam")


# ---------------------------------------------------------------- errors

X4 = np.zeros((2, 3, 8, 8), np.float32)


@pytest.mark.parametrize("call,exc,match", [
    (lambda: A.random_crop(np.zeros((3, 8, 8), np.float32)), ValueError,
     r"random_crop: X must be a 4-d \(N, C, H, W\) batch, got shape \(3, 8, 8\)"),
    (lambda: A.hflip(np.zeros((2, 3, 8, 8), np.uint8)), TypeError,
     "hflip: X must be a float32 or float64 array, got dtype uint8"),
    (lambda: A.random_crop(X4, padding=-1), ValueError, "random_crop: padding must be a non-negative int"),
    (lambda: A.random_crop(X4, padding=1.5), TypeError, "random_crop: padding must be a non-negative int"),
    (lambda: A.random_crop(X4, padding=1, size=11), ValueError,
     "random_crop: crop 11x11 does not fit the padded image 10x10"),
    (lambda: A.random_crop(X4, size=(0, 3)), ValueError, "random_crop: size must be positive ints"),
    (lambda: A.random_crop(X4, size="big"), TypeError, "random_crop: size must be None, an int or a pair"),
    (lambda: A.random_crop(X4, seed=-1), ValueError, "random_crop: seed must be >= 0"),
    (lambda: A.random_crop(X4, seed=1.0), TypeError, "random_crop: seed must be an int or None"),
    (lambda: A.random_resized_crop(X4, scale=(0.5, 1.5)), ValueError,
     r"random_resized_crop: scale must lie in \(0, 1\]"),
    (lambda: A.random_resized_crop(X4, ratio=(2, 1)), ValueError,
     "random_resized_crop: ratio must have low <= high"),
    (lambda: A.random_resized_crop(X4, ratio=(0, 1)), ValueError, "random_resized_crop: ratio must be positive"),
    (lambda: A.hflip(X4, p=1.5), ValueError, r"hflip: p must be in \[0, 1\], got 1.5"),
    (lambda: A.color_jitter(X4, brightness=-0.1), ValueError, "color_jitter: brightness must be >= 0"),
    (lambda: A.color_jitter(np.zeros((2, 2, 4, 4)), saturation=0.5), ValueError,
     "color_jitter: saturation needs 1 or 3 channels"),
    (lambda: A.color_jitter(X4, clip=(1, 0)), ValueError, "color_jitter: clip must have low <= high"),
    (lambda: A.cutout(X4, size=-2), ValueError, "cutout: size must be a non-negative int"),
    (lambda: A.mixup(X4, None), ValueError, "mixup: y is required"),
    (lambda: A.mixup(X4, [1, 2, 3]), ValueError, r"mixup: y must have one label per sample \(2\)"),
    (lambda: A.mixup(X4, [0, 1], alpha=0), ValueError, "mixup: alpha must be > 0"),
    (lambda: A.mixup(X4, A.MixedLabels([0, 1], [1, 0], 0.5)), ValueError, "already a MixedLabels"),
    (lambda: A.HorizontalFlip(2), ValueError, r"HorizontalFlip: p must be in \[0, 1\]"),
    (lambda: A.Mixup(-1), ValueError, "Mixup: alpha must be > 0"),
    (lambda: A.Cutout(-1), ValueError, "Cutout: size must be a non-negative int"),
    (lambda: A.ColorJitter(brightness=-1), ValueError, "ColorJitter: brightness must be >= 0"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
