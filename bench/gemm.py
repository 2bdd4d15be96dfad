"""Single-thread GFLOP/s of fastnn's GEMM (fnn_gemm.h) against SciPy's OpenBLAS on fastnn's shapes.

Usage::

    PYTHONPATH=. python bench/gemm.py                 # both OpenBLAS settings, one child each
    PYTHONPATH=. python bench/gemm.py --repeat 15 --target avx2
    PYTHONPATH=. python bench/gemm.py --child         # this process's environment only

Every shape is timed through one entry, ``kernels.affine.gemm`` (common.pxd's ``gemm_rm``):
``fn=0`` runs fastnn's GEMM, ``fn=<address>`` SciPy's sgemm/dgemm with SciPy's BLAS held on
one thread, on the same arrays, the two interleaved repetition by repetition; medians of the
calling thread's CPU time (``time.thread_time``: on a shared machine, the time the thread was
descheduled does not count; ``--wall`` times wall-clock instead).  The
affine rows time the blocked driver ``kernels.affine.matmul`` on one thread (the calls that
affine, maxout and DropConnect make).  The peak is the float32 multiply-add loop of the
SIMD target (``kernels.affine.fma_peak``: the microkernel's register tile, nothing loaded).

Without ``--child`` the script runs itself twice: once with ``OPENBLAS_CORETYPE`` as the
environment has it unset (OpenBLAS picks its kernel for the CPU), once with
``OPENBLAS_CORETYPE=Haswell`` (set on some machines), and prints both tables.
"""
import argparse
import os
import subprocess
import sys
import time

import numpy as np

import fastnn  # noqa: F401  (before anything that loads libgomp)
from fastnn import _dispatch
from fastnn.ops import _common

# (label, M, N, K, trans_a, trans_b): the GEMM calls fastnn makes
CONV = [
    # conv fused path, forward: out (F, pb) = w (F, C*9) @ cols (C*9, pb), pb = 256 pixels
    ("conv fwd 64->64 3x3 32x32", 64, 256, 576, False, False),
    ("conv fwd 128->128 3x3 16x16", 128, 256, 1152, False, False),
    ("conv fwd 256->256 3x3 8x8", 256, 64, 2304, False, False),
    ("conv fwd 3->32 7x7 32x32", 32, 256, 147, False, False),
    # backward: dw (F, K) += dout (F, pb) @ cols^T;  dcols (K, pb) = w^T @ dout
    ("conv dw 64->64 3x3 32x32", 64, 576, 256, False, True),
    ("conv dcols 64->64 3x3 32x32", 576, 256, 64, True, False),
    ("conv dw 256->256 3x3 8x8", 256, 2304, 64, False, True),
    ("conv dcols 256->256 3x3 8x8", 2304, 64, 256, True, False),
]
# (label, batch, D, M): affine forward x (batch, D) @ w (D, M), dx = dout @ w^T, dw = x^T @ dout
AFFINE = [("affine 64x3072->100", 64, 3072, 100), ("affine 256x3072->1024", 256, 3072, 1024),
          ("affine 128x3072->512", 128, 3072, 512)]


CLOCK = time.thread_time


def _time(fn, repeat):
    t = CLOCK()
    fn()
    return CLOCK() - t


def _interleaved(fns, repeat, min_seconds=0.02):
    """median seconds of each fn, the fns alternated; each sample loops until min_seconds"""
    loops = []
    for f in fns:
        f()
        n, t = 1, _time(f, 1)
        while t * n < min_seconds and n < 1 << 16:
            n *= 2
        loops.append(n)
    samples = [[] for _ in fns]
    for _ in range(repeat):
        for s, f, n in zip(samples, fns, loops):
            t = CLOCK()
            for _ in range(n):
                f()
            s.append((CLOCK() - t) / n)
    return [float(np.median(s)) for s in samples]


def _peak(repeat):
    k = _dispatch.kernels.affine
    rounds = 2_000_000
    best = []
    for _ in range(repeat):
        t = CLOCK()
        flops, _ = k.fma_peak(rounds)
        best.append(flops / (CLOCK() - t))
    return float(np.median(best)) / 1e9


def child(args):
    global CLOCK
    if args.wall:
        CLOCK = time.perf_counter
    from threadpoolctl import threadpool_limits
    dtype = np.dtype(args.dtype)
    blas = _common.scipy_blas_gemm()[dtype]          # loads SciPy's OpenBLAS, then:
    limiter = threadpool_limits(1, user_api="blas")   # noqa: F841 (every BLAS on one thread)
    if args.target:
        _dispatch.set_target(args.target)
    k = _dispatch.kernels.affine
    rng = np.random.default_rng(0)
    load = os.getloadavg()[0]
    core = os.environ.get("OPENBLAS_CORETYPE", "")
    print(f"\n## OPENBLAS_CORETYPE={core or '(unset)'}; target {_dispatch.active_target()}, "
          f"{dtype}, 1 thread, load {load:.2f}, {'wall' if args.wall else 'thread CPU'} time")
    print(f"multiply-add peak (fastnn tile loop): {_peak(args.repeat):.1f} GFLOP/s")
    print("| shape | M | N | K | op | fastnn GFLOP/s | OpenBLAS GFLOP/s | fastnn / OpenBLAS |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    rows = []
    for label, M, N, K, ta, tb in CONV:
        A = rng.standard_normal((K, M) if ta else (M, K)).astype(dtype)
        B = rng.standard_normal((N, K) if tb else (K, N)).astype(dtype)
        C = np.zeros((M, N), dtype)
        beta = 1.0 if "dw" in label else 0.0
        t_f, t_b = _interleaved([lambda: k.gemm(A, ta, B, tb, C, 1.0, beta, 0),
                                 lambda: k.gemm(A, ta, B, tb, C, 1.0, beta, blas)], args.repeat)
        op = ("T" if ta else "N") + ("T" if tb else "N")
        rows.append((label, M, N, K, op, 2 * M * N * K / t_f / 1e9, 2 * M * N * K / t_b / 1e9))
    for label, n, D, M in AFFINE:
        x = rng.standard_normal((n, D)).astype(dtype)
        w = rng.standard_normal((D, M)).astype(dtype)
        g = rng.standard_normal((n, M)).astype(dtype)
        out, dx, dw = np.empty((n, M), dtype), np.empty((n, D), dtype), np.empty((D, M), dtype)
        none = out.reshape(-1)[:0]
        for what, (A, ta, B, tb, C) in (("fwd", (x, False, w, False, out)),
                                         ("dx", (g, False, w, True, dx)),
                                         ("dw", (x, True, g, False, dw))):
            MM, NN = C.shape
            KK = A.shape[0] if ta else A.shape[1]
            t_f, t_b = _interleaved([lambda: k.matmul(A, ta, B, tb, C, none, 0, 1),
                                     lambda: k.matmul(A, ta, B, tb, C, none, blas, 1)], args.repeat)
            op = ("T" if ta else "N") + ("T" if tb else "N")
            rows.append((f"{label} {what} (blocked driver)", MM, NN, KK, op,
                         2 * MM * NN * KK / t_f / 1e9, 2 * MM * NN * KK / t_b / 1e9))
    for label, M, N, K, op, gf, gb in rows:
        print(f"| {label} | {M} | {N} | {K} | {op} | {gf:.1f} | {gb:.1f} | {gf / gb:.2f} |")
    print(f"load after: {os.getloadavg()[0]:.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--child", action="store_true",
                    help="measure in this process's environment only (no second run)")
    ap.add_argument("--repeat", type=int, default=9, help="samples per shape (median)")
    ap.add_argument("--target", choices=["avx512", "avx2", "baseline"], default=None,
                    help="SIMD target (default: the best this CPU runs)")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--wall", action="store_true", help="time wall-clock, not thread CPU time")
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    argv = [sys.executable, os.path.abspath(__file__), "--child", "--repeat", str(args.repeat),
            "--dtype", args.dtype] + (["--target", args.target] if args.target else []) + (
                ["--wall"] if args.wall else [])
    for core in (None, "Haswell"):
        env = dict(os.environ)
        env.pop("OPENBLAS_CORETYPE", None)
        if core:
            env["OPENBLAS_CORETYPE"] = core
        subprocess.run(argv, env=env, check=True)


if __name__ == "__main__":
    main()
