"""Checkpoints: parameters (and metadata) in ``.npz`` files that never execute code on load.

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
  ``params`` dict (the CS231n models, fastnn's layers and models).
* :func:`remove_stale_temp_files` deletes the temporary files a killed process
  left behind (``.<name>.XXXXXXXX.tmp``, the pattern :func:`save_params` uses).

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
           "remove_stale_temp_files"]

META_KEY = "__meta__"

# when this module was imported: a temporary file older than this was not written by this process
_IMPORTED_AT = time.time()
# tempfile.mkstemp's random part: 8 characters of [a-z0-9_]
_TEMP_PATTERN = re.compile(r"\.(?P<target>.+\.npz)\.[a-z0-9_]{8}\.tmp")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be loaded: unreadable, unsafe, or not matching."""


def _npz_path(path):
    path = os.fspath(path)
    return path if path.endswith(".npz") else path + ".npz"


def save_params(path, params, meta=None):
    """Write ``params`` (name -> array) and ``meta`` to ``path`` atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Target file; ``.npz`` is appended when missing (as ``np.savez`` does).
    params : dict of str -> array_like
        Numeric arrays (any shape, bool/int/float/complex dtypes).
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
    if meta is not None:
        if not isinstance(meta, dict):
            raise TypeError(f"save_params: meta must be a dict, got {type(meta).__name__}")
        try:
            text = json.dumps(meta, allow_nan=True)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"save_params: meta must be JSON-serialisable: {exc}") from None
        arrays[META_KEY] = np.array(text)
    path = _npz_path(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = mkstemp_like_open(directory, "." + os.path.basename(path) + ".", ".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
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


def _read_checkpoint(path):
    """(arrays, meta) of a checkpoint file; any defect is a CheckpointError naming the file."""
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
    if not isinstance(into, dict):
        raise TypeError(f"load_params: into must be a dict of name -> array, "
                        f"got {type(into).__name__}")
    missing = sorted(set(into) - set(arrays), key=str)
    extra = sorted(set(arrays) - set(into), key=str)
    if missing or extra:
        raise CheckpointError(f"load_params: {path!r} does not match the parameters: "
                              f"missing {missing}, unexpected {extra}")
    for name, dst in into.items():
        src = arrays[name]
        if not isinstance(dst, np.ndarray):
            raise TypeError(f"load_params: into[{name!r}] must be a numpy array, "
                            f"got {type(dst).__name__}")
        if src.shape != dst.shape:
            raise CheckpointError(f"load_params: {name!r} has shape {src.shape} in {path!r}, "
                                  f"expected {dst.shape}")
        if src.dtype != dst.dtype:
            raise CheckpointError(f"load_params: {name!r} has dtype {src.dtype} in {path!r}, "
                                  f"expected {dst.dtype}")
    for name, dst in into.items():      # copy only once everything matched
        dst[...] = arrays[name]
    return into, meta


_BUFFER_PREFIX = "buffers/"


def _model_arrays(model, fn):
    """``model.params`` plus ``model.buffers`` (batch norm's running statistics, if any) as one
    dict of the model's own arrays; buffers are stored under ``"buffers/<name>"``."""
    params = getattr(model, "params", None)
    if not isinstance(params, dict):
        raise TypeError(f"{fn}: model must have a params dict, got {type(model).__name__}")
    arrays = dict(params)
    arrays.update((_BUFFER_PREFIX + k, v) for k, v in (getattr(model, "buffers", None) or {}).items())
    return arrays


def save_model(path, model, meta=None):
    """:func:`save_params` of ``model.params`` and ``model.buffers`` (when the model has them)."""
    return save_params(path, _model_arrays(model, "save_model"), meta)


def load_model(path, model):
    """:func:`load_params` into ``model.params`` and ``model.buffers`` (in place); returns the
    meta dict."""
    return load_params(path, into=_model_arrays(model, "load_model"))[1]


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
