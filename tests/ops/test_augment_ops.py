"""fastnn.ops.augment (parameters given) against its NumPy twins in fastnn.reference.augment,
on both sides of the threading threshold, in float32 and float64, with bad inputs refused."""
import numpy as np
import pytest

import fastnn
from fastnn import ops, reference
from fastnn.data import augment as A

SHAPES = {"small": (3, 3, 7, 6), "large": (48, 3, 32, 32), "empty": (0, 3, 5, 5)}


def _params(shape, rng):
    """One set of per-sample parameters of every op for a batch of ``shape``."""
    N, C, H, W = shape
    top, left = A.draw_crop(rng, N, H, W, 2, H, W - 1)
    box = A.draw_resized_crop(rng, N, H, W, (0.2, 1.0), (0.5, 2.0))
    flip = A.draw_flip(rng, N, 0.5)
    jitter = A.draw_jitter(rng, N, 0.4, 0.4, 0.4)
    cut = A.draw_cutout(rng, N, H, W, 3)
    lam, perm = A.draw_mixup(rng, N, 0.4)
    return {
        "crop_at": ((top, left, 2, (H, W - 1)), {}),
        "resized_crop_at": (box, {"size": (5, 9)}),
        "hflip_where": ((flip,), {}),
        "color_jitter_by": (jitter, {}),
        "color_jitter_by_clip": (jitter[1:2], {"clip": (0.1, 0.9)}),
        "cutout_at": (cut, {}),
        "mixup_with": ((perm, lam), {}),
    }


@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize("threads", [1, 2])
def test_ops_match_reference(shape, threads, dtype, restore_threads):
    fastnn.set_num_threads(threads)
    rng = np.random.default_rng(7)
    x = rng.random(shape).astype(dtype)
    for name, (args, kwargs) in _params(shape, rng).items():
        fn = name.replace("_clip", "")
        if name == "color_jitter_by_clip":
            kwargs = {"contrast": args[0], **kwargs}
            args = ()
        out = getattr(ops, fn)(x, *args, **kwargs)
        want = getattr(reference, fn)(x, *args, **kwargs)
        assert out.dtype == x.dtype and out.shape == want.shape, name
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(out, want, rtol=tol, atol=tol, err_msg=name)
        assert out is not x


def test_random_forms_are_the_ops_with_drawn_parameters():
    x = np.random.default_rng(0).random((5, 3, 8, 8)).astype(np.float32)
    top, left = A.draw_crop(np.random.default_rng(3), 5, 8, 8, 2, 8, 8)
    np.testing.assert_array_equal(A.random_crop(x, padding=2, seed=3),
                                  ops.crop_at(x, top, left, 2))
    y0, y1, x0, x1 = A.draw_cutout(np.random.default_rng(4), 5, 8, 8, 3)
    np.testing.assert_array_equal(A.cutout(x, size=3, seed=4), ops.cutout_at(x, y0, y1, x0, x1))


def test_known_values():
    x = np.arange(2 * 1 * 3 * 3, dtype=np.float64).reshape(2, 1, 3, 3)
    out = ops.crop_at(x, [0, 2], [1, 0], padding=1, size=2)
    np.testing.assert_array_equal(out[0, 0], [[0, 0], [0, 1]])
    np.testing.assert_array_equal(out[1, 0], [[0, 12], [0, 15]])
    np.testing.assert_array_equal(ops.hflip_where(x, [True, False])[0, 0, 0], [2, 1, 0])
    np.testing.assert_array_equal(ops.hflip_where(x, [True, False])[1], x[1])
    cut = ops.cutout_at(x, [0, 1], [2, 1], [1, 0], [3, 3])
    np.testing.assert_array_equal(cut[0, 0], [[0, 0, 0], [3, 0, 0], [6, 7, 8]])
    np.testing.assert_array_equal(cut[1], x[1])                # an empty box zeroes nothing
    np.testing.assert_allclose(ops.mixup_with(x, [1, 0], 0.25), 0.25 * x + 0.75 * x[::-1])
    full = ops.resized_crop_at(x, [0, 0], [0, 0], [3, 3], [3, 3])
    np.testing.assert_array_equal(full, x)                      # the whole image, same size
    np.testing.assert_allclose(ops.color_jitter_by(x, brightness=[2.0, 0.5]),
                               x * np.array([2.0, 0.5])[:, None, None, None])


X = np.zeros((2, 3, 4, 4), np.float32)
BAD = [
    (ops.crop_at, (X, [0, 0], [0, 5], 1), ValueError, r"crop_at: left\[1\] = 5 is outside \[0, 2\]"),
    (ops.crop_at, (X, [0], [0], 1), ValueError, r"crop_at: top must have shape \(2,\)"),
    (ops.crop_at, (X, [0.5, 0], [0, 0], 1), TypeError, "crop_at: top must be an array of integers"),
    (ops.crop_at, (X, [0, 0], [0, 0], -1), ValueError, "padding must be a non-negative int"),
    (ops.crop_at, (X, [0, 0], [0, 0], 0, 9), ValueError, r"crop 9x9 does not fit the padded"),
    (ops.crop_at, (X[0], [0], [0]), ValueError, r"x must be a 4-d \(N, C, H, W\) batch"),
    (ops.crop_at, (X.astype(int), [0, 0], [0, 0]), TypeError, "x must be a float32 or float64"),
    (ops.resized_crop_at, (X, [0, 0], [0, 0], [0, 4], [4, 4]), ValueError,
     r"height\[0\] = 0 is outside \[1, 4\]"),
    (ops.resized_crop_at, (X, [1, 0], [0, 0], [4, 4], [4, 4]), ValueError,
     r"top\[0\] = 1 is outside \[0, 0\]"),
    (ops.hflip_where, (X, [0, 2]), ValueError, r"flip\[1\] = 2 is outside \[0, 1\]"),
    (ops.hflip_where, (X, [0.0, 1.0]), TypeError, "flip must be an array of booleans"),
    (ops.color_jitter_by, (X, [1.0, np.nan]), ValueError, "brightness factors must be finite"),
    (ops.color_jitter_by, (np.zeros((2, 2, 3, 3)), None, None, [1.0, 1.0]), ValueError,
     "saturation needs 1 or 3 channels"),
    (ops.color_jitter_by, (X, [1.0, 1.0], None, None, (1.0, 0.0)), ValueError,
     "clip must have low <= high"),
    (ops.cutout_at, (X, [2, 0], [1, 0], [0, 0], [0, 0]), ValueError, r"y0\[0\] = 2 is outside"),
    (ops.cutout_at, (X, [0, 0], [5, 0], [0, 0], [0, 0]), ValueError, r"y1\[0\] = 5 is outside"),
    (ops.mixup_with, (X, [0, 2], 0.5), ValueError, r"perm\[1\] = 2 is outside \[0, 1\]"),
    (ops.mixup_with, (X, [0, 1], 1.5), ValueError, r"lam must be in \[0, 1\]"),
]


@pytest.mark.parametrize("fn, args, exc, match", BAD,
                         ids=[f"{b[0].__name__}-{i}" for i, b in enumerate(BAD)])
def test_bad_arguments(fn, args, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args)


def test_draws_want_a_generator():
    with pytest.raises(TypeError, match="draw_crop: rng must be a numpy.random.Generator"):
        A.draw_crop(0, 2, 4, 4, 1, 4, 4)


def test_reference_depends_on_nothing_private():
    import ast
    import inspect

    import fastnn.reference as R
    for mod in [getattr(R, name) for name in ("activations", "affine", "augment", "conv",
                                              "dropout", "losses", "normalization", "pooling")]:
        tree = ast.parse(inspect.getsource(mod))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fastnn"):
                assert not any(part.startswith("_") for part in node.module.split(".")), \
                    (mod.__name__, node.module)
                assert not any(a.name.startswith("_") for a in node.names), \
                    (mod.__name__, [a.name for a in node.names])
