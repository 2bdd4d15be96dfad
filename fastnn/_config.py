"""Thread control and the build/runtime report (fastnn.show_config)."""
import operator
import os
import platform
import sys
import warnings

from fastnn import _dispatch
from fastnn._kernels import _buffers, _runtime

_DEFAULT_CACHE_MB = 256

#: The most threads fastnn's kernels run on: 4 per CPU of the machine, and at least 64.
#: ``set_num_threads`` refuses more (a ValueError), ``fastnn <cmd> --threads`` too (a
#: one-line error); a larger ``OMP_NUM_THREADS`` or ``threadpoolctl`` limit is capped to it
#: (with a RuntimeWarning at import for ``OMP_NUM_THREADS``).  More threads than this only
#: oversubscribe the cores, and OpenMP aborts the whole process when it cannot create a
#: thread team (``--threads 100000``).
MAX_THREADS = max(64, 4 * (os.cpu_count() or 1))


def _integer(v, message):
    """v as a Python int (ints and NumPy integers; not bools or floats), else TypeError."""
    if isinstance(v, bool):
        raise TypeError(f"{message}, got {v!r}")
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError(f"{message}, got {v!r}") from None


def get_num_threads():
    """Threads fastnn's kernels use when called from the calling thread.

    :func:`set_num_threads` sets it for the whole process (every thread, those started
    later too).  Before any call it is OpenMP's maximum: ``OMP_NUM_THREADS``, or one per
    core.  A thread that changes its own OpenMP setting
    (``threadpoolctl.threadpool_limits(n, user_api="openmp")``) gets that count while
    the change lasts.  Small inputs still run on one thread (see README).  Never more than
    ``MAX_THREADS``.
    """
    return min(_runtime.get_max_threads(), MAX_THREADS)


def set_num_threads(n):
    """Set the number of threads fastnn's kernels use, for every thread of the process.

    ``n`` is an integer in ``1 .. MAX_THREADS`` (4 per CPU, at least 64); anything else is a
    ValueError (TypeError for a non-integer).
    """
    n = _integer(n, "set_num_threads: n must be an integer >= 1")
    if n < 1:
        raise ValueError(f"set_num_threads: n must be an integer >= 1, got {n}")
    if n > MAX_THREADS:
        raise ValueError(f"set_num_threads: n must be at most {MAX_THREADS} (4 per CPU of this "
                         f"{os.cpu_count()}-CPU machine, at least 64), got {n}")
    _runtime.set_num_threads(n)


def _cap_initial_threads():
    """Cap OpenMP's initial count (``OMP_NUM_THREADS``, else one per core) at MAX_THREADS."""
    initial = _runtime.initial_max_threads()
    if initial > MAX_THREADS:
        warnings.warn(f"fastnn: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')!r} asks "
                      f"for {initial} threads; fastnn uses at most {MAX_THREADS} "
                      f"(4 per CPU, at least 64)", RuntimeWarning, stacklevel=3)
        _runtime.set_num_threads(MAX_THREADS)


_cap_initial_threads()


def set_buffer_cache(max_bytes):
    """Limit fastnn's cache of large output buffers (0 turns it off).

    Ops take outputs of 1 MiB or more from a cache of aligned blocks that
    arrays hand back when they are garbage-collected, so a training loop does
    not page-fault fresh memory every step.  Default: 256 MiB, or
    ``FASTNN_BUFFER_CACHE_MB`` from the environment.
    """
    max_bytes = _integer(max_bytes, "set_buffer_cache: max_bytes must be an integer >= 0")
    if max_bytes < 0:
        raise ValueError(f"set_buffer_cache: max_bytes must be an integer >= 0, got {max_bytes}")
    _buffers.set_limit(max_bytes)


def buffer_cache_info():
    """Dict with the cache's limit_bytes, cached_bytes, cached_blocks, hits and misses."""
    return _buffers.info()


def parallel_thresholds():
    """Dict of every parallel threshold in force: name -> elements (multiply-adds for
    ``"affine.gemm"``).

    Below its threshold a kernel runs on one thread, because waking a second thread
    costs more than it saves; above it, one thread per threshold's worth of work, up to
    :func:`get_num_threads`.  The defaults were measured per family under fastnn's default
    passive OpenMP wait policy (docs/kernels.md).  One table serves the kernels of every
    SIMD target, so a value set with :func:`set_parallel_threshold` holds across target
    switches.
    """
    return {name: _runtime.get_parallel_threshold(name) for name in _runtime.PARALLEL_THRESHOLDS}


def _threshold_name(name, fn):
    if not isinstance(name, str) or name not in _runtime.PARALLEL_THRESHOLDS:
        raise ValueError(f"{fn}: name must be one of {sorted(_runtime.PARALLEL_THRESHOLDS)}, "
                         f"got {name!r}")
    return name


def get_parallel_threshold(name):
    """The parallel threshold ``name`` in force (see :func:`parallel_thresholds` for the names)."""
    return _runtime.get_parallel_threshold(_threshold_name(name, "get_parallel_threshold"))


def set_parallel_threshold(name, n):
    """Set the parallel threshold ``name`` for the whole process; returns the previous value.

    Parameters
    ----------
    name : str
        A family of kernels: ``"activations.cheap"``, ``"activations.transcendental"``,
        ``"affine"``, ``"affine.gemm"``, ``"augment"``, ``"conv"``, ``"dropout"``,
        ``"losses.cheap"``, ``"losses.transcendental"``, ``"normalization"``,
        ``"optim.sgd"``, ``"optim.adaptive"``, ``"pooling"``.
    n : int or None
        Elements (multiply-adds for ``"affine.gemm"``) from which the family's kernels use
        a second thread; 0 runs every call on all threads; None restores the measured
        default.

    Results do not depend on it: every kernel cuts its work by shape, not by thread count.
    """
    fn = "set_parallel_threshold"
    name = _threshold_name(name, fn)
    if n is None:
        n = _runtime.PARALLEL_THRESHOLDS[name][1]
    n = _integer(n, f"{fn}: n must be an integer >= 0 or None")
    if n < 0:
        raise ValueError(f"{fn}: n must be an integer >= 0 or None, got {n}")
    return _runtime.set_parallel_threshold(name, n)


def _init_buffer_cache():
    raw = os.environ.get("FASTNN_BUFFER_CACHE_MB", "").strip()
    mb = _DEFAULT_CACHE_MB
    if raw:
        try:
            mb = float(raw)
            if mb < 0:
                raise ValueError
        except ValueError:
            raise ImportError(f"FASTNN_BUFFER_CACHE_MB={raw!r}: expected a number of MiB >= 0") from None
    _buffers.set_limit(int(mb * (1 << 20)))


_init_buffer_cache()


def config():
    """The facts show_config prints, as a dict."""
    import numpy as np
    try:
        from threadpoolctl import threadpool_info
        pools = threadpool_info()
    except Exception:  # pragma: no cover
        pools = []
    return {
        "fastnn": __import__("fastnn").__version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": f"{platform.system()} {platform.machine()}",
        "cpu_count": os.cpu_count(),
        "openmp": _runtime.openmp_enabled(),
        "omp_wait_policy": ("passive (fastnn's default)"
                            if __import__("fastnn")._PASSIVE_BY_FASTNN else
                            f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '')!r}, "
                            f"GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT', '')!r} "
                            "(set by the user)"),
        "num_threads": get_num_threads(),
        "simd_compiled": _dispatch.compiled_targets(),
        "simd_supported": _dispatch.supported_targets(),
        "simd_active": _dispatch.active_target(),
        "simd_forced": os.environ.get("FASTNN_SIMD") or None,
        "buffer_cache": buffer_cache_info(),
        "parallel_thresholds": parallel_thresholds(),
        "threadpools": [{k: p.get(k) for k in ("user_api", "internal_api", "num_threads",
                                                "filepath")} for p in pools],
    }


def show_config(file=None):
    """Print the compiled SIMD targets, the active one, OpenMP on/off and threads."""
    c = config()
    lines = [
        f"fastnn {c['fastnn']}  (Python {c['python']}, NumPy {c['numpy']}, {c['platform']})",
        f"  SIMD targets compiled : {', '.join(c['simd_compiled'])}",
        f"  SIMD targets this CPU : {', '.join(c['simd_supported'])}",
        f"  SIMD target active    : {c['simd_active']}"
        + ("  (forced by FASTNN_SIMD)" if c["simd_forced"] else ""),
        f"  OpenMP                : {'on' if c['openmp'] else 'OFF (serial build)'}",
        f"  OpenMP wait policy    : {c['omp_wait_policy']}",
        f"  threads               : {c['num_threads']} (of {c['cpu_count']} CPUs)",
        f"  buffer cache          : {c['buffer_cache']['limit_bytes'] >> 20} MiB limit, "
        f"{c['buffer_cache']['cached_bytes'] >> 20} MiB held",
    ]
    for p in c["threadpools"]:
        lines.append(f"  pool {p['user_api']:>7}/{p['internal_api']:<9}: "
                     f"{p['num_threads']} threads  {p['filepath']}")
    print("\n".join(lines), file=file or sys.stdout)
