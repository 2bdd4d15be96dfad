"""Declarative architecture descriptions: a model as plain JSON, rebuilt without pickle.

:func:`describe` turns a layer, a :class:`~fastnn.layers.Sequential` (nested
ones and :class:`~fastnn.layers.Residual` blocks included) or a
:class:`~fastnn.models.Model` into a dict of JSON values; :func:`build` makes a
fresh object of the same architecture from such a dict (weights newly
initialised: load them afterwards).  Checkpoints written by
:func:`fastnn.checkpoint.save_model` carry this description, which is what lets
:func:`fastnn.load` rebuild a model from its file alone.

Every node is ``{"type": <class name>, ...constructor arguments}``; a
Sequential holds ``"layers": [...]``, a Residual ``"block": {...}``, a Model
``"net": {...}`` plus ``reg``, ``dtype`` and ``input_shape``.  Only the
classes of :data:`LAYER_TYPES` are described or built: :func:`build` never
looks a name up anywhere else, so a description from an untrusted file can
only make fastnn layers, and :func:`parameter_count` lets a loader refuse one
that declares more weights than its file holds before anything is allocated.

Example::

    desc = describe(model)          # {"type": "Model", "net": {"type": "Sequential", ...}}
    twin = build(json.loads(json.dumps(desc)))
"""
import numbers

import numpy as np

from fastnn import layers as L

__all__ = ["FORMAT", "LAYER_TYPES", "describe", "build", "parameter_count", "ArchitectureError"]

#: Version tag stored with every description.
FORMAT = "fastnn.architecture/1"

_ACTIVATIONS = ("ReLU", "SELU", "Sigmoid", "Tanh", "SiLU", "LeakyReLU", "ELU", "GELU", "Softplus")
#: The classes a description may name.
LAYER_TYPES = ("Linear", "DropConnect", "Conv2d", "MaxPool2d", "AvgPool2d", "GlobalAvgPool2d",
               "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "Dropout", "PReLU",
               "Maxout", "Flatten", "Sequential", "Residual", "Model") + _ACTIVATIONS


class ArchitectureError(ValueError):
    """A model that cannot be described, or a description that cannot be built."""


def _dtype_name(layer):
    for v in layer.params.values():
        return np.dtype(v.dtype).name
    return "float32"


def describe(obj):
    """The JSON description of a layer, Sequential or Model.

    Parameters
    ----------
    obj : fastnn.layers.Layer or fastnn.models.Model

    Returns
    -------
    dict
        JSON values only (``json.dumps`` works on it).

    Raises
    ------
    ArchitectureError
        For a layer class fastnn does not know (a user-defined layer), naming it.
    """
    from fastnn.models import Model
    if isinstance(obj, Model):
        return {"type": "Model", "format": FORMAT, "reg": obj.reg, "dtype": obj.dtype.name,
                "input_shape": None if obj.input_shape is None else list(obj.input_shape),
                "net": describe(obj.net)}
    name = type(obj).__name__
    if not isinstance(obj, L.Layer) or name not in LAYER_TYPES or getattr(L, name) is not type(obj):
        raise ArchitectureError(f"describe: cannot describe a {name} (fastnn describes only its "
                                f"own layers: {', '.join(LAYER_TYPES)})")
    d = {"type": name}
    if isinstance(obj, L.Sequential):
        d["layers"] = [describe(layer) for layer in obj.layers]
    elif isinstance(obj, L.Residual):
        d.update(block=describe(obj.block), drop_prob=obj.drop_prob)
    elif isinstance(obj, L.Linear):          # and DropConnect
        d.update(in_features=obj.in_features, out_features=obj.out_features,
                 bias="b" in obj.params, dtype=_dtype_name(obj))
        if isinstance(obj, L.DropConnect):
            d["p"] = obj.p
    elif isinstance(obj, L.Conv2d):
        F, Cg, kh, kw = obj.params["w"].shape
        cp = obj.conv_param
        d.update(in_channels=Cg * cp["groups"], out_channels=F, kernel_size=[kh, kw],
                 stride=cp["stride"], pad=cp["pad"], dilation=cp["dilation"],
                 groups=cp["groups"], bias="b" in obj.params, dtype=_dtype_name(obj))
    elif isinstance(obj, L.MaxPool2d):        # and AvgPool2d
        d.update(kernel_size=[obj.kh, obj.kw], stride=obj.stride)
    elif isinstance(obj, L.BatchNorm1d):      # and BatchNorm2d
        d.update(num_features=int(obj.params["gamma"].shape[0]), momentum=obj.momentum,
                 eps=obj.eps, dtype=_dtype_name(obj))
    elif isinstance(obj, L.LayerNorm):
        d.update(normalized_shape=list(obj.params["gamma"].shape), eps=obj.eps,
                 dtype=_dtype_name(obj))
    elif isinstance(obj, L.GroupNorm):
        d.update(num_groups=obj.num_groups, num_channels=int(obj.params["gamma"].shape[0]),
                 eps=obj.eps, dtype=_dtype_name(obj))
    elif isinstance(obj, L.Dropout):
        d["p"] = obj.p
    elif isinstance(obj, L.PReLU):
        d.update(num_parameters=int(obj.params["alpha"].shape[0]), dtype=_dtype_name(obj))
    elif isinstance(obj, L.Maxout):
        k, D, M = obj.params["w"].shape
        d.update(in_features=D, out_features=M, k=k, dtype=_dtype_name(obj))
    elif name in _ACTIVATIONS:
        d.update({k: v for k, v in obj.kw.items()})
    return d


# ------------------------------------------------------------------ building

def _bad(where, msg):
    raise ArchitectureError(f"build: {where}: {msg}")


def _get(d, key, kind, where, default=None, minimum=None):
    if key not in d:
        if default is not None:
            return default
        _bad(where, f"missing {key!r}")
    v = d[key]
    if kind == "int":
        ok = isinstance(v, int) and not isinstance(v, bool)
    elif kind == "float":
        ok = isinstance(v, numbers.Real) and not isinstance(v, bool) and np.isfinite(v)
    elif kind == "bool":
        ok = isinstance(v, bool)
    elif kind == "str":
        ok = isinstance(v, str)
    elif kind == "ints":
        ok = isinstance(v, list) and len(v) >= 1 and all(
            isinstance(i, int) and not isinstance(i, bool) for i in v)
    else:
        raise AssertionError(kind)
    if not ok:
        _bad(where, f"{key!r} must be {kind}, got {v!r}")
    if minimum is not None and min(v if isinstance(v, list) else [v]) < minimum:
        _bad(where, f"{key!r} must be >= {minimum}, got {v!r}")
    return v


def _dt(d, where):
    name = _get(d, "dtype", "str", where, default="float32")
    if name not in ("float32", "float64"):
        _bad(where, f"dtype must be 'float32' or 'float64', got {name!r}")
    return np.dtype(name)


def _pair(v):
    return (v[0], v[0]) if len(v) == 1 else (v[0], v[1])


def _node(d, where):
    if not isinstance(d, dict):
        _bad(where, f"expected a JSON object, got {type(d).__name__}")
    t = d.get("type")
    if t not in LAYER_TYPES:
        _bad(where, f"unknown layer type {t!r} (known: {', '.join(LAYER_TYPES)})")
    return t


def build(desc, _where="model"):
    """A fresh layer, Sequential or Model from :func:`describe`'s output.

    Weights are initialised (deterministically); load a checkpoint into the
    result to get the described model's weights.

    Raises
    ------
    ArchitectureError
        For an unknown type, a missing or ill-typed argument, naming where in
        the description it is.
    """
    from fastnn.models import Model
    t = _node(desc, _where)
    d, w = desc, f"{_where} ({desc.get('type')})"
    try:
        if t == "Model":
            shape = d.get("input_shape")
            if shape is not None:
                shape = tuple(_get(d, "input_shape", "ints", w, minimum=1))
            net = build(d.get("net"), _where + ".net")
            if not isinstance(net, L.Sequential):
                _bad(w, "net must be a Sequential")
            return Model(net, reg=_get(d, "reg", "float", w, default=0.0), dtype=_dt(d, w),
                         input_shape=shape)
        if t == "Sequential":
            items = d.get("layers")
            if not isinstance(items, list):
                _bad(w, "'layers' must be a list")
            return L.Sequential([build(item, f"{_where}.{i}") for i, item in enumerate(items)])
        if t == "Residual":
            return L.Residual(build(d.get("block"), _where + ".block"),
                              drop_prob=_get(d, "drop_prob", "float", w, default=0.0))
        if t in ("Linear", "DropConnect"):
            kw = dict(bias=_get(d, "bias", "bool", w, default=True), seed=0, dtype=_dt(d, w))
            args = (_get(d, "in_features", "int", w, minimum=1),
                    _get(d, "out_features", "int", w, minimum=1))
            if t == "DropConnect":
                return L.DropConnect(*args, p=_get(d, "p", "float", w), **kw)
            return L.Linear(*args, **kw)
        if t == "Conv2d":
            return L.Conv2d(_get(d, "in_channels", "int", w, minimum=1),
                            _get(d, "out_channels", "int", w, minimum=1),
                            _pair(_get(d, "kernel_size", "ints", w, minimum=1)),
                            stride=_get(d, "stride", "int", w, minimum=1),
                            padding=_get(d, "pad", "int", w, minimum=0),
                            dilation=_get(d, "dilation", "int", w, minimum=1),
                            groups=_get(d, "groups", "int", w, minimum=1),
                            bias=_get(d, "bias", "bool", w, default=True), seed=0,
                            dtype=_dt(d, w))
        if t in ("MaxPool2d", "AvgPool2d"):
            return getattr(L, t)(_pair(_get(d, "kernel_size", "ints", w, minimum=1)),
                                 stride=_get(d, "stride", "int", w, minimum=1))
        if t in ("BatchNorm1d", "BatchNorm2d"):
            return getattr(L, t)(_get(d, "num_features", "int", w, minimum=1),
                                 momentum=_get(d, "momentum", "float", w, default=0.1),
                                 eps=_get(d, "eps", "float", w, default=1e-5), dtype=_dt(d, w))
        if t == "LayerNorm":
            return L.LayerNorm(tuple(_get(d, "normalized_shape", "ints", w, minimum=1)),
                               eps=_get(d, "eps", "float", w, default=1e-5), dtype=_dt(d, w))
        if t == "GroupNorm":
            return L.GroupNorm(_get(d, "num_groups", "int", w, minimum=1),
                               _get(d, "num_channels", "int", w, minimum=1),
                               eps=_get(d, "eps", "float", w, default=1e-5), dtype=_dt(d, w))
        if t == "Dropout":
            return L.Dropout(_get(d, "p", "float", w))
        if t == "PReLU":
            return L.PReLU(_get(d, "num_parameters", "int", w, minimum=1), dtype=_dt(d, w))
        if t == "Maxout":
            return L.Maxout(_get(d, "in_features", "int", w, minimum=1),
                            _get(d, "out_features", "int", w, minimum=1),
                            k=_get(d, "k", "int", w, minimum=1), seed=0, dtype=_dt(d, w))
        if t in ("Flatten", "GlobalAvgPool2d", "ReLU", "SELU", "Sigmoid", "Tanh", "SiLU"):
            return getattr(L, t)()
        if t == "LeakyReLU":
            return L.LeakyReLU(_get(d, "negative_slope", "float", w, default=0.01))
        if t == "ELU":
            return L.ELU(_get(d, "alpha", "float", w, default=1.0))
        if t == "GELU":
            approx = _get(d, "approximate", "str", w, default="none")
            if approx not in ("none", "tanh"):
                _bad(w, f"'approximate' must be 'none' or 'tanh', got {approx!r}")
            return L.GELU(approx)
        if t == "Softplus":
            return L.Softplus(beta=_get(d, "beta", "float", w, default=1.0),
                              threshold=_get(d, "threshold", "float", w, default=20.0))
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ArchitectureError):
            raise
        raise ArchitectureError(f"build: {w}: {exc}") from None
    raise AssertionError(t)


def parameter_count(desc, _where="model"):
    """Number of parameter and buffer values the description declares (without building it).

    A loader compares it with the values its file holds before :func:`build` allocates
    anything, so a crafted description cannot ask for more memory than the file backs.
    """
    t = _node(desc, _where)
    d, w = desc, f"{_where} ({t})"
    if t == "Model":
        return parameter_count(d.get("net"), _where + ".net")
    if t == "Sequential":
        items = d.get("layers")
        if not isinstance(items, list):
            _bad(w, "'layers' must be a list")
        return sum(parameter_count(item, f"{_where}.{i}") for i, item in enumerate(items))
    if t == "Residual":
        return parameter_count(d.get("block"), _where + ".block")
    if t in ("Linear", "DropConnect"):
        i, o = _get(d, "in_features", "int", w, minimum=1), _get(d, "out_features", "int", w, minimum=1)
        return i * o + o * _get(d, "bias", "bool", w, default=True)
    if t == "Conv2d":
        kh, kw = _pair(_get(d, "kernel_size", "ints", w, minimum=1))
        c = _get(d, "in_channels", "int", w, minimum=1)
        f = _get(d, "out_channels", "int", w, minimum=1)
        g = _get(d, "groups", "int", w, minimum=1)
        return f * (c // g) * kh * kw + f * _get(d, "bias", "bool", w, default=True)
    if t in ("BatchNorm1d", "BatchNorm2d"):
        return 4 * _get(d, "num_features", "int", w, minimum=1)
    if t == "LayerNorm":
        n = 1
        for s in _get(d, "normalized_shape", "ints", w, minimum=1):
            n *= s
        return 2 * n
    if t == "GroupNorm":
        return 2 * _get(d, "num_channels", "int", w, minimum=1)
    if t == "PReLU":
        return _get(d, "num_parameters", "int", w, minimum=1)
    if t == "Maxout":
        k = _get(d, "k", "int", w, minimum=1)
        i, o = _get(d, "in_features", "int", w, minimum=1), _get(d, "out_features", "int", w, minimum=1)
        return k * i * o + k * o
    return 0
