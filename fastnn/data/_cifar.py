"""CIFAR-10 from its local "python version" folder, through a restricted unpickler.

The batches are pickles; unpickling runs code, so they are never read with
``pickle.load``.  An opcode pre-pass refuses counts the file's bytes cannot
justify, then an unpickler that resolves only the globals rebuilding numpy
arrays (each mapped to a small stand-in that checks its arguments) builds the
batch dicts.  See :func:`load_cifar10`.
"""
import io
import math
import os
import pickle
import pickletools

import numpy as np

from fastnn._files import NotRegularFileError, open_regular
from fastnn.data._common import (DatasetError, _check_dtype, _check_folder, _check_val_size,
                                 _images_to_float, _splits)

__all__ = ["CIFAR10_CLASSES", "load_cifar10"]

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck"]

_CIFAR_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
_CIFAR_TEST = "test_batch"
_CIFAR_META = "batches.meta"
_CIFAR_ROW = 3 * 32 * 32


def _latin1_encode(text, encoding):
    """What ``_codecs.encode`` does in a protocol-2 pickle written by Python 3: str -> bytes,
    latin-1 only (no other codec is ever looked up)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode only accepted as (str, 'latin1'), got "
                                     f"({type(text).__name__}, {encoding!r})")
    return text.encode("latin-1")


class _PickledArrayType(np.ndarray):
    """Stands for ``numpy.ndarray`` in a batch: numpy's pickles only pass the class to
    ``_reconstruct``; calling it directly (an allocation of any size that the file does not
    back with data) is refused."""

    def __new__(cls, *args, **kwargs):
        raise pickle.UnpicklingError("numpy.ndarray called directly; only numpy's own array "
                                     "reconstruction is accepted")


_MAX_NDIM = 32


class _ArrayBeingRead(np.ndarray):
    """The empty array ``_reconstruct`` returns while a batch is read.  numpy's pickles then
    call ``__setstate__((version, shape, dtype, is_fortran, data))``, and numpy allocates an
    object array of the declared shape BEFORE it looks at the data, so a few bytes could ask
    for terabytes.  The declaration is checked first: numbers only (no object dtype), and no
    more bytes than the file holds.  ``_source`` is ``(filename, file size in bytes)``, set by
    the unpickler; :func:`_plain` turns the result back into a plain ndarray."""

    def __setstate__(self, state):
        filename, size = self._source
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise pickle.UnpicklingError("an ndarray's state must be (version, shape, dtype, "
                                         "is_fortran, data)")
        shape, dtype = state[-4], state[-3]
        if not isinstance(dtype, np.dtype):
            raise pickle.UnpicklingError(f"an ndarray's dtype must be a numpy.dtype, got "
                                         f"{type(dtype).__name__}")
        if dtype.hasobject:
            raise DatasetError(f"load_cifar10: {filename!r} holds an array of Python objects "
                               "(object dtype), which a CIFAR-10 batch never needs; refused")
        if not (isinstance(shape, tuple) and len(shape) <= _MAX_NDIM and all(
                type(d) is int and d >= 0 for d in shape)):
            raise pickle.UnpicklingError(f"an ndarray's shape must be a tuple of at most "
                                         f"{_MAX_NDIM} sizes")
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > size:
            raise DatasetError(f"load_cifar10: {filename!r} declares an array of shape {shape} "
                               f"and dtype {str(dtype)[:40]} ({nbytes} bytes), more than the "
                               f"whole file ({size} bytes); refused before allocating it")
        super().__setstate__(state)


def _plain(v):
    """An array read from a batch as a plain ndarray (anything else unchanged)."""
    return v.view(np.ndarray) if isinstance(v, np.ndarray) else v


def _numpy_reconstruct(subtype, shape, dtype):
    """``numpy._core.multiarray._reconstruct`` as numpy's pickles call it: an empty array that
    ``__setstate__`` then fills from bytes of the file (checked by :class:`_ArrayBeingRead`,
    so its size is bounded by the file)."""
    from numpy._core import multiarray
    if subtype is not _PickledArrayType or shape != (0,):
        raise pickle.UnpicklingError("_reconstruct is only accepted as (numpy.ndarray, (0,), "
                                     "typecode), as numpy writes it")
    return multiarray._reconstruct(_ArrayBeingRead, (0,), dtype)


def _numpy_frombuffer(buf, dtype, shape, order, axis_order=None):
    """What ``numpy._core.numeric._frombuffer`` does in a protocol-5 pickle: a copy of the bytes
    (read from the file) viewed as ``dtype`` with ``shape`` (no object dtypes)."""
    if not isinstance(buf, (bytes, bytearray, memoryview, pickle.PickleBuffer)):
        raise pickle.UnpicklingError(f"_frombuffer needs a buffer, got {type(buf).__name__}")
    dtype = np.dtype(dtype)
    if dtype.hasobject:
        raise pickle.UnpicklingError("object arrays are not accepted")
    a = np.frombuffer(bytes(buf), dtype=dtype)
    if order == "K" and axis_order is not None:
        return a.reshape(shape, order="C").transpose(axis_order)
    return a.reshape(shape, order=order)


# what the restricted unpickler resolves each allowed global to: numpy.dtype itself, and
# fastnn's own stand-ins (no other code) for the rest
_ALLOWED_GLOBALS = {("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
                    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
                    ("numpy", "ndarray"): _PickledArrayType,
                    ("numpy", "dtype"): np.dtype,
                    # bytes written by Python 3 at protocol 2; numpy arrays at protocol 5
                    ("_codecs", "encode"): _latin1_encode,
                    ("numpy._core.numeric", "_frombuffer"): _numpy_frombuffer,
                    ("numpy.core.numeric", "_frombuffer"): _numpy_frombuffer}


class _BatchUnpickler(pickle.Unpickler):
    """A pickle reader that can only rebuild numpy arrays and plain containers."""

    def __init__(self, file, filename, size):
        super().__init__(file, encoding="bytes")
        self._filename, self._size = filename, size

    def _reconstruct(self, subtype, shape, dtype):
        array = _numpy_reconstruct(subtype, shape, dtype)
        array._source = (self._filename, self._size)
        return array

    def find_class(self, module, name):
        try:
            found = _ALLOWED_GLOBALS[(module, name)]
            return self._reconstruct if found is _numpy_reconstruct else found
        except (KeyError, TypeError):
            shown = f"{module}.{name}"
            shown = shown if len(shown) <= 80 and shown.isprintable() else repr(shown[:80])
            raise DatasetError(f"load_cifar10: {self._filename!r} refers to the global "
                               f"{shown}, which a CIFAR-10 batch never needs; refused "
                               "(only numpy array reconstruction is allowed)") from None

    def persistent_load(self, pid):
        raise DatasetError(f"load_cifar10: {self._filename!r} uses a persistent id; refused")


_MEMO_PUTS = frozenset(("PUT", "BINPUT", "LONG_BINPUT"))
_MEMO_GETS = frozenset(("GET", "BINGET", "LONG_BINGET"))


def _check_opcodes(raw, filename):
    """Walk the pickle's opcodes without building anything; refuse any count the file's own
    bytes cannot justify, before the real unpickler sees it.

    * Counted arguments (BINBYTES8, BINUNICODE8, ...): pickle's C reader allocates them at
      their declared length before reading; ``pickletools`` reads each argument from the bytes
      really present, so a length beyond the file fails here, allocation-free.
    * Memo indices: the C reader grows its memo table to the index a PUT names, so a 9-byte
      file naming index 2**28 costs gigabytes.  A memo index is accepted only if it is smaller
      than the number of opcodes before it (each stored entry took one opcode; pickle writers
      number them 0, 1, 2, ...); a GET must name an index stored before it.
    * FRAME lengths may not exceed the bytes left in the file.
    """
    def refuse(what):
        raise DatasetError(f"load_cifar10: {filename!r} is not a readable CIFAR-10 batch "
                           f"(corrupt pickle, refused before unpickling: {what})")

    stored, n_memo, n_ops = set(), 0, 0
    try:
        for op, arg, pos in pickletools.genops(io.BytesIO(raw)):
            name = op.name
            if name in _MEMO_PUTS:
                if not isinstance(arg, int) or arg < 0 or arg >= n_ops:
                    refuse(f"{name} at byte {pos} stores memo index {arg}, but only {n_ops} "
                           f"opcode(s) come before it, so at most {n_ops} entries can exist")
                stored.add(arg)
            elif name == "MEMOIZE":
                stored.add(n_memo)
                n_memo += 1
            elif name in _MEMO_GETS:
                if arg not in stored:
                    refuse(f"{name} at byte {pos} reads memo index {arg}, which nothing "
                           "stored before it")
            elif name == "FRAME":
                if not isinstance(arg, int) or arg > len(raw) - pos:
                    refuse(f"FRAME at byte {pos} declares {arg} bytes, more than the "
                           f"{len(raw) - pos} left in the file")
            if name in _MEMO_PUTS:
                n_memo = len(stored)
            n_ops += 1
    except DatasetError:
        raise
    except Exception as exc:
        refuse(exc)


def _unpickle(filename):
    try:
        with open_regular(filename, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DatasetError(f"load_cifar10: missing file {filename!r}") from None
    except NotRegularFileError as exc:
        raise DatasetError(f"load_cifar10: {exc}") from None
    except OSError as exc:
        raise DatasetError(f"load_cifar10: cannot read {filename!r}: {exc}") from None
    _check_opcodes(raw, filename)
    try:
        return _BatchUnpickler(io.BytesIO(raw), filename, len(raw)).load()
    except DatasetError:
        raise
    except Exception as exc:   # any failure inside a corrupt pickle is a corrupt file
        raise DatasetError(f"load_cifar10: {filename!r} is not a readable CIFAR-10 batch "
                           f"(corrupt pickle: {type(exc).__name__}: {exc})") from None


def _get(d, key):
    """d[b"key"] or d["key"] (batches pickled by Python 2 have bytes keys); None when absent."""
    for k, v in d.items():
        if type(k) in (bytes, str) and k in (key, key.encode()):
            return v
    return None


def _int_array(v, filename, key):
    if isinstance(v, np.ndarray):
        a = v
    elif isinstance(v, (list, tuple)):
        if not all(isinstance(e, (int, np.integer)) and not isinstance(e, bool) for e in v):
            raise DatasetError(f"load_cifar10: {key!r} in {filename!r} must hold integers only")
        try:
            a = np.array(v, dtype=np.int64)
        except OverflowError:
            raise DatasetError(f"load_cifar10: {key!r} in {filename!r} holds integers out of "
                               "range") from None
    else:
        raise DatasetError(f"load_cifar10: {key!r} in {filename!r} must be an array or a list, "
                           f"got {type(v).__name__}")
    if a.dtype.kind not in "iu":
        raise DatasetError(f"load_cifar10: {key!r} in {filename!r} must be integers, got dtype "
                           f"{a.dtype}")
    return a


def _read_cifar_batch(filename):
    """One batch file -> (data (N, 3072) uint8, labels (N,) int64)."""
    d = _unpickle(filename)
    if not isinstance(d, dict):
        raise DatasetError(f"load_cifar10: {filename!r} holds a {type(d).__name__}, not a "
                           "CIFAR-10 batch dict")
    data, labels = _plain(_get(d, "data")), _plain(_get(d, "labels"))
    if data is None or labels is None:
        raise DatasetError(f"load_cifar10: {filename!r} has no 'data' and 'labels' entries "
                           "(not a CIFAR-10 batch; CIFAR-100 uses 'fine_labels')")
    if isinstance(data, (bytes, bytearray)):
        if len(data) % _CIFAR_ROW:
            raise DatasetError(f"load_cifar10: 'data' in {filename!r} holds {len(data)} bytes, "
                               f"not a multiple of {_CIFAR_ROW} (one 3x32x32 image)")
        data = np.frombuffer(bytes(data), np.uint8).reshape(-1, _CIFAR_ROW)
    elif isinstance(data, (list, tuple)):
        try:
            data = np.array(data)
        except (ValueError, TypeError, OverflowError) as exc:
            raise DatasetError(f"load_cifar10: 'data' in {filename!r} is not a rectangular "
                               f"array: {exc}") from None
        if data.dtype.kind not in "iu" or data.size and (data.min() < 0 or data.max() > 255):
            raise DatasetError(f"load_cifar10: 'data' in {filename!r} must hold integers in "
                               "0..255")
        data = data.astype(np.uint8)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
        what = (f"dtype {data.dtype}" if isinstance(data, np.ndarray)
                else type(data).__name__)
        raise DatasetError(f"load_cifar10: 'data' in {filename!r} must be a uint8 array, got "
                           f"{what}")
    if data.ndim != 2 or data.shape[1] != _CIFAR_ROW:
        raise DatasetError(f"load_cifar10: 'data' in {filename!r} has shape {data.shape}, "
                           f"expected (N, {_CIFAR_ROW})")
    labels = _int_array(labels, filename, "labels")
    if labels.ndim != 1 or len(labels) != len(data):
        raise DatasetError(f"load_cifar10: 'labels' in {filename!r} has shape {labels.shape}, "
                           f"expected ({len(data)},) (one per image)")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DatasetError(f"load_cifar10: 'labels' in {filename!r} must be in 0..9, found "
                           f"{labels.min()}..{labels.max()}")
    return data, labels.astype(np.int64)


def _read_cifar_meta(filename):
    d = _unpickle(filename)
    names = _get(d, "label_names") if isinstance(d, dict) else None
    if not isinstance(names, (list, tuple)) or len(names) != 10:
        raise DatasetError(f"load_cifar10: {filename!r} has no list of 10 'label_names'")
    classes = []
    for n in names:
        if isinstance(n, bytes):
            try:
                n = n.decode("utf-8")
            except UnicodeDecodeError:
                raise DatasetError(f"load_cifar10: a label name in {filename!r} is not "
                                   "UTF-8") from None
        if not isinstance(n, str):
            raise DatasetError(f"load_cifar10: label names in {filename!r} must be strings")
        classes.append(n)
    return classes


def load_cifar10(path, val_size=1000, dtype=np.float32, scale=True):
    """Load CIFAR-10 from its local "python version" folder (``cifar-10-batches-py``).

    The folder holds ``data_batch_1`` .. ``data_batch_5`` (50000 training
    images), ``test_batch`` (10000) and, optionally, ``batches.meta`` (the
    class names).  Nothing is downloaded.

    The batches are pickles, and unpickling runs code, so they are **never**
    read with ``pickle.load``: a restricted unpickler (``encoding="bytes"``)
    resolves only the globals that rebuild numpy arrays --
    ``numpy._core.multiarray._reconstruct`` (also spelled
    ``numpy.core.multiarray._reconstruct``, as in the distributed files),
    ``numpy.ndarray`` and ``numpy.dtype`` -- and, for batches re-pickled by
    Python 3, ``_codecs.encode`` (protocol 2 bytes; latin-1 only) and
    ``numpy._core.numeric._frombuffer`` (protocol 5 arrays).  Every one of
    them except ``numpy.dtype`` maps to a small stand-in of fastnn's that
    only accepts the arguments numpy and Python write, so an array can only
    be as large as the bytes the file holds (``numpy.ndarray`` cannot be
    called directly): the shape and dtype an array declares are checked
    before numpy allocates it (object dtypes are refused, and the declared
    byte count may not exceed the file's size).  Any other global (``os.system``, ``builtins.eval``,
    any class, even numpy scalars) and persistent ids are refused with
    :class:`DatasetError` naming the file and the global, before anything is
    called.  Dicts, lists, tuples, bytes, str and numbers need no global.
    ``data`` may also be stored as raw ``bytes`` or a list of ints in 0..255.

    Parameters
    ----------
    path : str or os.PathLike
        The folder (the extracted ``cifar-10-python.tar.gz``).
    val_size : int, default 1000
        Validation images, taken from the **end** of the training batches
        (the last ``val_size`` images of ``data_batch_5``); the rest is train.
    dtype : float32 or float64
    scale : bool, default True
        Divide the pixels by 255 (values in [0, 1]); else keep 0..255.

    Returns
    -------
    dict
        ``X_train, y_train, X_val, y_val, X_test, y_test`` (X float
        ``dtype``, y int64 in 0..9), ``classes`` (from ``batches.meta`` when
        present, else :data:`CIFAR10_CLASSES`) and ``name`` (``"cifar10"``).

    Raises
    ------
    DatasetError
        Missing folder or file; a file that is not a regular file (a FIFO or
        device, which could block or never end); a corrupt, truncated or
        unsafe pickle (an array declaring more bytes than the file holds, or
        of object dtype; a memo index, memo reference or frame length that
        the file's opcodes cannot justify, refused by an opcode pre-pass
        before the unpickler could grow its memo table to match); a batch
        that is not a dict with ``data`` (N, 3072) uint8 and ``labels`` (N,)
        integers in 0..9; ``val_size`` not leaving any training image.

    Shape
    -----
    X: (N, 3, 32, 32), channels R, G, B, rows top to bottom (the file's
    3072-byte rows are 1024 red, 1024 green, 1024 blue values, row-major).
    """
    fn = "load_cifar10"
    dtype = _check_dtype(dtype, fn)
    val_size = _check_val_size(val_size, fn)
    path = _check_folder(path, fn, "CIFAR-10 python-version")
    batches = [_read_cifar_batch(os.path.join(path, name)) for name in _CIFAR_TRAIN]
    test_data, y_test = _read_cifar_batch(os.path.join(path, _CIFAR_TEST))
    meta = os.path.join(path, _CIFAR_META)
    classes = _read_cifar_meta(meta) if os.path.exists(meta) else list(CIFAR10_CLASSES)
    data = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    X = _images_to_float(data, dtype, scale).reshape(-1, 3, 32, 32)
    X_test = _images_to_float(test_data, dtype, scale).reshape(-1, 3, 32, 32)
    return _splits(X, y, X_test, y_test, val_size, fn, repr(path), classes, "cifar10")
