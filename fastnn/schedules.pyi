from collections.abc import Sequence
from typing import Any

__all__ = ["LRSchedule", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
           "LinearLR", "SequentialLR", "OneCycleLR", "ReduceLROnPlateau", "warmup",
           "INTERVALS"]

INTERVALS: tuple[str, str]

class LRSchedule:
    interval: str
    optimizer: Any
    base_lr: float | None
    epoch: int
    def __init__(self, optimizer: Any = None, interval: str = "epoch") -> None: ...
    def bind(self, optimizer: Any, total_steps: int | None = None,
             resume: bool = False) -> LRSchedule: ...
    def lr_at(self, epoch: int) -> float: ...
    def step(self) -> float: ...
    def get_last_lr(self) -> float: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...

class StepLR(LRSchedule):
    step_size: int
    gamma: float
    def __init__(self, optimizer: Any = None, step_size: int = 1, gamma: float = 0.1,
                 interval: str = "epoch") -> None: ...

class MultiStepLR(LRSchedule):
    milestones: list[int]
    gamma: float
    def __init__(self, optimizer: Any = None, milestones: Sequence[int] = (), gamma: float = 0.1,
                 interval: str = "epoch") -> None: ...

class ExponentialLR(LRSchedule):
    gamma: float
    def __init__(self, optimizer: Any = None, gamma: float = 0.9,
                 interval: str = "epoch") -> None: ...

class CosineAnnealingLR(LRSchedule):
    T_max: int | None
    eta_min: float
    def __init__(self, optimizer: Any = None, T_max: int | None = None, eta_min: float = 0.0,
                 interval: str = "epoch") -> None: ...

class LinearLR(LRSchedule):
    start_factor: float
    end_factor: float
    total_iters: int
    def __init__(self, optimizer: Any = None, start_factor: float = ..., end_factor: float = 1.0,
                 total_iters: int = 5, interval: str = "epoch") -> None: ...

class SequentialLR(LRSchedule):
    schedulers: list[LRSchedule]
    milestones: list[int]
    def __init__(self, optimizer: Any = None, schedulers: Sequence[LRSchedule] = (),
                 milestones: Sequence[int] = (), interval: str | None = None) -> None: ...
    @property
    def metric(self) -> str | None: ...
    def step(self, metric: float | None = None) -> float: ...

def warmup(schedule: LRSchedule, warmup_steps: int, start_factor: float = 0.1,
           optimizer: Any = None) -> SequentialLR: ...

class OneCycleLR(LRSchedule):
    max_lr: float
    total_steps: int | None
    pct_start: float
    anneal_strategy: str
    cycle_momentum: bool
    base_momentum: float
    max_momentum: float
    div_factor: float
    final_div_factor: float
    three_phase: bool
    def __init__(self, optimizer: Any = None, max_lr: float = 0.1, total_steps: int | None = None,
                 pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum: float = 0.85,
                 max_momentum: float = 0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False,
                 interval: str = "iteration") -> None: ...
    def get_last_momentum(self) -> float: ...

class ReduceLROnPlateau(LRSchedule):
    metric: str
    mode: str
    threshold_mode: str
    factor: float
    patience: int
    cooldown: int
    threshold: float
    min_lr: float
    eps: float
    best: float
    num_bad_epochs: int
    cooldown_counter: int
    lr: float | None
    def __init__(self, optimizer: Any = None, mode: str | None = None, factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float = 0.0, eps: float = 1e-8,
                 metric: str = "val_loss") -> None: ...
    def step(self, metric: float) -> float: ...  # type: ignore[override]
