"""``.safetensors`` checkpoints: round trip, models, the Solver, and crafted files refused
before the safetensors library (or any allocation) sees them."""
import json
import os
import re
import struct
import sys

import numpy as np
import pytest

pytest.importorskip("safetensors")

from fastnn import checkpoint, layers as L, models  # noqa: E402
from fastnn.checkpoint import CheckpointError  # noqa: E402


def _params(rng):
    return {"W1": rng.standard_normal((5, 4)).astype(np.float32),
            "b1": rng.standard_normal(4),
            "gamma/bn.0": np.array([np.nan, np.inf, -0.0, 5e-324]),
            "steps": np.arange(3, dtype=np.int64), "flag": np.array([True, False])}


def test_round_trip_bit_exact_and_atomic(tmp_path, rng):
    params = _params(rng)
    meta = {"epoch": 3, "hist": [0.5, float("nan")], "name": "net"}
    path = checkpoint.save_params(tmp_path / "ck.safetensors", params, meta)
    assert path == str(tmp_path / "ck.safetensors")
    assert sorted(os.listdir(tmp_path)) == ["ck.safetensors"]        # no temporary left
    loaded, m = checkpoint.load_params(path)
    assert m["epoch"] == 3 and m["name"] == "net" and np.isnan(m["hist"][1])
    assert set(loaded) == set(params)
    for k, v in params.items():
        assert loaded[k].dtype == v.dtype and loaded[k].shape == v.shape
        assert loaded[k].tobytes() == v.tobytes()
    # readable by the safetensors library itself (the field's format, not a private one)
    from safetensors.numpy import load_file
    np.testing.assert_array_equal(load_file(path)["W1"], params["W1"])
    target = {k: np.zeros_like(v) for k, v in params.items()}
    target["W1"] = np.zeros((4, 5), np.float32)
    with pytest.raises(CheckpointError, match=r"'W1' has shape \(5, 4\) .* expected \(4, 5\)"):
        checkpoint.load_params(path, into=target)
    del target["W1"]
    with pytest.raises(CheckpointError, match=r"missing \[\], unexpected \['W1'\]"):
        checkpoint.load_params(path, into=target)


def test_complex_refused(tmp_path):
    with pytest.raises(TypeError, match="'z' has dtype complex128, which the safetensors format"):
        checkpoint.save_params(tmp_path / "c.safetensors", {"z": np.zeros(2, complex)})


def test_model_and_solver_checkpoints(tmp_path, rng):
    from fastnn.solver import Solver
    model = models.FullyConnectedNet([6], input_dim=5, num_classes=3, normalization="batchnorm",
                                     seed=0)
    X = rng.standard_normal((40, 5)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    dat = {"X_train": X, "y_train": y, "X_val": X[:10], "y_val": y[:10]}
    s = Solver(model, dat, num_epochs=2, batch_size=10, verbose=False, seed=0)
    s.train()
    path = s.save(tmp_path / "solver.safetensors")
    assert path.endswith(".safetensors")
    fresh = models.FullyConnectedNet([6], input_dim=5, num_classes=3, normalization="batchnorm",
                                     seed=1)
    s2 = Solver(fresh, dat, num_epochs=2, batch_size=10, verbose=False, seed=0)
    s2.load(path)
    for k in model.params:
        np.testing.assert_array_equal(fresh.params[k], model.params[k])
    assert s2.loss_history == s.loss_history
    mpath = model.save(tmp_path / "m.safetensors")
    other = models.FullyConnectedNet([6], input_dim=5, num_classes=3, normalization="batchnorm",
                                     seed=2)
    other.load(mpath)
    np.testing.assert_array_equal(other.buffers["1.running_mean"], model.buffers["1.running_mean"])


def _write(path, header, data=b"", length=None):
    raw = json.dumps(header).encode() if not isinstance(header, bytes) else header
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw) if length is None else length) + raw + data)
    return path


def _t(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


CRAFTED = [
    ("short", None, "too short for a .safetensors file"),
    ("huge header length", ({}, b"", 2**62), "declares a 4611686018427387904-byte header"),
    ("not json", (b"\xff{{", b""), "is not JSON"),
    ("not an object", ([1, 2], b""), "expected a JSON object"),
    ("bad dtype", ({"a": _t("BF16", [2], 0, 4)}, b"\0" * 4), "dtype 'BF16'"),
    ("huge shape", ({"a": _t("F32", [2**40, 2**40], 0, 8)}, b"\0" * 8),
     "declares shape [1099511627776, 1099511627776] of F32"),
    ("range past the file", ({"a": _t("F32", [2**30], 0, 2**32)}, b"\0" * 8),
     "declares bytes [0, 4294967296) but the data section holds 8 bytes"),
    ("negative offset", ({"a": _t("F32", [1], -4, 0)}, b"\0" * 8), "declares bytes [-4, 0)"),
    ("overlap", ({"a": _t("F32", [2], 0, 8), "b": _t("F32", [1], 4, 8)}, b"\0" * 8),
     "tensors must tile the data section"),
    ("gap", ({"a": _t("F32", [1], 4, 8)}, b"\0" * 8), "starts at byte 4, expected 0"),
    ("trailing bytes", ({"a": _t("F32", [1], 0, 4)}, b"\0" * 12), "cover 4 bytes of its 12-byte"),
    ("bad shape", ({"a": _t("F32", [-1], 0, 4)}, b"\0" * 4), "expected a list of sizes"),
    ("extra key", ({"a": dict(_t("F32", [1], 0, 4), code="x")}, b"\0" * 4),
     "must declare exactly dtype, shape and data_offsets"),
    ("metadata not strings", ({"__metadata__": {"a": 1}}, b""), "must map strings to strings"),
    ("meta not an object", ({"__metadata__": {"fastnn.meta": "[1]"}}, b""),
     "the meta of .* is a list"),
]


@pytest.mark.parametrize("name, spec, message", CRAFTED, ids=[c[0] for c in CRAFTED])
def test_crafted_files_refused_before_the_library(name, spec, message, tmp_path, monkeypatch):
    import safetensors.numpy as stn
    if name != "meta not an object":     # these must never reach the library
        monkeypatch.setattr(stn, "load_file", lambda *a, **k: pytest.fail("reached safetensors"))
    path = tmp_path / "x.safetensors"
    if spec is None:
        path.write_bytes(b"\x01\x02")
    else:
        _write(path, *spec)
    with pytest.raises(CheckpointError, match=message if ".*" in message else re.escape(message)):
        checkpoint.load_params(path)
    with pytest.raises(CheckpointError):
        checkpoint.load_model(path, L.Sequential(L.Linear(2, 2, seed=0)))


def test_valid_handmade_file_reads(tmp_path):
    data = np.arange(6, dtype=np.float32).tobytes() + np.array([7], np.int64).tobytes()
    path = _write(tmp_path / "ok.safetensors",
                  {"a": _t("F32", [2, 3], 0, 24), "n": _t("I64", [], 24, 32),
                   "__metadata__": {"fastnn.meta": '{"k": 1}'}}, data)
    arrays, meta = checkpoint.load_params(path)
    np.testing.assert_array_equal(arrays["a"], np.arange(6).reshape(2, 3))
    assert arrays["n"].shape == () and int(arrays["n"]) == 7 and meta == {"k": 1}


def test_missing_package_is_a_clear_import_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match=r"pip install fastnn\[safetensors\]"):
        checkpoint.save_params(tmp_path / "a.safetensors", {"a": np.zeros(2)})
