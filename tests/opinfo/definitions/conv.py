"""OpInfo definitions: convolution and its im2col / col2im pair (each the other's adjoint)."""
import numpy as np

from fastnn import ops
from fastnn import reference as ref

from ..core import TOL_REDUCE, ErrorInput, OpInfo, Sample, backward_errors, dtype_errors, rand


def _conv_samples(rng, dtype, size):
    xs, ws, kw = {
        "tiny": ((2, 2, 4, 4), (3, 2, 2, 2), {"stride": 1, "pad": 1}),
        "small": ((2, 4, 7, 6), (6, 2, 3, 3), {"stride": 2, "pad": 1, "dilation": 1, "groups": 2}),
        "large": ((8, 8, 16, 16), (16, 8, 3, 3), {"stride": 1, "pad": 1}),
        "empty": ((0, 3, 5, 5), (4, 3, 3, 3), {"pad": 1}),
    }[size]
    return Sample((rand(rng, xs, dtype), rand(rng, ws, dtype, 0.3), rand(rng, ws[:1], dtype)),
                  kw, size)


def _conv_errors():
    fwd, x, w, b = ops.conv_forward, np.ones((2, 3, 5, 5)), np.ones((4, 3, 3, 3)), np.zeros(4)
    e = dtype_errors(fwd, (x, w, b), {}, "x")
    e += [
        ErrorInput(fwd, (np.ones((3, 5, 5)), w, b), {}, ValueError,
                   r"x must have shape \(N, C, H, W\)", "x 3-d"),
        ErrorInput(fwd, (x, np.ones((4, 3, 3)), b), {}, ValueError,
                   r"w must have shape \(F, C/groups, HH, WW\)", "w 3-d"),
        ErrorInput(fwd, (x, np.ones((4, 2, 3, 3)), b), {}, ValueError,
                   r"w has 2 input channels per filter, expected C/groups = 3/1 = 3",
                   "channel mismatch"),
        ErrorInput(fwd, (x, np.ones((4, 3, 7, 7)), b), {}, ValueError,
                   "filter 7x7 with pad 0 does not fit input 5x5", "filter too big"),
        ErrorInput(fwd, (x, w, b), {"dilation": 3}, ValueError,
                   r"filter 3x3 \(dilation 3: spans 7x7\) with pad 0 does not fit", "dilated too big"),
        ErrorInput(fwd, (x, w, np.zeros(3)), {}, ValueError, r"b must have shape \(F,\) = \(4,\)",
                   "b wrong"),
        ErrorInput(fwd, (x, w, b), {"stride": 0}, ValueError, "stride must be a positive integer",
                   "stride 0"),
        ErrorInput(fwd, (x, w, b), {"stride": 1.0}, TypeError, "stride must be an integer",
                   "stride float"),
        ErrorInput(fwd, (x, w, b), {"pad": -1}, ValueError, "pad must be a non-negative integer",
                   "pad -1"),
        ErrorInput(fwd, (x, w, b), {"pad": None}, TypeError, "pad must be an integer", "pad None"),
        ErrorInput(fwd, (x, w, b), {"dilation": 0}, ValueError, "dilation must be a positive",
                   "dilation 0"),
        ErrorInput(fwd, (x, w, b), {"groups": 2}, ValueError,
                   "groups=2 must divide the input channels C=3 and the filters F=4", "groups 2"),
        ErrorInput(fwd, (x, w, b), {"groups": 0}, ValueError, "groups must be a positive integer",
                   "groups 0"),
        ErrorInput(fwd, (x, np.ones((0, 3, 3, 3)), np.zeros(0)), {}, ValueError,
                   "w must have at least one filter", "F = 0"),
        ErrorInput(fwd, (x, np.ones((4, 3, 3, 3), np.float32), b), {}, TypeError,
                   "w has dtype float32 but x has dtype float64", "w float32"),
    ]
    e += backward_errors("conv", fwd, ops.conv_backward, Sample((x, w, b)), (2, 4, 3, 2))
    return e


def _im2col_fwd(x, HH, WW, stride=1, pad=0, dilation=1):
    return ops.im2col(x, HH, WW, stride, pad, dilation), (np.shape(x), HH, WW, stride, pad, dilation)


def _im2col_bwd(dout, cache):
    shape, *geo = cache
    return ops.col2im(dout, shape, *geo)


def _ref_im2col_fwd(x, HH, WW, stride=1, pad=0, dilation=1):
    return ref.im2col(x, HH, WW, stride, pad, dilation), (x.shape, HH, WW, stride, pad, dilation)


def _ref_im2col_bwd(dout, cache):
    shape, *geo = cache
    return ref.col2im(dout, shape, *geo)


def _col2im_fwd(cols, x_shape, HH, WW, stride=1, pad=0, dilation=1):
    return ops.col2im(cols, x_shape, HH, WW, stride, pad, dilation), (HH, WW, stride, pad, dilation)


def _col2im_bwd(dout, cache):
    return ops.im2col(dout, *cache)


def _ref_col2im_fwd(cols, x_shape, HH, WW, stride=1, pad=0, dilation=1):
    return ref.col2im(cols, x_shape, HH, WW, stride, pad, dilation), (HH, WW, stride, pad, dilation)


def _ref_col2im_bwd(dout, cache):
    return ref.im2col(dout, *cache)


_IM2COL_GEOM = {
    "tiny": ((1, 2, 4, 4), 2, 2, {"stride": 1, "pad": 1}),
    "small": ((2, 3, 7, 6), 3, 2, {"stride": 2, "pad": 1, "dilation": 2}),
    "large": ((2, 16, 24, 24), 3, 3, {"stride": 1, "pad": 1}),
    "empty": ((0, 3, 5, 5), 3, 3, {}),
}


def _im2col_samples(rng, dtype, size):
    xs, HH, WW, kw = _IM2COL_GEOM[size]
    return Sample((rand(rng, xs, dtype), HH, WW), kw, size)


def _col2im_samples(rng, dtype, size):
    xs, HH, WW, kw = _IM2COL_GEOM[size]
    cols_shape = ops.im2col(np.zeros(xs), HH, WW, **kw).shape
    return Sample((rand(rng, cols_shape, dtype), xs, HH, WW), kw, size)


def _im2col_errors():
    fn, x = ops.im2col, np.ones((2, 3, 5, 5))
    e = dtype_errors(fn, (x, 3, 3), {}, "x")
    e += [
        ErrorInput(fn, (np.ones((3, 5, 5)), 3, 3), {}, ValueError, r"x must have shape \(N, C, H, W\)",
                   "x 3-d"),
        ErrorInput(fn, (x, 0, 3), {}, ValueError, "HH must be a positive integer", "HH 0"),
        ErrorInput(fn, (x, 3, 2.5), {}, TypeError, "WW must be an integer", "WW float"),
        ErrorInput(fn, (x, 6, 3), {}, ValueError, "filter 6x3 with pad 0 does not fit input 5x5",
                   "filter too big"),
        ErrorInput(fn, (x, 3, 3), {"stride": -2}, ValueError, "stride must be a positive integer",
                   "stride<0"),
        ErrorInput(fn, (x, 3, 3), {"pad": -1}, ValueError, "pad must be a non-negative", "pad<0"),
    ]
    return e


def _col2im_errors():
    fn, cols = ops.col2im, np.ones((2, 27, 9))
    shape = (2, 3, 5, 5)
    e = dtype_errors(fn, (cols, shape, 3, 3), {}, "cols")
    e += [
        ErrorInput(fn, (np.ones((2, 27, 8)), shape, 3, 3), {}, ValueError,
                   r"cols must have shape \(2, 27, 9\) for x_shape \(2, 3, 5, 5\)", "cols wrong"),
        ErrorInput(fn, (cols, shape, 3, 3), {"stride": 0}, ValueError, "stride must be a positive",
                   "stride 0"),
        ErrorInput(fn, (cols, shape, 7, 3), {}, ValueError, "does not fit input 5x5", "too big"),
        ErrorInput(fn, (cols, (2, 3, 5.0, 5), 3, 3), {}, TypeError, "", "x_shape float"),
    ]
    return e


def _conv_forward_by(algorithm):
    """conv_forward with ``algorithm`` forced (the "small" sample, groups 2, falls back to
    im2col on the direct entry)"""
    def forward(x, w, b=None, **kwargs):
        return ops.conv_forward(x, w, b, algorithm=algorithm, **kwargs)
    forward.__name__ = f"conv_forward_{algorithm}"
    return forward


def _conv_by(algorithm):
    """One entry per path of conv_forward ("auto" picks by shape; these force a path, so
    the generic checks cover each).  The errors are declared once, on "conv"."""
    return OpInfo(name=f"conv_{algorithm}", forward=_conv_forward_by(algorithm),
                  backward=ops.conv_backward, ref_forward=ref.conv_forward_im2col,
                  ref_backward=ref.conv_backward_im2col, sample_inputs=_conv_samples,
                  error_inputs=list, grad_args=(0, 1, 2), float_args=(0, 1, 2), tol=TOL_REDUCE,
                  op_kwargs={"algorithm": algorithm})


OPS = [
    OpInfo(name="conv", forward=ops.conv_forward, backward=ops.conv_backward,
           ref_forward=ref.conv_forward_im2col, ref_backward=ref.conv_backward_im2col,
           sample_inputs=_conv_samples, error_inputs=_conv_errors, grad_args=(0, 1, 2),
           float_args=(0, 1, 2), tol=TOL_REDUCE),
    _conv_by("im2col"),
    _conv_by("direct"),
    OpInfo(name="im2col", forward=_im2col_fwd, backward=_im2col_bwd,
           ref_forward=_ref_im2col_fwd, ref_backward=_ref_im2col_bwd,
           sample_inputs=_im2col_samples, error_inputs=_im2col_errors, tol=TOL_REDUCE),
    OpInfo(name="col2im", forward=_col2im_fwd, backward=_col2im_bwd,
           ref_forward=_ref_col2im_fwd, ref_backward=_ref_col2im_bwd,
           sample_inputs=_col2im_samples, error_inputs=_col2im_errors, tol=TOL_REDUCE),
]
