import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, Literal, TypedDict

import numpy as np
from typing_extensions import Self

from fastnn.models import FullyConnectedNet, ThreeLayerConvNet

__all__ = ["loguniform", "uniform", "choice", "randint", "grid", "Space",
           "random_search", "grid_search", "coarse_to_fine",
           "SearchResult", "make_train_fn", "TrainFn", "parse_space"]

_Path = str | os.PathLike[str]
_Mode = Literal["max", "min"]

# ---- spaces: name -> a dimension below, or any other value (a constant)
class Space:
    kind: ClassVar[str | None]
    log: ClassVar[bool]  # sampled (and narrowed, and plotted) in log space
    def sample(self, rng: np.random.Generator) -> Any: ...
    def to_dict(self) -> dict[str, Any]: ...
    def __eq__(self, other: object) -> bool: ...

class _Range(Space):
    low: float
    high: float
    def __init__(self, low: float, high: float) -> None: ...
    def to_unit(self, v: float) -> float: ...
    def from_unit(self, t: float) -> float: ...
    def bounds(self) -> tuple[float, float]: ...
    def with_bounds(self, lo: float, hi: float) -> Self: ...

class _LogUniform(_Range):
    kind: ClassVar[Literal["loguniform"]]
    def sample(self, rng: np.random.Generator) -> float: ...

class _Uniform(_Range):
    kind: ClassVar[Literal["uniform"]]
    def sample(self, rng: np.random.Generator) -> float: ...

class _RandInt(_Range):
    kind: ClassVar[Literal["randint"]]
    low: int
    high: int
    def __init__(self, low: int, high: int) -> None: ...
    def sample(self, rng: np.random.Generator) -> int: ...

class _Choice(Space):
    kind: ClassVar[Literal["choice", "grid"]]
    values: list[Any]
    def __init__(self, values: Iterable[Any]) -> None: ...

class _Grid(_Choice):
    kind: ClassVar[Literal["grid"]]

def loguniform(low: float, high: float) -> _LogUniform: ...
def uniform(low: float, high: float) -> _Uniform: ...
def randint(low: int, high: int) -> _RandInt: ...  # high excluded
def choice(values: Iterable[Any]) -> _Choice: ...
def grid(values: Iterable[Any]) -> _Grid: ...
# ["lr=loguniform:1e-5:1e-1", "opt=choice:adam,sgd", "epochs=2"] -> a space
def parse_space(specs: Iterable[str]) -> dict[str, Any]: ...

# ---- trials
class _Trial(TypedDict):
    stage: int
    trial: int
    config: dict[str, Any]
    metrics: dict[str, Any]
    seed: int
    status: Literal["ok", "failed"]
    error: str | None
    duration: float  # seconds

# train_fn(config, seed) -> dict of metrics; picklable to run in worker processes
_TrainFn = Callable[[dict[str, Any], int], Mapping[str, Any]]

class SearchResult:
    trials: list[_Trial]  # sorted by (stage, trial)
    metric: str
    mode: _Mode
    space: dict[str, Any]
    stages: list[dict[str, Any]]
    def __init__(self, trials: Iterable[Mapping[str, Any]] = ..., metric: str = ...,
                 mode: _Mode = ..., space: Mapping[str, Any] | None = ...,
                 stages: Iterable[Mapping[str, Any]] | None = ...) -> None: ...
    def __len__(self) -> int: ...
    def ranked(self) -> list[_Trial]: ...
    @property
    def best_trial(self) -> _Trial | None: ...
    @property
    def best_config(self) -> dict[str, Any] | None: ...
    def param_names(self) -> list[str]: ...
    def metric_names(self) -> list[str]: ...
    def to_rows(self) -> list[dict[str, Any]]: ...
    def table(self, top: int | None = ...) -> str: ...
    def to_dict(self) -> dict[str, Any]: ...
    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self: ...
    def to_json(self, path: _Path) -> str: ...
    @classmethod
    def from_json(cls, path: _Path) -> Self: ...
    def to_csv(self, path: _Path) -> str: ...
    @classmethod
    def from_csv(cls, path: _Path, metric: str = ..., mode: _Mode = ...) -> Self: ...
    def plot(self, outdir: _Path) -> list[str]: ...

# the keyword arguments every search takes (runtime: **kw, checked against this list)
def random_search(train_fn: _TrainFn, space: dict[str, Any], n_trials: int, seed: int = ..., *,
                  results_path: _Path | None = ..., metric: str = ..., mode: _Mode = ...,
                  n_jobs: int = ..., backend: Literal["loky", "dask"] | None = ...,
                  client: Any = ..., scheduler: str | None = ...,
                  threads_per_trial: int | None = ..., diverge_factor: float | None = ...,
                  progress: bool = ..., callback: Callable[[_Trial], object] | None = ...) -> SearchResult: ...
def grid_search(train_fn: _TrainFn, space: dict[str, Any], seed: int = ..., *,
                results_path: _Path | None = ..., metric: str = ..., mode: _Mode = ...,
                n_jobs: int = ..., backend: Literal["loky", "dask"] | None = ...,
                client: Any = ..., scheduler: str | None = ...,
                threads_per_trial: int | None = ..., diverge_factor: float | None = ...,
                progress: bool = ..., callback: Callable[[_Trial], object] | None = ...) -> SearchResult: ...
# stages: (n_trials, epochs or None) or n_trials, one random search each
def coarse_to_fine(train_fn: _TrainFn, space: dict[str, Any],
                   stages: Iterable[tuple[int, int | None] | int] = ..., shrink: float = ...,
                   top_k: int | None = ..., seed: int = ..., *, edge: float = ...,
                   results_path: _Path | None = ..., metric: str = ..., mode: _Mode = ...,
                   n_jobs: int = ..., backend: Literal["loky", "dask"] | None = ...,
                   client: Any = ..., scheduler: str | None = ...,
                   threads_per_trial: int | None = ..., diverge_factor: float | None = ...,
                   progress: bool = ..., callback: Callable[[_Trial], object] | None = ...) -> SearchResult: ...

# ---- the ready trial function
class _TrainMetrics(TypedDict):
    val_acc: float
    train_acc: float
    loss_history: list[float]

class TrainFn:
    KEYS: ClassVar[tuple[str, ...]]  # the config keys it reads
    model: Literal["convnet", "mlp"]
    dataset: str
    epochs: int
    batch_size: int
    update_rule: str
    def __init__(self, model: Literal["convnet", "mlp"] = ..., dataset: str = ..., epochs: int = ...,
                 batch_size: int = ..., update_rule: str = ...) -> None: ...
    def check_space(self, space: Iterable[str]) -> None: ...
    def build(self, config: Mapping[str, Any], seed: int) -> ThreeLayerConvNet | FullyConnectedNet: ...
    def __call__(self, config: Mapping[str, Any], seed: int) -> _TrainMetrics: ...

def make_train_fn(model: Literal["convnet", "mlp"] = ..., dataset: str = ..., epochs: int = ...,
                  batch_size: int = ..., update_rule: str = ...) -> TrainFn: ...
