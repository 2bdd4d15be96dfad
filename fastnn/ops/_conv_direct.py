"""The direct convolution path of :mod:`fastnn.ops.conv`: the GEMM's register tile run
straight over a zero-padded image (``conv.pyx``'s ``direct_forward`` and ``direct_dw``).

The kernels read a table of window starts (one per output pixel) and one of tap offsets
(one per filter tap); the filters, or dout for the filter gradient, go in as the GEMM's
B panels of NR columns.  :mod:`fastnn.ops.conv` decides when the path runs.
"""
import numpy as np

from fastnn import _dispatch
from fastnn._kernels import _buffers
from fastnn.ops._common import Cache, num_threads

def _tile(itemsize):
    """(MR, NR) of the active SIMD target's GEMM tile for this element size"""
    info = _dispatch.kernels.affine.gemm_info()
    return info["mr"], info["nr_f32" if itemsize == 4 else "nr_f64"]


def _padded_filters(F, nr):
    """F rounded up to whole panels of nr"""
    return -(-F // nr) * nr


def fills_panels(F, itemsize):
    """True when F filters fill the kernel's panels of NR (16 float32 on AVX2) to at least
    4/5: the tile computes whole panels, so 3 filters would cost as much as 16"""
    return 5 * F >= 4 * _padded_filters(F, _tile(itemsize)[1])


def scratch_elements(x_shape, w_shape, pad, itemsize):
    """elements of one thread's scratch: the padded image and the staging block"""
    C, H, W = x_shape[1:]
    mr, nr = _tile(itemsize)
    stage = max(mr * _padded_filters(w_shape[0], nr), STAGE_BYTES // itemsize)
    return C * (H + 2 * pad) * (W + 2 * pad) + stage


#: Bytes of the direct kernel's staging block (output tiles, pixel-major, then copied out
#: filter by filter): the pixels of a block share each filter panel's K slice in L1.
STAGE_BYTES = 64 << 10


def forward(x, w, b, geom, out_hw):
    """(out, cache) of the direct forward: the tables, the filters packed as the GEMM's B
    panels, then one kernel call (threads take whole images)"""
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho, Wo = out_hw
    p = geom[1]
    K = C * HH * WW
    nr = _tile(x.itemsize)[1]
    panels = -(-F // nr)
    wp = np.zeros((panels * nr, K), x.dtype)
    wp[:F] = w.reshape(F, K)
    wp = np.ascontiguousarray(wp.reshape(panels, nr, K).transpose(0, 2, 1))
    base, off = tables(x.shape, w.shape, geom, out_hw)
    out = _buffers.empty((N, F, Ho, Wo), x.dtype)
    nt = max(1, min(num_threads(), N))
    per = scratch_elements(x.shape, w.shape, p, x.itemsize)
    if N and Ho * Wo:
        scratch = _buffers.empty((nt, per), x.dtype)
        _dispatch.kernels.conv.direct_forward(x, wp, b, base, off, out.reshape(N, F, Ho * Wo),
                                              scratch, p, nt)
    return out, Cache("conv", x=x, w=w, geom=geom, groups=1, out_hw=out_hw, path="direct",
                      chunk=nt, workspace_bytes=nt * per * x.itemsize + wp.nbytes)


def tables(x_shape, w_shape, geom, out_hw):
    """(window start of each output pixel, offset of each tap) in the zero-padded image"""
    C, H, W = x_shape[1:]
    HH, WW = w_shape[2:]
    s, p, d = geom
    Wp = W + 2 * p
    oh, ow = np.divmod(np.arange(out_hw[0] * out_hw[1], dtype=np.intp), out_hw[1])
    starts = oh * (s * Wp) + ow * s
    c, i, j = np.meshgrid(np.arange(C, dtype=np.intp), np.arange(HH, dtype=np.intp),
                          np.arange(WW, dtype=np.intp), indexing="ij")
    taps = (c * ((H + 2 * p) * Wp) + i * (d * Wp) + j * d).reshape(-1)
    return starts, taps


def dw_scratch_elements(x_shape, w_shape, pad, P, itemsize):
    """(elements of one thread's scratch in the direct filter gradient: the forward's
    padded image and staging block plus dout of one image in filter panels, NR)"""
    nr = _tile(itemsize)[1]
    return (scratch_elements(x_shape, w_shape, pad, itemsize)
            + _padded_filters(w_shape[0], nr) * P, nr)


def filter_grad(x, g, w_shape, geom, slices):
    """(dw, db, scratch bytes) by the direct kernel, taps as its pixels: one partial per
    each of ``slices`` fixed slices of the images, summed in order (the same bits for any
    thread count)"""
    N = x.shape[0]
    F, C, HH, WW = w_shape
    Ho, Wo = g.shape[2:]
    starts, taps = tables(x.shape, w_shape, geom, (Ho, Wo))
    per, nr = dw_scratch_elements(x.shape, w_shape, geom[1], Ho * Wo, x.itemsize)
    nt = max(1, min(num_threads(), slices))
    dw_parts = np.empty((slices, F * C * HH * WW), x.dtype)
    db_parts = np.empty((slices, F), np.float64)
    scratch = _buffers.empty((nt, per), x.dtype)
    _dispatch.kernels.conv.direct_dw(x, g.reshape(N, F, Ho * Wo), taps, starts,
                                     np.zeros(F, x.dtype), dw_parts, db_parts, scratch, geom[1],
                                     nr, nt)
    return (dw_parts.sum(axis=0).reshape(w_shape), db_parts.sum(axis=0).astype(x.dtype),
            nt * per * x.itemsize + dw_parts.nbytes + db_parts.nbytes)
