# Affine-layer kernels: the bias add after the forward GEMM and the db reduction.
#
# The GEMMs themselves go to BLAS (NumPy's matmul, see fastnn/ops/affine.py);
# these are the memory-bound passes around them.  Compiled once per SIMD
# target (see activations.pyx).
from cython cimport floating
from cython.parallel cimport prange

from fastnn._kernels.common cimport threads_for

cdef extern from *:
    """
    #define FNN_AFFINE_TILE 512    /* columns per work item of column_sum */
    """
    enum: TILE "FNN_AFFINE_TILE"

# Below this many elements a kernel runs on one thread (same order as the
# activations' cheap-op threshold: one add per element).
PARALLEL_MIN = 32768
cdef Py_ssize_t _PARALLEL_MIN = PARALLEL_MIN


def bias_add(floating[:, ::1] out,        # IN/OUT (N, M) x @ w, becomes x @ w + b
             const floating[::1] b,       # IN  (M,)
             int n_threads):
    """out[i, :] += b"""
    cdef Py_ssize_t N = out.shape[0], M = out.shape[1], i
    cdef int nt = threads_for(N * M, _PARALLEL_MIN, n_threads)
    if M == 0:
        return
    for i in prange(N, schedule='static', nogil=True, num_threads=nt):
        _add_row(&out[i, 0], &b[0], M)


cdef inline void _add_row(floating* y, const floating* b, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n):
        y[j] = y[j] + b[j]


cdef void _sum_tile(const floating[:, ::1] a, floating[::1] out, Py_ssize_t j0,
                    Py_ssize_t j1) noexcept nogil:
    """out[j] = sum_i a[i, j] for j in [j0, j1), accumulated in double (j1 - j0 <= TILE)"""
    cdef Py_ssize_t N = a.shape[0], i, j
    cdef double acc[TILE]
    for j in range(j1 - j0):
        acc[j] = 0
    for i in range(N):
        _acc_row(&a[i, j0], acc, j1 - j0)
    for j in range(j1 - j0):
        out[j0 + j] = <floating>acc[j]


cdef inline void _acc_row(const floating* row, double* acc, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n):
        acc[j] += row[j]


def column_sum(const floating[:, ::1] a,   # IN  (N, M)
               floating[::1] out,          # OUT (M,)
               int n_threads):
    """out = a.sum(axis=0), parallel over column tiles (same order for any thread count)"""
    cdef Py_ssize_t N = a.shape[0], M = a.shape[1], t
    cdef int nt = threads_for(N * M, _PARALLEL_MIN, n_threads)
    if N == 0:
        out[:] = 0
        return
    for t in prange((M + TILE - 1) // TILE, schedule='static', nogil=True, num_threads=nt):
        _sum_tile(a, out, t * TILE, min(t * TILE + TILE, M))
