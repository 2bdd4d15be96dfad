from typing import Any

from numpy.typing import ArrayLike, NDArray
from fastnn.ops._common import Cache

__all__ = ['affine_forward', 'affine_backward']

def affine_forward(x: ArrayLike, w: ArrayLike, b: ArrayLike) -> tuple[NDArray[Any], Cache]: ...
def affine_backward(dout: ArrayLike, cache: Cache) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]: ...
