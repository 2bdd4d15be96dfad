"""OpInfo definitions: the affine (fully connected) layer."""
import numpy as np

from fastnn import ops

from ..core import TOL_REDUCE, ErrorInput, Sample, backward_errors, dtype_errors, layer_op, rand


def _affine_samples(rng, dtype, size):
    xs, M = {"tiny": ((3, 2, 2), 3), "small": ((4, 5), 3), "large": ((256, 300), 200),
             "empty": ((0, 5), 3)}[size]
    D = int(np.prod(xs[1:]))
    return Sample((rand(rng, xs, dtype), rand(rng, (D, M), dtype, 0.3), rand(rng, (M,), dtype)),
                  {}, size)


def _affine_errors():
    fwd, x, w, b = ops.affine_forward, np.ones((4, 5)), np.ones((5, 3)), np.ones(3)
    e = dtype_errors(fwd, (x, w, b), {}, "x")
    e += [
        ErrorInput(fwd, (np.ones(5), w, b), {}, ValueError, "x must have shape", "x 1-d"),
        ErrorInput(fwd, (x, np.ones((6, 3)), b), {}, ValueError,
                   r"w must have shape \(D, M\) with D = 5", "w wrong D"),
        ErrorInput(fwd, (x, np.ones(5), b), {}, ValueError, r"w must have shape \(D, M\)", "w 1-d"),
        ErrorInput(fwd, (x, w, np.ones(4)), {}, ValueError, r"b must have shape \(3,\)", "b wrong"),
        ErrorInput(fwd, (x, w.astype(np.float32), b), {}, TypeError,
                   "w has dtype float32 but x has dtype float64", "w float32"),
        ErrorInput(fwd, (x, w, np.ones(3, np.int32)), {}, TypeError,
                   "b must be a float32 or float64 array", "b int ndarray"),
    ]
    e += backward_errors("affine", fwd, ops.affine_backward, Sample((x, w, b)), (4, 4))
    return e

OPS = [
    layer_op("affine", _affine_samples, _affine_errors, grad_args=(0, 1, 2),
             float_args=(0, 1, 2), tol=TOL_REDUCE),
]
