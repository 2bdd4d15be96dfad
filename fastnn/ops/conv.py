"""2-D convolution (cross-correlation, as in PyTorch's ``conv2d``): im2col + GEMM, direct, Winograd.

Layout NCHW; im2col row index ``c*HH*WW + i*WW + j``.  The im2col paths (same results):

* **fused** (the default): one OpenMP loop over the images.
  Each thread takes whole images and, per block of output rows, writes their
  im2col columns into its own scratch and calls a single-threaded GEMM
  (fastnn's own, fnn_gemm.h; see docs/gemm.md; ``FASTNN_GEMM=scipy`` selects SciPy's OpenBLAS)
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

* **direct** (groups 1): no im2col matrix.  fnn_gemm.h's register tile (MR
  output pixels x NR filters) reads the zero-padded image itself, through a
  table of window starts and one of tap offsets, and the filters are packed
  once as the GEMM's B panels; threads take whole images.  Backward: dw and db
  by the same kernel with taps as its rows and the output pixels as its sum
  (from ``DIRECT_DW_MIN_PIXELS`` pixels per image; the Winograd path uses it
  too), dx (stride 1) by the direct kernel on dout with the filters rotated
  180 degrees and the channels swapped; otherwise the fused im2col path.
* **winograd** (3x3 filters, stride 1, dilation 1, groups 1):
  F(2x2, 3x3) or F(4x4, 3x3) Winograd (``fastnn/_kernels/winograd.pyx``,
  docs/convolution.md).  The forward transforms the filters once (``cache.U``),
  then one OpenMP loop over fixed blocks of output tiles: per block, the input
  transform, one single-threaded GEMM per transform point and the output
  transform.  The input gradient is the same kernel run on dout with the
  filters rotated 180 degrees and the channels swapped (pad ``2 - pad``); the
  filter gradient is the im2col GEMM per fixed slice of images (or, with
  ``WINOGRAD_FILTER_GRAD``, by Winograd: measured slower here).
  ``algorithm=`` picks the path ("auto", "im2col", "winograd", "direct"):
  "winograd" or "direct" on a shape it cannot do uses the im2col path; "auto"
  applies :func:`conv_algorithm`.

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
from fastnn.ops import _conv_direct
from fastnn._kernels import _buffers
from fastnn.ops._common import (Cache, cache_array, cache_field, cache_for, check_dout,
                                float_array, gemm_backend, num_threads,
                                param_array)

__all__ = ["conv_forward", "conv_backward", "conv_output_shape", "conv_workspace_plan",
           "conv_algorithm", "im2col", "col2im"]

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
    (default ``WORKSPACE_BYTES``), at least 1 and at most N.
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


def conv_forward(x, w, b=None, stride=1, pad=0, dilation=1, groups=1, algorithm="auto"):
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
    algorithm : {"auto", "im2col", "winograd", "direct"}
        "im2col": im2col + GEMM.  "winograd": Winograd F(2x2, 3x3) or F(4x4, 3x3)
        when the shape allows it (3x3 filters, stride 1, dilation 1, groups 1,
        at least one channel), else the im2col path -- never
        an error.  "direct": the GEMM's register tile run straight over the
        zero-padded image (no im2col matrix) when groups is 1 and the padded
        image fits the workspace, else im2col.  "auto": the fastest by the
        measured rule of :func:`conv_algorithm`.  :func:`conv_backward` uses the
        path the forward took (``cache.path``, ``cache.tile``).

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
        positive integers, pad is negative, the channel counts disagree, or
        algorithm is not one of "auto", "im2col", "winograd".

    Shape
    -----
    x (N, C, H, W), w (F, C/groups, HH, WW), b (F,) -> out (N, F, Ho, Wo).
    """
    fn = "conv_forward"
    algorithm = _check_algorithm(algorithm, fn)
    x = float_array(x, "x", fn)
    w, b, groups, (Ho, Wo) = _check(x, w, b, stride, pad, dilation, groups, fn)
    geom = _geometry(stride, pad, dilation, fn)
    N, C, H, W = x.shape
    F, Cg, HH, WW = w.shape
    tile = _winograd_tile(algorithm, x.shape, w.shape, geom, groups)
    if tile:
        return _winograd_forward(x, w, b, geom, (Ho, Wo), tile)
    if _use_direct(algorithm, x.shape, w.shape, geom, groups, x.itemsize):
        return _conv_direct.forward(x, w, b, geom, (Ho, Wo))
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


# ---------------------------------------------------------------- Winograd

#: The values of ``algorithm=`` (:func:`conv_forward`, :class:`fastnn.layers.Conv2d`).
ALGORITHMS = ("auto", "im2col", "winograd", "direct")

#: Output tiles per Winograd block at most (a multiple of the kernels' 16 lanes); the
#: workspace cap may make blocks smaller.  Measured in docs/convolution.md.
WINOGRAD_BLOCK_TILES = 128


def _check_algorithm(algorithm, fn):
    if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
        raise ValueError(f"{fn}: algorithm must be one of {list(ALGORITHMS)}, got {algorithm!r}")
    return algorithm


def winograd_applies(x_shape, w_shape, stride=1, dilation=1, groups=1):
    """True when the Winograd path can do this convolution: 3x3 filters, stride 1,
    dilation 1, groups 1, at least one input channel."""
    return (tuple(w_shape[2:]) == (3, 3) and stride == 1 and dilation == 1 and groups == 1
            and x_shape[1] >= 1 and w_shape[0] >= 1)


def conv_algorithm(x_shape, w_shape, stride=1, pad=0, dilation=1, groups=1, algorithm="auto",
                   dtype=np.float32):
    """The path :func:`conv_forward` takes: ``("im2col", 0)``, ``("direct", 0)`` or
    ``("winograd", m)`` for F(m x m, 3 x 3).

    "winograd" on a shape the Winograd path cannot do (see docs/convolution.md) gives
    im2col; so does "direct" on a shape the direct path cannot do (groups > 1, or a
    padded image larger than a quarter of ``fastnn.ops.conv.WORKSPACE_BYTES``).  "auto" gives
    Winograd when it applies and the shape passes the measured rule of
    docs/convolution.md: ``C_in >= AUTO_MIN_CHANNELS`` and ``C_out >= AUTO_MIN_CHANNELS``
    (below, the transforms cost more than the GEMM saves); otherwise the direct path
    when it applies, the filter is larger than 1x1, ``C_in * HH * WW >= DIRECT_MIN_K``
    and C_out fills the kernel's filter panels to 4/5 (shorter sums, 1x1 filters and
    few filters measured faster by im2col); otherwise im2col.  Its backward computes dx by
    the direct kernel too (stride 1, dilation 1, square filters, C_in filling the panels).
    The tile is ``WINOGRAD_TILE``: F(2x2, 3x3) by default, the one whose float32
    error stays within 4x the im2col path's; 4 selects F(4x4, 3x3) (fewer
    multiplications, a larger error: the factors are in docs/convolution.md), used on
    outputs of at least 4x4 pixels.  ``dtype`` (the input's) sizes the direct kernel's
    filter panels and scratch.
    """
    algorithm = _check_algorithm(algorithm, "conv_algorithm")
    geom = (stride, pad, dilation)
    m = _winograd_tile(algorithm, x_shape, w_shape, geom, groups)
    if m:
        return ("winograd", m)
    if _use_direct(algorithm, x_shape, w_shape, geom, groups, np.dtype(dtype).itemsize):
        return ("direct", 0)
    return ("im2col", 0)


#: "auto" takes the direct path from this many multiply-adds per output
#: (C_in * HH * WW) for filters larger than 1x1; docs/convolution.md has the measurements.
DIRECT_MIN_K = 64


def direct_applies(x_shape, w_shape, pad=0, groups=1, itemsize=4, limit=None):
    """True when the direct path can do this convolution: groups 1, and one padded image
    plus the kernel's staging block within a quarter of ``limit`` (default
    :data:`WORKSPACE_BYTES`), the im2col path's rule per thread."""
    return groups == 1 and _conv_direct.scratch_elements(x_shape, w_shape, pad, itemsize) <= (
        (WORKSPACE_BYTES if limit is None else limit) // 4)


def _use_direct(algorithm, x_shape, w_shape, geom, groups, itemsize=4):
    if algorithm not in ("auto", "direct"):
        return False
    if not direct_applies(x_shape, w_shape, geom[1], groups, itemsize):
        return False
    K = w_shape[1] * w_shape[2] * w_shape[3]
    return algorithm == "direct" or (w_shape[2] * w_shape[3] > 1 and K >= DIRECT_MIN_K
                                      and _conv_direct.fills_panels(w_shape[0], itemsize))


#: The filter gradient of the Winograd path: by Winograd (True) or by the im2col GEMM
#: (False); whichever measured faster (docs/convolution.md).
WINOGRAD_FILTER_GRAD = False

#: "auto" takes Winograd from this many input and output channels (docs/convolution.md).
AUTO_MIN_CHANNELS = 64
#: The Winograd tile m of F(m x m, 3 x 3): 2 (float32 error within 4x the im2col path's)
#: or 4 (2.25x fewer multiplications than F(2x2, 3x3), a larger error); docs/convolution.md.
WINOGRAD_TILE = 2


def _winograd_tile(algorithm, x_shape, w_shape, geom, groups):
    """0 (im2col) or the Winograd tile m for this call"""
    if algorithm in ("im2col", "direct"):
        return 0
    s, p, d = geom
    if not winograd_applies(x_shape, w_shape, s, d, groups):
        return 0
    C, F = x_shape[1], w_shape[0]
    if algorithm == "auto" and (C < AUTO_MIN_CHANNELS or F < AUTO_MIN_CHANNELS):
        return 0
    if WINOGRAD_TILE not in (2, 4):
        raise ValueError(f"fastnn.ops.conv.WINOGRAD_TILE must be 2 or 4, got {WINOGRAD_TILE!r}")
    Ho, Wo = x_shape[2] + 2 * p - 2, x_shape[3] + 2 * p - 2
    return 4 if WINOGRAD_TILE == 4 and min(Ho, Wo) >= 4 else 2


def winograd_plan(N, C, F, Ho, Wo, m, itemsize, limit=None):
    """(tiles per block, blocks, per-thread scratch bytes) of one Winograd call.

    The block holds at most :data:`WINOGRAD_BLOCK_TILES` tiles and its scratch -- the
    transformed input tiles (T*T x C x tiles) and their products (T*T x F x tiles),
    T = m + 2 -- at most a quarter of ``limit`` (default :data:`WORKSPACE_BYTES`), the
    im2col path's rule per thread; at least one group of 16 tiles.  Depends on the shape
    only, never on the thread count.
    """
    limit = WORKSPACE_BYTES if limit is None else limit
    lanes = _dispatch.kernels.winograd.LANE_COUNT
    T = m + 2
    ntiles = N * (-(-Ho // m)) * (-(-Wo // m))
    per_tile = T * T * (C + F) * itemsize
    tb = min(WINOGRAD_BLOCK_TILES, (limit // 4) // per_tile, -(-ntiles // lanes) * lanes)
    tb = max(lanes, tb // lanes * lanes)
    return tb, -(-ntiles // tb) if ntiles else 0, tb * per_tile


def _winograd_run(x, U, b, out, pad, m):
    """out = conv(x) by the kernel, the scratch within the plan; returns (blocks, bytes)"""
    N, C = x.shape[:2]
    F, Ho, Wo = out.shape[1:]
    gemm = gemm_backend()
    tb, nblk, per = winograd_plan(N, C, F, Ho, Wo, m, x.itemsize)
    nt = max(1, min(num_threads(), nblk))
    if nblk == 0:
        return 0, 0
    scratch = _buffers.empty((nt, per // x.itemsize), x.dtype)
    has_bias = b is not None
    bias = b if has_bias else np.zeros(1, x.dtype)
    with gemm.one_thread():
        _dispatch.kernels.winograd.forward(x, U, bias, has_bias, out, scratch, m, pad, tb,
                                           gemm.addr[x.dtype], nt)
    return nblk, nt * per


def _winograd_filters(w, m, rotate):
    F, C = w.shape[:2]
    T = m + 2
    U = _buffers.empty((T * T, C, F) if rotate else (T * T, F, C), w.dtype)
    _dispatch.kernels.winograd.filter_transform(w, U, m, rotate, num_threads())
    return U


def _winograd_forward(x, w, b, geom, out_hw, m):
    N, C, H, W = x.shape
    F = w.shape[0]
    Ho, Wo = out_hw
    U = _winograd_filters(w, m, False)
    out = _buffers.empty((N, F, Ho, Wo), x.dtype)
    nblk, ws = _winograd_run(x, U, b, out, geom[1], m)
    return out, Cache("conv", x=x, w=w, geom=geom, groups=1, out_hw=out_hw, path="winograd",
                      tile=m, U=U, chunk=nblk, workspace_bytes=ws)


def _winograd_backward(g, c, x, w, geom, groups, fn, need_dx=True):
    N, C, H, W = x.shape
    F = w.shape[0]
    Ho, Wo = g.shape[2:]
    s, p, d = geom
    m = cache_field(c, "tile", fn)
    if m not in (2, 4) or not winograd_applies(x.shape, w.shape, s, d, groups):
        raise ValueError(f"{fn}: cache.path 'winograd' needs cache.tile 2 or 4 and a 3x3, "
                         f"stride-1, dilation-1, groups-1 convolution, got tile {m!r}, "
                         f"w {w.shape}, geom {geom!r}, groups {groups!r} (pass the cache "
                         "conv_forward returned, unmodified)")
    T = m + 2
    cache_array(c, "U", fn, shape=(T * T, F, C), dtype=x.dtype)
    # dx = the stride-1 3x3 convolution of dout, padded by 2 - pad, with the filters
    # rotated 180 degrees and the channels swapped (transformed once per cache)
    dx, ws_dx = None, 0
    if need_dx:
        Ud = getattr(c, "U_dx", None)
        if not (type(Ud) is np.ndarray and Ud.shape == (T * T, C, F) and Ud.dtype == x.dtype):
            Ud = c.U_dx = _winograd_filters(w, m, True)
        dx = _buffers.empty_like(x)
        _, ws_dx = _winograd_run(g, Ud, None, dx, 2 - p, m)
    if WINOGRAD_FILTER_GRAD:
        dw, ws_dw = _winograd_dw(x, g, m, p)
        db = g.sum(axis=(0, 2, 3), dtype=np.float64).astype(x.dtype)
        c.backward_chunk, c.backward_workspace_bytes = 1, max(ws_dx, ws_dw)
        return dx, dw, db
    if _direct_dw_applies(x.shape, w.shape, geom, (Ho, Wo), x.itemsize):
        dw, db, ws_dw = _conv_direct.filter_grad(x, g, w.shape, geom, max(1, min(N, _SLICES)))
        c.backward_chunk = max(1, min(num_threads(), N))
        c.backward_workspace_bytes = max(ws_dx, ws_dw)
        return dx, dw, db
    # dw, db: the im2col GEMM per fixed slice of images (the same bits for any thread count)
    slices = max(1, min(N, _SLICES))
    rb, nt, ws_dw = _dw_plan(C, F, Ho, Wo, x.itemsize, slices)
    dw_parts = np.empty((slices, F * C * 9), x.dtype)
    db_parts = np.empty((slices, F), np.float64)
    gemm = gemm_backend()
    if N and Ho * Wo:
        scratch = _buffers.empty((nt, C * 9 * rb * Wo), x.dtype)
        with gemm.one_thread():
            _dispatch.kernels.winograd.dw_im2col(x, g.reshape(N, F, Ho * Wo), dw_parts, db_parts,
                                                 scratch, Ho, Wo, rb, p, gemm.addr[x.dtype], nt)
    else:
        dw_parts[:] = 0
        db_parts[:] = 0
    c.backward_chunk, c.backward_workspace_bytes = nt, max(ws_dx, ws_dw)
    return dx, dw_parts.sum(axis=0).reshape(w.shape), db_parts.sum(axis=0).astype(x.dtype)


def _winograd_dw(x, g, m, pad, limit=None):
    """dw by Winograd: dU (T*T, F, C) summed over the tiles, block by block, then
    dw = G^T dU G in float64; returns (dw, scratch bytes)"""
    limit = WORKSPACE_BYTES if limit is None else limit
    N, C = x.shape[:2]
    F, Ho, Wo = g.shape[1:]
    T = m + 2
    lanes = _dispatch.kernels.winograd.LANE_COUNT
    ntiles = N * (-(-Ho // m)) * (-(-Wo // m))
    per_tile = T * T * (C + F) * x.itemsize
    # one block's V and Z (all threads share it) within half of the limit
    tb = min((limit // 2) // per_tile, -(-ntiles // lanes) * lanes)
    tb = max(lanes, tb // lanes * lanes)
    dU = np.empty((T * T, F, C), x.dtype)
    scratch = _buffers.empty((tb * T * T * (C + F),), x.dtype)
    gemm = gemm_backend()
    with gemm.one_thread():
        _dispatch.kernels.winograd.dw_winograd(x, g, dU, scratch, m, pad, tb, gemm.addr[x.dtype],
                                               num_threads())
    G = np.array(_dispatch.kernels.winograd.MATRICES[m]["G"], np.float64)
    with np.errstate(invalid="ignore", over="ignore"):       # NaN/inf inputs propagate
        dw = np.einsum("ai,abfc,bj->fcij", G, dU.reshape(T, T, F, C), G, optimize=True)
    return dw.astype(x.dtype), tb * per_tile + dU.nbytes


def _dw_plan(C, F, Ho, Wo, itemsize, slices, limit=None):
    """(rows per block, threads, bytes) of the im2col filter gradient: a block's columns
    within a quarter of ``limit`` (at least one row), about BLOCK_COLUMNS pixels"""
    limit = WORKSPACE_BYTES if limit is None else limit
    per_row = C * 9 * Wo * itemsize
    rb = max(1, min(Ho, (limit // 4) // max(per_row, 1), -(-BLOCK_COLUMNS // max(Wo, 1))))
    nt = max(1, min(num_threads(), slices))
    return rb, nt, nt * rb * per_row + slices * (F * C * 9 * itemsize + F * 8)


#: The direct filter gradient sums over an image's output pixels, then adds the image's
#: F x K partial to its slice's: from this many pixels per image that sum outweighs the
#: addition (measured: 0.73x the im2col path's time at 32x32 and 0.88x at 16x16 outputs,
#: 1.47x at 8x8; docs/convolution.md).
DIRECT_DW_MIN_PIXELS = 256


def _direct_dw_applies(x_shape, w_shape, geom, out_hw, itemsize):
    per, _ = _conv_direct.dw_scratch_elements(x_shape, w_shape, geom[1], out_hw[0] * out_hw[1],
                                              itemsize)
    return (out_hw[0] * out_hw[1] >= DIRECT_DW_MIN_PIXELS
            and _conv_direct.fills_panels(w_shape[0], itemsize)
            and per * itemsize <= WORKSPACE_BYTES // 4)


def _im2col_path():
    gemm = gemm_backend() if USE_FUSED else None
    return "fused" if gemm is not None and gemm.addr is not None else "chunked"


def _direct_backward(g, c, x, w, geom, need_dx):
    """dx, at stride 1 and dilation 1 with square filters and enough input channels, by the
    direct kernel: the convolution of dout, padded by HH-1-pad, with the filters rotated
    180 degrees and the channels swapped.  dw, db by the direct filter gradient when dx is
    direct or not wanted and the image is large enough; otherwise the im2col pass computes
    them together with dx."""
    s, p, d = geom
    F, C, HH, WW = w.shape
    q = HH - 1 - p
    by_direct = (need_dx and s == 1 and d == 1 and HH == WW and q >= 0
                 and _conv_direct.fills_panels(C, x.itemsize)
                 and direct_applies(g.shape, (C, F, HH, WW), q, 1, x.itemsize))
    if (by_direct or not need_dx) and _direct_dw_applies(x.shape, w.shape, geom, g.shape[2:],
                                                         x.itemsize):
        dw, db, ws = _conv_direct.filter_grad(x, g, w.shape, geom, max(1, min(x.shape[0], _SLICES)))
        c.backward_chunk, c.backward_workspace_bytes = max(1, min(num_threads(), x.shape[0])), ws
        dx = None
    else:                   # the im2col path computes dx in the same pass as dw
        dx, dw, db = _im2col_backward(g, c, x, w, geom, 1, _im2col_path(),
                                      need_dx and not by_direct)
    if by_direct:
        wr = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        dx, cd = _conv_direct.forward(g, wr, np.zeros(C, x.dtype), (1, q, 1), x.shape[2:])
        c.backward_workspace_bytes = max(c.backward_workspace_bytes, cd.workspace_bytes)
    return dx, dw, db


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


def conv_backward(dout, cache, need_dx=True):
    """Gradients of :func:`conv_forward`.

    Parameters
    ----------
    dout : array_like, shape (N, F, Ho, Wo)
    cache : Cache from :func:`conv_forward`
    need_dx : bool, default True
        False skips the input gradient (a network's first layer, whose input is the
        data): dx is returned as None and its GEMM and col2im are not done.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W), or None when ``need_dx`` is False
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
    path = cache_field(c, "path", fn)
    if path not in ("fused", "chunked", "winograd", "direct"):
        raise ValueError(f"{fn}: cache.path must be 'fused', 'chunked', 'winograd' or "
                         f"'direct', got {path!r}")
    if not isinstance(need_dx, (bool, np.bool_)):
        raise TypeError(f"{fn}: need_dx must be True or False, got {need_dx!r}")
    N, C, H, W = x.shape
    F, Cg, HH, WW = w.shape
    g = check_dout(dout, (N, F, Ho, Wo), x.dtype, fn)
    if path == "winograd":
        return _winograd_backward(g, c, x, w, geom, groups, fn, need_dx)
    if path == "direct":
        return _direct_backward(g, c, x, w, geom, need_dx)
    return _im2col_backward(g, c, x, w, geom, groups, path, need_dx)


def _im2col_backward(g, c, x, w, geom, groups, path, need_dx):
    """dx (None without need_dx), dw, db by the fused or the chunked im2col path"""
    N, C, H, W = x.shape
    F, Cg, HH, WW = w.shape
    Ho, Wo = g.shape[2:]
    s, p, d = geom
    K, P = C * HH * WW, Ho * Wo
    Kg, Fg = K // groups, F // groups
    k = _dispatch.kernels.conv
    nt = num_threads()
    dx = _buffers.empty_like(x) if need_dx else None
    if path == "fused":
        gemm = gemm_backend()
        slices = min(N, _SLICES)               # fixed image slices: the same dw for any thread count
        rb, nt, ws = _fused_plan(C, F, HH, WW, Ho, Wo, x.itemsize, num_threads(), True, groups,
                                 slices=slices)
        if not need_dx:
            ws -= nt * rb * K * Wo * x.itemsize                 # no dcols block
        c.backward_chunk, c.backward_workspace_bytes = nt, ws
        scratch = _buffers.empty((nt, (2 if need_dx else 1) * K * rb * Wo), x.dtype)
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
                if need_dx:
                    np.matmul(w2[fs].T, gT[fs], out=dcols[ks])
            dw2 += part
            if need_dx:
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


def _geometry(stride, pad, dilation, fn, pad_name="pad"):
    """(stride, pad, dilation) checked: positive, non-negative, positive integers, each at
    most :data:`MAX_GEOMETRY` (errors name the padding ``pad_name``)"""
    s = _int_param(stride, "stride", fn, 1, MAX_GEOMETRY)
    p = _int_param(pad, pad_name, fn, 0, MAX_GEOMETRY)
    d = _int_param(dilation, "dilation", fn, 1, MAX_GEOMETRY)
    return s, p, d
