"""Trial execution: seeds and configs of trials, thread limits, divergence, one trial run."""
import contextlib
import os
import sys
import time

import numpy as np

from fastnn.tune._spaces import Space, _Conditional


def _trial_seeds(seed, stage, n):
    """The SeedSequence children of trials 0..n-1 of a stage: child i depends only on (seed, stage, i)."""
    # stage 0: SeedSequence(seed); a later stage s: SeedSequence([seed, s]), another entropy
    # pool, so no stage's streams are a sub-stream of another's
    root = np.random.SeedSequence([seed, stage]) if stage else np.random.SeedSequence(seed)
    return root.spawn(n)


def _sample_config(space, ss):
    cfg_ss, train_ss = ss.spawn(2)
    rng = np.random.default_rng(cfg_ss)
    config = {}
    for k, dim in space.items():
        if isinstance(dim, _Conditional):
            if dim.active(config):
                config[k] = dim.sample(rng)
        else:
            config[k] = dim.sample(rng) if isinstance(dim, Space) else dim
    return config, int(train_ss.generate_state(1)[0])


def _cores():
    import joblib
    return max(1, int(joblib.cpu_count()))


@contextlib.contextmanager
def _thread_limits(n):
    """fastnn's threads and the BLAS pools limited to n inside the block, restored after."""
    if n is None:
        yield
        return
    import fastnn
    from threadpoolctl import threadpool_limits
    old = fastnn.get_num_threads()
    fastnn.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        fastnn.set_num_threads(old)


@contextlib.contextmanager
def _glibc_malloc_for_trial():
    """Undo, for one trial, the malloc setting of Dask's nannies.

    A nanny starts its worker with ``MALLOC_TRIM_THRESHOLD_=65536``; glibc then
    also stops adapting its mmap threshold, so every array over 128 KiB is a
    fresh mmap (zeroed pages, page faults) on each allocation: fastnn trials
    ran about 2x slower (measured with bench/bench_tune.py).  Inside the trial
    the mmap threshold is 32 MiB and the trim threshold 64 MiB; the nanny's
    values (128 KiB, its trim threshold) come back after it.  glibc only; a
    no-op elsewhere or when the variable is not set.
    """
    trim = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    libc = None
    if trim is not None and sys.platform.startswith("linux"):
        try:
            import ctypes
            libc = ctypes.CDLL("libc.so.6")
            trim = int(trim)
        except (OSError, ValueError):
            libc = None
    if libc is None:
        yield
        return
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
    libc.mallopt(M_TRIM_THRESHOLD, 64 << 20)
    try:
        yield
    finally:
        libc.mallopt(M_MMAP_THRESHOLD, 128 << 10)
        libc.mallopt(M_TRIM_THRESHOLD, trim)


def _threads_here(spec):
    if isinstance(spec, dict):           # dask: worker address -> threads
        try:
            from distributed import get_worker
            return spec.get(get_worker().address, 1)
        except (ImportError, ValueError):
            return 1
    return spec


def _divergence(metrics, factor):
    hist = metrics.get("loss_history") if isinstance(metrics, dict) else None
    if hist is None or len(hist) == 0:
        return None
    h = np.asarray(hist, dtype=np.float64).ravel()
    bad = np.flatnonzero(~np.isfinite(h))
    if bad.size:
        return f"diverged: loss {h[bad[0]]} at iteration {bad[0] + 1}"
    if factor is not None and h[0] > 0:
        over = np.flatnonzero(h > factor * h[0])
        if over.size:
            i = over[0]
            return (f"diverged: loss {h[i]:.4g} at iteration {i + 1} is over {factor:g}x "
                    f"the initial loss {h[0]:.4g}")
    return None


def _clean(v):
    """JSON-friendly copy of a metric value (numpy scalars and arrays to Python)."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    return v


def _execute(task, fn, n_threads, diverge_factor, dask_worker=False, data=None):
    """Run one trial, or one segment of it (in this process or a worker).

    ``task`` is ``(stage, index, config, seed)`` or, for a segment,
    ``(stage, index, config, seed, until, state)``: train up to epoch
    ``until`` from the checkpoint bytes ``state`` (None: from the start) with
    ``fn.run``; the record then carries the ``state`` to continue from.
    ``data`` is the shared training data (see :mod:`fastnn.tune._data`).
    Never raises for the trial's own errors.
    """
    stage, index, config, seed = task[:4]
    until, state = task[4:] if len(task) == 6 else (None, None)
    rec = {"stage": stage, "trial": index, "config": dict(config), "seed": seed,
           "status": "ok", "error": None, "metrics": {}, "duration": 0.0}
    t0 = time.perf_counter()
    malloc = _glibc_malloc_for_trial() if dask_worker else contextlib.nullcontext()
    try:
        if data is not None:
            from fastnn.tune._data import resolve
            fn.use_data(resolve(data))
        with malloc, _thread_limits(_threads_here(n_threads)):
            if callable(getattr(fn, "run", None)):
                metrics, rec["state"] = fn.run(dict(config), seed, until=until, state=state,
                                               diverge_factor=diverge_factor)
            else:
                metrics = fn(dict(config), seed)
        if not isinstance(metrics, dict):
            raise TypeError(f"the trial function returned {type(metrics).__name__}, "
                            f"expected a dict of metrics")
        rec["metrics"] = _clean({k: v for k, v in metrics.items() if k != "diverged"})
        err = metrics.get("diverged") or _divergence(metrics, diverge_factor)
        if err is not None:
            rec["status"], rec["error"] = "failed", err
            rec["state"] = None
    except Exception as exc:  # noqa: BLE001  (failure isolation is the point)
        rec["status"], rec["error"] = "failed", f"{type(exc).__name__}: {exc}"
        rec["state"] = None
    rec["duration"] = time.perf_counter() - t0
    return rec
