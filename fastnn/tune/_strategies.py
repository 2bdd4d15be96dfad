"""Search strategies: random search, grid search, coarse-to-fine (the shared search state,
resume, the keyword arguments every search takes)."""
import math
import numbers
import os
import warnings

import numpy as np

from fastnn.tune._backends import _Runner
from fastnn.tune._results import SearchResult
from fastnn.tune._spaces import _Choice, _Range, _check_space
from fastnn.tune._trials import _sample_config, _trial_seeds
from fastnn.tune._trials import _clean


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
