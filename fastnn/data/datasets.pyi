from typing import Any

from numpy.typing import DTypeLike

__all__ = ["DatasetError", "BUILTIN", "load_builtin"]

class DatasetError(ValueError): ...

# name -> (file in the package, number of classes, pixel maximum)
BUILTIN: dict[str, tuple[str, int, float]]

def load_builtin(name: str = "digits", val_fraction: float = 0.1, test_fraction: float = 0.2,
                 dtype: DTypeLike = ..., seed: int = 0) -> dict[str, Any]: ...
