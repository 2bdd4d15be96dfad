"""Bad input: a clear exception naming the argument and what was expected."""
import numpy as np
import pytest

from fastnn import ops

from helpers import ELEMENTWISE


@pytest.mark.parametrize("name", sorted({n for n, _ in ELEMENTWISE}))
@pytest.mark.parametrize("bad", [np.arange(4), np.ones(4, np.complex128), np.ones(4, bool),
                                 np.ones(4, np.float16), np.array(["a", "b"])],
                         ids=["int", "complex", "bool", "float16", "str"])
def test_non_float_input_rejected(name, bad):
    with pytest.raises(TypeError, match=r"x must be a float32 or float64 array, got dtype"):
        getattr(ops, name + "_forward")(bad)


def test_cache_from_another_op():
    _, cache = ops.relu_forward(np.ones(3))
    with pytest.raises(ValueError, match="cache comes from relu_forward, expected a cache from tanh_forward"):
        ops.tanh_backward(np.ones(3), cache)
    with pytest.raises(TypeError, match="cache must be the cache returned by sigmoid_forward"):
        ops.sigmoid_backward(np.ones(3), (np.ones(3),))
    _, gcache = ops.gelu_forward(np.ones(3))
    with pytest.raises(ValueError, match="gelu_forward"):
        ops.prelu_backward(np.ones(3), gcache)


def test_dout_mismatch():
    _, cache = ops.elu_forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"dout has shape \(3, 2\), expected \(2, 3\)"):
        ops.elu_backward(np.ones((3, 2)), cache)
    with pytest.raises(TypeError, match="dout must be a float array"):
        ops.elu_backward(np.ones((2, 3), int), cache)


@pytest.mark.parametrize("call,exc,pattern", [
    (lambda: ops.leaky_relu_forward(np.ones(2), negative_slope=float("nan")), ValueError, "negative_slope must be a finite"),
    (lambda: ops.leaky_relu_forward(np.ones(2), negative_slope="0.1"), TypeError, "negative_slope must be a real number"),
    (lambda: ops.elu_forward(np.ones(2), alpha=float("inf")), ValueError, "alpha must be a finite"),
    (lambda: ops.softplus_forward(np.ones(2), beta=0), ValueError, "beta must be non-zero"),
    (lambda: ops.softplus_forward(np.ones(2), threshold=None), TypeError, "threshold must be a real"),
    (lambda: ops.gelu_forward(np.ones(2), approximate="erf"), ValueError, "approximate must be 'none' or 'tanh'"),
])
def test_bad_parameters(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_prelu_bad_alpha():
    x = np.ones((2, 3, 4))
    with pytest.raises(ValueError, match=r"alpha has shape \(4,\), so x must have 4 channels on axis 1"):
        ops.prelu_forward(x, np.ones(4))
    with pytest.raises(ValueError, match=r"alpha must have shape \(1,\) or \(C,\)"):
        ops.prelu_forward(x, np.ones((3, 1)))
    with pytest.raises(ValueError, match="alpha must have shape"):
        ops.prelu_forward(x, np.ones(0))
    with pytest.raises(ValueError, match="channels on axis 1"):
        ops.prelu_forward(np.ones(3), np.ones(3))            # 1-d x has no channel axis
    with pytest.raises(TypeError, match="alpha has dtype float32 but x has dtype float64"):
        ops.prelu_forward(x, np.ones(3, np.float32))
    with pytest.raises(TypeError, match="alpha must be a float32 or float64 array"):
        ops.prelu_forward(x, np.ones(3, np.int64))
    out, _ = ops.prelu_forward(x, [0.25])                     # array-likes are converted
    assert out.dtype == np.float64


def test_maxout_bad_shapes():
    x = np.ones((4, 5))
    with pytest.raises(ValueError, match=r"w must have shape \(k, D, M\) with k >= 1 and D = 5"):
        ops.maxout_forward(x, np.ones((2, 6, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="w must have shape"):
        ops.maxout_forward(x, np.ones((5, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"b must have shape \(k, M\) = \(2, 3\)"):
        ops.maxout_forward(x, np.ones((2, 5, 3)), np.ones((3,)))
    with pytest.raises(ValueError, match=r"x must have shape \(N, D\)"):
        ops.maxout_forward(np.ones(5), np.ones((2, 5, 3)), np.ones((2, 3)))
    with pytest.raises(TypeError, match="w has dtype float32 but x has dtype float64"):
        ops.maxout_forward(x, np.ones((2, 5, 3), np.float32), np.ones((2, 3)))
    _, cache = ops.maxout_forward(x, np.ones((2, 5, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"dout has shape \(4, 4\), expected \(4, 3\)"):
        ops.maxout_backward(np.ones((4, 4)), cache)
