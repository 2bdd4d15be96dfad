"""What every op family of :mod:`fastnn.ops` shares: the Cache and the argument checks.

Kernels trust their inputs; every check happens here, with messages that name
the function, the argument and what was expected.
"""
import ctypes
import math
import numbers

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


def output_for(x, out, fn, inplace_ok):
    """Allocate the output, or check a user's `out` against the input x."""
    if out is None:
        return _buffers.empty_like(x)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{fn}: out must be a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != x.dtype:
        raise TypeError(f"{fn}: out must have dtype {x.dtype} (the input's), got {out.dtype}")
    if out.shape != x.shape:
        raise ValueError(f"{fn}: out must have shape {x.shape} (the input's), got {out.shape}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{fn}: out must be C-contiguous")
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


# ---------------------------------------------------------------- BLAS inside OpenMP loops

class _ScipyGemm:
    """Addresses of SciPy's Cython-exported sgemm/dgemm, and a way to keep that BLAS on one thread.

    Looked up once, on first use.  ``None`` addresses when SciPy is missing.
    """

    def __init__(self):
        self.addr = None
        self._controllers = []
        try:
            from scipy.linalg import cython_blas
        except ImportError:
            return
        get_name = ctypes.pythonapi.PyCapsule_GetName
        get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
        get_ptr = ctypes.pythonapi.PyCapsule_GetPointer
        get_ptr.restype, get_ptr.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
        caps = cython_blas.__pyx_capi__
        self.addr = {np.dtype(np.float32): get_ptr(caps["sgemm"], get_name(caps["sgemm"])),
                     np.dtype(np.float64): get_ptr(caps["dgemm"], get_name(caps["dgemm"]))}
        from threadpoolctl import ThreadpoolController
        blas = ThreadpoolController().select(user_api="blas").lib_controllers
        # the BLAS library SciPy ships (whose gemm we call); all of them if it is not found
        mine = [c for c in blas if "scipy.libs" in c.filepath or "/scipy/" in c.filepath]
        self._controllers = mine or blas

    def one_thread(self):
        """Context: the BLAS we call on 1 thread (each OpenMP thread runs its own GEMMs).

        SciPy's BLAS is set to one thread and LEFT there, not restored: setting
        it back to n threads after every call wakes an OpenBLAS worker that then
        spins beside fastnn's threads (measured, MLP 64-128-10 training step:
        233 us restoring, 137 us leaving it at 1).  NumPy's BLAS (a separate
        library) is never touched.  Raise SciPy's again with threadpoolctl if
        you need it; fastnn then lowers it on its next GEMM.  ~1 us per call.
        """
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


_GEMM = None


def scipy_gemm():
    """The process-wide :class:`_ScipyGemm` (looked up on first use)."""
    global _GEMM
    if _GEMM is None:
        _GEMM = _ScipyGemm()
    return _GEMM
