"""fastnn.plots and the ``fastnn plot`` / ``fastnn diagnose`` commands, end to end."""
import json
import os

import numpy as np
import pytest

from fastnn import cli, diagnose, plots
from fastnn import layers as L
from fastnn.models import Model
from fastnn.monitor import Monitor

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path, min_size=5000):
    assert os.path.isfile(path), path
    with open(path, "rb") as f:
        head = f.read(8)
    assert head == PNG_SIGNATURE, path
    assert os.path.getsize(path) > min_size, (path, os.path.getsize(path))


def _history(with_monitor=True, epochs=3):
    rng = np.random.default_rng(0)
    model = Model(L.Sequential(L.Linear(8, 16, seed=0), L.ReLU(), L.Linear(16, 8, seed=1),
                               L.Tanh(), L.Linear(8, 3, seed=2)))
    mon = Monitor(probe_size=32)
    X, y = rng.standard_normal((64, 8)).astype(np.float32), rng.integers(0, 3, 64)
    losses = []
    for epoch in range(1, epochs + 1):
        for _ in range(5):
            before = {k: v.copy() for k, v in model.params.items()}
            loss, grads = model.loss(X, y)
            losses.append(float(loss))
            for k in model.params:
                model.params[k] = model.params[k] - 1e-2 * grads[k]
            mon.observe_update(model, grads, before)
        mon.observe_epoch(model, X, epoch)
    history = {"loss_history": losses,
               "train_acc_history": list(np.linspace(0.3, 0.8, epochs + 1)),
               "val_acc_history": list(np.linspace(0.3, 0.7, epochs + 1)),
               "best_val_acc": 0.7, "config": {"anything": [1, 2]}}
    if with_monitor:
        history["monitor"] = mon.history
    return json.loads(json.dumps(history))  # as read back from history.json


def test_plot_history_writes_three_pngs(tmp_path):
    paths = plots.plot_history(_history(), str(tmp_path / "out"))
    assert [os.path.basename(p) for p in paths] == ["loss.png", "accuracy.png", "monitor.png"]
    for p in paths:
        assert_png(p)


def test_plot_history_without_monitor_or_accuracy(tmp_path):
    h = _history(with_monitor=False)
    paths = plots.plot_history(h, str(tmp_path))
    assert [os.path.basename(p) for p in paths] == ["loss.png", "accuracy.png"]
    assert not (tmp_path / "monitor.png").exists()
    h = {"loss_history": [], "monitor": []}
    for p in plots.plot_history(h, str(tmp_path / "empty")):
        assert_png(p, min_size=2000)
    with pytest.raises(TypeError, match="history must be a dict"):
        plots.plot_history([1, 2], str(tmp_path))


def test_plot_history_tolerates_nan_and_null(tmp_path):
    h = {"loss_history": [2.3, None, float("nan"), 1.0, float("inf")],
         "train_acc_history": [0.1, 0.5], "val_acc_history": [0.1, None]}
    for p in plots.plot_history(h, str(tmp_path)):
        assert_png(p)


def test_smooth():
    v = [1.0, 2.0, 3.0, float("nan"), 5.0]
    np.testing.assert_allclose(plots.smooth(v, 2), [1.0, 1.5, 2.5, 3.0, 5.0])
    np.testing.assert_allclose(plots.smooth([4.0, 4.0], None), [4.0, 4.0])
    assert plots.smooth([], 3).size == 0


def test_diagnose_figures(tmp_path):
    r = diagnose.init_tanh(n_layers=4, hidden=30, n_samples=50, outdir=str(tmp_path))
    assert r["png"] == str(tmp_path / "init-tanh.png")
    r2 = diagnose.init_relu(n_layers=3, hidden=30, n_samples=50, outdir=str(tmp_path))
    r3 = diagnose.gradient_flow(n_layers=4, hidden=20, n_samples=30, outdir=str(tmp_path))
    r4 = diagnose.dead_relu(lrs=(1e-3, 0.2), steps=20, hidden=(20, 20), outdir=str(tmp_path))
    for res in (r, r2, r3, r4):
        assert_png(res["png"])
        json.dumps(res, allow_nan=False)


# ---------------------------------------------------------------- command line

def test_cli_plot(tmp_path, capsys):
    path = tmp_path / "run" / "history.json"
    path.parent.mkdir()
    path.write_text(json.dumps(_history()))
    assert cli.main(["plot", str(path)]) == 0
    out = capsys.readouterr().out
    for name in ("loss.png", "accuracy.png", "monitor.png"):
        assert_png(str(path.parent / name))
        assert str(path.parent / name) in out
    assert cli.main(["plot", str(path), "--output-dir", str(tmp_path / "figs")]) == 0
    assert_png(str(tmp_path / "figs" / "monitor.png"))


def _one_line_error(capsys, status, must_contain):
    err = capsys.readouterr().err
    assert status != 0
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert must_contain in err, err
    return err


@pytest.mark.parametrize("content, why", [
    (None, "no such file"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"val_acc_history": []}', "no 'loss_history'"),
    ('{"loss_history": 3}', "'loss_history' must be a list"),
    ('{"loss_history": ["a"]}', "must hold numbers"),
    (b"\xff\xfe\x00garbage", "not valid JSON"),
])
def test_cli_plot_bad_file(tmp_path, capsys, content, why):
    path = tmp_path / "history.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    status = cli.main(["plot", str(path)])
    err = _one_line_error(capsys, status, why)
    assert err.startswith(f"fastnn plot: error: {path}: ")
    assert status == 2


def test_cli_plot_error_names_the_file(tmp_path, capsys):
    path = tmp_path / "missing.json"
    status = cli.main(["plot", str(path)])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("fastnn plot: error: ") and str(path) in err
    assert cli.main(["plot", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_cli_plot_output_dir_is_a_file(tmp_path, capsys):
    path = tmp_path / "history.json"
    path.write_text(json.dumps({"loss_history": [1.0]}))
    (tmp_path / "afile").write_text("x")
    status = cli.main(["plot", str(path), "--output-dir", str(tmp_path / "afile")])
    _one_line_error(capsys, status, "is not a directory")


def test_cli_plot_missing_argument(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["plot"])
    assert exc.value.code != 0
    _one_line_error(capsys, exc.value.code, "HISTORY_JSON")


def test_cli_diagnose_one_experiment(tmp_path, capsys):
    out = tmp_path / "diag"
    assert cli.main(["diagnose", "--experiment", "gradient-flow", "--output-dir", str(out),
                     "--seed", "2"]) == 0
    text = capsys.readouterr().out
    assert "sigmoid (xavier)" in text and "ratio" in text
    assert_png(str(out / "gradient-flow.png"))
    assert str(out / "gradient-flow.png") in text
    data = json.loads((out / "diagnose.json").read_text())
    assert list(data) == ["gradient-flow"] and data["gradient-flow"]["seed"] == 2


@pytest.mark.slow
def test_cli_diagnose_all(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["diagnose"]) == 0
    text = capsys.readouterr().out
    for name in diagnose.EXPERIMENTS:
        assert_png(str(tmp_path / "fastnn-diagnose" / f"{name}.png"))
        assert name in text


@pytest.mark.parametrize("argv, why", [
    (["diagnose", "--experiment", "nope"], "invalid choice"),
    (["diagnose", "--seed", "x"], "invalid int value"),
])
def test_cli_diagnose_bad_args(capsys, argv, why):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    _one_line_error(capsys, exc.value.code, why)


def test_cli_diagnose_bad_values(tmp_path, capsys):
    status = cli.main(["diagnose", "--seed", "-1", "--output-dir", str(tmp_path)])
    _one_line_error(capsys, status, "--seed must be >= 0")
    (tmp_path / "afile").write_text("x")
    status = cli.main(["diagnose", "--output-dir", str(tmp_path / "afile")])
    _one_line_error(capsys, status, "is not a directory")


def test_solver_monitor_history_plots(tmp_path):
    # the lead's Solver drives the Monitor; its history() goes through JSON into plot_history
    from fastnn.data import load_builtin
    from fastnn.models import TwoLayerNet
    from fastnn.solver import Solver
    d = load_builtin("digits")
    data = {"X_train": d["X_train"][:200], "y_train": d["y_train"][:200],
            "X_val": d["X_val"], "y_val": d["y_val"]}
    model = TwoLayerNet(input_dim=64, hidden_dim=20, weight_scale=1e-1, seed=0)
    solver = Solver(model, data, update_rule="adam", num_epochs=2, batch_size=50,
                    monitor=True, verbose=False, seed=0)
    solver.train()
    history = json.loads(json.dumps(solver.history(), allow_nan=False))
    assert [r["epoch"] for r in history["monitor"]] == [0, 1, 2]
    assert history["monitor"][-1]["params"]["W1"]["update_ratio"] > 0
    paths = plots.plot_history(history, str(tmp_path))
    assert [os.path.basename(p) for p in paths] == ["loss.png", "accuracy.png", "monitor.png"]
    for p in paths:
        assert_png(p)


# ---------------------------------------------------------------- the lecture figures' axes

def test_init_relu_histograms_share_one_axis():
    r = diagnose.init_relu(n_layers=4, hidden=60, n_samples=80)
    # the same bins for every layer and init
    edges = {tuple(h["edges"]) for name in r["inits"] for h in r["inits"][name]["hist"]}
    assert len(edges) == 1
    e = next(iter(edges))
    assert e[0] == 0.0 and e[-1] == diagnose.RELU_HIST_MAX
    fig = plots._init_figure(r)
    hist_axes = fig.axes[2:]
    assert len(hist_axes) == 2 * 4
    limits = {(ax.get_xlim(), ax.get_ylim(), ax.get_yscale()) for ax in hist_axes}
    assert len(limits) == 1                        # one x range, one log y range
    (xlim, ylim, yscale), = limits
    assert xlim == (0.0, diagnose.RELU_HIST_MAX) and yscale == "log"
    # Xavier's last layer has collapsed: its mass sits in the first bins, He's does not
    xa = np.asarray(r["inits"]["xavier"]["hist"][-1]["counts"], float)
    he = np.asarray(r["inits"]["he"]["hist"][-1]["counts"], float)
    assert xa[:3].sum() / xa.sum() > he[:3].sum() / he.sum()


def test_dead_relu_loss_panel_is_log_scale():
    r = diagnose.dead_relu(lrs=(1e-3, 0.2), steps=30, hidden=(20, 20))
    fig = plots._dead_relu_figure(r)
    assert fig.axes[1].get_yscale() == "log"
    assert len(fig.axes[1].get_lines()) == 2


def test_accuracy_zoom_and_last_epoch_tick():
    train = [0.17, 0.92, 0.97, 0.985] + [0.99 + 0.0005 * i for i in range(17)]
    val = [0.2, 0.89, 0.95, 0.95] + [0.96 + 0.001 * (i % 3) for i in range(17)]
    fig = plots._accuracy_figure(train, val)
    full, zoom = fig.axes
    assert full.get_ylim() == pytest.approx((-0.02, 1.02))
    lo, hi = zoom.get_ylim()
    assert 0.85 < lo < 0.9 and 1.0 <= hi <= 1.01      # the 0.95-1.0 band fills half of it
    for ax in (full, zoom):
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert max(ticks) == 20                        # the last epoch, nothing beyond
        assert ax.get_xlim()[1] < 21
    assert min(t for t in zoom.get_xticks()) == 1


@pytest.mark.parametrize("n, expected", [(1, [0]), (2, [0, 1]), (4, [0, 1, 2, 3]),
                                         (21, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20]),
                                         (22, [0, 3, 6, 9, 12, 15, 18, 21])])
def test_epoch_ticks(n, expected):
    fig = plots._figure(4, 3)
    ax = fig.add_subplot(1, 1, 1)
    plots._epoch_x(ax, 0, n - 1)
    assert list(ax.get_xticks()) == expected
