# Augmentation kernels: crop, resized crop, flip, colour jitter, cutout, mixup
# on whole (N, C, H, W) batches.
#
# This file is compiled once per SIMD target (baseline / avx2 / avx512) by
# setup.py, which generates `augment_<target>.pyx` stubs that include it;
# fastnn._dispatch imports the one the CPU supports.
#
# No randomness is drawn here: fastnn.data.augment draws the per-sample
# parameters (offsets, flags, factors, boxes) from a NumPy Generator and these
# kernels apply them.  Every sample (or every (sample, channel) plane) is one
# parallel work item that owns its output, so results do not depend on the
# thread count.
from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport int64_t, uint8_t
from libc.string cimport memcpy, memset

from fastnn._kernels.common cimport fclip, lane_sum, threads_for
from fastnn._kernels._runtime cimport parallel_min, PAR_AUGMENT

# Below _runtime's "augment" threshold (output elements) a kernel runs on one thread.


# ---- serial helpers ----

cdef inline void _copy_row_shifted(const floating* src, Py_ssize_t W, floating* dst, Py_ssize_t ow,
                                   Py_ssize_t col0) noexcept nogil:
    """dst[j] = src[col0 + j] where 0 <= col0 + j < W, else 0 (j < ow)"""
    cdef Py_ssize_t lo = -col0 if col0 < 0 else 0              # first j inside the source
    cdef Py_ssize_t hi = W - col0 if W - col0 < ow else ow     # one past the last j inside
    if hi <= lo:
        memset(dst, 0, ow * sizeof(floating))
        return
    if lo > 0:
        memset(dst, 0, lo * sizeof(floating))
    memcpy(dst + lo, src + col0 + lo, (hi - lo) * sizeof(floating))
    if hi < ow:
        memset(dst + hi, 0, (ow - hi) * sizeof(floating))


# ---- kernels ----

def crop(const floating[:, :, :, ::1] x,         # IN  (N, C, H, W)
         floating[:, :, :, ::1] out,             # OUT (N, C, OH, OW)
         const int64_t[::1] top,                 # IN  (N,) first row of the window in padded coordinates
         const int64_t[::1] left,                # IN  (N,) first column of the window in padded coordinates
         Py_ssize_t pad, int n_threads):
    """out[n, c, i, j] = x[n, c, top[n] + i - pad, left[n] + j - pad], 0 outside x (zero padding)"""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t OH = out.shape[2], OW = out.shape[3]
    cdef Py_ssize_t p, n, c, i, r
    cdef int nt = threads_for(N * C * OH * OW, parallel_min(PAR_AUGMENT), n_threads)
    if N * C == 0 or OH * OW == 0:
        return
    for p in prange(N * C, schedule='static', nogil=True, num_threads=nt):
        n = p // C
        c = p - n * C
        for i in range(OH):
            r = top[n] + i - pad
            if r < 0 or r >= H:
                memset(&out[n, c, i, 0], 0, OW * sizeof(floating))
            elif W > 0:
                _copy_row_shifted(&x[n, c, r, 0], W, &out[n, c, i, 0], OW, left[n] - pad)
            else:
                memset(&out[n, c, i, 0], 0, OW * sizeof(floating))


def resized_crop(const floating[:, :, :, ::1] x,   # IN  (N, C, H, W)
                 floating[:, :, :, ::1] out,       # OUT (N, C, OH, OW)
                 const int64_t[:, ::1] r0,         # IN  (N, OH) upper source row of each output row
                 const int64_t[:, ::1] r1,         # IN  (N, OH) lower source row
                 const floating[:, ::1] wy,        # IN  (N, OH) weight of the lower row
                 const int64_t[:, ::1] c0,         # IN  (N, OW) left source column of each output column
                 const int64_t[:, ::1] c1,         # IN  (N, OW) right source column
                 const floating[:, ::1] wx,        # IN  (N, OW) weight of the right column
                 int n_threads):
    """out[n, c, i, j] = lerp(lerp(x[r0, c0], x[r0, c1], wx), lerp(x[r1, c0], x[r1, c1], wx), wy)
    (bilinear resampling; the taps come from fastnn.data.augment)"""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1]
    cdef Py_ssize_t OH = out.shape[2], OW = out.shape[3]
    cdef Py_ssize_t p, n, c, i, j
    cdef floating a, b, u, v
    cdef const floating* s0
    cdef const floating* s1
    cdef const int64_t* cl
    cdef const int64_t* cr
    cdef const floating* w
    cdef floating* o
    cdef int nt = threads_for(N * C * OH * OW, parallel_min(PAR_AUGMENT), n_threads)
    if N * C == 0 or OH * OW == 0:
        return
    for p in prange(N * C, schedule='static', nogil=True, num_threads=nt):
        n = p // C
        c = p - n * C
        cl = &c0[n, 0]
        cr = &c1[n, 0]
        w = &wx[n, 0]
        for i in range(OH):
            s0 = &x[n, c, r0[n, i], 0]
            s1 = &x[n, c, r1[n, i], 0]
            v = wy[n, i]
            o = &out[n, c, i, 0]
            for j in range(OW):
                u = w[j]
                a = s0[cl[j]] + u * (s0[cr[j]] - s0[cl[j]])
                b = s1[cl[j]] + u * (s1[cr[j]] - s1[cl[j]])
                o[j] = a + v * (b - a)


def hflip(const floating[:, :, :, ::1] x,        # IN  (N, C, H, W)
          floating[:, :, :, ::1] out,            # OUT (N, C, H, W)
          const uint8_t[::1] flip,               # IN  (N,) 1 = flip this sample
          int n_threads):
    """out[n, c, h, w] = x[n, c, h, W - 1 - w] if flip[n] else x[n, c, h, w]"""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t p, n, i, j, plane = H * W
    cdef const floating* s
    cdef floating* d
    cdef int nt = threads_for(N * C * plane, parallel_min(PAR_AUGMENT), n_threads)
    if N * C * plane == 0:
        return
    for p in prange(N * C, schedule='static', nogil=True, num_threads=nt):
        n = p // C
        s = &x[0, 0, 0, 0] + p * plane
        d = &out[0, 0, 0, 0] + p * plane
        if flip[n]:
            for i in range(H):
                for j in range(W):
                    d[i * W + j] = s[i * W + W - 1 - j]
        else:
            memcpy(d, s, plane * sizeof(floating))


def color_jitter(const floating[:, :, :, ::1] x,     # IN  (N, C, H, W), C == 3 when saturation is applied
                 floating[:, :, :, ::1] out,         # OUT (N, C, H, W)
                 const double[::1] bright,           # IN  (N,) brightness factors
                 const double[::1] contrast,         # IN  (N,) contrast factors
                 const double[::1] sat,              # IN  (N,) saturation factors
                 bint do_bright, bint do_contrast, bint do_sat,
                 bint clip, double lo, double hi, int n_threads):
    """out = saturation(contrast(brightness(x))), each step optional and clipped to [lo, hi] when clip:
    brightness y = b x; contrast y = c y + (1 - c) mean(grey(y)); saturation y = s y + (1 - s) grey(y),
    grey = 0.299 R + 0.587 G + 0.114 B (C == 3), the image itself for C == 1, the channel mean otherwise"""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t n, k, c, plane = H * W, size = C * H * W
    cdef const floating* s
    cdef floating* d
    cdef floating f, g, m, flo = <floating>lo, fhi = <floating>hi
    cdef double acc
    cdef int nt = threads_for(N * size, parallel_min(PAR_AUGMENT), n_threads)
    if N * size == 0:
        return
    for n in prange(N, schedule='static', nogil=True, num_threads=nt):
        s = &x[n, 0, 0, 0]
        d = &out[n, 0, 0, 0]
        # brightness (or the plain copy)
        if do_bright:
            f = <floating>bright[n]
            if clip:
                for k in range(size):
                    d[k] = fclip(f * s[k], flo, fhi)
            else:
                for k in range(size):
                    d[k] = f * s[k]
        else:
            memcpy(d, s, size * sizeof(floating))
        # contrast: blend with the mean grey level of the image
        if do_contrast:
            if C == 3:
                acc = (0.299 * lane_sum(d, plane) + 0.587 * lane_sum(d + plane, plane)
                       + 0.114 * lane_sum(d + 2 * plane, plane))
                m = <floating>(acc / plane)
            else:
                m = <floating>(lane_sum(d, size) / size)
            f = <floating>contrast[n]
            m = (1 - f) * m
            if clip:
                for k in range(size):
                    d[k] = fclip(f * d[k] + m, flo, fhi)
            else:
                for k in range(size):
                    d[k] = f * d[k] + m
        # saturation: blend each pixel with its grey level (C == 3 only)
        if do_sat and C == 3:
            f = <floating>sat[n]
            if clip:
                for k in range(plane):
                    g = (1 - f) * (<floating>0.299 * d[k] + <floating>0.587 * d[plane + k]
                                   + <floating>0.114 * d[2 * plane + k])
                    d[k] = fclip(f * d[k] + g, flo, fhi)
                    d[plane + k] = fclip(f * d[plane + k] + g, flo, fhi)
                    d[2 * plane + k] = fclip(f * d[2 * plane + k] + g, flo, fhi)
            else:
                for k in range(plane):
                    g = (1 - f) * (<floating>0.299 * d[k] + <floating>0.587 * d[plane + k]
                                   + <floating>0.114 * d[2 * plane + k])
                    d[k] = f * d[k] + g
                    d[plane + k] = f * d[plane + k] + g
                    d[2 * plane + k] = f * d[2 * plane + k] + g


def cutout(const floating[:, :, :, ::1] x,      # IN  (N, C, H, W)
           floating[:, :, :, ::1] out,          # OUT (N, C, H, W)
           const int64_t[::1] y0,               # IN  (N,) first zeroed row (clipped to [0, H])
           const int64_t[::1] y1,               # IN  (N,) one past the last zeroed row
           const int64_t[::1] x0,               # IN  (N,) first zeroed column (clipped to [0, W])
           const int64_t[::1] x1,               # IN  (N,) one past the last zeroed column
           int n_threads):
    """out = x with out[n, :, y0[n]:y1[n], x0[n]:x1[n]] = 0"""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t p, n, i, plane = H * W
    cdef floating* d
    cdef int nt = threads_for(N * C * plane, parallel_min(PAR_AUGMENT), n_threads)
    if N * C * plane == 0:
        return
    for p in prange(N * C, schedule='static', nogil=True, num_threads=nt):
        n = p // C
        d = &out[0, 0, 0, 0] + p * plane
        memcpy(d, &x[0, 0, 0, 0] + p * plane, plane * sizeof(floating))
        if x1[n] > x0[n]:
            for i in range(y0[n], y1[n]):
                memset(d + i * W + x0[n], 0, (x1[n] - x0[n]) * sizeof(floating))


def mixup(const floating[:, ::1] x,             # IN  (N, D)
          floating[:, ::1] out,                 # OUT (N, D)
          const int64_t[::1] perm,              # IN  (N,) partner of each sample
          double lam, int n_threads):
    """out[n] = lam x[n] + (1 - lam) x[perm[n]]"""
    cdef Py_ssize_t N = x.shape[0], D = x.shape[1]
    cdef Py_ssize_t n, k
    cdef const floating* a
    cdef const floating* b
    cdef floating* d
    cdef floating la = <floating>lam, lb = <floating>(1.0 - lam)
    cdef int nt = threads_for(N * D, parallel_min(PAR_AUGMENT), n_threads)
    if N * D == 0:
        return
    for n in prange(N, schedule='static', nogil=True, num_threads=nt):
        a = &x[n, 0]
        b = &x[perm[n], 0]
        d = &out[n, 0]
        for k in range(D):
            d[k] = la * a[k] + lb * b[k]
