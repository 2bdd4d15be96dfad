"""OpInfo definitions: dropout (training and eval) and DropConnect."""
import dataclasses

import numpy as np

from fastnn import ops

from ..core import (ELEMENTWISE_SHAPES, TOL_ELEMENTWISE, TOL_ELEMENTWISE_BWD, TOL_REDUCE, ErrorInput,
                    Sample, backward_errors, dtype_errors, layer_op, rand, scalar_errors)
from .affine import _affine_samples


def _dropout_samples(p, training=True):
    def gen(rng, dtype, size):
        x = rand(rng, ELEMENTWISE_SHAPES[size], dtype, 2.0)
        return Sample((x,), {"p": p, "training": training, "seed": 1234}, size)
    return gen


def _seed_errors(fn, args, kwargs):
    return [
        ErrorInput(fn, args, {**kwargs, "seed": -1}, ValueError, r"seed must be in \[0, 2\*\*64\)",
                   "seed -1"),
        ErrorInput(fn, args, {**kwargs, "seed": 1 << 64}, ValueError, r"seed must be in", "seed 2^64"),
        ErrorInput(fn, args, {**kwargs, "seed": 1.5}, TypeError, "seed must be an int or None",
                   "seed float"),
        ErrorInput(fn, args, {**kwargs, "seed": True}, TypeError, "seed must be an int or None",
                   "seed bool"),
        ErrorInput(fn, args, {**kwargs, "seed": "1"}, TypeError, "seed must be an int or None",
                   "seed str"),
    ]


def _p_errors(fn, args, kwargs):
    e = [ErrorInput(fn, args, {**kwargs, "p": v}, ValueError, r"p \(the probability of dropping "
                    r"a unit\) must be in \[0, 1\]", f"p={v}") for v in (-0.1, 1.5, -1e-300)]
    e += scalar_errors(fn, args, kwargs, "p")
    e.append(ErrorInput(fn, args, {**kwargs, "training": "yes"}, TypeError,
                        "training must be True or False", "training str"))
    e.append(ErrorInput(fn, args, {**kwargs, "training": None}, TypeError,
                        "training must be True or False", "training None"))
    return e + _seed_errors(fn, args, kwargs)


def _dropout_errors():
    fwd, x = ops.dropout_forward, np.ones((3, 4))
    e = dtype_errors(fwd, (x,), {"seed": 0}, "x")
    e += _p_errors(fwd, (x,), {"seed": 0})
    e += backward_errors("dropout", fwd, ops.dropout_backward, Sample((x,), {"seed": 0}), (4, 3))
    return e


def _dc_samples(p, training=True):
    def gen(rng, dtype, size):
        s = _affine_samples(rng, dtype, size)
        return Sample(s.args, {"p": p, "training": training, "seed": 77}, size)
    return gen


def _dc_errors():
    fwd, x, w, b = ops.dropconnect_forward, np.ones((4, 5)), np.ones((5, 3)), np.ones(3)
    e = dtype_errors(fwd, (x, w, b), {"seed": 0}, "x")
    e += [
        ErrorInput(fwd, (np.ones(5), w, b), {}, ValueError, "x must have shape", "x 1-d"),
        ErrorInput(fwd, (x, np.ones((6, 3)), b), {}, ValueError, r"w must have shape \(D, M\)",
                   "w wrong D"),
        ErrorInput(fwd, (x, w, np.ones(2)), {}, ValueError, r"b must have shape \(3,\)", "b wrong"),
        ErrorInput(fwd, (x, w.astype(np.float32), b), {}, TypeError,
                   "w has dtype float32 but x has dtype float64", "w float32"),
    ]
    e += _p_errors(fwd, (x, w, b), {"seed": 0})
    e += backward_errors("dropconnect", fwd, ops.dropconnect_backward,
                          Sample((x, w, b), {"seed": 0}), (3, 4))
    return e


OPS = [
    layer_op("dropout", _dropout_samples(0.3), _dropout_errors, tol=TOL_ELEMENTWISE,
             bwd_tol=TOL_ELEMENTWISE_BWD),
    dataclasses.replace(layer_op("dropout", _dropout_samples(0.5, False), list,
                                 tol=TOL_ELEMENTWISE, bwd_tol=TOL_ELEMENTWISE_BWD),
                        name="dropout_eval"),
    layer_op("dropconnect", _dc_samples(0.4), _dc_errors, grad_args=(0, 1, 2),
             float_args=(0, 1, 2), tol=TOL_REDUCE),
]
