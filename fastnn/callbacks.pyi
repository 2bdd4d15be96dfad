import os
from typing import Any

from fastnn.monitor import Monitor
from fastnn.schedules import LRSchedule

__all__ = ["Callback", "EarlyStopping", "Checkpoint", "LRScheduler", "MonitorCallback",
           "TensorBoard", "HOOKS"]

HOOKS: tuple[str, ...]

class Callback:
    name: str | None
    def on_train_begin(self, solver: Any) -> None: ...
    def on_update_begin(self, solver: Any, grads: dict[str, Any]) -> None: ...
    def on_iteration_end(self, solver: Any, iteration: int, loss: float) -> None: ...
    def on_epoch_end(self, solver: Any, epoch: int, logs: dict[str, Any]) -> None: ...
    def on_train_end(self, solver: Any) -> None: ...
    def state_dict(self) -> dict[str, Any] | None: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...

class EarlyStopping(Callback):
    patience: int
    monitor: str
    mode: str
    min_delta: float
    wait: int
    best: float | None
    def __init__(self, patience: int, monitor: str = "val_acc", mode: str | None = None,
                 min_delta: float = 0.0) -> None: ...

class Checkpoint(Callback):
    prefix: str
    every: int
    def __init__(self, prefix: str | os.PathLike[str], every: int = 1) -> None: ...

class LRScheduler(Callback):
    schedule: LRSchedule | None
    decay: float | None
    def __init__(self, schedule: LRSchedule | None = None, decay: float | None = None) -> None: ...

class MonitorCallback(Callback):
    monitor: Monitor
    def __init__(self, monitor: Monitor) -> None: ...

class TensorBoard(Callback):
    logdir: str
    every: int
    writer: Any
    def __init__(self, logdir: str | os.PathLike[str], every: int = 10,
                 flush_secs: int = 30) -> None: ...
    def close(self) -> None: ...
