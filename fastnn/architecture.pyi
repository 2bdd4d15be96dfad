from typing import Any

from fastnn.layers import Layer
from fastnn.models import Model

__all__ = ["FORMAT", "LAYER_TYPES", "describe", "build", "parameter_count", "ArchitectureError"]

FORMAT: str
LAYER_TYPES: tuple[str, ...]

class ArchitectureError(ValueError): ...

def describe(obj: Layer | Model) -> dict[str, Any]: ...
def build(desc: dict[str, Any], _where: str = "model") -> Layer | Model: ...
def parameter_count(desc: dict[str, Any], _where: str = "model") -> int: ...
