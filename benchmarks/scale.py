"""Self-distillation at scale: SelfDistilledRidge against Nystroem + Ridge.

On ``make_friedman1`` (10 features, noise 1) with m = 1000 Nystroem components
(rbf, gamma = 0.1), lambda = 1 and tau = 5 steps of alpha = 0.5:

* ``make_pipeline(Nystroem(n_components=1000), Ridge()).fit`` (one fit, the
  features held whole: 8 GB at n = 10^6);
* the tau-refit loop of that pipeline on blended targets (eqs. (3)-(5));
* ``SelfDistilledRidge(alpha=0.5, n_steps=5, feature_map=Nystroem(...))``;
* ``SelfDistilledRidgeCV`` over 8 lambdas x (11 alphas + "optimal") x tau <= 8
  on 5 folds (1 ... 8 steps, and the limit of each fixed alpha: 856 candidates);
* with ``--dask-sizes``, ``SelfDistilledRidge`` on a dask array generated on the
  workers of a ``LocalCluster`` of two single-threaded worker processes limited
  to 4 GB each, reporting each worker's peak resident memory.

Every run is a fresh child process on the same data, so that the peak resident
memory of one (``VmHWM``, reset after the data are made) does not contaminate
another; the runs of one size follow one another. ``--quality`` compares the
test error of Nystroem features with exact SelfDistilledKernelRidge on 12 000
training samples. Writes ``benchmarks/results/scale.md`` and ``scale.png``
(the results of earlier sizes are kept in ``scale.json``)::

    python benchmarks/scale.py --sizes 100000            # one size, all competitors
    python benchmarks/scale.py --sizes 1000000 --no-refit
    python benchmarks/scale.py --dask-sizes 10000000
    python benchmarks/scale.py --quality
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
STORE = RESULTS / "scale.json"
N_COMPONENTS = 1000
GAMMA = 0.1
REG_LAMBDA = 1.0
ALPHA = 0.5
N_STEPS = 5
SEARCH = {"reg_lambdas": list(np.logspace(-2, 2, 8)),
          "alphas": [round(a, 1) for a in np.linspace(0, 1, 11)] + ["optimal"],
          "max_steps": 8, "cv": 5}
KINDS = ("pipeline", "distilled", "search", "refit")


def _memory():
    """Current and peak resident memory of this process in bytes (Linux)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024
    return fields["VmRSS"], fields["VmHWM"]


def _reset_peak():
    Path("/proc/self/clear_refs").write_text("5")


def _nystroem():
    from sklearn.kernel_approximation import Nystroem

    return Nystroem(gamma=GAMMA, n_components=N_COMPONENTS, random_state=0)


def child(kind, n):
    """One timed run in this process; prints a JSON line."""
    from sklearn.datasets import make_friedman1
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    from selfdistill_sklearn import SelfDistilledRidge, SelfDistilledRidgeCV

    X, y = make_friedman1(n_samples=n, noise=1.0, random_state=0)
    X_test, y_test = make_friedman1(n_samples=20_000, noise=1.0, random_state=1)
    _reset_peak()
    base, _ = _memory()
    start = time.perf_counter()
    if kind == "pipeline":
        model = make_pipeline(_nystroem(), Ridge(alpha=REG_LAMBDA)).fit(X, y)
    elif kind == "refit":
        targets = y
        for step in range(N_STEPS):
            model = make_pipeline(_nystroem(), Ridge(alpha=REG_LAMBDA)).fit(X, targets)
            if step < N_STEPS - 1:
                targets = ALPHA * y + (1 - ALPHA) * model.predict(X)
    elif kind == "distilled":
        model = SelfDistilledRidge(alpha=ALPHA, n_steps=N_STEPS, reg_lambda=REG_LAMBDA,
                                   feature_map=_nystroem()).fit(X, y)
    elif kind == "search":
        model = SelfDistilledRidgeCV(**SEARCH, feature_map=_nystroem()).fit(X, y)
    else:
        raise ValueError(kind)
    seconds = time.perf_counter() - start
    _, peak = _memory()
    mse = float(np.mean((model.predict(X_test) - y_test) ** 2))
    extra = {}
    if kind == "search":
        extra = {"best_params": {k: str(v) for k, v in model.best_params_.items()}}
    print(json.dumps({"kind": kind, "n": n, "seconds": seconds, "peak": peak,
                      "fit_memory": peak - base, "test_mse": mse, **extra}))


def _friedman_chunk(n, seed):
    from sklearn.datasets import make_friedman1

    X, y = make_friedman1(n_samples=n, noise=1.0, random_state=seed)
    return np.column_stack([X, y])


def dask_child(n, chunk_rows=200_000):
    """SelfDistilledRidge on n rows generated on the workers of a LocalCluster."""
    import dask
    import dask.array as da
    from distributed import Client, LocalCluster

    from selfdistill_sklearn import SelfDistilledRidge

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      memory_limit="4GB", dashboard_address=None) as cluster, \
            Client(cluster) as client:
        sizes = [min(chunk_rows, n - start) for start in range(0, n, chunk_rows)]
        blocks = [da.from_delayed(dask.delayed(_friedman_chunk)(size, seed), (size, 11),
                                  dtype=float) for seed, size in enumerate(sizes)]
        data = da.concatenate(blocks)
        X, y = data[:, :10], data[:, 10]
        client.run(_reset_peak)
        start = time.perf_counter()
        model = SelfDistilledRidge(alpha=ALPHA, n_steps=N_STEPS, reg_lambda=REG_LAMBDA,
                                   feature_map=_nystroem()).fit(X, y)
        seconds = time.perf_counter() - start
        peaks = [value[1] for value in client.run(_memory).values()]
        X_test, y_test = _friedman_chunk(20_000, 10**6)[:, :10], _friedman_chunk(
            20_000, 10**6)[:, 10]
        mse = float(np.mean((model.predict(X_test) - y_test) ** 2))
    print(json.dumps({"kind": "dask", "n": n, "seconds": seconds, "worker_peaks": peaks,
                      "peak": max(peaks), "test_mse": mse}))


def quality(n_train=12_000):
    """Test error of Nystroem features against exact kernel self-distillation."""
    from sklearn.datasets import make_friedman1

    from selfdistill_sklearn import SelfDistilledKernelRidge, SelfDistilledRidge

    X, y = make_friedman1(n_samples=n_train, noise=1.0, random_state=0)
    X_test, y_test = make_friedman1(n_samples=4000, noise=1.0, random_state=1)
    rows = []
    cases = [(reg_lambda, alpha, n_steps) for reg_lambda in (REG_LAMBDA, 0.01)
             for alpha, n_steps in ((0.5, 1), (0.5, N_STEPS), (0.25, N_STEPS))]
    for reg_lambda, alpha, n_steps in cases:
        params = {"alpha": alpha, "n_steps": n_steps, "reg_lambda": reg_lambda}
        start = time.perf_counter()
        exact = SelfDistilledKernelRidge(**params, kernel="rbf", gamma=GAMMA).fit(X, y)
        exact_seconds = time.perf_counter() - start
        start = time.perf_counter()
        approx = SelfDistilledRidge(**params, feature_map=_nystroem()).fit(X, y)
        approx_seconds = time.perf_counter() - start
        exact_mse = float(np.mean((exact.predict(X_test) - y_test) ** 2))
        approx_mse = float(np.mean((approx.predict(X_test) - y_test) ** 2))
        rows.append({"reg_lambda": reg_lambda, "alpha": alpha, "n_steps": n_steps,
                     "exact_mse": exact_mse,
                     "nystroem_mse": approx_mse, "relative": approx_mse / exact_mse - 1,
                     "exact_seconds": exact_seconds, "nystroem_seconds": approx_seconds})
    return rows


def run_child(arguments):
    # The child imports the package of this checkout, whatever is installed.
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [root, os.environ.get("PYTHONPATH")]))}
    process = subprocess.run([sys.executable, __file__, *arguments], capture_output=True,
                             text=True, env=env)
    if process.returncode:
        raise RuntimeError(f"{arguments} failed:\n{process.stderr[-3000:]}")
    return json.loads(process.stdout.strip().splitlines()[-1])


def _load():
    return json.loads(STORE.read_text()) if STORE.exists() else {"runs": [], "quality": []}


def _gb(value):
    return f"{value / 2**30:.2f} GB"


def write_results(store):
    RESULTS.mkdir(exist_ok=True)
    runs = {(run["kind"], run["n"]): run for run in store["runs"]}
    sizes = sorted({n for _, n in runs})
    lines = ["# Self-distillation at scale", "",
             f"`make_friedman1` (noise 1), Nystroem m = {N_COMPONENTS} (rbf, gamma = {GAMMA}), "
             f"lambda = {REG_LAMBDA}, tau = {N_STEPS}, alpha = {ALPHA}; the search is "
             "8 lambdas x (11 alphas + optimal) x tau <= 8 (and the limit) on 5 folds. "
             "Each run is a fresh process on a 2-core machine shared with other users, "
             "so the timings are noisy. Peak memory is the process's peak resident set "
             "above the data (`VmHWM` after a reset); dask rows give the largest "
             "worker's peak.", "",
             "| n | run | time (s) | peak memory | test MSE | time / pipeline | "
             "memory / pipeline |", "|---|---|---|---|---|---|---|"]
    for n in sizes:
        reference = runs.get(("pipeline", n))
        for kind in (*KINDS, "dask"):
            run = runs.get((kind, n))
            if run is None:
                continue
            memory = run.get("fit_memory", run["peak"])
            time_ratio = memory_ratio = ""
            if reference is not None and kind != "dask":
                time_ratio = f"{run['seconds'] / reference['seconds']:.2f}"
                memory_ratio = f"{memory / reference['fit_memory']:.3f}"
            lines.append(f"| {n:.0e} | {kind} | {run['seconds']:.1f} | {_gb(memory)} | "
                         f"{run['test_mse']:.4f} | {time_ratio} | {memory_ratio} |")
            if kind == "search":
                lines.append(f"|  | (best: {run['best_params']}) |  |  |  |  |  |")
            if kind == "dask":
                lines.append(f"|  | (worker peaks: "
                             f"{', '.join(_gb(p) for p in run['worker_peaks'])}) |"
                             "  |  |  |  |  |")
    lines += ["", "## Ratios", ""]
    for n in sizes:
        ours = runs.get(("distilled", n))
        if ours is None:
            continue
        parts = []
        if ("pipeline", n) in runs:
            pipe = runs[("pipeline", n)]
            parts.append(f"5-step fit / Nystroem+Ridge fit: time "
                         f"{ours['seconds'] / pipe['seconds']:.2f}x, peak memory "
                         f"{ours['fit_memory'] / pipe['fit_memory']:.3f}x")
        if ("refit", n) in runs:
            parts.append(f"refit loop / 5-step fit: "
                         f"{runs[('refit', n)]['seconds'] / ours['seconds']:.1f}x")
        elif ("pipeline", n) in runs:
            parts.append(f"refit loop not run; it holds {N_STEPS} Nystroem+Ridge fits, at least "
                         f"{N_STEPS * runs[('pipeline', n)]['seconds'] / ours['seconds']:.1f}x "
                         "the 5-step fit")
        if ("search", n) in runs:
            parts.append(f"search / 5-step fit: "
                         f"{runs[('search', n)]['seconds'] / ours['seconds']:.2f}x")
        lines.append(f"* n = {n:.0e}: " + "; ".join(parts))
    for (kind, n), run in sorted(runs.items(), key=lambda item: item[0][1]):
        if kind == "dask":
            lines.append(f"* n = {n:.0e} through dask: {run['seconds']:.0f} s, largest worker "
                         f"peak {_gb(run['peak'])} (limit 4 GB)")
    if store["quality"]:
        lines += ["", "## Nystroem (m = 1000) against exact SelfDistilledKernelRidge",
                  "", "12 000 training and 4 000 test samples, same (gamma, lambda, alpha, tau).",
                  "", "| lambda | alpha | tau | exact MSE | Nystroem MSE | relative | "
                  "exact (s) | Nystroem (s) |", "|---|---|---|---|---|---|---|---|"]
        for row in store["quality"]:
            lines.append(f"| {row['reg_lambda']} | {row['alpha']} | {row['n_steps']} | "
                         f"{row['exact_mse']:.4f} | "
                         f"{row['nystroem_mse']:.4f} | {100 * row['relative']:+.2f} % | "
                         f"{row['exact_seconds']:.1f} | {row['nystroem_seconds']:.1f} |")
    (RESULTS / "scale.md").write_text("\n".join(lines) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (ax_time, ax_memory) = plt.subplots(1, 2, figsize=(10, 4))
    for kind in (*KINDS, "dask"):
        points = sorted((n, run) for (k, n), run in runs.items() if k == kind)
        if not points:
            continue
        ns = [n for n, _ in points]
        ax_time.loglog(ns, [run["seconds"] for _, run in points], "o-", label=kind)
        ax_memory.loglog(ns, [run.get("fit_memory", run["peak"]) / 2**30 for _, run in points],
                         "o-", label=kind)
    ax_time.set(xlabel="n", ylabel="fit time (s)", title="Time")
    ax_memory.set(xlabel="n", ylabel="peak memory (GB)", title="Memory")
    ax_time.legend()
    figure.tight_layout()
    figure.savefig(RESULTS / "scale.png", dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[])
    parser.add_argument("--dask-sizes", type=int, nargs="*", default=[])
    parser.add_argument("--kinds", nargs="*", default=list(KINDS), choices=KINDS)
    parser.add_argument("--no-refit", action="store_true")
    parser.add_argument("--quality", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "N"))
    args = parser.parse_args()
    if args.child:
        kind, n = args.child
        if kind == "quality":
            return print(json.dumps({"quality": quality(int(n))}))
        return dask_child(int(n)) if kind == "dask" else child(kind, int(n))
    store = _load()
    if args.quality:
        store["quality"] = run_child(["--child", "quality", "12000"])["quality"]
    kinds = [k for k in args.kinds if not (args.no_refit and k == "refit")]
    new = [(kind, n) for n in args.sizes for kind in kinds]
    new += [("dask", n) for n in args.dask_sizes]
    for kind, n in new:
        run = run_child(["--child", kind, str(n)])
        print(json.dumps(run), flush=True)
        store["runs"] = [r for r in store["runs"] if (r["kind"], r["n"]) != (kind, n)] + [run]
        STORE.write_text(json.dumps(store, indent=1))
        write_results(store)
    write_results(store)
    runs = {(r["kind"], r["n"]): r for r in store["runs"]}
    for n in sorted({n for _, n in runs}):
        if ("pipeline", n) in runs and ("distilled", n) in runs:
            pipe, ours = runs[("pipeline", n)], runs[("distilled", n)]
            summary = (f"n={n:.0e}: 5-step fit / pipeline fit: time "
                       f"{ours['seconds'] / pipe['seconds']:.2f}x, memory "
                       f"{ours['fit_memory'] / pipe['fit_memory']:.3f}x")
            if ("refit", n) in runs:
                summary += f"; refit loop / 5-step fit: " \
                           f"{runs[('refit', n)]['seconds'] / ours['seconds']:.1f}x"
            if ("search", n) in runs:
                summary += f"; search / 5-step fit: " \
                           f"{runs[('search', n)]['seconds'] / ours['seconds']:.2f}x"
            print(summary)
    return None


if __name__ == "__main__":
    main()
