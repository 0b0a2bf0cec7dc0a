"""Wall time of SelfDistilledKernelRidgeCV against GridSearchCV over the same grid.

Grid: 8 penalties x (11 weights 0, 0.1, ..., 1 and "optimal") x steps 1..8
(and the limit for every fixed weight), 5 folds, on scikit-learn's diabetes
data and on 3000 samples of make_friedman1. Both searches run in this
process, side by side, with n_jobs=1 and n_jobs=-1, and must choose the same
candidate with the same scores.

GridSearchCV on 3000 samples refits kernel ridge about 4300 times per
n_jobs setting; that is timed on the candidates of one penalty (an eighth of
the grid, every alpha and step) and extrapolated by the number of
candidates, which is stated in the table. On diabetes each search is run three
times and its fastest run counts; on 3000 samples each runs once. With n_jobs=-1
both searches score
folds in joblib's worker processes, started (and warmed up with a tiny fit of
each) before any timing. Both fit an unpenalised intercept (the estimators'
default). Run::

    python benchmarks/cross_validation.py
    python benchmarks/cross_validation.py --data diabetes   # the quick case only

It prints the table and writes benchmarks/results/cross_validation.md and
cross_validation.png.
"""

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

# Measure the package of this checkout, not whichever one is installed.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sklearn.datasets import load_diabetes, make_friedman1  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from selfdistill_sklearn import SelfDistilledKernelRidge  # noqa: E402
from selfdistill_sklearn.model_selection import SelfDistilledKernelRidgeCV  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
LAMBDAS = [float(v) for v in np.logspace(-3, 1, 8)]
ALPHAS = [round(0.1 * k, 1) for k in range(11)] + ["optimal"]
MAX_STEPS = 8
KERNEL = {"kernel": "rbf", "gamma": None}


def _standardised(X, y):
    return StandardScaler().fit_transform(X), (y - y.mean()) / y.std()


DATASETS = ("diabetes", "friedman1")


def _datasets(names=DATASETS):
    # Name, data, number of penalties GridSearchCV is timed on (None: all),
    # and how many times each search is run (its fastest run counts).
    if "diabetes" in names:
        yield "diabetes", *_standardised(*load_diabetes(return_X_y=True)), None, 3
    if "friedman1" in names:
        # Grid search refits are timed on one penalty's candidates only.
        yield ("friedman1", *_standardised(*make_friedman1(3000, noise=1.0, random_state=0)),
               1, 1)


def _timed(estimator, X, y, repeats=1):
    """Fastest of ``repeats`` fits, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        estimator.fit(X, y)
        best = min(best, time.perf_counter() - start)
    return best


def _max_relative_difference(ours, theirs):
    a = np.asarray(ours.cv_results_["mean_test_score"])
    b = np.asarray(theirs.cv_results_["mean_test_score"])
    return float(np.max(np.abs(a - b) / np.abs(b)))


def _warm_up_workers():
    """Start joblib's worker processes and import both estimators in them, so
    that neither search pays for it in its n_jobs=-1 time."""
    X, y = make_friedman1(40, random_state=0)
    SelfDistilledKernelRidgeCV([1.0], [0.5, "optimal"], 2, cv=5, alpha_cv=2, n_jobs=-1,
                               **KERNEL).fit(X, y)
    GridSearchCV(SelfDistilledKernelRidge(**KERNEL), {"alpha": [0.5, 1.0]}, cv=5,
                 n_jobs=-1).fit(X, y)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", choices=DATASETS, default=list(DATASETS),
                        help="data sets to run (default: both)")
    args = parser.parse_args()
    cv = KFold(5, shuffle=True, random_state=0)
    _warm_up_workers()
    rows, plot_data = [], []
    load_before = os.getloadavg()
    for name, X, y, n_lambdas_timed, repeats in _datasets(args.data):
        search = {n_jobs: SelfDistilledKernelRidgeCV(LAMBDAS, ALPHAS, MAX_STEPS, cv=cv,
                                                     n_jobs=n_jobs, **KERNEL)
                  for n_jobs in (1, -1)}
        ours = {n_jobs: _timed(est, X, y, repeats) for n_jobs, est in search.items()}
        # What the intercept costs: the same search without it, side by side.
        plain = {n_jobs: _timed(SelfDistilledKernelRidgeCV(
            LAMBDAS, ALPHAS, MAX_STEPS, cv=cv, n_jobs=n_jobs, fit_intercept=False, **KERNEL),
            X, y, repeats) for n_jobs in (1, -1)}
        full = search[1]
        n_candidates = len(full.cv_results_["params"])
        lambdas = LAMBDAS
        if n_lambdas_timed is not None:
            # The penalty ours chose, so that the subset's choice is the
            # full grid's choice when both agree.
            lambdas = [full.best_params_["reg_lambda"]]
        subset = SelfDistilledKernelRidgeCV(lambdas, ALPHAS, MAX_STEPS, cv=cv, **KERNEL)
        subset_time = _timed(subset, X, y)
        n_subset = len(subset.cv_results_["params"])
        grid = {}
        for n_jobs in (1, -1):
            reference = GridSearchCV(SelfDistilledKernelRidge(**KERNEL), subset.param_grid_,
                                     cv=cv, scoring="neg_mean_squared_error", n_jobs=n_jobs)
            measured = _timed(reference, X, y, repeats)
            grid[n_jobs] = (measured, measured * n_candidates / n_subset, reference)
        reference = grid[1][2]
        same_choice = reference.best_params_ == subset.best_params_
        difference = _max_relative_difference(subset, reference)
        extrapolated = n_subset != n_candidates
        for n_jobs in (1, -1):
            measured, total, _ = grid[n_jobs]
            rows.append({
                "data": f"{name} (n={len(y)})", "n_jobs": n_jobs, "candidates": n_candidates,
                "ours": ours[n_jobs], "plain": plain[n_jobs], "grid": total,
                "grid_how": (f"extrapolated from {measured:.1f} s measured on {n_subset} "
                             "candidates" if extrapolated else "measured"),
                "ratio": total / ours[n_jobs], "ratio_best": total / min(ours.values()),
                "same": same_choice, "difference": difference,
                "best": subset.best_params_, "subset_time": subset_time,
            })
        plot_data.append((name, ours, {k: v[1] for k, v in grid.items()}, extrapolated))
    load_after = os.getloadavg()
    table = _table(rows, load_before, load_after)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cross_validation.md").write_text(table)
    _plot(plot_data, RESULTS / "cross_validation.png")


def _table(rows, load_before, load_after):
    lines = [
        "# SelfDistilledKernelRidgeCV against GridSearchCV",
        "",
        f"Grid: {len(LAMBDAS)} values of lambda (logspace(-3, 1)) x {len(ALPHAS) - 1} values "
        f"of alpha (0, 0.1, ..., 1) and 'optimal' x n_steps 1..{MAX_STEPS} (and inf for "
        "every fixed alpha), rbf kernel, 5 shuffled folds; inputs and targets "
        "standardised; both searches fit an unpenalised intercept (fit_intercept=True, "
        "the default). GridSearchCV searches SelfDistilledKernelRidge over the same "
        "param_grid_ with scoring='neg_mean_squared_error'.",
        "",
        "| data | n_jobs | candidates | SelfDistilledKernelRidgeCV (s) "
        "| same without intercept (s) | GridSearchCV (s) "
        "| GridSearchCV time is | speed-up (same n_jobs) | speed-up vs our faster run "
        "| same best_params_ | max rel. score difference |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['data']} | {row['n_jobs']} | {row['candidates']} | {row['ours']:.2f} "
            f"| {row['plain']:.2f} | {row['grid']:.1f} | {row['grid_how']} | {row['ratio']:.0f}x "
            f"| {row['ratio_best']:.0f}x | {'yes' if row['same'] else 'NO'} "
            f"| {row['difference']:.1e} |")
    lines += ["", "Chosen candidates: " + "; ".join(
        f"{row['data']}: {row['best']}" for row in rows[::2]), ""]
    lines += [
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"shared with other jobs while this ran (load average {load_before[0]:.1f} before, "
        f"{load_after[0]:.1f} after), so absolute times are noisy; both searches ran in the "
        "same process, one after the other. Where GridSearchCV's time is extrapolated, the "
        "choice and score comparison is made on the subset actually run (the candidates of "
        "the penalty this estimator chose on the full grid).", ""]
    return "\n".join(lines)


def _plot(plot_data, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(7, 3.5), constrained_layout=True)
    labels, values, colors, hatches = [], [], [], []
    for name, ours, grid, extrapolated in plot_data:
        for n_jobs in (1, -1):
            labels += [f"{name}\nours, n_jobs={n_jobs}", f"{name}\ngrid, n_jobs={n_jobs}"]
            values += [ours[n_jobs], grid[n_jobs]]
            colors += ["tab:blue", "tab:orange"]
            hatches += ["", "//" if extrapolated else ""]
    bars = ax.barh(range(len(values)), values, color=colors)
    for bar, hatch in zip(bars, hatches, strict=True):
        bar.set_hatch(hatch)
    ax.set_yticks(range(len(values)), labels, fontsize="x-small")
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("wall time (s), log scale; hatched: extrapolated")
    ax.set_title("Cross-validated search over (lambda, alpha, tau)")
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
