"""Packaging facts that CI relies on: stubs shipped, cibuildwheel's test deps in sync.

Reads the source tree beside the tests (skips when the tests run without it).
"""
import pytest

from helpers import REPO_ROOT

ROOT = REPO_ROOT
tomllib = pytest.importorskip("tomllib")      # Python >= 3.11
pytestmark = pytest.mark.skipif(not (ROOT / "pyproject.toml").is_file(),
                                reason="the source tree is not beside the tests")


def _pyproject():
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def test_cibuildwheel_test_requires_match_tests_requirements():
    reqs = [line.strip() for line in (ROOT / "tests" / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    cibw = _pyproject()["tool"]["cibuildwheel"]
    assert sorted(cibw["test-requires"]) == sorted(reqs)
    assert cibw["build"].split() == ["cp310-*", "cp311-*", "cp312-*", "cp313-*"]
    assert "{project}/tests" in cibw["test-command"]


def test_stubs_are_packaged_and_match_modules():
    data = _pyproject()["tool"]["setuptools"]["package-data"]
    assert "*.pyi" in data["*"] and "py.typed" in data["fastnn"]
    assert (ROOT / "fastnn" / "py.typed").is_file()
    stubs = sorted((ROOT / "fastnn").rglob("*.pyi"))
    assert len(stubs) >= 20
    for stub in stubs:
        runtime = [stub.with_suffix(".py"), stub.with_suffix(".pyx")]
        assert any(p.is_file() for p in runtime), f"{stub} has no module beside it"
    packages = _pyproject()["tool"]["setuptools"]["packages"]
    for stub in stubs:
        pkg = ".".join(stub.relative_to(ROOT).parent.parts)
        assert pkg in packages, f"{stub}: package {pkg} is not packaged"


# internals without stubs: the command line and the benchmark cases (stubtest reads them from
# source); every other module with a public name needs its .pyi
_UNSTUBBED = ("fastnn/cli.py", "fastnn/commands/", "fastnn/benchmarks/")


def test_every_public_module_has_a_stub():
    missing = []
    for module in sorted((ROOT / "fastnn").rglob("*.py")):
        rel = module.relative_to(ROOT).as_posix()
        private = any(part.startswith("_") and part != "__init__.py"
                      for part in module.relative_to(ROOT).parts)
        if private or rel.startswith(_UNSTUBBED):
            continue
        if not module.with_suffix(".pyi").is_file():
            missing.append(rel)
    assert not missing, f"public modules without a type stub: {missing}"
