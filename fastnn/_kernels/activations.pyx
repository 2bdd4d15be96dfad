# Activation kernels: elementwise forward/backward, PReLU, Maxout selection.
#
# This file is compiled once per SIMD target (baseline / avx2 / avx512) by
# setup.py, which generates `activations_<target>.pyx` stubs that include it;
# fastnn._dispatch imports the one the CPU supports.
#
# Layout of every elementwise kernel: a parallel loop over blocks of BLOCK
# contiguous elements (each block owns its outputs), calling a serial block
# function whose inner loop is branch-free so the C compiler vectorises it.
from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport int32_t

from fastnn._kernels.common cimport (
    fexp, fexpm1, ftanh, fsigmoid, fgelu, fgelu_grad, flog1p_pos, lane_sum, stream_copy, threads_for,
    fnn_stream_fence,
)
from fastnn._kernels._runtime cimport (
    parallel_min, stream_min_bytes, PAR_ACTIVATIONS_CHEAP, PAR_ACTIVATIONS_TRANSCENDENTAL,
)

cdef extern from *:
    """
    #define FNN_BLOCK 8192                         /* elements per parallel work item */
    #define FNN_GELU_BETA 0.79788456080286535588    /* sqrt(2/pi) */
    #define FNN_GELU_KAPPA 0.044715
    """
    enum: BLOCK "FNN_BLOCK"
    const double GELU_BETA "FNN_GELU_BETA"
    const double GELU_KAPPA "FNN_GELU_KAPPA"

#: Elements per parallel work item (the shared-alpha PReLU rows of fastnn.ops use it too).
BLOCK_SIZE = BLOCK

# Parallel thresholds: _runtime's "activations.cheap" (relu, leaky relu, prelu, maxout) and
# "activations.transcendental" (the rest).  Outputs of at least _runtime's STREAM_MIN_BYTES
# are written with streaming stores.

# Op codes of the elementwise family (fastnn.ops maps names to these).
cdef enum:
    RELU = 0
    LEAKY_RELU = 1
    ELU = 2          # a = alpha, b = scale (SELU is ELU with its constants)
    SIGMOID = 3
    TANH = 4
    GELU = 5         # exact: x * Phi(x)
    GELU_TANH = 6    # tanh approximation
    SOFTPLUS = 7     # a = beta, b = threshold
    SILU = 8

OPS = {"relu": RELU, "leaky_relu": LEAKY_RELU, "elu": ELU, "sigmoid": SIGMOID,
       "tanh": TANH, "gelu": GELU, "gelu_tanh": GELU_TANH, "softplus": SOFTPLUS,
       "silu": SILU}


cdef inline Py_ssize_t _parallel_min(int op) noexcept nogil:
    """The one-thread threshold of an elementwise op: relu/leaky_relu are cheap."""
    if op == RELU or op == LEAKY_RELU:
        return parallel_min(PAR_ACTIVATIONS_CHEAP)
    return parallel_min(PAR_ACTIVATIONS_TRANSCENDENTAL)



# ---- scalar maths (the shared helpers are in common.pxd) ----

cdef inline floating _softplus(floating x, floating beta, floating threshold) noexcept nogil:
    """x if beta x > threshold else log(1 + exp(beta x)) / beta"""
    cdef floating z = x * beta
    cdef floating zpos = z if z > 0 else 0
    cdef floating r = (zpos + flog1p_pos(fexp(-(z if z >= 0 else -z)))) / beta
    return x if z > threshold else r

cdef inline floating _gelu_tanh_inner(floating x) noexcept nogil:
    """2 * sqrt(2/pi) * (x + 0.044715 x^3): gelu_tanh(x) = x * sigmoid(inner)"""
    return <floating>(2.0 * GELU_BETA) * (x + <floating>GELU_KAPPA * x * x * x)


# ---- block functions: serial, vectorisable ----

cdef void _forward_block(int op, const floating* x, floating* y, Py_ssize_t n,
                         floating a, floating b) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating ab = a * b
    if op == RELU:
        for i in range(n):
            y[i] = 0 if x[i] <= 0 else x[i]
    elif op == LEAKY_RELU:
        for i in range(n):
            y[i] = x[i] if x[i] > 0 else x[i] * a
    elif op == ELU:
        for i in range(n):
            y[i] = x[i] * b if x[i] > 0 else fexpm1(x[i]) * ab
    elif op == SIGMOID:
        for i in range(n):
            y[i] = fsigmoid(x[i])
    elif op == TANH:
        for i in range(n):
            y[i] = ftanh(x[i])
    elif op == GELU:
        for i in range(n):
            y[i] = fgelu(x[i])
    elif op == GELU_TANH:
        for i in range(n):
            y[i] = x[i] * fsigmoid(_gelu_tanh_inner(x[i]))
    elif op == SOFTPLUS:
        for i in range(n):
            y[i] = _softplus(x[i], a, b)
    elif op == SILU:
        for i in range(n):
            y[i] = x[i] * fsigmoid(x[i])


cdef void _backward_block(int op, const floating* g, const floating* z, floating* dx,
                          Py_ssize_t n, floating a, floating b) noexcept nogil:
    # z is the forward output y for relu / sigmoid / tanh, the input x otherwise.
    cdef Py_ssize_t i
    cdef floating ab = a * b, s, t, xi
    if op == RELU:
        for i in range(n):
            s = g[i]        # load unconditionally so the select vectorises without masked loads
            dx[i] = 0 if z[i] <= 0 else s
    elif op == LEAKY_RELU:
        for i in range(n):
            dx[i] = g[i] if z[i] > 0 else g[i] * a
    elif op == ELU:
        for i in range(n):
            dx[i] = g[i] * ab * fexp(z[i]) if z[i] <= 0 else g[i] * b
    elif op == SIGMOID:
        for i in range(n):
            dx[i] = g[i] * (1 - z[i]) * z[i]
    elif op == TANH:
        for i in range(n):
            dx[i] = g[i] * (1 - z[i] * z[i])
    elif op == GELU:
        for i in range(n):
            dx[i] = g[i] * fgelu_grad(z[i])
    elif op == GELU_TANH:
        for i in range(n):
            xi = z[i]
            s = fsigmoid(_gelu_tanh_inner(xi))
            # d/dx [x s(u)] = s + x s (1 - s) u',  u' = 2 beta (1 + 3 kappa x^2)
            t = <floating>(2.0 * GELU_BETA) * (1 + <floating>(3.0 * GELU_KAPPA) * xi * xi)
            dx[i] = g[i] * (s + xi * s * (1 - s) * t)
    elif op == SOFTPLUS:
        for i in range(n):
            t = z[i] * a
            dx[i] = g[i] if t > b else g[i] * fsigmoid(t)
    elif op == SILU:
        for i in range(n):
            s = fsigmoid(z[i])
            dx[i] = g[i] * s * (1 + z[i] * (1 - s))


cdef inline void _op_block(int op, bint backward, const floating* g, const floating* z,
                           floating* out, Py_ssize_t n, floating a, floating b) noexcept nogil:
    if backward:
        _backward_block(op, g, z, out, n, a, b)
    else:
        _forward_block(op, z, out, n, a, b)


cdef void _block(int op, bint backward, const floating* g, const floating* z, floating* out,
                 Py_ssize_t n, floating a, floating b, bint stream) noexcept nogil:
    """out = f(z) (forward) or g * f'(z) (backward) on one block; with stream, computed into an
    L1 scratch and streamed out to out (the block functions are called from both branches,
    which keeps them out of line, compiled once each)"""
    cdef floating scratch[BLOCK]
    if not stream:
        _op_block(op, backward, g, z, out, n, a, b)
        return
    _op_block(op, backward, g, z, scratch, n, a, b)
    stream_copy(out, scratch, n)
    fnn_stream_fence()


# ---- parallel drivers (called from fastnn.ops, which validates everything) ----

cdef void _run(int op, bint backward, const floating* g, const floating* z, floating* out,
               Py_ssize_t n, double a, double b, int n_threads) noexcept:
    """_block over the blocks of n > 0 elements (g is read only by the backward pass)"""
    cdef Py_ssize_t nblocks, blk, start
    cdef floating fa = <floating>a, fb = <floating>b
    cdef int nt = threads_for(n, _parallel_min(op), n_threads)
    cdef bint stream = n * <Py_ssize_t>sizeof(floating) >= stream_min_bytes()
    nblocks = (n + BLOCK - 1) // BLOCK
    for blk in prange(nblocks, schedule='static', nogil=True, num_threads=nt):
        start = blk * BLOCK
        _block(op, backward, g + start, z + start, out + start, min(<Py_ssize_t>BLOCK, n - start),
               fa, fb, stream)


def unary_forward(int op,
                  const floating[::1] x,    # IN  (n,) flattened input
                  floating[::1] out,        # OUT (n,)
                  double a, double b,       # op parameters (slope, alpha/scale, beta/threshold)
                  int n_threads):
    """out = f(x) for the elementwise op `op`"""
    if x.shape[0] > 0:
        _run(op, False, &x[0], &x[0], &out[0], x.shape[0], a, b, n_threads)


def unary_backward(int op,
                   const floating[::1] dout,  # IN  (n,) upstream gradient
                   const floating[::1] z,     # IN  (n,) saved x, or y for relu/sigmoid/tanh
                   floating[::1] dx,          # OUT (n,)
                   double a, double b,
                   int n_threads):
    """dx = dout * f'(x)"""
    if dout.shape[0] > 0:
        _run(op, True, &dout[0], &z[0], &dx[0], dout.shape[0], a, b, n_threads)


# ---- PReLU: x viewed as rows of C channel segments of S elements ----
# Row r covers elements [r*C*S, min((r+1)*C*S, total)); segment c of a row uses
# alpha[c].  Per-channel alpha: rows = N, C = channels, S = prod(shape[2:]).
# Shared alpha: C = 1 and rows are blocks of S = BLOCK elements.

cdef double _prelu_dalpha_sum(const floating* x, const floating* g, Py_ssize_t n) noexcept nogil:
    """sum of x * g over x <= 0: chunks of 1024 selected into a scratch, each summed by lane_sum,
    the chunk sums added in order (deterministic)"""
    # Two simple loops per chunk -- a select into a scratch, then the lane sum of the scratch.
    # The one-loop form `lane[j] += 0 if x > 0 else x * g` is miscompiled by gcc 12.2 -O3
    # for AVX2/AVX-512 (wrong sums; reproduced in plain C).
    cdef floating t[1024]
    cdef floating p
    cdef Py_ssize_t base = 0, m, i
    cdef double total = 0
    while base < n:
        m = min(<Py_ssize_t>1024, n - base)
        for i in range(m):
            p = x[base + i] * g[base + i]
            t[i] = 0 if x[base + i] > 0 else p
        total += lane_sum(t, m)
        base += m
    return total


cdef void _prelu(const floating* g, const floating* x, const floating* alpha, floating* out,
                 double* dalpha, Py_ssize_t total, Py_ssize_t rows, Py_ssize_t C, Py_ssize_t S,
                 int n_threads) noexcept:
    """out = g if x > 0 else alpha[c] g on every segment (the forward passes g = x); with
    dalpha, dalpha[r*C + c] = the sum over segment (r, c) of x * g where x <= 0"""
    cdef Py_ssize_t r, c, i, start, stop
    cdef floating al
    cdef int nt = threads_for(total, parallel_min(PAR_ACTIVATIONS_CHEAP), n_threads)
    for r in prange(rows, schedule='static', nogil=True, num_threads=nt):
        for c in range(C):
            start = (r * C + c) * S
            stop = min(start + S, total)
            al = alpha[c]
            for i in range(start, stop):
                out[i] = g[i] if x[i] > 0 else al * g[i]
            if dalpha != NULL:
                dalpha[r * C + c] = _prelu_dalpha_sum(x + start, g + start, stop - start)


def prelu_forward(const floating[::1] x,      # IN  (total,)
                  const floating[::1] alpha,  # IN  (C,)
                  floating[::1] out,          # OUT (total,)
                  Py_ssize_t C, Py_ssize_t S, int n_threads):
    """out = x if x > 0 else alpha[c] * x"""
    cdef Py_ssize_t total = x.shape[0]
    if total > 0:
        _prelu(&x[0], &x[0], &alpha[0], &out[0], NULL, total, (total + C * S - 1) // (C * S),
               C, S, n_threads)


def prelu_backward(const floating[::1] dout,   # IN  (total,)
                   const floating[::1] x,      # IN  (total,)
                   const floating[::1] alpha,  # IN  (C,)
                   floating[::1] dx,           # OUT (total,)
                   double[:, ::1] dalpha_rows, # OUT (rows, C) per-row partial sums of dalpha
                   Py_ssize_t C, Py_ssize_t S, int n_threads):
    """dx = dout if x > 0 else alpha dout;  dalpha[c] = sum over x <= 0 of x * dout"""
    cdef Py_ssize_t total = x.shape[0]
    if total > 0:
        _prelu(&dout[0], &x[0], &alpha[0], &dx[0], &dalpha_rows[0, 0], total,
               dalpha_rows.shape[0], C, S, n_threads)


# ---- Maxout: pick the best of k affine pieces (the GEMM is done by BLAS) ----

def maxout_select(const floating[:, ::1] z,  # IN  (N, k*M) x @ [w_0 | ... | w_{k-1}]
                  const floating[:, ::1] b,  # IN  (k, M)
                  floating[:, ::1] out,      # OUT (N, M)
                  int32_t[:, ::1] idx,       # OUT (N, M) winning piece (first maximum; NaN wins)
                  int n_threads):
    """out[n, m] = max_j z[n, j*M + m] + b[j, m]"""
    cdef Py_ssize_t N = out.shape[0], M = out.shape[1], k = b.shape[0], n, m, j
    cdef floating best, v
    cdef int32_t arg
    cdef int nt = threads_for(N * M * k, parallel_min(PAR_ACTIVATIONS_CHEAP), n_threads)
    for n in prange(N, schedule='static', nogil=True, num_threads=nt):
        for m in range(M):
            best = z[n, m] + b[0, m]
            arg = 0
            for j in range(1, k):
                v = z[n, j * M + m] + b[j, m]
                # strict > keeps the first maximum; a NaN wins and stays (like torch.max)
                if (v > best or v != v) and best == best:
                    best = v
                    arg = <int32_t>j
            out[n, m] = best
            idx[n, m] = arg


def maxout_scatter(const floating[:, ::1] dout,  # IN  (N, M)
                   const int32_t[:, ::1] idx,    # IN  (N, M)
                   floating[:, ::1] dz,          # OUT (N, k*M) dout at the winning piece, else 0
                   int n_threads):
    """dz[n, j*M + m] = dout[n, m] if j == idx[n, m] else 0"""
    cdef Py_ssize_t N = dout.shape[0], M = dout.shape[1], k, n, m, j
    k = dz.shape[1] // M if M > 0 else 0
    cdef int nt = threads_for(N * M * k, parallel_min(PAR_ACTIVATIONS_CHEAP), n_threads)
    for n in prange(N, schedule='static', nogil=True, num_threads=nt):
        for j in range(k):
            for m in range(M):
                dz[n, j * M + m] = dout[n, m] if idx[n, m] == j else 0
