"""Plots of training histories and of the diagnostic experiments (PNG files).

matplotlib is imported inside each function and drawn through its Agg canvas
(``matplotlib.figure.Figure`` + ``FigureCanvasAgg``), never through pyplot: no
window opens, no global backend is switched, no figure is left registered.
Every function returns the path(s) it wrote.

* :func:`plot_history`: ``loss.png``, ``accuracy.png`` and (with monitor
  records) ``monitor.png`` from the dict ``fastnn train`` writes to history.json.
* :func:`plot_init_experiment`, :func:`plot_dead_relu`,
  :func:`plot_gradient_flow`: the figures of :mod:`fastnn.diagnose`.
* :func:`plot_lrfind`: the learning-rate range test of :mod:`fastnn.lrfind`.
* :func:`plot_search`: the pictures of a hyperparameter search
  (:meth:`fastnn.tune.SearchResult.plot`).
"""
import math
import os

import numpy as np

__all__ = ["plot_history", "plot_loss", "plot_accuracy", "plot_monitor", "smooth",
           "plot_init_experiment", "plot_dead_relu", "plot_gradient_flow", "plot_lrfind",
           "plot_search"]

HEALTHY_UPDATE_RATIO = 1e-3


def _figure(w, h):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(w, h), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _integer_x(ax):
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _epoch_x(ax, first, last):
    """Integer epoch ticks from ``first`` to ``last``, the last epoch labelled, none beyond it."""
    first, last = int(first), int(last)
    if last <= first:
        ax.set_xticks([first])
        ax.set_xlim(first - 0.5, first + 0.5)
        return
    step = max(1, math.ceil((last - first) / 10))
    ticks = list(range(first, last + 1, step))
    if ticks[-1] != last:
        if last - ticks[-1] <= step / 2 and len(ticks) > 1:
            ticks.pop()
        ticks.append(last)
    ax.set_xticks(ticks)
    pad = 0.03 * (last - first) + 0.2
    ax.set_xlim(first - pad, last + pad)


def _save(fig, path):
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def _floats(seq):
    """A list of floats with None/garbage as NaN (JSON histories may hold null)."""
    out = []
    for v in [] if seq is None else seq:
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            out.append(math.nan)
    return np.asarray(out, dtype=np.float64)


def smooth(values, window=None):
    """Moving average over a trailing window (``window`` default: len/20, at least 1).

    NaNs are skipped (a window of only NaNs gives NaN).  Same length as ``values``.
    """
    v = _floats(values)
    n = len(v)
    if n == 0:
        return v
    if window is None:
        window = max(1, n // 20)
    window = max(1, int(window))
    ok = np.isfinite(v)
    csum = np.concatenate([[0.0], np.cumsum(np.where(ok, v, 0.0))])
    ccnt = np.concatenate([[0], np.cumsum(ok)])
    hi = np.arange(1, n + 1)
    lo = np.maximum(0, hi - window)
    cnt = ccnt[hi] - ccnt[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, (csum[hi] - csum[lo]) / np.maximum(cnt, 1), np.nan)


# ---------------------------------------------------------------- training history

def plot_loss(loss_history, path):
    """Loss per iteration (faint) and its moving average; log y axis when all losses are > 0."""
    loss = _floats(loss_history)
    fig = _figure(8, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    it = np.arange(1, len(loss) + 1)
    if len(loss):
        ax.plot(it, loss, lw=0.6, alpha=0.35, color="C0", label="loss per iteration")
        window = max(1, len(loss) // 20)
        ax.plot(it, smooth(loss, window), lw=1.8, color="C0",
                label=f"moving average ({window} it.)")
        finite = loss[np.isfinite(loss)]
        if finite.size and finite.min() > 0 and finite.max() / finite.min() > 20:
            ax.set_yscale("log")
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no iterations recorded", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xlabel("iteration")
    ax.set_ylabel("training loss")
    ax.set_title("Training loss")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def _accuracy_figure(train_acc, val_acc):
    tr, va = _floats(train_acc), _floats(val_acc)
    fig = _figure(11, 4.5)
    ax, zoom = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.25]})
    n = max(len(tr), len(va))
    for a, skip in ((ax, 0), (zoom, 1 if n > 1 else 0)):
        if len(tr) > skip:
            a.plot(np.arange(skip, len(tr)), tr[skip:], "o-", ms=4, label="train")
        if len(va) > skip:
            a.plot(np.arange(skip, len(va)), va[skip:], "s-", ms=4, label="val")
        a.set_xlabel("epoch (accuracy check)")
        a.grid(alpha=0.3)
        if n:
            _epoch_x(a, 0, n - 1)
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Accuracy")
    if n:
        ax.legend(loc="lower right")
        gap = tr[-1] - va[-1] if len(tr) and len(va) else None
        # the zoom: every check after the first (the first is taken after one iteration)
        later = np.concatenate([tr[1:], va[1:]]) if n > 1 else np.concatenate([tr, va])
        later = later[np.isfinite(later)]
        if later.size:
            lo, hi = float(later.min()), float(later.max())
            pad = max(0.01, 0.08 * (hi - lo))
            zoom.set_ylim(max(0.0, lo - pad), min(1.0 + pad / 2, hi + pad))
            if n > 1:
                _epoch_x(zoom, 1, n - 1)
        title = "Zoom on the epochs after the first"
        if gap is not None and np.isfinite(gap):
            title += f" (final train - val gap {gap:+.3f})"
        zoom.set_title(title)
    else:
        ax.text(0.5, 0.5, "no accuracy checks recorded", ha="center", va="center",
                transform=ax.transAxes)
        zoom.set_title("Zoom")
    fig.tight_layout()
    return fig


def plot_accuracy(train_acc, val_acc, path):
    """Train and validation accuracy per accuracy check (check 0 is after the first iteration):
    the full 0..1 range on the left, and on the right the checks after the first on a
    y axis fitted to them, so the train/val gap near the top is readable."""
    return _save(_accuracy_figure(train_acc, val_acc), path)


def _series(records, section, key, names=None):
    """name -> (epochs, values) over monitor records, skipping None values."""
    out = {}
    for rec in records:
        ep = rec.get("epoch", len(out))
        for name, stats in (rec.get(section) or {}).items():
            if names is not None and name not in names:
                continue
            v = stats.get(key) if isinstance(stats, dict) else None
            if v is None:
                continue
            xs, ys = out.setdefault(name, ([], []))
            xs.append(float(ep))
            ys.append(float(v))
    return out


def plot_monitor(records, path):
    """Per layer over epochs: activation std, dead / saturation fraction, update/weight ratio
    (log axis, with the healthy 1e-3 line) and gradient norm (log axis), from
    :class:`fastnn.monitor.Monitor` records.  Parameters are the weights ``W*``
    when the model has course names (biases start at 0 and have no ratio at first)."""
    records = [r for r in records if isinstance(r, dict)]
    fig = _figure(13, 9)
    axes = fig.subplots(2, 2)
    epochs = [float(r["epoch"]) for r in records if isinstance(r.get("epoch"), (int, float))]

    def _monitor_x(ax):
        if epochs and all(e == int(e) for e in epochs):
            _epoch_x(ax, min(epochs), max(epochs))
        else:
            _integer_x(ax)

    pnames = set()
    for r in records:
        pnames.update((r.get("params") or {}).keys())
    weights = {n for n in pnames if n.startswith("W")} or pnames

    def draw(ax, series, title, ylabel, log=False, style="-"):
        for name, (xs, ys) in series.items():
            ys = np.asarray(ys)
            if log:
                ys = np.where(ys > 0, ys, np.nan)
            ax.plot(xs, ys, style, marker="o", ms=3, label=name)
        ax.set_title(title)
        _monitor_x(ax)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        if log and any(np.any(np.asarray(ys) > 0) for _, ys in series.values()):
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        if series:
            ax.legend(fontsize=7, ncol=2 if len(series) > 6 else 1)
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)

    draw(axes[0, 0], _series(records, "activations", "std"), "Activation std per layer", "std")
    ax = axes[0, 1]
    dead = _series(records, "activations", "dead_fraction")
    sat = _series(records, "activations", "saturation_fraction")
    for name, (xs, ys) in dead.items():
        ax.plot(xs, ys, "-", marker="o", ms=3, label=f"{name} dead")
    for name, (xs, ys) in sat.items():
        ax.plot(xs, ys, "--", marker="s", ms=3, label=f"{name} saturated")
    ax.set_title("Dead (ReLU family) / saturated (tanh, sigmoid) fraction")
    _monitor_x(ax)
    ax.set_xlabel("epoch")
    ax.set_ylabel("fraction")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    if dead or sat:
        ax.legend(fontsize=7, ncol=2 if len(dead) + len(sat) > 6 else 1)
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    ratios = _series(records, "params", "update_ratio", weights)
    draw(axes[1, 0], ratios, "Update / weight ratio (healthy ~1e-3)", "||dW|| / ||W||", log=True)
    axes[1, 0].axhline(HEALTHY_UPDATE_RATIO, color="k", ls=":", lw=1.2, label="1e-3")
    axes[1, 0].set_yscale("log")
    draw(axes[1, 1], _series(records, "params", "grad_norm", weights), "Gradient norm",
         "||dL/dW||", log=True)
    fig.tight_layout()
    return _save(fig, path)


def plot_history(history, outdir):
    """Plot a training history (the dict ``fastnn train`` writes to history.json).

    Parameters
    ----------
    history : dict
        ``loss_history`` (per iteration), ``train_acc_history`` and
        ``val_acc_history`` (per accuracy check), optional ``monitor`` (a list of
        :class:`fastnn.monitor.Monitor` records); other keys are ignored.
    outdir : str
        Created if missing.

    Returns
    -------
    list of str
        ``outdir/loss.png``, ``outdir/accuracy.png`` and, when
        ``history["monitor"]`` is non-empty, ``outdir/monitor.png``.
    """
    if not isinstance(history, dict):
        raise TypeError(f"plot_history: history must be a dict, got {type(history).__name__}")
    os.makedirs(outdir, exist_ok=True)
    paths = [plot_loss(history.get("loss_history") or [], os.path.join(outdir, "loss.png")),
             plot_accuracy(history.get("train_acc_history") or [],
                           history.get("val_acc_history") or [],
                           os.path.join(outdir, "accuracy.png"))]
    monitor = history.get("monitor") or []
    if monitor:
        paths.append(plot_monitor(monitor, os.path.join(outdir, "monitor.png")))
    return paths


# ---------------------------------------------------------------- diagnose experiments

def plot_init_experiment(result, path):
    """Figure of :func:`fastnn.diagnose.init_tanh` / :func:`~fastnn.diagnose.init_relu`:
    activation mean and std per layer for each init (top), and one row of per-layer
    histograms per init, all on one x range and one log y axis (fraction per bin)."""
    return _save(_init_figure(result), path)


def _init_figure(result):
    inits = result["inits"]
    n_layers = result["n_layers"]
    names = list(inits)
    fig = _figure(max(12, 1.6 * n_layers), 3.2 + 1.7 * len(names))
    grid = fig.add_gridspec(1 + len(names), n_layers, height_ratios=[2.2] + [1] * len(names))
    ax_mean = fig.add_subplot(grid[0, : n_layers // 2])
    ax_std = fig.add_subplot(grid[0, n_layers // 2:])
    layers = np.arange(1, n_layers + 1)
    for name in names:
        ax_mean.plot(layers, inits[name]["mean"], "o-", label=f"{name}: {inits[name]['description']}")
        std = np.asarray(inits[name]["std"], dtype=np.float64)
        ax_std.plot(layers, np.where(std > 0, std, np.nan), "o-", label=name)
    ax_mean.set_title(f"{result['activation']}: activation mean per layer")
    ax_std.set_title(f"{result['activation']}: activation std per layer")
    ax_std.set_yscale("log")
    for ax in (ax_mean, ax_std):
        ax.set_xlabel("layer")
        ax.set_xticks(layers)
        ax.grid(alpha=0.3)
    ax_mean.legend(fontsize=8)
    # one x range and one (log) y range for every histogram, so that a layer whose values
    # collapse towards zero or pile up at the saturation limits looks different at a glance
    hists = [h for name in names for h in inits[name]["hist"][:n_layers]]
    lo = min((h["edges"][0] for h in hists if h["edges"]), default=0.0)
    hi = max((h["edges"][-1] for h in hists if h["edges"]), default=1.0)
    first = None
    for row, name in enumerate(names, start=1):
        for j, h in enumerate(inits[name]["hist"][:n_layers]):
            ax = fig.add_subplot(grid[row, j], sharex=first, sharey=first)
            first = first or ax
            counts = np.asarray(h["counts"], dtype=np.float64)
            edges = np.asarray(h["edges"], dtype=np.float64)
            total = counts.sum()
            frac = counts / total if total else counts
            ax.bar(edges[:-1], np.where(frac > 0, frac, np.nan), width=np.diff(edges),
                   align="edge", color=f"C{row - 1}")
            ax.tick_params(labelsize=6)
            if j:
                ax.tick_params(labelleft=False)
            ax.text(0.97, 0.92, f"std {inits[name]['std'][j]:.2g}", transform=ax.transAxes,
                    ha="right", va="top", fontsize=7,
                    bbox={"fc": "white", "alpha": 0.75, "lw": 0, "pad": 1})
            if row == 1:
                ax.set_title(f"layer {j + 1}", fontsize=8)
            if j == 0:
                ax.set_ylabel(f"{name}\nfraction", fontsize=8)
    if first is not None:
        first.set_yscale("log")
        first.set_ylim(1e-4, 1.5)
        first.set_xlim(lo, hi)
    fig.suptitle(f"{result['experiment']}: {n_layers} x (Linear({result['hidden']}) - "
                 f"{result['activation']}), unit-Gaussian input; every histogram on the same "
                 f"axes (fraction of values per bin, log scale)")
    fig.tight_layout()
    return fig


def plot_dead_relu(result, path):
    """Figure of :func:`fastnn.diagnose.dead_relu`: dead fraction per hidden layer for each
    learning rate (bars) and the training loss curves (log y axis, so that a divergent
    rate's spike does not flatten the others)."""
    return _save(_dead_relu_figure(result), path)


def _dead_relu_figure(result):
    runs = result["runs"]
    fig = _figure(12, 4.5)
    ax, ax_loss = fig.subplots(1, 2)
    n = len(result["hidden"])
    width = 0.8 / max(1, len(runs))
    x = np.arange(1, n + 1)
    for k, r in enumerate(runs):
        ax.bar(x + (k - (len(runs) - 1) / 2) * width, r["dead_fraction"], width,
               label=f"lr {r['lr']:g} (val acc {r['val_acc']:.0%})")
        ax_loss.plot(np.arange(1, len(r["loss"]) + 1), smooth(r["loss"], 10),
                     label=f"lr {r['lr']:g}")
    ax.set_xticks(x)
    ax.set_xlabel("hidden layer")
    ax.set_ylabel("dead fraction (never active on the training set)")
    ax.set_ylim(0, 1)
    ax.set_title("Dead ReLUs after training")
    ax.legend()
    ax.grid(alpha=0.3, axis="y")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("training loss (moving average, log scale)")
    ax_loss.set_yscale("log")
    ax_loss.set_title(f"{result['optimizer']}, {result['steps']} steps")
    ax_loss.legend()
    ax_loss.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def plot_gradient_flow(result, path):
    """Figure of :func:`fastnn.diagnose.gradient_flow`: ||dL/dW|| per layer, log axis."""
    fig = _figure(8, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    for name, r in result["nets"].items():
        g = np.asarray(r["grad_norm"], dtype=np.float64)
        ax.plot(np.arange(1, len(g) + 1), np.where(g > 0, g, np.nan), "o-",
                label=f"{name} ({r['init']} init)")
    ax.set_yscale("log")
    ax.set_xlabel("layer (1 = input side)")
    ax.set_ylabel("||dL/dW||")
    ax.set_title(f"Gradient flow at init: {result['n_layers']} layers of {result['hidden']} units")
    ax.set_xticks(np.arange(1, result["n_layers"] + 1))
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return _save(fig, path)


# ---------------------------------------------------------------- learning-rate range test

def plot_lrfind(result, path):
    """Figure of :func:`fastnn.lrfind.lrfind`: against the learning rate (log axis), the
    loss (raw and smoothed), the dead fraction of every ReLU-family layer and the
    update/weight ratio of every weight (log axis, healthy 1e-3 line); the suggested
    rate is marked on all three panels.

    ``result`` is an :class:`fastnn.lrfind.LRFindResult` or its ``to_dict()``.
    """
    r = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    lrs = _floats(r["lrs"])
    fig = _figure(8, 9)
    ax_loss, ax_dead, ax_ratio = fig.subplots(3, 1, sharex=True)
    losses, sm = _floats(r["losses"]), _floats(r["smoothed"])
    ax_loss.plot(lrs, losses, lw=0.6, alpha=0.35, color="C0", label="mini-batch loss")
    ax_loss.plot(lrs, sm, lw=1.8, color="C0", label="smoothed loss")
    finite = sm[np.isfinite(sm)]
    if finite.size:
        lo, first = float(finite.min()), float(finite[0])
        top = max(first, lo) * 1.3
        ax_loss.set_ylim(max(0.0, lo - 0.1 * (top - lo)), top)
    ax_loss.set_ylabel("training loss")
    ax_loss.set_title(f"Learning-rate range test ({r.get('update_rule', '')}): "
                      f"suggested lr {r['suggested_lr']:.2e}")
    for name, series in (r.get("dead_fraction") or {}).items():
        ax_dead.plot(lrs[:len(series)], _floats(series), label=name)
    if not r.get("dead_fraction"):
        ax_dead.text(0.5, 0.5, "no ReLU-family layers", ha="center", va="center",
                     transform=ax_dead.transAxes)
    ax_dead.set_ylim(-0.02, 1.02)
    ax_dead.set_ylabel("dead fraction")
    for name, series in (r.get("update_ratio") or {}).items():
        v = _floats(series)
        ax_ratio.plot(lrs[:len(v)], np.where(v > 0, v, np.nan), label=name)
    ax_ratio.axhline(HEALTHY_UPDATE_RATIO, color="k", ls=":", lw=1.2, label="1e-3 (healthy)")
    ax_ratio.set_yscale("log")
    ax_ratio.set_ylabel("update / weight ratio")
    ax_ratio.set_xlabel("learning rate")
    ax_ratio.set_xscale("log")
    for ax in (ax_loss, ax_dead, ax_ratio):
        ax.axvline(r["suggested_lr"], color="C3", ls="--", lw=1.5,
                   label=f"suggested {r['suggested_lr']:.1e}" if ax is ax_loss else None)
        ax.grid(alpha=0.3, which="both")
        handles, _ = ax.get_legend_handles_labels()
        if handles:
            ax.legend(fontsize=7, ncol=2 if len(handles) > 6 else 1)
    fig.tight_layout()
    return _save(fig, path)
# ------------------------------------------------------------ hyperparameter search

_STAGE_MARKERS = "osD^v<>p"


def _search_params(result):
    """(name, log axis, numeric) of every searched parameter (a dimension in some stage and
    more than one value among the trials); per-stage constants such as ``epochs`` are not."""
    from fastnn.tune import Space
    from fastnn.tune._spaces import _inner
    spaces = list(result.stages) + [result.space]
    out = []
    for p in result.param_names():
        dims = [_inner(s[p]) for s in spaces if p in s and isinstance(s[p], Space)]
        if not dims:
            continue
        values = [t["config"][p] for t in result.trials if p in t["config"]]
        if len({repr(v) for v in values}) <= 1:
            continue
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        out.append((p, any(d.log for d in dims), numeric))
    return out


def _stage_style(stage):
    return _STAGE_MARKERS[stage % len(_STAGE_MARKERS)], f"C{stage % 10}"


def plot_search(result, outdir):
    """The pictures of a :class:`fastnn.tune.SearchResult`, as PNG files in ``outdir``.

    * ``<metric>_vs_<param>.png`` for every searched parameter: the metric of
      each trial over the parameter (log x axis where it was sampled in log
      space, categories for a choice); one colour and marker per stage,
      trials stopped early hollow, the best trial a red star;
    * ``lr_reg.png``: learning rate x regularisation (else the first two
      numeric parameters), coloured by the metric, one panel per stage, each
      with its own colour scale (a 1-epoch stage and a 4-epoch stage are not
      on one scale); the best trial a red star;
    * ``learning_curves.png``: every trial's validation accuracy per epoch
      (``val_acc_history``), one panel per stage; trials stopped early grey
      and ending in an x, failed ones red, the best one thick.

    Returns the paths written.
    """
    os.makedirs(outdir, exist_ok=True)
    metric = result.metric
    scored = result.ranked()
    best = result.best_trial
    stages = sorted({t["stage"] for t in result.trials})
    params = _search_params(result)
    paths = []

    def safe(name):
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name))

    for p, log, numeric in params:
        have = [t for t in scored if p in t["config"]]
        if not have:
            continue
        fig = _figure(5.5, 3.8)
        ax = fig.add_subplot()
        cats = None if numeric else sorted({str(t["config"][p]) for t in have})

        def x_of(t):
            return t["config"][p] if numeric else cats.index(str(t["config"][p]))

        for s in stages:
            marker, colour = _stage_style(s)
            for stopped in (False, True):
                pts = [t for t in have if t["stage"] == s and (t["status"] == "stopped") == stopped]
                if not pts:
                    continue
                ax.scatter([x_of(t) for t in pts], [t["metrics"][metric] for t in pts], s=22,
                           marker=marker, alpha=0.85,
                           facecolors="none" if stopped else colour, edgecolors=colour,
                           label=f"stage {s}" + (" (stopped early)" if stopped else ""))
        if best is not None and p in best["config"]:
            ax.scatter([x_of(best)], [best["metrics"][metric]], marker="*", s=200, c="red",
                       edgecolors="k", zorder=5, label="best")
        if log:
            ax.set_xscale("log")
        if cats is not None:
            ax.set_xticks(range(len(cats)), cats)
        ax.set_xlabel(p + (" (log scale)" if log else ""))
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} over {p} ({len(have)} trials)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        paths.append(_save(fig, os.path.join(outdir, f"{safe(metric)}_vs_{safe(p)}.png")))

    numeric_params = [(p, log) for p, log, num in params if num]
    names = [p for p, _ in numeric_params]
    pair = ("lr", "reg") if {"lr", "reg"} <= set(names) else tuple(names[:2])
    if len(pair) == 2 and scored:
        a, b = pair
        logs = dict(numeric_params)
        panels = [s for s in stages if any(t["stage"] == s for t in scored)]
        fig = _figure(4.6 * len(panels), 4)
        for n, s in enumerate(panels):
            ax = fig.add_subplot(1, len(panels), n + 1)
            pts = [t for t in scored if t["stage"] == s and a in t["config"] and b in t["config"]]
            marker, _ = _stage_style(s)
            sc = ax.scatter([t["config"][a] for t in pts], [t["config"][b] for t in pts],
                            c=[t["metrics"][metric] for t in pts], cmap="viridis", s=30,
                            marker=marker, edgecolors="k", linewidths=0.3)
            fig.colorbar(sc, ax=ax, label=f"{metric} (stage {s})")
            if best is not None and best["stage"] == s:
                ax.scatter([best["config"][a]], [best["config"][b]], marker="*", s=220, c="red",
                           edgecolors="k", zorder=5, label="best")
                ax.legend(fontsize=7)
            if logs.get(a):
                ax.set_xscale("log")
            if logs.get(b):
                ax.set_yscale("log")
            ax.set_xlabel(a)
            ax.set_ylabel(b)
            ax.set_title(f"stage {s}: {a} x {b}")
        fig.tight_layout()
        paths.append(_save(fig, os.path.join(outdir, f"{safe(a)}_{safe(b)}.png")))

    curves = [t for t in result.trials if t["metrics"].get("val_acc_history")]
    if curves:
        panels = [s for s in stages if any(t["stage"] == s for t in curves)]
        fig = _figure(5.2 * len(panels), 3.8)
        for n, s in enumerate(panels):
            ax = fig.add_subplot(1, len(panels), n + 1)
            for t in (t for t in curves if t["stage"] == s):
                y = _floats(t["metrics"]["val_acc_history"])
                x = np.arange(1, len(y) + 1)
                if t is best:
                    continue
                if t["status"] == "stopped":
                    ax.plot(x, y, color="0.6", lw=0.8, ls="--")
                    ax.plot(x[-1:], y[-1:], "x", color="0.4", ms=5)
                elif t["status"] == "failed":
                    ax.plot(x, y, color="tab:red", lw=0.8)
                else:
                    ax.plot(x, y, color="C0", lw=1.0, alpha=0.8)
            if best is not None and best["stage"] == s and best in curves:
                y = _floats(best["metrics"]["val_acc_history"])
                ax.plot(np.arange(1, len(y) + 1), y, color="k", lw=2.5, label="best")
            ax.plot([], [], color="C0", label="ran to the end")
            ax.plot([], [], color="0.6", ls="--", marker="x", label="stopped early")
            ax.plot([], [], color="tab:red", label="failed")
            _integer_x(ax)
            ax.set_xlabel("epoch")
            ax.set_ylabel("validation accuracy")
            ax.set_title(f"stage {s}: learning curves")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        paths.append(_save(fig, os.path.join(outdir, "learning_curves.png")))
    return paths
