"""OpInfo definitions: max, average and global average pooling."""
import numpy as np

from fastnn import ops

from ..core import TOL_REDUCE, ErrorInput, Sample, backward_errors, dtype_errors, layer_op, rand


_POOL_SHAPES = {"tiny": (1, 2, 4, 4), "small": (2, 3, 7, 6), "large": (16, 16, 32, 32),
                "empty": (0, 3, 4, 4)}


def _pool_samples(rng, dtype, size):
    kw = {"pool_height": 3, "pool_width": 2, "stride": 2} if size == "small" else {}
    return Sample((rand(rng, _POOL_SHAPES[size], dtype, 2.0),), kw, size)


def _pool_errors(name):
    fwd, bwd = getattr(ops, name + "_forward"), getattr(ops, name + "_backward")
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    e = dtype_errors(fwd, (x,), {}, "x")
    e += [
        ErrorInput(fwd, (np.ones((3, 4, 4)),), {}, ValueError, r"x must have shape \(N, C, H, W\)",
                   "x 3-d"),
        ErrorInput(fwd, (x,), {"pool_height": 5}, ValueError, "pool window 5x2 does not fit input 4x4",
                   "window too tall"),
        ErrorInput(fwd, (x,), {"pool_width": 0}, ValueError, "pool_width must be a positive integer",
                   "pool_width 0"),
        ErrorInput(fwd, (x,), {"stride": 0}, ValueError, "stride must be a positive integer",
                   "stride 0"),
        ErrorInput(fwd, (x,), {"stride": 2.0}, TypeError, "stride must be an integer", "stride float"),
        ErrorInput(fwd, (x,), {"pool_height": None}, TypeError, "pool_height must be an integer",
                   "pool_height None"),
    ]
    e += backward_errors(name, fwd, bwd, Sample((x,)), (2, 3, 3, 2))
    return e


def _gap_samples(rng, dtype, size):
    shape = {"tiny": (2, 2, 2, 3), "small": (2, 3, 4, 5), "large": (32, 64, 8, 8),
             "empty": (0, 3, 4, 4)}[size]
    return Sample((rand(rng, shape, dtype, 2.0),), {}, size)


def _gap_errors():
    fwd, x = ops.global_avg_pool_forward, np.ones((2, 3, 4, 4))
    e = dtype_errors(fwd, (x,), {}, "x")
    e.append(ErrorInput(fwd, (np.ones((2, 3, 4)),), {}, ValueError,
                        r"x must have shape \(N, C, H, W\)", "x 3-d"))
    e += backward_errors("global_avg_pool", fwd, ops.global_avg_pool_backward, Sample((x,)), (3, 2))
    return e


OPS = [
    layer_op("max_pool", _pool_samples, lambda: _pool_errors("max_pool")),
    layer_op("avg_pool", _pool_samples, lambda: _pool_errors("avg_pool"), tol=TOL_REDUCE),
    layer_op("global_avg_pool", _gap_samples, _gap_errors, tol=TOL_REDUCE),
]
