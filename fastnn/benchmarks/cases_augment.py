"""Augmentation workloads for ``fastnn bench`` / bench/compare.py (group "augment"): fastnn's kernels vs the NumPy
reference, float32, the same seeds (so the same per-sample parameters: outputs are checked to
agree).  No torch column: torchvision is not installed and torch has no batched equivalents.

Pipelines: (a) a CIFAR-shaped batch (128, 3, 32, 32), random crop (pad 4) + flip +
colour jitter (0.4, 0.4, 0.4) + cutout (16); (b) a digits batch (64, 1, 8, 8), crop (pad 1) +
cutout (4).  Then one row per op on the CIFAR-shaped batch.  Rate: bytes read + written by the
op (a pipeline row counts each of its ops).
"""
import numpy as np

from fastnn.benchmarks import harness
from fastnn.data import augment as A
from fastnn import reference as R

CIFAR = (128, 3, 32, 32)
DIGITS = (64, 1, 8, 8)


def _cifar_pipeline(mod, X):
    X = mod.random_crop(X, padding=4, seed=1)
    X = mod.hflip(X, p=0.5, seed=2)
    X = mod.color_jitter(X, 0.4, 0.4, 0.4, seed=3)
    return mod.cutout(X, size=16, seed=4)


def _digits_pipeline(mod, X):
    X = mod.random_crop(X, padding=1, seed=1)
    return mod.cutout(X, size=4, seed=2)


def _setup(shape, fn):
    def setup(torch):
        X = np.random.default_rng(0).random(shape, dtype=np.float32)
        return {"fastnn": lambda: fn(A, X), "reference": lambda: fn(R, X)}
    return setup


def _op(name, **kw):
    def fn(mod, X):
        if name == "mixup":
            return mod.mixup(X, np.arange(len(X)), seed=5, **kw)[0]
        return getattr(mod, name)(X, seed=5, **kw)
    return fn


_BYTES = 2 * 4 * int(np.prod(CIFAR))       # read + write of one float32 batch

WORKLOADS = [
    harness.Workload("crop(4)+flip+jitter+cutout 128x3x32x32", _setup(CIFAR, _cifar_pipeline),
                     ref_speedup=3.0, work=4 * _BYTES, unit="GB/s",
                     check=harness.allclose_check(rtol=1e-5, atol=1e-6)),
    harness.Workload("crop(1)+cutout 64x1x8x8", _setup(DIGITS, _digits_pipeline),
                     work=2 * 2 * 4 * int(np.prod(DIGITS)), unit="GB/s",
                     check=harness.allclose_check(rtol=0, atol=0)),
] + [
    harness.Workload(f"{label} 128x3x32x32", _setup(CIFAR, _op(name, **kw)), work=_BYTES, unit="GB/s",
                     check=harness.allclose_check(rtol=1e-5, atol=1e-6))
    for label, name, kw in [
        ("random_crop(4)", "random_crop", {"padding": 4}),
        ("random_resized_crop", "random_resized_crop", {}),
        ("hflip", "hflip", {}),
        ("color_jitter(.4,.4,.4)", "color_jitter", {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4}),
        ("cutout(16)", "cutout", {"size": 16}),
        ("mixup(0.2)", "mixup", {"alpha": 0.2}),
    ]
]
