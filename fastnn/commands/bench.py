"""``fastnn bench``: fastnn vs its NumPy reference vs PyTorch (when installed), in one run.

Every library gets the same inputs, dtype and thread count; fastnn and PyTorch
are interleaved round-robin, the reference is timed on its own; medians.  The
workloads are those of :mod:`fastnn.benchmarks` (activations, affine, conv,
pooling, normalisation, dropout, losses, optimisers, augmentation, training
steps).  A full run takes several minutes: ``--groups`` and ``--match`` narrow it.
"""
import os

from fastnn.commands import CommandError

HELP = "benchmark table: fastnn vs NumPy reference vs PyTorch (when installed)"


def add_arguments(parser):
    from fastnn.benchmarks import compare
    compare.add_arguments(parser)
    parser.set_defaults(threads=os.cpu_count() or 1,
                        reps=11, ref_reps=3)


def _check_shape_memory(shape_text):
    """``--shape``: the activation table holds about 8 float64 arrays of that shape at once
    (inputs, gradients, outputs of each library); refuse what the machine's RAM cannot hold."""
    from fastnn.commands.train import _gib, physical_memory
    shape = [int(v) for v in shape_text.split(",")]
    n = 1
    for d in shape:
        n *= d
    need, limit = 8 * 8 * n, physical_memory()
    if limit is not None and need > limit:
        return [f"--shape {shape_text} ({n:,} elements) needs at least {_gib(need)} for the "
                f"activation table's arrays; this machine has {_gib(limit)} of memory"]
    return []


def run(args):
    from fastnn.benchmarks import compare
    problems = compare.check_arguments(args)
    from fastnn._config import MAX_THREADS
    if args.threads > MAX_THREADS:
        problems.append(f"--threads must be in 1..{MAX_THREADS} (4 per CPU of this "
                        f"{os.cpu_count()}-CPU machine, at least 64), got {args.threads}")
    if not problems:
        problems += _check_shape_memory(args.shape)
    if problems:
        raise CommandError("; ".join(problems))
    return compare.run(args)
