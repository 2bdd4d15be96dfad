"""Layers: objects around the functional ops of :mod:`fastnn.ops`.

Every layer has

* ``forward(x)`` (also ``layer(x)``) and ``backward(dout) -> dx``; ``dx`` is a
  fresh array, and parameter gradients *accumulate* (``+=``) into ``grads``
  until ``zero_grad()`` clears them;
* ``params`` and ``grads``: dicts with the same keys (empty for layers
  without parameters).  Arrays are updated in place by optimisers; assigning
  ``layer.params[k] = new`` copies ``new`` into the existing array, so a
  model's views of its layers' parameters never go stale;
* ``buffers``: state that is saved with the model but not trained (batch
  norm's running statistics);
* ``train()`` / ``eval()``: the mode switch that changes dropout, DropConnect,
  stochastic depth and batch norm (``training`` attribute).

The canonical step::

    scores = model.forward(x)
    loss, dscores = softmax_loss(scores, y)
    opt.zero_grad()
    model.backward(dscores)
    opt.step()

Every layer with randomness takes ``seed``: an int, a ``numpy.random.Generator``
(shared by several layers) or None (fresh OS entropy).  Weights are initialised
with ``fastnn.init`` from it, He/Kaiming by default for layers followed by ReLU;
dropout masks are drawn from it.
"""
import numpy as np

from fastnn import init, ops
from fastnn._deprecation import renamed_argument
from fastnn.ops.conv import _check_algorithm as _conv_check_algorithm
from fastnn.ops.conv import _geometry as _conv_geometry
from fastnn.ops.pooling import _positive as _pool_size

__all__ = [
    "Layer", "ParamDict", "Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "GlobalAvgPool2d",
    "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "Dropout", "DropConnect",
    "ReLU", "LeakyReLU", "PReLU", "ELU", "SELU", "Sigmoid", "Tanh", "GELU", "Softplus", "SiLU",
    "Maxout", "Flatten", "Sequential", "Residual", "generators",
]


class ParamDict(dict):
    """A dict of arrays whose item assignment writes into the existing array.

    ``d[k] = v`` for an existing key copies ``v`` into ``d[k]`` (same shape
    and dtype required), so every holder of the array sees the new values.  This is what
    lets the course-style Solver (``model.params[p] = next_w``) drive layers.
    """

    def __setitem__(self, key, value):
        if key in self:
            cur = dict.__getitem__(self, key)
            if value is not cur:
                value = np.asarray(value)
                if value.shape != cur.shape or value.dtype != cur.dtype:
                    raise ValueError(f"parameter {key!r} is a {cur.dtype} array of shape "
                                     f"{cur.shape}; cannot assign a {value.dtype} array of shape "
                                     f"{value.shape} (it is copied into the layer's array)")
                np.copyto(cur, value)
            return
        dict.__setitem__(self, key, value)


def _rng(seed, rng=None, fn=None):
    """The Generator of ``seed`` (an int, a Generator or None); ``rng`` is its deprecated
    spelling in ``fn``."""
    if fn is not None:
        seed = renamed_argument(fn, "seed", seed, "rng", rng, stacklevel=4)
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _dtype(dtype):
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


class Layer:
    """Base class: no parameters, mode switch, ``zero_grad``."""

    def __init__(self):
        self.params = ParamDict()
        self.grads = {}
        self.buffers = {}
        self.training = True
        self._cache = None

    def __call__(self, x):
        return self.forward(x)

    def _add_param(self, name, value):
        self.params[name] = value
        self.grads[name] = np.zeros_like(value)

    def _accumulate(self, **grads):
        for k, g in grads.items():
            self.grads[k] += g

    def _bias(self):
        return self.params["b"] if "b" in self.params else self._zero_bias

    def _cache_or_raise(self):
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return self._cache

    def train(self, mode=True):
        """Set training mode (``mode=True``) or evaluation mode (``False``); returns the layer."""
        self.training = bool(mode)
        return self

    def eval(self):
        """Set evaluation mode (same as ``train(False)``); returns the layer."""
        return self.train(False)

    def zero_grad(self):
        """Reset every parameter gradient in ``grads`` to zero, in place."""
        for g in self.grads.values():
            g.fill(0)

    def forward(self, x):
        """Compute the layer's output for input ``x`` and keep what backward needs."""
        raise NotImplementedError

    def backward(self, dout):
        """Gradient with respect to the input of the last ``forward``; parameter gradients accumulate into ``grads``."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


# ---------------------------------------------------------------- affine / conv

class Linear(Layer):
    """Fully connected layer, ``out = x.reshape(N, D) @ w + b`` (w is (D, M): in x out).

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
    init : {"kaiming", "xavier", "lecun", "normal"}
        Weight initialiser (``fastnn.init``); "normal" is N(0, weight_scale^2).
    weight_scale : float
        Standard deviation for ``init="normal"`` (the course's small random numbers).
    nonlinearity : str
        Passed to Kaiming's gain ("relu", "leaky_relu", "tanh", "linear", ...).
    seed : int, numpy.random.Generator or None
        Seeds the weight initialisation (None: fresh OS entropy).  ``rng=`` is
        its deprecated spelling.
    dtype : float32 or float64
    """

    def __init__(self, in_features, out_features, bias=True, init="kaiming", weight_scale=1e-2,
                 nonlinearity="relu", seed=None, dtype=np.float32, *, rng=None):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        w = np.empty((self.in_features, self.out_features), _dtype(dtype))
        _init_weight(w, init, _rng(seed, rng, type(self).__name__), weight_scale, nonlinearity)
        self._add_param("w", w)
        _add_bias(self, bias, self.out_features, w.dtype)

    def forward(self, x):
        out, self._cache = ops.affine_forward(x, self.params["w"], self._bias())
        return out

    def backward(self, dout, need_input_grad=True):
        """Accumulate dw, db; return dx (None with ``need_input_grad=False``: no dx GEMM)."""
        dx, dw, db = ops.affine_backward(dout, self._cache_or_raise(), need_dx=need_input_grad)
        self._accumulate(w=dw, **({"b": db} if "b" in self.params else {}))
        return dx

    def __repr__(self):
        return f"Linear({self.in_features}, {self.out_features})"


class Conv2d(Layer):
    """2-D convolution (cross-correlation) by im2col + GEMM or Winograd: x (N, C, H, W) -> (N, F, H', W').

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    stride, padding, dilation, groups : int
        As ``stride``, ``pad``, ``dilation``, ``groups`` of
        :func:`fastnn.ops.conv_forward` (``padding`` zeros on every side).
        ``pad=`` is the deprecated spelling of ``padding``.
    bias, init, weight_scale, nonlinearity, seed, dtype : as in :class:`Linear`
    algorithm : {"auto", "im2col", "winograd", "direct"}
        As in :func:`fastnn.ops.conv_forward`: "auto" picks by the measured rule of
        :func:`fastnn.ops.conv.conv_algorithm`; "winograd" and "direct" use im2col where
        they cannot do the shape.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, init="kaiming", weight_scale=1e-2, nonlinearity="relu",
                 seed=None, dtype=np.float32, *, algorithm="auto", pad=None, rng=None):
        super().__init__()
        padding = renamed_argument("Conv2d", "padding", padding, "pad", pad, new_default=0)
        self.algorithm = _conv_check_algorithm(algorithm, "Conv2d")
        kh, kw = (kernel_size, kernel_size) if np.isscalar(kernel_size) else kernel_size
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must be divisible by groups ({groups})")
        w = np.empty((out_channels, in_channels // groups, kh, kw), _dtype(dtype))
        _init_weight(w, init, _rng(seed, rng, "Conv2d"), weight_scale, nonlinearity)
        self._add_param("w", w)
        _add_bias(self, bias, out_channels, w.dtype)
        stride, pad, dilation = _conv_geometry(stride, padding, dilation, "Conv2d", "padding")
        self.conv_param = dict(stride=stride, pad=pad, dilation=dilation, groups=groups)

    def forward(self, x):
        out, self._cache = ops.conv_forward(x, self.params["w"], self._bias(), **self.conv_param,
                                            algorithm=getattr(self, "algorithm", "auto"))
        return out

    def backward(self, dout, need_input_grad=True):
        """Accumulate dw, db; return dx (None with ``need_input_grad=False``: no dx GEMM)."""
        dx, dw, db = ops.conv_backward(dout, self._cache_or_raise(), need_dx=need_input_grad)
        self._accumulate(w=dw, **({"b": db} if "b" in self.params else {}))
        return dx

    def __repr__(self):
        F, C, kh, kw = self.params["w"].shape
        return f"Conv2d({C * self.conv_param['groups']}, {F}, ({kh}, {kw}), {self.conv_param})"


def _add_bias(layer, bias, n, dtype):
    """A trainable zero bias "b", or (bias=False) a constant zero one outside params."""
    if bias:
        layer._add_param("b", np.zeros(n, dtype))
    else:
        layer._zero_bias = np.zeros(n, dtype)


def _init_weight(w, how, rng, weight_scale, nonlinearity):
    if how == "kaiming":
        init.kaiming_normal(w, rng, nonlinearity=nonlinearity)
    elif how == "xavier":
        init.xavier_normal(w, rng)
    elif how == "lecun":
        init.lecun_normal(w, rng)
    elif how == "normal":
        init.normal(w, rng, std=weight_scale)
    elif callable(how):
        how(w, rng)
    else:
        raise ValueError(f"init must be 'kaiming', 'xavier', 'lecun', 'normal' or a callable "
                         f"(w, rng), got {how!r}")


# ---------------------------------------------------------------- pooling

class MaxPool2d(Layer):
    """Max pooling over (kernel_size) windows; gradient to the first maximum of each window."""

    def __init__(self, kernel_size=2, stride=None):
        super().__init__()
        kh, kw = (kernel_size, kernel_size) if np.isscalar(kernel_size) else kernel_size
        name = type(self).__name__
        self.kh = _pool_size(kh, "kernel_size", name)
        self.kw = _pool_size(kw, "kernel_size", name)
        self.stride = self.kh if stride is None else _pool_size(stride, "stride", name)

    def forward(self, x):
        out, self._cache = ops.max_pool_forward(x, self.kh, self.kw, self.stride)
        return out

    def backward(self, dout):
        return ops.max_pool_backward(dout, self._cache_or_raise())

    def __repr__(self):
        return f"MaxPool2d(({self.kh}, {self.kw}), stride={self.stride})"


class AvgPool2d(MaxPool2d):
    """Average pooling over (kernel_size) windows."""

    def forward(self, x):
        out, self._cache = ops.avg_pool_forward(x, self.kh, self.kw, self.stride)
        return out

    def backward(self, dout):
        return ops.avg_pool_backward(dout, self._cache_or_raise())

    def __repr__(self):
        return f"AvgPool2d(({self.kh}, {self.kw}), stride={self.stride})"


class GlobalAvgPool2d(Layer):
    """Mean over H, W: (N, C, H, W) -> (N, C)."""

    def forward(self, x):
        out, self._cache = ops.global_avg_pool_forward(x)
        return out

    def backward(self, dout):
        return ops.global_avg_pool_backward(dout, self._cache_or_raise())


# ---------------------------------------------------------------- normalisation

class BatchNorm1d(Layer):
    """Batch norm per feature of (N, D); running statistics in ``buffers``.

    ``momentum`` and the unbiased running variance follow PyTorch;
    ``unbiased_running_var=False`` averages the biased batch variance instead
    (see :func:`fastnn.ops.batchnorm_forward`).  gamma starts at 1 and beta at 0.
    """

    def __init__(self, num_features, momentum=0.1, eps=1e-5, dtype=np.float32,
                 unbiased_running_var=True):
        super().__init__()
        dt = _dtype(dtype)
        self._add_param("gamma", np.ones(num_features, dt))
        self._add_param("beta", np.zeros(num_features, dt))
        self.buffers = {"running_mean": np.zeros(num_features, dt),
                        "running_var": np.ones(num_features, dt)}
        self.momentum, self.eps = momentum, eps
        self.unbiased_running_var = bool(unbiased_running_var)

    _NDIMS = (2, 3)
    _HINT = "; for (N, C, H, W) images use BatchNorm2d"

    def forward(self, x):
        ndim = np.ndim(x)
        if ndim not in self._NDIMS:
            want = " or ".join({2: "(N, D)", 3: "(N, D, L)", 4: "(N, C, H, W)"}[n]
                               for n in self._NDIMS)
            raise ValueError(f"{type(self).__name__}: expected {want} input (as PyTorch's), got "
                             f"{ndim}-D shape {np.shape(x)}{self._HINT}")
        out, self._cache = ops.batchnorm_forward(
            x, self.params["gamma"], self.params["beta"], self.buffers["running_mean"],
            self.buffers["running_var"], training=self.training, momentum=self.momentum,
            eps=self.eps, unbiased_running_var=self.unbiased_running_var)
        return out

    def backward(self, dout):
        dx, dgamma, dbeta = ops.batchnorm_backward(dout, self._cache_or_raise())
        self._accumulate(gamma=dgamma, beta=dbeta)
        return dx

    def __repr__(self):
        return f"{type(self).__name__}({self.params['gamma'].shape[0]})"


class BatchNorm2d(BatchNorm1d):
    """Spatial batch norm: per channel of (N, C, H, W) over N, H, W (4-D input only)."""

    _NDIMS = (4,)
    _HINT = "; for (N, D) features use BatchNorm1d"


class LayerNorm(Layer):
    """Layer norm over the trailing ``normalized_shape`` dims of each sample (same in both modes)."""

    def __init__(self, normalized_shape, eps=1e-5, dtype=np.float32):
        super().__init__()
        shape = (normalized_shape,) if np.isscalar(normalized_shape) else tuple(normalized_shape)
        dt = _dtype(dtype)
        self._add_param("gamma", np.ones(shape, dt))
        self._add_param("beta", np.zeros(shape, dt))
        self.eps = eps

    def forward(self, x):
        out, self._cache = ops.layernorm_forward(x, self.params["gamma"], self.params["beta"],
                                                 self.eps)
        return out

    def backward(self, dout):
        dx, dgamma, dbeta = ops.layernorm_backward(dout, self._cache_or_raise())
        self._accumulate(gamma=dgamma, beta=dbeta)
        return dx


class GroupNorm(Layer):
    """Group norm: per sample over groups of C / num_groups channels (same in both modes)."""

    def __init__(self, num_groups, num_channels, eps=1e-5, dtype=np.float32):
        super().__init__()
        dt = _dtype(dtype)
        self.num_groups, self.eps = num_groups, eps
        self._add_param("gamma", np.ones(num_channels, dt))
        self._add_param("beta", np.zeros(num_channels, dt))

    def forward(self, x):
        out, self._cache = ops.groupnorm_forward(x, self.params["gamma"], self.params["beta"],
                                                 self.num_groups, self.eps)
        return out

    def backward(self, dout):
        dx, dgamma, dbeta = ops.groupnorm_backward(dout, self._cache_or_raise())
        self._accumulate(gamma=dgamma, beta=dbeta)
        return dx


# ---------------------------------------------------------------- regularisation

class Dropout(Layer):
    """Inverted dropout: in training, zero each unit with probability ``p`` and scale the
    rest by 1/(1-p); identity in eval mode.  Masks come from a seeded stream: a layer
    built with the same ``seed`` gives the same sequence of masks."""

    def __init__(self, p=0.5, seed=None):
        super().__init__()
        self.p = p
        self._seeds = np.random.default_rng(seed)

    def _next_seed(self):
        return int(self._seeds.integers(0, 2**63 - 1))

    def forward(self, x):
        out, self._cache = ops.dropout_forward(x, self.p, self.training,
                                               self._next_seed() if self.training else None)
        return out

    def backward(self, dout):
        return ops.dropout_backward(dout, self._cache_or_raise())

    def __repr__(self):
        return f"Dropout(p={self.p})"


class DropConnect(Linear):
    """A Linear layer whose weights (not activations) are dropped with probability ``p``
    in training; eval mode uses the full weights.  ``seed`` seeds the weights and the
    masks (a Generator: the weights are drawn from it, the masks from a stream spawned from
    it); the other keywords are :class:`Linear`'s."""

    def __init__(self, in_features, out_features, p=0.5, seed=None, **kw):
        super().__init__(in_features, out_features, seed=seed, **kw)
        self.p = p
        self._seeds = (seed.spawn(1)[0] if isinstance(seed, np.random.Generator)
                       else np.random.default_rng(seed))

    def forward(self, x):
        seed = int(self._seeds.integers(0, 2**63 - 1)) if self.training else None
        out, self._cache = ops.dropconnect_forward(x, self.params["w"], self._bias(), self.p,
                                                   self.training, seed)
        return out

    def backward(self, dout, need_input_grad=True):
        """Accumulate dw, db; return dx (None with ``need_input_grad=False``)."""
        dx, dw, db = ops.dropconnect_backward(dout, self._cache_or_raise())
        self._accumulate(w=dw, **({"b": db} if "b" in self.params else {}))
        return dx if need_input_grad else None


# ---------------------------------------------------------------- activations

class _Activation(Layer):
    op = None

    def __init__(self, **kw):
        super().__init__()
        self.kw = kw
        self._fwd = getattr(ops, self.op + "_forward")
        self._bwd = getattr(ops, self.op + "_backward")

    def forward(self, x):
        out, self._cache = self._fwd(x, **self.kw)
        return out

    def backward(self, dout):
        return self._bwd(dout, self._cache_or_raise())

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.kw.items())})"


class ReLU(_Activation):
    """Rectified linear unit, ``max(x, 0)`` (:func:`fastnn.ops.relu_forward`)."""
    op = "relu"


class LeakyReLU(_Activation):
    """Leaky ReLU, ``x`` for ``x > 0`` else ``negative_slope * x``."""
    op = "leaky_relu"

    def __init__(self, negative_slope=0.01):
        super().__init__(negative_slope=negative_slope)


class ELU(_Activation):
    """Exponential linear unit, ``x`` for ``x > 0`` else ``alpha * (exp(x) - 1)``."""
    op = "elu"

    def __init__(self, alpha=1.0):
        super().__init__(alpha=alpha)


class SELU(_Activation):
    """Scaled ELU with the self-normalising constants of Klambauer et al."""
    op = "selu"


class Sigmoid(_Activation):
    """Logistic sigmoid, ``1 / (1 + exp(-x))``."""
    op = "sigmoid"


class Tanh(_Activation):
    """Hyperbolic tangent."""
    op = "tanh"


class GELU(_Activation):
    """Gaussian error linear unit, exact (``approximate="none"``) or the tanh approximation."""
    op = "gelu"

    def __init__(self, approximate="none"):
        super().__init__(approximate=approximate)


class Softplus(_Activation):
    """Smooth ReLU, ``log(1 + exp(beta * x)) / beta``, linear above ``threshold``."""
    op = "softplus"

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__(beta=beta, threshold=threshold)


class SiLU(_Activation):
    """Sigmoid linear unit (swish), ``x * sigmoid(x)``."""
    op = "silu"


class PReLU(Layer):
    """Leaky ReLU with a learnable slope: one shared (num_parameters=1) or one per channel."""

    def __init__(self, num_parameters=1, init=0.25, dtype=np.float32):
        super().__init__()
        self._add_param("alpha", np.full(num_parameters, init, _dtype(dtype)))

    def forward(self, x):
        out, self._cache = ops.prelu_forward(x, self.params["alpha"])
        return out

    def backward(self, dout):
        dx, dalpha = ops.prelu_backward(dout, self._cache_or_raise())
        self._accumulate(alpha=dalpha)
        return dx


class Maxout(Layer):
    """Maxout unit: max over k affine pieces, x (N, D) -> (N, M); w (k, D, M), b (k, M).
    Xavier init from ``seed`` (as in :class:`Linear`; ``rng=`` is its deprecated spelling)."""

    def __init__(self, in_features, out_features, k=2, seed=None, dtype=np.float32, *, rng=None):
        super().__init__()
        w = np.empty((k, in_features, out_features), _dtype(dtype))
        r = _rng(seed, rng, "Maxout")
        for piece in w:
            init.xavier_normal(piece, r)
        self._add_param("w", w)
        self._add_param("b", np.zeros((k, out_features), w.dtype))

    def forward(self, x):
        out, self._cache = ops.maxout_forward(x, self.params["w"], self.params["b"])
        return out

    def backward(self, dout):
        dx, dw, db = ops.maxout_backward(dout, self._cache_or_raise())
        self._accumulate(w=dw, b=db)
        return dx


class Flatten(Layer):
    """(N, d1, ..., dk) -> (N, d1 * ... * dk)."""

    def forward(self, x):
        x = np.asarray(x)
        self._cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout):
        return np.asarray(dout).reshape(self._cache_or_raise())


# ---------------------------------------------------------------- containers

class Sequential(Layer):
    """Layers applied in order; ``params``/``grads``/``buffers`` hold every child's arrays under
    ``"<index>.<name>"`` (the same arrays, not copies).

    For the course interface (``params`` under ``W1, b1, ...`` and
    ``loss(X, y=None)`` with L2 regularisation), wrap it:
    ``fastnn.models.Model(sequential, reg=...)``.
    """

    def __init__(self, *layers):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: item {i} is a {type(layer).__name__}, not a Layer")
        self.layers = list(layers)
        for i, layer in enumerate(self.layers):
            for k in layer.params:
                self.params[f"{i}.{k}"] = layer.params[k]
                self.grads[f"{i}.{k}"] = layer.grads[k]
            for k, v in layer.buffers.items():
                self.buffers[f"{i}.{k}"] = v

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout, need_input_grad=True):
        """Backward through every layer; returns dx.

        ``need_input_grad=False`` (training, where only the parameter gradients
        are wanted): the layers before the first one with parameters are
        skipped, a first :class:`Linear` or :class:`Conv2d` computes no dx, and
        None is returned.
        """
        layers = self.layers
        first = 0
        if not need_input_grad:
            first = next((i for i, layer in enumerate(layers) if layer.params), len(layers))
        for i in range(len(layers) - 1, first - 1, -1):
            layer = layers[i]
            if i == first and not need_input_grad and isinstance(layer, (Linear, Conv2d)):
                layer.backward(dout, need_input_grad=False)
                return None
            dout = layer.backward(dout)
        return dout if need_input_grad else None

    def train(self, mode=True):
        self.training = bool(mode)
        for layer in self.layers:
            layer.train(mode)
        return self

    def zero_grad(self):
        for layer in self.layers:
            layer.zero_grad()

    def __repr__(self):
        inner = "\n".join(f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential(\n{inner}\n)"


class Residual(Layer):
    """``out = x + block(x)``, with optional stochastic depth.

    With ``drop_prob = p > 0``, training drops the whole branch with
    probability p (out = x, and the block gets no gradient), and eval scales
    it by its survival probability: ``out = x + (1 - p) * block(x)`` (Huang et
    al., 2016).  ``zero_init=True`` zeroes the last layer of the branch (its
    gamma if it is a normalisation layer) so the block starts as the identity.
    """

    def __init__(self, block, drop_prob=0.0, zero_init=False, seed=None):
        super().__init__()
        if not isinstance(block, Layer):
            raise TypeError(f"Residual: block must be a Layer, got {type(block).__name__}")
        if not 0.0 <= drop_prob < 1.0:
            raise ValueError(f"Residual: drop_prob must be in [0, 1), got {drop_prob}")
        self.block, self.drop_prob = block, float(drop_prob)
        self._rng = np.random.default_rng(seed)
        self.params, self.grads, self.buffers = block.params, block.grads, block.buffers
        if zero_init:
            init.zero_residual_branch(block.layers if isinstance(block, Sequential) else [block])

    def forward(self, x):
        self._dropped = self.training and self.drop_prob > 0 and self._rng.random() < self.drop_prob
        if self._dropped:
            return np.array(x, copy=True)
        out = self.block.forward(x)
        if not self.training and self.drop_prob > 0:
            out = out * out.dtype.type(1.0 - self.drop_prob)
        return out + x

    def backward(self, dout):
        if self._dropped:
            return np.array(dout, copy=True)
        return self.block.backward(dout) + dout

    def train(self, mode=True):
        self.training = bool(mode)
        self.block.train(mode)
        return self

    def zero_grad(self):
        self.block.zero_grad()

    def __repr__(self):
        return f"Residual(drop_prob={self.drop_prob}, {self.block!r})"


def generators(obj, prefix=""):
    """Every numpy Generator held by a layer or model and the layers inside it (dropout
    masks, stochastic depth), by attribute path: what a checkpoint saves to resume their
    streams, and what a gradient check rewinds to make a random layer deterministic."""
    found = {}
    for name, v in sorted(vars(obj).items()):
        if isinstance(v, np.random.Generator):
            found[prefix + name] = v
        elif isinstance(v, Layer):
            found.update(generators(v, f"{prefix}{name}."))
        elif isinstance(v, (list, tuple)):
            for i, item in enumerate(v):
                if isinstance(item, Layer):
                    found.update(generators(item, f"{prefix}{name}.{i}."))
    return found
