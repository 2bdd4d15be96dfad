"""``fastnn lrfind``: the learning-rate range test for the model ``fastnn train`` would train.

Builds the same model and data as ``fastnn train`` with the same options (a fresh
copy, nothing is saved), raises the learning rate exponentially from
``--start-lr`` to ``--end-lr`` over at most ``--iterations`` mini-batches, stops at
divergence and prints the suggested rate with its reason.  The output directory
(``--output-dir``, default ``fastnn-lrfind``) receives ``lrfind.png`` (loss, dead
fraction and update/weight ratio against the learning rate, suggestion marked) and
``lrfind.json`` (every number).  ``fastnn train --lr auto`` runs the same test
first and trains with the suggestion.
"""
import argparse
import json
import math
import os
import time

from fastnn.commands import CommandError, output_dir

HELP = "learning-rate range test: loss, dead units and update ratio per rate, a suggested lr"


def lr_or_auto(text):
    """``--lr`` of ``fastnn train``: a positive number or ``auto``."""
    if text == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None


def add_arguments(p):
    from fastnn.commands.train import OPTIMIZERS, PREPROCESS
    from fastnn.lrfind import RULES
    a = p.add_argument
    a("--model", choices=("mlp", "convnet", "vgg"), default="convnet",
      help="network, as for fastnn train (default: %(default)s)")
    a("--dataset", default="digits", metavar="NAME|PATH", help="as for fastnn train")
    a("--batch-size", type=int, default=32, help="default: %(default)s")
    a("--optimizer", choices=OPTIMIZERS, default="adam", help="default: %(default)s")
    a("--reg", type=float, default=1e-3, help="L2 strength (default: %(default)s)")
    a("--init", choices=("kaiming", "xavier", "lecun", "normal"), default="kaiming",
      help="weight init (default: %(default)s)")
    a("--activation", default="relu", help="as for fastnn train (default: %(default)s)")
    a("--normalization", choices=("none", "batchnorm", "layernorm"), default="none",
      help="default: %(default)s")
    a("--dropout", type=float, default=0.0, help="drop probability (default: %(default)s)")
    a("--preprocess", choices=PREPROCESS, default="standardize", help="default: %(default)s")
    a("--hidden", default=None, metavar="N[,N...]", help="hidden widths of the affine layers")
    a("--filters", type=int, default=32, help="conv filters (default: %(default)s)")
    a("--seed", type=int, default=0, help="seeds init and batches (default: %(default)s)")
    a("--threads", type=int, default=None, help="fastnn threads (default: all cores)")
    a("--start-lr", type=float, default=1e-7, help="first rate (default: %(default)s)")
    a("--end-lr", type=float, default=10.0, help="last rate (default: %(default)s)")
    a("--iterations", type=int, default=200,
      help="rates tested at most, one mini-batch each (default: %(default)s)")
    a("--rule", choices=RULES, default="min10",
      help="min10: a tenth of the rate of the lowest loss; steepest: the rate where the loss "
           "falls fastest (default: %(default)s)")
    a("--output-dir", default="fastnn-lrfind", metavar="DIR", help="default: %(default)s")


def _train_args(args):
    """These options, completed with ``fastnn train``'s defaults for the ones lrfind lacks."""
    from fastnn.commands import train
    parser = argparse.ArgumentParser(add_help=False)
    train.add_arguments(parser)
    return argparse.Namespace(**{**vars(parser.parse_args([])), **vars(args)})


def run_config(args):
    """The run config ``fastnn train`` would build from these options (its defaults elsewhere),
    checked as ``fastnn train`` checks its own."""
    from fastnn.commands import train
    return train._check(_train_args(args))


def range_test(cfg, path=None, start_lr=1e-7, end_lr=10.0, iterations=200, rule="min10"):
    """Run :func:`fastnn.lrfind.lrfind` on the model and data of a ``fastnn train`` config.

    The config's optimizer, batch size, regularisation and seed are used; its
    learning rate is not (it may be ``"auto"``).  Returns the LRFindResult.
    """
    from fastnn.commands.train import build_run
    from fastnn.lrfind import lrfind
    model, split, _, _ = build_run(dict(cfg, lr=1e-3))
    return lrfind(model, split, update_rule=cfg["optimizer"], start_lr=start_lr,
                  end_lr=end_lr, num_iter=iterations, batch_size=cfg["batch_size"],
                  rule=rule, seed=cfg["seed"], path=path)


def before_training(cfg, sanity, outdir, say=print):
    """``fastnn train --lr auto`` / ``--sanity``: the range test (writes ``lrfind.png`` in
    ``outdir`` and sets ``cfg["lr"]`` to the suggestion) and the sanity checks (prints
    their report).  Returns the sanity report, or None."""
    if cfg["lr"] == "auto":
        t0 = time.perf_counter()
        result = range_test(cfg, path=os.path.join(outdir, "lrfind.png"))
        cfg["lr"] = float(f"{result.suggested_lr:.3g}")
        say(str(result))
        say(f"--lr auto: training with lr {cfg['lr']:g} (range test {time.perf_counter() - t0:.1f} s)")
    if not sanity:
        return None
    from fastnn.commands.train import build_run
    from fastnn.sanity import check
    model, split, _, kw = build_run(cfg)
    report = check(model, split, update_rule=kw["update_rule"],
                   optim_config=kw["optim_config"], seed=cfg["seed"])
    say(str(report))
    return report


def run(args):
    import fastnn
    from fastnn.commands import train
    for name in ("start_lr", "end_lr"):
        v = getattr(args, name)
        if not (math.isfinite(v) and v > 0):
            raise CommandError(f"--{name.replace('_', '-')} must be a positive number, got {v}")
    if args.end_lr <= args.start_lr:
        raise CommandError(f"--end-lr ({args.end_lr:g}) must be larger than --start-lr "
                           f"({args.start_lr:g})")
    if args.iterations < 10:
        raise CommandError(f"--iterations must be >= 10, got {args.iterations}")
    args.lr, args.lr_decay, args.epochs, args.patience = 1e-3, 0.95, 1, None
    cfg = run_config(args)
    train.check_threads(args.threads)
    out = output_dir(args.output_dir)
    if args.threads is not None:
        fastnn.set_num_threads(args.threads)
    t0 = time.perf_counter()
    result = range_test(cfg, path=os.path.join(out, "lrfind.png"), start_lr=args.start_lr,
                        end_lr=args.end_lr, iterations=args.iterations, rule=args.rule)
    seconds = time.perf_counter() - t0
    path = os.path.join(out, "lrfind.json")
    with open(path, "w") as f:
        json.dump(dict(result.to_dict(), seconds=seconds, config=cfg), f)
    print(result)
    print(f"wrote {result.png} and {path} ({seconds:.1f} s)")
    print(f"train with it: fastnn train --optimizer {cfg['optimizer']} "
          f"--lr {result.suggested_lr:.3g}   (or fastnn train --lr auto)")
    return 0
