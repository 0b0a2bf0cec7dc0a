"""Parameters and data that the kernel estimators must refuse with a clear error,
or accept and use as documented: kernel parameters, types, step counts, the
CV estimator's own parameters, sparse and non-symmetric precomputed kernels,
feature names of validation data."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from sklearn.base import clone
from sklearn.kernel_ridge import KernelRidge
from sklearn.metrics.pairwise import pairwise_kernels
from sklearn.model_selection import GridSearchCV

from selfdistill_sklearn import SelfDistilledKernelRidge
from selfdistill_sklearn.model_selection import SelfDistilledKernelRidgeCV

RNG = np.random.default_rng(0)
X = RNG.normal(size=(30, 4))
Y = X[:, 0] + 0.1 * RNG.normal(size=30)


def _plain(**params):
    return SelfDistilledKernelRidge(**params)


def _search(**params):
    return SelfDistilledKernelRidgeCV(**{"reg_lambdas": [0.1, 1.0], "alphas": [0.5],
                                         "max_steps": 2, "cv": 3, **params})


ESTIMATORS = {"plain": _plain, "search": _search}

BAD_KERNEL_PARAMS = [
    ({"kernel": "rbf", "gamma": -1.0}, ValueError, "gamma must be a finite float >= 0"),
    ({"kernel": "rbf", "gamma": -50}, ValueError, "gamma must be a finite float >= 0"),
    ({"kernel": "rbf", "gamma": np.nan}, ValueError, "gamma must be"),
    ({"kernel": "rbf", "gamma": "1"}, TypeError, "gamma must be"),
    ({"kernel": "rbf", "gamma": True}, TypeError, "gamma must be"),
    ({"kernel": "rbff"}, ValueError, "kernel must be a str among"),
    ({"kernel": 3}, TypeError, "kernel must be a str among"),
    ({"kernel": "poly", "degree": -1}, ValueError, "degree must be a finite float >= 0"),
    ({"kernel": "poly", "degree": "3"}, TypeError, "degree must be"),
    ({"kernel": "poly", "coef0": np.inf}, ValueError, "coef0 must be a finite float"),
    ({"kernel": "sigmoid", "coef0": "a"}, TypeError, "coef0 must be"),
    ({"kernel": "linear", "kernel_params": [("a", 1)]}, TypeError, "kernel_params must be"),
]


@pytest.mark.parametrize("make", ESTIMATORS.values(), ids=ESTIMATORS)
@pytest.mark.parametrize("params, error, message", BAD_KERNEL_PARAMS,
                         ids=[str(p) for p, _, _ in BAD_KERNEL_PARAMS])
def test_kernel_parameters_are_checked_and_named(make, params, error, message):
    with pytest.raises(error, match=message):
        make(**params).fit(X, Y)


@pytest.mark.parametrize("params", [{"kernel": "rbf", "gamma": -1.0}, {"kernel": "rbff"},
                                    {"kernel": "poly", "degree": -1},
                                    {"kernel_params": [("a", 1)]}])
def test_kernel_ridge_refuses_the_same_kernel_parameters(params):
    with pytest.raises(ValueError):
        KernelRidge(**params).fit(X, Y)


@pytest.mark.parametrize("make", ESTIMATORS.values(), ids=ESTIMATORS)
def test_kernel_parameters_kernel_ridge_accepts_are_accepted(make):
    for params in [{"kernel": "rbf", "gamma": 0.0}, {"kernel": "poly", "degree": 2.0},
                   {"kernel": "sigmoid", "coef0": -1, "gamma": 0.1}, {"kernel": "laplacian"}]:
        assert np.all(np.isfinite(make(**params).fit(X, Y).predict(X)))


BAD_TYPES = [
    ({"clip_alpha": "False", "alpha": "optimal"}, TypeError, "clip_alpha must be True or False"),
    ({"clip_alpha": 1}, TypeError, "clip_alpha must be True or False"),
    ({"fit_intercept": "False"}, TypeError, "fit_intercept must be True or False"),
    ({"fit_intercept": 0}, TypeError, "fit_intercept must be True or False"),
    ({"fit_intercept": None}, TypeError, "fit_intercept must be True or False"),
    ({"alpha": 0.5 + 0j}, TypeError, "alpha must be a float"),
    ({"alpha": np.complex128(0.5)}, TypeError, "alpha must be a float"),
    ({"alpha": np.array([0.5 + 0.5j]), "n_steps": 2}, TypeError, "alpha must be a float"),
    ({"alpha": [0.5 + 0j, 0.5], "n_steps": 3}, TypeError, "alpha must be a float"),
    ({"alpha": ["0.5"], "n_steps": 2}, TypeError, "alpha must be a float"),
    ({"alpha": [True], "n_steps": 2}, TypeError, "alpha must be a float"),
    ({"alpha": np.True_}, TypeError, "alpha must be a float"),
    ({"reg_lambda": 1 + 0j}, TypeError, "reg_lambda must be a real number"),
    ({"n_steps": 2 + 0j}, TypeError, "n_steps must be a whole number"),
]


@pytest.mark.parametrize("params, error, message", BAD_TYPES, ids=[str(p) for p, _, _ in BAD_TYPES])
def test_booleans_must_be_booleans_and_complex_is_a_type_error(params, error, message):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning on the way
        with pytest.raises(error, match=message):
            SelfDistilledKernelRidge(**params).fit(X, Y)


@pytest.mark.parametrize("params, error, message", [
    ({"clip_alpha": "False"}, TypeError, "clip_alpha must be True or False"),
    ({"include_limit": "no"}, TypeError, "include_limit must be True or False"),
    ({"fit_intercept": "False"}, TypeError, "fit_intercept must be True or False"),
    ({"fit_intercept": 1}, TypeError, "fit_intercept must be True or False"),
    ({"alphas": [0.5 + 0j]}, TypeError, "alphas"),
    ({"reg_lambdas": [1 + 0j]}, TypeError, "reg_lambdas"),
    ({"verbose": "1"}, TypeError, "verbose must be an int"),
    ({"n_jobs": 1.5}, TypeError, "n_jobs must be an int"),
])
def test_the_search_checks_types_too(params, error, message):
    with pytest.raises(error, match=message):
        _search(**params).fit(X, Y)


def _kernel_never_called(a, b):
    raise AssertionError("the kernel was computed before the parameters were checked")


@pytest.mark.parametrize("make", ESTIMATORS.values(), ids=ESTIMATORS.keys())
@pytest.mark.parametrize("value", ["False", "True", 0, 1.0, None])
def test_fit_intercept_is_checked_before_any_work(make, value):
    # Not at the refit of the best candidate after a whole search: before the
    # first kernel value is computed.
    with pytest.raises(TypeError, match="fit_intercept must be True or False, got"):
        make(fit_intercept=value, kernel=_kernel_never_called).fit(X, Y)


def test_numpy_booleans_are_booleans():
    model = SelfDistilledKernelRidge(alpha="optimal", clip_alpha=np.True_, cv=3).fit(X, Y)
    assert 0.0 <= model.alphas_[0] <= 1.0
    for estimator in [SelfDistilledKernelRidge(), _search()]:
        plain = clone(estimator).set_params(fit_intercept=False).fit(X, Y + 5.0).predict(X)
        numpy = clone(estimator).set_params(fit_intercept=np.False_).fit(X, Y + 5.0).predict(X)
        assert_array_equal(numpy, plain)


@pytest.mark.parametrize("params, error, message, wrong", [
    ({"max_steps": 0}, ValueError, "max_steps must be a whole number >= 1", "n_steps"),
    ({"max_steps": 2.5}, ValueError, "max_steps must be a whole number", "n_steps"),
    ({"max_steps": "3"}, TypeError, "max_steps must be a whole number", "n_steps"),
    ({"alphas": [2.0]}, ValueError, r"every entry of alphas must lie in \[0, 1\]", "alpha must"),
    ({"alphas": ["best"]}, ValueError, "every entry of alphas must be", "alpha must"),
    ({"reg_lambdas": [0.0]}, ValueError, "every entry of reg_lambdas", "reg_lambda must"),
    ({"scoring": ["r2"]}, ValueError, "several scorings at once", "unhashable"),
    ({"scoring": ("r2", "neg_mean_squared_error")}, ValueError, "several scorings", "hashable"),
    ({"scoring": {"r2": "r2"}}, ValueError, "several scorings at once", "unhashable"),
    ({"scoring": len}, TypeError, "scoring must be None or one name", "unhashable"),
])
def test_the_search_names_its_own_parameters(params, error, message, wrong):
    with pytest.raises(error, match=message) as info:
        _search(**params).fit(X, Y)
    assert wrong not in str(info.value).replace("max_steps", "").replace("alphas", "")


@pytest.mark.parametrize("make, params, name", [
    (_plain, {"n_steps": 10 ** 9}, "n_steps"),
    (_plain, {"n_steps": 1001}, "n_steps"),
    (_plain, {"n_steps": 1e6, "alpha": 0.5}, "n_steps"),
    (_search, {"max_steps": 10 ** 6}, "max_steps"),
])
def test_step_counts_above_the_bound_are_refused_by_name(make, params, name):
    with pytest.raises(ValueError, match=f"{name} must be at most 1000") as info:
        make(**params).fit(X, Y)
    if name == "n_steps":
        assert "n_steps=math.inf" in str(info.value)


def test_the_bound_itself_is_fitted_and_spectral_shrinkage_is_bounded_too():
    model = SelfDistilledKernelRidge(alpha=0.5, n_steps=1000, kernel="rbf").fit(X, Y)
    assert model.staged_dual_coef_.shape == (1000, 30)
    limit = SelfDistilledKernelRidge(alpha=0.5, n_steps=math.inf, kernel="rbf").fit(X, Y)
    assert_allclose(model.predict(X), limit.predict(X), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="n_steps must be at most 1000"):
        model.spectral_shrinkage(n_steps=10 ** 6)


def test_include_limit_false_is_the_grid_search_over_finite_steps():
    search = SelfDistilledKernelRidgeCV(reg_lambdas=[0.1, 1.0], alphas=[0.0, 0.5, "optimal"],
                                        max_steps=3, kernel="rbf", cv=3, alpha_cv=3,
                                        include_limit=False).fit(X, Y)
    steps = [params["n_steps"] for params in search.cv_results_["params"]]
    assert math.inf not in steps and sorted(set(steps)) == [1, 2, 3]
    assert all(math.inf not in grid["n_steps"] for grid in search.param_grid_)
    reference = GridSearchCV(SelfDistilledKernelRidge(kernel="rbf", cv=3),
                             {"reg_lambda": [0.1, 1.0], "alpha": [0.0, 0.5, "optimal"],
                              "n_steps": [1, 2, 3]},
                             cv=3, scoring="neg_mean_squared_error").fit(X, Y)
    assert len(search.cv_results_["params"]) == len(reference.cv_results_["params"]) == 18
    assert search.cv_results_["params"] == reference.cv_results_["params"]
    assert_allclose(search.cv_results_["mean_test_score"],
                    reference.cv_results_["mean_test_score"], rtol=1e-8)
    with_limit = SelfDistilledKernelRidgeCV(reg_lambdas=[0.1, 1.0], alphas=[0.0, 0.5],
                                            max_steps=3, kernel="rbf", cv=3).fit(X, Y)
    assert len(with_limit.cv_results_["params"]) == 2 * 2 * 4


# --- precomputed kernels ---------------------------------------------------------------------

K = pairwise_kernels(X, metric="rbf", gamma=0.2)


@pytest.mark.parametrize("alpha", [0.5, "optimal"])
def test_sparse_precomputed_kernels_equal_dense_ones(alpha):
    dense = SelfDistilledKernelRidge(alpha=alpha, n_steps=3, kernel="precomputed", cv=3).fit(K, Y)
    csr = SelfDistilledKernelRidge(alpha=alpha, n_steps=3, kernel="precomputed", cv=3).fit(
        sparse.csr_matrix(K), Y)
    assert_allclose(csr.predict(sparse.csc_matrix(K[:5])), dense.predict(K[:5]), rtol=1e-12)
    assert_allclose(csr.alphas_, dense.alphas_, rtol=1e-12)
    assert_allclose(csr.spectral_shrinkage(X=sparse.csr_matrix(K[:10, :10])).diagonals,
                    dense.spectral_shrinkage(X=K[:10, :10]).diagonals, rtol=1e-12)
    with_val = SelfDistilledKernelRidge(alpha="optimal", n_steps=3, kernel="precomputed").fit(
        sparse.csr_matrix(K[:20, :20]), Y[:20], X_val=sparse.csr_matrix(K[20:, :20]),
        y_val=Y[20:])
    reference = SelfDistilledKernelRidge(alpha="optimal", n_steps=3, kernel="precomputed").fit(
        K[:20, :20], Y[:20], X_val=K[20:, :20], y_val=Y[20:])
    assert_allclose(with_val.alphas_, reference.alphas_, rtol=1e-12)


def test_sparse_precomputed_kernels_in_the_search_equal_dense_ones():
    params = dict(reg_lambdas=[0.1, 1.0], alphas=[0.5, "optimal"], max_steps=2,
                  kernel="precomputed", cv=3, alpha_cv=3)
    dense = SelfDistilledKernelRidgeCV(**params).fit(K, Y)
    csr = SelfDistilledKernelRidgeCV(**params).fit(sparse.csr_matrix(K), Y)
    assert_allclose(csr.cv_results_["mean_test_score"], dense.cv_results_["mean_test_score"],
                    rtol=1e-12)
    assert_allclose(csr.predict(sparse.csr_matrix(K[:4])), dense.predict(K[:4]), rtol=1e-12)


ASYMMETRIC = K + 0.1 * np.triu(RNG.uniform(size=K.shape), 1)


@pytest.mark.parametrize("fit", [
    lambda: SelfDistilledKernelRidge(kernel="precomputed").fit(ASYMMETRIC, Y),
    lambda: SelfDistilledKernelRidge(kernel="precomputed", alpha="optimal", cv=3).fit(
        ASYMMETRIC, Y),
    lambda: SelfDistilledKernelRidgeCV(kernel="precomputed", cv=3).fit(ASYMMETRIC, Y),
    lambda: SelfDistilledKernelRidge(kernel="precomputed").fit(K, Y).spectral_shrinkage(
        X=ASYMMETRIC),
], ids=["plain", "optimal", "search", "spectral_shrinkage"])
def test_a_non_symmetric_precomputed_kernel_is_refused(fit):
    with pytest.raises(ValueError, match="X must be a symmetric kernel matrix"):
        fit()


def test_a_kernel_symmetric_within_rounding_is_accepted():
    noise = 1e-12 * RNG.normal(size=K.shape)
    ours = SelfDistilledKernelRidge(n_steps=1, kernel="precomputed",
                                    fit_intercept=False).fit(K + noise, Y)
    reference = KernelRidge(kernel="precomputed").fit(K, Y)
    assert_allclose(ours.predict(K), reference.predict(K), rtol=1e-8)
    K32 = K.astype(np.float32)
    K32[0, 1] = np.nextafter(K32[0, 1], np.float32(2))
    SelfDistilledKernelRidge(kernel="precomputed").fit(K32, Y)


# --- validation data --------------------------------------------------------------------------

FRAME = pd.DataFrame(X, columns=list("abcd"))


@pytest.mark.parametrize("X_val", [FRAME[list("dcba")], FRAME.rename(columns={"d": "e"})],
                         ids=["reordered", "renamed"])
def test_validation_data_with_other_feature_names_is_refused(X_val):
    with pytest.raises(ValueError, match="X_val must have the feature names of X"):
        SelfDistilledKernelRidge(alpha="optimal").fit(FRAME, Y, X_val=X_val, y_val=Y)
    with pytest.raises(ValueError, match="X_val must have the feature names of X"):
        SelfDistilledKernelRidge(alpha=0.5).fit(FRAME, Y, X_val=X_val, y_val=Y)


def test_validation_data_with_the_same_feature_names_equals_arrays():
    framed = SelfDistilledKernelRidge(alpha="optimal", n_steps=3).fit(
        FRAME[:20], Y[:20], X_val=FRAME[20:], y_val=Y[20:])
    arrays = SelfDistilledKernelRidge(alpha="optimal", n_steps=3).fit(
        X[:20], Y[:20], X_val=X[20:], y_val=Y[20:])
    assert_allclose(framed.alphas_, arrays.alphas_, rtol=1e-12)
