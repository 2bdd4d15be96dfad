from typing import Any

from numpy.typing import ArrayLike, NDArray

__all__ = ['affine_forward', 'affine_backward']

def affine_forward(x: ArrayLike, w: ArrayLike, b: ArrayLike) -> tuple[NDArray[Any], Any]: ...
def affine_backward(dout: ArrayLike, cache: Any) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]: ...
