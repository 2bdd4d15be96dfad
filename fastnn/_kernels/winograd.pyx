# Winograd convolution kernels for 3x3 filters, stride 1, dilation 1, groups 1
# (compiled per SIMD target; see activations.pyx for the layout conventions).
#
# F(m x m, 3 x 3), m = 2 or 4, tile T = m + 2 (docs/convolution.md has the
# matrices B^T, G, A^T and their points).  For an input tile d (T x T) and a
# filter g (3 x 3) the m x m output tile is  Y = A^T [ (G g G^T) . (B^T d B) ] A.
#
# Layouts (p = a*T + b, the T*T transform points):
#   U (T*T, F, C)   transformed filters, U[p] = (G w[f, c] G^T)[a, b]
#   V (T*T, C, tbp) transformed input tiles of one block of tiles
#   M (T*T, F, tbp) their products: M[p] = U[p] @ V[p], one GEMM per point
# Tiles are numbered over the whole batch, t = (n*TH + i)*TW + j (tile i, j of
# image n covers output rows i*m .. i*m+m-1, columns j*m ..); a block is `tb`
# consecutive tiles (fixed by the shape, never by the thread count: the last
# one may be shorter), tbp = tb rounded up to LANES.  One block is one OpenMP
# work item: its thread transforms the block's input tiles into its own V,
# runs the T*T single-threaded GEMMs (gemm_rm) into its own M, and transforms
# M into the block's output tiles, which no other block writes.  So every
# thread count makes the same calls on the same data: the same bits.
#
# The transforms work on LANES tiles at once: the gather fills d[(r*T + s)*LANES + l]
# for lane l, and every transform loop runs over the lanes innermost with a
# fixed trip count, which the C compiler vectorises for the SIMD target the
# module is compiled for.  Lanes past the block's last tile hold zeros (their
# columns of V, M are computed and never written out).
from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memset

from fastnn._kernels.common cimport omp_get_thread_num, gemm_rm, lane_sum
from fastnn._kernels.slices cimport slice_threads, zero_partials

cdef enum:
    LANES = 16          # tiles transformed together (one vector loop)
    TMAX = 6            # largest tile (F(4x4, 3x3))

LANE_COUNT = LANES

# F(2x2, 3x3), points 0, 1, -1, inf
cdef double _BT2[16]
cdef double _AT2[8]
cdef double _G2[12]
# F(4x4, 3x3), points 0, 1, -1, 1/2, -2, inf
cdef double _BT4[36]
cdef double _AT4[24]
cdef double _G4[18]

# The matrices, row-major (also exported to Python for the docs and the tests).
MATRICES = {
    2: dict(BT=[[1, 0, -1, 0],
                [0, 1, 1, 0],
                [0, -1, 1, 0],
                [0, 1, 0, -1]],
            G=[[1, 0, 0],
               [0.5, 0.5, 0.5],
               [0.5, -0.5, 0.5],
               [0, 0, 1]],
            AT=[[1, 1, 1, 0],
                [0, 1, -1, -1]]),
    4: dict(BT=[[1, -1.5, -2, 1.5, 1, 0],
                [0, -1, 0.5, 2.5, 1, 0],
                [0, 1, -2.5, 0.5, 1, 0],
                [0, -2, -1, 2, 1, 0],
                [0, 0.5, -1, -0.5, 1, 0],
                [0, 1, -1.5, -2, 1.5, 1]],
            G=[[1, 0, 0],
               [1.0 / 3, 1.0 / 3, 1.0 / 3],
               [-1.0 / 3, 1.0 / 3, -1.0 / 3],
               [-16.0 / 15, -8.0 / 15, -4.0 / 15],
               [1.0 / 15, -2.0 / 15, 4.0 / 15],
               [0, 0, 1]],
            AT=[[1, 1, 1, 1, 1, 0],
                [0, 1, -1, 0.5, -2, 0],
                [0, 1, 1, 0.25, 4, 0],
                [0, 1, -1, 0.125, -8, 1]]),
}


def _load(m, double[::1] bt, double[::1] at, double[::1] g):
    cdef Py_ssize_t i, j, T = m + 2
    M = MATRICES[m]
    for i in range(T):
        for j in range(T):
            bt[i * T + j] = M["BT"][i][j]
        for j in range(3):
            g[i * 3 + j] = M["G"][i][j]
    for i in range(m):
        for j in range(T):
            at[i * T + j] = M["AT"][i][j]


_load(2, <double[:16]> _BT2, <double[:8]> _AT2, <double[:12]> _G2)
_load(4, <double[:36]> _BT4, <double[:24]> _AT4, <double[:18]> _G4)


cdef inline const double* _g(Py_ssize_t m) noexcept nogil:
    if m == 2:
        return &_G2[0]
    return &_G4[0]


# ---------------------------------------------------------------- filter transform

def filter_transform(const floating[:, :, :, ::1] w,   # IN  (F, C, 3, 3)
                     floating[:, :, ::1] U,            # OUT (T*T, F, C), or (T*T, C, F) when rotate
                     Py_ssize_t m, bint rotate, int n_threads):
    """U[p, f, c] = (G w[f, c] G^T)[p]; with rotate, U[p, c, f] = (G rot180(w[f, c]) G^T)[p]
    (the filters of the input gradient).  Computed in float64, rounded once."""
    cdef Py_ssize_t F = w.shape[0], C = w.shape[1], T = m + 2, f, c
    cdef const double* G = _g(m)
    if F * C == 0:
        return
    cdef int nt = n_threads if F * C * T * T > 65536 else 1
    for f in prange(F, schedule='static', nogil=True, num_threads=nt):
        for c in range(C):
            _filter_one(&w[f, c, 0, 0], &U[0, 0, 0], f, c, F, C, T, G, rotate)


cdef void _filter_one(const floating* wp, floating* U, Py_ssize_t f, Py_ssize_t c,
                      Py_ssize_t F, Py_ssize_t C, Py_ssize_t T, const double* G,
                      bint rotate) noexcept nogil:
    cdef double g[9]
    cdef double t[TMAX * 3]
    cdef double s
    cdef Py_ssize_t a, b, i, j
    for i in range(9):
        g[i] = wp[8 - i] if rotate else wp[i]
    for a in range(T):                      # t = G g  (T x 3)
        for j in range(3):
            s = 0
            for i in range(3):
                s = s + G[a * 3 + i] * g[i * 3 + j]
            t[a * 3 + j] = s
    for a in range(T):                      # U = t G^T  (T x T)
        for b in range(T):
            s = 0
            for j in range(3):
                s = s + t[a * 3 + j] * G[b * 3 + j]
            if rotate:
                U[((a * T + b) * C + c) * F + f] = <floating>s
            else:
                U[((a * T + b) * F + f) * C + c] = <floating>s


# ---------------------------------------------------------------- tile transforms
#
# The 1-D transforms, written out (the entries of B^T and A^T above, and A = (A^T)^T
# for the filter gradient), each on LANES tiles: o[k*os + l] = sum_j BT[k, j] d[j*ds + l].
# The 2-D transform of a tile (_tile_transform) is the 1-D one along one axis, then along
# the other.

cdef inline void _bt1_2(const floating* d, Py_ssize_t ds, floating* o, Py_ssize_t os) noexcept nogil:
    cdef Py_ssize_t l
    cdef floating d0, d1, d2, d3
    for l in range(LANES):
        d0 = d[l]
        d1 = d[ds + l]
        d2 = d[2 * ds + l]
        d3 = d[3 * ds + l]
        o[l] = d0 - d2
        o[os + l] = d1 + d2
        o[2 * os + l] = d2 - d1
        o[3 * os + l] = d1 - d3


cdef inline void _bt1_4(const floating* d, Py_ssize_t ds, floating* o, Py_ssize_t os) noexcept nogil:
    cdef Py_ssize_t l
    cdef floating d0, d1, d2, d3, d4, d5
    for l in range(LANES):
        d0 = d[l]
        d1 = d[ds + l]
        d2 = d[2 * ds + l]
        d3 = d[3 * ds + l]
        d4 = d[4 * ds + l]
        d5 = d[5 * ds + l]
        o[l] = d0 - <floating>1.5 * d1 - 2 * d2 + <floating>1.5 * d3 + d4
        o[os + l] = -d1 + <floating>0.5 * d2 + <floating>2.5 * d3 + d4
        o[2 * os + l] = d1 - <floating>2.5 * d2 + <floating>0.5 * d3 + d4
        o[3 * os + l] = -2 * d1 - d2 + 2 * d3 + d4
        o[4 * os + l] = <floating>0.5 * d1 - d2 - <floating>0.5 * d3 + d4
        o[5 * os + l] = d1 - <floating>1.5 * d2 - 2 * d3 + <floating>1.5 * d4 + d5


cdef inline void _at1_2(const floating* d, Py_ssize_t ds, floating* o, Py_ssize_t os) noexcept nogil:
    cdef Py_ssize_t l
    cdef floating d0, d1, d2, d3
    for l in range(LANES):
        d0 = d[l]
        d1 = d[ds + l]
        d2 = d[2 * ds + l]
        d3 = d[3 * ds + l]
        o[l] = d0 + d1 + d2
        o[os + l] = d1 - d2 - d3


cdef inline void _at1_4(const floating* d, Py_ssize_t ds, floating* o, Py_ssize_t os) noexcept nogil:
    cdef Py_ssize_t l
    cdef floating d0, d1, d2, d3, d4, d5, p12, m12, p34, m34
    for l in range(LANES):
        d0 = d[l]
        d1 = d[ds + l]
        d2 = d[2 * ds + l]
        d3 = d[3 * ds + l]
        d4 = d[4 * ds + l]
        d5 = d[5 * ds + l]
        p12 = d1 + d2
        m12 = d1 - d2
        o[l] = d0 + p12 + d3 + d4
        o[os + l] = m12 + <floating>0.5 * d3 - 2 * d4
        o[2 * os + l] = p12 + <floating>0.25 * d3 + 4 * d4
        o[3 * os + l] = m12 + <floating>0.125 * d3 - 8 * d4 + d5


cdef inline void _a1_2(const floating* d, Py_ssize_t ds, floating* o, Py_ssize_t os) noexcept nogil:
    """o[a*os + l] = sum_k AT[k, a] d[k*ds + l]  (F(2x2, 3x3))"""
    cdef Py_ssize_t l
    cdef floating d0, d1
    for l in range(LANES):
        d0 = d[l]
        d1 = d[ds + l]
        o[l] = d0
        o[os + l] = d0 + d1
        o[2 * os + l] = d0 - d1
        o[3 * os + l] = -d1


cdef inline void _a1_4(const floating* d, Py_ssize_t ds, floating* o, Py_ssize_t os) noexcept nogil:
    """o[a*os + l] = sum_k AT[k, a] d[k*ds + l]  (F(4x4, 3x3))"""
    cdef Py_ssize_t l
    cdef floating d0, d1, d2, d3
    for l in range(LANES):
        d0 = d[l]
        d1 = d[ds + l]
        d2 = d[2 * ds + l]
        d3 = d[3 * ds + l]
        o[l] = d0
        o[os + l] = d0 + d1 + d2 + d3
        o[2 * os + l] = d0 - d1 + d2 - d3
        o[3 * os + l] = d0 + <floating>0.5 * d1 + <floating>0.25 * d2 + <floating>0.125 * d3
        o[4 * os + l] = d0 - 2 * d1 + 4 * d2 - 8 * d3
        o[5 * os + l] = d3


# The two passes of a 2-D tile transform Y = P X P^T on LANES tiles at once, P one of the
# 1-D transforms above: B^T (input tiles, T x T -> T x T), A^T (products, T x T -> m x m)
# or A (output gradients, m x m -> T x T).

cdef enum:
    _BT = 0
    _AT = 1
    _A = 2


cdef inline void _lanes_1d(int op, Py_ssize_t m, const floating* d, Py_ssize_t ds, floating* o,
                           Py_ssize_t os) noexcept nogil:
    """the 1-D transform `op` of F(m x m, 3 x 3) on LANES columns"""
    if op == _BT:
        if m == 2:
            _bt1_2(d, ds, o, os)
        else:
            _bt1_4(d, ds, o, os)
    elif op == _AT:
        if m == 2:
            _at1_2(d, ds, o, os)
        else:
            _at1_4(d, ds, o, os)
    else:
        if m == 2:
            _a1_2(d, ds, o, os)
        else:
            _a1_4(d, ds, o, os)


cdef inline void _tile_transform(int op, Py_ssize_t m, const floating* X, Py_ssize_t xs,
                                 floating* tmp, floating* Y, Py_ssize_t ys) noexcept nogil:
    """Y = P X P^T for LANES tiles, P the 1-D transform `op` (ni inputs -> no outputs):
    X[i, j] of lane l at X[(i*ni + j)*xs + l], Y[i, j] at Y[(i*no + j)*ys + l], tmp the
    intermediate (ni*no*LANES).  B^T runs along the rows first, A^T and A down the columns."""
    cdef Py_ssize_t ni = m if op == _A else m + 2
    cdef Py_ssize_t no = m if op == _AT else m + 2
    cdef Py_ssize_t i
    if op == _BT:
        for i in range(ni):                 # tmp[i, :] = P X[i, :]
            _lanes_1d(op, m, X + i * ni * xs, xs, tmp + i * no * LANES, LANES)
        for i in range(no):                 # Y[:, i] = P tmp[:, i]
            _lanes_1d(op, m, tmp + i * LANES, no * LANES, Y + i * ys, no * ys)
    else:
        for i in range(ni):                 # tmp[:, i] = P X[:, i]
            _lanes_1d(op, m, X + i * xs, ni * xs, tmp + i * LANES, ni * LANES)
        for i in range(no):                 # Y[i, :] = P tmp[i, :]
            _lanes_1d(op, m, tmp + i * ni * LANES, LANES, Y + i * no * ys, ys)


# ---------------------------------------------------------------- tile groups

cdef struct _Tiles:
    Py_ssize_t L                # tiles in the group (<= LANES)
    Py_ssize_t img[LANES]       # image of tile l
    Py_ssize_t oh[LANES]        # its first output row and column
    Py_ssize_t ow[LANES]
    Py_ssize_t ih[LANES]        # its first input row and column (oh - pad, ow - pad)
    Py_ssize_t iw[LANES]
    char inside[LANES]          # its T x T input window lies inside the image


cdef inline void _locate(_Tiles* tl, Py_ssize_t t0, Py_ssize_t L, Py_ssize_t TH, Py_ssize_t TW,
                         Py_ssize_t m, Py_ssize_t pad, Py_ssize_t H, Py_ssize_t W) noexcept nogil:
    """the group of tiles t0 .. t0+L-1 (tile t = (n*TH + i)*TW + j)"""
    cdef Py_ssize_t l, t, n, r
    tl.L = L
    for l in range(L):
        t = t0 + l
        n = t // (TH * TW)
        r = t - n * TH * TW
        tl.img[l] = n
        tl.oh[l] = (r // TW) * m
        tl.ow[l] = (r % TW) * m
        tl.ih[l] = tl.oh[l] - pad
        tl.iw[l] = tl.ow[l] - pad
        tl.inside[l] = (tl.ih[l] >= 0 and tl.iw[l] >= 0 and tl.ih[l] + m + 2 <= H
                        and tl.iw[l] + m + 2 <= W)


cdef void _input_group(const floating* x, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                       const _Tiles* tl, Py_ssize_t m, Py_ssize_t c, floating* V,
                       Py_ssize_t vstride) noexcept nogil:
    """V[p*vstride + l] = (B^T d_l B)[p] for the LANES tiles of a group (channel c); lanes >= L get 0.

    Tile l reads x[img[l], c, ih[l] + r, iw[l] + s], r, s < T, zero outside the image."""
    cdef Py_ssize_t T = m + 2, L = tl.L, l, r, s, ih, lo, hi
    cdef floating d[TMAX * TMAX * LANES]
    cdef floating t[TMAX * TMAX * LANES]
    cdef const floating* xr
    for l in range(LANES):
        if l >= L:
            for r in range(T * T):
                d[r * LANES + l] = 0
            continue
        xr = x + ((tl.img[l] * C + c) * H + tl.ih[l]) * W + tl.iw[l]
        if tl.inside[l]:
            if m == 2:
                for r in range(4):
                    for s in range(4):
                        d[(r * 4 + s) * LANES + l] = xr[r * W + s]
            else:
                for r in range(6):
                    for s in range(6):
                        d[(r * 6 + s) * LANES + l] = xr[r * W + s]
            continue
        lo = max(0, -tl.iw[l])
        hi = min(T, W - tl.iw[l])
        for r in range(T):
            ih = tl.ih[l] + r
            if ih < 0 or ih >= H:
                for s in range(T):
                    d[(r * T + s) * LANES + l] = 0
                continue
            for s in range(lo):
                d[(r * T + s) * LANES + l] = 0
            for s in range(lo, hi):
                d[(r * T + s) * LANES + l] = xr[r * W + s]
            for s in range(max(hi, lo), T):
                d[(r * T + s) * LANES + l] = 0
    _tile_transform(_BT, m, d, LANES, t, V, vstride)


cdef void _output_group(const floating* Mf, Py_ssize_t mstride, floating* out, Py_ssize_t F,
                        Py_ssize_t Ho, Py_ssize_t Wo, const _Tiles* tl, Py_ssize_t m,
                        Py_ssize_t f, floating bias) noexcept nogil:
    """out[img[l], f, oh[l] + i, ow[l] + j] = (A^T M_l A)[i, j] + bias for the L valid lanes
    (rows/columns past Ho, Wo dropped); M_l[p] = Mf[p*mstride + l]."""
    cdef Py_ssize_t l, k, j
    cdef floating t[4 * TMAX * LANES]
    cdef floating y[4 * 4 * LANES]
    cdef floating* orow
    # t[k, q] = sum_p AT[k, p] M[p, q]  (down each column), then y[k, j] = sum_q t[k, q] AT[j, q]
    _tile_transform(_AT, m, Mf, mstride, t, y, LANES)
    for l in range(tl.L):
        orow = out + ((tl.img[l] * F + f) * Ho + tl.oh[l]) * Wo + tl.ow[l]
        if tl.oh[l] + m <= Ho and tl.ow[l] + m <= Wo:
            if m == 2:
                for k in range(2):
                    for j in range(2):
                        orow[k * Wo + j] = y[(k * 2 + j) * LANES + l] + bias
            else:
                for k in range(4):
                    for j in range(4):
                        orow[k * Wo + j] = y[(k * 4 + j) * LANES + l] + bias
            continue
        for k in range(min(m, Ho - tl.oh[l])):
            for j in range(min(m, Wo - tl.ow[l])):
                orow[k * Wo + j] = y[(k * m + j) * LANES + l] + bias


cdef void _block(const floating* x, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                 const floating* U, const floating* b, bint has_bias,
                 floating* out, Py_ssize_t F, Py_ssize_t Ho, Py_ssize_t Wo,
                 Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t t0, Py_ssize_t t1, Py_ssize_t tbp,
                 Py_ssize_t m, Py_ssize_t pad, floating* V, floating* Mb, size_t gemm) noexcept nogil:
    """the output tiles t0 .. t1-1: input transform into V, T*T GEMMs into Mb, output transform"""
    cdef Py_ssize_t TT = (m + 2) * (m + 2), g0, c, f, p
    cdef Py_ssize_t ng = (t1 - t0 + LANES - 1) // LANES
    cdef Py_ssize_t ncols = ng * LANES
    cdef _Tiles tl
    for g0 in range(ng):
        _locate(&tl, t0 + g0 * LANES, min(LANES, t1 - t0 - g0 * LANES), TH, TW, m, pad, H, W)
        for c in range(C):
            _input_group(x, C, H, W, &tl, m, c, V + c * tbp + g0 * LANES, C * tbp)
    for p in range(TT):
        gemm_rm(gemm, False, False, <int>F, <int>ncols, <int>C, 1, U + p * F * C, <int>C,
                V + p * C * tbp, <int>tbp, 0, Mb + p * F * tbp, <int>tbp)
    for g0 in range(ng):
        _locate(&tl, t0 + g0 * LANES, min(LANES, t1 - t0 - g0 * LANES), TH, TW, m, pad, H, W)
        for f in range(F):
            _output_group(Mb + f * tbp + g0 * LANES, F * tbp, out, F, Ho, Wo, &tl, m, f,
                          b[f] if has_bias else 0)


def forward(const floating[:, :, :, ::1] x,      # IN  (N, C, H, W)
            const floating[:, :, ::1] U,         # IN  (T*T, F, C) transformed filters
            const floating[::1] b,               # IN  (F,) bias, read when has_bias
            bint has_bias,
            floating[:, :, :, ::1] out,          # OUT (N, F, Ho, Wo)
            floating[:, ::1] scratch,            # TMP (threads, T*T*(C + F)*tbp)
            Py_ssize_t m, Py_ssize_t pad, Py_ssize_t tb, size_t gemm, int n_threads):
    """out[n, f, oh, ow] = b[f] + sum_{c,i,j} w[f, c, i, j] x[n, c, oh - pad + i, ow - pad + j]
    by F(m x m, 3 x 3) Winograd, tb tiles per block (a multiple of LANES).

    pad may be negative (the input gradient's convolution crops when the forward padded by
    more than 2): Ho = H + 2*pad - 2 is taken from out's shape."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t F = out.shape[1], Ho = out.shape[2], Wo = out.shape[3], TT = (m + 2) * (m + 2)
    cdef Py_ssize_t TH = (Ho + m - 1) // m, TW = (Wo + m - 1) // m
    cdef Py_ssize_t ntiles = N * TH * TW, nblk, blk, t0, t1, ls = scratch.shape[1]
    cdef floating* V
    if ntiles == 0 or F == 0 or C == 0:      # the caller sends C == 0 to the im2col path
        return
    nblk = (ntiles + tb - 1) // tb
    cdef int nt = n_threads if n_threads < nblk else <int>nblk
    cdef const floating* x0 = &x[0, 0, 0, 0]
    cdef const floating* u0 = &U[0, 0, 0]
    cdef const floating* b0 = &b[0]
    cdef floating* o0 = &out[0, 0, 0, 0]
    cdef floating* s0 = &scratch[0, 0]
    for blk in prange(nblk, schedule='static', nogil=True, num_threads=nt):
        V = s0 + omp_get_thread_num() * ls
        t0 = blk * tb
        t1 = min(t0 + tb, ntiles)
        _block(x0, C, H, W, u0, b0, has_bias, o0, F, Ho, Wo, TH, TW, t0, t1, tb, m, pad,
               V, V + TT * C * tb, gemm)


# ---------------------------------------------------------------- filter gradient by im2col

def dw_im2col(const floating[:, :, :, ::1] x,      # IN  (N, C, H, W)
              const floating[:, :, ::1] dout,      # IN  (N, F, Ho*Wo)
              floating[:, ::1] dw_parts,           # OUT (S, F*C*9) dw of each fixed slice of images
              double[:, ::1] db_parts,             # OUT (S, F) db of each slice
              floating[:, ::1] scratch,            # TMP (threads, C*9 * rb*Wo)
              Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t rb, Py_ssize_t pad,
              size_t gemm, int n_threads):
    """dw[f, c, i, j] = sum_{n, oh, ow} dout[n, f, oh, ow] x[n, c, oh - pad + i, ow - pad + j]
    (3x3, stride 1), db[f] = sum dout[:, f]: per block of rb output rows, the block's im2col
    columns and one GEMM dw += dout_rows cols^T; one partial per slice of images."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t F = dout.shape[1], P = Ho * Wo, K = C * 9, S = dw_parts.shape[0]
    cdef Py_ssize_t sl, n, c, f, oh0, oh1, pb, i, j, oh, ih, ow, iw, lo, hi
    cdef floating* cols
    cdef floating* row
    cdef const floating* xr
    cdef const floating* gn
    cdef floating* dwt
    cdef double* dbt
    cdef Py_ssize_t ls = scratch.shape[1]
    cdef int nt = slice_threads(n_threads, S)
    zero_partials(dw_parts, db_parts)
    if N == 0 or P == 0:
        return
    cdef const floating* x0 = &x[0, 0, 0, 0]
    cdef const floating* g0 = &dout[0, 0, 0]
    cdef floating* s0 = &scratch[0, 0]
    cdef floating* dw0 = &dw_parts[0, 0]
    cdef double* db0 = &db_parts[0, 0]
    for sl in prange(S, schedule='static', nogil=True, num_threads=nt):
        cols = s0 + omp_get_thread_num() * ls
        dwt = dw0 + sl * F * K
        dbt = db0 + sl * F
        for n in range(sl * N // S, (sl + 1) * N // S):
            gn = g0 + n * F * P
            for f in range(F):
                dbt[f] += lane_sum(gn + f * P, P)
            oh0 = 0
            while oh0 < Ho:
                oh1 = min(oh0 + rb, Ho)
                pb = (oh1 - oh0) * Wo
                for c in range(C):
                    for i in range(3):
                        for j in range(3):
                            row = cols + (c * 9 + i * 3 + j) * pb
                            lo = max(0, pad - j)
                            hi = min(Wo, W + pad - j)
                            if hi < lo:
                                hi = lo
                            for oh in range(oh0, oh1):
                                ih = oh - pad + i
                                if ih < 0 or ih >= H:
                                    for ow in range(Wo):
                                        row[(oh - oh0) * Wo + ow] = 0
                                    continue
                                xr = x0 + ((n * C + c) * H + ih) * W + j - pad
                                for ow in range(lo):
                                    row[(oh - oh0) * Wo + ow] = 0
                                for ow in range(lo, hi):
                                    row[(oh - oh0) * Wo + ow] = xr[ow]
                                for ow in range(hi, Wo):
                                    row[(oh - oh0) * Wo + ow] = 0
                # dw (F, K) += dout_rows (F, pb) @ cols (K, pb)^T
                gemm_rm(gemm, False, True, <int>F, <int>K, <int>pb, 1, gn + oh0 * Wo, <int>P,
                        cols, <int>pb, 1, dwt, <int>K)
                oh0 = oh1


# ---------------------------------------------------------------- filter gradient by Winograd
#
# With U = G g G^T, the forward's Y = A^T [U . V] A gives dL/dU[p] = sum over tiles of
# V[p] (A dY A^T)[p] and dL/dg = G^T dU G (done by the caller in float64).  Per block of
# tiles (in order): one parallel pass over groups of LANES tiles transforms x into V and
# dout into Z = A dY A^T, then one parallel pass over the T*T points runs
# dU[p] += Z[p] @ V[p]^T.  Each dU[p] is summed by one thread, block after block, so the
# result does not depend on the thread count.

cdef void _dout_group(const floating* g, Py_ssize_t F, Py_ssize_t Ho, Py_ssize_t Wo,
                      const _Tiles* tl, Py_ssize_t m, Py_ssize_t f, floating* Z,
                      Py_ssize_t zstride) noexcept nogil:
    """Z[p*zstride + l] = (A dY_l A^T)[p], dY_l the m x m tile of dout[img[l], f] at (oh[l],
    ow[l]) (zero past Ho, Wo); lanes >= L get 0"""
    cdef Py_ssize_t l, k, j
    cdef floating d[4 * 4 * LANES]
    cdef floating t[TMAX * 4 * LANES]
    cdef const floating* gr
    for l in range(LANES):
        for k in range(m * m):
            d[k * LANES + l] = 0
        if l >= tl.L:
            continue
        gr = g + ((tl.img[l] * F + f) * Ho + tl.oh[l]) * Wo + tl.ow[l]
        for k in range(min(m, Ho - tl.oh[l])):
            for j in range(min(m, Wo - tl.ow[l])):
                d[(k * m + j) * LANES + l] = gr[k * Wo + j]
    # t[a, j] = sum_k AT[k, a] dY[k, j] (down each column), then Z[a, b] = sum_j t[a, j] AT[j, b]
    _tile_transform(_A, m, d, LANES, t, Z, zstride)


cdef void _dw_group(const floating* x, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                    const floating* g, Py_ssize_t F, Py_ssize_t Ho, Py_ssize_t Wo,
                    Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t t0, Py_ssize_t t1, Py_ssize_t tbp,
                    Py_ssize_t m, Py_ssize_t pad, floating* V, floating* Z) noexcept nogil:
    """V and Z columns of the LANES tiles t0 .. t1-1 (t1 - t0 <= LANES)"""
    cdef Py_ssize_t c, f
    cdef _Tiles tl
    _locate(&tl, t0, t1 - t0, TH, TW, m, pad, H, W)
    for c in range(C):
        _input_group(x, C, H, W, &tl, m, c, V + c * tbp, C * tbp)
    for f in range(F):
        _dout_group(g, F, Ho, Wo, &tl, m, f, Z + f * tbp, F * tbp)


def dw_winograd(const floating[:, :, :, ::1] x,      # IN  (N, C, H, W)
                const floating[:, :, :, ::1] dout,   # IN  (N, F, Ho, Wo)
                floating[:, :, ::1] dU,              # OUT (T*T, F, C) gradient of the transformed filters
                floating[::1] scratch,               # TMP (T*T*(C + F)*tb) one block's V and Z
                Py_ssize_t m, Py_ssize_t pad, Py_ssize_t tb, size_t gemm, int n_threads):
    """dU[p, f, c] = sum over tiles of (A dY A^T)[p] (B^T d B)[p]; dw = G^T dU G (the caller)"""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t F = dout.shape[1], Ho = dout.shape[2], Wo = dout.shape[3], TT = (m + 2) * (m + 2)
    cdef Py_ssize_t TH = (Ho + m - 1) // m, TW = (Wo + m - 1) // m
    cdef Py_ssize_t ntiles = N * TH * TW, blk, t0, t1, ng, gi, p
    cdef Py_ssize_t ncols
    cdef int nt
    memset(&dU[0, 0, 0], 0, TT * F * C * sizeof(floating))
    if ntiles == 0 or F == 0 or C == 0:
        return
    cdef const floating* x0 = &x[0, 0, 0, 0]
    cdef const floating* g0 = &dout[0, 0, 0, 0]
    cdef floating* V = &scratch[0]
    cdef floating* Z = V + TT * C * tb
    cdef floating* u0 = &dU[0, 0, 0]
    for blk in range((ntiles + tb - 1) // tb):
        t0 = blk * tb
        t1 = min(t0 + tb, ntiles)
        ng = (t1 - t0 + LANES - 1) // LANES
        ncols = ng * LANES
        nt = n_threads if n_threads < ng else <int>ng
        for gi in prange(ng, schedule='static', nogil=True, num_threads=nt):
            _dw_group(x0, C, H, W, g0, F, Ho, Wo, TH, TW, t0 + gi * LANES,
                      min(t0 + gi * LANES + LANES, t1), tb, m, pad, V + gi * LANES, Z + gi * LANES)
        nt = n_threads if n_threads < TT else <int>TT
        for p in prange(TT, schedule='static', nogil=True, num_threads=nt):
            # dU[p] (F, C) += Z[p] (F, ncols) @ V[p] (C, ncols)^T
            gemm_rm(gemm, False, True, <int>F, <int>C, <int>ncols, 1, Z + p * F * tb, <int>tb,
                    V + p * C * tb, <int>tb, 1, u0 + p * F * C, <int>C)
