from typing import TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["crop_at", "resized_crop_at", "hflip_where", "color_jitter_by", "cutout_at",
           "mixup_with"]

# (N, C, H, W) float32/float64 in, a new array of the same dtype out; per-sample parameters
_F = TypeVar("_F", np.float32, np.float64)
_Size = int | tuple[int, int] | None

def crop_at(x: NDArray[_F], top: ArrayLike, left: ArrayLike, padding: int = 0,
            size: _Size = None) -> NDArray[_F]: ...
def resized_crop_at(x: NDArray[_F], top: ArrayLike, left: ArrayLike, height: ArrayLike,
                    width: ArrayLike, size: _Size = None) -> NDArray[_F]: ...
def hflip_where(x: NDArray[_F], flip: ArrayLike) -> NDArray[_F]: ...
def color_jitter_by(x: NDArray[_F], brightness: ArrayLike | None = None,
                    contrast: ArrayLike | None = None, saturation: ArrayLike | None = None,
                    clip: tuple[float, float] | None = None) -> NDArray[_F]: ...
def cutout_at(x: NDArray[_F], y0: ArrayLike, y1: ArrayLike, x0: ArrayLike,
              x1: ArrayLike) -> NDArray[_F]: ...
def mixup_with(x: NDArray[_F], perm: ArrayLike, lam: float) -> NDArray[_F]: ...
