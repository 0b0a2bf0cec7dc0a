"""Speed and memory of SelfDistilledKernelRidge against scikit-learn's KernelRidge.

Side by side in one process, on the same data (rbf kernel, tau = 5 steps):

* one ``KernelRidge.fit`` (the cost of the first step alone);
* ``SelfDistilledKernelRidge(alpha=0.5, n_steps=5)``: one factorisation for all steps;
* the plain loop of 5 ``KernelRidge`` fits on blended targets (eqs. (3)-(5));
* ``alpha="optimal"`` with a validation set of ``n / 4`` samples;
* the peak memory (tracemalloc) of a fixed-alpha fit against ``KernelRidge.fit``.

``SelfDistilledKernelRidge`` fits its unpenalised intercept (the default; one
more triangular solve per fit), ``KernelRidge`` has none.

Each timing is the fastest of ``--repeats`` runs, the competitors interleaved
so that a busy machine slows them alike. Writes
``benchmarks/results/kernel_ridge_speed.md`` and ``.png``::

    python benchmarks/kernel_ridge_speed.py            # n = 1000, 2000, 5000
    python benchmarks/kernel_ridge_speed.py --sizes 500 --repeats 3
    python benchmarks/kernel_ridge_speed.py --plot-only  # redraw the .png from the .md
"""

import argparse
import gc
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

# Measure the package of this checkout, not whichever one is installed.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sklearn.datasets import make_friedman1  # noqa: E402
from sklearn.kernel_ridge import KernelRidge  # noqa: E402

from selfdistill_sklearn import SelfDistilledKernelRidge  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
N_STEPS = 5
ALPHA = 0.5
KERNEL = {"kernel": "rbf", "gamma": 0.1}
REG_LAMBDA = 0.1


def refit_loop(X, y):
    targets = y
    for step in range(N_STEPS):
        model = KernelRidge(alpha=REG_LAMBDA, **KERNEL).fit(X, targets)
        if step < N_STEPS - 1:
            targets = ALPHA * y + (1 - ALPHA) * model.predict(X)
    return model


def competitors(X, y, X_val, y_val):
    return {
        "KernelRidge.fit": lambda: KernelRidge(alpha=REG_LAMBDA, **KERNEL).fit(X, y),
        "self-distilled, fixed alpha": lambda: SelfDistilledKernelRidge(
            alpha=ALPHA, n_steps=N_STEPS, reg_lambda=REG_LAMBDA, **KERNEL).fit(X, y),
        "loop of KernelRidge refits": lambda: refit_loop(X, y),
        "self-distilled, optimal alpha": lambda: SelfDistilledKernelRidge(
            alpha="optimal", n_steps=N_STEPS, reg_lambda=REG_LAMBDA, **KERNEL).fit(
                X, y, X_val=X_val, y_val=y_val),
    }


def timed(function):
    gc.collect()
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def peak_memory(function):
    gc.collect()
    tracemalloc.start()
    function()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def measure(n, repeats, seed=0):
    X_all, y_all = make_friedman1(n_samples=n + n // 4, noise=1.0, random_state=seed)
    X, y, X_val, y_val = X_all[:n], y_all[:n], X_all[n:], y_all[n:]
    runs = competitors(X, y, X_val, y_val)
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, function in runs.items():
            times[name].append(timed(function))
    fastest = {name: float(np.min(values)) for name, values in times.items()}
    memory = {name: peak_memory(runs[name])
              for name in ("KernelRidge.fit", "self-distilled, fixed alpha")}
    return fastest, memory


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 5000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--plot-only", action="store_true",
                        help="redraw the plot from the table in --output, without timing")
    args = parser.parse_args()
    if args.plot_only:
        plot_results(read_results(args.output / "kernel_ridge_speed.md"), args.output)
        return

    rows = []
    for n in args.sizes:
        fastest, memory = measure(n, args.repeats)
        base = fastest["KernelRidge.fit"]
        row = {
            "n": n,
            "KernelRidge.fit (s)": base,
            "fixed alpha (s)": fastest["self-distilled, fixed alpha"],
            "refit loop (s)": fastest["loop of KernelRidge refits"],
            "optimal alpha (s)": fastest["self-distilled, optimal alpha"],
            "fixed / KernelRidge": fastest["self-distilled, fixed alpha"] / base,
            "refit loop / fixed": fastest["loop of KernelRidge refits"]
            / fastest["self-distilled, fixed alpha"],
            "optimal / KernelRidge": fastest["self-distilled, optimal alpha"] / base,
            "peak MiB KernelRidge": memory["KernelRidge.fit"] / 2**20,
            "peak MiB fixed alpha": memory["self-distilled, fixed alpha"] / 2**20,
            "memory fixed / KernelRidge": memory["self-distilled, fixed alpha"]
            / memory["KernelRidge.fit"],
        }
        rows.append(row)
        print(", ".join(f"{key}={value:.3g}" for key, value in row.items()), flush=True)
    write_results(rows, args.output, args.repeats)


def write_results(rows, output, repeats):
    output.mkdir(parents=True, exist_ok=True)
    header = list(rows[0])
    lines = [
        f"# SelfDistilledKernelRidge against KernelRidge (rbf, tau = {N_STEPS}, "
        f"fastest of {repeats} runs)",
        "",
        "Targets: fixed / KernelRidge <= 1.2; refit loop / fixed >= 4; "
        "optimal / KernelRidge <= 1.3; memory fixed / KernelRidge <= 1.2. "
        "The optimal-alpha fit validates on n / 4 extra samples. SelfDistilledKernelRidge "
        "fits an unpenalised intercept (fit_intercept=True, the default); KernelRidge has "
        "none. Timings on a shared 2-core machine (other jobs running): the ratios, measured "
        "interleaved in one process, are what to read.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for row in rows:
        cells = [str(row["n"])] + [f"{row[key]:.3f}" for key in header[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    (output / "kernel_ridge_speed.md").write_text("\n".join(lines) + "\n")

    plot_results(rows, output)
    print(f"wrote {output / 'kernel_ridge_speed.md'} and .png")


def read_results(path):
    """The rows of a table that :func:`write_results` wrote."""
    lines = [line for line in path.read_text().splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = []
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows.append({key: int(cell) if key == "n" else float(cell)
                     for key, cell in zip(header, cells, strict=True)})
    return rows


# One colour per method in both panels.
COLORS = {"KernelRidge.fit": "0.35", "fixed alpha": "tab:blue", "optimal alpha": "tab:orange",
          "refit loop": "tab:red"}


def plot_results(rows, output):
    """Fit times, and each method's time and memory relative to one ``KernelRidge.fit``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullLocator

    sizes = [row["n"] for row in rows]
    fig, (ax_time, ax_ratio) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    for name, marker in [("KernelRidge.fit", "o"), ("fixed alpha", "s"),
                         ("optimal alpha", "^"), ("refit loop", "x")]:
        ax_time.plot(sizes, [row[f"{name} (s)"] for row in rows], marker=marker,
                     color=COLORS[name], label=name)
    ax_time.set(xscale="log", yscale="log", xlabel="n (training samples)",
                ylabel="fit time (s), fastest run",
                title=f"Fit time, rbf kernel, tau = {N_STEPS}")
    ax_time.legend(fontsize="small")

    def relative(name):
        return [row[f"{name} (s)"] / row["KernelRidge.fit (s)"] for row in rows]

    ax_ratio.axhline(1.0, color=COLORS["KernelRidge.fit"], linewidth=1,
                     label="KernelRidge.fit (= 1)")
    for name, marker in [("fixed alpha", "s"), ("optimal alpha", "^"), ("refit loop", "x")]:
        ax_ratio.plot(sizes, relative(name), marker=marker, color=COLORS[name],
                      label=f"{name}, time")
    ax_ratio.plot(sizes, [row["memory fixed / KernelRidge"] for row in rows], marker="s",
                  linestyle="--", markerfacecolor="none", color=COLORS["fixed alpha"],
                  label="fixed alpha, peak memory")
    ax_ratio.set(xscale="log", yscale="log", xlabel="n (training samples)",
                 ylabel="relative to one KernelRidge.fit",
                 title=f"Time and memory of tau = {N_STEPS} steps, relative")
    ticks = [0.5, 0.7, 1, 1.5, 2, 3, 5, 7, 10, 15, 20]
    low, high = ax_ratio.get_ylim()
    ax_ratio.yaxis.set_major_locator(FixedLocator([t for t in ticks if low <= t <= high]))
    ax_ratio.yaxis.set_minor_locator(NullLocator())
    ax_ratio.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    for ax in (ax_time, ax_ratio):
        ax.set_xticks(sizes, [str(n) for n in sizes])
        ax.xaxis.set_minor_locator(NullLocator())
    ax_ratio.legend(fontsize="small")
    fig.savefig(output / "kernel_ridge_speed.png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
