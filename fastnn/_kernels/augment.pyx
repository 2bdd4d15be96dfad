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
from libc.math cimport floor
from libc.stdint cimport int64_t, uint8_t
from libc.string cimport memcpy, memset

from fastnn._kernels.common cimport threads_for

# Below this many output elements a kernel runs on one thread.  Measured on 2
# cores (bench/threshold-style sweep of crop / flip / jitter, float32): the
# second thread starts to pay from about 32K elements (a 32x3x16x16 batch);
# below that, waking the team costs more than the copy it shares.
PARALLEL_MIN = 32768
cdef Py_ssize_t _MIN = PARALLEL_MIN


def _set_tuning(Py_ssize_t parallel_min):
    """Override PARALLEL_MIN for this process; returns the previous value."""
    global _MIN
    old = _MIN
    _MIN = parallel_min
    return old


# ---- serial helpers ----

cdef inline floating _clip(floating v, floating lo, floating hi) noexcept nogil:
    """min(max(v, lo), hi), NaN passes through"""
    return lo if v < lo else (hi if v > hi else v)


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
    cdef int nt = threads_for(N * C * OH * OW, _MIN, n_threads)
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
                 const int64_t[::1] top,           # IN  (N,) box top row
                 const int64_t[::1] left,          # IN  (N,) box left column
                 const int64_t[::1] height,        # IN  (N,) box height (>= 1)
                 const int64_t[::1] width,         # IN  (N,) box width (>= 1)
                 int n_threads):
    """out[n, c] = bilinear resize of x[n, c, box] to OH x OW (half-pixel centres, align_corners=False)"""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1]
    cdef Py_ssize_t OH = out.shape[2], OW = out.shape[3]
    cdef Py_ssize_t p, n, c, i, j, y0, y1, x0, x1, bh, bw
    cdef double sy, sx, fy, fx, scale_y, scale_x
    cdef floating wy, wx, a, b
    cdef const floating* r0
    cdef const floating* r1
    cdef floating* o
    cdef int nt = threads_for(N * C * OH * OW, _MIN, n_threads)
    if N * C == 0 or OH * OW == 0:
        return
    for p in prange(N * C, schedule='static', nogil=True, num_threads=nt):
        n = p // C
        c = p - n * C
        bh = height[n]
        bw = width[n]
        scale_y = <double>bh / OH
        scale_x = <double>bw / OW
        for i in range(OH):
            sy = (i + 0.5) * scale_y - 0.5
            if sy < 0:
                sy = 0
            fy = floor(sy)
            y0 = <Py_ssize_t>fy
            y1 = y0 + 1 if y0 < bh - 1 else y0
            wy = <floating>(sy - fy)
            r0 = &x[n, c, top[n] + y0, left[n]]
            r1 = &x[n, c, top[n] + y1, left[n]]
            o = &out[n, c, i, 0]
            for j in range(OW):
                sx = (j + 0.5) * scale_x - 0.5
                if sx < 0:
                    sx = 0
                fx = floor(sx)
                x0 = <Py_ssize_t>fx
                x1 = x0 + 1 if x0 < bw - 1 else x0
                wx = <floating>(sx - fx)
                a = r0[x0] + wx * (r0[x1] - r0[x0])
                b = r1[x0] + wx * (r1[x1] - r1[x0])
                o[j] = a + wy * (b - a)


def hflip(const floating[:, :, :, ::1] x,        # IN  (N, C, H, W)
          floating[:, :, :, ::1] out,            # OUT (N, C, H, W)
          const uint8_t[::1] flip,               # IN  (N,) 1 = flip this sample
          int n_threads):
    """out[n, c, h, w] = x[n, c, h, W - 1 - w] if flip[n] else x[n, c, h, w]"""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t p, n, i, j, plane = H * W
    cdef const floating* s
    cdef floating* d
    cdef int nt = threads_for(N * C * plane, _MIN, n_threads)
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
    cdef int nt = threads_for(N * size, _MIN, n_threads)
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
                    d[k] = _clip(f * s[k], flo, fhi)
            else:
                for k in range(size):
                    d[k] = f * s[k]
        else:
            memcpy(d, s, size * sizeof(floating))
        # contrast: blend with the mean grey level of the image
        if do_contrast:
            acc = 0
            if C == 3:
                for k in range(plane):
                    acc = acc + (0.299 * d[k] + 0.587 * d[plane + k] + 0.114 * d[2 * plane + k])
                m = <floating>(acc / plane)
            else:
                for k in range(size):
                    acc = acc + d[k]
                m = <floating>(acc / size)
            f = <floating>contrast[n]
            m = (1 - f) * m
            if clip:
                for k in range(size):
                    d[k] = _clip(f * d[k] + m, flo, fhi)
            else:
                for k in range(size):
                    d[k] = f * d[k] + m
        # saturation: blend each pixel with its grey level (C == 3 only)
        if do_sat and C == 3:
            f = <floating>sat[n]
            for k in range(plane):
                g = (1 - f) * (<floating>0.299 * d[k] + <floating>0.587 * d[plane + k]
                               + <floating>0.114 * d[2 * plane + k])
                if clip:
                    d[k] = _clip(f * d[k] + g, flo, fhi)
                    d[plane + k] = _clip(f * d[plane + k] + g, flo, fhi)
                    d[2 * plane + k] = _clip(f * d[2 * plane + k] + g, flo, fhi)
                else:
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
    cdef int nt = threads_for(N * C * plane, _MIN, n_threads)
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
    cdef int nt = threads_for(N * D, _MIN, n_threads)
    if N * D == 0:
        return
    for n in prange(N, schedule='static', nogil=True, num_threads=nt):
        a = &x[n, 0]
        b = &x[perm[n], 0]
        d = &out[n, 0]
        for k in range(D):
            d[k] = la * a[k] + lb * b[k]
