from collections.abc import Callable
from typing import Any

from numpy.typing import ArrayLike, NDArray

__all__ = ["eval_numerical_gradient", "eval_numerical_gradient_array", "rel_error",
           "check_model_gradients", "check_layer_gradients"]

def eval_numerical_gradient(f: Callable[[NDArray[Any]], Any], x: NDArray[Any], verbose: bool = False,
                            h: float = 1e-05) -> NDArray[Any]: ...
def eval_numerical_gradient_array(f: Callable[[NDArray[Any]], ArrayLike], x: NDArray[Any],
                                  df: ArrayLike, h: float = 1e-05) -> NDArray[Any]: ...
def rel_error(x: ArrayLike, y: ArrayLike) -> float: ...
def check_model_gradients(model: Any, X: ArrayLike, y: ArrayLike, h: float = 1e-05,
                          num_checks: int | None = None, seed: int = 0, cast_float64: bool = True,
                          verbose: bool = False) -> dict[str, float]: ...
def check_layer_gradients(layer: Any, x: NDArray[Any], dout: ArrayLike | None = None, h: float = 1e-05,
                          seed: int = 0) -> dict[str, float]: ...
