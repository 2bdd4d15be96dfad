import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from numpy.typing import ArrayLike

__all__ = ["LRFindResult", "lrfind", "suggest_lr", "RULES"]

RULES: tuple[str, ...]
UPDATE_RULES: tuple[str, ...]
_Rule = Literal["min10", "steepest"]
_Data = Mapping[str, Any] | tuple[ArrayLike, ArrayLike] | list[ArrayLike]

@dataclass
class LRFindResult:
    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    dead_fraction: dict[str, list[float | None]]
    update_ratio: dict[str, list[float | None]]
    suggested_lr: float
    reason: str
    rule: str
    min_loss_lr: float
    steepest_lr: float
    diverged: bool
    update_rule: str = ...
    png: str | None = ...
    extra: dict[str, Any] = ...
    @property
    def iterations(self) -> int: ...
    def worst_dead(self) -> list[float | None]: ...
    def worst_update_ratio(self) -> list[float | None]: ...
    def to_dict(self) -> dict[str, Any]: ...

def suggest_lr(lrs: Sequence[float], smoothed: Sequence[float], rule: _Rule = ...,
               dead: Sequence[float | None] | None = ...,
               update_ratio: Sequence[float | None] | None = ..., max_dead_rise: float = ...,
               max_update_ratio: float = ...,
               skip: float = ...) -> tuple[float, str, dict[str, float | None]]: ...
def lrfind(model: Any, data: _Data,
           update_rule: str | Callable[..., tuple[Any, dict[str, Any]]] = ...,
           optim_config: Mapping[str, Any] | None = ..., start_lr: float = ...,
           end_lr: float = ..., num_iter: int = ..., batch_size: int = ..., beta: float = ...,
           diverge: float = ..., rule: _Rule = ..., probe_size: int = ...,
           max_dead_rise: float = ..., max_update_ratio: float = ..., seed: int | None = ...,
           path: str | os.PathLike[str] | None = ...) -> LRFindResult: ...
