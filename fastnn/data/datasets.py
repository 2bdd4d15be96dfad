"""Datasets: the built-in one (no download) and loaders for standard local formats.

``load_builtin("digits")`` is fastnn's embedded real image dataset: the 1797
8x8 handwritten digits of the UCI optical-recognition set (the copy
scikit-learn bundles; CC BY 4.0, see ``DIGITS-LICENSE.txt`` beside this file),
shipped inside the package as a plain ``.npz`` read with ``allow_pickle=False``.

``load_cifar10(path)`` and ``load_mnist(path)`` read the standard files of
those datasets from a local folder (fastnn downloads nothing).  Both treat the
files as untrusted input: CIFAR-10's pickled batches go through a restricted
unpickler that builds numpy arrays and plain containers only, MNIST's IDX
headers are checked against the exact file sizes, and anything missing,
truncated, corrupt or unexpected raises :class:`DatasetError` naming the file.
"""
import os

from fastnn.data._builtin import BUILTIN, load_builtin
from fastnn.data._cifar import CIFAR10_CLASSES, load_cifar10
from fastnn.data._common import DatasetError
from fastnn.data._mnist import load_mnist

__all__ = ["DatasetError", "BUILTIN", "CIFAR10_CLASSES", "load_builtin", "load_cifar10",
           "load_mnist"]


def _loader_for(spec):
    """``(loader, None)`` for a built-in dataset's name or a folder holding CIFAR-10 batches
    or MNIST IDX files (what ``fastnn train --dataset`` accepts), else ``(None, reason)``."""
    if spec in BUILTIN:
        return load_builtin, None
    if not os.path.isdir(spec):
        if os.path.exists(spec):
            return None, (f"{spec!r} is a file; give the folder that holds the CIFAR-10 batches "
                          "or the MNIST IDX files")
        return None, (f"{spec!r} is neither a built-in dataset ({', '.join(sorted(BUILTIN))}) "
                      "nor a folder")
    names = os.listdir(spec)
    if "data_batch_1" in names:
        return load_cifar10, None
    if any(n.startswith("train-images") for n in names):
        return load_mnist, None
    return None, (f"{spec!r} holds neither CIFAR-10 batches (data_batch_1, ...) nor MNIST IDX "
                  "files (train-images-idx3-ubyte, ...)")
