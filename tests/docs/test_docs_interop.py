"""Every Python block of docs/interop.md runs, in order, in one namespace (in a temp dir)."""
import pytest

from helpers import REPO_ROOT, code_blocks

DOC = REPO_ROOT / "docs" / "interop.md"
pytestmark = pytest.mark.skipif(not DOC.is_file(), reason="the docs are not beside the tests")


def test_doc_has_examples():
    assert len(code_blocks(DOC)) >= 7


def test_doc_examples_run(tmp_path, monkeypatch, capsys):
    pytest.importorskip("safetensors")
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    monkeypatch.chdir(tmp_path)
    ns = {"__name__": "docs_interop"}
    for i, code in enumerate(code_blocks(DOC)):
        if "import torch" in code:
            try:
                import torch  # noqa: F401
            except ImportError:
                continue
        exec(compile(code, f"docs/interop.md block {i}", "exec"), ns)
    out = capsys.readouterr().out
    assert "trainable parameters" in out and "InferenceModel(" in out
