"""OpInfo registry: one entry per public op of fastnn, the data the generic tests run on.

Each :class:`OpInfo` holds the fastnn forward/backward pair, its NumPy reference
twin, a sample-input generator (sizes on both sides of the op's threading
threshold), tolerances, flags, and ``error_inputs``: the bad calls the op must
refuse, each with the exception type and a message pattern.

Every op is driven the same way: ``forward(*args, **kwargs) -> (out, cache)``
and ``backward(dout, cache) -> grad or tuple of grads`` (the gradients of the
arguments listed in ``grad_args``, in that order).  Ops with another calling
convention get a thin adapter here (the losses return ``(loss, dscores)``;
im2col/col2im are each other's adjoint; an optimiser "forward" is three
in-place steps of the fused optimiser against three calls of the NumPy rule).

``python tests/opinfo.py`` prints the number of ops and of error inputs.
"""
import dataclasses
import re
from typing import Callable, Optional

import numpy as np

from fastnn import ops, optim
from fastnn import reference as ref
from fastnn.ops import Cache

FLOATS = (np.float32, np.float64)

# ----------------------------------------------------------------- tolerances
# float32 results are compared with the reference run in float64 on the same values.
TOL_ELEMENTWISE = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-13)}
# reductions / GEMMs: sums of tens to hundreds of terms, different summation order
TOL_REDUCE = {np.float32: dict(rtol=2e-4, atol=2e-4), np.float64: dict(rtol=1e-9, atol=1e-10)}
TOL_OPTIM = {np.float32: dict(rtol=1e-4, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}
EXACT = {np.float32: dict(rtol=0, atol=0), np.float64: dict(rtol=0, atol=0)}


class _NdarraySubclass(np.ndarray):
    """An ndarray subclass: ops refuse it as ``out`` (kernels need plain arrays)."""


@dataclasses.dataclass
class Sample:
    """One call: ``forward(*args, **kwargs)``."""
    args: tuple
    kwargs: dict = dataclasses.field(default_factory=dict)
    desc: str = ""

    def copy(self):
        """Arrays copied in their layout (forward passes may update running statistics in
        place; the optimisers update w in place)."""
        return Sample(tuple(copy_like(a) for a in self.args), dict(self.kwargs), self.desc)


# ----------------------------------------------------------------- memory layouts

def strided(a):
    """The values of a in a non-contiguous view (every other element of the last axis)."""
    if a.ndim == 0:
        return a.copy()
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1] + 1,), a.dtype)
    v = big[..., 1::2]
    v[...] = a
    return v


def fortran(a):
    """The values of a in Fortran order (a copy)."""
    return np.array(a, order="F", copy=True)


def misaligned(a):
    """The values of a in a C-contiguous view starting one byte into a uint8 buffer."""
    buf = np.zeros(a.nbytes + a.itemsize, np.uint8)
    v = buf[1:1 + a.nbytes].view(a.dtype).reshape(a.shape)
    v[...] = a
    return v


def copy_like(a):
    """A copy of a with the same memory layout (contiguity, alignment); non-arrays as they are."""
    if not isinstance(a, np.ndarray):
        return a
    if not a.flags.aligned and a.size:
        return misaligned(a)
    if a.flags.c_contiguous:
        return a.copy()
    if a.flags.f_contiguous:
        return fortran(a)
    return strided(a)


@dataclasses.dataclass
class ErrorInput:
    """``fn(*args, **kwargs)`` must raise ``exc`` with a message matching ``match``."""
    fn: Callable
    args: tuple
    kwargs: dict
    exc: type
    match: str
    desc: str = ""

    def __repr__(self):
        return f"<{getattr(self.fn, '__name__', self.fn)}: {self.desc or self.match}>"


@dataclasses.dataclass
class OpInfo:
    name: str
    forward: Callable                      # fastnn: (*args, **kwargs) -> (out, cache)
    backward: Optional[Callable]           # fastnn: (dout, cache) -> grad(s); None: forward only
    ref_forward: Callable
    ref_backward: Optional[Callable]
    sample_inputs: Callable                # (rng, dtype, size) -> Sample or None;
    #                                        size in "tiny" (gradcheck), "small", "large", "empty"
    error_inputs: Callable                 # () -> list[ErrorInput]
    grad_args: tuple = (0,)                # positional args the backward returns gradients of
    float_args: tuple = (0,)               # positional float inputs (non-contiguous, misaligned)
    tol: dict = dataclasses.field(default_factory=lambda: TOL_ELEMENTWISE)
    grad_tol: float = 1e-7                 # float64 gradient check, relative error
    kind: str = "layer"                    # "layer" | "loss" | "optim"
    supports_out: bool = False             # forward takes out=
    inplace_ok: bool = False               # out=x documented as allowed
    gradcheck: bool = True
    deterministic: bool = True             # same inputs -> same bits (dropout: given the seed)
    threads_identical: bool = True         # 1 vs 2 threads bit-identical
    nan_check: bool = True                 # NaN/inf in x compared with the reference
    nan_results: Optional[tuple] = None    # which results the NaN/inf check compares (None: all)
    contiguous_only: tuple = ()            # args that must be C-contiguous (error, not a copy)
    torch_forward: Optional[Callable] = None   # (torch, tensor x, sample) -> tensor

    def ref_dtype_sample(self, sample):
        """The sample with float arrays in float64 (references run in float64)."""
        s = sample.copy()
        s.args = tuple(a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f"
                       else a for a in s.args)
        return s


def _as_tuple(g):
    return g if isinstance(g, tuple) else (g,)


def dout_for(out):
    """A fixed upstream gradient of out's shape and dtype."""
    out = np.asarray(out)
    return np.random.default_rng(99).standard_normal(out.shape).astype(out.dtype)


def run(op, sample, impl="fastnn"):
    """Forward (and backward) of ``op`` on a copy of ``sample``: a list of result arrays.

    Reference runs get float64 copies of the float inputs.  The backward pass
    gets ``dout_for(out)`` (in the forward dtype); losses return
    ``[loss, dscores]``.
    """
    s = op.ref_dtype_sample(sample) if impl == "reference" else sample.copy()
    if impl == "reference":
        f, b = op.ref_forward, op.ref_backward
    else:
        f, b = op.forward, op.backward
    if op.kind == "loss":
        loss, d = f(*s.args, **s.kwargs)
        return [np.asarray(loss, np.float64), d]
    out, cache = f(*s.args, **s.kwargs)
    res = [out]
    if b is not None:
        dout = dout_for(np.empty(np.shape(out), sample_dtype(sample)))
        if impl == "reference":
            dout = dout.astype(np.float64)
        res += list(_as_tuple(b(dout, cache)))
    return res


def sample_dtype(sample):
    return sample.args[0].dtype if isinstance(sample.args[0], np.ndarray) else np.float64


def _rand(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


# ================================================================ generic error inputs

def _backward_errors(op_name, fwd, bwd, sample, out_shape_bad):
    """Wrong cache type, cache of another op, dout of a wrong shape / dtype."""
    out, cache = fwd(*sample.args, **sample.kwargs)
    out = np.asarray(out)
    other = Cache("not_" + op_name)
    errs = [
        ErrorInput(bwd, (out, (out,)), {}, TypeError,
                   rf"{op_name}_backward: cache must be the cache returned by {op_name}_forward",
                   "tuple as cache"),
        ErrorInput(bwd, (out, other), {}, ValueError,
                   rf"{op_name}_backward: cache comes from not_{op_name}_forward", "foreign cache"),
        ErrorInput(bwd, (np.ones(out_shape_bad, out.dtype), cache), {}, ValueError,
                   rf"{op_name}_backward: dout has shape", "dout wrong shape"),
        ErrorInput(bwd, (np.ones(out.shape, np.int64), cache), {}, TypeError,
                   rf"{op_name}_backward: dout must be a float array", "integer dout"),
    ]
    return errs


def _dtype_errors(fn, args, kwargs, argname, index=0):
    """x of a non-float dtype: int, bool, float16, complex, object, str."""
    shape = args[index].shape
    errs = []
    for desc, arr in [("int64", np.zeros(shape, np.int64)), ("bool", np.zeros(shape, bool)),
                      ("float16", np.zeros(shape, np.float16)),
                      ("complex", np.zeros(shape, np.complex128)),
                      ("object", np.zeros(shape, object))]:
        a = list(args)
        a[index] = arr
        errs.append(ErrorInput(fn, tuple(a), dict(kwargs), TypeError,
                               rf"{argname} must be a float32 or float64 array, got dtype",
                               f"{argname} {desc}"))
    return errs


def _scalar_errors(fn, args, kwargs, name, nonfinite=True, wrong_type=True, extra=()):
    """A hyperparameter: NaN, inf, a string, None; plus (value, exc, regex) in extra."""
    errs = []
    if nonfinite:
        for v in (float("nan"), float("inf"), -float("inf")):
            errs.append(ErrorInput(fn, args, {**kwargs, name: v}, ValueError,
                                   rf"{name} must be a finite number", f"{name}={v}"))
    if wrong_type:
        for v in ("0.5", None, [1.0]):
            errs.append(ErrorInput(fn, args, {**kwargs, name: v}, TypeError,
                                   rf"{name} must be a real number", f"{name}={v!r}"))
    for v, exc, pat in extra:
        errs.append(ErrorInput(fn, args, {**kwargs, name: v}, exc, pat, f"{name}={v!r}"))
    return errs


def _out_errors(fn, x, kwargs, name):
    """out= of a wrong type, dtype, shape, layout; read-only; partial overlap."""
    other = np.float32 if x.dtype == np.float64 else np.float64
    ro = np.empty_like(x)
    ro.flags.writeable = False
    big = np.empty((x.size + 1,), x.dtype)
    xs = np.empty((x.size + 1,), x.dtype)
    xs[:x.size] = x.ravel()
    xv = xs[:x.size].reshape(x.shape)
    return [
        ErrorInput(fn, (x,), {**kwargs, "out": [0.0] * x.size}, TypeError,
                   rf"{name}: out must be a numpy.ndarray", "out list"),
        ErrorInput(fn, (x,), {**kwargs, "out": np.empty((1, x.size), x.dtype).view(np.matrix)},
                   TypeError, rf"{name}: out must be a numpy.ndarray \(not a subclass\), got "
                   r"the ndarray subclass numpy.matrix", "out np.matrix"),
        ErrorInput(fn, (x,), {**kwargs, "out": np.empty(x.shape, x.dtype).view(_NdarraySubclass)},
                   TypeError, rf"{name}: out must be a numpy.ndarray \(not a subclass\)",
                   "out ndarray subclass"),
        ErrorInput(fn, (x,), {**kwargs, "out": np.empty(x.shape, other)}, TypeError,
                   rf"{name}: out must have dtype", "out other dtype"),
        ErrorInput(fn, (x,), {**kwargs, "out": np.empty(x.shape + (1,), x.dtype)}, ValueError,
                   rf"{name}: out must have shape", "out wrong shape"),
        ErrorInput(fn, (x,), {**kwargs, "out": np.empty(x.shape[::-1], x.dtype).T}, ValueError,
                   rf"{name}: out must be C-contiguous", "out Fortran"),
        ErrorInput(fn, (x,), {**kwargs, "out": ro}, ValueError, rf"{name}: out is read-only",
                   "out read-only"),
        ErrorInput(fn, (xv,), {**kwargs, "out": xs[1:].reshape(x.shape)}, ValueError,
                   rf"{name}: out partially overlaps x", "out shifted by one element"),
        ErrorInput(fn, (big[:x.size].reshape(x.shape),),
                   {**kwargs, "out": big[1:].reshape(x.shape)}, ValueError,
                   rf"{name}: out partially overlaps x", "out overlapping x"),
    ]


# ================================================================ activations

_ELEMENTWISE = [
    # name, kwargs, inplace_ok, torch function
    ("relu", {}, True, lambda t, x, kw: t.relu(x)),
    ("leaky_relu", {"negative_slope": 0.2}, False,
     lambda t, x, kw: t.nn.functional.leaky_relu(x, kw.get("negative_slope", 0.01))),
    ("elu", {"alpha": 0.7}, False, lambda t, x, kw: t.nn.functional.elu(x, kw.get("alpha", 1.0))),
    ("selu", {}, False, lambda t, x, kw: t.nn.functional.selu(x)),
    ("sigmoid", {}, True, lambda t, x, kw: t.sigmoid(x)),
    ("tanh", {}, True, lambda t, x, kw: t.tanh(x)),
    ("gelu", {}, False, lambda t, x, kw: t.nn.functional.gelu(x)),
    ("gelu_tanh", {"approximate": "tanh"}, False,
     lambda t, x, kw: t.nn.functional.gelu(x, approximate="tanh")),
    ("softplus", {"beta": 2.0, "threshold": 10.0}, False,
     lambda t, x, kw: t.nn.functional.softplus(x, kw.get("beta", 1.0), kw.get("threshold", 20.0))),
    ("silu", {}, False, lambda t, x, kw: t.nn.functional.silu(x)),
]

_ELEMENTWISE_SHAPES = {"tiny": (3, 4), "small": (7, 13), "large": (200, 210), "empty": (0, 5)}


def _elementwise_samples(kwargs):
    def gen(rng, dtype, size):
        shape = _ELEMENTWISE_SHAPES[size]
        if size == "tiny":       # gradient check: away from kinks and saturation
            x = (rng.uniform(0.1, 1.5, shape) * rng.choice([-1, 1], shape)).astype(dtype)
        else:
            x = _rand(rng, shape, dtype, 2.0)
        return Sample((x,), dict(kwargs), size)
    return gen


def _elementwise_errors(base, kwargs):
    fwd = getattr(ops, base + "_forward")
    bwd = getattr(ops, base + "_backward")
    name = base + "_forward"

    def errs():
        x = np.linspace(-2, 2, 12).reshape(3, 4)
        e = _dtype_errors(fwd, (x,), kwargs, "x")
        e += _out_errors(fwd, x, kwargs, name)
        e += _backward_errors(base, fwd, bwd, Sample((x,), kwargs), (4, 3))
        if base == "leaky_relu":
            e += _scalar_errors(fwd, (x,), {}, "negative_slope")
        elif base == "elu":
            e += _scalar_errors(fwd, (x,), {}, "alpha")
        elif base == "softplus":
            e += _scalar_errors(fwd, (x,), {}, "beta",
                                extra=[(0, ValueError, "beta must be non-zero"),
                                       (0.0, ValueError, "beta must be non-zero")])
            e += _scalar_errors(fwd, (x,), {}, "threshold", nonfinite=False)
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


def _elementwise_op(name, kwargs, inplace_ok, torch_fn):
    base = "gelu" if name == "gelu_tanh" else name
    fwd = getattr(ops, base + "_forward")
    bwd = getattr(ops, base + "_backward")
    return OpInfo(
        name=name, forward=fwd, backward=bwd,
        ref_forward=getattr(ref, base + "_forward"), ref_backward=getattr(ref, base + "_backward"),
        sample_inputs=_elementwise_samples(kwargs), error_inputs=_elementwise_errors(base, kwargs),
        supports_out=True, inplace_ok=inplace_ok, torch_forward=torch_fn)


def _prelu_samples(rng, dtype, size):
    if size == "empty":
        return Sample((np.zeros((0, 3, 4), dtype), np.full(3, 0.25, dtype)), {}, size)
    shape = {"tiny": (2, 3, 4), "small": (4, 3, 5), "large": (40, 16, 64)}[size]
    x = _rand(rng, shape, dtype, 2.0)
    alpha = (rng.uniform(0.05, 0.5, shape[1])).astype(dtype)
    return Sample((x, alpha), {}, size)


def _prelu_errors():
    fwd, x = ops.prelu_forward, np.linspace(-2, 2, 24).reshape(2, 3, 4)
    a = np.array([0.1, 0.2, 0.3])
    e = _dtype_errors(fwd, (x, a), {}, "x")
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
    e += _backward_errors("prelu", fwd, ops.prelu_backward, Sample((x, a)), (4, 3, 2))
    return e


def _maxout_samples(rng, dtype, size):
    N, D, k, M = {"tiny": (3, 4, 3, 2), "small": (5, 6, 3, 4), "large": (512, 64, 2, 96),
                  "empty": (0, 6, 3, 4)}[size]
    return Sample((_rand(rng, (N, D), dtype), _rand(rng, (k, D, M), dtype, 0.5),
                   _rand(rng, (k, M), dtype, 0.1)), {}, size)


def _maxout_errors():
    fwd, x = ops.maxout_forward, np.ones((4, 5))
    w, b = np.ones((2, 5, 3)), np.ones((2, 3))
    e = _dtype_errors(fwd, (x, w, b), {}, "x")
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
    e += _backward_errors("maxout", fwd, ops.maxout_backward, Sample((x, w, b)), (4, 4))
    return e


# ================================================================ affine

def _affine_samples(rng, dtype, size):
    xs, M = {"tiny": ((3, 2, 2), 3), "small": ((4, 5), 3), "large": ((256, 300), 200),
             "empty": ((0, 5), 3)}[size]
    D = int(np.prod(xs[1:]))
    return Sample((_rand(rng, xs, dtype), _rand(rng, (D, M), dtype, 0.3), _rand(rng, (M,), dtype)),
                  {}, size)


def _affine_errors():
    fwd, x, w, b = ops.affine_forward, np.ones((4, 5)), np.ones((5, 3)), np.ones(3)
    e = _dtype_errors(fwd, (x, w, b), {}, "x")
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
    e += _backward_errors("affine", fwd, ops.affine_backward, Sample((x, w, b)), (4, 4))
    return e


# ================================================================ normalisation

def _bn_samples(spatial, training):
    def gen(rng, dtype, size):
        if spatial:
            shape = {"tiny": (3, 2, 2, 2), "small": (3, 4, 5, 5), "large": (16, 8, 18, 18),
                     "empty": (0, 4, 3, 3)}[size]
        else:
            shape = {"tiny": (5, 3), "small": (6, 5), "large": (512, 80), "empty": (0, 5)}[size]
        C = shape[1]
        x = _rand(rng, shape, dtype, 2.0) + 0.5
        rm = rng.standard_normal(C).astype(dtype) * 0.1
        rv = rng.uniform(0.5, 2.0, C).astype(dtype)
        return Sample((x, _rand(rng, (C,), dtype) + 1, _rand(rng, (C,), dtype), rm, rv),
                      {"training": training, "momentum": 0.2, "eps": 1e-5}, size)
    return gen


def _bn_errors():
    fwd, x = ops.batchnorm_forward, np.random.default_rng(0).standard_normal((4, 3))
    g, b, rm, rv = np.ones(3), np.zeros(3), np.zeros(3), np.ones(3)
    ro = np.zeros(3)
    ro.flags.writeable = False
    e = _dtype_errors(fwd, (x, g, b, rm, rv), {}, "x")
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
    e += _scalar_errors(fwd, (x, g, b, rm, rv), {}, "momentum")
    e += _scalar_errors(fwd, (x, g, b, rm, rv), {}, "eps")
    e += _backward_errors("batchnorm", fwd, ops.batchnorm_backward, Sample((x, g, b, None, None)),
                          (3, 4))
    return e


def _ln_samples(rng, dtype, size):
    xs, gs = {"tiny": ((3, 4), (4,)), "small": ((2, 3, 4, 5), (4, 5)), "large": ((512, 96), (96,)),
              "empty": ((0, 6), (6,))}[size]
    return Sample((_rand(rng, xs, dtype, 2.0) + 1, _rand(rng, gs, dtype) + 1, _rand(rng, gs, dtype)),
                  {"eps": 1e-5}, size)


def _ln_errors():
    fwd, x, g, b = ops.layernorm_forward, np.ones((4, 3)), np.ones(3), np.zeros(3)
    e = _dtype_errors(fwd, (x, g, b), {}, "x")
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
    e += _scalar_errors(fwd, (x, g, b), {}, "eps")
    e += _backward_errors("layernorm", fwd, ops.layernorm_backward, Sample((x, g, b)), (3, 4))
    return e


def _gn_samples(rng, dtype, size):
    xs, G = {"tiny": ((2, 4, 3, 2), 2), "small": ((3, 6, 4, 4), 3), "large": ((8, 16, 18, 18), 4),
             "empty": ((0, 6, 2, 2), 3)}[size]
    C = xs[1]
    return Sample((_rand(rng, xs, dtype, 2.0) - 0.5, _rand(rng, (C,), dtype) + 1,
                   _rand(rng, (C,), dtype), G), {"eps": 1e-5}, size)


def _gn_errors():
    fwd, x, g, b = ops.groupnorm_forward, np.ones((2, 6, 2, 2)), np.ones(6), np.zeros(6)
    e = _dtype_errors(fwd, (x, g, b, 3), {}, "x")
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
    e += _scalar_errors(fwd, (x, g, b, 3), {}, "eps")
    e += _backward_errors("groupnorm", fwd, ops.groupnorm_backward, Sample((x, g, b, 3)),
                          (2, 6, 2, 3))
    return e


# ================================================================ dropout

def _dropout_samples(p, training=True):
    def gen(rng, dtype, size):
        x = _rand(rng, _ELEMENTWISE_SHAPES[size], dtype, 2.0)
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
    e += _scalar_errors(fn, args, kwargs, "p")
    e.append(ErrorInput(fn, args, {**kwargs, "training": "yes"}, TypeError,
                        "training must be True or False", "training str"))
    e.append(ErrorInput(fn, args, {**kwargs, "training": None}, TypeError,
                        "training must be True or False", "training None"))
    return e + _seed_errors(fn, args, kwargs)


def _dropout_errors():
    fwd, x = ops.dropout_forward, np.ones((3, 4))
    e = _dtype_errors(fwd, (x,), {"seed": 0}, "x")
    e += _p_errors(fwd, (x,), {"seed": 0})
    e += _backward_errors("dropout", fwd, ops.dropout_backward, Sample((x,), {"seed": 0}), (4, 3))
    return e


def _dc_samples(p, training=True):
    def gen(rng, dtype, size):
        s = _affine_samples(rng, dtype, size)
        return Sample(s.args, {"p": p, "training": training, "seed": 77}, size)
    return gen


def _dc_errors():
    fwd, x, w, b = ops.dropconnect_forward, np.ones((4, 5)), np.ones((5, 3)), np.ones(3)
    e = _dtype_errors(fwd, (x, w, b), {"seed": 0}, "x")
    e += [
        ErrorInput(fwd, (np.ones(5), w, b), {}, ValueError, "x must have shape", "x 1-d"),
        ErrorInput(fwd, (x, np.ones((6, 3)), b), {}, ValueError, r"w must have shape \(D, M\)",
                   "w wrong D"),
        ErrorInput(fwd, (x, w, np.ones(2)), {}, ValueError, r"b must have shape \(3,\)", "b wrong"),
        ErrorInput(fwd, (x, w.astype(np.float32), b), {}, TypeError,
                   "w has dtype float32 but x has dtype float64", "w float32"),
    ]
    e += _p_errors(fwd, (x, w, b), {"seed": 0})
    e += _backward_errors("dropconnect", fwd, ops.dropconnect_backward,
                          Sample((x, w, b), {"seed": 0}), (3, 4))
    return e


# ================================================================ losses

def _class_samples(rng, dtype, size, large):
    N, C = {"tiny": (4, 3), "small": (6, 5), "large": large, "empty": (0, 5)}[size]
    return _rand(rng, (N, C), dtype, 2.0), rng.integers(0, C, N)


def _softmax_samples(rng, dtype, size):
    s, y = _class_samples(rng, dtype, size, (1000, 40))
    return Sample((s, y), {}, size)


def _svm_samples(rng, dtype, size):
    s, y = _class_samples(rng, dtype, size, (1100, 128))
    return Sample((s, y), {"margin": 1.0}, size)


def _elementwise_loss_samples(large, prob_target):
    def gen(rng, dtype, size):
        shape = {"tiny": (3, 4), "small": (7, 13), "large": large, "empty": (0, 5)}[size]
        t = rng.uniform(0, 1, shape) if prob_target else rng.standard_normal(shape)
        return Sample((_rand(rng, shape, dtype, 2.0), t.astype(dtype)), {}, size)
    return gen


def _label_errors(fn, s, kwargs):
    return [
        ErrorInput(fn, (s, np.array([0, 1, 2.0, 0])), kwargs, TypeError,
                   "y must be an integer array of class labels, got dtype float64", "y float"),
        ErrorInput(fn, (s, np.array([True, False, True, False])), kwargs, TypeError,
                   "y must be an integer array of class labels", "y bool"),
        ErrorInput(fn, (s, np.array([0, 1, 2])), kwargs, ValueError, r"y must have shape \(4,\)",
                   "y too short"),
        ErrorInput(fn, (s, np.zeros((4, 1), int)), kwargs, ValueError, r"y must have shape \(4,\)",
                   "y 2-d"),
        ErrorInput(fn, (s, np.array([0, 1, 3, 0])), kwargs, ValueError,
                   r"label y\[2\] = 3 is out of range for C = 3 classes", "label = C"),
        ErrorInput(fn, (s, np.array([0, -1, 2, 0])), kwargs, ValueError,
                   r"label y\[1\] = -1 is out of range", "negative label"),
        ErrorInput(fn, (np.ones(4), np.zeros(4, int)), kwargs, ValueError,
                   r"scores must have shape \(N, C\)", "scores 1-d"),
        ErrorInput(fn, (np.ones((2, 2, 2)), np.zeros(2, int)), kwargs, ValueError,
                   r"scores must have shape \(N, C\)", "scores 3-d"),
    ] + _dtype_errors(fn, (s, np.zeros(4, int)), kwargs, "scores")


def _softmax_errors():
    return _label_errors(ops.softmax_loss, np.ones((4, 3)), {})


def _svm_errors():
    s = np.ones((4, 3))
    return (_label_errors(ops.svm_loss, s, {})
            + _scalar_errors(ops.svm_loss, (s, np.zeros(4, int)), {}, "margin"))


def _target_errors(fn, first, second):
    x = np.ones((3, 4))
    e = _dtype_errors(fn, (x, np.zeros((3, 4))), {}, first)
    e += [
        ErrorInput(fn, (x, np.zeros((3, 4), int)), {}, TypeError,
                   f"{second} must be a float array, got dtype int64", f"{second} int"),
        ErrorInput(fn, (x, np.zeros((4, 3))), {}, ValueError,
                   rf"{second} must have the input's shape \(3, 4\), got shape \(4, 3\)",
                   f"{second} wrong shape"),
        ErrorInput(fn, (x, np.zeros(4)), {}, ValueError, rf"{second} must have the input's shape",
                   f"{second} broadcastable"),
    ]
    return e


def _bce_errors():
    return _target_errors(ops.bce_with_logits_loss, "logits", "y")


def _mse_errors():
    e = _target_errors(ops.mse_loss, "pred", "target")
    x = np.ones((3, 4))
    e += [ErrorInput(ops.mse_loss, (x, x), {"reduction": v}, ValueError,
                     r"reduction must be 'mean' or 'sum'", f"reduction={v!r}")
          for v in ("none", "MEAN", None)]
    return e


# ================================================================ conv, im2col, col2im

def _conv_samples(rng, dtype, size):
    xs, ws, kw = {
        "tiny": ((2, 2, 4, 4), (3, 2, 2, 2), {"stride": 1, "pad": 1}),
        "small": ((2, 4, 7, 6), (6, 2, 3, 3), {"stride": 2, "pad": 1, "dilation": 1, "groups": 2}),
        "large": ((8, 8, 16, 16), (16, 8, 3, 3), {"stride": 1, "pad": 1}),
        "empty": ((0, 3, 5, 5), (4, 3, 3, 3), {"pad": 1}),
    }[size]
    return Sample((_rand(rng, xs, dtype), _rand(rng, ws, dtype, 0.3), _rand(rng, ws[:1], dtype)),
                  kw, size)


def _conv_errors():
    fwd, x, w, b = ops.conv_forward, np.ones((2, 3, 5, 5)), np.ones((4, 3, 3, 3)), np.zeros(4)
    e = _dtype_errors(fwd, (x, w, b), {}, "x")
    e += [
        ErrorInput(fwd, (np.ones((3, 5, 5)), w, b), {}, ValueError,
                   r"x must have shape \(N, C, H, W\)", "x 3-d"),
        ErrorInput(fwd, (x, np.ones((4, 3, 3)), b), {}, ValueError,
                   r"w must have shape \(F, C/groups, HH, WW\)", "w 3-d"),
        ErrorInput(fwd, (x, np.ones((4, 2, 3, 3)), b), {}, ValueError,
                   r"w has 2 input channels per filter, expected C/groups = 3/1 = 3",
                   "channel mismatch"),
        ErrorInput(fwd, (x, np.ones((4, 3, 7, 7)), b), {}, ValueError,
                   "filter 7x7 with pad 0 does not fit input 5x5", "filter too big"),
        ErrorInput(fwd, (x, w, b), {"dilation": 3}, ValueError,
                   r"filter 3x3 \(dilation 3: spans 7x7\) with pad 0 does not fit", "dilated too big"),
        ErrorInput(fwd, (x, w, np.zeros(3)), {}, ValueError, r"b must have shape \(F,\) = \(4,\)",
                   "b wrong"),
        ErrorInput(fwd, (x, w, b), {"stride": 0}, ValueError, "stride must be a positive integer",
                   "stride 0"),
        ErrorInput(fwd, (x, w, b), {"stride": 1.0}, TypeError, "stride must be an integer",
                   "stride float"),
        ErrorInput(fwd, (x, w, b), {"pad": -1}, ValueError, "pad must be a non-negative integer",
                   "pad -1"),
        ErrorInput(fwd, (x, w, b), {"pad": None}, TypeError, "pad must be an integer", "pad None"),
        ErrorInput(fwd, (x, w, b), {"dilation": 0}, ValueError, "dilation must be a positive",
                   "dilation 0"),
        ErrorInput(fwd, (x, w, b), {"groups": 2}, ValueError,
                   "groups=2 must divide the input channels C=3 and the filters F=4", "groups 2"),
        ErrorInput(fwd, (x, w, b), {"groups": 0}, ValueError, "groups must be a positive integer",
                   "groups 0"),
        ErrorInput(fwd, (x, np.ones((0, 3, 3, 3)), np.zeros(0)), {}, ValueError,
                   "w must have at least one filter", "F = 0"),
        ErrorInput(fwd, (x, np.ones((4, 3, 3, 3), np.float32), b), {}, TypeError,
                   "w has dtype float32 but x has dtype float64", "w float32"),
    ]
    e += _backward_errors("conv", fwd, ops.conv_backward, Sample((x, w, b)), (2, 4, 3, 2))
    return e


def _im2col_fwd(x, HH, WW, stride=1, pad=0, dilation=1):
    return ops.im2col(x, HH, WW, stride, pad, dilation), (np.shape(x), HH, WW, stride, pad, dilation)


def _im2col_bwd(dout, cache):
    shape, *geo = cache
    return ops.col2im(dout, shape, *geo)


def _ref_im2col_fwd(x, HH, WW, stride=1, pad=0, dilation=1):
    return ref.im2col(x, HH, WW, stride, pad, dilation), (x.shape, HH, WW, stride, pad, dilation)


def _ref_im2col_bwd(dout, cache):
    shape, *geo = cache
    return ref.col2im(dout, shape, *geo)


def _col2im_fwd(cols, x_shape, HH, WW, stride=1, pad=0, dilation=1):
    return ops.col2im(cols, x_shape, HH, WW, stride, pad, dilation), (HH, WW, stride, pad, dilation)


def _col2im_bwd(dout, cache):
    return ops.im2col(dout, *cache)


def _ref_col2im_fwd(cols, x_shape, HH, WW, stride=1, pad=0, dilation=1):
    return ref.col2im(cols, x_shape, HH, WW, stride, pad, dilation), (HH, WW, stride, pad, dilation)


def _ref_col2im_bwd(dout, cache):
    return ref.im2col(dout, *cache)


_IM2COL_GEOM = {
    "tiny": ((1, 2, 4, 4), 2, 2, {"stride": 1, "pad": 1}),
    "small": ((2, 3, 7, 6), 3, 2, {"stride": 2, "pad": 1, "dilation": 2}),
    "large": ((2, 16, 24, 24), 3, 3, {"stride": 1, "pad": 1}),
    "empty": ((0, 3, 5, 5), 3, 3, {}),
}


def _im2col_samples(rng, dtype, size):
    xs, HH, WW, kw = _IM2COL_GEOM[size]
    return Sample((_rand(rng, xs, dtype), HH, WW), kw, size)


def _col2im_samples(rng, dtype, size):
    xs, HH, WW, kw = _IM2COL_GEOM[size]
    cols_shape = ops.im2col(np.zeros(xs), HH, WW, **kw).shape
    return Sample((_rand(rng, cols_shape, dtype), xs, HH, WW), kw, size)


def _im2col_errors():
    fn, x = ops.im2col, np.ones((2, 3, 5, 5))
    e = _dtype_errors(fn, (x, 3, 3), {}, "x")
    e += [
        ErrorInput(fn, (np.ones((3, 5, 5)), 3, 3), {}, ValueError, r"x must have shape \(N, C, H, W\)",
                   "x 3-d"),
        ErrorInput(fn, (x, 0, 3), {}, ValueError, "HH must be a positive integer", "HH 0"),
        ErrorInput(fn, (x, 3, 2.5), {}, TypeError, "WW must be an integer", "WW float"),
        ErrorInput(fn, (x, 6, 3), {}, ValueError, "filter 6x3 with pad 0 does not fit input 5x5",
                   "filter too big"),
        ErrorInput(fn, (x, 3, 3), {"stride": -2}, ValueError, "stride must be a positive integer",
                   "stride<0"),
        ErrorInput(fn, (x, 3, 3), {"pad": -1}, ValueError, "pad must be a non-negative", "pad<0"),
    ]
    return e


def _col2im_errors():
    fn, cols = ops.col2im, np.ones((2, 27, 9))
    shape = (2, 3, 5, 5)
    e = _dtype_errors(fn, (cols, shape, 3, 3), {}, "cols")
    e += [
        ErrorInput(fn, (np.ones((2, 27, 8)), shape, 3, 3), {}, ValueError,
                   r"cols must have shape \(2, 27, 9\) for x_shape \(2, 3, 5, 5\)", "cols wrong"),
        ErrorInput(fn, (cols, shape, 3, 3), {"stride": 0}, ValueError, "stride must be a positive",
                   "stride 0"),
        ErrorInput(fn, (cols, shape, 7, 3), {}, ValueError, "does not fit input 5x5", "too big"),
        ErrorInput(fn, (cols, (2, 3, 5.0, 5), 3, 3), {}, TypeError, "", "x_shape float"),
    ]
    return e


# ================================================================ pooling

_POOL_SHAPES = {"tiny": (1, 2, 4, 4), "small": (2, 3, 7, 6), "large": (16, 16, 32, 32),
                "empty": (0, 3, 4, 4)}


def _pool_samples(rng, dtype, size):
    kw = {"pool_height": 3, "pool_width": 2, "stride": 2} if size == "small" else {}
    return Sample((_rand(rng, _POOL_SHAPES[size], dtype, 2.0),), kw, size)


def _pool_errors(name):
    fwd, bwd = getattr(ops, name + "_forward"), getattr(ops, name + "_backward")
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    e = _dtype_errors(fwd, (x,), {}, "x")
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
    e += _backward_errors(name, fwd, bwd, Sample((x,)), (2, 3, 3, 2))
    return e


def _gap_samples(rng, dtype, size):
    shape = {"tiny": (2, 2, 2, 3), "small": (2, 3, 4, 5), "large": (32, 64, 8, 8),
             "empty": (0, 3, 4, 4)}[size]
    return Sample((_rand(rng, shape, dtype, 2.0),), {}, size)


def _gap_errors():
    fwd, x = ops.global_avg_pool_forward, np.ones((2, 3, 4, 4))
    e = _dtype_errors(fwd, (x,), {}, "x")
    e.append(ErrorInput(fwd, (np.ones((2, 3, 4)),), {}, ValueError,
                        r"x must have shape \(N, C, H, W\)", "x 3-d"))
    e += _backward_errors("global_avg_pool", fwd, ops.global_avg_pool_backward, Sample((x,)), (3, 2))
    return e


# ================================================================ fused optimisers

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
        return Sample((_rand(rng, shape, dtype), _rand(rng, shape, dtype)), dict(hyper), size)

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
        e += _scalar_errors(make_step, ([(w, g)],), {}, "lr")
        e += _scalar_errors(make_step, ([(w, g)],), {}, "weight_decay")
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
            e += _scalar_errors(make_step, ([(w, g)],), {}, "momentum")
        if cls is optim.RMSProp:
            e += [ErrorInput(make_step, ([(w, g)],), {"decay_rate": 1.0}, ValueError,
                             r"decay_rate must be in \[0, 1\)", "decay_rate 1"),
                  ErrorInput(make_step, ([(w, g)],), {"eps": -1e-8}, ValueError,
                             "eps must be >= 0", "eps<0")]
            e += _scalar_errors(make_step, ([(w, g)],), {}, "eps")
        if cls is optim.Adam:
            e += [ErrorInput(make_step, ([(w, g)],), {"beta1": 1.0}, ValueError,
                             r"beta1 must be in \[0, 1\)", "beta1 1"),
                  ErrorInput(make_step, ([(w, g)],), {"beta2": -0.1}, ValueError,
                             r"beta2 must be in \[0, 1\)", "beta2<0"),
                  ErrorInput(make_step, ([(w, g)],), {"eps": -1.0}, ValueError,
                             "eps must be >= 0", "eps<0")]
            e += _scalar_errors(make_step, ([(w, g)],), {}, "beta2")
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


# ================================================================ data augmentation

def _augment_ops():
    """The functional augmentations of fastnn.data.augment: forward only (new array out)."""
    try:
        from fastnn.data import augment as A
        from fastnn.reference import augment as RA
    except ImportError:       # before the augmentation family existed
        return []

    shapes = {"tiny": (2, 3, 4, 4), "small": (3, 3, 7, 6), "large": (64, 3, 32, 32),
              "empty": (0, 3, 5, 5)}
    specs = [
        # name, kwargs, extra error inputs (args after X, kwargs, exc, regex)
        ("random_crop", {"padding": 2, "size": (5, 4)}, [
            ((), {"padding": -1}, ValueError, "padding must be a non-negative int"),
            ((), {"padding": 1.5}, TypeError, "padding must be a non-negative int"),
            ((), {"size": (20, 4)}, ValueError, r"crop 20x4 does not fit the padded image"),
            ((), {"size": (0, 4)}, ValueError, "size must be positive ints"),
            ((), {"size": "big"}, TypeError, "size must be None, an int or a pair"),
        ]),
        ("random_resized_crop", {"scale": (0.2, 1.0), "size": (6, 5)}, [
            ((), {"scale": (0.0, 1.0)}, ValueError, "scale must be positive"),
            ((), {"scale": (0.5, 1.5)}, ValueError, r"scale must lie in \(0, 1\]"),
            ((), {"scale": (0.9, 0.1)}, ValueError, "scale must have low <= high"),
            ((), {"ratio": (2.0, 0.5)}, ValueError, "ratio must have low <= high"),
            ((), {"ratio": 1.0}, TypeError, r"ratio must be a pair \(low, high\)"),
            ((), {"scale": (0.5, float("nan"))}, ValueError, "scale must be a finite number"),
        ]),
        ("hflip", {"p": 0.5}, [
            ((), {"p": 1.5}, ValueError, r"p must be in \[0, 1\]"),
            ((), {"p": -0.1}, ValueError, r"p must be in \[0, 1\]"),
            ((), {"p": float("nan")}, ValueError, "p must be a finite number"),
            ((), {"p": "half"}, TypeError, "p must be a real number"),
        ]),
        ("color_jitter", {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4}, [
            ((), {"brightness": -0.1}, ValueError, "brightness must be >= 0"),
            ((), {"contrast": float("inf")}, ValueError, "contrast must be a finite number"),
            ((), {"saturation": None}, TypeError, "saturation must be a real number"),
            ((), {"clip": (1.0, 0.0)}, ValueError, "clip must have low <= high"),
            ((), {"clip": 1.0}, TypeError, "clip must be a pair"),
        ]),
        ("cutout", {"size": 3}, [
            ((), {"size": -2}, ValueError, "size must be a non-negative int"),
            ((), {"size": 2.5}, TypeError, "size must be a non-negative int"),
        ]),
        ("mixup", {"alpha": 0.4}, [
            ((None,), {}, ValueError, "y is required"),
            ((np.zeros(2, int),), {}, ValueError, r"y must have one label per sample \(4\)"),
            ((A.MixedLabels(np.zeros(4), np.zeros(4), 0.5),), {}, ValueError,
             "y is already a MixedLabels"),
            ((np.zeros(4, int),), {"alpha": 0.0}, ValueError, "alpha must be > 0"),
            ((np.zeros(4, int),), {"alpha": -1.0}, ValueError, "alpha must be > 0"),
        ]),
    ]
    result = []
    for name, kwargs, extra in specs:
        fn, rfn = getattr(A, name), getattr(RA, name)
        mix = name == "mixup"

        def forward(X, *args, _fn=fn, _mix=mix, **kw):
            out = _fn(X, *args, **kw)
            return (out[0] if _mix else out), None

        def ref_forward(X, *args, _fn=rfn, _mix=mix, **kw):
            out = _fn(X, *args, **kw)
            return (out[0] if _mix else out), None

        def gen(rng, dtype, size, _kw=kwargs, _mix=mix):
            X = rng.uniform(0, 1, shapes[size]).astype(dtype)
            args = (X, rng.integers(0, 10, X.shape[0])) if _mix else (X,)
            return Sample(args, {**_kw, "seed": 42}, size)

        def errors(_fn=fn, _name=name, _extra=extra, _mix=mix):
            X = np.random.default_rng(0).uniform(0, 1, (4, 3, 5, 5))
            lead = (np.zeros(4, int),) if _mix else ()
            e = _dtype_errors(_fn, (X,) + lead, {"seed": 0}, "X")
            e.append(ErrorInput(_fn, (np.ones((3, 5, 5)),) + lead, {}, ValueError,
                                rf"{_name}: X must be a 4-d \(N, C, H, W\) batch", "X 3-d"))
            e += [ErrorInput(_fn, (X,) + lead, {"seed": v}, exc, rf"{_name}: seed must be", f"seed={v!r}")
                  for v, exc in ((-1, ValueError), (1.5, TypeError), (True, TypeError),
                                 ("7", TypeError))]
            for args, kw, exc, pat in _extra:
                e.append(ErrorInput(_fn, (X,) + (args if args else lead), {"seed": 0, **kw}, exc,
                                    rf"{_name}: {pat}", f"{kw or args}"))
            if _name == "color_jitter":
                e.append(ErrorInput(_fn, (np.ones((2, 2, 4, 4)),), {"saturation": 0.5}, ValueError,
                                    "saturation needs 1 or 3 channels", "saturation with C=2"))
            return e

        result.append(OpInfo(name=name, forward=forward, backward=None, ref_forward=ref_forward,
                             ref_backward=None, sample_inputs=gen, error_inputs=errors,
                             grad_args=(), tol=TOL_REDUCE, gradcheck=False))
    return result


# ================================================================ the registry

def _loss(name, samples, errors, float_args=(0,)):
    f = getattr(ops, name)
    return OpInfo(name=name, forward=f, backward=None, ref_forward=getattr(ref, name),
                  ref_backward=None, sample_inputs=samples, error_inputs=errors, kind="loss",
                  float_args=float_args, tol=TOL_REDUCE)


def _layer(name, samples, errors, **kw):
    return OpInfo(name=name, forward=getattr(ops, name + "_forward"),
                  backward=getattr(ops, name + "_backward"),
                  ref_forward=getattr(ref, name + "_forward"),
                  ref_backward=getattr(ref, name + "_backward"),
                  sample_inputs=samples, error_inputs=errors, **kw)


def _build():
    reg = [_elementwise_op(*spec) for spec in _ELEMENTWISE]
    reg += [
        _layer("prelu", _prelu_samples, _prelu_errors, grad_args=(0, 1), float_args=(0, 1),
               supports_out=True, tol=TOL_REDUCE),
        _layer("maxout", _maxout_samples, _maxout_errors, grad_args=(0, 1, 2),
               float_args=(0, 1, 2), tol=TOL_REDUCE),
        _layer("affine", _affine_samples, _affine_errors, grad_args=(0, 1, 2),
               float_args=(0, 1, 2), tol=TOL_REDUCE),
        dataclasses.replace(
            _layer("batchnorm", _bn_samples(False, True), _bn_errors, grad_args=(0, 1, 2),
                   float_args=(0, 1, 2), tol=TOL_REDUCE), name="batchnorm_train"),
        dataclasses.replace(
            _layer("batchnorm", _bn_samples(True, True), _bn_errors, grad_args=(0, 1, 2),
                   float_args=(0, 1, 2), tol=TOL_REDUCE), name="spatial_batchnorm_train"),
        dataclasses.replace(
            _layer("batchnorm", _bn_samples(False, False), lambda: [], grad_args=(0, 1, 2),
                   float_args=(0, 1, 2), tol=TOL_REDUCE), name="batchnorm_eval"),
        dataclasses.replace(
            _layer("batchnorm", _bn_samples(True, False), lambda: [], grad_args=(0, 1, 2),
                   float_args=(0, 1, 2), tol=TOL_REDUCE), name="spatial_batchnorm_eval"),
        _layer("layernorm", _ln_samples, _ln_errors, grad_args=(0, 1, 2), float_args=(0, 1, 2),
               tol=TOL_REDUCE),
        _layer("groupnorm", _gn_samples, _gn_errors, grad_args=(0, 1, 2), float_args=(0, 1, 2),
               tol=TOL_REDUCE),
        _layer("dropout", _dropout_samples(0.3), _dropout_errors),
        dataclasses.replace(_layer("dropout", _dropout_samples(0.5, False), lambda: []),
                            name="dropout_eval"),
        _layer("dropconnect", _dc_samples(0.4), _dc_errors, grad_args=(0, 1, 2),
               float_args=(0, 1, 2), tol=TOL_REDUCE),
        _loss("softmax_loss", _softmax_samples, _softmax_errors),
        # documented: a NaN margin gives a NaN gradient for that score and the row's correct
        # class; the reference (and PyTorch's multi_margin_loss) give 0 there: only the loss
        # is compared under NaN/inf
        dataclasses.replace(_loss("svm_loss", _svm_samples, _svm_errors), nan_results=(0,)),
        _loss("bce_with_logits_loss", _elementwise_loss_samples((200, 210), True), _bce_errors,
              float_args=(0, 1)),
        _loss("mse_loss", _elementwise_loss_samples((400, 350), False), _mse_errors,
              float_args=(0, 1)),
        OpInfo(name="conv", forward=ops.conv_forward, backward=ops.conv_backward,
               ref_forward=ref.conv_forward_im2col, ref_backward=ref.conv_backward_im2col,
               sample_inputs=_conv_samples, error_inputs=_conv_errors, grad_args=(0, 1, 2),
               float_args=(0, 1, 2), tol=TOL_REDUCE),
        OpInfo(name="im2col", forward=_im2col_fwd, backward=_im2col_bwd,
               ref_forward=_ref_im2col_fwd, ref_backward=_ref_im2col_bwd,
               sample_inputs=_im2col_samples, error_inputs=_im2col_errors, tol=TOL_REDUCE),
        OpInfo(name="col2im", forward=_col2im_fwd, backward=_col2im_bwd,
               ref_forward=_ref_col2im_fwd, ref_backward=_ref_col2im_bwd,
               sample_inputs=_col2im_samples, error_inputs=_col2im_errors, tol=TOL_REDUCE),
        _layer("max_pool", _pool_samples, lambda: _pool_errors("max_pool")),
        _layer("avg_pool", _pool_samples, lambda: _pool_errors("avg_pool"), tol=TOL_REDUCE),
        _layer("global_avg_pool", _gap_samples, _gap_errors, tol=TOL_REDUCE),
    ]
    reg += _optim_ops()
    reg += _augment_ops()
    return reg


OPS = _build()
BY_NAME = {op.name: op for op in OPS}
assert len(BY_NAME) == len(OPS), "duplicate op names in the registry"


def all_error_inputs():
    """(op name, ErrorInput) for every op."""
    return [(op.name, e) for op in OPS for e in op.error_inputs()]


def check_error_input(e):
    """Call e.fn and check it raises e.exc with a message matching e.match; returns the exception."""
    try:
        e.fn(*e.args, **e.kwargs)
    except e.exc as exc:
        if not re.search(e.match, str(exc)):
            raise AssertionError(f"{e!r}: message {str(exc)!r} does not match {e.match!r}") from exc
        return exc
    raise AssertionError(f"{e!r}: no {e.exc.__name__} raised")


def public_ops():
    """Names of every ``*_forward`` and loss in fastnn.ops (the registry must cover them)."""
    names = {n[:-len("_forward")] for n in ops.__all__ if n.endswith("_forward")}
    names |= {n for n in ops.__all__ if n.endswith("_loss")}
    names |= {"im2col", "col2im"}
    try:
        from fastnn.data import augment
        names |= {n for n in augment.__all__ if n.islower() and callable(getattr(augment, n))
                  and n not in ("apply", "from_spec") and not n.startswith("draw_")}
    except ImportError:
        pass
    return names


if __name__ == "__main__":
    errs = all_error_inputs()
    print(f"ops in the registry: {len(OPS)}")
    print(f"error inputs: {len(errs)}")
