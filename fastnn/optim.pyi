from collections.abc import Mapping
from typing import Any

from numpy.typing import NDArray

from fastnn.reference.optim import (RULES as RULES, adagrad as adagrad, adam as adam,
                                    adamw as adamw, nesterov as nesterov, rmsprop as rmsprop,
                                    sgd as sgd, sgd_momentum as sgd_momentum)
from fastnn.schedules import (CosineAnnealingLR as CosineAnnealingLR,
                              ExponentialLR as ExponentialLR, LinearLR as LinearLR,
                              LRSchedule as LRSchedule, MultiStepLR as MultiStepLR,
                              OneCycleLR as OneCycleLR, ReduceLROnPlateau as ReduceLROnPlateau,
                              SequentialLR as SequentialLR, StepLR as StepLR, warmup as warmup)

__all__ = ["sgd", "sgd_momentum", "nesterov", "rmsprop", "adam", "adamw", "adagrad", "RULES",
           "Optimizer", "SGD", "RMSProp", "Adam", "AdamW", "Adagrad", "from_rule",
           "rule_config_keys", "normalize_config",
           "clip_grad_norm", "clip_grad_value",
           "LRSchedule", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
           "LinearLR", "SequentialLR", "OneCycleLR", "ReduceLROnPlateau", "warmup"]

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

class AdamW(Adam):
    def __init__(self, params: _Params, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-08, weight_decay: float = 0.01,
                 grads: Mapping[str, NDArray[Any]] | None = None) -> None: ...

class Adagrad(Optimizer):
    lr_decay: float
    initial_accumulator_value: float
    eps: float
    def __init__(self, params: _Params, lr: float = 0.01, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, grads: Mapping[str, NDArray[Any]] | None = None) -> None: ...

def rule_config_keys(rule: str) -> list[str]: ...
def normalize_config(rule: str, config: Mapping[str, Any] | None,
                     fn: str = "Solver") -> dict[str, Any]: ...
def from_rule(rule: str, params: _Params, config: Mapping[str, Any] | None = None,
              grads: Mapping[str, NDArray[Any]] | None = None) -> Optimizer: ...

# grads: an array, a list or dict of arrays, a layer/model (its grads) or an Optimizer
def clip_grad_norm(grads: Any, max_norm: float) -> float: ...
def clip_grad_value(grads: Any, clip_value: float) -> None: ...
