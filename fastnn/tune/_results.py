"""The result table of a search: ranking, text table, JSON and CSV files."""
import csv
import json
import math
import numbers
import os

from fastnn._files import open_regular
from fastnn.tune._spaces import FORMAT, _scalar, _space_from_json, _space_to_json
from fastnn.tune._trials import _clean


_TRIAL_KEYS = ("stage", "trial", "status", "seed", "duration", "error")


class SearchResult:
    """The trials of a search: config, metrics, seed, status, error, duration.

    Attributes
    ----------
    trials : list of dict
        One per trial, sorted by (stage, trial): keys ``stage``, ``trial``,
        ``config`` (dict), ``metrics`` (dict), ``seed`` (int), ``status``
        (``"ok"``, ``"stopped"`` by an early-stopping scheduler, or ``"failed"``),
        ``error`` (str or None), ``duration`` (s, all its segments); under a
        scheduler also ``reports``: ``[epoch, value]`` at each milestone reached.
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
        v = t["metrics"].get(self.metric) if t["status"] in ("ok", "stopped") else None
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            return None
        return float(v) if self.mode == "max" else -float(v)

    def ranked(self):
        """The trials with a finite metric, best first (ties: the earlier trial first): those
        that ran to their last epoch (``ok``), then those an early-stopping scheduler
        stopped (``stopped``)."""
        scored = [(self._score(t), t) for t in self.trials]
        scored = [(s, t) for s, t in scored if s is not None]
        scored.sort(key=lambda st: (st[1]["status"] != "ok", -st[0], st[1]["stage"],
                                    st[1]["trial"]))
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
        """The searched parameters: the space's keys, then any other config key of a trial."""
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
            status = (f"failed: {t['error']}" if t["status"] == "failed" else
                      f"stopped at epoch {t['metrics'].get('epochs_trained')}" if t["status"] == "stopped"
                      else t["status"])
            row += [status[:70], f"{t['duration']:.2f}"]
            lines.append(row)
        widths = [max([len(h)] + [len(r[j]) for r in lines]) for j, h in enumerate(head)]
        out = ["  ".join(h.rjust(w) for h, w in zip(head, widths))]
        out += ["  ".join(c.rjust(w) if j < len(head) - 2 else c.ljust(w)
                          for j, (c, w) in enumerate(zip(r, widths))) for r in lines]
        return "\n".join(out)

    # ------------------------------------------------------------ files

    def to_dict(self):
        """The result as a JSON-ready dict (what ``to_json`` writes)."""
        return {"format": FORMAT, "metric": self.metric, "mode": self.mode,
                "space": _space_to_json(self.space),
                "stages": [_space_to_json(s) for s in self.stages],
                "trials": [_clean(t) for t in self.trials]}

    @classmethod
    def from_dict(cls, d):
        """Rebuild a result from ``to_dict``'s output; raises ValueError on another document."""
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

        See :func:`fastnn.plots.plot_search`: the metric over each searched
        parameter, ``lr_reg.png`` per stage, and ``learning_curves.png``.
        """
        from fastnn.plots import plot_search
        return plot_search(self, outdir)


def _safe(name):
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name))
