"""Side-by-side table: fastnn vs its NumPy reference vs PyTorch (when installed).

One process, one run, same inputs, dtype and thread count for every library.
Each activation is timed forward+backward as in a network step: the forward
output and cache stay alive while backward runs, then both are dropped.
fastnn and PyTorch are interleaved inside each repetition so machine noise hits
both alike; the NumPy reference is timed after them in a loop of its own (its
large temporaries would otherwise slow the call that follows).  Medians.

    python bench/compare.py [--threads 2]   (or: fastnn bench ...)
                            [--reps 21] [--ref-reps 5]
                            [--groups activations,normalization,...] [--match TEXT]
                            [--ops relu,tanh] [--shape 64,64,32,32] [--output FILE]
                            [--targets]

Groups: "activations" (the table below, --ops/--shape/--dtype apply to it) and
one group per ``fastnn/benchmarks/cases_<group>.py`` (layer workloads, timed by
fastnn/benchmarks/harness.py).  Default: every group.  ``--match TEXT`` keeps,
in every group, the rows whose label contains TEXT (case-insensitive); a group
left without rows is neither timed nor printed.  ``--targets`` adds the
performance-target columns (target, met) the project tracks.
"""
import glob
import importlib
import argparse
import os
import platform
import sys
import time

import numpy as np

import fastnn
from fastnn.benchmarks import harness
from fastnn import ops, reference

# (row label, op name, fastnn kwargs, torch call factory, target ratio vs torch)
ROWS = [
    ("relu", "relu", {}, lambda F, t: F.relu, 1.0),
    ("leaky_relu", "leaky_relu", {}, lambda F, t: F.leaky_relu, 1.0),
    ("sigmoid", "sigmoid", {}, lambda F, t: t.sigmoid, 1.0),
    ("tanh", "tanh", {}, lambda F, t: t.tanh, 0.5),
    ("elu", "elu", {}, lambda F, t: F.elu, 0.5),
    ("selu", "selu", {}, lambda F, t: F.selu, 0.5),
    ("gelu", "gelu", {}, lambda F, t: F.gelu, 0.5),
    ("gelu_tanh", "gelu", {"approximate": "tanh"},
     lambda F, t: (lambda x: F.gelu(x, approximate="tanh")), 0.5),
    ("softplus", "softplus", {}, lambda F, t: F.softplus, None),
    ("silu", "silu", {}, lambda F, t: F.silu, None),
    ("prelu", "prelu", None, None, None),
]


def machine():
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}"


def pools():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    return "; ".join(f"{p['user_api']}/{p['internal_api']} {p['num_threads']} threads "
                     f"({os.path.basename(p['filepath'])})" for p in threadpool_info())


def add_arguments(ap):
    ap.add_argument("--threads", type=int, default=2, help="for every library (default: %(default)s)")
    ap.add_argument("--reps", type=int, default=21, help="timed rounds (default: %(default)s)")
    ap.add_argument("--ref-reps", type=int, default=5,
                    help="timed rounds of the NumPy reference (default: %(default)s)")
    ap.add_argument("--warmup", type=int, default=3, help="default: %(default)s")
    ap.add_argument("--ops", default="", help="activations to time (default: all)")
    ap.add_argument("--shape", default="64,64,32,32", help="activation input (default: %(default)s)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--output", default="", help="also write the table to this file")
    ap.add_argument("--groups", default="",
                    help="comma list of: activations, " + ", ".join(case_groups()) + " (default: all)")
    ap.add_argument("--match", default="",
                    help="keep, in every group, the rows whose label contains TEXT (case-insensitive)")
    ap.add_argument("--targets", action="store_true",
                    help="add the performance-target columns (target, met)")


def check_arguments(args):
    """A list of problems with the arguments (empty when they are fine)."""
    problems = []
    for name in ("threads", "reps", "ref_reps"):
        if getattr(args, name) < 1:
            problems.append(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.warmup < 0:
        problems.append(f"--warmup must be >= 0, got {args.warmup}")
    known = ["activations"] + case_groups()
    bad = [g for g in args.groups.split(",") if g and g not in known]
    if bad:
        problems.append(f"--groups: unknown {bad}; known: {', '.join(known)}")
    bad_ops = [o for o in args.ops.split(",") if o and o not in {r[0] for r in ROWS}]
    if bad_ops:
        problems.append(f"--ops: unknown {bad_ops}; known: {', '.join(r[0] for r in ROWS)}")
    try:
        shape = tuple(int(v) for v in args.shape.split(","))
        if not shape or min(shape) < 1:
            raise ValueError
    except ValueError:
        problems.append(f"--shape must be positive integers like 64,64,32,32, got {args.shape!r}")
    if not bad and not bad_ops and args.match:
        if not any(selected(args).values()):
            problems.append(f"--match {args.match!r} matches no benchmark row"
                            + (f" of --groups {args.groups}" if args.groups else ""))
    return problems


def matches(label, text):
    """True when ``text`` is empty or occurs in ``label``, ignoring case."""
    return text.casefold() in label.casefold()


def selected(args):
    """The rows each requested group will time, after ``--groups``, ``--ops`` and ``--match``.

    Returns a dict group -> list: activation rows (tuples of ``ROWS``) under
    ``"activations"``, :class:`~fastnn.benchmarks.harness.Workload` objects
    under every other group.  Groups are in run order; a group may map to an
    empty list, which :func:`run` skips.
    """
    groups = [g for g in args.groups.split(",") if g] or ["activations"] + case_groups()
    wanted = set(filter(None, args.ops.split(",")))
    out = {}
    for group in groups:
        if group == "activations":
            out[group] = [r for r in ROWS if (not wanted or r[0] in wanted)
                          and matches(r[0], args.match)]
        else:
            out[group] = [w for w in importlib.import_module(f"fastnn.benchmarks.cases_{group}").WORKLOADS
                          if matches(w.label, args.match)]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(ap)
    args = ap.parse_args(argv)
    problems = check_arguments(args)
    if problems:
        ap.error("; ".join(problems))
    return run(args)


def run(args):
    """Time the selected rows and print the markdown tables; returns the exit status."""
    chosen = selected(args)
    targets = getattr(args, "targets", False)

    shape = tuple(int(s) for s in args.shape.split(","))
    dtype = np.dtype(args.dtype)
    rows = chosen.get("activations", [])

    try:
        import torch
        import torch.nn.functional as F
        torch.set_num_threads(args.threads)
        torch_version = torch.__version__
    except ImportError:
        torch = F = None
        torch_version = "not installed"

    from threadpoolctl import threadpool_limits
    limiter = threadpool_limits(args.threads)          # NumPy's BLAS and every OpenMP pool
    fastnn.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    C = shape[1] if len(shape) > 1 else 1
    alpha = np.full(C, 0.25, dtype)

    def lib_step(module, name, kw):
        """forward + backward through fastnn.ops or fastnn.reference"""
        f, b = getattr(module, name + "_forward"), getattr(module, name + "_backward")
        args = (alpha,) if name == "prelu" else ()

        def step():
            y, c = f(x, *args, **kw)
            b(g, c)
        return step

    def torch_step(label, factory):
        if torch is None:
            return None
        tx = torch.from_numpy(x.copy()).requires_grad_()
        tg = torch.from_numpy(g)
        if label == "prelu":
            tw = torch.from_numpy(alpha.copy()).requires_grad_()

            def step():
                tx.grad = None
                tw.grad = None
                F.prelu(tx, tw).backward(tg)
            return step
        fn = factory(F, torch)

        def step():
            tx.grad = None
            fn(tx).backward(tg)
        return step

    results = []
    for label, name, kw, factory, target in rows:
        kw = kw or {}
        steps = {"fastnn": lib_step(ops, name, kw), "reference": lib_step(reference, name, kw),
                 "torch": torch_step(label, factory)}
        # correctness of what is timed
        if name == "prelu":
            y = ops.prelu_forward(x, alpha)[0]
            yr = reference.prelu_forward(x, alpha)[0]
        else:
            y = getattr(ops, name + "_forward")(x, **kw)[0]
            yr = getattr(reference, name + "_forward")(x, **kw)[0]
        assert np.allclose(y, yr, rtol=1e-4, atol=1e-5), label
        times = {k: [] for k, s in steps.items() if s is not None}
        for k in times:
            for _ in range(args.warmup if k != "reference" else 1):
                steps[k]()
        # fastnn and torch interleaved rep by rep (the head-to-head) ...
        for rep in range(args.reps):
            for k in times:
                if k != "reference":
                    t0 = time.perf_counter()
                    steps[k]()
                    times[k].append(time.perf_counter() - t0)
        # ... then the reference in a loop of its own: its large temporaries
        # churn the allocator and caches and would slow whichever call follows
        for rep in range(args.ref_reps):
            t0 = time.perf_counter()
            steps["reference"]()
            times["reference"].append(time.perf_counter() - t0)
        med = {k: float(np.median(v)) * 1e3 for k, v in times.items()}
        results.append((label, med, target))
        print(f"  {label}: " + ", ".join(f"{k} {v:.2f} ms" for k, v in med.items()), file=sys.stderr)

    date = f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    parts = [date + "\n" + activation_table(args, rows, results, shape, dtype, torch_version,
                                             targets=targets)] if rows else []
    for group, workloads in chosen.items():
        if group == "activations" or not workloads:
            continue
        print(f"[{group}]", file=sys.stderr)
        timed = harness.run_rows(workloads, torch=torch, reps=args.reps, ref_reps=args.ref_reps,
                                 warmup=args.warmup, log=lambda m: print(m, file=sys.stderr))
        parts.append(f"### {group}\n\n{date}\n" + "\n".join(harness.header(args.threads))
                     + f"\nMedian of {args.reps} (reference: {args.ref_reps}) after {args.warmup} "
                     "warm-up rounds; libraries interleaved round-robin.\n\n"
                     + harness.render(timed, targets=targets))
    text = "\n\n".join(parts)
    print(text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")
    limiter.restore_original_limits()
    return 0


def case_groups():
    """Groups with a cases_<group>.py module in this package, sorted."""
    here = os.path.dirname(os.path.abspath(__file__))
    return sorted(os.path.basename(p)[6:-3] for p in glob.glob(os.path.join(here, "cases_*.py")))


def activation_table(args, rows, results, shape, dtype, torch_version, targets=False):
    """Markdown table of the activation rows (with the target columns when ``targets``)."""
    n = int(np.prod(shape))
    nbytes = 5 * dtype.itemsize * n        # fwd: read x, write y; bwd: read dout + saved, write dx
    c = fastnn.config()
    lines = [
        f"Machine: {machine()}",
        f"Threads: {args.threads} (fastnn, torch, BLAS); fastnn SIMD target {c['simd_active']}, "
        f"OpenMP {'on' if c['openmp'] else 'off'}; NumPy {np.__version__}; PyTorch {torch_version}",
        f"Thread pools: {pools()}",
        f"Forward+backward, {args.dtype} {'x'.join(map(str, shape))}, median of {args.reps} "
        f"(reference: {args.ref_reps}, timed separately) after warm-up; fastnn and torch interleaved.",
        "",
        "| op | fastnn ms | reference ms | torch ms | fastnn / torch | "
        + ("target | met | " if targets else "") + "speed-up vs reference | fastnn GB/s |",
        "| --- | ---: | ---: | ---: | ---: | " + ("--- | --- | " if targets else "") + "---: | ---: |",
    ]
    for label, med, target in results:
        f_ms, r_ms, t_ms = med["fastnn"], med["reference"], med.get("torch")
        ratio = f"{f_ms / t_ms:.2f}x" if t_ms else "n/a"
        tgt = f"<= {target:.1f}x" if target else "-"
        met_t = (t_ms is not None and target is not None and f_ms / t_ms <= target)
        met_r = r_ms / f_ms >= 3.0
        if target is None:
            met = "yes" if met_r else "NO (ref)"
        else:
            met = "yes" if (met_t and met_r) else ("NO" if t_ms else "n/a")
        t_txt = f"{t_ms:.2f}" if t_ms else "n/a"
        lines.append(f"| {label} | {f_ms:.2f} | {r_ms:.2f} | {t_txt} | {ratio} | "
                     + (f"{tgt} | {met} | " if targets else "")
                     + f"{r_ms / f_ms:.1f}x | {nbytes / f_ms / 1e6:.1f} |")
    lines.append("")
    lines.append(("Targets: fastnn/torch as listed, and >= 3x faster than the NumPy reference on every "
                  "row. " if targets else "")
                 + "GB/s counts 5 x itemsize bytes per element (x, y, dout, saved tensor, dx).")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
