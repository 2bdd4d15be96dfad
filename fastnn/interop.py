"""PyTorch weights in and out through ``.safetensors`` files, without importing torch.

:func:`load_torch` reads a file written from the ``state_dict`` of the PyTorch
twin of a fastnn model (``safetensors.torch.save_file(net.state_dict(), path)``)
and :func:`save_torch` writes one that ``net.load_state_dict(
safetensors.torch.load_file(path))`` accepts.  The twin is an ``nn.Sequential``
with the same layers (``Conv2d``, ``Linear``, ``BatchNorm1d/2d``, ``LayerNorm``,
``GroupNorm``, ``PReLU``, activations, pooling, ``Flatten``, ``Dropout``).

Mapping, per layer with parameters:

==============================  ===========================================================
fastnn                          PyTorch
==============================  ===========================================================
Linear / DropConnect ``w``      ``weight`` transposed: fastnn (in, out), torch (out, in)
Linear ``b``, Conv2d ``b``      ``bias``
Conv2d ``w`` (F, C/g, kh, kw)   ``weight``, same layout
BatchNorm ``gamma``/``beta``    ``weight`` / ``bias``
BatchNorm running statistics    ``running_mean`` / ``running_var``; ``num_batches_tracked``
                                is read and ignored, written as 0
LayerNorm, GroupNorm            ``weight`` / ``bias`` (gamma / beta)
PReLU ``alpha``                 ``weight``
==============================  ===========================================================

Loading pairs fastnn's layers with parameters, in order, with the file's
module prefixes in natural order (``"0"``, ``"2"``, ``"10"``, ``"4.block.0"``),
so parameter-free layers may differ between the twins (a fastnn ``Linear``
flattens its input itself where the twin has ``nn.Flatten()``).  Saving names
each tensor ``"<fastnn layer index>.<torch name>"`` (nested Sequentials add
their index, a :class:`~fastnn.layers.Residual` adds ``block.``), which is the
twin's ``state_dict`` when its modules sit at the same indices.  Maxout has no
PyTorch counterpart and is refused by name.  Float tensors are cast to the
model's dtype on load.
"""
import os

import numpy as np

from fastnn import checkpoint, layers as L

__all__ = ["load_torch", "save_torch", "torch_names"]

_BN_STATS = ("running_mean", "running_var")


def _net(model):
    net = getattr(model, "net", model)
    if not isinstance(net, L.Layer):
        raise TypeError(f"expected a fastnn Model or layer, got {type(model).__name__}")
    return net


def _entries(layer, name):
    """[(torch tensor name suffix, fastnn array, transposed)] of one layer with parameters."""
    if isinstance(layer, L.Maxout):
        raise ValueError(f"layer {name} (Maxout) has no PyTorch counterpart")
    p, out = layer.params, []
    if isinstance(layer, L.Linear):
        out.append(("weight", p["w"], True))
        if "b" in p:
            out.append(("bias", p["b"], False))
    elif isinstance(layer, L.Conv2d):
        out.append(("weight", p["w"], False))
        if "b" in p:
            out.append(("bias", p["b"], False))
    elif isinstance(layer, (L.BatchNorm1d, L.LayerNorm, L.GroupNorm)):
        out += [("weight", p["gamma"], False), ("bias", p["beta"], False)]
        if isinstance(layer, L.BatchNorm1d):
            out += [(k, layer.buffers[k], False) for k in _BN_STATS]
    elif isinstance(layer, L.PReLU):
        out.append(("weight", p["alpha"], False))
    elif p:
        raise ValueError(f"layer {name} ({type(layer).__name__}) has parameters fastnn cannot "
                         "map to PyTorch")
    return out


def _layers(net, prefix=""):
    """[(torch module prefix, layer)] of every layer with parameters, in forward order."""
    found = []
    if isinstance(net, L.Sequential):
        for i, layer in enumerate(net.layers):
            found += _layers(layer, f"{prefix}{i}.")
    elif isinstance(net, L.Residual):
        found += _layers(net.block, prefix + "block.")
    elif net.params or net.buffers:
        found.append((prefix[:-1], net))
    return found


def torch_names(model):
    """The ``state_dict`` names :func:`save_torch` writes for ``model``, with their shapes.

    Returns
    -------
    dict of str -> tuple of int
    """
    names = {}
    for prefix, layer in _layers(_net(model)):
        for suffix, a, t in _entries(layer, prefix):
            names[f"{prefix}.{suffix}"] = a.shape[::-1] if t else a.shape
        if isinstance(layer, L.BatchNorm1d):
            names[f"{prefix}.num_batches_tracked"] = ()
    return names


def save_torch(model, path):
    """Write ``model``'s weights as the ``state_dict`` of its PyTorch twin (``.safetensors``).

    Parameters
    ----------
    model : fastnn.models.Model or fastnn.layers.Sequential
    path : str or os.PathLike
        Must end in ``.safetensors``; written atomically.

    Returns
    -------
    str
        The path written.

    Raises
    ------
    ValueError
        For a layer with no PyTorch counterpart (Maxout), naming it.
    """
    path = os.fspath(path)
    if not path.endswith(".safetensors"):
        raise ValueError(f"save_torch: path must end in .safetensors, got {path!r}")
    stn = checkpoint._safetensors_numpy("save_torch")
    tensors = {}
    for prefix, layer in _layers(_net(model)):
        try:
            entries = _entries(layer, prefix)
        except ValueError as exc:
            raise ValueError(f"save_torch: {exc}") from None
        for suffix, a, t in entries:
            tensors[f"{prefix}.{suffix}"] = np.ascontiguousarray(a.T if t else a)
        if isinstance(layer, L.BatchNorm1d):
            tensors[f"{prefix}.num_batches_tracked"] = np.array(0, np.int64)
    blob = stn.save(tensors, metadata={"format": "pt"})
    checkpoint._atomic_write(path, lambda f: f.write(blob))
    return path


def _natural(prefix):
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in prefix.split("."))


def load_torch(model, path):
    """Read a PyTorch ``state_dict`` saved as ``.safetensors`` into ``model`` (in place).

    Parameters
    ----------
    model : fastnn.models.Model or fastnn.layers.Sequential
        The fastnn twin of the PyTorch network (same layers with parameters, same order).
    path : str or os.PathLike
        A ``.safetensors`` file, e.g. from ``safetensors.torch.save_file(net.state_dict(),
        path)``; read with the checks of :func:`fastnn.checkpoint.load_params` (no code
        runs, crafted headers are refused).

    Returns
    -------
    model
        The same object, for chaining.

    Raises
    ------
    fastnn.checkpoint.CheckpointError
        When the file's modules do not pair with the model's layers, or a tensor is missing,
        unexpected or of the wrong shape: the message names the fastnn layer, the tensor and
        both shapes.  Nothing is copied unless everything matches.
    """
    path = os.fspath(path)
    fn = "load_torch"
    if not path.endswith(".safetensors"):
        raise ValueError(f"{fn}: path must be a .safetensors file, got {path!r}")
    arrays, _ = checkpoint.load_params(path)
    groups = {}
    for name, a in arrays.items():
        prefix, _, suffix = name.rpartition(".")
        groups.setdefault(prefix, {})[suffix] = a
    prefixes = sorted(groups, key=_natural)
    ours = _layers(_net(model))
    if len(prefixes) != len(ours):
        raise checkpoint.CheckpointError(
            f"{fn}: {path!r} holds {len(prefixes)} modules with tensors "
            f"({', '.join(prefixes) or 'none'}) but the model has {len(ours)} layers with "
            f"parameters ({', '.join(f'{n} ({type(x).__name__})' for n, x in ours) or 'none'})")
    copies = []
    for (ours_name, layer), prefix in zip(ours, prefixes):
        what = f"layer {ours_name} ({type(layer).__name__})"
        try:
            entries = _entries(layer, ours_name)
        except ValueError as exc:
            raise checkpoint.CheckpointError(f"{fn}: {exc}") from None
        tensors = dict(groups[prefix])
        if isinstance(layer, L.BatchNorm1d):
            tensors.pop("num_batches_tracked", None)
        expected = {suffix for suffix, _, _ in entries}
        if set(tensors) != expected:
            raise checkpoint.CheckpointError(
                f"{fn}: {what} expects tensors {sorted(expected)} but module {prefix!r} of "
                f"{path!r} holds {sorted(tensors)}")
        for suffix, dst, t in entries:
            src = tensors[suffix]
            want = dst.shape[::-1] if t else dst.shape
            if src.shape != want:
                layout = " (PyTorch's (out, in) layout of fastnn's (in, out) weight)" if t else ""
                raise checkpoint.CheckpointError(
                    f"{fn}: {what}: tensor {prefix}.{suffix} has shape {tuple(src.shape)} in "
                    f"{path!r}, expected {tuple(want)}{layout}")
            if src.dtype.kind != "f":
                raise checkpoint.CheckpointError(
                    f"{fn}: {what}: tensor {prefix}.{suffix} has dtype {src.dtype}, expected float")
            copies.append((dst, src.T if t else src))
    for dst, src in copies:
        dst[...] = src.astype(dst.dtype, copy=False)
    return model

