"""fastnn.tune beyond random/grid search: conditional and file spaces, the TrainFn over every
fastnn train option and any data, early stopping (ASHA, median rule, divergence) reproducible
on every backend and resumable, the TPE sampler, the search plots and the CLI options."""
import json
import math
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from fastnn import tune
from fastnn.cli import main
from fastnn.tune import _train

from helpers import CHILD_CWD, child_env, pickled_by_value


@pytest.fixture(autouse=True)
def _by_value():
    with pickled_by_value(__name__):
        yield


def _table(r):
    return [(t["stage"], t["trial"], t["status"], t["config"], t["seed"], t["metrics"],
             t.get("reports")) for t in r.trials]


# ------------------------------------------------------------------ spaces

def test_conditional_sampled_only_when_its_parent_matches():
    space = {"optimizer": tune.choice(["adam", "sgd_momentum", "nesterov"]),
             "momentum": tune.conditional(tune.uniform(0.5, 0.99),
                                          optimizer=["sgd_momentum", "nesterov"])}
    r = tune.random_search(lambda c, s: {"val_acc": 0.0}, space, 60, seed=3)
    rules = [t["config"]["optimizer"] for t in r.trials]
    assert {"adam", "sgd_momentum", "nesterov"} == set(rules)
    for t in r.trials:
        has = "momentum" in t["config"]
        assert has == (t["config"]["optimizer"] != "adam")
        if has:
            assert 0.5 <= t["config"]["momentum"] <= 0.99
    row = [x for x in r.to_rows() if x["optimizer"] == "adam"][0]
    assert row["momentum"] is None                    # absent: blank in the table
    d = r.to_dict()
    assert d["space"]["momentum"] == {"type": "conditional",
                                      "dim": {"type": "uniform", "low": 0.5, "high": 0.99},
                                      "when": {"optimizer": ["sgd_momentum", "nesterov"]}}
    assert tune.SearchResult.from_dict(json.loads(json.dumps(d))).space == r.space
    with pytest.raises(ValueError, match=r"'momentum' is conditional on \['optimizer'\], "
                                         "which must come before it"):
        tune.random_search(lambda c, s: {}, {"momentum": space["momentum"],
                                             "optimizer": space["optimizer"]}, 1)


def test_grid_search_with_a_conditional():
    space = {"rule": tune.grid(["a", "b"]),
             "m": tune.conditional(tune.grid([1, 2, 3]), rule="b")}
    r = tune.grid_search(lambda c, s: {"val_acc": 0.0}, space)
    assert [t["config"] for t in r.trials] == [{"rule": "a"}, {"rule": "b", "m": 1},
                                               {"rule": "b", "m": 2}, {"rule": "b", "m": 3}]


def test_space_files_toml_and_json(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text('lr = {type = "loguniform", low = 1e-4, high = 1e-1}\n'
                    'optimizer = {type = "choice", values = ["adam", "sgd_momentum"]}\n'
                    'momentum = {type = "uniform", low = 0.5, high = 0.9, '
                    'when = {optimizer = ["sgd_momentum"]}}\n'
                    'depth = {type = "randint", low = 1, high = 4}\n'
                    'batch_size = 64\n')
    space = tune.load_space(toml)
    assert space == {"lr": tune.loguniform(1e-4, 1e-1),
                     "optimizer": tune.choice(["adam", "sgd_momentum"]),
                     "momentum": tune.conditional(tune.uniform(0.5, 0.9),
                                                  optimizer="sgd_momentum"),
                     "depth": tune.randint(1, 4), "batch_size": 64}
    js = tmp_path / "s.json"
    js.write_text(json.dumps({"space": {"lr": {"type": "uniform", "low": 0, "high": 1}}}))
    assert tune.load_space(js) == {"lr": tune.uniform(0, 1)}
    with pytest.raises(ValueError, match=r"bad entry 'lr': a loguniform takes \['low', 'high'\]"):
        tune.space_from_dict({"lr": {"type": "loguniform", "low": 1e-3}})
    with pytest.raises(ValueError, match=r"bad entry 'x': type must be one of"):
        tune.space_from_dict({"x": {"type": "normal"}})
    with pytest.raises(ValueError, match="load_space: cannot read"):
        tune.load_space(tmp_path / "missing.toml")


# ------------------------------------------------------------------ the trial function

def test_train_fn_defaults_are_fastnn_trains():
    import argparse

    from fastnn.commands import train
    p = argparse.ArgumentParser()
    train.add_arguments(p)
    d = vars(p.parse_args([]))
    cli = {k: d[k] for k in _train.DEFAULTS if k in d and k != "model"}
    assert "optimizer" in cli and "filters" in cli      # spelled as fastnn train's options
    for k, v in cli.items():
        assert _train.DEFAULTS[k] == v, k
    assert _train.DEFAULTS["init"] == "kaiming"


def test_train_fn_builds_every_option(restore_threads):
    fn = tune.make_train_fn("mlp", epochs=1)
    m = fn.build({"depth": 3, "width": 40, "width_2": 24, "dropout": 0.3,
                  "activation": "tanh", "normalization": "batchnorm"}, 0)
    assert [m.params[f"W{i}"].shape for i in range(1, 5)] == [(64, 40), (40, 24), (24, 40),
                                                               (40, 10)]
    assert {"gamma1", "gamma2", "gamma3"} <= set(m.params)          # batch norm
    names = {type(layer).__name__ for layer in m.net.layers}
    assert {"Dropout", "Tanh"} <= names
    assert fn.settings({"hidden": "32,16"})["hidden"] == (32, 16)
    assert fn.settings({"width": 50})["hidden"] == (50, 50)
    assert fn.settings({"optimizer": "sgd", "filters": 8})["optimizer"] == "sgd"
    # the optimiser's options reach the Solver (momentum 0.5 and 0.9 train differently)
    a = fn({"optimizer": "nesterov", "momentum": 0.5, "lr": 1e-2}, 1)
    b = fn({"optimizer": "nesterov", "momentum": 0.9, "lr": 1e-2}, 1)
    assert a["loss_history"][3] != b["loss_history"][3]
    c = fn({"schedule": "cosine", "augment": "flip", "lr": 1e-2}, 1)
    assert c["val_acc"] > 0.5
    with pytest.raises(ValueError, match=r"unknown config key\(s\) \['width_0'\]"):
        fn({"width_0": 3}, 0)


def _mnist_folder(tmp_path, rng):
    """``tmp_path/mnist``: random IDX files of 5080 training and 20 test 28x28 images."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    imgs = rng.integers(0, 256, size=(5100, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=5100, dtype=np.uint8)
    for stem, n in (("train", 5080), ("t10k", 20)):
        with open(folder / f"{stem}-images-idx3-ubyte", "wb") as f:
            f.write(np.array([2051, n, 28, 28], dtype=">i4").tobytes() + imgs[:n].tobytes())
        with open(folder / f"{stem}-labels-idx1-ubyte", "wb") as f:
            f.write(np.array([2049, n], dtype=">i4").tobytes() + labels[:n].tobytes())
    return folder


def test_train_fn_user_arrays_and_a_folder(tmp_path, restore_threads):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    data = {"X_train": X[:240], "y_train": y[:240], "X_val": X[240:], "y_val": y[240:]}
    fn = tune.make_train_fn("mlp", epochs=3, batch_size=30, data=data)
    m = fn({"lr": 1e-2}, 0)
    assert m["val_acc"] > 0.85                        # the sign of a feature is learnable
    assert len(pickle.dumps(fn)) < 2000               # workers get the arrays another way
    with pytest.raises(ValueError, match="the convnet model needs images"):
        tune.make_train_fn("convnet", data=data)({}, 0)
    with pytest.raises(ValueError, match=r"data lacks \['y_val'\]"):
        tune.make_train_fn("mlp", data={k: v for k, v in data.items() if k != "y_val"})
    # an MNIST folder (IDX files)
    folder = _mnist_folder(tmp_path, rng)
    fn = tune.make_train_fn("convnet", dataset=str(folder), batch_size=500)
    assert fn.shared_data()["X_train"].shape == (80, 1, 28, 28)     # 5000 held out for val
    m = fn({"filters": 4, "hidden": [16]}, 0)
    assert len(m["val_acc_history"]) == 1 and 0 <= m["val_acc"] <= 1
    with pytest.raises(ValueError, match=r"dataset must be one of \[.digits.\] or a CIFAR-10 / MNIST folder"):
        tune.make_train_fn("mlp", dataset=str(tmp_path / "nope"))


def test_shared_arrays_reach_worker_processes(restore_threads):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    y = (X[:, 1] > 0).astype(np.int64)
    data = {"X_train": X[:160], "y_train": y[:160], "X_val": X[160:], "y_val": y[160:]}
    fn = tune.make_train_fn("mlp", epochs=2, batch_size=40, data=data)
    space = {"lr": tune.loguniform(1e-3, 1e-2)}
    one = tune.random_search(fn, space, 3, seed=2)
    two = tune.random_search(fn, space, 3, seed=2, n_jobs=2)
    assert all(t["status"] == "ok" for t in two.trials)
    assert _table(one) == _table(two)


def test_segments_continue_to_the_uninterrupted_run(restore_threads):
    fn = tune.make_train_fn("mlp", epochs=5, batch_size=100)
    cfg = {"lr": 5e-3, "dropout": 0.2, "schedule": "cosine"}
    full = fn(cfg, 7)
    m1, s1 = fn.run(cfg, 7, until=1)
    assert m1["epochs_trained"] == 1 and isinstance(s1, bytes)
    m2, s2 = fn.run(cfg, 7, until=3, state=s1)
    m3, s3 = fn.run(cfg, 7, state=s2)
    assert s3 is None and m3 == full
    assert m2["val_acc_history"] == full["val_acc_history"][:3]


def test_divergence_stops_at_the_iteration(restore_threads):
    fn = tune.make_train_fn("mlp", epochs=4, batch_size=50)
    r = tune.random_search(fn, {"lr": 30.0, "optimizer": "sgd"}, 1)
    t = r.trials[0]
    assert t["status"] == "failed" and t["error"].startswith("diverged: loss")
    assert "(epoch 1)" in t["error"]
    n = len(t["metrics"]["loss_history"])
    assert n < 1259 // 50                              # stopped inside the first epoch
    h = t["metrics"]["loss_history"]
    assert not math.isfinite(h[-1]) or h[-1] > 3 * h[0]
    assert all(math.isfinite(v) and v <= 3 * h[0] for v in h[:-1])


# ------------------------------------------------------------------ early stopping

class Curves:
    """A cheap trial that trains in segments: val acc after e epochs is q * (1 - 2**-e)."""

    epochs = 9

    def run(self, config, seed, until=None, state=None, diverge_factor=3.0):
        end = self.epochs if until is None else min(until, self.epochs)
        hist = [config["q"] * (1 - 0.5 ** (e + 1)) for e in range(end)]
        if config.get("q", 0) < 0.05:
            return {"val_acc": 0.0, "diverged": "diverged: test"}, None
        m = {"val_acc": max(hist), "val_acc_history": hist, "epochs_trained": end,
             "from": 0 if state is None else state}
        return m, (end if end < self.epochs else None)

    def __call__(self, config, seed):
        return self.run(config, seed)[0]


def test_asha_keeps_the_top_third_at_each_milestone():
    r = tune.random_search(Curves(), {"q": tune.uniform(0, 1)}, 27, seed=5, scheduler="asha")
    qs = {t["trial"]: t["config"]["q"] for t in r.trials}
    top = sorted(qs, key=lambda i: -qs[i])
    by = {s: sorted(t["trial"] for t in r.trials if t["status"] == s)
          for s in ("ok", "stopped", "failed")}
    assert by["ok"] == sorted(top[:3])                 # 27 -> 9 -> 3
    third = [t for t in r.trials if t["status"] == "stopped" and t["metrics"]["epochs_trained"] == 3]
    assert sorted(t["trial"] for t in third) == sorted(top[3:9])
    failed = [i for i in qs if qs[i] < 0.05]
    assert by["failed"] == sorted(failed)
    for t in r.trials:
        if t["status"] == "ok":
            assert [e for e, _ in t["reports"]] == [1, 3] and t["metrics"]["from"] == 3
    assert sum(t["metrics"].get("epochs_trained", 1) for t in r.trials) == 27 + 9 * 2 + 3 * 6
    assert r.best_trial["trial"] == top[0]


def _median_oracle(qs, milestones, min_trials=3):
    """The median rule applied one trial after another in index order."""
    reached, stopped_at = {m: [] for m in milestones}, {}
    for i, q in enumerate(qs):
        for m in milestones:
            v = q * (1 - 0.5 ** m)
            ref = list(reached[m])
            reached[m].append(v)
            if len(ref) >= min_trials and v < np.median(ref):
                stopped_at[i] = m
                break
    return stopped_at


def test_median_rule():
    r = tune.random_search(Curves(), {"q": tune.uniform(0.1, 1)}, 20, seed=9,
                           scheduler=tune.MedianStop(min_epochs=2, every=3))
    qs = [t["config"]["q"] for t in r.trials]
    expect = _median_oracle(qs, [2, 5, 8])
    got = {t["trial"]: t["metrics"]["epochs_trained"] for t in r.trials
           if t["status"] == "stopped"}
    assert got == expect and 0 < len(got) < 20


@pytest.mark.parametrize("scheduler", ["asha", "median"])
def test_scheduler_identical_on_every_backend(scheduler, restore_threads):
    distributed = pytest.importorskip("distributed")
    fn = tune.make_train_fn("mlp", epochs=9, batch_size=100)
    space = {"lr": tune.loguniform(1e-4, 1e-1), "dropout": tune.uniform(0, 0.5),
             "width": tune.choice([32, 64]), "depth": tune.randint(1, 3)}
    one = tune.random_search(fn, space, 9, seed=4, scheduler=scheduler)
    two = tune.random_search(fn, space, 9, seed=4, scheduler=scheduler, n_jobs=2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        dask = tune.random_search(fn, space, 9, seed=4, scheduler=scheduler, client=client)
    assert {t["status"] for t in one.trials} >= {"ok", "stopped"}
    assert _table(one) == _table(two) == _table(dask)


def test_asha_resumes_from_the_results_file(tmp_path):
    path = tmp_path / "r.json"
    full = tune.random_search(Curves(), {"q": tune.uniform(0, 1)}, 27, seed=5, scheduler="asha")
    seen = []
    tune.random_search(Curves(), {"q": tune.uniform(0, 1)}, 27, seed=5, scheduler="asha",
                       results_path=path, callback=lambda rec: seen.append(rec["trial"]))
    d = json.loads(path.read_text())
    d["trials"] = [t for t in d["trials"] if t["status"] == "stopped"][:10]   # cut short
    path.write_text(json.dumps(d))
    kept = {t["trial"] for t in d["trials"]}
    again = []
    r = tune.random_search(Curves(), {"q": tune.uniform(0, 1)}, 27, seed=5, scheduler="asha",
                           results_path=path, callback=lambda rec: again.append(rec["trial"]))
    assert _table(r) == _table(full)
    assert sorted(again) == sorted(set(range(27)) - kept)    # the kept trials are not re-run


def test_coarse_to_fine_with_a_scheduler_per_stage():
    r = tune.coarse_to_fine(Curves(), {"q": tune.uniform(0.1, 1)}, stages=[(9, 9), (6, 9)],
                            scheduler=["asha", None], seed=1)
    s0 = [t["status"] for t in r.trials if t["stage"] == 0]
    s1 = [t["status"] for t in r.trials if t["stage"] == 1]
    assert s0.count("ok") == 1 and s0.count("stopped") == 8
    assert s1 == ["ok"] * 6
    with pytest.raises(ValueError, match="scheduler must be one value or one per stage"):
        tune.coarse_to_fine(Curves(), {"q": tune.uniform(0.1, 1)}, stages=[3, 3],
                            scheduler=["asha"])


def test_scheduler_errors():
    with pytest.raises(ValueError, match="early stopping needs a trial function that trains "
                                         "in segments"):
        tune.random_search(lambda c, s: {"val_acc": 1.0}, {"x": 1}, 1, scheduler="asha")
    with pytest.raises(ValueError, match="scheduler must be 'asha', 'median', 'none'"):
        tune.random_search(Curves(), {"q": 0.5}, 1, scheduler="hyperband")
    with pytest.raises(ValueError, match="ASHA: eta must be an integer >= 2, got 1"):
        tune.ASHA(eta=1)
    with pytest.raises(ValueError, match="'epochs' cannot be searched under a scheduler"):
        tune.random_search(Curves(), {"q": 0.5, "epochs": tune.randint(1, 5)}, 1,
                           scheduler="asha")


# ------------------------------------------------------------------ TPE

def _bowl(config, seed):
    return {"val_acc": -((math.log10(config["lr"]) + 2.5) ** 2) - (config["w"] - 3) ** 2}


def test_tpe_sampler_reproducible_and_better_than_random():
    pytest.importorskip("optuna")
    space = {"lr": tune.loguniform(1e-5, 1e-1), "w": tune.uniform(0, 10),
             "rule": tune.choice(["a", "b"]),
             "m": tune.conditional(tune.uniform(0, 1), rule="b")}
    a = tune.random_search(_bowl, space, 48, seed=3, sampler="tpe", tpe_batch=4)
    b = tune.random_search(_bowl, space, 48, seed=3, sampler="tpe", tpe_batch=4, n_jobs=2)
    assert _table(a) == _table(b)
    for t in a.trials:
        assert ("m" in t["config"]) == (t["config"]["rule"] == "b")
    rnd = tune.random_search(_bowl, space, 48, seed=3)
    # TPE concentrates its later proposals near the optimum
    late = np.mean([t["metrics"]["val_acc"] for t in a.trials[24:]])
    late_rnd = np.mean([t["metrics"]["val_acc"] for t in rnd.trials[24:]])
    assert late > late_rnd


def test_tpe_without_optuna(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ImportError, match=r"pip install 'fastnn\[optuna\]'"):
        tune.random_search(_bowl, {"lr": tune.loguniform(1e-5, 1e-1), "w": 3.0}, 2,
                           sampler="tpe")


# ------------------------------------------------------------------ plots

def test_search_plots(tmp_path):
    r = tune.coarse_to_fine(Curves(), {"q": tune.uniform(0.1, 1), "lr": tune.loguniform(1e-4, 1),
                                       "reg": tune.loguniform(1e-5, 1e-1)},
                            stages=[(9, 9), (6, 9)], scheduler="asha", seed=2)
    paths = r.plot(tmp_path)
    names = sorted(os.path.basename(p) for p in paths)
    assert names == ["learning_curves.png", "lr_reg.png", "val_acc_vs_lr.png",
                     "val_acc_vs_q.png", "val_acc_vs_reg.png"]     # no val_acc_vs_epochs.png
    assert all(os.path.getsize(p) > 1000 for p in paths)
    code = ("import sys, fastnn.tune as t, fastnn.plots as p; "
            "sys.exit('matplotlib.pyplot' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], env=child_env(),
                          cwd=CHILD_CWD).returncode == 0


# ------------------------------------------------------------------ CLI

def test_cli_search_scheduler_sampler_space_file(tmp_path, capsys):
    pytest.importorskip("optuna")
    f = tmp_path / "space.toml"
    f.write_text('lr = {type = "loguniform", low = 1e-3, high = 3e-2}\n'
                 'width = {type = "choice", values = [32, 64]}\n')
    out = tmp_path / "s"
    argv = ["search", "--model", "mlp", "--trials", "6", "--epochs", "3", "--batch-size", "100",
            "--space", str(f), "--space", "dropout=uniform:0:0.3", "--scheduler", "asha",
            "--sampler", "tpe", "--output-dir", str(out), "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "ASHA(eta=3, min_epochs=1) early stopping, Optuna TPE sampler" in text
    r = tune.SearchResult.from_json(out / "results.json")
    assert len(r) == 6 and {t["status"] for t in r.trials} <= {"ok", "stopped", "failed"}
    assert sum(t["status"] == "ok" for t in r.trials) == 2           # 6 -> 2 at epoch 1
    assert set(r.trials[0]["config"]) == {"lr", "width", "dropout"}
    assert "learning_curves.png" in os.listdir(out)


def test_cli_deprecated_scheduler_address(tmp_path, capsys, monkeypatch):
    seen = {}

    def fake(train_fn, space, n, seed=0, **kw):
        seen.update(kw)
        return tune.SearchResult([], space=space)

    monkeypatch.setattr(tune, "random_search", fake)
    main(["search", "--trials", "1", "--scheduler", "tcp://10.0.0.1:8786",
          "--output-dir", str(tmp_path / "x"), "--no-progress"])
    err = capsys.readouterr().err
    assert "--scheduler ADDRESS is deprecated, use --dask-scheduler tcp://10.0.0.1:8786" in err
    assert seen["dask_scheduler"] == "tcp://10.0.0.1:8786" and seen["scheduler"] is None
    rc = main(["search", "--scheduler", "sometimes", "--dask-scheduler", "tcp://h:1",
               "--output-dir", str(tmp_path / "y"), "--no-progress"])
    assert rc == 2 and "--scheduler must be asha, median or none" in capsys.readouterr().err


def test_cli_search_on_a_dataset_folder(tmp_path, capsys):
    rng = np.random.default_rng(3)
    folder = _mnist_folder(tmp_path, rng)
    out = tmp_path / "s"
    assert main(["search", "--dataset", str(folder), "--model", "mlp", "--trials", "2",
                 "--batch-size", "40", "--space", "lr=loguniform:1e-3:1e-2",
                 "--space", "hidden=16", "--output-dir", str(out), "--no-progress"]) == 0
    assert f"mlp on {folder}" in capsys.readouterr().out
    r = tune.SearchResult.from_json(out / "results.json")
    assert [t["status"] for t in r.trials] == ["ok", "ok"]
    assert main(["search", "--dataset", str(tmp_path / "none"), "--output-dir",
                 str(tmp_path / "t"), "--no-progress"]) == 2
    assert "CIFAR-10 / MNIST folder" in capsys.readouterr().err
