from fastnn.reference.activations import *  # noqa: F403
from fastnn.reference.affine import *  # noqa: F403
from fastnn.reference.conv import *  # noqa: F403
from fastnn.reference.dropout import *  # noqa: F403
from fastnn.reference.losses import *  # noqa: F403
from fastnn.reference.normalization import *  # noqa: F403
from fastnn.reference.pooling import *  # noqa: F403
from fastnn.reference import activations as activations, affine as affine, conv as conv, dropout as dropout, losses as losses, normalization as normalization, pooling as pooling
