import os
from collections.abc import Sequence
from typing import Any

__all__ = ["export", "required_opset", "SUPPORTED"]

SUPPORTED: tuple[str, ...]

def required_opset(model: Any) -> int: ...
def export(model: Any, path: str | os.PathLike[str], input_shape: Sequence[int] | None = None,
           opset: int | None = None, check: bool = True) -> str: ...
