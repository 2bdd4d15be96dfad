"""docs/search.md runs as written: its Python blocks, in order, in one namespace; its TOML
block is a space that tune.load_space reads."""
import sys

import pytest

from helpers import REPO_ROOT, code_blocks

DOC = REPO_ROOT / "docs" / "search.md"


def test_the_page_has_examples():
    assert len(code_blocks(DOC, "python")) >= 8 and len(code_blocks(DOC, "toml")) == 1


def test_search_md_code_blocks_run(tmp_path, monkeypatch, capsys, restore_threads):
    pytest.importorskip("optuna")
    monkeypatch.chdir(tmp_path)
    ns = {"__name__": "search_md"}
    mod = type(sys)("search_md")
    mod.__dict__.update(ns)
    monkeypatch.setitem(sys.modules, "search_md", mod)
    for i, code in enumerate(code_blocks(DOC, "python")):
        try:
            exec(compile(code, f"{DOC.name}[block {i}]", "exec"), mod.__dict__)
        except Exception as exc:                      # name the block that failed
            raise AssertionError(f"docs/search.md block {i} failed: {exc!r}\n{code}") from exc
    out = capsys.readouterr().out
    assert "training epochs instead of 81" in out and "diverged: loss" in out


def test_search_md_toml_space(tmp_path):
    from fastnn import tune
    f = tmp_path / "space.toml"
    f.write_text(code_blocks(DOC, "toml")[0])
    space = tune.load_space(f)
    assert list(space) == ["lr", "optimizer", "momentum", "depth"]
    assert space["momentum"] == tune.conditional(tune.uniform(0.5, 0.99),
                                                 optimizer=["sgd_momentum"])
