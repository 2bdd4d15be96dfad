"""2-D convolution (cross-correlation, as in PyTorch's ``conv2d``) by im2col + GEMM.

Layout NCHW; im2col row index ``c*HH*WW + i*WW + j``.  Two paths, same results:

* **fused** (the default): one OpenMP loop over the images.
  Each thread takes whole images and, per block of output rows, writes their
  im2col columns into its own scratch and calls a single-threaded GEMM
  (fastnn's own, fnn_gemm.h; see :func:`fastnn.ops._common.gemm_backend`)
  straight into ``out[n]`` (F, Ho*Wo) -- already NCHW -- then adds the bias.
  Backward recomputes the columns (nothing but x and w is saved), accumulates
  ``dw += dout[n] cols^T`` per fixed slice of images (so results do not depend
  on the thread count), ``dcols = w^T dout[n]``, and col2im sums the
  overlapping windows into ``dx[n]``.  One parallel region per call: no
  hand-over between OpenMP and a second BLAS thread pool (measured: with
  NumPy's threaded matmul between the Cython passes, the two pools' spinning
  threads fight over the cores and a 2-core machine loses 2-10x).
* **chunked** (``USE_FUSED = False``): chunks of images laid
  side by side, ``cols`` (C*HH*WW, nb*Ho*Wo); one NumPy (threaded BLAS) matmul
  per chunk for the forward, dw and dcols; bias add and db fused into the
  Cython passes that repack out/dout.

Bounded memory: the scratch of one call stays within ``WORKSPACE_BYTES``
(module constant, default 8 MiB) per chunk of work: the fused path keeps each
thread's row block within a quarter of it (one block per thread), the chunked
path shrinks its number of images per chunk (the minimum, used even when it
exceeds the limit, is one output row per thread, resp. one image).  Blocks and
slices are fixed by the shape, never by the thread count, so the fused path
gives the same bits for any thread count.  So the extra memory of conv forward+backward
does not grow with the batch size.  ``cache.path``, ``cache.chunk`` and
``cache.workspace_bytes`` (``cache.backward_workspace_bytes`` after backward)
report what a call used.
"""
import operator

import numpy as np

from fastnn import _dispatch
from fastnn._kernels import _buffers
from fastnn.ops._common import (Cache, cache_array, cache_field, cache_for, check_dout,
                                float_array, gemm_backend, num_threads,
                                param_array)

__all__ = ["conv_forward", "conv_backward", "conv_output_shape", "conv_workspace_plan",
           "im2col", "col2im"]

#: Scratch bytes (im2col / dcols matrices) one conv call may use; change it
#: with ``fastnn.ops.conv.WORKSPACE_BYTES = ...``.
WORKSPACE_BYTES = 8 << 20

#: Output pixels per GEMM in the fused path (whole output rows, rounded up).
#: Measured, single-threaded sgemm, (64 x 576) @ (576 x n): 97 GFLOP/s at
#: n = 256, 81 at n = 1024 (OpenBLAS) -- the im2col block stays in L2.
BLOCK_COLUMNS = 256

#: Use the fused path (per-thread im2col + single-threaded GEMM in one OpenMP
#: loop); False forces the chunked path
#: (NumPy's threaded matmul between the Cython passes).
USE_FUSED = True


# backward sums dw over this many fixed slices of the batch (one partial each,
# summed in a fixed order), so results are identical for every thread count;
# backward uses at most this many threads
_SLICES = 16


#: Largest stride, pad, dilation (and pooling window / stride) accepted: the
#: kernels index with 64-bit integers, and this bound keeps every product of
#: them (padded sizes, window offsets) far from overflow.
MAX_GEOMETRY = 2**31 - 1


def _int_param(v, name, fn, minimum, maximum=None):
    try:
        i = operator.index(v)
    except TypeError:
        raise TypeError(f"{fn}: {name} must be an integer, got {v!r}") from None
    if i < minimum:
        what = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{fn}: {name} must be a {what} integer, got {i}")
    if maximum is not None and i > maximum:
        raise ValueError(f"{fn}: {name} must be at most {maximum} (an integer in "
                         f"{minimum}..{maximum}), got {i}")
    return i


def conv_output_shape(x_shape, w_shape, stride=1, pad=0, dilation=1, fn="conv_output_shape"):
    """(Ho, Wo) of a convolution, with the checks of :func:`conv_forward`.

    ``Ho = (H + 2*pad - dilation*(HH - 1) - 1) // stride + 1`` (floor, like
    PyTorch), likewise Wo.  Raises ValueError naming the numbers when the
    (dilated) filter does not fit the padded input.
    """
    s, p, d = _geometry(stride, pad, dilation, fn)
    H, W = x_shape[2], x_shape[3]
    HH, WW = w_shape[2], w_shape[3]
    eh, ew = d * (HH - 1) + 1, d * (WW - 1) + 1
    if eh > H + 2 * p or ew > W + 2 * p:
        dil = f" (dilation {d}: spans {eh}x{ew})" if d != 1 else ""
        raise ValueError(f"{fn}: filter {HH}x{WW}{dil} with pad {p} does not fit "
                         f"input {H}x{W} (padded {H + 2 * p}x{W + 2 * p})")
    return (H + 2 * p - eh) // s + 1, (W + 2 * p - ew) // s + 1


def conv_workspace_plan(N, C, F, HH, WW, Ho, Wo, itemsize, backward=False, limit=None, groups=1):
    """Images per chunk and scratch bytes of one conv call.

    Per image, forward holds its im2col columns (C*HH*WW x Ho*Wo) and its GEMM
    result (F x Ho*Wo); backward holds the columns, their gradient and the
    repacked dout.  nb is the largest count whose scratch fits ``limit``
    (default :data:`WORKSPACE_BYTES`), at least 1 and at most N.
    """
    limit = WORKSPACE_BYTES if limit is None else limit
    K, P = C * HH * WW, Ho * Wo
    per_image = ((2 * K + F) if backward else (K + F)) * P * itemsize
    fixed = F * (K // groups) * itemsize if backward else 0      # one dw partial
    nb = max(1, min(max(N, 1), (limit - fixed) // max(per_image, 1)))
    return nb, nb * per_image + fixed


def _check(x, w, b, stride, pad, dilation, groups, fn):
    if x.ndim != 4:
        raise ValueError(f"{fn}: x must have shape (N, C, H, W), got shape {x.shape}")
    w = param_array(w, "w", x.dtype, fn)
    if w.ndim != 4:
        raise ValueError(f"{fn}: w must have shape (F, C/groups, HH, WW), got shape {w.shape}")
    groups = _int_param(groups, "groups", fn, 1)
    N, C, H, W = x.shape
    F, Cg, HH, WW = w.shape
    if C % groups or F % groups:
        raise ValueError(f"{fn}: groups={groups} must divide the input channels C={C} "
                         f"and the filters F={F}")
    if Cg != C // groups:
        raise ValueError(f"{fn}: w has {Cg} input channels per filter, expected "
                         f"C/groups = {C}/{groups} = {C // groups} (x has shape {x.shape})")
    if HH < 1 or WW < 1 or F < 1:
        raise ValueError(f"{fn}: w must have at least one filter of size >= 1x1, got shape {w.shape}")
    if b is None:
        b = np.zeros(F, x.dtype)
    b = param_array(b, "b", x.dtype, fn)
    if b.shape != (F,):
        raise ValueError(f"{fn}: b must have shape (F,) = ({F},), got shape {b.shape}")
    Ho, Wo = conv_output_shape(x.shape, w.shape, stride, pad, dilation, fn)
    return w, b, groups, (Ho, Wo)


def conv_forward(x, w, b=None, stride=1, pad=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation), ``torch.nn.functional.conv2d`` semantics.

    out[n, f, oh, ow] = b[f] + sum over c, i, j of
    w[f, c, i, j] * x[n, g*C/groups + c, oh*stride - pad + i*dilation, ow*stride - pad + j*dilation]
    (zero padding; g = f // (F/groups)).

    Parameters
    ----------
    x : array_like of float32 or float64, shape (N, C, H, W)
    w : array_like, shape (F, C/groups, HH, WW)
        Filters, in x's dtype.  Non-square filters and images work.
    b : array_like, shape (F,), optional
        Bias (zeros when None).
    stride : int, 1 .. MAX_GEOMETRY (2**31 - 1)
    pad : int, 0 .. MAX_GEOMETRY
        Zero padding on each side (same for height and width).
    dilation : int, 1 .. MAX_GEOMETRY
        Spacing between filter taps.
    groups : int, >= 1
        Channels and filters split in ``groups`` independent convolutions;
        ``groups = C`` with F a multiple of C is a depthwise convolution (done
        by the same im2col + per-group GEMM path, correct but not specially
        optimised).

    Returns
    -------
    out : ndarray, shape (N, F, Ho, Wo)
        ``Ho = (H + 2*pad - dilation*(HH-1) - 1) // stride + 1`` (floor, like
        PyTorch), likewise Wo.
    cache : Cache
        For :func:`conv_backward`: x, w and the geometry (im2col matrices are
        recomputed in backward, not stored).  ``cache.chunk`` images per GEMM
        chunk, ``cache.workspace_bytes`` scratch used.

    Raises
    ------
    ValueError
        When the filter does not fit the padded input, stride/dilation are not
        positive integers, pad is negative, or the channel counts disagree.

    Shape
    -----
    x (N, C, H, W), w (F, C/groups, HH, WW), b (F,) -> out (N, F, Ho, Wo).
    """
    fn = "conv_forward"
    x = float_array(x, "x", fn)
    w, b, groups, (Ho, Wo) = _check(x, w, b, stride, pad, dilation, groups, fn)
    geom = _geometry(stride, pad, dilation, fn)
    N, C, H, W = x.shape
    F, Cg, HH, WW = w.shape
    out = _buffers.empty((N, F, Ho, Wo), x.dtype)
    gemm = gemm_backend() if USE_FUSED else None
    if gemm is not None and gemm.addr is not None:
        rb, nt, ws = _fused_plan(C, F, HH, WW, Ho, Wo, x.itemsize, min(num_threads(), N), False,
                                 groups)
        if N:
            scratch = _buffers.empty((nt, C * HH * WW * rb * Wo), x.dtype)
            with gemm.one_thread():
                _dispatch.kernels.conv.fused_forward(
                    x, w.reshape(F, Cg * HH * WW), b, out.reshape(N, F, Ho * Wo), scratch,
                    HH, WW, Ho, Wo, rb, *geom, groups, gemm.addr[x.dtype], nt)
        path, nb = "fused", nt
    else:
        nb, ws = conv_workspace_plan(N, C, F, HH, WW, Ho, Wo, x.itemsize, groups=groups)
        if N:
            _forward_chunks(x, w, b, out, geom, groups, nb)
        path = "chunked"
    return out, Cache("conv", x=x, w=w, geom=geom, groups=groups, out_hw=(Ho, Wo),
                      path=path, chunk=nb, workspace_bytes=ws)


def _fused_plan(C, F, HH, WW, Ho, Wo, itemsize, nt, backward, groups, limit=None, slices=0):
    """Output rows per block, threads and scratch bytes of the fused path.

    The row block depends on the shape only, never on the thread count (so
    every thread count makes the same GEMM calls and gets the same bits): rb
    output rows hold about :data:`BLOCK_COLUMNS` output pixels, and one block's
    im2col columns (and their gradient in backward) take at most a quarter of
    ``limit`` (at least one row).  Threads take whole images (forward) or
    whole image slices (backward, ``slices`` of them), one block of scratch
    each; returns (rb, threads, scratch bytes including backward's per-slice
    dw and db partials).
    """
    limit = WORKSPACE_BYTES if limit is None else limit
    K = C * HH * WW
    per_row = K * Wo * itemsize * (2 if backward else 1)
    rb = max(1, min(Ho, (limit // 4) // per_row, -(-BLOCK_COLUMNS // Wo)))
    fixed = slices * (F * (K // groups) * itemsize + F * 8) if backward else 0
    nt = max(1, min(nt, slices) if backward else nt)
    return rb, nt, nt * rb * per_row + fixed


def _forward_chunks(x, w, b, out, geom, groups, nb):
    s, p, d = geom
    k = _dispatch.kernels.conv
    nt = num_threads()
    N, C, H, W = x.shape
    F, Cg, HH, WW = w.shape
    Ho, Wo = out.shape[2:]
    K, P = C * HH * WW, Ho * Wo
    Kg, Fg = K // groups, F // groups
    w2 = w.reshape(F, Kg)
    out3 = out.reshape(N, F, P)
    scratch = _buffers.empty(((K + F) * nb * P,), x.dtype)
    for n0 in range(0, N, nb):
        m = min(nb, N - n0)
        cols = scratch[:K * m * P].reshape(K, m * P)          # image n in columns n*P ..
        tmp = scratch[K * m * P:(K + F) * m * P].reshape(F, m * P)
        k.im2col(x, cols, n0, m, HH, WW, Ho, Wo, s, p, d, nt)
        if groups == 1:
            np.matmul(w2, cols, out=tmp)
        else:
            for g in range(groups):
                np.matmul(w2[g * Fg:(g + 1) * Fg], cols[g * Kg:(g + 1) * Kg],
                          out=tmp[g * Fg:(g + 1) * Fg])
        k.unpack_out(tmp, b, out3, n0, m, nt)


def conv_backward(dout, cache):
    """Gradients of :func:`conv_forward`.

    Parameters
    ----------
    dout : array_like, shape (N, F, Ho, Wo)
    cache : Cache from :func:`conv_forward`

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    dw : ndarray, shape (F, C/groups, HH, WW)
    db : ndarray, shape (F,)

    Shape
    -----
    dout (N, F, Ho, Wo) -> dx (N, C, H, W), dw like w, db (F,).
    """
    fn = "conv_backward"
    c = cache_for(cache, "conv", fn)
    # the geometry the kernels loop over, re-derived from the cached x and w with the forward
    # pass's checks, so an edited cache cannot make them index out of bounds
    x = cache_array(c, "x", fn, ndim=4, floating=True)
    w = cache_array(c, "w", fn, ndim=4, dtype=x.dtype)
    geom = cache_field(c, "geom", fn)
    if not isinstance(geom, tuple) or len(geom) != 3:
        raise ValueError(f"{fn}: cache.geom must be (stride, pad, dilation), got {geom!r} "
                         "(pass the cache conv_forward returned, unmodified)")
    groups = cache_field(c, "groups", fn)
    try:
        _, _, groups, (Ho, Wo) = _check(x, w, None, *geom, groups, fn)
    except (TypeError, ValueError) as exc:
        why = str(exc)[len(fn) + 2:] if str(exc).startswith(fn + ": ") else str(exc)
        raise ValueError(f"{fn}: cache.x {x.shape}, cache.w {w.shape}, cache.geom {geom!r} "
                         f"and cache.groups {groups!r} do not fit together: {why} (pass the "
                         "cache conv_forward returned, unmodified)") from None
    if cache_field(c, "out_hw", fn) != (Ho, Wo):
        raise ValueError(f"{fn}: cache.out_hw must be {(Ho, Wo)}, got {c.out_hw!r} (pass the "
                         "cache conv_forward returned, unmodified)")
    if cache_field(c, "path", fn) not in ("fused", "chunked"):
        raise ValueError(f"{fn}: cache.path must be 'fused' or 'chunked', got {c.path!r}")
    N, C, H, W = x.shape
    F, Cg, HH, WW = w.shape
    g = check_dout(dout, (N, F, Ho, Wo), x.dtype, fn)
    s, p, d = _geometry(*geom, fn)
    K, P = C * HH * WW, Ho * Wo
    Kg, Fg = K // groups, F // groups
    k = _dispatch.kernels.conv
    nt = num_threads()
    dx = _buffers.empty_like(x)
    if c.path == "fused":
        gemm = gemm_backend()
        slices = min(N, _SLICES)               # fixed image slices: the same dw for any thread count
        rb, nt, ws = _fused_plan(C, F, HH, WW, Ho, Wo, x.itemsize, num_threads(), True, groups,
                                 slices=slices)
        c.backward_chunk, c.backward_workspace_bytes = nt, ws
        scratch = _buffers.empty((nt, 2 * K * rb * Wo), x.dtype)
        dw_parts = np.empty((max(slices, 1), F * Kg), x.dtype)
        db_parts = np.empty((max(slices, 1), F), np.float64)
        with gemm.one_thread():
            k.fused_backward(x, w.reshape(F, Kg), g.reshape(N, F, P), dx, dw_parts, db_parts,
                             scratch, HH, WW, Ho, Wo, rb, s, p, d, groups, gemm.addr[x.dtype], nt)
        dw = dw_parts.sum(axis=0)
        return dx, dw.reshape(w.shape), db_parts.sum(axis=0).astype(x.dtype)
    dw2 = np.zeros((F, Kg), x.dtype)
    db = np.zeros(F, np.float64)
    nb, ws = conv_workspace_plan(N, C, F, HH, WW, Ho, Wo, x.itemsize, backward=True,
                                 groups=groups)
    c.backward_chunk, c.backward_workspace_bytes = nb, ws
    if N:
        w2 = w.reshape(F, Kg)
        g3 = g.reshape(N, F, P)
        scratch = _buffers.empty(((2 * K + F) * nb * P,), x.dtype)
        part = np.empty((F, Kg), x.dtype)
        for n0 in range(0, N, nb):
            m = min(nb, N - n0)
            L = m * P
            cols = scratch[:K * L].reshape(K, L)                # image n in columns n*P ..
            dcols = scratch[K * L:2 * K * L].reshape(K, L)
            gT = scratch[2 * K * L:(2 * K + F) * L].reshape(F, L)
            k.im2col(x, cols, n0, m, HH, WW, Ho, Wo, s, p, d, nt)
            k.pack_dout(g3, gT, db, n0, m, nt)                  # gT = dout chunk as (F, m*P); db +=
            for gi in range(groups):
                fs, ks = slice(gi * Fg, (gi + 1) * Fg), slice(gi * Kg, (gi + 1) * Kg)
                # dw_g += dout_g cols_g^T,  dcols_g = w_g^T dout_g   (one GEMM each per chunk)
                np.matmul(gT[fs], cols[ks].T, out=part[fs])
                np.matmul(w2[fs].T, gT[fs], out=dcols[ks])
            dw2 += part
            k.col2im(dcols, dx, n0, m, HH, WW, Ho, Wo, s, p, d, nt)
    return dx, dw2.reshape(w.shape), db.astype(x.dtype)


# ---------------------------------------------------------------- im2col / col2im

def im2col(x, HH, WW, stride=1, pad=0, dilation=1):
    """The im2col matrices of a batch: cols[n, c*HH*WW + i*WW + j, oh*Wo + ow].

    Parameters
    ----------
    x : array_like of float32 or float64, shape (N, C, H, W)
    HH, WW : int
        Filter height and width.

    Returns
    -------
    cols : ndarray, shape (N, C*HH*WW, Ho*Wo)
        ``x[n, c, oh*stride - pad + i*dilation, ow*stride - pad + j*dilation]``, zero
        in the padding.  (Materialises the whole batch: meant for inspection and
        tests; :func:`conv_forward` works chunk by chunk.)
    """
    fn = "im2col"
    x = float_array(x, "x", fn)
    if x.ndim != 4:
        raise ValueError(f"{fn}: x must have shape (N, C, H, W), got shape {x.shape}")
    HH = _int_param(HH, "HH", fn, 1)
    WW = _int_param(WW, "WW", fn, 1)
    s, p, d = _geometry(stride, pad, dilation, fn)
    Ho, Wo = conv_output_shape(x.shape, (0, 0, HH, WW), s, p, d, fn)
    N, C = x.shape[:2]
    cols = np.empty((N, C * HH * WW, Ho * Wo), x.dtype)
    for n in range(N if C else 0):
        _dispatch.kernels.conv.im2col(x, cols[n], n, 1, HH, WW, Ho, Wo, s, p, d, num_threads())
    return cols


def col2im(cols, x_shape, HH, WW, stride=1, pad=0, dilation=1):
    """The adjoint of :func:`im2col`: sums every column entry back into its pixel.

    Parameters
    ----------
    cols : array_like, shape (N, C*HH*WW, Ho*Wo)
    x_shape : (N, C, H, W)

    Returns
    -------
    x : ndarray, shape x_shape
    """
    fn = "col2im"
    cols = float_array(cols, "cols", fn)
    N, C, H, W = (operator.index(v) for v in x_shape)
    HH = _int_param(HH, "HH", fn, 1)
    WW = _int_param(WW, "WW", fn, 1)
    s, p, d = _geometry(stride, pad, dilation, fn)
    Ho, Wo = conv_output_shape((N, C, H, W), (0, 0, HH, WW), s, p, d, fn)
    if cols.shape != (N, C * HH * WW, Ho * Wo):
        raise ValueError(f"{fn}: cols must have shape {(N, C * HH * WW, Ho * Wo)} for x_shape "
                         f"{(N, C, H, W)} and a {HH}x{WW} filter, got {cols.shape}")
    x = np.zeros((N, C, H, W), cols.dtype)
    for n in range(N if C else 0):
        _dispatch.kernels.conv.col2im(cols[n], x, n, 1, HH, WW, Ho, Wo, s, p, d, num_threads())
    return x


def _geometry(stride, pad, dilation, fn):
    """(stride, pad, dilation) checked: positive, non-negative, positive integers, each at
    most :data:`MAX_GEOMETRY`"""
    s = _int_param(stride, "stride", fn, 1, MAX_GEOMETRY)
    p = _int_param(pad, "pad", fn, 0, MAX_GEOMETRY)
    d = _int_param(dilation, "dilation", fn, 1, MAX_GEOMETRY)
    return s, p, d
