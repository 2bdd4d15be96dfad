"""Where trials run: this process, joblib (loky) worker processes, a Dask cluster."""
import math
import numbers

from fastnn.tune._trials import _cores, _execute


def _dask_client(backend, client, scheduler):
    """(client, owned) when a Dask run is asked for, else (None, False)."""
    if client is not None:
        return client, False
    if scheduler is not None:
        try:
            from distributed import Client
        except ImportError:
            raise ImportError("scheduler= needs dask.distributed: pip install fastnn[distributed]") \
                from None
        return Client(scheduler), True
    if backend == "dask":
        try:
            from distributed import get_client
        except ImportError:
            raise ImportError("backend='dask' needs dask.distributed: "
                              "pip install fastnn[distributed]") from None
        try:
            return get_client(), False
        except ValueError:
            raise ValueError("backend='dask' needs a running dask.distributed Client: create one "
                             "(Client(...)) or pass client= or scheduler=") from None
    if backend not in (None, "loky"):
        raise ValueError(f"backend must be None, 'loky' or 'dask', got {backend!r}")
    return None, False


def _dask_threads(client):
    """worker address -> threads per trial: max(1, cores // task slots on that worker's host)."""
    import os as _os
    info = client.scheduler_info()["workers"]
    cores = client.run(_os.cpu_count)
    slots = {}
    for addr, w in info.items():
        slots[w.get("host")] = slots.get(w.get("host"), 0) + int(w.get("nthreads", 1))
    return {addr: max(1, int(cores.get(addr) or 1) // max(1, slots[w.get("host")]))
            for addr, w in info.items()}


class _Shipped:
    """A trial function sent to Dask workers with cloudpickle: by value when it lives in
    ``__main__`` or in a module registered with ``cloudpickle.register_pickle_by_value``,
    by reference (the workers import it) otherwise."""

    def __init__(self, fn):
        self.fn = fn

    def __reduce__(self):
        import cloudpickle
        return _unship, (cloudpickle.dumps(self.fn),)

    def __call__(self, config, seed):
        return self.fn(config, seed)


def _unship(payload):
    import pickle
    return _Shipped(pickle.loads(payload))


class _Runner:
    """Runs batches of trial tasks with the chosen execution and writes results as they finish."""

    def __init__(self, fn, n_jobs, backend, client, scheduler, threads_per_trial, diverge_factor,
                 progress, callback):
        if not callable(fn):
            raise TypeError(f"train_fn must be callable, got {type(fn).__name__}")
        if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or \
                (n_jobs < 1 and n_jobs != -1):
            raise ValueError(f"n_jobs must be an integer >= 1 or -1 (all cores), got {n_jobs!r}")
        self.fn = fn
        self.n_jobs = _cores() if n_jobs == -1 else int(n_jobs)
        self.client, self._owned = _dask_client(backend, client, scheduler)
        self.threads = threads_per_trial
        self.diverge_factor = diverge_factor
        self.progress, self.callback = progress, callback
        self.metric, self.mode = "val_acc", "max"      # for the progress bar's "best"

    def close(self):
        if self._owned:
            self.client.close()

    def run(self, tasks, on_done):
        bar, best, failed = None, None, 0
        from fastnn.solver import _in_notebook, _stderr_is_terminal
        if self.progress and tasks and (_stderr_is_terminal() or _in_notebook()):
            from tqdm.auto import tqdm     # a notebook widget in Jupyter; no bar in pipes and logs
            bar = tqdm(total=len(tasks), unit="trial", desc="search", dynamic_ncols=True)
        try:
            for rec in self._iterate(tasks):
                on_done(rec)
                if bar is not None:
                    bar.update(1)
                    failed += rec["status"] != "ok"
                    v = rec["metrics"].get(self.metric) if rec["status"] == "ok" else None
                    if isinstance(v, (int, float)) and math.isfinite(v) and (
                            best is None or (v > best if self.mode == "max" else v < best)):
                        best = v
                    bar.set_postfix_str(f"best {self.metric}={'-' if best is None else f'{best:.4g}'}"
                                        f", failed={failed}")
                if self.callback is not None:
                    self.callback(rec)
        finally:
            if bar is not None:
                bar.close()

    def _iterate(self, tasks):
        if not tasks:
            return
        args = (self.fn, None, self.diverge_factor)
        if self.client is not None:
            from distributed import as_completed
            threads = self.threads if self.threads is not None else _dask_threads(self.client)
            futures = self.client.map(_execute, tasks, fn=_Shipped(self.fn), n_threads=threads,
                                      diverge_factor=self.diverge_factor, dask_worker=True,
                                      pure=False)
            task_of = {f.key: t for f, t in zip(futures, tasks)}
            for fut in as_completed(futures):
                try:
                    yield fut.result()
                except Exception as exc:  # noqa: BLE001  (e.g. KilledWorker: the trial crashed it)
                    stage, index, config, seed = task_of[fut.key]
                    yield {"stage": stage, "trial": index, "config": dict(config), "seed": seed,
                           "status": "failed", "error": f"{type(exc).__name__}: {exc}",
                           "metrics": {}, "duration": 0.0}
            return
        n = min(self.n_jobs, len(tasks))
        threads = self.threads if self.threads is not None else max(1, _cores() // self.n_jobs)
        args = (self.fn, threads, self.diverge_factor)
        if n <= 1:
            for task in tasks:
                yield _execute(task, *args)
            return
        from joblib import Parallel, delayed
        par = Parallel(n_jobs=n, backend="loky", return_as="generator_unordered")
        yield from par(delayed(_execute)(task, *args) for task in tasks)
