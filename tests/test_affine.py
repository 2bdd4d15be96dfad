"""Affine layer: reference, gradient check, shapes, NaN, threads, errors."""
import numpy as np
import pytest

import fastnn
from fastnn import ops, reference

from helpers import needs_openmp, numeric_grad, rel_error

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
    assert rel_error(dx, numeric_grad(lambda v: ops.affine_forward(v, w, b)[0], x, g)) < 1e-7
    assert rel_error(dw, numeric_grad(lambda v: ops.affine_forward(x, v, b)[0], w.copy(), g)) < 1e-7
    assert rel_error(db, numeric_grad(lambda v: ops.affine_forward(x, w, v)[0], b.copy(), g)) < 1e-7


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
def test_affine_same_result_any_thread_count(rng, restore_threads):
    x = rng.standard_normal((256, 300), dtype=np.float32)
    w = rng.standard_normal((300, 700), dtype=np.float32)
    b = rng.standard_normal(700, dtype=np.float32)
    g = rng.standard_normal((256, 700), dtype=np.float32)
    results = []
    for n in (1, 2):
        fastnn.set_num_threads(n)
        out, cache = ops.affine_forward(x, w, b)
        results.append((out, ops.affine_backward(g, cache)[2]))   # the Cython parts: bias add, db
    for a, e in zip(*results):
        np.testing.assert_array_equal(a, e)


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
