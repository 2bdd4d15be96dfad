from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, NamedTuple, Protocol, TypeVar, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["MixedLabels", "random_crop", "random_resized_crop", "hflip", "color_jitter", "cutout",
           "mixup", "RandomCrop", "RandomResizedCrop", "HorizontalFlip", "ColorJitter", "Cutout",
           "Mixup", "apply", "from_spec", "SPEC_NAMES", "draw_crop", "draw_resized_crop",
           "draw_flip", "draw_jitter", "draw_cutout", "draw_mixup"]

# the batch's dtype, kept by every augmentation (float32 or float64 only)
_F = TypeVar("_F", np.float32, np.float64)
_Y = TypeVar("_Y")
_Seed = int | np.integer[Any] | None
_Size = int | tuple[int, int] | None
_Pair = tuple[float, float]

class MixedLabels(NamedTuple):
    """Labels of a mixup batch: ``lam * L(y_a) + (1 - lam) * L(y_b)``."""

    y_a: NDArray[Any]
    y_b: NDArray[Any]
    lam: float

class _Step(Protocol):
    """A pipeline step, called as ``step(X, y, seed=int) -> (X, y)`` (the classes below, or
    your own function)."""

    def __call__(self, X: NDArray[Any], y: Any, /, seed: int) -> tuple[NDArray[Any], Any]: ...

# functional forms: (N, C, H, W) float32/float64 in, a new array of the same dtype out
@overload
def random_crop(X: NDArray[_F], padding: int | None = ..., seed: _Seed = ...,
                size: _Size = ...) -> NDArray[_F]: ...
@overload
def random_crop(X: ArrayLike, padding: int | None = ..., seed: _Seed = ...,
                size: _Size = ...) -> NDArray[np.floating[Any]]: ...
@overload
def random_resized_crop(X: NDArray[_F], scale: _Pair = ..., ratio: _Pair = ..., size: _Size = ...,
                        seed: _Seed = ...) -> NDArray[_F]: ...
@overload
def random_resized_crop(X: ArrayLike, scale: _Pair = ..., ratio: _Pair = ..., size: _Size = ...,
                        seed: _Seed = ...) -> NDArray[np.floating[Any]]: ...
@overload
def hflip(X: NDArray[_F], p: float = ..., seed: _Seed = ...) -> NDArray[_F]: ...
@overload
def hflip(X: ArrayLike, p: float = ..., seed: _Seed = ...) -> NDArray[np.floating[Any]]: ...
@overload
def color_jitter(X: NDArray[_F], brightness: float = ..., contrast: float = ...,
                 saturation: float = ..., seed: _Seed = ..., clip: _Pair | None = ...) -> NDArray[_F]: ...
@overload
def color_jitter(X: ArrayLike, brightness: float = ..., contrast: float = ...,
                 saturation: float = ..., seed: _Seed = ...,
                 clip: _Pair | None = ...) -> NDArray[np.floating[Any]]: ...
@overload
def cutout(X: NDArray[_F], size: int | None = ..., seed: _Seed = ...) -> NDArray[_F]: ...
@overload
def cutout(X: ArrayLike, size: int | None = ..., seed: _Seed = ...) -> NDArray[np.floating[Any]]: ...
@overload
def mixup(X: NDArray[_F], y: ArrayLike, alpha: float = ...,
          seed: _Seed = ...) -> tuple[NDArray[_F], MixedLabels]: ...
@overload
def mixup(X: ArrayLike, y: ArrayLike, alpha: float = ...,
          seed: _Seed = ...) -> tuple[NDArray[np.floating[Any]], MixedLabels]: ...

# pipeline forms: X, y = step(X, y, seed); y passes through (Mixup: a MixedLabels)
class _Augmentation:
    _fields: ClassVar[tuple[str, ...]]
    __hash__: ClassVar[None]  # type: ignore[assignment]
    def __eq__(self, other: object) -> bool: ...

class RandomCrop(_Augmentation):
    padding: int | None
    size: _Size
    def __init__(self, padding: int | None = ..., size: _Size = ...) -> None: ...
    @overload
    def __call__(self, X: NDArray[_F], y: None = ..., seed: _Seed = ...) -> tuple[NDArray[_F], None]: ...
    @overload
    def __call__(self, X: NDArray[_F], y: _Y, seed: _Seed = ...) -> tuple[NDArray[_F], _Y]: ...

class RandomResizedCrop(_Augmentation):
    scale: _Pair
    ratio: _Pair
    size: _Size
    def __init__(self, scale: _Pair = ..., ratio: _Pair = ..., size: _Size = ...) -> None: ...
    @overload
    def __call__(self, X: NDArray[_F], y: None = ..., seed: _Seed = ...) -> tuple[NDArray[_F], None]: ...
    @overload
    def __call__(self, X: NDArray[_F], y: _Y, seed: _Seed = ...) -> tuple[NDArray[_F], _Y]: ...

class HorizontalFlip(_Augmentation):
    p: float
    def __init__(self, p: float = ...) -> None: ...
    @overload
    def __call__(self, X: NDArray[_F], y: None = ..., seed: _Seed = ...) -> tuple[NDArray[_F], None]: ...
    @overload
    def __call__(self, X: NDArray[_F], y: _Y, seed: _Seed = ...) -> tuple[NDArray[_F], _Y]: ...

class ColorJitter(_Augmentation):
    brightness: float
    contrast: float
    saturation: float
    clip: _Pair | None
    def __init__(self, brightness: float = ..., contrast: float = ..., saturation: float = ...,
                 clip: _Pair | None = ...) -> None: ...
    @overload
    def __call__(self, X: NDArray[_F], y: None = ..., seed: _Seed = ...) -> tuple[NDArray[_F], None]: ...
    @overload
    def __call__(self, X: NDArray[_F], y: _Y, seed: _Seed = ...) -> tuple[NDArray[_F], _Y]: ...

class Cutout(_Augmentation):
    size: int | None
    def __init__(self, size: int | None = ...) -> None: ...
    @overload
    def __call__(self, X: NDArray[_F], y: None = ..., seed: _Seed = ...) -> tuple[NDArray[_F], None]: ...
    @overload
    def __call__(self, X: NDArray[_F], y: _Y, seed: _Seed = ...) -> tuple[NDArray[_F], _Y]: ...

class Mixup(_Augmentation):
    alpha: float
    def __init__(self, alpha: float = ...) -> None: ...
    # y is required (checked at run time): mixup mixes the labels too
    def __call__(self, X: NDArray[_F], y: ArrayLike | None = ...,
                 seed: _Seed = ...) -> tuple[NDArray[_F], MixedLabels]: ...

_AnyStep = RandomCrop | RandomResizedCrop | HorizontalFlip | ColorJitter | Cutout | Mixup

# X itself when there is no step; y, or a MixedLabels after Mixup
def apply(augment: _Step | Iterable[_Step] | None, X: NDArray[_F], y: Any,
          rng: np.random.Generator) -> tuple[NDArray[_F], Any]: ...

# name -> factory of the step with its default settings
SPEC_NAMES: dict[str, Callable[[], _AnyStep]]

def from_spec(spec: str | Sequence[str]) -> list[_AnyStep]: ...

# the per-sample parameters each functional form draws (int64 / float64 arrays of shape (n,))
_I64 = NDArray[np.int64]
def draw_crop(rng: np.random.Generator, n: int, H: int, W: int, pad: int, oh: int,
              ow: int) -> tuple[_I64, _I64]: ...
def draw_resized_crop(rng: np.random.Generator, n: int, H: int, W: int, scale: _Pair,
                      ratio: _Pair, attempts: int = 10) -> tuple[_I64, _I64, _I64, _I64]: ...
def draw_flip(rng: np.random.Generator, n: int, p: float) -> NDArray[np.uint8]: ...
def draw_jitter(rng: np.random.Generator, n: int, brightness: float, contrast: float,
                saturation: float) -> tuple[NDArray[np.float64], NDArray[np.float64],
                                            NDArray[np.float64]]: ...
def draw_cutout(rng: np.random.Generator, n: int, H: int, W: int,
                size: int) -> tuple[_I64, _I64, _I64, _I64]: ...
def draw_mixup(rng: np.random.Generator, n: int, alpha: float) -> tuple[float, _I64]: ...
