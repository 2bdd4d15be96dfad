from collections.abc import Sequence
from typing import Any

from numpy.typing import DTypeLike

from fastnn.compat.cs231n.classifiers._course import CourseModel

__all__ = ["TwoLayerNet", "FullyConnectedNet"]

class TwoLayerNet(CourseModel):
    def __init__(self, input_dim: int = ..., hidden_dim: int = 100, num_classes: int = 10,
                 weight_scale: float = 0.001, reg: float = 0.0, dtype: DTypeLike = ...) -> None: ...

class FullyConnectedNet(CourseModel):
    num_layers: int
    normalization: str | None
    use_dropout: bool
    def __init__(self, hidden_dims: Sequence[int], input_dim: int = ..., num_classes: int = 10,
                 dropout_keep_ratio: float = 1, normalization: str | None = None,
                 reg: float = 0.0, weight_scale: float = 0.01, dtype: DTypeLike = ...,
                 seed: int | None = None) -> None: ...
    @property
    def bn_params(self) -> list[dict[str, Any]]: ...
