# Optimiser kernels: one fused pass over a parameter, its gradient and its
# optimiser state (compiled per SIMD target; see activations.pyx for the
# layout conventions).
#
# Every kernel updates w and the state in place.  Each parameter is viewed as a
# flat array and split into blocks of BLOCK contiguous elements; each block owns
# its elements (one thread writes w[i] and the state at i), and the serial block
# function has a branch-free inner loop the C compiler vectorises.  One call
# steps a whole list of parameters (see the drivers below).  L2 weight
# decay is added to the gradient first (PyTorch's SGD/RMSprop/Adam semantics):
# g = dw + weight_decay * w, and only when weight_decay != 0 (never 0 * w, which
# would turn an inf weight's gradient into NaN).
#
# Scalars (learning rate, bias corrections) arrive as doubles computed in
# Python and are rounded once to the parameter's dtype, as PyTorch does.
from cython cimport floating
from cython.parallel cimport prange

from fastnn._kernels.common cimport fclip, fsqrt, lane_sumsq, threads_for
from fastnn._kernels._runtime cimport parallel_min, PAR_OPTIM_ADAPTIVE, PAR_OPTIM_SGD

cdef extern from *:
    """
    #define FNN_OPTIM_BLOCK 4096                   /* elements per parallel work item */
    """
    enum: BLOCK "FNN_OPTIM_BLOCK"

# Below _runtime's thresholds (elements of all parameters of the call) a step runs on one
# thread: "optim.sgd" for the streaming steps (sgd, momentum, scale, clamp, norms),
# "optim.adaptive" for rmsprop, adam, adamw and adagrad (a sqrt and a division per element).


# ---- block functions: serial, vectorisable ----

cdef void _sgd_block(floating* w, const floating* dw, Py_ssize_t n,
                     floating lr, floating wd) noexcept nogil:
    cdef Py_ssize_t i
    cdef bint has_wd = wd != 0
    for i in range(n):
        w[i] = w[i] - lr * (dw[i] + wd * w[i] if has_wd else dw[i])


cdef void _momentum_block(floating* w, const floating* dw, floating* v, Py_ssize_t n,
                          floating lr, floating mu, floating mu1, floating wd,
                          bint nesterov) noexcept nogil:
    # mu1 = 1 + mu, rounded once from double (as NumPy rounds the rule's Python scalar)
    cdef Py_ssize_t i
    cdef floating vp, vn, g
    cdef bint has_wd = wd != 0
    if nesterov:
        for i in range(n):
            g = dw[i] + wd * w[i] if has_wd else dw[i]
            vp = v[i]
            vn = mu * vp - lr * g
            v[i] = vn
            w[i] = w[i] + (-mu * vp + mu1 * vn)
    else:
        for i in range(n):
            g = dw[i] + wd * w[i] if has_wd else dw[i]
            vn = mu * v[i] - lr * g
            v[i] = vn
            w[i] = w[i] + vn


cdef void _rmsprop_block(floating* w, const floating* dw, floating* cache, Py_ssize_t n,
                         floating lr, floating decay, floating one_minus, floating eps,
                         floating wd) noexcept nogil:
    # one_minus = 1 - decay, rounded once from double
    cdef Py_ssize_t i
    cdef floating g, c
    cdef bint has_wd = wd != 0
    for i in range(n):
        g = dw[i] + wd * w[i] if has_wd else dw[i]
        c = decay * cache[i] + one_minus * (g * g)
        cache[i] = c
        w[i] = w[i] - lr * g / (fsqrt(c) + eps)


cdef void _adam_block(floating* w, const floating* dw, floating* m, floating* v, Py_ssize_t n,
                      floating lr, floating beta1, floating om1, floating beta2, floating om2,
                      floating eps, floating bc1, floating bc2, floating wd) noexcept nogil:
    # om1 = 1 - beta1, om2 = 1 - beta2, rounded once from double
    cdef Py_ssize_t i
    cdef floating g, mi, vi
    cdef bint has_wd = wd != 0
    for i in range(n):
        g = dw[i] + wd * w[i] if has_wd else dw[i]
        mi = beta1 * m[i] + om1 * g
        vi = beta2 * v[i] + om2 * (g * g)
        m[i] = mi
        v[i] = vi
        w[i] = w[i] - lr * (mi / bc1) / (fsqrt(vi / bc2) + eps)


cdef void _adamw_block(floating* w, const floating* dw, floating* m, floating* v, Py_ssize_t n,
                       floating lr, floating beta1, floating om1, floating beta2, floating om2,
                       floating eps, floating bc1, floating bc2, floating shrink) noexcept nogil:
    # shrink = 1 - lr * weight_decay, rounded once from double (decoupled decay, applied first)
    cdef Py_ssize_t i
    cdef floating g, mi, vi
    for i in range(n):
        g = dw[i]
        mi = beta1 * m[i] + om1 * g
        vi = beta2 * v[i] + om2 * (g * g)
        m[i] = mi
        v[i] = vi
        w[i] = w[i] * shrink - lr * (mi / bc1) / (fsqrt(vi / bc2) + eps)


cdef void _adagrad_block(floating* w, const floating* dw, floating* acc, Py_ssize_t n,
                         floating clr, floating eps, floating wd) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating g, a
    cdef bint has_wd = wd != 0
    for i in range(n):
        g = dw[i] + wd * w[i] if has_wd else dw[i]
        a = acc[i] + g * g
        acc[i] = a
        w[i] = w[i] - clr * g / (fsqrt(a) + eps)


cdef void _scale_block(floating* x, Py_ssize_t n, floating c) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        x[i] = x[i] * c


cdef void _clamp_block(floating* x, Py_ssize_t n, floating lo, floating hi) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        x[i] = fclip(x[i], lo, hi)          # NaN stays NaN


# ---- parallel drivers (called from fastnn.optim, which validates everything) ----
#
# One call steps every parameter of one dtype (multi-tensor, like PyTorch's
# foreach): one OpenMP region per step instead of one per parameter, whose
# blocks span all the parameters.  Each parameter arrives as the addresses of
# its C-contiguous arrays (a row of `ptrs`: w, dw, then the state buffers),
# its element count `sizes[t]` and `first_block[t]`, the index of its first
# block in the global block numbering (`first_block[T]` = all blocks).  The
# arrays are kept alive, and checked (dtype, size, contiguity, no overlap),
# by fastnn.optim.  `probe` is any array of the dtype: it picks the float32
# or float64 build.

BLOCK_SIZE = BLOCK


cdef inline Py_ssize_t _tensor_of(const Py_ssize_t* first_block, Py_ssize_t T,
                                  Py_ssize_t b) noexcept nogil:
    """the last t with first_block[t] <= b (skips parameters without blocks)"""
    cdef Py_ssize_t lo = 0, hi = T - 1, mid
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if first_block[mid] <= b:
            lo = mid
        else:
            hi = mid - 1
    return lo


cdef inline int _threads(const Py_ssize_t[::1] sizes, Py_ssize_t threshold, int n_threads) noexcept nogil:
    cdef Py_ssize_t t, total = 0
    for t in range(sizes.shape[0]):
        total += sizes[t]
    return threads_for(total, threshold, n_threads)


def sgd_step(floating[::1] probe,                # IN (any,) selects the dtype
             const Py_ssize_t[:, ::1] ptrs,      # IN (T, 2) addresses of w (INOUT), dw
             const Py_ssize_t[::1] sizes,        # IN (T,)   elements of each parameter
             const Py_ssize_t[::1] first_block,  # IN (T+1,) first block of each parameter
             double lr, double weight_decay, int n_threads):
    """w -= lr * (dw + weight_decay * w)"""
    cdef Py_ssize_t T = sizes.shape[0], b, t, start, nblocks
    if T == 0 or first_block[T] == 0:
        return
    nblocks = first_block[T]
    cdef const Py_ssize_t* fb = &first_block[0]
    cdef floating flr = <floating>lr, fwd = <floating>weight_decay
    cdef int nt = _threads(sizes, parallel_min(PAR_OPTIM_SGD), n_threads)
    for b in prange(nblocks, schedule='static', nogil=True, num_threads=nt):
        t = _tensor_of(fb, T, b)
        start = (b - fb[t]) * BLOCK
        _sgd_block((<floating*><size_t>ptrs[t, 0]) + start,
                   (<const floating*><size_t>ptrs[t, 1]) + start,
                   min(<Py_ssize_t>BLOCK, sizes[t] - start), flr, fwd)


def momentum_step(floating[::1] probe,                # IN (any,) selects the dtype
                  const Py_ssize_t[:, ::1] ptrs,      # IN (T, 3) addresses of w (INOUT), dw, v (INOUT)
                  const Py_ssize_t[::1] sizes,        # IN (T,)
                  const Py_ssize_t[::1] first_block,  # IN (T+1,)
                  double lr, double momentum, double weight_decay, bint nesterov,
                  int n_threads):
    """v' = mu v - lr g;  w += v' (or, Nesterov: w += -mu v + (1 + mu) v');  g = dw + wd w"""
    cdef Py_ssize_t T = sizes.shape[0], b, t, start, nblocks
    if T == 0 or first_block[T] == 0:
        return
    nblocks = first_block[T]
    cdef const Py_ssize_t* fb = &first_block[0]
    cdef floating flr = <floating>lr, fmu = <floating>momentum, fwd = <floating>weight_decay
    cdef floating fmu1 = <floating>(1.0 + momentum)
    cdef int nt = _threads(sizes, parallel_min(PAR_OPTIM_SGD), n_threads)
    for b in prange(nblocks, schedule='static', nogil=True, num_threads=nt):
        t = _tensor_of(fb, T, b)
        start = (b - fb[t]) * BLOCK
        _momentum_block((<floating*><size_t>ptrs[t, 0]) + start,
                        (<const floating*><size_t>ptrs[t, 1]) + start,
                        (<floating*><size_t>ptrs[t, 2]) + start,
                        min(<Py_ssize_t>BLOCK, sizes[t] - start), flr, fmu, fmu1, fwd, nesterov)


def rmsprop_step(floating[::1] probe,                # IN (any,) selects the dtype
                 const Py_ssize_t[:, ::1] ptrs,      # IN (T, 3) addresses of w (INOUT), dw, cache (INOUT)
                 const Py_ssize_t[::1] sizes,        # IN (T,)
                 const Py_ssize_t[::1] first_block,  # IN (T+1,)
                 double lr, double decay_rate, double eps, double weight_decay,
                 int n_threads):
    """cache = d cache + (1 - d) g^2;  w -= lr g / (sqrt(cache) + eps)"""
    cdef Py_ssize_t T = sizes.shape[0], b, t, start, nblocks
    if T == 0 or first_block[T] == 0:
        return
    nblocks = first_block[T]
    cdef const Py_ssize_t* fb = &first_block[0]
    cdef floating flr = <floating>lr, fd = <floating>decay_rate, feps = <floating>eps
    cdef floating fom = <floating>(1.0 - decay_rate), fwd = <floating>weight_decay
    cdef int nt = _threads(sizes, parallel_min(PAR_OPTIM_ADAPTIVE), n_threads)
    for b in prange(nblocks, schedule='static', nogil=True, num_threads=nt):
        t = _tensor_of(fb, T, b)
        start = (b - fb[t]) * BLOCK
        _rmsprop_block((<floating*><size_t>ptrs[t, 0]) + start,
                       (<const floating*><size_t>ptrs[t, 1]) + start,
                       (<floating*><size_t>ptrs[t, 2]) + start,
                       min(<Py_ssize_t>BLOCK, sizes[t] - start), flr, fd, fom, feps, fwd)


def adam_step(floating[::1] probe,                # IN (any,) selects the dtype
              const Py_ssize_t[:, ::1] ptrs,      # IN (T, 4) addresses of w (INOUT), dw, m, v (INOUT)
              const Py_ssize_t[::1] sizes,        # IN (T,)
              const Py_ssize_t[::1] first_block,  # IN (T+1,)
              const double[::1] bias_correction1, # IN (T,) 1 - beta1^t of each parameter
              const double[::1] bias_correction2, # IN (T,) 1 - beta2^t
              double lr, double beta1, double beta2, double eps, double weight_decay,
              int n_threads):
    """m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  w -= lr (m/bc1) / (sqrt(v/bc2) + eps)"""
    cdef Py_ssize_t T = sizes.shape[0], b, t, start, nblocks
    if T == 0 or first_block[T] == 0:
        return
    nblocks = first_block[T]
    cdef const Py_ssize_t* fb = &first_block[0]
    cdef floating flr = <floating>lr, fb1 = <floating>beta1, fb2 = <floating>beta2
    cdef floating feps = <floating>eps, fwd = <floating>weight_decay
    cdef floating fom1 = <floating>(1.0 - beta1), fom2 = <floating>(1.0 - beta2)
    cdef int nt = _threads(sizes, parallel_min(PAR_OPTIM_ADAPTIVE), n_threads)
    for b in prange(nblocks, schedule='static', nogil=True, num_threads=nt):
        t = _tensor_of(fb, T, b)
        start = (b - fb[t]) * BLOCK
        _adam_block((<floating*><size_t>ptrs[t, 0]) + start,
                    (<const floating*><size_t>ptrs[t, 1]) + start,
                    (<floating*><size_t>ptrs[t, 2]) + start,
                    (<floating*><size_t>ptrs[t, 3]) + start,
                    min(<Py_ssize_t>BLOCK, sizes[t] - start), flr, fb1, fom1, fb2, fom2, feps,
                    <floating>bias_correction1[t], <floating>bias_correction2[t], fwd)


def adamw_step(floating[::1] probe,                # IN (any,) selects the dtype
               const Py_ssize_t[:, ::1] ptrs,      # IN (T, 4) addresses of w (INOUT), dw, m, v (INOUT)
               const Py_ssize_t[::1] sizes,        # IN (T,)
               const Py_ssize_t[::1] first_block,  # IN (T+1,)
               const double[::1] bias_correction1, # IN (T,) 1 - beta1^t of each parameter
               const double[::1] bias_correction2, # IN (T,) 1 - beta2^t
               double lr, double beta1, double beta2, double eps, double weight_decay,
               int n_threads):
    """w *= 1 - lr wd;  m, v as Adam (g = dw);  w -= lr (m/bc1) / (sqrt(v/bc2) + eps)"""
    cdef Py_ssize_t T = sizes.shape[0], b, t, start, nblocks
    if T == 0 or first_block[T] == 0:
        return
    nblocks = first_block[T]
    cdef const Py_ssize_t* fb = &first_block[0]
    cdef floating flr = <floating>lr, fb1 = <floating>beta1, fb2 = <floating>beta2
    cdef floating feps = <floating>eps, fshrink = <floating>(1.0 - lr * weight_decay)
    cdef floating fom1 = <floating>(1.0 - beta1), fom2 = <floating>(1.0 - beta2)
    cdef int nt = _threads(sizes, parallel_min(PAR_OPTIM_ADAPTIVE), n_threads)
    for b in prange(nblocks, schedule='static', nogil=True, num_threads=nt):
        t = _tensor_of(fb, T, b)
        start = (b - fb[t]) * BLOCK
        _adamw_block((<floating*><size_t>ptrs[t, 0]) + start,
                     (<const floating*><size_t>ptrs[t, 1]) + start,
                     (<floating*><size_t>ptrs[t, 2]) + start,
                     (<floating*><size_t>ptrs[t, 3]) + start,
                     min(<Py_ssize_t>BLOCK, sizes[t] - start), flr, fb1, fom1, fb2, fom2, feps,
                     <floating>bias_correction1[t], <floating>bias_correction2[t], fshrink)


def adagrad_step(floating[::1] probe,                # IN (any,) selects the dtype
                 const Py_ssize_t[:, ::1] ptrs,      # IN (T, 3) addresses of w (INOUT), dw, sum (INOUT)
                 const Py_ssize_t[::1] sizes,        # IN (T,)
                 const Py_ssize_t[::1] first_block,  # IN (T+1,)
                 const double[::1] clr,              # IN (T,) lr / (1 + (t - 1) lr_decay) of each parameter
                 double eps, double weight_decay, int n_threads):
    """sum += g^2;  w -= clr g / (sqrt(sum) + eps);  g = dw + wd w"""
    cdef Py_ssize_t T = sizes.shape[0], b, t, start, nblocks
    if T == 0 or first_block[T] == 0:
        return
    nblocks = first_block[T]
    cdef const Py_ssize_t* fb = &first_block[0]
    cdef floating feps = <floating>eps, fwd = <floating>weight_decay
    cdef int nt = _threads(sizes, parallel_min(PAR_OPTIM_ADAPTIVE), n_threads)
    for b in prange(nblocks, schedule='static', nogil=True, num_threads=nt):
        t = _tensor_of(fb, T, b)
        start = (b - fb[t]) * BLOCK
        _adagrad_block((<floating*><size_t>ptrs[t, 0]) + start,
                       (<const floating*><size_t>ptrs[t, 1]) + start,
                       (<floating*><size_t>ptrs[t, 2]) + start,
                       min(<Py_ssize_t>BLOCK, sizes[t] - start), <floating>clr[t], feps, fwd)


# ---- gradient clipping: the same parameter table, one array per row ----

def sumsq(floating[::1] probe,                # IN (any,) selects the dtype
          const Py_ssize_t[:, ::1] ptrs,      # IN (T, 1) addresses of the arrays
          const Py_ssize_t[::1] sizes,        # IN (T,)
          const Py_ssize_t[::1] first_block,  # IN (T+1,)
          double[::1] block_sums,             # OUT (first_block[T],) scratch
          int n_threads):
    """sum over every array of x^2 (float64, summed in block order: the same for any thread count)"""
    cdef Py_ssize_t T = sizes.shape[0], b, t, start, nblocks
    if T == 0 or first_block[T] == 0:
        return 0.0
    nblocks = first_block[T]
    cdef const Py_ssize_t* fb = &first_block[0]
    cdef double* out = &block_sums[0]
    cdef double total = 0
    cdef int nt = _threads(sizes, parallel_min(PAR_OPTIM_SGD), n_threads)
    for b in prange(nblocks, schedule='static', nogil=True, num_threads=nt):
        t = _tensor_of(fb, T, b)
        start = (b - fb[t]) * BLOCK
        out[b] = lane_sumsq((<const floating*><size_t>ptrs[t, 0]) + start,
                              min(<Py_ssize_t>BLOCK, sizes[t] - start))
    for b in range(nblocks):
        total += out[b]
    return total


def scale(floating[::1] probe,                # IN (any,) selects the dtype
          const Py_ssize_t[:, ::1] ptrs,      # IN (T, 1) addresses of the arrays (INOUT)
          const Py_ssize_t[::1] sizes,        # IN (T,)
          const Py_ssize_t[::1] first_block,  # IN (T+1,)
          double c, int n_threads):
    """x *= c"""
    cdef Py_ssize_t T = sizes.shape[0], b, t, start, nblocks
    if T == 0 or first_block[T] == 0:
        return
    nblocks = first_block[T]
    cdef const Py_ssize_t* fb = &first_block[0]
    cdef floating fc = <floating>c
    cdef int nt = _threads(sizes, parallel_min(PAR_OPTIM_SGD), n_threads)
    for b in prange(nblocks, schedule='static', nogil=True, num_threads=nt):
        t = _tensor_of(fb, T, b)
        start = (b - fb[t]) * BLOCK
        _scale_block((<floating*><size_t>ptrs[t, 0]) + start,
                     min(<Py_ssize_t>BLOCK, sizes[t] - start), fc)


def clamp(floating[::1] probe,                # IN (any,) selects the dtype
          const Py_ssize_t[:, ::1] ptrs,      # IN (T, 1) addresses of the arrays (INOUT)
          const Py_ssize_t[::1] sizes,        # IN (T,)
          const Py_ssize_t[::1] first_block,  # IN (T+1,)
          double lo, double hi, int n_threads):
    """x = min(max(x, lo), hi)  (NaN stays NaN)"""
    cdef Py_ssize_t T = sizes.shape[0], b, t, start, nblocks
    if T == 0 or first_block[T] == 0:
        return
    nblocks = first_block[T]
    cdef const Py_ssize_t* fb = &first_block[0]
    cdef floating flo = <floating>lo, fhi = <floating>hi
    cdef int nt = _threads(sizes, parallel_min(PAR_OPTIM_SGD), n_threads)
    for b in prange(nblocks, schedule='static', nogil=True, num_threads=nt):
        t = _tensor_of(fb, T, b)
        start = (b - fb[t]) * BLOCK
        _clamp_block((<floating*><size_t>ptrs[t, 0]) + start,
                     min(<Py_ssize_t>BLOCK, sizes[t] - start), flo, fhi)
