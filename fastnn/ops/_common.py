"""What every op family of :mod:`fastnn.ops` shares: the Cache and the argument checks.

Kernels trust their inputs; every check happens here, with messages that name
the function, the argument and what was expected.
"""
import ctypes
import math
import numbers
import os

import numpy as np

from fastnn._config import MAX_THREADS
from fastnn._kernels import _buffers, _runtime

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class Cache:
    """What a forward pass saves for its backward pass.

    ``cache.op`` names the forward function's op; the other attributes are
    the saved arrays and parameters (e.g. ``cache.x``, ``cache.out``).
    """

    def __init__(self, op, **saved):
        self.op = op
        self.__dict__.update(saved)

    def __repr__(self):
        fields = ", ".join(
            f"{k}=<{v.dtype} array {v.shape}>" if isinstance(v, np.ndarray) else f"{k}={v!r}"
            for k, v in self.__dict__.items() if k != "op")
        return f"Cache(op={self.op!r}, {fields})"


# ---------------------------------------------------------------- validation

def c_aligned(a):
    """a itself when it is C-contiguous and aligned, else an aligned C-ordered copy: the kernels
    read whole elements, and a misaligned float load is undefined behaviour in C (UBSan)."""
    if a.flags.c_contiguous and a.flags.aligned:
        return a
    return np.array(a, order="C")


def float_array(x, name, fn):
    """x as a C-contiguous, aligned float32/float64 ndarray (copied only when needed)."""
    a = np.asarray(x)
    if a.dtype not in _FLOATS:
        raise TypeError(f"{fn}: {name} must be a float32 or float64 array, "
                        f"got dtype {a.dtype}")
    return c_aligned(a)


def param_array(p, name, dtype, fn):
    """A parameter array (alpha, w, b) in the input's dtype.

    Array-likes (lists, scalars) are converted; an ndarray of another float
    dtype is refused rather than silently copied.
    """
    if isinstance(p, np.ndarray):
        if p.dtype not in _FLOATS:
            raise TypeError(f"{fn}: {name} must be a float32 or float64 array, got dtype {p.dtype}")
        if p.dtype != dtype:
            raise TypeError(f"{fn}: {name} has dtype {p.dtype} but x has dtype {dtype}; "
                            f"convert one of them (e.g. {name}.astype(np.{dtype}))")
        return c_aligned(p)
    a = np.asarray(p)
    if a.dtype.kind not in "fiu" or a.dtype.kind == "b":
        raise TypeError(f"{fn}: {name} must be real numbers, got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=dtype)


def real_number(v, name, fn, finite=True, nonzero=False):
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{fn}: {name} must be a real number, got {v!r}")
    v = float(v)
    if math.isnan(v) or (finite and math.isinf(v)):
        raise ValueError(f"{fn}: {name} must be a finite number, got {v}")
    if nonzero and v == 0.0:
        raise ValueError(f"{fn}: {name} must be non-zero, got {v}")
    return v


def probability(p, fn, meaning=""):
    """``p`` as a float in [0, 1]; ``meaning`` follows its name in the error message."""
    p = real_number(p, "p", fn)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{fn}: p{meaning} must be in [0, 1], got {p}")
    return p


def output_for(x, out, fn, inplace_ok):
    """Allocate the output, or check a user's `out` against the input x."""
    if out is None:
        return _buffers.empty_like(x)
    if type(out) is not np.ndarray:
        what = (f"the ndarray subclass {type(out).__module__}.{type(out).__name__}"
                if isinstance(out, np.ndarray) else type(out).__name__)
        raise TypeError(f"{fn}: out must be a numpy.ndarray (not a subclass), got {what} "
                        "(np.asarray(out) is a plain view of the same memory)")
    if out.dtype != x.dtype:
        raise TypeError(f"{fn}: out must have dtype {x.dtype} (the input's), got {out.dtype}")
    if out.shape != x.shape:
        raise ValueError(f"{fn}: out must have shape {x.shape} (the input's), got {out.shape}")
    if not (out.flags.c_contiguous and out.flags.aligned):
        raise ValueError(f"{fn}: out must be C-contiguous and aligned")
    if not out.flags.writeable:
        raise ValueError(f"{fn}: out is read-only")
    if np.may_share_memory(out, x):
        same = (out.__array_interface__["data"][0] == x.__array_interface__["data"][0]
                and out.strides == x.strides)
        if not same:
            raise ValueError(f"{fn}: out partially overlaps x; pass a separate array or out=x")
        if not inplace_ok:
            raise ValueError(f"{fn}: out=x (in-place) is not supported because the backward "
                             "pass needs the unmodified input; pass a separate out array")
    return out


def cache_for(cache, op, fn):
    if not isinstance(cache, Cache):
        raise TypeError(f"{fn}: cache must be the cache returned by {op}_forward, "
                        f"got {type(cache).__name__}")
    if cache.op != op:
        raise ValueError(f"{fn}: cache comes from {cache.op}_forward, "
                         f"expected a cache from {op}_forward")
    return cache


# ---------------------------------------------------------------- cache checks
#
# A backward pass trusts its cache for every size the kernel loops over and every index it
# writes through; a cache edited between forward and backward (a truncated mask, statistics of
# another batch, a changed group count) must raise, not make the kernel read or write out of
# bounds.  These checks look at shapes, dtypes and flags only (O(1)), except for arrays of
# indices the kernel addresses memory with, whose values are range-checked (one pass).

def _tampered(c, name, fn, expected, got):
    raise ValueError(f"{fn}: cache.{name} must be {expected}, got {got} (pass the cache "
                     f"{c.op}_forward returned, unmodified)")


def cache_field(c, name, fn):
    """``c.<name>``; a ValueError naming the function and the field when it is missing."""
    try:
        return getattr(c, name)
    except AttributeError:
        _tampered(c, name, fn, "present", "no such field")


def _describe(a):
    if type(a) is not np.ndarray:
        return type(a).__name__
    flags = "" if a.flags.c_contiguous and a.flags.aligned else ", not C-contiguous and aligned"
    return f"a {a.dtype} array of shape {a.shape}{flags}"


def cache_array(c, name, fn, shape=None, dtype=None, ndim=None, floating=False):
    """``c.<name>`` checked to be a plain, C-contiguous, aligned ndarray of the given ``shape``
    (a tuple; None: any), ``dtype`` (None: any; ``floating``: float32 or float64) and
    ``ndim``."""
    a = cache_field(c, name, fn)
    ok = (type(a) is np.ndarray and a.flags.c_contiguous and a.flags.aligned
          and (shape is None or a.shape == tuple(shape))
          and (ndim is None or a.ndim == ndim)
          and (dtype is None or a.dtype == np.dtype(dtype))
          and (not floating or a.dtype in _FLOATS))
    if not ok:
        want = "a C-contiguous"
        want += (" float32/float64" if floating else f" {np.dtype(dtype)}" if dtype is not None
                 else "")
        want += " array"
        if shape is not None:
            want += f" of shape {tuple(shape)}"
        elif ndim is not None:
            want += f" of {ndim} dimensions"
        _tampered(c, name, fn, want, _describe(a))
    return a


def cache_int(c, name, fn, lo, hi=None):
    """``c.<name>`` checked to be an integer in ``lo .. hi``."""
    v = cache_field(c, name, fn)
    if (isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral)
            or v < lo or (hi is not None and v > hi)):
        _tampered(c, name, fn, f"an integer in {lo}..{'' if hi is None else hi}", repr(v))
    return int(v)


def cache_bool(c, name, fn):
    v = cache_field(c, name, fn)
    if not isinstance(v, (bool, np.bool_)):
        _tampered(c, name, fn, "True or False", repr(v))
    return bool(v)


def cache_real(c, name, fn):
    v = cache_field(c, name, fn)
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        _tampered(c, name, fn, "a real number", repr(v))
    return float(v)


def cache_shape(c, name, fn, ndim=None):
    """``c.<name>`` checked to be a tuple of non-negative ints (of length ``ndim``)."""
    v = cache_field(c, name, fn)
    if (not isinstance(v, tuple) or (ndim is not None and len(v) != ndim)
            or not all(isinstance(d, numbers.Integral) and not isinstance(d, (bool, np.bool_))
                       and d >= 0 for d in v)):
        _tampered(c, name, fn, "a shape tuple" + (f" of {ndim} sizes" if ndim else ""),
                  repr(v)[:200])
    return tuple(int(d) for d in v)


def cache_dtype(c, name, fn):
    """``c.<name>`` checked to be float32 or float64."""
    v = cache_field(c, name, fn)
    try:
        dt = np.dtype(v)
    except TypeError:
        dt = None
    if dt not in _FLOATS:
        _tampered(c, name, fn, "float32 or float64", repr(v))
    return dt


def cache_indices(c, name, fn, a, bound):
    """Check that every value of the integer array ``a`` (``c.<name>``) is in ``0 .. bound-1``:
    the kernel addresses memory with them."""
    if a.size:
        # one pass: viewed as unsigned, a negative value is huge, so max() finds it
        top = int(a.view(a.dtype.str.replace("i", "u")).max())
        if top >= bound:
            _tampered(c, name, fn, f"indices in 0..{bound - 1}",
                      f"{int(a.min()) if int(a.min()) < 0 else top}")


def check_dout(dout, shape, dtype, fn):
    """dout as a C-contiguous, aligned array of the forward output's shape, in the forward
    dtype."""
    g = np.asarray(dout)
    if g.dtype.kind != "f":
        raise TypeError(f"{fn}: dout must be a float array, got dtype {g.dtype}")
    if g.shape != shape:
        raise ValueError(f"{fn}: dout has shape {g.shape}, expected {shape} "
                         "(the forward output's)")
    return c_aligned(g.astype(dtype, copy=False))


def num_threads():
    """Threads for a kernel call: OpenMP's setting for the calling thread, capped at
    :data:`fastnn._config.MAX_THREADS` (a threadpoolctl limit can set any count)."""
    return min(_runtime.get_max_threads(), MAX_THREADS)


# ---------------------------------------------------------------- GEMM inside OpenMP loops

#: Environment variable choosing the GEMM of the kernels' OpenMP loops: "fastnn" (the
#: default, fnn_gemm.h) or "scipy" (SciPy's single-threaded BLAS sgemm/dgemm).
GEMM_ENV = "FASTNN_GEMM"
GEMM_BACKENDS = ("fastnn", "scipy")


class _Gemm:
    """The GEMM that kernels run inside their OpenMP loops, one call per block of C.

    ``addr`` maps a dtype to what the kernels' ``gemm`` argument takes: 0 for fastnn's own
    GEMM (the default: packed panels and a register-blocked microkernel per SIMD target,
    fnn_gemm.h, whatever OpenBLAS's settings), or the address of SciPy's Cython-exported
    sgemm/dgemm when ``FASTNN_GEMM=scipy`` (kept to compare the two; SciPy must be
    installed).  ``addr`` is never None.
    """

    def __init__(self, backend="fastnn"):
        self.backend = backend
        self._controllers = []
        if backend == "fastnn":
            self.addr = {np.dtype(np.float32): 0, np.dtype(np.float64): 0}
            return
        self.addr = scipy_blas_gemm()
        from threadpoolctl import ThreadpoolController
        blas = ThreadpoolController().select(user_api="blas").lib_controllers
        # the BLAS library SciPy ships (whose gemm we call); all of them if it is not found
        mine = [c for c in blas if "scipy.libs" in c.filepath or "/scipy/" in c.filepath]
        self._controllers = mine or blas

    def one_thread(self):
        """Context for a kernel call: nothing to do for fastnn's GEMM (it never starts
        threads).  With ``FASTNN_GEMM=scipy``, SciPy's BLAS is set to one thread (each OpenMP
        thread runs its own GEMMs; a threaded BLAS inside them would oversubscribe the
        cores) and LEFT there, not restored: setting it back after every call wakes an
        OpenBLAS worker that then spins beside fastnn's threads.  NumPy's BLAS (a separate
        library) is never touched."""
        return _OneThread(self._controllers)


class _OneThread:
    def __init__(self, controllers):
        self.controllers = controllers

    def __enter__(self):
        for c in self.controllers:
            if c.get_num_threads() != 1:
                c.set_num_threads(1)

    def __exit__(self, *exc):
        return False


def scipy_blas_gemm():
    """{dtype: address} of SciPy's Cython-exported sgemm/dgemm (scipy.linalg.cython_blas),
    which the kernels' ``gemm`` argument accepts; ImportError without SciPy."""
    from scipy.linalg import cython_blas
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_ptr = ctypes.pythonapi.PyCapsule_GetPointer
    get_ptr.restype, get_ptr.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    caps = cython_blas.__pyx_capi__
    return {np.dtype(np.float32): get_ptr(caps["sgemm"], get_name(caps["sgemm"])),
            np.dtype(np.float64): get_ptr(caps["dgemm"], get_name(caps["dgemm"]))}


_GEMM = None


def gemm_backend():
    """The process-wide :class:`_Gemm`, chosen by ``FASTNN_GEMM`` on first use."""
    global _GEMM
    if _GEMM is None:
        name = os.environ.get(GEMM_ENV, "").strip().lower() or "fastnn"
        if name not in GEMM_BACKENDS:
            raise ValueError(f"{GEMM_ENV}={name!r}: expected one of {list(GEMM_BACKENDS)}")
        _GEMM = _Gemm(name)
    return _GEMM
