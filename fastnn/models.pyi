import os
from collections.abc import Mapping, Sequence
from typing import Any, overload

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray
from typing_extensions import Self

from fastnn.data.preprocess import Preprocessor
from fastnn.layers import Layer, ParamDict, Sequential as _Sequential

__all__ = ["Model", "TwoLayerNet", "FullyConnectedNet", "ThreeLayerConvNet", "SmallVGG", "make_model",
           "MODEL_NAMES", "ACTIVATIONS", "load"]

class Model:
    net: Layer
    reg: float
    label_smoothing: float
    params: ParamDict
    dtype: np.dtype[Any]
    input_shape: tuple[int, ...] | None
    preprocessor: Preprocessor | None
    def __init__(self, net: Layer, reg: float = 0.0, dtype: DTypeLike | None = None,
                 input_shape: Sequence[int] | None = None,
                 preprocessor: Preprocessor | None = None,
                 label_smoothing: float = 0.0) -> None: ...
    def forward(self, X: ArrayLike) -> NDArray[Any]: ...
    def backward(self, dout: ArrayLike) -> NDArray[Any]: ...
    def train(self, mode: bool = True) -> Self: ...
    def eval(self) -> Self: ...
    def zero_grad(self) -> None: ...
    @property
    def grads(self) -> dict[str, NDArray[Any]]: ...
    @property
    def buffers(self) -> dict[str, NDArray[Any]]: ...
    def save(self, path: str | os.PathLike[str], meta: Mapping[str, Any] | None = None) -> str: ...
    def load(self, path: str | os.PathLike[str]) -> dict[str, Any]: ...
    def predict_proba(self, X: ArrayLike, batch_size: int = 256) -> NDArray[Any]: ...
    def predict(self, X: ArrayLike, batch_size: int = 256) -> NDArray[np.int64]: ...
    def summary(self, input_shape: Sequence[int] | None = None) -> str: ...
    @overload
    def loss(self, X: ArrayLike, y: None = None, copy: bool = True) -> NDArray[Any]: ...
    @overload
    def loss(self, X: ArrayLike, y: Any, copy: bool = True) -> tuple[float, dict[str, NDArray[Any]]]: ...  # labels or MixedLabels

class TwoLayerNet(Model):
    def __init__(self, input_dim: int = ..., hidden_dim: int = 100, num_classes: int = 10,
                 weight_scale: float = 0.001, reg: float = 0.0, dtype: DTypeLike = ...,
                 seed: int | None = None) -> None: ...

class FullyConnectedNet(Model):
    num_layers: int
    normalization: str | None
    def __init__(self, hidden_dims: Sequence[int], input_dim: int = ..., num_classes: int = 10,
                 dropout: float = 0.0, normalization: str | None = None, reg: float = 0.0,
                 weight_scale: float = 0.01, dtype: DTypeLike = ..., seed: int | None = None, *,
                 dropout_keep_ratio: float | None = None) -> None: ...

class ThreeLayerConvNet(Model):
    def __init__(self, input_dim: tuple[int, int, int] = (3, 32, 32), num_filters: int = 32,
                 filter_size: int = 7, hidden_dim: int = 100, num_classes: int = 10,
                 weight_scale: float = 0.001, reg: float = 0.0, dtype: DTypeLike = ...,
                 seed: int | None = None) -> None: ...

class SmallVGG(Model):
    def __init__(self, input_dim: tuple[int, int, int] = (3, 32, 32),
                 channels: Sequence[int] = (64, 64, 128, 128), num_classes: int = 10,
                 residual: bool = False, drop_prob: float = 0.0, zero_init_residual: bool = False,
                 reg: float = 0.0, classifier_std: float = 0.001, dtype: DTypeLike = ...,
                 seed: int | None = None) -> None: ...

MODEL_NAMES: tuple[str, ...]
ACTIVATIONS: dict[str, type[Layer]]

def make_model(name: str, input_dim: Sequence[int], num_classes: int, *,
               hidden_dims: Sequence[int] | None = None, num_filters: int = 32,
               activation: str = "relu", normalization: str | None = None, dropout: float = 0.0,
               init: str = "kaiming", weight_scale: float = 0.01, reg: float = 0.0,
               dtype: DTypeLike = ..., seed: int | None = None, head_init: str = "zeros") -> Model: ...

def summarize(net: _Sequential, input_shape: Sequence[int] | None, dtype: DTypeLike = ...,
              title: str = "Sequential") -> str: ...
def load(path: str | os.PathLike[str]) -> Model: ...
