"""OpInfo definitions: the elementwise activations, PReLU and Maxout."""
import numpy as np

from fastnn import ops
from fastnn import reference as ref

from ..core import (ELEMENTWISE_SHAPES, TOL_ELEMENTWISE, TOL_ELEMENTWISE_BWD, TOL_REDUCE,
                    ErrorInput, OpInfo, Sample, backward_errors, dtype_errors, layer_op,
                    out_errors, rand, scalar_errors)


def _torch_but_nan_grad(x, dtype):
    """The points compared with PyTorch: all but the gradient at NaN inputs.  PyTorch's
    ELU/SELU backward at a NaN input is 1 in its scalar loop and NaN in its vector loop
    (which one runs depends on the array length); fastnn gives 1
    (tests/ops/test_activations.py pins the value)."""
    return np.ones(x.shape, bool), ~np.isnan(x)


def _torch_but_float32_inf(x, dtype):
    """The points compared with PyTorch: all but +inf in float32.  PyTorch's float32 exact
    GELU gives NaN at +inf where its float64 path gives the limit +inf; fastnn gives +inf in
    both dtypes (tests/ops/test_activations.py pins the value)."""
    keep = ~np.isposinf(x) if dtype == np.float32 else np.ones(x.shape, bool)
    return keep, keep


def _F(t):
    return t.nn.functional


# The elementwise activations: one entry per function and keyword configuration.
# name, function, kwargs, out=x allowed, PyTorch twin (torch, tensor, kwargs) -> tensor,
# the points compared with PyTorch (None: all)
ELEMENTWISE = [
    ("relu", "relu", {}, True, lambda t, x, kw: t.relu(x), None),
    ("leaky_relu", "leaky_relu", {"negative_slope": 0.2}, False,
     lambda t, x, kw: _F(t).leaky_relu(x, kw.get("negative_slope", 0.01)), None),
    ("leaky_relu_default", "leaky_relu", {}, False,
     lambda t, x, kw: _F(t).leaky_relu(x, kw.get("negative_slope", 0.01)), None),
    ("elu", "elu", {"alpha": 0.7}, False,
     lambda t, x, kw: _F(t).elu(x, kw.get("alpha", 1.0)), _torch_but_nan_grad),
    ("elu_default", "elu", {}, False,
     lambda t, x, kw: _F(t).elu(x, kw.get("alpha", 1.0)), _torch_but_nan_grad),
    ("selu", "selu", {}, False, lambda t, x, kw: _F(t).selu(x), _torch_but_nan_grad),
    ("sigmoid", "sigmoid", {}, True, lambda t, x, kw: t.sigmoid(x), None),
    ("tanh", "tanh", {}, True, lambda t, x, kw: t.tanh(x), None),
    ("gelu", "gelu", {}, False, lambda t, x, kw: _F(t).gelu(x), _torch_but_float32_inf),
    ("gelu_tanh", "gelu", {"approximate": "tanh"}, False,
     lambda t, x, kw: _F(t).gelu(x, approximate="tanh"), None),
    ("softplus", "softplus", {"beta": 2.0, "threshold": 10.0}, False,
     lambda t, x, kw: _F(t).softplus(x, kw.get("beta", 1.0), kw.get("threshold", 20.0)), None),
    ("softplus_default", "softplus", {}, False,
     lambda t, x, kw: _F(t).softplus(x, kw.get("beta", 1.0), kw.get("threshold", 20.0)), None),
    ("silu", "silu", {}, False, lambda t, x, kw: _F(t).silu(x), None),
]


def _elementwise_samples(kwargs):
    def gen(rng, dtype, size):
        shape = ELEMENTWISE_SHAPES[size]
        if size == "tiny":       # gradient check: away from kinks and saturation
            x = (rng.uniform(0.1, 1.5, shape) * rng.choice([-1, 1], shape)).astype(dtype)
        else:
            x = rand(rng, shape, dtype, 2.0)
        return Sample((x,), dict(kwargs), size)
    return gen


def _elementwise_errors(base, kwargs):
    fwd = getattr(ops, base + "_forward")
    bwd = getattr(ops, base + "_backward")
    name = base + "_forward"

    def errs():
        x = np.linspace(-2, 2, 12).reshape(3, 4)
        e = dtype_errors(fwd, (x,), kwargs, "x")
        e += out_errors(fwd, x, kwargs, name)
        e += backward_errors(base, fwd, bwd, Sample((x,), kwargs), (4, 3))
        if base == "leaky_relu":
            e += scalar_errors(fwd, (x,), {}, "negative_slope")
        elif base == "elu":
            e += scalar_errors(fwd, (x,), {}, "alpha")
        elif base == "softplus":
            e += scalar_errors(fwd, (x,), {}, "beta",
                                extra=[(0, ValueError, "beta must be non-zero"),
                                       (0.0, ValueError, "beta must be non-zero")])
            e += scalar_errors(fwd, (x,), {}, "threshold", nonfinite=False)
            e.append(ErrorInput(fwd, (x,), {"threshold": float("nan")}, ValueError,
                                "threshold must be a finite number", "threshold=nan"))
        elif base == "gelu":
            for v in ("erf", "Tanh", None, 1):
                e.append(ErrorInput(fwd, (x,), {"approximate": v}, ValueError,
                                    r"approximate must be 'none' or 'tanh'", f"approximate={v!r}"))
        if base not in ("relu", "sigmoid", "tanh"):
            e.append(ErrorInput(fwd, (x,), {**kwargs, "out": x}, ValueError,
                                r"out=x \(in-place\) is not supported", "out=x not documented"))
        e.append(ErrorInput(fwd, ([1.0, "a"],), kwargs, TypeError,
                            r"x must be a float32 or float64 array", "list with a string"))
        return e
    return errs


def _elementwise_op(name, base, kwargs, inplace_ok, torch_fn, torch_compared):
    """One configuration of an elementwise activation.  A ``*_default`` entry (a function's
    default keywords, beside its entry with other keywords) declares no error inputs: the
    scalar-argument errors are the function's, declared on that other entry."""
    with_errors = not name.endswith("_default")
    return OpInfo(
        name=name, forward=getattr(ops, base + "_forward"),
        backward=getattr(ops, base + "_backward"),
        ref_forward=getattr(ref, base + "_forward"), ref_backward=getattr(ref, base + "_backward"),
        sample_inputs=_elementwise_samples(kwargs),
        error_inputs=_elementwise_errors(base, kwargs) if with_errors else list,
        tol=TOL_ELEMENTWISE, bwd_tol=TOL_ELEMENTWISE_BWD,
        supports_out=True, inplace_ok=inplace_ok, torch_forward=torch_fn,
        torch_compared=torch_compared, op_kwargs=dict(kwargs))


def _prelu_samples(rng, dtype, size):
    if size == "empty":
        return Sample((np.zeros((0, 3, 4), dtype), np.full(3, 0.25, dtype)), {}, size)
    shape = {"tiny": (2, 3, 4), "small": (4, 3, 5), "large": (40, 16, 64)}[size]
    x = rand(rng, shape, dtype, 2.0)
    alpha = (rng.uniform(0.05, 0.5, shape[1])).astype(dtype)
    return Sample((x, alpha), {}, size)


def _prelu_errors():
    fwd, x = ops.prelu_forward, np.linspace(-2, 2, 24).reshape(2, 3, 4)
    a = np.array([0.1, 0.2, 0.3])
    e = dtype_errors(fwd, (x, a), {}, "x")
    e += [
        ErrorInput(fwd, (x, np.ones(4)), {}, ValueError,
                   r"alpha has shape \(4,\), so x must have 4 channels on axis 1", "alpha (4,)"),
        ErrorInput(fwd, (x, np.ones((3, 1))), {}, ValueError,
                   r"alpha must have shape \(1,\) or \(C,\)", "alpha 2-d"),
        ErrorInput(fwd, (x, np.ones(0)), {}, ValueError, r"alpha must have shape", "alpha empty"),
        ErrorInput(fwd, (np.ones(3), np.ones(3)), {}, ValueError, r"channels on axis 1",
                   "1-d x, per-channel alpha"),
        ErrorInput(fwd, (x, np.ones(3, np.float32)), {}, TypeError,
                   r"alpha has dtype float32 but x has dtype float64", "alpha float32"),
        ErrorInput(fwd, (x, np.ones(3, np.int64)), {}, TypeError,
                   r"alpha must be a float32 or float64 array", "alpha int64 ndarray"),
        ErrorInput(fwd, (x, ["a", "b", "c"]), {}, TypeError, r"alpha must be real numbers",
                   "alpha strings"),
        ErrorInput(fwd, (x, a), {"out": x}, ValueError, r"out=x \(in-place\) is not supported",
                   "out=x"),
    ]
    ro = np.empty_like(x)
    ro.flags.writeable = False
    e.append(ErrorInput(fwd, (x, a), {"out": ro}, ValueError, "out is read-only", "out read-only"))
    e += backward_errors("prelu", fwd, ops.prelu_backward, Sample((x, a)), (4, 3, 2))
    return e


def _maxout_samples(rng, dtype, size):
    N, D, k, M = {"tiny": (3, 4, 3, 2), "small": (5, 6, 3, 4), "large": (512, 64, 2, 96),
                  "empty": (0, 6, 3, 4)}[size]
    return Sample((rand(rng, (N, D), dtype), rand(rng, (k, D, M), dtype, 0.5),
                   rand(rng, (k, M), dtype, 0.1)), {}, size)


def _maxout_errors():
    fwd, x = ops.maxout_forward, np.ones((4, 5))
    w, b = np.ones((2, 5, 3)), np.ones((2, 3))
    e = dtype_errors(fwd, (x, w, b), {}, "x")
    e += [
        ErrorInput(fwd, (x, np.ones((2, 6, 3)), b), {}, ValueError,
                   r"w must have shape \(k, D, M\) with k >= 1 and D = 5", "w wrong D"),
        ErrorInput(fwd, (x, np.ones((5, 3)), b), {}, ValueError, "w must have shape", "w 2-d"),
        ErrorInput(fwd, (x, np.ones((0, 5, 3)), np.ones((0, 3))), {}, ValueError,
                   "w must have shape", "k = 0"),
        ErrorInput(fwd, (x, w, np.ones(3)), {}, ValueError, r"b must have shape \(k, M\) = \(2, 3\)",
                   "b 1-d"),
        ErrorInput(fwd, (np.ones(5), w, b), {}, ValueError, r"x must have shape \(N, D\)", "x 1-d"),
        ErrorInput(fwd, (x, w.astype(np.float32), b), {}, TypeError,
                   "w has dtype float32 but x has dtype float64", "w float32"),
    ]
    e += backward_errors("maxout", fwd, ops.maxout_backward, Sample((x, w, b)), (4, 4))
    return e


ELEMENTWISE_OPS = [_elementwise_op(*spec) for spec in ELEMENTWISE]

OPS = ELEMENTWISE_OPS + [
    layer_op("prelu", _prelu_samples, _prelu_errors, grad_args=(0, 1), float_args=(0, 1),
             supports_out=True, tol=TOL_REDUCE),
    layer_op("maxout", _maxout_samples, _maxout_errors, grad_args=(0, 1, 2),
             float_args=(0, 1, 2), tol=TOL_REDUCE),
]
