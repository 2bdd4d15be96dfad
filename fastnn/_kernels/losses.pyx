# Loss kernels: each computes the loss and d(loss)/d(input) in one fused pass.
#
# Compiled once per SIMD target by setup.py (see activations.pyx for the
# layout conventions).
#
# Row losses (softmax, SVM) run a parallel loop over rows; a row of C scores
# is read from memory once and stays in L1 for the few short passes over it.
# Elementwise losses (BCE, MSE) run a parallel loop over blocks of BLOCK
# elements.  Every row / block writes its partial loss (float64) to its own
# slot and the slots are summed serially in a fixed order afterwards, so the
# loss is bit-identical for any thread count.  Sums inside a row / block use
# 16 float64 lanes, which the compiler vectorises without reassociating
# anything (no -ffast-math).
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport log, NAN
from libc.stdlib cimport malloc, free
from libc.stdint cimport int64_t

from fastnn._kernels.common cimport LANES, lane_sum, lane_sqdiff_sum, fexp, flog1p_pos, threads_for
from fastnn._kernels._runtime cimport parallel_min, PAR_LOSSES_CHEAP, PAR_LOSSES_TRANSCENDENTAL

cdef extern from *:
    """
    #define FNN_LOSS_BLOCK 8192       /* elements per parallel work item (bce, mse) */
    """
    enum: BLOCK "FNN_LOSS_BLOCK"

#: Elements per parallel work item of bce and mse (one partial loss each: see block_count).
BLOCK_SIZE = BLOCK

# Below _runtime's thresholds (elements N * C, or n) a loss runs on one thread:
# "losses.transcendental" for softmax and bce, "losses.cheap" for svm and mse.


# ---- row helpers (exp, log1p and the lane sum come from common.pxd) ----

cdef floating _row_max(const floating* s, Py_ssize_t C) noexcept nogil:
    """max of s[0:C] (C >= 1), NaN skipped (it comes back through exp(NaN - m))"""
    cdef floating mlane[LANES]
    cdef floating m, v
    cdef Py_ssize_t j = 0, k, c16 = C - C % LANES
    for k in range(LANES):
        mlane[k] = s[0]
    while j < c16:
        for k in range(LANES):
            v = s[j + k]
            mlane[k] = v if v > mlane[k] else mlane[k]
        j += LANES
    m = mlane[0]
    for k in range(LANES):
        m = mlane[k] if mlane[k] > m else m
    for j in range(c16, C):
        m = s[j] if s[j] > m else m
    return m


# ---- softmax cross-entropy ----

cdef double _softmax_row(const floating* s, floating* d, Py_ssize_t C, Py_ssize_t y,
                         floating inv_n) noexcept nogil:
    """loss_i = log sum_j exp(s_j - m) + m - s_y;  d = (softmax(s) - onehot(y)) / N"""
    cdef floating m = _row_max(s, C), scale
    cdef double total
    cdef Py_ssize_t j
    for j in range(C):                       # three short passes over an L1-resident row
        d[j] = fexp(s[j] - m)
    total = lane_sum(d, C)
    scale = <floating>(inv_n / total)
    for j in range(C):
        d[j] = d[j] * scale
    d[y] -= inv_n
    return log(total) + (<double>m - <double>s[y])


def softmax_loss(const floating[:, ::1] scores,  # IN  (N, C)
                 const int64_t[::1] y,           # IN  (N,) labels in [0, C)
                 floating[:, ::1] dscores,       # OUT (N, C)
                 double[::1] row_loss,           # OUT (N,) scratch: per-row loss
                 int n_threads):
    """loss = mean_i (logsumexp(s_i) - s_i[y_i]);  dscores = (softmax(s) - onehot(y)) / N"""
    return _row_loss_mean(_SOFTMAX, scores, y, dscores, row_loss, 0.0,
                          parallel_min(PAR_LOSSES_TRANSCENDENTAL), n_threads)


cdef double _softmax_smooth_row(const floating* s, floating* d, Py_ssize_t C, Py_ssize_t y,
                                floating inv_n, double eps) noexcept nogil:
    """target q = (1 - eps) onehot(y) + eps / C:
    loss_i = logsumexp(s) - (1 - eps) s_y - eps/C sum_j s_j;  d = (softmax(s) - q) / N"""
    cdef floating m = _row_max(s, C), scale
    cdef floating off = <floating>(eps / C * inv_n), on = <floating>((1.0 - eps) * inv_n)
    cdef double total, ssum
    cdef Py_ssize_t j
    ssum = lane_sum(s, C)
    for j in range(C):
        d[j] = fexp(s[j] - m)
    total = lane_sum(d, C)
    scale = <floating>(inv_n / total)
    for j in range(C):
        d[j] = d[j] * scale - off
    d[y] -= on
    return (log(total) + <double>m) - (1.0 - eps) * <double>s[y] - eps / C * ssum


def softmax_loss_smoothed(const floating[:, ::1] scores,  # IN  (N, C)
                          const int64_t[::1] y,           # IN  (N,) labels in [0, C)
                          floating[:, ::1] dscores,       # OUT (N, C)
                          double[::1] row_loss,           # OUT (N,) scratch: per-row loss
                          double label_smoothing, int n_threads):
    """loss = mean_i CE(s_i, (1 - eps) onehot(y_i) + eps / C);  dscores = (softmax(s) - q) / N"""
    return _row_loss_mean(_SOFTMAX_SMOOTHED, scores, y, dscores, row_loss, label_smoothing,
                          parallel_min(PAR_LOSSES_TRANSCENDENTAL), n_threads)


cdef double _ordered_sum(const double* v, Py_ssize_t n) noexcept nogil:
    """sum of v in index order (deterministic)"""
    cdef double t = 0
    cdef Py_ssize_t i
    for i in range(n):
        t += v[i]
    return t


# ---- multiclass SVM (hinge) ----

cdef double _svm_row(const floating* s, floating* d, floating* h, Py_ssize_t C, Py_ssize_t y,
                     floating margin, floating inv_n) noexcept nogil:
    """loss_i = sum_{j != y} max(0, s_j - s_y + margin);  d_j = [margin_j > 0] / N, d_y = -sum_j d_j"""
    cdef floating sy = s[y], v
    cdef double total, gtotal
    cdef Py_ssize_t j
    for j in range(C):
        v = s[j] - sy + margin
        h[j] = 0 if v <= 0 else v                                  # NaN stays NaN
        d[j] = 0 if v <= 0 else (inv_n if v == v else v)
    h[y] = 0                                                       # j = y is not a margin
    d[y] = 0
    total = lane_sum(h, C)
    gtotal = lane_sum(d, C)
    d[y] = <floating>(-gtotal)
    return total


cdef double _svm_row_scratch(const floating* s, floating* d, Py_ssize_t C, Py_ssize_t y,
                             floating margin, floating inv_n) noexcept nogil:
    """_svm_row with its hinge values in a thread-local scratch (heap when C is large)"""
    cdef floating buf[2048]
    cdef floating* h = buf
    cdef double r
    if C > 2048:
        h = <floating*>malloc(C * sizeof(floating))
        if h == NULL:
            return NAN
    r = _svm_row(s, d, h, C, y, margin, inv_n)
    if h != buf:
        free(h)
    return r


def svm_loss(const floating[:, ::1] scores,  # IN  (N, C)
             const int64_t[::1] y,           # IN  (N,) labels in [0, C)
             floating[:, ::1] dscores,       # OUT (N, C)
             double[::1] row_loss,           # OUT (N,) scratch: per-row loss
             double margin,
             int n_threads):
    """loss = mean_i sum_{j != y_i} max(0, s_ij - s_iy + margin)"""
    return _row_loss_mean(_SVM, scores, y, dscores, row_loss, margin,
                          parallel_min(PAR_LOSSES_CHEAP), n_threads)


# ---- the row driver: one row per work item, the row losses summed in order ----

cdef enum:
    _SOFTMAX, _SOFTMAX_SMOOTHED, _SVM


cdef double _row_loss_mean(int op, const floating[:, ::1] scores, const int64_t[::1] y,
                           floating[:, ::1] dscores, double[::1] row_loss, double param,
                           Py_ssize_t threshold, int n_threads):
    """mean over the rows of the row loss `op` (param: label_smoothing for the smoothed
    softmax, margin for the SVM), dscores filled; one thread below threshold (N * C).  One
    loop per op, so each loop calls its row function directly."""
    cdef Py_ssize_t N = scores.shape[0], C = scores.shape[1], i
    if N == 0 or C == 0:
        return 0.0
    cdef floating inv_n = <floating>(1.0 / N)
    cdef const floating* sp = &scores[0, 0]
    cdef floating* dp = &dscores[0, 0]
    cdef const int64_t* yp = &y[0]
    cdef double* lp = &row_loss[0]
    cdef int nt = threads_for(N * C, threshold, n_threads)
    cdef floating fparam = <floating>param
    if op == _SOFTMAX:
        for i in prange(N, schedule='static', nogil=True, num_threads=nt):
            lp[i] = _softmax_row(sp + i * C, dp + i * C, C, yp[i], inv_n)
    elif op == _SOFTMAX_SMOOTHED:
        for i in prange(N, schedule='static', nogil=True, num_threads=nt):
            lp[i] = _softmax_smooth_row(sp + i * C, dp + i * C, C, yp[i], inv_n, param)
    else:
        for i in prange(N, schedule='static', nogil=True, num_threads=nt):
            lp[i] = _svm_row_scratch(sp + i * C, dp + i * C, C, yp[i], fparam, inv_n)
    return _ordered_sum(lp, N) / N


# ---- elementwise losses: blocks of BLOCK elements ----

cdef double _bce_block(const floating* x, const floating* t, floating* d, Py_ssize_t n,
                       floating inv_n) noexcept nogil:
    """l = max(x, 0) - x t + log1p(exp(-|x|));  d = (sigmoid(x) - t) / n"""
    cdef floating l[BLOCK]
    cdef floating xi, ax, e, r, sg
    cdef Py_ssize_t i
    for i in range(n):
        xi = x[i]
        ax = xi if xi >= 0 else -xi
        e = fexp(-ax)
        l[i] = (xi if xi > 0 else 0) - xi * t[i] + flog1p_pos(e)
        r = 1 / (1 + e)
        sg = r if xi >= 0 else e * r
        d[i] = (sg - t[i]) * inv_n
    return lane_sum(l, n)


cdef double _mse_block(const floating* p, const floating* t, floating* d, Py_ssize_t n,
                       floating two_inv_n) noexcept nogil:
    """l = (p - t)^2;  d = 2 (p - t) / n"""
    cdef Py_ssize_t i
    for i in range(n):
        d[i] = <floating>(<double>p[i] - <double>t[i]) * two_inv_n
    return lane_sqdiff_sum(p, t, n)          # the block is still in cache


def bce_with_logits_loss(const floating[::1] logits,  # IN  (n,) flattened
                         const floating[::1] target,  # IN  (n,)
                         floating[::1] dlogits,       # OUT (n,)
                         double[::1] block_loss,      # OUT (ceil(n / BLOCK),) scratch
                         int n_threads):
    """loss = mean(max(x, 0) - x t + log1p(exp(-|x|)));  dx = (sigmoid(x) - t) / n"""
    cdef Py_ssize_t n = logits.shape[0]
    if n == 0:
        return 0.0
    return _blocks_sum(_BCE, logits, target, dlogits, block_loss, <floating>(1.0 / n),
                       parallel_min(PAR_LOSSES_TRANSCENDENTAL), n_threads) / n


def mse_loss(const floating[::1] pred,     # IN  (n,) flattened
             const floating[::1] target,   # IN  (n,)
             floating[::1] dpred,          # OUT (n,)
             double[::1] block_loss,       # OUT (ceil(n / BLOCK),) scratch
             double grad_scale,            # 2 / n for the mean, 2 for the sum
             int n_threads):
    """sum((p - t)^2) (the caller divides for the mean);  dp = grad_scale * (p - t)"""
    if pred.shape[0] == 0:
        return 0.0
    return _blocks_sum(_MSE, pred, target, dpred, block_loss, <floating>grad_scale,
                       parallel_min(PAR_LOSSES_CHEAP), n_threads)


# ---- the elementwise driver: one block of BLOCK elements per work item ----

cdef enum:
    _BCE, _MSE


cdef double _blocks_sum(int op, const floating[::1] x, const floating[::1] target,
                        floating[::1] dx, double[::1] block_loss, floating scale,
                        Py_ssize_t threshold, int n_threads):
    """sum of the block losses of _bce_block or _mse_block (scale: their gradient factor) in
    block order, dx filled; n > 0; one thread below threshold elements"""
    cdef Py_ssize_t n = x.shape[0], nblocks, blk, start
    cdef const floating* xp = &x[0]
    cdef const floating* tp = &target[0]
    cdef floating* dp = &dx[0]
    cdef double* lp = &block_loss[0]
    cdef int nt = threads_for(n, threshold, n_threads)
    nblocks = (n + BLOCK - 1) // BLOCK
    for blk in prange(nblocks, schedule='static', nogil=True, num_threads=nt):
        start = blk * BLOCK
        if op == _BCE:
            lp[blk] = _bce_block(xp + start, tp + start, dp + start,
                                 min(<Py_ssize_t>BLOCK, n - start), scale)
        else:
            lp[blk] = _mse_block(xp + start, tp + start, dp + start,
                                 min(<Py_ssize_t>BLOCK, n - start), scale)
    return _ordered_sum(lp, nblocks)


def block_count(Py_ssize_t n):
    """Partial-sum slots the elementwise losses need for n elements."""
    return max(<Py_ssize_t>1, (n + BLOCK - 1) // BLOCK)
