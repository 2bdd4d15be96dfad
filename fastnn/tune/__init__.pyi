import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, Literal, TypedDict

import numpy as np
from typing_extensions import Self

from numpy.typing import NDArray

from fastnn.models import Model

__all__ = ["loguniform", "uniform", "choice", "randint", "grid", "Space",
           "random_search", "grid_search", "coarse_to_fine",
           "SearchResult", "make_train_fn", "TrainFn", "parse_space", "conditional",
           "load_space", "space_from_dict", "ASHA", "MedianStop"]

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
class _Conditional(Space):
    kind: ClassVar[Literal["conditional"]]
    dim: Space
    when: dict[str, list[Any]]
    log: bool  # type: ignore[misc]
    def __init__(self, dim: Space, when: Mapping[str, Any]) -> None: ...
    def active(self, config: Mapping[str, Any]) -> bool: ...

# sampled only when every named earlier parameter has one of the given values
def conditional(dim: Space, **when: Any) -> _Conditional: ...
# a space from a parsed TOML / JSON table; a .toml or .json file
def space_from_dict(d: Mapping[str, Any]) -> dict[str, Any]: ...
def load_space(path: _Path) -> dict[str, Any]: ...
# ["lr=loguniform:1e-5:1e-1", "opt=choice:adam,sgd", "epochs=2"] -> a space
def parse_space(specs: Iterable[str]) -> dict[str, Any]: ...

# ---- trials
class _Trial(TypedDict):
    stage: int
    trial: int
    config: dict[str, Any]
    metrics: dict[str, Any]
    seed: int
    status: Literal["ok", "stopped", "failed"]
    error: str | None
    duration: float  # seconds

# train_fn(config, seed) -> dict of metrics; picklable to run in worker processes
_TrainFn = Callable[[dict[str, Any], int], Mapping[str, Any]]

# ---- early stopping (the epoch as the resource)
class ASHA:
    name: ClassVar[str]
    eta: int
    min_epochs: int
    def __init__(self, eta: int = ..., min_epochs: int = ...) -> None: ...
    def milestones(self, max_epochs: int) -> list[int]: ...
    def quotas(self, n_trials: int, n_milestones: int) -> list[int]: ...
    def decide(self, stage: Any, i: int, k: int) -> Literal["promote", "stop"] | None: ...

class MedianStop:
    name: ClassVar[str]
    min_epochs: int
    every: int
    min_trials: int
    def __init__(self, min_epochs: int = ..., every: int = ..., min_trials: int = ...) -> None: ...
    def milestones(self, max_epochs: int) -> list[int]: ...
    def quotas(self, n_trials: int, n_milestones: int) -> list[None]: ...
    def decide(self, stage: Any, i: int, k: int) -> Literal["promote", "stop"] | None: ...

_Scheduler = Literal["asha", "median", "none"] | ASHA | MedianStop | None

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
                  client: Any = ..., scheduler: _Scheduler | str = ...,
                  dask_scheduler: str | None = ..., sampler: Literal["random", "tpe"] = ...,
                  tpe_batch: int = ...,
                  threads_per_trial: int | None = ..., diverge_factor: float | None = ...,
                  progress: bool = ..., callback: Callable[[_Trial], object] | None = ...) -> SearchResult: ...
def grid_search(train_fn: _TrainFn, space: dict[str, Any], seed: int = ..., *,
                results_path: _Path | None = ..., metric: str = ..., mode: _Mode = ...,
                n_jobs: int = ..., backend: Literal["loky", "dask"] | None = ...,
                client: Any = ..., scheduler: _Scheduler | str = ...,
                dask_scheduler: str | None = ..., sampler: Literal["random"] = ...,
                threads_per_trial: int | None = ..., diverge_factor: float | None = ...,
                progress: bool = ..., callback: Callable[[_Trial], object] | None = ...) -> SearchResult: ...
# stages: (n_trials, epochs or None) or n_trials, one random search each
def coarse_to_fine(train_fn: _TrainFn, space: dict[str, Any],
                   stages: Iterable[tuple[int, int | None] | int] = ..., shrink: float = ...,
                   top_k: int | None = ..., seed: int = ..., *, edge: float = ...,
                   results_path: _Path | None = ..., metric: str = ..., mode: _Mode = ...,
                   n_jobs: int = ..., backend: Literal["loky", "dask"] | None = ...,
                   client: Any = ...,
                   scheduler: _Scheduler | str | Iterable[_Scheduler] = ...,
                   dask_scheduler: str | None = ..., sampler: Literal["random", "tpe"] = ...,
                   tpe_batch: int = ...,
                   threads_per_trial: int | None = ..., diverge_factor: float | None = ...,
                   progress: bool = ..., callback: Callable[[_Trial], object] | None = ...) -> SearchResult: ...

# ---- the ready trial function
class _TrainMetrics(TypedDict, total=False):
    val_acc: float
    train_acc: float
    loss_history: list[float]
    val_acc_history: list[float]  # one per epoch
    epochs_trained: int
    diverged: str  # only from run(), when the loss diverged

_Model = Literal["convnet", "mlp", "vgg"]
_Arrays = Mapping[str, NDArray[Any]]

class TrainFn:
    model: _Model
    dataset: str
    epochs: int
    batch_size: int
    update_rule: str
    preprocess: str
    def __init__(self, model: _Model = ..., dataset: str | os.PathLike[str] = ...,
                 epochs: int = ..., batch_size: int = ..., update_rule: str = ..., *,
                 data: _Arrays | None = ..., preprocess: str | None = ...) -> None: ...
    def shared_data(self) -> dict[str, NDArray[Any]]: ...
    def use_data(self, arrays: _Arrays) -> None: ...
    def check_space(self, space: Iterable[str]) -> None: ...
    def settings(self, config: Mapping[str, Any]) -> dict[str, Any]: ...
    def build(self, config: Mapping[str, Any], seed: int) -> Model: ...
    # train up to epoch `until` from checkpoint bytes `state`: (metrics, state to continue or None)
    def run(self, config: Mapping[str, Any], seed: int, until: int | None = ...,
            state: bytes | None = ..., diverge_factor: float | None = ...
            ) -> tuple[_TrainMetrics, bytes | None]: ...
    def __call__(self, config: Mapping[str, Any], seed: int) -> _TrainMetrics: ...

def make_train_fn(model: _Model = ..., dataset: str | os.PathLike[str] = ..., epochs: int = ...,
                  batch_size: int = ..., update_rule: str = ..., *,
                  data: _Arrays | None = ..., preprocess: str | None = ...) -> TrainFn: ...
