"""The kernel toolkit: one table of parallel thresholds, one module list, block sizes read
from the kernels, one reduction mechanism."""
import math
import pathlib
import re

import numpy as np
import pytest

import fastnn
from fastnn import _dispatch, ops
from fastnn._kernels import _modules, _runtime

ROOT = pathlib.Path(__file__).resolve().parents[2]
KERNEL_DIR = ROOT / "fastnn" / "_kernels"
NAMES = ["activations.cheap", "activations.transcendental", "affine", "affine.gemm", "augment",
         "conv", "dropout", "losses.cheap", "losses.transcendental", "normalization",
         "optim.sgd", "optim.adaptive", "pooling"]


@pytest.fixture
def restore_thresholds():
    before = fastnn.parallel_thresholds()
    yield
    for name, n in before.items():
        fastnn.set_parallel_threshold(name, n)


# ---- the table of parallel thresholds ----

def test_every_family_has_a_threshold():
    table = fastnn.parallel_thresholds()
    assert sorted(table) == sorted(NAMES)
    assert all(isinstance(n, int) and n > 0 for n in table.values())
    assert table == {name: _runtime.PARALLEL_THRESHOLDS[name][1] for name in NAMES}


def test_set_returns_the_previous_value_and_none_restores_the_default(restore_thresholds):
    default = fastnn.get_parallel_threshold("conv")
    assert fastnn.set_parallel_threshold("conv", 12345) == default
    assert fastnn.get_parallel_threshold("conv") == 12345
    assert fastnn.parallel_thresholds()["conv"] == 12345
    assert fastnn.set_parallel_threshold("conv", np.int64(0)) == 12345
    assert fastnn.get_parallel_threshold("conv") == 0
    fastnn.set_parallel_threshold("conv", None)
    assert fastnn.get_parallel_threshold("conv") == default
    # the other entries are untouched
    others = {k: v for k, v in fastnn.parallel_thresholds().items() if k != "conv"}
    assert others == {k: _runtime.PARALLEL_THRESHOLDS[k][1] for k in NAMES if k != "conv"}


@pytest.mark.parametrize("name", NAMES)
def test_a_threshold_survives_a_change_of_simd_target(restore_thresholds, name):
    """Each target's kernels read the one table in _runtime: switching targets (use_target,
    set_target) keeps every value set before."""
    fastnn.set_parallel_threshold(name, 777)
    for target in _dispatch.supported_targets():
        with _dispatch.use_target(target):
            assert fastnn.get_parallel_threshold(name) == 777
            fastnn.set_parallel_threshold(name, 778)
        assert fastnn.get_parallel_threshold(name) == 778
        fastnn.set_parallel_threshold(name, 777)


def test_no_kernel_module_keeps_thresholds_of_its_own():
    """No kernel module of any target holds a threshold of its own: a per-module copy would
    be left behind by a change of target."""
    for target in _dispatch.supported_targets():
        with _dispatch.use_target(target):
            for fam in _dispatch.FAMILIES:
                mod = getattr(_dispatch.kernels, fam)
                own = [a for a in dir(mod) if "PARALLEL_MIN" in a or a in ("_set_tuning", "STREAM_MIN_BYTES")]
                assert not own, f"{mod.__name__} keeps {own}"


def test_results_do_not_depend_on_the_thresholds(restore_thresholds, restore_threads, rng):
    x = rng.standard_normal((8, 16, 32, 32)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    w = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)

    def run():
        y, c = ops.gelu_forward(x)
        dx = ops.gelu_backward(g, c)
        p, pc = ops.max_pool_forward(x)
        o, oc = ops.conv_forward(x, w, b, 1, 1)
        return [y, dx, p, ops.max_pool_backward(p, pc), o, *ops.conv_backward(o, oc)]

    fastnn.set_num_threads(2)
    first = run()
    for name in NAMES:
        fastnn.set_parallel_threshold(name, 0)
    every = run()
    for name in NAMES:
        fastnn.set_parallel_threshold(name, 1 << 62)
    serial = run()
    for a, e, s in zip(first, every, serial):
        np.testing.assert_array_equal(a, e)
        np.testing.assert_array_equal(a, s)


@pytest.mark.parametrize("name,n,exc,match", [
    ("activation", 10, ValueError, "name must be one of"),
    (3, 10, ValueError, "name must be one of"),
    ("conv", -1, ValueError, r"n must be an integer >= 0 or None, got -1"),
    ("conv", 1.5, TypeError, r"n must be an integer >= 0 or None, got 1.5"),
    ("conv", True, TypeError, r"n must be an integer >= 0 or None, got True"),
    ("conv", "8", TypeError, r"n must be an integer >= 0 or None"),
])
def test_bad_threshold_arguments(restore_thresholds, name, n, exc, match):
    before = fastnn.parallel_thresholds()
    with pytest.raises(exc, match=match) as info:
        fastnn.set_parallel_threshold(name, n)
    assert "set_parallel_threshold" in str(info.value)
    assert fastnn.parallel_thresholds() == before


def test_get_of_an_unknown_name():
    with pytest.raises(ValueError, match=r"get_parallel_threshold: name must be one of \["):
        fastnn.get_parallel_threshold("convolution")


def test_config_reports_the_thresholds(restore_thresholds):
    fastnn.set_parallel_threshold("pooling", 4242)
    assert fastnn.config()["parallel_thresholds"]["pooling"] == 4242


# ---- the kernel module list: fastnn/_kernels/_modules.py, read by setup.py and _dispatch ----

def test_dispatch_loads_the_module_list():
    assert _dispatch.FAMILIES == _modules.KERNEL_MODULES
    assert len(set(_modules.KERNEL_MODULES)) == len(_modules.KERNEL_MODULES)
    for target in _dispatch.supported_targets():
        for fam in _modules.KERNEL_MODULES:
            assert getattr(_dispatch._Kernels(target), fam).__name__ == f"fastnn._kernels.{fam}_{target}"


@pytest.mark.skipif(not (ROOT / "setup.py").is_file(), reason="the source tree is not beside the tests")
def test_setup_reads_the_module_list_and_names_no_module_itself():
    setup = (ROOT / "setup.py").read_text()
    assert '"_modules.py"' in setup
    for name in _modules.KERNEL_MODULES + _modules.RUNTIME_MODULES:
        assert f'"{name}"' not in setup, f"setup.py lists {name!r} itself"
    # every hand-written kernel source is in the list (one line adds a family)
    generated = re.compile(r"_(baseline|avx2|avx512)\.pyx$")
    sources = {p.stem for p in KERNEL_DIR.glob("*.pyx") if not generated.search(p.name)}
    assert sources == set(_modules.KERNEL_MODULES) | set(_modules.RUNTIME_MODULES)


@pytest.mark.skipif(not (ROOT / "setup.py").is_file(), reason="the source tree is not beside the tests")
def test_the_module_list_reads_without_fastnn():
    import runpy
    ns = runpy.run_path(str(KERNEL_DIR / "_modules.py"))
    assert ns["KERNEL_MODULES"] == _modules.KERNEL_MODULES
    assert ns["RUNTIME_MODULES"] == _modules.RUNTIME_MODULES


# ---- block sizes: exported by the kernels, read by the Python layer ----

def test_block_sizes_are_exported():
    K = _dispatch.kernels
    for mod in (K.activations, K.dropout, K.losses, K.optim):
        assert isinstance(mod.BLOCK_SIZE, int) and mod.BLOCK_SIZE > 0
    for n in (0, 1, K.losses.BLOCK_SIZE, K.losses.BLOCK_SIZE + 1, 5 * K.losses.BLOCK_SIZE - 1):
        assert K.losses.block_count(n) == max(1, -(-n // K.losses.BLOCK_SIZE))


def test_shared_prelu_rows_are_the_kernel_block():
    from fastnn.ops.activations import _prelu_layout
    x = np.zeros((3, 5), np.float32)
    assert _prelu_layout(x, np.ones(1, np.float32), "prelu_forward") == (
        1, _dispatch.kernels.activations.BLOCK_SIZE)


@pytest.mark.skipif(not (ROOT / "fastnn" / "ops").is_dir(), reason="the source tree is not beside the tests")
def test_python_layer_restates_no_block_size():
    K = _dispatch.kernels
    sizes = {str(m.BLOCK_SIZE) for m in (K.activations, K.dropout, K.losses, K.optim)}
    for path in [*(ROOT / "fastnn" / "ops").glob("*.py"), ROOT / "fastnn" / "optim.py"]:
        code = re.sub(r"#.*", "", path.read_text())
        for size in sizes:
            assert not re.search(rf"\b{size}\b", code), f"{path.name} restates {size}"


# ---- the one reduction mechanism: fixed float64 lanes, fixed order ----

def _lane_sum(v):
    """fnn_reduce.h's order: lane k takes the elements k mod 16 of the whole multiple of 16,
    the tail is summed in order, then lanes 0..15 are added to it."""
    v = np.asarray(v, np.float64)
    m = len(v) - len(v) % 16
    lanes = [0.0] * 16
    for i in range(0, m, 16):
        for k in range(16):
            lanes[k] += float(v[i + k])
    total = 0.0
    for x in v[m:]:
        total += float(x)
    for k in range(16):
        total += lanes[k]
    return total


@pytest.mark.parametrize("P", [1, 15, 16, 17, 33, 250])
def test_lane_sum_order_on_every_target(P):
    """global_avg_pool = lane_sum / P: the same bits on every SIMD target, as written."""
    rng = np.random.default_rng(P)
    x = (rng.standard_normal((2, 3, P, 1)) * 10 ** rng.uniform(-3, 3, (2, 3, P, 1))).astype(np.float32)
    want = np.array([[np.float32(_lane_sum(x[n, c].ravel()) * (1.0 / P)) for c in range(3)]
                     for n in range(2)])
    for target in _dispatch.supported_targets():
        with _dispatch.use_target(target):
            got, _ = ops.global_avg_pool_forward(x)
        np.testing.assert_array_equal(got, want, err_msg=target)


def test_sums_accumulate_in_double(rng):
    # 2^24 + many ones: a float32 running sum would stop growing at 2^24
    x = np.ones((1, 1, 4096, 1), np.float32)
    x[0, 0, 0, 0] = 2.0 ** 24
    got, _ = ops.global_avg_pool_forward(x)
    assert got[0, 0] == np.float32((2.0 ** 24 + 4095) / 4096)
    p = rng.standard_normal(100003).astype(np.float32)
    t = rng.standard_normal(100003).astype(np.float32)
    loss, _ = ops.mse_loss(p, t)
    ref = math.fsum(((p.astype(np.float64) - t) ** 2).tolist()) / p.size
    assert abs(loss - ref) <= 1e-12 * ref
