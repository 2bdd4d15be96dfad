# Normalisation kernels: batch norm (per feature and spatial), layer norm, group norm.
#
# Compiled once per SIMD target (see activations.pyx).  Conventions:
# - Statistics are accumulated in double, in a fixed order that does not
#   depend on the thread count, so results are bit-identical for any number
#   of threads.  The variance uses one shifted pass, sum((x-K)) and
#   sum((x-K)^2) with K the first value of the group, which keeps the
#   cancellation of E[x^2] - E[x]^2 harmless even when |mean| >> std.
# - Every forward computes y = (x - mean) * scale + beta with scale = gamma *
#   invstd per channel: a subtraction and an FMA per element.  The folded
#   form x * scale + (beta - mean * scale) would save the subtraction but
#   cancels when |mean| >> std (a constant float32 channel of 100s would give
#   -0.002, not 0).
# - Backward (the simplified formula, one reduction pass + one elementwise
#   pass): with xhat = (x - mean) * invstd and M values per group,
#       dbeta  = sum(dout),  dgamma = sum(dout * xhat)
#       dx     = gamma * invstd * (dout - dbeta / M - xhat * dgamma / M)
#   rewritten as dx = a * dout + b * (x - mean) + c per channel (centred, like
#   the forward, so nothing cancels when |mean| >> std).
# - Parallel loops own their outputs: channels for spatial batch norm,
#   column tiles for batch norm on (N, D), rows for layer norm, (sample, group)
#   pairs for group norm.  Parameter-gradient partial sums that would need
#   two threads to write one element are stored per row / per sample and
#   summed afterwards in fixed order.
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport sqrt

from fastnn._kernels.common cimport (
    grad_sums, shifted_sums, stream_copy, threads_for, weighted_grad_sums, fnn_stream_fence,
)
from fastnn._kernels._runtime cimport parallel_min, stream_min_bytes, PAR_NORMALIZATION

cdef extern from *:
    """
    #define FNN_NORM_TILE 256      /* columns per work item of batch norm on (N, D) */
    #define FNN_NORM_CHUNK 2048    /* elements per scratch chunk of a streamed row */
    """
    enum: TILE "FNN_NORM_TILE"
    enum: CHUNK "FNN_NORM_CHUNK"

# Below _runtime's "normalization" threshold (elements) a kernel runs on one thread; outputs
# of at least _runtime's STREAM_MIN_BYTES are written with streaming stores.


# ---- contiguous-run helpers (the inner loops; the compiler vectorises them) ----

# ---- sums over contiguous runs: common.pxd's shifted_sums / grad_sums / weighted_grad_sums
# (fnn_reduce.h's fixed-lane sums) ----

cdef inline void _affine_run(const floating* x, floating* y, Py_ssize_t n,
                             floating k, floating a, floating c) noexcept nogil:
    """y = a * (x - k) + c"""
    cdef Py_ssize_t i
    for i in range(n):
        y[i] = a * (x[i] - k) + c


cdef inline void _affine2_run(const floating* g, const floating* x, floating* y, Py_ssize_t n,
                              floating a, floating b, floating k, floating c) noexcept nogil:
    """y = a * g + b * (x - k) + c"""
    cdef Py_ssize_t i
    for i in range(n):
        y[i] = a * g[i] + b * (x[i] - k) + c


cdef void _affine_run_out(const floating* x, floating* y, Py_ssize_t n,
                          floating k, floating a, floating c, bint stream) noexcept nogil:
    """_affine_run, through an L1 scratch and streaming stores when `stream`"""
    cdef floating scratch[CHUNK]
    cdef Py_ssize_t s, m
    if not stream:
        _affine_run(x, y, n, k, a, c)
        return
    s = 0
    while s < n:
        m = min(<Py_ssize_t>CHUNK, n - s)
        _affine_run(x + s, scratch, m, k, a, c)
        stream_copy(y + s, scratch, m)
        s += m
    fnn_stream_fence()


cdef void _affine2_run_out(const floating* g, const floating* x, floating* y, Py_ssize_t n,
                           floating a, floating b, floating k, floating c,
                           bint stream) noexcept nogil:
    """_affine2_run, through an L1 scratch and streaming stores when `stream`"""
    cdef floating scratch[CHUNK]
    cdef Py_ssize_t s, m
    if not stream:
        _affine2_run(g, x, y, n, a, b, k, c)
        return
    s = 0
    while s < n:
        m = min(<Py_ssize_t>CHUNK, n - s)
        _affine2_run(g + s, x + s, scratch, m, a, b, k, c)
        stream_copy(y + s, scratch, m)
        s += m
    fnn_stream_fence()


# ---- batch norm over (N, C, L): statistics per channel over N and L ----
# (N, C, H, W) is viewed as (N, C, H*W); (N, D) with L = 1 uses the column
# kernels below instead, which vectorise across features.

# Each thread owns a contiguous block of channels [c0, c1) and sweeps it
# sample by sample (n outer), so it reads (c1 - c0) * L contiguous values per
# sample: sequential streams the prefetcher follows.  (Channel-at-a-time
# order reads 4 KB runs 256 KB apart on 64x64x32x32 and ran at a third of the
# memory speed.)  Every channel's sum still runs over n in order, so results
# do not depend on the number of blocks.

cdef void _bn_block_forward(const floating[:, :, ::1] x, const floating[::1] gamma,
                            const floating[::1] beta, floating[:, :, ::1] out, double[::1] mean,
                            double[::1] var, double[::1] invstd, Py_ssize_t c0, Py_ssize_t c1,
                            bint training, double eps, bint stream) noexcept nogil:
    """bn_forward_spatial on the channels [c0, c1)"""
    cdef Py_ssize_t N = x.shape[0], L = x.shape[2], c, n
    cdef double m, cnt = <double>(N * L)
    if training:
        for c in range(c0, c1):          # mean[c], var[c] accumulate sum(x - k), sum((x - k)^2)
            mean[c] = 0
            var[c] = 0
        for n in range(N):
            for c in range(c0, c1):
                shifted_sums(&x[n, c, 0], L, x[0, c, 0], &mean[c], &var[c])
        for c in range(c0, c1):
            m = mean[c] / cnt
            var[c] = max(var[c] / cnt - m * m, 0.0)
            mean[c] = x[0, c, 0] + m
    for c in range(c0, c1):
        invstd[c] = 1.0 / sqrt(var[c] + eps)
    for n in range(N):
        for c in range(c0, c1):
            _affine_run_out(&x[n, c, 0], &out[n, c, 0], L, <floating>mean[c],
                            <floating>(gamma[c] * invstd[c]), beta[c], stream)


def bn_forward_spatial(const floating[:, :, ::1] x,   # IN  (N, C, L)
                       const floating[::1] gamma,     # IN  (C,)
                       const floating[::1] beta,      # IN  (C,)
                       floating[:, :, ::1] out,       # OUT (N, C, L)
                       double[::1] mean,              # IN/OUT (C,) batch mean (train) or running mean (eval)
                       double[::1] var,               # IN/OUT (C,) biased batch variance (train) or running var (eval)
                       double[::1] invstd,            # OUT (C,) 1 / sqrt(var + eps)
                       bint training, double eps, int n_threads):
    """out = (x - mean) / sqrt(var + eps) * gamma + beta, per channel"""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], L = x.shape[2], blk, nb
    cdef bint stream = N * C * L * <Py_ssize_t>sizeof(floating) >= stream_min_bytes()
    cdef int nt = threads_for(N * C * L, parallel_min(PAR_NORMALIZATION), n_threads)
    if N == 0 or L == 0:
        return
    nb = min(<Py_ssize_t>nt, C)
    for blk in prange(nb, schedule='static', nogil=True, num_threads=nt):
        _bn_block_forward(x, gamma, beta, out, mean, var, invstd, blk * C // nb,
                          (blk + 1) * C // nb, training, eps, stream)


cdef void _bn_block_backward(const floating[:, :, ::1] dout, const floating[:, :, ::1] x,
                             const floating[::1] gamma, const double[::1] mean,
                             const double[::1] invstd, floating[:, :, ::1] dx, double[::1] sg,
                             double[::1] sgx, Py_ssize_t c0, Py_ssize_t c1, bint training,
                             bint stream) noexcept nogil:
    """bn_backward_spatial on the channels [c0, c1)"""
    cdef Py_ssize_t N = x.shape[0], L = x.shape[2], c, n
    cdef double gi, b, cnt = <double>(N * L)
    for c in range(c0, c1):
        sg[c] = 0
        sgx[c] = 0
    if L == 0:
        return      # no elements: the sums stay 0 (and &x[n, c, 0] would be out of bounds)
    for n in range(N):
        for c in range(c0, c1):
            grad_sums(&dout[n, c, 0], &x[n, c, 0], L, mean[c], &sg[c], &sgx[c])
    for n in range(N):
        for c in range(c0, c1):
            gi = gamma[c] * invstd[c]
            b = 0
            if training and cnt > 0:
                b = -gi * invstd[c] * invstd[c] * sgx[c] / cnt
            _affine2_run_out(&dout[n, c, 0], &x[n, c, 0], &dx[n, c, 0], L, <floating>gi, <floating>b,
                             <floating>mean[c],
                             <floating>((-gi * sg[c] / cnt) if training and cnt > 0 else 0.0),
                             stream)


def bn_backward_spatial(const floating[:, :, ::1] dout,  # IN  (N, C, L)
                        const floating[:, :, ::1] x,     # IN  (N, C, L)
                        const floating[::1] gamma,       # IN  (C,)
                        const double[::1] mean,          # IN  (C,) the mean the forward used
                        const double[::1] invstd,        # IN  (C,)
                        floating[:, :, ::1] dx,          # OUT (N, C, L)
                        double[::1] dbeta,               # OUT (C,) sum(dout)
                        double[::1] sgx,                 # OUT (C,) sum(dout * (x - mean)) = dgamma / invstd
                        bint training, int n_threads):
    """dbeta = sum(dout), dgamma = sum(dout * xhat), dx by the simplified formula (train)
    or dx = dout * gamma * invstd (eval: the statistics are constants)"""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], L = x.shape[2], blk, nb
    cdef bint stream = N * C * L * <Py_ssize_t>sizeof(floating) >= stream_min_bytes()
    cdef int nt = threads_for(N * C * L, parallel_min(PAR_NORMALIZATION), n_threads)
    nb = max(min(<Py_ssize_t>nt, C), 1)
    for blk in prange(nb, schedule='static', nogil=True, num_threads=nt):
        _bn_block_backward(dout, x, gamma, mean, invstd, dx, dbeta, sgx, blk * C // nb,
                           (blk + 1) * C // nb, training, stream)


# ---- batch norm over (N, D): statistics per column, vectorised across a tile of columns ----

cdef void _bn_tile_forward(const floating[:, ::1] x, const floating[::1] gamma,
                           const floating[::1] beta, floating[:, ::1] out, double[::1] mean,
                           double[::1] var, double[::1] invstd, Py_ssize_t j0, Py_ssize_t j1,
                           bint training, double eps) noexcept nogil:
    """bn_forward_columns on the columns [j0, j1) (j1 - j0 <= TILE)"""
    cdef Py_ssize_t N = x.shape[0], n = j1 - j0, i, j
    cdef double s1[TILE]
    cdef double s2[TILE]
    cdef floating sc[TILE]
    cdef floating km[TILE]
    cdef double m
    if training:
        for j in range(n):
            s1[j] = 0
            s2[j] = 0
        for i in range(N):
            _column_shifted_sums(&x[i, j0], &x[0, j0], n, s1, s2)
        for j in range(n):
            m = s1[j] / N
            mean[j0 + j] = x[0, j0 + j] + m
            var[j0 + j] = max(s2[j] / N - m * m, 0.0)
    for j in range(j0, j1):
        invstd[j] = 1.0 / sqrt(var[j] + eps)
        sc[j - j0] = <floating>(gamma[j] * invstd[j])
        km[j - j0] = <floating>mean[j]
    for i in range(N):
        _column_affine(&x[i, j0], &out[i, j0], n, km, sc, &beta[j0])


def bn_forward_columns(const floating[:, ::1] x,    # IN  (N, D)
                       const floating[::1] gamma,   # IN  (D,)
                       const floating[::1] beta,    # IN  (D,)
                       floating[:, ::1] out,        # OUT (N, D)
                       double[::1] mean,            # IN/OUT (D,) batch mean (train) or running mean (eval)
                       double[::1] var,             # IN/OUT (D,) biased batch variance (train) / running var
                       double[::1] invstd,          # OUT (D,)
                       bint training, double eps, int n_threads):
    """out = (x - mean) / sqrt(var + eps) * gamma + beta, per column"""
    cdef Py_ssize_t N = x.shape[0], D = x.shape[1], t
    cdef int nt = threads_for(N * D, parallel_min(PAR_NORMALIZATION), n_threads)
    if N == 0:
        return
    for t in prange((D + TILE - 1) // TILE, schedule='static', nogil=True, num_threads=nt):
        _bn_tile_forward(x, gamma, beta, out, mean, var, invstd, t * TILE, min(t * TILE + TILE, D),
                         training, eps)


cdef inline void _column_shifted_sums(const floating* row, const floating* k, Py_ssize_t n,
                                      double* s1, double* s2) noexcept nogil:
    """s1[j] += row[j] - k[j], s2[j] += (row[j] - k[j])^2"""
    cdef Py_ssize_t j
    cdef double d
    for j in range(n):
        d = <double>row[j] - <double>k[j]
        s1[j] += d
        s2[j] += d * d


cdef inline void _column_affine(const floating* row, floating* y, Py_ssize_t n,
                                const floating* km, const floating* sc,
                                const floating* sh) noexcept nogil:
    """y[j] = (row[j] - km[j]) * sc[j] + sh[j]"""
    cdef Py_ssize_t j
    for j in range(n):
        y[j] = (row[j] - km[j]) * sc[j] + sh[j]


cdef void _bn_tile_backward(const floating[:, ::1] dout, const floating[:, ::1] x,
                            const floating[::1] gamma, const double[::1] mean,
                            const double[::1] invstd, floating[:, ::1] dx, floating[::1] dgamma,
                            floating[::1] dbeta, Py_ssize_t j0, Py_ssize_t j1,
                            bint training) noexcept nogil:
    """bn_backward_columns on the columns [j0, j1) (j1 - j0 <= TILE)"""
    cdef Py_ssize_t N = x.shape[0], n = j1 - j0, i, j
    cdef double sg[TILE]
    cdef double sgx[TILE]
    cdef floating a[TILE]
    cdef floating b[TILE]
    cdef floating c[TILE]
    cdef floating km[TILE]
    cdef double gi, bb
    for j in range(n):
        sg[j] = 0
        sgx[j] = 0
    for i in range(N):
        _column_grad_sums(&dout[i, j0], &x[i, j0], &mean[j0], n, sg, sgx)
    for j in range(n):
        dbeta[j0 + j] = <floating>sg[j]
        dgamma[j0 + j] = <floating>(sgx[j] * invstd[j0 + j])
        gi = gamma[j0 + j] * invstd[j0 + j]
        a[j] = <floating>gi
        b[j] = 0
        c[j] = 0
        km[j] = <floating>mean[j0 + j]
        if training and N > 0:
            bb = -gi * invstd[j0 + j] * invstd[j0 + j] * sgx[j] / N
            b[j] = <floating>bb
            c[j] = <floating>(-gi * sg[j] / N)
    for i in range(N):
        _column_affine2(&dout[i, j0], &x[i, j0], &dx[i, j0], n, a, b, km, c)


def bn_backward_columns(const floating[:, ::1] dout,  # IN  (N, D)
                        const floating[:, ::1] x,     # IN  (N, D)
                        const floating[::1] gamma,    # IN  (D,)
                        const double[::1] mean,       # IN  (D,)
                        const double[::1] invstd,     # IN  (D,)
                        floating[:, ::1] dx,          # OUT (N, D)
                        floating[::1] dgamma,         # OUT (D,)
                        floating[::1] dbeta,          # OUT (D,)
                        bint training, int n_threads):
    """dbeta = sum(dout), dgamma = sum(dout * xhat), dx by the simplified formula (train)
    or dx = dout * gamma * invstd (eval)"""
    cdef Py_ssize_t N = x.shape[0], D = x.shape[1], t
    cdef int nt = threads_for(N * D, parallel_min(PAR_NORMALIZATION), n_threads)
    for t in prange((D + TILE - 1) // TILE, schedule='static', nogil=True, num_threads=nt):
        _bn_tile_backward(dout, x, gamma, mean, invstd, dx, dgamma, dbeta, t * TILE,
                          min(t * TILE + TILE, D), training)


cdef inline void _column_grad_sums(const floating* g, const floating* row, const double* mean,
                                   Py_ssize_t n, double* sg, double* sgx) noexcept nogil:
    """sg[j] += g[j], sgx[j] += g[j] * (row[j] - mean[j])"""
    cdef Py_ssize_t j
    for j in range(n):
        sg[j] += g[j]
        sgx[j] += <double>g[j] * (<double>row[j] - mean[j])


cdef inline void _column_affine2(const floating* g, const floating* row, floating* y, Py_ssize_t n,
                                 const floating* a, const floating* b, const floating* km,
                                 const floating* c) noexcept nogil:
    """y[j] = a[j] * g[j] + b[j] * (row[j] - km[j]) + c[j]"""
    cdef Py_ssize_t j
    for j in range(n):
        y[j] = a[j] * g[j] + b[j] * (row[j] - km[j]) + c[j]


# ---- layer norm: statistics per row of D values, gamma/beta per column ----

def ln_forward(const floating[:, ::1] x,    # IN  (N, D)
               const floating[::1] gamma,   # IN  (D,)
               const floating[::1] beta,    # IN  (D,)
               floating[:, ::1] out,        # OUT (N, D)
               double[::1] mean,            # OUT (N,)
               double[::1] invstd,          # OUT (N,)
               double eps, int n_threads):
    """out = (x - mean_row) / sqrt(var_row + eps) * gamma + beta"""
    cdef Py_ssize_t N = x.shape[0], D = x.shape[1], i, j
    cdef double s1, s2, k, m, istd
    cdef int nt = threads_for(N * D, parallel_min(PAR_NORMALIZATION), n_threads)
    if D == 0:
        return
    for i in prange(N, schedule='static', nogil=True, num_threads=nt):
        s1 = 0
        s2 = 0
        k = x[i, 0]
        shifted_sums(&x[i, 0], D, k, &s1, &s2)
        m = s1 / D
        istd = 1.0 / sqrt(max(s2 / D - m * m, 0.0) + eps)
        mean[i] = k + m
        invstd[i] = istd
        _ln_row(&x[i, 0], &out[i, 0], D, &gamma[0], &beta[0], <floating>(k + m), <floating>istd)


cdef inline void _ln_row(const floating* x, floating* y, Py_ssize_t n, const floating* gamma,
                         const floating* beta, floating mean, floating istd) noexcept nogil:
    """y[j] = (x[j] - mean) * istd * gamma[j] + beta[j]"""
    cdef Py_ssize_t j
    for j in range(n):
        y[j] = (x[j] - mean) * istd * gamma[j] + beta[j]


def ln_backward(const floating[:, ::1] dout,   # IN  (N, D)
                const floating[:, ::1] x,      # IN  (N, D)
                const floating[::1] gamma,     # IN  (D,)
                const double[::1] mean,        # IN  (N,)
                const double[::1] invstd,      # IN  (N,)
                floating[:, ::1] dx,           # OUT (N, D)
                int n_threads):
    """dx = invstd / D * (D * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat)), dxhat = dout * gamma
    (dgamma and dbeta are column sums, done by column_grad_sums)"""
    cdef Py_ssize_t N = x.shape[0], D = x.shape[1], i
    cdef double s1, s2
    cdef int nt = threads_for(N * D, parallel_min(PAR_NORMALIZATION), n_threads)
    if D == 0:
        return
    for i in prange(N, schedule='static', nogil=True, num_threads=nt):
        s1 = 0
        s2 = 0
        _ln_row_sums(&dout[i, 0], &x[i, 0], &gamma[0], D, mean[i], &s1, &s2)
        # xhat = (x - mean) * istd; dx = istd * (dxhat - s1/D) - xhat * istd * (s2 * istd)/D
        _ln_row_dx(&dout[i, 0], &x[i, 0], &gamma[0], &dx[i, 0], D, <floating>mean[i],
                   <floating>invstd[i], <floating>(-invstd[i] * s1 / D),
                   <floating>(-invstd[i] * invstd[i] * invstd[i] * s2 / D))


cdef inline void _ln_row_sums(const floating* g, const floating* x, const floating* gamma,
                              Py_ssize_t n, double mean, double* s1, double* s2) noexcept nogil:
    """s1 = sum(g * gamma), s2 = sum(g * gamma * (x - mean))"""
    s1[0] = 0
    s2[0] = 0
    weighted_grad_sums(g, x, gamma, n, mean, s1, s2)


cdef inline void _ln_row_dx(const floating* g, const floating* x, const floating* gamma,
                            floating* dx, Py_ssize_t n, floating mean, floating istd,
                            floating c0, floating c1) noexcept nogil:
    """dx[j] = istd * g[j] * gamma[j] + c0 + c1 * (x[j] - mean)"""
    cdef Py_ssize_t j
    for j in range(n):
        dx[j] = istd * g[j] * gamma[j] + c0 + c1 * (x[j] - mean)


cdef void _row_grad_tile(const floating[:, ::1] dout, const floating[:, ::1] x,
                         const double[::1] mean, const double[::1] invstd, floating[::1] dgamma,
                         floating[::1] dbeta, Py_ssize_t j0, Py_ssize_t j1) noexcept nogil:
    """row_grad_sums on the columns [j0, j1) (j1 - j0 <= TILE)"""
    cdef Py_ssize_t N = x.shape[0], n = j1 - j0, i, j
    cdef double sg[TILE]
    cdef double sgx[TILE]
    for j in range(n):
        sg[j] = 0
        sgx[j] = 0
    for i in range(N):
        _row_xhat_sums(&dout[i, j0], &x[i, j0], n, mean[i], invstd[i], sg, sgx)
    for j in range(n):
        dbeta[j0 + j] = <floating>sg[j]
        dgamma[j0 + j] = <floating>sgx[j]


def row_grad_sums(const floating[:, ::1] dout,   # IN  (N, D)
                  const floating[:, ::1] x,      # IN  (N, D)
                  const double[::1] mean,        # IN  (N,) per-row mean
                  const double[::1] invstd,      # IN  (N,) per-row invstd
                  floating[::1] dgamma,          # OUT (D,) sum_i dout[i] * xhat[i]
                  floating[::1] dbeta,           # OUT (D,) sum_i dout[i]
                  int n_threads):
    """Column sums of layer norm's parameter gradients, parallel over column tiles"""
    cdef Py_ssize_t N = x.shape[0], D = x.shape[1], t
    cdef int nt = threads_for(N * D, parallel_min(PAR_NORMALIZATION), n_threads)
    for t in prange((D + TILE - 1) // TILE, schedule='static', nogil=True, num_threads=nt):
        _row_grad_tile(dout, x, mean, invstd, dgamma, dbeta, t * TILE, min(t * TILE + TILE, D))


cdef inline void _row_xhat_sums(const floating* g, const floating* x, Py_ssize_t n,
                                double mean, double istd, double* sg, double* sgx) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n):
        sg[j] += g[j]
        sgx[j] += <double>g[j] * ((<double>x[j] - mean) * istd)


# ---- group norm: x viewed as (N, G, Cg, L); statistics per (sample, group) ----

def gn_forward(const floating[:, :, :, ::1] x,   # IN  (N, G, Cg, L)
               const floating[::1] gamma,        # IN  (C,) = (G * Cg,)
               const floating[::1] beta,         # IN  (C,)
               floating[:, :, :, ::1] out,       # OUT (N, G, Cg, L)
               double[:, ::1] mean,              # OUT (N, G)
               double[:, ::1] invstd,            # OUT (N, G)
               double eps, int n_threads):
    """out = (x - mean_ng) / sqrt(var_ng + eps) * gamma[c] + beta[c]"""
    cdef Py_ssize_t N = x.shape[0], G = x.shape[1], Cg = x.shape[2], L = x.shape[3]
    cdef Py_ssize_t p, n, g, ci, c
    cdef double s1, s2, k, m, istd, cnt = <double>(Cg * L)
    cdef bint stream = N * G * Cg * L * <Py_ssize_t>sizeof(floating) >= stream_min_bytes()
    cdef int nt = threads_for(N * G * Cg * L, parallel_min(PAR_NORMALIZATION), n_threads)
    if Cg == 0 or L == 0:
        return
    for p in prange(N * G, schedule='static', nogil=True, num_threads=nt):
        n = p // G
        g = p % G
        s1 = 0
        s2 = 0
        k = x[n, g, 0, 0]
        shifted_sums(&x[n, g, 0, 0], Cg * L, k, &s1, &s2)
        m = s1 / cnt
        istd = 1.0 / sqrt(max(s2 / cnt - m * m, 0.0) + eps)
        mean[n, g] = k + m
        invstd[n, g] = istd
        for ci in range(Cg):
            c = g * Cg + ci
            _affine_run_out(&x[n, g, ci, 0], &out[n, g, ci, 0], L, <floating>(k + m),
                            <floating>(gamma[c] * istd), beta[c], stream)


def gn_backward(const floating[:, :, :, ::1] dout,  # IN  (N, G, Cg, L)
                const floating[:, :, :, ::1] x,     # IN  (N, G, Cg, L)
                const floating[::1] gamma,          # IN  (C,)
                const double[:, ::1] mean,          # IN  (N, G)
                const double[:, ::1] invstd,        # IN  (N, G)
                floating[:, :, :, ::1] dx,          # OUT (N, G, Cg, L)
                double[:, ::1] dgamma_n,            # OUT (N, C) per-sample sum(dout * xhat)
                double[:, ::1] dbeta_n,             # OUT (N, C) per-sample sum(dout)
                int n_threads):
    """dx = istd/M * (M * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat)), dxhat = dout * gamma[c],
    M = Cg * L; the per-sample parameter sums are added over N by the caller"""
    cdef Py_ssize_t N = x.shape[0], G = x.shape[1], Cg = x.shape[2], L = x.shape[3]
    cdef Py_ssize_t p, n, g, ci, c
    cdef double sg, sgx, s1, s2, istd, mu, cnt = <double>(Cg * L), b, gi
    cdef bint stream = N * G * Cg * L * <Py_ssize_t>sizeof(floating) >= stream_min_bytes()
    cdef int nt = threads_for(N * G * Cg * L, parallel_min(PAR_NORMALIZATION), n_threads)
    if Cg == 0:
        return
    for p in prange(N * G, schedule='static', nogil=True, num_threads=nt):
        n = p // G
        g = p % G
        mu = mean[n, g]
        istd = invstd[n, g]
        s1 = 0
        s2 = 0
        for ci in range(Cg):
            c = g * Cg + ci
            sg = 0
            sgx = 0
            grad_sums(&dout[n, g, ci, 0], &x[n, g, ci, 0], L, mu, &sg, &sgx)
            dbeta_n[n, c] = sg
            dgamma_n[n, c] = sgx * istd
            s1 = s1 + gamma[c] * sg
            s2 = s2 + gamma[c] * sgx
        # dx = gamma[c] * istd * dout + b * (x - mu) - istd * s1 / M, b = -istd^3 * s2 / M
        b = -istd * istd * istd * s2 / cnt if cnt > 0 else 0.0
        for ci in range(Cg):
            c = g * Cg + ci
            gi = gamma[c] * istd
            _affine2_run_out(&dout[n, g, ci, 0], &x[n, g, ci, 0], &dx[n, g, ci, 0], L,
                             <floating>gi, <floating>b, <floating>mu,
                             <floating>((-istd * s1 / cnt) if cnt > 0 else 0.0), stream)
