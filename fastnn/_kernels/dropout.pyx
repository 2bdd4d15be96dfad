# Dropout kernels: a counter-based mask generator fused with the scaling.
#
# Compiled once per SIMD target by setup.py (see activations.pyx for the
# layout conventions).
#
# The mask.  Element i of a flattened array is kept when
#     u_i = mix64(key + (i + 1) * GAMMA) >> 32   >=   threshold,
# i.e. u_i is the high half of the i-th output of a SplitMix64 generator whose
# state starts at key = mix64(seed).  SplitMix64 is counter-based by
# construction (output i is a pure function of the state and i), so each
# element is computed independently: the mask depends only on (seed, i), never
# on the thread count or the block layout, and the loop vectorises (two 64-bit
# multiplies, three xor-shifts per element, no state carried between
# iterations).  threshold = round(p * 2^32), so P(drop) = threshold / 2^32.
# fastnn.reference.dropout computes the same mask with NumPy uint64 arithmetic.
#
# Layout: a parallel loop over blocks of BLOCK contiguous elements; each block
# owns its outputs.  Outputs of at least STREAM_MIN_BYTES are computed into an
# L1 scratch and written with streaming stores (as in activations.pyx).
from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport uint8_t, uint32_t, uint64_t

from fastnn._kernels.common cimport stream_copy, threads_for, fnn_stream_fence
from fastnn._kernels._runtime cimport parallel_min, stream_min_bytes, PAR_DROPOUT

cdef extern from *:
    """
    #include <stdint.h>
    #define FNN_DROP_BLOCK 8192                       /* elements per parallel work item */
    #define FNN_SPLITMIX_GAMMA 0x9e3779b97f4a7c15ULL  /* SplitMix64's increment */

    /* SplitMix64's output function (Steele, Lea, Flood 2014; Stafford's Mix13 constants) */
    static inline uint64_t fnn_mix64(uint64_t z) {
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    """
    enum: BLOCK "FNN_DROP_BLOCK"
    const uint64_t GAMMA "FNN_SPLITMIX_GAMMA"
    uint64_t fnn_mix64(uint64_t z) nogil

#: Elements per parallel work item: the mask of element i does not depend on it.
BLOCK_SIZE = BLOCK

# Below _runtime's "dropout" threshold (elements) the loops run on one thread; outputs of at
# least _runtime's STREAM_MIN_BYTES are written with streaming stores.


def mix64(uint64_t z):
    """SplitMix64's output function (exposed for tests and the seed derivation)."""
    return fnn_mix64(z)


# ---- block functions: serial, vectorisable ----

cdef void _forward_block(const floating* x, floating* y, uint8_t* mask, Py_ssize_t n,
                         uint64_t z0, uint32_t threshold, floating scale) noexcept nogil:
    """mask = u >= threshold;  y = x * (mask * scale)"""
    cdef Py_ssize_t i
    cdef uint32_t u
    cdef int keep
    for i in range(n):
        u = <uint32_t>(fnn_mix64(z0 + <uint64_t>i * GAMMA) >> 32)
        keep = u >= threshold                      # int, not uint8: keeps the loop vectorisable
        mask[i] = <uint8_t>keep
        y[i] = x[i] * (scale if keep else 0)       # a multiply, so NaN/inf * 0 = NaN (as torch)


cdef void _backward_block(const floating* g, const uint8_t* mask, floating* dx, Py_ssize_t n,
                          floating scale) noexcept nogil:
    """dx = g * (mask * scale)"""
    cdef Py_ssize_t i
    for i in range(n):
        dx[i] = g[i] * (scale if mask[i] else 0)


cdef void _block(bint backward, const floating* src, uint8_t* mask, floating* out, Py_ssize_t n,
                 uint64_t z0, uint32_t threshold, floating scale, bint stream) noexcept nogil:
    """_forward_block (src = x, mask written) or _backward_block (src = g, mask read) on one
    block; with stream, computed into an L1 scratch and streamed out to out"""
    cdef floating scratch[BLOCK]
    cdef floating* o = &scratch[0] if stream else out
    if backward:
        _backward_block(src, mask, o, n, scale)
    else:
        _forward_block(src, o, mask, n, z0, threshold, scale)
    if stream:
        stream_copy(out, scratch, n)
        fnn_stream_fence()


# ---- parallel drivers (called from fastnn.ops.dropout, which validates everything) ----

cdef void _run(bint backward, const floating* src, uint8_t* mask, floating* out, Py_ssize_t n,
               uint64_t key, uint32_t threshold, double scale, int n_threads) noexcept:
    """_block over the blocks of n > 0 elements; block b's generator state starts at
    key + (b * BLOCK + 1) * GAMMA (forward only)"""
    cdef Py_ssize_t nblocks, blk, start
    cdef floating s = <floating>scale
    cdef int nt = threads_for(n, parallel_min(PAR_DROPOUT), n_threads)
    cdef bint stream = n * <Py_ssize_t>sizeof(floating) >= stream_min_bytes()
    nblocks = (n + BLOCK - 1) // BLOCK
    for blk in prange(nblocks, schedule='static', nogil=True, num_threads=nt):
        start = blk * BLOCK
        _block(backward, src + start, mask + start, out + start, min(<Py_ssize_t>BLOCK, n - start),
               key + <uint64_t>(start + 1) * GAMMA, threshold, s, stream)


def dropout_forward(const floating[::1] x,   # IN  (n,) flattened input
                    floating[::1] out,       # OUT (n,)
                    uint8_t[::1] mask,       # OUT (n,) 1 = kept, 0 = dropped
                    uint64_t key,            # mix64(seed): the generator's starting state
                    uint32_t threshold,      # round(p * 2^32): u < threshold drops
                    double scale,            # 1 / (1 - p)
                    int n_threads):
    """mask_i = (mix64(key + (i+1) GAMMA) >> 32) >= threshold;  out = x * mask * scale"""
    if x.shape[0] > 0:
        _run(False, &x[0], &mask[0], &out[0], x.shape[0], key, threshold, scale, n_threads)


def dropout_backward(const floating[::1] dout,  # IN  (n,) upstream gradient
                     const uint8_t[::1] mask,   # IN  (n,) the forward mask
                     floating[::1] dx,          # OUT (n,)
                     double scale,              # 1 / (1 - p)
                     int n_threads):
    """dx = dout * mask * scale"""
    if dout.shape[0] > 0:
        _run(True, &dout[0], <uint8_t*>&mask[0], &dx[0], dout.shape[0], 0, 0, scale, n_threads)
