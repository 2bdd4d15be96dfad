"""Solver state: what :meth:`fastnn.Solver.save` writes and :meth:`~fastnn.Solver.load`
validates, then restores (parameters, best parameters, buffers, optimiser state, histories,
generator states and callback states), and the conversion of the course's per-parameter
optimiser configs into the fused optimiser's state (``Solver.optim_configs``)."""
import math
import numbers
import os

import numpy as np

from fastnn import checkpoint as _ckpt
from fastnn import optim
from fastnn.layers import generators

__all__ = ["state", "restore", "fused_state"]


def _buffers(model):
    """The model's non-trained state (batch norm running statistics), name -> array."""
    buffers = getattr(model, "buffers", None)
    return dict(buffers) if isinstance(buffers, dict) else {}


def _check_meta(meta, path):
    """Refuse Solver metadata of the wrong shape before anything is restored (an untrusted
    file must give CheckpointError, never a KeyError halfway through the restore)."""
    def bad(msg):
        raise _ckpt.CheckpointError(f"Solver.load: {path!r}: {msg}")

    number = (int, float)
    for key, kind in (("epoch", int), ("best_val_acc", number), ("loss_history", list),
                      ("train_acc_history", list), ("val_acc_history", list),
                      ("optim_configs", dict)):
        if key not in meta:
            bad(f"the Solver metadata lacks {key!r}")
        if not isinstance(meta[key], kind) or isinstance(meta[key], bool):
            bad(f"{key!r} is a {type(meta[key]).__name__}")
    for key in ("loss_history", "train_acc_history", "val_acc_history"):
        if not all(isinstance(v, number) and not isinstance(v, bool) for v in meta[key]):
            bad(f"{key!r} holds non-numbers")
    if not all(isinstance(c, dict) for c in meta["optim_configs"].values()):
        bad("'optim_configs' must map each parameter to a dict")
    for key in ("run_t", "run_iterations", "epochs_without_best"):
        if not isinstance(meta.get(key, 0), int) or meta.get(key, 0) < 0:
            bad(f"{key!r} must be a non-negative integer")
    states = [meta["rng"]] if "rng" in meta else []
    layer_rngs = meta.get("layer_rngs") or {}
    if not isinstance(layer_rngs, dict):
        bad("'layer_rngs' must be a dict")
    states += list(layer_rngs.values())
    for state in states:                       # try each on a scratch generator first
        try:
            np.random.default_rng().bit_generator.state = state
        except (TypeError, ValueError, KeyError) as exc:
            bad(f"invalid generator state: {exc}")
    monitor = meta.get("monitor")
    if monitor is not None and not isinstance(monitor, list):
        bad("'monitor' must be a list")


def _check_optim_state(solver, meta_configs, optim_arrays, bad):
    """The optimiser configs of a checkpoint (scalars from the meta, arrays from
    ``optim/<param>/<key>``), validated against the model and the update rule."""
    model_params = solver.model.params
    configs = {p: dict(c) for p, c in meta_configs.items()}
    for k, v in optim_arrays.items():
        p, sep, key = k.rpartition("/")
        if not sep or p not in model_params:
            bad(f"optimiser array 'optim/{k}' belongs to no parameter of the model")
        configs.setdefault(p, {})[key] = v
    mismatch = _ckpt._name_mismatch(configs, model_params)
    if mismatch:
        bad(f"the optimiser state does not match the model's parameters: {mismatch}")
    builtin = isinstance(solver.update_rule, str)

    def finite(v):
        return (isinstance(v, numbers.Real) and not isinstance(v, bool)
                and math.isfinite(v))

    for p, config in configs.items():
        shape = np.shape(model_params[p])
        for key, v in config.items():
            where = f"optimiser state of {p!r}: {key!r}"
            if isinstance(v, np.ndarray):
                if builtin and (v.shape != shape or v.dtype.kind != "f"):
                    bad(f"{where} (optim/{p}/{key}) is {v.dtype} {v.shape}, expected a "
                        f"floating array of the parameter's shape {shape}")
            elif key == "t" and builtin:
                if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                    bad(f"{where} must be an integer >= 0, got {v!r}")
            elif (builtin or key == "learning_rate") and not finite(v):
                bad(f"{where} must be a finite number, got {v!r}")
    if solver._fused:
        try:
            fused_state(solver, configs)
        except ValueError as exc:
            bad(str(exc).removeprefix("Solver: "))
    return configs


def state(solver):
    """``(arrays, meta)`` of a Solver checkpoint of ``solver``."""
    arrays = {f"params/{k}": v for k, v in solver.model.params.items()}
    arrays.update({f"best/{k}": v for k, v in solver.best_params.items()})
    arrays.update({f"buffers/{k}": v for k, v in _buffers(solver.model).items()})
    configs = {}
    for p, c in solver.optim_configs.items():
        configs[p] = {}
        for k, v in c.items():
            if isinstance(v, np.ndarray):
                arrays[f"optim/{p}/{k}"] = v
            elif isinstance(v, (bool, numbers.Real, str)) or v is None:
                configs[p][k] = v.item() if isinstance(v, np.generic) else v
            else:
                raise TypeError(f"Solver.save: optim config {p!r} key {k!r} holds a "
                                f"{type(v).__name__}, which a checkpoint cannot store")
    meta = {
        "format": "fastnn.Solver/1",
        "update_rule": solver.update_rule if isinstance(solver.update_rule, str) else None,
        "lr_decay": solver.lr_decay, "batch_size": solver.batch_size,
        "num_epochs": solver.num_epochs, "epoch": solver.epoch,
        "best_val_acc": solver.best_val_acc, "loss_history": solver.loss_history,
        "train_acc_history": solver.train_acc_history, "val_acc_history": solver.val_acc_history,
        "val_loss_history": [v if math.isfinite(v) else None for v in solver.val_loss_history],
        "lr_history": solver.lr_history, "grad_norm_history": solver.grad_norm_history,
        "callbacks": _callback_states(solver), "sampler_seed": solver._sampler_seed,
        "optim_configs": configs, "epochs_without_best": solver._epochs_without_best,
        "run_t": solver._run_t, "run_iterations": solver._run_iterations,
        "stopped_early": solver.stopped_early,
        "rng": solver.rng.bit_generator.state,
        "layer_rngs": {k: g.bit_generator.state for k, g in generators(solver.model).items()},
        "monitor": list(solver.monitor.history) if solver.monitor is not None else None,
    }
    if solver.checkpoint_tag is not None:
        meta["tag"] = solver.checkpoint_tag
    return arrays, meta


def restore(solver, path):
    """Validate the Solver checkpoint at ``path``, then restore it into ``solver`` (see
    :meth:`fastnn.Solver.load`)."""
    arrays, meta = _ckpt.load_params(path)
    path = os.fspath(path)

    def bad(msg):
        raise _ckpt.CheckpointError(f"Solver.load: {path!r}: {msg}")

    if not meta or meta.get("format") != "fastnn.Solver/1":
        raise _ckpt.CheckpointError(f"Solver.load: {path!r} is not a Solver "
                                    "checkpoint (no Solver metadata)")
    if solver.checkpoint_tag is not None and meta.get("tag") != solver.checkpoint_tag:
        bad(f"the checkpoint belongs to another run: its tag is {meta.get('tag')!r}, this "
            f"Solver's is {solver.checkpoint_tag!r}")
    _check_meta(meta, path)
    groups = {"params": {}, "best": {}, "buffers": {}, "optim": {}}
    for k, v in arrays.items():
        head, _, rest = k.partition("/")
        if head not in groups or not rest:
            bad(f"unexpected array {k!r} (a Solver checkpoint holds params/, best/, "
                f"buffers/ and optim/ arrays)")
        groups[head][rest] = v
    params, best, buffers = groups["params"], groups["best"], groups["buffers"]
    model_params = solver.model.params

    def same_names(found, expected, what):
        mismatch = _ckpt._name_mismatch(found, expected)
        if mismatch:
            bad(f"{what} do not match the model: {mismatch}")

    def same_arrays(found, expected, prefix):
        for k, v in found.items():
            want = np.asarray(expected[k])
            if v.shape != want.shape or v.dtype != want.dtype:
                bad(f"{prefix}{k!r} is {v.dtype} {v.shape} in the checkpoint, the model "
                    f"has {want.dtype} {want.shape}")

    same_names(params, model_params, "the parameters (params/*)")
    same_arrays(params, model_params, "params/")
    if best:
        same_names(best, model_params, "the best parameters (best/*)")
        same_arrays(best, model_params, "best/")
    model_buffers = _buffers(solver.model)
    if buffers:
        same_names(buffers, model_buffers, "the buffers (buffers/*)")
        same_arrays(buffers, model_buffers, "buffers/")
    configs = _check_optim_state(solver, meta["optim_configs"], groups["optim"], bad)
    extras = _check_extras(meta, bad)

    for k, v in params.items():
        model_params[k][...] = v
    for k, v in buffers.items():
        model_buffers[k][...] = v
    solver.best_params = best
    solver.optim_configs = configs
    solver.epoch = meta["epoch"]
    solver.best_val_acc = meta["best_val_acc"]
    solver.loss_history = list(meta["loss_history"])
    solver.train_acc_history = list(meta["train_acc_history"])
    solver.val_acc_history = list(meta["val_acc_history"])
    solver._epochs_without_best = meta.get("epochs_without_best", 0)
    # where the run stands (older checkpoints: a finished run)
    solver._run_t = int(meta.get("run_t", 0))
    solver._run_iterations = int(meta.get("run_iterations", 0))
    solver.stopped_early = bool(meta.get("stopped_early", False))
    if "rng" in meta:
        solver.rng.bit_generator.state = meta["rng"]
    streams = generators(solver.model)
    for k, state in (meta.get("layer_rngs") or {}).items():
        if k in streams:
            streams[k].bit_generator.state = state
    if solver.monitor is not None and meta.get("monitor") is not None:
        solver.monitor.history = list(meta["monitor"])
    _apply_extras(solver, extras, bad)


def _callback_states(solver):
    states = {}
    for i, cb in enumerate(solver.callbacks):
        st = cb.state_dict() if callable(getattr(cb, "state_dict", None)) else None
        if st is not None:
            states[getattr(cb, "name", None) or f"{type(cb).__name__}{i}"] = st
    return states


def _check_extras(meta, bad):
    """The validation-loss, learning-rate and clipping histories, the shuffled sampler's seed
    and the callbacks' states of a checkpoint's meta, checked (nothing restored yet)."""
    floats = meta.get("val_loss_history") or []
    lrs = meta.get("lr_history") or []
    norms = meta.get("grad_norm_history") or []
    for key, vals in (("val_loss_history", floats), ("lr_history", lrs),
                      ("grad_norm_history", norms)):
        if not isinstance(vals, list) or not all(
                v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                for v in vals):
            bad(f"{key!r} must be a list of numbers")
    seed = meta.get("sampler_seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        bad("'sampler_seed' must be a non-negative integer")
    states = meta.get("callbacks") or {}
    if not isinstance(states, dict) or not all(isinstance(v, dict) for v in states.values()):
        bad("'callbacks' must map callback names to dicts")
    return floats, lrs, norms, seed, states


def _apply_extras(solver, extras, bad):
    floats, lrs, norms, seed, states = extras
    solver.val_loss_history = [float("nan") if v is None else float(v) for v in floats]
    solver.lr_history = list(lrs)
    solver.grad_norm_history = [float(v) for v in norms if v is not None]
    solver._sampler_seed, solver._perm = seed, None
    for i, cb in enumerate(solver.callbacks):
        key = getattr(cb, "name", None) or f"{type(cb).__name__}{i}"
        if key in states and callable(getattr(cb, "load_state_dict", None)):
            try:
                cb.load_state_dict(states[key])
            except (TypeError, ValueError, KeyError, AttributeError) as exc:
                bad(f"state of callback {key!r}: {exc}")


def fused_state(solver, configs):
    """(hyperparameters, optimiser state) of ``solver``'s fused optimiser from per-parameter
    course configs; ValueError when they do not fit it (nothing is changed)."""
    hyper, state_keys = optim._RULE_KEYS[solver.update_rule]
    params = solver.model.params
    if sorted(configs) != sorted(params):
        raise ValueError(f"Solver: optimiser state for {sorted(configs)}, the model has "
                         f"{sorted(params)}")
    values, state = {}, {}
    for p, c in configs.items():
        unknown = sorted(set(c) - set(hyper) - set(state_keys))
        if unknown:
            raise ValueError(f"Solver: optimiser state of {p!r} has key(s) {unknown} that "
                             f"{solver.update_rule!r} does not use")
        for k in hyper:
            if k in c:
                if k in values and values[k] != c[k]:
                    raise ValueError(f"Solver: {k!r} differs between parameters "
                                     f"({values[k]} and {c[k]}); the fused optimiser has one")
                values[k] = c[k]
        st = {}
        w = params[p]
        for k in state_keys:
            if k not in c:
                continue
            if k == "t":
                t = c[k]
                if isinstance(t, np.ndarray) and t.ndim == 0 and t.dtype.kind in "iu":
                    t = int(t)
                if isinstance(t, bool) or not isinstance(t, (numbers.Integral, np.integer)) \
                        or t < 0:
                    raise ValueError(f"Solver: step count 't' of {p!r} must be an integer "
                                     f">= 0, got {t!r}")
                st[k] = int(t)
                continue
            v = np.asarray(c[k])
            if v.shape != w.shape or v.dtype != w.dtype:
                raise ValueError(f"Solver: optimiser state {k!r} of {p!r} is {v.dtype} "
                                 f"{v.shape}, the parameter is {w.dtype} {w.shape}")
            st[k] = np.array(v, copy=True)
        state[str(p)] = st
    try:                                   # the optimiser's own checks of each value
        probe = optim.from_rule(solver.update_rule, dict(params), values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Solver: optimiser hyperparameters {values}: {exc}") from None
    del probe
    return values, state
