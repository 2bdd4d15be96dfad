"""Where a second thread starts to pay off for the augmentation kernels.

Sets the "augment" parallel threshold to 0 for this process
(``fastnn.set_parallel_threshold``), then times the batch augmentations (public
functions, fixed seed) with 1 and 2 threads over batches of 3x32x32 images from 2 to
128.  The threshold belongs at the first size where two threads win (bench/threshold.py
measures every family; this script every augmentation).

    python bench/threshold_augment.py
"""
import numpy as np

import fastnn
from fastnn.data import augment as A
from fastnn.benchmarks.harness import median_us

OPS = {
    "random_crop": lambda X: A.random_crop(X, padding=4, seed=0),
    "hflip": lambda X: A.hflip(X, seed=0),
    "color_jitter": lambda X: A.color_jitter(X, 0.4, 0.4, 0.4, seed=0),
    "cutout": lambda X: A.cutout(X, 16, seed=0),
    "mixup": lambda X: A.mixup(X, np.zeros(len(X), np.int64), alpha=0.2, seed=0),
}


def main():
    old_n = fastnn.get_num_threads()
    old = fastnn.set_parallel_threshold("augment", 0)
    rng = np.random.default_rng(0)
    print("| elements (N x 3x32x32) | " + " | ".join(f"{op} 1 / 2 thr us, speed-up" for op in OPS) + " |")
    print("| ---: |" + " ---: |" * len(OPS))
    try:
        for n in [2, 4, 8, 16, 32, 64, 128]:
            X = rng.random((n, 3, 32, 32), dtype=np.float32)
            row = []
            for op, f in OPS.items():
                t = {}
                for nt in (1, 2):
                    fastnn.set_num_threads(nt)
                    t[nt] = median_us(lambda: f(X), reps=max(20, int(4e6 // X.size)), warmup=10)
                row.append(f"{t[1]:.1f} / {t[2]:.1f}, {t[1] / t[2]:.2f}")
            print(f"| {X.size} | " + " | ".join(row) + " |")
    finally:
        fastnn.set_parallel_threshold("augment", old)
        fastnn.set_num_threads(old_n)


if __name__ == "__main__":
    main()
