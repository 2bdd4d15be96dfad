# conv kernels (compiled per SIMD target; see activations.pyx for the layout conventions).
#
# The convolution itself is a GEMM done by BLAS.  Two drivers (fastnn.ops.conv
# picks one): fused_forward / fused_backward at the end of this file call a
# single-threaded GEMM per image from inside one parallel loop; the chunked
# path calls NumPy's matmul once per chunk of nb images from Python, with
# these kernels doing the data movement around it:
#
#   im2col     x (N, C, H, W) -> cols (C*HH*WW, nb*Ho*Wo), image n in columns n*P .. (n+1)*P
#   col2im     dcols (same layout) -> dx (N, C, H, W), summing overlapping windows
#   unpack_out GEMM result (F, nb*P) -> out (N, F, P) rows, + bias (fused)
#   pack_dout  dout (N, F, P) rows -> (F, nb*P), and db += row sums (fused)
#
# Row r of cols is r = c*HH*WW + i*WW + j (channel c, filter row i, filter
# column j); column n*P + q with q = oh*Wo + ow.  The element is
# x[n0+n, c, oh*stride - pad + i*dil, ow*stride - pad + j*dil], 0 outside the image.
# With all images of a chunk side by side, each of forward (out = w cols),
# dw (= dout cols^T) and dcols (= w^T dout) is ONE GEMM per chunk.
#
# Results do not depend on the thread count: the fused path's row block (rb
# output rows) and backward's image slices are fixed by the shape (see
# fastnn.ops.conv._fused_plan), so every thread count makes the same GEMM calls
# on the same memory; threads take whole images / slices.
#
# Parallelism: over (image, channel) pairs for im2col/col2im.  Pair (n, c)
# owns rows [c*HH*WW, (c+1)*HH*WW) x columns [n*P, (n+1)*P) of cols, and the
# plane dx[n, c] in col2im, so no two threads ever write one element
# (col2im's overlapping windows are summed by the one thread owning the plane).
from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memset, memcpy

from fastnn._kernels.common cimport (lane_sum, threads_for, omp_get_thread_num, gemm_rm,
                                     fnn_gemm_mr)
from fastnn._kernels.slices cimport slice_threads, zero_partials
from fastnn._kernels._runtime cimport parallel_min, PAR_CONV

cdef extern from "fnn_gemm.h" nogil:
    void fnn_gemm_conv_f32(const float* xp, const Py_ssize_t* base, const Py_ssize_t* off,
                           Py_ssize_t K, const float* wp, Py_ssize_t F, const float* bias,
                           float* out, Py_ssize_t P, float* stage, Py_ssize_t cap,
                           int accumulate)
    void fnn_gemm_conv_f64(const double* xp, const Py_ssize_t* base, const Py_ssize_t* off,
                           Py_ssize_t K, const double* wp, Py_ssize_t F, const double* bias,
                           double* out, Py_ssize_t P, double* stage, Py_ssize_t cap,
                           int accumulate)

# Below _runtime's "conv" threshold (elements moved) a kernel runs on one thread.


cdef inline Py_ssize_t _first_valid(Py_ssize_t off, Py_ssize_t s) noexcept nogil:
    """smallest o >= 0 with o*s + off >= 0"""
    if off >= 0:
        return 0
    return (-off + s - 1) // s


cdef inline Py_ssize_t _end_valid(Py_ssize_t off, Py_ssize_t s, Py_ssize_t size,
                                  Py_ssize_t n_out) noexcept nogil:
    """one past the largest o < n_out with o*s + off < size (may be <= first)"""
    cdef Py_ssize_t e
    if size - off <= 0:
        return 0
    e = (size - 1 - off) // s + 1
    return e if e < n_out else n_out


cdef void _im2col_plane(const floating* xp, floating* cp, Py_ssize_t ld,
                        Py_ssize_t H, Py_ssize_t W, Py_ssize_t HH, Py_ssize_t WW,
                        Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t s, Py_ssize_t pad,
                        Py_ssize_t dil) noexcept nogil:
    _im2col_rows(xp, cp, ld, H, W, HH, WW, 0, Ho, Wo, s, pad, dil)


cdef void _im2col_block(const floating* xn, floating* cols, Py_ssize_t pb, Py_ssize_t C,
                        Py_ssize_t H, Py_ssize_t W, Py_ssize_t HH, Py_ssize_t WW,
                        Py_ssize_t oh0, Py_ssize_t oh1, Py_ssize_t Wo, Py_ssize_t s, Py_ssize_t pad,
                        Py_ssize_t dil) noexcept nogil:
    """the im2col columns of output rows oh0 <= oh < oh1 of image xn (C, H, W): channel c's
    HH*WW rows at cols + c*HH*WW*pb, pb = (oh1 - oh0)*Wo pixels a row"""
    cdef Py_ssize_t c
    for c in range(C):
        _im2col_rows(xn + c * H * W, cols + c * HH * WW * pb, pb, H, W, HH, WW, oh0, oh1, Wo,
                     s, pad, dil)


cdef void _im2col_rows(const floating* xp, floating* cp, Py_ssize_t ld,
                       Py_ssize_t H, Py_ssize_t W, Py_ssize_t HH, Py_ssize_t WW,
                       Py_ssize_t oh0, Py_ssize_t oh1, Py_ssize_t Wo, Py_ssize_t s, Py_ssize_t pad,
                       Py_ssize_t dil) noexcept nogil:
    """cp[(i*WW + j)*ld + (oh-oh0)*Wo + ow] = xp[(oh*s - pad + i*dil)*W + ow*s - pad + j*dil] (0 outside), oh0 <= oh < oh1"""
    cdef Py_ssize_t i, j, oh, ow, ih, off, lo, hi
    cdef const floating* xr
    cdef floating* row
    for i in range(HH):
        for j in range(WW):
            row = cp + (i * WW + j) * ld
            off = j * dil - pad
            lo = _first_valid(off, s)
            hi = _end_valid(off, s, W, Wo)
            if hi < lo:
                hi = lo
            for oh in range(oh0, oh1):
                ih = oh * s - pad + i * dil
                if ih < 0 or ih >= H:
                    memset(row + (oh - oh0) * Wo, 0, Wo * sizeof(floating))
                    continue
                xr = xp + ih * W + off
                for ow in range(lo):
                    row[(oh - oh0) * Wo + ow] = 0
                if s == 1:
                    memcpy(row + (oh - oh0) * Wo + lo, xr + lo, (hi - lo) * sizeof(floating))
                else:
                    for ow in range(lo, hi):
                        row[(oh - oh0) * Wo + ow] = xr[ow * s]
                for ow in range(hi, Wo):
                    row[(oh - oh0) * Wo + ow] = 0


cdef void _col2im_plane(const floating* cp, Py_ssize_t ld, floating* xp,
                        Py_ssize_t H, Py_ssize_t W, Py_ssize_t HH, Py_ssize_t WW,
                        Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t s, Py_ssize_t pad,
                        Py_ssize_t dil) noexcept nogil:
    """xp (H, W) = sum of the cp rows scattered back (the adjoint of _im2col_plane)"""
    memset(xp, 0, H * W * sizeof(floating))
    _col2im_rows(cp, ld, xp, H, W, HH, WW, 0, Ho, Wo, s, pad, dil)


cdef void _col2im_rows(const floating* cp, Py_ssize_t ld, floating* xp,
                       Py_ssize_t H, Py_ssize_t W, Py_ssize_t HH, Py_ssize_t WW,
                       Py_ssize_t oh0, Py_ssize_t oh1, Py_ssize_t Wo, Py_ssize_t s, Py_ssize_t pad,
                       Py_ssize_t dil) noexcept nogil:
    """xp (H, W) += output rows oh0 <= oh < oh1 of cp scattered back (adjoint of _im2col_rows)"""
    cdef Py_ssize_t i, j, oh, ow, ih, off, lo, hi
    cdef floating* xr
    cdef const floating* row
    cdef const floating* rr
    for i in range(HH):
        for j in range(WW):
            row = cp + (i * WW + j) * ld
            off = j * dil - pad
            lo = _first_valid(off, s)
            hi = _end_valid(off, s, W, Wo)
            for oh in range(oh0, oh1):
                ih = oh * s - pad + i * dil
                if ih < 0 or ih >= H:
                    continue
                xr = xp + ih * W + off
                rr = row + (oh - oh0) * Wo
                if s == 1:
                    for ow in range(lo, hi):
                        xr[ow] += rr[ow]
                else:
                    for ow in range(lo, hi):
                        xr[ow * s] += rr[ow]


def im2col(const floating[:, :, :, ::1] x,   # IN  (N, C, H, W)
           floating[:, ::1] cols,            # OUT (C*HH*WW, >= nb*Ho*Wo): image n0+n in columns n*P .. (n+1)*P
           Py_ssize_t n0, Py_ssize_t nb, Py_ssize_t HH, Py_ssize_t WW, Py_ssize_t Ho, Py_ssize_t Wo,
           Py_ssize_t stride, Py_ssize_t pad, Py_ssize_t dil, int n_threads):
    """cols[c*HH*WW + i*WW + j, n*P + oh*Wo + ow] = x[n0+n, c, oh*s - pad + i*dil, ow*s - pad + j*dil]"""
    cdef Py_ssize_t C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t K = cols.shape[0], L = cols.shape[1], P = Ho * Wo, t, n, c
    if nb == 0 or C == 0 or K == 0 or P == 0:
        return
    cdef const floating* xp = &x[n0, 0, 0, 0]
    cdef floating* cp = &cols[0, 0]
    cdef Py_ssize_t kk = HH * WW
    cdef int nt = threads_for(nb * K * P, parallel_min(PAR_CONV), n_threads)
    for t in prange(nb * C, schedule='static', nogil=True, num_threads=nt):
        n = t // C
        c = t - n * C
        _im2col_plane(xp + (n * C + c) * H * W, cp + c * kk * L + n * P, L,
                      H, W, HH, WW, Ho, Wo, stride, pad, dil)


def col2im(const floating[:, ::1] dcols,     # IN  (C*HH*WW, >= nb*Ho*Wo), image n0+n in columns n*P ..
           floating[:, :, :, ::1] dx,        # OUT (N, C, H, W) images n0 .. n0+nb-1 overwritten
           Py_ssize_t n0, Py_ssize_t nb, Py_ssize_t HH, Py_ssize_t WW, Py_ssize_t Ho, Py_ssize_t Wo,
           Py_ssize_t stride, Py_ssize_t pad, Py_ssize_t dil, int n_threads):
    """dx[n0+n, c, ih, iw] = sum of dcols[c*HH*WW + i*WW + j, n*P + oh*Wo + ow] over the windows covering (ih, iw)"""
    cdef Py_ssize_t C = dx.shape[1], H = dx.shape[2], W = dx.shape[3]
    cdef Py_ssize_t K = dcols.shape[0], L = dcols.shape[1], P = Ho * Wo, t, n, c
    if nb == 0 or C == 0 or H * W == 0 or K == 0 or P == 0:
        return
    cdef floating* xp = &dx[n0, 0, 0, 0]
    cdef const floating* cp = &dcols[0, 0]
    cdef Py_ssize_t kk = HH * WW
    cdef int nt = threads_for(nb * (K * P + C * H * W), parallel_min(PAR_CONV), n_threads)
    for t in prange(nb * C, schedule='static', nogil=True, num_threads=nt):
        n = t // C
        c = t - n * C
        _col2im_plane(cp + c * kk * L + n * P, L, xp + (n * C + c) * H * W,
                      H, W, HH, WW, Ho, Wo, stride, pad, dil)


def unpack_out(const floating[:, ::1] tmp,    # IN  (F, >= nb*P) GEMM result, image n in columns n*P ..
               const floating[::1] b,         # IN  (F,)
               floating[:, :, ::1] out,       # OUT (N, F, P) rows of images n0 .. n0+nb-1
               Py_ssize_t n0, Py_ssize_t nb, int n_threads):
    """out[n0+n, f, p] = tmp[f, n*P + p] + b[f]"""
    cdef Py_ssize_t F = out.shape[1], P = out.shape[2], L = tmp.shape[1], t, n, f, p
    cdef floating bf
    cdef floating* dst
    cdef const floating* src
    if nb * F * P == 0:
        return
    cdef floating* o0 = &out[n0, 0, 0]
    cdef const floating* t0 = &tmp[0, 0]
    cdef int nt = threads_for(nb * F * P, parallel_min(PAR_CONV), n_threads)
    for t in prange(nb * F, schedule='static', nogil=True, num_threads=nt):
        n = t // F
        f = t - n * F
        bf = b[f]
        dst = o0 + t * P
        src = t0 + f * L + n * P
        for p in range(P):
            dst[p] = src[p] + bf


def pack_dout(const floating[:, :, ::1] dout,  # IN  (N, F, P)
              floating[:, ::1] doutT,          # OUT (F, >= nb*P): image n0+n in columns n*P ..
              double[::1] db,                  # IN/OUT (F,) += sum over the chunk, in double
              Py_ssize_t n0, Py_ssize_t nb, int n_threads):
    """doutT[f, n*P + p] = dout[n0+n, f, p];  db[f] += sum over n, p of dout[n0+n, f, p]"""
    cdef Py_ssize_t F = dout.shape[1], P = dout.shape[2], L = doutT.shape[1], n, f, p
    cdef double acc
    cdef floating* dst
    cdef const floating* src
    if nb * F * P == 0:
        return
    cdef const floating* g0 = &dout[n0, 0, 0]
    cdef floating* d0 = &doutT[0, 0]
    cdef int nt = threads_for(nb * F * P, parallel_min(PAR_CONV), n_threads)
    for f in prange(F, schedule='static', nogil=True, num_threads=nt):
        acc = 0
        for n in range(nb):
            src = g0 + (n * F + f) * P
            dst = d0 + f * L + n * P
            for p in range(P):
                dst[p] = src[p]
            acc = acc + lane_sum(src, P)
        db[f] += acc


# ---- the fused path: per-image im2col + single-threaded BLAS GEMM inside one parallel loop ----
#
# Each thread takes whole images (static schedule) and runs, per block of
# output rows, im2col into its own scratch and a single-threaded GEMM into the
# image's output: one OpenMP region per call, nothing between BLAS calls for
# another thread pool to spin on.  The GEMM is common.pxd's gemm_rm: fastnn's
# own (fnn_gemm.h) when the `gemm` argument is 0, else the BLAS gemm at that
# address (fastnn.ops._common.gemm_backend chooses).

def fused_forward(const floating[:, :, :, ::1] x,   # IN  (N, C, H, W)
                  const floating[:, ::1] w2,        # IN  (F, C/groups*HH*WW)
                  const floating[::1] b,            # IN  (F,)
                  floating[:, :, ::1] out,          # OUT (N, F, Ho*Wo)
                  floating[:, ::1] scratch,         # TMP (threads, C*HH*WW * rb*Wo) one block of columns per thread
                  Py_ssize_t HH, Py_ssize_t WW, Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t rb,
                  Py_ssize_t stride, Py_ssize_t pad, Py_ssize_t dil, Py_ssize_t groups,
                  size_t gemm, int n_threads):
    """out[n, f, q] = sum_k w2[f, k] cols_n[g(f)*Kg + k, q] + b[f], rb output rows at a time"""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t F = w2.shape[0], Kg = w2.shape[1], K = C * HH * WW, P = Ho * Wo
    cdef Py_ssize_t Fg = F // groups, n, g, oh0, oh1, pb, f, q
    cdef floating* cols
    cdef floating* on
    cdef floating bf
    if N == 0:
        return
    cdef const floating* x0 = &x[0, 0, 0, 0]
    cdef const floating* w0 = &w2[0, 0]
    cdef floating* o0 = &out[0, 0, 0]
    cdef floating* s0 = &scratch[0, 0]
    cdef Py_ssize_t ls = scratch.shape[1]
    cdef int nt = n_threads if n_threads < N else <int>N
    for n in prange(N, schedule='static', nogil=True, num_threads=nt):
        cols = s0 + omp_get_thread_num() * ls
        on = o0 + n * F * P
        oh0 = 0
        while oh0 < Ho:
            oh1 = min(oh0 + rb, Ho)
            pb = (oh1 - oh0) * Wo
            _im2col_block(x0 + n * C * H * W, cols, pb, C, H, W, HH, WW, oh0, oh1, Wo,
                          stride, pad, dil)
            for g in range(groups):
                gemm_rm(gemm, False, False, <int>Fg, <int>pb, <int>Kg, 1,
                         w0 + g * Fg * Kg, <int>Kg, cols + g * Kg * pb, <int>pb,
                         0, on + g * Fg * P + oh0 * Wo, <int>P)
            oh0 = oh1
        for f in range(F):
            bf = b[f]
            for q in range(P):
                on[f * P + q] += bf


def fused_backward(const floating[:, :, :, ::1] x,     # IN  (N, C, H, W)
                   const floating[:, ::1] w2,          # IN  (F, C/groups*HH*WW)
                   const floating[:, :, ::1] dout,     # IN  (N, F, Ho*Wo)
                   floating[:, :, :, ::1] dx,          # OUT (N, C, H, W), or None: no input gradient
                   floating[:, ::1] dw_parts,          # OUT (S, F*Kg) dw of each slice of images, summed by the caller
                   double[:, ::1] db_parts,            # OUT (S, F) db of each slice
                   floating[:, ::1] scratch,           # TMP (threads, 2 * C*HH*WW * rb*Wo): cols and dcols
                   Py_ssize_t HH, Py_ssize_t WW, Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t rb,
                   Py_ssize_t stride, Py_ssize_t pad, Py_ssize_t dil, Py_ssize_t groups,
                   size_t gemm, int n_threads):
    """dw += dout_n cols_n^T;  dcols = w^T dout_n;  dx_n = col2im(dcols);  db += sum dout_n

    The images are cut into S = dw_parts.shape[0] fixed slices, each summed in
    its own dw/db partial, so the result does not depend on the thread count.
    dx None: dcols and col2im are skipped (scratch needs the cols block only).
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t F = w2.shape[0], Kg = w2.shape[1], K = C * HH * WW, P = Ho * Wo
    cdef Py_ssize_t Fg = F // groups, kk = HH * WW, S = dw_parts.shape[0]
    cdef Py_ssize_t n, c, g, oh0, oh1, pb, f, sl, tid
    cdef floating* cols
    cdef floating* dcols
    cdef floating* dwt
    cdef double* dbt
    cdef const floating* gn
    cdef floating* dxn
    cdef Py_ssize_t ls = scratch.shape[1]
    cdef int nt = slice_threads(n_threads, S)
    zero_partials(dw_parts, db_parts)
    if N == 0:
        return
    cdef const floating* x0 = &x[0, 0, 0, 0]
    cdef const floating* w0 = &w2[0, 0]
    cdef const floating* g0 = &dout[0, 0, 0]
    cdef bint want_dx = dx is not None
    cdef floating* dx0 = &dx[0, 0, 0, 0] if want_dx else NULL
    cdef floating* s0 = &scratch[0, 0]
    cdef floating* dw0 = &dw_parts[0, 0]
    cdef double* db0 = &db_parts[0, 0]
    for sl in prange(S, schedule='static', nogil=True, num_threads=nt):
        tid = omp_get_thread_num()
        cols = s0 + tid * ls
        dcols = cols + ls // 2
        dwt = dw0 + sl * F * Kg
        dbt = db0 + sl * F
        for n in range(sl * N // S, (sl + 1) * N // S):
            gn = g0 + n * F * P
            if want_dx:
                dxn = dx0 + n * C * H * W
                memset(dxn, 0, C * H * W * sizeof(floating))
            for f in range(F):
                dbt[f] += lane_sum(gn + f * P, P)
            oh0 = 0
            while oh0 < Ho:
                oh1 = min(oh0 + rb, Ho)
                pb = (oh1 - oh0) * Wo
                _im2col_block(x0 + n * C * H * W, cols, pb, C, H, W, HH, WW, oh0, oh1, Wo,
                              stride, pad, dil)
                for g in range(groups):
                    # dw_g (Fg, Kg) += dout_g (Fg, pb) @ cols_g (Kg, pb)^T
                    gemm_rm(gemm, False, True, <int>Fg, <int>Kg, <int>pb, 1,
                             gn + g * Fg * P + oh0 * Wo, <int>P, cols + g * Kg * pb, <int>pb,
                             1, dwt + g * Fg * Kg, <int>Kg)
                    if want_dx:
                        # dcols_g (Kg, pb) = w_g (Fg, Kg)^T @ dout_g (Fg, pb)
                        gemm_rm(gemm, True, False, <int>Kg, <int>pb, <int>Fg, 1,
                                 w0 + g * Fg * Kg, <int>Kg, gn + g * Fg * P + oh0 * Wo, <int>P,
                                 0, dcols + g * Kg * pb, <int>pb)
                if want_dx:
                    for c in range(C):
                        _col2im_rows(dcols + c * kk * pb, pb, dxn + c * H * W,
                                     H, W, HH, WW, oh0, oh1, Wo, stride, pad, dil)
                oh0 = oh1


# The direct path (fastnn.ops.conv picks it for short K): no im2col matrix.  Each
# thread takes whole images, copies one into its zero-padded scratch plane and
# runs fnn_gemm.h's implicit-GEMM tile over it (MR pixels x NR filters in
# registers, window starts from `base`, taps from `off`).

cdef void _pad_image(const floating* xn, floating* xp, Py_ssize_t C, Py_ssize_t H,
                     Py_ssize_t W, Py_ssize_t pad) noexcept nogil:
    """xp (C, H + 2 pad, W + 2 pad) = image xn (C, H, W) with a border of pad zeros"""
    cdef Py_ssize_t Hp = H + 2 * pad, Wp = W + 2 * pad, c, h
    if pad:
        memset(xp, 0, C * Hp * Wp * sizeof(floating))
    for c in range(C):
        for h in range(H):
            memcpy(xp + (c * Hp + h + pad) * Wp + pad, xn + (c * H + h) * W, W * sizeof(floating))


def direct_forward(const floating[:, :, :, ::1] x,   # IN  (N, C, H, W)
                   const floating[:, :, ::1] wp,      # IN  (ceil(F/NR), K, NR) W^T in B panels, zeros past F
                   const floating[::1] b,             # IN  (F,)
                   const Py_ssize_t[::1] base,        # IN  (Ho*Wo,) window start of each pixel in the padded plane
                   const Py_ssize_t[::1] off,         # IN  (K,) offset of tap k = c*HH*WW + i*WW + j
                   floating[:, :, ::1] out,           # OUT (N, F, Ho*Wo)
                   floating[:, ::1] scratch,          # TMP (threads, C*Hp*Wp + S) a padded image and S >= MR*Fp staging elements per thread
                   Py_ssize_t pad, int n_threads):
    """out[n, f, q] = b[f] + sum_k w[f, k] xpad_n[base[q] + off[k]], image by image"""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t F = out.shape[1], P = out.shape[2], K = off.shape[0]
    cdef Py_ssize_t Wp = W + 2 * pad, Hp = H + 2 * pad, n
    cdef floating* xp
    if N == 0 or P == 0:
        return
    cdef Py_ssize_t Fp = (F + wp.shape[2] - 1) // wp.shape[2] * wp.shape[2]
    cdef Py_ssize_t cap = scratch.shape[1] - C * Hp * Wp
    if cap < fnn_gemm_mr() * Fp:
        raise ValueError("direct_forward: scratch rows must hold C*(H+2*pad)*(W+2*pad) + "
                         "MR*Fp elements")
    if wp.shape[1] != K or wp.shape[0] * wp.shape[2] != Fp:
        raise ValueError("direct_forward: wp must be (ceil(F/NR), K, NR)")
    cdef const floating* x0 = &x[0, 0, 0, 0]
    cdef const floating* w0 = &wp[0, 0, 0]
    cdef const floating* b0 = &b[0]
    cdef const Py_ssize_t* base0 = &base[0]
    cdef const Py_ssize_t* off0 = &off[0]
    cdef floating* o0 = &out[0, 0, 0]
    cdef floating* s0 = &scratch[0, 0]
    cdef Py_ssize_t ls = scratch.shape[1]
    cdef int nt = n_threads if n_threads < N else <int>N
    for n in prange(N, schedule='static', nogil=True, num_threads=nt):
        xp = s0 + omp_get_thread_num() * ls
        _pad_image(x0 + n * C * H * W, xp, C, H, W, pad)
        if floating is float:
            fnn_gemm_conv_f32(xp, base0, off0, K, w0, F, b0, o0 + n * F * P, P, xp + C * Hp * Wp, cap, 0)
        else:
            fnn_gemm_conv_f64(xp, base0, off0, K, w0, F, b0, o0 + n * F * P, P, xp + C * Hp * Wp, cap, 0)


def direct_dw(const floating[:, :, :, ::1] x,      # IN  (N, C, H, W)
              const floating[:, :, ::1] dout,      # IN  (N, F, Ho*Wo)
              const Py_ssize_t[::1] taps,          # IN  (K,) offset of tap k = c*HH*WW + i*WW + j in the padded image
              const Py_ssize_t[::1] starts,        # IN  (Ho*Wo,) window start of each output pixel
              const floating[::1] zeros,           # IN  (F,) zeros (the kernel's bias)
              floating[:, ::1] dw_parts,           # OUT (S, F*K) dw of each fixed slice of images
              double[:, ::1] db_parts,             # OUT (S, F) db of each slice
              floating[:, ::1] scratch,            # TMP (threads, C*Hp*Wp + ceil(F/NR)*P*NR + stage)
              Py_ssize_t pad, Py_ssize_t nr, int n_threads):
    """dw[f, k] = sum_{n, q} dout[n, f, q] xpad_n[starts[q] + taps[k]], db[f] = sum dout[:, f]:
    the direct kernel with taps as its pixels and output pixels as its sum, image by
    image (dout_n transposed into B panels of nr filters), one partial per slice."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t F = dout.shape[1], P = dout.shape[2], K = taps.shape[0], S = dw_parts.shape[0]
    cdef Py_ssize_t Wp = W + 2 * pad, Hp = H + 2 * pad
    cdef Py_ssize_t Fp = (F + nr - 1) // nr * nr
    cdef Py_ssize_t sl, n, f, q, j, jp, pi
    cdef floating* xp
    cdef floating* gp
    cdef floating* panel
    cdef const floating* gn
    cdef floating* dwt
    cdef double* dbt
    cdef Py_ssize_t ls = scratch.shape[1]
    cdef Py_ssize_t cap = ls - C * Hp * Wp - Fp * P
    cdef int nt = slice_threads(n_threads, S)
    if cap < fnn_gemm_mr() * Fp:
        raise ValueError("direct_dw: scratch rows must hold C*Hp*Wp + Fp*P + MR*Fp elements")
    zero_partials(dw_parts, db_parts)
    if N == 0 or P == 0:
        return
    cdef const floating* x0 = &x[0, 0, 0, 0]
    cdef const floating* g0 = &dout[0, 0, 0]
    cdef const Py_ssize_t* taps0 = &taps[0]
    cdef const Py_ssize_t* starts0 = &starts[0]
    cdef const floating* z0 = &zeros[0]
    cdef floating* s0 = &scratch[0, 0]
    cdef floating* dw0 = &dw_parts[0, 0]
    cdef double* db0 = &db_parts[0, 0]
    for sl in prange(S, schedule='static', nogil=True, num_threads=nt):
        xp = s0 + omp_get_thread_num() * ls
        gp = xp + C * Hp * Wp
        dwt = dw0 + sl * F * K
        dbt = db0 + sl * F
        for n in range(sl * N // S, (sl + 1) * N // S):
            gn = g0 + n * F * P
            for f in range(F):
                dbt[f] += lane_sum(gn + f * P, P)
            _pad_image(x0 + n * C * H * W, xp, C, H, W, pad)
            # dout_n (F, P) into panels of nr filters: panel jp / nr holds P rows of nr
            for pi in range(Fp // nr):
                jp = pi * nr
                panel = gp + jp * P
                for j in range(nr):
                    if jp + j < F:
                        for q in range(P):
                            panel[q * nr + j] = gn[(jp + j) * P + q]
                    else:
                        for q in range(P):
                            panel[q * nr + j] = 0
            if floating is float:
                fnn_gemm_conv_f32(xp, taps0, starts0, P, gp, F, z0, dwt, K,
                                  gp + Fp * P, cap, 1)
            else:
                fnn_gemm_conv_f64(xp, taps0, starts0, P, gp, F, z0, dwt, K,
                                  gp + Fp * P, cap, 1)
