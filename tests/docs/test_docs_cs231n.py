"""docs/cs231n.md runs as written: its Python blocks, in order, in one namespace."""
import sys

from helpers import REPO_ROOT, code_blocks

DOC = REPO_ROOT / "docs" / "cs231n.md"


def test_the_page_has_examples():
    assert len(code_blocks(DOC)) >= 6


def test_cs231n_md_code_blocks_run(capsys):
    saved = {k: v for k, v in sys.modules.items() if k == "cs231n" or k.startswith("cs231n.")}
    ns = {"__name__": "cs231n_md"}
    try:
        for i, code in enumerate(code_blocks(DOC)):
            try:
                exec(compile(code, f"{DOC.name}[block {i}]", "exec"), ns)
            except Exception as exc:                      # name the block that failed
                raise AssertionError(f"docs/cs231n.md block {i} failed: {exc!r}\n{code}") from exc
    finally:
        for k in [k for k in sys.modules if k == "cs231n" or k.startswith("cs231n.")]:
            del sys.modules[k]
        sys.modules.update(saved)
    out = capsys.readouterr().out
    assert "[[-0.08759809 -0.10987781]" in out
    assert "[11. 12. 13.] [1. 2. 3.]" in out
    assert "3.4702243556" in out
    assert "\n1.0\n" in out
