"""Search strategies: random search, grid search, coarse-to-fine (the shared search state,
resume, the keyword arguments every search takes)."""
import math
import numbers
import os
import warnings

import numpy as np

from fastnn.tune._backends import _Runner
from fastnn.tune._results import SearchResult
from fastnn.tune._samplers import ListProposer, TPEProposer
from fastnn.tune._schedulers import make_scheduler
from fastnn.tune._spaces import Space, _Choice, _Conditional, _Range, _check_space, _inner
from fastnn.tune._trials import _sample_config, _trial_seeds
from fastnn.tune._trials import _clean


class _Stage:
    """The job source of one stage: hands the runner trials (or, under a scheduler, trial
    segments), takes their records, applies the scheduler's decisions; see
    :mod:`fastnn.tune._schedulers` for why the outcome does not depend on timing."""

    def __init__(self, search, stage, n, proposer, scheduler, max_epochs):
        self.search, self.stage, self.n = search, stage, n
        self.proposer, self.sched = proposer, scheduler
        self.milestones = scheduler.milestones(max_epochs) if scheduler is not None else []
        self.quotas = scheduler.quotas(n, len(self.milestones)) if scheduler is not None else []
        self.reports = [{} for _ in self.milestones]
        self.info, self.final = {}, {}
        self.queue, self.pending = [], set()
        self.next_new = 0

    # ------------------------------------------------------------ what the runner calls

    def next(self):
        while True:
            if self.queue:
                return self._task(*self.queue.pop(0))
            i = self.next_new
            if i >= self.n or not self.proposer.available(i):
                return None
            self.next_new += 1
            config, seed = self.proposer.propose(i)
            old = self.search.previous.get((self.stage, i))
            if (old is not None and old["seed"] == seed and old["config"] == _clean(config)
                    and old["status"] in ("ok", "failed", "stopped")):
                self._restore(i, old)
                continue
            self.info[i] = {"config": config, "seed": seed, "state": None, "duration": 0.0,
                            "k": 0, "last": None}
            return self._task(i, 0)

    def done(self, rec):
        i = rec["trial"]
        info = self.info[i]
        info["duration"] += rec.get("duration", 0.0)
        info["state"] = rec.pop("state", None)
        k = info["k"]
        finals = []
        if self.sched is None or k >= len(self.milestones) or info["state"] is None:
            if rec["status"] == "failed" and k < len(self.milestones):
                self._report(i, k, -math.inf)
            finals.append(self._finalise(i, rec, rec["status"]))
        else:
            info["last"] = rec
            self._report(i, k, self._score(rec))
            self.pending.add((i, k))
        finals += self._decide()
        return finals

    # ------------------------------------------------------------ internals

    def _task(self, i, k):
        info = self.info[i]
        info["k"] = k
        if self.sched is None:
            return (self.stage, i, info["config"], info["seed"])
        until = self.milestones[k] if k < len(self.milestones) else None
        return (self.stage, i, info["config"], info["seed"], until, info["state"])

    def _score(self, rec):
        v = rec["metrics"].get(self.search.result.metric)
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            return -math.inf
        return float(v) if self.search.result.mode == "max" else -float(v)

    def _report(self, i, k, value):
        self.reports[k][i] = value
        if k == 0:
            self.proposer.tell(i, self._told(value))

    def _told(self, score):
        if not math.isfinite(score):
            return None
        return score if self.search.result.mode == "max" else -score

    def ended_before(self, j, k):
        """Whether trial j ended (stopped or failed) before reaching milestone k."""
        return j in self.final and j not in self.reports[k]

    def _finalise(self, i, rec, status):
        info = self.info[i]
        out = {k: v for k, v in rec.items() if k != "state"}
        out["status"] = status
        out["duration"] = info["duration"]
        if self.milestones:
            out["reports"] = [[m, None if not math.isfinite(self.reports[k][i]) else
                               self._told(self.reports[k][i])]
                              for k, m in enumerate(self.milestones) if i in self.reports[k]]
        self.final[i] = out
        info["state"] = None
        self.proposer.tell(i, self._told(self._score(out)) if status != "failed" else None)
        return out

    def _restore(self, i, old):
        self.info[i] = {"config": old["config"], "seed": old["seed"], "state": None,
                        "duration": old.get("duration", 0.0), "k": 0, "last": None}
        for epoch, v in old.get("reports") or []:
            if epoch in self.milestones:
                k = self.milestones.index(epoch)
                value = -math.inf if v is None else (v if self.search.result.mode == "max"
                                                     else -v)
                self._report(i, k, value)
        self.final[i] = old
        self.proposer.tell(i, old["metrics"].get(self.search.result.metric)
                           if old["status"] != "failed" else None)
        self.search.add(old)
        for rec in self._decide():
            self.search.add(rec)

    def _decide(self):
        finals, changed = [], True
        while changed:
            changed = False
            for i, k in sorted(self.pending):
                d = self.sched.decide(self, i, k)
                if d is None:
                    continue
                self.pending.discard((i, k))
                changed = True
                if d == "promote":
                    self.queue.append((i, k + 1))
                else:
                    finals.append(self._finalise(i, self.info[i]["last"], "stopped"))
        return finals


class _Search:
    """Shared state of a search: the results so far, resume, the results file."""

    def __init__(self, metric, mode, space, results_path):
        self.result = SearchResult([], metric=metric, mode=mode, space=space, stages=[])
        self.path = None if results_path is None else os.fspath(results_path)
        self.previous = {}
        if self.path is not None and os.path.exists(self.path):
            old = SearchResult.from_json(self.path)
            self.previous = {(t["stage"], t["trial"]): t for t in old.trials}

    def add(self, rec):
        self.result.trials.append(rec)
        self._save()

    def run_stage(self, runner, stage, proposer, n, space, scheduler=None, epochs=None):
        """Run one stage of ``n`` trials whose configs ``proposer`` gives."""
        self.result.stages.append(dict(space))
        max_epochs = None
        if scheduler is not None:
            fn = runner.fn
            if not callable(getattr(fn, "run", None)):
                raise ValueError("scheduler: early stopping needs a trial function that trains "
                                 "in segments (fn.run(config, seed, until=, state=), such as "
                                 "make_train_fn's TrainFn); got "
                                 f"{type(fn).__name__}")
            if isinstance(space.get("epochs"), Space):
                raise ValueError("scheduler: 'epochs' cannot be searched under a scheduler (the "
                                 "scheduler decides each trial's epochs)")
            max_epochs = epochs if epochs is not None else space.get(
                "epochs", getattr(fn, "epochs", None))
            if max_epochs is None:
                raise ValueError("scheduler: the trials' number of epochs is unknown: give "
                                 "'epochs' in the space")
            max_epochs = int(max_epochs)
        source = _Stage(self, stage, n, proposer, scheduler, max_epochs)
        self._save()
        runner.run(source, n, self.add)
        if len(source.final) != n:      # every trial must have ended (a bug otherwise)
            raise RuntimeError(f"search: stage {stage} ended with {n - len(source.final)} "
                               f"trial(s) undecided")
        self.result.trials.sort(key=lambda t: (t["stage"], t["trial"]))
        self._save()
        return [t for t in self.result.trials if t["stage"] == stage]

    def _save(self):
        if self.path is not None:
            self.result.trials.sort(key=lambda t: (t["stage"], t["trial"]))
            self.result.to_json(self.path)


_RUN_DOC = """
    scheduler : "asha", "median", None, or an ASHA / MedianStop object
        Early stopping of bad trials with the epoch as the resource (see
        :class:`fastnn.tune.ASHA`, :class:`fastnn.tune.MedianStop`); needs a
        trial function that trains in segments (:func:`make_train_fn`'s).
        Default None: every trial runs to its last epoch.
    sampler : "random" or "tpe", default "random"
        "tpe": Optuna's TPE sampler proposes the configs (``pip install
        'fastnn[optuna]'``), asked in batches of ``tpe_batch`` (default 8).
    n_jobs : int, default 1
        Trials run at once on this machine, in joblib (loky) worker processes
        when > 1; -1: one per core.
    backend : None, "loky" or "dask"
        "dask": run on the Dask cluster of the current ``dask.distributed``
        Client (``client=`` / ``dask_scheduler=`` imply it).
    client : dask.distributed.Client, optional
    dask_scheduler : str, optional
        A Dask scheduler address: a Client is connected for the search and
        closed after it.  (An address given as ``scheduler=`` still works,
        with a DeprecationWarning.)
    threads_per_trial : int, optional
        fastnn and BLAS threads inside each trial (default: ``max(1, cores //
        trials running at once on that machine)``).
    results_path : path, optional
        JSON results file, rewritten after every finished trial; trials it
        already holds (same stage, index, config and seed) are not re-run.
    metric, mode : str
        The metric the search optimises (``"val_acc"``) and ``"max"`` / ``"min"``.
    diverge_factor : float or None, default 3
        A trial whose loss exceeds this times its first loss is failed
        ("diverged"), stopped at that iteration when the trial function
        trains with a Solver (:func:`make_train_fn`); None disables the check
        (non-finite losses always fail).
    progress : bool, default False
        A tqdm progress bar over trials (on stderr), with the best value so
        far, when stderr is a terminal, a notebook bar in Jupyter (tqdm.auto);
        none in pipes and log files.
    callback : callable, optional
        ``callback(trial_record)`` in this process after every finished trial.
"""

_SCHEDULER_NAMES = ("asha", "median", "none")


def _split_scheduler(kw, fn):
    """(early-stopping scheduler spec, Dask address) from the keywords."""
    sched, address = kw.pop("scheduler", None), kw.pop("dask_scheduler", None)
    if isinstance(sched, str) and sched not in _SCHEDULER_NAMES and (
            "://" in sched or sched.rpartition(":")[2].isdigit()):
        warnings.warn(f"{fn}: scheduler={sched!r} as a Dask address is deprecated: pass "
                      f"dask_scheduler={sched!r} (scheduler= chooses the early stopping: "
                      f"'asha', 'median' or None)", DeprecationWarning, stacklevel=3)
        if address is not None:
            raise ValueError(f"{fn}: give the Dask address once (dask_scheduler=)")
        sched, address = None, sched
    return sched, address


def _runner(train_fn, kw, metric="val_acc", mode="max", fn="search"):
    sched, address = _split_scheduler(kw, fn)
    r = _Runner(train_fn, kw.pop("n_jobs", 1), kw.pop("backend", None), kw.pop("client", None),
                address, kw.pop("threads_per_trial", None),
                kw.pop("diverge_factor", 3.0), kw.pop("progress", False),
                kw.pop("callback", None))
    r.metric, r.mode = metric, mode
    return r, sched


_RUN_KEYS = {"n_jobs", "backend", "client", "scheduler", "dask_scheduler", "threads_per_trial",
             "diverge_factor", "progress", "callback", "sampler", "tpe_batch"}


def _check_kw(fn, kw):
    bad = set(kw) - _RUN_KEYS
    if bad:
        raise TypeError(f"{fn}: unexpected keyword argument(s) {sorted(bad)}")
    sampler = kw.get("sampler", "random")
    if sampler not in ("random", "tpe"):
        raise ValueError(f"{fn}: sampler must be 'random' or 'tpe', got {sampler!r}")


def _check_seed(fn, seed):
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"{fn}: seed must be an integer >= 0, got {seed!r}")
    return int(seed)


def _proposer(kw, space, seed, stage, n, mode, extra=None):
    """The stage's config source: the random sampler's configs, or Optuna's TPE."""
    sampler, batch = kw.pop("sampler", "random"), kw.pop("tpe_batch", 8)
    seeds_ss = _trial_seeds(seed, stage, n)
    if sampler == "tpe":
        seeds = [int(ss.spawn(2)[1].generate_state(1)[0]) for ss in seeds_ss]
        tpe_space = dict(space, **(extra or {}))
        return TPEProposer(tpe_space, seeds, seed, stage, mode, batch)
    tasks = []
    for ss in seeds_ss:
        config, tseed = _sample_config(space, ss)
        config.update(extra or {})
        tasks.append((config, tseed))
    return ListProposer(tasks)


def random_search(train_fn, space, n_trials, seed=0, *, results_path=None, metric="val_acc",
                  mode="max", **kw):
    """Random search: ``n_trials`` configs sampled from ``space``, each trained by ``train_fn``.

    Parameters
    ----------
    train_fn : callable ``(config, seed) -> dict of metrics``
    space : dict name -> dimension (or constant)
    n_trials : int
    seed : int, default 0
        Trial i's config and seed come from ``SeedSequence(seed).spawn(n_trials)[i]``
        (with ``sampler="tpe"``, only the seed: Optuna proposes the config).
    """
    _check_kw("random_search", kw)
    space = _check_space(space, "random_search")
    if isinstance(n_trials, bool) or not isinstance(n_trials, numbers.Integral) or n_trials < 1:
        raise ValueError(f"random_search: n_trials must be an integer >= 1, got {n_trials!r}")
    seed = _check_seed("random_search", seed)
    search = _Search(metric, mode, space, results_path)
    proposer = _proposer(kw, space, seed, 0, int(n_trials), mode)
    runner, sched = _runner(train_fn, kw, metric, mode, "random_search")
    try:
        search.run_stage(runner, 0, proposer, int(n_trials), space,
                         make_scheduler(sched, "random_search"))
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
    if kw.pop("sampler", "random") != "random":
        raise ValueError("grid_search: sampler must be 'random' (a grid is enumerated)")
    kw.pop("tpe_batch", None)
    for k, v in space.items():
        if isinstance(_inner(v), _Range):
            raise ValueError(f"grid_search: {k!r} is {v!r}, a continuous dimension; give its "
                             f"values with grid([...]) or use random_search")
    import itertools
    combos = [{}]
    for k, v in space.items():
        nxt = []
        for c in combos:
            if isinstance(v, _Conditional):
                vals = v.dim.values if v.active(c) else [None]
                nxt += [dict(c, **({k: x} if v.active(c) else {})) for x in vals]
            else:
                nxt += [dict(c, **{k: x}) for x in (v.values if isinstance(v, _Choice) else [v])]
        combos = nxt
    del itertools
    seeds = [int(ss.spawn(2)[1].generate_state(1)[0]) for ss in _trial_seeds(seed, 0, len(combos))]
    search = _Search(metric, mode, space, results_path)
    runner, sched = _runner(train_fn, kw, metric, mode, "grid_search")
    try:
        search.run_stage(runner, 0, ListProposer(list(zip(combos, seeds))), len(combos), space,
                         make_scheduler(sched, "grid_search"))
    finally:
        runner.close()
    return search.result


grid_search.__doc__ += "\n    Parameters\n    ----------\n    train_fn, space, seed : " \
    "see :func:`random_search`\n" + _RUN_DOC + "\n    Returns\n    -------\n    SearchResult\n"


def _narrow(space, ranked, shrink, top_k):
    """The next stage's space: every range narrowed to ``shrink`` x its width (in log10 for
    log-uniform) around the mean of the ``top_k`` best trials, containing the best one and
    staying inside the current range; choices keep the values the top trials used.  A
    conditional dimension is narrowed around the top trials that have it (kept as it is when
    none has)."""
    top = ranked[:top_k]
    new = {}
    for k, dim in space.items():
        inner = _inner(dim)
        have = [t for t in top if k in t["config"]]
        if not isinstance(inner, Space) or not have:
            new[k] = dim
            continue
        best = have[0]["config"]
        if isinstance(inner, _Range):
            a, b = inner.bounds()
            w = (b - a) * shrink
            ts = [inner.to_unit(t["config"][k]) for t in have]
            tb = inner.to_unit(best[k])
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
            narrowed = inner.with_bounds(lo, hi)
        else:
            used = {repr(t["config"][k]) for t in have}
            narrowed = type(inner)([v for v in inner.values if repr(v) in used])
        new[k] = _Conditional(narrowed, dim.when) if isinstance(dim, _Conditional) else narrowed
    return new


def _edge_warnings(stage_space, original, best, stage, edge):
    for k, dim in stage_space.items():
        dim, orig = _inner(dim), _inner(original.get(k))
        if not isinstance(dim, _Range) or not isinstance(orig, _Range) or k not in best:
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
    scheduler : as for :func:`random_search`, or a list with one per stage
        (e.g. ``[ASHA(), None]``: stop bad trials in the coarse stage only).
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
    sampler, tpe_batch = kw.pop("sampler", "random"), kw.pop("tpe_batch", 8)
    runner, sched = _runner(train_fn, kw, metric, mode, "coarse_to_fine")
    scheds = list(sched) if isinstance(sched, (list, tuple)) else [sched] * len(plan)
    if len(scheds) != len(plan):
        runner.close()
        raise ValueError(f"coarse_to_fine: scheduler must be one value or one per stage "
                         f"({len(plan)}), got {sched!r}")
    scheds = [make_scheduler(x, "coarse_to_fine") for x in scheds]
    current = dict(space)
    try:
        for s, (n, epochs) in enumerate(plan):
            extra = {"epochs": epochs} if epochs is not None else {}
            proposer = _proposer({"sampler": sampler, "tpe_batch": tpe_batch}, current, seed, s,
                                 n, mode, extra)
            search.run_stage(runner, s, proposer, n, current, scheds[s], epochs)
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
