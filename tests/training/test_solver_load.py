"""Solver.load refuses a checkpoint whose optimiser state, best/* or buffers/* arrays, or run tag
do not fit the Solver and its model, naming the array, and leaves the model untouched."""
import numpy as np
import pytest

from fastnn import Solver
from fastnn.checkpoint import CheckpointError, load_params, save_params
from fastnn.models import make_model

H = 16


def build(update_rule="adam", tag=None, normalization=None):
    rng = np.random.default_rng(0)
    data = {"X_train": rng.standard_normal((40, 1, 4, 4)).astype(np.float32),
            "y_train": rng.integers(0, 3, 40),
            "X_val": rng.standard_normal((10, 1, 4, 4)).astype(np.float32),
            "y_val": rng.integers(0, 3, 10)}
    model = make_model("mlp", (1, 4, 4), 3, hidden_dims=(H,), seed=0,
                       normalization=normalization)
    return Solver(model, data, update_rule=update_rule, num_epochs=1, batch_size=20,
                  verbose=False, seed=0, checkpoint_tag=tag)


@pytest.fixture
def saved(tmp_path):
    """(path, arrays, meta) of a checkpoint of a finished 1-epoch Adam run."""
    solver = build(tag="run-a")
    solver.train()
    path = solver.save(tmp_path / "ckpt.npz")
    arrays, meta = load_params(path)
    return tmp_path, arrays, meta


def first_weight(arrays):
    """The name of a 2-D weight (H, ...) or (..., H) parameter."""
    return next(k[len("params/"):] for k, v in arrays.items()
                if k.startswith("params/") and v.ndim == 2)


def tampered(saved, edit, tag="run-a", update_rule="adam"):
    """Load a copy of the saved checkpoint changed by ``edit(arrays, meta)``; returns the
    CheckpointError message, and checks the model kept its parameters."""
    folder, arrays, meta = saved
    arrays = {k: v.copy() for k, v in arrays.items()}
    meta = dict(meta)
    edit(arrays, meta)
    path = save_params(folder / "bad.npz", arrays, meta)
    solver = build(tag=tag, update_rule=update_rule)
    before = {k: v.copy() for k, v in solver.model.params.items()}
    with pytest.raises(CheckpointError) as info:
        solver.load(path)
    for k, v in solver.model.params.items():
        np.testing.assert_array_equal(v, before[k])
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_untampered_checkpoint_loads(saved):
    folder, arrays, meta = saved
    solver = build(tag="run-a")
    solver.load(folder / "ckpt.npz")
    assert solver.run_finished
    w = first_weight(arrays)
    np.testing.assert_array_equal(solver.model.params[w], arrays[f"params/{w}"])
    assert solver.optim_configs[w]["m"].shape == arrays[f"params/{w}"].shape


@pytest.mark.parametrize("key, change, expected", [
    # (1, n) for (H, n): broadcasts
    ("optim/{w}/m", lambda a: a[:1].copy(), ["optim/", "/m", "shape"]),
    ("optim/{w}/v", lambda a: np.array(0.5, np.float32), ["'v'", "()"]),
    ("optim/{w}/m", lambda a: a.astype(np.int32), ["int32"]),
    ("best/{w}", lambda a: a[:1].copy(), ["best/", "in the checkpoint, the model has"]),
    ("best/{w}", lambda a: a.astype(np.float64), ["best/", "float64"]),
], ids=["broadcastable_moment_of_the_wrong_shape", "zero_d_moment", "integer_moment",
        "best_array_of_the_wrong_shape", "best_array_of_the_wrong_dtype"])
def test_array_of_the_wrong_shape_or_dtype(saved, key, change, expected):
    def edit(arrays, meta):
        name = key.format(w=first_weight(arrays))
        arrays[name] = change(arrays[name])
    msg = tampered(saved, edit)
    assert all(e in msg for e in expected), msg


def test_optimiser_array_of_no_parameter(saved):
    def edit(arrays, meta):
        w = first_weight(arrays)
        arrays["optim/nope/m"] = arrays[f"optim/{w}/m"]
    assert "'optim/nope/m' belongs to no parameter" in tampered(saved, edit)


@pytest.mark.parametrize("key, value, pattern", [
    ("learning_rate", "0.001", "'learning_rate' must be a finite number, got '0.001'"),
    ("learning_rate", None, "'learning_rate' must be a finite number"),
    ("learning_rate", True, "'learning_rate' must be a finite number"),
    ("beta1", "x", "'beta1' must be a finite number"),
    ("t", -1, "'t' must be an integer >= 0"),
    ("t", 1.5, "'t' must be an integer >= 0"),
])
def test_bad_optimiser_scalars(saved, key, value, pattern):
    def edit(arrays, meta):
        configs = {p: dict(c) for p, c in meta["optim_configs"].items()}
        configs[first_weight(arrays)][key] = value
        meta["optim_configs"] = configs
    assert pattern in tampered(saved, edit)


def test_string_learning_rate_refused_for_a_callable_rule_too(saved):
    from fastnn.optim import adam

    def edit(arrays, meta):
        configs = {p: dict(c) for p, c in meta["optim_configs"].items()}
        configs[first_weight(arrays)]["learning_rate"] = "fast"
        meta["optim_configs"] = configs
    assert "'learning_rate' must be a finite number" in tampered(saved, edit, update_rule=adam)


def test_optimiser_state_missing_a_parameter(saved):
    def edit(arrays, meta):
        w = first_weight(arrays)
        meta["optim_configs"] = {p: c for p, c in meta["optim_configs"].items() if p != w}
        for k in [k for k in arrays if k.startswith(f"optim/{w}/")]:
            del arrays[k]
    assert "the optimiser state does not match" in tampered(saved, edit)


def test_best_array_of_the_wrong_name(saved):
    def edit(arrays, meta):
        w = first_weight(arrays)
        arrays["best/not_a_param"] = arrays.pop(f"best/{w}")
    msg = tampered(saved, edit)
    assert "best parameters (best/*)" in msg and "not_a_param" in msg


def test_unknown_array_group(saved):
    def edit(arrays, meta):
        arrays["extra/x"] = np.zeros(2)
    assert "unexpected array 'extra/x'" in tampered(saved, edit)


def test_checkpoint_of_another_tag_or_none_refused(saved):
    folder, _, _ = saved
    with pytest.raises(CheckpointError, match="belongs to another run: its tag is 'run-a'"):
        build(tag="run-b").load(folder / "ckpt.npz")

    def edit(arrays, meta):
        del meta["tag"]
    assert "its tag is None" in tampered(saved, edit)
    build(tag=None).load(folder / "ckpt.npz")              # a Solver without a tag accepts it


def test_buffer_of_the_wrong_dtype(tmp_path):
    solver = build(normalization="batchnorm")
    solver.train()
    arrays, meta = load_params(solver.save(tmp_path / "c.npz"))
    name = next(k for k in arrays if k.startswith("buffers/"))
    arrays[name] = arrays[name].astype(np.float64)
    path = save_params(tmp_path / "bad.npz", arrays, meta)
    with pytest.raises(CheckpointError, match=r"buffers/.*float64"):
        build(normalization="batchnorm").load(path)


def test_run_finished_states(tmp_path):
    solver = build()
    assert not solver.run_finished
    solver.train()
    assert solver.run_finished
    with pytest.raises(TypeError, match="checkpoint_tag must be a string"):
        build(tag=3)
