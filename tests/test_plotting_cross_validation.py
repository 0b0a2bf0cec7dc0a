"""CrossValidationErrorDisplay draws what cv_results_ holds."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
from sklearn.datasets import make_friedman1
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from selfdistill_sklearn import SelfDistilledKernelRidge
from selfdistill_sklearn.model_selection import SelfDistilledKernelRidgeCV
from selfdistill_sklearn.plotting.cross_validation import CrossValidationErrorDisplay

LAMBDAS = [0.01, 0.1, 1.0]
ALPHAS = [0.0, 0.5, 1.0, "optimal"]


@pytest.fixture(scope="module")
def search():
    X, y = make_friedman1(80, noise=1.0, random_state=0)
    return SelfDistilledKernelRidgeCV(LAMBDAS, ALPHAS, 4, kernel="rbf", gamma=0.1, cv=3,
                                     alpha_cv=3).fit(X, y), X, y


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _score(results, reg_lambda, alpha, n_steps):
    for params, score in zip(results["params"], results["mean_test_score"], strict=True):
        if params == {"alpha": alpha, "n_steps": n_steps, "reg_lambda": reg_lambda}:
            return score
    raise KeyError((reg_lambda, alpha, n_steps))


def test_lines_and_limit_markers_hold_the_mean_errors(search):
    search, _, _ = search
    display = CrossValidationErrorDisplay.from_estimator(search)
    results = search.cv_results_
    assert len(display.axes_) == len(LAMBDAS)
    assert len(display.lines_) == len(LAMBDAS) * len(ALPHAS)
    for (lambda_index, alpha_index), line in display.lines_.items():
        reg_lambda, alpha = LAMBDAS[lambda_index], ALPHAS[alpha_index]
        np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3, 4])
        expected = [-_score(results, reg_lambda, alpha, t) for t in range(1, 5)]
        np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-14)
        assert line.axes is display.axes_[lambda_index]
    # The limit exists for every fixed alpha, never for "optimal".
    assert set(display.limit_markers_) == {(i, j) for i in range(3) for j in range(3)}
    for (lambda_index, alpha_index), marker in display.limit_markers_.items():
        expected = -_score(results, LAMBDAS[lambda_index], ALPHAS[alpha_index], math.inf)
        np.testing.assert_allclose(marker.get_ydata(), [expected], rtol=1e-14)
        np.testing.assert_array_equal(marker.get_xdata(), [5])
    # The reference is plain kernel ridge, tau = 1.
    for lambda_index, line in enumerate(display.reference_lines_):
        np.testing.assert_allclose(line.get_ydata(),
                                   [-_score(results, LAMBDAS[lambda_index], 0.0, 1)] * 2)
    assert [tick.get_text() for tick in display.axes_[0].get_xticklabels()][-1] == "∞"
    assert "mean squared error" in display.axes_[0].get_ylabel()


def test_best_candidate_is_starred(search):
    search, _, _ = search
    display = CrossValidationErrorDisplay.from_estimator(search)
    best = search.best_params_
    lambda_index = LAMBDAS.index(best["reg_lambda"])
    assert display.best_marker_.axes is display.axes_[lambda_index]
    x = 5 if best["n_steps"] == math.inf else best["n_steps"]
    np.testing.assert_array_equal(display.best_marker_.get_xdata(), [x])
    np.testing.assert_allclose(display.best_marker_.get_ydata(), [-search.best_score_])


def test_grid_search_results_give_the_same_picture(search):
    search, X, y = search
    grid = GridSearchCV(SelfDistilledKernelRidge(kernel="rbf", gamma=0.1, cv=3),
                        search.param_grid_, cv=3, scoring="neg_mean_squared_error").fit(X, y)
    ours = CrossValidationErrorDisplay.from_estimator(search, plot=False)
    theirs = CrossValidationErrorDisplay.from_estimator(grid, plot=False)
    assert theirs.reg_lambdas == ours.reg_lambdas and theirs.alphas == ours.alphas
    np.testing.assert_allclose(theirs.errors, ours.errors, rtol=1e-8)
    np.testing.assert_allclose(theirs.limit_errors, ours.limit_errors, rtol=1e-8)
    assert theirs.best_params == ours.best_params


def test_scores_that_are_not_errors_are_drawn_as_they_are():
    X, y = make_friedman1(60, noise=1.0, random_state=1)
    search = SelfDistilledKernelRidgeCV([0.1], [0.5], 2, kernel="rbf", cv=3,
                                       scoring="r2").fit(X, y)
    display = CrossValidationErrorDisplay.from_estimator(search)
    np.testing.assert_allclose(display.lines_[0, 0].get_ydata(),
                               search.cv_results_["mean_test_score"][:2])
    assert display.axes_[0].get_ylabel() == "cross-validated r2"


def test_given_axes_are_used_and_too_few_are_refused(search):
    search, _, _ = search
    _, axes = plt.subplots(1, 3)
    display = CrossValidationErrorDisplay.from_estimator(search, axes=axes)
    assert list(display.axes_) == list(axes)
    _, axes = plt.subplots(1, 2)
    with pytest.raises(ValueError, match="3 panels"):
        CrossValidationErrorDisplay.from_estimator(search, axes=axes)


def test_far_limit_is_named_not_drawn_to_scale():
    # Without an intercept the limit of alpha = 0 is the zero function, far above the steps.
    errors = np.array([[[1.0, 0.9, 0.95], [1.0, 0.97, 0.96]]])
    display = CrossValidationErrorDisplay(reg_lambdas=[0.1], alphas=[0.0, 0.5], errors=errors,
                                          limit_errors=np.array([[25.0, 0.958]])).plot()
    ax = display.axes_[0]
    low, high = ax.get_ylim()
    assert high < 25.0 and low <= 0.9 and 1.0 <= high < 1.1
    assert any("25 ↑" in text.get_text() for text in ax.texts)
    np.testing.assert_array_equal(display.limit_markers_[0, 1].get_ydata(), [0.958])


def test_unfitted_estimator_is_refused():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        CrossValidationErrorDisplay.from_estimator(SelfDistilledKernelRidgeCV())


def test_nested_search_over_gamma_draws_the_best_gammas_search(search):
    _, X, y = search
    nested = GridSearchCV(SelfDistilledKernelRidgeCV(LAMBDAS, ALPHAS, 3, kernel="rbf", cv=3,
                                                     alpha_cv=3),
                          {"gamma": [0.03, 0.1]}, cv=3).fit(X, y)
    inner = nested.best_estimator_
    display = CrossValidationErrorDisplay.from_estimator(nested, plot=False)
    expected = CrossValidationErrorDisplay.from_cv_results(inner.cv_results_, plot=False)
    np.testing.assert_array_equal(display.errors, expected.errors)
    assert display.best_params == inner.best_params_


def test_pipeline_search_loses_its_prefixes_and_other_varied_parameters_are_refused(search):
    _, X, y = search
    pipeline = make_pipeline(StandardScaler(), SelfDistilledKernelRidge(kernel="rbf", cv=3))
    grid = {"selfdistilledkernelridge__reg_lambda": [0.1, 1.0],
            "selfdistilledkernelridge__alpha": [0.0, 0.5],
            "selfdistilledkernelridge__n_steps": [1, 2, math.inf]}
    fitted = GridSearchCV(pipeline, grid, cv=3).fit(X, y)
    display = CrossValidationErrorDisplay.from_estimator(fitted)
    assert display.reg_lambdas == [0.1, 1.0] and display.alphas == [0.0, 0.5]
    assert display.best_params == {"reg_lambda": fitted.best_params_[
        "selfdistilledkernelridge__reg_lambda"], "alpha": fitted.best_params_[
        "selfdistilledkernelridge__alpha"], "n_steps": fitted.best_params_[
        "selfdistilledkernelridge__n_steps"]}
    # GridSearchCV scores a regressor by r2 unless told otherwise: drawn as they are.
    assert display.axes_[0].get_ylabel() == "cross-validated r2"
    for params, score in zip(fitted.cv_results_["params"], fitted.cv_results_["mean_test_score"],
                             strict=True):
        short = {name.split("__")[1]: value for name, value in params.items()}
        i, j = [0.1, 1.0].index(short["reg_lambda"]), [0.0, 0.5].index(short["alpha"])
        drawn = (display.limit_errors[i, j] if short["n_steps"] == math.inf
                 else display.errors[i, j, short["n_steps"] - 1])
        assert drawn == score
    wider = GridSearchCV(pipeline, grid | {"selfdistilledkernelridge__gamma": [0.1, 1.0]},
                         cv=3).fit(X, y)
    with pytest.raises(ValueError, match=r"differ in \['gamma'\]"):
        CrossValidationErrorDisplay.from_estimator(wider)


def test_estimators_without_a_search_are_a_type_error_unfitted_ones_not_fitted(search):
    _, X, y = search
    from sklearn.exceptions import NotFittedError
    from sklearn.kernel_ridge import KernelRidge

    for foreign in [KernelRidge().fit(X, y), SelfDistilledKernelRidge().fit(X, y),
                    GridSearchCV(KernelRidge(), {"alpha": [1.0, 2.0]}, cv=3).fit(X, y)]:
        with pytest.raises(TypeError, match="CrossValidationErrorDisplay draws"):
            CrossValidationErrorDisplay.from_estimator(foreign)
    for unfitted in [GridSearchCV(SelfDistilledKernelRidge(), {"alpha": [0.5]}),
                     GridSearchCV(SelfDistilledKernelRidgeCV(), {"gamma": [0.5]}),
                     make_pipeline(StandardScaler(), SelfDistilledKernelRidgeCV())]:
        with pytest.raises(NotFittedError):
            CrossValidationErrorDisplay.from_estimator(unfitted)


def test_a_long_grid_is_drawn_around_its_best_penalty():
    X, y = make_friedman1(80, noise=1.0, random_state=0)
    search = SelfDistilledKernelRidgeCV(alphas=[0.5, 1.0], max_steps=2, kernel="rbf",
                                        gamma=0.1, cv=3).fit(X, y)
    grid = list(search.reg_lambdas_)
    assert len(grid) == 45
    best = search.best_params_["reg_lambda"]
    display = CrossValidationErrorDisplay.from_estimator(search)
    assert len(display.axes_) == 8
    position = grid.index(best)
    start = min(max(position - 4, 0), len(grid) - 8)
    assert display.reg_lambdas == grid[start:start + 8]
    lambda_index = display.reg_lambdas.index(best)
    for alpha_index, alpha in enumerate([0.5, 1.0]):
        for n_steps in (1, 2):
            assert display.errors[lambda_index, alpha_index, n_steps - 1] == pytest.approx(
                -_score(search.cv_results_, best, alpha, n_steps))
    assert display.best_marker_ is not None
    everything = CrossValidationErrorDisplay.from_estimator(search, max_panels=None)
    assert len(everything.axes_) == 45
    with pytest.raises(ValueError, match="max_panels must be an int >= 1 or None"):
        CrossValidationErrorDisplay.from_estimator(search, max_panels=0)


def test_a_search_that_chose_the_limit_is_marked_at_the_limit():
    X, y = make_friedman1(80, noise=1.0, random_state=0)
    search = SelfDistilledKernelRidgeCV([1e-4], [0.5], 1, kernel="rbf", gamma=0.1,
                                        cv=3).fit(X, y)
    assert search.best_params_["n_steps"] == math.inf
    display = CrossValidationErrorDisplay.from_estimator(search)
    x, y_marker = display.best_marker_.get_data()
    assert x[0] == 2  # one step, then the limit's column
    assert y_marker[0] == pytest.approx(-search.best_score_)
