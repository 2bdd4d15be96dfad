"""Bad input across ops: a cache handed to another op's backward names both ops.

The bad calls of each op (dtypes, shapes, hyperparameters, out=, dout, caches) are its
``error_inputs`` in the registry (tests/opinfo/definitions), run by
``tests/ops/test_opinfo.py::test_error_input``."""
import numpy as np
import pytest

from fastnn import ops


def test_cache_from_another_op():
    _, cache = ops.relu_forward(np.ones(3))
    with pytest.raises(ValueError, match="cache comes from relu_forward, expected a cache from tanh_forward"):
        ops.tanh_backward(np.ones(3), cache)
    with pytest.raises(TypeError, match="cache must be the cache returned by sigmoid_forward"):
        ops.sigmoid_backward(np.ones(3), (np.ones(3),))
    _, gcache = ops.gelu_forward(np.ones(3))
    with pytest.raises(ValueError, match="gelu_forward"):
        ops.prelu_backward(np.ones(3), gcache)
