"""``fastnn train``: train a model and write its checkpoint, history and plots.

With no arguments it trains a small convnet (conv3x3 - ReLU - pool - affine -
ReLU - affine, He init, Adam) on the built-in 8x8 digits, standardised with the
training set's statistics, and prints the test accuracy.  The output directory
(``--output-dir``, default ``fastnn-run``) receives:

    model.npz        the trained model (best validation accuracy), no pickle
    preprocess.npz   the preprocessing fitted on the training set
    config.json      every option of the run (``--resume`` reads it back)
    history.json     loss per iteration, train/val accuracy per epoch, monitor records
    loss.png, accuracy.png, monitor.png   the curves (``fastnn plot history.json`` redraws them)

Ctrl-C stops between two iterations and writes ``interrupted.npz``;
``fastnn train --resume --output-dir DIR`` finishes that run, to the same result
as an uninterrupted run with the same seed.  A folder that holds an earlier run
is refused unless ``--overwrite`` is given, which first deletes that run's files
(the ones listed above, ``interrupted.npz``).

``--schedule cosine|step|onecycle|plateau`` and ``--warmup N`` choose a
learning-rate schedule (see :mod:`fastnn.schedules`); ``--tensorboard DIR``
writes TensorBoard event files.
"""
import json
import math
import os
import time

import numpy as np

from fastnn.commands import CommandError, output_dir

HELP = "train a model on the built-in dataset (or a CIFAR-10 / MNIST folder): the main job"

OPTIMIZERS = ("sgd", "sgd_momentum", "nesterov", "rmsprop", "adam", "adamw", "adagrad")
SCHEDULES = ("none", "cosine", "step", "onecycle", "plateau")
# what a run writes into --output-dir (--overwrite deletes these first)
RUN_FILES = ("model.npz", "preprocess.npz", "config.json", "history.json", "interrupted.npz",
             "loss.png", "accuracy.png", "monitor.png")
PREPROCESS = ("none", "mean_image", "channel_mean", "standardize", "pca", "whiten")
# the options that define a run (saved in config.json, restored by --resume)
RUN_KEYS = ("model", "dataset", "epochs", "batch_size", "lr", "lr_decay", "optimizer", "reg",
            "init", "activation", "normalization", "dropout", "augment", "preprocess", "hidden",
            "filters", "seed", "patience", "monitor")
# optional run options: the value used when config.json has none
RUN_DEFAULTS = {"schedule": "none", "warmup": 0, "sampling": "random", "clip_grad_norm": None,
                "label_smoothing": 0.0}


def add_arguments(p):
    a = p.add_argument
    a("--model", choices=("mlp", "convnet", "vgg"), default="convnet",
      help="network (default: %(default)s)")
    a("--dataset", default="digits", metavar="NAME|PATH",
      help="built-in dataset name, or a folder with the CIFAR-10 python batches or the MNIST "
           "IDX files (default: %(default)s)")
    a("--epochs", type=int, default=20, help="default: %(default)s")
    a("--batch-size", type=int, default=32, help="default: %(default)s")
    a("--lr", type=float, default=6e-4, help="learning rate (default: %(default)s)")
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


# ------------------------------------------------------------------ checks

def _check(args):
    def need(cond, msg):
        if not cond:
            raise CommandError(msg)

    need(args.epochs >= 1, f"--epochs must be >= 1, got {args.epochs}")
    need(args.batch_size >= 1, f"--batch-size must be >= 1, got {args.batch_size}")
    need(math.isfinite(args.lr) and args.lr > 0, f"--lr must be a positive number, got {args.lr}")
    need(math.isfinite(args.lr_decay) and 0 < args.lr_decay <= 1,
         f"--lr-decay must be in (0, 1], got {args.lr_decay}")
    need(math.isfinite(args.reg) and args.reg >= 0, f"--reg must be >= 0, got {args.reg}")
    need(0 <= args.dropout < 1, f"--dropout must be in [0, 1), got {args.dropout}")
    need(args.filters >= 1, f"--filters must be >= 1, got {args.filters}")
    need(args.patience is None or args.patience >= 1,
         f"--patience must be >= 1, got {args.patience}")
    need(args.threads is None or args.threads >= 1, f"--threads must be >= 1, got {args.threads}")
    need(args.warmup >= 0, f"--warmup must be >= 0, got {args.warmup}")
    need(args.warmup < args.epochs or args.warmup == 0,
         f"--warmup {args.warmup} must be shorter than --epochs {args.epochs}")
    need(args.clip_grad_norm is None or (math.isfinite(args.clip_grad_norm)
                                         and args.clip_grad_norm > 0),
         f"--clip-grad-norm must be a positive number, got {args.clip_grad_norm}")
    need(0 <= args.label_smoothing <= 1,
         f"--label-smoothing must be in [0, 1], got {args.label_smoothing}")

    from fastnn.models import ACTIVATIONS
    need(args.activation in ACTIVATIONS,
         f"--activation must be one of {', '.join(sorted(ACTIVATIONS))}; got {args.activation!r}")
    if args.hidden is not None:
        try:
            hidden = tuple(int(v) for v in str(args.hidden).split(","))
        except ValueError:
            raise CommandError(f"--hidden must be a comma list of integers, "
                               f"got {args.hidden!r}") from None
        need(all(h >= 1 for h in hidden), f"--hidden widths must be >= 1, got {args.hidden!r}")


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

def load_dataset(spec):
    """A built-in name, or a folder holding CIFAR-10 batches or MNIST IDX files."""
    from fastnn import data
    if spec in data.BUILTIN:
        return data.load_builtin(spec)
    if not os.path.exists(spec):
        raise CommandError(f"--dataset: {spec!r} is neither a built-in dataset "
                           f"({', '.join(sorted(data.BUILTIN))}) nor an existing folder")
    if not os.path.isdir(spec):
        raise CommandError(f"--dataset: {spec!r} is a file; give the folder that holds the "
                           "CIFAR-10 batches or the MNIST IDX files")
    names = os.listdir(spec)
    if "data_batch_1" in names:
        return data.load_cifar10(spec)
    if any(n.startswith("train-images") for n in names):
        return data.load_mnist(spec)
    raise CommandError(f"--dataset: {spec!r} holds neither CIFAR-10 batches (data_batch_1, ...) "
                       "nor MNIST IDX files (train-images-idx3-ubyte, ...)")


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
    model = make_model(cfg["model"], input_dim, num_classes, hidden_dims=cfg["hidden"],
                       num_filters=cfg["filters"], activation=cfg["activation"],
                       normalization=None if cfg["normalization"] == "none"
                       else cfg["normalization"],
                       dropout=cfg["dropout"], init=cfg["init"], reg=cfg["reg"], seed=cfg["seed"])
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

def run(args):
    import fastnn
    from fastnn import data as fdata
    from fastnn.solver import Solver

    out = args.output_dir
    if args.resume:
        cfg_path = os.path.join(out, "config.json")
        ckpt = os.path.join(out, "interrupted.npz")
        if not os.path.isfile(cfg_path) or not os.path.isfile(ckpt):
            raise CommandError(f"--resume: {out!r} has no interrupted run "
                               f"(needs config.json and interrupted.npz)")
        try:
            with open(cfg_path) as f:
                cfg = json.load(f)
            missing = [k for k in RUN_KEYS if k not in cfg]
        except (OSError, ValueError) as exc:
            raise CommandError(f"--resume: cannot read {cfg_path!r}: {exc}") from None
        if missing:
            raise CommandError(f"--resume: {cfg_path!r} lacks {missing}")
        for k, v in RUN_DEFAULTS.items():
            cfg.setdefault(k, v)
    else:
        _check(args)
        cfg = {k: getattr(args, k) for k in RUN_KEYS + tuple(RUN_DEFAULTS)}
        cfg["hidden"] = _hidden(args)
        ckpt = None
        _clear_earlier_run(out, args.overwrite)
    output_dir(out)
    if args.threads is not None:
        fastnn.set_num_threads(args.threads)
    say = (lambda *a: None) if args.quiet else print

    model, split, pre, solver_kw = build_run(cfg)
    interrupt_path = os.path.join(out, "interrupted.npz")
    solver = Solver(model, split, verbose=not args.quiet, interrupt_checkpoint=interrupt_path,
                    print_every=max(1, len(split["X_train"]) // cfg["batch_size"] // 2),
                    tensorboard=_tensorboard_dir(args), **solver_kw)
    if ckpt is not None:
        solver.load(ckpt)
        say(f"resuming {out!r} at epoch {solver.epoch + 1}")
    else:
        _write_json(os.path.join(out, "config.json"), cfg)
        say(f"training {cfg['model']} on {cfg['dataset']!r}: {len(split['X_train'])} train / "
            f"{len(split['X_val'])} val / {len(split['X_test'])} test images of "
            f"{split['X_train'].shape[1:]}, {sum(v.size for v in model.params.values())} "
            f"parameters, {fastnn.get_num_threads()} threads")
    t0 = time.perf_counter()
    try:
        solver.train()
    except KeyboardInterrupt:
        print(f"interrupted; resume with: fastnn train --resume --output-dir {out}")
        return 130
    seconds = time.perf_counter() - t0
    if os.path.exists(interrupt_path):
        os.remove(interrupt_path)

    test_acc = solver.check_accuracy(split["X_test"], split["y_test"])
    model.save(os.path.join(out, "model.npz"), meta={"config": cfg, "test_acc": test_acc})
    fdata.save_preprocessor(os.path.join(out, "preprocess.npz"), pre)
    history = solver.history()
    history.update(test_acc=test_acc, seconds=seconds, config=cfg)
    _write_json(os.path.join(out, "history.json"), history)
    written = ["model.npz", "preprocess.npz", "config.json", "history.json"]
    if args.plots:
        from fastnn.plots import plot_history
        written += [os.path.basename(p) for p in plot_history(history, out)]
    say(f"wrote {', '.join(written)} to {out}")
    print(f"test accuracy: {test_acc:.4f} (best val {solver.best_val_acc:.4f}, "
          f"{solver.epoch} epochs in {seconds:.1f} s)")
    return 0
