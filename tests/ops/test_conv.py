"""conv_forward / conv_backward, im2col / col2im against the NumPy references."""
import numpy as np
import pytest

import fastnn
from fastnn import _dispatch, ops, reference
from fastnn.ops import conv as conv_mod
from fastnn.gradcheck import eval_numerical_gradient_array, rel_error

from helpers import needs_openmp

# (N, C, H, W, F, HH, WW, stride, pad): square/non-square filters and images,
# odd sizes, N = 1, C = 1, stride 1 and 2, pad 0..3
GEOMETRIES = [
    (2, 3, 7, 9, 4, 3, 3, 1, 1),
    (1, 1, 5, 5, 2, 1, 1, 1, 0),
    (2, 2, 9, 7, 3, 5, 7, 1, 3),
    (3, 2, 11, 8, 3, 5, 7, 2, 2),
    (1, 3, 8, 8, 5, 3, 3, 2, 0),
    (2, 1, 6, 13, 2, 2, 3, 2, 1),
    (1, 2, 4, 4, 2, 3, 3, 3, 3),
    (2, 2, 7, 7, 3, 1, 1, 2, 0),
]
GEOM_IDS = ["N{}C{}_{}x{}_F{}_{}x{}_s{}p{}".format(*g) for g in GEOMETRIES]


def _tol(dtype):
    return dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-12)


def _inputs(rng, dtype, N, C, H, W, F, HH, WW, groups=1):
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F, C // groups, HH, WW)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    return x, w, b


@pytest.mark.parametrize("algorithm", ["im2col", "direct"])
@pytest.mark.parametrize("geom", GEOMETRIES, ids=GEOM_IDS)
def test_conv_matches_loop_reference(geom, algorithm, dtype, rng):
    N, C, H, W, F, HH, WW, s, p = geom
    x, w, b = _inputs(rng, dtype, N, C, H, W, F, HH, WW)
    out, cache = ops.conv_forward(x, w, b, stride=s, pad=p, algorithm=algorithm)
    assert cache.path == ("direct" if algorithm == "direct" else "fused")
    ref, rcache = reference.conv_forward(x, w, b, stride=s, pad=p)
    assert out.shape == (N, F, (H + 2 * p - HH) // s + 1, (W + 2 * p - WW) // s + 1)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, ref, **_tol(dtype))
    dout = rng.standard_normal(out.shape).astype(dtype)
    for got, exp in zip(ops.conv_backward(dout, cache), reference.conv_backward(dout, rcache)):
        assert got.shape == exp.shape and got.dtype == dtype
        np.testing.assert_allclose(got, exp, **_tol(dtype))


@pytest.mark.parametrize("geom", GEOMETRIES[:4], ids=GEOM_IDS[:4])
def test_im2col_reference_matches_loop_reference(geom, rng):
    N, C, H, W, F, HH, WW, s, p = geom
    x, w, b = _inputs(rng, np.float64, N, C, H, W, F, HH, WW)
    out, c = reference.conv_forward_im2col(x, w, b, s, p)
    ref, rc = reference.conv_forward(x, w, b, s, p)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    for got, exp in zip(reference.conv_backward_im2col(dout, c), reference.conv_backward(dout, rc)):
        np.testing.assert_allclose(got, exp, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("groups, dilation", [(1, 2), (2, 1), (3, 1), (6, 2)])
def test_dilation_and_groups(groups, dilation, dtype, rng):
    N, C, H, W, F, HH, WW = 2, 6, 11, 10, 12, 3, 2
    x, w, b = _inputs(rng, dtype, N, C, H, W, F, HH, WW, groups)
    out, cache = ops.conv_forward(x, w, b, stride=2, pad=1, dilation=dilation, groups=groups)
    ref, rcache = reference.conv_forward(x, w, b, 2, 1, dilation, groups)
    np.testing.assert_allclose(out, ref, **_tol(dtype))
    dout = rng.standard_normal(out.shape).astype(dtype)
    for got, exp in zip(ops.conv_backward(dout, cache), reference.conv_backward(dout, rcache)):
        np.testing.assert_allclose(got, exp, **_tol(dtype))
    ref2 = reference.conv_forward_im2col(x, w, b, 2, 1, dilation, groups)[0]
    np.testing.assert_allclose(ref2, ref, **_tol(dtype))


def test_depthwise_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x, w, b = _inputs(rng, np.float64, 2, 4, 9, 9, 8, 3, 3, groups=4)
    out, _ = ops.conv_forward(x, w, b, stride=1, pad=1, groups=4)
    t = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                                   stride=1, padding=1, groups=4).numpy()
    np.testing.assert_allclose(out, t, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("s, p, d", [(1, 3, 1), (2, 1, 1), (1, 2, 2)])
def test_matches_torch_forward_backward(s, p, d, rng):
    torch = pytest.importorskip("torch")
    x, w, b = _inputs(rng, np.float64, 3, 3, 10, 12, 4, 5, 7)
    out, cache = ops.conv_forward(x, w, b, stride=s, pad=p, dilation=d)
    dout = rng.standard_normal(out.shape)
    tx, tw, tb = (torch.from_numpy(a.copy()).requires_grad_() for a in (x, w, b))
    tout = torch.nn.functional.conv2d(tx, tw, tb, stride=s, padding=p, dilation=d)
    tout.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-11, atol=1e-12)
    for got, t in zip(ops.conv_backward(dout, cache), (tx.grad, tw.grad, tb.grad)):
        np.testing.assert_allclose(got, t.numpy(), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("geom", [(2, 2, 5, 6, 3, 3, 3, 1, 1), (1, 1, 7, 6, 2, 5, 7, 2, 3),
                                  (2, 3, 6, 5, 2, 1, 1, 2, 0)])
def test_gradient_check_float64(geom, rng):
    # conv is linear in each of x, w, b: centred differences have no truncation
    # error, so a step of 1e-3 (instead of 1e-6) only cuts the rounding error
    # (measured: 2e-7 worst relative error with 1e-6 on near-zero gradients)
    N, C, H, W, F, HH, WW, s, p = geom
    x, w, b = _inputs(rng, np.float64, N, C, H, W, F, HH, WW)
    out, cache = ops.conv_forward(x, w, b, stride=s, pad=p)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = ops.conv_backward(dout, cache)
    assert rel_error(dx, eval_numerical_gradient_array(lambda v: ops.conv_forward(v, w, b, s, p)[0], x, dout, h=1e-3)) < 1e-7
    assert rel_error(dw, eval_numerical_gradient_array(lambda v: ops.conv_forward(x, v, b, s, p)[0], w, dout, h=1e-3)) < 1e-7
    assert rel_error(db, eval_numerical_gradient_array(lambda v: ops.conv_forward(x, w, v, s, p)[0], b, dout, h=1e-3)) < 1e-7


def test_gradient_check_dilation_groups(rng):
    x, w, b = _inputs(rng, np.float64, 2, 4, 7, 6, 4, 3, 2, groups=2)
    kw = dict(stride=1, pad=2, dilation=2, groups=2)
    out, cache = ops.conv_forward(x, w, b, **kw)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = ops.conv_backward(dout, cache)
    assert rel_error(dx, eval_numerical_gradient_array(lambda v: ops.conv_forward(v, w, b, **kw)[0], x, dout, h=1e-3)) < 1e-7
    assert rel_error(dw, eval_numerical_gradient_array(lambda v: ops.conv_forward(x, v, b, **kw)[0], w, dout, h=1e-3)) < 1e-7


@pytest.mark.parametrize("N", [1, 3])
def test_im2col_col2im_kernels(N, dtype, rng):
    # row index c*HH*WW + i*WW + j with a non-square filter on a non-square image
    x = rng.standard_normal((N, 3, 9, 6)).astype(dtype)
    cols = ops.im2col(x, 5, 3, stride=2, pad=1)
    np.testing.assert_array_equal(cols, reference.im2col(x, 5, 3, 2, 1))
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    c, i, j, oh, ow = 2, 4, 1, 3, 2        # spot check one element by the formula
    Wo = (6 + 2 - 3) // 2 + 1
    assert cols[N - 1, c * 15 + i * 3 + j, oh * Wo + ow] == xp[N - 1, c, oh * 2 + i, ow * 2 + j]
    back = ops.col2im(cols, x.shape, 5, 3, stride=2, pad=1)
    np.testing.assert_allclose(back, reference.col2im(cols, x.shape, 5, 3, 2, 1), **_tol(dtype))
    # adjointness: <im2col(x), y> == <x, col2im(y)>
    y = rng.standard_normal(cols.shape)
    lhs = np.sum(cols.astype(np.float64) * y)
    rhs = np.sum(x.astype(np.float64) * ops.col2im(y, x.shape, 5, 3, stride=2, pad=1))
    assert abs(lhs - rhs) <= 1e-4 * max(1.0, abs(lhs))


@needs_openmp
def test_one_and_two_threads_identical(rng, restore_threads):
    # big enough to pass the kernels' threading threshold
    x, w, b = _inputs(rng, np.float32, 6, 8, 20, 18, 8, 3, 3)
    dout = rng.standard_normal((6, 8, 20, 18)).astype(np.float32)
    res = []
    for nt in (1, 2):
        fastnn.set_num_threads(nt)
        out, cache = ops.conv_forward(x, w, b, stride=1, pad=1)
        res.append((out,) + ops.conv_backward(dout, cache))
    for a, e in zip(*res):
        np.testing.assert_array_equal(a, e)


def test_sizes_around_threshold(rng):
    small = _inputs(rng, np.float64, 1, 1, 4, 4, 1, 3, 3)         # im2col moves 144 elements
    large = _inputs(rng, np.float64, 4, 8, 16, 16, 4, 3, 3)       # im2col moves 73728
    threshold = 32768
    assert 1 * 9 * 16 < threshold < 4 * 72 * 256
    old = fastnn.set_parallel_threshold("conv", threshold)
    try:
        results = [ops.conv_forward(x, w, b, 1, 1) for x, w, b in (small, large)]
    finally:
        fastnn.set_parallel_threshold("conv", old)
    for (x, w, b), (out, cache) in zip((small, large), results):
        np.testing.assert_allclose(out, reference.conv_forward(x, w, b, 1, 1)[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("algorithm", ["im2col", "direct"])
def test_every_simd_target(algorithm, rng):
    x, w, b = _inputs(rng, np.float32, 2, 3, 9, 8, 4, 3, 5)
    ref = reference.conv_forward(x, w, b, 2, 2)[0]
    for target in _dispatch.supported_targets():
        with _dispatch.use_target(target):
            out, cache = ops.conv_forward(x, w, b, stride=2, pad=2, algorithm=algorithm)
            np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


# (N, C, H, W, F, HH, WW, stride, pad, dilation): every remainder of the direct kernel's
# tile (MR pixels: 6 on AVX2, 14 on AVX-512, 4 on the baseline; NR filters: 16, 32, 8), tiles
# across output rows, filters past one panel, K past the float64 K slice
DIRECT_SHAPES = [
    (3, 3, 11, 13, 1, 3, 3, 1, 1, 1),
    (2, 2, 5, 7, 17, 2, 3, 1, 0, 1),
    (2, 5, 9, 9, 33, 3, 3, 2, 1, 2),
    (1, 1, 1, 1, 7, 1, 1, 1, 0, 1),
    (2, 3, 12, 12, 32, 7, 7, 1, 3, 1),
    (1, 4, 6, 5, 47, 5, 3, 1, 2, 1),
]


@pytest.mark.parametrize("shape", DIRECT_SHAPES)
def test_direct_path_every_target_and_thread_count(shape, dtype, rng, restore_threads):
    N, C, H, W, F, HH, WW, s, p, d = shape
    x, w, b = _inputs(rng, dtype, N, C, H, W, F, HH, WW)
    ref = reference.conv_forward(x, w, b, s, p, d)[0]
    for target in _dispatch.supported_targets():
        with _dispatch.use_target(target):
            outs = []
            for nt in (1, 2, 3):
                fastnn.set_num_threads(nt)
                out, cache = ops.conv_forward(x, w, b, stride=s, pad=p, dilation=d,
                                              algorithm="direct")
                assert cache.path == "direct"
                outs.append(out)
            np.testing.assert_allclose(outs[0], ref, **_tol(dtype))
            for o in outs[1:]:
                np.testing.assert_array_equal(o, outs[0])


def test_direct_path_choice(monkeypatch):
    # auto: Winograd from 32 channels (3x3), else direct from DIRECT_MIN_K (not 1x1), else im2col
    assert ops.conv_algorithm((8, 3, 32, 32), (32, 3, 7, 7), pad=3) == ("direct", 0)
    assert ops.conv_algorithm((8, 64, 32, 32), (64, 64, 3, 3), pad=1) == ("winograd", 2)
    assert ops.conv_algorithm((8, 64, 32, 32), (64, 64, 5, 5), pad=2) == ("direct", 0)
    assert ops.conv_algorithm((8, 3, 32, 32), (64, 3, 3, 3), pad=1) == ("im2col", 0)
    assert ops.conv_algorithm((8, 128, 8, 8), (128, 128, 1, 1)) == ("im2col", 0)
    assert ops.conv_algorithm((8, 3, 32, 32), (64, 3, 3, 3), pad=1,
                              algorithm="direct") == ("direct", 0)
    # groups, or a padded image over a quarter of the workspace: im2col, never an error
    assert ops.conv_algorithm((8, 4, 8, 8), (4, 2, 3, 3), groups=2, algorithm="direct") == ("im2col", 0)
    monkeypatch.setattr(conv_mod, "WORKSPACE_BYTES", 4096)
    assert ops.conv_algorithm((8, 3, 32, 32), (32, 3, 7, 7), pad=3) == ("im2col", 0)
    x = np.ones((1, 3, 32, 32), np.float32)
    assert ops.conv_forward(x, np.ones((4, 3, 3, 3), np.float32), algorithm="direct")[1].path == "fused"


@pytest.mark.parametrize("algorithm", ["im2col", "direct", "winograd"])
@pytest.mark.parametrize("fused", [True, False])
def test_backward_without_dx(algorithm, fused, dtype, rng, monkeypatch):
    monkeypatch.setattr(conv_mod, "USE_FUSED", fused)
    x, w, b = _inputs(rng, dtype, 3, 4, 9, 8, 5, 3, 3)
    out, cache = ops.conv_forward(x, w, b, pad=1, algorithm=algorithm)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dw, db = ops.conv_backward(dout, cache)
    none, dw2, db2 = ops.conv_backward(dout, cache, need_dx=False)
    assert none is None
    np.testing.assert_array_equal(dw2, dw)
    np.testing.assert_array_equal(db2, db)
    with pytest.raises(TypeError, match="need_dx must be True or False"):
        ops.conv_backward(dout, cache, need_dx="no")


def test_first_conv_layer_computes_no_dx(rng, monkeypatch):
    from fastnn import layers as L
    net = L.Sequential(L.Conv2d(3, 4, 3, padding=1, seed=0), L.ReLU(), L.Flatten(),
                       L.Linear(4 * 6 * 6, 2, seed=1))
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    dout = rng.standard_normal((2, 2)).astype(np.float32)
    net.zero_grad()
    net.forward(x)
    dx = net.backward(dout)
    full = {k: g.copy() for k, g in net.grads.items()}
    calls = []
    real = ops.conv_backward

    def spy(dout, cache, need_dx=True):
        calls.append(need_dx)
        return real(dout, cache, need_dx=need_dx)
    monkeypatch.setattr(ops, "conv_backward", spy)
    net.zero_grad()
    net.forward(x)
    assert net.backward(dout, need_input_grad=False) is None and calls == [False]
    assert dx.shape == x.shape
    for k, g in net.grads.items():
        np.testing.assert_array_equal(g, full[k])


def test_chunked_path_matches_one_chunk(rng, monkeypatch):
    monkeypatch.setattr(conv_mod, "USE_FUSED", False)
    x, w, b = _inputs(rng, np.float64, 7, 3, 10, 9, 5, 3, 3)
    out1, c1 = ops.conv_forward(x, w, b, 1, 1, algorithm="im2col")
    dout = rng.standard_normal(out1.shape)
    g1 = ops.conv_backward(dout, c1)
    assert c1.path == "chunked" and c1.chunk == 7
    K, F, P = 3 * 9, 5, 10 * 9
    # room for 2 images in forward ((K + F) * P floats each), 1 in backward ((2K + F) * P + dw)
    monkeypatch.setattr(conv_mod, "WORKSPACE_BYTES", 2 * (K + F) * P * 8 + 1)
    out2, c2 = ops.conv_forward(x, w, b, 1, 1, algorithm="im2col")
    g2 = ops.conv_backward(dout, c2)
    assert (c2.chunk, c2.backward_chunk) == (2, 1)
    np.testing.assert_allclose(out2, out1, rtol=1e-13, atol=1e-13)
    for a, e in zip(g2, g1):
        np.testing.assert_allclose(a, e, rtol=1e-13, atol=1e-13)
    ref = reference.conv_forward(x, w, b, 1, 1)
    np.testing.assert_allclose(out2, ref[0], rtol=1e-12, atol=1e-12)
    for a, e in zip(g2, reference.conv_backward(dout, ref[1])):
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("groups, dilation, s, p", [(1, 1, 1, 1), (2, 2, 2, 3)])
def test_chunked_path_dilation_groups(groups, dilation, s, p, rng, monkeypatch):
    monkeypatch.setattr(conv_mod, "USE_FUSED", False)
    x, w, b = _inputs(rng, np.float64, 3, 4, 9, 8, 6, 3, 2, groups)
    out, cache = ops.conv_forward(x, w, b, s, p, dilation, groups)
    ref, rcache = reference.conv_forward(x, w, b, s, p, dilation, groups)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    for a, e in zip(ops.conv_backward(dout, cache), reference.conv_backward(dout, rcache)):
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12)


def test_fused_path_row_blocks(rng, monkeypatch):
    if conv_mod.gemm_backend().addr is None:
        pytest.skip("SciPy not installed: no fused path")
    x, w, b = _inputs(rng, np.float64, 3, 3, 11, 9, 4, 5, 3)
    out1, c1 = ops.conv_forward(x, w, b, 2, 2, algorithm="im2col")
    dout = rng.standard_normal(out1.shape)
    g1 = ops.conv_backward(dout, c1)
    assert c1.path == "fused"
    monkeypatch.setattr(conv_mod, "WORKSPACE_BYTES", 1)        # one output row per block
    out2, c2 = ops.conv_forward(x, w, b, 2, 2, algorithm="im2col")
    g2 = ops.conv_backward(dout, c2)
    assert c2.workspace_bytes < c1.workspace_bytes
    np.testing.assert_allclose(out2, out1, rtol=1e-13, atol=1e-13)
    for a, e in zip(g2, g1):
        np.testing.assert_allclose(a, e, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "chunked"])
def test_huge_batch_workspace_does_not_grow(fused, rng, monkeypatch):
    monkeypatch.setattr(conv_mod, "WORKSPACE_BYTES", 1 << 20)
    monkeypatch.setattr(conv_mod, "USE_FUSED", fused)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    used = {}
    for N in (64, 4096):
        x = rng.standard_normal((N, 3, 16, 16)).astype(np.float32)
        out, cache = ops.conv_forward(x, w, b, 1, 1)
        dx, dw, db = ops.conv_backward(np.ones_like(out), cache)
        used[N] = (cache.workspace_bytes, cache.backward_workspace_bytes)
        if N == 4096:
            # the big batch is chunked (the whole im2col matrix would be 27 MiB) ...
            assert cache.chunk * 27 * 256 * 4 <= 1 << 20 and cache.chunk < N
            # ... and still right: check a few images against the reference
            ref, rc = reference.conv_forward_im2col(x[:3], w, b, 1, 1)
            np.testing.assert_allclose(out[:3], ref, rtol=1e-4, atol=1e-5)
            rdx = reference.conv_backward_im2col(np.ones_like(ref), rc)[0]
            np.testing.assert_allclose(dx[:3], rdx, rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(db, np.full(4, N * 256.0), rtol=1e-6)
    # the same scratch for 64 and 4096 images, within the limit
    assert used[4096] == used[64]
    assert 0 < used[4096][0] <= 1 << 20 and 0 < used[4096][1] <= 1 << 20
    nb, ws = ops.conv_workspace_plan(10 ** 6, 3, 4, 3, 3, 16, 16, 4, backward=True, limit=1 << 20)
    assert ws <= 1 << 20 and nb == ((1 << 20) - 4 * 27 * 4) // ((2 * 27 + 4) * 256 * 4)


def test_nan_and_inf_propagate(dtype, rng):
    x, w, b = _inputs(rng, dtype, 1, 2, 6, 6, 2, 3, 3)
    x[0, 1, 2, 3] = np.nan
    x[0, 0, 5, 5] = np.inf
    out, cache = ops.conv_forward(x, w, b, 1, 1)
    ref = reference.conv_forward(x, w, b, 1, 1)[0]
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
    assert np.isnan(out[:, :, 1:4, 2:5]).all()            # every window holding the NaN
    assert not np.isnan(out[:, :, 0, 0]).any()
    assert np.isinf(out[:, :, 4, 4]).all() or np.isnan(out[:, :, 4, 4]).all()
    dx, dw, db = ops.conv_backward(np.ones_like(out), cache)
    assert np.isnan(dw).any() and np.isfinite(dx).all()


def test_empty_batch(dtype, rng):
    x = np.zeros((0, 3, 5, 5), dtype)
    w = rng.standard_normal((2, 3, 3, 3)).astype(dtype)
    out, cache = ops.conv_forward(x, w, None, 1, 0)
    assert out.shape == (0, 2, 3, 3)
    dx, dw, db = ops.conv_backward(np.zeros(out.shape, dtype), cache)
    assert dx.shape == x.shape and (dw == 0).all() and (db == 0).all() and dw.shape == w.shape


def test_bias_none_and_lists(rng):
    x = rng.standard_normal((1, 1, 4, 4))
    out, _ = ops.conv_forward(x, [[[[1.0]]]], None)
    np.testing.assert_array_equal(out, x)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(w_shape=(2, 3, 7, 7)), ValueError, r"conv_forward: filter 7x7 with pad 0 does not fit input 5x5"),
    (dict(w_shape=(2, 3, 3, 8), pad=1), ValueError, r"filter 3x8 with pad 1 does not fit input 5x5 \(padded 7x7\)"),
    (dict(stride=0), ValueError, r"stride must be a positive integer, got 0"),
    (dict(stride=1.5), TypeError, r"stride must be an integer, got 1.5"),
    (dict(pad=-1), ValueError, r"pad must be a non-negative integer, got -1"),
    (dict(dilation=0), ValueError, r"dilation must be a positive integer, got 0"),
    (dict(dilation=3), ValueError, r"dilation 3: spans 7x7"),
    (dict(w_shape=(2, 2, 3, 3)), ValueError, r"w has 2 input channels per filter, expected C/groups = 3/1 = 3"),
    (dict(groups=2), ValueError, r"groups=2 must divide the input channels C=3"),
    (dict(b_shape=(3,)), ValueError, r"b must have shape \(F,\) = \(2,\), got shape \(3,\)"),
    (dict(x_shape=(3, 5, 5)), ValueError, r"x must have shape \(N, C, H, W\)"),
    (dict(pad=2**70), ValueError,
     r"conv_forward: pad must be at most 2147483647 \(an integer in 0..2147483647\), got "
     r"1180591620717411303424"),
    (dict(pad=2**62), ValueError, r"conv_forward: pad must be at most 2147483647"),
    (dict(stride=10**30), ValueError,
     r"conv_forward: stride must be at most 2147483647 \(an integer in 1..2147483647\)"),
    (dict(dilation=2**70), ValueError, r"conv_forward: dilation must be at most 2147483647"),
])
def test_errors(kwargs, exc, match):
    kwargs = dict(kwargs)
    x = np.zeros(kwargs.pop("x_shape", (1, 3, 5, 5)))
    w = np.zeros(kwargs.pop("w_shape", (2, 3, 3, 3)))
    b = np.zeros(kwargs.pop("b_shape", (2,)))
    with pytest.raises(exc, match=match):
        ops.conv_forward(x, w, b, **kwargs)


def test_backward_errors(rng):
    x, w, b = _inputs(rng, np.float64, 1, 1, 4, 4, 1, 3, 3)
    out, cache = ops.conv_forward(x, w, b)
    with pytest.raises(ValueError, match=r"conv_backward: dout has shape \(1, 1, 3, 3\), expected \(1, 1, 2, 2\)"):
        ops.conv_backward(np.zeros((1, 1, 3, 3)), cache)
    with pytest.raises(TypeError, match="conv_backward: cache must be the cache returned by conv_forward"):
        ops.conv_backward(out, (x, w))
    with pytest.raises(TypeError, match="w has dtype float32 but x has dtype float64"):
        ops.conv_forward(x, w.astype(np.float32), b)


def test_geometry_at_the_bound_is_accepted():
    """MAX_GEOMETRY itself is allowed: a stride that large gives one output pixel."""
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    out, cache = ops.conv_forward(x, np.ones((1, 1, 2, 2)), None, stride=ops.conv.MAX_GEOMETRY)
    assert out.shape == (1, 1, 1, 1) and out[0, 0, 0, 0] == 0 + 1 + 5 + 6
    dx, _, _ = ops.conv_backward(np.ones_like(out), cache)
    assert dx.sum() == 4


@pytest.mark.parametrize("kwargs, arg", [(dict(padding=2**70), "padding"), (dict(stride=10**30), "stride"),
                                         (dict(dilation=2**64), "dilation")])
def test_conv2d_layer_validates_geometry_at_construction(kwargs, arg):
    from fastnn.layers import Conv2d
    with pytest.raises(ValueError, match=rf"Conv2d: {arg} must be at most 2147483647"):
        Conv2d(1, 1, 3, **kwargs)


@pytest.mark.parametrize("shape", [(2, 16, 7, 9, 5, 3, 1), (3, 17, 8, 8, 33, 5, 2),
                                   (2, 32, 6, 6, 8, 3, 0), (1, 20, 5, 7, 3, 5, 4)])
def test_direct_backward_dx_by_the_direct_kernel(shape, dtype, rng, restore_threads):
    # enough input channels to fill the kernel's filter panels: dx is the direct kernel's
    # convolution of dout with the rotated filters (pad HH-1-pad)
    N, C, H, W, F, k, p = shape
    x, w, b = _inputs(rng, dtype, N, C, H, W, F, k, k)
    ref_out, rcache = reference.conv_forward(x, w, b, 1, p)
    dout = rng.standard_normal(ref_out.shape).astype(dtype)
    expected = reference.conv_backward(dout, rcache)
    results = []
    for nt in (1, 2, 3):
        fastnn.set_num_threads(nt)
        out, cache = ops.conv_forward(x, w, b, pad=p, algorithm="direct")
        assert cache.path == "direct"
        results.append(ops.conv_backward(dout, cache))
    for got, exp in zip(results[0], expected):
        np.testing.assert_allclose(got, exp, **_tol(dtype))
    for other in results[1:]:
        for a, b_ in zip(other, results[0]):
            np.testing.assert_array_equal(a, b_)
    if dtype == np.float64 and N * H * W < 200:
        x0, w0 = x.copy(), w.copy()

        def f(xx):
            return ops.conv_forward(xx, w0, b, pad=p, algorithm="direct")[0]
        num = eval_numerical_gradient_array(f, x0, dout, h=1e-3)     # linear in x: see above
        assert rel_error(num, results[0][0]) < 1e-7
