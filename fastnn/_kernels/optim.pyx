# Optimiser kernels: one fused pass over a parameter, its gradient and its
# optimiser state (compiled per SIMD target; see activations.pyx for the
# layout conventions).
#
# Every kernel updates w and the state in place.  The parameter is viewed as a
# flat array and split into blocks of BLOCK contiguous elements; each block owns
# its elements (one thread writes w[i] and the state at i), and the serial block
# function has a branch-free inner loop the C compiler vectorises.  L2 weight
# decay is added to the gradient first (PyTorch's SGD/RMSprop/Adam semantics):
# g = dw + weight_decay * w, and only when weight_decay != 0 (never 0 * w, which
# would turn an inf weight's gradient into NaN).
#
# Scalars (learning rate, bias corrections) arrive as doubles computed in
# Python and are rounded once to the parameter's dtype, as PyTorch does.
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport sqrt, sqrtf

from fastnn._kernels.common cimport threads_for

cdef extern from *:
    """
    #define FNN_OPTIM_BLOCK 4096                   /* elements per parallel work item */
    """
    enum: BLOCK "FNN_OPTIM_BLOCK"

# Below these sizes a step runs on one thread: waking the OpenMP team costs
# more than it saves.  Measured on 2 cores (float32, 1 vs 2 threads, best of
# repeated medians): SGD/momentum steps are pure streaming and 2 threads win
# from 64K elements (x1.4 at 64K, x0.8-0.9 at 16-32K); RMSProp/Adam do a sqrt
# and a division per element and win from 32K (x1.1 at 32K, x1.3 at 64K,
# x1.9 at 256K).  On big parameters one thread already streams ~40 GB/s.
PARALLEL_MIN_SGD = 65536
PARALLEL_MIN_ADAPTIVE = 32768
cdef Py_ssize_t _MIN_SGD = PARALLEL_MIN_SGD
cdef Py_ssize_t _MIN_ADAPTIVE = PARALLEL_MIN_ADAPTIVE


def _set_tuning(Py_ssize_t min_sgd, Py_ssize_t min_adaptive):
    """Override the thresholds above for this process; returns the old (min_sgd, min_adaptive)."""
    global _MIN_SGD, _MIN_ADAPTIVE
    old = (_MIN_SGD, _MIN_ADAPTIVE)
    _MIN_SGD, _MIN_ADAPTIVE = min_sgd, min_adaptive
    return old


cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


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
        w[i] = w[i] - lr * g / (_sqrt(c) + eps)


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
        w[i] = w[i] - lr * (mi / bc1) / (_sqrt(vi / bc2) + eps)


# ---- parallel drivers (called from fastnn.optim, which validates everything) ----

def sgd_step(floating[::1] w,           # INOUT (n,) parameter, flattened
             const floating[::1] dw,    # IN    (n,) gradient
             double lr, double weight_decay, int n_threads):
    """w -= lr * (dw + weight_decay * w)"""
    cdef Py_ssize_t n = w.shape[0], nblocks, blk, start
    if n == 0:
        return
    cdef floating* wp = &w[0]
    cdef const floating* gp = &dw[0]
    cdef floating flr = <floating>lr, fwd = <floating>weight_decay
    cdef int nt = threads_for(n, _MIN_SGD, n_threads)
    nblocks = (n + BLOCK - 1) // BLOCK
    for blk in prange(nblocks, schedule='static', nogil=True, num_threads=nt):
        start = blk * BLOCK
        _sgd_block(wp + start, gp + start, min(<Py_ssize_t>BLOCK, n - start), flr, fwd)


def momentum_step(floating[::1] w,          # INOUT (n,) parameter, flattened
                  const floating[::1] dw,   # IN    (n,) gradient
                  floating[::1] v,          # INOUT (n,) velocity
                  double lr, double momentum, double weight_decay, bint nesterov,
                  int n_threads):
    """v' = mu v - lr g;  w += v' (or, Nesterov: w += -mu v + (1 + mu) v');  g = dw + wd w"""
    cdef Py_ssize_t n = w.shape[0], nblocks, blk, start
    if n == 0:
        return
    cdef floating* wp = &w[0]
    cdef const floating* gp = &dw[0]
    cdef floating* vp = &v[0]
    cdef floating flr = <floating>lr, fmu = <floating>momentum, fwd = <floating>weight_decay
    cdef int nt = threads_for(n, _MIN_SGD, n_threads)
    nblocks = (n + BLOCK - 1) // BLOCK
    for blk in prange(nblocks, schedule='static', nogil=True, num_threads=nt):
        start = blk * BLOCK
        _momentum_block(wp + start, gp + start, vp + start, min(<Py_ssize_t>BLOCK, n - start),
                        flr, fmu, <floating>(1.0 + momentum), fwd, nesterov)


def rmsprop_step(floating[::1] w,          # INOUT (n,) parameter, flattened
                 const floating[::1] dw,   # IN    (n,) gradient
                 floating[::1] cache,      # INOUT (n,) running mean of g^2
                 double lr, double decay_rate, double eps, double weight_decay,
                 int n_threads):
    """cache = d cache + (1 - d) g^2;  w -= lr g / (sqrt(cache) + eps)"""
    cdef Py_ssize_t n = w.shape[0], nblocks, blk, start
    if n == 0:
        return
    cdef floating* wp = &w[0]
    cdef const floating* gp = &dw[0]
    cdef floating* cp = &cache[0]
    cdef floating flr = <floating>lr, fd = <floating>decay_rate, feps = <floating>eps
    cdef floating fwd = <floating>weight_decay
    cdef int nt = threads_for(n, _MIN_ADAPTIVE, n_threads)
    nblocks = (n + BLOCK - 1) // BLOCK
    for blk in prange(nblocks, schedule='static', nogil=True, num_threads=nt):
        start = blk * BLOCK
        _rmsprop_block(wp + start, gp + start, cp + start, min(<Py_ssize_t>BLOCK, n - start),
                       flr, fd, <floating>(1.0 - decay_rate), feps, fwd)


def adam_step(floating[::1] w,          # INOUT (n,) parameter, flattened
              const floating[::1] dw,   # IN    (n,) gradient
              floating[::1] m,          # INOUT (n,) first moment
              floating[::1] v,          # INOUT (n,) second moment
              double lr, double beta1, double beta2, double eps,
              double bias_correction1, double bias_correction2, double weight_decay,
              int n_threads):
    """m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  w -= lr (m/bc1) / (sqrt(v/bc2) + eps)"""
    cdef Py_ssize_t n = w.shape[0], nblocks, blk, start
    if n == 0:
        return
    cdef floating* wp = &w[0]
    cdef const floating* gp = &dw[0]
    cdef floating* mp = &m[0]
    cdef floating* vp = &v[0]
    cdef floating flr = <floating>lr, fb1 = <floating>beta1, fb2 = <floating>beta2
    cdef floating feps = <floating>eps, fbc1 = <floating>bias_correction1
    cdef floating fbc2 = <floating>bias_correction2, fwd = <floating>weight_decay
    cdef floating fom1 = <floating>(1.0 - beta1), fom2 = <floating>(1.0 - beta2)
    cdef int nt = threads_for(n, _MIN_ADAPTIVE, n_threads)
    nblocks = (n + BLOCK - 1) // BLOCK
    for blk in prange(nblocks, schedule='static', nogil=True, num_threads=nt):
        start = blk * BLOCK
        _adam_block(wp + start, gp + start, mp + start, vp + start,
                    min(<Py_ssize_t>BLOCK, n - start), flr, fb1, fom1, fb2, fom2, feps, fbc1, fbc2, fwd)
