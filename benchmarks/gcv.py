"""Generalised cross-validation (cv=None) against folds: test error and search time.

1. The problems of notebooks/model_selection.ipynb (diabetes, friedman1 and
   friedman3 with 300 samples, 8 random 75/25 splits, inputs standardised and
   targets scaled on the training part, rbf kernel with scikit-learn's
   default gamma, the notebook's grid: lambda in 0.003, 0.03, 0.3, 3, alpha in
   0, 0.25, ..., 1 and "optimal", 1..4 steps and the limit), one BLAS thread
   as in the notebook. Test MSE of the candidate chosen by GCV
   (``SelfDistilledKernelRidgeCV(cv=None)``) against the one chosen on 5
   shuffled folds (the estimator's default ``cv=5``; the notebook itself uses
   4), against kernel ridge regression tuned on the same folds
   (``GridSearchCV(KernelRidge)``), kernel ridge tuned by GCV, and, when
   installed, himalaya's ``KernelRidgeCV`` over the same penalties.
2. Search time at n = 3000 (make_friedman1, noise 1, standardised, 1000
   more samples held out for the test MSE) over the grid of
   benchmarks/cross_validation.py: 8 penalties x (11 weights and "optimal")
   x steps 1..8 and the limit, 856 candidates; GCV against 5 folds, both
   with n_jobs=1 in this process, one run each, and himalaya's
   ``KernelRidgeCV`` over the 8 penalties.

himalaya is a benchmark dependency only (``pip install himalaya``); without it
its rows are skipped with a note. Run::

    python benchmarks/gcv.py

It prints the tables and writes benchmarks/results/gcv.md and gcv.png.
"""

import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sklearn.datasets import load_diabetes, make_friedman1, make_friedman3  # noqa: E402
from sklearn.kernel_ridge import KernelRidge  # noqa: E402
from sklearn.metrics import mean_squared_error  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from selfdistill_sklearn.model_selection import SelfDistilledKernelRidgeCV  # noqa: E402

try:
    from himalaya.kernel_ridge import KernelRidgeCV as HimalayaKernelRidgeCV
except ImportError:  # a benchmark dependency only
    HimalayaKernelRidgeCV = None

RESULTS = Path(__file__).resolve().parent / "results"
NB_LAMBDAS = [0.003, 0.03, 0.3, 3.0]
NB_ALPHAS = [0.0, 0.25, 0.5, 0.75, 1.0]
NB_MAX_STEPS = 4
N_REPEATS = 8
CV = KFold(5, shuffle=True, random_state=0)
BIG_LAMBDAS = [float(v) for v in np.logspace(-3, 1, 8)]
BIG_ALPHAS = [round(0.1 * k, 1) for k in range(11)] + ["optimal"]
BIG_MAX_STEPS = 8
METHODS = ["kernel ridge, 5-fold", "kernel ridge, GCV", "self-distilled, 5-fold",
           "self-distilled, GCV", "himalaya KernelRidgeCV, 5-fold"]


def _datasets():
    X, y = load_diabetes(return_X_y=True)
    yield "diabetes", X, y
    yield "friedman1", *make_friedman1(300, noise=1.0, random_state=0)
    X, y = make_friedman3(300, noise=0.0, random_state=0)
    rng = np.random.default_rng(0)
    yield "friedman3", X, y + rng.normal(scale=0.3 * y.std(), size=y.shape)


def _himalaya(lambdas, n_features):
    return HimalayaKernelRidgeCV(alphas=lambdas, kernel="rbf",
                                 kernel_params={"gamma": 1.0 / n_features}, cv=CV,
                                 fit_intercept=True, warn=False)


def _methods(n_features):
    yield METHODS[0], GridSearchCV(KernelRidge(kernel="rbf"), {"alpha": NB_LAMBDAS}, cv=CV,
                                   scoring="neg_mean_squared_error")
    yield METHODS[1], SelfDistilledKernelRidgeCV(NB_LAMBDAS, [1.0], 1, include_limit=False,
                                                 kernel="rbf", cv=None)
    yield METHODS[2], SelfDistilledKernelRidgeCV(NB_LAMBDAS, NB_ALPHAS + ["optimal"],
                                                 NB_MAX_STEPS, kernel="rbf", cv=CV)
    yield METHODS[3], SelfDistilledKernelRidgeCV(NB_LAMBDAS, NB_ALPHAS + ["optimal"],
                                                 NB_MAX_STEPS, kernel="rbf", cv=None)
    if HimalayaKernelRidgeCV is not None:
        yield METHODS[4], _himalaya(NB_LAMBDAS, n_features)


def _timed_fit(estimator, X, y):
    start = time.perf_counter()
    estimator.fit(X, y)
    return time.perf_counter() - start


def small_problems():
    rows = []
    with threadpool_limits(1, user_api="blas"):
        for name, X, y in _datasets():
            for repeat in range(N_REPEATS):
                X_train, X_test, y_train, y_test = train_test_split(
                    X, y, test_size=0.25, random_state=repeat)
                scaler = StandardScaler().fit(X_train)
                X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
                mean, scale = y_train.mean(), y_train.std()
                y_train, y_test = (y_train - mean) / scale, (y_test - mean) / scale
                for method, estimator in _methods(X.shape[1]):
                    seconds = _timed_fit(estimator, X_train, y_train)
                    rows.append({"data": name, "repeat": repeat, "method": method,
                                 "mse": mean_squared_error(y_test, estimator.predict(X_test)),
                                 "time": seconds,
                                 "best": getattr(estimator, "best_params_", None)})
    return rows


def large_problem():
    X, y = make_friedman1(4000, noise=1.0, random_state=0)
    X_train, X_test, y_train, y_test = X[:3000], X[3000:], y[:3000], y[3000:]
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    mean, scale = y_train.mean(), y_train.std()
    y_train, y_test = (y_train - mean) / scale, (y_test - mean) / scale
    searches = {
        "self-distilled, GCV": SelfDistilledKernelRidgeCV(BIG_LAMBDAS, BIG_ALPHAS, BIG_MAX_STEPS,
                                                          kernel="rbf", cv=None),
        "self-distilled, 5-fold": SelfDistilledKernelRidgeCV(BIG_LAMBDAS, BIG_ALPHAS,
                                                             BIG_MAX_STEPS, kernel="rbf", cv=CV),
    }
    if HimalayaKernelRidgeCV is not None:
        searches["himalaya KernelRidgeCV, 5-fold"] = _himalaya(BIG_LAMBDAS, X.shape[1])
    rows = []
    for method, estimator in searches.items():
        seconds = _timed_fit(estimator, X_train, y_train)
        rows.append({"method": method, "time": seconds,
                     "candidates": len(estimator.cv_results_["params"])
                     if hasattr(estimator, "cv_results_") else len(BIG_LAMBDAS),
                     "mse": mean_squared_error(y_test, estimator.predict(X_test)),
                     "best": getattr(estimator, "best_params_", None)
                     or {"reg_lambda": float(np.ravel(estimator.best_alphas_)[0])}})
        print(f"n=3000 {method}: {seconds:.1f} s", flush=True)
    return rows


def _summary(rows):
    names = list(dict.fromkeys(row["data"] for row in rows))
    methods = [m for m in METHODS if any(row["method"] == m for row in rows)]
    table = {}
    for name in names:
        baseline = {row["repeat"]: row["mse"] for row in rows
                    if row["data"] == name and row["method"] == METHODS[0]}
        for method in methods:
            part = [row for row in rows if row["data"] == name and row["method"] == method]
            mse = np.array([row["mse"] for row in part])
            ratio = np.array([row["mse"] / baseline[row["repeat"]] for row in part])
            wins = sum(row["mse"] < baseline[row["repeat"]] for row in part)
            times = np.array([row["time"] for row in part])
            table[name, method] = (mse.mean(), mse.std(), ratio.mean(), ratio.std(), wins,
                                   times.mean(), times.std())
    return names, methods, table


def _gcv_vs_folds(rows):
    """Per data set: how often GCV's choice beats the 5-fold choice of the same grid."""
    out = {}
    for name in dict.fromkeys(row["data"] for row in rows):
        fold = {row["repeat"]: row["mse"] for row in rows
                if row["data"] == name and row["method"] == METHODS[2]}
        ours = {row["repeat"]: row["mse"] for row in rows
                if row["data"] == name and row["method"] == METHODS[3]}
        ratios = np.array([ours[r] / fold[r] for r in fold])
        out[name] = (ratios.mean(), ratios.std(), int(np.sum(ratios < 1)),
                     int(np.sum(ratios == 1)))
    return out


def write(rows, big, load):
    names, methods, table = _summary(rows)
    versus = _gcv_vs_folds(rows)
    lines = ["# Generalised cross-validation (cv=None) against folds", "",
             " ".join(__doc__.split("\n\n")[1].split()), "",
             f"## Test error on the notebook's problems ({N_REPEATS} splits)", "",
             "| data | method | test MSE (mean ± std) | / kernel ridge 5-fold (mean ± std) | "
             "wins vs kernel ridge | search time (s) |", "|---|---|---|---|---|---|"]
    for name in names:
        for method in methods:
            m, s, r, rs, wins, t, ts = table[name, method]
            lines.append(f"| {name} | {method} | {m:.4f} ± {s:.4f} | {r:.3f} ± {rs:.3f} | "
                         f"{wins}/{N_REPEATS} | {t:.3f} ± {ts:.3f} |")
    lines += ["", "Self-distilled search, GCV against 5 folds on the same grid (test MSE "
              "ratio GCV / 5-fold, splits where GCV is better, equal):", ""]
    for name, (r, rs, better, equal) in versus.items():
        lines.append(f"* {name}: {r:.3f} ± {rs:.3f}, GCV better on {better}/{N_REPEATS}, "
                     f"equal on {equal}")
    lines += ["", "Chosen by the self-distilled GCV search (split 0 of each data set): "
              + "; ".join(f"{row['data']}: {row['best']}" for row in rows
                          if row["method"] == METHODS[3] and row["repeat"] == 0),
              "", "Chosen by the self-distilled 5-fold search (split 0): "
              + "; ".join(f"{row['data']}: {row['best']}" for row in rows
                          if row["method"] == METHODS[2] and row["repeat"] == 0), ""]
    if big:
        gcv_time = next(row["time"] for row in big if row["method"] == "self-distilled, GCV")
        lines += ["## Search time at n = 3000 (make_friedman1, 856 candidates)", "",
                  "| method | candidates | time (s) | / GCV search | test MSE (1000 held out) "
                  "| chosen |", "|---|---|---|---|---|---|"]
        for row in big:
            lines.append(f"| {row['method']} | {row['candidates']} | {row['time']:.1f} | "
                         f"{row['time'] / gcv_time:.2f} | {row['mse']:.4f} | {row['best']} |")
    if HimalayaKernelRidgeCV is None:
        lines += ["", "himalaya is not installed: its rows are skipped "
                  "(`pip install himalaya` to include them)."]
    lines += ["", f"Machine: {platform.machine()}, {os.cpu_count()} cores, shared with other "
              f"jobs (load average {load[0]:.1f} before, {load[1]:.1f} after): absolute times "
              "are noisy, ratios within one run less so. Small problems with one BLAS thread "
              "(as the notebook); n = 3000 with the machine's BLAS threads, n_jobs=1."]
    text = "\n".join(lines) + "\n"
    (RESULTS / "gcv.md").write_text(text)
    print(text)
    _plot(names, methods, table, big)


def _plot(names, methods, table, big):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_error, ax_time, ax_big) = plt.subplots(
        1, 3, figsize=(15, 4), constrained_layout=True,
        gridspec_kw={"width_ratios": [3, 3, 2]})
    width = 0.8 / len(methods)
    colors = ["0.4", "0.7", "tab:blue", "tab:green", "tab:purple"]
    for k, method in enumerate(methods):
        x = np.arange(len(names)) + (k - (len(methods) - 1) / 2) * width
        ratio = [table[name, method][2] for name in names]
        spread = [table[name, method][3] for name in names]
        ax_error.errorbar(x, ratio, yerr=spread, fmt="o", capsize=3, color=colors[k],
                          label=method)
        ax_time.bar(x, [table[name, method][5] for name in names], width,
                    yerr=[table[name, method][6] for name in names], capsize=2,
                    color=colors[k], label=method)
    ax_error.axhline(1.0, color="0.3", linewidth=1, linestyle=":")
    ax_error.set_ylabel(f"test MSE / kernel ridge tuned on 5 folds\n(mean ± std, "
                        f"{N_REPEATS} splits)")
    ax_time.set_ylabel("search time incl. refit (s)")
    ax_time.set_yscale("log")
    for ax in (ax_error, ax_time):
        ax.set_xticks(np.arange(len(names)), names)
    ax_error.legend(fontsize="x-small")
    if big:
        labels = [row["method"].replace(" KernelRidgeCV", "").replace(", ", "\n")
                  for row in big]
        ax_big.bar(range(len(big)), [row["time"] for row in big],
                   color=[colors[METHODS.index(row["method"])] for row in big])
        ax_big.set_xticks(range(len(big)), labels, fontsize="small")
        ax_big.set_ylabel("search time (s)")
        ax_big.set_title("n = 3000, 856 candidates\n(himalaya: 8 penalties)", fontsize="small")
    fig.savefig(RESULTS / "gcv.png", dpi=100)


def main():
    load_before = os.getloadavg()[0]
    rows = small_problems()
    big = large_problem()
    write(rows, big, (load_before, os.getloadavg()[0]))


if __name__ == "__main__":
    main()
