"""The course's ``cs231n/classifiers/fc_net.py``: TwoLayerNet and FullyConnectedNet.

Both are :class:`fastnn.models.Model` networks of fastnn layers with the
course's interface: ``params`` (``W1, b1, ..., gamma1, beta1, ...``),
``loss(X, y=None)`` (scores in test mode when y is None; else ``(loss,
grads)`` with ``0.5 * reg * sum(W**2)`` per weight), the course's weight
draws (``weight_scale * np.random.randn(...)`` from NumPy's global generator,
layer by layer) and dtypes.  ``model.params[name] = array`` casts into the
model's dtype (see :class:`~fastnn.compat.cs231n.classifiers._course.CourseParams`).
"""
import numpy as np

from fastnn import layers as L
from fastnn.compat.cs231n.classifiers._course import CourseDropout, CourseModel, no_init

__all__ = ["TwoLayerNet", "FullyConnectedNet"]


class TwoLayerNet(CourseModel):
    """affine - relu - affine - softmax, float64 (the course's: its weights are ``randn``'s).

    Parameters
    ----------
    input_dim, hidden_dim, num_classes : int
    weight_scale : float
        Standard deviation of the weights: ``W1 = weight_scale *
        np.random.randn(input_dim, hidden_dim)``, then W2; biases zero.
    reg : float
        L2 strength.
    dtype : float32 or float64, default float64
    """

    def __init__(self, input_dim=3 * 32 * 32, hidden_dim=100, num_classes=10, weight_scale=1e-3,
                 reg=0.0, dtype=np.float64):
        kw = dict(init=no_init, dtype=dtype)
        net = L.Sequential(L.Linear(input_dim, hidden_dim, **kw), L.ReLU(),
                           L.Linear(hidden_dim, num_classes, **kw))
        super().__init__(net, reg=reg, dtype=dtype)
        self._course_init(weight_scale)


class FullyConnectedNet(CourseModel):
    """{affine - [batch/layer norm] - relu - [dropout]} x (L - 1) - affine - softmax.

    Parameters
    ----------
    hidden_dims : list of int
    input_dim, num_classes : int
    dropout_keep_ratio : float in (0, 1], default 1
        Probability of KEEPING a unit; 1: no dropout.
    normalization : None, "batchnorm" or "layernorm"
        Batch norm keeps the course's running statistics (start at zero,
        momentum 0.9, biased variance); eps 1e-5.
    reg : float
    weight_scale : float, default 1e-2
        ``W_i = weight_scale * np.random.randn(d_i, d_{i+1})`` from NumPy's
        global generator, i = 1..L.
    dtype : float32 or float64, default float32
        The course's default (its notebooks pass ``dtype=np.float64`` for
        gradient checks).
    seed : int or None
        Passed to the dropout layers: every call then uses the same masks.

    Attributes
    ----------
    num_layers, normalization, use_dropout, reg, dtype, params : as in the course
    bn_params : list of dict
        Per batch-norm layer, ``{"mode", "running_mean", "running_var"}``
        (the layers' own running arrays).
    """

    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10, dropout_keep_ratio=1,
                 normalization=None, reg=0.0, weight_scale=1e-2, dtype=np.float32, seed=None):
        if normalization not in (None, "batchnorm", "layernorm"):
            raise ValueError(f"FullyConnectedNet: normalization must be None, 'batchnorm' or "
                             f"'layernorm', got {normalization!r}")
        if not 0 < dropout_keep_ratio <= 1:
            raise ValueError(f"FullyConnectedNet: dropout_keep_ratio (the probability of keeping "
                             f"a unit) must be in (0, 1], got {dropout_keep_ratio}")
        dims = [input_dim] + list(hidden_dims)
        self._norms = []
        layers = []
        for i in range(len(hidden_dims)):
            layers.append(L.Linear(dims[i], dims[i + 1], init=no_init, dtype=dtype))
            if normalization == "batchnorm":
                bn = L.BatchNorm1d(dims[i + 1], momentum=1 - 0.9, eps=1e-5, dtype=dtype,
                                   unbiased_running_var=False)
                bn.buffers["running_var"].fill(0)
                self._norms.append(bn)
                layers.append(bn)
            elif normalization == "layernorm":
                layers.append(L.LayerNorm(dims[i + 1], eps=1e-5, dtype=dtype))
            layers.append(L.ReLU())
            if dropout_keep_ratio != 1:
                layers.append(CourseDropout(dropout_keep_ratio, seed))
        layers.append(L.Linear(dims[-1], num_classes, init=no_init, dtype=dtype))
        self.num_layers = len(hidden_dims) + 1
        self.normalization = normalization
        self.use_dropout = dropout_keep_ratio != 1
        super().__init__(L.Sequential(layers), reg=reg, dtype=dtype)
        self._course_init(weight_scale)

    @property
    def bn_params(self):
        """Per batch-norm layer, ``{"mode", "running_mean", "running_var"}`` (the layers' own running arrays)."""
        mode = "train" if self.net.training else "test"
        return [{"mode": mode, "running_mean": bn.buffers["running_mean"],
                 "running_var": bn.buffers["running_var"]} for bn in self._norms]
