"""The course's reference models, with the interface the CS231n Solver expects.

* ``model.params``: a dict of the trainable arrays under the course's names:
  ``W1, b1, W2, b2, ...`` for the affine/conv layers in order, ``gamma1,
  beta1, ...`` for the normalisation layer after weight layer i, ``alpha1, ...``
  for a PReLU.  The arrays are the layers' own (assigning ``params[k] = v``
  copies into them, see :class:`fastnn.layers.ParamDict`).
* ``model.loss(X, y=None)``: class scores (N, C) in evaluation mode when ``y``
  is None; otherwise a training-mode forward and backward, returning
  ``(loss, grads)`` with the softmax loss plus ``0.5 * reg * sum(W**2)`` over
  the weights ``W1, W2, ...``, and ``grads`` keyed like ``params`` (fresh
  arrays, as in the course: a later call does not change them).

Every model here is a :class:`Model` around a :class:`fastnn.layers.Sequential`
(``model.net``); ``Model(net, reg=...)`` gives the same interface to any
Sequential.  Weights come from an explicit seed (``seed``), never from global
random state.

Models travel whole: :meth:`Model.save` writes the weights under the network's
names (``"0.w"``, ``"0.b"``, ...: the names the bare Sequential uses), the
architecture (JSON, :mod:`fastnn.architecture`) and the attached
``preprocessor``; :func:`load` rebuilds the model from the file alone, and
:meth:`Model.predict` / :meth:`Model.predict_proba` apply the preprocessor
before the network.  :meth:`Model.summary` lists layers, output shapes and
parameter counts.
"""
import operator

import numpy as np

from fastnn import checkpoint, layers as L
from fastnn import ops
from fastnn._deprecation import renamed_argument

__all__ = ["Model", "TwoLayerNet", "FullyConnectedNet", "ThreeLayerConvNet", "SmallVGG", "make_model",
           "MODEL_NAMES", "ACTIVATIONS", "load"]

_WEIGHT_LAYERS = (L.Linear, L.Conv2d, L.Maxout)
_NORM_LAYERS = (L.BatchNorm1d, L.LayerNorm, L.GroupNorm)


def _course_names(net):
    """(course name, layer, key) for every parameter, numbering weight layers from 1."""
    names, i = [], 0

    def visit(layer):
        nonlocal i
        if isinstance(layer, L.Sequential):
            for child in layer.layers:
                visit(child)
        elif isinstance(layer, L.Residual):
            visit(layer.block)
        elif isinstance(layer, _WEIGHT_LAYERS):
            i += 1
            names.append((f"W{i}", layer, "w"))
            if "b" in layer.params:              # bias=False layers have none
                names.append((f"b{i}", layer, "b"))
        elif isinstance(layer, _NORM_LAYERS):
            names.extend([(f"gamma{i}", layer, "gamma"), (f"beta{i}", layer, "beta")])
        else:
            names.extend((f"{k}{i}", layer, k) for k in layer.params)

    visit(net)
    return names


class Model:
    """The course interface (``params``, ``loss(X, y=None)``, ``reg``) over a Sequential.

    Parameters
    ----------
    net : fastnn.layers.Sequential
    reg : float
        L2 regularisation strength: adds ``0.5 * reg * sum(W**2)`` per weight.
    dtype : float32 or float64, optional
        X is cast to it in ``loss`` (default: the dtype of the first weight).
    input_shape : tuple of int, optional
        The shape of one sample (without the batch axis), after preprocessing: what
        :meth:`summary` and ONNX export use when given no shape.
    preprocessor : fastnn.data.Preprocessor, optional
        Fitted preprocessing applied by :meth:`predict` / :meth:`predict_proba` to raw
        inputs, and saved with the model (also settable as ``model.preprocessor``).
    label_smoothing : float in [0, 1], default 0
        Label smoothing of the softmax loss (see :func:`fastnn.ops.softmax_loss`).
    """

    def __init__(self, net, reg=0.0, dtype=None, input_shape=None, preprocessor=None,
                 label_smoothing=0.0):
        if not isinstance(net, L.Sequential):
            raise TypeError(f"Model: net must be a fastnn.layers.Sequential, got {type(net).__name__}")
        self.net = net
        self.reg = float(reg)
        self.label_smoothing = float(label_smoothing)
        if not 0.0 <= self.label_smoothing <= 1.0:
            raise ValueError(f"Model: label_smoothing must be in [0, 1], got {label_smoothing!r}")
        self.params = L.ParamDict()
        self._grads = {}
        for name, layer, key in _course_names(net):
            self.params[name], self._grads[name] = layer.params[key], layer.grads[key]
        first = next(iter(self.params.values()), None)
        self.dtype = np.dtype(dtype) if dtype is not None else (
            first.dtype if first is not None else np.dtype(np.float32))
        self.input_shape = None if input_shape is None else tuple(int(d) for d in input_shape)
        self.preprocessor = preprocessor

    # the layer interface, forwarded
    def forward(self, X):
        """Class scores of ``x`` through the network (the mode is left as it is)."""
        return self.net.forward(np.asarray(X, dtype=self.dtype))

    def backward(self, dout):
        """Backpropagate ``dout`` (gradient of the scores) through the network; returns ``dx``."""
        return self.net.backward(dout)

    def train(self, mode=True):
        """Set training mode (``mode=True``) or evaluation mode; returns the model."""
        self.net.train(mode)
        return self

    def eval(self):
        """Set evaluation mode; returns the model."""
        return self.train(False)

    def zero_grad(self):
        """Reset every layer's parameter gradients to zero."""
        self.net.zero_grad()

    @property
    def grads(self):
        """Gradients of the last ``loss(X, y)`` under the course's parameter names."""
        return self._grads

    @property
    def buffers(self):
        """Non-trainable state (batch-norm running statistics) under the course's names."""
        return self.net.buffers

    def save(self, path, meta=None):
        """Write params, buffers, architecture and preprocessor to a ``.npz`` or
        ``.safetensors`` checkpoint (atomically, no pickle); see
        :func:`fastnn.checkpoint.save_model`.  :func:`fastnn.load` reads it back whole."""
        return checkpoint.save_model(path, self, meta)

    def load(self, path):
        """Read a checkpoint written by :meth:`save` into this model's arrays (in place); a file
        with missing or mismatched arrays raises ``CheckpointError``.  Returns the meta dict."""
        return checkpoint.load_model(path, self)

    # ------------------------------------------------------------ inference
    def _inputs(self, X, fn):
        if self.preprocessor is not None:
            X = self.preprocessor.transform(X)
        X = np.asarray(X, dtype=self.dtype)
        if X.ndim < 1:
            raise ValueError(f"{fn}: X must hold a batch of samples, got a scalar")
        return X

    def _batched(self, X, batch_size, fn):
        bs = operator.index(batch_size)
        if bs < 1:
            raise ValueError(f"{fn}: batch_size must be >= 1, got {batch_size}")
        X = self._inputs(X, fn)
        mode = self.net.training
        self.net.eval()
        try:
            parts = [self.net.forward(X[i:i + bs]) for i in range(0, len(X), bs)]
        finally:
            self.net.train(mode)
        if not parts:
            return np.empty((0,) + self.net.forward(np.zeros((1,) + X.shape[1:], self.dtype)).shape[1:],
                            self.dtype)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def predict_proba(self, X, batch_size=256):
        """Class probabilities (softmax of the scores), eval mode, in batches.

        Parameters
        ----------
        X : array_like, shape (N, ...)
            Raw samples: ``self.preprocessor`` (when set) is applied first.
        batch_size : int
            Samples per forward pass (bounds the memory; results do not depend on it).

        Returns
        -------
        ndarray, shape (N, num_classes), the model's dtype; rows sum to 1.
        """
        return _softmax(self._batched(X, batch_size, "Model.predict_proba"))

    def predict(self, X, batch_size=256):
        """Predicted class labels (argmax of the scores), eval mode, in batches.

        Parameters
        ----------
        X : array_like, shape (N, ...)
            Raw samples: ``self.preprocessor`` (when set) is applied first.
        batch_size : int

        Returns
        -------
        ndarray of int64, shape (N,)
        """
        return np.argmax(self._batched(X, batch_size, "Model.predict"), axis=1).astype(np.int64)

    def summary(self, input_shape=None):
        """A table of the layers, their output shapes and parameter counts (Keras-style).

        Parameters
        ----------
        input_shape : tuple of int, optional
            One sample's shape (default: ``self.input_shape``; needed when the first layer
            does not fix it, e.g. a convolution).

        Returns
        -------
        str
            The table (``print(model.summary())``).
        """
        return summarize(self.net, input_shape if input_shape is not None else self.input_shape,
                         self.dtype, title=type(self).__name__)

    def loss(self, X, y=None, copy=True):
        """Scores (eval mode) when y is None, else (loss, grads) from a training step.

        ``y`` holds integer labels (N,), or a ``fastnn.data.MixedLabels(y_a, y_b, lam)``
        from mixup: the loss is then ``lam * L(y_a) + (1 - lam) * L(y_b)``.
        ``copy=False`` returns :attr:`grads` itself, the layers' own gradient
        arrays, which the next call overwrites (what :class:`fastnn.Solver`
        hands its in-place optimiser); the default returns fresh copies (the
        course's contract).
        """
        X = np.asarray(X, dtype=self.dtype)
        if y is None:
            mode = self.net.training
            self.net.eval()
            try:
                return self.net.forward(X)
            finally:
                self.net.train(mode)
        self.net.train()
        scores = self.net.forward(X)
        if hasattr(y, "lam"):      # mixup's MixedLabels(y_a, y_b, lam): a convex mix of two losses
            loss_a, d_a = ops.softmax_loss(scores, y.y_a, self.label_smoothing)
            loss_b, d_b = ops.softmax_loss(scores, y.y_b, self.label_smoothing)
            lam = float(y.lam)
            loss = lam * loss_a + (1.0 - lam) * loss_b
            dscores = d_a * d_a.dtype.type(lam) + d_b * d_b.dtype.type(1.0 - lam)
        else:
            loss, dscores = ops.softmax_loss(scores, y, self.label_smoothing)
        self.net.zero_grad()
        self.net.backward(dscores, need_input_grad=False)
        if self.reg:
            for name, w in self.params.items():
                if name.startswith("W"):
                    loss += 0.5 * self.reg * float(np.sum(np.square(w, dtype=np.float64)))
                    self._grads[name] += self.reg * w
        if not copy:
            return loss, self._grads
        return loss, {k: g.copy() for k, g in self._grads.items()}

    def __repr__(self):
        return f"{type(self).__name__}(reg={self.reg}, net={self.net!r})"


def _softmax(scores):
    z = scores - scores.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def _first_input_shape(net):
    for layer in net.layers:
        if isinstance(layer, (L.Linear, L.Maxout)):
            return (layer.params["w"].shape[-2],)
        if isinstance(layer, (L.BatchNorm1d, L.LayerNorm)) and not isinstance(layer, L.BatchNorm2d):
            return tuple(layer.params["gamma"].shape)
        if isinstance(layer, (L.Conv2d, L.Sequential, L.Residual, L.BatchNorm2d, L.GroupNorm,
                              L.MaxPool2d, L.GlobalAvgPool2d, L.Flatten)):
            return None
    return None


def _layer_label(layer):
    if isinstance(layer, L.Linear):
        return f"{type(layer).__name__}({layer.in_features} -> {layer.out_features})"
    if isinstance(layer, L.Conv2d):
        F, Cg, kh, kw = layer.params["w"].shape
        cp = layer.conv_param
        extra = "".join(f", {k} {cp[k]}" for k in ("stride", "pad", "dilation", "groups")
                        if cp[k] != (0 if k == "pad" else 1))
        return f"Conv2d({Cg * cp['groups']} -> {F}, {kh}x{kw}{extra})"
    return repr(layer).split("\n")[0]


def summarize(net, input_shape, dtype=np.float32, title="Sequential"):
    """The table of :meth:`Model.summary` for a Sequential (a forward pass of one zero sample
    in eval mode gives the output shapes; the network's mode is restored afterwards)."""
    if not isinstance(net, L.Sequential):
        raise TypeError(f"summary: expected a fastnn.layers.Sequential, got {type(net).__name__}")
    if input_shape is None:
        input_shape = _first_input_shape(net)
        if input_shape is None:
            raise ValueError("summary: the input shape is unknown (the first layer does not fix "
                             "it); pass input_shape=(C, H, W)")
    input_shape = tuple(int(d) for d in input_shape)
    rows = []

    def visit(layer, name, x, depth):
        if isinstance(layer, L.Sequential):
            for i, child in enumerate(layer.layers):
                x = visit(child, f"{name}.{i}" if name else str(i), x, depth)
            return x
        if isinstance(layer, L.Residual):
            rows.append((name, "  " * depth + f"Residual(drop_prob={layer.drop_prob})", None, 0, 0))
            at = len(rows) - 1
            visit(layer.block, name, x, depth + 1)
            out = layer.forward(x)
            rows[at] = rows[at][:2] + (out.shape[1:], 0, 0)
            return out
        out = layer.forward(x)
        rows.append((name, "  " * depth + _layer_label(layer), out.shape[1:],
                     sum(int(v.size) for v in layer.params.values()),
                     sum(int(np.size(v)) for v in layer.buffers.values())))
        return out

    mode = net.training
    net.eval()
    try:
        visit(net, "", np.zeros((1,) + input_shape, dtype), 0)
    finally:
        net.train(mode)
    table = [("#", "layer", "output shape", "params")] + [
        (n, lab, str(tuple(int(d) for d in shp)), f"{p:,}") for n, lab, shp, p, _ in rows]
    widths = [max(len(r[c]) for r in table) for c in range(4)]
    line = "-" * (sum(widths) + 6)
    out = [f"{title}: input {input_shape}", line]
    for j, r in enumerate(table):
        out.append(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  "
                   f"{r[3]:>{widths[3]}}")
        if j == 0:
            out.append(line)
    trainable = sum(r[3] for r in rows)
    buffers = sum(r[4] for r in rows)
    out += [line, f"trainable parameters: {trainable:,}",
            f"buffers (running statistics): {buffers:,}",
            f"size: {(trainable + buffers) * np.dtype(dtype).itemsize / 1024:,.1f} KiB "
            f"({np.dtype(dtype).name})"]
    return "\n".join(out)


class TwoLayerNet(Model):
    """affine - relu - affine - softmax, W ~ N(0, weight_scale^2), b = 0 (the course's init)."""

    def __init__(self, input_dim=3 * 32 * 32, hidden_dim=100, num_classes=10, weight_scale=1e-3,
                 reg=0.0, dtype=np.float32, seed=None):
        rng = np.random.default_rng(seed)
        net = L.Sequential(
            L.Linear(input_dim, hidden_dim, init="normal", weight_scale=weight_scale, seed=rng, dtype=dtype),
            L.ReLU(),
            L.Linear(hidden_dim, num_classes, init="normal", weight_scale=weight_scale, seed=rng, dtype=dtype))
        super().__init__(net, reg=reg, dtype=dtype, input_shape=(input_dim,))


class FullyConnectedNet(Model):
    """{affine - [batch/layer norm] - relu - [dropout]} x (L - 1) - affine - softmax.

    Parameters
    ----------
    hidden_dims : list of int
    input_dim, num_classes : int
    dropout : float in [0, 1), default 0
        Probability of dropping a unit (``p`` of :class:`fastnn.layers.Dropout`);
        0 adds no dropout layer.  ``dropout_keep_ratio`` (the course's keep
        probability, ``1 - dropout``) is its deprecated spelling.
    normalization : None, "batchnorm" or "layernorm"
    reg, weight_scale : float
        L2 strength; std of the N(0, weight_scale^2) weight init.
    dtype : float32 or float64
    seed : int or None
        Seeds the weights and the dropout masks.
    """

    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10, dropout=0.0,
                 normalization=None, reg=0.0, weight_scale=1e-2, dtype=np.float32, seed=None, *,
                 dropout_keep_ratio=None):
        if normalization not in (None, "batchnorm", "layernorm"):
            raise ValueError(f"FullyConnectedNet: normalization must be None, 'batchnorm' or "
                             f"'layernorm', got {normalization!r}")
        if dropout_keep_ratio is not None:
            if not 0 < dropout_keep_ratio <= 1:
                raise ValueError(f"FullyConnectedNet: dropout_keep_ratio must be in (0, 1], "
                                 f"got {dropout_keep_ratio}")
            dropout_keep_ratio = 1 - dropout_keep_ratio
        dropout = renamed_argument("FullyConnectedNet", "dropout", dropout,
                                   "dropout_keep_ratio", dropout_keep_ratio, new_default=0.0,
                                   meaning="dropout = 1 - dropout_keep_ratio, the probability "
                                           "of dropping a unit")
        if not 0 <= dropout < 1:
            raise ValueError(f"FullyConnectedNet: dropout (the probability of dropping a unit) "
                             f"must be in [0, 1), got {dropout}")
        rng = np.random.default_rng(seed)
        dims = [input_dim] + list(hidden_dims)
        layers = []
        for i in range(len(hidden_dims)):
            layers.append(L.Linear(dims[i], dims[i + 1], init="normal", weight_scale=weight_scale,
                                   seed=rng, dtype=dtype))
            if normalization == "batchnorm":
                layers.append(L.BatchNorm1d(dims[i + 1], dtype=dtype))
            elif normalization == "layernorm":
                layers.append(L.LayerNorm(dims[i + 1], dtype=dtype))
            layers.append(L.ReLU())
            if dropout:
                layers.append(L.Dropout(dropout, seed=rng.integers(2**63)))
        layers.append(L.Linear(dims[-1], num_classes, init="normal", weight_scale=weight_scale,
                               seed=rng, dtype=dtype))
        self.num_layers = len(hidden_dims) + 1
        self.normalization = normalization
        super().__init__(L.Sequential(layers), reg=reg, dtype=dtype, input_shape=(input_dim,))


class ThreeLayerConvNet(Model):
    """conv - relu - 2x2 max pool - affine - relu - affine - softmax (the course's convnet).

    The convolution keeps the spatial size (stride 1, pad (filter_size - 1) // 2).
    """

    def __init__(self, input_dim=(3, 32, 32), num_filters=32, filter_size=7, hidden_dim=100,
                 num_classes=10, weight_scale=1e-3, reg=0.0, dtype=np.float32, seed=None):
        rng = np.random.default_rng(seed)
        net = _three_layer_convnet(input_dim, num_filters, filter_size, hidden_dim, num_classes,
                                   init="normal", weight_scale=weight_scale, seed=rng, dtype=dtype)
        super().__init__(net, reg=reg, dtype=dtype, input_shape=input_dim)


def _three_layer_convnet(input_dim, num_filters, filter_size, hidden_dim, num_classes, **kw):
    """The layers of :class:`ThreeLayerConvNet` (``kw``: the conv and linear layers' init)."""
    C, H, W = input_dim
    return L.Sequential(
        L.Conv2d(C, num_filters, filter_size, stride=1, padding=(filter_size - 1) // 2, **kw),
        L.ReLU(),
        L.MaxPool2d(2, 2),
        L.Flatten(),
        L.Linear(num_filters * (H // 2) * (W // 2), hidden_dim, **kw),
        L.ReLU(),
        L.Linear(hidden_dim, num_classes, **kw))


class SmallVGG(Model):
    """A small VGG-style net: two stages of conv3x3 - BN - ReLU (x2) - 2x2 max pool, then a
    linear classifier.  He init.

    With ``residual=True`` the second conv of each stage sits in a residual
    branch: conv - BN - ReLU, Residual(conv - BN), ReLU, pool; ``drop_prob``
    adds stochastic depth to those branches and ``zero_init_residual`` zeroes
    each branch's last BN gamma.

    The convolutions get He init; the classifier gets N(0, classifier_std^2)
    (default 1e-3), so the initial scores are near 0 and the initial loss is
    about log(num_classes), the course's first sanity check.

    Shape: (N, C, H, W) -> (N, num_classes); H and W divisible by 4.
    """

    def __init__(self, input_dim=(3, 32, 32), channels=(64, 64, 128, 128), num_classes=10,
                 residual=False, drop_prob=0.0, zero_init_residual=False, reg=0.0,
                 classifier_std=1e-3, dtype=np.float32, seed=None):
        C, H, W = input_dim
        c1, c2, c3, c4 = channels
        if residual and (c1 != c2 or c3 != c4):
            raise ValueError(f"SmallVGG: residual=True needs channels (a, a, b, b), got {channels}")
        rng = np.random.default_rng(seed)

        def conv_bn(cin, cout):
            return [L.Conv2d(cin, cout, 3, padding=1, seed=rng, dtype=dtype), L.BatchNorm2d(cout, dtype=dtype)]

        layers = []
        for cin, ca, cb in ((C, c1, c2), (c2, c3, c4)):
            layers += conv_bn(cin, ca) + [L.ReLU()]
            if residual:
                layers += [L.Residual(L.Sequential(conv_bn(ca, cb)), drop_prob=drop_prob,
                                      zero_init=zero_init_residual, seed=rng.integers(2**63)),
                           L.ReLU()]
            else:
                layers += conv_bn(ca, cb) + [L.ReLU()]
            layers.append(L.MaxPool2d(2, 2))
        layers += [L.Flatten(), L.Linear(c4 * (H // 4) * (W // 4), num_classes, init="normal",
                                          weight_scale=classifier_std, seed=rng, dtype=dtype)]
        super().__init__(L.Sequential(layers), reg=reg, dtype=dtype, input_shape=input_dim)


# ----------------------------------------------------------------- by name

MODEL_NAMES = ("mlp", "convnet", "vgg")
ACTIVATIONS = {"relu": L.ReLU, "leaky_relu": L.LeakyReLU, "elu": L.ELU, "selu": L.SELU,
               "gelu": L.GELU, "silu": L.SiLU, "tanh": L.Tanh, "sigmoid": L.Sigmoid}
_INITS = ("kaiming", "xavier", "lecun", "normal")
_NORMS = (None, "batchnorm", "layernorm")


def make_model(name, input_dim, num_classes, *, hidden_dims=None, num_filters=32,
               activation="relu", normalization=None, dropout=0.0, init="kaiming",
               weight_scale=1e-2, reg=0.0, dtype=np.float32, seed=None, head_init="zeros"):
    """Build one of the command line's models by name (what ``fastnn train --model`` trains).

    Parameters
    ----------
    name : {"mlp", "convnet", "vgg"}
        ``mlp``: flatten - {affine - [norm] - act - [dropout]} x len(hidden_dims) - affine.
        ``convnet``: conv3x3(num_filters) - [norm] - act - 2x2 max pool - affine(hidden) - [norm] -
        act - [dropout] - affine (the course's three-layer convnet with 3x3 filters).
        ``vgg``: {conv3x3 - [norm] - act} x 2 - pool, twice (num_filters, then 2 * num_filters),
        then [dropout] - affine; H and W divisible by 4.
    input_dim : (C, H, W)
    num_classes : int
    hidden_dims : tuple of int, optional
        Hidden widths: mlp default (256, 128); convnet uses its first entry (default 128).
    activation : str
        A key of :data:`ACTIVATIONS`.
    normalization : None, "batchnorm" or "layernorm"
        Layer norm is for the affine layers; convolutions get batch norm with either choice.
    dropout : float in [0, 1)
        Drop probability before the last affine layer(s).
    init : {"kaiming", "xavier", "lecun", "normal"}
        Weight initialiser (``normal``: N(0, weight_scale^2)); Kaiming's gain follows ``activation``.
    reg : float
        L2 strength (see :class:`Model`).
    seed : int, optional
        Seeds weights and dropout masks.
    head_init : {"zeros", "init"}, default "zeros"
        The last affine layer (the classifier) starts at zero weights, so the
        initial scores are 0 and the initial loss is exactly log(C) plus the
        regularisation (the lecture's first sanity check); its gradient is
        not zero, so it learns from the first step.  "init": like the other
        layers (``init``).
    """
    if name not in MODEL_NAMES:
        raise ValueError(f"make_model: model must be one of {list(MODEL_NAMES)}, got {name!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"make_model: activation must be one of {sorted(ACTIVATIONS)}, "
                         f"got {activation!r}")
    if init not in _INITS:
        raise ValueError(f"make_model: init must be one of {list(_INITS)}, got {init!r}")
    if normalization not in _NORMS:
        raise ValueError(f"make_model: normalization must be None, 'batchnorm' or 'layernorm', "
                         f"got {normalization!r}")
    if not 0 <= dropout < 1:
        raise ValueError(f"make_model: dropout must be in [0, 1), got {dropout}")
    if head_init not in ("zeros", "init"):
        raise ValueError(f"make_model: head_init must be 'zeros' or 'init', got {head_init!r}")
    try:
        C, H, W = (int(v) for v in input_dim)
    except (TypeError, ValueError):
        raise ValueError(f"make_model: input_dim must be (C, H, W), got {input_dim!r}") from None
    rng = np.random.default_rng(seed)
    gain = {"leaky_relu": "leaky_relu", "tanh": "tanh", "sigmoid": "sigmoid", "selu": "selu"}.get(
        activation, "relu")
    kw = dict(init=init, weight_scale=weight_scale, nonlinearity=gain, seed=rng, dtype=dtype)

    def act():
        return ACTIVATIONS[activation]()

    def norm1d(d):
        if normalization == "batchnorm":
            return [L.BatchNorm1d(d, dtype=dtype)]
        return [L.LayerNorm(d, dtype=dtype)] if normalization == "layernorm" else []

    def conv_block(cin, cout):
        bn = [L.BatchNorm2d(cout, dtype=dtype)] if normalization else []
        return [L.Conv2d(cin, cout, 3, padding=1, **kw)] + bn + [act()]

    def drop():
        return [L.Dropout(dropout, seed=int(rng.integers(2**63)))] if dropout else []

    if name == "mlp":
        dims = [C * H * W] + list(hidden_dims or (256, 128))
        layers = [L.Flatten()]
        for din, dout in zip(dims[:-1], dims[1:]):
            layers += [L.Linear(din, dout, **kw)] + norm1d(dout) + [act()] + drop()
        layers.append(L.Linear(dims[-1], num_classes, **kw))
    elif name == "convnet":
        hidden = (hidden_dims or (128,))[0]
        layers = conv_block(C, num_filters) + [L.MaxPool2d(2, 2), L.Flatten(),
                                               L.Linear(num_filters * (H // 2) * (W // 2), hidden, **kw)]
        layers += norm1d(hidden) + [act()] + drop() + [L.Linear(hidden, num_classes, **kw)]
    else:
        if H % 4 or W % 4:
            raise ValueError(f"make_model: the vgg model needs H and W divisible by 4, got {H}x{W}")
        f1, f2 = num_filters, 2 * num_filters
        layers = (conv_block(C, f1) + conv_block(f1, f1) + [L.MaxPool2d(2, 2)]
                  + conv_block(f1, f2) + conv_block(f2, f2) + [L.MaxPool2d(2, 2), L.Flatten()]
                  + drop() + [L.Linear(f2 * (H // 4) * (W // 4), num_classes, **kw)])
    if head_init == "zeros":
        layers[-1].params["w"].fill(0)
    return Model(L.Sequential(layers), reg=reg, dtype=dtype, input_shape=(C, H, W))


# ----------------------------------------------------------------- whole models

def load(path):
    """The model stored in a checkpoint, rebuilt from its architecture and ready to use.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.npz`` or ``.safetensors`` file written by :meth:`Model.save` /
        :func:`fastnn.checkpoint.save_model` (``fastnn train`` writes ``model.npz``).

    Returns
    -------
    Model
        In eval mode, with the saved weights, running statistics and preprocessor
        (``model.preprocessor``, applied by :meth:`Model.predict`); a bare Sequential's
        file comes back wrapped in a :class:`Model`.

    Raises
    ------
    fastnn.checkpoint.CheckpointError
        When the file holds no architecture (written by an older fastnn, or from a model with
        a layer fastnn cannot describe: build the model and use :meth:`Model.load`), or an
        architecture that does not match its weights.
    """
    model, _ = checkpoint.load_whole(path)
    return model
