"""fastnn.diagnose: the lecture's initialisation, dead-ReLU and gradient-flow effects."""
import json

import numpy as np
import pytest

from fastnn import diagnose, init


@pytest.fixture(scope="module")
def tanh_result():
    return diagnose.init_tanh(hidden=100, n_samples=200)


@pytest.fixture(scope="module")
def relu_result():
    return diagnose.init_relu(hidden=100, n_samples=200)


def test_small_init_collapses_tanh(tanh_result):
    std = tanh_result["inits"]["small"]["std"]
    assert len(std) == 10
    # every layer shrinks the std (about 0.01 * sqrt(100) = 0.1 per layer here)
    assert all(b < 0.5 * a for a, b in zip(std, std[1:]))
    assert std[9] / std[0] < 1e-3
    assert std[9] < 1e-3 * tanh_result["input_std"]
    assert max(tanh_result["inits"]["small"]["saturation_fraction"]) == 0.0


def test_xavier_tanh_stays_healthy(tanh_result):
    r = tanh_result["inits"]["xavier"]
    assert 0.1 < r["std"][9] < 0.7
    assert r["std"][9] / r["std"][0] > 0.2
    assert max(r["saturation_fraction"][1:]) < 0.02
    assert all(abs(m) < 0.05 for m in r["mean"])


def test_large_init_saturates_tanh(tanh_result):
    r = tanh_result["inits"]["large"]
    assert min(r["saturation_fraction"]) > 0.6
    assert min(r["std"]) > 0.9
    # the histogram mass sits in the two end bins of [-1, 1]
    h = r["hist"][9]
    counts = np.asarray(h["counts"])
    assert h["edges"][0] == -1.0 and h["edges"][-1] == 1.0
    assert (counts[0] + counts[-1]) / counts.sum() > 0.6


def test_he_saturates_tanh_more_than_xavier(tanh_result):
    he, xa = tanh_result["inits"]["he"], tanh_result["inits"]["xavier"]
    assert he["saturation_fraction"][0] > 2 * xa["saturation_fraction"][0]
    assert he["std"][9] > xa["std"][9]


def test_first_layer_numbers_match_numpy(tanh_result):
    X = np.random.default_rng(0).standard_normal((200, 100))
    k = list(tanh_result["inits"]).index("xavier")
    W = init.xavier_normal(np.empty((100, 100)), np.random.default_rng([0, k + 1]), mode="fan_in")
    a = np.tanh(X @ W)
    r = tanh_result["inits"]["xavier"]
    assert r["mean"][0] == pytest.approx(a.mean(), abs=1e-12)
    assert r["std"][0] == pytest.approx(a.std(), rel=1e-10)
    assert r["hist"][0]["counts"] == np.histogram(a, bins=30, range=(-1, 1))[0].tolist()


def test_he_relu_healthy_xavier_relu_shrinks(relu_result):
    he, xa = relu_result["inits"]["he"], relu_result["inits"]["xavier"]
    assert 0.5 < he["std"][9] / he["std"][0] < 2.0
    # Xavier halves the variance per ReLU layer: std ratio ~ (1/sqrt 2)^9 ~ 0.044
    assert xa["std"][9] / xa["std"][0] < 0.1
    assert all(b < a for a, b in zip(xa["std"], xa["std"][1:]))
    assert he["dead_fraction"][0] == 0.0


def test_sigmoid_gradients_vanish():
    r = diagnose.gradient_flow(hidden=50, n_samples=64)
    sig, relu = r["nets"]["sigmoid"], r["nets"]["relu"]
    assert len(sig["grad_norm"]) == 10
    assert sig["grad_norm"][0] < 1e-3 * relu["grad_norm"][0]
    assert sig["first_over_last"] < 1e-3
    assert relu["first_over_last"] > 1e-2
    # the sigmoid net's gradients grow layer by layer towards the output
    assert all(b > a for a, b in zip(sig["grad_norm"][:-1], sig["grad_norm"][1:-1]))


def test_dead_relu_after_too_high_learning_rate():
    r = diagnose.dead_relu(lrs=(1e-3, 0.2), steps=300)
    sane, high = r["runs"]
    assert sane["lr"] == 1e-3 and high["lr"] == 0.2
    assert len(sane["dead_fraction"]) == 3 and len(sane["loss"]) == 300
    assert max(sane["dead_at_init"]) < 0.1 and sane["dead_at_init"] == high["dead_at_init"]
    assert max(sane["dead_fraction"]) < 0.2
    assert np.mean(high["dead_fraction"]) > 0.5
    assert sane["val_acc"] > 0.9
    assert high["final_loss"] > sane["final_loss"] + 1


def test_run_format_and_json(tmp_path):
    out = diagnose.run("gradient-flow", outdir=str(tmp_path), seed=3)
    assert list(out) == ["gradient-flow"]
    res = out["gradient-flow"]
    assert res["seed"] == 3 and res["png"] == str(tmp_path / "gradient-flow.png")
    json.dumps(res, allow_nan=False)
    table = diagnose.format_result(res)
    assert "sigmoid (xavier)" in table and "relu (he)" in table and "W10" in table


def test_format_tables(tanh_result, relu_result):
    t = diagnose.format_result(tanh_result)
    assert t.splitlines()[0].startswith("init-tanh: 10 x (Linear(100) - Tanh)")
    assert any(line.strip().startswith("small") for line in t.splitlines())
    assert "dead fraction" in diagnose.format_result(relu_result)
    with pytest.raises(ValueError, match="unknown experiment"):
        diagnose.format_result({"experiment": "nope"})


def test_errors():
    with pytest.raises(ValueError, match="experiment must be 'all' or one of"):
        diagnose.run("nope")
    with pytest.raises(ValueError, match="inits must be a non-empty subset"):
        diagnose.init_tanh(inits=("zero",))
    with pytest.raises(ValueError, match="n_layers must be an integer >= 1"):
        diagnose.init_relu(n_layers=0)
    with pytest.raises(ValueError, match="activations must be a non-empty subset"):
        diagnose.gradient_flow(activations=("swish",))
    with pytest.raises(ValueError, match="lrs must be positive"):
        diagnose.dead_relu(lrs=(0.0,))
