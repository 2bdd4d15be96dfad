"""Helpers shared by the tests: tolerances, the op table, numeric gradients."""
import os
import tempfile

import numpy as np
import pytest

# float32 results are compared with the float64 reference on the same values.
# Measured worst cases over 255k values in [-100, 100] on every SIMD target
# (tests/test_math.py has the per-function ulp bounds):
#   forward  : within rtol 1e-5 everywhere (absolute slack only for subnormals)
#   backward : within rtol 1e-5 + 2e-6 absolute (tanh/sigmoid backward use the
#              float32 output y, and 1 - y^2 loses bits near saturation,
#              exactly as in PyTorch)
F32_FWD = dict(rtol=1e-5, atol=1e-6)
F32_BWD = dict(rtol=1e-5, atol=1e-5)
# float64 uses the C library: agreement to a few ulp
F64 = dict(rtol=1e-12, atol=1e-13)

# (name, forward kwargs) of every elementwise activation
ELEMENTWISE = [
    ("relu", {}),
    ("leaky_relu", {}),
    ("leaky_relu", {"negative_slope": 0.2}),
    ("elu", {}),
    ("elu", {"alpha": 0.5}),
    ("selu", {}),
    ("sigmoid", {}),
    ("tanh", {}),
    ("gelu", {}),
    ("gelu", {"approximate": "tanh"}),
    ("softplus", {}),
    ("softplus", {"beta": 2.0, "threshold": 10.0}),
    ("silu", {}),
]
ELEMENTWISE_IDS = [n + "".join(f"-{k}={v}" for k, v in kw.items()) for n, kw in ELEMENTWISE]


def fwd_bwd(module, name):
    return getattr(module, name + "_forward"), getattr(module, name + "_backward")


def tol(dtype, backward=False):
    if dtype == np.float64:
        return F64
    return F32_BWD if backward else F32_FWD


def rel_error(a, b):
    """CS231n relative error: max |a - b| / max(1e-8, |a| + |b|)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))) if a.size else 0.0


def numeric_grad(f, x, dout, h=1e-6):
    """Centred differences of sum(f(x) * dout) w.r.t. every element of x (float64)."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        fp = np.sum(f(x) * dout)
        x[i] = old - h
        fm = np.sum(f(x) * dout)
        x[i] = old
        grad[i] = (fp - fm) / (2 * h)
        it.iternext()
    return grad


# A serial build (FASTNN_OPENMP=0 at build time, set again when testing it)
# has one thread; tests of multi-threading skip there.  In every other build
# OpenMP must be on (tests/test_config.py checks it).
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
