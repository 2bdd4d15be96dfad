# ruff: noqa: F405  (__all__ lists the names the star imports bring)
from fastnn.reference.activations import *  # noqa: F403
from fastnn.reference.affine import *  # noqa: F403
from fastnn.reference.augment import *  # noqa: F403
from fastnn.reference.conv import *  # noqa: F403
from fastnn.reference.dropout import *  # noqa: F403
from fastnn.reference.losses import *  # noqa: F403
from fastnn.reference.normalization import *  # noqa: F403
from fastnn.reference.pooling import *  # noqa: F403
from fastnn.reference import activations as activations, affine as affine, augment as augment, conv as conv, dropout as dropout, losses as losses, normalization as normalization, pooling as pooling

# the runtime's __all__ (every family's __all__); stubtest checks they agree
__all__ = [
    'relu_forward', 'relu_backward', 'leaky_relu_forward', 'leaky_relu_backward', 'elu_forward',
    'elu_backward', 'selu_forward', 'selu_backward', 'sigmoid_forward', 'sigmoid_backward',
    'tanh_forward', 'tanh_backward', 'gelu_forward', 'gelu_backward', 'softplus_forward',
    'softplus_backward', 'silu_forward', 'silu_backward', 'prelu_forward', 'prelu_backward',
    'maxout_forward', 'maxout_backward', 'affine_forward', 'affine_backward',
    'batchnorm_forward', 'batchnorm_backward', 'layernorm_forward', 'layernorm_backward',
    'groupnorm_forward', 'groupnorm_backward', 'dropout_mask', 'dropout_forward',
    'dropout_backward', 'dropconnect_forward', 'dropconnect_backward', 'softmax_loss',
    'svm_loss', 'bce_with_logits_loss', 'mse_loss', 'conv_forward', 'conv_backward',
    'conv_forward_im2col', 'conv_backward_im2col', 'im2col', 'col2im', 'max_pool_forward',
    'max_pool_backward', 'avg_pool_forward', 'avg_pool_backward', 'global_avg_pool_forward',
    'global_avg_pool_backward', 'max_pool_forward_reshape', 'max_pool_backward_reshape',
    'crop_at', 'resized_crop_at', 'hflip_where', 'color_jitter_by', 'cutout_at', 'mixup_with',
    'random_crop', 'random_resized_crop', 'hflip', 'color_jitter', 'cutout', 'mixup'
]
