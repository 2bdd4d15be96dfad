"""``fastnn diagnose``: the lecture's initialisation, dead-ReLU and gradient-flow experiments.

    init-tanh      activation statistics of a 10-layer, 500-unit tanh net for small random
                   N(0, 0.01^2), large N(0, 1), Xavier and He weights
    init-relu      the same with ReLU, Xavier vs He
    dead-relu      dead ReLUs in a small MLP trained on the built-in digits at a sane and
                   at a too-high learning rate
    gradient-flow  per-layer gradient norms of a 10-layer net at init, sigmoid vs ReLU

Prints each experiment's numbers as a small table and writes one PNG per experiment
(plus diagnose.json with all the numbers) into the output directory.
"""
import json
import os

from fastnn.commands import CommandError, output_dir

HELP = "the lecture's initialisation / dead-ReLU / gradient-flow experiments, tables and PNGs"


def add_arguments(parser):
    from fastnn.diagnose import EXPERIMENTS
    parser.add_argument("--experiment", default="all", choices=["all"] + list(EXPERIMENTS),
                        help="which experiment to run (default: all)")
    parser.add_argument("--output-dir", default="fastnn-diagnose", metavar="DIR",
                        help="where the PNGs and diagnose.json go (default: fastnn-diagnose)")
    parser.add_argument("--seed", type=int, default=0, help="seed of data and weights (default 0)")


def run(args):
    from fastnn import diagnose
    outdir = output_dir(args.output_dir)
    if args.seed < 0:
        raise CommandError(f"--seed must be >= 0, got {args.seed}")
    names = list(diagnose.EXPERIMENTS) if args.experiment == "all" else [args.experiment]
    results = {}
    for name in names:
        result = diagnose.EXPERIMENTS[name](seed=args.seed, outdir=outdir)
        results[name] = result
        print(diagnose.format_result(result))
        print(f"wrote {result['png']}")
        print()
    path = os.path.join(outdir, "diagnose.json")
    with open(path, "w") as f:
        json.dump(results, f)
    print(f"wrote {path}")
    return 0
