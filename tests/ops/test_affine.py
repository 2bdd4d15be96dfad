"""Affine layer: reference, gradient check, shapes, NaN, threads, errors."""
import numpy as np
import pytest

from fastnn import _dispatch, ops, reference
from fastnn.gradcheck import eval_numerical_gradient_array, rel_error

from helpers import needs_openmp

CASES = [((4, 5), 3), ((2, 4, 5, 6), 10), ((1, 7), 1), ((300, 129), 257), ((3, 2, 2), 0),
         ((0, 6), 4), ((64, 3072), 1000)]


@pytest.mark.parametrize("xshape,M", CASES, ids=lambda s: "x".join(map(str, s)) if isinstance(s, tuple) else str(s))
def test_affine_matches_reference(xshape, M, dtype, rng):
    D = int(np.prod(xshape[1:]))
    x = rng.standard_normal(xshape).astype(dtype)
    w = (rng.standard_normal((D, M)) / np.sqrt(max(D, 1))).astype(dtype)
    b = rng.standard_normal(M).astype(dtype)
    out, cache = ops.affine_forward(x, w, b)
    rout, rcache = reference.affine_forward(x.astype(np.float64), w.astype(np.float64),
                                            b.astype(np.float64))
    t = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)
    assert out.dtype == dtype and out.shape == (xshape[0], M)
    np.testing.assert_allclose(out, rout, **t)
    g = rng.standard_normal((xshape[0], M)).astype(dtype)
    dx, dw, db = ops.affine_backward(g, cache)
    rdx, rdw, rdb = reference.affine_backward(g.astype(np.float64), rcache)
    assert dx.shape == xshape and dw.shape == (D, M) and db.shape == (M,)
    for a, e in ((dx, rdx), (dw, rdw), (db, rdb)):
        assert a.dtype == dtype
        scale = max(1.0, float(np.abs(e).max())) if e.size else 1.0
        np.testing.assert_allclose(a, e, rtol=t["rtol"], atol=t["atol"] * scale)


def test_affine_gradient_check(rng):
    x = rng.standard_normal((3, 2, 4))
    w = rng.standard_normal((8, 5))
    b = rng.standard_normal(5)
    g = rng.standard_normal((3, 5))
    _, cache = ops.affine_forward(x, w, b)
    dx, dw, db = ops.affine_backward(g, cache)
    assert rel_error(dx, eval_numerical_gradient_array(lambda v: ops.affine_forward(v, w, b)[0], x, g)) < 1e-7
    assert rel_error(dw, eval_numerical_gradient_array(lambda v: ops.affine_forward(x, v, b)[0], w.copy(), g)) < 1e-7
    assert rel_error(db, eval_numerical_gradient_array(lambda v: ops.affine_forward(x, w, v)[0], b.copy(), g)) < 1e-7


def test_affine_non_contiguous_input_and_nan(rng):
    x = rng.standard_normal((6, 10))[:, ::2]              # non-contiguous view
    w, b = rng.standard_normal((5, 3)), rng.standard_normal(3)
    out, _ = ops.affine_forward(x, w, b)
    np.testing.assert_allclose(out, x @ w + b, rtol=1e-12)
    x = np.ascontiguousarray(x)
    x[2, 1] = np.nan
    b[1] = np.inf
    out, _ = ops.affine_forward(x, w, b)
    assert np.isnan(out[2]).all()                          # NaN spreads over its row
    assert np.isinf(out[[0, 1, 3, 4, 5], 1]).all()         # inf bias reaches its column


@needs_openmp
def test_affine_kernels_same_result_any_thread_count(rng):
    """The bias-add and db kernels (run on one thread by affine_forward/backward, see
    fastnn.ops.affine) give identical results with 1, 2 and 3 threads."""
    k = _dispatch.kernels.affine
    g = rng.standard_normal((513, 1100), dtype=np.float32)     # 564K elements, odd tile tail
    b = rng.standard_normal(1100, dtype=np.float32)
    sums, adds = [], []
    for n in (1, 2, 3):
        db = np.empty(1100, np.float32)
        k.column_sum(g, db, n)
        out = g.copy()
        k.bias_add(out, b, n)
        sums.append(db)
        adds.append(out)
    np.testing.assert_allclose(sums[0], g.astype(np.float64).sum(0), rtol=1e-6, atol=1e-4)
    np.testing.assert_array_equal(adds[0], g + b)
    for s, a in zip(sums[1:], adds[1:]):
        np.testing.assert_array_equal(s, sums[0])
        np.testing.assert_array_equal(a, adds[0])


def test_affine_errors():
    x, w, b = np.ones((4, 6)), np.ones((6, 3)), np.ones(3)
    with pytest.raises(ValueError, match=r"x must have shape \(N, d1, ..., dk\)"):
        ops.affine_forward(np.ones(6), w, b)
    with pytest.raises(ValueError, match=r"w must have shape \(D, M\) with D = 6"):
        ops.affine_forward(x, np.ones((5, 3)), b)
    with pytest.raises(ValueError, match=r"b must have shape \(3,\)"):
        ops.affine_forward(x, w, np.ones(4))
    with pytest.raises(TypeError, match="w has dtype float32 but x has dtype float64"):
        ops.affine_forward(x, w.astype(np.float32), b)
    with pytest.raises(TypeError, match="x must be a float32 or float64 array"):
        ops.affine_forward(np.ones((4, 6), np.int64), w, b)
    _, cache = ops.affine_forward(x, w, b)
    with pytest.raises(ValueError, match=r"dout has shape \(4, 2\), expected \(4, 3\)"):
        ops.affine_backward(np.ones((4, 2)), cache)
    with pytest.raises(TypeError, match="cache must be the cache returned by affine_forward"):
        ops.affine_backward(np.ones((4, 3)), (x, w))
