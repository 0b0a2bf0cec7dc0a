"""The automatic penalty grid and the warning of a choice at a grid's edge."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, make_friedman1, make_friedman3
from sklearn.kernel_approximation import Nystroem
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.preprocessing import StandardScaler

from selfdistill_sklearn import (
    GridEdgeWarning,
    SelfDistilledKernelRidgeClassifierCV,
    SelfDistilledKernelRidgeCV,
    SelfDistilledRidgeCV,
)
from selfdistill_sklearn._grids import PLATEAU, auto_reg_lambdas, edge_messages
from selfdistill_sklearn.model_selection import largest_eigenvalue


def _sinusoid(n=80, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n, 1))
    return X, np.sin(2 * np.pi * X[:, 0]) + rng.normal(scale=0.3, size=n)


def _centred_weighted_top(K, weights, fit_intercept):
    root = np.sqrt(weights)
    M = root[:, None] * K * root[None, :]
    if fit_intercept:
        H = np.eye(len(K)) - np.outer(root, root) / (root @ root)
        M = H @ M @ H
    return np.abs(np.linalg.eigvalsh(M)).max()


def _fit(estimator, X, y, **fit_params):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator.fit(X, y, **fit_params)
    edges = [str(w.message) for w in caught if issubclass(w.category, GridEdgeWarning)]
    return estimator, edges


def test_auto_grid_is_four_per_decade_from_1e_10_to_10_times_the_scale():
    grid = auto_reg_lambdas(2.0)
    assert grid.size == 45
    np.testing.assert_allclose(grid[[0, 40, -1]], [2e-10, 2.0, 20.0], rtol=1e-12)
    np.testing.assert_allclose(grid[1:] / grid[:-1], 10 ** 0.25, rtol=1e-12)
    # a matrix of zeros: every penalty gives the same model; the grid sits around 1
    np.testing.assert_allclose(auto_reg_lambdas(0.0), auto_reg_lambdas(1.0))


@pytest.mark.parametrize("cv", [3, None])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_kernel_search_places_the_grid_on_the_weighted_centred_kernel(cv, fit_intercept):
    X, y = _sinusoid(60)
    weights = np.random.default_rng(1).uniform(0.2, 3.0, size=60)
    search, _ = _fit(SelfDistilledKernelRidgeCV(alphas=[0.5], max_steps=2, kernel="rbf",
                                                gamma=5.0, cv=cv, fit_intercept=fit_intercept),
                     X, y, sample_weight=weights)
    top = _centred_weighted_top(rbf_kernel(X, gamma=5.0), weights, fit_intercept)
    np.testing.assert_allclose(search.reg_lambdas_, auto_reg_lambdas(top), rtol=1e-9)
    searched = sorted({params["reg_lambda"] for params in search.cv_results_["params"]})
    np.testing.assert_array_equal(searched, search.reg_lambdas_)
    assert search.best_params_["reg_lambda"] in search.reg_lambdas_


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_largest_eigenvalue_by_lanczos_above_500_samples(fit_intercept):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(520, 3))
    K = rbf_kernel(X, gamma=0.3)
    weights = rng.uniform(0.5, 2.0, size=520)
    assert largest_eigenvalue(K, weights, fit_intercept) == pytest.approx(
        _centred_weighted_top(K, weights, fit_intercept), rel=1e-9)


@pytest.mark.parametrize("cv", [3, None])
def test_primal_search_places_the_grid_as_the_linear_kernel_search(cv):
    X, y = load_diabetes(return_X_y=True)
    X, y = X[:150], y[:150]
    weights = np.random.default_rng(0).uniform(0.5, 2.0, size=150)
    primal, _ = _fit(SelfDistilledRidgeCV(alphas=[0.5], max_steps=2, cv=cv), X, y,
                     sample_weight=weights)
    kernel, _ = _fit(SelfDistilledKernelRidgeCV(alphas=[0.5], max_steps=2, cv=cv), X, y,
                     sample_weight=weights)
    np.testing.assert_allclose(primal.reg_lambdas_, kernel.reg_lambdas_, rtol=1e-8)
    np.testing.assert_allclose(primal.reg_lambdas_[40],
                               _centred_weighted_top(X @ X.T, weights, True), rtol=1e-8)


@pytest.mark.parametrize("make", [
    lambda grid: SelfDistilledKernelRidgeCV(grid, [1.0], 1, cv=3),
    lambda grid: SelfDistilledRidgeCV(grid, [1.0], 1, cv=3),
])
def test_an_explicit_grid_is_searched_as_given(make):
    X, y = _sinusoid(40)
    grid = [1, 0.5, 2.0]
    search, _ = _fit(make(grid), X, y)
    np.testing.assert_array_equal(search.reg_lambdas_, [1.0, 0.5, 2.0])
    assert [params["reg_lambda"] for params in search.cv_results_["params"]][:3] == grid
    assert type(search.cv_results_["params"][0]["reg_lambda"]) is int


@pytest.mark.parametrize("reg_lambdas", ["Auto", "wide", 1.0])
def test_a_grid_that_is_neither_auto_nor_a_sequence_is_refused(reg_lambdas):
    X, y = _sinusoid(30)
    for search in (SelfDistilledKernelRidgeCV(reg_lambdas), SelfDistilledRidgeCV(reg_lambdas)):
        with pytest.raises(ValueError, match="reg_lambdas must be a one-dimensional sequence "
                                             "or 'auto'"):
            search.fit(X, y)


def _nystroem():
    return Nystroem(gamma=10.0, n_components=40, random_state=0)


SEARCHES = {
    "kernel, folds": lambda grid, alphas, steps: SelfDistilledKernelRidgeCV(
        grid, alphas, steps, include_limit=False, kernel="rbf", gamma=10.0, cv=4),
    "kernel, GCV": lambda grid, alphas, steps: SelfDistilledKernelRidgeCV(
        grid, alphas, steps, include_limit=False, kernel="rbf", gamma=10.0, cv=None),
    "primal, folds": lambda grid, alphas, steps: SelfDistilledRidgeCV(
        grid, alphas, steps, feature_map=_nystroem(), cv=4),
    "primal, GCV": lambda grid, alphas, steps: SelfDistilledRidgeCV(
        grid, alphas, steps, feature_map=_nystroem(), cv=None),
}


@pytest.mark.parametrize("name", list(SEARCHES))
def test_the_warning_fires_exactly_at_the_edges(name):
    make = SEARCHES[name]
    X, y = _sinusoid(80)
    # The best penalty of plain kernel ridge on a wide grid, inside it.
    ridge, edges = _fit(make("auto", [1.0], 1), X, y)
    assert edges == []
    best = ridge.best_params_["reg_lambda"]
    assert ridge.reg_lambdas_[0] < best < ridge.reg_lambdas_[-1]

    cases = {"low": [best, 30 * best, 1000 * best], "high": [best / 1000, best / 30, best],
             "inside": [best / 30, best, 30 * best]}
    for case, grid in cases.items():
        search, edges = _fit(make(grid, [1.0], 1), X, y)
        assert search.best_params_["reg_lambda"] == best, case
        if case == "inside":
            assert edges == []
        else:
            (message,) = edges
            word, where = {"low": ("smallest", "below"), "high": ("largest", "above")}[case]
            assert f"reg_lambda={best:.3g} is the {word}" in message
            assert f"extend reg_lambdas {where} {best:.3g}" in message
            assert "n_steps" not in message

    # Too small a penalty: pure distillation (alpha = 0) shrinks more at every step, so
    # the last step allowed is the best; one penalty is the user's choice, not an edge.
    search, edges = _fit(make([best / 10], [0.0], 3), X, y)
    assert search.best_params_["n_steps"] == 3
    (message,) = edges
    assert "n_steps=3 equals max_steps=3" in message and "raise max_steps" in message
    assert "reg_lambda" not in message
    search, edges = _fit(make([best], [0.0], 3), X, y)
    assert search.best_params_["n_steps"] < 3
    assert edges == []


def test_a_classifier_search_warns_at_an_edge():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 2))
    y = (X[:, 0] + 0.5 * rng.normal(size=90) > 0).astype(int)
    search, edges = _fit(SelfDistilledKernelRidgeClassifierCV([1e3, 1e4], [1.0], 1, cv=3),
                         X, y)
    assert search.best_params_["reg_lambda"] == 1e3
    (message,) = edges
    assert message.startswith("SelfDistilledKernelRidgeClassifierCV: the best reg_lambda=1e+03")


def test_no_warning_where_smaller_penalties_give_the_same_model():
    # A linear kernel of three features has three nonzero eigenvalues; far below the
    # smallest, every penalty gives the least-squares fit (to PLATEAU).
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ [1.0, -2.0, 0.5]  # no noise: every penalty only adds bias
    smallest = np.linalg.eigvalsh(np.cov(X.T, bias=True) * 200).min()
    for cv in (4, None):
        for grid, warned in [(smallest * PLATEAU * np.array([0.01, 0.1, 1.0]), False),
                             (smallest * np.array([0.1, 1.0, 10.0]), True)]:
            search, edges = _fit(SelfDistilledKernelRidgeCV(grid, [1.0], 1, cv=cv), X, y)
            assert search.best_params_["reg_lambda"] == grid[0]
            assert len(edges) == warned
    eigenvalues = np.array([0.0, 1e-20, 2.0, 5.0])
    params = {"reg_lambda": 1e-4, "alpha": 1.0, "n_steps": 1}
    assert edge_messages(params, [1e-4, 1.0], 1, eigenvalues=lambda: eigenvalues) == []
    params["reg_lambda"] = 1e-2
    (message,) = edge_messages(params, [1e-2, 1.0], 1, eigenvalues=lambda: eigenvalues)
    assert "smallest" in message
    (message,) = edge_messages(params, [1e-2, 1.0], 1, eigenvalues=None, auto=True)
    assert "the automatic grid (reg_lambdas='auto')" in message


def _problems():
    X, y = load_diabetes(return_X_y=True)
    yield "diabetes", X[:300], y[:300]
    yield "friedman1", *make_friedman1(300, noise=1.0, random_state=0)
    X, y = make_friedman3(300, random_state=0)
    yield "friedman3", X, y + np.random.default_rng(0).normal(scale=0.3 * y.std(), size=300)


@pytest.mark.parametrize(("name", "X", "y"), list(_problems()), ids=lambda v: str(v)[:9])
def test_the_automatic_grid_has_the_choice_inside(name, X, y):
    X = StandardScaler().fit_transform(X)
    gamma = 1.0 / X.shape[1]
    for search in (SelfDistilledKernelRidgeCV(kernel="rbf", gamma=gamma),
                   SelfDistilledKernelRidgeCV(kernel="linear"),
                   SelfDistilledRidgeCV(feature_map=Nystroem(gamma=gamma, n_components=100,
                                                             random_state=0))):
        search, edges = _fit(search, X, y)
        grid, best = search.reg_lambdas_, search.best_params_["reg_lambda"]
        assert grid[0] < best < grid[-1], (name, search)
        assert not [message for message in edges if "reg_lambda=" in message]
        # ... and so is that of tuned kernel ridge (one step) on the same grid
        ridge = search.cv_results_["param_n_steps"] == 1
        best_ridge = search.cv_results_["param_reg_lambda"][ridge][
            np.argmax(search.cv_results_["mean_test_score"][ridge])]
        assert grid[0] < best_ridge < grid[-1], (name, search)
