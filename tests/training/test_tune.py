"""fastnn.tune: spaces, random / grid / coarse-to-fine search, failure isolation, resume,
parallel runs (joblib processes and a real dask LocalCluster), results files, plots, the CLI."""
import json
import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import tune
from fastnn.cli import main

from helpers import pickled_by_value


@pytest.fixture(autouse=True)
def _by_value():
    with pickled_by_value(__name__):
        yield


def _ks_uniform(u):
    """Kolmogorov-Smirnov statistic of samples u against U(0, 1)."""
    u = np.sort(np.asarray(u))
    n = len(u)
    i = np.arange(1, n + 1)
    return max(np.max(i / n - u), np.max(u - (i - 1) / n))


# ------------------------------------------------------------------ spaces

def test_loguniform_quantiles():
    rng = np.random.default_rng(0)
    dim = tune.loguniform(1e-5, 1e-1)
    x = np.array([dim.sample(rng) for _ in range(4000)])
    assert x.min() >= 1e-5 and x.max() <= 1e-1
    t = (np.log10(x) + 5) / 4                       # uniform on [0, 1] if log-uniform
    assert _ks_uniform(t) < 1.63 / math.sqrt(len(t))     # 1% critical value
    # each decade gets a quarter of the samples
    counts = np.histogram(np.log10(x), bins=[-5, -4, -3, -2, -1])[0]
    np.testing.assert_allclose(counts / len(x), 0.25, atol=0.03)
    # and the linear scale is not uniform: the median is near 1e-3, not 5e-2
    assert 5e-4 < np.median(x) < 2e-3
    assert dim.log and repr(dim) == "loguniform(1e-05, 0.1)"


def test_uniform_randint_choice_grid():
    rng = np.random.default_rng(1)
    u = np.array([tune.uniform(-2, 3).sample(rng) for _ in range(3000)])
    assert u.min() >= -2 and u.max() <= 3
    assert _ks_uniform((u + 2) / 5) < 1.63 / math.sqrt(len(u))
    r = [tune.randint(3, 7).sample(rng) for _ in range(4000)]
    assert set(r) == {3, 4, 5, 6} and all(type(v) is int for v in r)     # high excluded
    np.testing.assert_allclose(np.bincount(r)[3:] / len(r), 0.25, atol=0.03)
    c = [tune.choice(["adam", "sgd", 0.5]).sample(rng) for _ in range(3000)]
    assert {v: c.count(v) for v in set(c)}.keys() == {"adam", "sgd", 0.5}
    assert all(abs(c.count(v) / 3000 - 1 / 3) < 0.04 for v in set(c))
    g = tune.grid([1, 2])
    assert sorted({g.sample(rng) for _ in range(50)}) == [1, 2]


@pytest.mark.parametrize("make, match", [
    (lambda: tune.loguniform(0, 1), "loguniform: low must be > 0"),
    (lambda: tune.loguniform(1e-2, 1e-3), "low must be < high"),
    (lambda: tune.uniform(0, float("nan")), "uniform: high must be a finite number"),
    (lambda: tune.randint(1.5, 4), "randint: low must be an integer"),
    (lambda: tune.choice([]), "choice: values must not be empty"),
    (lambda: tune.grid("abc"), "grid: values must be a list"),
])
def test_space_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_parse_space():
    s = tune.parse_space(["lr=loguniform:1e-5:1e-1", "reg=uniform:0:0.5", "hidden_dim=randint:16:65",
                          "update_rule=choice:adam,sgd_momentum", "batch_size=grid:25,50",
                          "epochs=2"])
    assert s == {"lr": tune.loguniform(1e-5, 1e-1), "reg": tune.uniform(0, 0.5),
                 "hidden_dim": tune.randint(16, 65),
                 "update_rule": tune.choice(["adam", "sgd_momentum"]),
                 "batch_size": tune.grid([25, 50]), "epochs": 2}
    for bad, match in [("lr", "expected NAME=KIND:ARGS"), ("lr=loguniform:1e-5", "LOW:HIGH"),
                       ("lr=logunif:1:2", "unknown kind 'logunif'"),
                       ("lr=loguniform:a:b", "LOW and HIGH must be numbers"),
                       ("lr=loguniform:0:1", "low must be > 0")]:
        with pytest.raises(ValueError, match=f"bad space '{bad}'.*{match}"):
            tune.parse_space([bad])
    with pytest.raises(ValueError, match="given twice"):
        tune.parse_space(["lr=1", "lr=2"])


# ------------------------------------------------------------------ toy trials

def _peak(config, seed):
    """val_acc peaks at lr = 1e-3 (log space) and reg = 0.2."""
    return {"val_acc": 1 - 0.1 * (math.log10(config["lr"]) + 3) ** 2 - (config["reg"] - 0.2) ** 2,
            "train_acc": 0.5, "seed_echo": seed}


def _rising(config, seed):
    return {"val_acc": math.log10(config["lr"])}


def test_random_search_seeds_depend_only_on_index():
    space = {"lr": tune.loguniform(1e-5, 1e-1), "reg": tune.uniform(0, 1), "k": 7}
    r5 = tune.random_search(_peak, space, 5, seed=3)
    r9 = tune.random_search(_peak, space, 9, seed=3)
    other = tune.random_search(_peak, space, 5, seed=4)
    assert [t["config"] for t in r9.trials[:5]] == [t["config"] for t in r5.trials]
    assert [t["seed"] for t in r9.trials[:5]] == [t["seed"] for t in r5.trials]
    assert [t["config"] for t in other.trials] != [t["config"] for t in r5.trials]
    assert all(t["config"]["k"] == 7 and t["metrics"]["seed_echo"] == t["seed"]
               for t in r9.trials)
    assert len({t["seed"] for t in r9.trials}) == 9
    best = max(r9.trials, key=lambda t: t["metrics"]["val_acc"])
    assert r9.best_trial is best and r9.best_config == best["config"]


def test_metric_min_progress_callback(capsys, monkeypatch):
    import sys
    seen = []
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)   # a terminal
    r = tune.random_search(lambda c, s: {"loss": c["x"]}, {"x": tune.uniform(0, 1)}, 10,
                           metric="loss", mode="min", progress=True, callback=seen.append)
    assert r.best_config["x"] == min(t["config"]["x"] for t in r.trials)
    assert sorted(t["trial"] for t in seen) == list(range(10))
    err = capsys.readouterr().err
    assert f"best loss={r.best_trial['metrics']['loss']:.4g}, failed=0" in err and "10/10" in err


def test_no_progress_bar_in_a_pipe(capsys, monkeypatch):
    # `fastnn search ... 2> log`: no carriage-return bar in the log
    import sys
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    tune.random_search(lambda c, s: {"loss": c["x"]}, {"x": tune.uniform(0, 1)}, 5,
                       metric="loss", mode="min", progress=True)
    err = capsys.readouterr().err
    assert "\r" not in err and "5/5" not in err


def test_grid_search():
    calls = []

    def fn(config, seed):
        calls.append(dict(config))
        return {"val_acc": config["a"] * 10 + config["b"]}

    r = tune.grid_search(fn, {"a": tune.grid([1, 2, 3]), "b": tune.choice([0, 5]), "c": "x"})
    assert calls == [{"a": a, "b": b, "c": "x"} for a in (1, 2, 3) for b in (0, 5)]
    assert r.best_config == {"a": 3, "b": 5, "c": "x"}
    assert len(r) == 6 and len({t["seed"] for t in r.trials}) == 6
    with pytest.raises(ValueError, match="grid_search: 'lr' is loguniform.*continuous"):
        tune.grid_search(fn, {"lr": tune.loguniform(1e-3, 1e-1)})


def test_coarse_to_fine_narrows_in_log_space():
    space = {"lr": tune.loguniform(1e-6, 1e-1), "reg": tune.uniform(0, 1),
             "opt": tune.choice(["a", "b", "c"])}
    with warnings.catch_warnings():
        warnings.simplefilter("error")              # the optimum is inside: no edge warning
        r = tune.coarse_to_fine(_peak, space, stages=[(40, 1), (30, 2), (30, 3)], shrink=0.5,
                                seed=0)
    assert [len([t for t in r.trials if t["stage"] == s]) for s in range(3)] == [40, 30, 30]
    assert len(r.stages) == 3 and r.stages[0] == space
    for s in (1, 2):
        prev, cur = r.stages[s - 1], r.stages[s]
        w_prev = math.log10(prev["lr"].high) - math.log10(prev["lr"].low)
        w_cur = math.log10(cur["lr"].high) - math.log10(cur["lr"].low)
        assert w_cur == pytest.approx(0.5 * w_prev)                   # halved in log10
        assert cur["reg"].high - cur["reg"].low == pytest.approx(0.5 * (prev["reg"].high
                                                                        - prev["reg"].low))
        assert prev["lr"].low <= cur["lr"].low and cur["lr"].high <= prev["lr"].high * (1 + 1e-12)
        best_prev = max((t for t in r.trials if t["stage"] == s - 1),
                        key=lambda t: t["metrics"]["val_acc"])
        assert cur["lr"].low <= best_prev["config"]["lr"] <= cur["lr"].high
        stage_trials = [t for t in r.trials if t["stage"] == s]
        assert all(cur["lr"].low <= t["config"]["lr"] <= cur["lr"].high for t in stage_trials)
        assert all(t["config"]["epochs"] == s + 1 for t in stage_trials)
    # the final range is around the optimum 1e-3
    assert r.stages[2]["lr"].low < 1e-3 < r.stages[2]["lr"].high
    assert abs(math.log10(r.best_config["lr"]) + 3) < 0.3


def test_coarse_to_fine_edge_warning():
    space = {"lr": tune.loguniform(1e-5, 1e-1)}
    with pytest.warns(UserWarning, match=r"the best lr \(0\.0[89]\d*\) sits at the high edge of "
                                         r"its range \[1e-05, 0\.1\] after stage [01].*widen"):
        r = tune.coarse_to_fine(_rising, space, stages=[20, 20], seed=0)
    assert r.stages[1]["lr"].high == pytest.approx(0.1)       # narrowing stays inside the range


def test_failure_isolation():
    def fn(config, seed):
        x = config["x"]
        if x == 0:
            raise RuntimeError("boom at zero")
        if x == 1:
            return {"val_acc": 0.9, "loss_history": [2.3, float("nan")]}
        if x == 2:
            return {"val_acc": 0.9, "loss_history": [2.3, 2.0, 7.5, 1.0]}       # > 3 x 2.3
        if x == 3:
            return [0.5]
        return {"val_acc": 0.1 * x, "loss_history": [2.3, 6.8]}                  # < 3 x 2.3

    r = tune.grid_search(fn, {"x": tune.grid([0, 1, 2, 3, 4, 5])})
    status = {t["config"]["x"]: (t["status"], t["error"]) for t in r.trials}
    assert status[0] == ("failed", "RuntimeError: boom at zero")
    assert status[1][0] == "failed" and "diverged: loss nan at iteration 2" in status[1][1]
    assert status[2][0] == "failed" and "iteration 3 is over 3x the initial loss 2.3" in status[2][1]
    assert status[3][0] == "failed" and "returned list, expected a dict" in status[3][1]
    assert status[4] == ("ok", None) and status[5] == ("ok", None)
    assert r.best_config == {"x": 5}
    assert "failed: RuntimeError: boom at zero" in r.table()
    r2 = tune.grid_search(fn, {"x": tune.grid([2])}, diverge_factor=None)
    assert r2.trials[0]["status"] == "ok"
    # every trial failing: no best, and coarse_to_fine says why it stops
    with pytest.warns(UserWarning, match="every trial of stage 0 failed"):
        r3 = tune.coarse_to_fine(fn, {"x": tune.choice([0])}, stages=[2, 2])
    assert r3.best_trial is None and r3.best_config is None and len(r3) == 2


@pytest.mark.filterwarnings("ignore:coarse_to_fine. the best")
def test_resume_does_not_rerun_finished_trials(tmp_path):
    calls = []

    def fn(config, seed):
        calls.append(config["lr"])
        return _peak(config, seed)

    space = {"lr": tune.loguniform(1e-5, 1e-1), "reg": tune.uniform(0, 1)}
    path = tmp_path / "results.json"
    r1 = tune.random_search(fn, space, 6, seed=1, results_path=path)
    assert len(calls) == 6 and path.exists()
    # an interrupted search: drop the last two trials from the file
    d = json.loads(path.read_text())
    d["trials"] = d["trials"][:4]
    path.write_text(json.dumps(d))
    calls.clear()
    r2 = tune.random_search(fn, space, 8, seed=1, results_path=path)
    assert sorted(calls) == sorted(t["config"]["lr"] for t in r2.trials[4:])   # 4 new, 4 reused
    assert len(calls) == 4
    assert [t["config"] for t in r2.trials[:6]] == [t["config"] for t in r1.trials]
    assert r2.trials[0]["duration"] == r1.trials[0]["duration"]        # reused, not re-run
    calls.clear()
    tune.random_search(fn, space, 8, seed=1, results_path=path)
    assert calls == []
    # another seed changes every config: nothing is reused
    tune.random_search(fn, space, 3, seed=2, results_path=path)
    assert len(calls) == 3
    # coarse-to-fine resumes stage by stage
    calls.clear()
    p2 = tmp_path / "c2f.json"
    tune.coarse_to_fine(fn, space, stages=[5, 5], results_path=p2)
    assert len(calls) == 10
    calls.clear()
    tune.coarse_to_fine(fn, space, stages=[5, 5], results_path=p2)
    assert calls == []


def test_csv_json_round_trip(tmp_path):
    def fn(config, seed):
        if config["opt"] == "bad":
            raise ValueError("bad, with a comma")
        return {"val_acc": config["lr"] * 3, "train_acc": 0.25, "loss_history": [1.0, 0.5]}

    space = {"lr": tune.loguniform(1e-4, 1e-1), "opt": tune.choice(["adam", "bad"]), "n": 3}
    r = tune.random_search(fn, space, 8, seed=5)
    assert {t["status"] for t in r.trials} == {"ok", "failed"}
    r.to_json(tmp_path / "r.json")
    back = tune.SearchResult.from_json(tmp_path / "r.json")
    assert back.trials == r.trials and back.space == space and back.best_config == r.best_config
    r.to_csv(tmp_path / "r.csv")
    header = (tmp_path / "r.csv").read_text().splitlines()[0]
    assert header == "stage,trial,status,seed,duration,error,lr,opt,n,val_acc,train_acc"
    c = tune.SearchResult.from_csv(tmp_path / "r.csv")
    for a, b in zip(c.trials, r.trials):
        assert a["config"] == b["config"] and a["seed"] == b["seed"]
        assert a["status"] == b["status"] and a["error"] == b["error"]
        assert a["duration"] == b["duration"]
        assert a["metrics"] == {k: v for k, v in b["metrics"].items() if k != "loss_history"}
    assert c.best_config == r.best_config
    (tmp_path / "junk.json").write_text("{}")
    with pytest.raises(ValueError, match="is not a fastnn search results file"):
        tune.SearchResult.from_json(tmp_path / "junk.json")


def test_plots(tmp_path):
    r = tune.random_search(_peak, {"lr": tune.loguniform(1e-5, 1e-1), "reg": tune.uniform(0, 1),
                                   "opt": tune.choice(["a", "b"]), "k": 1}, 12)
    paths = r.plot(tmp_path)
    names = sorted(os.path.basename(p) for p in paths)
    assert names == ["lr_reg.png", "val_acc_vs_lr.png", "val_acc_vs_opt.png", "val_acc_vs_reg.png"]
    assert all(os.path.getsize(p) > 1000 for p in paths)


def _threads_seen(config, seed):
    from threadpoolctl import threadpool_info
    blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    return {"val_acc": 0.0, "fastnn": fastnn.get_num_threads(), "blas": max(blas or [0]),
            "pid": os.getpid()}


def test_threads_per_trial(restore_threads):
    import joblib
    cores = joblib.cpu_count()
    before = fastnn.get_num_threads()
    r = tune.random_search(_threads_seen, {"x": tune.uniform(0, 1)}, 2)
    assert all(t["metrics"]["fastnn"] == cores for t in r.trials)
    assert fastnn.get_num_threads() == before
    r = tune.random_search(_threads_seen, {"x": tune.uniform(0, 1)}, 2, threads_per_trial=1)
    assert all(t["metrics"]["fastnn"] == 1 and t["metrics"]["blas"] in (0, 1) for t in r.trials)
    r = tune.random_search(_threads_seen, {"x": tune.uniform(0, 1)}, 4, n_jobs=2)
    assert all(t["metrics"]["fastnn"] == max(1, cores // 2) for t in r.trials)
    assert all(t["metrics"]["pid"] != os.getpid() for t in r.trials)


def test_import_does_not_import_dask():
    code = "import sys, fastnn.tune; sys.exit(any(m.split('.')[0] in ('dask', 'distributed') " \
           "for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], cwd="/").returncode == 0


def _table(result):
    rows = result.to_rows()
    for r in rows:
        r.pop("duration")
    return rows


def test_reproducible_n_jobs_1_and_2():
    fn = tune.make_train_fn("mlp", epochs=1, batch_size=100)
    space = {"lr": tune.loguniform(1e-4, 1e-2), "reg": tune.loguniform(1e-5, 1e-1)}
    r1 = tune.random_search(fn, space, 4, seed=11, n_jobs=1)
    r2 = tune.random_search(fn, space, 4, seed=11, n_jobs=2)
    assert _table(r1) == _table(r2)
    assert [t["metrics"]["loss_history"] for t in r1.trials] == \
        [t["metrics"]["loss_history"] for t in r2.trials]
    assert all(t["status"] == "ok" for t in r1.trials)
    assert all(0.1 < t["metrics"]["val_acc"] <= 1 for t in r1.trials)


def test_make_train_fn_convnet(restore_threads):
    fastnn.set_num_threads(1)
    fn = tune.make_train_fn("convnet", epochs=1, batch_size=50)
    m = fn({"lr": 1e-2, "reg": 1e-4}, 123)
    assert set(m) == {"val_acc", "train_acc", "loss_history", "val_acc_history", "epochs_trained"}
    assert len(m["loss_history"]) == 1259 // 50 and m["epochs_trained"] == 1
    assert m["val_acc"] == max(m["val_acc_history"]) and len(m["val_acc_history"]) == 1
    assert m["loss_history"][0] == pytest.approx(math.log(10), abs=0.05)
    assert m["val_acc"] > 0.6               # one epoch of adam learns the digits
    assert fn({"lr": 1e-2, "reg": 1e-4}, 123) == m
    with pytest.raises(ValueError, match=r"unknown config key\(s\) \['lrr'\]"):
        fn({"lrr": 1e-3}, 0)
    with pytest.raises(ValueError, match=r"model must be one of \['mlp', 'convnet', 'vgg'\]"):
        tune.make_train_fn("resnet")
    r = tune.random_search(fn, {"lr": 50.0}, 1)      # a huge lr diverges: failed, not raised
    assert r.trials[0]["status"] == "failed" and "loss" in r.trials[0]["error"]


# ------------------------------------------------------------------ dask

@pytest.fixture
def thread_env():
    keys = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    saved = {k: os.environ.get(k) for k in keys}
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_local_cluster(thread_env, restore_threads, tmp_path):
    pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    fn = tune.make_train_fn("mlp", epochs=1, batch_size=100)
    space = {"lr": tune.loguniform(1e-4, 1e-2), "reg": tune.loguniform(1e-5, 1e-1)}
    local = tune.random_search(fn, space, 4, seed=11)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        r = tune.random_search(fn, space, 4, seed=11, client=client,
                               results_path=tmp_path / "r.json")
        with client.as_current():
            r2 = tune.random_search(_threads_seen, {"x": tune.uniform(0, 1)}, 4, backend="dask")
        r3 = tune.random_search(_threads_seen, {"x": tune.uniform(0, 1)}, 2,
                                dask_scheduler=cluster.scheduler_address)
        with pytest.warns(DeprecationWarning, match="pass dask_scheduler="):
            r4 = tune.random_search(_threads_seen, {"x": tune.uniform(0, 1)}, 1,
                                    scheduler=cluster.scheduler_address)
    assert r4.trials[0]["metrics"]["pid"] != os.getpid()
    assert _table(r) == _table(local)
    assert tune.SearchResult.from_json(tmp_path / "r.json").trials == r.trials
    import joblib
    # 2 single-thread workers on one host: each trial gets cores // 2 threads
    assert all(t["metrics"]["fastnn"] == max(1, joblib.cpu_count() // 2) for t in r2.trials)
    assert {t["metrics"]["pid"] for t in r2.trials + r3.trials} - {os.getpid()} == \
        {t["metrics"]["pid"] for t in r2.trials + r3.trials}
    with pytest.raises(ValueError, match="backend='dask' needs a running dask.distributed Client"):
        tune.random_search(_peak, {"lr": 1e-3, "reg": 0.1}, 1, backend="dask")


# ------------------------------------------------------------------ CLI

def test_cli_search(tmp_path, capsys):
    out = tmp_path / "s"
    argv = ["search", "--model", "mlp", "--trials", "3", "--epochs", "1", "--batch-size", "200",
            "--space", "lr=loguniform:1e-4:1e-2", "--space", "reg=loguniform:1e-5:1e-1",
            "--output-dir", str(out), "--seed", "2", "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "random search, 3 trials" in text and "best config (val_acc = " in text
    assert {"results.json", "results.csv", "val_acc_vs_lr.png", "val_acc_vs_reg.png",
            "lr_reg.png"} <= set(os.listdir(out))
    r = tune.SearchResult.from_json(out / "results.json")
    assert len(r) == 3 and r.best_config["lr"] > 0
    assert f"lr = {r.best_config['lr']:.4g}" in text
    # the same directory again: refused without --resume; with it nothing is re-run
    assert main(argv) == 2
    assert "results.json exists: pass --resume" in capsys.readouterr().err
    assert main(argv + ["--resume"]) == 0
    r2 = tune.SearchResult.from_json(out / "results.json")
    assert r2.trials == r.trials
    # coarse-to-fine with 2 stages
    assert main(argv[:-5] + ["--output-dir", str(tmp_path / "c"), "--stages", "2",
                             "--no-progress"]) == 0
    assert len(tune.SearchResult.from_json(tmp_path / "c" / "results.json")) == 6


@pytest.mark.parametrize("extra, match", [
    (["--space", "lr=loguniform:1e-5"], "bad space 'lr=loguniform:1e-5': loguniform takes LOW:HIGH"),
    (["--space", "lr"], "bad space 'lr': expected NAME=KIND:ARGS"),
    (["--space", "foo=uniform:0:1"], r"unknown config key\(s\) \['foo'\]"),
    (["--trials", "0"], "--trials must be >= 1"),
])
def test_cli_search_errors(tmp_path, capsys, extra, match):
    rc = main(["search", "--output-dir", str(tmp_path / "x"), "--no-progress"] + extra)
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert err.startswith("fastnn search: error: ")
    assert __import__("re").search(match, err)
