"""Choose, at import, which SIMD build of the kernels this CPU runs.

setup.py compiles every kernel module once per target (``baseline`` for any
CPU of the architecture, ``avx2``, ``avx512``).  The best target that is both
compiled and supported by the CPU is used, unless ``FASTNN_SIMD`` names one.
Kernel modules are reached through ``kernels``, e.g.
``kernels.activations.unary_forward``; ``use_target`` switches temporarily
(tests run every path the CPU has through it).
"""
import contextlib
import importlib
import importlib.util
import os

from fastnn._kernels import _modules

try:
    from fastnn._kernels import _runtime
except ImportError as exc:  # pragma: no cover - depends on how fastnn was installed
    raise ImportError(
        "fastnn's compiled kernels are missing. Install fastnn with `pip install .` "
        "and run from outside the source tree (or use `pytest`, which imports the "
        f"installed package). Original error: {exc}") from exc

# Kernel module families, each compiled per target (the list setup.py builds).
FAMILIES = _modules.KERNEL_MODULES
# Preference order, best first.
TARGETS = ("avx512", "avx2", "baseline")


def compiled_targets():
    """Targets whose kernels were compiled into this installation."""
    return [t for t in TARGETS
            if all(importlib.util.find_spec(f"fastnn._kernels.{f}_{t}") is not None
                   for f in FAMILIES)]


def supported_targets():
    """Compiled targets the running CPU can execute, best first."""
    feats = _runtime.cpu_features()
    ok = {"baseline": True, "avx2": feats["avx2"], "avx512": feats["avx512"]}
    return [t for t in compiled_targets() if ok[t]]


class _Kernels:
    """Namespace of the kernel modules of one target."""

    def __init__(self, target):
        self.target = target
        for fam in FAMILIES:
            setattr(self, fam, importlib.import_module(f"fastnn._kernels.{fam}_{target}"))


def _check_target(target):
    if target not in TARGETS:
        raise ValueError(f"SIMD target {target!r} is unknown: expected one of {list(TARGETS)}")
    if target not in compiled_targets():
        raise ValueError(f"SIMD target {target!r} was not compiled into this build "
                         f"(compiled: {compiled_targets()})")
    if target not in supported_targets():
        raise ValueError(f"SIMD target {target!r} is not supported by this CPU "
                         f"(supported: {supported_targets()})")


def _initial_target():
    forced = os.environ.get("FASTNN_SIMD", "").strip().lower()
    if forced:
        try:
            _check_target(forced)
        except ValueError as exc:
            raise ImportError(f"FASTNN_SIMD={forced!r}: {exc}") from None
        return forced
    return supported_targets()[0]


kernels = _Kernels(_initial_target())


def active_target():
    return kernels.target


def set_target(target):
    """Switch every op to the kernels of `target` (process-wide)."""
    global kernels
    _check_target(target)
    kernels = _Kernels(target)


@contextlib.contextmanager
def use_target(target):
    """Run a block with the kernels of `target`, then restore the previous one."""
    previous = kernels.target
    set_target(target)
    try:
        yield
    finally:
        set_target(previous)
