"""``fastnn demo``: the lecture's activation-statistics experiment (a 10-layer,
500-unit net at several initialisations) on fastnn's kernels, then fastnn vs
its NumPy reference on a few activations."""
import time

import numpy as np

HELP = "activation statistics + speed vs the NumPy reference"


def add_arguments(parser):
    parser.add_argument("--ops", default="relu,tanh,sigmoid,gelu",
                        help="comma list of activations to time (default: %(default)s)")


def run(args):
    from fastnn.commands import CommandError
    from fastnn import ops
    names = [n for n in args.ops.split(",") if n]
    bad = [n for n in names if not hasattr(ops, n + "_forward")]
    if bad or not names:
        raise CommandError(f"--ops: unknown activation(s) {bad or args.ops!r}; "
                           "e.g. relu,tanh,sigmoid,gelu")
    return demo(args)


def _activation_stats(act, init, n_layers=10, width=500, n=1000, seed=0):
    """Forward a batch through n_layers of affine+act, return (mean, std) per layer."""
    from fastnn import ops
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((n, width)).astype(np.float32)
    forward = {"tanh": ops.tanh_forward, "relu": ops.relu_forward}[act]
    stats = []
    for _ in range(n_layers):
        if init == "small":          # N(0, 0.01^2): activations collapse to zero
            std = 0.01
        elif init == "large":        # N(0, 1): tanh saturates at +-1
            std = 1.0
        elif init == "xavier":       # 1/sqrt(fan_in)
            std = 1.0 / np.sqrt(width)
        else:                        # he: sqrt(2/fan_in)
            std = np.sqrt(2.0 / width)
        w = (rng.standard_normal((width, width)) * std).astype(np.float32)
        h, _ = forward(h @ w)
        stats.append((float(h.mean()), float(h.std())))
    return stats


def _timeit(fn, reps=7):
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def demo(args):
    import fastnn
    from fastnn import ops, reference

    fastnn.show_config()
    print("\nActivation statistics of a 10-layer, 500-unit net (lecture: weight initialisation)")
    print("layer-by-layer std of the activations; healthy inits keep it away from 0 and from saturation\n")
    runs = [("tanh", "small"), ("tanh", "large"), ("tanh", "xavier"), ("relu", "xavier"), ("relu", "he")]
    table = {f"{a}/{i}": _activation_stats(a, i) for a, i in runs}
    print("layer " + "".join(f"{k:>14s}" for k in table))
    for layer in range(10):
        print(f"{layer + 1:5d} " + "".join(f"{table[k][layer][1]:14.4g}" for k in table))
    sat = table["tanh/large"][-1][1]
    print(f"\n  small init: std -> {table['tanh/small'][-1][1]:.2g} (activations vanish); "
          f"large init: std {sat:.2f} (tanh saturated at +-1); "
          f"Xavier: {table['tanh/xavier'][-1][1]:.2f}; ReLU+He: {table['relu/he'][-1][1]:.2f}")

    print("\nfastnn vs its NumPy reference, forward+backward on float32 (16, 64, 32, 32):")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 64, 32, 32)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    for name in args.ops.split(","):
        f_fwd, f_bwd = getattr(ops, name + "_forward"), getattr(ops, name + "_backward")
        r_fwd, r_bwd = getattr(reference, name + "_forward"), getattr(reference, name + "_backward")
        y, c = f_fwd(x)
        yr, cr = r_fwd(x)
        err = float(np.max(np.abs(y - yr)))
        tf = _timeit(lambda: f_bwd(g, f_fwd(x)[1]))
        tr = _timeit(lambda: r_bwd(g, r_fwd(x)[1]), reps=3)
        print(f"  {name:10s} fastnn {tf * 1e3:7.2f} ms   reference {tr * 1e3:8.2f} ms   "
              f"speed-up {tr / tf:5.1f}x   max |diff| {err:.1e}")
    return 0
