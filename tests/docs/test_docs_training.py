"""docs/training.md runs as written: its Python blocks, in order, in one namespace."""
import os

import pytest

from helpers import REPO_ROOT, code_blocks

DOC = REPO_ROOT / "docs" / "training.md"


def test_the_page_has_examples():
    assert len(code_blocks(DOC)) >= 8


def test_training_md_code_blocks_run(tmp_path, monkeypatch, capsys):
    pytest.importorskip("tensorboardX")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ns = {"__name__": "training_md"}
    for i, code in enumerate(code_blocks(DOC)):
        try:
            exec(compile(code, f"{DOC.name}[block {i}]", "exec"), ns)
        except Exception as exc:                      # name the block that failed
            raise AssertionError(f"docs/training.md block {i} failed: {exc!r}\n{code}") from exc
    out = capsys.readouterr().out
    assert "event files: ['events.out.tfevents" in out
    assert any("tfevents" in f for f in os.listdir(ns["logdir"]))
