"""OpInfo definitions: batch norm (per feature and spatial, training and eval), layer norm,
group norm."""
import dataclasses

import numpy as np

from fastnn import ops

from ..core import (TOL_REDUCE, ErrorInput, Sample, backward_errors, dtype_errors, layer_op, rand,
                    scalar_errors)


def _bn_samples(spatial, training):
    def gen(rng, dtype, size):
        if spatial:
            shape = {"tiny": (3, 2, 2, 2), "small": (3, 4, 5, 5), "large": (16, 8, 18, 18),
                     "empty": (0, 4, 3, 3)}[size]
        else:
            shape = {"tiny": (5, 3), "small": (6, 5), "large": (512, 80), "empty": (0, 5)}[size]
        C = shape[1]
        x = rand(rng, shape, dtype, 2.0) + 0.5
        rm = rng.standard_normal(C).astype(dtype) * 0.1
        rv = rng.uniform(0.5, 2.0, C).astype(dtype)
        return Sample((x, rand(rng, (C,), dtype) + 1, rand(rng, (C,), dtype), rm, rv),
                      {"training": training, "momentum": 0.2, "eps": 1e-5}, size)
    return gen


def _bn_errors():
    fwd, x = ops.batchnorm_forward, np.random.default_rng(0).standard_normal((4, 3))
    g, b, rm, rv = np.ones(3), np.zeros(3), np.zeros(3), np.ones(3)
    ro = np.zeros(3)
    ro.flags.writeable = False
    e = dtype_errors(fwd, (x, g, b, rm, rv), {}, "x")
    e += [
        ErrorInput(fwd, (np.ones(3), g, b, rm, rv), {}, ValueError, "x must have shape", "x 1-d"),
        ErrorInput(fwd, (x, np.ones(4), b, rm, rv), {}, ValueError,
                   r"gamma must have shape \(3,\)", "gamma wrong"),
        ErrorInput(fwd, (x, g, np.ones((3, 1)), rm, rv), {}, ValueError,
                   r"beta must have shape \(3,\)", "beta 2-d"),
        ErrorInput(fwd, (x, g, b, rm, None), {}, ValueError,
                   "pass both running_mean and running_var, or neither", "one running array"),
        ErrorInput(fwd, (x, g, b, [0.0] * 3, rv), {}, TypeError,
                   "running_mean must be a float ndarray", "running_mean list"),
        ErrorInput(fwd, (x, g, b, rm, np.ones(3, np.int64)), {}, TypeError,
                   "running_var must be a float ndarray", "running_var int"),
        ErrorInput(fwd, (x, g, b, np.zeros(4), rv), {}, ValueError,
                   r"running_mean must have shape \(3,\)", "running_mean wrong shape"),
        ErrorInput(fwd, (x, g, b, ro, rv), {}, ValueError, "running_mean is read-only",
                   "running_mean read-only"),
        ErrorInput(fwd, (x, g, b, rm, rv), {"training": 1}, TypeError,
                   "training must be True or False", "training=1"),
        ErrorInput(fwd, (x, g, b, rm, rv), {"momentum": 1.5}, ValueError,
                   r"momentum must be in \[0, 1\]", "momentum 1.5"),
        ErrorInput(fwd, (x, g, b, rm, rv), {"momentum": -0.1}, ValueError,
                   r"momentum must be in \[0, 1\]", "momentum < 0"),
        ErrorInput(fwd, (x, g, b, rm, rv), {"eps": 0.0}, ValueError, "eps must be > 0", "eps 0"),
        ErrorInput(fwd, (x, g, b, rm, rv), {"eps": -1e-5}, ValueError, "eps must be > 0", "eps<0"),
        ErrorInput(fwd, (np.ones((1, 3)), g, b, rm, rv), {}, ValueError,
                   "expected more than 1 value per channel when training", "N = 1"),
        ErrorInput(fwd, (np.ones((1, 3, 1, 1)), g, b, rm, rv), {}, ValueError,
                   "expected more than 1 value per channel", "N*H*W = 1"),
        ErrorInput(fwd, (x, g.astype(np.float32), b, rm, rv), {}, TypeError,
                   "gamma has dtype float32 but x has dtype float64", "gamma float32"),
    ]
    e += scalar_errors(fwd, (x, g, b, rm, rv), {}, "momentum")
    e += scalar_errors(fwd, (x, g, b, rm, rv), {}, "eps")
    e += backward_errors("batchnorm", fwd, ops.batchnorm_backward, Sample((x, g, b, None, None)),
                          (3, 4))
    return e


def _ln_samples(rng, dtype, size):
    xs, gs = {"tiny": ((3, 4), (4,)), "small": ((2, 3, 4, 5), (4, 5)), "large": ((512, 96), (96,)),
              "empty": ((0, 6), (6,))}[size]
    return Sample((rand(rng, xs, dtype, 2.0) + 1, rand(rng, gs, dtype) + 1, rand(rng, gs, dtype)),
                  {"eps": 1e-5}, size)


def _ln_errors():
    fwd, x, g, b = ops.layernorm_forward, np.ones((4, 3)), np.ones(3), np.zeros(3)
    e = dtype_errors(fwd, (x, g, b), {}, "x")
    e += [
        ErrorInput(fwd, (x, np.ones(4), np.zeros(4)), {}, ValueError,
                   r"gamma's shape \(4,\) must equal the trailing dimensions", "gamma wrong"),
        ErrorInput(fwd, (x, np.ones(()), np.zeros(())), {}, ValueError,
                   "must equal the trailing dimensions", "gamma 0-d"),
        ErrorInput(fwd, (np.ones(3), np.ones((1, 3)), np.zeros((1, 3))), {}, ValueError,
                   "must equal the trailing dimensions", "gamma more dims than x"),
        ErrorInput(fwd, (x, g, np.zeros(4)), {}, ValueError, r"beta must have shape \(3,\)",
                   "beta wrong"),
        ErrorInput(fwd, (x, g, b), {"eps": 0}, ValueError, "eps must be > 0", "eps 0"),
    ]
    e += scalar_errors(fwd, (x, g, b), {}, "eps")
    e += backward_errors("layernorm", fwd, ops.layernorm_backward, Sample((x, g, b)), (3, 4))
    return e


def _gn_samples(rng, dtype, size):
    xs, G = {"tiny": ((2, 4, 3, 2), 2), "small": ((3, 6, 4, 4), 3), "large": ((8, 16, 18, 18), 4),
             "empty": ((0, 6, 2, 2), 3)}[size]
    C = xs[1]
    return Sample((rand(rng, xs, dtype, 2.0) - 0.5, rand(rng, (C,), dtype) + 1,
                   rand(rng, (C,), dtype), G), {"eps": 1e-5}, size)


def _gn_errors():
    fwd, x, g, b = ops.groupnorm_forward, np.ones((2, 6, 2, 2)), np.ones(6), np.zeros(6)
    e = dtype_errors(fwd, (x, g, b, 3), {}, "x")
    e += [
        ErrorInput(fwd, (np.ones(6), g, b, 3), {}, ValueError, r"x must have shape \(N, C, ...\)",
                   "x 1-d"),
        ErrorInput(fwd, (x, g, b, 4), {}, ValueError,
                   "num_groups must be a positive divisor of the 6 channels, got 4", "G=4"),
        ErrorInput(fwd, (x, g, b, 0), {}, ValueError, "num_groups must be a positive divisor", "G=0"),
        ErrorInput(fwd, (x, g, b, -3), {}, ValueError, "num_groups must be a positive divisor",
                   "G<0"),
        ErrorInput(fwd, (x, g, b, 3.0), {}, TypeError, "num_groups must be an integer", "G float"),
        ErrorInput(fwd, (x, g, b, True), {}, TypeError, "num_groups must be an integer", "G bool"),
        ErrorInput(fwd, (x, np.ones(3), b, 3), {}, ValueError, r"gamma must have shape \(6,\)",
                   "gamma wrong"),
        ErrorInput(fwd, (x, g, b, 3), {"eps": -1.0}, ValueError, "eps must be > 0", "eps<0"),
    ]
    e += scalar_errors(fwd, (x, g, b, 3), {}, "eps")
    e += backward_errors("groupnorm", fwd, ops.groupnorm_backward, Sample((x, g, b, 3)),
                          (2, 6, 2, 3))
    return e


def _batchnorm(name, spatial, training, errors):
    return dataclasses.replace(
        layer_op("batchnorm", _bn_samples(spatial, training), errors, grad_args=(0, 1, 2),
                 float_args=(0, 1, 2), tol=TOL_REDUCE), name=name)


OPS = [
    _batchnorm("batchnorm_train", False, True, _bn_errors),
    _batchnorm("spatial_batchnorm_train", True, True, _bn_errors),
    _batchnorm("batchnorm_eval", False, False, list),
    _batchnorm("spatial_batchnorm_eval", True, False, list),
    layer_op("layernorm", _ln_samples, _ln_errors, grad_args=(0, 1, 2), float_args=(0, 1, 2),
             tol=TOL_REDUCE),
    layer_op("groupnorm", _gn_samples, _gn_errors, grad_args=(0, 1, 2), float_args=(0, 1, 2),
             tol=TOL_REDUCE),
]
