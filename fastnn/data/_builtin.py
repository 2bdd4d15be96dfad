"""The built-in dataset: shipped inside the package, nothing to download.

``load_builtin("digits")`` is the 1797 8x8 handwritten digits of the UCI
optical-recognition set (the copy scikit-learn bundles; CC BY 4.0, see
``DIGITS-LICENSE.txt`` beside this file), a plain ``.npz`` read with
``allow_pickle=False``.
"""
import os
from importlib import resources

import numpy as np

from fastnn.data._common import DatasetError, _check_dtype

__all__ = ["BUILTIN", "load_builtin"]

# name -> (file in this package, number of classes, pixel maximum)
BUILTIN = {"digits": ("digits.npz", 10, 16.0)}


def _split_indices(labels, fractions, rng):
    """Stratified split: per class, shuffle, then cut by ``fractions`` (val, test)."""
    parts = [[], [], []]
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val = int(round(fractions[0] * len(idx)))
        n_test = int(round(fractions[1] * len(idx)))
        parts[1].append(idx[:n_val])
        parts[2].append(idx[n_val:n_val + n_test])
        parts[0].append(idx[n_val + n_test:])
    # shuffle across classes too, so a split is not sorted by label
    return [rng.permutation(np.concatenate(p)) for p in parts]


def load_builtin(name="digits", val_fraction=0.1, test_fraction=0.2, dtype=np.float32, seed=0):
    """Load a built-in dataset, split into train/val/test, as (N, C, H, W) float arrays.

    Parameters
    ----------
    name : str, default "digits"
        One of :data:`BUILTIN` (``"digits"``: 1797 grey 8x8 images, 10 classes).
    val_fraction, test_fraction : float
        Fraction of each class put into the validation and test splits
        (stratified; the rest is train).  Default 10% / 20%.
    dtype : float32 or float64
    seed : int, default 0
        Seeds the split: the same seed gives the same split on every machine.

    Returns
    -------
    dict
        ``X_train, y_train, X_val, y_val, X_test, y_test``: X of shape
        (N, 1, 8, 8) scaled to [0, 1] (pixel / 16), y of dtype int64 in
        ``0..C-1``; plus ``classes`` (list of class names) and ``name``.

    Examples
    --------
    >>> data = load_builtin("digits")
    >>> data["X_train"].shape, data["X_test"].shape
    ((1259, 1, 8, 8), (359, 1, 8, 8))
    """
    if name not in BUILTIN:
        raise ValueError(f"load_builtin: unknown dataset {name!r}; built-in: {sorted(BUILTIN)}")
    for arg, v in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not (isinstance(v, (int, float)) and 0 <= v < 1):
            raise ValueError(f"load_builtin: {arg} must be in [0, 1), got {v!r}")
    if val_fraction + test_fraction >= 1:
        raise ValueError(f"load_builtin: val_fraction + test_fraction must be < 1, got "
                         f"{val_fraction} + {test_fraction}")
    dtype = _check_dtype(dtype, "load_builtin")
    filename, n_classes, pixel_max = BUILTIN[name]
    path = resources.files("fastnn.data").joinpath(filename)
    try:
        with resources.as_file(path) as p, np.load(p, allow_pickle=False) as f:
            images, labels = f["images"], f["labels"]
    except (OSError, KeyError, ValueError) as exc:
        raise DatasetError(f"load_builtin: cannot read the built-in {name!r} data "
                           f"({os.fspath(path)}): {exc}; reinstall fastnn") from None
    X = (images.astype(dtype) / dtype.type(pixel_max))[:, None, :, :]
    y = labels.astype(np.int64)
    train, val, test = _split_indices(y, (val_fraction, test_fraction),
                                      np.random.default_rng(seed))
    return {"X_train": X[train], "y_train": y[train], "X_val": X[val], "y_val": y[val],
            "X_test": X[test], "y_test": y[test],
            "classes": [str(c) for c in range(n_classes)], "name": name}
