from collections.abc import Callable, Mapping
from typing import Any

from numpy.typing import ArrayLike, NDArray

__all__ = ["sgd", "sgd_momentum", "nesterov", "rmsprop", "adam", "RULES", "Optimizer", "SGD",
           "RMSProp", "Adam", "LRSchedule", "StepLR", "ExponentialLR", "CosineAnnealingLR"]

_Config = dict[str, Any]
_Rule = Callable[[NDArray[Any], NDArray[Any], _Config | None], tuple[NDArray[Any], _Config]]

def sgd(w: ArrayLike, dw: ArrayLike, config: _Config | None = None) -> tuple[NDArray[Any], _Config]: ...
def sgd_momentum(w: ArrayLike, dw: ArrayLike, config: _Config | None = None) -> tuple[NDArray[Any], _Config]: ...
def nesterov(w: ArrayLike, dw: ArrayLike, config: _Config | None = None) -> tuple[NDArray[Any], _Config]: ...
def rmsprop(w: ArrayLike, dw: ArrayLike, config: _Config | None = None) -> tuple[NDArray[Any], _Config]: ...
def adam(w: ArrayLike, dw: ArrayLike, config: _Config | None = None) -> tuple[NDArray[Any], _Config]: ...

RULES: dict[str, _Rule]

# params: a layer/model (params + grads dicts), a list of them, a list of (param, grad)
# pairs, or a dict name -> param (gradients as grads= or to step()).
_Params = Any

class Optimizer:
    weight_decay: float
    state: dict[str, dict[str, Any]]
    def __init__(self, params: _Params, lr: float, weight_decay: float = 0.0,
                 grads: Mapping[str, NDArray[Any]] | None = None) -> None: ...
    @property
    def lr(self) -> float: ...
    @lr.setter
    def lr(self, value: float) -> None: ...
    def param_names(self) -> list[str]: ...
    def step(self, grads: Mapping[str, NDArray[Any]] | None = None) -> None: ...
    def zero_grad(self) -> None: ...
    def state_dict(self) -> dict[str, NDArray[Any]]: ...
    def load_state_dict(self, arrays: Mapping[str, NDArray[Any]]) -> None: ...

class SGD(Optimizer):
    momentum: float
    nesterov: bool
    def __init__(self, params: _Params, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, grads: Mapping[str, NDArray[Any]] | None = None) -> None: ...

class RMSProp(Optimizer):
    decay_rate: float
    eps: float
    def __init__(self, params: _Params, lr: float = 0.01, decay_rate: float = 0.99, eps: float = 1e-08,
                 weight_decay: float = 0.0, grads: Mapping[str, NDArray[Any]] | None = None) -> None: ...

class Adam(Optimizer):
    beta1: float
    beta2: float
    eps: float
    def __init__(self, params: _Params, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-08, weight_decay: float = 0.0,
                 grads: Mapping[str, NDArray[Any]] | None = None) -> None: ...

class LRSchedule:
    optimizer: Optimizer
    base_lr: float
    epoch: int
    def __init__(self, optimizer: Optimizer) -> None: ...
    def lr_at(self, epoch: int) -> float: ...
    def step(self) -> float: ...

class StepLR(LRSchedule):
    step_size: int
    gamma: float
    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None: ...

class ExponentialLR(LRSchedule):
    gamma: float
    def __init__(self, optimizer: Optimizer, gamma: float) -> None: ...

class CosineAnnealingLR(LRSchedule):
    T_max: int
    eta_min: float
    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None: ...
