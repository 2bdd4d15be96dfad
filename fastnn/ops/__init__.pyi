from fastnn.ops.activations import *  # noqa: F403
from fastnn.ops.affine import *  # noqa: F403
from fastnn.ops.conv import *  # noqa: F403
from fastnn.ops.dropout import *  # noqa: F403
from fastnn.ops.losses import *  # noqa: F403
from fastnn.ops.normalization import *  # noqa: F403
from fastnn.ops.pooling import *  # noqa: F403
from fastnn.ops import activations as activations, affine as affine, conv as conv, dropout as dropout, losses as losses, normalization as normalization, pooling as pooling
from fastnn.ops._common import Cache as Cache
