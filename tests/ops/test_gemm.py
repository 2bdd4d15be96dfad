"""fastnn's GEMM (fnn_gemm.h), reached through ``kernels.affine.gemm``: C = alpha op(A) op(B) + beta C.

Checked against a float64 (float32 inputs) or long-double (float64 inputs) product with the
rigorous bound of any summation order, |error| <= gamma_K (|alpha| |A| |B| + |beta| |C|), on
ragged shapes: every remainder of the microkernel's tile in M and N, K around the K slice,
blocks past the packed-block sizes, all four transposes, leading dimensions larger than the
rows, every SIMD target this CPU runs.  Then the thread-count independence of the drivers
that call it, and the AVX-512 tile's logic compiled for AVX2 (so that a CPU without AVX-512
still checks the 14 x 32 tile's packing and edges).
"""
import os
import shutil
import subprocess
import sys
import sysconfig

import numpy as np
import pytest

from fastnn import _dispatch
from fastnn.ops import _common

TARGETS = _dispatch.supported_targets()
DTYPES = [np.float32, np.float64]
TRANS = [(False, False), (False, True), (True, False), (True, True)]
KERNELS = os.path.join(os.path.dirname(_dispatch.__file__), "_kernels")


def _operands(rng, M, N, K, ta, tb, dtype, pad=0):
    """op(A) (M, K) and op(B) (K, N) stored as the transposes ask, rows `pad` longer than
    the matrix (views of column slices)"""
    def make(r, c):
        full = rng.standard_normal((r, c + pad)).astype(dtype)
        return full[:, :c]
    A = make(K, M) if ta else make(M, K)
    B = make(N, K) if tb else make(K, N)
    return A, B


def _check(A, ta, B, tb, C0, alpha, beta, dtype, fn=0):
    M, N = C0.shape
    K = A.shape[0] if ta else A.shape[1]
    C = C0.copy()
    _dispatch.kernels.affine.gemm(A, ta, B, tb, C, alpha, beta, fn)
    wide = np.longdouble if dtype == np.float64 else np.float64
    a = (A.T if ta else A).astype(wide)
    b = (B.T if tb else B).astype(wide)
    c0 = np.nan_to_num(C0.astype(wide)) if beta != 0 else np.zeros((M, N), wide)
    ref = alpha * (a @ b) + beta * c0
    scale = abs(alpha) * (np.abs(a) @ np.abs(b)) + abs(beta) * np.abs(c0)
    eps = np.finfo(dtype).eps / 2
    bound = (K + 2) * eps * scale + np.finfo(dtype).tiny
    err = np.abs(C.astype(wide) - ref)
    assert np.all(np.isfinite(C)), "non-finite result (C read where beta == 0?)"
    worst = np.max(err - bound) if err.size else 0
    assert worst <= 0, f"error above the bound: max(err - bound) = {worst}, shape {(M, N, K)}"


@pytest.mark.parametrize("target", TARGETS)
def test_tile_of_each_target(target):
    with _dispatch.use_target(target):
        info = _dispatch.kernels.affine.gemm_info()
    want = {"avx512": (14, 32, 16), "avx2": (6, 16, 8), "baseline": (4, 8, 4)}[target]
    assert (info["mr"], info["nr_f32"], info["nr_f64"]) == want
    assert info["kc_f64"] * 2 == info["kc_f32"] == 256


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("ta,tb", TRANS, ids=["NN", "NT", "TN", "TT"])
def test_every_tile_remainder(target, dtype, ta, tb):
    rng = np.random.default_rng(1)
    with _dispatch.use_target(target):
        info = _dispatch.kernels.affine.gemm_info()
        mr = info["mr"]
        nr = info["nr_f32"] if dtype == np.float32 else info["nr_f64"]
        kc = info["kc_f32"] if dtype == np.float32 else info["kc_f64"]
        N0, K0 = 2 * nr + 3, 37
        for M in range(1, 2 * mr + 2):                     # every remainder of MR, M = 1 included
            A, B = _operands(rng, M, N0, K0, ta, tb, dtype)
            _check(A, ta, B, tb, rng.standard_normal((M, N0)).astype(dtype), 1.0, 0.0, dtype)
        for N in range(1, 2 * nr + 2):                     # every remainder of NR
            A, B = _operands(rng, mr + 1, N, K0, ta, tb, dtype)
            _check(A, ta, B, tb, rng.standard_normal((mr + 1, N)).astype(dtype), 1.0, 1.0, dtype)
        for K in (1, 2, 3, kc - 1, kc, kc + 1, 2 * kc + 5):   # around the K slice
            A, B = _operands(rng, 2 * mr + 1, nr + 5, K, ta, tb, dtype, pad=3)
            _check(A, ta, B, tb, rng.standard_normal((2 * mr + 1, nr + 5)).astype(dtype),
                   1.0, 1.0, dtype)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_blocks_alpha_beta_and_leading_dimensions(target, dtype):
    rng = np.random.default_rng(2)
    with _dispatch.use_target(target):
        # past the packed-block sizes (MC <= 288 rows, NC <= 512 columns, KC 256 floats)
        for (M, N, K) in ((301, 530, 300), (67, 1030, 13), (1, 700, 600), (2, 3, 1000)):
            for ta, tb in TRANS:
                A, B = _operands(rng, M, N, K, ta, tb, dtype, pad=5)
                Cfull = rng.standard_normal((M, N + 7)).astype(dtype)
                _check(A, ta, B, tb, Cfull[:, :N], 1.0, 1.0, dtype)
        for alpha, beta in ((0.5, 0.0), (1.0, -0.75), (-2.0, 0.25), (0.0, 0.5), (0.0, 0.0)):
            for ta, tb in TRANS:
                A, B = _operands(rng, 23, 41, 300, ta, tb, dtype)
                C0 = rng.standard_normal((23, 41)).astype(dtype)
                if beta == 0:
                    C0[:] = np.nan                 # beta == 0: C is written, never read
                _check(A, ta, B, tb, C0, alpha, beta, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_k_zero_scales_c(dtype):
    C = np.full((3, 4), 2.0, dtype)
    _dispatch.kernels.affine.gemm(np.zeros((3, 0), dtype), False, np.zeros((0, 4), dtype), False,
                                  C, 1.0, 0.5)
    assert np.array_equal(C, np.full((3, 4), 1.0, dtype))
    C[:] = np.nan
    _dispatch.kernels.affine.gemm(np.zeros((3, 0), dtype), False, np.zeros((0, 4), dtype), False,
                                  C, 1.0, 0.0)
    assert np.array_equal(C, np.zeros((3, 4), dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_scipy_blas_through_the_same_entry(dtype):
    pytest.importorskip("scipy")
    addr = _common.scipy_blas_gemm()[np.dtype(dtype)]
    rng = np.random.default_rng(3)
    for ta, tb in TRANS:
        A, B = _operands(rng, 19, 33, 70, ta, tb, dtype)
        _check(A, ta, B, tb, rng.standard_normal((19, 33)).astype(dtype), 1.0, 1.0, dtype, addr)


def test_backend_choice(monkeypatch):
    monkeypatch.setattr(_common, "_GEMM", None)
    monkeypatch.delenv(_common.GEMM_ENV, raising=False)
    g = _common.gemm_backend()
    assert g.backend == "fastnn" and set(g.addr.values()) == {0}
    monkeypatch.setattr(_common, "_GEMM", None)
    monkeypatch.setenv(_common.GEMM_ENV, "mkl")
    with pytest.raises(ValueError, match="FASTNN_GEMM='mkl'.*'fastnn', 'scipy'"):
        _common.gemm_backend()
    monkeypatch.setattr(_common, "_GEMM", None)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_matmul_identical_for_any_thread_count(target, dtype):
    """the blocked driver (affine, maxout, DropConnect) with fastnn's GEMM: 1, 2, 3, 8 threads
    give the same bits (blocks fixed by the shape, one single-threaded GEMM per block)"""
    rng = np.random.default_rng(4)
    with _dispatch.use_target(target):
        k = _dispatch.kernels.affine
        for (M, N, K) in ((200, 333, 301), (45, 1100, 70), (1, 900, 257)):
            for ta, tb in TRANS:
                A, B = _operands(rng, M, N, K, ta, tb, dtype)
                A, B = np.ascontiguousarray(A), np.ascontiguousarray(B)
                bias = rng.standard_normal(N).astype(dtype)
                outs = []
                for nt in (1, 2, 3, 8):
                    C = np.empty((M, N), dtype)
                    k.matmul(A, ta, B, tb, C, bias, 0, nt)
                    outs.append(C)
                for C in outs[1:]:
                    assert np.array_equal(C, outs[0])
                _check(A, ta, B, tb, np.broadcast_to(bias, (M, N)).copy(), 1.0, 1.0, dtype)


# ---- the AVX-512 tile (14 x 32 floats, 14 x 16 doubles) compiled for AVX2 ----

_HARNESS = r"""
#include "fnn_gemm.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#define CHECK(T, NAME, EPS)                                                                 \
static int check_##NAME(int ta, int tb, int M, int N, int K, T al, T be, int pad) {        \
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad, i, j, k, bad = 0;\
    T *A = malloc(sizeof(T) * lda * (ta ? K : M) + 8), *B = malloc(sizeof(T) * ldb * (tb ? N : K) + 8); \
    T *C = malloc(sizeof(T) * ldc * M + 8), *C0 = malloc(sizeof(T) * ldc * M + 8);         \
    for (i = 0; i < lda * (ta ? K : M); i++) A[i] = (T)(rand() / (double)RAND_MAX - 0.5);  \
    for (i = 0; i < ldb * (tb ? N : K); i++) B[i] = (T)(rand() / (double)RAND_MAX - 0.5);  \
    for (i = 0; i < ldc * M; i++) C0[i] = C[i] = be == 0 ? (T)NAN : (T)(rand() / (double)RAND_MAX); \
    fnn_gemm_##NAME(ta, tb, M, N, K, al, A, lda, B, ldb, be, C, ldc);                     \
    for (i = 0; i < M; i++) for (j = 0; j < N; j++) {                                      \
        long double s = 0, sa = 0, r, bound;                                               \
        for (k = 0; k < K; k++) {                                                          \
            long double a = ta ? A[k * lda + i] : A[i * lda + k];                          \
            long double b = tb ? B[j * ldb + k] : B[k * ldb + j];                          \
            s += a * b; sa += fabsl(a * b);                                                \
        }                                                                                  \
        r = al * s + (be == 0 ? 0 : be * (long double)C0[i * ldc + j]);                     \
        bound = (K + 2) * EPS * (fabsl(al) * sa + (be == 0 ? 0 : fabsl(be * C0[i * ldc + j]))) + 1e-300; \
        if (!(fabsl(C[i * ldc + j] - r) <= bound)) bad++;                                  \
    }                                                                                      \
    free(A); free(B); free(C); free(C0);                                                   \
    return bad;                                                                            \
}
CHECK(float, f32, 0x1p-24L)
CHECK(double, f64, 0x1p-53L)
int main(void) {
    int bad = 0, ta, tb, M, N, K, t;
    const int Ks[] = {1, 3, 127, 128, 129, 255, 256, 257, 600};
    for (ta = 0; ta < 2; ta++) for (tb = 0; tb < 2; tb++) {
        for (M = 1; M <= 29; M++) bad += check_f32(ta, tb, M, 37, 19, 1, 1, 1) + check_f64(ta, tb, M, 21, 19, 1, 0, 0);
        for (N = 1; N <= 65; N++) bad += check_f32(ta, tb, 15, N, 19, 1, 0, 0) + check_f64(ta, tb, 15, N, 19, 1, 1, 2);
        for (t = 0; t < 9; t++) bad += check_f32(ta, tb, 29, 33, Ks[t], 1, 1, 3) + check_f64(ta, tb, 29, 17, Ks[t], 0.5f, -1, 0);
        bad += check_f32(ta, tb, 300, 530, 70, 1, 1, 1) + check_f64(ta, tb, 300, 530, 70, 1, 0, 1);
    }
    printf("%d\n", bad);
    return bad != 0;
}
"""


def test_avx512_tile_logic_compiled_for_avx2(tmp_path):
    if not _dispatch._runtime.cpu_features()["avx2"]:
        pytest.skip("needs an AVX2 CPU to run the emulated tile")
    if not os.path.exists(os.path.join(KERNELS, "fnn_gemm.h")):
        pytest.skip("fastnn's C headers are not installed (a wheel ships none)")
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None or sys.platform == "win32":
        pytest.skip("no C compiler")
    src = tmp_path / "harness.c"
    src.write_text(_HARNESS)
    exe = tmp_path / "harness"
    subprocess.run([cc, "-O2", "-mavx2", "-mfma", "-DFNN_GEMM_VBYTES=64", "-DFNN_GEMM_MR=14",
                    "-I", KERNELS, str(src), "-o", str(exe), "-lm"], check=True)
    out = subprocess.run([str(exe)], check=False, capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == "0" and out.returncode == 0, out.stdout + out.stderr
