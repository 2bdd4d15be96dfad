import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

__all__ = ["EXPERIMENTS", "init_tanh", "init_relu", "dead_relu", "gradient_flow", "run",
           "format_result"]

_Init = Literal["small", "large", "xavier", "he"]
_Experiment = Literal["init-tanh", "init-relu", "dead-relu", "gradient-flow"]
_Outdir = str | os.PathLike[str] | None

# init-relu's histograms share bins over [0, RELU_HIST_MAX]
RELU_HIST_MAX: float

# each experiment returns a JSON-serialisable dict (with "png" when given outdir)
EXPERIMENTS: dict[str, Callable[..., dict[str, Any]]]

def init_tanh(seed: int = ..., n_layers: int = ..., hidden: int = ..., n_samples: int = ...,
              inits: Iterable[_Init] = ..., hist_bins: int = ...,
              outdir: _Outdir = ...) -> dict[str, Any]: ...
def init_relu(seed: int = ..., n_layers: int = ..., hidden: int = ..., n_samples: int = ...,
              inits: Iterable[_Init] = ..., hist_bins: int = ...,
              outdir: _Outdir = ...) -> dict[str, Any]: ...
def dead_relu(seed: int = ..., lrs: Iterable[float] = ..., steps: int = ...,
              hidden: Iterable[int] = ..., batch_size: int = ...,
              outdir: _Outdir = ...) -> dict[str, Any]: ...
def gradient_flow(seed: int = ..., n_layers: int = ..., hidden: int = ..., n_samples: int = ...,
                  num_classes: int = ...,
                  activations: Iterable[Literal["sigmoid", "tanh", "relu"]] = ...,
                  outdir: _Outdir = ...) -> dict[str, Any]: ...
# experiment name -> its result
def run(experiment: _Experiment | Literal["all"] = ..., outdir: _Outdir = ...,
        seed: int = ...) -> dict[str, dict[str, Any]]: ...
def format_result(result: Mapping[str, Any]) -> str: ...
