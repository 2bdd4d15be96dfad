from typing import Any

from fastnn import solver as _solver

__all__ = ["Solver"]

class Solver(_solver.Solver):
    def __init__(self, model: Any, data: dict[str, Any], **kwargs: Any) -> None: ...
