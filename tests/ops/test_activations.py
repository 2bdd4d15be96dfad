"""Elementwise activations beyond the generic registry tests (tests/ops/test_opinfo.py):
reference agreement on sizes around the SIMD widths, the block and the threading thresholds,
0-d and 1-d shapes, a float64 gradient check over a wide range, PyTorch's values at special
points, every SIMD target, streamed stores, array-like and read-only inputs, the buffer cache.

The op entries (each function with its keyword configurations) and their tolerances are
``opinfo.ELEMENTWISE_OPS``; out=, layouts, threads, PyTorch agreement and bad input are
checked for them by the generic tests."""
import numpy as np
import pytest

import fastnn
from fastnn import _dispatch, ops
from fastnn._dispatch import kernels
from fastnn._kernels import _runtime
from fastnn.gradcheck import rel_error

from opinfo import ELEMENTWISE_OPS, tol

IDS = [op.name for op in ELEMENTWISE_OPS]

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


def _check(op, x, g, dtype):
    kw = op.op_kwargs
    out, cache = op.forward(x, **kw)
    dx = op.backward(g, cache)
    assert out.dtype == dtype and dx.dtype == dtype
    assert out.shape == x.shape and dx.shape == x.shape
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    ref_out, ref_cache = op.ref_forward(x64, **kw)
    ref_dx = op.ref_backward(g64, ref_cache)
    np.testing.assert_allclose(out, ref_out, **op.result_tol(dtype, 0))
    np.testing.assert_allclose(dx, ref_dx, **op.result_tol(dtype, 1))


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("op", ELEMENTWISE_OPS, ids=IDS)
def test_matches_reference(op, n, dtype, rng):
    x, g = _inputs(rng, n, dtype)
    _check(op, x, g, dtype)


@pytest.mark.parametrize("shape", [(), (5,), (3, 4), (2, 3, 5, 7), (0,), (3, 0, 2)])
@pytest.mark.parametrize("op", ELEMENTWISE_OPS, ids=IDS)
def test_shapes_0d_1d_empty(op, shape, dtype, rng):
    x = np.asarray(rng.standard_normal(shape) * 2, dtype=dtype)
    g = np.asarray(rng.standard_normal(shape), dtype=dtype)
    _check(op, x, g, dtype)


@pytest.mark.parametrize("op", ELEMENTWISE_OPS, ids=IDS)
def test_gradient_check_float64(op, rng):
    """Centred differences in float64 over [-4, 4]; elementwise ops let every element move
    at once."""
    kw = op.op_kwargs
    x = rng.uniform(-4, 4, 2000)
    x = x[np.abs(x) > 1e-2]                                 # away from the kinks at 0
    if op.forward is ops.softplus_forward:
        beta, thr = kw.get("beta", 1.0), kw.get("threshold", 20.0)
        x = x[np.abs(x * beta - thr) > 1e-2]
    g = rng.standard_normal(x.shape)
    f, b = op.forward, op.backward
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
# backward with dout = 1 (PyTorch's scalar loop: its vector loop gives NaN at a NaN input of
# elu and selu)
EXPECTED_BWD = {
    "relu": [1.0, 1.0, 0.0, 0.0, 0.0, 1.0],
    "leaky_relu": [0.01, 1.0, 0.01, 0.01, 0.01, 1.0],
    "elu": [1.0, 1.0, 0.0, 1.0, 0.0, 1.0],
    "selu": [1.0507009873554805, 1.0507009873554805, 0.0, 1.7580993408473766, 0.0,
             1.0507009873554805],
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
    f, b = getattr(ops, name + "_forward"), getattr(ops, name + "_backward")
    out, cache = f(x)
    exp = np.array(EXPECTED_FWD[name], dtype=np.float64)
    np.testing.assert_allclose(out.astype(np.float64), exp, rtol=1e-6, equal_nan=True)
    if name in EXPECTED_BWD:
        dx = b(np.ones_like(x), cache)
        np.testing.assert_allclose(dx.astype(np.float64), np.array(EXPECTED_BWD[name]),
                                   rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize("target", _dispatch.supported_targets())
@pytest.mark.parametrize("op", ELEMENTWISE_OPS, ids=IDS)
def test_every_simd_target(target, op, dtype, rng):
    kw = op.op_kwargs
    x, g = _inputs(rng, 20011, dtype)           # odd length: vector body + tail
    x[:4] = [np.nan, np.inf, -np.inf, 0.0]
    with _dispatch.use_target(target):
        assert _dispatch.active_target() == target
        out, cache = op.forward(x, **kw)
        dx = op.backward(g, cache)
    ref_out, rc = op.ref_forward(x.astype(np.float64), **kw)
    ref_dx = op.ref_backward(g.astype(np.float64), rc)
    np.testing.assert_allclose(out, ref_out, equal_nan=True, **op.result_tol(dtype, 0))
    np.testing.assert_allclose(dx, ref_dx, equal_nan=True, **op.result_tol(dtype, 1))


@pytest.mark.parametrize("op", ELEMENTWISE_OPS, ids=IDS)
def test_streamed_outputs_match_plain_stores(op, rng):
    """Outputs >= STREAM_MIN_BYTES take the non-temporal path; results must not change."""
    x = rng.standard_normal(_runtime.STREAM_MIN_BYTES // 4 + 4099).astype(np.float32)
    g = rng.standard_normal(x.size - 1).astype(np.float32)
    streamed, cache = op.forward(x[1:], **op.op_kwargs)      # misaligned start, odd length
    streamed_dx = op.backward(g, cache)
    old = _runtime._set_stream_min_bytes(1 << 62)
    try:
        plain, cache = op.forward(x[1:], **op.op_kwargs)
        plain_dx = op.backward(g, cache)
    finally:
        _runtime._set_stream_min_bytes(old)
    np.testing.assert_array_equal(streamed, plain)
    np.testing.assert_array_equal(streamed_dx, plain_dx)


@pytest.mark.parametrize("op", ELEMENTWISE_OPS, ids=IDS)
def test_array_like_input(op):
    x = [[-1.0, 2.0], [3.0, -4.0]]
    out, _ = op.forward(x, **op.op_kwargs)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, op.ref_forward(np.array(x), **op.op_kwargs)[0],
                               **tol(np.float64))


@pytest.mark.parametrize("op", ELEMENTWISE_OPS, ids=IDS)
def test_read_only_input_accepted(op):
    x = np.linspace(-3, 3, 50)
    x.flags.writeable = False
    out, cache = op.forward(x, **op.op_kwargs)
    ref_out, ref_cache = op.ref_forward(x, **op.op_kwargs)
    np.testing.assert_allclose(out, ref_out, **tol(np.float64))
    np.testing.assert_allclose(op.backward(np.ones(50), cache), op.ref_backward(np.ones(50), ref_cache),
                               **tol(np.float64, backward=True))


@pytest.mark.parametrize("op", ELEMENTWISE_OPS, ids=IDS)
def test_dout_of_other_float_dtype_is_converted(op, rng):
    x = rng.standard_normal(100).astype(np.float32)
    _, cache = op.forward(x, **op.op_kwargs)
    dx = op.backward(np.ones(100, np.float64), cache)
    assert dx.dtype == np.float32
    np.testing.assert_array_equal(dx, op.backward(np.ones(100, np.float32), cache))


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
