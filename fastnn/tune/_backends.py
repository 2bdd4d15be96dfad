"""Where trials run: this process, joblib (loky) worker processes, a Dask cluster."""
import math
import numbers
import os

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
    info = client.scheduler_info()["workers"]
    cores = client.run(os.cpu_count)
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

    def __getattr__(self, name):         # run, use_data, ...: the trial function's own
        if name == "fn":
            raise AttributeError(name)
        return getattr(self.fn, name)


def _unship(payload):
    import pickle
    return _Shipped(pickle.loads(payload))


class _Runner:
    """Runs trial tasks with the chosen execution: a job source hands out tasks while slots are
    free and receives every finished record (see :meth:`run`)."""

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
        self._share, self._data_ref, self._executor = None, None, None

    def close(self):
        if self._share is not None:
            # the workers map the shared files: end them so that the memory goes with the files
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None
            self._share.close()
            self._share = None
        if self._owned:
            self.client.close()

    # ------------------------------------------------------------ shared data

    def _data(self):
        """What every task receives to reach the shared training data (None: nothing shared)."""
        if self._data_ref is not None or not callable(getattr(self.fn, "shared_data", None)):
            return self._data_ref
        if self.client is None and self.n_jobs <= 1:
            return None                                  # this process: the fn's own copy
        from fastnn.tune import _data
        arrays = self.fn.shared_data()
        if self.client is not None:
            self._data_ref = self.client.scatter(_data.Bundle(arrays), broadcast=True)
        else:
            self._share = _data.NpyShare(arrays)
            self._data_ref = self._share.ref
        return self._data_ref

    # ------------------------------------------------------------ the loop

    def run(self, source, total, on_done):
        """Run ``source``'s tasks: ``source.next()`` gives a task or None (nothing runnable
        now), ``source.done(rec)`` takes a finished one; ends when nothing runs and nothing
        is runnable.  ``on_done(rec)`` sees every final trial record (``source.done``
        returns the records that became final); the bar counts them up to ``total``."""
        bar, best, failed = None, None, 0
        from fastnn.solver import _in_notebook, _stderr_is_terminal
        if self.progress and total and (_stderr_is_terminal() or _in_notebook()):
            from tqdm.auto import tqdm     # a notebook widget in Jupyter; no bar in pipes and logs
            bar = tqdm(total=total, unit="trial", desc="search", dynamic_ncols=True)
        try:
            for rec in self._loop(source):
                for final in source.done(rec):
                    on_done(final)
                    if bar is not None:
                        bar.update(1)
                        failed += final["status"] == "failed"
                        v = (final["metrics"].get(self.metric)
                             if final["status"] != "failed" else None)
                        if isinstance(v, (int, float)) and math.isfinite(v) and (
                                best is None or (v > best if self.mode == "max" else v < best)):
                            best = v
                        b = "-" if best is None else f"{best:.4g}"
                        bar.set_postfix_str(f"best {self.metric}={b}, failed={failed}")
                    if self.callback is not None:
                        self.callback(final)
        finally:
            if bar is not None:
                bar.close()

    def _loop(self, source):
        if self.client is not None:
            yield from self._loop_dask(source)
            return
        threads = self.threads if self.threads is not None else max(1, _cores() // self.n_jobs)
        if self.n_jobs <= 1:
            while True:
                task = source.next()
                if task is None:
                    return
                yield _execute(task, self.fn, threads, self.diverge_factor)
        import concurrent.futures as cf
        from joblib.externals.loky import get_reusable_executor
        ex = get_reusable_executor(max_workers=self.n_jobs)
        data = self._data()
        if data is not None:
            self._executor = ex
        running = {}
        while True:
            # one task queued behind each running one hides the round trip between two tasks
            while len(running) < 2 * self.n_jobs:
                task = source.next()
                if task is None:
                    break
                running[ex.submit(_execute, task, self.fn, threads, self.diverge_factor,
                                  False, data)] = task
            if not running:
                return
            done, _ = cf.wait(list(running), return_when=cf.FIRST_COMPLETED)
            for fut in sorted(done, key=lambda f: running[f][:2]):
                task = running.pop(fut)
                yield fut.result()

    def _loop_dask(self, source):
        from distributed import as_completed
        threads = self.threads if self.threads is not None else _dask_threads(self.client)
        slots = max(1, sum(int(w.get("nthreads", 1)) for w in
                           self.client.scheduler_info()["workers"].values()))
        data = self._data()
        fn = _Shipped(self.fn)
        running = {}
        ac = as_completed()

        def fill():
            # one task queued behind each running one hides the scheduler's round trip
            while len(running) < 2 * slots:
                task = source.next()
                if task is None:
                    return
                fut = self.client.submit(_execute, task, fn=fn, n_threads=threads,
                                         diverge_factor=self.diverge_factor, dask_worker=True,
                                         data=data, pure=False)
                running[fut.key] = task
                ac.add(fut)

        fill()
        while running:
            fut = next(ac)
            task = running.pop(fut.key)
            try:
                rec = fut.result()
            except Exception as exc:  # noqa: BLE001  (e.g. KilledWorker: the trial crashed it)
                stage, index, config, seed = task[:4]
                rec = {"stage": stage, "trial": index, "config": dict(config), "seed": seed,
                       "status": "failed", "error": f"{type(exc).__name__}: {exc}",
                       "metrics": {}, "duration": 0.0, "state": None}
            yield rec
            fill()
