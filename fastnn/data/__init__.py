"""Data: datasets (built-in and local formats), preprocessing, augmentation, batch loading.

* :mod:`fastnn.data.datasets`   ``load_builtin`` (no download), ``load_cifar10``, ``load_mnist``
* :mod:`fastnn.data.preprocess` mean-image / per-channel centring, standardisation, PCA, whitening
* :mod:`fastnn.data.augment`    seeded batch augmentations on compiled kernels
* :mod:`fastnn.data.loader`     ``BatchLoader``: shuffled, augmented mini-batches
"""
from fastnn.data import augment, datasets, loader, preprocess
from fastnn.data.augment import *  # noqa: F401,F403
from fastnn.data.datasets import *  # noqa: F401,F403
from fastnn.data.loader import *  # noqa: F401,F403
from fastnn.data.preprocess import *  # noqa: F401,F403

__all__ = (list(datasets.__all__) + list(preprocess.__all__) + list(augment.__all__)
           + list(loader.__all__))
