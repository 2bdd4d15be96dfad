"""Checkpoints: bit-exact round trip, metadata, pickle refused, atomic writes, mismatch errors."""
import os

import numpy as np
import pytest

from fastnn import checkpoint
from fastnn.checkpoint import CheckpointError


def _params(rng):
    return {"W1": rng.standard_normal((5, 4)).astype(np.float32),
            "b1": rng.standard_normal(4),
            "gamma/bn.0": np.array([np.nan, np.inf, -0.0, 5e-324]),
            "steps": np.arange(3, dtype=np.int64)}


def test_round_trip_bit_exact(tmp_path, rng):
    params = _params(rng)
    meta = {"epoch": 3, "lr": 1e-3, "hist": [0.5, 0.25], "name": "net"}
    path = checkpoint.save_params(tmp_path / "ck", params, meta)
    assert path == str(tmp_path / "ck.npz") and os.path.exists(path)
    loaded, m = checkpoint.load_params(path)
    assert m == meta
    assert set(loaded) == set(params)
    for k, v in params.items():
        assert loaded[k].dtype == v.dtype and loaded[k].shape == v.shape
        assert loaded[k].tobytes() == v.tobytes()       # bit-exact, NaN and -0.0 included
    # no temporary files left behind
    assert sorted(os.listdir(tmp_path)) == ["ck.npz"]


def test_load_into_in_place(tmp_path, rng):
    params = _params(rng)
    path = checkpoint.save_params(tmp_path / "a.npz", params)
    target = {k: np.zeros_like(v) for k, v in params.items()}
    arrays = dict(target)
    out, meta = checkpoint.load_params(path, into=target)
    assert out is target and meta is None
    for k in params:
        assert target[k] is arrays[k]                       # same objects, filled in place
        assert target[k].tobytes() == params[k].tobytes()


def test_mismatch_errors(tmp_path, rng):
    params = _params(rng)
    path = checkpoint.save_params(tmp_path / "a.npz", params)
    target = {k: np.zeros_like(v) for k, v in params.items()}
    del target["b1"]
    target["extra"] = np.zeros(2)
    with pytest.raises(CheckpointError, match=r"missing \['extra'\], unexpected \['b1'\]"):
        checkpoint.load_params(path, into=target)
    target = {k: np.zeros_like(v) for k, v in params.items()}
    target["W1"] = np.zeros((4, 5), np.float32)
    before = target["b1"].copy()
    with pytest.raises(CheckpointError, match=r"'W1' has shape \(5, 4\) .* expected \(4, 5\)"):
        checkpoint.load_params(path, into=target)
    np.testing.assert_array_equal(target["b1"], before)     # nothing copied on a mismatch
    target["W1"] = np.zeros((5, 4), np.float64)
    with pytest.raises(CheckpointError, match="'W1' has dtype float32 .* expected float64"):
        checkpoint.load_params(path, into=target)


class _Evil:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_bearing_npz_refused(tmp_path):
    marker = tmp_path / "pwned"
    evil = np.empty(1, dtype=object)
    evil[0] = _Evil(str(marker))
    path = tmp_path / "evil.npz"
    np.savez(path, W1=np.zeros(3), payload=evil)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="'payload' .* has dtype object.*would need pickle"):
        checkpoint.load_params(path)
    assert not marker.exists()
    # a raw pickle file is refused too
    import pickle
    raw = tmp_path / "evil.pkl"
    raw.write_bytes(pickle.dumps(_Evil(str(marker))))
    with pytest.raises(CheckpointError, match="not a readable fastnn checkpoint"):
        checkpoint.load_params(raw)
    assert not marker.exists()


def test_object_arrays_never_saved(tmp_path):
    with pytest.raises(TypeError, match="'x' has dtype object"):
        checkpoint.save_params(tmp_path / "a", {"x": np.array([{}], dtype=object)})
    with pytest.raises(ValueError, match="'__meta__' is reserved"):
        checkpoint.save_params(tmp_path / "a", {"__meta__": np.zeros(1)})
    with pytest.raises(TypeError, match="meta must be JSON-serialisable"):
        checkpoint.save_params(tmp_path / "a", {"x": np.zeros(1)}, meta={"f": object()})
    assert os.listdir(tmp_path) == []


def test_atomic_write_keeps_old_file_on_crash(tmp_path, monkeypatch):
    path = checkpoint.save_params(tmp_path / "a.npz", {"x": np.arange(4.0)}, {"v": 1})
    before = open(path, "rb").read()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("power cut mid-write")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_params(path, {"x": np.zeros(4)}, {"v": 2})
    assert open(path, "rb").read() == before            # the old checkpoint is intact
    assert sorted(os.listdir(tmp_path)) == ["a.npz"]   # and the temporary file is gone


def test_corrupt_and_wrong_files(tmp_path):
    path = checkpoint.save_params(tmp_path / "a.npz", {"x": np.arange(1000.0)})
    data = open(path, "rb").read()
    trunc = tmp_path / "trunc.npz"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        checkpoint.load_params(trunc)
    npy = tmp_path / "one.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(CheckpointError, match="holds a single array"):
        checkpoint.load_params(npy)
    with pytest.raises(FileNotFoundError):
        checkpoint.load_params(tmp_path / "missing.npz")


class _Model:
    def __init__(self, rng):
        self.params = {"W": rng.standard_normal((3, 2)), "b": np.zeros(2)}


def test_save_load_model(tmp_path, rng):
    m = _Model(rng)
    checkpoint.save_model(tmp_path / "m.npz", m, meta={"arch": "linear"})
    m2 = _Model(np.random.default_rng(99))
    assert checkpoint.load_model(tmp_path / "m.npz", m2) == {"arch": "linear"}
    np.testing.assert_array_equal(m2.params["W"], m.params["W"])
    with pytest.raises(TypeError, match="save_model: model must have a params dict"):
        checkpoint.save_model(tmp_path / "x", object())
