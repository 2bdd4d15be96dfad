"""ONNX export of fastnn models, checked with ``onnx.checker`` (full check).

:func:`export` writes the eval-mode network of a :class:`~fastnn.models.Model`
or :class:`~fastnn.layers.Sequential` as an ONNX graph with one input
``"input"`` of shape ``(N, *input_shape)`` (N dynamic) and one output
``"output"``.  Needs ``pip install fastnn[onnx]`` (onnx; onnxruntime to run the
file).  Layer by layer:

====================  ===========================================================
fastnn                ONNX
====================  ===========================================================
Conv2d                Conv (strides, pads, dilations, group)
Linear, DropConnect   Gemm (after Flatten when the input has more than 2 axes)
BatchNorm1d/2d        BatchNormalization (running statistics, inference mode)
LayerNorm             LayerNormalization (opset >= 17)
GroupNorm             GroupNormalization (opset >= 21, per-channel scale and bias)
MaxPool2d             MaxPool;  AvgPool2d: AveragePool
GlobalAvgPool2d       GlobalAveragePool + Flatten
Flatten               Flatten (axis 1)
Dropout               removed (identity in eval mode)
Residual              Add of the input and the branch (times 1 - drop_prob when > 0)
ReLU, LeakyReLU,      Relu, LeakyRelu, Elu, Selu (fastnn's constants), Sigmoid, Tanh
ELU, SELU, ...
GELU                  Gelu, approximate "none" or "tanh" (opset >= 20)
SiLU                  x * Sigmoid(x)
Softplus              Where(beta*x > threshold, x, Softplus(beta*x) / beta)
PReLU                 PRelu, slope (1,) shared or (C, 1, 1) per channel
Maxout                one Gemm per piece + Max
====================  ===========================================================

The opset is the lowest that holds every layer (17; 20 with GELU; 21 with
GroupNorm) unless ``opset`` is given.  A layer fastnn does not export raises
``ValueError`` naming it.
"""
import os

import numpy as np

from fastnn import layers as L
from fastnn.ops.activations import SELU_ALPHA, SELU_SCALE

__all__ = ["export", "required_opset", "SUPPORTED"]

#: Layer classes :func:`export` handles.
SUPPORTED = ("Conv2d", "Linear", "DropConnect", "BatchNorm1d", "BatchNorm2d", "LayerNorm",
             "GroupNorm", "MaxPool2d", "AvgPool2d", "GlobalAvgPool2d", "Flatten", "Dropout",
             "Residual", "Sequential", "ReLU", "LeakyReLU", "ELU", "SELU", "Sigmoid", "Tanh",
             "GELU", "SiLU", "Softplus", "PReLU", "Maxout")

_BASE_OPSET = 17


def _onnx(fn):
    try:
        import onnx
    except ImportError:
        raise ImportError(f"{fn}: needs the onnx package: pip install fastnn[onnx]  "
                          "(or: pip install onnx onnxruntime)") from None
    return onnx


def _walk(layer, name=""):
    """Every leaf layer, with its path."""
    if isinstance(layer, L.Sequential):
        for i, child in enumerate(layer.layers):
            yield from _walk(child, f"{name}.{i}" if name else str(i))
    elif isinstance(layer, L.Residual):
        yield name, layer
        yield from _walk(layer.block, name)
    else:
        yield name, layer


def required_opset(model):
    """The lowest ONNX opset that holds every layer of ``model`` (17, 20 or 21)."""
    need = _BASE_OPSET
    for _, layer in _walk(getattr(model, "net", model)):
        if isinstance(layer, L.GroupNorm):
            need = max(need, 21)
        elif isinstance(layer, L.GELU):
            need = max(need, 20)
    return need


class _Graph:
    def __init__(self, onnx, dtype):
        self.onnx, self.h = onnx, onnx.helper
        self.dtype = np.dtype(dtype)
        self.nodes, self.inits, self._n = [], [], 0

    def tmp(self, hint):
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, name, value, dtype=None):
        a = np.ascontiguousarray(np.asarray(value, dtype or self.dtype))
        self.inits.append(self.onnx.numpy_helper.from_array(a, name))
        return name

    def op(self, op_type, inputs, hint, **attrs):
        out = self.tmp(hint)
        self.nodes.append(self.h.make_node(op_type, inputs, [out], name=out, **attrs))
        return out


def _slope_shape(alpha, rank):
    return (1,) if alpha.shape[0] == 1 else (alpha.shape[0],) + (1,) * max(rank - 2, 0)


def _emit(g, layer, name, x, shape):
    """Nodes of one layer; returns the output tensor name.  ``shape`` is x's shape (batch 1)."""
    t = type(layer).__name__
    pid = f"l{name.replace('.', '_')}" if name else "net"
    rank = len(shape)
    if isinstance(layer, L.Sequential):
        for i, child in enumerate(layer.layers):
            sub = f"{name}.{i}" if name else str(i)
            x, shape = _emit(g, child, sub, x, shape), _out_shape(child, shape)
        return x
    if isinstance(layer, L.Residual):
        branch = _emit(g, layer.block, name, x, shape)
        if layer.drop_prob > 0:
            branch = g.op("Mul", [branch, g.const(f"{pid}_survival", 1.0 - layer.drop_prob)],
                          f"{pid}_scaled")
        return g.op("Add", [x, branch], f"{pid}_add")
    if isinstance(layer, (L.Linear, L.Maxout)):
        if rank > 2:
            x = g.op("Flatten", [x], f"{pid}_flat", axis=1)
        if isinstance(layer, L.Maxout):
            w, b = layer.params["w"], layer.params["b"]
            pieces = [g.op("Gemm", [x, g.const(f"{pid}_w{j}", w[j]), g.const(f"{pid}_b{j}", b[j])],
                           f"{pid}_piece{j}") for j in range(w.shape[0])]
            return g.op("Max", pieces, f"{pid}_max") if len(pieces) > 1 else pieces[0]
        ins = [x, g.const(f"{pid}_w", layer.params["w"])]
        if "b" in layer.params:
            ins.append(g.const(f"{pid}_b", layer.params["b"]))
        return g.op("Gemm", ins, f"{pid}_gemm")
    if isinstance(layer, L.Conv2d):
        cp, w = layer.conv_param, layer.params["w"]
        ins = [x, g.const(f"{pid}_w", w)]
        if "b" in layer.params:
            ins.append(g.const(f"{pid}_b", layer.params["b"]))
        s, p, d = cp["stride"], cp["pad"], cp["dilation"]
        return g.op("Conv", ins, f"{pid}_conv", kernel_shape=list(w.shape[2:]), strides=[s, s],
                    pads=[p, p, p, p], dilations=[d, d], group=cp["groups"])
    if isinstance(layer, L.MaxPool2d):       # and AvgPool2d
        op = "AveragePool" if isinstance(layer, L.AvgPool2d) else "MaxPool"
        return g.op(op, [x], f"{pid}_pool", kernel_shape=[layer.kh, layer.kw],
                    strides=[layer.stride, layer.stride])
    if isinstance(layer, L.GlobalAvgPool2d):
        y = g.op("GlobalAveragePool", [x], f"{pid}_gap")
        return g.op("Flatten", [y], f"{pid}_flat", axis=1)
    if isinstance(layer, L.Flatten):
        return g.op("Flatten", [x], f"{pid}_flat", axis=1)
    if isinstance(layer, L.Dropout):
        return x
    if isinstance(layer, L.BatchNorm1d):
        p, b = layer.params, layer.buffers
        return g.op("BatchNormalization",
                    [x, g.const(f"{pid}_gamma", p["gamma"]), g.const(f"{pid}_beta", p["beta"]),
                     g.const(f"{pid}_mean", b["running_mean"]),
                     g.const(f"{pid}_var", b["running_var"])],
                    f"{pid}_bn", epsilon=float(layer.eps))
    if isinstance(layer, L.LayerNorm):
        p = layer.params
        return g.op("LayerNormalization", [x, g.const(f"{pid}_gamma", p["gamma"]),
                                           g.const(f"{pid}_beta", p["beta"])],
                    f"{pid}_ln", axis=-p["gamma"].ndim, epsilon=float(layer.eps))
    if isinstance(layer, L.GroupNorm):
        p = layer.params
        return g.op("GroupNormalization", [x, g.const(f"{pid}_gamma", p["gamma"]),
                                           g.const(f"{pid}_beta", p["beta"])],
                    f"{pid}_gn", num_groups=int(layer.num_groups), epsilon=float(layer.eps))
    if isinstance(layer, L.PReLU):
        a = layer.params["alpha"]
        return g.op("PRelu", [x, g.const(f"{pid}_slope", a.reshape(_slope_shape(a, rank)))],
                    f"{pid}_prelu")
    if t == "ReLU":
        return g.op("Relu", [x], f"{pid}_relu")
    if t == "LeakyReLU":
        return g.op("LeakyRelu", [x], f"{pid}_lrelu", alpha=float(layer.kw["negative_slope"]))
    if t == "ELU":
        return g.op("Elu", [x], f"{pid}_elu", alpha=float(layer.kw["alpha"]))
    if t == "SELU":
        return g.op("Selu", [x], f"{pid}_selu", alpha=SELU_ALPHA, gamma=SELU_SCALE)
    if t == "Sigmoid":
        return g.op("Sigmoid", [x], f"{pid}_sigmoid")
    if t == "Tanh":
        return g.op("Tanh", [x], f"{pid}_tanh")
    if t == "GELU":
        return g.op("Gelu", [x], f"{pid}_gelu", approximate=layer.kw["approximate"])
    if t == "SiLU":
        return g.op("Mul", [x, g.op("Sigmoid", [x], f"{pid}_sig")], f"{pid}_silu")
    if t == "Softplus":
        beta, thr = float(layer.kw["beta"]), float(layer.kw["threshold"])
        z = g.op("Mul", [x, g.const(f"{pid}_beta", beta)], f"{pid}_z") if beta != 1.0 else x
        soft = g.op("Softplus", [z], f"{pid}_sp")
        if beta != 1.0:
            soft = g.op("Div", [soft, g.const(f"{pid}_beta_div", beta)], f"{pid}_spb")
        big = g.op("Greater", [z, g.const(f"{pid}_threshold", thr)], f"{pid}_big")
        return g.op("Where", [big, x, soft], f"{pid}_softplus")
    raise ValueError(f"fastnn.onnx.export: layer {name or '(model)'} ({t}) is not supported; "
                     f"exportable layers: {', '.join(SUPPORTED)}")


def _out_shape(layer, shape):
    was = layer.training
    layer.eval()
    try:
        return layer.forward(np.zeros((1,) + tuple(shape[1:]), np.float32 if not layer.params
                             else next(iter(layer.params.values())).dtype)).shape
    finally:
        layer.train(was)


def export(model, path, input_shape=None, opset=None, check=True):
    """Write ``model``'s eval-mode network as an ONNX file.

    Parameters
    ----------
    model : fastnn.models.Model or fastnn.layers.Sequential (or one layer)
    path : str or os.PathLike
        The ``.onnx`` file (written atomically).
    input_shape : tuple of int, optional
        One sample's shape, e.g. ``(3, 32, 32)``; default ``model.input_shape``.  The batch
        axis is dynamic.
    opset : int, optional
        ONNX opset (default: :func:`required_opset`); a lower one than the layers need is a
        ValueError.
    check : bool
        Run ``onnx.checker.check_model(full_check=True)`` before writing (default True).

    Returns
    -------
    str
        The path written.

    Raises
    ------
    ValueError
        For a layer fastnn does not export (naming it), an unknown input shape, or too low an
        opset.
    ImportError
        Without the onnx package (``pip install fastnn[onnx]``).
    """
    fn = "fastnn.onnx.export"
    onnx = _onnx(fn)
    net = getattr(model, "net", model)
    if not isinstance(net, L.Layer):
        raise TypeError(f"{fn}: expected a fastnn Model or layer, got {type(model).__name__}")
    for name, layer in _walk(net):
        if type(layer).__name__ not in SUPPORTED or getattr(L, type(layer).__name__) is not type(layer):
            raise ValueError(f"{fn}: layer {name or '(model)'} ({type(layer).__name__}) is not "
                             f"supported; exportable layers: {', '.join(SUPPORTED)}")
    if input_shape is None:
        input_shape = getattr(model, "input_shape", None)
        if input_shape is None:
            raise ValueError(f"{fn}: the model does not record its input shape; pass "
                             "input_shape=(C, H, W) (one sample, without the batch axis)")
    input_shape = tuple(int(d) for d in input_shape)
    need = required_opset(net)
    if opset is None:
        opset = need
    elif int(opset) < need:
        raise ValueError(f"{fn}: opset {opset} is too low for this model's layers; it needs "
                         f">= {need} (LayerNormalization 17, Gelu 20, GroupNormalization 21)")
    dtype = next((v.dtype for v in getattr(net, "params", {}).values()), np.dtype(np.float32))
    elem = {np.dtype(np.float32): onnx.TensorProto.FLOAT,
            np.dtype(np.float64): onnx.TensorProto.DOUBLE}[np.dtype(dtype)]
    out_shape = _out_shape(net, (1,) + input_shape)
    g = _Graph(onnx, dtype)
    was = net.training
    try:
        y = _emit(g, net, "", "input", (1,) + input_shape)
    finally:
        net.train(was)
    if y == "input":
        y = g.op("Identity", [y], "identity")
    g.nodes.append(g.h.make_node("Identity", [y], ["output"], name="output"))
    h = g.h
    graph = h.make_graph(
        g.nodes, "fastnn", [h.make_tensor_value_info("input", elem, ["N", *input_shape])],
        [h.make_tensor_value_info("output", elem, ["N", *out_shape[1:]])], g.inits)
    proto = h.make_model(graph, producer_name="fastnn",
                         opset_imports=[h.make_opsetid("", int(opset))])
    proto.ir_version = min(proto.ir_version, 10)
    if check:
        onnx.checker.check_model(proto, full_check=True)
    from fastnn.checkpoint import _atomic_write
    path = os.fspath(path)
    blob = proto.SerializeToString()
    _atomic_write(path, lambda f: f.write(blob))
    return path
