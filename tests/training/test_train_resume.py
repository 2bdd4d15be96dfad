"""``fastnn train``'s resumable checkpoint: it survives until every final file is written, it
belongs to one config, a fresh run removes an older one, and a killed save's temp files go."""
import json
import os
import time

import pytest

from fastnn.checkpoint import remove_stale_temp_files
from fastnn.cli import main

COMMON = ["--epochs", "2", "--no-plots", "--quiet", "--seed", "1", "--batch-size", "64",
          "--no-monitor"]


def train(out, *extra):
    return main(["train", "--output-dir", str(out), *COMMON, *extra])


def history(out):
    return json.loads((out / "history.json").read_text())


def one_error_line(capsys):
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _raise_interrupt(*a, **k):
    raise KeyboardInterrupt


@pytest.fixture
def interrupt_final_files(monkeypatch):
    """Ctrl-C after training, while the final files are written (after model.npz)."""
    monkeypatch.setattr("fastnn.data.save_preprocessor", _raise_interrupt)
    return monkeypatch


def test_interrupt_while_writing_final_files_then_resume_completes(tmp_path, capsys,
                                                                   monkeypatch):
    full, part = tmp_path / "full", tmp_path / "part"
    assert train(full) == 0
    monkeypatch.setattr("fastnn.data.save_preprocessor", _raise_interrupt)
    assert train(part) == 130
    assert "resume with: fastnn train --resume" in capsys.readouterr().out
    assert (part / "interrupted.npz").exists()
    assert not (part / "history.json").exists()
    monkeypatch.undo()
    assert main(["train", "--resume", "--output-dir", str(part), "--no-plots", "--quiet"]) == 0
    a, b = history(full), history(part)
    assert b["loss_history"] == a["loss_history"] and len(a["loss_history"]) > 10
    assert b["val_acc_history"] == a["val_acc_history"] and b["test_acc"] == a["test_acc"]
    assert {"model.npz", "preprocess.npz", "history.json"} <= set(os.listdir(part))
    assert not (part / "interrupted.npz").exists()


def test_interrupt_in_the_test_accuracy_step_then_resume(tmp_path, capsys, monkeypatch):
    from fastnn.solver import Solver
    real_train, real_accuracy = Solver.train, Solver.check_accuracy

    def train_then_mark(self):
        real_train(self)
        self.trained = True

    def accuracy(self, *a, **k):
        if getattr(self, "trained", False):   # after train(): the final test accuracy
            raise KeyboardInterrupt
        return real_accuracy(self, *a, **k)

    monkeypatch.setattr(Solver, "train", train_then_mark)
    monkeypatch.setattr(Solver, "check_accuracy", accuracy)
    out = tmp_path / "run"
    assert train(out) == 130
    assert (out / "interrupted.npz").exists() and not (out / "model.npz").exists()
    monkeypatch.undo()
    capsys.readouterr()
    assert main(["train", "--resume", "--output-dir", str(out), "--no-plots"]) == 0
    assert "training had finished" in capsys.readouterr().out
    assert history(out)["epoch"] == 2 and (out / "model.npz").exists()
    assert not (out / "interrupted.npz").exists()


def test_fresh_run_removes_stale_checkpoint_and_resume_refuses(tmp_path, capsys,
                                                              interrupt_final_files):
    out = tmp_path / "run"
    assert train(out, "--optimizer", "adam") == 130              # leaves interrupted.npz
    assert (out / "interrupted.npz").exists()
    interrupt_final_files.undo()
    capsys.readouterr()
    # a new run in the same folder is refused without --overwrite (the checkpoint stays) ...
    assert train(out, "--optimizer", "sgd", "--lr", "1e300") == 2
    assert "holds an earlier run" in one_error_line(capsys)
    assert (out / "interrupted.npz").exists()
    # ... and with it, it replaces the earlier run and diverges (FloatingPointError, status 1)
    assert train(out, "--optimizer", "sgd", "--lr", "1e300", "--overwrite") == 1
    assert not (out / "interrupted.npz").exists()
    assert json.loads((out / "config.json").read_text())["optimizer"] == "sgd"
    capsys.readouterr()
    assert main(["train", "--resume", "--output-dir", str(out)]) == 2
    assert "has no interrupted run" in one_error_line(capsys)


def test_resume_refuses_a_checkpoint_of_another_config(tmp_path, capsys, interrupt_final_files):
    out = tmp_path / "run"
    assert train(out) == 130
    interrupt_final_files.undo()
    cfg = json.loads((out / "config.json").read_text())
    cfg["optimizer"], cfg["lr"] = "sgd", 0.1                   # config.json of another run
    (out / "config.json").write_text(json.dumps(cfg))
    capsys.readouterr()
    assert main(["train", "--resume", "--output-dir", str(out)]) == 2
    line = one_error_line(capsys)
    assert "belongs to another run" in line and "config-sha256:" in line
    assert "must come from the same run" in line
    assert (out / "interrupted.npz").exists()                   # nothing was destroyed


@pytest.mark.parametrize("key, value, pattern", [
    ("batch_size", 0, "--batch-size must be >= 1, got 0"),
    ("batch_size", "32", "--batch-size must be an integer, got '32'"),
    ("lr", "fast", "--lr must be a number, got 'fast'"),
    ("optimizer", "lbfgs", "--optimizer must be one of"),
    ("hidden", [0], "--hidden widths must be >= 1"),
    ("hidden", {"a": 1}, "--hidden must be a list of integers"),
    ("seed", -1, "--seed must be an integer >= 0"),
])
def test_resumed_config_is_revalidated(tmp_path, capsys, interrupt_final_files, key, value,
                                       pattern):
    out = tmp_path / "run"
    assert train(out) == 130
    interrupt_final_files.undo()
    cfg = json.loads((out / "config.json").read_text())
    cfg[key] = value
    (out / "config.json").write_text(json.dumps(cfg))
    capsys.readouterr()
    assert main(["train", "--resume", "--output-dir", str(out)]) == 2
    line = one_error_line(capsys)
    assert line.startswith("fastnn train: error: --resume:") and "not a valid run config" in line
    assert pattern in line


def test_stale_temp_files_removed_at_start(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    old = time.time() - 3600
    stale = [out / ".interrupted.npz.ab12cd_9.tmp", out / ".model.npz.zzzzzzzz.tmp"]
    keep = [out / ".interrupted.npz.short.tmp",          # not mkstemp's 8 characters
            out / "notes.tmp", out / ".mine.npz.abcdefgh.tmp"]     # not a file fastnn train writes
    for p in stale + keep:
        p.write_bytes(b"partial")
        os.utime(p, (old, old))
    assert train(out, "--epochs", "1") == 0
    names = set(os.listdir(out))
    assert not any(p.name in names for p in stale)
    assert all(p.name in names for p in keep)


def test_remove_stale_temp_files_only_older_ones(tmp_path):
    old, new = tmp_path / ".a.npz.aaaaaaaa.tmp", tmp_path / ".a.npz.bbbbbbbb.tmp"
    for p in (old, new):
        p.write_bytes(b"x")
    os.utime(old, (1000, 1000))
    os.utime(new, (3000, 3000))
    (tmp_path / ".b.npz.cccccccc.tmp").mkdir()               # a directory is never removed
    os.utime(tmp_path / ".b.npz.cccccccc.tmp", (1000, 1000))
    assert remove_stale_temp_files(tmp_path, names=["b.npz"], older_than=2000) == []
    assert remove_stale_temp_files(tmp_path, older_than=2000) == [str(old)]
    assert new.exists() and not old.exists() and (tmp_path / ".b.npz.cccccccc.tmp").is_dir()
    assert remove_stale_temp_files(tmp_path / "missing") == []
