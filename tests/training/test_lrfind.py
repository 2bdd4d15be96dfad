"""fastnn.lrfind: the learning-rate range test, its suggestion rules, its figure, fastnn lrfind
and fastnn train --lr auto."""
import json
import math

import numpy as np
import pytest

from fastnn import cli, layers as L, optim
from fastnn.lrfind import lrfind, suggest_lr
from fastnn.models import FullyConnectedNet

PNG = b"\x89PNG\r\n\x1a\n"


def _assert_png(path, min_size=20000):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == PNG and len(data) > min_size, (path, len(data))


@pytest.fixture(scope="module")
def digits():
    from fastnn.data import load_builtin
    d = load_builtin("digits")
    X = d["X_train"].reshape(len(d["X_train"]), -1)
    X = (X - X.mean(axis=0)) / (X.std(axis=0) + 1e-6)
    return {"X_train": X.astype(np.float32), "y_train": d["y_train"]}


def _net(seed=0):
    return FullyConnectedNet([64, 64], input_dim=64, num_classes=10, weight_scale=5e-2,
                             seed=seed)


@pytest.fixture(scope="module")
def result(digits, tmp_path_factory):
    path = tmp_path_factory.mktemp("lrf") / "lrfind.png"
    return lrfind(_net(), digits, update_rule="sgd_momentum", num_iter=150, path=str(path))


def test_rates_rise_exponentially_and_stop_at_divergence(result):
    lrs = np.asarray(result.lrs)
    ratio = lrs[1:] / lrs[:-1]
    np.testing.assert_allclose(ratio, (10.0 / 1e-7) ** (1 / 149), rtol=1e-9)
    assert lrs[0] == pytest.approx(1e-7)
    assert result.diverged and result.iterations < 150
    last = result.smoothed[-1]
    assert not math.isfinite(last) or last > 4 * min(result.smoothed)


def test_smoothed_loss_is_the_bias_corrected_average(result):
    avg, beta = 0.0, 0.98
    for k, loss in enumerate(result.losses):
        if not math.isfinite(loss):
            break
        avg = beta * avg + (1 - beta) * loss
        assert result.smoothed[k] == pytest.approx(avg / (1 - beta ** (k + 1)), rel=1e-12)


def test_diagnostics_recorded_at_every_rate(result):
    assert set(result.update_ratio) == {"W1", "W2", "W3"}
    assert set(result.dead_fraction) == {"1:ReLU", "3:ReLU"}
    n = result.iterations
    for series in list(result.update_ratio.values()) + list(result.dead_fraction.values()):
        assert len(series) == n
    r = np.array([v for v in result.update_ratio["W1"][:-1]], dtype=float)
    # SGD+momentum: the step grows with the rate: the ratio at the end is far above the start
    assert r[-1] > 1e3 * r[0]
    assert r[0] < 1e-4
    dead = result.worst_dead()
    assert all(0.0 <= d <= 1.0 for d in dead if d is not None)
    assert dead[0] < 0.2


def test_suggestion_is_a_tenth_of_the_min_loss_rate_or_capped(result):
    assert result.rule == "min10"
    s = np.asarray(result.smoothed, dtype=float)
    i = int(np.nanargmin(np.where(np.isfinite(s), s, np.nan)))
    assert result.min_loss_lr == pytest.approx(result.lrs[i])
    cap = result.extra["cap_lr"]
    assert result.suggested_lr == pytest.approx(cap if cap is not None else result.lrs[i] / 10)
    assert result.lrs[0] < result.suggested_lr < result.min_loss_lr
    assert "smoothed loss is lowest" in result.reason
    text = str(result)
    assert f"suggested lr {result.suggested_lr:.2e}" in text and "sgd_momentum" in text


def test_figure(result):
    _assert_png(result.png)


def test_model_is_not_modified(digits):
    model = _net()
    before = {k: v.copy() for k, v in model.params.items()}
    lrfind(model, digits, num_iter=20)
    for k, v in model.params.items():
        np.testing.assert_array_equal(v, before[k])


def test_suggest_lr_rules_on_a_synthetic_curve():
    lrs = np.logspace(-6, 0, 61)
    x = np.log10(lrs)
    loss = 2.0 - 1.5 / (1 + np.exp(-(x + 3) * 3))      # falls fastest at lr 1e-3
    loss = np.where(x > -1, loss + 20 * (x + 1) ** 2, loss)  # min near 1e-1, then up
    lr, why, info = suggest_lr(lrs, loss, rule="steepest")
    assert lr == pytest.approx(1e-3, rel=0.3)
    assert info["steepest_lr"] == lr and "falls fastest" in why
    lr10, why10, info10 = suggest_lr(lrs, loss, rule="min10")
    assert info10["min_loss_lr"] == pytest.approx(lrs[np.argmin(loss)])
    assert lr10 == pytest.approx(lrs[np.argmin(loss)] / 10)
    # the diagnostics hold it back: dead units jump at lr 1e-3
    dead = np.where(lrs > 1.1e-3, 0.6, 0.05)
    capped, why_c, info_c = suggest_lr(lrs, loss, rule="min10", dead=dead)
    assert capped == pytest.approx(lrs[lrs <= 1.1e-3][-1]) and capped < lr10
    assert "dead fraction rises from 5% to 60%" in why_c and info_c["cap_lr"] == capped
    ratio = lrs * 200.0                                    # passes 0.1 above lr 5e-4
    capped2, why2, _ = suggest_lr(lrs, loss, rule="min10", update_ratio=ratio)
    assert capped2 == pytest.approx(lrs[ratio <= 0.1][-1]) and capped2 < lr10
    assert "update/weight ratio reaches" in why2
    with pytest.raises(ValueError, match="rule must be one of"):
        suggest_lr(lrs, loss, rule="fast")
    with pytest.raises(ValueError, match="same length >= 3"):
        suggest_lr(lrs[:2], loss[:2])


def test_every_update_rule_and_a_callable(digits):
    for rule in ("sgd", "sgd_momentum", "nesterov", "rmsprop", "adam"):
        r = lrfind(_net(), digits, update_rule=rule, num_iter=15, end_lr=1e-2)
        assert r.iterations == 15 and r.update_rule == rule
        assert all(math.isfinite(v) for v in r.losses)
    calls = []

    def rule(w, dw, config):
        calls.append(config["learning_rate"])
        return optim.sgd(w, dw, config)

    r = lrfind(_net(), digits, update_rule=rule, num_iter=12, end_lr=1e-2)
    assert r.update_rule == "custom"
    np.testing.assert_allclose(sorted(set(calls)), r.lrs)


def test_fused_step_matches_the_course_rule(digits):
    """The range test's first update is the course rule's update at start_lr."""
    X, y = digits["X_train"][:32], digits["y_train"][:32]
    m1 = _net()
    r = lrfind(m1, (X, y), update_rule="sgd", num_iter=10, batch_size=32, start_lr=1e-3,
               end_lr=1e-2)
    m2 = _net()
    loss, grads = m2.loss(X, y)
    assert r.losses[0] == pytest.approx(float(loss), rel=1e-5)
    w1 = optim.sgd(m2.params["W1"], grads["W1"], {"learning_rate": 1e-3})[0]
    ratio = np.linalg.norm(w1 - m2.params["W1"]) / np.linalg.norm(m2.params["W1"])
    assert r.update_ratio["W1"][0] == pytest.approx(ratio, rel=1e-4)


def test_errors(digits):
    with pytest.raises(TypeError, match="lrfind: model must have a params dict"):
        lrfind(L.Sequential(L.Linear(64, 10)), digits)
    with pytest.raises(ValueError, match="end_lr .* must be larger than start_lr"):
        lrfind(_net(), digits, start_lr=1.0, end_lr=0.1)
    with pytest.raises(ValueError, match="num_iter must be an integer >= 10"):
        lrfind(_net(), digits, num_iter=5)
    with pytest.raises(ValueError, match="update_rule must be one of"):
        lrfind(_net(), digits, update_rule="lion")
    with pytest.raises(ValueError, match=r"optim_config keys \['beta1'\] do not apply to 'sgd'"):
        lrfind(_net(), digits, update_rule="sgd", optim_config={"beta1": 0.9})
    with pytest.raises(ValueError, match="beta must be in"):
        lrfind(_net(), digits, beta=1.0)
    with pytest.raises(KeyError, match="X_train"):
        lrfind(_net(), {"X": 1})


def test_to_dict_is_json_and_plots_again(result, tmp_path):
    d = json.loads(json.dumps(result.to_dict()))
    assert d["suggested_lr"] == result.suggested_lr and len(d["lrs"]) == result.iterations
    from fastnn.plots import plot_lrfind
    _assert_png(plot_lrfind(d, str(tmp_path / "again.png")))


def test_cli_lrfind(tmp_path, capsys):
    out = tmp_path / "lrf"
    code = cli.main(["lrfind", "--model", "mlp", "--hidden", "32", "--iterations", "60",
                     "--output-dir", str(out)])
    stdout = capsys.readouterr().out
    assert code == 0
    assert "learning-rate range test (adam, " in stdout and "suggested lr" in stdout
    _assert_png(out / "lrfind.png")
    d = json.loads((out / "lrfind.json").read_text())
    assert d["config"]["model"] == "mlp" and d["config"]["hidden"] == [32]
    assert f"--lr {d['suggested_lr']:.3g}" in stdout
    assert d["seconds"] > 0 and len(d["lrs"]) <= 60


@pytest.mark.parametrize("argv, msg", [
    (["--start-lr", "0"], "--start-lr must be a positive number"),
    (["--start-lr", "1", "--end-lr", "0.1"], "--end-lr (0.1) must be larger than --start-lr (1)"),
    (["--iterations", "3"], "--iterations must be >= 10"),
    (["--batch-size", "0"], "--batch-size must be >= 1"),
])
def test_cli_lrfind_bad_values(tmp_path, capsys, argv, msg):
    code = cli.main(["lrfind", "--output-dir", str(tmp_path / "x"), *argv])
    assert code == 2
    assert msg in capsys.readouterr().err


def test_cli_train_lr_auto_uses_the_suggestion(tmp_path, capsys):
    out = tmp_path / "run"
    code = cli.main(["train", "--lr", "auto", "--epochs", "1", "--model", "mlp", "--hidden",
                     "32", "--no-plots", "--output-dir", str(out)])
    stdout = capsys.readouterr().out
    assert code == 0
    cfg = json.loads((out / "config.json").read_text())
    assert isinstance(cfg["lr"], float)
    assert f"--lr auto: training with lr {cfg['lr']:g}" in stdout
    _assert_png(out / "lrfind.png")
    # the same suggestion as the range test on the same config
    from fastnn.commands.lrfind import range_test
    r = range_test(dict(cfg, lr="auto"))
    assert cfg["lr"] == float(f"{r.suggested_lr:.3g}")


def test_cli_train_rejects_bad_lr(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "--lr", "fast", "--output-dir", str(tmp_path / "r")])
    assert exc.value.code == 2
    assert "expected a number or 'auto'" in capsys.readouterr().err


def test_plain_course_model_without_layers(digits):
    """A CS231n-style model (params dict + loss, no layers): the range test runs, without the
    dead-unit fraction (the monitor's probe needs layers)."""
    inner = _net()

    class Plain:
        params = inner.params

        def loss(self, X, y=None):
            return inner.loss(X, y)

    r = lrfind(Plain(), digits, update_rule="sgd_momentum", num_iter=40, end_lr=1e-1)
    assert r.dead_fraction == {} and set(r.update_ratio) == {"W1", "W2", "W3"}
    assert r.worst_dead() == [None] * r.iterations


@pytest.mark.slow
def test_train_lr_auto_reaches_the_default_accuracy(tmp_path, capsys):
    """The issue's bar: fastnn train --lr auto reaches at least the default run's test accuracy."""
    accs = {}
    for name, extra in (("default", []), ("auto", ["--lr", "auto"])):
        code = cli.main(["train", "--no-plots", "--quiet", "--output-dir",
                         str(tmp_path / name), *extra])
        out = capsys.readouterr().out
        assert code == 0
        accs[name] = float(out.split("test accuracy:")[1].split()[0])
    assert accs["auto"] >= accs["default"], accs
