"""Normalisation: batch norm (per feature and spatial), layer norm, group norm.

All three compute ``xhat = (x - mean) / sqrt(var + eps)`` over some group of
values and return ``gamma * xhat + beta``; they differ in the group:

===============  ======================================  =====================
op               statistics over                         gamma, beta
===============  ======================================  =====================
batch norm       N (input (N, D)) or N, H, W             per feature / channel
                 (input (N, C, H, W)), per channel
layer norm       the trailing ``gamma.shape`` dims,      per element of
                 per sample                              ``gamma.shape``
group norm       C/G channels and all spatial values,    per channel
                 per (sample, group)
===============  ======================================  =====================

Variances are biased (divide by the count), as in the forward pass of
PyTorch; batch norm's running variance is updated with the unbiased batch
variance (PyTorch's convention), or with the biased one when
``unbiased_running_var=False`` (the CS231n assignment's convention, which
:mod:`fastnn.compat.cs231n` selects).  Statistics are accumulated in double, in an
order that does not depend on the thread count, so results are identical
for any number of threads.  Backward uses the simplified single-pass formula

    dx = gamma / sqrt(var + eps) * (dout - mean(dout) - xhat * mean(dout * xhat))

(means over the group), not the graph walk through mean and variance.
"""
import numbers
import operator

import numpy as np

from fastnn import _dispatch
from fastnn._kernels import _buffers
from fastnn.ops._common import (Cache, cache_array, cache_bool, cache_for, cache_int,
                                cache_shape, check_dout, float_array, num_threads,
                                param_array, real_number)

__all__ = [
    "batchnorm_forward", "batchnorm_backward",
    "layernorm_forward", "layernorm_backward",
    "groupnorm_forward", "groupnorm_backward",
]


def _eps(eps, fn):
    eps = real_number(eps, "eps", fn)
    if eps <= 0:
        raise ValueError(f"{fn}: eps must be > 0, got {eps}")
    return eps


def _affine_params(gamma, beta, shape, dtype, fn):
    gamma = param_array(gamma, "gamma", dtype, fn)
    beta = param_array(beta, "beta", dtype, fn)
    for name, p in (("gamma", gamma), ("beta", beta)):
        if p.shape != shape:
            raise ValueError(f"{fn}: {name} must have shape {shape}, got {p.shape}")
    return gamma, beta


def _running(a, name, C, fn):
    if not isinstance(a, np.ndarray) or a.dtype.kind != "f":
        raise TypeError(f"{fn}: {name} must be a float ndarray of shape ({C},) (it is updated in "
                        f"place), or None; got {type(a).__name__}"
                        + (f" of dtype {a.dtype}" if isinstance(a, np.ndarray) else ""))
    if a.shape != (C,):
        raise ValueError(f"{fn}: {name} must have shape ({C},), got {a.shape}")
    if not a.flags.writeable:
        raise ValueError(f"{fn}: {name} is read-only; it is updated in place")
    return a


# ---------------------------------------------------------------- batch norm

def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True,
                      momentum=0.1, eps=1e-5, unbiased_running_var=True):
    """Batch normalisation, per feature of (N, D) or per channel of (N, C, H, W).

    Training mode normalises with the batch statistics and updates
    ``running_mean`` / ``running_var`` in place,
    ``running = (1 - momentum) * running + momentum * batch``, with the
    unbiased batch variance for ``running_var`` (PyTorch's convention; the
    biased one with ``unbiased_running_var=False``).  Eval
    mode normalises with the running statistics.  Passing ``None`` for both
    running arrays tracks no statistics: both modes then use the batch
    statistics (like PyTorch's ``track_running_stats=False``).

    Parameters
    ----------
    x : array_like of float32 or float64, shape (N, D) or (N, C, H, W)
        Any (N, C, d1, ..., dk) works as spatial batch norm over N, d1..dk.
    gamma, beta : array_like, shape (D,) or (C,)
        Scale and shift, in x's dtype.
    running_mean, running_var : ndarray of shape (C,), float, or None
        Updated in place in training mode.
    training : bool
    momentum : float in [0, 1]
        Weight of the batch statistics in the running average (PyTorch's
        meaning; the CS231n assignment's ``momentum`` m is ``1 - m`` here).
    eps : float > 0
    unbiased_running_var : bool, default True
        Update ``running_var`` with the unbiased batch variance (``var * n /
        (n - 1)``, n values per channel; PyTorch) or, when False, with the
        biased one that normalised the batch (the CS231n assignment).

    Returns
    -------
    out : ndarray, x's shape and dtype
    cache : Cache
        For :func:`batchnorm_backward` (x, gamma, the mean and 1/std used).

    Raises
    ------
    ValueError
        In training mode when there is only one value per channel (N = 1 for
        (N, D); N * H * W = 1 for spatial): its variance is undefined, and
        PyTorch raises too.  Empty batches are allowed: the output is empty
        and the running statistics are left as they are.

    Shape
    -----
    x (N, D) -> (N, D); x (N, C, H, W) -> (N, C, H, W).  The spatial case
    reduces over N, H, W in place (no transposed copy), in parallel over
    channels.
    """
    fn = "batchnorm_forward"
    x = float_array(x, "x", fn)
    if x.ndim < 2:
        raise ValueError(f"{fn}: x must have shape (N, D) or (N, C, H, W), got shape {x.shape}")
    N, C = x.shape[0], x.shape[1]
    L = int(np.prod(x.shape[2:]))
    count = N * L
    gamma, beta = _affine_params(gamma, beta, (C,), x.dtype, fn)
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{fn}: pass both running_mean and running_var, or neither")
    track = running_mean is not None
    if track:
        running_mean = _running(running_mean, "running_mean", C, fn)
        running_var = _running(running_var, "running_var", C, fn)
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"{fn}: training must be True or False, got {training!r}")
    momentum = real_number(momentum, "momentum", fn)
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"{fn}: momentum must be in [0, 1], got {momentum}")
    eps = _eps(eps, fn)
    if not isinstance(unbiased_running_var, (bool, np.bool_)):
        raise TypeError(f"{fn}: unbiased_running_var must be True or False, "
                        f"got {unbiased_running_var!r}")
    batch_stats = training or not track
    if batch_stats and count == 1:
        raise ValueError(f"{fn}: expected more than 1 value per channel when training "
                         f"(x has shape {x.shape}); use eval mode or a bigger batch")

    if batch_stats:
        mean = np.zeros(C, np.float64)
        var = np.ones(C, np.float64)
    else:
        mean = np.array(running_mean, np.float64)
        var = np.array(running_var, np.float64)
    invstd = np.zeros(C, np.float64)         # stays 0 for an empty batch (the kernels return early)
    out = _buffers.empty_like(x)
    k = _dispatch.kernels.normalization
    if x.ndim == 2:
        k.bn_forward_columns(x, gamma, beta, out, mean, var, invstd, batch_stats, eps,
                             num_threads())
    else:
        k.bn_forward_spatial(x.reshape(N, C, L), gamma, beta, out.reshape(N, C, L), mean, var,
                             invstd, batch_stats, eps, num_threads())
    if training and track and count > 0:
        batch_var = var * (count / (count - 1)) if unbiased_running_var else var
        running_mean *= 1.0 - momentum
        running_mean += momentum * mean
        running_var *= 1.0 - momentum
        running_var += momentum * batch_var
    return out, Cache("batchnorm", x=x, gamma=gamma, mean=mean, invstd=invstd,
                      batch_stats=batch_stats)


def batchnorm_backward(dout, cache):
    """Gradients of :func:`batchnorm_forward`, by the simplified single-pass formula.

    Parameters
    ----------
    dout : array_like, the forward output's shape
    cache : Cache from :func:`batchnorm_forward`

    Returns
    -------
    dx : ndarray, x's shape
        With batch statistics, ``gamma * invstd * (dout - mean(dout) - xhat *
        mean(dout * xhat))`` (means over N, or N, H, W); with running
        statistics (eval mode) they are constants and ``dx = dout * gamma *
        invstd``.
    dgamma : ndarray, shape (C,)
        ``sum(dout * xhat)``
    dbeta : ndarray, shape (C,)
        ``sum(dout)``
    """
    fn = "batchnorm_backward"
    c = cache_for(cache, "batchnorm", fn)
    x = cache_array(c, "x", fn, floating=True)
    if x.ndim < 2:
        raise ValueError(f"{fn}: cache.x must have shape (N, D) or (N, C, H, W), got "
                         f"{x.shape} (pass the cache batchnorm_forward returned, unmodified)")
    N, C = x.shape[0], x.shape[1]
    cache_array(c, "gamma", fn, shape=(C,), dtype=x.dtype)
    cache_array(c, "mean", fn, shape=(C,), dtype=np.float64)
    cache_array(c, "invstd", fn, shape=(C,), dtype=np.float64)
    cache_bool(c, "batch_stats", fn)
    g = check_dout(dout, x.shape, x.dtype, fn)
    L = int(np.prod(x.shape[2:]))
    dx = _buffers.empty_like(x)
    dgamma = np.empty(C, x.dtype)
    dbeta = np.empty(C, x.dtype)
    k = _dispatch.kernels.normalization
    if x.ndim == 2:
        k.bn_backward_columns(g, x, c.gamma, c.mean, c.invstd, dx, dgamma, dbeta,
                              c.batch_stats, num_threads())
    else:
        sum_g, sum_gx = np.empty(C, np.float64), np.empty(C, np.float64)
        k.bn_backward_spatial(g.reshape(N, C, L), x.reshape(N, C, L), c.gamma, c.mean, c.invstd,
                              dx.reshape(N, C, L), sum_g, sum_gx, c.batch_stats, num_threads())
        dbeta[:] = sum_g
        dgamma[:] = sum_gx * c.invstd
    if not c.batch_stats:
        # Running statistics are constants: dx = dout * gamma * invstd, x not involved.  The
        # kernels' general form adds 0 * x, which turns an inf/NaN in x into a NaN in dx
        # (PyTorch gives dout * gamma * invstd there).
        scale = (c.gamma * c.invstd).astype(x.dtype)
        np.multiply(g, scale.reshape((1, C) + (1,) * (x.ndim - 2)), out=dx)
    return dx, dgamma, dbeta


# ---------------------------------------------------------------- layer norm

def layernorm_forward(x, gamma, beta, eps=1e-5):
    """Layer normalisation over the trailing ``gamma.shape`` dimensions of each sample.

    Same in training and evaluation (no running statistics).

    Parameters
    ----------
    x : array_like of float32 or float64, shape ``(..., *gamma.shape)``
    gamma, beta : array_like, the normalised shape (e.g. (D,) for x (N, D))
    eps : float > 0

    Returns
    -------
    out : ndarray, x's shape and dtype
    cache : Cache
        For :func:`layernorm_backward`.

    Shape
    -----
    x (N, D), gamma (D,) -> (N, D); x (N, C, H, W), gamma (C, H, W) -> (N, C, H, W).
    """
    fn = "layernorm_forward"
    x = float_array(x, "x", fn)
    gamma = param_array(gamma, "gamma", x.dtype, fn)
    k = gamma.ndim
    if k == 0 or x.ndim < k or x.shape[x.ndim - k:] != gamma.shape:
        raise ValueError(f"{fn}: gamma's shape {gamma.shape} must equal the trailing dimensions "
                         f"of x (shape {x.shape}), e.g. gamma of shape (D,) for x of shape (N, D)")
    gamma, beta = _affine_params(gamma, beta, gamma.shape, x.dtype, fn)
    eps = _eps(eps, fn)
    D = gamma.size
    R = x.size // D if D else int(np.prod(x.shape[:x.ndim - k]))
    x2 = x.reshape(R, D)
    out = _buffers.empty_like(x)
    mean = np.zeros(R, np.float64)             # stays 0 for empty rows
    invstd = np.zeros(R, np.float64)
    _dispatch.kernels.normalization.ln_forward(x2, gamma.reshape(D), beta.reshape(D),
                                               out.reshape(R, D), mean, invstd, eps, num_threads())
    return out, Cache("layernorm", x=x2, x_shape=x.shape, gamma=gamma, mean=mean, invstd=invstd)


def layernorm_backward(dout, cache):
    """Gradients of :func:`layernorm_forward`.

    Returns
    -------
    dx : ndarray, x's shape
        ``invstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))`` per
        sample, with ``dxhat = dout * gamma``.
    dgamma, dbeta : ndarray, gamma's shape
        ``sum(dout * xhat)`` and ``sum(dout)`` over the leading dimensions.
    """
    fn = "layernorm_backward"
    c = cache_for(cache, "layernorm", fn)
    x2 = cache_array(c, "x", fn, ndim=2, floating=True)
    R, D = x2.shape
    gamma = cache_array(c, "gamma", fn, dtype=x2.dtype)
    if gamma.size != D:
        raise ValueError(f"{fn}: cache.gamma has {gamma.size} elements, cache.x rows have {D} "
                         "(pass the cache layernorm_forward returned, unmodified)")
    cache_array(c, "mean", fn, shape=(R,), dtype=np.float64)
    cache_array(c, "invstd", fn, shape=(R,), dtype=np.float64)
    x_shape = cache_shape(c, "x_shape", fn)
    if int(np.prod(x_shape, dtype=object)) != R * D or x_shape[len(x_shape) - gamma.ndim:] != \
            gamma.shape:
        raise ValueError(f"{fn}: cache.x_shape {x_shape} does not match cache.x {x2.shape} and "
                         f"cache.gamma {gamma.shape} (pass the cache layernorm_forward "
                         "returned, unmodified)")
    g = check_dout(dout, c.x_shape, x2.dtype, fn).reshape(R, D)
    dx = _buffers.empty(c.x_shape, x2.dtype)
    dgamma = np.empty(D, x2.dtype)
    dbeta = np.empty(D, x2.dtype)
    k = _dispatch.kernels.normalization
    k.ln_backward(g, x2, c.gamma.reshape(D), c.mean, c.invstd, dx.reshape(R, D), num_threads())
    k.row_grad_sums(g, x2, c.mean, c.invstd, dgamma, dbeta, num_threads())
    return dx, dgamma.reshape(c.gamma.shape), dbeta.reshape(c.gamma.shape)


# ---------------------------------------------------------------- group norm

def groupnorm_forward(x, gamma, beta, num_groups, eps=1e-5):
    """Group normalisation: statistics per sample over each group of C / num_groups channels.

    ``num_groups = 1`` is layer norm over (C, H, W) with per-channel gamma;
    ``num_groups = C`` is instance norm.  Same in training and evaluation.

    Parameters
    ----------
    x : array_like of float32 or float64, shape ``(N, C, *)`` (e.g. (N, C, H, W) or (N, C))
    gamma, beta : array_like, shape (C,)
    num_groups : int, a divisor of C
    eps : float > 0

    Returns
    -------
    out : ndarray, x's shape and dtype
    cache : Cache
        For :func:`groupnorm_backward`.

    Shape
    -----
    x (N, C, H, W) -> (N, C, H, W).
    """
    fn = "groupnorm_forward"
    x = float_array(x, "x", fn)
    if x.ndim < 2:
        raise ValueError(f"{fn}: x must have shape (N, C, ...), got shape {x.shape}")
    N, C = x.shape[0], x.shape[1]
    if isinstance(num_groups, (bool, np.bool_)) or not isinstance(num_groups, numbers.Integral):
        raise TypeError(f"{fn}: num_groups must be an integer, got {num_groups!r}")
    G = operator.index(num_groups)
    if G < 1 or C % G:
        raise ValueError(f"{fn}: num_groups must be a positive divisor of the {C} channels, "
                         f"got {G}")
    gamma, beta = _affine_params(gamma, beta, (C,), x.dtype, fn)
    eps = _eps(eps, fn)
    L = int(np.prod(x.shape[2:]))
    shape4 = (N, G, C // G, L)
    out = _buffers.empty_like(x)
    mean = np.zeros((N, G), np.float64)        # stays 0 for empty groups
    invstd = np.zeros((N, G), np.float64)
    _dispatch.kernels.normalization.gn_forward(x.reshape(shape4), gamma, beta, out.reshape(shape4),
                                               mean, invstd, eps, num_threads())
    return out, Cache("groupnorm", x=x, gamma=gamma, mean=mean, invstd=invstd, groups=G)


def groupnorm_backward(dout, cache):
    """Gradients of :func:`groupnorm_forward`.

    Returns
    -------
    dx : ndarray, x's shape
    dgamma, dbeta : ndarray, shape (C,)
        ``sum(dout * xhat)`` and ``sum(dout)`` over N and the spatial dims.
    """
    fn = "groupnorm_backward"
    c = cache_for(cache, "groupnorm", fn)
    x = cache_array(c, "x", fn, floating=True)
    if x.ndim < 2:
        raise ValueError(f"{fn}: cache.x must have shape (N, C, ...), got {x.shape} (pass the "
                         "cache groupnorm_forward returned, unmodified)")
    N, C = x.shape[0], x.shape[1]
    G = cache_int(c, "groups", fn, 1)
    if C % G:
        raise ValueError(f"{fn}: cache.groups must divide the {C} channels of cache.x, got {G} "
                         "(pass the cache groupnorm_forward returned, unmodified)")
    cache_array(c, "gamma", fn, shape=(C,), dtype=x.dtype)
    cache_array(c, "mean", fn, shape=(N, G), dtype=np.float64)
    cache_array(c, "invstd", fn, shape=(N, G), dtype=np.float64)
    g = check_dout(dout, x.shape, x.dtype, fn)
    shape4 = (N, G, C // G, int(np.prod(x.shape[2:])))
    dx = _buffers.empty_like(x)
    if shape4[3] == 0:
        # no spatial elements: every sum is 0 and dx is empty (the kernel would take the
        # address of element 0 of an empty axis, which a bounds-checked build refuses)
        dgamma_n = np.zeros((N, C), np.float64)
        dbeta_n = np.zeros((N, C), np.float64)
    else:
        dgamma_n = np.empty((N, C), np.float64)
        dbeta_n = np.empty((N, C), np.float64)
        _dispatch.kernels.normalization.gn_backward(g.reshape(shape4), x.reshape(shape4),
                                                    c.gamma, c.mean, c.invstd,
                                                    dx.reshape(shape4), dgamma_n, dbeta_n,
                                                    num_threads())
    return dx, dgamma_n.sum(0).astype(x.dtype), dbeta_n.sum(0).astype(x.dtype)
