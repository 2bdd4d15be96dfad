"""The lecture's diagnostic experiments, run with fastnn's own layers and ops.

Each experiment returns its numbers as a plain (JSON-serialisable) dict and,
given ``outdir``, writes a PNG (path under the ``"png"`` key):

* :func:`init_tanh` ("init-tanh"): activation statistics of a deep tanh net
  (10 layers of 500 units, unit-Gaussian inputs) for small random N(0, 0.01^2),
  large N(0, 1), Xavier and He weights.  Small weights collapse the activations
  to zero layer by layer; large ones saturate tanh at +-1; Xavier keeps them
  healthy; He (made for ReLU) is too large for tanh and saturates part of them.
* :func:`init_relu` ("init-relu"): the same with ReLU: Xavier halves the variance
  at every layer (the activations shrink towards zero), He keeps it.
* :func:`dead_relu` ("dead-relu"): a small ReLU MLP trained on the built-in
  digits for a few hundred Adam steps at a sane and at a too-high learning
  rate; the per-layer fraction of dead units (never active on the training
  set) for both.
* :func:`gradient_flow` ("gradient-flow"): per-layer weight-gradient norms of a
  deep net at initialisation, sigmoid (Xavier) vs ReLU (He): the sigmoid net's
  first layers get gradients orders of magnitude smaller (vanishing gradients).

:func:`run` runs one or all of them; :func:`format_result` prints one as a table.
"""
import math
import os

import numpy as np

from fastnn import init, layers as L, ops, optim
from fastnn.monitor import activation_stats

__all__ = ["EXPERIMENTS", "init_tanh", "init_relu", "dead_relu", "gradient_flow", "run",
           "format_result"]

# init-relu's common histogram range [0, RELU_HIST_MAX]: He keeps the std about 0.8 with
# unit-Gaussian inputs, so values above 5 are rare (under 0.1%)
RELU_HIST_MAX = 5.0

# init name -> (description, filler(w, rng))
_INITS = {
    "small": ("N(0, 0.01^2)", lambda w, rng: init.normal(w, rng, std=0.01)),
    "large": ("N(0, 1)", lambda w, rng: init.normal(w, rng, std=1.0)),
    "xavier": ("Xavier N(0, 1/fan_in)", lambda w, rng: init.xavier_normal(w, rng, mode="fan_in")),
    "he": ("He N(0, 2/fan_in)", lambda w, rng: init.kaiming_normal(w, rng, nonlinearity="relu")),
}


def _check_inits(inits, fn):
    inits = tuple(inits)
    bad = [i for i in inits if i not in _INITS]
    if bad or not inits:
        raise ValueError(f"{fn}: inits must be a non-empty subset of {list(_INITS)}, got {inits!r}")
    return inits


def _positive(v, name, fn):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{fn}: {name} must be an integer >= 1, got {v!r}")
    return int(v)


def _deep_net(n_layers, width, act, fill, rng, dtype, out_dim=None):
    """n_layers x (Linear(width, width) - act), or with ``out_dim`` a final Linear(width, out_dim)
    replacing the last activation; weights filled by ``fill(w, rng)``, biases zero."""
    layers = []
    for i in range(n_layers):
        last = out_dim is not None and i == n_layers - 1
        lin = L.Linear(width, out_dim if last else width, dtype=dtype,
                       init=fill, seed=rng)
        layers.append(lin)
        if not last:
            layers.append(act())
    return L.Sequential(layers)


def _activation_run(name, act, hist_range, inits, n_layers, hidden, n_samples, seed, hist_bins):
    fn = name.replace("-", "_")
    inits = _check_inits(inits, fn)
    n_layers = _positive(n_layers, "n_layers", fn)
    hidden = _positive(hidden, "hidden", fn)
    n_samples = _positive(n_samples, "n_samples", fn)
    X = np.random.default_rng(seed).standard_normal((n_samples, hidden))
    result = {"experiment": name, "activation": act.__name__, "n_layers": n_layers,
              "hidden": hidden, "n_samples": n_samples, "seed": seed,
              "input_std": float(X.std()), "inits": {}}
    for k, init_name in enumerate(inits):
        rng = np.random.default_rng([seed, k + 1])
        net = _deep_net(n_layers, hidden, act, _INITS[init_name][1], rng, np.float64)
        h = X
        per_layer = []
        for layer in net.layers:
            out = layer.forward(h)
            if not isinstance(layer, L.Linear):
                per_layer.append(activation_stats(h, out, layer, hist_bins, hist_range))
            h = out
        result["inits"][init_name] = {
            "description": _INITS[init_name][0],
            "mean": [s["mean"] for s in per_layer],
            "std": [s["std"] for s in per_layer],
            "dead_fraction": [s["dead_fraction"] for s in per_layer],
            "saturation_fraction": [s["saturation_fraction"] for s in per_layer],
            "hist": [s["hist"] for s in per_layer],
        }
    return result


def init_tanh(seed=0, n_layers=10, hidden=500, n_samples=1000,
              inits=("small", "large", "xavier", "he"), hist_bins=30, outdir=None):
    """Activation statistics of a deep tanh net under different weight inits.

    Parameters
    ----------
    seed : int
        Seeds the input batch and the weights.
    n_layers, hidden, n_samples : int
        ``n_layers`` x (Linear(hidden, hidden) - tanh) on ``n_samples`` unit
        Gaussian inputs (the lecture: 10 layers of 500 units).
    inits : subset of ("small", "large", "xavier", "he")
    hist_bins : int
        Histogram bins over [-1, 1].
    outdir : str, optional
        Write ``init-tanh.png`` there.

    Returns
    -------
    dict
        ``inits[name]`` has per-layer lists ``mean``, ``std``,
        ``saturation_fraction`` (``|a| > 0.99``), ``hist`` (counts, edges).
    """
    result = _activation_run("init-tanh", L.Tanh, (-1.0, 1.0), inits, n_layers, hidden,
                             n_samples, seed, hist_bins)
    return _with_png(result, outdir, "init-tanh.png", "plot_init_experiment")


def init_relu(seed=0, n_layers=10, hidden=500, n_samples=1000, inits=("xavier", "he"),
              hist_bins=30, outdir=None):
    """Activation statistics of a deep ReLU net, Xavier vs He (see :func:`init_tanh`).

    ``inits[name]`` also has the per-layer ``dead_fraction``.  Every histogram
    has the same bins, over ``[0, RELU_HIST_MAX]`` (values above it, under 0.1%
    of them for He, are not counted), so the layers and inits can be compared.
    """
    result = _activation_run("init-relu", L.ReLU, (0.0, RELU_HIST_MAX), inits, n_layers,
                             hidden, n_samples, seed, hist_bins)
    return _with_png(result, outdir, "init-relu.png", "plot_init_experiment")


def _digits_flat(dtype):
    from fastnn.data import load_builtin
    d = load_builtin("digits", dtype=dtype)
    X = d["X_train"].reshape(len(d["X_train"]), -1)
    Xv = d["X_val"].reshape(len(d["X_val"]), -1)
    mean = X.mean(axis=0)
    return X - mean, d["y_train"], Xv - mean, d["y_val"]


def _dead_per_layer(net, X):
    """Dead fraction of every ReLU of ``net`` over all of X (eval mode)."""
    net.eval()
    dead, h = [], X
    for layer in net.layers:
        out = layer.forward(h)
        if isinstance(layer, L.ReLU):
            dead.append(activation_stats(h, out, layer, 1)["dead_fraction"])
        h = out
    net.train()
    return dead, h


def dead_relu(seed=0, lrs=(1e-3, 5e-2, 2e-1), steps=300, hidden=(100, 100, 100), batch_size=64,
              outdir=None):
    """Dead ReLUs after training at a sane and at a too-high learning rate.

    A ReLU MLP (64 - hidden... - 10, He init) is trained on the built-in digits
    (mean-centred pixels) with Adam for ``steps`` mini-batch steps at each
    learning rate in ``lrs``, from the same initial weights and batches.  A unit
    is dead when it is inactive (input <= 0) on every training image: it gets no
    gradient and cannot recover.

    Returns
    -------
    dict
        ``runs``: one entry per learning rate with ``lr``, ``dead_fraction``
        (per hidden layer, after training), ``dead_at_init``, ``loss`` (per step),
        ``final_loss`` (mean of the last 20 steps), ``val_acc``.
    """
    steps = _positive(steps, "steps", "dead_relu")
    batch_size = _positive(batch_size, "batch_size", "dead_relu")
    hidden = [_positive(h, "hidden", "dead_relu") for h in hidden]
    lrs = [float(lr) for lr in lrs]
    if not lrs or any(not lr > 0 for lr in lrs):
        raise ValueError(f"dead_relu: lrs must be positive learning rates, got {lrs!r}")
    X, y, Xv, yv = _digits_flat(np.float64)
    dims = [X.shape[1]] + hidden + [10]
    result = {"experiment": "dead-relu", "hidden": hidden, "steps": steps,
              "batch_size": batch_size, "optimizer": "adam", "seed": seed, "runs": []}
    for lr in lrs:
        rng = np.random.default_rng(seed)  # same weights and batches for every lr
        layers = []
        for i in range(len(dims) - 1):
            layers.append(L.Linear(dims[i], dims[i + 1], seed=rng, dtype=np.float64))
            if i < len(dims) - 2:
                layers.append(L.ReLU())
        net = L.Sequential(layers)
        dead0, _ = _dead_per_layer(net, X)
        opt = optim.Adam(net, lr=lr)
        losses = []
        with np.errstate(all="ignore"):
            for _ in range(steps):
                idx = rng.integers(0, len(X), batch_size)
                scores = net.forward(X[idx])
                loss, dscores = ops.softmax_loss(scores, y[idx])
                opt.zero_grad()
                net.backward(dscores)
                opt.step()
                losses.append(float(loss))
            dead, scores = _dead_per_layer(net, X)
            _, val_scores = _dead_per_layer(net, Xv)
        tail = losses[-20:]
        result["runs"].append({
            "lr": lr, "dead_fraction": dead, "dead_at_init": dead0, "loss": losses,
            "final_loss": float(np.mean(tail)),
            "val_acc": float(np.mean(np.argmax(val_scores, axis=1) == yv)),
        })
    return _with_png(result, outdir, "dead-relu.png", "plot_dead_relu")


def gradient_flow(seed=0, n_layers=10, hidden=100, n_samples=256, num_classes=10,
                  activations=("sigmoid", "relu"), outdir=None):
    """Per-layer weight-gradient norms of a deep net at initialisation.

    For each activation, a net of ``n_layers`` Linear layers (``hidden`` units,
    the activation after all but the last; sigmoid and tanh get Xavier
    weights, relu He weights, biases zero) takes one softmax-loss backward pass
    on unit-Gaussian inputs with random labels.

    Returns
    -------
    dict
        ``nets[activation]``: ``grad_norm`` and ``weight_norm`` per Linear layer
        (index 0 is the first layer), ``first_over_last`` (gradient norm of the
        first layer / the last hidden one), ``loss``.
    """
    acts = {"sigmoid": (L.Sigmoid, "xavier"), "tanh": (L.Tanh, "xavier"), "relu": (L.ReLU, "he")}
    activations = tuple(activations)
    bad = [a for a in activations if a not in acts]
    if bad or not activations:
        raise ValueError(f"gradient_flow: activations must be a non-empty subset of "
                         f"{list(acts)}, got {activations!r}")
    n_layers = _positive(n_layers, "n_layers", "gradient_flow")
    if n_layers < 2:
        raise ValueError(f"gradient_flow: n_layers must be >= 2, got {n_layers}")
    hidden = _positive(hidden, "hidden", "gradient_flow")
    n_samples = _positive(n_samples, "n_samples", "gradient_flow")
    data = np.random.default_rng(seed)
    X = data.standard_normal((n_samples, hidden))
    y = data.integers(0, num_classes, n_samples)
    result = {"experiment": "gradient-flow", "n_layers": n_layers, "hidden": hidden,
              "n_samples": n_samples, "seed": seed, "nets": {}}
    for k, name in enumerate(activations):
        act, init_name = acts[name]
        rng = np.random.default_rng([seed, k + 1])
        net = _deep_net(n_layers, hidden, act, _INITS[init_name][1], rng, np.float64,
                        out_dim=num_classes)
        loss, dscores = ops.softmax_loss(net.forward(X), y)
        net.zero_grad()
        net.backward(dscores)
        lins = [layer for layer in net.layers if isinstance(layer, L.Linear)]
        g = [float(np.linalg.norm(layer.grads["w"])) for layer in lins]
        result["nets"][name] = {
            "init": init_name,
            "grad_norm": g,
            "weight_norm": [float(np.linalg.norm(layer.params["w"])) for layer in lins],
            "first_over_last": g[0] / g[-2] if g[-2] > 0 else math.inf,
            "loss": float(loss),
        }
    return _with_png(result, outdir, "gradient-flow.png", "plot_gradient_flow")


def _with_png(result, outdir, filename, plotter):
    if outdir is not None:
        from fastnn import plots
        os.makedirs(outdir, exist_ok=True)
        result["png"] = getattr(plots, plotter)(result, os.path.join(outdir, filename))
    return result


EXPERIMENTS = {
    "init-tanh": init_tanh,
    "init-relu": init_relu,
    "dead-relu": dead_relu,
    "gradient-flow": gradient_flow,
}


def run(experiment="all", outdir=None, seed=0):
    """Run one experiment (a key of :data:`EXPERIMENTS`) or ``"all"``; returns name -> result."""
    if experiment != "all" and experiment not in EXPERIMENTS:
        raise ValueError(f"run: experiment must be 'all' or one of {list(EXPERIMENTS)}, "
                         f"got {experiment!r}")
    names = list(EXPERIMENTS) if experiment == "all" else [experiment]
    return {name: EXPERIMENTS[name](seed=seed, outdir=outdir) for name in names}


# ---------------------------------------------------------------- text tables

def _table(header, rows):
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.rjust(w) for c, w in zip(r, widths))  # noqa: E731
    return "\n".join([fmt(cells[0]), fmt(["-" * w for w in widths])] + [fmt(r) for r in cells[1:]])


def _g(v):
    return "-" if v is None else f"{v:.3g}"


def format_result(result):
    """A small text table of one experiment's numbers (what ``fastnn diagnose`` prints)."""
    name = result["experiment"]
    if name in ("init-tanh", "init-relu"):
        relu = name == "init-relu"
        lines = [f"{name}: {result['n_layers']} x (Linear({result['hidden']}) - "
                 f"{result['activation']}), {result['n_samples']} unit-Gaussian inputs; "
                 f"activation std per layer ({'dead' if relu else 'saturated'} fraction)"]
        header = ["init"] + [f"L{i + 1}" for i in range(result["n_layers"])]
        rows = []
        for init_name, r in result["inits"].items():
            frac = r["dead_fraction"] if relu else r["saturation_fraction"]
            rows.append([init_name] + [f"{s:.2g} ({f:.0%})" for s, f in zip(r["std"], frac)])
        return "\n".join(lines + [_table(header, rows)])
    if name == "dead-relu":
        runs = result["runs"]
        lines = [f"dead-relu: MLP 64-{'-'.join(map(str, result['hidden']))}-10 on digits, "
                 f"{result['steps']} Adam steps; dead fraction per hidden layer (training set)"]
        header = ["lr"] + [f"L{i + 1}" for i in range(len(result["hidden"]))] + [
            "at init", "final loss", "val acc"]
        rows = [[f"{r['lr']:g}"] + [f"{d:.0%}" for d in r["dead_fraction"]]
                + [f"{max(r['dead_at_init']):.0%}", f"{r['final_loss']:.3f}",
                   f"{r['val_acc']:.1%}"] for r in runs]
        return "\n".join(lines + [_table(header, rows)])
    if name == "gradient-flow":
        nets = result["nets"]
        lines = [f"gradient-flow: {result['n_layers']} Linear layers of {result['hidden']} units "
                 f"at init; ||dL/dW|| per layer (first layer / last hidden layer)"]
        header = ["activation"] + [f"W{i + 1}" for i in range(result["n_layers"])] + ["ratio"]
        rows = [[f"{a} ({r['init']})"] + [f"{g:.2e}" for g in r["grad_norm"]]
                + [_g(r["first_over_last"])] for a, r in nets.items()]
        return "\n".join(lines + [_table(header, rows)])
    raise ValueError(f"format_result: unknown experiment {name!r}")
