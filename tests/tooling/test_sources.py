"""The kernel sources keep the index rule: loop indices and sizes are Py_ssize_t.

A C ``int`` index overflows past 2^31 - 1 elements (and ``long`` is 32-bit on
Windows), silently wrapping to a negative offset.  The rule: every
``range``/``prange`` loop variable is declared ``Py_ssize_t`` in its function,
and a C ``int``/``long``/``short`` is declared only for the few things that are
not indices: thread counts, op codes, flags and BLAS's ``int`` arguments
(``ALLOWED_INT_NAMES``).  This reads ``fastnn/_kernels/*.pyx`` as text (the
hand-written sources, not the generated ``<module>_<target>.pyx`` copies), so it
needs the source tree next to the tests and skips when run from elsewhere.
"""
import re

import pytest

from fastnn import _dispatch

from helpers import REPO_ROOT

KERNEL_DIR = REPO_ROOT / "fastnn" / "_kernels"
GENERATED = re.compile(r"_(baseline|avx2|avx512)\.pyx$")

# C integer types that are too narrow for an index on some platform.
INT_TYPE = r"(?:(?:unsigned|signed)\s+)?(?:long\s+long|long|int|short)"
# Names that may be a C int: thread counts, op codes, flags, BLAS int arguments.
ALLOWED_INT_NAMES = re.compile(r"^(nt|n_threads|.*thread.*|op|flags|keep|ld[abc])$")
# (file, name): other C ints that are not indices, with the reason.
EXCEPTIONS = {
    ("_runtime.pyx", "n"): "set_num_threads(int n): a thread count, omp_set_num_threads takes int",
}


def kernel_sources():
    if not KERNEL_DIR.is_dir():
        return []
    return sorted(p for p in KERNEL_DIR.glob("*.pyx") if not GENERATED.search(p.name))


def _strip(text):
    """Source without triple-quoted strings (verbatim C, docstrings) and comments."""
    text = re.sub(r'"""(?:.|\n)*?"""', lambda m: "\n" * m.group(0).count("\n"), text)
    text = re.sub(r"'''(?:.|\n)*?'''", lambda m: "\n" * m.group(0).count("\n"), text)
    return "\n".join(re.sub(r"#.*$", "", line) for line in text.split("\n"))


def _split_top(s):
    """Split a declaration's tail at commas outside brackets."""
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch in "([{<":
            depth += 1
        elif ch in ")]}>":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def _declared(line, type_re):
    """Names declared with a type matching type_re on one line (cdef statements,
    cdef-block lines and function parameters; casts and return types excluded)."""
    names = []
    for m in re.finditer(rf"(?<![\w<])(?:const\s+)?{type_re}\s+(\w+)\b(?!\s*[(\[*])", line):
        names.append((m.group(1), m.start()))
        head = line[:m.start()].strip()
        # `cdef int a = 1, b` / `Py_ssize_t i, j` in a cdef block: later names too
        if head in ("cdef", "") or head.endswith("cdef") or head.endswith("cdef const"):
            tail = _split_top(line[m.end():])
            for piece in tail[1:]:
                mm = re.match(r"\s*(\w+)\s*(=|$)", piece)
                if mm:
                    names.append((mm.group(1), m.start()))
    return names


def _functions(text):
    """(first line number, lines) of each top-level statement with its indented body."""
    blocks, start = [], 0
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if re.match(r"^[A-Za-z_@]", line) and i > start:
            blocks.append((start, lines[start:i]))
            start = i
    blocks.append((start, lines[start:]))
    return blocks


def violations(text, name="<source>"):
    """Every breach of the index rule in one .pyx source, as readable lines."""
    out = []
    text = _strip(text)
    for first, lines in _functions(text):
        if lines and lines[0].startswith("cdef extern"):
            continue        # C declarations: C's types, checked by the C compiler
        ssize = set()
        for line in lines:
            ssize.update(n for n, _ in _declared(line, r"Py_ssize_t"))
        for k, line in enumerate(lines, start=first + 1):
            for var, _ in _declared(line, INT_TYPE):
                if not ALLOWED_INT_NAMES.match(var) and (name, var) not in EXCEPTIONS:
                    out.append(f"{name}:{k}: '{var}' is declared as a C int/long; "
                               "indices and sizes must be Py_ssize_t")
            for m in re.finditer(r"\bfor\s+(\w+)\s+in\s+p?range\s*\(", line):
                if m.group(1) not in ssize:
                    out.append(f"{name}:{k}: loop variable '{m.group(1)}' is not declared "
                               "Py_ssize_t in its function")
            for m in re.finditer(r"\bfor\s+(\w+)\s+from\b", line):
                if m.group(1) not in ssize:
                    out.append(f"{name}:{k}: loop variable '{m.group(1)}' is not declared "
                               "Py_ssize_t in its function")
    return out


SOURCES = kernel_sources()


@pytest.mark.skipif(not SOURCES, reason="fastnn/_kernels sources are not beside the tests")
@pytest.mark.parametrize("path", SOURCES, ids=[p.name for p in SOURCES])
def test_kernel_indices_are_py_ssize_t(path):
    bad = violations(path.read_text(), path.name)
    assert not bad, "\n".join(bad)


@pytest.mark.skipif(not SOURCES, reason="fastnn/_kernels sources are not beside the tests")
def test_every_kernel_family_is_scanned():
    """Every family the runtime dispatches to (``fastnn._dispatch.FAMILIES``) has its
    hand-written source among the scanned ones; the generated copies are not scanned."""
    names = {p.stem for p in SOURCES}
    assert _dispatch.FAMILIES, "no kernel family found"
    missing = set(_dispatch.FAMILIES) - names
    assert not missing, f"kernel families without a scanned source: {sorted(missing)}"
    assert not any(GENERATED.search(p.name) for p in SOURCES)


BAD = '''
from cython.parallel cimport prange

def kernel(const double[::1] x, double[::1] y, int n_threads):
    """y = 2 x"""
    cdef int i
    cdef Py_ssize_t n = x.shape[0], j
    cdef long count = 0, total
    cdef int nt = n_threads
    for i in prange(n, nogil=True, num_threads=nt):
        y[i] = 2 * x[i]
    for j in range(n):
        count += 1
    for k in range(n):
        pass

cdef void _block(const float* x, float* y, int n) noexcept nogil:
    cdef:
        unsigned int m
        Py_ssize_t ok
    cdef Py_ssize_t i
    for i in range(n):
        y[i] = x[i]
'''


def test_checker_finds_every_kind_of_breach():
    bad = violations(BAD)
    text = "\n".join(bad)
    assert "'i' is declared as a C int" in text                 # cdef int i
    assert "'count' is declared" in text and "'total' is declared" in text   # multi-declaration
    assert "loop variable 'i' is not declared Py_ssize_t" in text
    assert "loop variable 'k' is not declared Py_ssize_t" in text   # undeclared loop variable
    assert "'n' is declared as a C int" in text                 # int parameter
    assert "'m' is declared as a C int" in text                 # cdef-block line
    assert "'nt'" not in text and "'n_threads'" not in text     # thread counts are allowed
    assert "'j'" not in text and "'ok'" not in text
    assert len(bad) == 7, text


def test_checker_ignores_casts_strings_and_return_types():
    good = '''
cdef extern from * nogil:
    """
    static int helper(int i) { return i; }
    """
    int helper(int i)

cdef inline int threads_for(Py_ssize_t work, int n_threads) noexcept nogil:
    return <int>work   # cdef int not_this_one
'''
    assert violations(good) == []
