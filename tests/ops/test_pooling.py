"""max_pool, avg_pool, global_avg_pool against the NumPy references."""
import numpy as np
import pytest

import fastnn
from fastnn import _dispatch, ops, reference
from fastnn.gradcheck import eval_numerical_gradient_array, rel_error

from helpers import needs_openmp

# (shape, pool_height, pool_width, stride): the 2x2/2 fast path (even and odd
# sizes), overlapping windows, non-square windows, stride > window
POOLS = [
    ((2, 3, 8, 8), 2, 2, 2),
    ((2, 3, 7, 9), 2, 2, 2),
    ((1, 1, 5, 5), 2, 2, 2),
    ((2, 2, 9, 7), 3, 3, 2),
    ((1, 3, 8, 10), 3, 2, 1),
    ((2, 2, 9, 9), 2, 3, 3),
    ((1, 2, 6, 6), 1, 1, 2),
    ((3, 2, 5, 4), 5, 4, 1),
    ((1, 1, 20, 20), 16, 16, 4),     # 256-element window: int32 indices
]
POOL_IDS = ["{}_{}x{}_s{}".format("x".join(map(str, s)), ph, pw, st) for s, ph, pw, st in POOLS]


def _tol(dtype):
    return dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("shape, ph, pw, s", POOLS, ids=POOL_IDS)
def test_max_pool_matches_reference(shape, ph, pw, s, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    out, cache = ops.max_pool_forward(x, ph, pw, s)
    ref, rc = reference.max_pool_forward(x, ph, pw, s)
    assert out.shape == ref.shape == (shape[0], shape[1], (shape[2] - ph) // s + 1, (shape[3] - pw) // s + 1)
    np.testing.assert_array_equal(out, ref)
    assert cache.idx.dtype == (np.uint8 if ph * pw <= 255 else np.int32)
    dout = rng.standard_normal(out.shape).astype(dtype)
    np.testing.assert_allclose(ops.max_pool_backward(dout, cache), reference.max_pool_backward(dout, rc),
                               **_tol(dtype))


@pytest.mark.parametrize("shape, ph, pw, s", POOLS, ids=POOL_IDS)
def test_avg_pool_matches_reference(shape, ph, pw, s, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    out, cache = ops.avg_pool_forward(x, ph, pw, s)
    ref, rc = reference.avg_pool_forward(x, ph, pw, s)
    np.testing.assert_allclose(out, ref, **_tol(dtype))
    dout = rng.standard_normal(out.shape).astype(dtype)
    np.testing.assert_allclose(ops.avg_pool_backward(dout, cache), reference.avg_pool_backward(dout, rc),
                               **_tol(dtype))


@pytest.mark.parametrize("shape, ph, pw, s", [POOLS[0], POOLS[3], POOLS[4]], ids=[POOL_IDS[0], POOL_IDS[3], POOL_IDS[4]])
def test_matches_torch(shape, ph, pw, s, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal(shape)
    dout = rng.standard_normal((shape[0], shape[1], (shape[2] - ph) // s + 1, (shape[3] - pw) // s + 1))
    for fwd, bwd, tf in ((ops.max_pool_forward, ops.max_pool_backward, torch.nn.functional.max_pool2d),
                         (ops.avg_pool_forward, ops.avg_pool_backward, torch.nn.functional.avg_pool2d)):
        out, cache = fwd(x, ph, pw, s)
        tx = torch.from_numpy(x.copy()).requires_grad_()
        tout = tf(tx, (ph, pw), s)
        tout.backward(torch.from_numpy(dout))
        np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(bwd(dout, cache), tx.grad.numpy(), rtol=1e-13, atol=1e-14)


def test_max_pool_ties_go_to_first_maximum(dtype):
    x = np.zeros((1, 1, 4, 4), dtype)        # every window is a 4-way tie
    x[0, 0, 3, 3] = -1
    out, cache = ops.max_pool_forward(x)
    dx = ops.max_pool_backward(np.ones((1, 1, 2, 2), dtype), cache)
    expected = np.zeros((4, 4), dtype)
    expected[::2, ::2] = 1                   # top-left of each window
    np.testing.assert_array_equal(dx[0, 0], expected)
    out, cache = ops.max_pool_forward(x, 3, 3, 1)   # overlapping windows: gradients add up
    dx = ops.max_pool_backward(np.ones((1, 1, 2, 2), dtype), cache)
    assert dx[0, 0, 0, 0] == 1 and dx[0, 0, 0, 1] == 1 and dx[0, 0, 1, 0] == 1 and dx[0, 0, 1, 1] == 1
    assert dx.sum() == 4


@pytest.mark.parametrize("ph, pw, s", [(2, 2, 2), (3, 3, 1)])
def test_max_pool_nan_propagates(ph, pw, s, dtype):
    x = np.arange(36, dtype=dtype).reshape(1, 1, 6, 6)
    x[0, 0, 1, 1] = np.nan
    x[0, 0, 0, 0] = np.inf
    out, cache = ops.max_pool_forward(x, ph, pw, s)
    ref, rc = reference.max_pool_forward(x, ph, pw, s)
    np.testing.assert_array_equal(out, ref)          # NaN where the window holds the NaN
    assert np.isnan(out[0, 0, 0, 0])
    assert np.isnan(out).sum() == (1 if s == 2 else 4)
    dx = ops.max_pool_backward(np.ones(out.shape, dtype), cache)
    assert dx[0, 0, 1, 1] == (1 if s == 2 else 4)    # the NaN takes the gradient, not the +inf
    assert dx[0, 0, 0, 0] == 0
    np.testing.assert_array_equal(dx, reference.max_pool_backward(np.ones(out.shape, dtype), rc))


def test_max_pool_nan_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1] = np.nan
    out = ops.max_pool_forward(x)[0]
    np.testing.assert_array_equal(out, torch.nn.functional.max_pool2d(torch.from_numpy(x), 2, 2).numpy())


def test_avg_pool_inf_nan(dtype):
    x = np.ones((1, 1, 4, 4), dtype)
    x[0, 0, 0, 0] = np.inf
    x[0, 0, 3, 3] = np.nan
    out, _ = ops.avg_pool_forward(x)
    assert np.isinf(out[0, 0, 0, 0]) and np.isnan(out[0, 0, 1, 1]) and out[0, 0, 0, 1] == 1


def test_gradient_check_float64(rng):
    x = rng.standard_normal((2, 2, 7, 6))
    # avg pools are linear: a 1e-3 step has no truncation error and less rounding
    # error than 1e-6; max pool keeps a small step (it must not cross a tie)
    for fwd, bwd, args, h in ((ops.max_pool_forward, ops.max_pool_backward, (3, 2, 2), 1e-6),
                              (ops.avg_pool_forward, ops.avg_pool_backward, (3, 2, 1), 1e-3)):
        out, cache = fwd(x, *args)
        dout = rng.standard_normal(out.shape)
        num = eval_numerical_gradient_array(lambda v: fwd(v, *args)[0], x, dout, h=h)
        assert rel_error(bwd(dout, cache), num) < 1e-7
    out, cache = ops.global_avg_pool_forward(x)
    dout = rng.standard_normal(out.shape)
    num = eval_numerical_gradient_array(lambda v: ops.global_avg_pool_forward(v)[0], x, dout, h=1e-3)
    assert rel_error(ops.global_avg_pool_backward(dout, cache), num) < 1e-7


@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (4, 16, 32, 32), (1, 1, 1, 1)])
def test_global_avg_pool(shape, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    out, cache = ops.global_avg_pool_forward(x)
    ref, rc = reference.global_avg_pool_forward(x)
    assert out.shape == shape[:2]
    np.testing.assert_allclose(out, ref, **_tol(dtype))
    dout = rng.standard_normal(out.shape).astype(dtype)
    np.testing.assert_allclose(ops.global_avg_pool_backward(dout, cache),
                               reference.global_avg_pool_backward(dout, rc), **_tol(dtype))


def test_empty_inputs(dtype):
    x = np.zeros((0, 3, 4, 4), dtype)
    for fwd, bwd in ((ops.max_pool_forward, ops.max_pool_backward),
                     (ops.avg_pool_forward, ops.avg_pool_backward)):
        out, cache = fwd(x)
        assert out.shape == (0, 3, 2, 2)
        assert bwd(out, cache).shape == x.shape
    out, cache = ops.global_avg_pool_forward(x)
    assert out.shape == (0, 3) and ops.global_avg_pool_backward(out, cache).shape == x.shape
    out, cache = ops.global_avg_pool_forward(np.zeros((2, 3, 0, 4), dtype))
    assert np.isnan(out).all() and out.shape == (2, 3)


@needs_openmp
@pytest.mark.parametrize("ph, pw, s", [(2, 2, 2), (3, 3, 2)])
def test_one_and_two_threads_identical(ph, pw, s, rng, restore_threads):
    x = rng.standard_normal((4, 8, 33, 32)).astype(np.float32)     # above the threading threshold
    res = []
    for nt in (1, 2):
        fastnn.set_num_threads(nt)
        out, cache = ops.max_pool_forward(x, ph, pw, s)
        aout, acache = ops.avg_pool_forward(x, ph, pw, s)
        g = np.ones_like(out)
        gout, gcache = ops.global_avg_pool_forward(x)
        res.append((out, ops.max_pool_backward(g, cache), aout, ops.avg_pool_backward(g, acache),
                    gout, ops.global_avg_pool_backward(gout, gcache)))
    for a, e in zip(*res):
        np.testing.assert_array_equal(a, e)


def test_sizes_around_threshold(rng):
    thr = 32768
    old = fastnn.set_parallel_threshold("pooling", thr)
    try:
        for shape in [(1, 2, 8, 8), (4, 16, 32, 32)]:
            x = rng.standard_normal(shape)
            assert (x.size < thr) == (shape[0] == 1)
            np.testing.assert_array_equal(ops.max_pool_forward(x)[0],
                                          reference.max_pool_forward(x)[0])
    finally:
        fastnn.set_parallel_threshold("pooling", old)


def test_every_simd_target(rng):
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    ref = reference.max_pool_forward(x)[0]
    for target in _dispatch.supported_targets():
        with _dispatch.use_target(target):
            np.testing.assert_array_equal(ops.max_pool_forward(x)[0], ref)


@pytest.mark.parametrize("fn", ["max_pool_forward", "avg_pool_forward"])
@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(pool_height=6), ValueError, r"pool window 6x2 does not fit input 5x5"),
    (dict(stride=0), ValueError, r"stride must be a positive integer, got 0"),
    (dict(pool_width=2.0), TypeError, r"pool_width must be an integer, got 2.0"),
    (dict(x_shape=(5, 5)), ValueError, r"x must have shape \(N, C, H, W\)"),
    (dict(stride=10**30), ValueError,
     r"stride must be at most 2147483647 \(an integer in 1..2147483647\), got 10{30}"),
    (dict(stride=2**63), ValueError, r"stride must be at most 2147483647"),
    (dict(pool_height=2**70), ValueError, r"pool_height must be at most 2147483647"),
])
def test_errors(fn, kwargs, exc, match):
    kwargs = dict(kwargs)
    x = np.zeros(kwargs.pop("x_shape", (1, 1, 5, 5)))
    with pytest.raises(exc, match=f"{fn}: " + match):
        getattr(ops, fn)(x, **kwargs)


def test_backward_errors():
    out, cache = ops.max_pool_forward(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"max_pool_backward: dout has shape \(1, 1, 3, 3\)"):
        ops.max_pool_backward(np.zeros((1, 1, 3, 3)), cache)
    with pytest.raises(ValueError, match="avg_pool_backward: cache comes from max_pool_forward"):
        ops.avg_pool_backward(out, cache)
    with pytest.raises(TypeError, match="global_avg_pool_forward: x must be a float32 or float64 array"):
        ops.global_avg_pool_forward(np.zeros((1, 1, 2, 2), np.int64))


@pytest.mark.parametrize("cls", ["MaxPool2d", "AvgPool2d"])
@pytest.mark.parametrize("kwargs, arg", [(dict(stride=10**30), "stride"),
                                         (dict(kernel_size=2**70), "kernel_size"),
                                         (dict(kernel_size=(2, 2**64)), "kernel_size"),
                                         (dict(stride=0), "stride")])
def test_pool_layers_validate_at_construction(cls, kwargs, arg):
    from fastnn import layers
    with pytest.raises(ValueError, match=rf"{cls}: {arg} must be"):
        getattr(layers, cls)(**kwargs)
