"""Dataset loaders: CIFAR-10 (restricted unpickler), MNIST (IDX), the built-in digits."""
import gzip
import os
import pickle
import re

import numpy as np
import pytest

from fastnn.data import DatasetError, load_builtin, load_cifar10, load_mnist
from fastnn.data.datasets import CIFAR10_CLASSES

from helpers import py2_batch


# ------------------------------------------------------------------ fixtures: tiny files

def cifar_batch(rng, n):
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, size=n)]
    return {b"batch_label": b"testing batch", b"labels": labels, b"data": data,
            b"filenames": [b"img%d.png" % i for i in range(n)]}


def write_cifar(folder, rng, n=4, protocol=2, meta=True):
    """A CIFAR-10 python-version folder with 5 training batches of n images and a test batch."""
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batches[name] = cifar_batch(rng, n)
        with open(folder / name, "wb") as f:
            pickle.dump(batches[name], f, protocol=protocol)
    if meta:
        with open(folder / "batches.meta", "wb") as f:
            pickle.dump({b"label_names": [c.encode() for c in "abcdefghij"],
                         b"num_vis": 3072, b"num_cases_per_batch": n}, f, protocol=protocol)
    return batches


def idx_bytes(array, magic=None):
    array = np.asarray(array, dtype=np.uint8)
    if magic is None:
        magic = 0x0800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def write_mnist(folder, rng, n_train=12, n_test=5, gz=False, names=MNIST_FILES):
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"train_x": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "train_y": rng.integers(0, 10, n_train, dtype=np.uint8),
              "test_x": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              "test_y": rng.integers(0, 10, n_test, dtype=np.uint8)}
    for name, key in zip(names, ("train_x", "train_y", "test_x", "test_y")):
        raw = idx_bytes(arrays[key])
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return arrays


# ------------------------------------------------------------------ CIFAR-10

@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_values_and_split(tmp_path, rng, dtype, protocol):
    batches = write_cifar(tmp_path, rng, n=4, protocol=protocol)
    d = load_cifar10(tmp_path, val_size=3, dtype=dtype)
    data = np.concatenate([batches[f"data_batch_{i}"][b"data"] for i in range(1, 6)])
    labels = np.concatenate([batches[f"data_batch_{i}"][b"labels"] for i in range(1, 6)])
    assert d["X_train"].shape == (17, 3, 32, 32) and d["X_val"].shape == (3, 3, 32, 32)
    assert d["X_test"].shape == (4, 3, 32, 32)
    for k in ("X_train", "X_val", "X_test"):
        assert d[k].dtype == dtype
    for k in ("y_train", "y_val", "y_test"):
        assert d[k].dtype == np.int64
    # the val split is the end of the training batches, in file order
    np.testing.assert_array_equal(d["y_train"], labels[:17])
    np.testing.assert_array_equal(d["y_val"], labels[17:])
    np.testing.assert_array_equal(d["y_test"], batches["test_batch"][b"labels"])
    expected = (data.astype(dtype) / dtype(255)).reshape(-1, 3, 32, 32)
    np.testing.assert_array_equal(d["X_train"], expected[:17])
    np.testing.assert_array_equal(d["X_val"], expected[17:])
    # channel layout: the first 1024 bytes of a row are the red plane, row-major
    np.testing.assert_array_equal(d["X_train"][1, 0, 0, :] * 255, data[1, :32].astype(dtype))
    np.testing.assert_array_equal(d["X_train"][1, 2, 31, 31] * 255, dtype(data[1, 3071]))
    assert 0.0 <= d["X_train"].min() and d["X_train"].max() <= 1.0
    assert d["classes"] == list("abcdefghij") and d["name"] == "cifar10"


def test_cifar10_python2_pickles(tmp_path, rng):
    """The files as distributed: written by Python 2, numpy.core spelling, str as bytes."""
    write_cifar(tmp_path, rng, n=2)
    data = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
    (tmp_path / "test_batch").write_bytes(py2_batch(data, [1, 2, 9]))
    d = load_cifar10(tmp_path, val_size=0, scale=False)
    np.testing.assert_array_equal(d["X_test"].reshape(3, -1), data)
    np.testing.assert_array_equal(d["y_test"], [1, 2, 9])
    # the same stream with another global in place of numpy's is refused
    evil = py2_batch(data, [1, 2, 9]).replace(b"cnumpy\nndarray\n", b"cposix\nsystem\n")
    (tmp_path / "test_batch").write_bytes(evil)
    with pytest.raises(DatasetError, match=r"test_batch.*posix\.system.*refused"):
        load_cifar10(tmp_path, val_size=0)


def test_cifar10_unscaled_and_standard_classes(tmp_path, rng):
    batches = write_cifar(tmp_path, rng, n=2, meta=False)
    d = load_cifar10(tmp_path, val_size=0, scale=False)
    assert d["classes"] == CIFAR10_CLASSES and len(CIFAR10_CLASSES) == 10
    assert d["X_val"].shape == (0, 3, 32, 32) and d["X_train"].shape == (10, 3, 32, 32)
    np.testing.assert_array_equal(d["X_test"].reshape(2, -1),
                                  batches["test_batch"][b"data"].astype(np.float32))


def test_cifar10_data_as_bytes_or_list_and_str_keys(tmp_path, rng):
    batches = write_cifar(tmp_path, rng, n=2)
    b1 = batches["data_batch_1"]
    with open(tmp_path / "data_batch_1", "wb") as f:
        pickle.dump({b"data": b1[b"data"].tobytes(), b"labels": b1[b"labels"]}, f)
    b2 = batches["data_batch_2"]
    with open(tmp_path / "data_batch_2", "wb") as f:
        pickle.dump({"data": b2[b"data"].tolist(), "labels": np.array(b2[b"labels"])}, f)
    d = load_cifar10(tmp_path, val_size=0, scale=False)
    np.testing.assert_array_equal(d["X_train"][:2].reshape(2, -1), b1[b"data"])
    np.testing.assert_array_equal(d["X_train"][2:4].reshape(2, -1), b2[b"data"])
    np.testing.assert_array_equal(d["y_train"][2:4], b2[b"labels"])


class Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.target}",))


class BigArray:
    def __reduce__(self):
        return (np.ndarray, ((10**6, 3072), "u1"))


class EvalEvil:
    def __reduce__(self):
        return (eval, ("1 + 1",))


def test_cifar10_malicious_pickle_refused(tmp_path, rng):
    write_cifar(tmp_path, rng, n=2)
    target = tmp_path / "pwned.txt"
    with open(tmp_path / "data_batch_3", "wb") as f:
        pickle.dump({b"data": Evil(target), b"labels": [0]}, f, protocol=2)
    with pytest.raises(DatasetError, match=r"data_batch_3.*(posix|os|nt)\.system.*refused"):
        load_cifar10(tmp_path, val_size=0)
    assert not target.exists()
    # the same at protocol 4 (STACK_GLOBAL), with builtins.eval, and in batches.meta
    with open(tmp_path / "data_batch_3", "wb") as f:
        pickle.dump({b"data": EvalEvil(), b"labels": [0]}, f, protocol=4)
    with pytest.raises(DatasetError, match=r"data_batch_3.*builtins\.eval"):
        load_cifar10(tmp_path, val_size=0)
    write_cifar(tmp_path, rng, n=2)
    with open(tmp_path / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": Evil(target)}, f)
    with pytest.raises(DatasetError, match=r"batches\.meta.*system"):
        load_cifar10(tmp_path, val_size=0)
    assert not target.exists()


def test_cifar10_refuses_other_globals(tmp_path, rng):
    """Even harmless-looking classes (an OrderedDict, a numpy scalar) are not on the list."""
    from collections import OrderedDict
    write_cifar(tmp_path, rng, n=2)
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump(OrderedDict(data=np.zeros((1, 3072), np.uint8), labels=[0]), f)
    with pytest.raises(DatasetError, match=r"test_batch.*collections\.OrderedDict"):
        load_cifar10(tmp_path, val_size=0)
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((1, 3072), np.uint8), b"labels": [np.int64(0)]}, f)
    with pytest.raises(DatasetError, match=r"test_batch.*numpy.*scalar"):
        load_cifar10(tmp_path, val_size=0)
    # numpy.ndarray only as numpy's pickles use it: a direct call (a large allocation the file
    # does not hold) is refused
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": BigArray(), b"labels": [0]}, f, protocol=2)
    with pytest.raises(DatasetError, match=r"test_batch.*numpy\.ndarray called directly"):
        load_cifar10(tmp_path, val_size=0)
    # _codecs.encode is only accepted with latin-1 (no other codec is ever looked up)
    raw = pickle.dumps({b"data": b"x", b"labels": []}, protocol=2).replace(b"latin1", b"cp1252")
    (tmp_path / "test_batch").write_bytes(raw)
    with pytest.raises(DatasetError, match=r"test_batch.*latin1"):
        load_cifar10(tmp_path, val_size=0)


class DeclaredArray:
    """Pickles as numpy's own array reconstruction (``_reconstruct`` then ``__setstate__``),
    but with the shape, dtype and data given here: a crafted declaration."""

    def __init__(self, shape, dtype, data):
        self.state = (1, shape, np.dtype(dtype), False, data)

    def __reduce__(self):
        from numpy._core.multiarray import _reconstruct
        return (_reconstruct, (np.ndarray, (0,), b"b"), self.state)


@pytest.mark.parametrize("protocol", [2, 4])
@pytest.mark.parametrize("array, message", [
    # numpy would allocate this object array (8 TB) before reading the one element
    (DeclaredArray((10**6, 10**6), object, [0]), "object dtype"),
    # 160 MB that numpy could allocate (and zero) before noticing the data is 1 element
    (DeclaredArray((20000, 1000), object, [0]), "object dtype"),
    (DeclaredArray((10**9, 3072), np.uint8, b"\x00" * 3072), r"declares an array of shape "
     r"\(1000000000, 3072\) and dtype uint8 \(3072000000000 bytes\), more than the whole file"),
    (DeclaredArray((10**4, 3072), np.uint8, b"\x00"), r"declares .*\(30720000 bytes\)"),
])
def test_cifar10_absurd_declared_size_refused_before_allocating(tmp_path, rng, array, message,
                                                               protocol):
    """A batch whose array declares more than the file can hold is refused by a size check,
    before numpy allocates anything (no MemoryError, no large allocation)."""
    import tracemalloc
    write_cifar(tmp_path, rng, n=2)
    raw = pickle.dumps({b"data": array, b"labels": [0]}, protocol=protocol)
    assert len(raw) < 10_000
    (tmp_path / "data_batch_1").write_bytes(raw)
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match=message) as info:
            load_cifar10(tmp_path, val_size=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert repr(str(tmp_path / "data_batch_1")) in str(info.value)
    assert "MemoryError" not in str(info.value) and "refused" in str(info.value)
    assert peak < 20 * 2**20, f"{peak} bytes allocated while refusing"


@pytest.mark.parametrize("opcode", [b"\x8e", b"\x8d", b"\x96"])   # BINBYTES8, BINUNICODE8, BYTEARRAY8
def test_cifar10_absurd_length_field_refused_before_allocating(tmp_path, rng, opcode):
    """A counted argument declaring 2 GiB in a 30-byte file is refused before pickle's C
    reader allocates it (it allocates the declared length first, then reads)."""
    import struct
    import tracemalloc
    write_cifar(tmp_path, rng, n=2)
    raw = b"\x80\x05" + opcode + struct.pack("<Q", 2**31) + b"abc" + b"."
    (tmp_path / "data_batch_1").write_bytes(raw)
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match="refused before unpickling") as info:
            load_cifar10(tmp_path, val_size=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert repr(str(tmp_path / "data_batch_1")) in str(info.value)
    assert "MemoryError" not in str(info.value)
    assert peak < 20 * 2**20, f"{peak} bytes allocated while refusing"


def test_cifar10_declared_size_within_the_file_is_read(tmp_path, rng):
    """The size check lets through what the file really holds (the normal path), and the
    arrays come back as plain ndarrays."""
    write_cifar(tmp_path, rng, n=2)
    data = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
    labels = np.array([1, 2, 3], np.int64)
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": DeclaredArray((3, 3072), np.uint8, data.tobytes()),
                     b"labels": DeclaredArray((3,), np.int64, labels.tobytes())}, f, protocol=2)
    d = load_cifar10(tmp_path, val_size=0, scale=False)
    assert type(d["X_test"]) is np.ndarray and type(d["y_test"]) is np.ndarray
    np.testing.assert_array_equal(d["X_test"].reshape(3, -1), data)
    np.testing.assert_array_equal(d["y_test"], labels)
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": DeclaredArray((3, 3072), np.uint8, data.tobytes()),
                     b"labels": DeclaredArray((3,), object, [1, 2, 3])}, f, protocol=2)
    with pytest.raises(DatasetError, match="test_batch.*object dtype"):
        load_cifar10(tmp_path, val_size=0)


@pytest.mark.parametrize("content, message", [
    ({b"data": np.zeros((2, 3072), np.uint8)}, "no 'data' and 'labels'"),
    ({b"data": np.zeros((2, 3071), np.uint8), b"labels": [0, 1]}, r"shape \(2, 3071\)"),
    ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, "uint8 array, got dtype"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, r"'labels'.*expected \(2,\)"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, r"0\.\.9"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, -1]}, r"0\.\.9"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1.5]}, "integers"),
    ({b"data": b"\x00" * 3000, b"labels": [0]}, "multiple of 3072"),
    ({b"data": [[300] * 3072], b"labels": [0]}, r"0\.\.255"),
    ([1, 2, 3], "holds a list"),
])
def test_cifar10_bad_batches(tmp_path, rng, content, message):
    write_cifar(tmp_path, rng, n=2)
    with open(tmp_path / "data_batch_2", "wb") as f:
        pickle.dump(content, f)
    with pytest.raises(DatasetError, match=message) as info:
        load_cifar10(tmp_path, val_size=0)
    assert repr(str(tmp_path / "data_batch_2")) in str(info.value)


def test_cifar10_corrupt_truncated_missing(tmp_path, rng):
    write_cifar(tmp_path, rng, n=2)
    good = (tmp_path / "data_batch_4").read_bytes()
    (tmp_path / "data_batch_4").write_bytes(good[:len(good) // 2])
    with pytest.raises(DatasetError, match="data_batch_4.*corrupt pickle"):
        load_cifar10(tmp_path, val_size=0)
    (tmp_path / "data_batch_4").write_bytes(b"")
    with pytest.raises(DatasetError, match="data_batch_4.*corrupt pickle"):
        load_cifar10(tmp_path, val_size=0)
    (tmp_path / "data_batch_4").write_bytes(b"\x80\x02garbage" * 10)
    with pytest.raises(DatasetError, match="data_batch_4"):
        load_cifar10(tmp_path, val_size=0)
    (tmp_path / "data_batch_4").unlink()
    with pytest.raises(DatasetError, match="missing file.*data_batch_4"):
        load_cifar10(tmp_path, val_size=0)
    with pytest.raises(DatasetError, match=re.escape(repr(str(tmp_path / "nowhere")))):
        load_cifar10(tmp_path / "nowhere")
    (tmp_path / "archive.tar.gz").write_bytes(b"x")
    with pytest.raises(DatasetError, match="is a file: extract"):
        load_cifar10(tmp_path / "archive.tar.gz")


def test_cifar10_arguments(tmp_path, rng):
    write_cifar(tmp_path, rng, n=2)
    with pytest.raises(DatasetError, match="val_size=10 leaves no training images.* 10 "):
        load_cifar10(tmp_path, val_size=10)
    with pytest.raises(ValueError, match="val_size must be an int >= 0"):
        load_cifar10(tmp_path, val_size=-1)
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        load_cifar10(tmp_path, dtype=np.int32)
    assert issubclass(DatasetError, ValueError)


# ------------------------------------------------------------------ MNIST

@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_mnist_values(tmp_path, rng, dtype, gz):
    a = write_mnist(tmp_path, rng, gz=gz)
    d = load_mnist(tmp_path, val_size=4, dtype=dtype)
    assert d["X_train"].shape == (8, 1, 28, 28) and d["X_val"].shape == (4, 1, 28, 28)
    assert d["X_test"].shape == (5, 1, 28, 28) and d["X_test"].dtype == dtype
    np.testing.assert_array_equal(d["X_train"][:, 0] * dtype(255),
                                  a["train_x"][:8].astype(dtype))
    np.testing.assert_array_equal(d["X_val"][:, 0], a["train_x"][8:].astype(dtype) / dtype(255))
    np.testing.assert_array_equal(d["X_test"][:, 0], a["test_x"].astype(dtype) / dtype(255))
    np.testing.assert_array_equal(d["y_train"], a["train_y"][:8])
    np.testing.assert_array_equal(d["y_val"], a["train_y"][8:])
    np.testing.assert_array_equal(d["y_test"], a["test_y"])
    assert d["y_train"].dtype == np.int64 and d["classes"] == [str(i) for i in range(10)]


def test_mnist_dotted_spelling_and_unscaled(tmp_path, rng):
    names = ("train-images.idx3-ubyte", "train-labels.idx1-ubyte",
             "t10k-images.idx3-ubyte", "t10k-labels.idx1-ubyte")
    a = write_mnist(tmp_path, rng, names=names, gz=True)
    d = load_mnist(tmp_path, val_size=0, scale=False, dtype=np.float64)
    np.testing.assert_array_equal(d["X_train"][:, 0], a["train_x"])
    assert d["X_train"].max() > 1


@pytest.mark.parametrize("name, mutate, message", [
    ("train-images-idx3-ubyte", lambda b: b[:-1], "truncated.*announces 9408 bytes.*9407"),
    ("train-images-idx3-ubyte", lambda b: b[:10], "truncated.*IDX header"),
    ("train-images-idx3-ubyte", lambda b: b + b"\x00", "bytes after"),
    ("train-images-idx3-ubyte", lambda b: b"\x00\x00\x08\x01" + b[4:], "magic number 0x00000801"),
    ("t10k-labels-idx1-ubyte", lambda b: b"\x00\x00\x0d\x01" + b[4:], "magic number 0x00000d01"),
    ("t10k-labels-idx1-ubyte", lambda b: b[:4] + (4).to_bytes(4, "big") + b[8:-1],
     "holds 5 images but.*t10k-labels.*holds 4 labels"),
    ("train-labels-idx1-ubyte", lambda b: b[:-1] + b"\x0a", "label 10"),
    ("train-images-idx3-ubyte", lambda b: b[:4] + (2**32 - 1).to_bytes(4, "big") + b[8:],
     "truncated"),
    ("t10k-images-idx3-ubyte", lambda b: b[:8] + (56).to_bytes(4, "big") + b[12:] + b[16:],
     "28x28 images but.*t10k-images.*56x28"),
])
def test_mnist_bad_files(tmp_path, rng, name, mutate, message):
    write_mnist(tmp_path, rng)
    p = tmp_path / name
    p.write_bytes(mutate(p.read_bytes()))
    with pytest.raises(DatasetError, match=message):
        load_mnist(tmp_path, val_size=0)
    with pytest.raises(DatasetError, match=re.escape(name)):
        load_mnist(tmp_path, val_size=0)


def test_mnist_bad_gzip_and_missing(tmp_path, rng):
    write_mnist(tmp_path, rng, gz=True)
    p = tmp_path / "train-labels-idx1-ubyte.gz"
    good = p.read_bytes()
    p.write_bytes(b"not gzip at all")
    with pytest.raises(DatasetError, match="train-labels-idx1-ubyte.gz.*bad gzip"):
        load_mnist(tmp_path, val_size=0)
    p.write_bytes(good[:-12])           # compressed stream cut short
    with pytest.raises(DatasetError, match="train-labels-idx1-ubyte.gz"):
        load_mnist(tmp_path, val_size=0)
    crc = bytearray(good)
    crc[-8] ^= 0xFF                     # CRC of the member damaged
    p.write_bytes(bytes(crc))
    with pytest.raises(DatasetError, match="train-labels-idx1-ubyte.gz.*(CRC|bad gzip)"):
        load_mnist(tmp_path, val_size=0)
    p.unlink()
    with pytest.raises(DatasetError, match="missing file.*train-labels-idx1-ubyte"):
        load_mnist(tmp_path, val_size=0)
    with pytest.raises(DatasetError, match="not a folder"):
        load_mnist(tmp_path / "absent")
    write_mnist(tmp_path, rng, gz=True)
    with pytest.raises(DatasetError, match="val_size=12 leaves no training images"):
        load_mnist(tmp_path, val_size=12)


# ------------------------------------------------------------------ built-in digits

def test_builtin_split_stratified_disjoint_reproducible():
    a, b = load_builtin("digits", seed=3), load_builtin("digits", seed=3)
    c = load_builtin("digits", seed=4)
    for k in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test"):
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["y_train"], c["y_train"])
    assert (len(a["y_train"]), len(a["y_val"]), len(a["y_test"])) == (1259, 179, 359)
    # disjoint and complete: the 1797 images, each in exactly one split (rows are unique images
    # up to a few duplicates in the UCI data, so compare multisets of rows)
    all_rows = np.concatenate([a["X_train"], a["X_val"], a["X_test"]]).reshape(1797, -1)
    full = load_builtin("digits", val_fraction=0, test_fraction=0)["X_train"].reshape(1797, -1)
    assert sorted(map(bytes, all_rows)) == sorted(map(bytes, full))
    # stratified: each class's share in each split is its share overall (to rounding)
    counts = np.bincount(np.concatenate([a["y_train"], a["y_val"], a["y_test"]]), minlength=10)
    for split, frac in (("y_val", 0.1), ("y_test", 0.2)):
        per_class = np.bincount(a[split], minlength=10)
        assert np.all(np.abs(per_class - frac * counts) <= 1), (split, per_class)
