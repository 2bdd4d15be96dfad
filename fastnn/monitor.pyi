from collections.abc import Iterator, Mapping
from typing import Any, Protocol, TypedDict

from numpy.typing import ArrayLike, NDArray

from fastnn.layers import Layer
from fastnn.models import Model

__all__ = ["Monitor", "activation_stats", "iter_layers"]

SATURATION: float
DEAD_THRESHOLD: float
SATURATION_THRESHOLD: float
HEALTHY_RATIO: float
RATIO_BAND: tuple[float, float]
MIN_UPDATES_FOR_RATIO: int

# the records are plain JSON-serialisable dicts; these describe their keys
class _Histogram(TypedDict):
    counts: list[int]
    edges: list[float]

class _ActivationStats(TypedDict):
    type: str
    shape: list[int]
    mean: float
    std: float
    hist: _Histogram
    dead_fraction: float | None  # ReLU family only
    saturation_fraction: float | None  # tanh and sigmoid only
    nonfinite_fraction: float

class _UpdateStats(TypedDict):
    grad_norm: float | None
    weight_norm: float
    update_ratio: float | None

class _EpochRecord(TypedDict):
    epoch: int | float | None
    n_probe: int
    activations: dict[str, _ActivationStats]  # "<path>:<Type>" -> stats, in forward order
    params: dict[str, _UpdateStats]
    n_updates: int

class _HasParams(Protocol):
    @property
    def params(self) -> Mapping[str, NDArray[Any]]: ...

def iter_layers(layer: Layer, prefix: str = ...) -> Iterator[tuple[str, Layer]]: ...
def activation_stats(x: ArrayLike, a: ArrayLike, layer: Layer, hist_bins: int = ...,
                     hist_range: tuple[float, float] | None = ...) -> _ActivationStats: ...

class Monitor:
    probe_size: int
    hist_bins: int
    history: list[_EpochRecord]
    updates: dict[str, _UpdateStats]
    n_updates: int
    def __init__(self, probe_size: int = ..., hist_bins: int = ...) -> None: ...
    def observe_update(self, model: _HasParams, grads: Mapping[str, ArrayLike] | None,
                       before: Mapping[str, ArrayLike] | None) -> dict[str, _UpdateStats]: ...
    def observe_epoch(self, model: Model | Layer, X_probe: ArrayLike,
                      epoch: float | None) -> _EpochRecord: ...
    # a record of history, or one read back from history.json
    @staticmethod
    def summary(record: Mapping[str, Any], dead_threshold: float = ...,
                saturation_threshold: float = ...,
                ratio_band: tuple[float, float] = ...) -> str: ...
    @staticmethod
    def advice(record: Mapping[str, Any], dead_threshold: float = ...,
               saturation_threshold: float = ...,
               ratio_band: tuple[float, float] = ...) -> list[str]: ...
