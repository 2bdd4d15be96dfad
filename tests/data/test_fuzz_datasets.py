"""Fuzzing the dataset loaders: random bytes and mutated valid files only ever raise DatasetError."""
import gzip
import pickle

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fastnn.data import DatasetError, load_cifar10, load_mnist  # noqa: E402
from helpers import py2_batch  # noqa: E402

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

CIFAR_NAMES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
MNIST_NAMES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def _valid_cifar_batch(seed, protocol):
    """protocol 2, 4, 5: written by this Python; "py2": as the real files (Python 2)."""
    rng = np.random.default_rng(seed)
    if protocol == "py2":
        return py2_batch(rng.integers(0, 256, (2, 3072), dtype=np.uint8),
                         [int(v) for v in rng.integers(0, 10, 2)])
    return pickle.dumps({b"batch_label": b"fuzz", b"labels": [int(v) for v in
                                                              rng.integers(0, 10, 2)],
                         b"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8),
                         b"filenames": [b"a.png", b"b.png"]}, protocol=protocol)


def _idx(array):
    header = (0x0800 | array.ndim).to_bytes(4, "big") + b"".join(
        d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _valid_mnist(seed):
    rng = np.random.default_rng(seed)
    # 3 images of 28x28 for train and test; small files so mutations hit headers often
    return [_idx(rng.integers(0, 256, (3, 28, 28))), _idx(rng.integers(0, 10, 3)),
            _idx(rng.integers(0, 256, (2, 28, 28))), _idx(rng.integers(0, 10, 2))]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """One CIFAR and one MNIST folder, valid, rewritten file by file in each example."""
    root = tmp_path_factory.mktemp("fuzz")
    cifar, mnist = root / "cifar", root / "mnist"
    cifar.mkdir()
    mnist.mkdir()
    for i, name in enumerate(CIFAR_NAMES):
        (cifar / name).write_bytes(_valid_cifar_batch(i, 2))
    for name, data in zip(MNIST_NAMES, _valid_mnist(0)):
        (mnist / name).write_bytes(data)
    # sanity: the unmutated folders load
    assert load_cifar10(cifar, val_size=1)["X_train"].shape == (9, 3, 32, 32)
    assert load_mnist(mnist, val_size=1)["X_test"].shape == (2, 1, 28, 28)
    return cifar, mnist


def _mutate(data, flips, cut):
    b = bytearray(data)
    for pos, val in flips:
        if b:
            b[pos % len(b)] = val
    if cut is not None:
        b = b[:cut % (len(b) + 1)]
    return bytes(b)


def _only_dataset_errors(load, folder):
    """Loading either succeeds with sane arrays or raises DatasetError; anything else fails."""
    try:
        d = load(folder, val_size=0)
    except DatasetError:
        return
    for k in ("X_train", "X_test"):
        assert d[k].ndim == 4 and d[k].dtype == np.float32
        assert np.all((d[k] >= 0) & (d[k] <= 1))
    for k in ("y_train", "y_test"):
        assert d[k].dtype == np.int64 and np.all((d[k] >= 0) & (d[k] <= 9))


# positions near either end (headers, pickle opcodes after the pixel data) or anywhere
_position = st.integers(-300, 299) | st.integers(0, 1 << 20)
mutations = st.tuples(st.lists(st.tuples(_position, st.integers(0, 255)), max_size=8),
                      st.none() | _position)


@SETTINGS
@given(which=st.sampled_from(CIFAR_NAMES), protocol=st.sampled_from([2, 4, 5, "py2"]), m=mutations)
def test_fuzz_cifar_mutations(folders, which, protocol, m):
    cifar, _ = folders
    path = cifar / which
    path.write_bytes(_mutate(_valid_cifar_batch(0, protocol), *m))
    try:
        _only_dataset_errors(load_cifar10, cifar)
    finally:
        path.write_bytes(_valid_cifar_batch(0, 2))


@SETTINGS
@given(which=st.sampled_from(CIFAR_NAMES), data=st.binary(max_size=512))
def test_fuzz_cifar_random_bytes(folders, which, data):
    cifar, _ = folders
    path = cifar / which
    path.write_bytes(data)
    try:
        with pytest.raises(DatasetError, match=which):
            load_cifar10(cifar, val_size=0)
    finally:
        path.write_bytes(_valid_cifar_batch(0, 2))


@SETTINGS
@given(which=st.integers(0, 3), gz=st.booleans(), m=mutations)
def test_fuzz_mnist_mutations(folders, which, gz, m):
    _, mnist = folders
    valid = _valid_mnist(0)[which]
    raw = gzip.compress(valid, mtime=0) if gz else valid
    path = mnist / (MNIST_NAMES[which] + (".gz" if gz else ""))
    (mnist / MNIST_NAMES[which]).unlink()
    path.write_bytes(_mutate(raw, *m))
    try:
        _only_dataset_errors(load_mnist, mnist)
    finally:
        path.unlink()
        (mnist / MNIST_NAMES[which]).write_bytes(valid)


@SETTINGS
@given(which=st.integers(0, 3), gz=st.booleans(), data=st.binary(max_size=512))
def test_fuzz_mnist_random_bytes(folders, which, gz, data):
    _, mnist = folders
    name = MNIST_NAMES[which] + (".gz" if gz else "")
    valid = _valid_mnist(0)[which]
    (mnist / MNIST_NAMES[which]).unlink()
    (mnist / name).write_bytes(data)
    try:
        with pytest.raises(DatasetError, match=name):
            load_mnist(mnist, val_size=0)
    finally:
        (mnist / name).unlink()
        (mnist / MNIST_NAMES[which]).write_bytes(valid)
