"""``fastnn train``: train a model and write its checkpoint, history and plots.

With no arguments it trains a small convnet (conv3x3 - ReLU - pool - affine -
ReLU - affine, He init, Adam) on the built-in 8x8 digits, standardised with the
training set's statistics, and prints the test accuracy.  The output directory
(``--output-dir``, default ``fastnn-run``) receives:

    model.npz        the trained model (best validation accuracy) with its architecture and
                     preprocessing, no pickle: fastnn.load, fastnn predict / evaluate read it
    preprocess.npz   the preprocessing fitted on the training set
    config.json      every option of the run (``--resume`` reads it back)
    history.json     loss per iteration, train/val accuracy per epoch, monitor records
    loss.png, accuracy.png, monitor.png   the curves (``fastnn plot history.json`` redraws them)

Ctrl-C stops between two iterations and writes ``interrupted.npz``;
``fastnn train --resume --output-dir DIR`` finishes that run, to the same result
as an uninterrupted run with the same seed.  When training ends, the final state is
written to ``interrupted.npz`` before the final files, and the checkpoint is removed
only once they are all written: an interruption while they are written loses nothing.
The checkpoint carries a hash of config.json's settings; ``--resume`` refuses a
checkpoint of another config.  See docs/reliability.md.

A folder that holds an earlier run (any of the files above, or ``interrupted.npz``)
is refused unless ``--overwrite`` is given, which first deletes that run's files.

``--schedule cosine|step|onecycle|plateau`` and ``--warmup N`` choose a
learning-rate schedule (see :mod:`fastnn.schedules`); ``--tensorboard DIR``
writes TensorBoard event files.
"""
import hashlib
import json
import math
import numbers
import os
import time

import numpy as np

from fastnn._files import check_regular, open_regular
from fastnn.commands import CommandError, output_dir
from fastnn.commands.lrfind import lr_or_auto

HELP = "train a model on the built-in dataset (or a CIFAR-10 / MNIST folder): the main job"

OPTIMIZERS = ("sgd", "sgd_momentum", "nesterov", "rmsprop", "adam", "adamw", "adagrad")
SCHEDULES = ("none", "cosine", "step", "onecycle", "plateau")
# what a run writes into --output-dir (--overwrite deletes these first)
RUN_FILES = ("model.npz", "preprocess.npz", "config.json", "history.json", "interrupted.npz",
             "loss.png", "accuracy.png", "monitor.png", "lrfind.png")
PREPROCESS = ("none", "mean_image", "channel_mean", "standardize", "pca", "whiten")
# the options that define a run (saved in config.json, restored by --resume)
RUN_KEYS = ("model", "dataset", "epochs", "batch_size", "lr", "lr_decay", "optimizer", "reg",
            "init", "activation", "normalization", "dropout", "augment", "preprocess", "hidden",
            "filters", "seed", "patience", "monitor")
# optional run options: the value used when config.json has none
RUN_DEFAULTS = {"schedule": "none", "warmup": 0, "sampling": "random", "clip_grad_norm": None,
                "label_smoothing": 0.0}
CHECKPOINT = "interrupted.npz"
# the files fastnn train writes through fastnn.checkpoint.save_params (atomic, via a temp file)
_NPZ_OUTPUTS = (CHECKPOINT, "model.npz", "preprocess.npz")


def add_arguments(p):
    a = p.add_argument
    a("--model", choices=("mlp", "convnet", "vgg"), default="convnet",
      help="network (default: %(default)s)")
    a("--dataset", default="digits", metavar="NAME|PATH",
      help="built-in dataset name, or a folder with the CIFAR-10 python batches or the MNIST "
           "IDX files (default: %(default)s)")
    a("--epochs", type=int, default=20, help="default: %(default)s")
    a("--batch-size", type=int, default=32, help="default: %(default)s")
    a("--lr", type=lr_or_auto, default=6e-4, metavar="LR|auto",
      help="learning rate, or auto: the rate fastnn lrfind suggests (default: %(default)s)")
    a("--lr-decay", type=float, default=1.0, help="per-epoch factor (default: %(default)s)")
    a("--optimizer", choices=OPTIMIZERS, default="adam", help="default: %(default)s")
    a("--reg", type=float, default=1e-4, help="L2 strength (default: %(default)s)")
    a("--init", choices=("kaiming", "xavier", "lecun", "normal"), default="kaiming",
      help="weight init (default: %(default)s)")
    a("--activation", default="relu",
      help="relu, leaky_relu, elu, selu, gelu, silu, tanh, sigmoid (default: %(default)s)")
    a("--normalization", choices=("none", "batchnorm", "layernorm"), default="none",
      help="default: %(default)s")
    a("--dropout", type=float, default=0.0, help="drop probability (default: %(default)s)")
    a("--augment", default="none", metavar="LIST",
      help="comma list of crop, resized_crop, flip, jitter, cutout, mixup (default: none)")
    a("--preprocess", choices=PREPROCESS, default="standardize", help="default: %(default)s")
    a("--hidden", default=None, metavar="N[,N...]", help="hidden widths of the affine layers")
    a("--filters", type=int, default=32, help="conv filters (default: %(default)s)")
    a("--patience", type=int, default=None, help="early stop after N epochs without progress")
    a("--schedule", choices=SCHEDULES, default="none",
      help="learning-rate schedule: cosine (to 0 over the run, per iteration), step (x0.1 at "
           "1/2 and 3/4 of the epochs), onecycle (max --lr, per iteration), plateau (x0.5 "
           "after 2 epochs without a better val accuracy); default: --lr-decay per epoch")
    a("--warmup", type=int, default=0, metavar="N",
      help="linear warm-up over the first N epochs, before any --schedule (default: none)")
    a("--sampling", choices=("random", "shuffle"), default="random",
      help="random: independent random minibatches (the course's Solver); shuffle: one "
           "shuffled pass per epoch (default: %(default)s)")
    a("--clip-grad-norm", type=float, default=None, metavar="X",
      help="clip the gradients to a global 2-norm of at most X")
    a("--label-smoothing", type=float, default=0.0, metavar="EPS",
      help="label smoothing of the softmax loss (default: 0)")
    a("--tensorboard", default=None, metavar="DIR",
      help="write TensorBoard event files to DIR (needs tensorboardX)")
    a("--no-monitor", dest="monitor", action="store_false",
      help="skip the per-epoch activation/update diagnostics")
    a("--seed", type=int, default=0, help="seeds init, batches, dropout, augmentation")
    a("--threads", type=int, default=None, help="fastnn threads (default: all cores)")
    a("--output-dir", default="fastnn-run", metavar="DIR", help="default: %(default)s")
    a("--resume", action="store_true",
      help="finish the interrupted run in --output-dir (its config.json and interrupted.npz)")
    a("--overwrite", action="store_true",
      help="replace an earlier run in --output-dir (its files are deleted first)")
    a("--no-plots", dest="plots", action="store_false", help="do not write the PNG plots")
    a("--quiet", action="store_true", help="print only the final accuracy")
    a("--sanity", action="store_true",
      help="first run the sanity checks (initial loss, regularisation, overfit 20 samples) "
           "and print their report")


# ------------------------------------------------------------------ checks

_CHOICES = {"model": ("mlp", "convnet", "vgg"), "optimizer": OPTIMIZERS,
            "init": ("kaiming", "xavier", "lecun", "normal"),
            "normalization": ("none", "batchnorm", "layernorm"), "preprocess": PREPROCESS}
_INTS = ("epochs", "batch_size", "filters", "seed")
_NUMBERS = ("lr", "lr_decay", "reg", "dropout")
_STRINGS = ("model", "dataset", "optimizer", "init", "activation", "normalization", "augment",
            "preprocess")


def _option(key):
    return "--" + key.replace("_", "-")


def check_config(cfg):
    """Refuse a run config (the dict config.json holds) with a CommandError naming the option.

    The command line's values and a resumed config.json go through the same checks: types
    first (a file can hold anything), then ranges and choices.
    """
    def need(cond, msg):
        if not cond:
            raise CommandError(msg)

    def is_int(v):
        return isinstance(v, numbers.Integral) and not isinstance(v, bool)

    for k in _INTS:
        need(is_int(cfg[k]), f"{_option(k)} must be an integer, got {cfg[k]!r}")
    for k in _NUMBERS:
        need((k == "lr" and cfg[k] == "auto")
             or (isinstance(cfg[k], numbers.Real) and not isinstance(cfg[k], bool)),
             f"{_option(k)} must be a number, got {cfg[k]!r}")
    for k in _STRINGS:
        need(isinstance(cfg[k], str), f"{_option(k)} must be a string, got {cfg[k]!r}")
    need(cfg["patience"] is None or is_int(cfg["patience"]),
         f"--patience must be an integer, got {cfg['patience']!r}")
    need(isinstance(cfg["monitor"], bool), f"monitor must be true or false, got {cfg['monitor']!r}")
    hidden = cfg["hidden"]
    need(hidden is None or (isinstance(hidden, (list, tuple)) and hidden
                            and all(is_int(h) for h in hidden)),
         f"--hidden must be a list of integers, got {hidden!r}")
    for k, choices in _CHOICES.items():
        need(cfg[k] in choices, f"{_option(k)} must be one of {', '.join(choices)}; got {cfg[k]!r}")

    need(cfg["epochs"] >= 1, f"--epochs must be >= 1, got {cfg['epochs']}")
    need(cfg["batch_size"] >= 1, f"--batch-size must be >= 1, got {cfg['batch_size']}")
    need(cfg["lr"] == "auto" or (math.isfinite(cfg["lr"]) and cfg["lr"] > 0),
         f"--lr must be a positive number or auto, got {cfg['lr']}")
    need(math.isfinite(cfg["lr_decay"]) and 0 < cfg["lr_decay"] <= 1,
         f"--lr-decay must be in (0, 1], got {cfg['lr_decay']}")
    need(math.isfinite(cfg["reg"]) and cfg["reg"] >= 0, f"--reg must be >= 0, got {cfg['reg']}")
    need(0 <= cfg["dropout"] < 1, f"--dropout must be in [0, 1), got {cfg['dropout']}")
    need(cfg["filters"] >= 1, f"--filters must be >= 1, got {cfg['filters']}")
    need(cfg["patience"] is None or cfg["patience"] >= 1,
         f"--patience must be >= 1, got {cfg['patience']}")
    need(cfg["seed"] >= 0, f"--seed must be an integer >= 0 (it seeds NumPy's generators), "
                           f"got {cfg['seed']}")
    need(hidden is None or all(h >= 1 for h in hidden),
         f"--hidden widths must be >= 1, got {','.join(map(str, hidden or ()))}")
    opt = {k: cfg.get(k, v) for k, v in RUN_DEFAULTS.items()}
    need(opt["schedule"] in SCHEDULES,
         f"--schedule must be one of {', '.join(SCHEDULES)}; got {opt['schedule']!r}")
    need(opt["sampling"] in ("random", "shuffle"),
         f"--sampling must be random or shuffle, got {opt['sampling']!r}")
    need(is_int(opt["warmup"]) and 0 <= opt["warmup"] < max(cfg["epochs"], 1)
         or opt["warmup"] == 0,
         f"--warmup must be an integer in 0..epochs - 1 ({cfg['epochs'] - 1}), "
         f"got {opt['warmup']!r}")
    clip = opt["clip_grad_norm"]
    need(clip is None or (isinstance(clip, numbers.Real) and not isinstance(clip, bool)
                          and math.isfinite(clip) and clip > 0),
         f"--clip-grad-norm must be a positive number, got {clip!r}")
    ls = opt["label_smoothing"]
    need(isinstance(ls, numbers.Real) and not isinstance(ls, bool) and 0 <= ls <= 1,
         f"--label-smoothing must be in [0, 1], got {ls!r}")
    from fastnn.models import ACTIVATIONS
    need(cfg["activation"] in ACTIVATIONS,
         f"--activation must be one of {', '.join(sorted(ACTIVATIONS))}; got {cfg['activation']!r}")


def check_threads(threads):
    """``--threads``: None, or an integer in 1 .. fastnn's MAX_THREADS."""
    from fastnn._config import MAX_THREADS
    if threads is not None and not 1 <= threads <= MAX_THREADS:
        raise CommandError(f"--threads must be in 1..{MAX_THREADS} (4 per CPU of this "
                           f"{os.cpu_count()}-CPU machine, at least 64), got {threads}")


def _check(args):
    """The command line's options: --hidden's syntax, then :func:`check_config`."""
    if args.hidden is not None:
        try:
            tuple(int(v) for v in str(args.hidden).split(","))
        except ValueError:
            raise CommandError(f"--hidden must be a comma list of integers, "
                               f"got {args.hidden!r}") from None
    cfg = {k: getattr(args, k) for k in RUN_KEYS + tuple(RUN_DEFAULTS)}
    cfg["hidden"] = _hidden(args)
    check_config(cfg)
    return cfg


def config_hash(cfg):
    """A hash of a run config as config.json holds it (key order and tuples vs lists do not
    matter): the tag that ties interrupted.npz to its config."""
    text = json.dumps(json.loads(json.dumps(cfg)), sort_keys=True, separators=(",", ":"))
    return "config-sha256:" + hashlib.sha256(text.encode()).hexdigest()


def physical_memory():
    """Bytes of RAM of this machine (None when the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _gib(n):
    return f"{n / 2**30:,.1f} GiB"


def estimate_memory(cfg, input_dim, num_classes):
    """A lower bound of the bytes a run needs, (parameter_bytes, batch_bytes), float32.

    parameter_bytes: the weights plus their gradient, two optimiser moments and the best copy
    (5 copies); batch_bytes: one training batch's activations, kept for the backward pass,
    and their gradients (2 copies).
    """
    C, H, W = (int(v) for v in input_dim)
    pixels = C * H * W
    F = cfg["filters"]
    if cfg["model"] == "mlp":
        dims = [pixels] + list(cfg["hidden"] or (256, 128)) + [num_classes]
        params = sum(a * b + b for a, b in zip(dims[:-1], dims[1:]))
        per_sample = sum(dims) * 2
    elif cfg["model"] == "convnet":
        hidden = (cfg["hidden"] or (128,))[0]
        flat = F * (H // 2) * (W // 2)
        params = C * F * 9 + F + flat * hidden + hidden + hidden * num_classes + num_classes
        per_sample = pixels + C * 9 * H * W + 2 * F * H * W + flat + 2 * hidden + num_classes
    else:
        f1, f2 = F, 2 * F
        params = 9 * (C * f1 + f1 * f1 + f1 * f2 + f2 * f2) + f2 * (H // 4) * (W // 4) * num_classes
        per_sample = pixels + 4 * f1 * H * W + f2 * H * W + num_classes
    return 4 * 5 * params, 4 * 2 * per_sample * cfg["batch_size"]


def check_memory(cfg, input_dim, num_classes, limit=None):
    """CommandError when :func:`estimate_memory` exceeds ``limit`` (default: the machine's RAM),
    before anything of that size is allocated."""
    limit = physical_memory() if limit is None else limit
    if limit is None:
        return
    param_bytes, batch_bytes = estimate_memory(cfg, input_dim, num_classes)
    if param_bytes + batch_bytes <= limit:
        return
    shape = "x".join(str(int(v)) for v in input_dim)
    if param_bytes >= batch_bytes:
        what = (f"--model {cfg['model']} with"
                + (f" --filters {cfg['filters']}" if cfg["model"] != "mlp" else "")
                + (f" --hidden {','.join(map(str, cfg['hidden']))}" if cfg["hidden"] else "")
                + f" on {shape} images needs at least {_gib(param_bytes)} for its parameters "
                  "and their optimiser state")
    else:
        what = (f"--batch-size {cfg['batch_size']} of {shape} images needs at least "
                f"{_gib(batch_bytes)} for one batch's activations")
    raise CommandError(f"{what}; this machine has {_gib(limit)} of memory")


def build_schedule(cfg, per_epoch):
    """The ``lr_schedule`` of a config (None: the per-epoch ``lr_decay``)."""
    from fastnn import schedules as S
    name, warm, epochs = cfg["schedule"], int(cfg["warmup"]), int(cfg["epochs"])
    if name == "cosine":
        sched = S.CosineAnnealingLR(T_max=None, interval="iteration")
    elif name == "step":
        sched = S.MultiStepLR(milestones=sorted({max(1, (epochs - warm) // 2),
                                                  max(2, (3 * (epochs - warm)) // 4)}),
                              gamma=0.1)
    elif name == "onecycle":
        sched = S.OneCycleLR(max_lr=cfg["lr"], total_steps=None,
                             cycle_momentum=cfg["optimizer"] in ("sgd_momentum", "nesterov",
                                                                 "adam", "adamw"))
    elif name == "plateau":
        sched = S.ReduceLROnPlateau(metric="val_acc", factor=0.5, patience=2)
    elif warm:
        sched = S.ExponentialLR(gamma=cfg["lr_decay"])
    else:
        return None
    if warm:
        sched = S.warmup(sched, warm * (per_epoch if sched.interval == "iteration" else 1))
    return sched


def _hidden(args):
    return None if args.hidden is None else tuple(int(v) for v in str(args.hidden).split(","))


# ------------------------------------------------------------------ pieces

def check_dataset_spec(spec):
    """Refuse a --dataset that names neither a built-in dataset nor an existing path."""
    from fastnn import data
    if spec not in data.BUILTIN and not os.path.exists(spec):
        raise CommandError(f"--dataset: {spec!r} is neither a built-in dataset "
                           f"({', '.join(sorted(data.BUILTIN))}) nor an existing folder")


def load_dataset(spec):
    """A built-in name, or a folder holding CIFAR-10 batches or MNIST IDX files."""
    from fastnn import data
    check_dataset_spec(spec)
    loader, why = data.datasets._loader_for(spec)
    if loader is None:
        raise CommandError(f"--dataset: {why}")
    return loader(spec)


def build_augment(spec):
    if spec in (None, "", "none"):
        return []
    from fastnn.data import from_spec
    try:
        return from_spec(spec)
    except ValueError as exc:
        raise CommandError(f"--augment: {exc}") from None


def build_run(cfg):
    """(model, data, preprocessor, solver kwargs) for a config dict: the same config gives
    the same model, data and Solver (``--resume`` relies on it)."""
    from fastnn import data as fdata
    from fastnn.models import make_model

    data = load_dataset(cfg["dataset"])
    X = data["X_train"]
    if X.ndim < 2 or 0 in X.shape[1:]:
        raise CommandError(f"--dataset {cfg['dataset']}: its images are "
                           f"{'x'.join(map(str, X.shape[1:])) or 'scalars'}; every image "
                           "needs at least one pixel")
    if len(X) == 0:
        raise CommandError(f"--dataset {cfg['dataset']}: no training images")
    if X.ndim == 4 and cfg["model"] == "convnet" and min(X.shape[2:]) < 2:
        raise CommandError(f"--model convnet pools 2x2 and needs images of at least 2x2; "
                           f"--dataset {cfg['dataset']} holds {X.shape[2]}x{X.shape[3]} images "
                           "(use --model mlp)")
    if X.ndim == 4 and cfg["model"] == "vgg" and (X.shape[2] % 4 or X.shape[3] % 4):
        raise CommandError(f"--model vgg needs image height and width divisible by 4; "
                           f"--dataset {cfg['dataset']} holds {X.shape[2]}x{X.shape[3]} images")
    pre = fdata.make_preprocessor(cfg["preprocess"])
    X_train = pre.fit_transform(data["X_train"])
    split = {"X_train": X_train, "y_train": data["y_train"],
             "X_val": pre.transform(data["X_val"]), "y_val": data["y_val"],
             "X_test": pre.transform(data["X_test"]), "y_test": data["y_test"]}
    if X_train.ndim != 4 and cfg["model"] != "mlp":
        raise CommandError(f"--preprocess {cfg['preprocess']} gives flat features; "
                           f"use --model mlp with it")
    input_dim = X_train.shape[1:] if X_train.ndim == 4 else (1, 1, X_train.shape[1])
    num_classes = len(data.get("classes") or np.unique(data["y_train"]))
    check_memory(cfg, input_dim, num_classes)
    model = make_model(cfg["model"], input_dim, num_classes, hidden_dims=cfg["hidden"],
                       num_filters=cfg["filters"], activation=cfg["activation"],
                       normalization=None if cfg["normalization"] == "none"
                       else cfg["normalization"],
                       dropout=cfg["dropout"], init=cfg["init"], reg=cfg["reg"], seed=cfg["seed"])
    cfg = dict(RUN_DEFAULTS, **cfg)           # a config.json may lack the optional options
    model.label_smoothing = float(cfg["label_smoothing"])
    per_epoch = max(len(X_train) // cfg["batch_size"], 1)
    schedule = build_schedule(cfg, per_epoch)
    solver_kw = dict(update_rule=cfg["optimizer"], optim_config={"learning_rate": cfg["lr"]},
                     lr_decay=cfg["lr_decay"] if schedule is None else 1.0,
                     lr_schedule=schedule, batch_size=cfg["batch_size"],
                     num_epochs=cfg["epochs"], seed=cfg["seed"], patience=cfg["patience"],
                     augment=build_augment(cfg["augment"]), monitor=bool(cfg["monitor"]),
                     sampling=cfg["sampling"], clip_grad_norm=cfg["clip_grad_norm"],
                     num_train_samples=1000)
    return model, split, pre, solver_kw


def _tensorboard_dir(args):
    if getattr(args, "tensorboard", None) is None:
        return None
    try:
        import tensorboardX  # noqa: F401
    except ImportError:
        raise CommandError("--tensorboard needs tensorboardX: pip install 'fastnn[tensorboard]'") \
            from None
    return args.tensorboard


def _clear_earlier_run(out, overwrite):
    """Refuse an --output-dir holding an earlier run, or (--overwrite) delete that run's files."""
    if not os.path.isdir(out):
        return
    earlier = [f for f in RUN_FILES if os.path.isfile(os.path.join(out, f))]
    if not earlier:
        return
    if not overwrite:
        raise CommandError(f"--output-dir {out} holds an earlier run ({', '.join(earlier)}); "
                           "give another folder, --resume to finish an interrupted run, or "
                           "--overwrite to replace it")
    for f in earlier:
        os.remove(os.path.join(out, f))


def _write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


# ------------------------------------------------------------------ the command

def _read_config(cfg_path):
    """The config.json of a run to resume, re-validated as the command line's values are."""
    try:
        with open_regular(cfg_path, "r") as f:
            cfg = json.load(f)
    except (OSError, ValueError, RecursionError) as exc:
        raise CommandError(f"--resume: cannot read {cfg_path!r}: {exc}") from None
    if not isinstance(cfg, dict):
        raise CommandError(f"--resume: {cfg_path!r} holds a {type(cfg).__name__}, "
                           "expected a JSON object")
    missing = [k for k in RUN_KEYS if k not in cfg]
    if missing:
        raise CommandError(f"--resume: {cfg_path!r} lacks {missing}")
    raw = cfg
    cfg = {k: raw[k] for k in RUN_KEYS}
    cfg.update({k: raw[k] for k in RUN_DEFAULTS if k in raw})
    try:
        check_config(cfg)
    except CommandError as exc:
        raise CommandError(f"--resume: {cfg_path!r} is not a valid run config: {exc}") from None
    if cfg["lr"] == "auto":        # a run writes the rate --lr auto chose
        raise CommandError(f"--resume: {cfg_path!r} is not a valid run config: "
                           "--lr must be a positive number, got 'auto'")
    return cfg


def run(args):
    import fastnn
    from fastnn.checkpoint import CheckpointError, remove_stale_temp_files
    from fastnn.solver import Solver

    out = args.output_dir
    check_threads(args.threads)
    interrupt_path = os.path.join(out, CHECKPOINT)
    cfg_path = os.path.join(out, "config.json")
    if args.resume:
        if not os.path.exists(cfg_path) or not os.path.exists(interrupt_path):
            raise CommandError(f"--resume: {out!r} has no interrupted run "
                               f"(needs config.json and {CHECKPOINT})")
        try:
            check_regular(interrupt_path)
        except OSError as exc:
            raise CommandError(f"--resume: cannot read {interrupt_path!r}: {exc}") from None
        cfg = _read_config(cfg_path)
    else:
        cfg = _check(args)
        check_dataset_spec(cfg["dataset"])     # a wrong --dataset is named before --output-dir
        _clear_earlier_run(out, args.overwrite)
    output_dir(out)
    # what a process killed mid-save (SIGKILL) left: never needed, never overwritten
    remove_stale_temp_files(out, names=_NPZ_OUTPUTS)
    if args.threads is not None:
        fastnn.set_num_threads(args.threads)
    say = (lambda *a: None) if args.quiet else print

    if not args.resume and (cfg["lr"] == "auto" or args.sanity):   # fastnn.lrfind, fastnn.sanity
        from fastnn.commands.lrfind import before_training
        before_training(cfg, args.sanity, out, say)               # --lr auto sets cfg["lr"]
    model, split, pre, solver_kw = build_run(cfg)
    solver = Solver(model, split, verbose=not args.quiet, interrupt_checkpoint=interrupt_path,
                    print_every=max(1, len(split["X_train"]) // cfg["batch_size"] // 2),
                    checkpoint_tag=config_hash(cfg), tensorboard=_tensorboard_dir(args),
                    **solver_kw)
    if args.resume:
        try:
            solver.load(interrupt_path)
        except CheckpointError as exc:
            raise CommandError(f"--resume: {exc} ({CHECKPOINT} and config.json must come from "
                               "the same run; start a fresh run without --resume)") from None
        say(f"resuming {out!r} at epoch {solver.epoch + 1}" if not solver.run_finished else
            f"resuming {out!r}: training had finished; writing the final files")
    else:
        if os.path.exists(interrupt_path):            # an older run's: never resumed with this one
            os.remove(interrupt_path)
        _write_json(cfg_path, cfg)
        say(f"training {cfg['model']} on {cfg['dataset']!r}: {len(split['X_train'])} train / "
            f"{len(split['X_val'])} val / {len(split['X_test'])} test images of "
            f"{split['X_train'].shape[1:]}, {sum(v.size for v in model.params.values())} "
            f"parameters, {fastnn.get_num_threads()} threads")
    t0 = time.perf_counter()
    hint = f"interrupted; resume with: fastnn train --resume --output-dir {out}"
    try:
        if not solver.run_finished:
            solver.train()
            # the finished state, resumable until every final file is written
            solver.save(interrupt_path)
    except KeyboardInterrupt:
        print(hint)
        return 130
    seconds = time.perf_counter() - t0
    try:
        test_acc, written = _write_final_files(args, out, cfg, solver, split, pre, seconds)
    except KeyboardInterrupt:
        print(hint)
        return 130
    os.remove(interrupt_path)
    say(f"wrote {', '.join(written)} to {out}")
    print(f"test accuracy: {test_acc:.4f} (best val {solver.best_val_acc:.4f}, "
          f"{solver.epoch} epochs in {seconds:.1f} s)")
    return 0


def _write_final_files(args, out, cfg, solver, split, pre, seconds):
    """Test accuracy, model.npz, preprocess.npz, history.json and the plots: (test accuracy,
    the names written)."""
    from fastnn import data as fdata
    test_acc = solver.check_accuracy(split["X_test"], split["y_test"])
    solver.model.preprocessor = pre      # saved with the model: fastnn.load / fastnn predict apply it
    solver.model.save(os.path.join(out, "model.npz"), meta={"config": cfg, "test_acc": test_acc})
    fdata.save_preprocessor(os.path.join(out, "preprocess.npz"), pre)
    history = solver.history()
    history.update(test_acc=test_acc, seconds=seconds, config=cfg)
    _write_json(os.path.join(out, "history.json"), history)
    written = ["model.npz", "preprocess.npz", "config.json", "history.json"]
    if args.plots:
        from fastnn.plots import plot_history
        written += [os.path.basename(p) for p in plot_history(history, out)]
    return test_acc, written
