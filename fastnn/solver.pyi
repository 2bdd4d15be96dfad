import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from numpy.typing import ArrayLike, NDArray
from typing_extensions import Self

from fastnn.callbacks import Callback
from fastnn.data.augment import _Step
from fastnn.monitor import Monitor
from fastnn.schedules import LRSchedule

__all__ = ["Solver"]

_Rule = Callable[[NDArray[Any], NDArray[Any], dict[str, Any]], tuple[NDArray[Any], dict[str, Any]]]

class Solver:
    model: Any
    X_train: Any
    y_train: Any
    X_val: Any
    y_val: Any
    update_rule: str | _Rule
    optim_config: dict[str, Any]
    lr_decay: float
    lr_schedule: LRSchedule | None
    sampling: str
    clip_grad_norm: float | None
    clip_grad_value: float | None
    tensorboard: str | None
    callbacks: list[Callback]
    optimizer: Any
    stop_training: bool
    recording: bool
    epoch_end: bool
    last_grads: dict[str, NDArray[Any]] | None
    batch_size: int
    num_epochs: int
    num_train_samples: int | None
    num_val_samples: int | None
    checkpoint_name: str | None
    print_every: int
    verbose: bool
    seed: int | None
    patience: int | None
    augment: list[_Step]
    monitor: Monitor | None
    interrupt_checkpoint: str | None
    checkpoint_tag: str | None
    interrupted: bool
    stopped_early: bool
    epoch: int
    best_val_acc: float
    best_params: dict[str, NDArray[Any]]
    @property
    def optim_configs(self) -> dict[str, dict[str, Any]]: ...
    @optim_configs.setter
    def optim_configs(self, configs: Mapping[str, Mapping[str, Any]]) -> None: ...
    loss_history: list[float]
    train_acc_history: list[float]
    val_acc_history: list[float]
    val_loss_history: list[float]
    lr_history: list[float | None]
    grad_norm_history: list[float]
    def __init__(self, model: Any, data: Mapping[str, Any], *, update_rule: str | _Rule = "sgd",
                 optim_config: Mapping[str, Any] | None = None, lr: float | None = None,
                 lr_decay: float = 1.0,
                 lr_schedule: LRSchedule | None = None,
                 batch_size: int = 100, num_epochs: int = 10, sampling: str = "random",
                 num_train_samples: int | None = 1000,
                 num_val_samples: int | None = None, checkpoint_name: str | None = None,
                 print_every: int = 10, verbose: bool = True, seed: int | None = None,
                 patience: int | None = None, augment: Sequence[_Step] | None = None,
                 monitor: Monitor | bool | None = None, clip_grad_norm: float | None = None,
                 clip_grad_value: float | None = None, callbacks: Sequence[Callback] | None = None,
                 tensorboard: str | None = None,
                 interrupt_checkpoint: str | None = None,
                 checkpoint_tag: str | None = None) -> None: ...
    @property
    def run_finished(self) -> bool: ...
    @property
    def iterations_per_epoch(self) -> int: ...
    def optimizer_lr(self) -> float | None: ...
    def log(self, msg: str) -> None: ...
    def check_accuracy(self, X: ArrayLike, y: ArrayLike, num_samples: int | None = None,
                       batch_size: int = 100) -> float: ...
    def train(self) -> Self: ...
    def history(self) -> dict[str, Any]: ...
    def save(self, path: str | os.PathLike[str]) -> str: ...
    def load(self, path: str | os.PathLike[str]) -> Self: ...
