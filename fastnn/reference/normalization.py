"""NumPy twins of :mod:`fastnn.ops.normalization`: the textbook formulas.

Statistics are computed in float64 and the results cast back to x's dtype.
"""
import numpy as np

__all__ = [
    "batchnorm_forward", "batchnorm_backward",
    "layernorm_forward", "layernorm_backward",
    "groupnorm_forward", "groupnorm_backward",
]


def _normalize(x, axes, eps):
    """xhat, invstd with mean and biased variance over `axes` (float64)."""
    x = x.astype(np.float64)
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    invstd = 1.0 / np.sqrt(var + eps)
    return (x - mean) * invstd, invstd, mean, var


def _norm_backward(dxhat, xhat, invstd, axes):
    """dx from dxhat = dout * gamma, the simplified formula (means over `axes`)."""
    return invstd * (dxhat - dxhat.mean(axis=axes, keepdims=True)
                     - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True))


def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True,
                      momentum=0.1, eps=1e-5, unbiased_running_var=True):
    """Per-feature (N, D) or per-channel (N, C, H, W) batch norm; updates running stats in place.

    ``running_var`` takes the unbiased batch variance, or the biased one with
    ``unbiased_running_var=False``.
    """
    axes = (0,) + tuple(range(2, x.ndim))               # all but the channel axis
    bshape = (1, -1) + (1,) * (x.ndim - 2)              # broadcast a (C,) array over x
    track = running_mean is not None
    if training or not track:
        if x.size // x.shape[1] <= 1:
            raise ValueError("batchnorm_forward: expected more than 1 value per channel when training")
        xhat, invstd, mean, var = _normalize(x, axes, eps)
        if training and track:
            count = x.size // x.shape[1]
            running_mean[:] = (1 - momentum) * running_mean + momentum * mean.reshape(-1)
            running_var[:] = ((1 - momentum) * running_var
                              + momentum * var.reshape(-1)
                              * (count / (count - 1) if unbiased_running_var else 1.0))
        batch_stats = True
    else:
        mean = running_mean.astype(np.float64).reshape(bshape)
        invstd = 1.0 / np.sqrt(running_var.astype(np.float64).reshape(bshape) + eps)
        xhat = (x - mean) * invstd
        batch_stats = False
    out = gamma.reshape(bshape) * xhat + beta.reshape(bshape)
    return out.astype(x.dtype), (xhat, invstd, gamma, axes, bshape, batch_stats, x.dtype)


def batchnorm_backward(dout, cache):
    """(dx, dgamma, dbeta); eval mode treats the running statistics as constants."""
    xhat, invstd, gamma, axes, bshape, batch_stats, dtype = cache
    d = dout.astype(np.float64)
    dgamma = (d * xhat).sum(axis=axes)
    dbeta = d.sum(axis=axes)
    dxhat = d * gamma.reshape(bshape)
    dx = _norm_backward(dxhat, xhat, invstd, axes) if batch_stats else dxhat * invstd
    return dx.astype(dtype), dgamma.astype(dtype), dbeta.astype(dtype)


def layernorm_forward(x, gamma, beta, eps=1e-5):
    """Normalise each sample over the trailing gamma.shape dimensions."""
    axes = tuple(range(x.ndim - gamma.ndim, x.ndim))
    xhat, invstd, _, _ = _normalize(x, axes, eps)
    out = gamma * xhat + beta
    return out.astype(x.dtype), (xhat, invstd, gamma, axes, x.dtype)


def layernorm_backward(dout, cache):
    """``(dx, dgamma, dbeta)`` of :func:`layernorm_forward`, computed in float64."""
    xhat, invstd, gamma, axes, dtype = cache
    d = dout.astype(np.float64)
    lead = tuple(range(d.ndim - gamma.ndim))
    dgamma = (d * xhat).sum(axis=lead)
    dbeta = d.sum(axis=lead)
    dx = _norm_backward(d * gamma, xhat, invstd, axes)
    return dx.astype(dtype), dgamma.astype(dtype), dbeta.astype(dtype)


def groupnorm_forward(x, gamma, beta, num_groups, eps=1e-5):
    """Normalise each (sample, group of C/G channels) over its channels and spatial values."""
    N, C = x.shape[:2]
    group_size = C // num_groups * int(np.prod(x.shape[2:]))
    xg = x.reshape(N, num_groups, group_size)
    xhat, invstd, _, _ = _normalize(xg, (2,), eps)
    bshape = (1, -1) + (1,) * (x.ndim - 2)
    xhat = xhat.reshape(x.shape)
    out = gamma.reshape(bshape) * xhat + beta.reshape(bshape)
    return out.astype(x.dtype), (xhat, invstd, gamma, num_groups, x.dtype)


def groupnorm_backward(dout, cache):
    """``(dx, dgamma, dbeta)`` of :func:`groupnorm_forward`, computed in float64."""
    xhat, invstd, gamma, G, dtype = cache
    d = dout.astype(np.float64)
    N, C = d.shape[:2]
    axes = (0,) + tuple(range(2, d.ndim))
    bshape = (1, -1) + (1,) * (d.ndim - 2)
    dgamma = (d * xhat).sum(axis=axes)
    dbeta = d.sum(axis=axes)
    group_size = C // G * int(np.prod(d.shape[2:]))
    dxhat = (d * gamma.reshape(bshape)).reshape(N, G, group_size)
    dx = _norm_backward(dxhat, xhat.reshape(N, G, group_size), invstd, (2,))
    return dx.reshape(d.shape).astype(dtype), dgamma.astype(dtype), dbeta.astype(dtype)
