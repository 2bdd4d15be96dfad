from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fastnn import layers as L
from fastnn.models import Model

class CourseParams(L.ParamDict):
    def __setitem__(self, key: str, value: ArrayLike) -> None: ...

def no_init(w: NDArray[Any], rng: np.random.Generator) -> None: ...

class CourseModel(Model):
    params: CourseParams
    def _course_init(self, weight_scale: float) -> None: ...

class CourseDropout(L.Dropout):
    seed: int | None
    def __init__(self, keep_prob: float, seed: int | None = None) -> None: ...
