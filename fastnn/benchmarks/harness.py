"""Timing harness for the side-by-side table (bench/compare.py) of layer workloads.

A *workload* is one row: a forward+backward step (or a loss, or a training
step) timed in fastnn, in its NumPy reference and in PyTorch when installed,
on the same inputs, dtype and thread count, in one process.

Each op family has a module ``fastnn/benchmarks/cases_<family>.py`` with a list
``WORKLOADS`` of :class:`Workload`.  ``setup(torch)`` builds the inputs once and
returns a dict of zero-argument step functions: ``"fastnn"``, ``"reference"``
and, when ``torch`` is not None, ``"torch"``.  Each step does the whole work of
the row and returns its results (so they can be checked); the harness drops
them inside the timed region.

Timing: ``warmup`` rounds, then ``reps`` rounds; the libraries are interleaved
round-robin inside each round with the order rotated every round, so machine
noise and one library's after-effects (caches, allocator) fall on all alike.
The reference is often slow, so it runs only in ``ref_reps`` rounds spread
evenly over the loop.  Medians in ms.
"""
import os
import platform
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from fastnn import ops


@dataclass
class Workload:
    label: str                                   # row name, e.g. "batchnorm2d train 64x64x32x32"
    setup: Callable                              # setup(torch or None) -> {"fastnn": step, ...}
    target: Optional[float] = None               # fastnn/torch target ratio (None: none)
    ref_speedup: Optional[float] = None          # required speed-up over the reference (None: none)
    work: float = 0.0                            # bytes or flops per step, for `unit`
    unit: str = ""                               # "GB/s" or "GFLOP/s" ("" for none)
    check: Optional[Callable] = None             # check(results: dict lib -> result) -> None or str
    note: str = ""                               # shown under the table
    extra: dict = field(default_factory=dict)    # anything a family wants to report


def _spread(count, total):
    """`count` round indices spread evenly over range(total)."""
    count = min(count, total)
    return {int((j + 0.5) * total / count) for j in range(count)}


def time_steps(steps, reps=21, ref_reps=5, warmup=2):
    """Median ms per library, and the first warm-up results (for checks).

    At least one warm-up round runs (even with ``warmup=0``): its results are
    what the workload's check compares, so a table never shows an unchecked row.
    """
    libs = [k for k, s in steps.items() if s is not None]
    first = {}
    for w in range(max(warmup, 1)):
        for lib in libs[w % len(libs):] + libs[:w % len(libs)]:
            r = steps[lib]()
            if w == 0:
                first[lib] = r
            del r
    total = max(reps, ref_reps)
    runs_in = {lib: _spread(ref_reps if lib == "reference" else reps, total) for lib in libs}
    times = {lib: [] for lib in libs}
    for i in range(total):
        for lib in libs[i % len(libs):] + libs[:i % len(libs)]:
            if i in runs_in[lib]:
                step = steps[lib]
                t0 = time.perf_counter()
                step()                                   # its results are freed before t1
                times[lib].append(time.perf_counter() - t0)
    return {lib: float(np.median(t)) * 1e3 for lib, t in times.items()}, first


def interleaved_medians(fns, reps, warmup=0):
    """Median seconds of each zero-argument function, the functions alternating rep by rep
    (after ``warmup`` rounds), so machine noise falls on all alike."""
    for _ in range(warmup):
        for f in fns:
            f()
    times = [[] for _ in fns]
    for _ in range(reps):
        for i, f in enumerate(fns):
            t0 = time.perf_counter()
            f()
            times[i].append(time.perf_counter() - t0)
    return [float(np.median(t)) for t in times]


def training_step(net, opt, x, y):
    """The canonical step as a zero-argument function: forward, softmax loss, zero_grad,
    backward (parameter gradients only, as :meth:`fastnn.models.Model.loss` and PyTorch's
    autograd on an input that needs no gradient), optimiser step; it returns the loss."""
    def step():
        scores = net.forward(x)
        loss, dscores = ops.softmax_loss(scores, y)
        opt.zero_grad()
        net.backward(dscores, need_input_grad=False)
        opt.step()
        return loss
    return step


def torch_input_grad_step(torch, x, forward, dout=None):
    """PyTorch's step of a one-input row as a zero-argument function: ``forward`` on a
    grad-requiring copy of ``x``, then ``backward(dout)`` (``dout=None`` for a scalar loss);
    it returns the detached output and the gradient of ``x``."""
    tx = torch.from_numpy(x.copy()).requires_grad_()
    tg = None if dout is None else torch.from_numpy(dout)

    def step():
        tx.grad = None
        out = forward(tx)
        out.backward(tg)
        return out.detach(), tx.grad
    return step


def write_report(text, path=None):
    """Print a finished table (and write it to ``path`` when given); returns 0, the exit status
    of a script that got this far."""
    print(text)
    if path:
        with open(path, "w") as f:
            f.write(text + "\n")
    return 0


def median_us(call, reps, warmup):
    """Median over 7 rounds of the mean microseconds per call (``reps`` calls a round), after
    ``warmup`` calls: the timing of the one-thread-vs-two threshold measurements."""
    for _ in range(warmup):
        call()
    rounds = []
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(reps):
            call()
        rounds.append((time.perf_counter() - t0) / reps * 1e6)
    return float(np.median(rounds))


def allclose_check(rtol=1e-4, atol=1e-5, against="reference"):
    """A check: every result array of fastnn (and torch) equals `against`'s within rtol/atol.

    Results are tuples/lists of arrays (torch tensors are converted).
    """
    def as_list(r):
        r = r if isinstance(r, (tuple, list)) else (r,)
        return [np.asarray(a.detach().numpy() if hasattr(a, "detach") else a, np.float64) for a in r]

    def check(results):
        ref = as_list(results[against])
        for lib, r in results.items():
            if lib == against:
                continue
            for i, (a, e) in enumerate(zip(as_list(r), ref)):
                if a.shape != e.shape:
                    return f"{lib} output {i}: shape {a.shape} != {e.shape}"
                scale = max(1.0, float(np.nanmax(np.abs(e)))) if e.size else 1.0
                if not np.allclose(a, e, rtol=rtol, atol=atol * scale, equal_nan=True):
                    return f"{lib} output {i}: max |diff| {np.nanmax(np.abs(a - e)):.3g}"
        return None
    return check


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_rows(workloads, torch=None, reps=21, ref_reps=5, warmup=2, log=None):
    """Time every workload; returns a list of (workload, medians, problem or None)."""
    rows = []
    for wl in workloads:
        steps = wl.setup(torch)
        med, first = time_steps(steps, reps=reps, ref_reps=ref_reps, warmup=warmup)
        problem = wl.check(first) if wl.check else None
        del first, steps
        rows.append((wl, med, problem))
        if log:
            log(f"  {wl.label}: " + ", ".join(f"{k} {v:.3f} ms" for k, v in med.items())
                + (f"  WRONG: {problem}" if problem else ""))
    return rows


def render(rows, targets=False):
    """Markdown table of run_rows() output; ``targets`` adds the target and met columns."""
    if targets:
        lines = ["| workload | fastnn ms | reference ms | torch ms | fastnn / torch | target | "
                 "vs reference | fastnn rate | met |",
                 "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |"]
    else:
        lines = ["| workload | fastnn ms | reference ms | torch ms | fastnn / torch | "
                 "vs reference | fastnn rate |",
                 "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for wl, med, problem in rows:
        f, r, t = med.get("fastnn"), med.get("reference"), med.get("torch")
        ratio = f / t if t else None
        speed = r / f if r else None
        met = []
        if wl.target is not None:
            met.append(ratio is not None and ratio <= wl.target)
        if wl.ref_speedup is not None:
            met.append(speed is not None and speed >= wl.ref_speedup)
        verdict = "WRONG: " + problem if problem else (
            "-" if not met else ("yes" if all(met) else "NO"))
        tgt = []
        if wl.target is not None:
            tgt.append(f"<= {wl.target:g}x torch")
        if wl.ref_speedup is not None:
            tgt.append(f">= {wl.ref_speedup:g}x ref")
        rate = ""
        if wl.unit and f:
            scale = 1e6 if wl.unit == "GB/s" or wl.unit == "GFLOP/s" else 1.0
            rate = f"{wl.work / (f * 1e-3) / (scale * 1e3):.1f} {wl.unit}"
        if not targets and problem:
            rate = f"{rate} WRONG: {problem}".strip()
        lines.append(
            f"| {wl.label} | {f:.3f} | " + (f"{r:.2f}" if r else "n/a") + " | "
            + (f"{t:.3f}" if t else "n/a") + " | " + (f"{ratio:.2f}x" if ratio else "n/a")
            + (f" | {', '.join(tgt) or '-'}" if targets else "")
            + " | " + (f"{speed:.1f}x" if speed else "n/a")
            + f" | {rate}" + (f" | {verdict} |" if targets else " |"))
    notes = [f"- {wl.label}: {wl.note}" for wl, _, _ in rows if wl.note]
    return "\n".join(lines + ([""] + notes if notes else []))


def header(threads):
    import fastnn
    c = fastnn.config()
    try:
        from threadpoolctl import threadpool_info
        pools = "; ".join(f"{p['user_api']}/{p['internal_api']} {p['num_threads']} threads "
                          f"({os.path.basename(p['filepath'])})" for p in threadpool_info())
    except ImportError:
        pools = "threadpoolctl not installed"
    return [f"Machine: {cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
            f"Threads: {threads} (fastnn, torch, BLAS); fastnn SIMD target {c['simd_active']}, "
            f"OpenMP {'on' if c['openmp'] else 'off'}; NumPy {np.__version__}",
            f"Thread pools: {pools}"]
