"""OpInfo registry: one entry per public op of fastnn, the data the generic tests run on.

:mod:`opinfo.core` holds the machinery (the :class:`OpInfo` and :class:`Sample` types, memory
layouts, tolerances, the generic error inputs); :mod:`opinfo.definitions` holds the entries,
one module per op family.  ``python -m opinfo`` (from ``tests/``) prints the number of ops
and of error inputs.
"""
import numpy as np

from fastnn import ops

from .core import (EXACT, FLOATS, TOL_ELEMENTWISE, TOL_ELEMENTWISE_BWD, TOL_OPTIM, TOL_REDUCE,
                   ErrorInput, OpInfo, Sample, check_error_input, copy_like, dout_for, fortran,
                   misaligned, run, sample_dtype, strided)
from .definitions import OPS
from .definitions.activations import ELEMENTWISE_OPS

BY_NAME = {op.name: op for op in OPS}
assert len(BY_NAME) == len(OPS), "duplicate op names in the registry"

__all__ = ["EXACT", "FLOATS", "TOL_ELEMENTWISE", "TOL_ELEMENTWISE_BWD", "TOL_OPTIM", "TOL_REDUCE",
           "ErrorInput", "OpInfo", "Sample", "check_error_input", "copy_like", "dout_for",
           "fortran", "misaligned", "run", "sample_dtype", "strided", "OPS", "ELEMENTWISE_OPS",
           "BY_NAME", "all_error_inputs", "public_ops", "tol"]


def all_error_inputs():
    """(op name, ErrorInput) for every op."""
    return [(op.name, e) for op in OPS for e in op.error_inputs()]


def public_ops():
    """Names of every ``*_forward``, loss and augmentation function of fastnn (the registry
    must cover them)."""
    from fastnn.data import augment
    names = {n[:-len("_forward")] for n in ops.__all__ if n.endswith("_forward")}
    names |= {n for n in ops.__all__ if n.endswith("_loss")}
    names |= {"im2col", "col2im"}
    names |= {n for n in augment.__all__ if n.islower() and callable(getattr(augment, n))
              and n not in ("apply", "from_spec") and not n.startswith("draw_")}
    return names


def tol(dtype, backward=False):
    """The elementwise tolerance of dtype: forward results, or gradients with ``backward``."""
    return (TOL_ELEMENTWISE_BWD if backward else TOL_ELEMENTWISE)[np.dtype(dtype).type]
