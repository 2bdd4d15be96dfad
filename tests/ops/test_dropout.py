"""Dropout and DropConnect: the mask (reference, statistics, seeds, threads, SIMD targets), values, gradients, errors."""
import numpy as np
import pytest

import fastnn
from fastnn import _dispatch, ops, reference
from fastnn._dispatch import kernels
from fastnn.gradcheck import eval_numerical_gradient_array, rel_error
from fastnn._kernels import _runtime

from helpers import needs_openmp
from opinfo import tol

_BLOCK = kernels.dropout.BLOCK_SIZE
_MIN = fastnn.get_parallel_threshold("dropout")
SIZES = [1, 7, 17, 1000, _BLOCK - 1, _BLOCK + 3, _MIN - 5, _MIN + 13, 3 * _MIN + 1]


def _x(rng, shape, dtype):
    return np.asarray(rng.standard_normal(shape) * 3, dtype=dtype)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 0.97])
def test_matches_reference_bit_for_bit(n, p, dtype, rng):
    x = _x(rng, n, dtype)
    g = _x(rng, n, dtype)
    out, cache = ops.dropout_forward(x, p, seed=1234 + n)
    dx = ops.dropout_backward(g, cache)
    rout, rcache = reference.dropout_forward(x, p, seed=1234 + n)
    rdx = reference.dropout_backward(g, rcache)
    assert out.dtype == dtype and dx.dtype == dtype and out.shape == x.shape
    assert cache.mask.dtype == np.uint8 and cache.mask.shape == x.shape
    np.testing.assert_array_equal(cache.mask.astype(bool), rcache[0])
    np.testing.assert_array_equal(out, rout)
    np.testing.assert_array_equal(dx, rdx)


@pytest.mark.parametrize("shape", [(), (5,), (3, 4), (2, 3, 5, 7), (0,), (3, 0, 2)])
def test_shapes_0d_odd_empty(shape, dtype, rng):
    x = _x(rng, shape, dtype)
    out, cache = ops.dropout_forward(x, 0.4, seed=7)
    rout, rcache = reference.dropout_forward(x, 0.4, seed=7)
    assert out.shape == x.shape and cache.mask.shape == x.shape
    np.testing.assert_array_equal(out, rout)
    dx = ops.dropout_backward(np.ones(shape, dtype), cache)
    np.testing.assert_array_equal(dx, reference.dropout_backward(np.ones(shape, dtype), rcache))


def test_values_are_inverted_dropout(dtype, rng):
    """Kept units are x / (1 - p), dropped ones exactly 0; dx likewise."""
    p = 0.25
    x = _x(rng, 5000, dtype)
    out, cache = ops.dropout_forward(x, p, seed=3)
    keep = cache.mask.astype(bool)
    scale = dtype(1 / (1 - p))
    np.testing.assert_array_equal(out[keep], x[keep] * scale)
    assert np.all(out[~keep] == 0)
    g = _x(rng, 5000, dtype)
    dx = ops.dropout_backward(g, cache)
    np.testing.assert_array_equal(dx[keep], g[keep] * scale)
    assert np.all(dx[~keep] == 0)
    # the expectation is preserved: mean of out ~ mean of x
    assert abs(out.astype(np.float64).mean() - x.astype(np.float64).mean()) < 0.2


def test_p_zero_is_identity_in_training(dtype, rng):
    x = _x(rng, 3001, dtype)
    out, cache = ops.dropout_forward(x, 0.0, seed=5)
    np.testing.assert_array_equal(out, x)
    assert np.all(cache.mask == 1)
    g = _x(rng, 3001, dtype)
    np.testing.assert_array_equal(ops.dropout_backward(g, cache), g)


def test_p_close_to_one(dtype, rng):
    p = 0.999
    x = np.ones(200_000, dtype)
    out, cache = ops.dropout_forward(x, p, seed=11)
    kept = int(cache.mask.sum())
    n = x.size
    sd = np.sqrt(n * p * (1 - p))
    assert abs(kept - n * (1 - p)) < 4 * sd
    assert kept > 0
    np.testing.assert_allclose(out[cache.mask == 1], 1 / (1 - p), rtol=1e-6)
    assert np.all(out[cache.mask == 0] == 0)


def test_p_one_drops_everything(dtype, rng):
    """p = 1: all-zero output and gradient (PyTorch's definition), no division by zero."""
    x = _x(rng, (4, 9), dtype)
    out, cache = ops.dropout_forward(x, 1.0, seed=1)
    assert out.dtype == dtype and np.all(out == 0) and not np.any(cache.mask)
    dx = ops.dropout_backward(np.ones_like(x), cache)
    assert np.all(dx == 0)
    rout, _ = reference.dropout_forward(x, 1.0, seed=1)
    np.testing.assert_array_equal(out, rout)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_mask_statistics(p):
    """Kept fraction within 4 standard deviations of 1 - p over 10^6 units; neighbours independent."""
    n = 1_000_000
    _, cache = ops.dropout_forward(np.zeros(n, np.float32), p, seed=2024)
    m = cache.mask.astype(bool)
    q = 1 - p
    sd = np.sqrt(n * p * q)
    assert abs(m.sum() - n * q) < 4 * sd
    # neighbours (lag 1, and lag 8192 = the block stride) kept together ~ q^2 times; the
    # variance counts the overlap of chained pairs (i, i+lag), (i+lag, i+2 lag)
    for lag in (1, 8192):
        both = np.count_nonzero(m[:-lag] & m[lag:])
        k = n - lag
        var = k * (q * q * (1 - q * q) + 2 * (q ** 3 - q ** 4))
        assert abs(both - k * q * q) < 4 * np.sqrt(var)
    # two seeds agree like independent draws
    _, other = ops.dropout_forward(np.zeros(n, np.float32), p, seed=2025)
    agree = np.count_nonzero(m == other.mask.astype(bool))
    pa = p * p + q * q
    assert abs(agree - n * pa) < 4 * np.sqrt(n * pa * (1 - pa))


def test_same_seed_same_mask_other_seed_other_mask(rng):
    x = _x(rng, 10_000, np.float64)
    a, ca = ops.dropout_forward(x, 0.5, seed=99)
    b, cb = ops.dropout_forward(x, 0.5, seed=99)
    c, cc = ops.dropout_forward(x, 0.5, seed=100)
    np.testing.assert_array_equal(a, b)
    assert np.count_nonzero(ca.mask != cc.mask) > 4000
    # float32 and float64 use the same mask for a seed
    _, c32 = ops.dropout_forward(x.astype(np.float32), 0.5, seed=99)
    np.testing.assert_array_equal(c32.mask, ca.mask)
    # the mask of element i does not depend on the array's size
    _, short = ops.dropout_forward(x[:777], 0.5, seed=99)
    np.testing.assert_array_equal(short.mask, ca.mask[:777])


def test_seed_none_is_recorded_and_replays(rng):
    x = _x(rng, 5000, np.float32)
    out1, c1 = ops.dropout_forward(x, 0.5)
    out2, c2 = ops.dropout_forward(x, 0.5)
    assert isinstance(c1.seed, int) and 0 <= c1.seed < 2 ** 64
    assert c1.seed != c2.seed
    replay, _ = ops.dropout_forward(x, 0.5, seed=c1.seed)
    np.testing.assert_array_equal(replay, out1)
    assert not np.array_equal(out1, out2)


def test_large_seeds_accepted(rng):
    x = _x(rng, 100, np.float32)
    for seed in (0, 2 ** 63, 2 ** 64 - 1, np.uint64(2 ** 64 - 1), np.int32(5)):
        out, cache = ops.dropout_forward(x, 0.5, seed=seed)
        rout, _ = reference.dropout_forward(x, 0.5, seed=int(seed))
        np.testing.assert_array_equal(out, rout)


@needs_openmp
@pytest.mark.parametrize("n", [_MIN + 13, 10 * _BLOCK + 5])
def test_threads_bit_identical(n, dtype, rng, restore_threads):
    x = _x(rng, n, dtype)
    g = _x(rng, n, dtype)
    res = []
    for t in (1, 2):
        fastnn.set_num_threads(t)
        out, cache = ops.dropout_forward(x, 0.5, seed=77)
        res.append((out, cache.mask, ops.dropout_backward(g, cache)))
    for a, b in zip(*res):
        np.testing.assert_array_equal(a, b)


def test_every_simd_target_gives_the_same_mask(dtype, rng):
    x = _x(rng, 3 * _BLOCK + 11, dtype)
    results = []
    for target in _dispatch.supported_targets():
        with _dispatch.use_target(target):
            out, cache = ops.dropout_forward(x, 0.3, seed=8)
            results.append((out, cache.mask))
    for out, mask in results[1:]:
        np.testing.assert_array_equal(out, results[0][0])
        np.testing.assert_array_equal(mask, results[0][1])


def test_streamed_output_path_matches(rng):
    """Outputs above STREAM_MIN_BYTES go through streaming stores; same values."""
    x = _x(rng, 3 * _BLOCK + 7, np.float32)
    plain, cp = ops.dropout_forward(x, 0.5, seed=4)
    old = _runtime._set_stream_min_bytes(0)
    try:
        streamed, cs = ops.dropout_forward(x, 0.5, seed=4)
        dxs = ops.dropout_backward(x, cs)
    finally:
        _runtime._set_stream_min_bytes(old)
    np.testing.assert_array_equal(streamed, plain)
    np.testing.assert_array_equal(dxs, ops.dropout_backward(x, cp))


def test_eval_mode_is_identity(dtype, rng):
    x = _x(rng, (3, 5), dtype)
    out, cache = ops.dropout_forward(x, 0.5, training=False, seed=1)
    assert out is x
    assert cache.mask is None
    g = _x(rng, (3, 5), dtype)
    np.testing.assert_array_equal(ops.dropout_backward(g, cache), g)
    rout, _ = reference.dropout_forward(x, 0.5, training=False)
    np.testing.assert_array_equal(out, rout)


def test_nan_inf_multiply_like_torch():
    """A dropped NaN or inf gives NaN (x * 0), a kept one stays NaN / inf."""
    x = np.array([np.nan, np.inf, -np.inf, 1.0] * 500, np.float32)
    out, cache = ops.dropout_forward(x, 0.5, seed=6)
    keep = cache.mask.astype(bool)
    kind = np.arange(x.size) % 4
    assert np.all(np.isnan(out[kind == 0]))
    assert np.all(np.isnan(out[(kind > 0) & (kind < 3) & ~keep]))
    np.testing.assert_array_equal(out[(kind == 1) & keep], np.inf)
    np.testing.assert_array_equal(out[(kind == 2) & keep], -np.inf)
    rout, _ = reference.dropout_forward(x, 0.5, seed=6)
    np.testing.assert_array_equal(out, rout)            # NaN == NaN for assert_array_equal
    g = np.full_like(x, np.nan)
    assert np.all(np.isnan(ops.dropout_backward(g, cache)))


def test_torch_semantics_for_kept_and_dropped():
    """Same rule as F.dropout: out is 0 or x / (1 - p); the kept fraction is 1 - p."""
    torch = pytest.importorskip("torch")
    x = np.linspace(1, 2, 100_000, dtype=np.float32)
    p = 0.3
    t = torch.nn.functional.dropout(torch.from_numpy(x), p, training=True).numpy()
    out, cache = ops.dropout_forward(x, p, seed=1)
    for y in (t, out):
        nz = y != 0
        np.testing.assert_allclose(y[nz], x[nz] * np.float32(1 / (1 - p)), rtol=1e-7)
        assert abs(nz.mean() - (1 - p)) < 0.01


def test_gradient_check_float64(rng):
    x = rng.standard_normal((7, 13))
    g = rng.standard_normal((7, 13))
    out, cache = ops.dropout_forward(x, 0.4, seed=21)
    dx = ops.dropout_backward(g, cache)
    num = eval_numerical_gradient_array(lambda v: ops.dropout_forward(v, 0.4, seed=21)[0], x.copy(), g)
    assert rel_error(dx, num) < 1e-7


@pytest.mark.parametrize("p,exc,match", [
    (-0.1, ValueError, r"dropout_forward: p \(the probability of dropping a unit\) must be in \[0, 1\]"),
    (1.5, ValueError, r"must be in \[0, 1\], got 1.5"),
    (float("nan"), ValueError, "p must be a finite number"),
    ("0.5", TypeError, "p must be a real number"),
])
def test_bad_p(p, exc, match):
    with pytest.raises(exc, match=match):
        ops.dropout_forward(np.ones(3), p)


def test_errors(rng):
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match=r"dropout_forward: seed must be in \[0, 2\*\*64\)"):
        ops.dropout_forward(x, 0.5, seed=-1)
    with pytest.raises(ValueError, match="seed must be in"):
        ops.dropout_forward(x, 0.5, seed=2 ** 64)
    with pytest.raises(TypeError, match="seed must be an int or None, got 1.5"):
        ops.dropout_forward(x, 0.5, seed=1.5)
    with pytest.raises(TypeError, match="dropout_forward: training must be True or False"):
        ops.dropout_forward(x, 0.5, training="yes")
    with pytest.raises(TypeError, match="dropout_forward: x must be a float32 or float64 array"):
        ops.dropout_forward(np.ones(3, np.int32), 0.5)
    _, cache = ops.dropout_forward(x, 0.5, seed=1)
    with pytest.raises(ValueError, match=r"dropout_backward: dout has shape \(3, 2\), expected \(2, 3\)"):
        ops.dropout_backward(np.ones((3, 2)), cache)
    _, rcache = ops.relu_forward(x)
    with pytest.raises(ValueError, match="cache comes from relu_forward"):
        ops.dropout_backward(x, rcache)


# ---------------------------------------------------------------- DropConnect

def _dc_inputs(rng, dtype, N=5, shape=(3, 4), M=7):
    x = np.asarray(rng.standard_normal((N,) + shape), dtype)
    D = int(np.prod(shape))
    w = np.asarray(rng.standard_normal((D, M)), dtype)
    b = np.asarray(rng.standard_normal(M), dtype)
    g = np.asarray(rng.standard_normal((N, M)), dtype)
    return x, w, b, g


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("p", [0.0, 0.5, 0.9])
def test_dropconnect_matches_reference(training, p, dtype, rng):
    x, w, b, g = _dc_inputs(rng, dtype)
    out, cache = ops.dropconnect_forward(x, w, b, p, training, seed=31)
    dx, dw, db = ops.dropconnect_backward(g, cache)
    rout, rcache = reference.dropconnect_forward(x, w, b, p, training, seed=31)
    rdx, rdw, rdb = reference.dropconnect_backward(g, rcache)
    assert out.shape == (5, 7) and dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    for a, e in ((out, rout), (dx, rdx), (dw, rdw), (db, rdb)):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, e, **tol(dtype, backward=True))
    if training:
        np.testing.assert_array_equal(cache.mask.astype(bool), reference.dropout_mask(w.shape, p, 31))
        # dropped weights get no gradient
        assert np.all(dw[cache.mask == 0] == 0)
    else:
        assert cache.mask is None
        np.testing.assert_allclose(out, x.reshape(5, -1) @ w + b, **tol(dtype))


def test_dropconnect_drops_weights_not_activations(rng):
    x, w, b, g = _dc_inputs(rng, np.float64)
    p = 0.5
    out, cache = ops.dropconnect_forward(x, w, b, p, seed=3)
    w_eff = w * cache.mask / (1 - p)
    np.testing.assert_allclose(out, x.reshape(5, -1) @ w_eff + b, rtol=1e-12)
    # the mask is dropout's mask of w
    _, dcache = ops.dropout_forward(w, p, seed=3)
    np.testing.assert_array_equal(cache.mask, dcache.mask)


def test_dropconnect_p_one_gives_bias(rng):
    x, w, b, g = _dc_inputs(rng, np.float32)
    out, cache = ops.dropconnect_forward(x, w, b, 1.0, seed=3)
    np.testing.assert_array_equal(out, np.broadcast_to(b, (5, 7)))
    dx, dw, db = ops.dropconnect_backward(g, cache)
    assert np.all(dx == 0) and np.all(dw == 0)
    np.testing.assert_allclose(db, g.sum(0), rtol=1e-6)


@pytest.mark.parametrize("training", [True, False])
def test_dropconnect_gradient_check_float64(training, rng):
    x, w, b, g = _dc_inputs(rng, np.float64, N=4, shape=(5,), M=6)
    out, cache = ops.dropconnect_forward(x, w, b, 0.5, training, seed=12)
    dx, dw, db = ops.dropconnect_backward(g, cache)
    f = lambda xx, ww, bb: ops.dropconnect_forward(xx, ww, bb, 0.5, training, seed=12)[0]  # noqa: E731
    assert rel_error(dx, eval_numerical_gradient_array(lambda v: f(v, w, b), x.copy(), g)) < 1e-7
    assert rel_error(dw, eval_numerical_gradient_array(lambda v: f(x, v, b), w.copy(), g)) < 1e-7
    assert rel_error(db, eval_numerical_gradient_array(lambda v: f(x, w, v), b.copy(), g)) < 1e-7


@needs_openmp
def test_dropconnect_threads_identical(rng, restore_threads):
    x, w, b, g = _dc_inputs(rng, np.float32, N=8, shape=(300,), M=257)   # 77K weights
    res = []
    for t in (1, 2):
        fastnn.set_num_threads(t)
        out, cache = ops.dropconnect_forward(x, w, b, 0.5, seed=5)
        res.append((cache.mask, cache.affine.w) + ops.dropconnect_backward(g, cache)[1:2])
    for a, e in zip(*res):
        np.testing.assert_array_equal(a, e)


def test_dropconnect_errors(rng):
    x, w, b, g = _dc_inputs(rng, np.float64)
    fn = "dropconnect_forward"
    with pytest.raises(ValueError, match=fn + r": w must have shape \(D, M\) with D = 12"):
        ops.dropconnect_forward(x, w[:5], b)
    with pytest.raises(ValueError, match=fn + r": b must have shape \(7,\)"):
        ops.dropconnect_forward(x, w, b[:3])
    with pytest.raises(ValueError, match=fn + ": x must have shape"):
        ops.dropconnect_forward(np.ones(12), w, b)
    with pytest.raises(TypeError, match=fn + ": w has dtype float32 but x has dtype float64"):
        ops.dropconnect_forward(x, w.astype(np.float32), b)
    with pytest.raises(ValueError, match=fn + r": p \(the probability"):
        ops.dropconnect_forward(x, w, b, p=2.0)
    _, cache = ops.dropconnect_forward(x, w, b, seed=1)
    with pytest.raises(ValueError, match=r"dropconnect_backward: dout has shape \(7, 5\)"):
        ops.dropconnect_backward(np.ones((7, 5)), cache)
