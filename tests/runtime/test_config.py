"""Threads, SIMD dispatch, show_config and the build's runtime facts."""
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import fastnn
from fastnn import _dispatch

from helpers import CHILD_CWD, SERIAL_BUILD, child_env, needs_openmp


@needs_openmp
def test_set_get_num_threads(restore_threads):
    fastnn.set_num_threads(1)
    assert fastnn.get_num_threads() == 1
    fastnn.set_num_threads(2)
    assert fastnn.get_num_threads() == 2
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        fastnn.set_num_threads(0)
    with pytest.raises(TypeError, match="n must be an integer"):
        fastnn.set_num_threads(1.5)
    with pytest.raises(TypeError, match="n must be an integer"):
        fastnn.set_num_threads(True)
    fastnn.set_num_threads(np.int64(1))
    assert fastnn.get_num_threads() == 1


@needs_openmp
def test_threadpoolctl_limits_fastnn(restore_threads):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    fastnn.set_num_threads(2)
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert fastnn.get_num_threads() == 1
    assert fastnn.get_num_threads() == 2
    apis = {p["user_api"] for p in threadpoolctl.threadpool_info()}
    if fastnn.config()["openmp"]:
        assert "openmp" in apis


_THREADS_CODE = """
import threading, fastnn, threadpoolctl
def in_thread(f):
    out = []
    t = threading.Thread(target=lambda: out.append(f()))
    t.start(); t.join()
    return out[0]
seen = [fastnn.get_num_threads()]                     # OMP_NUM_THREADS=3
fastnn.set_num_threads(1)
seen.append(in_thread(fastnn.get_num_threads))        # a thread started later: 1
def limited():
    with threadpoolctl.threadpool_limits(2, user_api="openmp"):
        inside = fastnn.get_num_threads()
    return inside, fastnn.get_num_threads()
seen.append(in_thread(limited))                       # its own limit, then back: (2, 1)
in_thread(lambda: fastnn.set_num_threads(2))          # set from another thread ...
seen.append(fastnn.get_num_threads())                 # ... holds here too: 2
print(seen)
"""


@needs_openmp
def test_set_num_threads_holds_for_every_thread():
    # OpenMP's omp_set_num_threads is per thread; fastnn's count must not be (a worker
    # thread once ran on every core after fastnn.set_num_threads(2) in the main thread)
    pytest.importorskip("threadpoolctl")
    r = _run(_THREADS_CODE, OMP_NUM_THREADS="3")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[3, 1, (2, 1), 2]"


def _run(code, **env):
    e = dict(os.environ, **env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e,
                          cwd=tempfile.gettempdir())


def test_omp_num_threads_honoured():
    r = _run("import fastnn; print(fastnn.get_num_threads())", OMP_NUM_THREADS="1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"


def test_openmp_is_on_in_this_build():
    assert fastnn.config()["openmp"] is (not SERIAL_BUILD)
    if SERIAL_BUILD:
        fastnn.set_num_threads(2)                 # accepted, no effect
        assert fastnn.get_num_threads() == 1


def test_set_num_threads_validates_argument():
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        fastnn.set_num_threads(0)
    with pytest.raises(TypeError, match="n must be an integer"):
        fastnn.set_num_threads(1.5)


def test_show_config_reports_targets_openmp_threads(capsys):
    fastnn.show_config()
    text = capsys.readouterr().out
    for key in ("SIMD targets compiled", "SIMD target active", "OpenMP", "threads", "buffer cache"):
        assert key in text
    c = fastnn.config()
    assert c["simd_active"] in c["simd_supported"]
    assert set(c["simd_supported"]) <= set(c["simd_compiled"])
    assert "baseline" in c["simd_compiled"]
    assert c["simd_active"] in text


def test_best_supported_target_is_active_by_default():
    if os.environ.get("FASTNN_SIMD"):
        pytest.skip("FASTNN_SIMD forces a target in this run")
    assert _dispatch.active_target() == _dispatch.supported_targets()[0]


@pytest.mark.parametrize("target", _dispatch.supported_targets())
def test_fastnn_simd_env_forces_target(target):
    r = _run("import fastnn; print(fastnn.config()['simd_active'])", FASTNN_SIMD=target)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == target


def test_fastnn_simd_env_rejects_unknown_target():
    r = _run("import fastnn", FASTNN_SIMD="sse9")
    assert r.returncode != 0
    assert "ImportError" in r.stderr and "FASTNN_SIMD" in r.stderr and "sse9" in r.stderr


def test_use_target_restores_previous():
    before = _dispatch.active_target()
    with _dispatch.use_target("baseline"):
        assert _dispatch.active_target() == "baseline"
    assert _dispatch.active_target() == before
    with pytest.raises(ValueError, match="unknown"):
        _dispatch.set_target("neon9")


def test_buffer_cache_env_and_validation():
    r = _run("import fastnn; print(fastnn.buffer_cache_info()['limit_bytes'])",
             FASTNN_BUFFER_CACHE_MB="3")
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) == 3 << 20
    r = _run("import fastnn", FASTNN_BUFFER_CACHE_MB="lots")
    assert r.returncode != 0 and "FASTNN_BUFFER_CACHE_MB" in r.stderr
    with pytest.raises(ValueError, match="max_bytes must be an integer >= 0"):
        fastnn.set_buffer_cache(-1)
    with pytest.raises(TypeError, match="max_bytes must be an integer"):
        fastnn.set_buffer_cache(1.5)


def test_cli_demo_runs():
    r = subprocess.run([sys.executable, "-m", "fastnn", "demo", "--ops", "relu"],
                       capture_output=True, text=True, cwd=tempfile.gettempdir())
    assert r.returncode == 0, r.stderr
    assert "tanh/xavier" in r.stdout and "speed-up" in r.stdout


def test_passive_wait_policy_default_and_environment_untouched(tmp_path):
    """fastnn starts its OpenMP runtime passive unless the user chose, and leaves os.environ as
    it found it (other libraries and child processes see no change)."""
    import subprocess
    import sys
    code = ("import os, fastnn; c = fastnn.config(); "
            "print(c['omp_wait_policy']); print(os.environ.get('OMP_WAIT_POLICY'))")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout.splitlines()
    assert out == ["passive (fastnn's default)", "None"]
    env["OMP_WAIT_POLICY"] = "active"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout.splitlines()
    assert out[0].startswith("OMP_WAIT_POLICY='active'") and out[1] == "active"


_ZERO_THRESHOLDS_CODE = """
import numpy as np, fastnn
from fastnn import _dispatch, ops, reference
from fastnn.data import augment
from fastnn._kernels import _runtime
for name in ("activations.cheap", "activations.transcendental", "augment", "normalization"):
    fastnn.set_parallel_threshold(name, 0)
_runtime._set_stream_min_bytes(1 << 62)
fastnn.set_num_threads(2)
x = np.linspace(-3, 3, 1000, dtype=np.float32)
np.testing.assert_allclose(ops.tanh_forward(x)[0], reference.tanh_forward(x)[0], rtol=1e-6, atol=1e-6)
X = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
np.testing.assert_array_equal(augment.hflip(X, p=1.0, seed=0), X[..., ::-1])
h = x.reshape(10, 100)
g, b = np.ones(100, np.float32), np.zeros(100, np.float32)
np.testing.assert_allclose(ops.layernorm_forward(h, g, b)[0], reference.layernorm_forward(h, g, b)[0],
                           rtol=1e-5, atol=1e-5)
print("ok")
"""


@needs_openmp
def test_zero_thresholds_use_every_thread():
    # bench/threshold*.py set the thresholds to 0 to time 2 threads on tiny inputs; the team
    # size is work // threshold, so 0 must mean "every thread", not a division by zero
    # (a SIGFPE killed the interpreter once)
    r = _run(_ZERO_THRESHOLDS_CODE)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_thread_cap_rule():
    from fastnn._config import MAX_THREADS
    assert MAX_THREADS == max(64, 4 * (os.cpu_count() or 1))


@needs_openmp
def test_set_num_threads_above_the_cap(restore_threads):
    from fastnn._config import MAX_THREADS
    fastnn.set_num_threads(2)
    for n in (MAX_THREADS + 1, 100000, 99999999999, 2**70):
        with pytest.raises(ValueError, match=f"n must be at most {MAX_THREADS}"):
            fastnn.set_num_threads(n)
    assert fastnn.get_num_threads() == 2
    fastnn.set_num_threads(MAX_THREADS)
    assert fastnn.get_num_threads() == MAX_THREADS


_CAP_SCRIPT = """
import warnings, numpy as np
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    import fastnn
from fastnn._config import MAX_THREADS
from fastnn.ops import _common
x = np.random.default_rng(0).standard_normal((512, 1024)).astype(np.float32)
out, _ = fastnn.ops.relu_forward(x)
assert np.array_equal(out, np.maximum(x, 0))
print(fastnn.get_num_threads() == MAX_THREADS, _common.num_threads() == MAX_THREADS,
      any("OMP_NUM_THREADS='100000'" in str(m.message) for m in w))
"""


@needs_openmp
def test_omp_num_threads_above_the_cap_is_capped_at_import():
    """OpenMP would abort creating 100000 threads; fastnn caps its count and warns."""
    r = subprocess.run([sys.executable, "-c", _CAP_SCRIPT], capture_output=True, text=True,
                       env=child_env(OMP_NUM_THREADS="100000"), cwd=CHILD_CWD, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "True", "True"]


_THREADPOOLCTL_SCRIPT = """
import numpy as np, fastnn
from threadpoolctl import threadpool_limits
from fastnn._config import MAX_THREADS
from fastnn.ops import _common
with threadpool_limits(limits=100000, user_api="openmp"):
    n, k = fastnn.get_num_threads(), _common.num_threads()
    x = np.ones((512, 1024), np.float32)
    assert float(fastnn.ops.relu_forward(x)[0].sum()) == x.size
print(n == MAX_THREADS, k == MAX_THREADS)
"""


@needs_openmp
def test_threadpoolctl_limit_above_the_cap_is_capped():
    pytest.importorskip("threadpoolctl")
    r = subprocess.run([sys.executable, "-c", _THREADPOOLCTL_SCRIPT], capture_output=True,
                       text=True, env=child_env(), cwd=CHILD_CWD, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "True"]
