"""Hyperparameter search wall time: 20 short trials with n_jobs=1, n_jobs=2 and a Dask LocalCluster.

    cd /tmp && python <repo>/bench/bench_tune.py [--trials 20] [--rounds 3] [--epochs 12]

Each trial is a real fastnn training run (``tune.make_train_fn("convnet", epochs=12)``:
ThreeLayerConvNet 16 filters 3x3, hidden 64, Adam, on the built-in digits),
about 0.3-0.8 s on one core of this machine (depending on its load).  The three ways run the same 20
configs and seeds (their result tables are checked identical, durations
aside); they are interleaved round by round (order rotated) so machine noise
falls on all alike.  Worker processes (loky's and the cluster's) are started
and warmed before the timed rounds; their start-up is reported separately.

Targets: n_jobs=2 <= 0.6x n_jobs=1; LocalCluster(2 workers) <= 0.7x n_jobs=1.
"""
import argparse
import os
import time

import numpy as np

from fastnn.benchmarks import harness  # noqa: E402

from fastnn import tune  # noqa: E402


def _rows(result):
    rows = result.to_rows()
    for r in rows:
        r.pop("duration")
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=50)
    ap.add_argument("--model", default="convnet", choices=["convnet", "mlp"])
    ap.add_argument("--no-dask", action="store_true")
    args = ap.parse_args(argv)

    fn = tune.make_train_fn(args.model, epochs=args.epochs, batch_size=args.batch_size)
    space = {"lr": tune.loguniform(1e-4, 1e-2), "reg": tune.loguniform(1e-5, 1e-2)}
    n = args.trials

    for line in harness.header(2):
        print(line)
    print(f"Trials: {n} x {fn!r}; load average {os.getloadavg()[0]:.2f} at start")

    # n_jobs=1 uses every core inside each trial (the default: cores // n_jobs threads);
    # "n_jobs=1, 1 thread" is shown beside it as a second, single-thread baseline
    modes = {"n_jobs=1": dict(n_jobs=1), "n_jobs=1, 1 thread": dict(n_jobs=1, threads_per_trial=1),
             "n_jobs=2": dict(n_jobs=2)}
    startup = {}
    t0 = time.perf_counter()
    tune.random_search(fn, space, 2, seed=99, n_jobs=1)
    startup["n_jobs=1"] = startup["n_jobs=1, 1 thread"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    tune.random_search(fn, space, 2, seed=99, n_jobs=2)     # starts and warms loky's workers
    startup["n_jobs=2"] = time.perf_counter() - t0
    cluster = client = None
    if not args.no_dask:
        import distributed
        t0 = time.perf_counter()
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           host="127.0.0.1", dashboard_address=None)
        client = distributed.Client(cluster)
        tune.random_search(fn, space, 2, seed=99, client=client)
        startup["LocalCluster 2x1"] = time.perf_counter() - t0
        modes["LocalCluster 2x1"] = dict(client=client)

    times = {m: [] for m in modes}
    trial_s = {m: [] for m in modes}
    results = {}
    names = list(modes)
    try:
        for r in range(args.rounds):
            for m in names[r % len(names):] + names[:r % len(names)]:
                t0 = time.perf_counter()
                res = tune.random_search(fn, space, n, seed=0, **modes[m])
                times[m].append(time.perf_counter() - t0)
                trial_s[m].extend(t["duration"] for t in res.trials)
                results.setdefault(m, res)
                print(f"  round {r + 1} {m}: {times[m][-1]:.2f} s "
                      f"(load {os.getloadavg()[0]:.2f})", flush=True)
    finally:
        if client is not None:
            client.close()
            cluster.close()

    base = float(np.median(times["n_jobs=1"]))
    base1 = float(np.median(times["n_jobs=1, 1 thread"]))
    targets = {"n_jobs=2": 0.6, "LocalCluster 2x1": 0.7}
    ref = _rows(results["n_jobs=1"])
    print()
    print(f"| way | {n} trials, median s | all rounds s | median trial s | vs n_jobs=1 "
          f"| vs n_jobs=1, 1 thread | target | met | same results | start-up s |")
    print("| --- | ---: | --- | ---: | ---: | ---: | --- | --- | --- | ---: |")
    for m in names:
        med = float(np.median(times[m]))
        ratio = med / base
        tgt = targets.get(m)
        met = "-" if tgt is None else ("yes" if ratio <= tgt else "NO")
        same = "yes" if _rows(results[m]) == ref else "NO"
        print(f"| {m} | {med:.2f} | {', '.join(f'{t:.2f}' for t in times[m])} | "
              f"{np.median(trial_s[m]):.3f} | {ratio:.2f}x | {med / base1:.2f}x | "
              f"{'-' if tgt is None else f'<= {tgt:g}x'} | {met} | {same} | {startup[m]:.2f} |")
    print(f"\nok trials: {sum(t['status'] == 'ok' for t in results['n_jobs=1'].trials)}/{n}; "
          f"best val_acc {results['n_jobs=1'].best_trial['metrics']['val_acc']:.3f}; "
          f"load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
