"""What the dataset loaders share: their error and the checks of their arguments."""
import os

import numpy as np

__all__ = ["DatasetError"]


class DatasetError(ValueError):
    """A dataset file that is missing, unreadable, corrupt or not in the expected format."""



DatasetError.__module__ = "fastnn.data.datasets"     # where users import it from


def _check_dtype(dtype, fn):
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"{fn}: dtype must be float32 or float64, got {dtype}")
    return dtype


def _check_val_size(val_size, fn):
    if isinstance(val_size, bool) or not isinstance(val_size, (int, np.integer)) or val_size < 0:
        raise ValueError(f"{fn}: val_size must be an int >= 0, got {val_size!r}")
    return int(val_size)


def _check_folder(path, fn, what):
    path = os.fspath(path)
    if not os.path.isdir(path):
        hint = ""
        if os.path.isfile(path):
            hint = f" (it is a file: extract the {what} archive and pass the folder it creates)"
        raise DatasetError(f"{fn}: {path!r} is not a folder holding the {what} files{hint}")
    return path


def _images_to_float(images, dtype, scale):
    """uint8 images -> ``dtype``, divided by 255 (correctly rounded) when ``scale``."""
    X = images.astype(dtype)
    if scale:
        np.divide(X, dtype.type(255), out=X)
    return X


def _splits(X, y, X_test, y_test, val_size, fn, where, classes, name):
    """A loader's result dict: the last ``val_size`` training images become the validation
    split (an error naming ``where`` when none would be left for training)."""
    n = len(y)
    if val_size >= n:
        raise DatasetError(f"{fn}: val_size={val_size} leaves no training images: {where} holds "
                           f"{n} training images")
    cut = n - val_size
    return {"X_train": X[:cut], "y_train": y[:cut], "X_val": X[cut:], "y_val": y[cut:],
            "X_test": X_test, "y_test": y_test, "classes": classes, "name": name}
