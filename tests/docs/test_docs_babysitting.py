"""docs/babysitting.md: every ```python block runs, in order, in one namespace."""
import os
import re

import pytest

from helpers import REPO_ROOT

DOC = REPO_ROOT / "docs" / "babysitting.md"
pytestmark = pytest.mark.skipif(not DOC.is_file(), reason="the docs are not beside the tests")


def _blocks():
    return re.findall(r"^```python\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)


def test_the_page_has_examples():
    blocks = _blocks()
    assert len(blocks) >= 4
    assert any("check(" in b for b in blocks) and any("lrfind(" in b for b in blocks)
    assert any("Monitor.summary" in b for b in blocks)


def test_python_blocks_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "docs_babysitting"}
    for i, code in enumerate(_blocks()):
        exec(compile(code, f"{DOC.name}[python block {i}]", "exec"), namespace)
    out = capsys.readouterr().out
    assert "sanity checks (softmax loss, 10 classes): all passed" in out
    assert "learning-rate range test (sgd_momentum" in out
    assert "! update/weight ratio 3.0e-02 (W1) is 30x the healthy ~1e-3" in out
    with open("lrfind-example.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize("lrfind-example.png") > 20000
