"""Every fit replaces the whole fitted state, or leaves the previous one when it
raises; after fit only fitted attributes are read, never parameters set since."""

import math

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.metrics.pairwise import rbf_kernel

from selfdistill_sklearn import SelfDistilledKernelRidge
from selfdistill_sklearn.model_selection import SelfDistilledKernelRidgeCV

RNG = np.random.default_rng(0)
X = RNG.normal(size=(30, 4))
Y = X[:, 0] + 0.1 * RNG.normal(size=30)


def _state(estimator):
    return {name: value for name, value in vars(estimator).items()
            if name.endswith("_") or name.startswith("_") and not name.startswith("__")}


def _assert_same_state(before, after):
    assert sorted(before) == sorted(after)
    for name, value in before.items():
        if isinstance(value, np.ndarray):
            assert_array_equal(after[name], value)
        elif name == "cv_results_":
            assert_array_equal(after[name]["mean_test_score"], value["mean_test_score"])
        else:
            assert after[name] is value or after[name] == value, name


def test_a_refit_with_infinitely_many_steps_keeps_no_old_steps():
    model = SelfDistilledKernelRidge(n_steps=3, kernel="rbf").fit(X, Y)
    model.set_params(n_steps=math.inf).fit(X, Y)
    fresh = SelfDistilledKernelRidge(n_steps=math.inf, kernel="rbf").fit(X, Y)
    assert not hasattr(model, "staged_dual_coef_")
    with pytest.raises(ValueError, match="staged_predict needs a finite n_steps"):
        next(model.staged_predict(X))
    with pytest.raises(ValueError, match="needs n_steps when the fit used n_steps=inf"):
        model.spectral_shrinkage()
    assert_allclose(model.predict(X), fresh.predict(X), rtol=1e-12)
    assert sorted(_state(model)) == sorted(_state(fresh))


def test_a_refit_without_feature_names_or_weights_drops_them():
    model = SelfDistilledKernelRidge(n_steps=2).fit(pd.DataFrame(X, columns=list("abcd")), Y,
                                                    sample_weight=np.full(30, 2.0))
    model.fit(X, Y)
    assert not hasattr(model, "feature_names_in_")
    fresh = SelfDistilledKernelRidge(n_steps=2).fit(X, Y)
    assert_allclose(model.spectral_shrinkage().eigenvalues, fresh.spectral_shrinkage().eigenvalues,
                    rtol=1e-12)


def test_a_refit_of_the_search_without_optimal_drops_its_weights():
    search = SelfDistilledKernelRidgeCV(reg_lambdas=[1.0], alphas=[0.5, "optimal"], max_steps=2,
                                        cv=3, alpha_cv=3).fit(X, Y)
    assert hasattr(search, "optimal_alphas_")
    search.set_params(alphas=[0.5]).fit(X, Y)
    assert not hasattr(search, "optimal_alphas_")


@pytest.mark.parametrize("change", [
    {"alpha": 0.9}, {"reg_lambda": 10.0}, {"n_steps": 7}, {"gamma": 5.0}, {"kernel": "linear"},
    {"alpha": "optimal"}, {"kernel": "precomputed"},
])
def test_after_fit_only_fitted_attributes_are_read(change):
    model = SelfDistilledKernelRidge(alpha=0.5, n_steps=3, reg_lambda=0.5, kernel="rbf",
                                     gamma=0.3).fit(X, Y)
    predictions = model.predict(X[:5])
    staged = list(model.staged_predict(X[:5]))
    shrinkage = model.spectral_shrinkage()
    extended = model.spectral_shrinkage(n_steps=5)
    other = model.spectral_shrinkage(X=X[:10])
    model.set_params(**change)
    assert_array_equal(model.predict(X[:5]), predictions)
    for got, expected in zip(model.staged_predict(X[:5]), staged, strict=True):
        assert_array_equal(got, expected)
    assert_array_equal(model.spectral_shrinkage().diagonals, shrinkage.diagonals)
    assert_array_equal(model.spectral_shrinkage(n_steps=5).diagonals, extended.diagonals)
    assert_array_equal(model.spectral_shrinkage(n_steps=5).limit, extended.limit)
    assert_array_equal(model.spectral_shrinkage(X=X[:10]).diagonals, other.diagonals)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_fit_intercept_set_after_fit_is_not_read(fit_intercept):
    # A mean far from 0, so that the models with and without intercept differ.
    model = SelfDistilledKernelRidge(alpha=0.5, n_steps=3, reg_lambda=0.5, kernel="rbf",
                                     gamma=0.3, fit_intercept=fit_intercept).fit(X, Y + 4.0)
    other = SelfDistilledKernelRidge(alpha=0.5, n_steps=3, reg_lambda=0.5, kernel="rbf",
                                     gamma=0.3, fit_intercept=not fit_intercept).fit(X, Y + 4.0)
    predictions = model.predict(X[:5])
    staged = list(model.staged_predict(X[:5]))
    shrinkage = model.spectral_shrinkage()
    other_data = model.spectral_shrinkage(X=X[:10])
    assert np.max(np.abs(predictions - other.predict(X[:5]))) > 1e-3
    # The spectrum of the intercept model lies on the complement of the constant.
    assert shrinkage.eigenvalues.size == (29 if fit_intercept else 30)
    assert other.spectral_shrinkage().eigenvalues.size == (30 if fit_intercept else 29)
    model.set_params(fit_intercept=not fit_intercept)
    assert_array_equal(model.predict(X[:5]), predictions)
    for got, expected in zip(model.staged_predict(X[:5]), staged, strict=True):
        assert_array_equal(got, expected)
    for got, expected in [(model.spectral_shrinkage(), shrinkage),
                          (model.spectral_shrinkage(X=X[:10]), other_data)]:
        assert_array_equal(got.eigenvalues, expected.eigenvalues)
        assert_array_equal(got.diagonals, expected.diagonals)
        assert_array_equal(got.limit, expected.limit)


@pytest.mark.parametrize("change", [{"kernel": "linear", "gamma": 3.0},
                                    {"fit_intercept": False}])
def test_the_search_predicts_with_its_fitted_settings(change):
    search = SelfDistilledKernelRidgeCV(reg_lambdas=[0.1, 1.0], alphas=[0.5], max_steps=2,
                                        kernel="rbf", cv=3).fit(X, Y + 4.0)
    predictions = search.predict(X[:5])
    best = search.best_estimator_.predict(X[:5])
    search.set_params(**change)
    assert_array_equal(search.predict(X[:5]), predictions)
    assert_array_equal(search.best_estimator_.predict(X[:5]), best)


class _InterruptingKernel:
    """An rbf kernel that raises ``KeyboardInterrupt`` on its call ``fail_at``."""

    def __init__(self, fail_at=None):
        self.calls = 0
        self.fail_at = fail_at

    def __call__(self, a, b):
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise KeyboardInterrupt
        return float(rbf_kernel(a[None], b[None], gamma=0.3)[0, 0])


def _plain(kernel):
    return SelfDistilledKernelRidge(alpha=0.5, n_steps=3, kernel=kernel)


def _search(kernel):
    return SelfDistilledKernelRidgeCV(reg_lambdas=[1.0], alphas=[0.5, "optimal"], max_steps=2,
                                      cv=3, alpha_cv=3, kernel=kernel)


# A kernel matrix of 30 samples takes 465 calls: the 600th falls in the second
# one computed (the factorisation after alpha* was chosen; the refit of the best
# candidate after cv_results_ was set).
@pytest.mark.parametrize("make, refit_params, fail_after", [
    (_plain, {"alpha": "optimal", "cv": 3}, 1),
    (_plain, {"alpha": "optimal", "cv": 3}, 600),
    (_plain, {"n_steps": math.inf}, 1),
    (_plain, {"n_steps": math.inf}, 400),
    (_search, {"alphas": [0.25]}, 1),
    (_search, {"alphas": [0.25]}, 600),
])
def test_an_interrupted_refit_leaves_the_previous_state(make, refit_params, fail_after):
    kernel = _InterruptingKernel()
    model = make(kernel).fit(X, Y)
    before = _state(model)
    predictions = model.predict(X[:5])
    kernel.fail_at = kernel.calls + fail_after
    with pytest.raises(KeyboardInterrupt):
        model.set_params(**refit_params).fit(X, Y + 1.0)
    _assert_same_state(before, _state(model))
    kernel.fail_at = None
    assert_array_equal(model.predict(X[:5]), predictions)


def test_an_interrupted_refit_on_other_data_keeps_the_old_features():
    kernel = _InterruptingKernel()
    model = SelfDistilledKernelRidge(kernel=kernel).fit(pd.DataFrame(X, columns=list("abcd")), Y)
    kernel.fail_at = kernel.calls + 10
    with pytest.raises(KeyboardInterrupt):
        model.fit(X[:, :3], Y)
    assert model.n_features_in_ == 4
    assert list(model.feature_names_in_) == list("abcd")
    with pytest.raises(ValueError, match="sample_weight must be non-negative"):
        model.fit(X[:, :2], Y, sample_weight=-np.ones(30))
    assert model.n_features_in_ == 4


@pytest.mark.parametrize("make", [
    lambda kernel: SelfDistilledKernelRidge(kernel=kernel),
    lambda kernel: SelfDistilledKernelRidgeCV(reg_lambdas=[1.0], alphas=[0.5], cv=3,
                                              kernel=kernel),
], ids=["plain", "search"])
def test_an_interrupted_first_fit_leaves_no_state(make):
    model = make(_InterruptingKernel(fail_at=50))
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y)
    assert not [name for name in vars(model) if name.endswith("_")]
    with pytest.raises(NotFittedError):
        model.predict(X)
