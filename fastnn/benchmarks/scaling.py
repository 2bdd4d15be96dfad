"""OpenMP scaling: the side-by-side workloads timed at several thread counts.

    python bench/scaling.py --threads 1,2,4,8,16 [--groups training,conv] [--match TEXT]
                            [--activations relu,tanh,gelu] [--reps 11] [--output FILE]

Every workload of ``fastnn/benchmarks/cases_<group>.py`` (the rows of
``bench/compare.py``) plus a few activations (forward+backward, 64x64x32x32
float32) is set up once, then timed at each thread count in turn, fastnn and
PyTorch (when installed) interleaved round-robin as in compare.py.  The NumPy
reference is not timed: it has no threads to scale.  Before each thread count
fastnn, PyTorch and every BLAS/OpenMP pool (threadpoolctl) are set to it.

Three tables: fastnn's median ms per thread count with its speed-up over one
thread; the same for PyTorch; and fastnn / PyTorch per thread count.  The
header names the OpenMP wait policy in force, so a run with
``OMP_WAIT_POLICY=active`` can be told from fastnn's passive default.
"""
import argparse
import importlib
import sys

import numpy as np

import fastnn
from fastnn import ops
from fastnn.benchmarks import compare, harness


def activation_workloads(names, shape=(64, 64, 32, 32)):
    """harness.Workloads for activations (forward + backward) from compare.ROWS."""
    rows = {r[0]: r for r in compare.ROWS}
    out = []
    for name in names:
        label, op, kw, factory, _ = rows[name]
        if factory is None:
            raise ValueError(f"activation {name!r} has no PyTorch twin to scale against")
        kw = kw or {}

        def setup(torch, op=op, kw=kw, factory=factory):
            rng = np.random.default_rng(0)
            x = rng.standard_normal(shape, dtype=np.float32)
            g = rng.standard_normal(shape, dtype=np.float32)
            fwd, bwd = getattr(ops, op + "_forward"), getattr(ops, op + "_backward")

            def step():
                y, cache = fwd(x, **kw)
                return y, bwd(g, cache)
            steps = {"fastnn": step}
            if torch is not None:
                steps["torch"] = harness.torch_input_grad_step(
                    torch, x, factory(torch.nn.functional, torch), g)
            return steps
        out.append(harness.Workload(
            f"{label} fwd+bwd {'x'.join(map(str, shape))}", setup,
            check=harness.allclose_check(rtol=1e-4, atol=1e-5, against="fastnn")))
    return out


def set_threads(n, torch):
    fastnn.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)


def render(rows, threads, lib):
    head = "| workload | " + " | ".join(f"{t} thr ms" for t in threads) + f" | speed-up {threads[-1]} vs {threads[0]} |"
    lines = [head, "|" + " --- |" + " ---: |" * (len(threads) + 1)]
    for label, med in rows:
        ms = [med[t].get(lib) for t in threads]
        if ms[0] is None:
            continue
        lines.append(f"| {label} | " + " | ".join(f"{m:.3f}" for m in ms)
                     + f" | {ms[0] / ms[-1]:.2f}x |")
    return "\n".join(lines)


def render_ratio(rows, threads):
    lines = ["| workload | " + " | ".join(f"{t} thr" for t in threads) + " |",
             "|" + " --- |" + " ---: |" * len(threads)]
    for label, med in rows:
        if med[threads[0]].get("torch") is None:
            continue
        lines.append(f"| {label} | " + " | ".join(
            f"{med[t]['fastnn'] / med[t]['torch']:.2f}x" for t in threads) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", default="1,2,4,8,16", help="comma list (default: %(default)s)")
    ap.add_argument("--groups", default="", help="comma list of: " + ", ".join(compare.case_groups())
                    + " (default: all)")
    ap.add_argument("--match", default="", help="keep the workloads whose label contains TEXT")
    ap.add_argument("--activations", default="relu,tanh,gelu",
                    help="activations to add as rows ('' for none; default: %(default)s)")
    ap.add_argument("--reps", type=int, default=11, help="timed rounds (default: %(default)s)")
    ap.add_argument("--warmup", type=int, default=2, help="default: %(default)s")
    ap.add_argument("--no-torch", action="store_true", help="time fastnn alone")
    ap.add_argument("--output", default="", help="also write the tables to this file")
    args = ap.parse_args(argv)
    try:
        threads = [int(t) for t in args.threads.split(",")]
        if not threads or min(threads) < 1:
            raise ValueError
    except ValueError:
        ap.error(f"--threads must be positive integers like 1,2,4, got {args.threads!r}")
    if args.reps < 1 or args.warmup < 0:
        ap.error("--reps must be >= 1 and --warmup >= 0")
    known = compare.case_groups()
    groups = [g for g in args.groups.split(",") if g] or known
    bad = [g for g in groups if g not in known]
    if bad:
        ap.error(f"--groups: unknown {bad}; known: {', '.join(known)}")
    acts = [a for a in args.activations.split(",") if a]
    bad = [a for a in acts if a not in {r[0] for r in compare.ROWS if r[3] is not None}]
    if bad:
        ap.error(f"--activations: unknown {bad}")

    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            torch = None
    from threadpoolctl import threadpool_limits

    workloads = activation_workloads(acts) if not args.match else []
    for g in groups:
        workloads += [w for w in importlib.import_module(f"fastnn.benchmarks.cases_{g}").WORKLOADS
                      if args.match in w.label]

    rows = []
    for wl in workloads:
        steps = wl.setup(torch)
        problem = None
        if wl.check is not None:       # what is timed is checked once, the reference included
            with threadpool_limits(threads[0]):
                set_threads(threads[0], torch)
                problem = wl.check({k: s() for k, s in steps.items() if s is not None})
        steps = {k: s for k, s in steps.items() if k != "reference" and s is not None}
        med = {}
        for t in threads:
            with threadpool_limits(t):
                set_threads(t, torch)
                med[t], _ = harness.time_steps(steps, reps=args.reps, ref_reps=0, warmup=args.warmup)
            print(f"  {wl.label} @{t}: " + ", ".join(f"{k} {v:.3f} ms" for k, v in med[t].items()),
                  file=sys.stderr)
        if problem:
            print(f"  {wl.label}: WRONG: {problem}", file=sys.stderr)
        rows.append((wl.label + (f" (WRONG: {problem})" if problem else ""), med))
        del steps

    c = fastnn.config()
    header = harness.header(f"{args.threads}, one per column")
    header.append(f"PyTorch {torch.__version__ if torch is not None else 'not timed'}; "
                  f"OpenMP wait policy (fastnn): {c.get('omp_wait_policy', '?')}")
    header.append(f"Median of {args.reps} rounds after {args.warmup} warm-up rounds at each thread count; "
                  "fastnn and torch interleaved.")
    text = "\n".join(header) + "\n\n#### fastnn\n\n" + render(rows, threads, "fastnn")
    if torch is not None:
        text += ("\n\n#### PyTorch\n\n" + render(rows, threads, "torch")
                 + "\n\n#### fastnn / PyTorch (below 1: fastnn faster)\n\n" + render_ratio(rows, threads))
    return harness.write_report(text, args.output)


if __name__ == "__main__":
    sys.exit(main())
