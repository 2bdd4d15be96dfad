"""Opt-in (FASTNN_TEST_HUGE=1): an array of more than 2**31 elements.

relu forward (in place, ``out=x``) and backward over 2**31 + 16 float32 values (8 GiB each;
16 GiB at the peak): every index is a Py_ssize_t, so the elements beyond 2**31 are computed
like the first ones.  Checked at indices on both sides of 2**31 (and 2**32 // 2 ... the end).
Skips when less than 18 GiB of memory is available.
"""
import os

import numpy as np
import pytest

from fastnn import ops

N = 2**31 + 16
NEEDED = 18 << 30

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.environ.get("FASTNN_TEST_HUGE") != "1",
                                 reason="set FASTNN_TEST_HUGE=1 (needs 18 GiB of memory)")]


def _available():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def test_relu_beyond_2_31_elements():
    avail = _available()
    if avail is not None and avail < NEEDED:
        pytest.skip(f"only {avail >> 30} GiB available")
    x = np.empty(N, np.float32)
    x[:] = -1.0
    probe = np.array([0, 1, 2**31 - 2, 2**31 - 1, 2**31, 2**31 + 1, 2**31 + 7, N - 2, N - 1],
                     np.int64)
    values = np.array([3.0, -2.0, 5.0, -7.0, 11.0, -13.0, 17.0, 19.0, -23.0], np.float32)
    x[probe] = values
    out, cache = ops.relu_forward(x, out=x)             # in place: 8 GiB in all
    assert out is x
    np.testing.assert_array_equal(out[probe], np.maximum(values, 0))
    assert out[2**31 + 3] == 0 and out[N - 3] == 0
    dx = ops.relu_backward(out, cache)                  # dout = the output: dx = out where out > 0
    assert dx.shape == (N,)
    np.testing.assert_array_equal(dx[probe], np.maximum(values, 0))
    assert dx[2**31 + 3] == 0
    # a sum over everything touches every element: only the probes are non-zero
    assert float(dx.sum(dtype=np.float64)) == float(np.maximum(values, 0).sum())
