"""Fuzzing the checkpoint loaders with hypothesis: load_params, load_model, Solver.load.

Random bytes, valid .npz files with flipped bytes or truncated, and crafted files
(an object array, a pickle inside a member, a pickle instead of a zip, a single
.npy, odd metadata) must give CheckpointError -- never another exception, a
crash, or code execution: a planted ``os.system`` pickle must not create its
side-effect file.

The defects this fuzzer found (a non-.npy member returned as bytes, a garbled
.npy header escaping as SyntaxError/TokenError, meta that is not a dict, Solver
meta with missing keys, a header declaring 2**50 elements) are fixed; their
regression tests are at the bottom.
"""
import io
import os
import pickle
import zipfile

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fastnn import Solver  # noqa: E402
from fastnn.checkpoint import CheckpointError, load_model, load_params, save_params  # noqa: E402

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


class TinyModel:
    """The CS231n model contract, just enough for Solver and load_model."""

    def __init__(self):
        self.params = {"W": np.arange(12, dtype=np.float64).reshape(4, 3) / 10,
                       "b": np.zeros(3)}

    def loss(self, X, y=None):
        scores = X @ self.params["W"] + self.params["b"]
        if y is None:
            return scores
        return 0.0, {k: np.zeros_like(v) for k, v in self.params.items()}


def _data():
    rng = np.random.default_rng(0)
    return {"X_train": rng.standard_normal((6, 4)), "y_train": rng.integers(0, 3, 6),
            "X_val": rng.standard_normal((4, 4)), "y_val": rng.integers(0, 3, 4)}


def _solver():
    return Solver(TinyModel(), _data(), update_rule="adam", num_epochs=1, batch_size=3,
                  verbose=False)


@pytest.fixture(scope="module")
def valid_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("ckpt")
    params = save_params(d / "params.npz", {"W": np.ones((4, 3)), "b": np.arange(3.0),
                                            "step": np.array(7)}, meta={"epoch": 3, "lr": 0.1})
    model = save_params(d / "model.npz", TinyModel().params)
    s = _solver()
    s.train()
    solver = s.save(d / "solver.npz")
    return {name: open(p, "rb").read() for name, p in
            (("params", params), ("model", model), ("solver", solver))}


SENTINEL_DIR = None


def _planted_pickle(sentinel):
    """A pickle whose loading runs os.system('touch <sentinel>')."""
    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {sentinel}",))
    return pickle.dumps(Exploit(), protocol=2)


def _npy_bytes(arr, allow_pickle=False):
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def _npz_with(members):
    """A zip of name -> bytes (an .npz as numpy writes it, with our members)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _object_npy_with_pickle(sentinel):
    """An .npy header declaring an object array, followed by the planted pickle."""
    header = _npy_bytes(np.empty(1, object), allow_pickle=True)
    # keep numpy's header (magic + dict up to the newline), replace the payload
    end = header.index(b"\n") + 1
    return header[:end] + _planted_pickle(sentinel)


LOADERS = ["load_params", "load_model", "solver_load"]


def _load(kind, path):
    if kind == "load_params":
        return load_params(path)
    if kind == "load_model":
        return load_model(path, TinyModel())
    return _solver().load(path)


def _assert_refused_or_loaded(kind, path, sentinel=None):
    try:
        _load(kind, path)
    except CheckpointError as exc:
        assert str(exc)
    if sentinel is not None:
        assert not os.path.exists(sentinel), "a pickle inside the checkpoint was executed"


# ----------------------------------------------------------------- random data

@pytest.mark.parametrize("kind", LOADERS)
def test_random_bytes(kind, tmp_path):
    @SETTINGS
    @given(data=st.binary(max_size=600) | st.binary(max_size=40).map(lambda b: b"PK\x03\x04" + b))
    def prop(data):
        p = tmp_path / "random.npz"
        p.write_bytes(data)
        _assert_refused_or_loaded(kind, p)
    prop()


def _byte_flips(blob, min_size=0, max_size=8):
    """Lists of byte flips of ``blob``: (position, non-zero XOR mask) pairs."""
    return st.lists(st.tuples(st.integers(0, len(blob) - 1), st.integers(1, 255)),
                    min_size=min_size, max_size=max_size)


def _write_flipped(blob, flips, path):
    """``blob`` with ``flips`` applied, written to ``path``; returns ``path``."""
    b = bytearray(blob)
    for pos, x in flips:
        b[pos] ^= x
    path.write_bytes(bytes(b))
    return path


@pytest.mark.parametrize("source,kind", [("params", "load_params"), ("model", "load_model"),
                                         ("solver", "solver_load"), ("solver", "load_params")])
def test_byte_flips(valid_files, source, kind, tmp_path):
    blob = valid_files[source]

    @SETTINGS
    @given(flips=_byte_flips(blob, min_size=1, max_size=8))
    def prop(flips):
        _assert_refused_or_loaded(kind, _write_flipped(blob, flips, tmp_path / "flipped.npz"))
    prop()


@pytest.mark.parametrize("source,kind", [("params", "load_params"), ("model", "load_model"),
                                         ("solver", "solver_load")])
def test_truncation(valid_files, source, kind, tmp_path):
    blob = valid_files[source]

    @SETTINGS
    @given(n=st.integers(0, len(blob) - 1))
    def prop(n):
        p = tmp_path / "truncated.npz"
        p.write_bytes(blob[:n])
        with pytest.raises(CheckpointError):
            _load(kind, p)
    prop()


# ----------------------------------------------------------------- crafted files

def _crafted(sentinel):
    """desc -> file bytes of hostile or malformed checkpoints."""
    exploit = _object_npy_with_pickle(sentinel)
    ok = _npy_bytes(np.ones(3))
    return {
        "object array member": _npz_with({"W.npy": _npy_bytes(np.array([1, "a"], object),
                                                               allow_pickle=True)}),
        "planted os.system pickle member": _npz_with({"W.npy": exploit, "b.npy": ok}),
        "planted pickle as __meta__": _npz_with({"__meta__.npy": exploit}),
        "raw pickle file": _planted_pickle(sentinel),
        "single .npy": ok,
        "single object .npy": exploit,
        "empty zip": _npz_with({}),
        "members not .npy": _npz_with({"W.npy": b"hello", "b.npy": b"world"}),
        "member with a bad header": _npz_with({"W.npy": ok[:10] + b"{'descr': os.system}" + ok[30:]}),
        "meta not a string": _npz_with({"__meta__.npy": _npy_bytes(np.ones(2))}),
        "meta bad JSON": _npz_with({"__meta__.npy": _npy_bytes(np.array("{not json"))}),
        "structured dtype with object field":
            _npz_with({"W.npy": _npy_bytes(np.zeros(2, [("a", "O")]), allow_pickle=True)}),
    }


CRAFTED = list(_crafted("/nonexistent"))
# an empty checkpoint is a valid (empty) dict of parameters for load_params
MAY_LOAD = {("load_params", "empty zip")}


@pytest.mark.parametrize("kind", LOADERS)
@pytest.mark.parametrize("desc", CRAFTED)
def test_crafted_files_refused(kind, desc, tmp_path):
    sentinel = tmp_path / "PWNED"
    p = tmp_path / "crafted.npz"
    p.write_bytes(_crafted(sentinel)[desc])
    try:
        if (kind, desc) in MAY_LOAD:
            _load(kind, p)
        else:
            with pytest.raises(CheckpointError):
                _load(kind, p)
    finally:
        assert not sentinel.exists(), f"{desc}: the planted pickle ran"


def test_planted_pickle_would_run_without_the_guard(tmp_path):
    """The exploit is real: NumPy with allow_pickle=True executes it (so the test above means
    something)."""
    sentinel = tmp_path / "PWNED"
    p = tmp_path / "x.npz"
    p.write_bytes(_npz_with({"W.npy": _object_npy_with_pickle(sentinel)}))
    with np.load(p, allow_pickle=True) as f:
        try:
            f["W"]
        except Exception:
            pass
    assert sentinel.exists()


@pytest.mark.parametrize("kind", LOADERS)
def test_planted_pickle_mutated(kind, tmp_path):
    """Byte flips of a file that carries an exploit: still refused, never executed."""
    sentinel = tmp_path / "PWNED"
    blob = _npz_with({"W.npy": _object_npy_with_pickle(sentinel), "b.npy": _npy_bytes(np.ones(3))})

    @settings(SETTINGS, max_examples=60)
    @given(flips=_byte_flips(blob, max_size=4))
    def prop(flips):
        _assert_refused_or_loaded(kind, _write_flipped(blob, flips, tmp_path / "m.npz"), sentinel)
    prop()


# ------------------------------------------------- defects this fuzzer found (fixed)

def test_meta_not_a_dict(tmp_path):
    p = tmp_path / "m.npz"
    p.write_bytes(_npz_with({"__meta__.npy": _npy_bytes(np.array("[1, 2]"))}))
    with pytest.raises(CheckpointError):
        _solver().load(p)


def test_solver_meta_missing_keys(tmp_path):
    p = tmp_path / "m.npz"
    save_params(p, {"params/W": np.ones((4, 3)), "params/b": np.zeros(3)},
                meta={"format": "fastnn.Solver/1"})
    with pytest.raises(CheckpointError):
        _solver().load(p)


def test_huge_declared_shape(tmp_path):
    hdr = _npy_bytes(np.ones(1)).replace(b"(1,)", b"(1125899906842624,)")
    p = tmp_path / "h.npz"
    p.write_bytes(_npz_with({"W.npy": hdr}))
    with pytest.raises(CheckpointError):
        load_params(p)
