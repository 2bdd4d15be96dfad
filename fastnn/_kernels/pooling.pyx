# pooling kernels (compiled per SIMD target; see activations.pyx for the layout conventions).
#
# Every kernel runs one parallel pass over the N*C planes of an (N, C, H, W)
# array: plane t owns out[t] / dx[t], so overlapping windows in backward are
# summed by one thread and no two threads write one element.
#
# Max pool stores, per output element, the position k = i*pw + j of the
# maximum inside its window (uint8 when the window has <= 255 elements, else
# int32).  Ties go to the first maximum in row-major window order (PyTorch's
# rule); a NaN in the window wins (the output is NaN, as in PyTorch) and the
# first NaN receives the gradient.
from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport uint8_t, int32_t
from libc.string cimport memset

from fastnn._kernels.common cimport lane_sum, threads_for
from fastnn._kernels._runtime cimport parallel_min, PAR_POOLING

ctypedef fused index_t:
    uint8_t
    int32_t

# Below _runtime's "pooling" threshold (input elements) a kernel runs on one thread.


cdef inline bint _wins(floating v, floating best) noexcept nogil:
    """v replaces the running maximum: strictly greater, or the first NaN (branch-free)"""
    return (v > best) | ((v != v) & (best == best))


cdef extern from *:
    """
    /* One output row of 2x2 / stride 2 max pooling: max and argmax position
       (0..3, row-major) of each window.  Plain C selects so gcc vectorises the
       row (Cython's if/else form of a select stays branchy, and random data
       mispredicts every other compare): the maximum by a chain of selects
       (later values must be strictly greater: ties go to the first), its
       position = the first element equal to it; a NaN wins (the first one).
       noinline + 128-bit vectors: rows are short (Wo = 16 on 32x32 images) and
       gcc enters its 512-bit loop only from Wo >= 32, leaving a branchy scalar
       loop (measured, 64x64x32x32 forward, 1 thread: 13 ms -> 3 ms). */
    #define FNN_MAX2X2_ROW(NAME, T, IT)                                              \
    static __attribute__((noinline, target("prefer-vector-width=128"))) void NAME(const T *r0, const T *r1, T *o, IT *k, Py_ssize_t Wo) {        \
        for (Py_ssize_t j = 0; j < Wo; j++) {                                       \
            T a = r0[2 * j], b = r0[2 * j + 1], c = r1[2 * j], d = r1[2 * j + 1];   \
            T m = a;                  /* first maximum: later values must be > */  \
            m = b > m ? b : m;                                                      \
            m = c > m ? c : m;                                                      \
            m = d > m ? d : m;                                                      \
            int kk = a == m ? 0 : (b == m ? 1 : (c == m ? 2 : 3));                  \
            int nan = (a != a) | (b != b) | (c != c) | (d != d);                    \
            int kn = a != a ? 0 : (b != b ? 1 : (c != c ? 2 : 3));                  \
            kk = nan ? kn : kk;       /* a NaN wins: the first one */               \
            m = nan ? a + b + c + d : m;                                            \
            o[j] = m;                                                               \
            k[j] = (IT)kk;                                                          \
        }                                                                           \
    }
    FNN_MAX2X2_ROW(fnn_max2x2_row_f_u8, float, uint8_t)
    FNN_MAX2X2_ROW(fnn_max2x2_row_f_i32, float, int32_t)
    FNN_MAX2X2_ROW(fnn_max2x2_row_d_u8, double, uint8_t)
    FNN_MAX2X2_ROW(fnn_max2x2_row_d_i32, double, int32_t)
    """
    void fnn_max2x2_row_f_u8(const float *r0, const float *r1, float *o, uint8_t *k, Py_ssize_t Wo) nogil
    void fnn_max2x2_row_f_i32(const float *r0, const float *r1, float *o, int32_t *k, Py_ssize_t Wo) nogil
    void fnn_max2x2_row_d_u8(const double *r0, const double *r1, double *o, uint8_t *k, Py_ssize_t Wo) nogil
    void fnn_max2x2_row_d_i32(const double *r0, const double *r1, double *o, int32_t *k, Py_ssize_t Wo) nogil


cdef void _max2x2_plane(const floating* xp, floating* op, index_t* ip,
                        Py_ssize_t W, Py_ssize_t Ho, Py_ssize_t Wo) noexcept nogil:
    """2x2 windows, stride 2, one vectorised C row function per output row"""
    cdef Py_ssize_t oh
    for oh in range(Ho):
        if floating is float:
            if index_t is uint8_t:
                fnn_max2x2_row_f_u8(xp + 2 * oh * W, xp + (2 * oh + 1) * W, op + oh * Wo, ip + oh * Wo, Wo)
            else:
                fnn_max2x2_row_f_i32(xp + 2 * oh * W, xp + (2 * oh + 1) * W, op + oh * Wo, ip + oh * Wo, Wo)
        else:
            if index_t is uint8_t:
                fnn_max2x2_row_d_u8(xp + 2 * oh * W, xp + (2 * oh + 1) * W, op + oh * Wo, ip + oh * Wo, Wo)
            else:
                fnn_max2x2_row_d_i32(xp + 2 * oh * W, xp + (2 * oh + 1) * W, op + oh * Wo, ip + oh * Wo, Wo)


cdef void _max_plane(const floating* xp, floating* op, index_t* ip,
                     Py_ssize_t W, Py_ssize_t Ho, Py_ssize_t Wo,
                     Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t s) noexcept nogil:
    cdef Py_ssize_t oh, ow, i, j
    cdef const floating* win
    cdef floating m, v
    cdef int32_t k
    for oh in range(Ho):
        for ow in range(Wo):
            win = xp + oh * s * W + ow * s
            m = win[0]
            k = 0
            for i in range(ph):
                for j in range(pw):
                    v = win[i * W + j]
                    if _wins(v, m):
                        m = v
                        k = <int32_t>(i * pw + j)
            op[oh * Wo + ow] = m
            ip[oh * Wo + ow] = <index_t>k


def max_pool_forward(const floating[:, :, :, ::1] x,  # IN  (N, C, H, W)
                     floating[:, :, :, ::1] out,      # OUT (N, C, Ho, Wo)
                     index_t[:, :, :, ::1] idx,       # OUT (N, C, Ho, Wo) argmax position i*pw + j in its window
                     Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t stride, int n_threads):
    """out[n, c, oh, ow] = max over i < ph, j < pw of x[n, c, oh*s + i, ow*s + j]"""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t Ho = out.shape[2], Wo = out.shape[3], t
    if N * C * Ho * Wo == 0:
        return
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef floating* op = &out[0, 0, 0, 0]
    cdef index_t* ip = &idx[0, 0, 0, 0]
    cdef bint fast = ph == 2 and pw == 2 and stride == 2
    cdef int nt = threads_for(N * C * H * W, parallel_min(PAR_POOLING), n_threads)
    for t in prange(N * C, schedule='static', nogil=True, num_threads=nt):
        if fast:
            _max2x2_plane(xp + t * H * W, op + t * Ho * Wo, ip + t * Ho * Wo, W, Ho, Wo)
        else:
            _max_plane(xp + t * H * W, op + t * Ho * Wo, ip + t * Ho * Wo, W, Ho, Wo, ph, pw, stride)


cdef void _max2x2_back_plane(const floating* gp, const index_t* ip, floating* dp,
                             Py_ssize_t H, Py_ssize_t W, Py_ssize_t Ho, Py_ssize_t Wo) noexcept nogil:
    """zero the plane, then one store per window at its argmax (no selects, no branches:
    measured 7.1 -> 2.7 ms on one thread for 64x64x32x32, against writing the
    four window elements with selects)"""
    cdef Py_ssize_t oh, ow, k
    cdef floating* d0
    memset(dp, 0, H * W * sizeof(floating))
    for oh in range(Ho):
        d0 = dp + 2 * oh * W
        for ow in range(Wo):
            k = ip[oh * Wo + ow]
            d0[(k >> 1) * W + 2 * ow + (k & 1)] = gp[oh * Wo + ow]


def max_pool_backward(const floating[:, :, :, ::1] dout,  # IN  (N, C, Ho, Wo)
                      const index_t[:, :, :, ::1] idx,    # IN  (N, C, Ho, Wo)
                      floating[:, :, :, ::1] dx,          # OUT (N, C, H, W)
                      Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t stride, int n_threads):
    """dx[n, c, oh*s + k // pw, ow*s + k % pw] += dout[n, c, oh, ow] with k = idx[n, c, oh, ow]"""
    cdef Py_ssize_t N = dx.shape[0], C = dx.shape[1], H = dx.shape[2], W = dx.shape[3]
    cdef Py_ssize_t Ho = dout.shape[2], Wo = dout.shape[3], t, oh, ow, k
    cdef floating* dp
    cdef const floating* gp
    cdef const index_t* ip
    if N * C * H * W == 0:
        return
    cdef floating* dx0 = &dx[0, 0, 0, 0]
    cdef bint fast = ph == 2 and pw == 2 and stride == 2
    cdef bint empty_out = Ho * Wo == 0
    cdef const floating* g0 = NULL
    cdef const index_t* i0 = NULL
    if not empty_out:
        g0 = &dout[0, 0, 0, 0]
        i0 = &idx[0, 0, 0, 0]
    cdef int nt = threads_for(N * C * H * W, parallel_min(PAR_POOLING), n_threads)
    for t in prange(N * C, schedule='static', nogil=True, num_threads=nt):
        dp = dx0 + t * H * W
        if empty_out:
            memset(dp, 0, H * W * sizeof(floating))
            continue
        gp = g0 + t * Ho * Wo
        ip = i0 + t * Ho * Wo
        if fast:
            _max2x2_back_plane(gp, ip, dp, H, W, Ho, Wo)
        else:
            memset(dp, 0, H * W * sizeof(floating))
            for oh in range(Ho):
                for ow in range(Wo):
                    k = ip[oh * Wo + ow]
                    dp[(oh * stride + k // pw) * W + ow * stride + k % pw] += gp[oh * Wo + ow]


def avg_pool_forward(const floating[:, :, :, ::1] x,  # IN  (N, C, H, W)
                     floating[:, :, :, ::1] out,      # OUT (N, C, Ho, Wo)
                     Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t stride, int n_threads):
    """out[n, c, oh, ow] = mean over i < ph, j < pw of x[n, c, oh*s + i, ow*s + j]"""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t Ho = out.shape[2], Wo = out.shape[3], t, oh, ow, i, j
    cdef const floating* xp
    cdef const floating* win
    cdef floating* op
    cdef floating acc
    cdef floating inv = <floating>(1.0 / <double>(ph * pw))
    if N * C * Ho * Wo == 0:
        return
    cdef const floating* x0 = &x[0, 0, 0, 0]
    cdef floating* o0 = &out[0, 0, 0, 0]
    cdef int nt = threads_for(N * C * H * W, parallel_min(PAR_POOLING), n_threads)
    for t in prange(N * C, schedule='static', nogil=True, num_threads=nt):
        xp = x0 + t * H * W
        op = o0 + t * Ho * Wo
        for oh in range(Ho):
            for ow in range(Wo):
                win = xp + oh * stride * W + ow * stride
                acc = 0
                for i in range(ph):
                    for j in range(pw):
                        acc = acc + win[i * W + j]
                op[oh * Wo + ow] = acc * inv


def avg_pool_backward(const floating[:, :, :, ::1] dout,  # IN  (N, C, Ho, Wo)
                      floating[:, :, :, ::1] dx,          # OUT (N, C, H, W)
                      Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t stride, int n_threads):
    """dx[n, c, oh*s + i, ow*s + j] += dout[n, c, oh, ow] / (ph*pw)"""
    cdef Py_ssize_t N = dx.shape[0], C = dx.shape[1], H = dx.shape[2], W = dx.shape[3]
    cdef Py_ssize_t Ho = dout.shape[2], Wo = dout.shape[3], t, oh, ow, i, j
    cdef floating* dp
    cdef floating* win
    cdef const floating* gp
    cdef floating g
    cdef floating inv = <floating>(1.0 / <double>(ph * pw))
    if N * C * H * W == 0:
        return
    cdef floating* d0 = &dx[0, 0, 0, 0]
    cdef bint empty_out = Ho * Wo == 0
    cdef const floating* g0 = NULL
    if not empty_out:
        g0 = &dout[0, 0, 0, 0]
    cdef int nt = threads_for(N * C * H * W, parallel_min(PAR_POOLING), n_threads)
    for t in prange(N * C, schedule='static', nogil=True, num_threads=nt):
        dp = d0 + t * H * W
        memset(dp, 0, H * W * sizeof(floating))
        if empty_out:
            continue
        gp = g0 + t * Ho * Wo
        for oh in range(Ho):
            for ow in range(Wo):
                g = gp[oh * Wo + ow] * inv
                win = dp + oh * stride * W + ow * stride
                for i in range(ph):
                    for j in range(pw):
                        win[i * W + j] += g


def global_avg_pool_forward(const floating[:, :, ::1] x,  # IN  (N*C... viewed as (N, C, H*W))
                            floating[:, ::1] out,         # OUT (N, C)
                            int n_threads):
    """out[n, c] = mean over p of x[n, c, p]"""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], P = x.shape[2], t
    if N * C == 0:
        return
    cdef const floating* x0 = &x[0, 0, 0]
    cdef floating* o0 = &out[0, 0]
    cdef double inv = 1.0 / <double>P
    cdef int nt = threads_for(N * C * P, parallel_min(PAR_POOLING), n_threads)
    for t in prange(N * C, schedule='static', nogil=True, num_threads=nt):
        o0[t] = <floating>(lane_sum(x0 + t * P, P) * inv)


def global_avg_pool_backward(const floating[:, ::1] dout,  # IN  (N, C)
                             floating[:, :, ::1] dx,       # OUT (N, C, H*W)
                             int n_threads):
    """dx[n, c, p] = dout[n, c] / P"""
    cdef Py_ssize_t N = dx.shape[0], C = dx.shape[1], P = dx.shape[2], t, p
    cdef floating g
    cdef floating* dp
    if N * C * P == 0:
        return
    cdef const floating* g0 = &dout[0, 0]
    cdef floating* d0 = &dx[0, 0, 0]
    cdef floating inv = <floating>(1.0 / <double>P)
    cdef int nt = threads_for(N * C * P, parallel_min(PAR_POOLING), n_threads)
    for t in prange(N * C, schedule='static', nogil=True, num_threads=nt):
        g = g0[t] * inv
        dp = d0 + t * P
        for p in range(P):
            dp[p] = g
