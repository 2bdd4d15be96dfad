# ruff: noqa: F405  (__all__ lists the names the star imports bring)
from fastnn.ops.activations import *  # noqa: F403
from fastnn.ops.affine import *  # noqa: F403
from fastnn.ops.augment import *  # noqa: F403
from fastnn.ops.conv import *  # noqa: F403
from fastnn.ops.dropout import *  # noqa: F403
from fastnn.ops.losses import *  # noqa: F403
from fastnn.ops.normalization import *  # noqa: F403
from fastnn.ops.pooling import *  # noqa: F403
from fastnn.ops import activations as activations, affine as affine, augment as augment, conv as conv, dropout as dropout, losses as losses, normalization as normalization, pooling as pooling
from fastnn.ops._common import Cache as Cache

# the runtime's __all__ (every family's __all__); stubtest checks they agree
__all__ = [
    'Cache', 'relu_forward', 'relu_backward', 'leaky_relu_forward', 'leaky_relu_backward',
    'elu_forward', 'elu_backward', 'selu_forward', 'selu_backward', 'sigmoid_forward',
    'sigmoid_backward', 'tanh_forward', 'tanh_backward', 'gelu_forward', 'gelu_backward',
    'softplus_forward', 'softplus_backward', 'silu_forward', 'silu_backward', 'prelu_forward',
    'prelu_backward', 'maxout_forward', 'maxout_backward', 'affine_forward', 'affine_backward',
    'batchnorm_forward', 'batchnorm_backward', 'layernorm_forward', 'layernorm_backward',
    'groupnorm_forward', 'groupnorm_backward', 'dropout_forward', 'dropout_backward',
    'dropconnect_forward', 'dropconnect_backward', 'softmax_loss', 'svm_loss',
    'bce_with_logits_loss', 'mse_loss', 'conv_forward', 'conv_backward', 'conv_output_shape',
    'conv_workspace_plan', 'conv_algorithm', 'im2col', 'col2im', 'max_pool_forward', 'max_pool_backward',
    'avg_pool_forward', 'avg_pool_backward', 'global_avg_pool_forward',
    'global_avg_pool_backward', 'crop_at', 'resized_crop_at', 'hflip_where', 'color_jitter_by',
    'cutout_at', 'mixup_with'
]
