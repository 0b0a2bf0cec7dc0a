"""The displays of Figures 2-4 draw what the estimator computes."""

import math
import subprocess
import sys

import matplotlib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.kernel_ridge import KernelRidge
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from selfdistill_sklearn import SelfDistilledKernelRidge  # noqa: E402
from selfdistill_sklearn.datasets import make_noisy_sinusoid  # noqa: E402
from selfdistill_sklearn.model_selection import SelfDistilledKernelRidgeCV  # noqa: E402
from selfdistill_sklearn.plotting.distillation import (  # noqa: E402
    LIMIT_STEPS,
    DistillationPathDisplay,
    ShrinkageDiagonalDisplay,
    ShrinkageRatioDisplay,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def data():
    return make_noisy_sinusoid(random_state=0)


def model(alpha=0.25, n_steps=4, **kwargs):
    return SelfDistilledKernelRidge(alpha=alpha, n_steps=n_steps, reg_lambda=0.2, kernel="rbf",
                                    gamma=10.0, **kwargs)


def test_path_lines_are_the_staged_predictions(data):
    X, y = data
    estimator = model().fit(X, y)
    display = DistillationPathDisplay.from_estimator(estimator, X, y, n_points=50)
    grid = np.linspace(0, 1, 50).reshape(-1, 1)
    staged = list(estimator.staged_predict(grid))
    assert len(display.lines_) == 4
    for line, prediction in zip(display.lines_, staged, strict=True):
        np.testing.assert_allclose(line.get_xdata(), grid[:, 0])
        np.testing.assert_allclose(line.get_ydata(), prediction)
    limit = SelfDistilledKernelRidge(alpha=1.0, n_steps=1, reg_lambda=0.2 / 0.25, kernel="rbf",
                                     gamma=10.0).fit(X, y)
    np.testing.assert_allclose(display.limit_line_.get_ydata(), limit.predict(grid))
    assert display.limit_line_.get_linestyle() == "--"
    np.testing.assert_allclose(display.points_.get_offsets(), np.column_stack([X[:, 0], y]))
    assert display.ax_.figure is display.figure_


def test_path_on_several_features_and_outputs():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 3))
    Y = np.column_stack([X[:, 0] ** 2, np.sin(X[:, 1])])
    estimator = model(alpha="optimal", n_steps=3, cv=3).fit(X, Y)
    with pytest.raises(ValueError, match="X_eval"):
        DistillationPathDisplay.from_estimator(estimator, X, Y)
    X_eval = np.tile(X.mean(axis=0), (30, 1))
    X_eval[:, 1] = np.linspace(3, -3, 30)  # unsorted on purpose
    _, ax = plt.subplots()
    display = DistillationPathDisplay.from_estimator(estimator, X, Y, X_eval=X_eval, feature=1,
                                                     output=1, ax=ax)
    assert display.ax_ is ax
    assert display.limit_line_ is None  # "optimal" weights have no limit
    order = np.argsort(X_eval[:, 1])
    for line, prediction in zip(display.lines_, estimator.staged_predict(X_eval[order]),
                                strict=True):
        np.testing.assert_allclose(line.get_xdata(), X_eval[order, 1])
        np.testing.assert_allclose(line.get_ydata(), prediction[:, 1])


def test_path_without_targets_draws_no_points_or_limit(data):
    X, y = data
    display = DistillationPathDisplay.from_estimator(model().fit(X, y), X)
    assert display.points_ is None and display.limit_line_ is None


def test_diagonal_bars_are_the_diagonals_of_b(data):
    X, y = data
    estimator = model(alpha=0.0, n_steps=5).fit(X, y)
    shrinkage = estimator.spectral_shrinkage()
    display = ShrinkageDiagonalDisplay.from_estimator(estimator)
    assert len(display.bars_) == 5
    for bars, diagonal in zip(display.bars_, shrinkage.diagonals, strict=True):
        np.testing.assert_allclose([bar.get_height() for bar in bars], diagonal)
        np.testing.assert_allclose([bar.get_x() + bar.get_width() / 2 for bar in bars],
                                   np.arange(1, 11))  # the intercept takes one direction
    heights = [bar.get_height() for bar in display.limit_bars_]
    np.testing.assert_allclose(heights, 0.0)  # alpha = 0 collapses
    assert all(bar.get_hatch() == "//" for bar in display.limit_bars_)


def test_spectral_displays_on_other_samples_use_their_kernel(data):
    X, y = data
    # The paper's model: without the intercept, diag B is a function of K's eigenvalues.
    estimator = model(alpha=0.3, n_steps=3, fit_intercept=False).fit(X, y)
    X_other = np.linspace(0, 1, 7).reshape(-1, 1)
    eigenvalues = np.clip(np.linalg.eigvalsh(rbf_kernel(X_other, gamma=10.0)), 0, None)
    a = eigenvalues / (eigenvalues + 0.2)
    expected = [a, a * (0.7 * a + 0.3), a * (0.7 * a * (0.7 * a + 0.3) + 0.3)]
    display = ShrinkageDiagonalDisplay.from_estimator(estimator, X_other)
    for bars, diagonal in zip(display.bars_, expected, strict=True):
        np.testing.assert_allclose([bar.get_height() for bar in bars], diagonal, atol=1e-12)
    ratios = ShrinkageRatioDisplay.from_estimator(estimator, X_other)
    assert len(ratios.lines_) == 3
    np.testing.assert_allclose(ratios.lines_[-1].get_ydata(), expected[-1][1:] / expected[-1][:-1],
                               rtol=1e-9)


def test_diagonal_limit_and_extended_steps(data):
    X, y = data
    estimator = model(alpha=0.25, n_steps=2).fit(X, y)
    display = ShrinkageDiagonalDisplay.from_estimator(estimator, n_steps=7)
    assert len(display.bars_) == 7
    d = display.eigenvalues
    np.testing.assert_allclose([bar.get_height() for bar in display.limit_bars_],
                               0.25 * d / (0.25 * d + 0.2))


def test_ratio_lines_are_the_ratios(data):
    X, y = data
    estimator = model(alpha=0.0, n_steps=6).fit(X, y)
    b = estimator.spectral_shrinkage().diagonals
    display = ShrinkageRatioDisplay.from_estimator(estimator)
    assert display.ax_.get_yscale() == "log"
    for line, row in zip(display.lines_, b, strict=True):
        np.testing.assert_allclose(line.get_ydata(), row[1:] / row[:-1])
        np.testing.assert_allclose(line.get_xdata(), np.arange(1, len(row)))


def test_ratio_axis_with_negative_entries():
    display = ShrinkageRatioDisplay(ratios=np.array([[2.0, -1.0]])).plot()
    assert display.ax_.get_yscale() == "symlog"


def test_ratio_drops_undefined_entries():
    display = ShrinkageRatioDisplay(ratios=np.array([[1.0, np.inf, np.nan]])).plot(
        log_scale=False)
    ydata = display.lines_[0].get_ydata()
    assert ydata[0] == 1.0 and np.isnan(ydata[1:]).all()
    assert display.ax_.get_yscale() == "linear"


def test_precomputed_kernel_has_no_path(data):
    X, y = data
    K = np.exp(-10 * (X - X.T) ** 2)
    estimator = SelfDistilledKernelRidge(alpha=0.5, n_steps=2, kernel="precomputed").fit(K, y)
    with pytest.raises(ValueError, match="precomputed"):
        DistillationPathDisplay.from_estimator(estimator, K, y)
    # The spectral displays need only the fitted estimator.
    assert len(ShrinkageDiagonalDisplay.from_estimator(estimator).bars_) == 2


def test_pipeline_draws_its_last_step_on_transformed_inputs():
    rng = np.random.default_rng(1)
    X = rng.uniform(-3, 5, size=(30, 2))
    y = np.sin(X[:, 0]) + 0.1 * X[:, 1]
    pipeline = make_pipeline(StandardScaler(), model(alpha=0.5, n_steps=3)).fit(X, y)
    scaler, estimator = pipeline[0], pipeline[-1]
    X_eval = np.column_stack([np.linspace(-3, 5, 25), np.full(25, X[:, 1].mean())])
    display = DistillationPathDisplay.from_estimator(pipeline, X, y, X_eval=X_eval)
    np.testing.assert_allclose(display.lines_[0].get_xdata(), X_eval[:, 0])  # raw feature
    for line, prediction in zip(display.lines_,
                                estimator.staged_predict(scaler.transform(X_eval)),
                                strict=True):
        np.testing.assert_allclose(line.get_ydata(), prediction)
    np.testing.assert_allclose(display.lines_[-1].get_ydata(), pipeline.predict(X_eval))
    limit = clone(estimator).set_params(n_steps=math.inf).fit(scaler.transform(X), y)
    np.testing.assert_allclose(display.limit_line_.get_ydata(),
                               limit.predict(scaler.transform(X_eval)))
    np.testing.assert_allclose(display.points_.get_offsets(), np.column_stack([X[:, 0], y]))
    # Spectral displays: the kernel of the transformed samples, not of the raw ones.
    expected = estimator.spectral_shrinkage(X=scaler.transform(X[:9])).diagonals
    bars = ShrinkageDiagonalDisplay.from_estimator(pipeline, X[:9]).bars_
    np.testing.assert_allclose([[bar.get_height() for bar in step] for step in bars], expected)
    raw = estimator.spectral_shrinkage(X=X[:9]).diagonals
    assert not np.allclose(raw, expected)


def test_searches_are_drawn_by_their_best_estimator(data):
    X, y = data
    grid = {"reg_lambda": [0.05, 0.2], "alpha": [0.0, 0.5]}
    searches = [
        GridSearchCV(model(n_steps=3), grid, cv=3),
        GridSearchCV(make_pipeline(StandardScaler(), model(n_steps=3)),
                     {f"selfdistilledkernelridge__{k}": v for k, v in grid.items()}, cv=3),
        # "optimal" has no limit: the best candidate has finite steps to draw.
        SelfDistilledKernelRidgeCV([0.05, 0.2], ["optimal"], 3, kernel="rbf", gamma=10.0,
                                   cv=3, alpha_cv=3),
        GridSearchCV(SelfDistilledKernelRidgeCV([0.05, 0.2], ["optimal"], 3, kernel="rbf",
                                                cv=3, alpha_cv=3),
                     {"gamma": [3.0, 10.0]}, cv=3),
    ]
    for search in searches:
        search.fit(X, y)
        best, inputs = search.best_estimator_, X
        if isinstance(best, SelfDistilledKernelRidgeCV):
            best = best.best_estimator_
        if hasattr(best, "steps"):
            best, inputs = best[-1], best[:-1].transform(X)
        assert isinstance(best, SelfDistilledKernelRidge)
        staged = list(best.staged_predict(inputs))
        display = DistillationPathDisplay.from_estimator(search, X, y, X_eval=X)
        order = np.argsort(X[:, 0], kind="stable")
        assert len(display.lines_) == best.n_steps
        for line, prediction in zip(display.lines_, staged, strict=True):
            np.testing.assert_allclose(line.get_ydata(), prediction[order])
        np.testing.assert_allclose(display.lines_[-1].get_ydata(), search.predict(X)[order])
        diagonals = ShrinkageDiagonalDisplay.from_estimator(search).diagonals
        np.testing.assert_allclose(diagonals, best.spectral_shrinkage().diagonals)


def test_unfitted_estimators_are_not_fitted_and_others_a_type_error(data):
    X, y = data
    unfitted = [model(), make_pipeline(StandardScaler(), model()),
                GridSearchCV(model(), {"alpha": [0.0, 0.5]}),
                SelfDistilledKernelRidgeCV(kernel="rbf"),
                GridSearchCV(SelfDistilledKernelRidgeCV(), {"gamma": [1.0]})]
    foreign = [KernelRidge(), KernelRidge().fit(X, y),
               make_pipeline(StandardScaler(), KernelRidge()).fit(X, y),
               GridSearchCV(KernelRidge(), {"alpha": [1.0, 2.0]}, cv=3).fit(X, y)]
    for display in (DistillationPathDisplay, ShrinkageDiagonalDisplay, ShrinkageRatioDisplay):
        args = (X, y) if display is DistillationPathDisplay else ()
        for estimator in unfitted:
            with pytest.raises(NotFittedError):
                display.from_estimator(estimator, *args)
        for estimator in foreign:
            with pytest.raises(TypeError, match=f"{display.__name__} draws a "
                                                "SelfDistilledKernelRidge.*KernelRidge"):
                display.from_estimator(estimator, *args)
    no_refit = GridSearchCV(model(), {"alpha": [0.0, 0.5]}, cv=3, refit=False).fit(X, y)
    with pytest.raises(ValueError, match="refit=True"):
        ShrinkageRatioDisplay.from_estimator(no_refit)


def test_drawing_without_matplotlib_names_the_extra():
    code = (
        "import sys\n"
        "class Missing:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'matplotlib':\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Missing())\n"
        "from selfdistill_sklearn.plotting import ShrinkageRatioDisplay\n"
        "try:\n"
        "    ShrinkageRatioDisplay(ratios=[[1.0, 2.0]]).plot()\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "pip install 'selfdistill_sklearn[plot]'" in result.stdout


def test_spectral_displays_draw_the_intercept_models_shrinkage(data):
    X, y = data
    estimator = model(alpha=0.3, n_steps=3).fit(X, y)
    shrinkage = estimator.spectral_shrinkage()
    assert shrinkage.diagonals.shape == (3, len(X) - 1)  # the constant direction is free
    display = ShrinkageDiagonalDisplay.from_estimator(estimator)
    for bars, diagonal in zip(display.bars_, shrinkage.diagonals, strict=True):
        np.testing.assert_allclose([bar.get_height() for bar in bars], diagonal)
    ratios = ShrinkageRatioDisplay.from_estimator(estimator)
    for line, ratio in zip(ratios.lines_, shrinkage.ratios, strict=True):
        np.testing.assert_allclose(line.get_ydata(), ratio)


def test_ratio_ticks_are_plain_numbers_within_a_decade():
    ratios = np.array([[1.1, 1.3, 1.2], [1.5, 2.1, 1.9]])
    display = ShrinkageRatioDisplay(ratios=ratios).plot()
    display.figure_.canvas.draw()
    ax = display.ax_
    low, high = ax.get_ylim()
    shown = [t for t in ax.get_yticks() if low <= t <= high]
    assert len(shown) >= 4
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert all("^" not in label and "$" not in label for label in labels)
    mixed = ShrinkageRatioDisplay(ratios=np.array([[2.0, -12.0, 1.1]])).plot()
    mixed.figure_.canvas.draw()
    assert all("^" not in t.get_text() for t in mixed.ax_.get_yticklabels())


def _limit_search(X, y):
    """A search that chose the limit tau = inf (one candidate besides tau = 1 of an
    alpha = 0 whose every step shrinks more: at a tiny penalty the limit wins)."""
    search = SelfDistilledKernelRidgeCV([1e-4], [0.5], 1, kernel="rbf", gamma=10.0,
                                        cv=3).fit(X, y)
    assert search.best_params_["n_steps"] == math.inf
    return search


def test_shrinkage_of_a_search_that_chose_the_limit(data):
    X, y = data
    search = _limit_search(X, y)
    best = search.best_estimator_
    display = ShrinkageDiagonalDisplay.from_estimator(search)
    # Figure 3: the first steps and, hatched, the limit they converge to (Theorem A.5).
    steps = clone(best).set_params(n_steps=LIMIT_STEPS).fit(X, y).spectral_shrinkage()
    assert len(display.bars_) == LIMIT_STEPS
    np.testing.assert_allclose([[bar.get_height() for bar in bars] for bars in display.bars_],
                               steps.diagonals)
    np.testing.assert_allclose([bar.get_height() for bar in display.limit_bars_], steps.limit)
    ratios = ShrinkageRatioDisplay.from_estimator(search, n_steps=2)
    assert len(ratios.lines_) == 2


def test_path_of_a_search_that_chose_the_limit(data):
    X, y = data
    search = _limit_search(X, y)
    display = DistillationPathDisplay.from_estimator(search, X, y, n_points=30)
    grid = np.linspace(X.min(), X.max(), 30).reshape(-1, 1)
    np.testing.assert_allclose(display.limit_line_.get_ydata(),
                               search.best_estimator_.predict(grid))
    steps = clone(search.best_estimator_).set_params(n_steps=LIMIT_STEPS).fit(X, y)
    np.testing.assert_allclose([line.get_ydata() for line in display.lines_],
                               np.stack(list(steps.staged_predict(grid))))
    alone = DistillationPathDisplay.from_estimator(search, X, n_points=30)
    assert alone.lines_ == [] and alone.limit_line_ is not None
