"""Functional API, the CS231n convention: ``out, cache = <op>_forward(...)``,
``grads = <op>_backward(dout, cache)``.

Every function validates its arguments (clear errors naming the argument and
what was expected), allocates outputs and calls a compiled kernel of the SIMD
target chosen at import (``fastnn._dispatch``).  Kernels trust their inputs;
all checking happens in Python.  That includes the cache a backward pass is
given: the sizes and indices its kernel uses are re-derived from the cache and
checked (shapes, dtypes, group counts, geometry; index arrays range-checked),
so an edited cache raises ``ValueError`` naming the function and the field
instead of making the kernel read or write out of bounds.

One module per op family, mirroring ``fastnn/_kernels`` and ``fastnn.reference``:

=================  ============================================================
activations        relu, leaky_relu, elu, selu, sigmoid, tanh, gelu, softplus,
                   silu, prelu, maxout
affine             affine (fully connected layer)
normalization      batchnorm (per feature and spatial), layernorm, groupnorm
dropout            dropout, dropconnect
losses             softmax_loss, svm_loss, bce_with_logits_loss, mse_loss
conv               conv (im2col + GEMM), im2col / col2im
pooling            max_pool, avg_pool, global_avg_pool
augment            crop_at, resized_crop_at, hflip_where, color_jitter_by, cutout_at,
                   mixup_with (forward only; fastnn.data.augment draws their parameters)
=================  ============================================================
"""
from fastnn.ops import activations, affine, augment, conv, dropout, losses, normalization, pooling
from fastnn.ops._common import Cache
from fastnn.ops.activations import *  # noqa: F401,F403
from fastnn.ops.affine import *  # noqa: F401,F403
from fastnn.ops.augment import *  # noqa: F401,F403
from fastnn.ops.conv import *  # noqa: F401,F403
from fastnn.ops.dropout import *  # noqa: F401,F403
from fastnn.ops.losses import *  # noqa: F401,F403
from fastnn.ops.normalization import *  # noqa: F401,F403
from fastnn.ops.pooling import *  # noqa: F401,F403

_FAMILIES = (activations, affine, normalization, dropout, losses, conv, pooling, augment)
__all__ = ["Cache"] + [name for fam in _FAMILIES for name in fam.__all__]
