import os
from typing import Any

from numpy.typing import DTypeLike

__all__ = ["DatasetError", "BUILTIN", "CIFAR10_CLASSES", "load_builtin", "load_cifar10",
           "load_mnist"]

class DatasetError(ValueError): ...

# name -> (file in the package, number of classes, pixel maximum)
BUILTIN: dict[str, tuple[str, int, float]]
CIFAR10_CLASSES: list[str]

# each returns a dict of X_train, y_train, X_val, y_val, X_test, y_test (+ classes, name)
def load_builtin(name: str = "digits", val_fraction: float = 0.1, test_fraction: float = 0.2,
                 dtype: DTypeLike = ..., seed: int = 0) -> dict[str, Any]: ...
def load_cifar10(path: str | os.PathLike[str], val_size: int = 1000, dtype: DTypeLike = ...,
                 scale: bool = True) -> dict[str, Any]: ...
def load_mnist(path: str | os.PathLike[str], val_size: int = 5000, dtype: DTypeLike = ...,
               scale: bool = True) -> dict[str, Any]: ...
