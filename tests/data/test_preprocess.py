"""Preprocessing: statistics against NumPy, fit-on-train/apply-to-test, state round trips, errors."""
import json

import numpy as np
import pytest

from fastnn.checkpoint import load_params, save_params
from fastnn.data import (PCA, ChannelMean, Identity, MeanImage, Standardize, ZCAWhitening,
                         load_preprocessor, make_preprocessor, save_preprocessor)


@pytest.fixture
def images(rng):
    """Correlated images (N, C, H, W) with per-channel offsets and scales, and a test set."""
    def make(n):
        base = rng.standard_normal((n, 3, 4, 4))
        mixed = base + 0.5 * base[:, :, ::-1, :]             # correlated pixels
        return mixed * np.array([1.0, 2.0, 0.5])[None, :, None, None] + \
            np.array([0.3, -1.0, 2.0])[None, :, None, None]
    return make(200), make(30)


def test_mean_image(images, dtype):
    Xtr, Xte = (x.astype(dtype) for x in images)
    p = MeanImage().fit(Xtr)
    mean = Xtr.astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(p.get_state()[0]["mean"], mean, rtol=1e-12, atol=1e-6)
    out = p.transform(Xte)
    assert out.dtype == dtype and out.shape == Xte.shape
    np.testing.assert_allclose(out, Xte - mean.astype(dtype), rtol=1e-6)
    np.testing.assert_allclose(p.inverse_transform(out), Xte, rtol=1e-5, atol=1e-5)
    assert abs(p.fit_transform(Xtr).astype(np.float64).mean(axis=0)).max() < 1e-5


def test_channel_mean(images, dtype):
    Xtr, Xte = (x.astype(dtype) for x in images)
    p = ChannelMean().fit(Xtr)
    mean = Xtr.astype(np.float64).mean(axis=(0, 2, 3))
    np.testing.assert_allclose(p.get_state()[0]["mean"], mean, rtol=1e-12, atol=1e-6)
    out = p.transform(Xte)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, Xte - mean.astype(dtype)[None, :, None, None], rtol=1e-6)
    np.testing.assert_allclose(p.inverse_transform(out), Xte, rtol=1e-5, atol=1e-5)


def test_standardize(images, dtype):
    Xtr, Xte = (x.astype(dtype) for x in images)
    p = Standardize(eps=1e-8).fit(Xtr)
    x64 = Xtr.astype(np.float64)
    mean, var = x64.mean(axis=(0, 2, 3)), x64.var(axis=(0, 2, 3))
    arrays, meta = p.get_state()
    np.testing.assert_allclose(arrays["mean"], mean, rtol=1e-12)
    np.testing.assert_allclose(arrays["std"], np.sqrt(var + 1e-8), rtol=1e-12)
    assert meta == {"preprocessor": "standardize", "shape": [3, 4, 4], "eps": 1e-8}
    out = p.transform(Xte)
    expected = (Xte.astype(np.float64) - mean[None, :, None, None]) / \
        np.sqrt(var + 1e-8)[None, :, None, None]
    assert out.dtype == dtype
    np.testing.assert_allclose(out, expected, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-5 if dtype == np.float32 else 1e-12)
    z = p.transform(Xtr).astype(np.float64)
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(0, 2, 3)), 1, rtol=1e-5)
    np.testing.assert_allclose(p.inverse_transform(out), Xte, rtol=1e-5, atol=1e-5)
    # a constant channel maps to 0 (eps keeps it finite)
    Xc = Xtr.copy()
    Xc[:, 1] = 7
    out = Standardize().fit_transform(Xc)
    assert np.all(out[:, 1] == 0) and np.isfinite(out).all()


def test_pca(images, dtype):
    Xtr, Xte = (x.astype(dtype) for x in images)
    p = PCA(n_components=10).fit(Xtr)
    flat = Xtr.astype(np.float64).reshape(len(Xtr), -1)
    mean = flat.mean(axis=0)
    cov = (flat - mean).T @ (flat - mean) / len(flat)
    comps = p.components_
    assert comps.shape == (10, 48)
    np.testing.assert_allclose(comps @ comps.T, np.eye(10), atol=1e-10)      # orthonormal
    lam = np.linalg.eigvalsh(cov)[::-1]
    np.testing.assert_allclose(p.explained_variance_, lam[:10], rtol=1e-10)
    np.testing.assert_allclose(comps @ cov @ comps.T, np.diag(lam[:10]), atol=1e-10)  # eigvecs
    out = p.transform(Xte)
    assert out.shape == (30, 10) and out.dtype == dtype
    expected = (Xte.astype(np.float64).reshape(30, -1) - mean) @ comps.T
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    # sign convention: the largest-magnitude entry of each component is positive
    assert np.all(comps[np.arange(10), np.argmax(abs(comps), axis=1)] > 0)
    # full PCA is a rotation: inverse_transform recovers the images
    full = PCA().fit(Xtr)
    np.testing.assert_allclose(full.inverse_transform(full.transform(Xte)), Xte,
                               rtol=1e-4, atol=1e-4)


def test_pca_whiten_covariance_identity(images):
    Xtr, Xte = images
    p = PCA(n_components=20, whiten=True, eps=1e-12).fit(Xtr)
    z = p.transform(Xtr)
    cov = z.T @ z / len(z)
    np.testing.assert_allclose(cov, np.eye(20), atol=1e-8)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-10)
    # eps shrinks: covariance diag(lam / (lam + eps))
    p = PCA(n_components=5, whiten=True, eps=0.5).fit(Xtr)
    z = p.transform(Xtr)
    lam = p.explained_variance_
    np.testing.assert_allclose(z.T @ z / len(z), np.diag(lam / (lam + 0.5)), atol=1e-10)


def test_zca(images, dtype):
    Xtr, Xte = (x.astype(dtype) for x in images)
    p = ZCAWhitening(eps=1e-10).fit(Xtr)
    W = p.W_
    np.testing.assert_array_equal(W, W.T)                                  # symmetric
    flat = Xtr.astype(np.float64).reshape(len(Xtr), -1)
    mean = flat.mean(axis=0)
    cov = (flat - mean).T @ (flat - mean) / len(flat)
    np.testing.assert_allclose(W @ cov @ W, np.eye(48), atol=1e-6)         # whitens
    out = p.transform(Xte)
    assert out.shape == Xte.shape and out.dtype == dtype                   # image space
    expected = ((Xte.astype(np.float64).reshape(30, -1) - mean) @ W).reshape(Xte.shape)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-3)
    z = p.transform(Xtr).astype(np.float64).reshape(len(Xtr), -1)
    np.testing.assert_allclose(z.T @ z / len(z), np.eye(48),
                               atol=1e-2 if dtype == np.float32 else 1e-6)
    np.testing.assert_allclose(p.inverse_transform(out), Xte, rtol=1e-3, atol=1e-3)
    # ZCA is the symmetric whitening: W = cov^(-1/2)
    lam, U = np.linalg.eigh(cov)
    np.testing.assert_allclose(W, (U / np.sqrt(lam + 1e-10)) @ U.T, rtol=1e-6, atol=1e-6)


def test_fit_on_train_applied_to_test(images):
    """Statistics come from the training set only: test data do not change them."""
    Xtr, Xte = images
    for name in ("mean_image", "channel_mean", "standardize", "pca", "whiten"):
        p = make_preprocessor(name).fit(Xtr)
        a = p.transform(Xte)
        state = p.get_state()[0]
        p.transform(Xte * 10 + 3)
        for k, v in p.get_state()[0].items():
            np.testing.assert_array_equal(v, state[k])
        np.testing.assert_array_equal(p.transform(Xte), a)
        # a row's output does not depend on the other rows of the batch
        np.testing.assert_allclose(p.transform(Xte[:5]), a[:5], rtol=1e-12, atol=1e-12)


def test_integer_input_gives_float64(rng):
    X = rng.integers(0, 256, (20, 1, 3, 3), dtype=np.uint8)
    out = ChannelMean().fit_transform(X)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, X - X.mean())


@pytest.mark.parametrize("name, kwargs", [
    ("none", {}), ("mean_image", {}), ("channel_mean", {}), ("standardize", {"eps": 1e-3}),
    ("pca", {"n_components": 7, "whiten": True}), ("pca", {}), ("whiten", {"eps": 0.1})])
def test_save_load_round_trip(tmp_path, images, name, kwargs, dtype):
    Xtr, Xte = (x.astype(dtype) for x in images)
    p = make_preprocessor(name, **kwargs).fit(Xtr)
    path = save_preprocessor(tmp_path / "prep", p)
    q = load_preprocessor(path)
    assert type(q) is type(p) and q.shape_ == p.shape_ and repr(q) == repr(p)
    np.testing.assert_array_equal(q.transform(Xte), p.transform(Xte))
    # the file is a plain checkpoint: JSON meta, no pickle
    arrays, meta = load_params(path)
    json.dumps(meta)
    assert meta["preprocessor"] == name
    # get_state / from_state without a file
    r = type(p).from_state(*p.get_state())
    np.testing.assert_array_equal(r.transform(Xte), p.transform(Xte))


def test_identity(images, tmp_path):
    Xtr, Xte = images
    p = Identity()
    assert p.transform(Xte) is Xte                  # no fit needed, no copy
    q = load_preprocessor(save_preprocessor(tmp_path / "identity", p))
    assert isinstance(q, Identity) and not q.fitted
    p.fit(Xtr)
    with pytest.raises(ValueError, match=r"shape \(3, 4, 4\)"):
        p.transform(Xte[:, :2])
    assert make_preprocessor(None).name == "none"


def test_errors(images, tmp_path):
    Xtr, Xte = images
    for name in ("mean_image", "channel_mean", "standardize", "pca", "whiten"):
        p = make_preprocessor(name)
        with pytest.raises(RuntimeError, match="not fitted; call fit"):
            p.transform(Xte)
        with pytest.raises(RuntimeError, match="not fitted"):
            p.get_state()
        p.fit(Xtr)
        with pytest.raises(ValueError, match=r"fitted on samples of shape \(3, 4, 4\), got "
                                             r"samples of shape \(3, 4, 5\)"):
            p.transform(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ValueError, match="unknown preprocessing 'zca'; choose one of none, "):
        make_preprocessor("zca")
    with pytest.raises(ValueError, match="NaN or inf"):
        Standardize().fit(np.full((2, 1, 2, 2), np.nan))
    with pytest.raises(ValueError, match="no samples"):
        MeanImage().fit(np.zeros((0, 3, 2, 2)))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        MeanImage().fit(np.zeros(5))
    with pytest.raises(TypeError, match="real numeric array"):
        MeanImage().fit(np.zeros((2, 2), complex))
    with pytest.raises(ValueError, match="n_components=49 exceeds the 48 values"):
        PCA(n_components=49).fit(Xtr)
    with pytest.raises(ValueError, match="n_components must be an int"):
        PCA(n_components=0)
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        ZCAWhitening(eps=0)
    p = PCA(n_components=4).fit(Xtr)
    with pytest.raises(ValueError, match=r"expected samples of shape \(4,\)"):
        p.inverse_transform(np.zeros((2, 5)))
    # NaN in transform propagates
    bad = Xte.copy()
    bad[0, 0, 0, 0] = np.nan
    out = ChannelMean().fit(Xtr).transform(bad)
    assert np.isnan(out[0, 0, 0, 0]) and np.isfinite(out[1:]).all()
    # state and file errors
    arrays, meta = Standardize().fit(Xtr).get_state()
    with pytest.raises(ValueError, match="not 'pca'"):
        PCA.from_state(arrays, meta)
    with pytest.raises(ValueError, match=r"missing \['std'\]"):
        Standardize.from_state({"mean": arrays["mean"]}, meta)
    with pytest.raises(ValueError, match=r"'mean' has shape \(2,\), expected \(3,\)"):
        Standardize.from_state({"mean": arrays["mean"][:2], "std": arrays["std"]}, meta)
    save_params(tmp_path / "other.npz", {"w": np.zeros(3)}, {"epoch": 1})
    with pytest.raises(ValueError, match="not a saved fastnn preprocessor"):
        load_preprocessor(tmp_path / "other.npz")
    with pytest.raises(TypeError, match="expected a fastnn preprocessor"):
        save_preprocessor(tmp_path / "x", object())
