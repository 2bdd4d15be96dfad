"""Per-path convolution timings behind the "auto" rule of fastnn.ops.conv (docs/convolution.md).

Usage::

    PYTHONPATH=. python bench/conv_paths.py [--threads 1] [--repeat 15]

For each shape, every applicable path ("direct", "winograd", "im2col") is timed on the same
arrays, the paths interleaved run by run; the table gives the minimum (one thread: the
calling thread's CPU time, so time the thread was descheduled does not count; more threads:
wall-clock) of the forward, of the filter gradient alone (``need_dx=False``) and of forward
+ backward, in ms, float32.
"""
import argparse
import os
import time

import numpy as np

import fastnn
from fastnn import ops

# (N, C, F, H=W, k, stride, pad)
SHAPES = [
    (50, 3, 32, 32, 7, 1, 3),
    (64, 3, 64, 32, 3, 1, 1),
    (64, 16, 32, 32, 3, 1, 1),
    (64, 32, 32, 32, 3, 1, 1),
    (64, 64, 64, 32, 3, 1, 1),
    (64, 128, 128, 16, 3, 1, 1),
    (64, 256, 256, 8, 3, 1, 1),
    (32, 32, 32, 16, 5, 1, 2),
    (32, 64, 64, 16, 3, 2, 1),
    (32, 128, 128, 8, 1, 1, 0),
]


def _interleaved(fns, repeat, clock):
    for f in fns:
        f()
    samples = [[] for _ in fns]
    for _ in range(repeat):
        for s, f in zip(samples, fns):
            t = clock()
            f()
            s.append(clock() - t)
    return [1e3 * min(s) for s in samples]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    fastnn.set_num_threads(args.threads)
    clock = time.thread_time if args.threads == 1 else time.perf_counter
    rng = np.random.default_rng(0)
    print(f"threads {args.threads}, load {os.getloadavg()[0]:.2f}, "
          f"{'thread CPU' if args.threads == 1 else 'wall'} time, min of {args.repeat}, ms")
    print("| N, C -> F, image, filter | path | forward | dw, db only | forward + backward |")
    print("| --- | --- | ---: | ---: | ---: |")
    for N, C, F, H, k, s, p in SHAPES:
        x = rng.standard_normal((N, C, H, H), dtype=np.float32)
        w = (rng.standard_normal((F, C, k, k), dtype=np.float32) / np.sqrt(C * k * k)).astype(np.float32)
        b = np.zeros(F, np.float32)
        paths = []
        for alg in ("direct", "winograd", "im2col"):
            if ops.conv.conv_algorithm(x.shape, w.shape, s, p, algorithm=alg)[0] == alg:
                paths.append(alg)
        auto = ops.conv.conv_algorithm(x.shape, w.shape, s, p)[0]
        out, _ = ops.conv_forward(x, w, b, stride=s, pad=p)
        g = rng.standard_normal(out.shape, dtype=np.float32)
        fns = []
        for alg in paths:
            def fwd(alg=alg):
                return ops.conv_forward(x, w, b, stride=s, pad=p, algorithm=alg)

            def dw(alg=alg, c=fwd()[1]):
                return ops.conv_backward(g, c, need_dx=False)

            def both(alg=alg):
                return ops.conv_backward(g, fwd(alg)[1])
            fns += [fwd, dw, both]
        t = _interleaved(fns, args.repeat, clock)
        for i, alg in enumerate(paths):
            mark = " (auto)" if alg == auto else ""
            print(f"| N={N}, {C} -> {F}, {H}x{H}, {k}x{k} s{s} | {alg}{mark} | "
                  f"{t[3 * i]:.2f} | {t[3 * i + 1]:.2f} | {t[3 * i + 2]:.2f} |")


if __name__ == "__main__":
    main()
