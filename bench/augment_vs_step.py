"""Does augmenting a batch cost less than the training step it feeds?

Prints, in one run, the median time of augmenting one batch and the median time of one
training step on it (forward + softmax loss + backward + SGD-momentum update), and their ratio:

* CIFAR-shaped: (128, 3, 32, 32), crop (pad 4) + flip + colour jitter (0.4, 0.4, 0.4) +
  cutout (16), feeding ThreeLayerConvNet(input_dim=(3, 32, 32));
* digits: (64, 1, 8, 8), crop (pad 1) + cutout (4), feeding
  ThreeLayerConvNet(input_dim=(1, 8, 8), num_filters=16, filter_size=3, hidden_dim=64).

    python bench/augment_vs_step.py [--threads 2] [--reps 21]

Augmentation and step are interleaved rep by rep, so machine noise falls on both alike.
"""
import argparse
import os
import platform
import time

import numpy as np

import fastnn
from fastnn import optim
from fastnn.benchmarks import harness
from fastnn.data import augment as A
from fastnn.models import ThreeLayerConvNet


def _cases():
    rng = np.random.default_rng(0)
    cifar = rng.random((128, 3, 32, 32), dtype=np.float32)
    digits = rng.random((64, 1, 8, 8), dtype=np.float32)
    return [
        ("CIFAR 128x3x32x32, crop(4)+flip+jitter+cutout(16)", cifar,
         [A.RandomCrop(4), A.HorizontalFlip(0.5), A.ColorJitter(0.4, 0.4, 0.4), A.Cutout(16)],
         ThreeLayerConvNet(input_dim=(3, 32, 32), seed=0)),
        ("digits 64x1x8x8, crop(1)+cutout(4)", digits, [A.RandomCrop(1), A.Cutout(4)],
         ThreeLayerConvNet(input_dim=(1, 8, 8), num_filters=16, filter_size=3, hidden_dim=64, seed=0)),
    ]


def measure(X, pipeline, model, reps):
    y = np.random.default_rng(1).integers(0, 10, len(X))
    net = model.net
    opt = optim.SGD(net, lr=1e-2, momentum=0.9)
    rng = np.random.default_rng(2)

    def augment():
        return A.apply(pipeline, X, y, rng)

    step = harness.training_step(net, opt, X, y)

    for _ in range(3):
        augment()
        step()
    ta, ts = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        augment()
        t1 = time.perf_counter()
        step()
        t2 = time.perf_counter()
        ta.append(t1 - t0)
        ts.append(t2 - t1)
    return float(np.median(ta)) * 1e3, float(np.median(ts)) * 1e3


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=21)
    args = ap.parse_args(argv)
    from threadpoolctl import threadpool_limits
    limiter = threadpool_limits(args.threads)        # noqa: F841 (kept alive for the run)
    fastnn.set_num_threads(args.threads)
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    c = fastnn.config()
    print(f"Machine: {cpu}, {os.cpu_count()} CPUs; threads {args.threads}; "
          f"fastnn SIMD target {c['simd_active']}; median of {args.reps}")
    print()
    print("| batch and pipeline | augment ms | training step ms | augment / step | met (< 1) |")
    print("| --- | ---: | ---: | ---: | --- |")
    for label, X, pipeline, model in _cases():
        ta, ts = measure(X, pipeline, model, args.reps)
        print(f"| {label} | {ta:.3f} | {ts:.3f} | {ta / ts:.3f} | {'yes' if ta < ts else 'NO'} |")


if __name__ == "__main__":
    main()
