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


def run(args):
    from fastnn.benchmarks import compare
    problems = compare.check_arguments(args)
    if problems:
        raise CommandError("; ".join(problems))
    return compare.run(args)
