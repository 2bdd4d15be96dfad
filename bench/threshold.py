"""Measure, per kernel family, where a second thread starts to pay off.

For every parallel threshold of fastnn (``fastnn.parallel_thresholds()``), a representative
op of the family is timed with 1 and 2 threads over sizes from 4K to 1M elements
(multiply-adds for ``affine.gemm``), with that family's threshold set to 0 for the
measurement (so 2 threads really run 2 threads) and restored afterwards.  The two thread
counts are interleaved round by round, so machine noise hits both alike; medians.

The suggested threshold is the smallest size from which 2 threads beat 1 by at least
``--margin`` (default 5%) at that size and every larger one measured ("> max" when 2
threads never win that clearly: use a value above the largest size).  The measurement
runs under whatever OpenMP wait policy is in force: fastnn's default (passive) unless
OMP_WAIT_POLICY / GOMP_SPINCOUNT are set.  Write ``uptime``'s load next to the figures.

    python bench/threshold.py [--families activations.cheap,conv] [--rounds 9]
                              [--max-size 1048576] [--output FILE]
"""
import argparse
import os
import time

import numpy as np

import fastnn
from fastnn import _dispatch, ops
from fastnn.data import augment


def _elementwise(fn):
    def make(n, rng):
        x = rng.standard_normal(n).astype(np.float32)
        return lambda: fn(x)
    return make


def _affine_bias(n, rng):
    # the kernel of affine backward's db (and of bias_add's family): column sums of (N, 256)
    K = _dispatch.kernels.affine
    a = rng.standard_normal((max(1, n // 256), 256)).astype(np.float32)
    out = np.empty(256, np.float32)
    return lambda: K.column_sum(a, out, fastnn.get_num_threads())


def _gemm(n, rng):
    # n multiply-adds: (m, m) @ (m, m) with m^3 ~ n
    m = max(2, round(n ** (1 / 3)))
    x = rng.standard_normal((m, m)).astype(np.float32)
    w = rng.standard_normal((m, m)).astype(np.float32)
    b = np.zeros(m, np.float32)
    return lambda: ops.affine_forward(x, w, b)


def _augment(n, rng):
    N = max(1, n // (3 * 32 * 32))
    X = rng.random((N, 3, 32, 32), dtype=np.float32)
    return lambda: augment.hflip(X, p=1.0, seed=0)


def _conv(n, rng):
    # im2col of (N, 8, 16, 16) with 3x3 filters moves N * 8 * 9 * 256 elements
    N = max(1, n // (8 * 9 * 256))
    x = rng.standard_normal((N, 8, 16, 16)).astype(np.float32)
    w = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    b = np.zeros(8, np.float32)
    return lambda: ops.conv_forward(x, w, b, 1, 1)


def _dropout(n, rng):
    x = rng.standard_normal(n).astype(np.float32)
    return lambda: ops.dropout_forward(x, 0.5, seed=1)


def _mse(n, rng):
    p = rng.standard_normal(n).astype(np.float32)
    t = rng.standard_normal(n).astype(np.float32)
    return lambda: ops.mse_loss(p, t)


def _softmax(n, rng):
    rows = max(1, n // 1000)
    s = rng.standard_normal((rows, 1000)).astype(np.float32)
    y = rng.integers(0, 1000, rows)
    return lambda: ops.softmax_loss(s, y)


def _batchnorm(n, rng):
    # spatial batch norm, train mode, forward + backward: (N, 16, 16, 16)
    N = max(1, n // 4096)
    x = rng.standard_normal((N, 16, 16, 16)).astype(np.float32)
    g, b = np.ones(16, np.float32), np.zeros(16, np.float32)
    rm, rv = np.zeros(16, np.float32), np.ones(16, np.float32)

    def step():
        out, cache = ops.batchnorm_forward(x, g, b, rm, rv, training=True)
        return ops.batchnorm_backward(out, cache)
    return step


def _optim(cls, **kw):
    def make(n, rng):
        params = {"w": rng.standard_normal(n).astype(np.float32)}
        grads = {"w": rng.standard_normal(n).astype(np.float32) * 1e-3}
        opt = cls(params, grads=grads, **kw)
        return opt.step
    return make


def _pooling(n, rng):
    N = max(1, n // (16 * 32 * 32))
    x = rng.standard_normal((N, 16, 32, 32)).astype(np.float32)
    return lambda: ops.max_pool_forward(x)


# threshold name: (what is timed, workload maker)
CASES = {
    "activations.cheap": ("relu forward", _elementwise(ops.relu_forward)),
    "activations.transcendental": ("tanh forward", _elementwise(ops.tanh_forward)),
    "affine": ("column sums of (N, 256), the db kernel", _affine_bias),
    "affine.gemm": ("affine forward, square (m, m) @ (m, m)", _gemm),
    "augment": ("hflip of N x 3x32x32", _augment),
    "conv": ("conv forward 8->8 3x3, N x 8x16x16 (im2col elements)", _conv),
    "dropout": ("dropout forward", _dropout),
    "losses.cheap": ("mse loss", _mse),
    "losses.transcendental": ("softmax loss, rows of 1000", _softmax),
    "normalization": ("spatial batch norm forward + backward, N x 16x16x16", _batchnorm),
    "optim.sgd": ("SGD momentum step", _optim(fastnn.optim.SGD, lr=1e-3, momentum=0.9)),
    "optim.adaptive": ("Adam step", _optim(fastnn.optim.Adam, lr=1e-3)),
    "pooling": ("max pool 2x2 forward, N x 16x32x32", _pooling),
}


def _time_pair(call, n):
    """Median microseconds per call with 1 and 2 threads, interleaved round by round."""
    reps = max(10, int(2e7 // max(n, 1)))
    reps = min(reps, 2000)
    times = {1: [], 2: []}
    for nt in (1, 2):
        fastnn.set_num_threads(nt)
        for _ in range(5):
            call()
    for r in range(ROUNDS):
        for nt in ((1, 2) if r % 2 == 0 else (2, 1)):
            fastnn.set_num_threads(nt)
            t0 = time.perf_counter()
            for _ in range(reps):
                call()
            times[nt].append((time.perf_counter() - t0) / reps * 1e6)
    return float(np.median(times[1])), float(np.median(times[2]))


def suggest(sizes, speedups, margin):
    """Smallest size from which every speed-up is >= 1 + margin, or None."""
    best = None
    for n, s in zip(reversed(sizes), reversed(speedups)):
        if s >= 1 + margin:
            best = n
        else:
            break
    return best


ROUNDS = 9


def main():
    global ROUNDS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--families", default=",".join(CASES), help="comma list of threshold names")
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    ap.add_argument("--min-size", type=int, default=4096)
    ap.add_argument("--max-size", type=int, default=1 << 20)
    ap.add_argument("--margin", type=float, default=0.05)
    ap.add_argument("--output", default=None, help="also write the tables to this file")
    args = ap.parse_args()
    ROUNDS = args.rounds
    names = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = set(names) - set(CASES)
    if unknown:
        ap.error(f"--families: unknown {sorted(unknown)}; expected names from {list(CASES)}")
    sizes = []
    n = args.min_size
    while n <= args.max_size:
        sizes.append(n)
        n *= 2
    rng = np.random.default_rng(0)
    old_threads = fastnn.get_num_threads()
    lines = [f"load average before: {os.getloadavg()[0]:.2f}; OpenMP wait policy: "
             f"{fastnn.config()['omp_wait_policy']}; SIMD target: {fastnn.config()['simd_active']}",
             ""]
    summary = []
    print("\n".join(lines), flush=True)
    try:
        for name in names:
            what, make = CASES[name]
            old = fastnn.set_parallel_threshold(name, 0)
            try:
                head = [f"**{name}** ({what}), microseconds:", "",
                        "| size | 1 thread | 2 threads | speed-up |", "| ---: | ---: | ---: | ---: |"]
                print("\n".join(head), flush=True)
                lines += head
                ups = []
                for n in sizes:
                    t1, t2 = _time_pair(make(n, rng), n)
                    ups.append(t1 / t2)
                    row = f"| {n} | {t1:.1f} | {t2:.1f} | {t1 / t2:.2f} |"
                    print(row, flush=True)
                    lines.append(row)
            finally:
                fastnn.set_parallel_threshold(name, old)
            s = suggest(sizes, ups, args.margin)
            summary.append((name, old, s))
            lines.append("")
            print()
        lines += [f"load average after: {os.getloadavg()[0]:.2f}", "",
                  "| threshold | in force | suggested |", "| --- | ---: | ---: |"]
        lines += [f"| {n} | {old} | {s if s is not None else '> ' + str(sizes[-1])} |"
                  for n, old, s in summary]
        print("\n".join(lines[-(len(summary) + 4):]))
    finally:
        fastnn.set_num_threads(old_threads)
    if args.output:
        with open(args.output, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
