"""Helpers shared by the tests: the repository root, build facts, child interpreters,
crafted data files.  (The op registry and its tolerances are the package ``opinfo``; numerical
gradients are ``fastnn.gradcheck``.)"""
import contextlib
import os
import pathlib
import re
import struct
import sys
import tempfile

import pytest

#: The repository (or source snapshot) the tests belong to: the folder above ``tests/``.
REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent

# A serial build (FASTNN_OPENMP=0 at build time, set again when testing it)
# has one thread; tests of multi-threading skip there.  In every other build
# OpenMP must be on (tests/runtime/test_config.py checks it).
SERIAL_BUILD = os.environ.get("FASTNN_OPENMP", "") == "0"
needs_openmp = pytest.mark.skipif(SERIAL_BUILD, reason="serial build (FASTNN_OPENMP=0)")


# ----------------------------------------------------------------- child interpreters

#: Working directory for a child interpreter: never the repository root, whose uncompiled
#: ``fastnn/`` source folder would shadow the installed package (``python -c`` puts the working
#: directory first on sys.path).
CHILD_CWD = tempfile.gettempdir()


def child_env(**extra):
    """``os.environ`` for a child interpreter that must import the fastnn under test: the
    folder holding that package goes first on PYTHONPATH (the installed one in CI, a
    development tree when the suite runs with PYTHONPATH set).  Run the child with
    ``cwd=CHILD_CWD``.  ``extra`` adds or overrides variables."""
    import fastnn
    home = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))
    old = os.environ.get("PYTHONPATH")
    env = dict(os.environ, PYTHONPATH=home + (os.pathsep + old if old else ""))
    env.update(extra)
    return env


def refusal_code(imports, call, error):
    """Code for a child interpreter: ``imports``, then ``call``, printing ``REFUSED`` and the
    message when it raises ``error`` (the test asserts on that line)."""
    return f"{imports}\ntry:\n    {call}\nexcept {error} as exc:\n    print(\"REFUSED\", exc)\n"


# ----------------------------------------------------------------- documentation pages

def code_blocks(path, lang="python"):
    """The bodies of the fenced ``lang`` code blocks of the Markdown file ``path``, in order."""
    return re.findall(rf"```{lang}\n(.*?)```", pathlib.Path(path).read_text(), flags=re.S)


# ----------------------------------------------------------------- crafted files

def _binstring(b):
    return (b"U" + bytes([len(b)]) + b) if len(b) < 256 else (b"T" + struct.pack("<i", len(b)) + b)


def py2_batch(data, labels):
    """A batch pickled the way the real files are (Python 2 cPickle, protocol 2): str as
    (SHORT_)BINSTRING, numpy 1.x's ``numpy.core.multiarray._reconstruct`` and a dtype state
    tuple, assembled opcode by opcode."""
    array = (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + _binstring(b"b")
             + b"\x87R(K\x01J" + struct.pack("<i", len(data)) + b"M" + struct.pack("<H", 3072)
             + b"\x86cnumpy\ndtype\n" + _binstring(b"u1") + b"K\x00K\x01\x87R(K\x03"
             + _binstring(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89"
             + _binstring(data.tobytes()) + b"tb")
    labels = b"](" + b"".join(b"K" + bytes([v]) for v in labels) + b"e"
    return (b"\x80\x02}(" + _binstring(b"batch_label") + _binstring(b"training batch 1 of 5")
            + _binstring(b"data") + array + _binstring(b"labels") + labels + b"u.")


@contextlib.contextmanager
def pickled_by_value(module_name):
    """Within the block, cloudpickle (when installed) pickles the functions of module_name by
    value, so trial functions defined in a test file reach worker processes."""
    try:
        import cloudpickle
    except ImportError:
        yield
        return
    mod = sys.modules[module_name]
    cloudpickle.register_pickle_by_value(mod)
    try:
        yield
    finally:
        cloudpickle.unregister_pickle_by_value(mod)
