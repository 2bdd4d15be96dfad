from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from numpy.typing import ArrayLike

__all__ = ["SanityCheck", "SanityReport", "check", "initial_loss", "expected_initial_loss",
           "regularization_raises_loss", "overfit_small_subset"]

LOSSES: tuple[str, ...]
_Loss = Literal["softmax", "svm"]
# a Solver data dict (X_train, y_train used) or an (X, y) pair
_Data = Mapping[str, Any] | tuple[ArrayLike, ArrayLike] | list[ArrayLike]
_Rule = str | Callable[..., tuple[Any, dict[str, Any]]]

@dataclass
class SanityCheck:
    name: str
    passed: bool | None
    value: float | None
    expected: float | None
    message: str
    details: dict[str, Any] = ...

@dataclass
class SanityReport:
    loss: str
    num_classes: int
    initial_loss: float
    expected_loss: float
    loss_with_reg: float | None
    overfit_iterations: int | None
    overfit_accuracy: float
    checks: list[SanityCheck] = ...
    @property
    def ok(self) -> bool: ...
    def __getitem__(self, name: str) -> SanityCheck: ...

def expected_initial_loss(num_classes: int, loss: _Loss = ...) -> float: ...
def initial_loss(model: Any, X: Any, y: Any, loss: _Loss = ..., tol: float = ...) -> SanityCheck: ...
def regularization_raises_loss(model: Any, X: Any, y: Any,
                               reg_test: float = ...) -> SanityCheck: ...
def overfit_small_subset(model: Any, X: Any, y: Any, num_samples: int = ...,
                         max_iterations: int = ..., update_rule: _Rule = ...,
                         optim_config: Mapping[str, Any] | None = ...,
                         seed: int | None = ...) -> SanityCheck: ...
def check(model: Any, data: _Data, loss: _Loss = ..., num_probe: int = ..., tol: float = ...,
          reg_test: float = ..., num_samples: int = ..., max_iterations: int = ...,
          update_rule: _Rule = ..., optim_config: Mapping[str, Any] | None = ...,
          seed: int | None = ...) -> SanityReport: ...
