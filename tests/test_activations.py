"""Elementwise activations: reference agreement, gradients, NaN/inf, threads, SIMD targets, out=."""
import numpy as np
import pytest

import fastnn
from fastnn import _dispatch, ops, reference
from fastnn._kernels import _runtime
from fastnn._dispatch import kernels

from helpers import ELEMENTWISE, ELEMENTWISE_IDS, fwd_bwd, rel_error, tol

# sizes around the SIMD widths, the kernels' block and the threading thresholds
_CHEAP = fastnn.get_parallel_threshold("activations.cheap")
_TRANS = fastnn.get_parallel_threshold("activations.transcendental")
_BLOCK = kernels.activations.BLOCK_SIZE
SIZES = [1, 7, 16, 17, 1000, _BLOCK - 1, _BLOCK + 1, _TRANS - 3, _TRANS + 5, _CHEAP - 1,
         _CHEAP + 13]


def _inputs(rng, n, dtype):
    x = rng.standard_normal(n) * 3
    x[: n // 10] *= 30                       # some large magnitudes
    return x.astype(dtype), rng.standard_normal(n).astype(dtype)


def _check(name, kw, x, g, dtype):
    f, b = fwd_bwd(ops, name)
    rf, rb = fwd_bwd(reference, name)
    out, cache = f(x, **kw)
    dx = b(g, cache)
    assert out.dtype == dtype and dx.dtype == dtype
    assert out.shape == x.shape and dx.shape == x.shape
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    ref_out, ref_cache = rf(x64, **kw)
    ref_dx = rb(g64, ref_cache)
    np.testing.assert_allclose(out, ref_out, **tol(dtype))
    np.testing.assert_allclose(dx, ref_dx, **tol(dtype, backward=True))


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name,kw", ELEMENTWISE, ids=ELEMENTWISE_IDS)
def test_matches_reference(name, kw, n, dtype, rng):
    x, g = _inputs(rng, n, dtype)
    _check(name, kw, x, g, dtype)


@pytest.mark.parametrize("shape", [(), (5,), (3, 4), (2, 3, 5, 7), (0,), (3, 0, 2)])
@pytest.mark.parametrize("name,kw", ELEMENTWISE, ids=ELEMENTWISE_IDS)
def test_shapes_0d_1d_empty(name, kw, shape, dtype, rng):
    x = np.asarray(rng.standard_normal(shape) * 2, dtype=dtype)
    g = np.asarray(rng.standard_normal(shape), dtype=dtype)
    _check(name, kw, x, g, dtype)


@pytest.mark.parametrize("name,kw", ELEMENTWISE, ids=ELEMENTWISE_IDS)
def test_gradient_check_float64(name, kw, rng):
    """Centred differences in float64; elementwise ops let every element move at once."""
    x = rng.uniform(-4, 4, 2000)
    x = x[np.abs(x) > 1e-2]                                 # away from the kinks at 0
    if name == "softplus":
        beta, thr = kw.get("beta", 1.0), kw.get("threshold", 20.0)
        x = x[np.abs(x * beta - thr) > 1e-2]
    g = rng.standard_normal(x.shape)
    f, b = fwd_bwd(ops, name)
    _, cache = f(x, **kw)
    dx = b(g, cache)
    h = 1e-6
    num = (f(x + h, **kw)[0] - f(x - h, **kw)[0]) / (2 * h) * g
    assert rel_error(dx, num) < 1e-7


# Expected values at [nan, inf, -inf, 0.0, -1e30 (far left), 1e30] -- PyTorch's results.
NAN = np.nan
SPECIAL_X = [NAN, np.inf, -np.inf, 0.0, -1e30, 1e30]
EXPECTED_FWD = {
    "relu": [NAN, np.inf, 0.0, 0.0, 0.0, 1e30],
    "leaky_relu": [NAN, np.inf, -np.inf, 0.0, -1e28, 1e30],
    "elu": [NAN, np.inf, -1.0, 0.0, -1.0, 1e30],
    "selu": [NAN, np.inf, -1.7580993408473766, 0.0, -1.7580993408473766, 1.0507009873554805e30],
    "sigmoid": [NAN, 1.0, 0.0, 0.5, 0.0, 1.0],
    "tanh": [NAN, 1.0, -1.0, 0.0, -1.0, 1.0],
    "gelu": [NAN, np.inf, NAN, 0.0, -0.0, 1e30],
    "softplus": [NAN, np.inf, 0.0, np.log(2.0), 0.0, 1e30],
    "silu": [NAN, np.inf, NAN, 0.0, -0.0, 1e30],
}
# backward with dout = 1
EXPECTED_BWD = {
    "relu": [1.0, 1.0, 0.0, 0.0, 0.0, 1.0],
    "leaky_relu": [0.01, 1.0, 0.01, 0.01, 0.01, 1.0],
    "elu": [1.0, 1.0, 0.0, 1.0, 0.0, 1.0],
    "sigmoid": [NAN, 0.0, 0.0, 0.25, 0.0, 0.0],
    "tanh": [NAN, 0.0, 0.0, 1.0, 0.0, 0.0],
    "gelu": [NAN, NAN, NAN, 0.5, 0.0, 1.0],
    "softplus": [NAN, 1.0, 0.0, 0.5, 0.0, 1.0],
    "silu": [NAN, NAN, NAN, 0.5, 0.0, 1.0],
}


@pytest.mark.parametrize("name", sorted(EXPECTED_FWD))
def test_nan_inf_like_pytorch(name, dtype):
    x = np.array(SPECIAL_X, dtype=dtype)
    if dtype == np.float32:
        x[4], x[5] = -1e30, 1e30
    f, b = fwd_bwd(ops, name)
    out, cache = f(x)
    exp = np.array(EXPECTED_FWD[name], dtype=np.float64)
    np.testing.assert_allclose(out.astype(np.float64), exp, rtol=1e-6, equal_nan=True)
    if name in EXPECTED_BWD:
        dx = b(np.ones_like(x), cache)
        np.testing.assert_allclose(dx.astype(np.float64), np.array(EXPECTED_BWD[name]),
                                   rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize("name,kw", ELEMENTWISE, ids=ELEMENTWISE_IDS)
def test_nan_inf_agree_with_torch(name, kw, dtype):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -50.0, 50.0, -1e4, 1e4, 1.5, -1.5], dtype=dtype)
    tfn = {"relu": F.relu, "leaky_relu": F.leaky_relu, "elu": F.elu, "selu": F.selu,
           "sigmoid": torch.sigmoid, "tanh": torch.tanh, "gelu": F.gelu,
           "softplus": F.softplus, "silu": F.silu}[name]
    tx = torch.tensor(x, requires_grad=True)
    ty = tfn(tx, **kw)
    ty.backward(torch.ones_like(ty))
    f, b = fwd_bwd(ops, name)
    out, cache = f(x, **kw)
    dx = b(np.ones_like(x), cache)
    t_out, t_dx = ty.detach().numpy(), tx.grad.numpy()
    if name == "gelu" and not kw and dtype == np.float32:
        # torch 2.13's float32 exact GELU returns NaN at +inf while its float64
        # path returns +inf (the limit); fastnn returns +inf in both dtypes.
        assert out[1] == np.inf
        keep = np.arange(x.size) != 1
        out, dx, t_out, t_dx = out[keep], dx[keep], t_out[keep], t_dx[keep]
    np.testing.assert_array_equal(np.isnan(out), np.isnan(t_out))
    np.testing.assert_allclose(out, t_out, rtol=1e-5, atol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(np.isnan(dx), np.isnan(t_dx))
    np.testing.assert_allclose(dx, t_dx, rtol=1e-5, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("name,kw", ELEMENTWISE, ids=ELEMENTWISE_IDS)
def test_one_and_two_threads_bit_identical(name, kw, dtype, rng, restore_threads):
    x, g = _inputs(rng, 3 * _CHEAP + 77, dtype)
    f, b = fwd_bwd(ops, name)
    results = []
    for n in (1, 2):
        fastnn.set_num_threads(n)
        out, cache = f(x, **kw)
        results.append((out.copy(), b(g, cache).copy()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


@pytest.mark.parametrize("target", _dispatch.supported_targets())
@pytest.mark.parametrize("name,kw", ELEMENTWISE, ids=ELEMENTWISE_IDS)
def test_every_simd_target(target, name, kw, dtype, rng):
    x, g = _inputs(rng, 20011, dtype)           # odd length: vector body + tail
    x[:4] = [np.nan, np.inf, -np.inf, 0.0]
    with _dispatch.use_target(target):
        assert _dispatch.active_target() == target
        f, b = fwd_bwd(ops, name)
        out, cache = f(x, **kw)
        dx = b(g, cache)
    rf, rb = fwd_bwd(reference, name)
    ref_out, rc = rf(x.astype(np.float64), **kw)
    ref_dx = rb(g.astype(np.float64), rc)
    np.testing.assert_allclose(out, ref_out, equal_nan=True, **tol(dtype))
    np.testing.assert_allclose(dx, ref_dx, equal_nan=True, **tol(dtype, backward=True))


def test_streamed_outputs_match_plain_stores(rng):
    """Outputs >= STREAM_MIN_BYTES take the non-temporal path; results must not change."""
    x = rng.standard_normal(_runtime.STREAM_MIN_BYTES // 4 + 4099).astype(np.float32)
    streamed, _ = ops.tanh_forward(x[1:])            # misaligned start, odd length
    old = _runtime._set_stream_min_bytes(1 << 62)
    try:
        plain, _ = ops.tanh_forward(x[1:])
    finally:
        _runtime._set_stream_min_bytes(old)
    np.testing.assert_array_equal(streamed, plain)


def test_non_contiguous_input(rng, dtype):
    base = rng.standard_normal((40, 30)).astype(dtype)
    for x in (base.T, base[::2, ::3], base[:, 5]):
        out, cache = ops.gelu_forward(x)
        ref, _ = reference.gelu_forward(x.astype(np.float64))
        np.testing.assert_allclose(out, ref, **tol(dtype))
        assert out.shape == x.shape and out.flags.c_contiguous
        dx = ops.gelu_backward(np.ones(x.shape, dtype), cache)
        assert dx.shape == x.shape


def test_array_like_input():
    out, _ = ops.relu_forward([[-1.0, 2.0], [3.0, -4.0]])
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[0.0, 2.0], [3.0, 0.0]])


class TestOut:
    def test_result_lands_in_out(self, rng, dtype):
        x = rng.standard_normal((5, 7)).astype(dtype)
        out = np.empty_like(x)
        res, _ = ops.sigmoid_forward(x, out=out)
        assert res is out
        np.testing.assert_allclose(out, reference.sigmoid_forward(x.astype(np.float64))[0],
                                   **tol(dtype))

    @pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
    def test_in_place_allowed_where_documented(self, name, rng):
        x = rng.standard_normal(1000)
        x0 = x.copy()
        g = rng.standard_normal(1000)
        f, b = fwd_bwd(ops, name)
        rf, rb = fwd_bwd(reference, name)
        out, cache = f(x, out=x)
        assert out is x
        ref_out, rc = rf(x0)
        np.testing.assert_allclose(x, ref_out, **tol(np.float64))
        np.testing.assert_allclose(b(g, cache), rb(g, rc), **tol(np.float64))

    @pytest.mark.parametrize("name", ["leaky_relu", "elu", "selu", "gelu", "softplus", "silu"])
    def test_in_place_refused_when_backward_needs_x(self, name):
        x = np.ones(10)
        with pytest.raises(ValueError, match="in-place"):
            getattr(ops, name + "_forward")(x, out=x)

    def test_partial_overlap_refused(self):
        buf = np.zeros(20)
        with pytest.raises(ValueError, match="overlap"):
            ops.relu_forward(buf[:10], out=buf[5:15])

    def test_read_only_out_refused(self):
        out = np.empty(4)
        out.flags.writeable = False
        with pytest.raises(ValueError, match="read-only"):
            ops.tanh_forward(np.ones(4), out=out)

    def test_wrong_dtype_shape_layout_refused(self):
        x = np.ones((4, 4))
        with pytest.raises(TypeError, match="dtype float64"):
            ops.tanh_forward(x, out=np.empty((4, 4), np.float32))
        with pytest.raises(ValueError, match="shape"):
            ops.tanh_forward(x, out=np.empty((4, 5)))
        with pytest.raises(ValueError, match="C-contiguous"):
            ops.tanh_forward(x, out=np.empty((4, 4)).T.copy().T)
        with pytest.raises(TypeError, match="ndarray"):
            ops.tanh_forward(x, out=[0.0] * 16)


def test_read_only_input_accepted():
    x = np.linspace(-3, 3, 50)
    x.flags.writeable = False
    out, cache = ops.elu_forward(x)
    np.testing.assert_allclose(out, reference.elu_forward(x)[0], **tol(np.float64))
    ops.elu_backward(np.ones(50), cache)


def test_dout_of_other_float_dtype_is_converted(rng):
    x = rng.standard_normal(100).astype(np.float32)
    _, cache = ops.tanh_forward(x)
    dx = ops.tanh_backward(np.ones(100, np.float64), cache)
    assert dx.dtype == np.float32


def test_large_outputs_use_buffer_cache_and_blocks_are_reused(rng):
    x = rng.standard_normal(1 << 19).astype(np.float32)       # 2 MiB: cached size class
    fastnn.set_buffer_cache(256 << 20)
    out, cache = ops.relu_forward(x)
    addr = out.__array_interface__["data"][0]
    del out, cache                                              # the cache holds out too
    info = fastnn.buffer_cache_info()
    assert info["cached_bytes"] >= x.nbytes
    out2, _ = ops.relu_forward(x)
    assert out2.__array_interface__["data"][0] == addr          # same block handed back
    np.testing.assert_array_equal(out2, np.where(x <= 0, 0, x))
    assert out2.flags.writeable and out2.flags.c_contiguous
    fastnn.set_buffer_cache(0)
    assert fastnn.buffer_cache_info()["cached_bytes"] == 0
    out3, _ = ops.relu_forward(x)
    np.testing.assert_array_equal(out3, out2)
    fastnn.set_buffer_cache(256 << 20)
