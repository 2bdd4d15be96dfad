"""Peak resident memory of conv forward+backward: fastnn vs PyTorch.

Each (library, shape) runs in a fresh subprocess: import the library, allocate
and touch the float32 inputs (x, w, b, dout), read the peak RSS (the
baseline; ru_maxrss, read as VmHWM on Linux), run forward+backward (dx, dw, db)
three times, read the peak RSS again.  The growth is what the conv itself needed at its peak: outputs,
gradients and scratch (fastnn: im2col workspace, bounded by
``fastnn.ops.conv.WORKSPACE_BYTES``; PyTorch: oneDNN's buffers).

    PYTHONPATH=. python bench/memory_conv.py [--threads 2]

Prints a markdown table; target: fastnn <= 1.5x PyTorch.
"""
import argparse
import json
import os
import resource
import subprocess
import sys

# (label, N, C, F, HH, WW, H, W, stride, pad)
SHAPES = [
    ("three-layer convnet N=50 3->32 7x7 pad 3 32x32", 50, 3, 32, 7, 7, 32, 32, 1, 3),
    ("VGG-style N=64 64->64 3x3 pad 1 32x32", 64, 64, 64, 3, 3, 32, 32, 1, 1),
    ("VGG-style N=256 64->64 3x3 pad 1 32x32 (4x batch)", 256, 64, 64, 3, 3, 32, 32, 1, 1),
]


def _maxrss_mib():
    """Peak resident set of this process, MiB.

    Linux: VmHWM of /proc/self/status.  ``ru_maxrss`` is the same number but is
    inherited from the parent across fork+exec (a child spawned by a 250 MiB
    parent starts at 250 MiB), which hides a child's own growth.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # Linux: KiB, macOS: bytes


def child(lib, idx, threads):
    import numpy as np
    _, N, C, F, HH, WW, H, W, s, p = SHAPES[idx]
    if lib == "fastnn":
        import fastnn
        from fastnn import ops
        fastnn.set_num_threads(threads)
    else:
        import torch
        torch.set_num_threads(threads)
    from threadpoolctl import threadpool_limits
    threadpool_limits(threads)
    rng = np.random.default_rng(0)
    Ho, Wo = (H + 2 * p - HH) // s + 1, (W + 2 * p - WW) // s + 1
    x = rng.standard_normal((N, C, H, W), dtype=np.float32)
    w = rng.standard_normal((F, C, HH, WW), dtype=np.float32)
    b = rng.standard_normal(F, dtype=np.float32)
    dout = rng.standard_normal((N, F, Ho, Wo), dtype=np.float32)
    if lib == "fastnn":
        def step():
            out, cache = ops.conv_forward(x, w, b, s, p)
            grads = ops.conv_backward(dout, cache)
            return out, grads, cache
    else:
        tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
        tg = torch.from_numpy(dout)

        def step():
            tx.grad = tw.grad = tb.grad = None
            out = torch.nn.functional.conv2d(tx, tw, tb, s, p)
            out.backward(tg)
            return out, (tx.grad, tw.grad, tb.grad), None
    base = _maxrss_mib()
    info = {}
    for _ in range(3):
        out, grads, cache = step()
        if cache is not None:
            info = {"path": cache.path, "workspace_mib": cache.backward_workspace_bytes / 2 ** 20}
        del out, grads, cache
    print(json.dumps({"base": base, "peak": _maxrss_mib(), **info}))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", nargs=2, metavar=("LIB", "SHAPE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]), args.threads)
        return 0
    import importlib.util
    libs = ["fastnn", "torch"] if importlib.util.find_spec("torch") else ["fastnn"]
    lines = [f"Peak RSS growth of conv forward+backward (float32, {args.threads} threads), MiB over the "
             "baseline after imports and input allocation; each in a fresh process.",
             "",
             "| workload | fastnn MiB | torch MiB | fastnn / torch | target | met | fastnn scratch MiB |",
             "| --- | ---: | ---: | ---: | --- | --- | ---: |"]
    for i, shape in enumerate(SHAPES):
        res = {}
        for lib in libs:
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--threads", str(args.threads),
                                  "--child", lib, str(i)], capture_output=True, text=True, check=True)
            res[lib] = json.loads(out.stdout.strip().splitlines()[-1])
        f = res["fastnn"]["peak"] - res["fastnn"]["base"]
        ws = res["fastnn"].get("workspace_mib", float("nan"))
        if "torch" in res:
            t = res["torch"]["peak"] - res["torch"]["base"]
            ratio = f / t if t > 0 else float("inf")
            lines.append(f"| {shape[0]} | {f:.1f} | {t:.1f} | {ratio:.2f}x | <= 1.5x | "
                         f"{'yes' if ratio <= 1.5 else 'NO'} | {ws:.1f} |")
        else:
            lines.append(f"| {shape[0]} | {f:.1f} | n/a | n/a | <= 1.5x | n/a | {ws:.1f} |")
        print(f"  {shape[0]}: " + ", ".join(f"{k} +{v['peak'] - v['base']:.1f} MiB" for k, v in res.items()),
              file=sys.stderr)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
