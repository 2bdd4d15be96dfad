"""A fast inference path: :func:`optimize` turns a model into an eval-only :class:`InferenceModel`.

What it does, layer by layer, once:

* batch norm right after a convolution or affine layer is folded into its
  weights and bias (``w' = w * gamma / sqrt(var + eps)``,
  ``b' = (b - mean) * gamma / sqrt(var + eps) + beta``, in float64, then cast);
* dropout disappears; DropConnect becomes its full-weight affine layer;
  a Residual's branch is optimised the same way;
* an elementwise activation after a convolution or affine layer runs in place on
  its output (the bias is already fused into the GEMM of both); a ReLU (or leaky
  ReLU) followed by max pooling runs after the pooling instead, on a quarter of the
  values (max commutes with a non-decreasing function);
* one sample at a time, affine layers use BLAS gemv (no packing of the weights);
* every op calls its compiled kernel directly, with the arguments checked once at
  build time instead of per call, no cache kept for a backward pass, and output
  and scratch buffers allocated once per input shape and reused on every later
  call with that shape.

The result owns copies of the weights: training the original model afterwards
does not change it (call :func:`optimize` again).  Its outputs equal the
model's eval-mode outputs up to float rounding (folding changes the order of a
few operations).  It is not thread-safe: one call at a time per object (the
buffers are shared between calls).

Example::

    fast = fastnn.inference.optimize(model)
    scores = fast(X)                 # == model.loss(X) up to rounding
    labels = fast.predict(X_raw)     # the model's preprocessor applied first
"""
import copy

import numpy as np

from fastnn import _dispatch, layers as L
from fastnn.ops import _common

__all__ = ["optimize", "InferenceModel"]

# elementwise activations that may run in place on a GEMM's output:
# layer class -> (kernel op name, a, b) as fastnn.ops.activations passes them
_INPLACE = {"ReLU": ("relu", 0.0, 0.0), "Sigmoid": ("sigmoid", 0.0, 0.0),
            "Tanh": ("tanh", 0.0, 0.0)}


def _unary_params(layer):
    """(kernel op, a, b) of an elementwise activation layer, or None."""
    t = type(layer).__name__
    if t in _INPLACE:
        return _INPLACE[t]
    if t == "LeakyReLU":
        return ("leaky_relu", float(layer.kw["negative_slope"]), 0.0)
    if t == "ELU":
        return ("elu", float(layer.kw["alpha"]), 1.0)
    return None


def _flatten(layers):
    out = []
    for layer in layers:
        if isinstance(layer, L.Sequential):
            out += _flatten(layer.layers)
        elif isinstance(layer, L.Dropout) and type(layer) is L.Dropout:
            continue
        else:
            out.append(layer)
    return out


def _fold(w, b, bn, axis):
    """Weights and bias of ``bn(affine_or_conv(x))`` as one affine or conv (eval statistics)."""
    gamma = bn.params["gamma"].astype(np.float64)
    beta = bn.params["beta"].astype(np.float64)
    mean = bn.buffers["running_mean"].astype(np.float64)
    var = bn.buffers["running_var"].astype(np.float64)
    scale = gamma / np.sqrt(var + bn.eps)
    shape = [1] * w.ndim
    shape[axis] = -1
    w2 = (w.astype(np.float64) * scale.reshape(shape)).astype(w.dtype)
    b2 = ((b.astype(np.float64) - mean) * scale + beta).astype(w.dtype)
    return np.ascontiguousarray(w2), b2


class _Step:
    """One op of the optimised graph: ``step(x) -> y``; buffers keyed by the input shape."""

    def __init__(self):
        self._bufs = {}

    def __call__(self, x, nt):
        raise NotImplementedError


def _post_act(act):
    """A function applying an activation (op, a, b) in place on a contiguous array."""
    if act is None:
        return None
    k = _dispatch.kernels.activations
    code, a, b = k.OPS[act[0]], act[1], act[2]

    def apply(y, nt):
        flat = y.reshape(-1)
        k.unary_forward(code, flat, flat, a, b, nt)
    return apply


#: One sample at a time with ``FASTNN_GEMM=scipy``, affine layers call BLAS gemv (SciPy's,
#: on one thread), which reads the weights once; SciPy's GEMM with one row first packs them
#: (measured, 1x3072 @ 3072x100: 35 us gemv against 42 us for the 2-thread GEMM kernel).
#: fastnn's GEMM reads one row's weights once without packing (fnn_gemm_row): no gemv then.
GEMV_FOR_ONE_SAMPLE = True


def _gemv():
    try:
        from scipy.linalg import blas
    except ImportError:
        return None
    return {np.dtype(np.float32): blas.sgemv, np.dtype(np.float64): blas.dgemv}


class _Affine(_Step):
    def __init__(self, w, b, act):
        super().__init__()
        self.w, self.b, self.act = w, b, _post_act(act)
        self.gemm = _common.gemm_backend()
        gemv = _gemv() if self.gemm.backend == "scipy" else None
        self.gemv = None if gemv is None else gemv[w.dtype]
        self.wT = w.T                      # (M, D) Fortran-ordered: gemv's matrix, no copy

    def __call__(self, x, nt):
        N = x.shape[0]
        x2 = x.reshape(N, -1)
        out = self._bufs.get(N)
        if out is None:
            out = self._bufs[N] = np.empty((N, self.w.shape[1]), self.w.dtype)
        if N == 1 and self.gemv is not None and GEMV_FOR_ONE_SAMPLE:
            y = out[0]
            y[...] = self.b
            self.gemv(1.0, self.wT, x2[0], beta=1.0, y=y, overwrite_y=1)
        elif self.gemm.addr is not None:
            _dispatch.kernels.affine.matmul(x2, False, self.w, False, out, self.b,
                                            self.gemm.addr[out.dtype], nt)
        else:
            np.matmul(x2, self.w, out=out)
            out += self.b
        if self.act is not None:
            self.act(out, nt)
        return out


class _Conv(_Step):
    """Convolution (bias in the GEMM pass), optionally an in-place activation after it.

    The fused kernel runs one image per thread; with fewer images than threads (batch 1)
    each image is cut into horizontal slabs of output rows (each with the input rows it
    reads, zero padding included) that go through the kernel as separate images, so every
    thread has work; the slabs' outputs are copied back into place.
    """

    def __init__(self, w, b, conv_param, act):
        super().__init__()
        self.w, self.b, self.act = w, b, _post_act(act)
        self.cp = conv_param
        F, Cg, HH, WW = w.shape
        self.w2 = w.reshape(F, Cg * HH * WW)
        self.gemm = _common.gemm_backend()

    def _plan(self, x, nt):
        from fastnn.ops import conv as C
        F, Cg, HH, WW = self.w.shape
        cp = self.cp
        s, p, d = cp["stride"], cp["pad"], cp["dilation"]
        Ho, Wo = C.conv_output_shape(x.shape, self.w.shape, s, p, d, "InferenceModel")
        N, Cin, H, W = x.shape
        out = np.empty((N, F, Ho, Wo), x.dtype)
        # one image: slabs of output rows (about BLOCK_COLUMNS pixels each) that threads take
        # whole, so both threads have work; the count follows from the shape alone, so the
        # result does not depend on the thread count
        parts = min(Ho, max(1, Ho * Wo // C.BLOCK_COLUMNS)) if N == 1 else 1
        if parts == 1:
            rb, nt_used, _ = C._fused_plan(Cin, F, HH, WW, Ho, Wo, x.itemsize, min(nt, N), False,
                                           cp["groups"])
            scratch = np.empty((nt_used, Cin * HH * WW * rb * Wo), x.dtype)
            return dict(out=out, scratch=scratch, rb=rb, Ho=Ho, Wo=Wo, nt=nt_used, slabs=None)
        rows = -(-Ho // parts)                       # output rows per slab
        parts = -(-Ho // rows)
        eh = d * (HH - 1) + 1
        Hs, Wp = (rows - 1) * s + eh, W + 2 * p
        xs = np.zeros((parts, Cin, Hs, Wp), x.dtype)  # zero borders stay zero
        copies = []
        for k in range(parts):
            r0, r1 = k * rows, min(Ho, (k + 1) * rows)
            top = r0 * s - p                          # first input row the slab reads
            src0, src1 = max(0, top), min(H, top + Hs)
            copies.append((k, src0, src1, src0 - top, r0, r1))
        rb, nt_used, _ = C._fused_plan(Cin, F, HH, WW, rows, Wo, x.itemsize, min(nt, parts), False,
                                       cp["groups"])
        scratch = np.empty((nt_used, Cin * HH * WW * rb * Wo), x.dtype)
        tmp = np.empty((parts, F, rows, Wo), x.dtype)
        return dict(out=out, scratch=scratch, rb=rb, Ho=rows, Wo=Wo, nt=nt_used,
                    slabs=(xs, tmp, copies, p, W))

    def __call__(self, x, nt):
        if self.gemm.addr is None:
            from fastnn.ops import conv_forward
            out = conv_forward(x, self.w, self.b, **self.cp)[0]
        else:
            key = (x.shape, nt)
            plan = self._bufs.get(key)
            if plan is None:
                plan = self._bufs[key] = self._plan(x, nt)
            out, slabs = plan["out"], plan["slabs"]
            F, Cg, HH, WW = self.w.shape
            cp = self.cp
            Ho, Wo = plan["Ho"], plan["Wo"]
            if slabs is None:
                src, dst, pad = x, out, cp["pad"]
            else:
                xs, tmp, copies, p, W = slabs
                for k, s0, s1, d0, _, _ in copies:
                    xs[k, :, d0:d0 + s1 - s0, p:p + W] = x[0, :, s0:s1]
                src, dst, pad = xs, tmp, 0
            _dispatch.kernels.conv.fused_forward(
                src, self.w2, self.b, dst.reshape(dst.shape[0], F, Ho * Wo), plan["scratch"],
                HH, WW, Ho, Wo, plan["rb"], cp["stride"], pad, cp["dilation"], cp["groups"],
                self.gemm.addr[x.dtype], plan["nt"])
            if slabs is not None:
                for k, _, _, _, r0, r1 in copies:
                    out[0, :, r0:r1] = tmp[k, :, :r1 - r0]
        if self.act is not None:
            self.act(out, nt)
        return out


class _MaxPool(_Step):
    def __init__(self, layer, act):
        super().__init__()
        self.ph, self.pw, self.s = layer.kh, layer.kw, layer.stride
        self.act = _post_act(act)

    def __call__(self, x, nt):
        bufs = self._bufs.get(x.shape)
        if bufs is None:
            N, C, H, W = x.shape
            if self.ph > H or self.pw > W:
                raise ValueError(f"InferenceModel: pool window {self.ph}x{self.pw} does not fit "
                                 f"input {H}x{W}")
            Ho, Wo = (H - self.ph) // self.s + 1, (W - self.pw) // self.s + 1
            bufs = self._bufs[x.shape] = (
                np.empty((N, C, Ho, Wo), x.dtype),
                np.empty((N, C, Ho, Wo), np.uint8 if self.ph * self.pw <= 255 else np.int32))
        out, idx = bufs
        _dispatch.kernels.pooling.max_pool_forward(x, out, idx, self.ph, self.pw, self.s, nt)
        if self.act is not None:
            self.act(out, nt)
        return out


class _Flatten(_Step):
    def __call__(self, x, nt):
        return x.reshape(x.shape[0], -1)


class _Layer(_Step):
    """Any other layer: its eval-mode forward, the backward cache dropped."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def __call__(self, x, nt):
        out = self.layer.forward(x)
        self.layer._cache = None
        return out


class _Residual(_Step):
    def __init__(self, steps, scale):
        super().__init__()
        self.steps, self.scale = steps, scale

    def __call__(self, x, nt):
        y = x
        for step in self.steps:
            y = step(y, nt)
        if self.scale != 1.0:
            return x + y * y.dtype.type(self.scale)
        return x + y


def _pool_first(layers):
    """Move max pooling before a ReLU / leaky ReLU right in front of it: a non-decreasing
    function commutes with max, and the activation then touches a quarter of the values."""
    out = list(layers)
    for i in range(len(out) - 1):
        if type(out[i]) in (L.ReLU, L.LeakyReLU) and type(out[i + 1]) is L.MaxPool2d:
            out[i], out[i + 1] = out[i + 1], out[i]
    return out


def _compile(layers):
    layers = _pool_first(_flatten(layers))
    steps, i = [], 0
    while i < len(layers):
        layer = layers[i]
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(layer, (L.Linear, L.Conv2d)):       # Linear includes DropConnect (eval)
            w = layer.params["w"]
            b = layer.params["b"] if "b" in layer.params else layer._zero_bias
            conv = isinstance(layer, L.Conv2d)
            bn_type = L.BatchNorm2d if conv else L.BatchNorm1d
            if type(nxt) is bn_type and nxt.buffers.get("running_mean") is not None:
                w, b = _fold(w, b, nxt, 0 if conv else 1)
                i += 1
                nxt = layers[i + 1] if i + 1 < len(layers) else None
            else:
                w, b = np.ascontiguousarray(w.copy()), b.copy()
            act = _unary_params(nxt) if nxt is not None else None
            if act is not None:
                i += 1
            steps.append(_Conv(w, b, dict(layer.conv_param), act) if conv else _Affine(w, b, act))
        elif type(layer) is L.MaxPool2d:
            act = _unary_params(nxt) if type(nxt) in (L.ReLU, L.LeakyReLU) else None
            if act is not None:
                i += 1
            steps.append(_MaxPool(layer, act))
        elif isinstance(layer, L.Flatten):
            steps.append(_Flatten())
        elif isinstance(layer, L.Residual):
            scale = 1.0 - layer.drop_prob
            steps.append(_Residual(_compile([layer.block]), scale))
        else:
            steps.append(_Layer(copy.deepcopy(layer).eval()))
        i += 1
    return steps


class InferenceModel:
    """An eval-only, optimised copy of a model (see :func:`optimize`).

    Calling it (or :meth:`forward`) gives the class scores; :meth:`predict` and
    :meth:`predict_proba` work as on :class:`fastnn.models.Model`, with the
    model's preprocessor applied first.

    Attributes
    ----------
    steps : list
        The compiled ops, in order (``len(steps)`` shows how much was fused).
    dtype : numpy.dtype
    input_shape : tuple of int or None
    preprocessor : fastnn.data.Preprocessor or None
    """

    def __init__(self, steps, dtype, input_shape=None, preprocessor=None):
        self.steps = steps
        self.dtype = np.dtype(dtype)
        self.input_shape = input_shape
        self.preprocessor = preprocessor

    def forward(self, X):
        """Class scores of a batch (no preprocessing), a fresh array.

        Shape: X (N, ...) -> (N, num_classes).
        """
        x = np.asarray(X)
        if x.dtype != self.dtype or not x.flags.c_contiguous:
            x = np.ascontiguousarray(x, dtype=self.dtype)
        if x.ndim < 2:
            raise ValueError(f"InferenceModel.forward: X must have shape (N, ...), got {x.shape}")
        nt = _common.num_threads()
        gemm = _common.gemm_backend()
        with gemm.one_thread():
            for step in self.steps:
                x = step(x, nt)
        return np.array(x, copy=True)

    __call__ = forward

    def _batched(self, X, batch_size, fn):
        import operator
        bs = operator.index(batch_size)
        if bs < 1:
            raise ValueError(f"{fn}: batch_size must be >= 1, got {batch_size}")
        if self.preprocessor is not None:
            X = self.preprocessor.transform(X)
        X = np.asarray(X, dtype=self.dtype)
        parts = [self.forward(X[i:i + bs]) for i in range(0, len(X), bs)]
        if not parts:
            raise ValueError(f"{fn}: X holds no samples")
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def predict_proba(self, X, batch_size=256):
        """Softmax probabilities, shape (N, num_classes); preprocessing applied first."""
        from fastnn.models import _softmax
        return _softmax(self._batched(X, batch_size, "InferenceModel.predict_proba"))

    def predict(self, X, batch_size=256):
        """Predicted labels (int64, shape (N,)); preprocessing applied first."""
        s = self._batched(X, batch_size, "InferenceModel.predict")
        return np.argmax(s, axis=1).astype(np.int64)

    def __repr__(self):
        names = ", ".join(type(s).__name__.lstrip("_") for s in self.steps)
        return f"InferenceModel({len(self.steps)} steps: {names})"


def optimize(model):
    """An eval-only, optimised copy of ``model`` for inference.

    Parameters
    ----------
    model : fastnn.models.Model or fastnn.layers.Sequential

    Returns
    -------
    InferenceModel
        ``optimize(model)(X)`` equals ``model.loss(X)`` (eval-mode scores) up to float
        rounding; the model itself is not changed.
    """
    net = getattr(model, "net", model)
    if not isinstance(net, L.Layer):
        raise TypeError(f"optimize: expected a fastnn Model or Sequential, got "
                        f"{type(model).__name__}")
    steps = _compile([net])
    dtype = getattr(model, "dtype", None) or next(
        (v.dtype for v in net.params.values()), np.dtype(np.float32))
    return InferenceModel(steps, dtype, getattr(model, "input_shape", None),
                          getattr(model, "preprocessor", None))
