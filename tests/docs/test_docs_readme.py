"""README.md runs as written: its two set-up commands, its Python blocks (in order, in one
namespace), the output it quotes, its size and its links."""
import re


from helpers import REPO_ROOT, code_blocks

ROOT = REPO_ROOT
README = ROOT / "README.md"


def _text():
    return README.read_text()


def test_readme_opens_with_the_two_setup_commands():
    first = code_blocks(README, "bash")[0].strip().splitlines()
    assert first == ["pip install . && fastnn train",
                     "pip install -r tests/requirements.txt && pytest"]
    assert _text().index("```bash") < 20                     # the first thing after the title


def test_readme_is_a_front_door():
    text = _text()
    assert len(text.encode()) <= 12 * 1024
    for word in ("issue ", "this session", "earlier work", "foundation issue"):
        assert word not in text.lower()
    assert "[--scheduler" not in text


def test_readme_links_resolve():
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", _text()):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target


def test_readme_python_blocks_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    ns = {"__name__": "readme"}
    blocks = code_blocks(README, "python")
    assert len(blocks) >= 5
    for i, code in enumerate(blocks):
        try:
            exec(compile(code, f"README.md[block {i}]", "exec"), ns)
        except Exception as exc:                      # name the block that failed
            raise AssertionError(f"README.md block {i} failed: {exc!r}\n{code}") from exc
    out = capsys.readouterr().out
    acc = float(re.search(r"test accuracy ([0-9.]+)", out).group(1))
    assert acc >= 0.95                                # crops only: no flips on digits
    assert float(re.search(r"best validation accuracy ([0-9.]+)", out).group(1)) >= 0.8
    assert (tmp_path / "digits.npz").exists()
    assert "sanity checks" in out


def test_readme_dead_relu_table_is_what_the_command_prints(tmp_path):
    """The quoted `fastnn diagnose --experiment dead-relu` output, row by row.  The stable rows
    (the sane and the far too high rate) must match exactly; the middle one, trained at the
    edge of stability, must show the same picture (a large dead fraction, lower accuracy)."""
    quoted = [b for b in code_blocks(README, "text")
              if "fastnn diagnose --experiment dead-relu" in b][0]
    quoted_rows = {ln.split()[0]: ln.split() for ln in quoted.splitlines()
                   if re.match(r"\s*0\.\d+\s", ln)}
    from fastnn import diagnose
    printed = diagnose.format_result(diagnose.dead_relu(seed=0))
    rows = {ln.split()[0]: ln.split() for ln in printed.splitlines()
            if re.match(r"\s*0\.\d+\s", ln)}
    pct = lambda r, i: float(r[i].rstrip("%"))          # noqa: E731
    assert set(rows) == set(quoted_rows) == {"0.001", "0.05", "0.2"}
    assert rows["0.001"][1:5] == quoted_rows["0.001"][1:5]      # dead fractions
    assert abs(pct(rows["0.001"], 6) - pct(quoted_rows["0.001"], 6)) <= 1.5
    assert rows["0.2"] == quoted_rows["0.2"]
    assert pct(rows["0.05"], 2) >= 30 and pct(rows["0.05"], 6) < pct(rows["0.001"], 6)
