# conv kernels (compiled per SIMD target; see activations.pyx for the layout conventions).
#
# The convolution itself is a GEMM done by BLAS (fastnn.ops.conv calls it once
# per chunk of nb images); these kernels do the data movement around it:
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
# Parallelism: over (image, channel) pairs for im2col/col2im.  Pair (n, c)
# owns rows [c*HH*WW, (c+1)*HH*WW) x columns [n*P, (n+1)*P) of cols, and the
# plane dx[n, c] in col2im, so no two threads ever write one element
# (col2im's overlapping windows are summed by the one thread owning the plane).
from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memset, memcpy

from fastnn._kernels.common cimport threads_for

# Below this many elements moved, a kernel runs on one thread (waking the
# OpenMP team costs ~ a few microseconds; these loops move ~1-4 elements/ns).
PARALLEL_MIN = 32768
cdef Py_ssize_t _MIN = PARALLEL_MIN


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
    """cp[(i*WW + j)*ld + oh*Wo + ow] = xp[(oh*s - pad + i*dil)*W + ow*s - pad + j*dil] (0 outside)"""
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
            for oh in range(Ho):
                ih = oh * s - pad + i * dil
                if ih < 0 or ih >= H:
                    memset(row + oh * Wo, 0, Wo * sizeof(floating))
                    continue
                xr = xp + ih * W + off
                for ow in range(lo):
                    row[oh * Wo + ow] = 0
                if s == 1:
                    memcpy(row + oh * Wo + lo, xr + lo, (hi - lo) * sizeof(floating))
                else:
                    for ow in range(lo, hi):
                        row[oh * Wo + ow] = xr[ow * s]
                for ow in range(hi, Wo):
                    row[oh * Wo + ow] = 0


cdef void _col2im_plane(const floating* cp, Py_ssize_t ld, floating* xp,
                        Py_ssize_t H, Py_ssize_t W, Py_ssize_t HH, Py_ssize_t WW,
                        Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t s, Py_ssize_t pad,
                        Py_ssize_t dil) noexcept nogil:
    """xp (H, W) = sum of the cp rows scattered back (the adjoint of _im2col_plane)"""
    cdef Py_ssize_t i, j, oh, ow, ih, off, lo, hi
    cdef floating* xr
    cdef const floating* row
    cdef const floating* rr
    memset(xp, 0, H * W * sizeof(floating))
    for i in range(HH):
        for j in range(WW):
            row = cp + (i * WW + j) * ld
            off = j * dil - pad
            lo = _first_valid(off, s)
            hi = _end_valid(off, s, W, Wo)
            for oh in range(Ho):
                ih = oh * s - pad + i * dil
                if ih < 0 or ih >= H:
                    continue
                xr = xp + ih * W + off
                rr = row + oh * Wo
                if s == 1:
                    for ow in range(lo, hi):
                        xr[ow] += rr[ow]
                else:
                    for ow in range(lo, hi):
                        xr[ow * s] += rr[ow]


cdef double _row_sum(const floating* a, Py_ssize_t n) noexcept nogil:
    """sum of a[0:n]: 16 fixed lanes (vectorised, deterministic), combined in double"""
    cdef floating lane[16]
    cdef Py_ssize_t i = 0, j
    cdef double total = 0
    for j in range(16):
        lane[j] = 0
    while i + 16 <= n:
        for j in range(16):
            lane[j] += a[i + j]
        i += 16
    while i < n:
        total += a[i]
        i += 1
    for j in range(16):
        total += lane[j]
    return total


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
    cdef int nt = threads_for(nb * K * P, _MIN, n_threads)
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
    cdef int nt = threads_for(nb * (K * P + C * H * W), _MIN, n_threads)
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
    cdef int nt = threads_for(nb * F * P, _MIN, n_threads)
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
    cdef int nt = threads_for(nb * F * P, _MIN, n_threads)
    for f in prange(F, schedule='static', nogil=True, num_threads=nt):
        acc = 0
        for n in range(nb):
            src = g0 + (n * F + f) * P
            dst = d0 + f * L + n * P
            for p in range(P):
                dst[p] = src[p]
            acc = acc + _row_sum(src, P)
        db[f] += acc
