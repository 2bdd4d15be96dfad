# ruff: noqa: F405  (__all__ lists the names the star imports bring)
from fastnn.data import augment as augment, datasets as datasets, loader as loader, preprocess as preprocess
from fastnn.data.augment import *  # noqa: F403
from fastnn.data.datasets import *  # noqa: F403
from fastnn.data.loader import *  # noqa: F403
from fastnn.data.preprocess import *  # noqa: F403

# the runtime's __all__ (datasets + preprocess + augment + loader); stubtest checks it
__all__ = [
    'DatasetError', 'BUILTIN', 'CIFAR10_CLASSES', 'load_builtin', 'load_cifar10', 'load_mnist',
    'Preprocessor', 'Identity', 'MeanImage', 'ChannelMean', 'Standardize', 'PCA',
    'ZCAWhitening', 'PREPROCESSORS', 'make_preprocessor', 'save_preprocessor',
    'load_preprocessor', 'MixedLabels', 'random_crop', 'random_resized_crop', 'hflip',
    'color_jitter', 'cutout', 'mixup', 'RandomCrop', 'RandomResizedCrop', 'HorizontalFlip',
    'ColorJitter', 'Cutout', 'Mixup', 'apply', 'from_spec', 'SPEC_NAMES', 'draw_crop',
    'draw_resized_crop', 'draw_flip', 'draw_jitter', 'draw_cutout', 'draw_mixup', 'BatchLoader'
]
