"""The course's ``cs231n/layer_utils.py``: "sandwich" layers chaining the layers' functions.

Each ``*_forward`` returns ``(out, cache)`` with the cache a tuple of its
parts' caches; the matching ``*_backward`` returns the gradients of the
inputs in order (``dx, dw, db`` and ``dgamma, dbeta`` for the normalised ones).
"""
from fastnn.compat.cs231n.fast_layers import (conv_backward_fast, conv_forward_fast,
                                              max_pool_backward_fast, max_pool_forward_fast)
from fastnn.compat.cs231n.layers import (affine_backward, affine_forward, batchnorm_backward,
                                         batchnorm_forward, relu_backward, relu_forward,
                                         spatial_batchnorm_backward, spatial_batchnorm_forward)

__all__ = [
    "affine_relu_forward", "affine_relu_backward",
    "affine_bn_relu_forward", "affine_bn_relu_backward",
    "conv_relu_forward", "conv_relu_backward",
    "conv_bn_relu_forward", "conv_bn_relu_backward",
    "conv_relu_pool_forward", "conv_relu_pool_backward",
]


def affine_relu_forward(x, w, b):
    """affine - relu: (out, (fc_cache, relu_cache))."""
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout, cache):
    """(dx, dw, db) of :func:`affine_relu_forward`."""
    fc_cache, relu_cache = cache
    return affine_backward(relu_backward(dout, relu_cache), fc_cache)


def affine_bn_relu_forward(x, w, b, gamma, beta, bn_param):
    """affine - batch norm - relu: (out, (fc_cache, bn_cache, relu_cache))."""
    a, fc_cache = affine_forward(x, w, b)
    n, bn_cache = batchnorm_forward(a, gamma, beta, bn_param)
    out, relu_cache = relu_forward(n)
    return out, (fc_cache, bn_cache, relu_cache)


def affine_bn_relu_backward(dout, cache):
    """(dx, dw, db, dgamma, dbeta) of :func:`affine_bn_relu_forward`."""
    fc_cache, bn_cache, relu_cache = cache
    dn, dgamma, dbeta = batchnorm_backward(relu_backward(dout, relu_cache), bn_cache)
    dx, dw, db = affine_backward(dn, fc_cache)
    return dx, dw, db, dgamma, dbeta


def conv_relu_forward(x, w, b, conv_param):
    """conv - relu: (out, (conv_cache, relu_cache))."""
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    out, relu_cache = relu_forward(a)
    return out, (conv_cache, relu_cache)


def conv_relu_backward(dout, cache):
    """(dx, dw, db) of :func:`conv_relu_forward`."""
    conv_cache, relu_cache = cache
    return conv_backward_fast(relu_backward(dout, relu_cache), conv_cache)


def conv_bn_relu_forward(x, w, b, gamma, beta, conv_param, bn_param):
    """conv - spatial batch norm - relu: (out, (conv_cache, bn_cache, relu_cache))."""
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    an, bn_cache = spatial_batchnorm_forward(a, gamma, beta, bn_param)
    out, relu_cache = relu_forward(an)
    return out, (conv_cache, bn_cache, relu_cache)


def conv_bn_relu_backward(dout, cache):
    """(dx, dw, db, dgamma, dbeta) of :func:`conv_bn_relu_forward`."""
    conv_cache, bn_cache, relu_cache = cache
    dan, dgamma, dbeta = spatial_batchnorm_backward(relu_backward(dout, relu_cache), bn_cache)
    dx, dw, db = conv_backward_fast(dan, conv_cache)
    return dx, dw, db, dgamma, dbeta


def conv_relu_pool_forward(x, w, b, conv_param, pool_param):
    """conv - relu - max pool: (out, (conv_cache, relu_cache, pool_cache))."""
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    s, relu_cache = relu_forward(a)
    out, pool_cache = max_pool_forward_fast(s, pool_param)
    return out, (conv_cache, relu_cache, pool_cache)


def conv_relu_pool_backward(dout, cache):
    """(dx, dw, db) of :func:`conv_relu_pool_forward`."""
    conv_cache, relu_cache, pool_cache = cache
    ds = max_pool_backward_fast(dout, pool_cache)
    return conv_backward_fast(relu_backward(ds, relu_cache), conv_cache)
