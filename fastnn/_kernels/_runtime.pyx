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


def get_max_threads():
    """omp_get_max_threads() of the OpenMP runtime fastnn is linked to (1 when serial)."""
    return omp_get_max_threads()


def set_num_threads(int n):
    """omp_set_num_threads(n) for the calling thread (no-op when serial)."""
    omp_set_num_threads(n)


def cpu_features():
    """Dict of the CPU features that select a SIMD target."""
    return {"avx2": bool(fnn_cpu_has_avx2()), "avx512": bool(fnn_cpu_has_avx512())}
