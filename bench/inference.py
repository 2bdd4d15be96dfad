"""Eval-mode inference, side by side: fastnn's optimised path, PyTorch and ONNX Runtime.

    PYTHONPATH=. python bench/inference.py [--threads 2] [--rounds 15] [--only fc]

One process, one run, float32, the same weights everywhere (copied into the
PyTorch twin with ``fastnn.interop.save_torch``; ONNX Runtime runs the file of
``fastnn.onnx.export``), outputs checked to agree first.  Each round times every
library once, interleaved (fastnn, PyTorch, ONNX Runtime, fastnn, ...), so a
busy machine slows all three alike; the table shows medians over the rounds.
A timing is the mean of enough consecutive calls to last about 20 ms; at batch
1 every call gets ONE sample (no batching behind the caller's back).

* fastnn: ``fastnn.inference.optimize(model)`` (batch norm folded, kernels called
  directly, buffers reused), ``fastnn.set_num_threads(threads)``;
* PyTorch: ``net.eval()`` under ``torch.inference_mode()``,
  ``torch.set_num_threads(threads)``;
* ONNX Runtime: ``intra_op_num_threads=threads``, ``inter_op_num_threads=1``,
  all graph optimisations, the CPU provider.

fastnn is imported before PyTorch and ONNX Runtime.  PyTorch's wheel ships its own
``libgomp.so.1``; whichever library loads first provides the one OpenMP runtime that
both then share, with that library's wait policy.  fastnn starts it passive (see
``fastnn/__init__.py``); imported after torch, the runtime spins, and on a busy 2-core
machine a 2-thread fastnn call measured 60 ms instead of 0.4 ms (PyTorch's calls
were as slow).  Importing fastnn first is what a fastnn user does, and it gives PyTorch
the same passive runtime.

Prints a Markdown table (``--markdown FILE`` also writes it) with the machine,
threads and ``threadpoolctl.threadpool_info()`` summary.
"""
import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np

import fastnn  # noqa: E402,F401  (first: see the docstring; the OpenMP runtime is shared)
from fastnn.benchmarks import harness  # noqa: E402

# (name, builder, sample shape, batches, target vs PyTorch, target vs ONNX Runtime)
CASES = [
    ("ThreeLayerConvNet 3x32x32", "convnet", (3, 32, 32), (1, 64), 0.8, 1.0),
    ("small VGG (64,64,128,128)+BN", "vgg", (3, 32, 32), (1, 64), 0.8, 1.0),
    ("FullyConnectedNet 3072-100x4-10+BN", "fc", (3072,), (1, 256), 0.5, 1.0),
]


def build(which):
    """(fastnn model with random weights and batch-norm statistics, PyTorch twin)."""
    from torch import nn

    from fastnn import models
    rng = np.random.default_rng(0)
    if which == "convnet":
        m = models.ThreeLayerConvNet(weight_scale=1e-2, seed=0)
        t = nn.Sequential(nn.Conv2d(3, 32, 7, padding=3), nn.ReLU(), nn.MaxPool2d(2, 2),
                          nn.Flatten(), nn.Linear(32 * 16 * 16, 100), nn.ReLU(),
                          nn.Linear(100, 10))
    elif which == "vgg":
        m = models.SmallVGG(channels=(64, 64, 128, 128), seed=0)
        layers = []
        for cin, ca, cb in ((3, 64, 64), (64, 128, 128)):
            layers += [nn.Conv2d(cin, ca, 3, padding=1), nn.BatchNorm2d(ca), nn.ReLU(),
                       nn.Conv2d(ca, cb, 3, padding=1), nn.BatchNorm2d(cb), nn.ReLU(),
                       nn.MaxPool2d(2, 2)]
        t = nn.Sequential(*layers, nn.Flatten(), nn.Linear(128 * 8 * 8, 10))
    else:
        m = models.FullyConnectedNet([100] * 4, input_dim=3072, num_classes=10,
                                     normalization="batchnorm", weight_scale=5e-2, seed=0)
        layers, d = [], 3072
        for _ in range(4):
            layers += [nn.Linear(d, 100), nn.BatchNorm1d(100), nn.ReLU()]
            d = 100
        t = nn.Sequential(*layers, nn.Linear(100, 10))
    for k, v in m.buffers.items():
        v[...] = rng.uniform(0.5, 2.0, v.shape) if k.endswith("var") else rng.normal(0, 0.1, v.shape)
    return m, t


def timed(call, target_s=0.02):
    """Mean seconds per call over enough consecutive calls to last ~target_s."""
    t0 = time.perf_counter()
    call()
    one = max(time.perf_counter() - t0, 1e-7)
    n = max(1, min(2000, int(target_s / one)))
    t0 = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - t0) / n


def fmt(s):
    return f"{s * 1e6:.0f} us" if s < 1e-3 else f"{s * 1e3:.2f} ms"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--only", default=None, help="convnet, vgg or fc")
    ap.add_argument("--markdown", default=None, metavar="FILE")
    args = ap.parse_args(argv)

    import onnxruntime as ort
    import torch
    from safetensors.torch import load_file
    from threadpoolctl import threadpool_info

    from fastnn import inference, interop
    from fastnn import onnx as fonnx

    fastnn.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    tmp = tempfile.mkdtemp(prefix="fastnn-bench-")
    rows = []
    for title, which, shape, batches, t_torch, t_ort in CASES:
        if args.only and which != args.only:
            continue
        model, twin = build(which)
        model.eval()
        path = interop.save_torch(model, os.path.join(tmp, f"{which}.safetensors"))
        twin.load_state_dict(load_file(path))
        twin.eval()
        onnx_path = fonnx.export(model, os.path.join(tmp, f"{which}.onnx"), input_shape=shape)
        sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
        fast = inference.optimize(model)
        for n in batches:
            x = np.random.default_rng(1).standard_normal((n,) + shape).astype(np.float32)
            xt = torch.from_numpy(x)

            def f_fastnn():
                return fast(x)

            def f_torch():
                with torch.inference_mode():
                    return twin(xt)

            def f_ort():
                return sess.run(None, {"input": x})[0]

            ref = model.loss(x)
            scale = float(np.abs(ref).max())
            for name, f in (("fastnn", f_fastnn), ("torch", f_torch), ("onnxruntime", f_ort)):
                got = np.asarray(f())
                err = float(np.abs(got - ref).max()) / scale
                if err > 1e-3:
                    sys.exit(f"{title} batch {n}: {name} disagrees with fastnn's eval output "
                             f"(max relative error {err:.2e})")
            times = {"fastnn": [], "torch": [], "onnxruntime": []}
            for _ in range(3):                     # warm-up
                f_fastnn(), f_torch(), f_ort()
            calls = {"fastnn": f_fastnn, "torch": f_torch, "onnxruntime": f_ort}
            for _ in range(args.rounds):
                for lib, f in calls.items():
                    # a pause first: the previous library's idle workers stop spinning (ONNX
                    # Runtime's and PyTorch's OpenMP spin-wait by default) before the next
                    # library's timing starts, so none is timed against another's spinners
                    time.sleep(0.01)
                    times[lib].append(timed(f))
            med = {k: statistics.median(v) for k, v in times.items()}
            r_t, r_o = med["fastnn"] / med["torch"], med["fastnn"] / med["onnxruntime"]
            ok = "yes" if r_t <= t_torch and r_o <= t_ort else "no"
            rows.append(f"| {title} | {n} | {fmt(med['fastnn'])} | {fmt(med['torch'])} | "
                        f"{fmt(med['onnxruntime'])} | {r_t:.2f} (<= {t_torch}) | "
                        f"{r_o:.2f} (<= {t_ort}) | {ok} |")
            print(rows[-1], flush=True)
    libs = sorted({(i.get("internal_api"), i.get("num_threads")) for i in threadpool_info()},
                  key=str)
    head = [f"machine: {platform.machine()}, {os.cpu_count()} logical CPUs, "
            f"{platform.platform()}; Python {platform.python_version()}, numpy {np.__version__}, "
            f"torch {torch.__version__}, onnxruntime {ort.__version__}, fastnn "
            f"{fastnn.__version__} (SIMD {fastnn.config()['simd_active']}); "
            f"threads {args.threads}; float32; median of {args.rounds} interleaved rounds",
            f"threadpools (internal_api, threads): {libs}",
            "",
            "| model | batch | fastnn | PyTorch | ONNX Runtime | fastnn / PyTorch (target) | "
            "fastnn / ORT (target) | met |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    print()
    return harness.write_report("\n".join(head + rows), args.markdown)


if __name__ == "__main__":
    sys.exit(main())
