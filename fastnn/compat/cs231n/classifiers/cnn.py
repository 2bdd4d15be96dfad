"""The course's ``cs231n/classifiers/cnn.py``: ThreeLayerConvNet."""
import numpy as np

from fastnn.models import _three_layer_convnet
from fastnn.compat.cs231n.classifiers._course import CourseModel, no_init

__all__ = ["ThreeLayerConvNet"]


class ThreeLayerConvNet(CourseModel):
    """conv - relu - 2x2 max pool - affine - relu - affine - softmax.

    The convolution keeps the spatial size (stride 1, pad (filter_size - 1) // 2);
    the course's interface and weight draws (``W1 = weight_scale *
    np.random.randn(num_filters, C, filter_size, filter_size)``, then W2
    (num_filters * H/2 * W/2, hidden_dim) and W3 (hidden_dim, num_classes)).

    Parameters
    ----------
    input_dim : (C, H, W)
    num_filters, filter_size, hidden_dim, num_classes : int
    weight_scale, reg : float
    dtype : float32 or float64, default float32 (the course's)
    """

    def __init__(self, input_dim=(3, 32, 32), num_filters=32, filter_size=7, hidden_dim=100,
                 num_classes=10, weight_scale=1e-3, reg=0.0, dtype=np.float32):
        net = _three_layer_convnet(input_dim, num_filters, filter_size, hidden_dim, num_classes,
                                   init=no_init, dtype=dtype)
        super().__init__(net, reg=reg, dtype=dtype)
        self._course_init(weight_scale)
