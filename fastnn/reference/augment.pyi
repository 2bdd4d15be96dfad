from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fastnn.data.augment import MixedLabels

__all__ = ["crop_at", "resized_crop_at", "hflip_where", "color_jitter_by", "cutout_at",
           "mixup_with", "random_crop", "random_resized_crop", "hflip", "color_jitter", "cutout",
           "mixup"]

_F = TypeVar("_F", np.float32, np.float64)
_Seed = int | np.integer[Any] | None
_Size = int | tuple[int, int] | None
_Pair = tuple[float, float]

# NumPy twins of fastnn.ops.augment (same signatures)
def crop_at(x: NDArray[_F], top: ArrayLike, left: ArrayLike, padding: int = 0,
            size: _Size = None) -> NDArray[_F]: ...
def resized_crop_at(x: NDArray[_F], top: ArrayLike, left: ArrayLike, height: ArrayLike,
                    width: ArrayLike, size: _Size = None) -> NDArray[_F]: ...
def hflip_where(x: NDArray[_F], flip: ArrayLike) -> NDArray[_F]: ...
def color_jitter_by(x: NDArray[_F], brightness: ArrayLike | None = None,
                    contrast: ArrayLike | None = None, saturation: ArrayLike | None = None,
                    clip: _Pair | None = None) -> NDArray[_F]: ...
def cutout_at(x: NDArray[_F], y0: ArrayLike, y1: ArrayLike, x0: ArrayLike,
              x1: ArrayLike) -> NDArray[_F]: ...
def mixup_with(x: NDArray[_F], perm: ArrayLike, lam: float) -> NDArray[_F]: ...

# NumPy twins of fastnn.data.augment's functional forms (same signatures, same draws for a seed)

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
