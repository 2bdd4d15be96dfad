"""The documentation site: every Python example of the user guide runs as written (pages that
have no test of their own run here, in order, one namespace per page), every page is in the
site, the benchmarks page and README's table are what docs/gen_benchmarks.py makes of the saved
run, and every public callable has a docstring (docs/check_api.py)."""
import importlib.util
import re

import pytest

from helpers import REPO_ROOT, code_blocks

ROOT = REPO_ROOT
DOCS = ROOT / "docs"
# pages whose examples a test_docs_<page>.py file runs (with its own checks of the output)
OWN_TEST = {"training", "babysitting", "search", "interop", "cs231n"}


def _load(name):
    spec = importlib.util.spec_from_file_location(name, DOCS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


PAGES = sorted(p.stem for p in DOCS.glob("*.md"))
# search.md is shown through tuning.md (a page named "search" would replace Sphinx's search page)


def test_every_page_with_examples_is_run_by_a_test():
    for stem in PAGES:
        if code_blocks(DOCS / f"{stem}.md") and stem in OWN_TEST:
            name = f"test_docs_{stem.replace('-', '_')}.py"
            assert list((ROOT / "tests").rglob(name)), stem


@pytest.mark.parametrize("stem", [s for s in PAGES if s not in OWN_TEST
                                  and code_blocks(DOCS / f"{s}.md")])
def test_page_examples_run(stem, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    ns = {"__name__": f"docs_{stem}"}
    for i, code in enumerate(code_blocks(DOCS / f"{stem}.md")):
        try:
            exec(compile(code, f"docs/{stem}.md[block {i}]", "exec"), ns)
        except Exception as exc:                      # name the block that failed
            raise AssertionError(f"docs/{stem}.md block {i} failed: {exc!r}\n{code}") from exc


def test_every_page_is_in_the_site():
    index = (DOCS / "index.md").read_text()
    assert "```{include} search.md" in (DOCS / "tuning.md").read_text()   # see docs/conf.py
    for stem in PAGES:
        if stem not in ("index", "search"):
            assert re.search(rf"^{re.escape(stem)}$", index, flags=re.M), f"{stem}.md not in a toctree"


def test_pages_tell_no_history():
    for page in list(DOCS.glob("*.md")) + [ROOT / "README.md"]:
        text = page.read_text().lower()
        for phrase in ("this session", "earlier work", "foundation issue", "issue 6", "issues 6-8",
                       "[--scheduler"):
            assert phrase not in text, (page.name, phrase)


def test_benchmarks_page_and_readme_table_are_generated_from_the_saved_run():
    gen = _load("gen_benchmarks")
    page, readme = gen.build()
    assert (DOCS / "benchmarks.md").read_text() == page, "run python docs/gen_benchmarks.py"
    assert (ROOT / "README.md").read_text() == readme, "run python docs/gen_benchmarks.py"
    table = readme[readme.index(gen.BEGIN):readme.index(gen.END)]
    rows = [ln for ln in table.splitlines() if ln.startswith("| ") and "---" not in ln][1:]
    assert 6 <= len(rows) <= 10
    assert re.search(r"Measured \d{4}-\d\d-\d\d( \d\d:\d\d UTC)? on \S", table)


def test_parse_reads_a_run_that_compare_writes():
    gen = _load("gen_benchmarks")
    text = ("Date: 2030-01-01 10:00 UTC\nMachine: Some CPU, 4 CPUs, Linux\nThreads: 4 (fastnn)\n\n"
            "| op | fastnn ms | reference ms | torch ms | fastnn / torch | speed-up vs reference "
            "| fastnn GB/s |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n"
            "| relu | 1.00 | 9.00 | 2.00 | 0.50x | 9.0x | 10.0 |\n\n"
            "### affine\n\nDate: 2030-01-01 10:00 UTC\n\n| workload | fastnn ms | reference ms | "
            "torch ms | fastnn / torch | vs reference | fastnn rate |\n| --- | --- | --- | --- | "
            "--- | --- | --- |\n| affine fwd+bwd 256x3072 -> 1024 | 3.000 | 4.00 | 6.000 | 0.50x | "
            "1.3x | 1 GFLOP/s |\n")
    header, sections = gen.parse(text)
    assert header["Date"].startswith("2030-01-01") and header["Machine"].startswith("Some CPU")
    assert [s[0] for s in sections] == ["activations", "affine"]
    assert sections[0][2]["relu"]["torch ms"] == "2.00"
    assert sections[1][2]["affine fwd+bwd 256x3072 -> 1024"]["fastnn / torch"] == "0.50x"
    with pytest.raises(ValueError):
        gen.parse("| op |\n")


def test_every_public_callable_has_a_docstring():
    assert _load("check_api").problems() == []


def test_the_api_check_finds_a_missing_docstring(monkeypatch):
    import fastnn.layers
    check = _load("check_api")

    def undocumented(self):
        return None
    monkeypatch.setattr(fastnn.layers.Linear, "extra_method", undocumented, raising=False)
    assert "fastnn.layers.Linear.extra_method: no docstring" in check.problems(["fastnn.layers"])
    monkeypatch.delattr(fastnn.layers, "__all__")
    assert "fastnn.layers: module has no __all__" in check.problems(["fastnn.layers"])
