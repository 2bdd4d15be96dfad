"""Results independent of the thread count, by construction.

The GEMM-backed ops (affine, maxout, DropConnect, conv) partition their work by the shape of
the problem, never by the number of threads, so 1, 2, 3, 8 and 16 threads make the same GEMM
calls on the same memory and give the same bits -- also where a GEMM kernel rounds
differently depending on where a block starts (SciPy's OpenBLAS under ``FASTNN_GEMM=scipy``,
with ``OPENBLAS_CORETYPE=Haswell``; the suite must pass with and without it).  More threads than cores is fine for this check:
the partition is what is tested, not the speed.
"""
import json

import numpy as np
import pytest

import fastnn
from fastnn import _dispatch, ops
from fastnn.cli import main

from helpers import needs_openmp

THREADS = (1, 2, 3, 8, 16)


def _each_thread_count(fn):
    results = []
    for nt in THREADS:
        fastnn.set_num_threads(nt)
        results.append([np.asarray(r) for r in fn()])
    return results


def _assert_all_identical(results):
    for nt, res in zip(THREADS[1:], results[1:]):
        for i, (a, e) in enumerate(zip(res, results[0])):
            assert np.array_equal(a, e, equal_nan=True), f"{nt} threads, result {i} differs"


def test_gemm_blocks_rule():
    blocks = _dispatch.kernels.affine.gemm_blocks
    grain = _dispatch.kernels.affine.GEMM_GRAIN
    most = _dispatch.kernels.affine.GEMM_MAX_BLOCKS
    assert (grain, most) == (32, 16)
    # the largest power of two <= min(16, longer side // 32), at least 1; never thread-dependent
    for (M, N), want in {(1, 1): 1, (63, 10): 1, (64, 10): 2, (200, 100): 4, (50, 8192): 16,
                         (10, 300): 8, (511, 3): 8, (512, 512): 16, (10**6, 5): 16}.items():
        assert blocks(M, N) == want, (M, N)


@needs_openmp
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_affine_maxout_dropconnect_identical_for_any_thread_count(dtype, restore_threads):
    rng = np.random.default_rng(7)
    # 200 x 700 output: 4 row blocks; 50 x 1100: 16 column blocks; every side ragged
    for N, D, M in ((200, 333, 700), (50, 257, 1100)):
        x = rng.standard_normal((N, D)).astype(dtype)
        w = rng.standard_normal((D, M)).astype(dtype)
        b = rng.standard_normal(M).astype(dtype)
        g = rng.standard_normal((N, M)).astype(dtype)
        wk = rng.standard_normal((3, D, M // 4)).astype(dtype)
        bk = rng.standard_normal((3, M // 4)).astype(dtype)
        gk = rng.standard_normal((N, M // 4)).astype(dtype)

        def affine():
            out, cache = ops.affine_forward(x, w, b)
            return (out,) + ops.affine_backward(g, cache)

        def maxout():
            out, cache = ops.maxout_forward(x, wk, bk)
            return (out, cache.idx) + ops.maxout_backward(gk, cache)

        def dropconnect():
            out, cache = ops.dropconnect_forward(x, w, b, p=0.3, seed=5)
            return (out,) + ops.dropconnect_backward(g, cache)

        for fn in (affine, maxout, dropconnect):
            _assert_all_identical(_each_thread_count(fn))


@needs_openmp
@pytest.mark.parametrize("shape", [
    # N, C, H, W, F, k, stride, pad
    (6, 8, 20, 18, 8, 3, 1, 1),
    (19, 16, 31, 29, 12, 3, 1, 1),      # more images than 16 backward slices
    (3, 64, 40, 40, 32, 5, 2, 2),       # row blocks capped by the workspace
])
@pytest.mark.parametrize("algorithm, path", [("im2col", "fused"), ("direct", "direct")])
def test_conv_identical_for_any_thread_count(shape, algorithm, path, restore_threads, monkeypatch):
    N, C, H, W, F, k, s, p = shape
    rng = np.random.default_rng(3)
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((F, C, k, k)).astype(np.float32)
    b = rng.standard_normal(F).astype(np.float32)
    Ho, Wo = ops.conv_output_shape(x.shape, w.shape, s, p)
    g = rng.standard_normal((N, F, Ho, Wo)).astype(np.float32)
    if C == 64:   # a small workspace: several row blocks per image
        monkeypatch.setattr(ops.conv, "WORKSPACE_BYTES", 1 << 20)

    def conv():
        out, cache = ops.conv_forward(x, w, b, stride=s, pad=p, algorithm=algorithm)
        assert cache.path == path
        return (out,) + ops.conv_backward(g, cache)

    _assert_all_identical(_each_thread_count(conv))


def test_batchnorm_constant_channel_far_from_zero_is_exactly_zero():
    # (x - mean) * scale + beta: no cancellation of x * scale against mean * scale
    for shape in ((2, 1), (4, 3), (2, 3, 2, 2)):
        x = np.full(shape, 100.0, np.float32)
        C = shape[1]
        gamma, beta = np.ones(C, np.float32), np.zeros(C, np.float32)
        rm, rv = np.zeros(C, np.float32), np.ones(C, np.float32)
        out, _ = ops.batchnorm_forward(x, gamma, beta, rm, rv, training=True, momentum=0.0,
                                       eps=1e-5)
        np.testing.assert_array_equal(out, 0.0)
    x = np.full((2, 4, 3, 3), 1000.0, np.float32)
    out, _ = ops.groupnorm_forward(x, np.ones(4, np.float32), np.zeros(4, np.float32), 2)
    np.testing.assert_array_equal(out, 0.0)


@needs_openmp
@pytest.mark.slow
def test_train_one_and_two_threads_write_identical_models(tmp_path, capsys, restore_threads):
    models = []
    for nt in (1, 2):
        out = tmp_path / f"t{nt}"
        code = main(["train", "--epochs", "2", "--threads", str(nt), "--output-dir", str(out),
                     "--no-plots", "--quiet", "--no-monitor"])
        capsys.readouterr()
        assert code == 0
        with np.load(out / "model.npz") as z:
            models.append({k: z[k] for k in z.files})
        assert json.loads((out / "history.json").read_text())["loss_history"]
    assert models[0].keys() == models[1].keys()
    for k in models[0]:
        np.testing.assert_array_equal(models[0][k], models[1][k], err_msg=k)
