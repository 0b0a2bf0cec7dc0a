"""Generalised cross-validation in the primal form (cv=None).

On raw features the primal estimators are the kernel estimators with the
linear kernel, so their GCV (from the moments of one pass: the eigenvalues of
the centred G, the projections of r and the residual outside the span of the
features) must equal the kernel GCV (from the n x n kernel matrix, where the
residual is the part of the targets in the kernel's null space).
"""

import warnings

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from selfdistill_sklearn import (
    SelfDistilledKernelRidge,
    SelfDistilledKernelRidgeClassifierCV,
    SelfDistilledKernelRidgeCV,
    SelfDistilledRidge,
    SelfDistilledRidgeClassifierCV,
    SelfDistilledRidgeCV,
)

GRID = {"reg_lambdas": [0.1, 1.0, 10.0], "alphas": [0.0, 0.4, 1.0, "optimal"], "max_steps": 3}


def _data(n, m, seed=0, offset=3.0):
    """Two targets, weights with zeros, features and targets off the origin."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, m)) + offset
    Y = X[:, :2] @ rng.normal(size=(2, 2)) + rng.normal(size=(n, 2)) + 5.0
    weights = rng.uniform(0.2, 2.0, size=n)
    weights[[1, 4, 7]] = 0.0
    return X, Y, weights


SHAPES = pytest.mark.parametrize("n, m", [(60, 5), (18, 30)], ids=["tall", "wide"])
INTERCEPT = pytest.mark.parametrize("fit_intercept", [True, False])


@SHAPES
@INTERCEPT
def test_gcv_search_equals_linear_kernel_gcv_search(n, m, fit_intercept):
    X, Y, weights = _data(n, m)
    primal = SelfDistilledRidgeCV(**GRID, cv=None, fit_intercept=fit_intercept).fit(
        X, Y, sample_weight=weights)
    kernel = SelfDistilledKernelRidgeCV(**GRID, cv=None, kernel="linear",
                                        fit_intercept=fit_intercept).fit(
        X, Y, sample_weight=weights)
    np.testing.assert_allclose(primal.cv_results_["mean_test_score"],
                               kernel.cv_results_["mean_test_score"], rtol=1e-8)
    np.testing.assert_allclose(primal.cv_results_["effective_dof"],
                               kernel.cv_results_["effective_dof"], rtol=1e-8)
    assert sorted(primal.cv_results_) == sorted(kernel.cv_results_)
    assert primal.cv_results_["params"] == kernel.cv_results_["params"]
    np.testing.assert_array_equal(primal.cv_results_["rank_test_score"],
                                  kernel.cv_results_["rank_test_score"])
    assert primal.best_params_ == kernel.best_params_
    assert primal.best_index_ == kernel.best_index_
    np.testing.assert_allclose(primal.optimal_alphas_, kernel.optimal_alphas_, rtol=1e-7)
    assert not hasattr(primal, "n_splits_")
    # The refit is the best candidate fitted on all the data, GCV weights included.
    assert primal.best_estimator_.cv is None
    np.testing.assert_allclose(primal.predict(X), kernel.predict(X), rtol=1e-8, atol=1e-8)


@SHAPES
@INTERCEPT
def test_gcv_optimal_alpha_and_effective_dof_equal_the_kernel_estimator(n, m, fit_intercept):
    X, Y, weights = _data(n, m, seed=1)
    params = {"alpha": "optimal", "n_steps": 4, "reg_lambda": 0.5, "cv": None,
              "fit_intercept": fit_intercept}
    primal = SelfDistilledRidge(**params).fit(X, Y, sample_weight=weights)
    kernel = SelfDistilledKernelRidge(**params, kernel="linear").fit(X, Y, sample_weight=weights)
    np.testing.assert_allclose(primal.alphas_, kernel.alphas_, rtol=1e-8)
    np.testing.assert_allclose(primal.effective_dof_, kernel.effective_dof_, rtol=1e-8)
    np.testing.assert_allclose(primal.equivalent_reg_lambda_, kernel.equivalent_reg_lambda_,
                               rtol=1e-7)
    assert primal.equivalent_reg_lambda_[0] == pytest.approx(0.5, rel=1e-10)
    np.testing.assert_allclose(primal.predict(X), kernel.predict(X), rtol=1e-8, atol=1e-8)


@INTERCEPT
def test_effective_dof_of_the_limit(fit_intercept):
    X, Y, weights = _data(40, 6, seed=2)
    params = {"alpha": 0.25, "n_steps": float("inf"), "reg_lambda": 2.0,
              "fit_intercept": fit_intercept}
    primal = SelfDistilledRidge(**params).fit(X, Y, sample_weight=weights)
    kernel = SelfDistilledKernelRidge(**params, kernel="linear").fit(X, Y, sample_weight=weights)
    assert primal.effective_dof_.shape == (1,)
    np.testing.assert_allclose(primal.effective_dof_, kernel.effective_dof_, rtol=1e-10)
    # Theorem 4.5: the limit is ridge regression with penalty lambda / alpha.
    np.testing.assert_allclose(primal.equivalent_reg_lambda_, [8.0], rtol=1e-9)


def test_gcv_stays_exact_far_from_the_origin():
    """The residual outside the span of the features, ``s - sum c_k^2``, is a
    difference of large numbers: from the centred moments (merged block by
    block) a shift of the features and targets by 1e6 changes nothing."""
    X, Y, weights = _data(300, 4, seed=3, offset=0.0)
    X[:, :2] = np.round(X[:, :2], 3)  # exactly representable after the shift too
    search = SelfDistilledRidgeCV(**GRID, cv=None, block_size=64)
    near = search.fit(X, Y, sample_weight=weights).cv_results_["mean_test_score"]
    far = search.fit(X + 1e6, Y + 1e6, sample_weight=weights).cv_results_["mean_test_score"]
    np.testing.assert_allclose(far, near, rtol=1e-8)


def test_gcv_of_features_of_1e150_equals_the_rescaled_problem():
    """u^T r of features of 1e150 passes 1e154 with 20000 rows: its square
    would overflow while the squared projections are of y's size; scaled by
    1e150 (and the penalties by 1e300) the criterion is the same."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20_000, 4))
    y = np.sin(X).sum(axis=1) + 0.3 * rng.normal(size=len(X))
    lambdas = [0.1, 1.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for alpha in ("optimal", 0.5):
            scaled = SelfDistilledRidge(alpha=alpha, n_steps=3, cv=None, reg_lambda=1e300)
            plain = SelfDistilledRidge(alpha=alpha, n_steps=3, cv=None, reg_lambda=1.0)
            np.testing.assert_allclose(scaled.fit(1e150 * X, y).alphas_,
                                       plain.fit(X, y).alphas_, rtol=1e-10)
        search = SelfDistilledRidgeCV(reg_lambdas=np.multiply(lambdas, 1e300),
                                      alphas=[0.0, 0.5, "optimal"], max_steps=2, cv=None)
        scores = search.fit(1e150 * X, y).cv_results_["mean_test_score"]
    plain = SelfDistilledRidgeCV(reg_lambdas=lambdas, alphas=[0.0, 0.5, "optimal"], max_steps=2,
                                 cv=None).fit(X, y)
    np.testing.assert_allclose(scores, plain.cv_results_["mean_test_score"], rtol=1e-10)


def test_gcv_scoring_is_squared_error_only():
    X, Y, _ = _data(30, 3)
    with pytest.raises(ValueError, match="scoring must be None or 'neg_mean_squared_error'"):
        SelfDistilledRidgeCV(cv=None, scoring="r2").fit(X, Y)


def test_classifier_search_gcv_equals_linear_kernel_classifier_search():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(90, 4))
    y = np.array(["a", "b", "c"])[np.argmax(X[:, :3] + 0.5 * rng.normal(size=(90, 3)), axis=1)]
    grid = {"reg_lambdas": [0.1, 1.0], "alphas": [0.0, 0.5, "optimal"], "max_steps": 3}
    primal = SelfDistilledRidgeClassifierCV(**grid, cv=None).fit(X, y)
    kernel = SelfDistilledKernelRidgeClassifierCV(**grid, cv=None).fit(X, y)
    np.testing.assert_allclose(primal.cv_results_["mean_test_score"],
                               kernel.cv_results_["mean_test_score"], rtol=1e-8)
    assert primal.best_params_ == kernel.best_params_
    np.testing.assert_array_equal(primal.predict(X), kernel.predict(X))


@parametrize_with_checks(
    [SelfDistilledRidgeCV(cv=None),
     SelfDistilledRidgeCV(reg_lambdas=(0.1, 1.0), alphas=(0.5, "optimal"), max_steps=2,
                          cv=None, fit_intercept=False),
     SelfDistilledRidge(alpha="optimal", n_steps=3, cv=None)])
def test_scikit_learn_estimator_checks_with_gcv(estimator, check):
    check(estimator)
