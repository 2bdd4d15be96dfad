"""BatchLoader: epochs, shuffling, drop_last, determinism, augmentation, errors."""
import numpy as np
import pytest

from fastnn.data import BatchLoader
from fastnn.data import augment as A


def data(n=50, dtype=np.float32):
    X = np.arange(n, dtype=dtype)[:, None, None, None] * np.ones((1, 3, 3, 3), dtype)
    return X, np.arange(n)


def batches(loader):
    return [(Xb.copy(), np.asarray(yb).copy()) for Xb, yb in loader]


@pytest.mark.parametrize("shuffle", [True, False])
def test_every_sample_once_per_epoch(shuffle):
    X, y = data(50)
    loader = BatchLoader(X, y, batch_size=16, shuffle=shuffle, seed=0)
    assert len(loader) == 4
    orders = []
    for _ in range(2):
        got = batches(loader)
        assert [len(yb) for _, yb in got] == [16, 16, 16, 2]
        seen = np.concatenate([yb for _, yb in got])
        assert sorted(seen) == list(range(50))
        for Xb, yb in got:                       # X rows travel with their labels
            np.testing.assert_array_equal(Xb[:, 0, 0, 0], yb)
        orders.append(seen)
    if shuffle:
        assert not np.array_equal(orders[0], orders[1])     # reshuffled every epoch
        assert not np.array_equal(orders[0], np.arange(50))
    else:
        np.testing.assert_array_equal(orders[0], np.arange(50))
    assert loader.epoch == 2


def test_drop_last():
    X, y = data(50)
    loader = BatchLoader(X, y, batch_size=16, seed=0, drop_last=True)
    assert len(loader) == 3
    got = batches(loader)
    assert [len(yb) for _, yb in got] == [16, 16, 16]
    assert len(set(np.concatenate([yb for _, yb in got]))) == 48
    assert len(BatchLoader(X, y, batch_size=60, drop_last=True)) == 0
    assert len(BatchLoader(X, y, batch_size=60)) == 1
    assert len(BatchLoader(X, y, batch_size=10, drop_last=True)) == 5


def test_same_seed_same_batches_different_seed_different():
    X, y = data(40)
    aug = "crop,flip,jitter,cutout"
    a = BatchLoader(X, y, batch_size=8, augment=aug, seed=3)
    b = BatchLoader(X, y, batch_size=8, augment=aug, seed=3)
    c = BatchLoader(X, y, batch_size=8, augment=aug, seed=4)
    for _ in range(2):
        ea, eb, ec = batches(a), batches(b), batches(c)
        for (xa, ya), (xb, yb) in zip(ea, eb):
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)
        assert not all(np.array_equal(ya, yc) for (_, ya), (_, yc) in zip(ea, ec))


def test_augment_applied():
    X, y = data(20)
    X = X + np.arange(3, dtype=np.float32)[None, None, None, :]      # columns differ: a flip shows
    loader = BatchLoader(X, y, batch_size=6, augment=[A.HorizontalFlip(1.0)], seed=1)
    for Xb, yb in loader:
        np.testing.assert_array_equal(Xb, X[yb][..., ::-1])
    # the loader's draws equal apply() driven by the epoch's generator
    loader = BatchLoader(X, y, batch_size=6, augment="crop,cutout", seed=2)
    rng = np.random.default_rng(np.random.SeedSequence(2).spawn(1)[0])
    order = rng.permutation(20)
    for k, (Xb, yb) in enumerate(loader):
        idx = order[6 * k:6 * k + 6]
        np.testing.assert_array_equal(yb, idx)
        Xe, _ = A.apply(A.from_spec("crop,cutout"), X[idx], y[idx], rng)
        np.testing.assert_array_equal(Xb, Xe)


def test_mixup_gives_mixed_labels():
    X, y = data(12, np.float64)
    Xb, yb = next(iter(BatchLoader(X, y, batch_size=12, augment=[A.Mixup(0.4)], seed=0)))
    assert isinstance(yb, A.MixedLabels)
    np.testing.assert_allclose(Xb[:, 0, 0, 0], yb.lam * yb.y_a + (1 - yb.lam) * yb.y_b)


def test_no_shuffle_no_augment_is_in_order():
    X, y = data(10)
    got = batches(BatchLoader(X, y, batch_size=4, shuffle=False))
    np.testing.assert_array_equal(got[2][1], [8, 9])
    np.testing.assert_array_equal(got[0][0], X[:4])


def test_empty_dataset():
    X, y = data(0)
    loader = BatchLoader(X, y, batch_size=4, augment="flip", seed=0)
    assert len(loader) == 0 and batches(loader) == []


def test_repr():
    X, y = data(10)
    assert repr(BatchLoader(X, y, batch_size=4, augment="flip", seed=1)) == (
        "BatchLoader(n=10, batch_size=4, shuffle=True, augment=[HorizontalFlip(p=0.5)], seed=1, "
        "drop_last=False)")


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(y=np.arange(5)), ValueError, r"BatchLoader: X has 10 samples but y has shape \(5,\)"),
    (dict(y=None), ValueError, "BatchLoader: y is required"),
    (dict(batch_size=0), ValueError, "BatchLoader: batch_size must be a positive int, got 0"),
    (dict(batch_size=2.0), TypeError, "BatchLoader: batch_size must be a positive int"),
    (dict(shuffle=1), TypeError, "BatchLoader: shuffle must be True or False"),
    (dict(drop_last="yes"), TypeError, "BatchLoader: drop_last must be True or False"),
    (dict(seed=-3), ValueError, "BatchLoader: seed must be a non-negative int or None"),
    (dict(seed="a"), TypeError, "BatchLoader: seed must be a non-negative int or None"),
    (dict(augment="crop,zoom"), ValueError, "unknown augmentation 'zoom'"),
    (dict(augment=[3]), TypeError, "BatchLoader: augment steps must be callables"),
    (dict(X=np.zeros((10, 4)), augment="flip"), ValueError,
     r"BatchLoader: augmentation needs X of shape \(N, C, H, W\)"),
])
def test_errors(kwargs, exc, match):
    X, y = data(10)
    args = dict(X=X, y=y)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        BatchLoader(**args)
