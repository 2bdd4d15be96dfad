import os
from typing import Any, TypeVar

__all__ = ["load_torch", "save_torch", "torch_names"]

_M = TypeVar("_M")

def torch_names(model: Any) -> dict[str, tuple[int, ...]]: ...
def save_torch(model: Any, path: str | os.PathLike[str]) -> str: ...
def load_torch(model: _M, path: str | os.PathLike[str]) -> _M: ...
