"""Training diagnostics: the lecture's "babysitting the learning process", measured.

A :class:`Monitor` watches a model while it trains:

* after every optimiser update (:meth:`Monitor.observe_update`): per parameter,
  the gradient L2 norm, the weight L2 norm and the update/weight ratio
  ``||w_new - w_old|| / ||w_old||`` (about 1e-3 is healthy; much larger means the
  learning rate is too high, much smaller that it is too low);
* once per epoch (:meth:`Monitor.observe_epoch`): a forward pass of a fixed probe
  batch in evaluation mode, recording for every activation layer the mean, std
  and histogram of its output, the fraction of dead units (ReLU family) and the
  fraction of saturated values (tanh, sigmoid).

Each epoch's record is a plain, JSON-serialisable dict appended to
``Monitor.history``; :func:`fastnn.plots.plot_history` draws them.

Example::

    mon = Monitor()
    before = {k: w.copy() for k, w in model.params.items()}
    loss, grads = model.loss(X_batch, y_batch)
    ...update model.params...
    mon.observe_update(model, grads, before)
    record = mon.observe_epoch(model, X_val, epoch=1)
    print(mon.summary(record))

Definitions
-----------
dead fraction
    For the ReLU family (ReLU, LeakyReLU, PReLU, ELU, SELU, GELU, SiLU,
    Softplus): the fraction of units whose *input* is ``<= 0`` for every probe
    sample.  A unit is a feature of a (N, D) activation and a channel of a
    (N, C, H, W) one (in general: axis 1, all other axes reduced).  For ReLU
    such a unit has zero gradient on the whole probe batch: it is dead; for the
    leaky variants it only ever sees the small negative-side slope.  ``None``
    for tanh and sigmoid.
saturation fraction
    The fraction of output values with ``|a| > 0.99`` (tanh) or ``a < 0.01`` or
    ``a > 0.99`` (sigmoid), where the local gradient is below 0.02.  ``None``
    for the other activations.
update ratio
    ``||w_new - w_old|| / ||w_old||`` over the whole parameter array; ``None``
    when ``||w_old|| == 0`` (a bias still at its zero init), where the ratio is
    undefined.
"""
import math

import numpy as np

from fastnn import layers as L

__all__ = ["Monitor", "activation_stats", "iter_layers"]

# activations whose dead fraction is measured (input <= 0 on every probe sample)
_RELU_LIKE = (L.ReLU, L.LeakyReLU, L.PReLU, L.ELU, L.SELU, L.GELU, L.SiLU, L.Softplus)
_ACTIVATIONS = (L._Activation, L.PReLU)
SATURATION = 0.99  # tanh |a| > 0.99; sigmoid a < 1 - 0.99 or a > 0.99
# advice thresholds of Monitor.summary / Monitor.advice.  Dead units: the lecture's example
# of a network hurt by a too-high learning rate has 40% dead; 10-20% is common and harmless.
DEAD_THRESHOLD = 0.4
SATURATION_THRESHOLD = 0.3
HEALTHY_RATIO = 1e-3
RATIO_BAND = (1e-4, 1e-2)        # a factor 10 either side of the healthy 1e-3
MIN_UPDATES_FOR_RATIO = 2        # the first observed update is not judged (see advice)


def _norm(a):
    """L2 norm of a whole array, accumulated in float64."""
    a = np.asarray(a)
    return math.sqrt(float(np.sum(np.square(a, dtype=np.float64))))


def iter_layers(layer, prefix=""):
    """Yield ``(path, layer)`` for ``layer`` and everything nested in it, depth first.

    Paths follow :class:`fastnn.layers.Sequential`'s parameter names: ``"3"`` is the
    fourth child of the top Sequential, ``"4.1"`` the second layer inside child 4
    (a nested Sequential, or the block of a Residual).  The root has path ``""``.
    """
    yield prefix, layer
    if isinstance(layer, L.Sequential):
        for i, child in enumerate(layer.layers):
            yield from iter_layers(child, f"{prefix}.{i}" if prefix else str(i))
    elif isinstance(layer, L.Residual):
        block = layer.block
        if isinstance(block, L.Sequential):
            for i, child in enumerate(block.layers):
                yield from iter_layers(child, f"{prefix}.{i}" if prefix else str(i))
        else:
            yield from iter_layers(block, f"{prefix}.0" if prefix else "0")


def activation_stats(x, a, layer, hist_bins=30, hist_range=None):
    """Statistics of one activation layer's output ``a`` for input ``x``.

    Returns a dict: ``type``, ``mean``, ``std`` (over all values, in float64;
    NaN if any value is NaN), ``hist`` (``counts`` and ``edges`` over the finite
    values, ``hist_bins`` bins over ``hist_range`` or the finite min..max; empty
    lists when ``hist_bins`` is 0),
    ``dead_fraction``, ``saturation_fraction`` (see the module docstring) and
    ``nonfinite_fraction``.

    Shape
    -----
    x, a : (N, ...) the layer's input and output, the same shape.
    """
    a = np.asarray(a)
    x = np.asarray(x)
    a64 = a.astype(np.float64, copy=False)
    n = a.size
    finite = np.isfinite(a64)
    n_finite = int(np.count_nonzero(finite))
    vals = a64[finite] if n_finite < n else a64.ravel()
    if hist_bins == 0:                   # no histogram wanted (the cheap path)
        counts, edges = np.zeros(0, np.int64), np.zeros(0)
    elif n_finite:
        counts, edges = np.histogram(vals, bins=hist_bins, range=hist_range)
    else:
        counts, edges = np.zeros(hist_bins, np.int64), np.linspace(0.0, 1.0, hist_bins + 1)
    dead = None
    if isinstance(layer, _RELU_LIKE) and x.ndim >= 2 and x.shape[0] > 0:
        axes = (0,) + tuple(range(2, x.ndim))
        # a unit is dead when no probe sample drives it positive (NaN counts as not dead)
        alive = np.any(~(x <= 0), axis=axes)
        dead = 1.0 - float(np.count_nonzero(alive)) / alive.size if alive.size else 0.0
    sat = None
    if n and isinstance(layer, L.Tanh):
        sat = float(np.count_nonzero(np.abs(a64) > SATURATION)) / n
    elif n and isinstance(layer, L.Sigmoid):
        sat = float(np.count_nonzero((a64 < 1.0 - SATURATION) | (a64 > SATURATION))) / n
    return {
        "type": type(layer).__name__,
        "shape": [int(s) for s in a.shape],
        "mean": float(np.mean(a64)) if n else 0.0,
        "std": float(np.std(a64)) if n else 0.0,
        "hist": {"counts": [int(c) for c in counts], "edges": [float(e) for e in edges]},
        "dead_fraction": dead,
        "saturation_fraction": sat,
        "nonfinite_fraction": (n - n_finite) / n if n else 0.0,
    }


class Monitor:
    """Per-epoch activation statistics and per-update gradient/weight/update statistics.

    Parameters
    ----------
    probe_size : int, default 256
        :meth:`observe_epoch` forwards the first ``probe_size`` rows of its probe.
    hist_bins : int, default 30
        Bins of each activation histogram (0: no histograms, the records' ``hist``
        holds empty lists).

    Attributes
    ----------
    history : list of dict
        One record per :meth:`observe_epoch` call (see there), JSON-serialisable.
    updates : dict
        name -> ``{"grad_norm", "weight_norm", "update_ratio"}`` from the latest
        :meth:`observe_update`.
    n_updates : int
        Number of :meth:`observe_update` calls so far.
    """

    def __init__(self, probe_size=256, hist_bins=30):
        if isinstance(probe_size, bool) or not isinstance(probe_size, (int, np.integer)) \
                or probe_size < 1:
            raise ValueError(f"Monitor: probe_size must be an integer >= 1, got {probe_size!r}")
        if isinstance(hist_bins, bool) or not isinstance(hist_bins, (int, np.integer)) \
                or hist_bins < 0:
            raise ValueError(f"Monitor: hist_bins must be an integer >= 0, got {hist_bins!r}")
        self.probe_size = int(probe_size)
        self.hist_bins = int(hist_bins)
        self.history = []
        self.updates = {}
        self.n_updates = 0

    # ------------------------------------------------------------------ updates
    def observe_update(self, model, grads, before):
        """Record gradient norm, weight norm and update/weight ratio of every parameter.

        Call it right after an optimiser update.

        Parameters
        ----------
        model : object with a ``params`` dict (a :class:`fastnn.models.Model`, a layer)
            Holds the *updated* arrays.
        grads : dict
            name -> the gradient used for the update (keys of ``model.params``); a
            missing name gets ``grad_norm`` None.
        before : dict
            name -> a copy of the parameter before the update.  Parameters missing
            from it get ``update_ratio`` None.

        Returns
        -------
        dict
            name -> ``{"grad_norm", "weight_norm", "update_ratio"}`` (floats or
            None), also kept in ``updates``.

        Shape
        -----
        Each ``grads[name]`` and ``before[name]`` has the shape of ``model.params[name]``.
        """
        stats = {}
        grads = grads or {}
        before = before or {}
        for name, w in model.params.items():
            g = grads.get(name)
            ratio = None
            if name in before:
                w_old = np.asarray(before[name])
                old = _norm(w_old)
                if old > 0:
                    diff = np.subtract(w, w_old, dtype=np.float64)
                    ratio = _norm(diff) / old
            stats[name] = {"grad_norm": None if g is None else _norm(g),
                           "weight_norm": _norm(w),
                           "update_ratio": ratio}
        self.updates = stats
        self.n_updates += 1
        return stats

    # ------------------------------------------------------------------ epochs
    def observe_epoch(self, model, X_probe, epoch):
        """Forward the probe batch in eval mode and record every activation layer.

        Parameters
        ----------
        model : fastnn.models.Model or fastnn.layers.Layer
            Its ``net`` (or the layer itself) is run in evaluation mode; every
            layer's previous mode is restored afterwards, batch norm's running
            statistics are not touched (eval mode) and the layers' forward caches
            are put back, so a pending backward still sees its own forward.
        X_probe : array (N, ...)
            The first ``probe_size`` rows are used (cast to ``model.dtype`` when
            the model has one).
        epoch : int, float or None
            Stored in the record (the x axis of :func:`fastnn.plots.plot_monitor`).

        Returns
        -------
        dict
            ``{"epoch", "n_probe", "activations", "params", "n_updates"}``:
            ``activations`` maps ``"<path>:<Type>"`` (``"3:ReLU"``, path as in
            :func:`iter_layers`) to :func:`activation_stats`' dict, in forward
            order; ``params`` is ``updates`` (a copy).  Appended to
            ``history``.

        Shape
        -----
        X_probe : (N, ...) whatever ``model`` takes, N >= 1.
        """
        net = getattr(model, "net", model)
        if not isinstance(net, L.Layer):
            raise TypeError(f"Monitor.observe_epoch: model must be a fastnn Model or Layer, "
                            f"got {type(model).__name__}")
        X = np.asarray(X_probe)
        if X.ndim < 1 or X.shape[0] == 0:
            raise ValueError(f"Monitor.observe_epoch: X_probe must have at least one sample, "
                             f"got shape {X.shape}")
        dtype = getattr(model, "dtype", None)
        if dtype is None:  # a bare layer: the dtype of its first parameter
            dtype = next((p.dtype for p in net.params.values()), None)
        X = X[:self.probe_size]
        X = np.ascontiguousarray(X, dtype=dtype) if dtype is not None else X
        found = {}
        order = []
        everything = list(iter_layers(net))
        # what a probe forward changes on a layer: its mode, its forward cache,
        # Residual's dropped flag, and (our hook) an instance attribute "forward"
        keys = ("training", "_cache", "_dropped", "forward")
        saved = [(layer, {k: layer.__dict__[k] for k in keys if k in layer.__dict__})
                 for _, layer in everything]

        def hook(path, layer, fwd):
            def forward(x):
                out = fwd(x)
                name = f"{path}:{type(layer).__name__}"
                found[name] = activation_stats(x, out, layer, self.hist_bins)
                order.append(name)
                return out
            return forward

        try:
            net.eval()
            hooked = set()
            for path, layer in everything:
                if isinstance(layer, _ACTIVATIONS) and id(layer) not in hooked:
                    hooked.add(id(layer))
                    layer.forward = hook(path, layer, layer.forward)
            net.forward(X)
        finally:
            for layer, state in saved:
                for k in keys:
                    if k in state:
                        layer.__dict__[k] = state[k]
                    else:
                        layer.__dict__.pop(k, None)
        params = getattr(model, "params", {})
        record = {
            "epoch": epoch if epoch is None or isinstance(epoch, (int, float)) else float(epoch),
            "n_probe": int(X.shape[0]),
            "activations": {name: found[name] for name in order},
            "params": {k: dict(v) for k, v in self.updates.items() if k in params},
            "n_updates": self.n_updates,
        }
        self.history.append(record)
        return record

    # ------------------------------------------------------------------ text
    @staticmethod
    def summary(record, dead_threshold=DEAD_THRESHOLD,
                saturation_threshold=SATURATION_THRESHOLD, ratio_band=RATIO_BAND):
        """A few human-readable lines about one record (the Solver prints them every epoch).

        The facts: the range of the activation stds, the worst dead and saturation
        fractions with their layers, the range of the update/weight ratios (weights
        ``W*`` when the model has course names).  Then, for each problem found, a
        line starting with ``!`` saying what is wrong and what to change
        (:meth:`advice`).

        Parameters
        ----------
        record : dict
            One ``history`` record.
        dead_threshold : float
            Advise when a layer's dead fraction is above it.
        saturation_threshold : float
            Advise when a tanh/sigmoid layer's saturation fraction is above it.
        ratio_band : (float, float)
            Advise when the largest update/weight ratio is outside it (healthy: ~1e-3).
        """
        lines = []
        acts = record.get("activations") or {}
        if acts:
            stds = [(v["std"], k) for k, v in acts.items() if v.get("std") is not None]
            if stds:
                lo, hi = min(stds), max(stds)
                lines.append(f"  activation std {lo[0]:.3g} ({lo[1]}) .. {hi[0]:.3g} ({hi[1]})")
            dead = [(v["dead_fraction"], k) for k, v in acts.items()
                    if v.get("dead_fraction") is not None]
            if dead:
                d, k = max(dead)
                lines.append(f"  worst dead fraction {d:.1%} ({k})" if d > 0 else "  no dead units")
            sat = [(v["saturation_fraction"], k) for k, v in acts.items()
                   if v.get("saturation_fraction") is not None]
            if sat:
                s, k = max(sat)
                lines.append(f"  worst saturation {s:.1%} ({k})")
            bad = [k for k, v in acts.items() if v.get("nonfinite_fraction")]
            if bad:
                lines.append(f"  non-finite activations in {', '.join(bad)}")
        ratios = _weight_ratios(record)
        if ratios:
            lo, hi = min(ratios), max(ratios)
            lines.append(f"  update/weight ratio {lo[0]:.2e} ({lo[1]}) .. {hi[0]:.2e} ({hi[1]})")
        lines += [f"  ! {a}" for a in Monitor.advice(record, dead_threshold,
                                                      saturation_threshold, ratio_band)]
        return "\n".join(lines) if lines else "  (no monitor data)"

    @staticmethod
    def advice(record, dead_threshold=DEAD_THRESHOLD,
               saturation_threshold=SATURATION_THRESHOLD, ratio_band=RATIO_BAND):
        """What is wrong in one record and what to change, one plain sentence per problem.

        * a ReLU-family layer with more than ``dead_threshold`` dead units: lower
          the learning rate, give the ReLU biases a small positive init
          (:func:`fastnn.init.relu_bias`), or use leaky ReLU;
        * a tanh/sigmoid layer with more than ``saturation_threshold`` saturated
          values: smaller (Xavier) init, normalised inputs, batch norm, or ReLU;
        * the largest update/weight ratio of the weights outside ``ratio_band``:
          the learning rate is too high or too low, with the factor that brings
          the ratio to ~1e-3.  Not judged on a record with only one observed
          update (``n_updates < MIN_UPDATES_FOR_RATIO``; the Solver's record after
          the first iteration): Adam's and RMSProp's first step has about the
          learning rate's size in every coordinate, whatever the gradient;
        * non-finite activations.

        Returns
        -------
        list of str
            Empty when nothing is wrong.
        """
        out = []
        acts = record.get("activations") or {}
        for name, v in acts.items():
            d = v.get("dead_fraction")
            if d is not None and d > dead_threshold:
                out.append(f"{d:.0%} of the units of {name} are dead (never active on the "
                           f"probe batch): they get no gradient and cannot recover. Lower the "
                           f"learning rate (too-large updates push units off), give the ReLU "
                           f"biases a small positive init (fastnn.init.relu_bias, 0.01), or "
                           f"use leaky ReLU (--activation leaky_relu).")
            s = v.get("saturation_fraction")
            if s is not None and s > saturation_threshold:
                out.append(f"{s:.0%} of the outputs of {name} are saturated (local gradient "
                           f"below 0.02): gradients vanish through this layer. Use a smaller "
                           f"init (Xavier for tanh/sigmoid), normalise the inputs, add batch "
                           f"norm, or switch to ReLU.")
            if v.get("nonfinite_fraction"):
                out.append(f"{name} has NaN/inf activations: the learning rate is far too high "
                           f"or the inputs hold NaN/inf; lower the learning rate 10x and check "
                           f"the data.")
        ratios = _weight_ratios(record)
        if ratios and record.get("n_updates", MIN_UPDATES_FOR_RATIO) >= MIN_UPDATES_FOR_RATIO:
            lo_band, hi_band = ratio_band
            hi = max(ratios)
            lo = min(ratios)
            if hi[0] > hi_band:
                factor = hi[0] / HEALTHY_RATIO
                out.append(f"update/weight ratio {hi[0]:.1e} ({hi[1]}) is {factor:.0f}x the "
                           f"healthy ~1e-3: the learning rate is too high; divide it by about "
                           f"{_round_factor(factor)} (or let fastnn lrfind pick it).")
            elif hi[0] < lo_band:
                factor = HEALTHY_RATIO / hi[0]
                out.append(f"update/weight ratio {hi[0]:.1e} ({hi[1]}) is {factor:.0f}x below "
                           f"the healthy ~1e-3 even for the fastest-moving weights: the "
                           f"learning rate is too low; multiply it by about "
                           f"{_round_factor(factor)} (or let fastnn lrfind pick it).")
            elif lo[0] < lo_band / 10:
                out.append(f"update/weight ratio of {lo[1]} is only {lo[0]:.1e} (~1e-3 is "
                           f"healthy): that layer barely learns; check its init scale or its "
                           f"gradients (fastnn gradcheck).")
        return out


def _weight_ratios(record):
    """(ratio, name) of the weights ``W*`` (every parameter without course names)."""
    params = record.get("params") or {}
    ratios = [(v["update_ratio"], k) for k, v in params.items()
              if v.get("update_ratio") is not None and k.startswith("W")]
    if not ratios:
        ratios = [(v["update_ratio"], k) for k, v in params.items()
                  if v.get("update_ratio") is not None]
    return ratios


def _round_factor(f):
    """A factor as a person would say it: 3, 10, 30, 100, ..."""
    if f < 1.5:
        return "1"
    exp = math.floor(math.log10(f))
    mant = f / 10 ** exp
    step = min((1, 2, 3, 5, 10), key=lambda c: abs(math.log(mant / c)))
    return f"{step * 10 ** exp:g}"
