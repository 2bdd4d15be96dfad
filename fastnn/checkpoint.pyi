import os
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, TypeVar, overload

from numpy.typing import NDArray

__all__ = ["CheckpointError", "save_params", "load_params", "save_model", "load_model",
           "remove_stale_temp_files"]

_M = TypeVar("_M", bound=MutableMapping[str, NDArray[Any]])

class CheckpointError(ValueError): ...

def save_params(path: str | os.PathLike[str], params: Mapping[str, NDArray[Any]],
                meta: Mapping[str, Any] | None = None) -> str: ...
@overload
def load_params(path: str | os.PathLike[str], into: None = None) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]: ...
@overload
def load_params(path: str | os.PathLike[str], into: _M) -> tuple[_M, dict[str, Any]]: ...
def save_model(path: str | os.PathLike[str], model: Any, meta: Mapping[str, Any] | None = None) -> str: ...
def load_model(path: str | os.PathLike[str], model: Any) -> dict[str, Any]: ...
def remove_stale_temp_files(directory: str | os.PathLike[str],
                            names: Iterable[str] | None = None,
                            older_than: float | None = None) -> list[str]: ...
