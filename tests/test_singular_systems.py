"""Singular systems, non-finite kernels and float32 input: never NaN, never
silent garbage, the accuracy of KernelRidge or better."""

import math
import warnings

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose
from scipy import linalg
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import Ridge
from sklearn.metrics import get_scorer
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.model_selection import GridSearchCV, KFold

from selfdistill_sklearn import SelfDistilledKernelRidge
from selfdistill_sklearn.model_selection import SelfDistilledKernelRidgeCV

RNG = np.random.default_rng(0)
X = RNG.normal(size=(30, 4))
Y = X[:, 0]
Z = RNG.normal(size=(18, 3))
YZ = Z[:, 0] + 0.1 * RNG.normal(size=18)
REPEATED = np.repeat(X[:10], 3, axis=0)
# Rank 3: K + I is singular for every subset of the samples.
INDEFINITE = Z @ Z.T - np.eye(18)
SWAPS = np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=float)


def _quiet_kernel_ridge(**params):
    """KernelRidge fits that may take its least-squares fallback silently."""
    class Quiet(KernelRidge):
        def fit(self, *args, **kwargs):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return super().fit(*args, **kwargs)
    return Quiet(**params)


SINGULAR_CASES = {
    # a tiny penalty on a rank-4 linear kernel of repeated rows
    "repeated rows": (REPEATED, Y, {"kernel": "linear"}, 1e-300, None),
    # K + lambda I singular for an indefinite precomputed kernel
    "swaps": (SWAPS, np.array([1.0, 0.5, -0.5, 0.0]), {"kernel": "precomputed"}, 1.0, None),
    "rank three minus identity": (INDEFINITE, YZ, {"kernel": "precomputed"}, 1.0, None),
    "weighted": (REPEATED, Y, {"kernel": "linear"}, 1e-300, RNG.uniform(0.5, 2.0, size=30)),
}


def _kernel_matrix(data, params):
    return data if params["kernel"] == "precomputed" else data @ data.T


def _bordered_least_squares(data, y, params, reg_lambda, weights):
    """Training predictions ``K c + b`` of the intercept model from the minimum
    norm least-squares solution of the bordered system ``[[S K S + lambda I,
    s], [s^T, 0]] [S^-1 c; b] = [S y; 0]``, ``s = sqrt(w)``, by brute force.
    For the systems here (``S K S + lambda I`` positive semi-definite) it is
    also the least-squares solution of the centred system with the intercept
    that is optimal for it."""
    K = _kernel_matrix(data, params)
    n = K.shape[0]
    s = np.ones(n) if weights is None else np.sqrt(weights)
    bordered = np.zeros((n + 1, n + 1))
    bordered[:n, :n] = s[:, None] * K * s[None, :] + reg_lambda * np.eye(n)
    bordered[:n, n] = bordered[n, :n] = s
    rhs = np.append(s * y, 0.0)
    solution = np.linalg.lstsq(bordered, rhs, rcond=n * np.finfo(float).eps)[0]
    return K @ (s * solution[:n]) + solution[n]


@pytest.mark.parametrize("case", SINGULAR_CASES)
def test_a_singular_system_gives_kernel_ridges_least_squares_solution(case):
    data, y, params, reg_lambda, weights = SINGULAR_CASES[case]
    with pytest.warns(linalg.LinAlgWarning, match="numerically singular"):
        ours = SelfDistilledKernelRidge(n_steps=1, reg_lambda=reg_lambda, fit_intercept=False,
                                        **params).fit(data, y, sample_weight=weights)
    reference = _quiet_kernel_ridge(alpha=reg_lambda, **params).fit(
        data, y, sample_weight=weights)
    prediction = ours.predict(data)
    assert np.all(np.isfinite(prediction))
    assert_allclose(prediction, reference.predict(data), atol=1e-10)


@pytest.mark.parametrize("case", SINGULAR_CASES)
def test_a_singular_system_with_an_intercept_gives_its_least_squares_solution(case):
    data, y, params, reg_lambda, weights = SINGULAR_CASES[case]
    with pytest.warns(linalg.LinAlgWarning, match="numerically singular"):
        ours = SelfDistilledKernelRidge(n_steps=1, reg_lambda=reg_lambda, **params).fit(
            data, y, sample_weight=weights)
    prediction = ours.predict(data)
    assert np.all(np.isfinite(prediction))
    expected = _bordered_least_squares(data, y, params, reg_lambda, weights)
    assert_allclose(prediction, expected, atol=1e-9)
    # The intercept is exactly optimal: the weighted training residual sums to 0.
    assert abs(np.average(y - prediction, weights=weights)) < 1e-10


@pytest.mark.parametrize("weighted", [False, True])
def test_a_singular_linear_kernel_with_an_intercept_is_ridge(weighted):
    # Noisy targets: the least-squares fit with an intercept does not
    # interpolate, so a wrong intercept shows.
    y = X[:, 0] + 0.3 * RNG.normal(size=30)
    weights = RNG.uniform(0.5, 2.0, size=30) if weighted else None
    with pytest.warns(linalg.LinAlgWarning, match="numerically singular"):
        ours = SelfDistilledKernelRidge(n_steps=1, reg_lambda=1e-300).fit(
            REPEATED, y, sample_weight=weights)
    # X of the repeated rows has full column rank once centred: Ridge's system
    # is regular, and its solution is the least-squares fit with an intercept.
    ridge = Ridge(alpha=1e-300).fit(REPEATED, y, sample_weight=weights)
    assert_allclose(ours.predict(X), ridge.predict(X), atol=1e-9)
    assert_allclose(ours.intercept_, ridge.intercept_, atol=1e-9)


def test_the_singular_examples_give_the_least_squares_values():
    with pytest.warns(linalg.LinAlgWarning):
        swaps = SelfDistilledKernelRidge(n_steps=1, kernel="precomputed",
                                         fit_intercept=False).fit(SWAPS, [2.0, 2.0, -1.0, -1.0])
    # K + I has the blocks [[1, 1], [1, 1]], whose pseudo-inverse is a quarter of
    # themselves: c = K c = (y_i + y_j) / 4 on each pair, KernelRidge's values.
    assert_allclose(swaps.predict(SWAPS), [1.0, 1.0, -0.5, -0.5], atol=1e-12)
    with pytest.warns(linalg.LinAlgWarning):
        swaps = SelfDistilledKernelRidge(n_steps=1, kernel="precomputed").fit(
            SWAPS, [2.0, 2.0, -1.0, -1.0])
    # With an intercept the bordered system is consistent: (K + I) c = y - b 1
    # needs equal targets on each pair (p = 2 - b, q = -1 - b) and 1^T c = 0
    # needs p + q = 0, so b = 1/2, c = (3/4, 3/4, -3/4, -3/4) and K c + b
    # = (5/4, 5/4, -1/4, -1/4).
    assert_allclose(swaps.intercept_, 0.5, atol=1e-12)
    assert_allclose(swaps.dual_coef_, [0.75, 0.75, -0.75, -0.75], atol=1e-12)
    assert_allclose(swaps.predict(SWAPS), [1.25, 1.25, -0.25, -0.25], atol=1e-12)
    y = Y + 0.3 * RNG.normal(size=30)
    for fit_intercept in [False, True]:
        with pytest.warns(linalg.LinAlgWarning):
            repeated = SelfDistilledKernelRidge(n_steps=3, reg_lambda=1e-300,
                                                fit_intercept=fit_intercept).fit(REPEATED, y)
        # With lambda -> 0 every step is the least-squares linear fit (with an
        # intercept: on the columns and the constant), a projection.
        design = np.column_stack([REPEATED, np.ones(30)]) if fit_intercept else REPEATED
        projection = design @ np.linalg.lstsq(design, y, rcond=None)[0]
        for prediction in repeated.staged_predict(REPEATED):
            assert_allclose(prediction, projection, atol=1e-9)


def _refit(data, targets, params, reg_lambda, weights, fit_intercept):
    """Training predictions of one fit, by a reference that shares no code with
    the estimator: KernelRidge without intercept, the bordered least squares
    with one."""
    if fit_intercept:
        return _bordered_least_squares(data, targets, params, reg_lambda, weights)
    return _quiet_kernel_ridge(alpha=reg_lambda, **params).fit(
        data, targets, sample_weight=weights).predict(data)


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("case", ["repeated rows", "rank three minus identity", "weighted"])
@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_every_step_of_a_singular_system_equals_refits(case, alpha, fit_intercept):
    data, y, params, reg_lambda, weights = SINGULAR_CASES[case]
    y = y + 2.0  # a mean that the intercept must carry
    with pytest.warns(linalg.LinAlgWarning):
        ours = SelfDistilledKernelRidge(alpha=alpha, n_steps=4, reg_lambda=reg_lambda,
                                        fit_intercept=fit_intercept,
                                        **params).fit(data, y, sample_weight=weights)
    targets = y
    for prediction in ours.staged_predict(data):
        expected = _refit(data, targets, params, reg_lambda, weights, fit_intercept)
        assert_allclose(prediction, expected, atol=1e-9)
        targets = alpha * y + (1 - alpha) * expected


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_the_limit_on_a_singular_system_is_kernel_ridge_with_its_penalty(fit_intercept):
    # lambda / alpha = 1 makes INDEFINITE + I singular.
    with pytest.warns(linalg.LinAlgWarning):
        ours = SelfDistilledKernelRidge(alpha=0.5, n_steps=math.inf, reg_lambda=0.5,
                                        kernel="precomputed", fit_intercept=fit_intercept).fit(
            INDEFINITE, YZ + 2.0)
    expected = _refit(INDEFINITE, YZ + 2.0, {"kernel": "precomputed"}, 1.0, None, fit_intercept)
    assert_allclose(ours.predict(INDEFINITE), expected, atol=1e-10)


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("data, reg_lambdas", [
    (INDEFINITE, [1.0, 2.5]),
    (np.repeat(Z[:6], 3, axis=0) @ np.repeat(Z[:6], 3, axis=0).T, [1e-300, 0.1]),
], ids=["indefinite", "tiny penalty"])
def test_singular_shifts_of_the_search_equal_grid_search(data, reg_lambdas, fit_intercept):
    with pytest.warns(linalg.LinAlgWarning):
        search = SelfDistilledKernelRidgeCV(
            reg_lambdas=reg_lambdas, alphas=[0.5, "optimal"], max_steps=3,
            kernel="precomputed", cv=KFold(3), alpha_cv=2,
            fit_intercept=fit_intercept).fit(data, YZ)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        reference = GridSearchCV(
            SelfDistilledKernelRidge(kernel="precomputed", cv=2, fit_intercept=fit_intercept),
            search.param_grid_, cv=KFold(3), scoring="neg_mean_squared_error").fit(data, YZ)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores))
    assert_allclose(scores, reference.cv_results_["mean_test_score"], rtol=1e-10)
    assert np.all(np.isfinite(search.optimal_alphas_))


def _nan_kernel(a, b):
    return np.nan


NON_FINITE = [
    ({"kernel": _nan_kernel}, "_nan_kernel"),
    ({"kernel": "poly", "gamma": 1e200}, "'poly'"),
    ({"kernel": "rbf", "gamma": 1e300, "coef0": 0}, None),  # underflows to 0: finite
]


@pytest.mark.parametrize("params, name", NON_FINITE)
@pytest.mark.parametrize("estimator", [
    lambda **p: SelfDistilledKernelRidge(n_steps=2, **p),
    lambda **p: SelfDistilledKernelRidge(alpha="optimal", n_steps=2, cv=3, **p),
    lambda **p: SelfDistilledKernelRidgeCV(reg_lambdas=[1.0], alphas=[0.5], max_steps=2,
                                           cv=3, **p),
], ids=["fixed", "optimal", "search"])
def test_a_non_finite_kernel_is_refused_with_its_name(estimator, params, name):
    if name is None:
        assert np.all(np.isfinite(estimator(**params).fit(X, Y).predict(X)))
        return
    with pytest.raises(ValueError, match=f"kernel {name} gave non-finite values"):
        estimator(**params).fit(X, Y)


@pytest.mark.parametrize("method", ["predict", "staged_predict"])
def test_a_kernel_that_overflows_at_prediction_is_refused(method):
    model = SelfDistilledKernelRidge(kernel="poly", gamma=1.0, degree=3).fit(X, Y)
    far = X * 1e120
    with pytest.raises(ValueError, match="kernel 'poly' gave non-finite values"):
        result = getattr(model, method)(far)
        list(result) if method == "staged_predict" else result


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_float32_input_is_factored_in_float64(fit_intercept):
    X32 = np.random.default_rng(1).normal(size=(300, 6)).astype(np.float32)
    y = (np.sin(X32[:, 0]) + 3.0).astype(np.float32)
    X64 = X32.astype(np.float64)
    params = {"kernel": "rbf", "gamma": 0.2, "fit_intercept": fit_intercept}
    ours = SelfDistilledKernelRidge(n_steps=3, alpha=0.3, reg_lambda=1e-6, **params).fit(X32, y)
    reference = SelfDistilledKernelRidge(n_steps=3, alpha=0.3, reg_lambda=1e-6,
                                         **params).fit(X64, y.astype(np.float64))
    for got, expected in zip(ours.staged_predict(X32), reference.staged_predict(X64),
                             strict=True):
        assert got.dtype == np.float64
        assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
    # KernelRidge (float32 kernel) is far from the float64 result; we are not.
    # With an intercept, both are KernelRidge on the kernel and targets
    # centred (the intercept model of closed_forms.intercept_solver), plus the
    # mean: in float32 and in float64.
    def kernel_ridge(X_, y_):
        kernel = rbf_kernel(X_, gamma=0.2)
        offset = np.mean(y_) if fit_intercept else y_.dtype.type(0)
        if fit_intercept:
            kernel = kernel - kernel.mean(axis=0) - kernel.mean(axis=1)[:, None] + kernel.mean()
        return KernelRidge(alpha=1e-6, kernel="precomputed").fit(
            kernel, y_ - offset).predict(kernel) + offset

    theirs = kernel_ridge(X32, y)
    truth = kernel_ridge(X64, y.astype(np.float64))
    assert theirs.dtype == np.float32
    ours_error = np.max(np.abs(next(ours.staged_predict(X32)) - truth))
    assert ours_error < 1e-8 < np.max(np.abs(theirs - truth))
    search = SelfDistilledKernelRidgeCV(reg_lambdas=[1e-6, 1e-2], alphas=[0.3], max_steps=2,
                                        cv=3, **params)
    scores32 = search.fit(X32, y).cv_results_["mean_test_score"]
    scores64 = search.fit(X64, y.astype(np.float64)).cv_results_["mean_test_score"]
    assert_allclose(scores32, scores64, rtol=1e-9)


def test_a_singular_bordered_system_gives_the_weighted_mean_at_every_step():
    # K + lambda I = diag(1, -1) is regular, but 1^T R 1 = 0: the bordered
    # system is singular (its block on the complement of 1 is 0), the least
    # squares give c = 0 and the intercept the mean of the targets. Without
    # the fallback this refused to fit.
    K = np.diag([0.5, -1.5])
    with pytest.warns(linalg.LinAlgWarning, match="numerically singular"):
        model = SelfDistilledKernelRidge(alpha=0.3, n_steps=3, reg_lambda=0.5,
                                         kernel="precomputed").fit(K, [3.0, 1.0])
    for prediction in model.staged_predict(K):
        assert_allclose(prediction, [2.0, 2.0], atol=1e-14)
    assert_allclose(model.predict(np.array([[4.0, -7.0]])), [2.0], atol=1e-14)


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_weighted_singular_shifts_of_the_search_equal_grid_search(fit_intercept):
    # Zero weights too: their samples leave the systems of the folds.
    data = np.repeat(Z[:6], 3, axis=0) @ np.repeat(Z[:6], 3, axis=0).T
    weights = np.random.default_rng(3).integers(0, 4, size=18).astype(float)
    weights[:3] = 1.0
    with pytest.warns(linalg.LinAlgWarning):
        search = SelfDistilledKernelRidgeCV(
            reg_lambdas=[1e-300, 0.1], alphas=[0.5, "optimal"], max_steps=3,
            kernel="precomputed", cv=KFold(3), alpha_cv=2,
            fit_intercept=fit_intercept).fit(data, YZ + 2.0, sample_weight=weights)
    with warnings.catch_warnings(), sklearn.config_context(enable_metadata_routing=True):
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        base = SelfDistilledKernelRidge(kernel="precomputed", cv=2, fit_intercept=fit_intercept)
        base.set_fit_request(sample_weight=True, X_val=False, y_val=False)
        scorer = get_scorer("neg_mean_squared_error").set_score_request(sample_weight=True)
        reference = GridSearchCV(base, search.param_grid_, cv=KFold(3), scoring=scorer).fit(
            data, YZ + 2.0, sample_weight=weights)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores))
    assert_allclose(scores, reference.cv_results_["mean_test_score"], rtol=1e-10)
    assert np.all(np.isfinite(search.optimal_alphas_))
    assert search.best_params_ == reference.best_params_


def _bordered_singular_indefinite():
    """``K + I / 2 = U [[0, 1, 0], [1, 0, 0], [0, 0, 1]] U^T`` with ``U`` orthogonal,
    first column ``1 / sqrt(3)``: regular and indefinite, but its block on the
    complement of 1 is ``diag(0, 1)``, singular, and the constant direction is
    coupled to that block's null space."""
    U = np.linalg.qr(np.column_stack([np.ones(3), [1.0, -1.0, 0.0], [1.0, 1.0, -2.0]]))[0]
    system = U @ np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]) @ U.T
    kernel = system - 0.5 * np.eye(3)
    return (kernel + kernel.T) / 2


SHIFT_CASES = {
    **SINGULAR_CASES,
    # K + lambda I = diag(0, 1.5, -1.5, 3.5): singular only along a direction
    # that the intercept takes up; the bordered system is regular.
    "singular along the constant": (np.diag([-0.5, 1.0, -2.0, 3.0]),
                                    np.array([1.0, -2.0, 0.5, 3.0]),
                                    {"kernel": "precomputed"}, 0.5, None),
    # The minimum-norm least squares of the bordered system move by (5.93,
    # 8.07, 7) when 7 is added to y: they trade the residual of the
    # constraint 1^T c = 0 against the others. Those of the centred model,
    # with the intercept optimal for them, move by 7.
    "bordered singular": (_bordered_singular_indefinite(), np.array([1.0, -2.0, 0.5]),
                          {"kernel": "precomputed"}, 0.5, None),
}


@pytest.mark.parametrize("case", SHIFT_CASES)
def test_a_constant_added_to_y_moves_every_singular_step_by_it(case):
    data, y, params, reg_lambda, weights = SHIFT_CASES[case]
    fits = []
    for shift in (0.0, 7.0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", linalg.LinAlgWarning)
            fits.append(SelfDistilledKernelRidge(alpha=0.3, n_steps=3, reg_lambda=reg_lambda,
                                                 **params).fit(data, y + shift,
                                                               sample_weight=weights))
    for moved, prediction in zip(fits[1].staged_predict(data), fits[0].staged_predict(data),
                                 strict=True):
        assert_allclose(moved, prediction + 7.0, atol=1e-9)
    if case == "bordered singular":
        with pytest.warns(linalg.LinAlgWarning, match="numerically singular"):
            SelfDistilledKernelRidge(n_steps=1, reg_lambda=0.5, kernel="precomputed").fit(data, y)
