# Optimiser kernels: one fused pass over a parameter, its gradient and its
# optimiser state (compiled per SIMD target; see activations.pyx for the
# layout conventions).
#
# Every kernel updates w and the state in place.  Each parameter is viewed as a
# flat array and split into blocks of BLOCK contiguous elements; each block owns
# its elements (one thread writes w[i] and the state at i), and the serial block
# function has a branch-free inner loop the C compiler vectorises.  One call
# steps a whole list of parameters (see the driver below).  L2 weight
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

cdef inline floating _l2_grad(floating dw, floating w, floating wd, bint has_wd) noexcept nogil:
    """the gradient with L2 weight decay: dw + wd * w, or dw itself when wd == 0"""
    return dw + wd * w if has_wd else dw


cdef void _sgd_block(floating* w, const floating* dw, Py_ssize_t n,
                     floating lr, floating wd) noexcept nogil:
    cdef Py_ssize_t i
    cdef bint has_wd = wd != 0
    for i in range(n):
        w[i] = w[i] - lr * _l2_grad(dw[i], w[i], wd, has_wd)


cdef void _momentum_block(floating* w, const floating* dw, floating* v, Py_ssize_t n,
                          floating lr, floating mu, floating mu1, floating wd,
                          bint nesterov) noexcept nogil:
    # mu1 = 1 + mu, rounded once from double (as NumPy rounds the rule's Python scalar)
    cdef Py_ssize_t i
    cdef floating vp, vn, g
    cdef bint has_wd = wd != 0
    if nesterov:
        for i in range(n):
            g = _l2_grad(dw[i], w[i], wd, has_wd)
            vp = v[i]
            vn = mu * vp - lr * g
            v[i] = vn
            w[i] = w[i] + (-mu * vp + mu1 * vn)
    else:
        for i in range(n):
            g = _l2_grad(dw[i], w[i], wd, has_wd)
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
        g = _l2_grad(dw[i], w[i], wd, has_wd)
        c = decay * cache[i] + one_minus * (g * g)
        cache[i] = c
        w[i] = w[i] - lr * g / (fsqrt(c) + eps)


cdef void _adam_block(floating* w, const floating* dw, floating* m, floating* v, Py_ssize_t n,
                      floating lr, floating beta1, floating om1, floating beta2, floating om2,
                      floating eps, floating bc1, floating bc2, floating wd,
                      floating shrink) noexcept nogil:
    # om1 = 1 - beta1, om2 = 1 - beta2, rounded once from double.  Adam: L2 decay wd in the
    # gradient, shrink = 1 (w * 1 is exact).  AdamW: wd = 0, shrink = 1 - lr * weight_decay
    # (decoupled decay, applied to w before the step).
    cdef Py_ssize_t i
    cdef floating g, mi, vi
    cdef bint has_wd = wd != 0
    for i in range(n):
        g = _l2_grad(dw[i], w[i], wd, has_wd)
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
        g = _l2_grad(dw[i], w[i], wd, has_wd)
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


# ---- the parallel driver ----
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
#
# Every entry point below hands its rule and its scalars (doubles) to _run,
# which rounds the scalars once to the dtype and walks the blocks; _rule_block
# applies the rule to one block of one parameter.

BLOCK_SIZE = BLOCK

cdef enum:
    _SGD, _MOMENTUM, _NESTEROV, _RMSPROP, _ADAM, _ADAGRAD, _SUMSQ, _SCALE, _CLAMP


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


cdef inline void _rule_block(int op, const Py_ssize_t* row, Py_ssize_t start, Py_ssize_t n,
                             const floating* h, const double* per_a, const double* per_b,
                             Py_ssize_t t, double* block_sum) noexcept nogil:
    """the rule `op` on elements start .. start+n-1 of parameter t, whose array addresses
    are row[0..] (w, dw, state); h: the rule's scalars; per_a, per_b: scalars per parameter
    (or NULL)"""
    cdef floating* w = (<floating*><size_t>row[0]) + start
    if op == _SUMSQ:
        block_sum[0] = lane_sumsq(<const floating*>w, n)
    elif op == _SCALE:
        _scale_block(w, n, h[0])
    elif op == _CLAMP:
        _clamp_block(w, n, h[0], h[1])
    elif op == _SGD:
        _sgd_block(w, (<const floating*><size_t>row[1]) + start, n, h[0], h[1])
    elif op == _MOMENTUM or op == _NESTEROV:
        _momentum_block(w, (<const floating*><size_t>row[1]) + start,
                        (<floating*><size_t>row[2]) + start, n, h[0], h[1], h[2], h[3],
                        op == _NESTEROV)
    elif op == _RMSPROP:
        _rmsprop_block(w, (<const floating*><size_t>row[1]) + start,
                       (<floating*><size_t>row[2]) + start, n, h[0], h[1], h[2], h[3], h[4])
    elif op == _ADAM:
        _adam_block(w, (<const floating*><size_t>row[1]) + start,
                    (<floating*><size_t>row[2]) + start, (<floating*><size_t>row[3]) + start,
                    n, h[0], h[1], h[2], h[3], h[4], h[5], <floating>per_a[t], <floating>per_b[t],
                    h[6], h[7])
    elif op == _ADAGRAD:
        _adagrad_block(w, (<const floating*><size_t>row[1]) + start,
                       (<floating*><size_t>row[2]) + start, n, <floating>per_a[t], h[0], h[1])


cdef object _run(floating[::1] probe, int op, const Py_ssize_t[:, ::1] ptrs,
                 const Py_ssize_t[::1] sizes, const Py_ssize_t[::1] first_block,
                 const double* scalars, Py_ssize_t n_scalars, const double* per_a,
                 const double* per_b, double* block_sums, Py_ssize_t threshold, int n_threads):
    """apply the rule `op` to every block of every parameter: one block per work item, one
    thread below `threshold` elements in all.  The rule's scalars are rounded once to the dtype;
    per_a, per_b: scalars per parameter (or NULL); block_sums[b] gets block b's sum
    (_SUMSQ only, else NULL)."""
    cdef Py_ssize_t T = sizes.shape[0], b, t, start, nblocks, total = 0
    cdef floating h[8]
    if T == 0 or first_block[T] == 0:
        return
    nblocks = first_block[T]
    cdef const Py_ssize_t* fb = &first_block[0]
    for t in range(n_scalars):
        h[t] = <floating>scalars[t]
    for t in range(T):
        total += sizes[t]
    cdef int nt = threads_for(total, threshold, n_threads)
    for b in prange(nblocks, schedule='static', nogil=True, num_threads=nt):
        t = _tensor_of(fb, T, b)
        start = (b - fb[t]) * BLOCK
        _rule_block(op, &ptrs[t, 0], start, min(<Py_ssize_t>BLOCK, sizes[t] - start), h,
                    per_a, per_b, t, block_sums + b if block_sums != NULL else NULL)


cdef inline const double* _first(const double[::1] v) noexcept:
    """the address of v's first element, NULL when v is empty"""
    return &v[0] if v.shape[0] > 0 else NULL


# ---- the optimisers (called from fastnn.optim, which validates everything) ----

def sgd_step(floating[::1] probe,                # IN (any,) selects the dtype
             const Py_ssize_t[:, ::1] ptrs,      # IN (T, 2) addresses of w (INOUT), dw
             const Py_ssize_t[::1] sizes,        # IN (T,)   elements of each parameter
             const Py_ssize_t[::1] first_block,  # IN (T+1,) first block of each parameter
             double lr, double weight_decay, int n_threads):
    """w -= lr * (dw + weight_decay * w)"""
    cdef double s[2]
    s[:] = [lr, weight_decay]
    _run(probe, _SGD, ptrs, sizes, first_block, s, 2, NULL, NULL, NULL,
         parallel_min(PAR_OPTIM_SGD), n_threads)


def momentum_step(floating[::1] probe,                # IN (any,) selects the dtype
                  const Py_ssize_t[:, ::1] ptrs,      # IN (T, 3) addresses of w (INOUT), dw, v (INOUT)
                  const Py_ssize_t[::1] sizes,        # IN (T,)
                  const Py_ssize_t[::1] first_block,  # IN (T+1,)
                  double lr, double momentum, double weight_decay, bint nesterov,
                  int n_threads):
    """v' = mu v - lr g;  w += v' (or, Nesterov: w += -mu v + (1 + mu) v');  g = dw + wd w"""
    cdef double s[4]
    s[:] = [lr, momentum, 1.0 + momentum, weight_decay]
    _run(probe, _NESTEROV if nesterov else _MOMENTUM, ptrs, sizes, first_block, s, 4, NULL, NULL,
         NULL, parallel_min(PAR_OPTIM_SGD), n_threads)


def rmsprop_step(floating[::1] probe,                # IN (any,) selects the dtype
                 const Py_ssize_t[:, ::1] ptrs,      # IN (T, 3) addresses of w (INOUT), dw, cache (INOUT)
                 const Py_ssize_t[::1] sizes,        # IN (T,)
                 const Py_ssize_t[::1] first_block,  # IN (T+1,)
                 double lr, double decay_rate, double eps, double weight_decay,
                 int n_threads):
    """cache = d cache + (1 - d) g^2;  w -= lr g / (sqrt(cache) + eps)"""
    cdef double s[5]
    s[:] = [lr, decay_rate, 1.0 - decay_rate, eps, weight_decay]
    _run(probe, _RMSPROP, ptrs, sizes, first_block, s, 5, NULL, NULL, NULL,
         parallel_min(PAR_OPTIM_ADAPTIVE), n_threads)


def adam_step(floating[::1] probe,                # IN (any,) selects the dtype
              const Py_ssize_t[:, ::1] ptrs,      # IN (T, 4) addresses of w (INOUT), dw, m, v (INOUT)
              const Py_ssize_t[::1] sizes,        # IN (T,)
              const Py_ssize_t[::1] first_block,  # IN (T+1,)
              const double[::1] bias_correction1, # IN (T,) 1 - beta1^t of each parameter
              const double[::1] bias_correction2, # IN (T,) 1 - beta2^t
              double lr, double beta1, double beta2, double eps, double weight_decay,
              int n_threads):
    """m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  w -= lr (m/bc1) / (sqrt(v/bc2) + eps)"""
    cdef double s[8]
    s[:] = [lr, beta1, 1.0 - beta1, beta2, 1.0 - beta2, eps, weight_decay, 1.0]
    _run(probe, _ADAM, ptrs, sizes, first_block, s, 8, _first(bias_correction1),
         _first(bias_correction2), NULL,
         parallel_min(PAR_OPTIM_ADAPTIVE), n_threads)


def adamw_step(floating[::1] probe,                # IN (any,) selects the dtype
               const Py_ssize_t[:, ::1] ptrs,      # IN (T, 4) addresses of w (INOUT), dw, m, v (INOUT)
               const Py_ssize_t[::1] sizes,        # IN (T,)
               const Py_ssize_t[::1] first_block,  # IN (T+1,)
               const double[::1] bias_correction1, # IN (T,) 1 - beta1^t of each parameter
               const double[::1] bias_correction2, # IN (T,) 1 - beta2^t
               double lr, double beta1, double beta2, double eps, double weight_decay,
               int n_threads):
    """w *= 1 - lr wd;  m, v as Adam (g = dw);  w -= lr (m/bc1) / (sqrt(v/bc2) + eps)"""
    cdef double s[8]
    s[:] = [lr, beta1, 1.0 - beta1, beta2, 1.0 - beta2, eps, 0.0, 1.0 - lr * weight_decay]
    _run(probe, _ADAM, ptrs, sizes, first_block, s, 8, _first(bias_correction1),
         _first(bias_correction2), NULL,
         parallel_min(PAR_OPTIM_ADAPTIVE), n_threads)


def adagrad_step(floating[::1] probe,                # IN (any,) selects the dtype
                 const Py_ssize_t[:, ::1] ptrs,      # IN (T, 3) addresses of w (INOUT), dw, sum (INOUT)
                 const Py_ssize_t[::1] sizes,        # IN (T,)
                 const Py_ssize_t[::1] first_block,  # IN (T+1,)
                 const double[::1] clr,              # IN (T,) lr / (1 + (t - 1) lr_decay) of each parameter
                 double eps, double weight_decay, int n_threads):
    """sum += g^2;  w -= clr g / (sqrt(sum) + eps);  g = dw + wd w"""
    cdef double s[2]
    s[:] = [eps, weight_decay]
    _run(probe, _ADAGRAD, ptrs, sizes, first_block, s, 2, _first(clr), NULL, NULL,
         parallel_min(PAR_OPTIM_ADAPTIVE), n_threads)


# ---- gradient clipping: the same parameter table, one array per row ----

def sumsq(floating[::1] probe,                # IN (any,) selects the dtype
          const Py_ssize_t[:, ::1] ptrs,      # IN (T, 1) addresses of the arrays
          const Py_ssize_t[::1] sizes,        # IN (T,)
          const Py_ssize_t[::1] first_block,  # IN (T+1,)
          double[::1] block_sums,             # OUT (first_block[T],) scratch
          int n_threads):
    """sum over every array of x^2 (float64, summed in block order: the same for any thread count)"""
    cdef Py_ssize_t b
    cdef double total = 0
    _run(probe, _SUMSQ, ptrs, sizes, first_block, NULL, 0, NULL, NULL,
         &block_sums[0] if block_sums.shape[0] > 0 else NULL,
         parallel_min(PAR_OPTIM_SGD), n_threads)
    for b in range(first_block[sizes.shape[0]]):
        total += block_sums[b]
    return total


def scale(floating[::1] probe,                # IN (any,) selects the dtype
          const Py_ssize_t[:, ::1] ptrs,      # IN (T, 1) addresses of the arrays (INOUT)
          const Py_ssize_t[::1] sizes,        # IN (T,)
          const Py_ssize_t[::1] first_block,  # IN (T+1,)
          double c, int n_threads):
    """x *= c"""
    _run(probe, _SCALE, ptrs, sizes, first_block, &c, 1, NULL, NULL, NULL,
         parallel_min(PAR_OPTIM_SGD), n_threads)


def clamp(floating[::1] probe,                # IN (any,) selects the dtype
          const Py_ssize_t[:, ::1] ptrs,      # IN (T, 1) addresses of the arrays (INOUT)
          const Py_ssize_t[::1] sizes,        # IN (T,)
          const Py_ssize_t[::1] first_block,  # IN (T+1,)
          double lo, double hi, int n_threads):
    """x = min(max(x, lo), hi)  (NaN stays NaN)"""
    cdef double s[2]
    s[:] = [lo, hi]
    _run(probe, _CLAMP, ptrs, sizes, first_block, s, 2, NULL, NULL, NULL,
         parallel_min(PAR_OPTIM_SGD), n_threads)
