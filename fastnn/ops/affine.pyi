from typing import Any, Literal, overload

from numpy.typing import ArrayLike, NDArray
from fastnn.ops._common import Cache

__all__ = ['affine_forward', 'affine_backward']

def affine_forward(x: ArrayLike, w: ArrayLike, b: ArrayLike) -> tuple[NDArray[Any], Cache]: ...
@overload
def affine_backward(dout: ArrayLike, cache: Cache,
                    need_dx: Literal[True] = True) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]: ...
@overload
def affine_backward(dout: ArrayLike, cache: Cache,
                    need_dx: Literal[False]) -> tuple[None, NDArray[Any], NDArray[Any]]: ...
