"""Leak checks (slow): resident memory must not grow over 10**4 calls of every op.

For each op of the OpInfo registry: forward + backward on its "small" float32 sample,
1000 warm-up calls (buffer cache, BLAS and OpenMP start-up), then 10**4 calls; the resident set
size (``/proc/self/statm``; the test skips where it is absent) may grow by at most
``BOUND_BYTES``.  A leak of one output per call (>= 400 bytes here) would add >= 4 MB.  The same
for every error input (the exception paths) and for checkpoint save/load in a loop.
"""
import gc
import os

import numpy as np
import pytest

import fastnn
from fastnn import checkpoint

import opinfo
from opinfo import OPS, run

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists("/proc/self/statm"),
                                 reason="needs /proc/self/statm")]

@pytest.fixture(autouse=True)
def _one_thread(restore_threads):
    """Leaks do not depend on the thread count; one thread keeps 10**4 calls quick on a busy
    machine (an oversubscribed OpenMP team can take milliseconds per barrier)."""
    fastnn.set_num_threads(1)


CALLS = 10_000
WARMUP = 1_000
BOUND_BYTES = 2 << 20


def rss():
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _growth(fn, calls=CALLS, warmup=WARMUP):
    for _ in range(warmup):
        fn()
    before = rss()
    for _ in range(calls):
        fn()
    return rss() - before


@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
def test_no_leak(op):
    s = op.sample_inputs(np.random.default_rng(0), np.float32, "small")
    grown = _growth(lambda: run(op, s))
    assert grown < BOUND_BYTES, f"{op.name}: resident memory grew by {grown} bytes over {CALLS} calls"


def test_no_leak_on_errors():
    errs = [e for _, e in opinfo.all_error_inputs()]

    def all_errors():
        for e in errs:
            try:
                e.fn(*e.args, **e.kwargs)
            except e.exc:
                pass
    grown = _growth(all_errors, calls=20, warmup=3)       # 20 * ~750 error calls
    assert grown < BOUND_BYTES, f"error paths: resident memory grew by {grown} bytes"


def test_no_leak_checkpoint_roundtrip(tmp_path):
    params = {"W": np.ones((64, 32), np.float32), "b": np.zeros(32, np.float32)}
    into = {k: np.empty_like(v) for k, v in params.items()}
    path = tmp_path / "ckpt.npz"

    def roundtrip():
        checkpoint.save_params(path, params, meta={"epoch": 1})
        checkpoint.load_params(path, into=into)
    grown = _growth(roundtrip, calls=1000, warmup=100)
    assert grown < BOUND_BYTES, f"checkpoint: resident memory grew by {grown} bytes"
    np.testing.assert_array_equal(into["W"], params["W"])
