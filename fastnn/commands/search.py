"""``fastnn search``: hyperparameter search on the built-in dataset or a CIFAR-10 / MNIST folder.

    fastnn search --model convnet --trials 50 --epochs 2 \\
        --space lr=loguniform:1e-5:1e-1 --space reg=loguniform:1e-5:1e-1 --jobs 2

Random search by default; ``--stages S`` runs coarse-to-fine (S stages of
``--trials`` trials; stages after the first train ``--fine-epochs`` epochs and
narrow every range around the previous stage's best trials); a space made only
of ``grid:`` dimensions (and constants) runs a grid search.

``--space NAME=KIND:ARGS``: ``loguniform:LOW:HIGH``, ``uniform:LOW:HIGH``,
``randint:LOW:HIGH`` (HIGH excluded), ``choice:A,B,...``, ``grid:A,B,...``, or
``NAME=VALUE`` for a constant.  Names: every option of ``fastnn train`` a
trial reads (see :class:`fastnn.tune.TrainFn`: lr, reg, dropout, activation,
init, normalization, depth, width, width_1.., hidden, filters, optimizer and
its options, schedule, warmup, augment, ...); default space: lr and reg
log-uniform on [1e-5, 1e-1].  ``--space FILE.toml`` (or ``FILE.json``) reads
dimensions from a TOML or JSON file (see
:func:`fastnn.tune.load_space`; conditional dimensions with ``when``).

``--scheduler asha|median|none`` stops bad trials early (``--eta``,
``--min-epochs``); ``--sampler tpe`` lets Optuna's TPE propose the configs
(``pip install fastnn[optuna]``).  ``--jobs N`` runs N trials at once in
worker processes; ``--dask-scheduler ADDRESS`` runs them on a Dask cluster
(``pip install fastnn[distributed]``; ``--scheduler ADDRESS`` still works,
with a deprecation message).
Writes results.json (rewritten after every trial; ``--resume`` continues it
without re-running finished trials), results.csv and the plots into
``--output-dir``, and prints the best trials and the best config.
"""
import argparse
import os
import warnings

HELP = "hyperparameter search (random, grid, coarse-to-fine)"

DEFAULT_SPACE = ["lr=loguniform:1e-5:1e-1", "reg=loguniform:1e-5:1e-1"]


def add_arguments(parser):
    parser.add_argument("--model", choices=["convnet", "mlp", "vgg"], default="convnet",
                        help="the trial's model (default: convnet)")
    parser.add_argument("--dataset", default="digits", metavar="NAME|PATH",
                        help="built-in dataset, or a folder with the CIFAR-10 python batches or "
                             "the MNIST IDX files (default: digits)")
    parser.add_argument("--trials", type=int, default=20, metavar="N",
                        help="trials per stage (default: 20; ignored by a grid search)")
    parser.add_argument("--epochs", type=int, default=1, metavar="E",
                        help="epochs per trial (default: 1)")
    parser.add_argument("--fine-epochs", type=int, default=None, metavar="E",
                        help="epochs per trial in stages after the first (default: --epochs)")
    parser.add_argument("--batch-size", type=int, default=50, metavar="B",
                        help="mini-batch size (default: 50)")
    parser.add_argument("--optimizer", default=None,
                        help="optimiser, as fastnn train --optimizer (default: adam)")
    parser.add_argument("--update-rule", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--space", action="append", default=None, metavar="NAME=KIND:ARGS|FILE",
                        help="a search dimension, repeatable, or a .toml/.json space file "
                             "(default: " + " ".join(DEFAULT_SPACE) + ")")
    parser.add_argument("--scheduler", default="none", metavar="asha|median|none",
                        help="early stopping of bad trials (default: none)")
    parser.add_argument("--eta", type=int, default=3,
                        help="ASHA reduction factor (default: 3)")
    parser.add_argument("--min-epochs", type=int, default=1, metavar="E",
                        help="first early-stopping milestone (default: 1)")
    parser.add_argument("--sampler", choices=["random", "tpe"], default="random",
                        help="who proposes configs: random sampling or Optuna's TPE "
                             "(default: random)")
    parser.add_argument("--stages", type=int, default=1, metavar="S",
                        help="coarse-to-fine stages (default: 1, plain random search)")
    parser.add_argument("--shrink", type=float, default=0.5,
                        help="range width kept per coarse-to-fine stage (default: 0.5)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="trials at once in worker processes (default: 1; -1: one per core)")
    parser.add_argument("--dask-scheduler", default=None, metavar="ADDRESS",
                        help="run the trials on this Dask scheduler (tcp://host:8786)")
    parser.add_argument("--output-dir", default="fastnn-search", metavar="DIR",
                        help="where results.json, results.csv and the plots go (default: fastnn-search)")
    parser.add_argument("--seed", type=int, default=0, help="search seed (default: 0)")
    parser.add_argument("--resume", action="store_true",
                        help="continue DIR/results.json: finished trials are not re-run")
    parser.add_argument("--top", type=int, default=10, metavar="K",
                        help="rows of the printed table (default: 10)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args):
    from fastnn import tune
    from fastnn.commands import CommandError, output_dir

    for name in ("trials", "epochs", "batch_size", "stages", "top"):
        v = getattr(args, name)
        if v < 1:
            raise CommandError(f"--{name.replace('_', '-')} must be >= 1, got {v}")
    if args.fine_epochs is not None and args.fine_epochs < 1:
        raise CommandError(f"--fine-epochs must be >= 1, got {args.fine_epochs}")
    if args.jobs < 1 and args.jobs != -1:
        raise CommandError(f"--jobs must be >= 1 or -1, got {args.jobs}")
    if not 0 < args.shrink <= 1:
        raise CommandError(f"--shrink must be in (0, 1], got {args.shrink}")
    if args.seed < 0:
        raise CommandError(f"--seed must be >= 0, got {args.seed}")
    import sys
    if args.scheduler not in ("asha", "median", "none"):
        if args.dask_scheduler is not None:
            raise CommandError(f"--scheduler must be asha, median or none, got {args.scheduler!r}")
        print(f"fastnn search: --scheduler ADDRESS is deprecated, use --dask-scheduler "
              f"{args.scheduler}", file=sys.stderr)
        args.dask_scheduler, args.scheduler = args.scheduler, "none"
    if args.eta < 2:
        raise CommandError(f"--eta must be >= 2, got {args.eta}")
    if args.min_epochs < 1:
        raise CommandError(f"--min-epochs must be >= 1, got {args.min_epochs}")
    if args.update_rule is not None:
        if args.optimizer is not None:
            raise CommandError("--update-rule is the deprecated spelling of --optimizer; "
                               "give only --optimizer")
        print(f"fastnn search: --update-rule is deprecated, use --optimizer "
              f"{args.update_rule}", file=sys.stderr)
        args.optimizer = args.update_rule
    if args.optimizer is None:
        args.optimizer = "adam"
    from fastnn.optim import RULES
    if args.optimizer not in RULES:
        raise CommandError(f"--optimizer must be one of {', '.join(RULES)}; "
                           f"got {args.optimizer!r}")
    if args.dask_scheduler is not None:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise CommandError(f"--dask-scheduler {args.dask_scheduler} needs Dask's distributed "
                               "scheduler, which is not installed: pip install "
                               "fastnn[distributed]") from None
    try:
        specs = args.space or DEFAULT_SPACE
        space = {}
        for spec in specs:
            if spec.endswith((".toml", ".json")) and "=" not in spec:
                part = tune.load_space(spec)
            else:
                part = tune.parse_space([spec])
            twice = sorted(set(part) & set(space))
            if twice:
                raise ValueError(f"--space: {twice} given twice")
            space.update(part)
        tune._spaces._check_space(space, "--space")
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    scheduler = {"asha": tune.ASHA(eta=args.eta, min_epochs=args.min_epochs),
                 "median": tune.MedianStop(min_epochs=args.min_epochs),
                 "none": None}[args.scheduler]
    try:
        train_fn = tune.make_train_fn(args.model, args.dataset, epochs=args.epochs,
                                      batch_size=args.batch_size, update_rule=args.optimizer)
        for old, _ in tune._train.deprecated_keys(space):
            print(f"fastnn search: --space: {tune._train.deprecation_message(old)}",
                  file=sys.stderr)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)    # printed just above
            train_fn.check_space(space)
    except ValueError as exc:
        raise CommandError(str(exc)) from None

    if args.resume:
        # a resume that finds nothing must not quietly become a fresh search
        if not os.path.isdir(args.output_dir):
            raise CommandError(f"--resume: {args.output_dir!r} is not a folder, so there is no "
                               "search to resume (drop --resume to start a new one)")
        if not os.path.exists(os.path.join(args.output_dir, "results.json")):
            raise CommandError(f"--resume: {args.output_dir!r} holds no results.json, so there "
                               "is no search to resume (drop --resume to start a new one)")
    out = output_dir(args.output_dir)
    results_path = os.path.join(out, "results.json")
    if os.path.exists(results_path) and not args.resume:
        raise CommandError(f"{results_path} exists: pass --resume to continue it, or choose "
                           f"another --output-dir")
    if args.resume:
        try:
            tune.SearchResult.from_json(results_path)
        except (ValueError, OSError) as exc:
            raise CommandError(str(exc)) from None

    run_kw = dict(n_jobs=args.jobs, dask_scheduler=args.dask_scheduler,
                  results_path=results_path, progress=not args.no_progress,
                  scheduler=scheduler)
    if args.sampler == "tpe":
        try:
            import optuna  # noqa: F401
        except ImportError:
            raise CommandError("--sampler tpe needs Optuna: pip install 'fastnn[optuna]'") \
                from None
        run_kw["sampler"] = "tpe"
    all_grid = all(not isinstance(v, tune.Space) or v.kind == "grid" for v in space.values())
    if args.stages > 1:
        fine = args.fine_epochs or args.epochs
        stages = [(args.trials, args.epochs)] + [(args.trials, fine)] * (args.stages - 1)
        kind = f"coarse-to-fine, {args.stages} stages of {args.trials} trials"
        search = lambda: tune.coarse_to_fine(train_fn, space, stages=stages,  # noqa: E731
                                             shrink=args.shrink, seed=args.seed, **run_kw)
    elif all_grid and any(isinstance(v, tune.Space) for v in space.values()) \
            and args.sampler == "random":
        kind = "grid search"
        search = lambda: tune.grid_search(train_fn, space, seed=args.seed, **run_kw)  # noqa: E731
    else:
        kind = f"random search, {args.trials} trials"
        search = lambda: tune.random_search(train_fn, space, args.trials,  # noqa: E731
                                            seed=args.seed, **run_kw)
    if scheduler is not None:
        kind += f", {scheduler!r} early stopping"
    if args.sampler == "tpe":
        kind += ", Optuna TPE sampler"
    where = (f"Dask scheduler {args.dask_scheduler}" if args.dask_scheduler else
             f"{args.jobs} worker processes" if args.jobs != 1 else "this process")
    print(f"fastnn search: {kind}, {args.model} on {args.dataset}, {args.epochs} epoch(s), "
          f"in {where}")
    for k, v in space.items():
        print(f"  {k} = {v!r}")
    try:
        result = search()
    except OSError as exc:
        if args.dask_scheduler:
            raise CommandError(f"cannot reach the Dask scheduler {args.dask_scheduler!r}: "
                               f"{exc}") from None
        raise

    n_ok = sum(t["status"] == "ok" for t in result.trials)
    n_stop = sum(t["status"] == "stopped" for t in result.trials)
    epochs = sum(t["metrics"].get("epochs_trained", 0) or 0 for t in result.trials)
    print(f"\n{len(result)} trials, {n_ok} ran to the end, {n_stop} stopped early, "
          f"{len(result) - n_ok - n_stop} failed ({epochs} training epochs); "
          f"best {args.top} by {result.metric}:")
    print(result.table(top=args.top))
    csv_path = result.to_csv(os.path.join(out, "results.csv"))
    plots = result.plot(out)
    if result.best_trial is None:
        print("\nno trial succeeded: see the errors in", csv_path)
        return 1
    best = result.best_trial
    print(f"\nbest config ({result.metric} = {best['metrics'][result.metric]:.4f}, stage "
          f"{best['stage']}, trial {best['trial']}):")
    for k, v in best["config"].items():
        print(f"  {k} = {v:.4g}" if isinstance(v, float) else f"  {k} = {v}")
    print(f"\nwrote {results_path}, {csv_path} and {len(plots)} plot(s) in {out}")
    return 0
