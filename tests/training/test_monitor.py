"""fastnn.monitor.Monitor: activation statistics, dead / saturated units, update ratios."""
import json
import math

import numpy as np
import pytest

from fastnn import layers as L
from fastnn.models import FullyConnectedNet, Model, SmallVGG, ThreeLayerConvNet, TwoLayerNet
from fastnn.monitor import Monitor, activation_stats, iter_layers


def _mlp(act, d_in=5, hidden=6, d_out=3, seed=0, dtype=np.float64, **lin):
    rng = np.random.default_rng(seed)
    return Model(L.Sequential(L.Linear(d_in, hidden, seed=rng, dtype=dtype, **lin), act,
                              L.Linear(hidden, d_out, seed=rng, dtype=dtype)))


def test_dead_relu_on_purpose_reports_one(rng):
    model = _mlp(L.ReLU())
    model.params["b1"] = np.full(6, -1e3)
    rec = Monitor().observe_epoch(model, rng.standard_normal((40, 5)), epoch=1)
    stats = rec["activations"]["1:ReLU"]
    assert stats["dead_fraction"] == 1.0
    assert stats["mean"] == 0.0 and stats["std"] == 0.0
    assert stats["saturation_fraction"] is None


def test_partially_dead_relu_matches_numpy(rng):
    model = _mlp(L.ReLU())
    b = rng.standard_normal(6)
    b[[1, 4]] = -1e3
    model.params["b1"] = b
    X = rng.standard_normal((50, 5))
    rec = Monitor(probe_size=30, hist_bins=7).observe_epoch(model, X, epoch=2)
    pre = X[:30] @ model.params["W1"] + b
    a = np.maximum(pre, 0)
    expected_dead = np.mean(np.all(pre <= 0, axis=0))
    stats = rec["activations"]["1:ReLU"]
    assert stats["dead_fraction"] == pytest.approx(expected_dead)
    assert stats["dead_fraction"] >= 2 / 6
    assert stats["mean"] == pytest.approx(a.mean(), rel=1e-12)
    assert stats["std"] == pytest.approx(a.std(), rel=1e-12)
    counts, edges = np.histogram(a, bins=7)
    assert stats["hist"]["counts"] == counts.tolist()
    np.testing.assert_allclose(stats["hist"]["edges"], edges)
    assert rec["n_probe"] == 30 and rec["epoch"] == 2
    assert stats["shape"] == [30, 6]


def test_dead_channels_of_conv_relu(rng):
    net = L.Sequential(L.Conv2d(2, 4, 3, padding=1, seed=0, dtype=np.float64), L.ReLU(),
                       L.Flatten(), L.Linear(4 * 5 * 5, 3, seed=1, dtype=np.float64))
    b = np.full(4, 0.5)
    b[2] = -1e4
    net[0].params["b"] = b
    rec = Monitor().observe_epoch(Model(net), rng.standard_normal((8, 2, 5, 5)), epoch=0)
    # channel 2 is dead: a quarter of the units
    assert rec["activations"]["1:ReLU"]["dead_fraction"] == 0.25


def test_leaky_relu_dead_fraction_reads_the_input(rng):
    model = _mlp(L.LeakyReLU(0.1))
    b = np.zeros(6)
    b[:3] = -1e3
    model.params["b1"] = b
    rec = Monitor().observe_epoch(model, rng.standard_normal((20, 5)), epoch=0)
    stats = rec["activations"]["1:LeakyReLU"]
    assert stats["dead_fraction"] == 0.5
    assert stats["mean"] < -10  # the outputs are not zero, the units are in the negative regime


def test_tanh_with_huge_weights_saturates(rng):
    model = _mlp(L.Tanh(), d_in=50, hidden=40, init="normal", weight_scale=100.0)
    X = rng.standard_normal((64, 50))
    rec = Monitor().observe_epoch(model, X, epoch=0)
    a = np.tanh(X @ model.params["W1"])
    stats = rec["activations"]["1:Tanh"]
    assert stats["saturation_fraction"] == pytest.approx(np.mean(np.abs(a) > 0.99))
    assert stats["saturation_fraction"] > 0.95
    assert stats["dead_fraction"] is None


def test_sigmoid_saturation_matches_numpy(rng):
    model = _mlp(L.Sigmoid(), d_in=20, hidden=30, init="normal", weight_scale=1.0)
    X = rng.standard_normal((64, 20))
    rec = Monitor().observe_epoch(model, X, epoch=0)
    a = 1 / (1 + np.exp(-(X @ model.params["W1"])))
    expected = np.mean((a < 0.01) | (a > 0.99))
    assert 0.05 < expected < 0.95
    assert rec["activations"]["1:Sigmoid"]["saturation_fraction"] == pytest.approx(expected)


def test_small_init_tanh_not_saturated(rng):
    model = _mlp(L.Tanh(), init="normal", weight_scale=1e-2)
    rec = Monitor().observe_epoch(model, rng.standard_normal((64, 5)), epoch=0)
    assert rec["activations"]["1:Tanh"]["saturation_fraction"] == 0.0


def test_update_ratio_is_hand_computed(rng):
    model = _mlp(L.ReLU())
    X, y = rng.standard_normal((16, 5)), rng.integers(0, 3, 16)
    before = {k: v.copy() for k, v in model.params.items()}
    _, grads = model.loss(X, y)
    lr = 1e-2
    for k in model.params:
        model.params[k] = model.params[k] - lr * grads[k]
    mon = Monitor()
    stats = mon.observe_update(model, grads, before)
    w_old, w_new = before["W1"], model.params["W1"]
    assert stats["W1"]["update_ratio"] == pytest.approx(
        np.sqrt(np.sum((lr * grads["W1"]) ** 2)) / np.sqrt(np.sum(w_old ** 2)), rel=1e-10)
    assert stats["W1"]["update_ratio"] == pytest.approx(
        np.linalg.norm(w_new - w_old) / np.linalg.norm(w_old), rel=1e-10)
    assert stats["W1"]["grad_norm"] == pytest.approx(np.linalg.norm(grads["W1"]), rel=1e-12)
    assert stats["W1"]["weight_norm"] == pytest.approx(np.linalg.norm(w_new), rel=1e-12)
    # the biases start at zero: the ratio is undefined, reported as None
    assert stats["b1"]["update_ratio"] is None
    assert stats["b1"]["grad_norm"] == pytest.approx(np.linalg.norm(grads["b1"]))
    assert mon.n_updates == 1
    # merged into the next epoch record
    rec = mon.observe_epoch(model, X, epoch=1)
    assert rec["params"]["W1"] == stats["W1"]
    assert rec["n_updates"] == 1


def test_update_ratio_float32_accumulates_in_float64():
    w_old = np.full(1000, 1.0, np.float32)
    w_new = w_old + np.float32(1e-3)

    class M:
        params = {"W": w_new}

    stats = Monitor().observe_update(M(), {"W": np.ones(1000, np.float32)}, {"W": w_old})
    assert stats["W"]["update_ratio"] == pytest.approx(1e-3, rel=1e-4)
    assert stats["W"]["grad_norm"] == pytest.approx(math.sqrt(1000))


def test_missing_grad_and_before_give_none():
    class M:
        params = {"W": np.ones(3)}

    stats = Monitor().observe_update(M(), {}, {})
    assert stats["W"] == {"grad_norm": None, "weight_norm": pytest.approx(math.sqrt(3)),
                          "update_ratio": None}


def test_mode_cache_and_batchnorm_stats_untouched(rng):
    model = FullyConnectedNet([8, 8], input_dim=5, num_classes=3, normalization="batchnorm",
                              dropout=0.5, dtype=np.float64, seed=0)
    X, y = rng.standard_normal((12, 5)), rng.integers(0, 3, 12)
    model.loss(X, y)  # moves the running stats away from their init
    model.net.train()
    model.net.layers[3].eval()  # a mixed state must survive too
    modes = [layer.training for _, layer in iter_layers(model.net)]
    # a training forward whose backward comes after the probe
    scores = model.net.forward(X)
    buffers = {k: v.copy() for k, v in model.net.buffers.items()}
    dscores = np.ones_like(scores) / scores.size
    caches = [layer._cache for _, layer in iter_layers(model.net)]
    rec = Monitor().observe_epoch(model, rng.standard_normal((30, 5)), epoch=3)
    assert [layer.training for _, layer in iter_layers(model.net)] == modes
    assert all(layer._cache is c for (_, layer), c in zip(iter_layers(model.net), caches))
    for k, v in buffers.items():
        np.testing.assert_array_equal(model.net.buffers[k], v)
    assert not any("forward" in vars(layer) for _, layer in iter_layers(model.net))
    assert list(rec["activations"]) == ["2:ReLU", "6:ReLU"]
    model.net.zero_grad()
    model.net.backward(dscores)  # still works: the forward caches were put back
    g = {k: v.copy() for k, v in model.grads.items()}
    model.net.zero_grad()
    model.net.backward(dscores)
    for k in g:
        np.testing.assert_array_equal(model.grads[k], g[k])


def test_probe_uses_eval_mode(rng):
    # dropout p=0.9 in training would zero most units; eval mode is the identity
    net = L.Sequential(L.Linear(4, 50, seed=0, dtype=np.float64), L.Dropout(0.9, seed=0), L.ReLU())
    model = Model(net)
    X = rng.standard_normal((32, 4))
    rec = Monitor().observe_epoch(model, X, epoch=0)
    a = np.maximum(X @ net[0].params["w"], 0)
    assert rec["activations"]["2:ReLU"]["mean"] == pytest.approx(a.mean(), rel=1e-12)
    assert net.training


def test_nested_and_residual_names(rng):
    inner = L.Sequential(L.Linear(6, 6, seed=2, dtype=np.float64), L.Tanh())
    net = L.Sequential(L.Linear(4, 6, seed=0, dtype=np.float64), L.ReLU(),
                       L.Residual(L.Sequential(L.Linear(6, 6, seed=1, dtype=np.float64), L.GELU())),
                       L.Sequential(inner, L.PReLU(dtype=np.float64)),
                       L.Linear(6, 2, seed=3, dtype=np.float64))
    rec = Monitor().observe_epoch(Model(net), rng.standard_normal((10, 4)), epoch=0)
    assert list(rec["activations"]) == ["1:ReLU", "2.1:GELU", "3.0.1:Tanh", "3.1:PReLU"]
    assert rec["activations"]["3.1:PReLU"]["dead_fraction"] is not None


def test_every_model_and_json(rng):
    models = [
        TwoLayerNet(input_dim=64, hidden_dim=10, seed=0),
        FullyConnectedNet([10, 10], input_dim=64, normalization="layernorm", seed=0),
        ThreeLayerConvNet(input_dim=(1, 8, 8), num_filters=4, filter_size=3, hidden_dim=10,
                          seed=0),
        SmallVGG(input_dim=(1, 8, 8), channels=(4, 4, 8, 8), residual=True, drop_prob=0.5,
                 seed=0),
    ]
    expected = [["1:ReLU"], ["2:ReLU", "5:ReLU"], ["1:ReLU", "5:ReLU"],
                ["2:ReLU", "4:ReLU", "8:ReLU", "10:ReLU"]]
    X = rng.random((300, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, 300)
    for model, names in zip(models, expected):
        mon = Monitor(probe_size=64)
        before = {k: v.copy() for k, v in model.params.items()}
        _, grads = model.loss(X[:20], y[:20])
        for k in model.params:
            model.params[k] = model.params[k] - 1e-2 * grads[k]
        mon.observe_update(model, grads, before)
        rec = mon.observe_epoch(model, X, epoch=1)
        assert list(rec["activations"]) == names
        assert rec["n_probe"] == 64
        assert set(rec["params"]) == set(model.params)
        assert rec["params"]["W1"]["update_ratio"] > 0
        text = json.dumps(rec, allow_nan=False)
        assert json.loads(text) == rec
        assert mon.history == [rec]
        assert "update/weight ratio" in mon.summary(rec)


def test_nan_activations_counted_not_crashing():
    x = np.array([[np.nan, 1.0], [2.0, -1.0]])
    s = activation_stats(x, np.maximum(x, 0), L.ReLU(), hist_bins=4)
    assert s["nonfinite_fraction"] == 0.25
    assert math.isnan(s["mean"])
    assert sum(s["hist"]["counts"]) == 3
    assert s["dead_fraction"] == 0.0  # NaN is not "<= 0": unit 0 is not called dead


def test_summary_lines():
    rec = {"activations": {"1:ReLU": {"std": 0.5, "dead_fraction": 0.75,
                                      "saturation_fraction": None},
                           "3:Tanh": {"std": 0.2, "dead_fraction": None,
                                      "saturation_fraction": 0.1}},
           "params": {"W1": {"update_ratio": 2e-2}, "b1": {"update_ratio": None},
                      "W2": {"update_ratio": 5e-3}}}
    text = Monitor().summary(rec)
    assert "worst dead fraction 75.0% (1:ReLU)" in text
    assert "! 75% of the units of 1:ReLU are dead" in text
    assert "worst saturation 10.0% (3:Tanh)" in text
    assert "saturated (local" not in text          # 10% is below the 30% threshold
    assert "5.00e-03 (W2) .. 2.00e-02 (W1)" in text
    # no n_updates in the record: judged; 2e-2 is 20x the healthy 1e-3
    assert "is 20x the healthy ~1e-3: the learning rate is too high; divide it by about 20" \
        in text
    assert Monitor.summary({}) == "  (no monitor data)"


def _record(dead=0.0, sat=None, ratio=1e-3, n_updates=100, nonfinite=0.0):
    return {"n_updates": n_updates,
            "activations": {"1:ReLU": {"std": 0.5, "dead_fraction": dead,
                                       "saturation_fraction": None,
                                       "nonfinite_fraction": nonfinite},
                            "3:Tanh": {"std": 0.5, "dead_fraction": None,
                                       "saturation_fraction": sat}},
            "params": {"W1": {"update_ratio": ratio}, "W2": {"update_ratio": ratio / 2},
                       "b1": {"update_ratio": None}}}


def test_advice_healthy_record_is_silent():
    assert Monitor.advice(_record(dead=0.1, sat=0.05, ratio=1e-3)) == []
    assert "!" not in Monitor.summary(_record(dead=0.1, sat=0.05, ratio=1e-3))


def test_advice_dead_units_names_the_fixes():
    (line,) = Monitor.advice(_record(dead=0.55))
    assert line.startswith("55% of the units of 1:ReLU are dead")
    for fix in ("Lower the learning rate", "relu_bias", "leaky ReLU"):
        assert fix in line
    assert Monitor.advice(_record(dead=0.55), dead_threshold=0.6) == []


def test_advice_saturation_names_the_fixes():
    (line,) = Monitor.advice(_record(sat=0.45))
    assert line.startswith("45% of the outputs of 3:Tanh are saturated")
    assert "Xavier" in line and "batch norm" in line


@pytest.mark.parametrize("ratio, words, factor", [
    (3e-2, "too high; divide it by about", "30"),
    (1.2e-1, "too high; divide it by about", "100"),
    (5e-5, "too low; multiply it by about", "20"),
    (2e-6, "too low; multiply it by about", "500"),
])
def test_advice_update_ratio_gives_the_factor(ratio, words, factor):
    (line,) = Monitor.advice(_record(ratio=ratio))
    assert f"{words} {factor} " in line
    assert line.startswith(f"update/weight ratio {ratio:.1e} (W1)")


def test_advice_ratio_not_judged_on_the_first_updates():
    assert Monitor.advice(_record(ratio=5e-2, n_updates=1)) == []
    assert len(Monitor.advice(_record(ratio=5e-2, n_updates=2))) == 1


def test_advice_slow_layer_and_nonfinite():
    rec = _record(ratio=1e-3)
    rec["params"]["W2"]["update_ratio"] = 2e-6
    (line,) = Monitor.advice(rec)
    assert line.startswith("update/weight ratio of W2 is only 2.0e-06")
    (line,) = Monitor.advice(_record(nonfinite=0.5))
    assert "NaN/inf" in line and "lower the learning rate" in line


def test_solver_epoch_lines_carry_the_advice(capsys):
    from fastnn.solver import Solver
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 5))
    y = (X[:, 0] > 0).astype(int)
    model = _mlp(L.ReLU(), d_out=2)
    data = {"X_train": X, "y_train": y, "X_val": X[:50], "y_val": y[:50]}
    Solver(model, data, update_rule="sgd", lr=1e-7,
           batch_size=20, num_epochs=2, monitor=True, seed=0).train()
    out = capsys.readouterr().out
    assert "! update/weight ratio" in out and "too low; multiply it by about" in out


def test_errors(rng):
    with pytest.raises(ValueError, match="probe_size must be an integer >= 1"):
        Monitor(probe_size=0)
    with pytest.raises(ValueError, match="hist_bins must be an integer >= 0"):
        Monitor(hist_bins=2.5)
    with pytest.raises(ValueError, match="hist_bins must be an integer >= 0"):
        Monitor(hist_bins=-1)
    with pytest.raises(TypeError, match="must be a fastnn Model or Layer"):
        Monitor().observe_epoch(object(), rng.standard_normal((2, 3)), 0)
    with pytest.raises(ValueError, match="at least one sample"):
        Monitor().observe_epoch(_mlp(L.ReLU()), np.zeros((0, 5)), 0)


def test_state_restored_when_the_probe_fails(rng):
    model = _mlp(L.ReLU())
    model.net.train()
    with pytest.raises(ValueError):
        Monitor().observe_epoch(model, rng.standard_normal((4, 7)), 0)  # 7 != 5 features
    assert all(layer.training for _, layer in iter_layers(model.net))
    assert not any("forward" in vars(layer) for _, layer in iter_layers(model.net))


def test_bare_sequential_float32(rng):
    net = L.Sequential(L.Linear(5, 4, seed=0), L.ELU())  # float32 layers, float64 probe
    mon = Monitor()
    rec = mon.observe_epoch(net, rng.standard_normal((6, 5)), epoch=None)
    assert rec["epoch"] is None and list(rec["activations"]) == ["1:ELU"]
    assert rec["params"] == {}


def test_no_histograms_with_zero_bins(rng):
    model = _mlp(L.ReLU())
    model.params["b1"] = np.full(6, -1e3)
    rec = Monitor(hist_bins=0).observe_epoch(model, rng.standard_normal((10, 5)), epoch=0)
    stats = rec["activations"]["1:ReLU"]
    assert stats["hist"] == {"counts": [], "edges": []}
    assert stats["dead_fraction"] == 1.0
