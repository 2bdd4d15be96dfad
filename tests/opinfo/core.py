"""OpInfo machinery: the data types and generic helpers the op definitions are built from.

An :class:`OpInfo` holds one op's fastnn forward/backward pair, its NumPy reference twin, a
sample-input generator (sizes on both sides of the op's threading threshold), tolerances,
flags, and ``error_inputs``: the bad calls the op must refuse, each with the exception type
and a message pattern.  The definitions of every op live in :mod:`opinfo.definitions`, one
module per family; the generic tests that run on them are ``tests/ops/test_opinfo.py``.

Every op is driven the same way: ``forward(*args, **kwargs) -> (out, cache)`` and
``backward(dout, cache) -> grad or tuple of grads`` (the gradients of the arguments listed in
``grad_args``, in that order).  Ops with another calling convention get a thin adapter in
their definition module (the losses return ``(loss, dscores)``; im2col/col2im are each other's
adjoint; an optimiser "forward" is three in-place steps of the fused optimiser against three
calls of the NumPy rule).
"""
import dataclasses
import re
from typing import Callable, Optional

import numpy as np

from fastnn import ops
from fastnn import reference as ref
from fastnn.ops import Cache

FLOATS = (np.float32, np.float64)

# ----------------------------------------------------------------- tolerances
# float32 results are compared with the reference run in float64 on the same values.
# Elementwise ops, measured worst cases over 255k values in [-100, 100] on every SIMD target
# (tests/ops/test_math.py has the per-function ulp bounds):
#   forward  : within rtol 1e-5 everywhere (absolute slack only for subnormals)
#   backward : within rtol 1e-5 + 2e-6 absolute, checked at 1e-5 absolute (tanh/sigmoid
#              backward use the float32 output y, and 1 - y^2 loses bits near saturation,
#              exactly as in PyTorch)
# float64 uses the C library: agreement to a few ulp.
TOL_ELEMENTWISE = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}
TOL_ELEMENTWISE_BWD = {np.float32: dict(rtol=1e-5, atol=1e-5),
                       np.float64: dict(rtol=1e-12, atol=1e-13)}
# reductions / GEMMs: sums of tens to hundreds of terms, different summation order
TOL_REDUCE = {np.float32: dict(rtol=2e-4, atol=2e-4), np.float64: dict(rtol=1e-9, atol=1e-10)}
TOL_OPTIM = {np.float32: dict(rtol=1e-4, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}
# the elementwise families: shapes of the gradient check, small, large (above the threading
# thresholds, with a tail after the SIMD vectors) and empty samples
ELEMENTWISE_SHAPES = {"tiny": (3, 4), "small": (7, 13), "large": (200, 211), "empty": (0, 5)}
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
    """The values of a in a non-contiguous view (every other element of every axis)."""
    if a.ndim == 0:
        return a.copy()
    big = np.zeros(tuple(2 * n + 1 for n in a.shape), a.dtype)
    v = big[(slice(1, None, 2),) * a.ndim]
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
    tol: dict = dataclasses.field(default_factory=lambda: TOL_ELEMENTWISE)   # dtype -> tolerance
    bwd_tol: Optional[dict] = None         # tolerance of the gradients (None: tol)
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
    torch_forward: Optional[Callable] = None   # (torch, tensor x, kwargs) -> tensor
    torch_compared: Optional[Callable] = None  # (x, dtype) -> (forward mask, gradient mask):
    #                                        the points compared with PyTorch (None: all)
    op_kwargs: dict = dataclasses.field(default_factory=dict)   # keyword configuration of
    #                                        this entry (entries of one function differ in it)

    def result_tol(self, dtype, i):
        """Tolerance of result ``i`` of :func:`run` (0: the output or loss, then gradients)."""
        if i > 0 and self.bwd_tol is not None:
            return self.bwd_tol[dtype]
        return self.tol[dtype]

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


def rand(rng, shape, dtype, scale=1.0):
    """Standard normal values times scale, in dtype."""
    return (rng.standard_normal(shape) * scale).astype(dtype)


# ================================================================ generic error inputs

def backward_errors(op_name, fwd, bwd, sample, out_shape_bad):
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
                   rf"{op_name}_backward: dout has shape {re.escape(str(tuple(out_shape_bad)))}, "
                   rf"expected {re.escape(str(out.shape))}", "dout wrong shape"),
        ErrorInput(bwd, (np.ones(out.shape, np.int64), cache), {}, TypeError,
                   rf"{op_name}_backward: dout must be a float array", "integer dout"),
    ]
    return errs


def dtype_errors(fn, args, kwargs, argname, index=0):
    """x of a non-float dtype: int, bool, float16, complex, object, str."""
    shape = args[index].shape
    errs = []
    for desc, arr in [("int64", np.zeros(shape, np.int64)), ("bool", np.zeros(shape, bool)),
                      ("float16", np.zeros(shape, np.float16)),
                      ("complex", np.zeros(shape, np.complex128)),
                      ("object", np.zeros(shape, object)), ("str", np.full(shape, "a"))]:
        a = list(args)
        a[index] = arr
        errs.append(ErrorInput(fn, tuple(a), dict(kwargs), TypeError,
                               rf"{argname} must be a float32 or float64 array, got dtype",
                               f"{argname} {desc}"))
    return errs


def scalar_errors(fn, args, kwargs, name, nonfinite=True, wrong_type=True, extra=()):
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


def out_errors(fn, x, kwargs, name):
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


def check_error_input(e):
    """Call e.fn and check it raises e.exc with a message matching e.match; returns the exception."""
    try:
        e.fn(*e.args, **e.kwargs)
    except e.exc as exc:
        if not re.search(e.match, str(exc)):
            raise AssertionError(f"{e!r}: message {str(exc)!r} does not match {e.match!r}") from exc
        return exc
    raise AssertionError(f"{e!r}: no {e.exc.__name__} raised")


# ================================================================ entry constructors

def layer_op(name, samples, errors, **kw):
    """The OpInfo of ``ops.<name>_forward`` / ``_backward`` and their reference twins."""
    return OpInfo(name=name, forward=getattr(ops, name + "_forward"),
                  backward=getattr(ops, name + "_backward"),
                  ref_forward=getattr(ref, name + "_forward"),
                  ref_backward=getattr(ref, name + "_backward"),
                  sample_inputs=samples, error_inputs=errors, **kw)


def loss_op(name, samples, errors, float_args=(0,), **kw):
    """The OpInfo of the loss ``ops.<name>`` (``(loss, dscores)``) and its reference twin."""
    f = getattr(ops, name)
    return OpInfo(name=name, forward=f, backward=None, ref_forward=getattr(ref, name),
                  ref_backward=None, sample_inputs=samples, error_inputs=errors, kind="loss",
                  float_args=float_args, tol=TOL_REDUCE, **kw)
