"""MNIST (and drop-ins such as Fashion-MNIST) from local IDX files, raw or gzipped.

Each header (magic number, then big-endian uint32 sizes) is parsed and the
data size checked exactly against it; nothing is unpickled.  See
:func:`load_mnist`.
"""
import gzip
import os
import zlib

import numpy as np

from fastnn._files import NotRegularFileError, open_regular, read_chunked
from fastnn.data._common import (DatasetError, _check_dtype, _check_folder, _check_val_size,
                                 _images_to_float, _splits)

__all__ = ["load_mnist"]

_IDX_IMAGES = 0x00000803    # unsigned byte, 3 dimensions (N, rows, cols)
_IDX_LABELS = 0x00000801    # unsigned byte, 1 dimension (N,)


def _idx_candidates(folder, stem, kind):
    """The accepted spellings of one MNIST file: ``stem-kind`` and ``stem.kind``, raw or .gz."""
    names = [f"{stem}-{kind}", f"{stem}.{kind}"]
    return [os.path.join(folder, n + gz) for n in names for gz in ("", ".gz")]


def _read_exact(f, n, filename):
    """Read n bytes as a uint8 array, in chunks (so a lying header cannot make us allocate more
    than the file holds; peak about n plus one chunk), then check that nothing follows."""
    body = read_chunked(f, n)
    if len(body) < n:
        raise DatasetError(f"load_mnist: {filename!r} is truncated: its header announces {n} "
                           f"bytes of data, the file holds {len(body)}")
    if f.read(1):
        raise DatasetError(f"load_mnist: {filename!r} has bytes after the {n} its header "
                           "announces (corrupt or not this file)")
    return body


def _read_idx(filename, magic, ndim):
    """One IDX file -> uint8 array of ``ndim`` dimensions, header and size checked exactly."""
    try:
        with open_regular(filename, "rb") as raw, (
                gzip.GzipFile(fileobj=raw, mode="rb") if filename.endswith(".gz")
                else raw) as f:
            header = f.read(4 + 4 * ndim)
            if len(header) < 4 + 4 * ndim:
                raise DatasetError(f"load_mnist: {filename!r} is truncated: {len(header)} bytes, "
                                   f"shorter than the {4 + 4 * ndim}-byte IDX header")
            found = int.from_bytes(header[:4], "big")
            if found != magic:
                raise DatasetError(f"load_mnist: {filename!r} has magic number 0x{found:08x}, "
                                   f"expected 0x{magic:08x} (IDX unsigned bytes, {ndim} "
                                   "dimension(s))")
            dims = tuple(int(d) for d in np.frombuffer(header[4:], ">u4"))
            body = _read_exact(f, int(np.prod(dims, dtype=object)), filename)
    except DatasetError:
        raise
    except FileNotFoundError:
        raise DatasetError(f"load_mnist: missing file {filename!r}") from None
    except NotRegularFileError as exc:
        raise DatasetError(f"load_mnist: {exc}") from None
    except (OSError, EOFError, zlib.error) as exc:   # gzip.BadGzipFile is an OSError
        raise DatasetError(f"load_mnist: cannot read {filename!r} (bad gzip or unreadable): "
                           f"{exc}") from None
    return body.reshape(dims)


def _find_idx(folder, stem, kind):
    candidates = _idx_candidates(folder, stem, kind)
    for c in candidates:
        if os.path.exists(c):       # a FIFO or device is refused when it is opened
            return c
    raise DatasetError(f"load_mnist: missing file {candidates[0]!r} (also looked for "
                       f"{', '.join(os.path.basename(c) for c in candidates[1:])})")


def _read_mnist_split(folder, stem):
    images_file = _find_idx(folder, stem + "-images", "idx3-ubyte")
    labels_file = _find_idx(folder, stem + "-labels", "idx1-ubyte")
    images = _read_idx(images_file, _IDX_IMAGES, 3)
    labels = _read_idx(labels_file, _IDX_LABELS, 1)
    if len(images) != len(labels):
        raise DatasetError(f"load_mnist: {images_file!r} holds {len(images)} images but "
                           f"{labels_file!r} holds {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise DatasetError(f"load_mnist: {labels_file!r} has label {labels.max()}, expected "
                           "digits 0..9")
    return images, labels.astype(np.int64), images_file


def load_mnist(path, val_size=5000, dtype=np.float32, scale=True):
    """Load MNIST (or a drop-in such as Fashion-MNIST) from its local IDX files.

    The folder holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each raw or
    gzipped (``.gz``); the ``train-images.idx3-ubyte`` spelling is accepted
    too.  Nothing is downloaded and nothing is unpickled: each header (magic
    ``0x00000803`` for images, ``0x00000801`` for labels, then big-endian
    uint32 sizes) is parsed and the data size checked exactly against it.

    Parameters
    ----------
    path : str or os.PathLike
        The folder.
    val_size : int, default 5000
        Validation images, taken from the **end** of the training file.
    dtype : float32 or float64
    scale : bool, default True
        Divide the pixels by 255 (values in [0, 1]); else keep 0..255.

    Returns
    -------
    dict
        ``X_train, y_train, X_val, y_val, X_test, y_test`` (X float ``dtype``,
        y int64 in 0..9), ``classes`` (``"0"`` .. ``"9"``) and ``name``
        (``"mnist"``).

    Raises
    ------
    DatasetError
        Missing folder or file; a file that is not a regular file (FIFO,
        device); wrong magic number; a file shorter or longer
        than its header announces; bad gzip data; image and label counts that
        differ; train and test images of different sizes; labels above 9;
        ``val_size`` not leaving any training image.

    Shape
    -----
    X: (N, 1, H, W), (N, 1, 28, 28) for MNIST (H, W are read from the files).
    """
    fn = "load_mnist"
    dtype = _check_dtype(dtype, fn)
    val_size = _check_val_size(val_size, fn)
    path = _check_folder(path, fn, "MNIST IDX")
    train, y, train_file = _read_mnist_split(path, "train")
    test, y_test, test_file = _read_mnist_split(path, "t10k")
    if train.shape[1:] != test.shape[1:]:
        raise DatasetError(f"load_mnist: {train_file!r} holds {train.shape[1]}x{train.shape[2]} "
                           f"images but {test_file!r} holds {test.shape[1]}x{test.shape[2]}")
    X = _images_to_float(train, dtype, scale)[:, None]
    X_test = _images_to_float(test, dtype, scale)[:, None]
    return _splits(X, y, X_test, y_test, val_size, fn, repr(train_file),
                   [str(c) for c in range(10)], "mnist")
