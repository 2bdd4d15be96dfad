"""PReLU and Maxout: reference agreement, gradient checks, NaN, threads, shapes."""
import numpy as np
import pytest

import fastnn
from fastnn import _dispatch, ops, reference
from fastnn.gradcheck import eval_numerical_gradient_array, rel_error

from opinfo import tol


PRELU_CASES = [  # (x shape, alpha shape)
    ((), (1,)), ((9,), (1,)), ((40001,), (1,)), ((6, 5), (5,)), ((6, 5), (1,)),
    ((4, 3, 5, 7), (3,)), ((4, 3, 5, 7), (1,)), ((64, 16, 9, 9), (16,)), ((0, 3), (3,)),
]


@pytest.mark.parametrize("xshape,ashape", PRELU_CASES)
def test_prelu_matches_reference(xshape, ashape, dtype, rng):
    x = np.asarray(rng.standard_normal(xshape), dtype=dtype)
    alpha = rng.uniform(0.05, 0.5, ashape).astype(dtype)
    g = np.asarray(rng.standard_normal(xshape), dtype=dtype)
    out, cache = ops.prelu_forward(x, alpha)
    dx, dalpha = ops.prelu_backward(g, cache)
    ro, rc = reference.prelu_forward(x.astype(np.float64), alpha.astype(np.float64))
    rdx, rda = reference.prelu_backward(g.astype(np.float64), rc)
    assert out.dtype == dx.dtype == dalpha.dtype == dtype
    assert dalpha.shape == alpha.shape
    np.testing.assert_allclose(out, ro, **tol(dtype))
    np.testing.assert_allclose(dx, rdx, **tol(dtype, backward=True))
    scale = max(1.0, float(np.abs(rda).max()) if rda.size else 1.0)
    np.testing.assert_allclose(dalpha, rda, rtol=1e-4 if dtype == np.float32 else 1e-12,
                               atol=1e-5 * scale if dtype == np.float32 else 1e-12 * scale)


@pytest.mark.parametrize("ashape", [(1,), (3,)])
def test_prelu_gradient_check(ashape, rng):
    x = rng.standard_normal((4, 3, 2, 3))
    x[np.abs(x) < 1e-2] = 0.5
    alpha = rng.uniform(0.1, 0.4, ashape)
    g = rng.standard_normal(x.shape)
    _, cache = ops.prelu_forward(x, alpha)
    dx, dalpha = ops.prelu_backward(g, cache)
    # piecewise linear: h = 1e-4 cannot cross a kink (|x| >= 1e-2) and keeps
    # the rounding of the difference quotient below the tolerance
    h = 1e-4
    assert rel_error(dx, eval_numerical_gradient_array(lambda v: ops.prelu_forward(v, alpha)[0], x, g, h)) < 1e-7
    assert rel_error(dalpha, eval_numerical_gradient_array(lambda a: ops.prelu_forward(x, a)[0], alpha, g, h)) < 1e-7


def test_prelu_nan_and_threads(rng, restore_threads):
    x = rng.standard_normal((8, 4, 64, 64))
    x[0, 0, 0, :3] = [np.nan, np.inf, -np.inf]
    alpha = np.array([0.1, 0.2, 0.3, 0.4])
    out, cache = ops.prelu_forward(x, alpha)
    assert np.isnan(out[0, 0, 0, 0]) and out[0, 0, 0, 1] == np.inf and out[0, 0, 0, 2] == -np.inf
    g = rng.standard_normal(x.shape)
    res = []
    for n in (1, 2):
        fastnn.set_num_threads(n)
        _, c = ops.prelu_forward(x, alpha)
        res.append(ops.prelu_backward(g, c))
    np.testing.assert_array_equal(res[0][0], res[1][0])
    np.testing.assert_array_equal(res[0][1], res[1][1])   # fixed summation order: deterministic


MAXOUT_CASES = [(1, 1, 1, 1), (5, 7, 3, 2), (64, 33, 17, 4), (300, 50, 40, 2), (3, 4, 5, 1), (0, 4, 3, 2)]


@pytest.mark.parametrize("N,D,M,k", MAXOUT_CASES)
def test_maxout_matches_reference(N, D, M, k, dtype, rng):
    x = rng.standard_normal((N, D)).astype(dtype)
    w = rng.standard_normal((k, D, M)).astype(dtype)
    b = rng.standard_normal((k, M)).astype(dtype)
    g = rng.standard_normal((N, M)).astype(dtype)
    out, cache = ops.maxout_forward(x, w, b)
    dx, dw, db = ops.maxout_backward(g, cache)
    ro, rc = reference.maxout_forward(*(a.astype(np.float64) for a in (x, w, b)))
    rdx, rdw, rdb = reference.maxout_backward(g.astype(np.float64), rc)
    t = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    for a, r in ((out, ro), (dx, rdx), (dw, rdw), (db, rdb)):
        assert a.dtype == dtype and a.shape == r.shape
        np.testing.assert_allclose(a, r, **t)


def test_maxout_flattens_per_sample(rng):
    x = rng.standard_normal((6, 2, 3, 2))
    w = rng.standard_normal((3, 12, 5))
    b = rng.standard_normal((3, 5))
    out, cache = ops.maxout_forward(x, w, b)
    ref, _ = reference.maxout_forward(x, w, b)
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    dx, _, _ = ops.maxout_backward(np.ones((6, 5)), cache)
    assert dx.shape == x.shape


def test_maxout_gradient_check(rng):
    x = rng.standard_normal((4, 5))
    w = rng.standard_normal((3, 5, 4))
    b = rng.standard_normal((3, 4)) * 3          # pieces well separated
    g = rng.standard_normal((4, 4))
    _, cache = ops.maxout_forward(x, w, b)
    dx, dw, db = ops.maxout_backward(g, cache)
    assert rel_error(dx, eval_numerical_gradient_array(lambda v: ops.maxout_forward(v, w, b)[0], x, g)) < 1e-7
    assert rel_error(dw, eval_numerical_gradient_array(lambda v: ops.maxout_forward(x, v, b)[0], w, g)) < 1e-7
    assert rel_error(db, eval_numerical_gradient_array(lambda v: ops.maxout_forward(x, w, v)[0], b, g)) < 1e-7


def test_maxout_ties_go_to_first_piece_and_nan_wins():
    x = np.ones((1, 1))
    w = np.zeros((3, 1, 2))
    b = np.array([[1.0, 0.0], [1.0, np.nan], [0.5, 5.0]])
    out, cache = ops.maxout_forward(x, w, b)
    assert out[0, 0] == 1.0 and np.isnan(out[0, 1])
    np.testing.assert_array_equal(cache.idx, [[0, 1]])
    _, dw, db = ops.maxout_backward(np.array([[2.0, 3.0]]), cache)
    np.testing.assert_array_equal(db, [[2.0, 0.0], [0.0, 3.0], [0.0, 0.0]])


@pytest.mark.parametrize("target", _dispatch.supported_targets())
def test_prelu_maxout_every_simd_target(target, rng):
    x = rng.standard_normal((16, 8, 13, 11)).astype(np.float32)
    alpha = rng.uniform(0.1, 0.3, 8).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    with _dispatch.use_target(target):
        out, c = ops.prelu_forward(x, alpha)
        dx, da = ops.prelu_backward(g, c)
    ro, rc = reference.prelu_forward(x.astype(np.float64), alpha.astype(np.float64))
    rdx, rda = reference.prelu_backward(g.astype(np.float64), rc)
    np.testing.assert_allclose(out, ro, **tol(np.float32))
    np.testing.assert_allclose(dx, rdx, **tol(np.float32, backward=True))
    np.testing.assert_allclose(da, rda, rtol=1e-4, atol=1e-3)


def test_prelu_array_like_alpha_is_converted():
    out, _ = ops.prelu_forward(np.ones((2, 3, 4)), [0.25])
    assert out.dtype == np.float64
