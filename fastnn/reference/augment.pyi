from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fastnn.data.augment import MixedLabels

__all__ = ["random_crop", "random_resized_crop", "hflip", "color_jitter", "cutout", "mixup"]

# NumPy twins of fastnn.data.augment's functional forms (same signatures, same draws for a seed)
_F = TypeVar("_F", np.float32, np.float64)
_Seed = int | np.integer[Any] | None
_Size = int | tuple[int, int] | None
_Pair = tuple[float, float]

def random_crop(X: NDArray[_F], padding: int | None = ..., seed: _Seed = ...,
                size: _Size = ...) -> NDArray[_F]: ...
def random_resized_crop(X: NDArray[_F], scale: _Pair = ..., ratio: _Pair = ..., size: _Size = ...,
                        seed: _Seed = ...) -> NDArray[_F]: ...
def hflip(X: NDArray[_F], p: float = ..., seed: _Seed = ...) -> NDArray[_F]: ...
def color_jitter(X: NDArray[_F], brightness: float = ..., contrast: float = ...,
                 saturation: float = ..., seed: _Seed = ..., clip: _Pair | None = ...) -> NDArray[_F]: ...
def cutout(X: NDArray[_F], size: int | None = ..., seed: _Seed = ...) -> NDArray[_F]: ...
def mixup(X: NDArray[_F], y: ArrayLike, alpha: float = ...,
          seed: _Seed = ...) -> tuple[NDArray[_F], MixedLabels]: ...
