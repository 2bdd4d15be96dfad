"""Checkpoints: parameters (and metadata) in ``.npz`` or ``.safetensors`` files that never
execute code on load.

* :func:`save_params` writes arrays plus an optional JSON-serialisable ``meta``
  dict (stored as a JSON string in a plain unicode array, never pickled) to a
  temporary file in the target's directory, flushes it to disk and renames it
  over the target (``os.replace``, atomic on POSIX and Windows): a crash
  mid-write leaves the old file or no file, never a truncated one.  The file
  gets the permissions ``open(path, "w")`` would give it (``0o666`` minus the
  umask).
* :func:`load_params` parses the zip and each ``.npy`` header itself and never
  unpickles: object arrays (which NumPy would unpickle, running arbitrary code)
  are refused with :class:`CheckpointError` before any data is read.  Only a
  regular file is opened (a FIFO or ``/dev/zero`` would block or never end);
  a member's declared size is checked against its sizes in the zip and, for a
  stored member, against the file's real size, and the data is read in chunks,
  so a file can never make the reader allocate more than the bytes it really
  holds (a deflated member peaks at about its array's size plus one chunk).
  With ``into=`` it checks names, shapes and dtypes against an existing
  parameter dict and copies into those arrays in place (so optimisers holding
  them stay valid).
* :func:`save_model` / :func:`load_model` do the same for anything with a
  ``params`` dict (the CS231n models, fastnn's layers and models).  A
  :class:`fastnn.models.Model` is stored under the names of its network
  (``"0.w"``, ``"0.b"``, ``"buffers/1.running_mean"``, ...), so the file of a
  Model and the file of the same network as a bare Sequential are one and the
  same; files with the course names (``W1``, ``b1``, ...) still load into a
  Model.  When every layer of the model is known to
  :mod:`fastnn.architecture`, the file also holds the architecture (JSON) and
  the model's preprocessor, and :func:`fastnn.load` rebuilds the whole model.
* :func:`remove_stale_temp_files` deletes the temporary files a killed process
  left behind (``.<name>.XXXXXXXX.tmp``, the pattern :func:`save_params` uses).

Two formats, chosen by the file name: ``.safetensors`` (the ``safetensors``
package, ``pip install fastnn[safetensors]``; the meta is a JSON string in the
header's ``__metadata__``) and ``.npz`` (anything else; ``.npz`` is appended
when missing).  Both are written atomically; both loaders check every declared
size against the file's real size before allocating anything.

Array names are the dict keys (strings); ``"__meta__"`` is reserved.
"""
import json
import os
import re
import time
import zipfile

import numpy as np

from fastnn._files import NotRegularFileError, mkstemp_like_open, open_regular, read_chunked

__all__ = ["CheckpointError", "save_params", "load_params", "save_model", "load_model",
           "model_arrays", "remove_stale_temp_files"]

META_KEY = "__meta__"
SAFETENSORS_SUFFIX = ".safetensors"
# the safetensors metadata key holding the JSON meta
_ST_META = "fastnn.meta"
# the safetensors library's own limit on the JSON header
_ST_MAX_HEADER = 100_000_000
_ST_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
              "I32": np.int32, "I16": np.int16, "I8": np.int8, "U64": np.uint64,
              "U32": np.uint32, "U16": np.uint16, "U8": np.uint8, "BOOL": np.bool_}

# when this module was imported: a temporary file older than this was not written by this process
_IMPORTED_AT = time.time()
# tempfile.mkstemp's random part: 8 characters of [a-z0-9_]
_TEMP_PATTERN = re.compile(r"\.(?P<target>.+\.(?:npz|safetensors))\.[a-z0-9_]{8}\.tmp")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be loaded: unreadable, unsafe, or not matching."""


def _npz_path(path):
    path = os.fspath(path)
    return path if path.endswith((".npz", SAFETENSORS_SUFFIX)) else path + ".npz"


def _is_safetensors(path):
    return os.fspath(path).endswith(SAFETENSORS_SUFFIX)


def _safetensors_numpy(fn):
    """The ``safetensors.numpy`` module, or an ImportError saying how to install it."""
    try:
        import safetensors.numpy as stn
    except ImportError:
        raise ImportError(f"{fn}: .safetensors files need the safetensors package: "
                          "pip install fastnn[safetensors]  (or: pip install safetensors)") from None
    return stn


def _atomic_write(path, write):
    """Call ``write(f)`` on a temporary file beside ``path``, fsync, rename over ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = mkstemp_like_open(directory, "." + os.path.basename(path) + ".", ".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def save_params(path, params, meta=None):
    """Write ``params`` (name -> array) and ``meta`` to ``path`` atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Target file: ``*.safetensors`` writes the safetensors format, anything
        else ``.npz`` (``.npz`` is appended when missing, as ``np.savez`` does).
    params : dict of str -> array_like
        Numeric arrays (any shape, bool/int/float/complex dtypes; safetensors
        holds no complex numbers).
    meta : dict, optional
        JSON-serialisable metadata (numbers, strings, lists, dicts).

    Returns
    -------
    str
        The path written.
    """
    if not isinstance(params, dict):
        raise TypeError(f"save_params: params must be a dict of name -> array, "
                        f"got {type(params).__name__}")
    arrays = {}
    for k, v in params.items():
        if not isinstance(k, str):
            raise TypeError(f"save_params: parameter names must be strings, got {k!r}")
        if k == META_KEY:
            raise ValueError(f"save_params: the name {META_KEY!r} is reserved for meta")
        a = np.asarray(v)
        if a.dtype.hasobject or a.dtype.kind not in "biufc":
            raise TypeError(f"save_params: {k!r} has dtype {a.dtype}; only numeric arrays are "
                            "saved (object arrays would need pickle)")
        arrays[k] = a
    text = None
    if meta is not None:
        if not isinstance(meta, dict):
            raise TypeError(f"save_params: meta must be a dict, got {type(meta).__name__}")
        try:
            text = json.dumps(meta, allow_nan=True)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"save_params: meta must be JSON-serialisable: {exc}") from None
    path = _npz_path(path)
    if _is_safetensors(path):
        stn = _safetensors_numpy("save_params")
        for k, a in arrays.items():
            if a.dtype.kind == "c" or np.dtype(a.dtype).newbyteorder("=") not in \
                    [np.dtype(t) for t in _ST_DTYPES.values()]:
                raise TypeError(f"save_params: {k!r} has dtype {a.dtype}, which the safetensors "
                                f"format does not hold (use .npz)")
        blob = stn.save({k: np.ascontiguousarray(a) for k, a in arrays.items()},
                        metadata=None if text is None else {_ST_META: text})
        _atomic_write(path, lambda f: f.write(blob))
        return path
    if text is not None:
        arrays[META_KEY] = np.array(text)
    _atomic_write(path, lambda f: np.savez(f, **arrays))
    return path


_NPY_MAGIC = b"\x93NUMPY"


def _read_member(zf, info, path, file_size):
    """One ``.npy`` member of the zip, parsed by hand: header checked, the declared size checked
    against the member's sizes in the zip (and, for a stored member, against the file's real
    size) *before* anything is read; the data read in chunks, so a member can never make the
    reader allocate more than the bytes it really holds.  Numeric dtypes only (and the 0-d
    unicode string of the meta).  Never unpickles."""
    name = info.filename
    if not name.endswith(".npy"):
        raise CheckpointError(f"load_params: member {name!r} of {path!r} is not an .npy array")
    key = name[:-len(".npy")]
    if info.compress_type == zipfile.ZIP_STORED:
        if info.compress_size != info.file_size:
            raise CheckpointError(
                f"load_params: member {name!r} of {path!r} is stored uncompressed but declares "
                f"{info.file_size} bytes with a compressed size of {info.compress_size} "
                "(corrupt)")
        if info.header_offset + info.compress_size > file_size:
            raise CheckpointError(
                f"load_params: member {name!r} of {path!r} is stored uncompressed and declares "
                f"{info.file_size} bytes, but the whole file holds {file_size} bytes "
                "(truncated or corrupt); refused before reading it")
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise CheckpointError(f"load_params: array {key!r} in {path!r} has .npy format "
                                  f"version {version}, expected 1.0 or 2.0")
        if dtype.hasobject or dtype.kind not in ("biufc" + ("U" if key == META_KEY else "")):
            raise CheckpointError(
                f"load_params: array {key!r} in {path!r} has dtype {dtype}, which a fastnn "
                "checkpoint never holds (object arrays would need pickle; loading a checkpoint "
                "never executes code)")
        count = 1
        for n in shape:
            count *= int(n)
        nbytes = count * dtype.itemsize
        if info.file_size != f.tell() + nbytes:
            raise CheckpointError(
                f"load_params: array {key!r} in {path!r} declares shape {shape} of {dtype} "
                f"({nbytes} bytes) but the member holds {info.file_size - f.tell()} bytes")
        data = read_chunked(f, nbytes)     # memory follows the bytes the member really holds
        if len(data) < nbytes:
            raise CheckpointError(f"load_params: array {key!r} in {path!r} is truncated: it "
                                  f"declares {nbytes} bytes, the member holds {len(data)}")
        a = data.view(dtype) if nbytes else np.empty(count, dtype=dtype)
        if f.read(1):
            raise CheckpointError(f"load_params: array {key!r} in {path!r} has bytes after "
                                  f"the {nbytes} its header declares")
        return key, a.reshape(shape, order="F" if fortran else "C")


def _safetensors_header(path):
    """The parsed JSON header of a ``.safetensors`` file, every declared size checked against
    the file's real size (and every tensor's byte range against the data section) before the
    file is handed to the safetensors library: a crafted header cannot make it allocate."""
    fn = "load_params"
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise CheckpointError(f"{fn}: {path!r} is {size} bytes, too short for a "
                                      ".safetensors file (an 8-byte header length comes first)")
            n = int.from_bytes(head, "little")
            if n > size - 8 or n > _ST_MAX_HEADER:
                raise CheckpointError(f"{fn}: {path!r} declares a {n}-byte header but holds "
                                      f"{size - 8} bytes after the length (limit "
                                      f"{_ST_MAX_HEADER}): not a valid .safetensors file")
            raw = f.read(n)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise CheckpointError(f"{fn}: cannot read {path!r}: {exc}") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"{fn}: the header of {path!r} is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{fn}: the header of {path!r} is a {type(header).__name__}, "
                              "expected a JSON object")
    data_size = size - 8 - n
    ranges = []
    for key, info in header.items():
        if key == "__metadata__":
            if not isinstance(info, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in info.items()):
                raise CheckpointError(f"{fn}: __metadata__ of {path!r} must map strings to "
                                      "strings")
            continue
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise CheckpointError(f"{fn}: tensor {key!r} in {path!r} must declare exactly "
                                  f"dtype, shape and data_offsets, got {info!r}"[:300])
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in _ST_DTYPES:
            raise CheckpointError(f"{fn}: tensor {key!r} in {path!r} has dtype {dtype!r}; "
                                  f"fastnn reads {sorted(_ST_DTYPES)}")
        if not isinstance(shape, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise CheckpointError(f"{fn}: tensor {key!r} in {path!r} has shape {shape!r}, "
                                  "expected a list of sizes >= 0")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(
                isinstance(o, int) and not isinstance(o, bool) for o in offsets):
            raise CheckpointError(f"{fn}: tensor {key!r} in {path!r} has data_offsets "
                                  f"{offsets!r}, expected [begin, end]")
        begin, end = offsets
        count = 1
        for d in shape:
            count *= d
        nbytes = count * np.dtype(_ST_DTYPES[dtype]).itemsize
        if not 0 <= begin <= end <= data_size:
            raise CheckpointError(f"{fn}: tensor {key!r} in {path!r} declares bytes "
                                  f"[{begin}, {end}) but the data section holds {data_size} "
                                  "bytes (a truncated or crafted file)")
        if end - begin != nbytes:
            raise CheckpointError(f"{fn}: tensor {key!r} in {path!r} declares shape {shape} of "
                                  f"{dtype} ({nbytes} bytes) but a byte range of {end - begin}")
        ranges.append((begin, end, key))
    ranges.sort()
    pos = 0
    for begin, end, key in ranges:
        if begin != pos:
            raise CheckpointError(f"{fn}: tensor {key!r} in {path!r} starts at byte {begin}, "
                                  f"expected {pos} (tensors must tile the data section)")
        pos = end
    if pos != data_size:
        raise CheckpointError(f"{fn}: the tensors of {path!r} cover {pos} bytes of its "
                              f"{data_size}-byte data section")
    return header


def _read_safetensors(path):
    header = _safetensors_header(path)
    stn = _safetensors_numpy("load_params")
    try:
        arrays = stn.load_file(path)
    except Exception as exc:      # untrusted bytes: any parsing failure means a corrupt file
        raise CheckpointError(f"load_params: {path!r} is not a readable .safetensors file: "
                              f"{type(exc).__name__}: {exc}") from None
    meta = None
    text = (header.get("__metadata__") or {}).get(_ST_META)
    if text is not None:
        try:
            meta = json.loads(text)
        except ValueError as exc:
            raise CheckpointError(f"load_params: the meta of {path!r} is not JSON: {exc}") from None
        if not isinstance(meta, dict):
            raise CheckpointError(f"load_params: the meta of {path!r} is a "
                                  f"{type(meta).__name__}, expected a JSON object")
    return {k: np.asarray(v) for k, v in arrays.items()}, meta


def _read_checkpoint(path):
    """(arrays, meta) of a checkpoint file; any defect is a CheckpointError naming the file."""
    if _is_safetensors(path):
        return _read_safetensors(path)
    try:
        f = open_regular(path, "rb")
    except FileNotFoundError:
        raise
    except NotRegularFileError as exc:
        raise CheckpointError(f"load_params: {exc}") from None
    except OSError as exc:
        raise CheckpointError(f"load_params: cannot read {path!r}: {exc}") from None
    with f:
        try:
            head = f.read(len(_NPY_MAGIC))
            file_size = os.fstat(f.fileno()).st_size
            f.seek(0)
        except OSError as exc:
            raise CheckpointError(f"load_params: cannot read {path!r}: {exc}") from None
        if head == _NPY_MAGIC:
            raise CheckpointError(f"load_params: {path!r} holds a single array, not a "
                                  "checkpoint (.npz) of named arrays")
        arrays, meta = {}, None
        try:
            with zipfile.ZipFile(f) as zf:
                for info in zf.infolist():
                    key, a = _read_member(zf, info, path, file_size)
                    if key in arrays or (key == META_KEY and meta is not None):
                        raise CheckpointError(f"load_params: {path!r} holds {key!r} twice")
                    if key == META_KEY:
                        if a.dtype.kind != "U" or a.ndim != 0:
                            raise CheckpointError(f"load_params: {META_KEY!r} in {path!r} is "
                                                  "not a JSON string")
                        meta = json.loads(str(a[()]))
                        if not isinstance(meta, dict):
                            raise CheckpointError(f"load_params: the meta of {path!r} is a "
                                                  f"{type(meta).__name__}, expected a JSON "
                                                  "object")
                    else:
                        arrays[key] = a
        except CheckpointError:
            raise
        except Exception as exc:       # untrusted bytes: any parsing failure means a corrupt file
            raise CheckpointError(f"load_params: {path!r} is not a readable fastnn checkpoint "
                                  f"(.npz): {type(exc).__name__}: {exc}") from None
    return arrays, meta


def load_params(path, into=None):
    """Read a checkpoint written by :func:`save_params` (never unpickles anything).

    Parameters
    ----------
    path : str or os.PathLike
    into : dict of str -> ndarray, optional
        Existing parameters: the file must hold exactly these names, with the
        same shapes and dtypes; values are copied into these arrays in place.

    Returns
    -------
    (params, meta)
        ``params`` is ``into`` (filled) or a new dict of arrays; ``meta`` the
        saved metadata dict, or None.

    Raises
    ------
    CheckpointError
        File unreadable, not a regular file (a FIFO, a device, a directory),
        or not an ``.npz``; an array needing pickle (object dtype); an array
        declaring more bytes than its member holds; names, shapes or dtypes
        not matching ``into``.
    """
    path = os.fspath(path)
    arrays, meta = _read_checkpoint(path)
    if into is None:
        return arrays, meta
    _fill(path, arrays, into, "load_params")
    return into, meta


def _fill(path, arrays, into, fn):
    """Copy ``arrays`` into ``into`` once names, shapes and dtypes all match."""
    if not isinstance(into, dict):
        raise TypeError(f"{fn}: into must be a dict of name -> array, "
                        f"got {type(into).__name__}")
    mismatch = _name_mismatch(arrays, into)
    if mismatch:
        raise CheckpointError(f"{fn}: {path!r} does not match the parameters: {mismatch}")
    for name, dst in into.items():
        src = arrays[name]
        if not isinstance(dst, np.ndarray):
            raise TypeError(f"{fn}: into[{name!r}] must be a numpy array, "
                            f"got {type(dst).__name__}")
        if src.shape != dst.shape:
            raise CheckpointError(f"{fn}: {name!r} has shape {src.shape} in {path!r}, "
                                  f"expected {dst.shape}")
        if src.dtype != dst.dtype:
            raise CheckpointError(f"{fn}: {name!r} has dtype {src.dtype} in {path!r}, "
                                  f"expected {dst.dtype}")
    for name, dst in into.items():      # copy only once everything matched
        dst[...] = arrays[name]


def _name_mismatch(found, expected):
    """``"missing [...], unexpected [...]"`` when the names (keys) ``found`` differ from the
    names ``expected``; None when they agree."""
    missing = sorted(set(expected) - set(found), key=str)
    extra = sorted(set(found) - set(expected), key=str)
    return f"missing {missing}, unexpected {extra}" if missing or extra else None


_BUFFER_PREFIX = "buffers/"


_PREPROCESS_PREFIX = "preprocess/"
# the meta key under which save_model stores the architecture and the preprocessor's state
MODEL_KEY = "fastnn.model"


def _holder(model):
    """The object whose params/buffers name a model's arrays: the network of a Model
    (anything with a ``net`` Sequential), else the model itself."""
    net = getattr(model, "net", None)
    return net if isinstance(getattr(net, "params", None), dict) else model


def model_arrays(model, fn="model_arrays"):
    """A model's parameters and buffers as one dict under the names its checkpoint uses.

    The names are the network's: ``"<layer index>.<name>"`` for a Sequential and for a
    Model (``model.net``'s names, not the course names ``W1, b1``), so a Model and the same
    network as a bare Sequential write the same file.  Buffers (batch norm's running
    statistics) are under ``"buffers/<name>"``.  The arrays are the model's own.
    """
    holder = _holder(model)
    params = getattr(holder, "params", None)
    if not isinstance(params, dict):
        raise TypeError(f"{fn}: model must have a params dict, got {type(model).__name__}")
    arrays = dict(params)
    arrays.update((_BUFFER_PREFIX + k, v) for k, v in (getattr(holder, "buffers", None) or {}).items())
    return arrays


def _course_arrays(model):
    """The same arrays under ``model.params``' own names (a Model's course names)."""
    arrays = dict(model.params)
    arrays.update((_BUFFER_PREFIX + k, v) for k, v in (getattr(model, "buffers", None) or {}).items())
    return arrays


def save_model(path, model, meta=None):
    """:func:`save_params` of a model's parameters and buffers (:func:`model_arrays`'s names),
    plus, when fastnn can describe it, its architecture and its ``preprocessor``.

    Parameters
    ----------
    path : str or os.PathLike
        ``*.safetensors`` or ``.npz`` (see :func:`save_params`).
    model : Model, Sequential or layer
        Anything with a ``params`` dict.
    meta : dict, optional
        JSON-serialisable metadata, returned by :func:`load_model`.

    Returns
    -------
    str
        The path written.
    """
    from fastnn import architecture
    arrays = model_arrays(model, "save_model")
    if meta is not None and not isinstance(meta, dict):
        raise TypeError(f"save_model: meta must be a dict, got {type(meta).__name__}")
    if meta is not None and MODEL_KEY in meta:
        raise ValueError(f"save_model: the meta key {MODEL_KEY!r} is reserved")
    try:
        desc = architecture.describe(model)
    except architecture.ArchitectureError:
        desc = None                      # a user-defined layer: weights only
    info = {"architecture": desc, "preprocessor": None}
    pre = getattr(model, "preprocessor", None)
    if pre is not None:
        p_arrays, info["preprocessor"] = pre.get_state()
        arrays.update((_PREPROCESS_PREFIX + k, v) for k, v in p_arrays.items())
    if desc is None and pre is None:
        return save_params(path, arrays, meta)
    return save_params(path, arrays, dict(meta or {}, **{MODEL_KEY: info}))


def _split(arrays, meta):
    """(weights, preprocessor arrays, user meta, fastnn's model info) of a model file."""
    weights = {k: v for k, v in arrays.items() if not k.startswith(_PREPROCESS_PREFIX)}
    pre = {k[len(_PREPROCESS_PREFIX):]: v for k, v in arrays.items()
           if k.startswith(_PREPROCESS_PREFIX)}
    info = None
    if isinstance(meta, dict) and MODEL_KEY in meta:
        meta = dict(meta)
        info = meta.pop(MODEL_KEY)
        meta = meta or None
    return weights, pre, meta, info


def load_model(path, model):
    """:func:`load_params` into a model's parameters and buffers (in place); returns the meta
    dict the file was saved with.

    The file may use the network's names (what :func:`save_model` writes) or, for a
    :class:`fastnn.models.Model`, the course names ``W1, b1, ...`` of ``model.params``.
    The preprocessor stored with the weights is not loaded here (see :func:`fastnn.load`).
    """
    path = os.fspath(path)
    into = model_arrays(model, "load_model")
    arrays, meta = _read_checkpoint(path)
    weights, _, meta, _ = _split(arrays, meta)
    if set(weights) != set(into) and _holder(model) is not model:
        course = _course_arrays(model)
        if set(weights) == set(course):
            into = course
    _fill(path, weights, into, "load_model")
    return meta


def load_whole(path):
    """``(model, meta)``: the model stored in ``path`` rebuilt from its architecture, with its
    weights and preprocessor, in eval mode (:func:`fastnn.load` returns the model)."""
    from fastnn import architecture, layers
    from fastnn.models import Model
    path = os.fspath(path)
    arrays, meta = _read_checkpoint(path)
    weights, pre_arrays, meta, info = _split(arrays, meta)
    desc = info.get("architecture") if isinstance(info, dict) else None
    if desc is None:
        raise CheckpointError(
            f"fastnn.load: {path!r} holds weights but no architecture (written by an older "
            "fastnn, from a model with a layer fastnn cannot describe, or by save_params): "
            "build the model yourself and call model.load(path)")
    try:
        declared = architecture.parameter_count(desc)
        held = sum(int(a.size) for a in weights.values())
        if declared > held:
            raise CheckpointError(f"fastnn.load: the architecture in {path!r} declares {declared} "
                                  f"parameter values but the file holds {held}")
        model = architecture.build(desc)
    except architecture.ArchitectureError as exc:
        raise CheckpointError(f"fastnn.load: {path!r}: {exc}") from None
    if isinstance(model, layers.Sequential):
        model = Model(model)
    elif not isinstance(model, Model):
        raise CheckpointError(f"fastnn.load: {path!r} holds a single {type(model).__name__}, "
                              "not a Model or Sequential")
    _fill(path, weights, model_arrays(model), "fastnn.load")
    p_meta = info.get("preprocessor")
    if p_meta is not None:
        from fastnn.data.preprocess import PREPROCESSORS
        kind = p_meta.get("preprocessor") if isinstance(p_meta, dict) else None
        if kind not in PREPROCESSORS:
            raise CheckpointError(f"fastnn.load: {path!r} names an unknown preprocessor {kind!r}")
        try:
            model.preprocessor = PREPROCESSORS[kind].from_state(pre_arrays, p_meta)
        except ValueError as exc:
            raise CheckpointError(f"fastnn.load: the preprocessor in {path!r}: {exc}") from None
    model.eval()
    return model, meta


def remove_stale_temp_files(directory, names=None, older_than=None):
    """Delete the temporary files that :func:`save_params` left in ``directory`` when its process
    was killed mid-write (SIGKILL, power loss): ``.<target>.npz.XXXXXXXX.tmp``.

    Only regular files of exactly that pattern are touched, and only those last modified before
    ``older_than``, so a save in progress in this process is never removed.

    Parameters
    ----------
    directory : str or os.PathLike
    names : iterable of str, optional
        Only the temporary files of these targets (e.g. ``["interrupted.npz"]``); default: any.
    older_than : float, optional
        A ``time.time()`` stamp; default: when this process imported :mod:`fastnn.checkpoint`.

    Returns
    -------
    list of str
        The paths removed.
    """
    directory = os.fspath(directory)
    cutoff = _IMPORTED_AT if older_than is None else float(older_than)
    wanted = None if names is None else {_npz_path(os.path.basename(os.fspath(n))) for n in names}
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP_PATTERN.fullmatch(entry.name)
        if m is None or (wanted is not None and m.group("target") not in wanted):
            continue
        try:
            if not entry.is_file(follow_symlinks=False) or entry.stat(
                    follow_symlinks=False).st_mtime >= cutoff:
                continue
            os.remove(entry.path)
        except OSError:
            continue
        removed.append(entry.path)
    return removed
