"""Hyperparameter search: random search, grid search, coarse-to-fine.

The lecture's advice as a tool: sample the learning rate and the
regularisation in log space, prefer random search to grid search, search
coarse (many short trials, wide ranges) then fine (fewer, longer trials,
narrower ranges), and watch for a best value on the edge of its range.

    from fastnn import tune
    space = {"lr": tune.loguniform(1e-5, 1e-1), "reg": tune.loguniform(1e-5, 1e-1)}
    train_fn = tune.make_train_fn("convnet", epochs=2)
    result = tune.random_search(train_fn, space, n_trials=50, seed=0, n_jobs=2)
    result.best_config, result.table(top=10)
    result.to_csv("results.csv"); result.plot("plots/")

A **space** is a dict name -> one of :func:`loguniform`, :func:`uniform`,
:func:`choice`, :func:`randint`, :func:`grid`; any other value is a constant
passed to every trial unchanged.

A **trial function** is ``train_fn(config, seed) -> dict of metrics`` (the
search maximises ``metric``, ``"val_acc"`` by default).  It must be
picklable to run in worker processes: a module-level function or a small
class such as the one :func:`make_train_fn` returns.

Seeding: trial ``i`` of a search gets ``numpy.random.SeedSequence(seed)``'s
``i``-th spawned child (``SeedSequence([seed, s])``'s for stage s of a
coarse-to-fine search); the child spawns two: its configuration is sampled
from the first, its integer ``seed`` (passed to ``train_fn``) drawn from the
second, so a trial's config and seed depend only on ``(seed, stage, i)``, never
on scheduling order, ``n_jobs`` or the number of trials.

Failure isolation: a trial whose function raises, or whose metrics' loss
history holds a non-finite value or a loss above ``diverge_factor`` (3) times
the first loss, is recorded with ``status="failed"`` and its error text; the
search goes on.

Parallel execution (``n_jobs``, ``backend``, ``client``, ``scheduler``):

* ``n_jobs=1`` (default) runs trials one after another in this process;
* ``n_jobs=N > 1`` runs them in N joblib (loky) worker processes;
* ``backend="dask"``, ``client=<dask.distributed.Client>`` or
  ``scheduler="tcp://host:8786"`` runs them on a Dask cluster with
  ``client.map`` (results are collected as they complete).  Dask is an
  optional extra (``pip install fastnn[distributed]``), imported only then.

In every case each trial runs with fastnn's threads and the BLAS threads
limited to ``max(1, cores // concurrent trials on that machine)`` (set with
:func:`fastnn.set_num_threads` and ``threadpoolctl.threadpool_limits``, and
restored afterwards), so trials never oversubscribe the cores;
``threads_per_trial`` overrides it.  On a Dask worker each trial also undoes,
while it runs, the nanny's ``MALLOC_TRIM_THRESHOLD_=65536`` (which made
glibc mmap every array over 128 KiB afresh, and trials 2x slower).

A trial that kills its worker process is a failed trial on Dask (the
scheduler reports it); with joblib processes it stops the search (joblib's
``TerminatedWorkerError``), the trials finished so far being in the results
file for a resume.

Resume: with ``results_path=`` the search writes its results file (JSON)
after every finished trial; when the file exists at the start, trials it
holds with the same stage, index, config and seed (finished, ``ok`` or
``failed``) are taken from it and not run again.
"""
import contextlib
import csv
import json
import math
import numbers
import os
import sys
import time
import warnings

import numpy as np

from fastnn._files import open_regular

__all__ = ["loguniform", "uniform", "choice", "randint", "grid", "Space",
           "random_search", "grid_search", "coarse_to_fine",
           "SearchResult", "make_train_fn", "TrainFn", "parse_space"]

FORMAT = "fastnn.tune/1"


# --------------------------------------------------------------------------- spaces

class Space:
    """A search dimension; see :func:`loguniform`, :func:`uniform`, :func:`choice`,
    :func:`randint`, :func:`grid`."""

    kind = None
    log = False           # sampled (and narrowed, and plotted) in log space

    def sample(self, rng):
        raise NotImplementedError

    def to_dict(self):
        raise NotImplementedError

    def __eq__(self, other):
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    def __repr__(self):
        d = self.to_dict()
        args = ", ".join(repr(v) for k, v in d.items() if k != "type")
        return f"{self.kind}({args})"


def _finite(v, what):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
        raise ValueError(f"{what} must be a finite number, got {v!r}")
    return float(v)


class _Range(Space):
    def __init__(self, low, high):
        low = _finite(low, f"{self.kind}: low")
        high = _finite(high, f"{self.kind}: high")
        if not low < high:
            raise ValueError(f"{self.kind}: low must be < high, got low={low!r}, high={high!r}")
        self.low, self.high = low, high

    # the coordinates in which the range is uniform (log10 for log-uniform)
    def to_unit(self, v):
        return float(v)

    def from_unit(self, t):
        return float(t)

    def bounds(self):
        return self.to_unit(self.low), self.to_unit(self.high)

    def with_bounds(self, lo, hi):
        return type(self)(self.from_unit(lo), self.from_unit(hi))

    def to_dict(self):
        return {"type": self.kind, "low": self.low, "high": self.high}


class _LogUniform(_Range):
    kind = "loguniform"
    log = True

    def __init__(self, low, high):
        super().__init__(low, high)
        if self.low <= 0:
            raise ValueError(f"loguniform: low must be > 0, got {self.low!r}")

    def to_unit(self, v):
        return math.log10(v)

    def from_unit(self, t):
        return 10.0 ** t

    def sample(self, rng):
        lo, hi = self.bounds()
        return float(min(max(10.0 ** rng.uniform(lo, hi), self.low), self.high))


class _Uniform(_Range):
    kind = "uniform"

    def sample(self, rng):
        return float(rng.uniform(self.low, self.high))


class _RandInt(_Range):
    kind = "randint"

    def __init__(self, low, high):
        for v, n in ((low, "low"), (high, "high")):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise ValueError(f"randint: {n} must be an integer, got {v!r}")
        super().__init__(low, high)
        self.low, self.high = int(low), int(high)

    def with_bounds(self, lo, hi):
        lo, hi = int(math.floor(lo)), int(math.ceil(hi))
        return _RandInt(lo, max(hi, lo + 1))

    def sample(self, rng):
        return int(rng.integers(self.low, self.high))


class _Choice(Space):
    kind = "choice"

    def __init__(self, values):
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise ValueError(f"{self.kind}: values must be a list, got {values!r}")
        values = [v.item() if isinstance(v, np.generic) else v for v in values]
        if not values:
            raise ValueError(f"{self.kind}: values must not be empty")
        self.values = values

    def sample(self, rng):
        return self.values[int(rng.integers(len(self.values)))]

    def to_dict(self):
        return {"type": self.kind, "values": list(self.values)}

    def __repr__(self):
        return f"{self.kind}({self.values!r})"


class _Grid(_Choice):
    kind = "grid"


def loguniform(low, high):
    """Log-uniform on [low, high] (0 < low < high): log10 of a sample is uniform.

    The scale for learning rates and regularisation strengths; narrowed in log
    space by :func:`coarse_to_fine` and plotted on log axes.
    """
    return _LogUniform(low, high)


def uniform(low, high):
    """Uniform on [low, high]."""
    return _Uniform(low, high)


def randint(low, high):
    """A uniform integer in ``low .. high - 1`` (high exclusive, as numpy's ``integers``)."""
    return _RandInt(low, high)


def choice(values):
    """One of ``values``, each with the same probability."""
    return _Choice(values)


def grid(values):
    """The values a grid search enumerates (random search samples them like :func:`choice`)."""
    return _Grid(values)


_KINDS = {"loguniform": _LogUniform, "uniform": _Uniform, "randint": _RandInt,
          "choice": _Choice, "grid": _Grid}


def _space_to_json(space):
    return {k: (v.to_dict() if isinstance(v, Space) else {"type": "constant", "value": v})
            for k, v in space.items()}


def _space_from_json(d):
    out = {}
    for k, v in d.items():
        t = v["type"]
        if t == "constant":
            out[k] = v["value"]
        elif t in ("choice", "grid"):
            out[k] = _KINDS[t](v["values"])
        else:
            out[k] = _KINDS[t](v["low"], v["high"])
    return out


def _check_space(space, fn):
    if not isinstance(space, dict) or not space:
        raise ValueError(f"{fn}: space must be a non-empty dict name -> dimension, got {space!r}")
    for k in space:
        if not isinstance(k, str):
            raise ValueError(f"{fn}: space names must be strings, got {k!r}")
    return dict(space)


def _scalar(text):
    t = text.strip()
    for conv in (int, float):
        try:
            return conv(t)
        except ValueError:
            pass
    if t in ("True", "true"):
        return True
    if t in ("False", "false"):
        return False
    if t in ("None", "none", "null"):
        return None
    return t


def parse_space(specs):
    """Parse command-line dimensions: ``["lr=loguniform:1e-5:1e-1", "opt=choice:adam,sgd"]``.

    Forms: ``NAME=loguniform:LOW:HIGH``, ``NAME=uniform:LOW:HIGH``,
    ``NAME=randint:LOW:HIGH``, ``NAME=choice:A,B,...``, ``NAME=grid:A,B,...``
    and ``NAME=VALUE`` (a constant).  Raises ValueError naming the bad spec.
    """
    space = {}
    for spec in specs:
        name, eq, rest = spec.partition("=")
        name = name.strip()
        if not eq or not name or not rest:
            raise ValueError(f"bad space {spec!r}: expected NAME=KIND:ARGS, "
                             f"e.g. lr=loguniform:1e-5:1e-1")
        if name in space:
            raise ValueError(f"bad space {spec!r}: {name!r} is given twice")
        kind, colon, args = rest.partition(":")
        kind = kind.strip()
        try:
            if not colon:
                space[name] = _scalar(rest)
            elif kind in ("loguniform", "uniform", "randint"):
                parts = args.split(":")
                if len(parts) != 2:
                    raise ValueError(f"{kind} takes LOW:HIGH")
                low, high = (_scalar(p) for p in parts)
                if kind == "randint":
                    space[name] = randint(low, high)
                else:
                    if not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                               for v in (low, high)):
                        raise ValueError("LOW and HIGH must be numbers")
                    space[name] = _KINDS[kind](low, high)
            elif kind in ("choice", "grid"):
                values = [_scalar(v) for v in args.split(",") if v.strip()]
                space[name] = _KINDS[kind](values)
            else:
                raise ValueError(f"unknown kind {kind!r} (expected loguniform, uniform, randint, "
                                 f"choice or grid)")
        except ValueError as exc:
            raise ValueError(f"bad space {spec!r}: {exc}") from None
    return space


# --------------------------------------------------------------------------- trials

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
    ran about 2x slower (measured on this issue's benchmark).  Inside the trial
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


def _execute(task, fn, n_threads, diverge_factor, dask_worker=False):
    """Run one trial (in this process or a worker); never raises for the trial's own errors."""
    stage, index, config, seed = task
    rec = {"stage": stage, "trial": index, "config": dict(config), "seed": seed,
           "status": "ok", "error": None, "metrics": {}, "duration": 0.0}
    t0 = time.perf_counter()
    malloc = _glibc_malloc_for_trial() if dask_worker else contextlib.nullcontext()
    try:
        with malloc, _thread_limits(_threads_here(n_threads)):
            metrics = fn(dict(config), seed)
        if not isinstance(metrics, dict):
            raise TypeError(f"the trial function returned {type(metrics).__name__}, "
                            f"expected a dict of metrics")
        rec["metrics"] = _clean(metrics)
        err = _divergence(metrics, diverge_factor)
        if err is not None:
            rec["status"], rec["error"] = "failed", err
    except Exception as exc:  # noqa: BLE001  (failure isolation is the point)
        rec["status"], rec["error"] = "failed", f"{type(exc).__name__}: {exc}"
    rec["duration"] = time.perf_counter() - t0
    return rec


# --------------------------------------------------------------------------- results

_TRIAL_KEYS = ("stage", "trial", "status", "seed", "duration", "error")


class SearchResult:
    """The trials of a search: config, metrics, seed, status, error, duration.

    Attributes
    ----------
    trials : list of dict
        One per trial, sorted by (stage, trial): keys ``stage``, ``trial``,
        ``config`` (dict), ``metrics`` (dict), ``seed`` (int), ``status``
        (``"ok"`` or ``"failed"``), ``error`` (str or None), ``duration`` (s).
    metric : str
        The metric maximised (``mode="max"``) or minimised (``mode="min"``).
    space : dict
        The space searched (of the first stage for coarse-to-fine).
    stages : list of dict
        The space of every stage (one entry for random and grid search).
    """

    def __init__(self, trials=(), metric="val_acc", mode="max", space=None, stages=None):
        if mode not in ("max", "min"):
            raise ValueError(f"SearchResult: mode must be 'max' or 'min', got {mode!r}")
        self.trials = sorted((dict(t) for t in trials), key=lambda t: (t["stage"], t["trial"]))
        self.metric, self.mode = metric, mode
        self.space = dict(space or {})
        self.stages = list(stages) if stages is not None else ([self.space] if space else [])

    def __len__(self):
        return len(self.trials)

    def __repr__(self):
        n_ok = sum(t["status"] == "ok" for t in self.trials)
        best = self.best_trial
        b = "none" if best is None else f"{self.metric}={best['metrics'][self.metric]:.4g}"
        return f"SearchResult({len(self.trials)} trials, {n_ok} ok, best {b})"

    # ------------------------------------------------------------ queries

    def _score(self, t):
        v = t["metrics"].get(self.metric) if t["status"] == "ok" else None
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            return None
        return float(v) if self.mode == "max" else -float(v)

    def ranked(self):
        """The ok trials with a finite metric, best first (ties: the earlier trial first)."""
        scored = [(self._score(t), t) for t in self.trials]
        scored = [(s, t) for s, t in scored if s is not None]
        scored.sort(key=lambda st: (-st[0], st[1]["stage"], st[1]["trial"]))
        return [t for _, t in scored]

    @property
    def best_trial(self):
        """The best ok trial (a dict, see ``trials``), or None when no trial succeeded."""
        r = self.ranked()
        return r[0] if r else None

    @property
    def best_config(self):
        """The config of :attr:`best_trial` (None when no trial succeeded)."""
        b = self.best_trial
        return None if b is None else dict(b["config"])

    def param_names(self):
        names = list(self.space)
        for t in self.trials:
            names.extend(k for k in t["config"] if k not in names)
        return names

    def metric_names(self):
        """Metrics holding a scalar (number, string, bool) in some trial: the table's columns."""
        names = []
        for t in self.trials:
            for k, v in t["metrics"].items():
                if k not in names and (v is None or isinstance(v, (numbers.Real, str))):
                    names.append(k)
        if self.metric in names:
            names.remove(self.metric)
            names.insert(0, self.metric)
        return names

    def to_rows(self):
        """One flat dict per trial: stage, trial, status, seed, duration, error, the config's
        keys, then the scalar metrics (lists such as ``loss_history`` are left out)."""
        params, metrics = self.param_names(), self.metric_names()
        rows = []
        for t in self.trials:
            row = {k: t[k] for k in _TRIAL_KEYS}
            for p in params:
                row[p] = t["config"].get(p)
            for m in metrics:
                v = t["metrics"].get(m)
                row[m] = v if v is None or isinstance(v, (numbers.Real, str)) else None
            rows.append(row)
        return rows

    def table(self, top=None):
        """The trials as text, best first (failed trials last); ``top`` keeps the first rows."""
        ranked = self.ranked()
        rest = [t for t in self.trials if all(t is not r for r in ranked)]
        order = ranked + rest
        if top is not None:
            order = order[:top]
        params, metrics = self.param_names(), self.metric_names()
        head = ["rank", "stage", "trial"] + metrics + params + ["status", "time_s"]

        def fmt(v):
            if isinstance(v, float):
                return f"{v:.4g}"
            return "" if v is None else str(v)

        lines = []
        for i, t in enumerate(order):
            ok = any(t is r for r in ranked)
            row = [str(i + 1) if ok else "-", str(t["stage"]), str(t["trial"])]
            row += [fmt(t["metrics"].get(m)) if not isinstance(t["metrics"].get(m), list) else ""
                    for m in metrics]
            row += [fmt(t["config"].get(p)) for p in params]
            status = t["status"] if t["status"] == "ok" else f"failed: {t['error']}"
            row += [status[:70], f"{t['duration']:.2f}"]
            lines.append(row)
        widths = [max([len(h)] + [len(r[j]) for r in lines]) for j, h in enumerate(head)]
        out = ["  ".join(h.rjust(w) for h, w in zip(head, widths))]
        out += ["  ".join(c.rjust(w) if j < len(head) - 2 else c.ljust(w)
                          for j, (c, w) in enumerate(zip(r, widths))) for r in lines]
        return "\n".join(out)

    # ------------------------------------------------------------ files

    def to_dict(self):
        return {"format": FORMAT, "metric": self.metric, "mode": self.mode,
                "space": _space_to_json(self.space),
                "stages": [_space_to_json(s) for s in self.stages],
                "trials": [_clean(t) for t in self.trials]}

    @classmethod
    def from_dict(cls, d):
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ValueError(f"SearchResult: not a {FORMAT} results document")
        return cls(d["trials"], metric=d.get("metric", "val_acc"), mode=d.get("mode", "max"),
                   space=_space_from_json(d.get("space", {})),
                   stages=[_space_from_json(s) for s in d.get("stages", [])])

    def to_json(self, path):
        """Write everything (configs, all metrics including loss histories, spaces) as JSON,
        atomically (a temporary file renamed over ``path``).  Returns the path."""
        path = os.fspath(path)
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(self.to_dict(), f, indent=1)
        os.replace(tmp, path)
        return path

    @classmethod
    def from_json(cls, path):
        """Read a file written by :meth:`to_json`."""
        path = os.fspath(path)
        try:
            with open_regular(path, "r") as f:     # a FIFO or device is refused, not read
                d = json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError(f"SearchResult.from_json: {path!r} is not valid JSON: {exc}") from None
        try:
            return cls.from_dict(d)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"SearchResult.from_json: {path!r} is not a fastnn search results "
                             f"file ({exc})") from None

    def to_csv(self, path):
        """Write :meth:`to_rows` as CSV (one row per trial).  Returns the path.

        Floats are written with ``repr`` (exact round trip); list metrics such
        as ``loss_history`` are only in the JSON file.
        """
        path = os.fspath(path)
        rows = self.to_rows()
        fields = list(_TRIAL_KEYS) + self.param_names() + self.metric_names()
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(fields)
            for r in rows:
                w.writerow(["" if r.get(k) is None else repr(r[k]) if isinstance(r[k], float)
                            else r[k] for k in fields])
        return path

    @classmethod
    def from_csv(cls, path, metric="val_acc", mode="max"):
        """Read a file written by :meth:`to_csv`: columns after ``error`` that are not metrics
        of the header order become config keys (the writer puts params before metrics, and
        the ``metric`` column starts the metrics)."""
        path = os.fspath(path)
        with open_regular(path, "r", newline="") as f:
            rd = csv.reader(f)
            head = next(rd)
            body = list(rd)
        if head[:len(_TRIAL_KEYS)] != list(_TRIAL_KEYS):
            raise ValueError(f"SearchResult.from_csv: {path!r} does not start with the columns "
                             f"{list(_TRIAL_KEYS)}")
        extra = head[len(_TRIAL_KEYS):]
        m0 = extra.index(metric) if metric in extra else len(extra)
        params, metrics = extra[:m0], extra[m0:]
        trials = []
        for r in body:
            cell = dict(zip(head, r))
            val = {k: (None if cell[k] == "" else _scalar(cell[k])) for k in head}
            trials.append({"stage": val["stage"], "trial": val["trial"], "status": val["status"],
                           "seed": val["seed"], "duration": float(val["duration"] or 0.0),
                           "error": None if cell["error"] == "" else cell["error"],
                           "config": {p: val[p] for p in params if val[p] is not None},
                           "metrics": {m: val[m] for m in metrics if val[m] is not None}})
        return cls(trials, metric=metric, mode=mode)

    def plot(self, outdir):
        """Write the search's plots as PNG files into ``outdir``; returns their paths.

        * ``<metric>_vs_<param>.png`` for every parameter that varies: the metric
          of each ok trial over the parameter (log x axis for a log-uniform
          parameter; categories for a choice);
        * ``lr_reg.png``: learning rate x regularisation, coloured by the metric
          (log axes where sampled in log space), when the configs have ``lr``
          and ``reg`` (else the first two numeric parameters).
        """
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        os.makedirs(outdir, exist_ok=True)
        ok = self.ranked()
        ys = [t["metrics"][self.metric] for t in ok]
        logs = {k for s in self.stages + [self.space] for k, v in s.items()
                if isinstance(v, Space) and v.log}
        paths = []
        numeric = []
        for p in self.param_names():
            xs = [t["config"].get(p) for t in ok]
            if len({repr(t["config"].get(p)) for t in self.trials}) <= 1:
                continue                    # a constant: nothing to see
            is_num = all(isinstance(x, numbers.Real) and not isinstance(x, bool) for x in xs)
            fig, ax = plt.subplots(figsize=(5, 3.5))
            if is_num:
                numeric.append(p)
                ax.scatter(xs, ys, s=18, alpha=0.8)
                if p in logs:
                    ax.set_xscale("log")
            else:
                cats = sorted({str(x) for x in xs})
                ax.scatter([cats.index(str(x)) for x in xs], ys, s=18, alpha=0.8)
                ax.set_xticks(range(len(cats)), cats)
            ax.set_xlabel(p + (" (log)" if p in logs else ""))
            ax.set_ylabel(self.metric)
            ax.set_title(f"{self.metric} over {p} ({len(ok)} ok trials)")
            ax.grid(True, alpha=0.3)
            fig.tight_layout()
            path = os.path.join(outdir, f"{self.metric}_vs_{_safe(p)}.png")
            fig.savefig(path, dpi=100)
            plt.close(fig)
            paths.append(path)
        pair = ("lr", "reg") if {"lr", "reg"} <= set(numeric) else tuple(numeric[:2])
        if len(pair) == 2:
            a, b = pair
            fig, ax = plt.subplots(figsize=(5.5, 4))
            sc = ax.scatter([t["config"][a] for t in ok], [t["config"][b] for t in ok], c=ys,
                            cmap="viridis", s=30, edgecolors="k", linewidths=0.3)
            fig.colorbar(sc, ax=ax, label=self.metric)
            if a in logs:
                ax.set_xscale("log")
            if b in logs:
                ax.set_yscale("log")
            ax.set_xlabel(a)
            ax.set_ylabel(b)
            ax.set_title(f"{a} x {b}, coloured by {self.metric}")
            fig.tight_layout()
            path = os.path.join(outdir, f"{_safe(a)}_{_safe(b)}.png")
            fig.savefig(path, dpi=100)
            plt.close(fig)
            paths.append(path)
        return paths


def _safe(name):
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name))


# --------------------------------------------------------------------------- running

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


class _Search:
    """Shared state of a search: the results so far, resume, the results file."""

    def __init__(self, metric, mode, space, results_path):
        self.result = SearchResult([], metric=metric, mode=mode, space=space, stages=[])
        self.path = None if results_path is None else os.fspath(results_path)
        self.previous = {}
        if self.path is not None and os.path.exists(self.path):
            old = SearchResult.from_json(self.path)
            self.previous = {(t["stage"], t["trial"]): t for t in old.trials}

    def run_stage(self, runner, stage, configs_seeds, space):
        self.result.stages.append(dict(space))
        todo = []
        for i, (config, seed) in enumerate(configs_seeds):
            old = self.previous.get((stage, i))
            if (old is not None and old["seed"] == seed and old["config"] == _clean(config)
                    and old["status"] in ("ok", "failed")):
                self.result.trials.append(old)
            else:
                todo.append((stage, i, config, seed))
        self._save()

        def done(rec):
            self.result.trials.append(rec)
            self._save()

        runner.run(todo, done)
        self.result.trials.sort(key=lambda t: (t["stage"], t["trial"]))
        self._save()
        return [t for t in self.result.trials if t["stage"] == stage]

    def _save(self):
        if self.path is not None:
            self.result.trials.sort(key=lambda t: (t["stage"], t["trial"]))
            self.result.to_json(self.path)


_RUN_DOC = """
    n_jobs : int, default 1
        Trials run at once on this machine, in joblib (loky) worker processes
        when > 1; -1: one per core.
    backend : None, "loky" or "dask"
        "dask": run on the Dask cluster of the current ``dask.distributed``
        Client (``client=`` / ``scheduler=`` imply it).
    client : dask.distributed.Client, optional
    scheduler : str, optional
        A Dask scheduler address: a Client is connected for the search and
        closed after it.
    threads_per_trial : int, optional
        fastnn and BLAS threads inside each trial (default: ``max(1, cores //
        trials running at once on that machine)``).
    results_path : path, optional
        JSON results file, rewritten after every finished trial; trials it
        already holds (same stage, index, config and seed) are not re-run.
    metric, mode : str
        The metric the search optimises (``"val_acc"``) and ``"max"`` / ``"min"``.
    diverge_factor : float or None, default 3
        A trial whose ``loss_history`` metric exceeds this times its first
        loss is failed ("diverged"); None disables the check (non-finite
        losses always fail).
    progress : bool, default False
        A tqdm progress bar over trials (on stderr) when stderr is a terminal,
        a notebook bar in Jupyter (tqdm.auto); none in pipes and log files.
    callback : callable, optional
        ``callback(trial_record)`` in this process after every finished trial.
"""


def _runner(train_fn, kw, metric="val_acc", mode="max"):
    r = _Runner(train_fn, kw.pop("n_jobs", 1), kw.pop("backend", None), kw.pop("client", None),
                kw.pop("scheduler", None), kw.pop("threads_per_trial", None),
                kw.pop("diverge_factor", 3.0), kw.pop("progress", False),
                kw.pop("callback", None))
    r.metric, r.mode = metric, mode
    return r


_RUN_KEYS = {"n_jobs", "backend", "client", "scheduler", "threads_per_trial", "diverge_factor",
             "progress", "callback"}


def _check_kw(fn, kw):
    bad = set(kw) - _RUN_KEYS
    if bad:
        raise TypeError(f"{fn}: unexpected keyword argument(s) {sorted(bad)}")


def _check_seed(fn, seed):
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"{fn}: seed must be an integer >= 0, got {seed!r}")
    return int(seed)


def random_search(train_fn, space, n_trials, seed=0, *, results_path=None, metric="val_acc",
                  mode="max", **kw):
    """Random search: ``n_trials`` configs sampled from ``space``, each trained by ``train_fn``.

    Parameters
    ----------
    train_fn : callable ``(config, seed) -> dict of metrics``
    space : dict name -> dimension (or constant)
    n_trials : int
    seed : int, default 0
        Trial i's config and seed come from ``SeedSequence(seed).spawn(n_trials)[i]``.
    """
    _check_kw("random_search", kw)
    space = _check_space(space, "random_search")
    if isinstance(n_trials, bool) or not isinstance(n_trials, numbers.Integral) or n_trials < 1:
        raise ValueError(f"random_search: n_trials must be an integer >= 1, got {n_trials!r}")
    seed = _check_seed("random_search", seed)
    search = _Search(metric, mode, space, results_path)
    runner = _runner(train_fn, kw, metric, mode)
    try:
        tasks = [_sample_config(space, ss) for ss in _trial_seeds(seed, 0, int(n_trials))]
        search.run_stage(runner, 0, tasks, space)
    finally:
        runner.close()
    return search.result


random_search.__doc__ += _RUN_DOC + """
    Returns
    -------
    SearchResult
    """


def grid_search(train_fn, space, seed=0, *, results_path=None, metric="val_acc", mode="max",
                **kw):
    """Grid search: every combination of the :func:`grid` (and :func:`choice`) dimensions.

    Constants are passed unchanged; a continuous dimension (loguniform,
    uniform, randint) is an error: list its values with :func:`grid`.
    Combinations are enumerated in the order of ``space`` (last name fastest);
    trial i's seed comes from ``SeedSequence(seed).spawn(n)[i]``.
    """
    _check_kw("grid_search", kw)
    space = _check_space(space, "grid_search")
    seed = _check_seed("grid_search", seed)
    for k, v in space.items():
        if isinstance(v, _Range):
            raise ValueError(f"grid_search: {k!r} is {v!r}, a continuous dimension; give its "
                             f"values with grid([...]) or use random_search")
    axes = [(k, v.values if isinstance(v, _Choice) else [v]) for k, v in space.items()]
    import itertools
    combos = [dict(zip([k for k, _ in axes], vals))
              for vals in itertools.product(*[vs for _, vs in axes])]
    seeds = [int(ss.spawn(2)[1].generate_state(1)[0]) for ss in _trial_seeds(seed, 0, len(combos))]
    search = _Search(metric, mode, space, results_path)
    runner = _runner(train_fn, kw, metric, mode)
    try:
        search.run_stage(runner, 0, list(zip(combos, seeds)), space)
    finally:
        runner.close()
    return search.result


grid_search.__doc__ += "\n    Parameters\n    ----------\n    train_fn, space, seed : " \
    "see :func:`random_search`\n" + _RUN_DOC + "\n    Returns\n    -------\n    SearchResult\n"


def _narrow(space, ranked, shrink, top_k):
    """The next stage's space: every range narrowed to ``shrink`` x its width (in log10 for
    log-uniform) around the mean of the ``top_k`` best trials, containing the best one and
    staying inside the current range; choices keep the values the top trials used."""
    top = ranked[:top_k]
    best = top[0]["config"]
    new = {}
    for k, dim in space.items():
        if isinstance(dim, _Range):
            a, b = dim.bounds()
            w = (b - a) * shrink
            ts = [dim.to_unit(t["config"][k]) for t in top]
            tb = dim.to_unit(best[k])
            c = float(np.mean(ts))
            lo, hi = c - w / 2, c + w / 2
            if tb < lo:
                lo, hi = tb, tb + w
            elif tb > hi:
                lo, hi = tb - w, tb
            if lo < a:
                lo, hi = a, a + w
            if hi > b:
                lo, hi = b - w, b
            new[k] = dim.with_bounds(lo, hi)
        elif isinstance(dim, _Choice):
            used = {repr(t["config"][k]) for t in top}
            new[k] = type(dim)([v for v in dim.values if repr(v) in used])
        else:
            new[k] = dim
    return new


def _edge_warnings(stage_space, original, best, stage, edge):
    for k, dim in stage_space.items():
        orig = original.get(k)
        if not isinstance(dim, _Range) or not isinstance(orig, _Range):
            continue
        a, b = orig.bounds()
        lo, hi = dim.bounds()
        t = dim.to_unit(best[k])
        tol = edge * (b - a)
        scale = "log10 " if dim.log else ""
        side = None
        if math.isclose(lo, a, abs_tol=1e-12 * max(1, abs(a))) and t - a <= tol:
            side, bound, direction = "low", orig.low, "below"
        elif math.isclose(hi, b, abs_tol=1e-12 * max(1, abs(b))) and b - t <= tol:
            side, bound, direction = "high", orig.high, "above"
        if side:
            warnings.warn(
                f"coarse_to_fine: the best {k} ({best[k]:.4g}) sits at the {side} edge of its "
                f"range [{orig.low:.4g}, {orig.high:.4g}] after stage {stage} (within "
                f"{edge:.0%} of the {scale}range width from {bound:.4g}); the optimum may lie "
                f"{direction} it: widen the range and search again", UserWarning, stacklevel=3)


def coarse_to_fine(train_fn, space, stages=((30, 1), (15, 3)), shrink=0.5, top_k=None, seed=0,
                   *, edge=0.05, results_path=None, metric="val_acc", mode="max", **kw):
    """Coarse-to-fine random search: each stage narrows the ranges around the previous one's best.

    Parameters
    ----------
    train_fn, space, seed : see :func:`random_search`
    stages : list of (n_trials, epochs) or of n_trials
        One random search per stage.  A stage's ``epochs`` (when not None) is
        passed to ``train_fn`` as the config key ``"epochs"`` (what
        :func:`make_train_fn`'s function reads); stage 0's seeds come from
        ``SeedSequence(seed).spawn(n)``, stage s's from ``SeedSequence([seed, s]).spawn(n)``.
    shrink : float in (0, 1], default 0.5
        Each range's width (in log10 for log-uniform) is multiplied by it
        per stage, centred on the mean of the ``top_k`` best trials (moved to
        contain the best trial, and to stay inside the previous range); a
        :func:`choice` keeps only the values the top trials used.
    top_k : int, optional
        Trials that set the new ranges (default: the best 20%, at least 1).
    edge : float, default 0.05
        After every stage, a ``UserWarning`` when the best value lies within
        this fraction of its original range's width from that range's
        low or high edge (the optimum may lie outside: widen the range).
    """
    _check_kw("coarse_to_fine", kw)
    space = _check_space(space, "coarse_to_fine")
    seed = _check_seed("coarse_to_fine", seed)
    if isinstance(shrink, bool) or not isinstance(shrink, numbers.Real) or not 0 < shrink <= 1:
        raise ValueError(f"coarse_to_fine: shrink must be in (0, 1], got {shrink!r}")
    plan = []
    for st in stages:
        n, epochs = (st, None) if isinstance(st, numbers.Integral) else tuple(st)
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"coarse_to_fine: a stage is (n_trials >= 1, epochs), got {st!r}")
        plan.append((int(n), epochs))
    if not plan:
        raise ValueError("coarse_to_fine: stages must not be empty")
    search = _Search(metric, mode, space, results_path)
    runner = _runner(train_fn, kw, metric, mode)
    current = dict(space)
    try:
        for s, (n, epochs) in enumerate(plan):
            tasks = []
            for ss in _trial_seeds(seed, s, n):
                config, tseed = _sample_config(current, ss)
                if epochs is not None:
                    config["epochs"] = epochs
                tasks.append((config, tseed))
            search.run_stage(runner, s, tasks, current)
            ranked = [t for t in search.result.ranked() if t["stage"] == s]
            if not ranked:
                warnings.warn(f"coarse_to_fine: every trial of stage {s} failed; the search "
                              f"stops (see the errors in the results)", UserWarning, stacklevel=2)
                break
            _edge_warnings(current, space, ranked[0]["config"], s, edge)
            if s + 1 < len(plan):
                k = top_k if top_k is not None else max(1, len(ranked) // 5)
                current = _narrow(current, ranked, shrink, max(1, int(k)))
    finally:
        runner.close()
    return search.result


coarse_to_fine.__doc__ += _RUN_DOC + "\n    Returns\n    -------\n    SearchResult\n"


# --------------------------------------------------------------------------- the ready trial

_DATA_CACHE = {}


def _dataset(name):
    if name not in _DATA_CACHE:
        from fastnn.data import load_builtin
        _DATA_CACHE[name] = load_builtin(name)
    return _DATA_CACHE[name]


class TrainFn:
    """A picklable trial function: train a fastnn model on a built-in dataset with a Solver.

    ``TrainFn(model, dataset, epochs, batch_size, update_rule)(config, seed)``
    returns ``{"val_acc": best validation accuracy, "train_acc": final train
    accuracy, "loss_history": [loss per iteration]}``.

    Config keys (all optional; unknown keys raise ValueError):

    ==================  ============================================================
    ``lr``              learning rate (``optim_config["learning_rate"]``), default 1e-3
    ``reg``             L2 strength of the model, default 0
    ``weight_scale``    std of the N(0, s^2) weight init, default 5e-2
    ``hidden_dim``      hidden units (each of the mlp's 2 layers; the convnet's one), 64
    ``num_filters``     convnet filters (3x3), default 16
    ``batch_size``      default: the TrainFn's
    ``epochs``          default: the TrainFn's (coarse_to_fine sets it per stage)
    ``lr_decay``        per epoch, default 1.0
    ``update_rule``     a :mod:`fastnn.optim` rule, default: the TrainFn's ("adam")
    ``momentum``        for sgd_momentum / nesterov
    ``beta1, beta2``    for adam
    ``decay_rate``      for rmsprop
    ==================  ============================================================
    """

    KEYS = ("lr", "reg", "weight_scale", "hidden_dim", "num_filters", "batch_size", "epochs",
            "lr_decay", "update_rule", "momentum", "beta1", "beta2", "decay_rate")
    _OPTIM_KEYS = ("momentum", "beta1", "beta2", "decay_rate")

    def __init__(self, model="convnet", dataset="digits", epochs=1, batch_size=50,
                 update_rule="adam"):
        if model not in ("convnet", "mlp"):
            raise ValueError(f"make_train_fn: model must be 'convnet' or 'mlp', got {model!r}")
        from fastnn.data.datasets import BUILTIN
        if dataset not in BUILTIN:
            raise ValueError(f"make_train_fn: dataset must be one of {sorted(BUILTIN)}, "
                             f"got {dataset!r}")
        for v, n in ((epochs, "epochs"), (batch_size, "batch_size")):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"make_train_fn: {n} must be an integer >= 1, got {v!r}")
        self.model, self.dataset = model, dataset
        self.epochs, self.batch_size, self.update_rule = int(epochs), int(batch_size), update_rule

    def __repr__(self):
        return (f"TrainFn(model={self.model!r}, dataset={self.dataset!r}, epochs={self.epochs}, "
                f"batch_size={self.batch_size}, update_rule={self.update_rule!r})")

    def check_space(self, space):
        """Raise ValueError naming any space key this function does not read."""
        bad = [k for k in space if k not in self.KEYS]
        if bad:
            raise ValueError(f"unknown config key(s) {bad} for the {self.model} trial; "
                             f"known: {', '.join(self.KEYS)}")

    def build(self, config, seed):
        from fastnn import models
        data = _dataset(self.dataset)
        C, H, W = data["X_train"].shape[1:]
        n_classes = int(data["y_train"].max()) + 1
        reg = float(config.get("reg", 0.0))
        hidden = int(config.get("hidden_dim", 64))
        if self.model == "convnet":
            return models.ThreeLayerConvNet(
                input_dim=(C, H, W), num_filters=int(config.get("num_filters", 16)),
                filter_size=3, hidden_dim=hidden, num_classes=n_classes,
                weight_scale=float(config.get("weight_scale", 5e-2)), reg=reg, seed=seed)
        return models.FullyConnectedNet(
            [hidden, hidden], input_dim=C * H * W, num_classes=n_classes,
            weight_scale=float(config.get("weight_scale", 5e-2)), reg=reg, seed=seed)

    def __call__(self, config, seed):
        from fastnn import Solver
        self.check_space(config)
        model_seed, solver_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(2))
        model = self.build(config, model_seed)
        data = _dataset(self.dataset)
        from fastnn.optim import rule_config_keys
        rule = config.get("update_rule", self.update_rule)
        accepted = rule_config_keys(rule) if isinstance(rule, str) and rule in _RULE_NAMES else ()
        optim_config = {"learning_rate": float(config.get("lr", 1e-3))}
        optim_config.update({k: float(config[k]) for k in self._OPTIM_KEYS
                             if k in config and k in accepted})
        solver = Solver(model, {k: data[k] for k in ("X_train", "y_train", "X_val", "y_val")},
                        update_rule=rule,
                        optim_config=optim_config,
                        lr_decay=float(config.get("lr_decay", 1.0)),
                        batch_size=int(config.get("batch_size", self.batch_size)),
                        num_epochs=int(config.get("epochs", self.epochs)),
                        verbose=False, seed=solver_seed)
        solver.train()
        return {"val_acc": float(solver.best_val_acc),
                "train_acc": float(solver.train_acc_history[-1]),
                "loss_history": [float(x) for x in solver.loss_history]}


_RULE_NAMES = ("sgd", "sgd_momentum", "nesterov", "rmsprop", "adam", "adamw", "adagrad")


def make_train_fn(model="convnet", dataset="digits", epochs=1, batch_size=50, update_rule="adam"):
    """The ready trial function: a :class:`TrainFn` (picklable, for worker processes).

    Parameters
    ----------
    model : "convnet" or "mlp"
        ``ThreeLayerConvNet(input_dim=(1, 8, 8), num_filters=16, filter_size=3,
        hidden_dim=64)`` or ``FullyConnectedNet([64, 64], input_dim=64)``.
    dataset : str, default "digits"
        A :func:`fastnn.data.load_builtin` dataset (loaded once per process).
    epochs, batch_size : int
        Defaults for the config keys of the same names.
    update_rule : str, default "adam"

    Returns
    -------
    TrainFn
        ``fn(config, seed) -> {"val_acc", "train_acc", "loss_history"}``; see
        :class:`TrainFn` for the config keys (``lr``, ``reg``, ...).
    """
    return TrainFn(model, dataset, epochs, batch_size, update_rule)
