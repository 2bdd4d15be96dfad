"""Plots of training histories and of the diagnostic experiments (PNG files).

matplotlib is imported inside each function and drawn through its Agg canvas
(``matplotlib.figure.Figure`` + ``FigureCanvasAgg``), never through pyplot: no
window opens, no global backend is switched, no figure is left registered.
Every function returns the path(s) it wrote.

* :func:`plot_history`: ``loss.png``, ``accuracy.png`` and (with monitor
  records) ``monitor.png`` from the dict ``fastnn train`` writes to history.json.
* :func:`plot_init_experiment`, :func:`plot_dead_relu`,
  :func:`plot_gradient_flow`: the figures of :mod:`fastnn.diagnose`.
* :func:`plot_search`: the pictures of a hyperparameter search
  (:meth:`fastnn.tune.SearchResult.plot`).
"""
import math
import os

import numpy as np

__all__ = ["plot_history", "plot_loss", "plot_accuracy", "plot_monitor", "smooth",
           "plot_init_experiment", "plot_dead_relu", "plot_gradient_flow", "plot_search"]

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


def plot_accuracy(train_acc, val_acc, path):
    """Train and validation accuracy per accuracy check (check 0 is after the first iteration)."""
    tr, va = _floats(train_acc), _floats(val_acc)
    fig = _figure(8, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    if len(tr):
        ax.plot(np.arange(len(tr)), tr, "o-", label="train")
    if len(va):
        ax.plot(np.arange(len(va)), va, "s-", label="val")
    if len(tr) or len(va):
        ax.legend()
        gap = tr[-1] - va[-1] if len(tr) and len(va) else None
        if gap is not None and np.isfinite(gap):
            ax.set_title(f"Accuracy (final train - val gap {gap:+.3f})")
        else:
            ax.set_title("Accuracy")
    else:
        ax.set_title("Accuracy")
        ax.text(0.5, 0.5, "no accuracy checks recorded", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xlabel("epoch (accuracy check)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    _integer_x(ax)
    fig.tight_layout()
    return _save(fig, path)


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
        _integer_x(ax)
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
    _integer_x(ax)
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
    histograms per init."""
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
    for row, name in enumerate(names, start=1):
        for j, h in enumerate(inits[name]["hist"][:n_layers]):
            ax = fig.add_subplot(grid[row, j])
            counts = np.asarray(h["counts"], dtype=np.float64)
            edges = np.asarray(h["edges"], dtype=np.float64)
            ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color=f"C{row - 1}")
            ax.set_yticks([])
            ax.tick_params(labelsize=6)
            if row == 1:
                ax.set_title(f"layer {j + 1}", fontsize=8)
            if j == 0:
                ax.set_ylabel(name, fontsize=9)
    fig.suptitle(f"{result['experiment']}: {n_layers} x (Linear({result['hidden']}) - "
                 f"{result['activation']}), unit-Gaussian input")
    fig.tight_layout()
    return _save(fig, path)


def plot_dead_relu(result, path):
    """Figure of :func:`fastnn.diagnose.dead_relu`: dead fraction per hidden layer for each
    learning rate (bars) and the training loss curves."""
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
    ax_loss.set_ylabel("training loss (moving average)")
    ax_loss.set_title(f"{result['optimizer']}, {result['steps']} steps")
    ax_loss.legend()
    ax_loss.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


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
