"""Plain NumPy twins of every op in :mod:`fastnn.ops`: the test oracle and the
benchmark baseline.  It depends on no private part of fastnn.

Written to be read: one forward/backward pair per op, the textbook formula, no
tricks beyond what numerical stability needs.  Same signatures as
``fastnn.ops``; caches are plain tuples.  Computations happen in the input's
dtype.  One module per op family, as in :mod:`fastnn.ops`.
"""
from fastnn.reference import activations, affine, augment, conv, dropout, losses, normalization, pooling
from fastnn.reference.activations import *  # noqa: F401,F403
from fastnn.reference.affine import *  # noqa: F401,F403
from fastnn.reference.augment import *  # noqa: F401,F403
from fastnn.reference.conv import *  # noqa: F401,F403
from fastnn.reference.dropout import *  # noqa: F401,F403
from fastnn.reference.losses import *  # noqa: F401,F403
from fastnn.reference.normalization import *  # noqa: F401,F403
from fastnn.reference.pooling import *  # noqa: F401,F403

_FAMILIES = (activations, affine, normalization, dropout, losses, conv, pooling, augment)
__all__ = [name for fam in _FAMILIES for name in fam.__all__]
