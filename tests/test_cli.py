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
def test_bad_arguments_one_line_nonzero(capsys, args, pattern):
    try:
        code = main(args)
    except SystemExit as exc:             # argparse usage errors exit through SystemExit
        code = exc.code
    _, err = capsys.readouterr()
    assert_one_line_error(code, err, pattern)


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
