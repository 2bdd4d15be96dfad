"""The training data of a search: loaded and preprocessed once, shared with the workers.

A trial function that trains on arrays (:class:`~fastnn.tune.TrainFn`) hands the
runner its arrays with ``shared_data()``; the runner gives every worker the
same copy instead of letting each load its own:

* joblib (loky) processes: the arrays are written once as ``.npy`` files in a
  temporary folder (deleted after the search) and every worker opens them with
  ``numpy.load(mmap_mode="r")``: the pages are the operating system's page
  cache, one copy for the whole machine;
* Dask: the arrays are scattered once to every worker (``client.scatter(...,
  broadcast=True)``), and each trial receives the worker's copy.
"""
import os
import shutil
import tempfile

import numpy as np

SPLITS = ("X_train", "y_train", "X_val", "y_val")


def check_arrays(data, fn):
    """The four arrays of ``data`` (a dict), checked: same lengths, labels integers."""
    if not isinstance(data, dict):
        raise ValueError(f"{fn}: data must be a dict with {list(SPLITS)}, got "
                         f"{type(data).__name__}")
    missing = [k for k in SPLITS if k not in data]
    if missing:
        raise ValueError(f"{fn}: data lacks {missing} (needs {list(SPLITS)})")
    out = {}
    for k in SPLITS:
        a = np.asarray(data[k])
        if k.startswith("y") and (a.ndim != 1 or not np.issubdtype(a.dtype, np.integer)):
            raise ValueError(f"{fn}: data[{k!r}] must be a 1-d integer array, got "
                             f"{a.dtype} {a.shape}")
        if k.startswith("X") and a.ndim not in (2, 4):
            raise ValueError(f"{fn}: data[{k!r}] must be (N, D) or (N, C, H, W), got {a.shape}")
        out[k] = a
    for s in ("train", "val"):
        if len(out[f"X_{s}"]) != len(out[f"y_{s}"]) or len(out[f"X_{s}"]) == 0:
            raise ValueError(f"{fn}: X_{s} and y_{s} must be non-empty with the same length, got "
                             f"{len(out[f'X_{s}'])} and {len(out[f'y_{s}'])}")
    return out


def load(dataset):
    """A built-in dataset name or a CIFAR-10 / MNIST folder, as ``fastnn train --dataset`` reads."""
    from fastnn import data
    loader, why = data.datasets._loader_for(dataset)
    if loader is None:
        raise ValueError(f"make_train_fn: dataset {why}")
    return loader(dataset)


class NpyShare:
    """The arrays written once as ``.npy`` files; workers memory-map them read-only."""

    def __init__(self, arrays):
        self.folder = tempfile.mkdtemp(prefix="fastnn-search-")
        for k, a in arrays.items():
            np.save(os.path.join(self.folder, f"{k}.npy"), np.ascontiguousarray(a))
        self.ref = ("npy", self.folder, tuple(arrays))

    def close(self):
        shutil.rmtree(self.folder, ignore_errors=True)


class Bundle:
    """One Dask object holding all the arrays (scattered once, resolved on the worker)."""

    def __init__(self, arrays):
        self.arrays = arrays


_OPENED = {}


def resolve(ref):
    """The arrays a worker trains on, from what the runner sent (memory-mapped or scattered)."""
    if ref is None:
        return None
    if isinstance(ref, Bundle):
        return ref.arrays
    kind, folder, keys = ref
    if folder not in _OPENED:
        _OPENED.clear()                  # a worker serves one search at a time
        _OPENED[folder] = {k: np.load(os.path.join(folder, f"{k}.npy"), mmap_mode="r")
                           for k in keys}
    return _OPENED[folder]
