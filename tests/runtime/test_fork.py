"""fork: a child forked after fastnn ran threaded must not hang, and must compute the same results.

libgomp keeps its thread team in process-local state that a forked child inherits without
the threads; a child's first multi-threaded OpenMP region then waits forever for them.
fastnn's at-fork handler makes such a child run its kernels on one thread.

Each check runs in a fresh interpreter (``subprocess``) with a timeout, so a regression fails
the test instead of hanging the suite.  The child's results are compared bit for bit with the
parent's serial results (fastnn's results do not depend on the thread count).
"""
import os
import subprocess
import sys
import textwrap

import pytest

from helpers import CHILD_CWD, child_env, needs_openmp

pytestmark = [needs_openmp,
              pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")]

TIMEOUT = 240

COMMON = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    import fastnn
    from fastnn import ops
    from fastnn._kernels import _runtime

    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 16, 32, 32)).astype(np.float32)     # 1M elements: threaded
    W = rng.standard_normal((8, 16, 3, 3)).astype(np.float32)
    B = rng.standard_normal(8).astype(np.float32)
    A = rng.standard_normal((512, 1024)).astype(np.float32)
    WA = rng.standard_normal((1024, 256)).astype(np.float32)
    BA = rng.standard_normal(256).astype(np.float32)

    OPS = {
        "tanh": lambda: ops.tanh_forward(X)[0],
        "conv": lambda: ops.conv_forward(X, W, B, stride=1, pad=1)[0],
        "affine": lambda: ops.affine_forward(A, WA, BA)[0],
    }

    def expected():
        fastnn.set_num_threads(1)
        want = {k: f() for k, f in OPS.items()}
        fastnn.set_num_threads(2)
        return want
""")


def _run(body):
    code = COMMON + textwrap.dedent(body)
    env = child_env(OMP_NUM_THREADS="2")        # two threads whatever the machine
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=TIMEOUT, env=env, cwd=CHILD_CWD)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_forked_child_after_threaded_op_runs_every_op():
    # 3 x 3 parent/child combinations, each in a fresh child of a parent that just ran
    # `parent_op` on 2 threads; the parent waits at most 60 s for each child
    out = _run("""
        want = expected()
        for parent_op in OPS:
            for child_op in OPS:
                OPS[parent_op]()                       # a threaded region in the parent
                pid = os.fork()
                if pid == 0:
                    code = 3
                    try:
                        got = OPS[child_op]()
                        code = 0 if np.array_equal(got, want[child_op]) else 4
                        if fastnn.get_num_threads() != 1 or not _runtime.forked_serial():
                            code = 5
                    finally:
                        os._exit(code)
                deadline = time.monotonic() + 60
                while True:
                    done, status = os.waitpid(pid, os.WNOHANG)
                    if done:
                        break
                    if time.monotonic() > deadline:
                        os.kill(pid, 9)
                        os.waitpid(pid, 0)
                        sys.exit(f"child {child_op} after parent {parent_op}: hung")
                    time.sleep(0.01)
                code = os.waitstatus_to_exitcode(status)
                if code != 0:
                    sys.exit(f"child {child_op} after parent {parent_op}: exit {code}")
                print(parent_op, child_op, "ok")
        # the parent itself keeps its threads
        assert fastnn.get_num_threads() == 2 and not _runtime.forked_serial()
        assert all(np.array_equal(OPS[k](), want[k]) for k in OPS)
    """)
    assert out.count(" ok") == 9


def test_fork_pool_after_threaded_op():
    # multiprocessing's fork start method (Python 3.11's default on Linux)
    out = _run("""
        import multiprocessing as mp
        want = expected()
        OPS["conv"](); OPS["affine"]()                 # threaded regions in the parent

        def work(name):
            return name, OPS[name](), fastnn.get_num_threads()

        with mp.get_context("fork").Pool(2) as pool:
            results = pool.map_async(work, list(OPS) * 2).get(timeout=120)
        for name, got, threads in results:
            assert np.array_equal(got, want[name]), name
            assert threads == 1, threads
        print("pool ok", len(results))
    """)
    assert "pool ok 6" in out


def test_set_num_threads_in_forked_child_warns_and_stays_serial():
    out = _run("""
        import warnings
        OPS["tanh"]()
        pid = os.fork()
        if pid == 0:
            code = 3
            try:
                with warnings.catch_warnings(record=True) as w:
                    warnings.simplefilter("always")
                    fastnn.set_num_threads(2)
                ok = (len(w) == 1 and issubclass(w[0].category, RuntimeWarning)
                      and "forked" in str(w[0].message) and fastnn.get_num_threads() == 1)
                OPS["conv"]()
                code = 0 if ok else 4
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        print("exit", os.waitstatus_to_exitcode(status))
    """)
    assert "exit 0" in out


def test_child_of_a_parent_that_never_ran_threaded_keeps_its_threads():
    out = _run("""
        pid = os.fork()
        if pid == 0:
            code = 3
            try:
                n = fastnn.get_num_threads()
                got = OPS["conv"]()
                code = 0 if (n == 2 and not _runtime.forked_serial()) else 4
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        print("exit", os.waitstatus_to_exitcode(status))
    """)
    assert "exit 0" in out
