"""OpInfo definitions: the fused optimiser steps (SGD, momentum, Nesterov, RMSProp, Adam)
against the NumPy update rules of fastnn.optim."""
import numpy as np

from fastnn import optim

from ..core import TOL_OPTIM, ErrorInput, OpInfo, Sample, copy_like, rand, scalar_errors


STEPS = 3


def _optim_op(name, cls, rule, hyper, rule_config):
    """forward(w, dw, **hyper): STEPS in-place steps of the fused optimiser on a copy of w."""

    def forward(w, dw, **kw):
        w = copy_like(w)
        opt = cls([(w, dw)], **kw)
        for _ in range(STEPS):
            opt.step()
        return w, None

    def ref_forward(w, dw, **kw):
        config = rule_config(kw)
        for _ in range(STEPS):
            w, config = rule(w, dw, config)
        return w, None

    def gen(rng, dtype, size):
        shape = {"tiny": (3, 4), "small": (7, 13), "large": (70000,), "empty": (0, 4)}[size]
        return Sample((rand(rng, shape, dtype), rand(rng, shape, dtype)), dict(hyper), size)

    def errors():
        w, g = np.ones((3, 4)), np.full((3, 4), 0.5)
        fn = cls.__name__

        def make_step(params, **kw):
            cls(params, **kw).step()

        ro = np.ones((3, 4))
        ro.flags.writeable = False
        big = np.ones(20)
        e = [
            ErrorInput(make_step, ([(w.astype(np.int64), g)],), {}, TypeError,
                       r"parameter '0' must be a float32 or float64 array", "int param"),
            ErrorInput(make_step, ([(w.astype(np.float16), g)],), {}, TypeError,
                       r"must be a float32 or float64 array", "float16 param"),
            ErrorInput(make_step, ([(w, g[:, :3])],), {}, ValueError,
                       r"gradient of '0' has shape \(3, 3\), expected \(3, 4\)", "grad shape"),
            ErrorInput(make_step, ([(w, g.astype(np.float32))],), {}, TypeError,
                       r"gradient of '0' has dtype float32, expected float64", "grad dtype"),
            ErrorInput(make_step, ([(w, list(g))],), {}, TypeError,
                       r"gradient of '0' must be a numpy array", "grad list"),
            ErrorInput(make_step, ([(np.ones((4, 3)).T, g)],), {}, ValueError,
                       r"must be a C-contiguous, writeable array", "param Fortran"),
            ErrorInput(make_step, ([(ro, g)],), {}, ValueError,
                       r"must be a C-contiguous, writeable array", "param read-only"),
            ErrorInput(make_step, ([(w, g), (w, g)],), {}, ValueError,
                       r"parameters '0' and '1' are the same array", "same array twice"),
            ErrorInput(make_step, ([(big[:12], g.ravel()), (big[8:], np.ones(12))],), {}, ValueError,
                       r"parameters '0' and '1' overlap in memory", "overlapping params"),
            ErrorInput(make_step, ([],), {}, ValueError, rf"{fn}: params is empty", "no params"),
            ErrorInput(make_step, (w,), {}, TypeError, rf"{fn}: params must be", "bare array"),
            ErrorInput(make_step, ([(w, g)],), {"lr": -1.0}, ValueError, "lr must be >= 0", "lr<0"),
            ErrorInput(make_step, ([(w, g)],), {"weight_decay": -1e-3}, ValueError,
                       "weight_decay must be >= 0", "weight_decay<0"),
        ]
        e += scalar_errors(make_step, ([(w, g)],), {}, "lr")
        e += scalar_errors(make_step, ([(w, g)],), {}, "weight_decay")
        if cls is optim.SGD:
            e += [
                ErrorInput(make_step, ([(w, g)],), {"momentum": 1.0}, ValueError,
                           r"momentum must be in \[0, 1\)", "momentum 1"),
                ErrorInput(make_step, ([(w, g)],), {"momentum": -0.5}, ValueError,
                           r"momentum must be in \[0, 1\)", "momentum<0"),
                ErrorInput(make_step, ([(w, g)],), {"nesterov": True}, ValueError,
                           "nesterov=True needs momentum > 0", "nesterov no momentum"),
                ErrorInput(make_step, ([(w, g)],), {"momentum": 0.9, "nesterov": 1}, TypeError,
                           "nesterov must be True or False", "nesterov=1"),
            ]
            e += scalar_errors(make_step, ([(w, g)],), {}, "momentum")
        if cls is optim.RMSProp:
            e += [ErrorInput(make_step, ([(w, g)],), {"decay_rate": 1.0}, ValueError,
                             r"decay_rate must be in \[0, 1\)", "decay_rate 1"),
                  ErrorInput(make_step, ([(w, g)],), {"eps": -1e-8}, ValueError,
                             "eps must be >= 0", "eps<0")]
            e += scalar_errors(make_step, ([(w, g)],), {}, "eps")
        if cls is optim.Adam:
            e += [ErrorInput(make_step, ([(w, g)],), {"beta1": 1.0}, ValueError,
                             r"beta1 must be in \[0, 1\)", "beta1 1"),
                  ErrorInput(make_step, ([(w, g)],), {"beta2": -0.1}, ValueError,
                             r"beta2 must be in \[0, 1\)", "beta2<0"),
                  ErrorInput(make_step, ([(w, g)],), {"eps": -1.0}, ValueError,
                             "eps must be >= 0", "eps<0")]
            e += scalar_errors(make_step, ([(w, g)],), {}, "beta2")
        return e

    return OpInfo(name=name, forward=forward, backward=None, ref_forward=ref_forward,
                  ref_backward=None, sample_inputs=gen, error_inputs=errors, grad_args=(),
                  float_args=(1,), tol=TOL_OPTIM, kind="optim", gradcheck=False,
                  contiguous_only=(0,))


def _sgd_config(kw):
    return {"learning_rate": kw.get("lr", 1e-2), "momentum": kw.get("momentum", 0.0),
            "weight_decay": kw.get("weight_decay", 0.0)}


def _sgd_rule(kw):
    if kw.get("nesterov"):
        return optim.nesterov
    return optim.sgd_momentum if kw.get("momentum", 0.0) else optim.sgd


def _optim_ops():
    def sgd_like(kwargs, label):
        def rule(w, dw, config):
            kw = config.pop("_kw")
            w, config = _sgd_rule(kw)(w, dw, config)
            config["_kw"] = kw
            return w, config
        return _optim_op(label, optim.SGD, rule, kwargs,
                         lambda kw: {**_sgd_config(kw), "_kw": kw})

    rms = _optim_op("rmsprop_step", optim.RMSProp, optim.rmsprop,
                    {"lr": 1e-2, "decay_rate": 0.9, "eps": 1e-8, "weight_decay": 1e-3},
                    lambda kw: {"learning_rate": kw["lr"], "decay_rate": kw["decay_rate"],
                                "epsilon": kw["eps"], "weight_decay": kw["weight_decay"]})
    adam = _optim_op("adam_step", optim.Adam, optim.adam,
                     {"lr": 1e-3, "beta1": 0.8, "beta2": 0.99, "eps": 1e-8, "weight_decay": 1e-3},
                     lambda kw: {"learning_rate": kw["lr"], "beta1": kw["beta1"],
                                 "beta2": kw["beta2"], "epsilon": kw["eps"],
                                 "weight_decay": kw["weight_decay"]})
    return [
        sgd_like({"lr": 0.1, "weight_decay": 1e-3}, "sgd_step"),
        sgd_like({"lr": 0.1, "momentum": 0.9}, "sgd_momentum_step"),
        sgd_like({"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3},
                 "sgd_nesterov_step"),
        rms, adam,
    ]


OPS = _optim_ops()
