"""fastnn.compat.cs231n against the course's algorithms in NumPy, and against fastnn's own API.

(a) ``conv_forward_fast`` + ``conv_backward_fast`` on the assignment notebook's shape
    (x 100x3x31x31, w 25x3x3x3, stride 2, pad 1) against ``fastnn.reference``'s NumPy im2col
    twin (``conv_forward_im2col`` / ``conv_backward_im2col``: im2col of the whole batch and one
    batched matmul, the algorithm of the course's ``fast_layers``).  Target: >= 3x faster.
(b) ``max_pool_forward_fast`` + ``max_pool_backward_fast`` (x 100x3x32x32, 2x2 stride 2)
    against ``fastnn.reference.max_pool_forward_reshape`` / ``max_pool_backward_reshape``
    (the course's reshape algorithm).  Target: >= 3x faster.
(c) One epoch of a FullyConnectedNet (3072-100-100-10, batch norm, Adam, batch 100) on 4900
    samples: ``fastnn.compat.cs231n`` (its FullyConnectedNet and Solver) against the same model
    on fastnn's native API (``fastnn.models.FullyConnectedNet`` and ``fastnn.solver.Solver``),
    accuracy on 1000 train + 1000 val samples at the first iteration and the epoch end.
    Target: within 1.1x.

    python bench/compat.py [--threads 2] [--reps 15]

float64 (as the course runs it), the same thread count for fastnn's OpenMP and NumPy's BLAS,
medians of interleaved repetitions.  A benchmark, not a test: nothing here asserts a time.
"""
import argparse
import platform

import numpy as np

import fastnn
from fastnn import reference
from fastnn.compat.cs231n import fast_layers
from fastnn.compat.cs231n.classifiers.fc_net import FullyConnectedNet as CourseFCNet
from fastnn.compat.cs231n.solver import Solver as CourseSolver
from fastnn.models import FullyConnectedNet
from fastnn.benchmarks import harness
from fastnn.solver import Solver


def conv_pair(reps):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((100, 3, 31, 31))
    w = rng.standard_normal((25, 3, 3, 3))
    b = rng.standard_normal(25)
    dout = rng.standard_normal((100, 25, 16, 16))
    conv_param = {"stride": 2, "pad": 1}

    def compat():
        out, cache = fast_layers.conv_forward_fast(x, w, b, conv_param)
        return fast_layers.conv_backward_fast(dout, cache)

    def numpy_im2col():
        out, cache = reference.conv_forward_im2col(x, w, b, stride=2, pad=1)
        return reference.conv_backward_im2col(dout, cache)

    a, r = compat(), numpy_im2col()
    assert all(np.allclose(p, q) for p, q in zip(a, r))
    return harness.interleaved_medians([compat, numpy_im2col], reps, warmup=2)


def pool_pair(reps):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((100, 3, 32, 32))
    dout = rng.standard_normal((100, 3, 16, 16))
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}

    def compat():
        out, cache = fast_layers.max_pool_forward_fast(x, pool_param)
        return fast_layers.max_pool_backward_fast(dout, cache)

    def numpy_reshape():
        out, cache = reference.max_pool_forward_reshape(x, 2, 2, 2)
        return reference.max_pool_backward_reshape(dout, cache)

    assert np.allclose(compat(), numpy_reshape())
    return harness.interleaved_medians([compat, numpy_reshape], reps, warmup=2)


def epoch_pair(reps):
    rng = np.random.default_rng(2)
    data = {"X_train": rng.standard_normal((4900, 3 * 32 * 32)),
            "y_train": rng.integers(0, 10, 4900),
            "X_val": rng.standard_normal((1000, 3 * 32 * 32)),
            "y_val": rng.integers(0, 10, 1000)}
    kw = dict(update_rule="adam", optim_config={"learning_rate": 1e-3}, batch_size=100,
              num_epochs=1, num_train_samples=1000, num_val_samples=None, verbose=False)

    def compat():
        np.random.seed(0)
        model = CourseFCNet([100, 100], normalization="batchnorm", dtype=np.float64)
        CourseSolver(model, data, **kw).train()

    def native():
        model = FullyConnectedNet([100, 100], normalization="batchnorm", dtype=np.float64,
                                  seed=0)
        Solver(model, data, seed=0, **kw).train()

    return harness.interleaved_medians([compat, native], reps, warmup=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args()
    fastnn.set_num_threads(args.threads)
    from threadpoolctl import threadpool_info, threadpool_limits
    threadpool_limits(args.threads)
    print(f"fastnn {fastnn.__version__}, {platform.processor() or platform.machine()}, "
          f"{args.threads} threads, float64, medians of {args.reps} interleaved reps")
    print("threadpools:", [(p["internal_api"], p["num_threads"]) for p in threadpool_info()])
    print(f"\n{'case':<58}{'compat ms':>11}{'other ms':>10}{'speed-up':>10}")
    tc, tr = conv_pair(args.reps)
    print(f"{'(a) conv fast fwd+bwd vs NumPy im2col (target >= 3x)':<58}"
          f"{tc * 1e3:>11.2f}{tr * 1e3:>10.2f}{tr / tc:>9.1f}x")
    tc, tr = pool_pair(args.reps)
    print(f"{'(b) max pool fast fwd+bwd vs NumPy reshape (target >= 3x)':<58}"
          f"{tc * 1e3:>11.2f}{tr * 1e3:>10.2f}{tr / tc:>9.1f}x")
    tc, tn = epoch_pair(max(5, args.reps // 2))
    print(f"\n{'case':<58}{'compat s':>11}{'native s':>10}{'ratio':>10}")
    print(f"{'(c) FullyConnectedNet epoch, 4900 samples (target <= 1.1x)':<58}"
          f"{tc:>11.3f}{tn:>10.3f}{tc / tn:>10.3f}")


if __name__ == "__main__":
    main()
