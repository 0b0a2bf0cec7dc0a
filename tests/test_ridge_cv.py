"""SelfDistilledRidgeCV against GridSearchCV over SelfDistilledRidge."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.kernel_approximation import Nystroem
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold
from sklearn.utils.estimator_checks import parametrize_with_checks

from selfdistill_sklearn import SelfDistilledRidge, SelfDistilledRidgeCV

RTOL = 1e-8


def make_data(n=60, n_features=3, n_targets=None, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features)) + 2.0
    coef = rng.normal(size=(n_features,) if n_targets is None else (n_features, n_targets))
    y = np.sin(2 * X) @ coef + 0.5 * rng.normal(size=(n,) if n_targets is None else
                                                (n, n_targets)) + 4.0
    return X, y


@parametrize_with_checks([SelfDistilledRidgeCV(cv=3, alphas=[0.0, 0.5, "optimal"], max_steps=3)])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("scoring", ["neg_mean_squared_error", "neg_root_mean_squared_error",
                                     "r2"])
@pytest.mark.parametrize(("fit_intercept", "n_targets"), [(True, None), (False, None),
                                                          (True, 2)])
def test_scores_equal_grid_search(scoring, fit_intercept, n_targets):
    """Every candidate's score on every fold, and the choice, equal a grid search that
    refits each candidate; "optimal" inside fold k uses the other K - 1 folds, which
    KFold(K - 1) gives on the fold's training part when K divides n."""
    X, y = make_data(n=60, n_targets=n_targets)
    feature_map = Nystroem(gamma=0.5, n_components=12, random_state=0).fit(X)
    features = feature_map.transform(X)
    reg_lambdas = [0.01, 0.3, 5.0]
    alphas = [0.0, 0.4, 1.0, "optimal"]
    search = SelfDistilledRidgeCV(reg_lambdas, alphas, max_steps=3, cv=KFold(4),
                                  fit_intercept=fit_intercept, scoring=scoring).fit(features, y)
    grid = GridSearchCV(SelfDistilledRidge(cv=KFold(3), fit_intercept=fit_intercept),
                        search.param_grid_, cv=KFold(4), scoring=scoring).fit(features, y)
    assert [dict(p) for p in search.cv_results_["params"]] == grid.cv_results_["params"]
    for split in range(4):
        key = f"split{split}_test_score"
        assert_allclose(search.cv_results_[key], grid.cv_results_[key], rtol=RTOL)
    assert search.best_params_ == grid.best_params_
    assert_allclose(search.best_score_, grid.best_score_, rtol=RTOL)
    refit = grid.best_estimator_
    assert_allclose(search.best_estimator_.coef_, refit.coef_, rtol=1e-7, atol=1e-10)
    assert_allclose(search.predict(features), refit.predict(features), rtol=1e-8)
    # The inner optimal weights are those each fold's candidate chose.
    for split, (train, _) in enumerate(KFold(4).split(features)):
        for index, reg_lambda in enumerate(reg_lambdas):
            candidate = SelfDistilledRidge(alpha="optimal", n_steps=3, reg_lambda=reg_lambda,
                                           cv=KFold(3), fit_intercept=fit_intercept)
            candidate.fit(features[train], y[train])
            assert_allclose(search.optimal_alphas_[split, index], candidate.alphas_,
                            rtol=1e-7)


def test_weighted_scores_equal_weighted_refits():
    X, y = make_data(n=48)
    w = np.random.default_rng(3).uniform(0.1, 2.0, size=len(y))
    search = SelfDistilledRidgeCV([0.1, 2.0], [0.3, "optimal"], max_steps=3, cv=KFold(3)).fit(
        X, y, sample_weight=w)
    for index, params in enumerate(search.cv_results_["params"]):
        for split, (train, test) in enumerate(KFold(3).split(X)):
            model = SelfDistilledRidge(**params, cv=KFold(2)).fit(X[train], y[train],
                                                                  sample_weight=w[train])
            error = np.average((model.predict(X[test]) - y[test]) ** 2, weights=w[test])
            assert_allclose(search.cv_results_[f"split{split}_test_score"][index], -error,
                            rtol=RTOL)


def test_best_estimator_equals_a_fresh_fit():
    X, y = make_data(n=50)
    search = SelfDistilledRidgeCV([0.05, 1.0], [0.0, 0.5, "optimal"], max_steps=4,
                                  cv=KFold(5)).fit(X, y)
    params = search.best_estimator_.get_params()
    fresh = SelfDistilledRidge(**params).fit(X, y)
    assert_allclose(search.best_estimator_.coef_, fresh.coef_, rtol=1e-9)
    assert_allclose(search.best_estimator_.alphas_, fresh.alphas_, rtol=1e-9)
    if math.isfinite(params["n_steps"]):
        assert_allclose(search.best_estimator_.staged_intercept_, fresh.staged_intercept_,
                        rtol=1e-9)


def test_cv_accepts_splits_generators_and_groups():
    X, y = make_data(n=40)
    groups = np.repeat(np.arange(8), 5)
    splits = list(GroupKFold(4).split(X, y, groups))
    by_groups = SelfDistilledRidgeCV(cv=GroupKFold(4), alphas=[0.5, "optimal"]).fit(
        X, y, groups=groups)
    by_list = SelfDistilledRidgeCV(cv=splits, alphas=[0.5, "optimal"]).fit(X, y)
    by_generator = SelfDistilledRidgeCV(cv=(split for split in splits),
                                        alphas=[0.5, "optimal"]).fit(X, y)
    for other in (by_list, by_generator):
        assert_allclose(other.cv_results_["mean_test_score"],
                        by_groups.cv_results_["mean_test_score"], rtol=1e-12)
    assert by_list.n_splits_ == 4


def test_grid_search_over_the_feature_map():
    X, y = make_data(n=80)
    feature_map = Nystroem(n_components=15, random_state=0)
    estimator = SelfDistilledRidgeCV([0.1, 1.0], [0.5, "optimal"], max_steps=2, cv=3,
                                     feature_map=feature_map)
    assert "feature_map__gamma" in estimator.get_params(deep=True)
    search = GridSearchCV(estimator, {"feature_map__gamma": [0.1, 1.0]}, cv=3).fit(X, y)
    assert search.best_params_["feature_map__gamma"] in (0.1, 1.0)
    assert search.best_estimator_.feature_map_.gamma == search.best_params_["feature_map__gamma"]
    assert not hasattr(feature_map, "components_")


def test_unsupported_scoring_and_folds_too_few_for_optimal():
    X, y = make_data()
    with pytest.raises(ValueError, match="scoring must be None or one of"):
        SelfDistilledRidgeCV(scoring="neg_mean_absolute_error").fit(X, y)
    with pytest.raises(ValueError, match="at least 3 folds"):
        SelfDistilledRidgeCV(cv=2, alphas=["optimal"]).fit(X, y)
    with pytest.raises(ValueError, match="reg_lambdas"):
        SelfDistilledRidgeCV(reg_lambdas=[]).fit(X, y)


def test_failed_fit_keeps_the_previous_state():
    X, y = make_data()
    search = SelfDistilledRidgeCV(cv=3).fit(X, y)
    best = search.best_params_
    with pytest.raises(ValueError):
        search.fit(X[:, :2], y, sample_weight=np.zeros(len(y)))
    assert search.n_features_in_ == X.shape[1]
    assert search.best_params_ == best
    search.predict(X)
