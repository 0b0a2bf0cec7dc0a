"""A fair comparison of tuned kernel ridge regression and tuned self-distillation.

What ``python -m selfdistill_sklearn`` runs, on scikit-learn's diabetes data,
on ``make_friedman1``, or on the user's own table (``--data FILE.csv
--target COLUMN``; Parquet too, with pyarrow installed). All methods see the
same training part of each random split, are tuned by cross-validation on
the same folds of it over the same penalties ``lambda`` and rbf widths
``gamma``, and are scored on the same held-out test part:

* ``KernelRidge``: ``GridSearchCV(KernelRidge(kernel="rbf"))`` over
  ``lambda`` and ``gamma``, the targets centred on the training mean of each
  fit (``KernelRidge`` has no intercept; without centring it shrinks toward 0).
* ``kernel ridge + intercept``: ``SelfDistilledKernelRidgeCV`` restricted to
  one step (kernel ridge regression with this package's unpenalised
  intercept) over the same penalties, nested in ``GridSearchCV(...,
  {"gamma": [...]})``: the very search of the next method without its
  distilled candidates, so that the difference between the two is what
  distillation does.
* ``SelfDistilledKernelRidgeCV``: ``lambda``, ``alpha`` (fixed weights and
  the closed-form ``"optimal"`` of Theorem 4.4) and ``tau`` scored from one
  decomposition per fold, nested in the same ``GridSearchCV`` over ``gamma``.

The penalties are, for each ``gamma``, the automatic grid of the searches
(``reg_lambdas="auto"``: 45, four per decade from ``1e-10`` to ``10`` times
the largest eigenvalue of the training part's centred kernel matrix), given
to all three methods, so that distillation cannot win by standing in for a
penalty missing from a narrow grid. The widths are ``gamma = c / p`` for ``c``
in ``GAMMA_FACTORS`` and ``p`` input features after preprocessing: numeric
columns standardised, categorical ones one-hot encoded, in a
``ColumnTransformer`` fitted inside every fit. Nothing is downloaded: the
data sets ship with scikit-learn or are generated, or are the user's.
"""

import math
import time
import warnings
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.datasets import load_diabetes, make_friedman1
from sklearn.kernel_ridge import KernelRidge
from sklearn.metrics import mean_squared_error
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.model_selection import GridSearchCV, KFold, train_test_split
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from ._grids import GridEdgeWarning, auto_reg_lambdas
from .model_selection import SelfDistilledKernelRidgeCV, largest_eigenvalue

__all__ = ["DATASETS", "Settings", "format_report", "load_table", "notes", "preprocessor",
           "recommendations", "run", "summarise", "summary_table", "verdicts"]

GAMMA_FACTORS = (0.03, 0.1, 0.3, 1.0, 3.0)
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

#: How the code printed by :func:`recommendations` loads each built-in data set.
_LOADERS = {
    "diabetes": ("from sklearn.datasets import load_diabetes",
                 "X, y = load_diabetes(return_X_y=True)"),
    "friedman1": ("from sklearn.datasets import make_friedman1",
                  "X, y = make_friedman1(n_samples=400, noise=1.0, random_state=0)"),
}

#: File types ``--data`` reads, by suffix.
TABLE_SUFFIXES = (".csv", ".parquet")


def load_table(path, target):
    """The inputs and the target column of a CSV or Parquet file.

    Parameters
    ----------
    path : str or Path
        A ``.csv`` file (read by :func:`pandas.read_csv`) or a ``.parquet``
        file (:func:`pandas.read_parquet`, which needs pyarrow or
        fastparquet).
    target : str
        The column to predict: numbers, none missing.

    Returns
    -------
    X : pandas.DataFrame of shape (n_samples, n_columns - 1)
        Every other column; numeric ones are standardised and the others
        one-hot encoded by :func:`preprocessor`.
    y : ndarray of shape (n_samples,)

    Raises
    ------
    ValueError
        For another suffix, a missing Parquet reader, a target that is not a
        column or not numeric, missing values, or no input column.
    """
    import pandas as pd

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(f"--data reads .csv and .parquet files, got {path.name!r}.")
    if suffix == ".parquet":
        if find_spec("pyarrow") is None and find_spec("fastparquet") is None:
            raise ValueError(
                f"Reading {path.name!r} needs a Parquet reader for pandas, and neither pyarrow "
                "nor fastparquet is installed: pip install pyarrow, or save the table as CSV.")
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(path)
    if target not in frame.columns:
        raise ValueError(f"--target {target!r} is not a column of {path.name!r}; its columns "
                         f"are {list(map(str, frame.columns))}.")
    y = frame[target]
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        raise ValueError(f"--target {target!r} must hold numbers (this is regression), got "
                         f"dtype {y.dtype}.")
    X = frame.drop(columns=[target])
    missing = [str(name) for name in X.columns[X.isna().any()]]
    if y.isna().any():
        missing.insert(0, f"{target} (the target)")
    if missing:
        raise ValueError(f"{path.name!r} has missing values in {missing}: impute or drop them "
                         "first.")
    if X.shape[1] == 0:
        raise ValueError(f"{path.name!r} has no column besides the target {target!r}.")
    return X, y.to_numpy(dtype=float)


def preprocessor(X):
    """Numeric columns standardised and the others (text, categories,
    booleans) one-hot encoded, as a ``ColumnTransformer`` for a DataFrame; a
    ``StandardScaler`` for an array of numbers. Unfitted."""
    if not hasattr(X, "columns"):
        return StandardScaler()
    import pandas as pd

    categorical = [name for name in X.columns if not pd.api.types.is_numeric_dtype(X[name])
                   or pd.api.types.is_bool_dtype(X[name])]
    numeric = [name for name in X.columns if name not in categorical]
    return ColumnTransformer([
        ("numeric", StandardScaler(), numeric),
        ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
         categorical),
    ])


def load(name, target=None):
    """``(X, y)`` of a built-in data set or of a file."""
    if name in DATASETS:
        return DATASETS[name][0]()
    return load_table(name, target)


def describe(name, target=None):
    """One line saying what a data set of ``--data`` is."""
    return DATASETS[name][1] if name in DATASETS else f"{Path(name).name}, target {target!r}"


@dataclass(frozen=True)
class Settings:
    """What a run compares: its command line, in effect."""

    datasets: tuple = tuple(DATASETS)
    n_splits: int = 5
    max_steps: int = 4
    test_size: float = 0.25
    seed: int = 0
    clip_alpha: bool = False
    target: str | None = None
    n_folds: int = N_FOLDS

    def command(self):
        parts = ["python -m selfdistill_sklearn", "--data", *map(str, self.datasets)]
        if self.target is not None:
            parts += ["--target", self.target]
        parts += ["--splits", str(self.n_splits), "--max-steps", str(self.max_steps),
                  "--test-size", f"{self.test_size:g}", "--seed", str(self.seed)]
        if self.n_folds != N_FOLDS:
            parts += ["--folds", str(self.n_folds)]
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
    edges: tuple = ()


def grids(Z):
    """``{gamma: penalties}``: the widths ``c / p`` for ``c`` in
    ``GAMMA_FACTORS`` (``p`` columns of the prepared training part ``Z``),
    and for each the automatic grid of the searches on its centred kernel
    matrix."""
    result = {}
    for factor in GAMMA_FACTORS:
        gamma = factor / Z.shape[1]
        scale = largest_eigenvalue(rbf_kernel(Z, gamma=gamma), None, True)
        result[gamma] = tuple(float(value) for value in auto_reg_lambdas(scale))
    return result


def _searches(folds, settings, penalties):
    scoring = "neg_mean_squared_error"
    centred = TransformedTargetRegressor(KernelRidge(kernel="rbf"),
                                         transformer=StandardScaler(with_std=False))
    # One fit per penalty, width and fold (1125 on five folds): the baseline as a user
    # would tune it, and the slowest of the three.
    yield BASELINE, GridSearchCV(
        centred, [{"regressor__gamma": [gamma], "regressor__alpha": list(grid)}
                  for gamma, grid in penalties.items()], cv=folds, scoring=scoring)
    for method, alphas, max_steps in [(INTERCEPT, [1.0], 1),
                                      (DISTILLED, list(ALPHAS), settings.max_steps)]:
        search = SelfDistilledKernelRidgeCV(alphas=alphas, max_steps=max_steps,
                                            include_limit=method == DISTILLED, kernel="rbf",
                                            cv=folds, clip_alpha=settings.clip_alpha)
        yield method, GridSearchCV(
            search, [{"gamma": [gamma], "reg_lambdas": [grid]}
                     for gamma, grid in penalties.items()], cv=folds, scoring=scoring)


def _chosen(method, search, penalties):
    """What a search chose, and which of its choices lie at an edge of their grid."""
    gammas = sorted(penalties)
    if method == BASELINE:
        gamma = search.best_params_["regressor__gamma"]
        chosen = {"lambda": search.best_params_["regressor__alpha"], "gamma": gamma}
    else:
        gamma = search.best_params_["gamma"]
        inner = search.best_estimator_.best_params_
        chosen = {"lambda": inner["reg_lambda"], "gamma": gamma}
        if method == DISTILLED:
            chosen |= {"alpha": inner["alpha"], "tau": inner["n_steps"]}
    grid = penalties[gamma]
    edges = tuple(name for name, at_edge in [
        ("lambda", chosen["lambda"] in (grid[0], grid[-1])),
        ("gamma", len(gammas) > 1 and gamma in (gammas[0], gammas[-1])),
        ("tau", chosen.get("tau") == search.best_estimator_.max_steps > 1
         if method == DISTILLED else False)] if at_edge)
    return chosen, edges


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


def _label(name):
    return name if name in DATASETS else Path(name).name


def _run(settings, progress):
    results = []
    for name in settings.datasets:
        X, y = load(name, settings.target)
        prep = preprocessor(X)
        for split in range(settings.n_splits):
            state = settings.seed + split
            X_train, X_test, y_train, y_test = train_test_split(
                X, y, test_size=settings.test_size, random_state=state)
            # Prepared on the training part, as every method sees it.
            prepared = clone(prep).fit(X_train)
            X_train, X_test = prepared.transform(X_train), prepared.transform(X_test)
            folds = KFold(settings.n_folds, shuffle=True, random_state=state)
            penalties = grids(X_train)
            for method, search in _searches(folds, settings, penalties):
                start = time.perf_counter()
                with warnings.catch_warnings():
                    # The edges are counted below, over all searches, in notes().
                    warnings.simplefilter("ignore", GridEdgeWarning)
                    search.fit(X_train, y_train)
                elapsed = time.perf_counter() - start
                best = search.best_estimator_
                optimal = None
                if method == DISTILLED and best.best_params_["alpha"] == "optimal":
                    optimal = best.best_estimator_.alphas_
                chosen, edges = _chosen(method, search, penalties)
                results.append(Result(
                    data=_label(name), split=split, method=method,
                    test_mse=float(mean_squared_error(y_test, search.predict(X_test))),
                    fit_time=elapsed, chosen=chosen, optimal_alphas=optimal, edges=edges))
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
    edges = [r for r in results if r.edges]
    if edges:
        counts = {name: sum(name in r.edges for r in edges) for name in ("lambda", "gamma", "tau")}
        which = ", ".join(f"{name} on {count}" for name, count in counts.items() if count)
        found.append(
            f"{len(edges)} of {len(results)} searches chose a value on the edge of its grid "
            f"({which}; lambda from the grid of 45 penalties of each gamma, gamma among "
            f"{list(GAMMA_FACTORS)} / features, tau up to --max-steps); a wider grid "
            "might do better there (see the chosen values with --output).")
    if settings.n_splits < 3:
        found.append(f"Only {settings.n_splits} split(s): the spread between splits is not "
                     "estimated; use --splits 5 or more before trusting a difference.")
    return found


def _beats(summary):
    """Whether distillation's gain over ``KernelRidge`` exceeds twice its
    standard error over the splits and it wins on most of them."""
    if summary.n_splits < 3:
        return None
    error = summary.ratio_std / math.sqrt(summary.n_splits)
    return (1 - summary.ratio_mean > 2 * error) and 2 * summary.wins > summary.n_splits


def recommendations(summaries, settings):
    """For each data set, what the comparison means for the user, and the
    code that fits the method to use on all of its data.

    Distillation is recommended only where its mean gain over tuned
    ``KernelRidge`` exceeds twice its standard error over the splits and it
    wins on most splits; otherwise tuned kernel ridge, which is simpler and
    as good. With fewer than 3 splits no recommendation is made.

    Returns
    -------
    lines : list of str
    """
    lines = []
    by_key = {(s.data, s.method): s for s in summaries}
    for name in settings.datasets:
        data = _label(name)
        summary = by_key[data, DISTILLED]
        verdict = _beats(summary)
        change = 100 * (1 - summary.ratio_mean)
        if verdict is None:
            lines.append(
                f"{data}: {summary.n_splits} split(s) cannot tell a difference from chance; "
                "run --splits 5 or more before choosing. Tuned kernel ridge, meanwhile:")
            method = INTERCEPT
        elif verdict:
            lines.append(
                f"{data}: use self-distillation: it lowered the test error by {change:.1f}% "
                f"on average, more than twice its standard error over {summary.n_splits} "
                f"splits, and won on {summary.wins}. To fit it on all the data:")
            method = DISTILLED
        else:
            lines.append(
                f"{data}: use tuned kernel ridge: self-distillation did not beat it by more "
                f"than chance ({-change:+.1f}% test error on average, "
                f"± {100 * summary.ratio_std:.1f}% between splits, lower on {summary.wins} "
                f"of {summary.n_splits}), and it is the simpler model. To fit it on all the "
                "data (kernel ridge with an intercept over the same penalties):")
            method = INTERCEPT
        lines.append(reproduction_code(name, settings, method))
    return lines


def reproduction_code(name, settings, method):
    """Python code that tunes ``method`` (``INTERCEPT`` or ``DISTILLED``) on all
    of the data set ``name`` as the demonstration tuned it on each split."""
    X, _ = load(name, settings.target)
    prep = preprocessor(X)
    n_features = clone(prep).fit_transform(X).shape[1]
    gammas = [float(f"{factor / n_features:.6g}") for factor in GAMMA_FACTORS]
    imports = ["from sklearn.model_selection import GridSearchCV",
               "from sklearn.pipeline import Pipeline"]
    if name in _LOADERS:
        imports.insert(0, _LOADERS[name][0])
        load_code = _LOADERS[name][1]
        imports.append("from sklearn.preprocessing import StandardScaler")
        prep_code = "StandardScaler()"
    else:
        imports = ["import pandas as pd", "from sklearn.compose import ColumnTransformer",
                   *imports, "from sklearn.preprocessing import OneHotEncoder, StandardScaler"]
        reader = "read_parquet" if Path(name).suffix.lower() == ".parquet" else "read_csv"
        load_code = (f"table = pd.{reader}({str(name)!r})\n"
                     f"X, y = table.drop(columns=[{settings.target!r}]), "
                     f"table[{settings.target!r}]")
        (_, _, numeric), (_, _, categorical) = prep.transformers
        prep_code = (
            "ColumnTransformer([\n"
            f"    (\"numeric\", StandardScaler(), {list(map(str, numeric))!r}),\n"
            "    (\"categorical\", OneHotEncoder(handle_unknown=\"ignore\", "
            f"sparse_output=False), {list(map(str, categorical))!r}),\n])")
    if method == DISTILLED:
        search = (f"SelfDistilledKernelRidgeCV(alphas={list(ALPHAS)!r}, "
                  f"max_steps={settings.max_steps}, kernel=\"rbf\""
                  + (", clip_alpha=True" if settings.clip_alpha else "") + ")")
    else:
        search = ("SelfDistilledKernelRidgeCV(alphas=[1.0], max_steps=1, include_limit=False, "
                  "kernel=\"rbf\")")
    return "\n".join([
        *imports, "", "from selfdistill_sklearn import SelfDistilledKernelRidgeCV", "",
        load_code,
        f"preprocess = {prep_code}",
        f"search = {search}  # reg_lambdas='auto'",
        "model = GridSearchCV(Pipeline([(\"preprocess\", preprocess), (\"model\", search)]),",
        f"                     {{\"model__gamma\": {gammas!r}}}, cv={settings.n_folds})"
        ".fit(X, y)",
    ])


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
