# Shared helpers for every kernel module: the OpenMP shim, CPU detection and
# the vectorisable float32 maths of fnn_math.h.

cdef extern from "fnn_runtime.h" nogil:
    int FNN_HAVE_OPENMP
    int omp_get_max_threads()
    int omp_get_thread_num()
    void omp_set_num_threads(int n)
    int fnn_cpu_has_avx2()
    int fnn_cpu_has_avx512()

cdef extern from "fnn_math.h" nogil:
    float fnn_absf(float x)
    float fnn_expf(float x)
    float fnn_expm1f(float x)
    float fnn_tanhf(float x)
    float fnn_sigmoidf(float x)
    float fnn_log1pf_pos(float u)
    float fnn_erfcf(float z)
    float fnn_gelu_gradf(float x)


# ---- scalar maths shared by the kernels: float32 goes to fnn_math.h (vectorisable), float64 to libm ----

from cython cimport floating
from libc.math cimport exp, log1p


cdef inline floating fexp(floating x) noexcept nogil:
    if floating is float:
        return fnn_expf(x)
    else:
        return exp(x)


cdef inline floating flog1p_pos(floating u) noexcept nogil:
    """log1p(u) for u >= 0"""
    if floating is float:
        return fnn_log1pf_pos(u)
    else:
        return log1p(u)


cdef inline double lane_sum(const floating* v, Py_ssize_t n) noexcept nogil:
    """sum of v[0:n] in 16 float64 lanes, combined in a fixed order (vectorised without
    reassociation, so the result does not depend on the thread count)"""
    cdef double lane[16]
    cdef double total = 0
    cdef Py_ssize_t i = 0, k, n16 = n - n % 16
    for k in range(16):
        lane[k] = 0
    while i < n16:
        for k in range(16):
            lane[k] += v[i + k]
        i += 16
    for i in range(n16, n):
        total += v[i]
    for k in range(16):
        total += lane[k]
    return total


cdef inline int threads_for(Py_ssize_t work, Py_ssize_t threshold, int n_threads) noexcept nogil:
    """Threads to use for `work` elements: one below `threshold`, else one per `threshold`
    elements (at least 2), at most n_threads.

    `threshold` is where 2 threads start to beat 1 (measured per family).  Beyond it a team
    larger than work / threshold costs more to wake than it saves: on 16 cores the ops under
    0.5 ms got 10-50% slower from 8 to 16 threads before this cap (README, "OpenMP scaling").
    """
    cdef Py_ssize_t t
    if work < threshold or n_threads < 2:
        return 1
    if threshold < 1:          # a threshold of 0 (the benchmarks' _set_tuning): every thread
        return n_threads
    t = work // threshold
    if t < 2:
        t = 2
    return n_threads if t >= n_threads else <int>t

cdef extern from "fnn_stream.h" nogil:
    void fnn_stream_copy_f32(float *dst, const float *src, Py_ssize_t n)
    void fnn_stream_copy_f64(double *dst, const double *src, Py_ssize_t n)
    void fnn_stream_fence()


cdef inline void stream_copy(floating* dst, const floating* src, Py_ssize_t n) noexcept nogil:
    """dst[:n] = src[:n] with non-temporal stores (fnn_stream.h)"""
    if floating is float:
        fnn_stream_copy_f32(dst, src, n)
    else:
        fnn_stream_copy_f64(dst, src, n)


# ---- single-threaded GEMM called from nogil code inside an OpenMP loop ----
# fn == 0: fastnn's own GEMM (fnn_gemm.h: packed panels, register-blocked
# microkernel of the SIMD target this module is compiled for).  Otherwise fn
# is the address of a Fortran-BLAS sgemm/dgemm (SciPy's Cython export,
# scipy.linalg.cython_blas), chosen by fastnn.ops._common.gemm_backend();
# row-major C = op(A) op(B) is the column-major call gemm(tB, tA, N, M, K, B, A)
# on the same memory.

cdef extern from "fnn_gemm.h" nogil:
    void fnn_gemm_f32(int ta, int tb, Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, float alpha,
                      const float* A, Py_ssize_t lda, const float* B, Py_ssize_t ldb,
                      float beta, float* C, Py_ssize_t ldc)
    void fnn_gemm_f64(int ta, int tb, Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, double alpha,
                      const double* A, Py_ssize_t lda, const double* B, Py_ssize_t ldb,
                      double beta, double* C, Py_ssize_t ldc)
    int fnn_gemm_mr()
    int fnn_gemm_nr_f32()
    int fnn_gemm_nr_f64()
    int fnn_gemm_kc_f32()
    int fnn_gemm_kc_f64()
    double fnn_gemm_peak_f32(Py_ssize_t n)

ctypedef void (*sgemm_t)(char *ta, char *tb, int *m, int *n, int *k, float *alpha, float *a, int *lda,
                         float *b, int *ldb, float *beta, float *c, int *ldc) noexcept nogil
ctypedef void (*dgemm_t)(char *ta, char *tb, int *m, int *n, int *k, double *alpha, double *a, int *lda,
                         double *b, int *ldb, double *beta, double *c, int *ldc) noexcept nogil


cdef inline void gemm_rm(size_t fn, bint trans_a, bint trans_b, int M, int N, int K, floating alpha,
                          const floating* A, int lda, const floating* B, int ldb,
                          floating beta, floating* C, int ldc) noexcept nogil:
    """row-major C (M, N) = alpha op(A) op(B) + beta C, op = transpose when trans_*;
    fn 0: fastnn's GEMM, else a BLAS gemm's address"""
    cdef char ta = 84 if trans_a else 78      # 'T' / 'N'
    cdef char tb = 84 if trans_b else 78
    if fn == 0:
        if floating is float:
            fnn_gemm_f32(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
        else:
            fnn_gemm_f64(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
    elif floating is float:
        (<sgemm_t>fn)(&tb, &ta, &N, &M, &K, &alpha, <float*>B, &ldb, <float*>A, &lda, &beta, C, &ldc)
    else:
        (<dgemm_t>fn)(&tb, &ta, &N, &M, &K, &alpha, <double*>B, &ldb, <double*>A, &lda, &beta, C, &ldc)
