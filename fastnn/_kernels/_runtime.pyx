# cython: language_level=3
"""Runtime facts that do not depend on the SIMD target: OpenMP, threads, CPU features, and
the table of parallel thresholds every kernel module reads.

Compiled once, for the baseline target, so it is always safe to import.
"""
from fastnn._kernels.common cimport (
    FNN_HAVE_OPENMP, omp_get_max_threads, omp_set_num_threads,
    fnn_cpu_has_avx2, fnn_cpu_has_avx512,
)


def openmp_enabled():
    """True when the extensions were compiled with OpenMP."""
    return bool(FNN_HAVE_OPENMP)


# fastnn.set_num_threads(n) holds for the whole process, as torch.set_num_threads does.
# OpenMP's own setting (omp_set_num_threads) belongs to the calling thread alone: a thread
# started later (a ThreadPoolExecutor worker, a GUI's thread) would get OpenMP's default,
# all the cores, whatever the user had asked for.  So each call is numbered, and a thread
# that has not yet seen the latest one applies it to its own OpenMP setting on its next
# call into fastnn -- unless that thread changed its OpenMP setting itself (e.g. inside
# threadpoolctl.threadpool_limits): then its own setting stands while the change lasts.
import threading

cdef Py_ssize_t _initial = omp_get_max_threads()  # an untouched thread's OpenMP setting
cdef Py_ssize_t _requested = 0                 # the latest set_num_threads' n
cdef Py_ssize_t _generation = 0                # how many set_num_threads calls so far
_seen = threading.local()                      # .generation and .value: the latest call
                                               # this thread applied, and its n


# fork: libgomp keeps its thread team in process-local state that a forked child inherits
# without the threads, so a child whose parent had run a multi-threaded OpenMP region hangs
# in its own first one.  OpenMP offers no way to restart the team.  So once fastnn has
# handed out more than one thread (_threaded), a child forked afterwards runs fastnn's
# kernels on one thread (_forked_serial), from the at-fork handler below; a child of a
# process that never ran fastnn threaded keeps its full thread count.
cdef bint _threaded = False
cdef bint _forked_serial = False


def get_max_threads():
    """Threads for the calling thread's kernels (1 when serial); see set_num_threads."""
    global _threaded
    cdef Py_ssize_t m
    if _forked_serial:
        return 1
    m = omp_get_max_threads()
    if _generation and getattr(_seen, "generation", 0) != _generation:
        if m == getattr(_seen, "value", _initial):     # the thread's setting is not its own
            _seen.generation, _seen.value = _generation, _requested
            omp_set_num_threads(<int>_requested)
            m = omp_get_max_threads()
    if m > 1:
        _threaded = True
    return m


def set_num_threads(int n):
    """Thread count for fastnn's kernels in every thread of the process (no-op when serial).

    In a child forked after the parent ran fastnn threaded, the count stays 1 and a
    RuntimeWarning says why.
    """
    global _requested, _generation
    if _forked_serial and n > 1:
        import warnings
        warnings.warn(
            f"fastnn.set_num_threads({n}): this process was forked after its parent ran "
            "OpenMP threads, whose team cannot be restarted in the child; fastnn runs on one "
            "thread here (start workers with the 'spawn' or 'forkserver' method for threads)",
            RuntimeWarning, stacklevel=3)
        return
    _requested = n
    _generation += 1
    _seen.generation, _seen.value = _generation, n
    omp_set_num_threads(n)


def initial_max_threads():
    """OpenMP's count for the calling thread, without marking fastnn as having run threaded."""
    return omp_get_max_threads()


def forked_serial():
    """True in a forked child whose parent had run fastnn threaded: its kernels run serially."""
    return bool(_forked_serial)


def _after_fork_in_child():
    global _forked_serial
    if _threaded:
        _forked_serial = True
        omp_set_num_threads(1)


import os as _os
if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_after_fork_in_child)


def cpu_features():
    """Dict of the CPU features that select a SIMD target."""
    return {"avx2": bool(fnn_cpu_has_avx2()), "avx512": bool(fnn_cpu_has_avx512())}


# ---- parallel thresholds ----
# Below its threshold (elements, or multiply-adds for the GEMM driver) a kernel runs on one
# thread: waking the OpenMP team costs more than the second thread saves.  Beyond it,
# common.pxd's threads_for gives one thread per threshold's worth of work.  One table for
# the kernels of every SIMD target (they read it through parallel_min), so a value set with
# fastnn.set_parallel_threshold holds across fastnn._dispatch.use_target.  The defaults are
# for fastnn's default passive OpenMP wait policy; docs/kernels.md gives the measurements
# (bench/threshold.py) and how each value was chosen.  Name: (key, default).
PARALLEL_THRESHOLDS = {
    "activations.cheap": (PAR_ACTIVATIONS_CHEAP, 1 << 20),
    "activations.transcendental": (PAR_ACTIVATIONS_TRANSCENDENTAL, 1 << 19),
    "affine": (PAR_AFFINE, 1 << 21),
    "affine.gemm": (PAR_AFFINE_GEMM, 1 << 22),
    "augment": (PAR_AUGMENT, 1 << 21),
    "conv": (PAR_CONV, 1 << 18),
    "dropout": (PAR_DROPOUT, 1 << 20),
    "losses.cheap": (PAR_LOSSES_CHEAP, 1 << 21),
    "losses.transcendental": (PAR_LOSSES_TRANSCENDENTAL, 1 << 18),
    "normalization": (PAR_NORMALIZATION, 1 << 19),
    "optim.sgd": (PAR_OPTIM_SGD, 1 << 20),
    "optim.adaptive": (PAR_OPTIM_ADAPTIVE, 1 << 19),
    "pooling": (PAR_POOLING, 1 << 19),
}

cdef Py_ssize_t _parallel_min[<int>N_PARALLEL_KEYS]


cdef Py_ssize_t parallel_min(ParallelKey key) noexcept nogil:
    return _parallel_min[<int>key]


def _check_table():
    keys = sorted(k for k, _ in PARALLEL_THRESHOLDS.values())
    if keys != list(range(<int>N_PARALLEL_KEYS)):          # a key without a name, or twice
        raise ImportError("fastnn._kernels._runtime: PARALLEL_THRESHOLDS does not name every "
                          "key of _runtime.pxd's ParallelKey exactly once")
    for key, default in PARALLEL_THRESHOLDS.values():
        _parallel_min[key] = default


_check_table()


def get_parallel_threshold(str name):
    """The threshold `name` in force (a key of PARALLEL_THRESHOLDS; checked by the caller)."""
    return _parallel_min[<int>PARALLEL_THRESHOLDS[name][0]]


def set_parallel_threshold(str name, Py_ssize_t n):
    """Set the threshold `name` for the whole process; returns the previous value."""
    cdef Py_ssize_t key = PARALLEL_THRESHOLDS[name][0]
    old = _parallel_min[key]
    _parallel_min[key] = n
    return old


# Outputs of at least this many bytes are written with streaming (non-temporal) stores by the
# elementwise kernels (activations, dropout, normalisation): they would not stay in cache
# anyway, and skipping the write-allocate read saves a third of the memory traffic of an
# elementwise op (measured: relu on 64x64x32x32 float32 1.22 -> 0.87 ms).  Smaller outputs
# use plain stores so the next op finds them in cache.
STREAM_MIN_BYTES = 8 << 20
cdef Py_ssize_t _stream_min = STREAM_MIN_BYTES


cdef Py_ssize_t stream_min_bytes() noexcept nogil:
    return _stream_min


def _set_stream_min_bytes(Py_ssize_t n):
    """Set the streaming-store threshold for this process (tests, measurements); returns the
    previous value."""
    global _stream_min
    old = _stream_min
    _stream_min = n
    return old
