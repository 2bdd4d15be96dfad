from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fastnn.data.preprocess import Preprocessor

__all__ = ["optimize", "InferenceModel"]

class InferenceModel:
    steps: list[Any]
    dtype: np.dtype[Any]
    input_shape: tuple[int, ...] | None
    preprocessor: Preprocessor | None
    def __init__(self, steps: list[Any], dtype: Any, input_shape: tuple[int, ...] | None = None,
                 preprocessor: Preprocessor | None = None) -> None: ...
    def forward(self, X: ArrayLike) -> NDArray[Any]: ...
    def __call__(self, X: ArrayLike) -> NDArray[Any]: ...
    def predict_proba(self, X: ArrayLike, batch_size: int = 256) -> NDArray[Any]: ...
    def predict(self, X: ArrayLike, batch_size: int = 256) -> NDArray[np.int64]: ...

def optimize(model: Any) -> InferenceModel: ...
