"""Files fastnn reads must be regular files; files it writes get ordinary permissions.

A FIFO or a symlink to ``/dev/zero`` named like a checkpoint or dataset file would block
forever or stream without end: every load runs in a child process with a timeout, so a
regression fails here instead of hanging the suite.
"""
import os
import pickle
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fastnn.cli import main

from helpers import CHILD_CWD, child_env, refusal_code


pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")


def _child(code, timeout=60):
    """Run ``code`` in a fresh interpreter with a timeout; returns its stdout + stderr."""
    env = child_env(OMP_NUM_THREADS="1")
    try:
        proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                              text=True, timeout=timeout, env=env, cwd=CHILD_CWD)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the load blocked for {timeout} s")
    return proc.returncode, proc.stdout + proc.stderr


def _special(tmp_path, name, kind):
    """``tmp_path/name`` as a FIFO or a symlink to /dev/zero."""
    path = tmp_path / name
    if kind == "fifo":
        os.mkfifo(path)
    else:
        if not os.path.exists("/dev/zero"):
            pytest.skip("no /dev/zero")
        os.symlink("/dev/zero", path)
    return path


KINDS = ["fifo", "devzero"]
WHAT = {"fifo": "FIFO", "devzero": "character device"}


@pytest.mark.parametrize("kind", KINDS)
def test_checkpoint_load_refuses_fifo_and_devices(tmp_path, kind):
    path = _special(tmp_path, "model.npz", kind)
    rc, out = _child(refusal_code(
        "from fastnn.checkpoint import CheckpointError, load_params",
        f"load_params({str(path)!r})", "CheckpointError"))
    assert rc == 0 and "REFUSED" in out, out
    assert "model.npz" in out and WHAT[kind] in out and "not a regular file" in out


@pytest.mark.parametrize("kind", KINDS)
def test_preprocess_load_refuses_fifo_and_devices(tmp_path, kind):
    path = _special(tmp_path, "preprocess.npz", kind)
    rc, out = _child(refusal_code(
        "from fastnn.checkpoint import CheckpointError\n"
        "from fastnn.data.preprocess import load_preprocessor",
        f"load_preprocessor({str(path)!r})", "CheckpointError"))
    assert rc == 0 and "REFUSED" in out and WHAT[kind] in out, out


def _cifar(tmp_path):
    folder = tmp_path / "cifar"
    folder.mkdir()
    good = pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1]}, protocol=2)
    for name in ["data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]:
        (folder / name).write_bytes(good)
    return folder


@pytest.mark.parametrize("kind", KINDS)
def test_cifar_loader_refuses_fifo_and_devices(tmp_path, kind):
    folder = _cifar(tmp_path)
    _special(folder, "data_batch_1", kind)
    rc, out = _child(refusal_code(
        "from fastnn.data.datasets import DatasetError, load_cifar10",
        f"load_cifar10({str(folder)!r})", "DatasetError"))
    assert rc == 0 and "REFUSED" in out and "data_batch_1" in out and WHAT[kind] in out, out


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("gz", ["", ".gz"])
def test_mnist_loader_refuses_fifo_and_devices(tmp_path, kind, gz):
    folder = tmp_path / "mnist"
    folder.mkdir()
    _special(folder, "train-images-idx3-ubyte" + gz, kind)
    (folder / "train-labels-idx1-ubyte").write_bytes(b"\0\0\x08\x01\0\0\0\0")
    rc, out = _child(refusal_code(
        "from fastnn.data.datasets import DatasetError, load_mnist",
        f"load_mnist({str(folder)!r})", "DatasetError"))
    assert rc == 0 and "REFUSED" in out and "train-images" in out and WHAT[kind] in out, out


@pytest.mark.parametrize("kind", KINDS)
def test_plot_refuses_fifo_history(tmp_path, kind):
    path = _special(tmp_path, "history.json", kind)
    rc, out = _child(f"""
        import sys
        from fastnn.cli import main
        sys.exit(main(["plot", {str(path)!r}]))
        """)
    assert rc == 2, out
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1 and "history.json" in lines[0] and WHAT[kind] in lines[0], out


@pytest.mark.parametrize("name", ["interrupted.npz", "config.json"])
def test_train_resume_refuses_fifo(tmp_path, name):
    out_dir = tmp_path / "run"
    out_dir.mkdir()
    (out_dir / "config.json").write_text("{}")
    (out_dir / "interrupted.npz").write_bytes(b"")
    os.remove(out_dir / name)
    os.mkfifo(out_dir / name)
    rc, out = _child(f"""
        import sys
        from fastnn.cli import main
        sys.exit(main(["train", "--resume", "--output-dir", {str(out_dir)!r}, "--quiet"]))
        """)
    assert rc == 2, out
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1 and name in lines[0] and "FIFO" in lines[0], out


def test_search_results_fifo_refused(tmp_path):
    os.mkfifo(tmp_path / "results.json")
    rc, out = _child(refusal_code(
        "from fastnn import tune",
        f"tune.SearchResult.from_json({str(tmp_path / 'results.json')!r})", "OSError"))
    assert rc == 0 and "REFUSED" in out and "FIFO" in out, out


def test_open_regular_accepts_symlink_to_regular_file(tmp_path):
    from fastnn._files import NotRegularFileError, open_regular
    (tmp_path / "a").write_bytes(b"xyz")
    os.symlink(tmp_path / "a", tmp_path / "b")
    with open_regular(tmp_path / "b") as f:
        assert f.read() == b"xyz"
    with pytest.raises(NotRegularFileError, match="directory"):
        open_regular(tmp_path)
    with pytest.raises(FileNotFoundError):
        open_regular(tmp_path / "missing")
    os.symlink(tmp_path / "missing", tmp_path / "dangling")
    with pytest.raises(FileNotFoundError):
        open_regular(tmp_path / "dangling")


# ------------------------------------------------------------------ permissions

def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_saved_npz_files_get_the_umask_permissions(tmp_path, umask):
    from fastnn.checkpoint import save_params
    from fastnn.data.preprocess import make_preprocessor, save_preprocessor
    old = os.umask(umask)
    try:
        p = save_params(tmp_path / "model.npz", {"w": np.ones(3)})
        pre = make_preprocessor("mean_image").fit(np.ones((4, 1, 2, 2), np.float32))
        q = save_preprocessor(tmp_path / "preprocess.npz", pre)
        with open(tmp_path / "plain.json", "w") as f:
            f.write("{}")
    finally:
        os.umask(old)
    expected = 0o666 & ~umask
    assert _mode(tmp_path / "plain.json") == expected
    assert _mode(p) == expected
    assert _mode(q or tmp_path / "preprocess.npz") == expected


def test_train_writes_all_files_with_the_same_permissions(tmp_path, capsys):
    old = os.umask(0o022)
    try:
        code = main(["train", "--epochs", "1", "--model", "mlp", "--output-dir",
                     str(tmp_path / "run"), "--quiet", "--no-plots"])
    finally:
        os.umask(old)
    capsys.readouterr()
    assert code == 0
    modes = {p: _mode(tmp_path / "run" / p) for p in
             ("model.npz", "preprocess.npz", "config.json", "history.json")}
    assert set(modes.values()) == {0o644}, modes


# ------------------------------------------------------------------ search --resume

@pytest.mark.parametrize("make_dir", [False, True])
def test_search_resume_without_results_is_an_error(tmp_path, capsys, make_dir):
    out = tmp_path / "nonexistent"
    if make_dir:
        out.mkdir()
    code = main(["search", "--resume", "--output-dir", str(out), "--trials", "1",
                 "--epochs", "1", "--no-progress"])
    _, err = capsys.readouterr()
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--resume" in lines[0] and "nonexistent" in lines[0], err
    assert make_dir == out.exists()          # nothing created
    assert not (out / "results.json").exists()
