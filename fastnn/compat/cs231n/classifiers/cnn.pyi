from numpy.typing import DTypeLike

from fastnn.compat.cs231n.classifiers._course import CourseModel

__all__ = ["ThreeLayerConvNet"]

class ThreeLayerConvNet(CourseModel):
    def __init__(self, input_dim: tuple[int, int, int] = (3, 32, 32), num_filters: int = 32,
                 filter_size: int = 7, hidden_dim: int = 100, num_classes: int = 10,
                 weight_scale: float = 0.001, reg: float = 0.0,
                 dtype: DTypeLike = ...) -> None: ...
