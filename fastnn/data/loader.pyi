from collections.abc import Iterable, Iterator
from typing import Any

from numpy.typing import ArrayLike, NDArray

from fastnn.data.augment import MixedLabels, _Step

__all__ = ["BatchLoader"]

class BatchLoader:
    X: NDArray[Any]
    y: NDArray[Any]
    batch_size: int
    shuffle: bool
    drop_last: bool
    augment: _Step | list[_Step] | None
    seed: int | None
    epoch: int  # epochs started so far
    # augment: a step, a list of steps, or a spec string such as "crop,flip" (from_spec)
    def __init__(self, X: ArrayLike, y: ArrayLike, batch_size: int = ..., shuffle: bool = ...,
                 augment: str | _Step | Iterable[_Step] | None = ..., seed: int | None = ...,
                 drop_last: bool = ...) -> None: ...
    def __len__(self) -> int: ...
    # one epoch of (X_batch, y_batch); y_batch is a MixedLabels after mixup
    def __iter__(self) -> Iterator[tuple[NDArray[Any], NDArray[Any] | MixedLabels]]: ...
