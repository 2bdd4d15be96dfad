"""The course's ``cs231n/fast_layers.py`` on fastnn's kernels.

The course ships several implementations of one convolution (a Cython
im2col, a NumPy "strides" version) and of max pooling (a reshape trick for
square tiling windows, an im2col version); here every name runs fastnn's
compiled im2col + GEMM convolution and pooling kernels (multi-threaded), with
the course's signatures: ``conv_param = {"stride", "pad"}``,
``pool_param = {"pool_height", "pool_width", "stride"}``.
"""
from fastnn import ops
from fastnn.compat.cs231n.layers import (conv_forward_naive,
                                         max_pool_backward_naive, max_pool_forward_naive)

__all__ = [
    "conv_forward_fast", "conv_backward_fast", "conv_forward_im2col", "conv_backward_im2col",
    "conv_forward_strides", "conv_backward_strides",
    "max_pool_forward_fast", "max_pool_backward_fast", "max_pool_forward_reshape",
    "max_pool_backward_reshape", "max_pool_forward_im2col", "max_pool_backward_im2col",
]


def conv_forward_fast(x, w, b, conv_param):
    """Convolution; see :func:`fastnn.compat.cs231n.layers.conv_forward_naive`."""
    return conv_forward_naive(x, w, b, conv_param)


def conv_backward_fast(dout, cache):
    """(dx, dw, db) of :func:`conv_forward_fast`."""
    return ops.conv_backward(dout, cache)


conv_forward_im2col = conv_forward_strides = conv_forward_fast
conv_backward_im2col = conv_backward_strides = conv_backward_fast


def max_pool_forward_fast(x, pool_param):
    """Max pooling; see :func:`fastnn.compat.cs231n.layers.max_pool_forward_naive`."""
    return max_pool_forward_naive(x, pool_param)


def max_pool_backward_fast(dout, cache):
    """dx of :func:`max_pool_forward_fast`."""
    return max_pool_backward_naive(dout, cache)


max_pool_forward_reshape = max_pool_forward_im2col = max_pool_forward_fast
max_pool_backward_reshape = max_pool_backward_im2col = max_pool_backward_fast
