"""Measure where a second thread starts to pay off for elementwise kernels.

Sets fastnn's parallel thresholds to 0 for this process (``_set_tuning``), then
times the raw forward kernels of a cheap op (relu) and a transcendental one
(tanh) with 1 and 2 threads over a range of sizes.  The first size where two
threads win clearly is where PARALLEL_MIN_CHEAP / PARALLEL_MIN_TRANSCENDENTAL
(fastnn/_kernels/activations.pyx) belong.

    python bench/threshold.py
"""
import numpy as np

from fastnn import _dispatch
from fastnn.benchmarks.harness import median_us


def main():
    K = _dispatch.kernels.activations
    old = K._set_tuning(0, 0, 1 << 62)
    rng = np.random.default_rng(0)
    print("| elements | relu 1 thread | relu 2 threads | speed-up | tanh 1 thread | tanh 2 threads | speed-up |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    try:
        for n in [1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144]:
            x = rng.standard_normal(n).astype(np.float32)
            out = np.empty_like(x)
            row = []
            for op in ("relu", "tanh"):
                code = K.OPS[op]
                t = {}
                for nt in (1, 2):
                    t[nt] = median_us(lambda: K.unary_forward(code, x, out, 0.0, 0.0, nt),
                                      reps=max(50, int(2e7 // n)), warmup=20)
                row += [f"{t[1]:.2f}", f"{t[2]:.2f}", f"{t[1] / t[2]:.2f}"]
            print(f"| {n} | " + " | ".join(row) + " |")
    finally:
        K._set_tuning(*old)


if __name__ == "__main__":
    main()
