"""Batch norm, layer norm, group norm: reference, gradient checks, running stats, NaN, threads, errors."""
import numpy as np
import pytest

import fastnn
from fastnn import ops, reference
from fastnn.gradcheck import eval_numerical_gradient_array, rel_error

from helpers import needs_openmp

# float32 against the float64 reference: statistics are accumulated in double,
# so what is left is float32 rounding of the O(1) results
F32 = dict(rtol=2e-5, atol=2e-5)
F64 = dict(rtol=1e-10, atol=1e-12)


def tol(dtype):
    return F32 if dtype == np.float32 else F64


def _params(rng, C, dtype):
    return (rng.uniform(0.5, 1.5, C).astype(dtype), rng.standard_normal(C).astype(dtype))


def _check_all(got, want, dtype, sums=()):
    """Compare tuples of arrays; entries in `sums` are sums over many values (abs tol scaled)."""
    for i, (a, e) in enumerate(zip(got, want)):
        assert a.dtype == dtype and a.shape == e.shape
        t = dict(tol(dtype))
        if i in sums and e.size:
            t["atol"] = t["atol"] * max(1.0, float(np.abs(e).max())) * (10 if dtype == np.float32 else 1)
        np.testing.assert_allclose(a, e, **t)


# ---------------------------------------------------------------- batch norm

BN_SHAPES = [(2, 3), (9, 257), (300, 513), (4, 3, 5, 7), (2, 1, 1, 3), (1, 5, 3, 3),
             (16, 32, 9, 9), (3, 4, 6), (2, 3, 2, 2, 2)]


@pytest.mark.parametrize("shape", BN_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batchnorm_matches_reference(shape, training, dtype, rng):
    C = shape[1]
    x = (rng.standard_normal(shape) * 2 + 3).astype(dtype)
    gamma, beta = _params(rng, C, dtype)
    rm, rv = rng.standard_normal(C).astype(dtype), rng.uniform(0.5, 2, C).astype(dtype)
    rm_ref, rv_ref = rm.copy(), rv.copy()
    out, cache = ops.batchnorm_forward(x, gamma, beta, rm, rv, training=training, momentum=0.2)
    rout, rcache = reference.batchnorm_forward(x, gamma, beta, rm_ref, rv_ref, training=training,
                                               momentum=0.2)
    _check_all([out, rm, rv], [rout, rm_ref, rv_ref], dtype)
    g = rng.standard_normal(shape).astype(dtype)
    _check_all(ops.batchnorm_backward(g, cache), reference.batchnorm_backward(g, rcache), dtype,
               sums=(1, 2))


def test_batchnorm_spatial_big_streamed(rng):
    """64x64x32x32 float32: the streaming-store path (output >= 8 MiB) and 2 threads."""
    x = rng.standard_normal((64, 64, 32, 32), dtype=np.float32)
    gamma, beta = _params(rng, 64, np.float32)
    out, cache = ops.batchnorm_forward(x, gamma, beta, None, None)
    rout, rcache = reference.batchnorm_forward(x, gamma, beta, None, None)
    np.testing.assert_allclose(out, rout, **F32)
    g = rng.standard_normal(x.shape, dtype=np.float32)
    _check_all(ops.batchnorm_backward(g, cache), reference.batchnorm_backward(g, rcache),
               np.float32, sums=(1, 2))


def test_batchnorm_running_stats_pytorch_convention(rng):
    x = rng.standard_normal((10, 4)) * 3 + 1
    rm, rv = np.zeros(4), np.ones(4)
    ops.batchnorm_forward(x, np.ones(4), np.zeros(4), rm, rv, momentum=0.1)
    np.testing.assert_allclose(rm, 0.1 * x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(rv, 0.9 + 0.1 * x.var(0, ddof=1), rtol=1e-12)   # unbiased
    # eval mode uses them and leaves them alone
    before = rm.copy(), rv.copy()
    out, _ = ops.batchnorm_forward(x, np.ones(4), np.zeros(4), rm, rv, training=False)
    np.testing.assert_allclose(out, (x - rm) / np.sqrt(rv + 1e-5), rtol=1e-12)
    np.testing.assert_array_equal(rm, before[0])
    np.testing.assert_array_equal(rv, before[1])


def test_batchnorm_large_mean_is_accurate(rng):
    """|mean| >> std: the shifted one-pass variance keeps float32 results exact to rounding."""
    x = (rng.standard_normal((256, 64)) + 1e4).astype(np.float32)
    out, _ = ops.batchnorm_forward(x, np.ones(64, np.float32), np.zeros(64, np.float32), None, None)
    want, _ = reference.batchnorm_forward(x, np.ones(64, np.float32), np.zeros(64, np.float32),
                                          None, None)
    np.testing.assert_allclose(out, want, atol=2e-3)   # x itself carries ~5e-4 rounding at 1e4
    assert abs(float(out.std(0).mean()) - 1.0) < 1e-3


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 2, 3)])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batchnorm_gradient_check(shape, training, rng):
    C = shape[1]
    x = rng.standard_normal(shape) * 2 + 0.5
    gamma, beta = _params(rng, C, np.float64)
    rm, rv = rng.standard_normal(C), rng.uniform(0.5, 2, C)
    g = rng.standard_normal(shape)

    def f(x_, gamma_=gamma, beta_=beta):
        return ops.batchnorm_forward(x_, gamma_, beta_, rm.copy(), rv.copy(), training=training)[0]

    _, cache = ops.batchnorm_forward(x, gamma, beta, rm.copy(), rv.copy(), training=training)
    dx, dgamma, dbeta = ops.batchnorm_backward(g, cache)
    assert rel_error(dx, eval_numerical_gradient_array(f, x, g)) < 1e-7
    assert rel_error(dgamma, eval_numerical_gradient_array(lambda v: f(x, gamma_=v), gamma.copy(), g)) < 1e-7
    assert rel_error(dbeta, eval_numerical_gradient_array(lambda v: f(x, beta_=v), beta.copy(), g)) < 1e-7


def test_batchnorm_one_value_per_channel(rng):
    """Training with one value per channel raises (variance undefined; PyTorch raises too);
    eval mode is defined; one sample with H*W > 1 is fine for spatial batch norm."""
    g, b = np.ones(3), np.zeros(3)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        ops.batchnorm_forward(np.ones((1, 3)), g, b, np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        ops.batchnorm_forward(np.ones((1, 3, 1, 1)), g, b, None, None)
    out, _ = ops.batchnorm_forward(np.full((1, 3), 2.0), g, b, np.zeros(3), np.ones(3),
                                   training=False)
    np.testing.assert_allclose(out, 2.0 / np.sqrt(1 + 1e-5))
    out, _ = ops.batchnorm_forward(rng.standard_normal((1, 3, 2, 2)), g, b, None, None)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)


def test_batchnorm_empty_batch(dtype):
    rm, rv = np.full(3, 0.5, dtype), np.full(3, 2.0, dtype)
    out, cache = ops.batchnorm_forward(np.empty((0, 3, 4, 4), dtype), np.ones(3, dtype),
                                       np.zeros(3, dtype), rm, rv)
    assert out.shape == (0, 3, 4, 4)
    np.testing.assert_array_equal(rm, 0.5)                 # untouched
    np.testing.assert_array_equal(rv, 2.0)
    dx, dgamma, dbeta = ops.batchnorm_backward(np.empty((0, 3, 4, 4), dtype), cache)
    assert dx.shape == (0, 3, 4, 4)
    np.testing.assert_array_equal(dgamma, 0)
    np.testing.assert_array_equal(dbeta, 0)


# A bounds-checked build (FASTNN_DEBUG / FASTNN_SANITIZE) raises IndexError inside a noexcept
# kernel for an out-of-bounds address; Python reports it as unraisable: make that fail here.
@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_norm_backward_no_spatial_elements(training, dtype):
    """(N, C, 0, W): no element per channel / group.  The kernels used to take the address of
    element 0 of the empty axis (spatial batch norm backward; group norm backward, 081d91c)."""
    x = np.empty((2, 4, 0, 3), dtype)
    g, b = np.full(4, 2.0, dtype), np.ones(4, dtype)
    out, cache = ops.batchnorm_forward(x, g, b, np.zeros(4), np.ones(4), training=training)
    dx, dgamma, dbeta = ops.batchnorm_backward(np.empty_like(x), cache)
    assert out.shape == dx.shape == x.shape
    np.testing.assert_array_equal(dgamma, np.zeros(4, dtype))
    np.testing.assert_array_equal(dbeta, np.zeros(4, dtype))
    out, cache = ops.groupnorm_forward(x, g, b, 2)
    dx, dgamma, dbeta = ops.groupnorm_backward(np.empty_like(x), cache)
    assert out.shape == dx.shape == x.shape
    np.testing.assert_array_equal(dgamma, np.zeros(4, dtype))
    np.testing.assert_array_equal(dbeta, np.zeros(4, dtype))


def test_batchnorm_nan_and_inf_poison_only_their_channel(rng, dtype):
    x = rng.standard_normal((8, 4, 5, 5)).astype(dtype)
    x[3, 1, 2, 2] = np.nan
    x[0, 2, 0, 0] = np.inf
    out, _ = ops.batchnorm_forward(x, np.ones(4, dtype), np.zeros(4, dtype), None, None)
    assert np.isnan(out[:, 1]).all() and np.isnan(out[:, 2]).all()     # as in PyTorch
    assert np.isfinite(out[:, 0]).all() and np.isfinite(out[:, 3]).all()
    x2 = rng.standard_normal((8, 4)).astype(dtype)
    x2[5, 3] = np.nan
    out, _ = ops.batchnorm_forward(x2, np.ones(4, dtype), np.zeros(4, dtype), None, None)
    assert np.isnan(out[:, 3]).all() and np.isfinite(out[:, :3]).all()


@needs_openmp
@pytest.mark.parametrize("shape", [(64, 64, 8, 8), (512, 1024)])
def test_batchnorm_same_result_any_thread_count(shape, rng, restore_threads):
    x = rng.standard_normal(shape, dtype=np.float32)
    gamma, beta = _params(rng, shape[1], np.float32)
    g = rng.standard_normal(shape, dtype=np.float32)
    results = []
    for n in (1, 2, 3):
        fastnn.set_num_threads(n)
        rm, rv = np.zeros(shape[1], np.float32), np.ones(shape[1], np.float32)
        out, cache = ops.batchnorm_forward(x, gamma, beta, rm, rv)
        results.append((out, rm, rv) + ops.batchnorm_backward(g, cache))
    for r in results[1:]:
        for a, b in zip(r, results[0]):
            np.testing.assert_array_equal(a, b)


def test_batchnorm_matches_torch(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for shape in [(6, 5), (4, 3, 5, 7)]:
        x = rng.standard_normal(shape)
        gamma, beta = _params(rng, shape[1], np.float64)
        g = rng.standard_normal(shape)
        for training in (True, False):
            rm, rv = rng.standard_normal(shape[1]), rng.uniform(0.5, 2, shape[1])
            trm, trv = torch.tensor(rm), torch.tensor(rv)
            out, cache = ops.batchnorm_forward(x, gamma, beta, rm, rv, training, 0.3, 1e-4)
            tx, tg, tb = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
            tout = F.batch_norm(tx, trm, trv, tg, tb, training, 0.3, 1e-4)
            tout.backward(torch.tensor(g))
            np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(rm, trm.numpy(), rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(rv, trv.numpy(), rtol=1e-12, atol=1e-14)
            for mine, theirs in zip(ops.batchnorm_backward(g, cache), (tx.grad, tg.grad, tb.grad)):
                np.testing.assert_allclose(mine, theirs.numpy(), rtol=1e-9, atol=1e-11)


def test_batchnorm_errors():
    x = np.ones((4, 3))
    g, b, rm, rv = np.ones(3), np.zeros(3), np.zeros(3), np.ones(3)
    with pytest.raises(ValueError, match=r"x must have shape \(N, D\) or \(N, C, H, W\)"):
        ops.batchnorm_forward(np.ones(3), g, b, rm, rv)
    with pytest.raises(TypeError, match="x must be a float32 or float64 array"):
        ops.batchnorm_forward(np.ones((4, 3), int), g, b, rm, rv)
    with pytest.raises(ValueError, match=r"gamma must have shape \(3,\), got \(4,\)"):
        ops.batchnorm_forward(x, np.ones(4), b, rm, rv)
    with pytest.raises(TypeError, match="beta has dtype float32 but x has dtype float64"):
        ops.batchnorm_forward(x, g, b.astype(np.float32), rm, rv)
    with pytest.raises(ValueError, match="pass both running_mean and running_var, or neither"):
        ops.batchnorm_forward(x, g, b, rm, None)
    with pytest.raises(ValueError, match=r"running_var must have shape \(3,\)"):
        ops.batchnorm_forward(x, g, b, rm, np.ones(2))
    with pytest.raises(TypeError, match="running_mean must be a float ndarray"):
        ops.batchnorm_forward(x, g, b, [0, 0, 0], rv)
    ro = np.zeros(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="running_mean is read-only"):
        ops.batchnorm_forward(x, g, b, ro, rv)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\], got 1.5"):
        ops.batchnorm_forward(x, g, b, rm, rv, momentum=1.5)
    with pytest.raises(ValueError, match="eps must be > 0"):
        ops.batchnorm_forward(x, g, b, rm, rv, eps=0)
    with pytest.raises(TypeError, match="training must be True or False"):
        ops.batchnorm_forward(x, g, b, rm, rv, training="yes")
    _, cache = ops.batchnorm_forward(x, g, b, rm, rv)
    with pytest.raises(ValueError, match=r"dout has shape \(4, 2\), expected \(4, 3\)"):
        ops.batchnorm_backward(np.ones((4, 2)), cache)
    _, lcache = ops.layernorm_forward(x, g, b)
    with pytest.raises(ValueError, match="cache comes from layernorm_forward"):
        ops.batchnorm_backward(np.ones((4, 3)), lcache)


# ---------------------------------------------------------------- layer norm

LN_CASES = [((2, 3), (3,)), ((7, 300), (300,)), ((300, 257), (257,)), ((4, 3, 5, 6), (3, 5, 6)),
            ((2, 3, 4), (4,)), ((5,), (5,)), ((0, 4), (4,))]


@pytest.mark.parametrize("xshape,gshape", LN_CASES, ids=lambda s: "x".join(map(str, s)))
def test_layernorm_matches_reference(xshape, gshape, dtype, rng):
    x = (rng.standard_normal(xshape) * 2 - 1).astype(dtype)
    gamma = rng.uniform(0.5, 1.5, gshape).astype(dtype)
    beta = rng.standard_normal(gshape).astype(dtype)
    out, cache = ops.layernorm_forward(x, gamma, beta)
    rout, rcache = reference.layernorm_forward(x, gamma, beta)
    _check_all([out], [rout], dtype)
    g = rng.standard_normal(xshape).astype(dtype)
    _check_all(ops.layernorm_backward(g, cache), reference.layernorm_backward(g, rcache), dtype,
               sums=(1, 2))


@pytest.mark.parametrize("xshape,gshape", [((4, 5), (5,)), ((2, 2, 3, 2), (3, 2))])
def test_layernorm_gradient_check(xshape, gshape, rng):
    x = rng.standard_normal(xshape)
    gamma, beta = rng.uniform(0.5, 1.5, gshape), rng.standard_normal(gshape)
    g = rng.standard_normal(xshape)
    _, cache = ops.layernorm_forward(x, gamma, beta)
    dx, dgamma, dbeta = ops.layernorm_backward(g, cache)
    assert rel_error(dx, eval_numerical_gradient_array(lambda v: ops.layernorm_forward(v, gamma, beta)[0], x, g)) < 1e-7
    assert rel_error(dgamma, eval_numerical_gradient_array(lambda v: ops.layernorm_forward(x, v, beta)[0],
                                          gamma.copy(), g)) < 1e-7
    assert rel_error(dbeta, eval_numerical_gradient_array(lambda v: ops.layernorm_forward(x, gamma, v)[0],
                                         beta.copy(), g)) < 1e-7


def test_layernorm_matches_torch_and_nan(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((6, 4, 5))
    gamma, beta, g = rng.uniform(0.5, 1.5, (4, 5)), rng.standard_normal((4, 5)), rng.standard_normal(x.shape)
    out, cache = ops.layernorm_forward(x, gamma, beta, eps=1e-3)
    tx, tg, tb = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    tout = torch.nn.functional.layer_norm(tx, (4, 5), tg, tb, 1e-3)
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    for mine, theirs in zip(ops.layernorm_backward(g, cache), (tx.grad, tg.grad, tb.grad)):
        np.testing.assert_allclose(mine, theirs.numpy(), rtol=1e-9, atol=1e-11)
    x[2, 1, 1] = np.nan
    out, _ = ops.layernorm_forward(x, gamma, beta)
    assert np.isnan(out[2]).all() and np.isfinite(np.delete(out, 2, axis=0)).all()


@needs_openmp
def test_layernorm_same_result_any_thread_count(rng, restore_threads):
    x = rng.standard_normal((513, 300), dtype=np.float32)
    gamma, beta = _params(rng, 300, np.float32)
    g = rng.standard_normal(x.shape, dtype=np.float32)
    results = []
    for n in (1, 2):
        fastnn.set_num_threads(n)
        out, cache = ops.layernorm_forward(x, gamma, beta)
        results.append((out,) + ops.layernorm_backward(g, cache))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_layernorm_errors():
    with pytest.raises(ValueError, match=r"gamma's shape \(4,\) must equal the trailing dimensions"):
        ops.layernorm_forward(np.ones((2, 3)), np.ones(4), np.zeros(4))
    with pytest.raises(ValueError, match=r"beta must have shape \(3,\)"):
        ops.layernorm_forward(np.ones((2, 3)), np.ones(3), np.zeros(2))
    with pytest.raises(ValueError, match="eps must be > 0"):
        ops.layernorm_forward(np.ones((2, 3)), np.ones(3), np.zeros(3), eps=-1)


# ---------------------------------------------------------------- group norm

GN_CASES = [((2, 4, 3, 3), 2), ((3, 6, 5, 7), 3), ((2, 6, 4, 4), 6), ((2, 6, 4, 4), 1),
            ((5, 8), 4), ((16, 32, 9, 9), 8), ((0, 4, 2, 2), 2), ((3, 4, 2, 5, 3), 2)]


@pytest.mark.parametrize("shape,G", GN_CASES, ids=lambda s: "x".join(map(str, s)) if isinstance(s, tuple) else str(s))
def test_groupnorm_matches_reference(shape, G, dtype, rng):
    C = shape[1]
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    gamma, beta = _params(rng, C, dtype)
    out, cache = ops.groupnorm_forward(x, gamma, beta, G)
    rout, rcache = reference.groupnorm_forward(x, gamma, beta, G)
    _check_all([out], [rout], dtype)
    g = rng.standard_normal(shape).astype(dtype)
    _check_all(ops.groupnorm_backward(g, cache), reference.groupnorm_backward(g, rcache), dtype,
               sums=(1, 2))


def test_groupnorm_gradient_check(rng):
    x = rng.standard_normal((2, 4, 3, 2))
    gamma, beta = _params(rng, 4, np.float64)
    g = rng.standard_normal(x.shape)
    _, cache = ops.groupnorm_forward(x, gamma, beta, 2)
    dx, dgamma, dbeta = ops.groupnorm_backward(g, cache)
    assert rel_error(dx, eval_numerical_gradient_array(lambda v: ops.groupnorm_forward(v, gamma, beta, 2)[0], x, g)) < 1e-7
    assert rel_error(dgamma, eval_numerical_gradient_array(lambda v: ops.groupnorm_forward(x, v, beta, 2)[0],
                                          gamma.copy(), g)) < 1e-7
    assert rel_error(dbeta, eval_numerical_gradient_array(lambda v: ops.groupnorm_forward(x, gamma, v, 2)[0],
                                         beta.copy(), g)) < 1e-7


def test_groupnorm_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((3, 6, 4, 5))
    gamma, beta, g = rng.uniform(0.5, 1.5, 6), rng.standard_normal(6), rng.standard_normal(x.shape)
    out, cache = ops.groupnorm_forward(x, gamma, beta, 3, eps=1e-4)
    tx, tg, tb = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    tout = torch.nn.functional.group_norm(tx, 3, tg, tb, 1e-4)
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    for mine, theirs in zip(ops.groupnorm_backward(g, cache), (tx.grad, tg.grad, tb.grad)):
        np.testing.assert_allclose(mine, theirs.numpy(), rtol=1e-9, atol=1e-11)


@needs_openmp
def test_groupnorm_same_result_any_thread_count(rng, restore_threads):
    x = rng.standard_normal((8, 32, 16, 16), dtype=np.float32)
    gamma, beta = _params(rng, 32, np.float32)
    g = rng.standard_normal(x.shape, dtype=np.float32)
    results = []
    for n in (1, 2):
        fastnn.set_num_threads(n)
        out, cache = ops.groupnorm_forward(x, gamma, beta, 4)
        results.append((out,) + ops.groupnorm_backward(g, cache))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_groupnorm_errors():
    x = np.ones((2, 6, 3, 3))
    g, b = np.ones(6), np.zeros(6)
    with pytest.raises(ValueError, match="num_groups must be a positive divisor of the 6 channels, got 4"):
        ops.groupnorm_forward(x, g, b, 4)
    with pytest.raises(ValueError, match="positive divisor"):
        ops.groupnorm_forward(x, g, b, 0)
    with pytest.raises(TypeError, match="num_groups must be an integer"):
        ops.groupnorm_forward(x, g, b, 2.0)
    with pytest.raises(ValueError, match=r"x must have shape \(N, C, ...\)"):
        ops.groupnorm_forward(np.ones(6), g, b, 2)
    with pytest.raises(ValueError, match=r"gamma must have shape \(6,\)"):
        ops.groupnorm_forward(x, np.ones(3), b, 3)
