"""The course's ``cs231n/layers.py`` (assignment 2) on fastnn's kernels.

Same names, signatures and return values as the assignment's functions;
each translates the course's arguments (parameter dicts, the KEEP
probability of dropout, ``mode`` strings, integer arrays) and calls the
fastnn op of :mod:`fastnn.ops`.  The caches are fastnn's (pass them back to
the matching ``*_backward``; their contents are not the course's tuples).

Conventions kept from the course:

* arrays: integer and bool arrays are accepted and computed in float64;
  float32 and float64 mixed in one call compute in float64 (NumPy's
  promotion);
* batch norm: ``bn_param = {"mode": "train"|"test", "eps": 1e-5,
  "momentum": 0.9, "running_mean": ..., "running_var": ...}``; the running
  statistics start at zeros, are stored into ``bn_param`` and follow
  ``running = momentum * running + (1 - momentum) * batch`` with the biased
  batch variance (fastnn's op is called with ``momentum = 1 - momentum`` and
  ``unbiased_running_var=False``);
* dropout: ``dropout_param = {"mode": ..., "p": KEEP probability, "seed": ...}``;
  a given seed gives the same mask on every call.  The masks come from
  fastnn's seeded generator (see :mod:`fastnn.ops.dropout`), not from
  NumPy's, so they differ from the course's for the same seed; without a
  seed, one is drawn from NumPy's global generator (``np.random.seed``
  makes a run repeatable);
* spatial group norm takes and returns gamma/beta of shape (1, C, 1, 1) (or (C,)).
"""
import numpy as np

from fastnn import ops
from fastnn.compat.cs231n._args import floats, mode, param

__all__ = [
    "affine_forward", "affine_backward", "relu_forward", "relu_backward",
    "softmax_loss", "svm_loss",
    "batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt",
    "layernorm_forward", "layernorm_backward",
    "dropout_forward", "dropout_backward",
    "conv_forward_naive", "conv_backward_naive",
    "max_pool_forward_naive", "max_pool_backward_naive",
    "spatial_batchnorm_forward", "spatial_batchnorm_backward",
    "spatial_groupnorm_forward", "spatial_groupnorm_backward",
]


# ---------------------------------------------------------------- affine, relu, losses

def affine_forward(x, w, b):
    """out = x.reshape(N, D) @ w + b; returns (out, cache).  See :func:`fastnn.ops.affine_forward`."""
    x, w, b = floats("affine_forward", x=x, w=w, b=b)
    return ops.affine_forward(x, w, b)


def affine_backward(dout, cache):
    """(dx, dw, db) of :func:`affine_forward`."""
    return ops.affine_backward(dout, cache)


def relu_forward(x):
    """out = max(x, 0); returns (out, cache)."""
    return ops.relu_forward(floats("relu_forward", x=x))


def relu_backward(dout, cache):
    """dx = dout * (x > 0)."""
    return ops.relu_backward(dout, cache)


def softmax_loss(x, y):
    """(loss, dx): mean softmax cross-entropy of the scores x (N, C) for labels y (N,)."""
    return ops.softmax_loss(floats("softmax_loss", x=x), y)


def svm_loss(x, y):
    """(loss, dx): the multiclass SVM (hinge, margin 1) loss, mean over N."""
    return ops.svm_loss(floats("svm_loss", x=x), y)


# ---------------------------------------------------------------- normalisation

def _running(bn_param, key, C, dtype):
    """bn_param[key] as a float array fastnn can update in place; zeros (the course's start) when
    absent.  Stored back into bn_param."""
    a = bn_param.get(key)
    if a is None:
        a = np.zeros(C, dtype)
    elif not (isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.flags.writeable):
        a = np.array(a, dtype=dtype)
    bn_param[key] = a
    return a


def _batchnorm(fn, x, gamma, beta, bn_param):
    training = mode(bn_param, fn, "bn_param")
    eps = param(bn_param, "eps", fn, "bn_param", 1e-5)
    momentum = param(bn_param, "momentum", fn, "bn_param", 0.9)
    if not isinstance(momentum, (int, float, np.floating)) or not 0 <= momentum <= 1:
        raise ValueError(f'{fn}: bn_param["momentum"] (the weight of the running average) must '
                         f'be a number in [0, 1], got {momentum!r}')
    x, gamma, beta = floats(fn, x=x, gamma=gamma, beta=beta)
    C = x.shape[1] if x.ndim >= 2 else 0
    rm = _running(bn_param, "running_mean", C, x.dtype)
    rv = _running(bn_param, "running_var", C, x.dtype)
    return ops.batchnorm_forward(x, gamma, beta, rm, rv, training=training, momentum=1 - momentum,
                                 eps=eps, unbiased_running_var=False)


def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch norm of x (N, D) with the course's ``bn_param``; returns (out, cache).

    ``bn_param["mode"]`` "train" normalises with the batch statistics and
    updates ``bn_param["running_mean"]`` / ``["running_var"]`` (created as
    zeros when absent) as ``momentum * running + (1 - momentum) * batch``,
    biased variance; "test" normalises with them.  ``eps`` (1e-5) and
    ``momentum`` (0.9) are read from ``bn_param``.
    """
    return _batchnorm("batchnorm_forward", x, gamma, beta, bn_param)


def batchnorm_backward(dout, cache):
    """(dx, dgamma, dbeta) of :func:`batchnorm_forward`."""
    return ops.batchnorm_backward(dout, cache)


def batchnorm_backward_alt(dout, cache):
    """(dx, dgamma, dbeta) by the simplified formula: fastnn's backward is that formula, so this
    is :func:`batchnorm_backward`."""
    return ops.batchnorm_backward(dout, cache)


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Batch norm per channel of x (N, C, H, W) over N, H, W; gamma, beta (C,); as
    :func:`batchnorm_forward` otherwise."""
    return _batchnorm("spatial_batchnorm_forward", x, gamma, beta, bn_param)


def spatial_batchnorm_backward(dout, cache):
    """(dx, dgamma, dbeta) of :func:`spatial_batchnorm_forward`."""
    return ops.batchnorm_backward(dout, cache)


def layernorm_forward(x, gamma, beta, ln_param):
    """Layer norm of each row of x (N, D); ``ln_param["eps"]`` (default 1e-5); (out, cache)."""
    fn = "layernorm_forward"
    eps = param(ln_param, "eps", fn, "ln_param", 1e-5)
    x, gamma, beta = floats(fn, x=x, gamma=gamma, beta=beta)
    return ops.layernorm_forward(x, gamma, beta, eps)


def layernorm_backward(dout, cache):
    """(dx, dgamma, dbeta) of :func:`layernorm_forward`."""
    return ops.layernorm_backward(dout, cache)


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    """Group norm of x (N, C, H, W) in G groups of C / G channels; ``gn_param["eps"]`` (1e-5).

    gamma and beta have the course's shape (1, C, 1, 1) (shape (C,) works
    too); :func:`spatial_groupnorm_backward` returns dgamma, dbeta in that shape.
    """
    fn = "spatial_groupnorm_forward"
    eps = param(gn_param, "eps", fn, "gn_param", 1e-5)
    x, gamma, beta = floats(fn, x=x, gamma=gamma, beta=beta)
    shape = gamma.shape
    out, cache = ops.groupnorm_forward(x, gamma.reshape(-1), beta.reshape(-1), G, eps)
    return out, (cache, shape)


def spatial_groupnorm_backward(dout, cache):
    """(dx, dgamma, dbeta) of :func:`spatial_groupnorm_forward`, dgamma/dbeta in gamma's shape."""
    c, shape = cache
    dx, dgamma, dbeta = ops.groupnorm_backward(dout, c)
    return dx, dgamma.reshape(shape), dbeta.reshape(shape)


# ---------------------------------------------------------------- dropout

def dropout_forward(x, dropout_param):
    """Inverted dropout with the course's ``dropout_param``: (out, cache).

    ``dropout_param["p"]`` is the probability of KEEPING a unit (fastnn's
    :func:`~fastnn.ops.dropout_forward` is called with drop probability
    ``1 - p``); kept units are scaled by ``1 / p``.  ``"mode"`` "test" returns
    x unchanged.  ``"seed"`` (optional) gives the same mask on every call;
    without it a seed is drawn from NumPy's global generator.
    """
    fn = "dropout_forward"
    training = mode(dropout_param, fn, "dropout_param")
    p = param(dropout_param, "p", fn, "dropout_param", required=True)
    if not isinstance(p, (int, float, np.floating)) or not 0 <= p <= 1:
        raise ValueError(f'{fn}: dropout_param["p"] (the probability of KEEPING a unit) must be '
                         f'a number in [0, 1], got {p!r}')
    seed = param(dropout_param, "seed", fn, "dropout_param")
    if seed is None and training:
        seed = int(np.random.randint(0, 2**63 - 1, dtype=np.int64))
    return ops.dropout_forward(floats(fn, x=x), 1 - p, training, seed)


def dropout_backward(dout, cache):
    """dx of :func:`dropout_forward` (the forward mask, scaled; dout itself in test mode)."""
    return ops.dropout_backward(dout, cache)


# ---------------------------------------------------------------- convolution, pooling

def conv_forward_naive(x, w, b, conv_param):
    """Convolution of x (N, C, H, W) with w (F, C, HH, WW), bias b (F,).

    ``conv_param = {"stride": S, "pad": P}``; out (N, F, H', W') with
    ``H' = 1 + (H + 2P - HH) // S``.  Runs fastnn's im2col + GEMM kernel
    (the name is the notebook's).  Returns (out, cache).
    """
    fn = "conv_forward_naive"
    stride = param(conv_param, "stride", fn, "conv_param", required=True)
    pad = param(conv_param, "pad", fn, "conv_param", required=True)
    x, w, b = floats(fn, x=x, w=w, b=b)
    return ops.conv_forward(x, w, b, stride=stride, pad=pad)


def conv_backward_naive(dout, cache):
    """(dx, dw, db) of :func:`conv_forward_naive`."""
    return ops.conv_backward(dout, cache)


def max_pool_forward_naive(x, pool_param):
    """Max pooling of x (N, C, H, W); ``pool_param = {"pool_height", "pool_width", "stride"}``.

    Runs fastnn's pooling kernel; returns (out, cache).
    """
    fn = "max_pool_forward_naive"
    ph = param(pool_param, "pool_height", fn, "pool_param", required=True)
    pw = param(pool_param, "pool_width", fn, "pool_param", required=True)
    stride = param(pool_param, "stride", fn, "pool_param", required=True)
    return ops.max_pool_forward(floats(fn, x=x), ph, pw, stride)


def max_pool_backward_naive(dout, cache):
    """dx of :func:`max_pool_forward_naive` (dout routed to each window's maximum)."""
    return ops.max_pool_backward(dout, cache)
