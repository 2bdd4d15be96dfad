# cython: language_level=3
"""Runtime facts that do not depend on the SIMD target: OpenMP, threads, CPU features.

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
