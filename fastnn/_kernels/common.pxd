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


cdef inline int threads_for(Py_ssize_t work, Py_ssize_t threshold, int n_threads) noexcept nogil:
    """Threads to use for `work` elements: one below `threshold`, else n_threads (>= 1)."""
    if work < threshold or n_threads < 1:
        return 1
    return n_threads

cdef extern from "fnn_stream.h" nogil:
    void fnn_stream_copy_f32(float *dst, const float *src, Py_ssize_t n)
    void fnn_stream_copy_f64(double *dst, const double *src, Py_ssize_t n)
    void fnn_stream_fence()
