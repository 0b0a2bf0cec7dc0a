"""A fair comparison of tuned kernel ridge regression and tuned self-distillation.

What ``python -m selfdistill_sklearn`` runs. Both methods see the same
training part of each random split, are tuned by cross-validation on the same
folds of it over the same grid of penalties ``lambda`` and rbf widths
``gamma``, and are scored on the same held-out test part:

* ``KernelRidge``: ``GridSearchCV(KernelRidge(kernel="rbf"))`` over
  ``lambda`` and ``gamma``, the targets centred on the training mean of each
  fit (``KernelRidge`` has no intercept; without centring it shrinks toward 0).
* ``kernel ridge + intercept``: the same search over
  ``SelfDistilledKernelRidge(n_steps=1)``, kernel ridge regression with this
  package's unpenalised intercept: the part of any difference that is owed to
  the intercept rather than to distillation.
* ``SelfDistilledKernelRidgeCV``: ``lambda``, ``alpha`` (fixed weights and
  the closed-form ``"optimal"`` of Theorem 4.4) and ``tau`` scored from one
  decomposition per fold, nested in ``GridSearchCV(..., {"gamma": [...]})``
  on the same folds.

Inputs are standardised on the training part. Nothing is downloaded: the data
sets ship with scikit-learn or are generated.
"""

import math
import time
from dataclasses import dataclass, field

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_diabetes, make_friedman1
from sklearn.kernel_ridge import KernelRidge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import GridSearchCV, KFold, train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from .kernel_ridge import SelfDistilledKernelRidge
from .model_selection import SelfDistilledKernelRidgeCV

__all__ = ["DATASETS", "Settings", "format_report", "notes", "run", "summarise",
           "summary_table", "verdicts"]

LAMBDAS = (0.0001, 0.001, 0.01, 0.1, 1.0, 10.0)
GAMMAS = (0.001, 0.003, 0.01, 0.03, 0.1)
ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0, "optimal")
N_FOLDS = 5
BASELINE = "KernelRidge"
INTERCEPT = "kernel ridge + intercept"
DISTILLED = "SelfDistilledKernelRidgeCV"
METHODS = (BASELINE, INTERCEPT, DISTILLED)


def _diabetes():
    return load_diabetes(return_X_y=True)


def _friedman1():
    return make_friedman1(n_samples=400, noise=1.0, random_state=0)


DATASETS = {
    "diabetes": (_diabetes, "scikit-learn's diabetes data, 442 x 10"),
    "friedman1": (_friedman1, "make_friedman1, 400 x 10, noise 1"),
}


@dataclass(frozen=True)
class Settings:
    """What a run compares: its command line, in effect."""

    datasets: tuple = tuple(DATASETS)
    n_splits: int = 5
    max_steps: int = 4
    test_size: float = 0.25
    seed: int = 0
    clip_alpha: bool = False

    def command(self):
        parts = ["python -m selfdistill_sklearn", "--data", *self.datasets,
                 "--splits", str(self.n_splits), "--max-steps", str(self.max_steps),
                 "--test-size", f"{self.test_size:g}", "--seed", str(self.seed)]
        return " ".join(parts + (["--clip"] if self.clip_alpha else []))


@dataclass
class Result:
    """One method on one split."""

    data: str
    split: int
    method: str
    test_mse: float
    fit_time: float
    chosen: dict = field(default_factory=dict)
    optimal_alphas: np.ndarray | None = None


def _searches(folds, settings):
    scoring = "neg_mean_squared_error"
    centred = TransformedTargetRegressor(KernelRidge(kernel="rbf"),
                                         transformer=StandardScaler(with_std=False))
    yield BASELINE, GridSearchCV(
        centred, {"regressor__alpha": list(LAMBDAS), "regressor__gamma": list(GAMMAS)},
        cv=folds, scoring=scoring)
    yield INTERCEPT, GridSearchCV(
        SelfDistilledKernelRidge(n_steps=1, kernel="rbf"),
        {"reg_lambda": list(LAMBDAS), "gamma": list(GAMMAS)}, cv=folds, scoring=scoring)
    distilled = SelfDistilledKernelRidgeCV(list(LAMBDAS), list(ALPHAS), settings.max_steps,
                                           kernel="rbf", cv=folds,
                                           clip_alpha=settings.clip_alpha)
    yield DISTILLED, GridSearchCV(distilled, {"gamma": list(GAMMAS)}, cv=folds,
                                  scoring=scoring)


def _chosen(method, search):
    if method == BASELINE:
        return {"lambda": search.best_params_["regressor__alpha"],
                "gamma": search.best_params_["regressor__gamma"]}
    if method == INTERCEPT:
        return {"lambda": search.best_params_["reg_lambda"],
                "gamma": search.best_params_["gamma"]}
    inner = search.best_estimator_.best_params_
    return {"lambda": inner["reg_lambda"], "gamma": search.best_params_["gamma"],
            "alpha": inner["alpha"], "tau": inner["n_steps"]}


def run(settings, progress=None):
    """Fit and score every method on every split of every data set.

    Split ``k`` draws its test part and its folds with ``random_state=seed +
    k``, so that a run with fewer splits repeats the first splits of a
    longer one exactly.

    Parameters
    ----------
    settings : Settings
    progress : callable, default=None
        Called with a line of text after each split.

    Returns
    -------
    results : list of Result
    """
    # A few hundred samples: BLAS threads only add overhead, and on a busy machine they
    # stall every method alike; one thread keeps the fit times comparable.
    with threadpool_limits(1, user_api="blas"):
        return _run(settings, progress)


def _run(settings, progress):
    results = []
    for name in settings.datasets:
        X, y = DATASETS[name][0]()
        for split in range(settings.n_splits):
            state = settings.seed + split
            X_train, X_test, y_train, y_test = train_test_split(
                X, y, test_size=settings.test_size, random_state=state)
            scaler = StandardScaler().fit(X_train)
            X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
            folds = KFold(N_FOLDS, shuffle=True, random_state=state)
            for method, search in _searches(folds, settings):
                start = time.perf_counter()
                search.fit(X_train, y_train)
                elapsed = time.perf_counter() - start
                best = search.best_estimator_
                optimal = None
                if method == DISTILLED and best.best_params_["alpha"] == "optimal":
                    optimal = best.best_estimator_.alphas_
                results.append(Result(
                    data=name, split=split, method=method,
                    test_mse=float(mean_squared_error(y_test, search.predict(X_test))),
                    fit_time=elapsed, chosen=_chosen(method, search),
                    optimal_alphas=optimal))
            if progress is not None:
                progress(f"{name}: split {split + 1} of {settings.n_splits} done")
    return results


@dataclass
class Summary:
    """One method on one data set, over the splits."""

    data: str
    method: str
    mse_mean: float
    mse_std: float
    ratio_mean: float
    ratio_std: float
    wins: int
    n_splits: int
    fit_time: float


def summarise(results):
    """Mean and spread over the splits, each method against ``KernelRidge`` on
    the same split (``ratio`` is test MSE / ``KernelRidge``'s test MSE)."""
    summaries = []
    for data in dict.fromkeys(r.data for r in results):
        base = {r.split: r.test_mse for r in results if r.data == data and r.method == BASELINE}
        for method in METHODS:
            rows = [r for r in results if r.data == data and r.method == method]
            mse = np.array([r.test_mse for r in rows])
            ratio = np.array([r.test_mse / base[r.split] for r in rows])
            ddof = 1 if len(rows) > 1 else 0
            summaries.append(Summary(
                data=data, method=method, mse_mean=float(mse.mean()),
                mse_std=float(mse.std(ddof=ddof)), ratio_mean=float(ratio.mean()),
                ratio_std=float(ratio.std(ddof=ddof)),
                wins=int(np.sum(mse < np.array([base[r.split] for r in rows]))),
                n_splits=len(rows), fit_time=float(np.mean([r.fit_time for r in rows]))))
    return summaries


def _rst_table(header, rows):
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows,
                                                                       strict=True)]
    rule = "  ".join("=" * width for width in widths)

    def line(cells):
        return "  ".join(str(cell).ljust(width) for cell, width in
                         zip(cells, widths, strict=True)).rstrip()

    return "\n".join([rule, line(header), rule, *(line(row) for row in rows), rule])


def _mean_std(mean, std):
    digits = 1 if abs(mean) >= 100 else 3
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def summary_table(summaries):
    """The comparison as a reStructuredText table (what the README shows)."""
    header = ["data", "method", "test MSE, mean ± std", "MSE / KernelRidge",
              "better than KernelRidge", "fit time (s)"]
    rows = []
    for s in summaries:
        if s.method == BASELINE:
            ratio, wins = "1", "(baseline)"
        else:
            ratio = f"{s.ratio_mean:.3f} ± {s.ratio_std:.3f}"
            wins = f"{s.wins} of {s.n_splits} splits"
        rows.append([s.data, s.method, _mean_std(s.mse_mean, s.mse_std), ratio,
                     wins, f"{s.fit_time:.2f}"])
    return _rst_table(header, rows)


def _format_chosen(chosen):
    def value(v):
        if isinstance(v, float) and math.isinf(v):
            return "inf"
        return f"{v:g}" if isinstance(v, float) else str(v)

    return ", ".join(f"{key} {value(v)}" for key, v in chosen.items())


def split_table(results):
    """Every split: test MSE (to 9 significant digits, so that a run can be
    checked against it) and what each search chose."""
    header = ["data", "split", "method", "test MSE", "fit time (s)", "chosen"]
    rows = [[r.data, str(r.split), r.method, f"{r.test_mse:.9g}", f"{r.fit_time:.2f}",
             _format_chosen(r.chosen)] for r in results]
    return _rst_table(header, rows)


def verdicts(summaries):
    """One sentence per data set: the gain or the loss of self-distillation."""
    lines = []
    by_key = {(s.data, s.method): s for s in summaries}
    for data in dict.fromkeys(s.data for s in summaries):
        s = by_key[data, DISTILLED]
        change = 100 * (s.ratio_mean - 1)
        spread = 100 * s.ratio_std
        if abs(change) < 0.05:
            what = "the same test MSE as"
        else:
            what = (f"{abs(change):.1f}% {'lower' if change < 0 else 'higher'} test MSE "
                    f"({'a gain' if change < 0 else 'a loss'}) than")
        where = (f"on average over {s.n_splits} splits (± {spread:.1f}% between splits)"
                 if s.n_splits > 1 else "on one split")
        lines.append(
            f"{data}: {DISTILLED} has {what} tuned {BASELINE} {where}, lower on {s.wins} of "
            f"{s.n_splits}; it took {s.fit_time / by_key[data, BASELINE].fit_time:.1f} times "
            "as long to tune.")
    return lines


def notes(results, settings):
    """Remarks that apply to this run only."""
    found = []
    distilled = [r for r in results if r.method == DISTILLED]
    outside = [r for r in distilled if r.optimal_alphas is not None
               and np.any((r.optimal_alphas < 0) | (r.optimal_alphas > 1))]
    if outside:
        example = outside[0]
        found.append(
            f"alpha* outside [0, 1] was chosen on {len(outside)} split(s) (e.g. "
            f"{example.data}, split {example.split}: "
            f"{np.array2string(example.optimal_alphas, precision=3)}). Above 1, the "
            "teacher's predictions get a negative weight: the previous step regularised too "
            "strongly and the next is pushed back beyond the labels; below 0, the labels get "
            "a negative weight: the previous step regularised too weakly and the next moves "
            "further from them (the paper's footnote 10). --clip clips alpha* to [0, 1], "
            "which may need more steps.")
    single = [r for r in distilled if r.chosen["tau"] == 1 or r.chosen["alpha"] == 1.0]
    if single:
        found.append(
            f"On {len(single)} of {len(distilled)} split(s) the cross-validated search "
            "chose no distillation at all (tau = 1, or alpha = 1): kernel ridge with an "
            "intercept.")
    edges = [r for r in results if r.chosen["lambda"] in (LAMBDAS[0], LAMBDAS[-1])
             or r.chosen["gamma"] in (GAMMAS[0], GAMMAS[-1])]
    if edges:
        found.append(
            f"{len(edges)} of {len(results)} searches chose lambda or gamma on the edge of "
            f"its grid (lambda in {list(LAMBDAS)}, gamma in {list(GAMMAS)}); a wider grid "
            "might do better there (see the chosen values with --output).")
    if settings.n_splits < 3:
        found.append(f"Only {settings.n_splits} split(s): the spread between splits is not "
                     "estimated; use --splits 5 or more before trusting a difference.")
    return found


def format_report(results, settings):
    """The file ``--output`` writes: the settings, the summary and every split."""
    summaries = summarise(results)
    lines = [
        f"Generated by ``{settings.command()}``. Fit times (seconds, one BLAS thread, "
        "including the search) are noisy on a shared machine; the errors are not.",
        "",
        summary_table(summaries),
        "",
        *verdicts(summaries),
        "",
        "Every split:",
        "",
        split_table(results),
        "",
    ]
    return "\n".join(lines)
