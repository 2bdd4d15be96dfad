# Affine-layer kernels: the blocked GEMM driver shared by affine, maxout and
# DropConnect, the bias add and the db reduction.
#
# `matmul` cuts C into blocks and runs one OpenMP loop over them, each block one
# single-threaded GEMM (common.pxd's gemm_rm: fastnn's own, fnn_gemm.h), with
# the bias add fused in (C rows start as b, then GEMM with beta = 1).
#
# Partition rule (results independent of the thread count): the blocks depend on
# the shape of C only.  C is cut along its longer side (rows when M >= N, else
# columns) into nb equal blocks, nb the largest power of two <= min(GEMM_MAX_BLOCKS,
# L // GEMM_GRAIN), at least 1 (L the length of that side; block b is
# [b*L//nb, (b+1)*L//nb)).  Threads take whole blocks, so 1, 2, 3 or 16 threads
# make exactly the same GEMM calls on the same memory: a GEMM kernel's rounding
# (which may differ with where a block starts, e.g. OpenBLAS's)
# cannot make the result depend on the thread count.  Powers of two keep 2, 4, 8
# and 16 threads balanced.
#
# bias_add and column_sum are the memory-bound passes of the fallback path
# (NumPy's threaded matmul) and db.  Compiled once per SIMD target (see
# activations.pyx).
from cython cimport floating
from cython.parallel cimport prange

from fastnn._kernels.common cimport (threads_for, gemm_rm, fnn_gemm_mr, fnn_gemm_nr_f32,
                                     fnn_gemm_nr_f64, fnn_gemm_kc_f32, fnn_gemm_kc_f64,
                                     fnn_gemm_peak_f32)
from fastnn._kernels._runtime cimport parallel_min, PAR_AFFINE, PAR_AFFINE_GEMM

cdef extern from *:
    """
    #define FNN_AFFINE_TILE 512    /* columns per work item of column_sum */
    #define FNN_GEMM_GRAIN 32      /* smallest side of a GEMM block (rows or columns) */
    #define FNN_GEMM_MAX_BLOCKS 16 /* most GEMM blocks per call */
    """
    enum: TILE "FNN_AFFINE_TILE"
    enum: GRAIN "FNN_GEMM_GRAIN"
    enum: MAX_BLOCKS "FNN_GEMM_MAX_BLOCKS"

#: The partition rule's constants, for tests and documentation.
GEMM_GRAIN = GRAIN
GEMM_MAX_BLOCKS = MAX_BLOCKS


cpdef Py_ssize_t gemm_blocks(Py_ssize_t M, Py_ssize_t N) noexcept nogil:
    """Blocks of a (M, N) C: the largest power of two <= min(MAX_BLOCKS, max(M, N) // GRAIN), >= 1"""
    cdef Py_ssize_t L = M if M >= N else N, cap = L // GRAIN, nb = 1
    if cap > MAX_BLOCKS:
        cap = MAX_BLOCKS
    while nb * 2 <= cap:
        nb *= 2
    return nb

# Parallel thresholds: _runtime's "affine" (elements of bias_add / column_sum) and
# "affine.gemm" (multiply-adds M * N * K of matmul).


def matmul(const floating[:, ::1] A,     # IN  (M, K), or (K, M) when trans_a
           bint trans_a,
           const floating[:, ::1] B,     # IN  (K, N), or (N, K) when trans_b
           bint trans_b,
           floating[:, ::1] C,           # OUT (M, N)
           const floating[::1] bias,     # IN  (N,) added to every row, or empty for none
           size_t gemm, int n_threads):
    """C = op(A) op(B) (+ bias); C is cut into gemm_blocks(M, N) blocks along its longer side
    (rows, or columns when N > M), one single-threaded GEMM call per block, threads taking
    whole blocks: the same calls for any thread count"""
    cdef Py_ssize_t M = C.shape[0], N = C.shape[1], K = A.shape[0] if trans_a else A.shape[1]
    cdef Py_ssize_t nb, blk, lo, hi, i, j
    cdef int lda = <int>A.shape[1], ldb = <int>B.shape[1], ldc = <int>N
    cdef bint has_bias = bias.shape[0] > 0, by_rows = M >= N
    cdef floating beta
    if M == 0 or N == 0:
        return
    if K == 0:
        for i in range(M):
            for j in range(N):
                C[i, j] = bias[j] if has_bias else 0
        return
    nb = gemm_blocks(M, N)
    cdef int nt = threads_for(M * N * K, parallel_min(PAR_AFFINE_GEMM), n_threads)
    if nt > nb:
        nt = <int>nb
    cdef const floating* a0 = &A[0, 0]
    cdef const floating* b0 = &B[0, 0]
    cdef floating* c0 = &C[0, 0]
    for blk in prange(nb, schedule='static', nogil=True, num_threads=nt):
        lo = blk * (M if by_rows else N) // nb
        hi = (blk + 1) * (M if by_rows else N) // nb
        beta = 0
        if has_bias:
            if by_rows:
                for i in range(lo, hi):
                    _copy_row(&bias[0], c0 + i * N, N)
            else:
                for i in range(M):
                    _copy_row(&bias[lo], c0 + i * N + lo, hi - lo)
            beta = 1
        if by_rows:       # rows [lo, hi) of C: rows of op(A)
            gemm_rm(gemm, trans_a, trans_b, <int>(hi - lo), <int>N, <int>K, 1,
                    a0 + (lo if trans_a else lo * lda), lda, b0, ldb, beta, c0 + lo * N, ldc)
        else:             # columns [lo, hi) of C: columns of op(B)
            gemm_rm(gemm, trans_a, trans_b, <int>M, <int>(hi - lo), <int>K, 1,
                    a0, lda, b0 + (lo * ldb if trans_b else lo), ldb, beta, c0 + lo, ldc)


def gemm(const floating[:, :] A,        # IN  (M, K), or (K, M) when trans_a
         bint trans_a,
         const floating[:, :] B,        # IN  (K, N), or (N, K) when trans_b
         bint trans_b,
         floating[:, :] C,              # IN/OUT (M, N)
         double alpha, double beta, size_t fn=0):
    """C = alpha op(A) op(B) + beta C as one call on the calling thread: fastnn's GEMM
    (fn 0) or the BLAS gemm at address fn (common.pxd's gemm_rm).  For tests and
    benchmarks; callers validate shapes.  Rows may be apart by more than their length (a
    slice of columns of a bigger array): the leading dimensions are the row strides."""
    cdef Py_ssize_t M = C.shape[0], N = C.shape[1], K = A.shape[0] if trans_a else A.shape[1]
    cdef const floating* a0 = &A[0, 0] if A.shape[0] * A.shape[1] > 0 else NULL
    cdef const floating* b0 = &B[0, 0] if B.shape[0] * B.shape[1] > 0 else NULL
    cdef floating* c0
    cdef int lda = <int>(A.strides[0] // sizeof(floating)) if A.shape[1] > 0 else 1
    cdef int ldb = <int>(B.strides[0] // sizeof(floating)) if B.shape[1] > 0 else 1
    cdef int ldc = <int>(C.strides[0] // sizeof(floating))
    if ((A.shape[1] > 1 and A.strides[1] != sizeof(floating))
            or (B.shape[1] > 1 and B.strides[1] != sizeof(floating))
            or (C.shape[1] > 1 and C.strides[1] != sizeof(floating))):
        raise ValueError(f"gemm: the rows of A, B and C must be contiguous (strides[1] == "
                         f"{sizeof(floating)}), got {A.strides[1]}, {B.strides[1]}, {C.strides[1]}")
    if M == 0 or N == 0:
        return
    c0 = &C[0, 0]
    with nogil:
        gemm_rm(fn, trans_a, trans_b, <int>M, <int>N, <int>K, <floating>alpha, a0, lda, b0, ldb,
                <floating>beta, c0, ldc)


def gemm_info():
    """The GEMM tile of this SIMD build: rows (mr) and columns (nr_f32, nr_f64) of the
    microkernel's register tile, K slice (kc_f32, kc_f64)."""
    return {"mr": fnn_gemm_mr(), "nr_f32": fnn_gemm_nr_f32(), "nr_f64": fnn_gemm_nr_f64(),
            "kc_f32": fnn_gemm_kc_f32(), "kc_f64": fnn_gemm_kc_f64()}


def fma_peak(Py_ssize_t rounds):
    """Run the float32 multiply-add peak loop (fnn_gemm.h) for `rounds` rounds on the
    calling thread; returns its flop count (time it to get the single-core peak) and the
    loop's result (kept so that the compiler keeps the loop)."""
    cdef double r
    with nogil:
        r = fnn_gemm_peak_f32(rounds)
    return 2 * fnn_gemm_mr() * fnn_gemm_nr_f32() * rounds, r


cdef inline void _copy_row(const floating* src, floating* dst, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n):
        dst[j] = src[j]


def bias_add(floating[:, ::1] out,        # IN/OUT (N, M) x @ w, becomes x @ w + b
             const floating[::1] b,       # IN  (M,)
             int n_threads):
    """out[i, :] += b"""
    cdef Py_ssize_t N = out.shape[0], M = out.shape[1], i
    cdef int nt = threads_for(N * M, parallel_min(PAR_AFFINE), n_threads)
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
    cdef int nt = threads_for(N * M, parallel_min(PAR_AFFINE), n_threads)
    if N == 0:
        out[:] = 0
        return
    for t in prange((M + TILE - 1) // TILE, schedule='static', nogil=True, num_threads=nt):
        _sum_tile(a, out, t * TILE, min(t * TILE + TILE, M))
