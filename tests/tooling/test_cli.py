"""The ``fastnn`` command line, end to end in a temp dir (fastnn.cli.main and a real subprocess)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fastnn.cli import main
from fastnn.models import make_model, MODEL_NAMES

PNG = b"\x89PNG\r\n\x1a\n"


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, pattern):
    assert code != 0
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert pattern in lines[0], lines[0]


def test_no_command_prints_help(capsys):
    code, out, _ = run_cli([], capsys)
    assert code == 2 and "fastnn train" in out


@pytest.mark.parametrize("args, pattern", [
    (["train", "--epochs", "0"], "--epochs must be >= 1"),
    (["train", "--lr", "-1"], "--lr must be a positive number"),
    (["train", "--lr", "nan"], "--lr must be a positive number"),
    (["train", "--dropout", "1.5"], "--dropout must be in [0, 1)"),
    (["train", "--activation", "swish"], "--activation must be one of"),
    (["train", "--hidden", "12,x"], "--hidden must be a comma list"),
    (["train", "--dataset", "/no/such/folder"], "neither a built-in dataset"),
    (["train", "--model", "resnet"], "invalid choice: 'resnet'"),
    (["train", "--epochs", "two"], "invalid int value: 'two'"),
    (["train", "--resume", "--output-dir", "/no/such/dir"], "has no interrupted run"),
    (["bench", "--groups", "nope"], "--groups: unknown ['nope']"),
    (["bench", "--reps", "0"], "--reps must be >= 1"),
    (["gradcheck", "--tol", "-1"], "--tol must be a positive number"),
    (["gradcheck", "--only", "NoSuchLayer"], "matches no layer or model"),
    (["demo", "--ops", "foo"], "unknown activation(s) ['foo']"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_arguments_one_line_nonzero(capsys, tmp_path, monkeypatch, args, pattern):
    monkeypatch.chdir(tmp_path)           # the default --output-dir, fastnn-run, is relative
    try:
        code = main(args)
    except SystemExit as exc:             # argparse usage errors exit through SystemExit
        code = exc.code
    _, err = capsys.readouterr()
    assert_one_line_error(code, err, pattern)


def test_wrong_dataset_named_before_an_earlier_run(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fastnn-run").mkdir()
    (tmp_path / "fastnn-run" / "model.npz").write_bytes(b"")
    code, _, err = run_cli(["train", "--dataset", "/no/such/folder"], capsys)
    assert_one_line_error(code, err, "neither a built-in dataset")
    code, _, err = run_cli(["train", "--dataset", "digits"], capsys)
    assert_one_line_error(code, err, "holds an earlier run")


def test_dataset_file_not_folder(tmp_path, capsys):
    f = tmp_path / "x.bin"
    f.write_bytes(b"abc")
    code, _, err = run_cli(["train", "--dataset", str(f), "--output-dir", str(tmp_path / "o")],
                           capsys)
    assert_one_line_error(code, err, "is a file")


def test_gradcheck_all_layers_pass(capsys):
    code, out, _ = run_cli(["gradcheck"], capsys)
    assert code == 0, out
    lines = [ln for ln in out.splitlines() if ln.startswith(("layer", "model"))]
    assert len(lines) >= 25 and all(" ok " in ln for ln in lines)
    for name in ("Conv2d", "BatchNorm2d", "Dropout", "Maxout", "Residual", "ThreeLayerConvNet"):
        assert any(name in ln for ln in lines), name
    assert out.rstrip().endswith(f"{len(lines)} of {len(lines)} passed")


def test_gradcheck_reports_a_failure(capsys):
    code, out, _ = run_cli(["gradcheck", "--only", "GELU", "--tol", "1e-30"], capsys)
    assert code == 1 and "FAIL" in out


def test_bench_one_group_prints_table(capsys):
    code, out, _ = run_cli(["bench", "--groups", "affine", "--reps", "1", "--ref-reps", "1",
                            "--warmup", "0", "--threads", "1"], capsys)
    assert code == 0
    assert "### affine" in out and "| affine fwd+bwd" in out


def test_config_and_python_m(tmp_path):
    r = subprocess.run([sys.executable, "-m", "fastnn", "config"], capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 0 and "SIMD" in r.stdout + r.stderr


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_make_model_shapes_and_options(name):
    m = make_model(name, (1, 8, 8), 10, normalization="batchnorm", dropout=0.2,
                   activation="tanh", seed=0)
    X = np.random.default_rng(0).standard_normal((5, 1, 8, 8)).astype(np.float32)
    assert m.loss(X).shape == (5, 10)
    loss, grads = m.loss(X, np.arange(5))
    assert np.isfinite(loss) and set(grads) == set(m.params)


def test_make_model_errors():
    with pytest.raises(ValueError, match="model must be one of"):
        make_model("resnet", (1, 8, 8), 10)
    with pytest.raises(ValueError, match="needs H and W divisible by 4"):
        make_model("vgg", (1, 6, 6), 10)
    with pytest.raises(ValueError, match="activation must be one of"):
        make_model("mlp", (1, 8, 8), 10, activation="swish")
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        make_model("mlp", (1, 8, 8), 10, dropout=1.0)


def test_model_loss_with_mixed_labels():
    from collections import namedtuple
    Mixed = namedtuple("Mixed", "y_a y_b lam")
    m = make_model("mlp", (1, 4, 4), 3, hidden_dims=(5,), seed=0)
    X = np.random.default_rng(1).standard_normal((4, 1, 4, 4)).astype(np.float32)
    ya, yb, lam = np.array([0, 1, 2, 0]), np.array([2, 2, 1, 1]), 0.3
    la, ga = m.loss(X, ya)
    lb, gb = m.loss(X, yb)
    lm, gm = m.loss(X, Mixed(ya, yb, lam))
    assert lm == pytest.approx(lam * la + (1 - lam) * lb, rel=1e-6)
    for k in gm:
        np.testing.assert_allclose(gm[k], lam * ga[k] + (1 - lam) * gb[k], rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------- fastnn train

def _train(tmp_path, capsys, *extra):
    out = tmp_path / "run"
    code, stdout, err = run_cli(["train", "--output-dir", str(out), "--quiet", *extra], capsys)
    return code, stdout, err, out


def test_train_end_to_end_writes_files_and_prints_accuracy(tmp_path, capsys):
    code, stdout, err, out = _train(tmp_path, capsys, "--epochs", "2", "--augment", "crop,flip")
    assert code == 0, err
    assert "test accuracy:" in stdout
    acc = float(stdout.split("test accuracy:")[1].split()[0])
    names = set(os.listdir(out))
    assert {"model.npz", "preprocess.npz", "config.json", "history.json", "loss.png",
            "accuracy.png"} <= names
    assert "interrupted.npz" not in names
    for png in (n for n in names if n.endswith(".png")):
        data = (out / png).read_bytes()
        assert data[:8] == PNG and len(data) > 2000, png
    hist = json.loads((out / "history.json").read_text())
    assert hist["test_acc"] == pytest.approx(acc, abs=1e-4)
    assert len(hist["val_acc_history"]) == 3 and len(hist["loss_history"]) > 10
    assert hist["monitor"], "the monitor records land in history.json"
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["augment"] == "crop,flip" and cfg["epochs"] == 2
    # the checkpoint loads into a fresh model built from the config, and reproduces the accuracy
    from fastnn import data
    from fastnn.commands.train import build_run
    model, split, pre, _ = build_run(cfg)
    model.load(out / "model.npz")
    pre2 = data.load_preprocessor(out / "preprocess.npz")
    X = pre2.transform(data.load_builtin("digits")["X_test"])
    pred = np.argmax(model.loss(X), axis=1)
    assert np.mean(pred == split["y_test"]) == pytest.approx(acc, abs=1e-4)


@pytest.mark.slow
def test_train_defaults_reach_97_percent(tmp_path, capsys):
    """The README's main job: the default run reaches >= 97% test accuracy on the digits."""
    code, stdout, err, out = _train(tmp_path, capsys, "--no-plots")
    assert code == 0, err
    acc = float(stdout.split("test accuracy:")[1].split()[0])
    assert acc >= 0.97, stdout


def test_train_same_seed_same_result_and_options(tmp_path, capsys):
    args = ("--epochs", "1", "--model", "mlp", "--hidden", "32", "--normalization", "layernorm",
            "--dropout", "0.1", "--optimizer", "sgd_momentum", "--lr", "0.05", "--no-plots",
            "--seed", "3")
    c1, o1, _, _ = _train(tmp_path / "a", capsys, *args)
    c2, o2, _, _ = _train(tmp_path / "b", capsys, *args)
    assert c1 == c2 == 0
    a = json.loads((tmp_path / "a" / "run" / "history.json").read_text())
    b = json.loads((tmp_path / "b" / "run" / "history.json").read_text())
    assert a["loss_history"] == b["loss_history"] and a["test_acc"] == b["test_acc"]


def test_train_sigint_then_resume_matches_uninterrupted(tmp_path):
    """A real `fastnn train` process gets SIGINT, writes interrupted.npz; --resume finishes it to
    the same test accuracy and history as an uninterrupted run with the same seed."""
    import signal
    import time
    common = ["--epochs", "4", "--no-plots", "--seed", "1", "--batch-size", "16"]
    full = tmp_path / "full"
    r = subprocess.run([sys.executable, "-m", "fastnn", "train", "--output-dir", str(full),
                        *common], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    part = tmp_path / "part"
    p = subprocess.Popen([sys.executable, "-m", "fastnn", "train", "--output-dir", str(part),
                          *common], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=tmp_path)
    deadline = time.time() + 120
    while time.time() < deadline and not (part / "config.json").exists():
        time.sleep(0.05)
    time.sleep(0.3)                          # somewhere inside training
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=120)
    if p.returncode == 0:
        pytest.skip("training finished before the signal arrived (machine too fast)")
    assert p.returncode == 130, stderr
    assert "resume with: fastnn train --resume" in stdout
    assert (part / "interrupted.npz").exists()
    r2 = subprocess.run([sys.executable, "-m", "fastnn", "train", "--resume", "--output-dir",
                         str(part), "--no-plots"], capture_output=True, text=True, cwd=tmp_path)
    assert r2.returncode == 0, r2.stderr
    a = json.loads((full / "history.json").read_text())
    b = json.loads((part / "history.json").read_text())
    assert b["loss_history"] == a["loss_history"]
    assert b["val_acc_history"] == a["val_acc_history"] and b["test_acc"] == a["test_acc"]
    assert not (part / "interrupted.npz").exists()


# ---------------------------------------------------------------- one-line errors, not tracebacks

def _exit_code(args):
    try:
        return main(args)
    except SystemExit as exc:
        return exc.code


@pytest.fixture
def ram_64gib(monkeypatch):
    """The memory checks compare against 64 GiB whatever this machine has."""
    import fastnn.commands.train as cmd
    monkeypatch.setattr(cmd, "physical_memory", lambda: 64 << 30)


@pytest.mark.parametrize("args, pattern", [
    (["train", "--batch-size", "1000000000"],
     "--batch-size 1000000000 of 1x8x8 images needs at least"),
    (["train", "--filters", "100000000"],
     "--model convnet with --filters 100000000 on 1x8x8 images needs at least"),
    (["train", "--model", "mlp", "--hidden", "99999999999"],
     "--model mlp with --hidden 99999999999 on 1x8x8 images needs at least"),
    (["bench", "--shape", "99999,99999,99999"], "--shape 99999,99999,99999 (999,970,000,299,999 "
                                                "elements) needs at least"),
])
def test_sizes_beyond_memory_refused_before_allocating(tmp_path, capsys, ram_64gib, args,
                                                       pattern):
    code = _exit_code(args + (["--output-dir", str(tmp_path / "o")] if args[0] == "train"
                              else []))
    line = capsys.readouterr().err
    assert code == 2
    assert_one_line_error(code, line, pattern)
    assert "this machine has 64.0 GiB of memory" in line


def test_memory_estimate_accepts_the_default_run():
    from fastnn.commands.train import check_memory, estimate_memory
    cfg = {"model": "convnet", "filters": 32, "hidden": None, "batch_size": 32}
    params, batch = estimate_memory(cfg, (1, 8, 8), 10)
    # conv 1*32*9+32, affine 32*4*4*128+128, affine 128*10+10 = 67,274 weights, 5 copies
    assert params == 4 * 5 * 67274
    assert 0 < batch < 10 << 20
    check_memory(cfg, (1, 8, 8), 10, limit=1 << 30)
    with pytest.raises(Exception, match="needs at least"):
        check_memory(cfg, (1, 8, 8), 10, limit=1 << 10)


@pytest.mark.parametrize("args, pattern", [
    (["train", "--threads", "99999999999"], "--threads must be in 1.."),
    (["train", "--threads", "0"], "--threads must be in 1.."),
    (["bench", "--threads", "99999999999"], "--threads must be in 1.."),
    (["train", "--seed", "-1"], "--seed must be an integer >= 0"),
    (["search", "--optimizer", "bogus"], "--optimizer must be one of sgd, sgd_momentum"),
])
def test_more_bad_arguments_one_line(tmp_path, capsys, args, pattern):
    code = _exit_code(args + ["--output-dir", str(tmp_path / "o")] if args[0] != "bench"
                      else args)
    assert code == 2
    assert_one_line_error(code, capsys.readouterr().err, pattern)
    assert not (tmp_path / "o").exists()


def test_threads_100000_is_an_error_not_an_abort(tmp_path):
    """OpenMP aborts the process when it cannot create the threads: refused before that."""
    r = subprocess.run([sys.executable, "-m", "fastnn", "train", "--threads", "100000",
                        "--output-dir", str(tmp_path / "o")], capture_output=True, text=True,
                       cwd=tmp_path, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
                       timeout=300)
    assert r.returncode == 2, r.stderr
    assert_one_line_error(r.returncode, r.stderr, "--threads must be in 1..")


def test_search_scheduler_without_dask(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)      # import distributed fails
    monkeypatch.setitem(sys.modules, "dask", None)
    code = main(["search", "--dask-scheduler", "tcp://127.0.0.1:8786", "--trials", "1",
                 "--output-dir", str(tmp_path / "s")])
    assert code == 2
    assert_one_line_error(code, capsys.readouterr().err,
                          "--dask-scheduler tcp://127.0.0.1:8786 needs Dask's distributed "
                          "scheduler, which is not installed")
    # the old spelling: its deprecation line, then the same error
    code = main(["search", "--scheduler", "tcp://127.0.0.1:8786", "--trials", "1",
                 "--output-dir", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 2 and "deprecated, use --dask-scheduler" in lines[0], err
    assert "needs Dask's distributed scheduler" in lines[1]
    assert not (tmp_path / "s").exists()


def test_memory_error_at_the_cli_boundary(capsys, monkeypatch):
    import fastnn.commands.config as cmd

    def run(args):
        raise MemoryError("Unable to allocate 238. GiB for an array")
    monkeypatch.setattr(cmd, "run", run)
    code = main(["config"])
    assert code == 2
    assert_one_line_error(code, capsys.readouterr().err,
                          "fastnn config: error: out of memory: Unable to allocate 238. GiB")


def _mnist(folder, rows, cols, n=5010):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for stem in ("train", "t10k"):
        X = rng.integers(0, 256, (n, rows, cols), dtype=np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        (folder / f"{stem}-images-idx3-ubyte").write_bytes(
            b"\0\0\x08\x03" + b"".join(int(d).to_bytes(4, "big") for d in X.shape) + X.tobytes())
        (folder / f"{stem}-labels-idx1-ubyte").write_bytes(
            b"\0\0\x08\x01" + n.to_bytes(4, "big") + y.tobytes())
    return folder


@pytest.mark.parametrize("rows, cols, model, pattern", [
    (1, 1, "convnet", "--model convnet pools 2x2 and needs images of at least 2x2"),
    (6, 6, "vgg", "--model vgg needs image height and width divisible by 4"),
    (0, 5, "mlp", "its images are 1x0x5; every image needs at least one pixel"),
    (0, 0, "convnet", "its images are 1x0x0; every image needs at least one pixel"),
])
def test_mnist_images_too_small_for_the_model(tmp_path, capsys, rows, cols, model, pattern):
    data = _mnist(tmp_path / "mnist", rows, cols)
    code = main(["train", "--dataset", str(data), "--model", model, "--epochs", "1", "--output-dir", str(tmp_path / "o")])
    assert code == 2
    assert_one_line_error(code, capsys.readouterr().err, pattern)


def test_mnist_1x1_trains_with_mlp(tmp_path, capsys):
    data = _mnist(tmp_path / "mnist", 1, 1)
    code = main(["train", "--dataset", str(data), "--model", "mlp", "--epochs", "1",
                 "--no-plots", "--no-monitor", "--quiet", "--output-dir", str(tmp_path / "o")])
    assert code == 0, capsys.readouterr().err


@pytest.mark.parametrize("text, pattern", [
    ('{"loss_history": [1.0, ' + "9" * 400 + "]}", "(400 digits), too large for a float"),
    ('{"loss_history": [1.0], "monitor": [{"epoch": ' + "7" * 400 + "}]}", "(400 digits)"),
    ('{"loss_history": [' + "9" * 5000 + "]}", "not valid JSON"),
    ('{"loss_history": [1.0], "monitor": [[1, 2]]}',
     "'monitor' record 0 must be an object, got a list"),
    ('{"loss_history": [1.0], "monitor": [{"activations": [1, 2]}]}',
     "'activations' must be an object (name -> statistics), got a list"),
    ('{"loss_history": [1.0], "monitor": [{"params": {"W1": [1]}}]}',
     "'params' entry 'W1' must be an object, got a list"),
    ('{"loss_history": [1.0], "monitor": [{"params": {"W1": {"grad_norm": "x"}}}]}',
     "'grad_norm' must be a number, got 'x'"),
    ('{"loss_history": [1.0], "monitor": [{"epoch": "one"}]}', "'epoch' must be a number"),
    ('[{"loss_history": [1.0]}]', "expected a JSON object with loss_history, got a list"),
    ('{"loss_history": [1.0], "x": ' + "[" * 100000 + "]" * 100000 + "}",
     "JSON nested too deeply"),
])
def test_plot_hostile_history_one_line(tmp_path, capsys, text, pattern):
    path = tmp_path / "history.json"
    path.write_text(text)
    code = main(["plot", str(path)])
    assert code == 2
    assert_one_line_error(code, capsys.readouterr().err, pattern)
    assert not any(p.suffix == ".png" for p in tmp_path.iterdir())
