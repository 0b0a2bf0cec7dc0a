"""SelfDistilledKernelRidge against independent references.

The references are scikit-learn's ``KernelRidge`` (without intercept) or a
brute-force solve of the normal equations of kernel ridge regression with an
unpenalised intercept, refitted step by step on the blended targets of eqs.
(3)-(5), scikit-learn's ``Ridge``, and brute-force searches over ``alpha``.
"""

import math
import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.optimize import minimize_scalar
from sklearn.base import clone
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import Ridge
from sklearn.metrics.pairwise import pairwise_kernels
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from selfdistill_sklearn import SelfDistilledKernelRidge
from selfdistill_sklearn.closed_forms import (
    DEGENERATE_ALPHA,
    optimal_alpha,
    optimal_alpha_scale,
    shrinkage_diagonals,
)

RTOL = 1e-8
KERNELS = [
    ("linear", {}),
    ("rbf", {"gamma": 0.3}),
    ("laplacian", {"gamma": 0.2}),
    ("polynomial", {"degree": 2, "gamma": 0.5, "coef0": 1.0}),
]


def make_data(n=60, n_features=3, n_targets=None, n_val=25, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    X_val = rng.normal(size=(n_val, n_features))
    X_new = rng.normal(size=(15, n_features))
    coef = rng.normal(size=(n_features,) if n_targets is None else (n_features, n_targets))

    def target(Z):
        clean = np.sin(Z) @ coef
        return clean + 0.3 * rng.normal(size=clean.shape)

    return X, target(X), X_val, target(X_val), X_new


class InterceptKernelRidge:
    """Kernel ridge regression with an unpenalised intercept by brute force: the
    normal equations ``W (K c + b 1 - u) + lambda c = 0`` and ``1^T W (K c + b 1 -
    u) = 0`` of ``min sum_i w_i (f(x_i) - u_i)^2 + lambda c^T K c`` solved as
    one dense system of ``n + 1`` unknowns (no factorisation is shared)."""

    def __init__(self, alpha=1.0, kernel="linear", **params):
        self.alpha, self.kernel, self.params = alpha, kernel, params

    def _kernel(self, X, Y=None):
        return pairwise_kernels(X, Y, metric=self.kernel, filter_params=True, **self.params)

    def fit(self, X, y, sample_weight=None):
        n = len(X)
        w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        K = self._kernel(X)
        system = np.zeros((n + 1, n + 1))
        system[:n, :n] = w[:, None] * K + self.alpha * np.eye(n)
        system[:n, n] = w
        system[n, :n] = w @ K
        system[n, n] = w.sum()
        y = np.asarray(y, dtype=float)
        rhs = np.concatenate([w.reshape((-1,) + (1,) * (y.ndim - 1)) * y, (w @ y)[None]])
        solution = np.linalg.solve(system, rhs)
        self.dual_coef_, self.intercept_ = solution[:n], solution[n]
        self.X_fit_ = X
        return self

    def predict(self, X):
        return self._kernel(X, self.X_fit_) @ self.dual_coef_ + self.intercept_


def reference_model(reg_lambda, kernel_kwargs, fit_intercept):
    if fit_intercept:
        return InterceptKernelRidge(alpha=reg_lambda, **kernel_kwargs)
    return KernelRidge(alpha=reg_lambda, **kernel_kwargs)


def refit_chain(X, y, alphas, reg_lambda, kernel_kwargs, sample_weight=None,
                fit_intercept=False):
    """Eqs. (3)-(5) literally: one KernelRidge fit (or one fit with an intercept)
    per step on blended targets."""
    models = []
    targets = y
    for step in range(len(alphas) + 1):
        if step > 0:
            alpha = alphas[step - 1]
            targets = alpha * y + (1 - alpha) * models[-1].predict(X)
        models.append(reference_model(reg_lambda, kernel_kwargs, fit_intercept).fit(
            X, targets, sample_weight))
    return models


def kernel_kwargs(name, params):
    return {"kernel": name, **params}


# --- n_steps = 1, alpha = 1 and the limit against KernelRidge -----------------------------


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("kernel,params", KERNELS)
@pytest.mark.parametrize("n_targets", [None, 2])
def test_one_step_is_kernel_ridge(kernel, params, n_targets, fit_intercept):
    X, y, _, _, X_new = make_data(n_targets=n_targets)
    y = y + 5.0  # a mean that an intercept must take up
    ours = SelfDistilledKernelRidge(alpha=0.3, n_steps=1, reg_lambda=0.7, kernel=kernel,
                                    fit_intercept=fit_intercept, **params).fit(X, y)
    reference = reference_model(0.7, kernel_kwargs(kernel, params), fit_intercept).fit(X, y)
    assert ours.alphas_.shape == (0,)
    assert_allclose(ours.predict(X_new), reference.predict(X_new), rtol=RTOL)
    assert_allclose(ours.dual_coef_, reference.dual_coef_, rtol=RTOL, atol=1e-12)
    assert_allclose(ours.intercept_, reference.intercept_ if fit_intercept else 0.0, rtol=RTOL)


@pytest.mark.parametrize("sample_weight", [False, True])
@pytest.mark.parametrize("n_targets", [None, 3])
def test_one_step_linear_with_intercept_is_ridge(sample_weight, n_targets):
    X, y, _, _, X_new = make_data(n_targets=n_targets)
    y = 40.0 + 3.0 * y
    weights = np.random.default_rng(8).uniform(0.1, 4.0, len(X)) if sample_weight else None
    ours = SelfDistilledKernelRidge(alpha=0.5, n_steps=1, reg_lambda=2.5).fit(
        X, y, sample_weight=weights)
    reference = Ridge(alpha=2.5).fit(X, y, sample_weight=weights)
    assert_allclose(ours.predict(X_new), reference.predict(X_new), rtol=RTOL)
    assert_allclose(ours.intercept_, reference.intercept_, rtol=RTOL)
    # The primal coefficients of the dual solution: X^T c.
    assert_allclose(X.T @ ours.dual_coef_, reference.coef_.T, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("kernel,params", KERNELS)
def test_alpha_one_is_kernel_ridge_at_every_step(kernel, params, fit_intercept):
    X, y, _, _, X_new = make_data()
    ours = SelfDistilledKernelRidge(alpha=1.0, n_steps=5, reg_lambda=0.4, kernel=kernel,
                                    fit_intercept=fit_intercept, **params).fit(X, y)
    reference = reference_model(0.4, kernel_kwargs(kernel, params), fit_intercept).fit(
        X, y).predict(X_new)
    staged = list(ours.staged_predict(X_new))
    assert len(staged) == 5
    for prediction in staged:
        assert_allclose(prediction, reference, rtol=RTOL)


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("kernel,params", KERNELS)
@pytest.mark.parametrize("alpha", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("n_targets", [None, 3])
def test_infinite_steps_is_kernel_ridge_with_amplified_penalty(kernel, params, alpha, n_targets,
                                                              fit_intercept):
    X, y, _, _, X_new = make_data(n_targets=n_targets)
    ours = SelfDistilledKernelRidge(alpha=alpha, n_steps=math.inf, reg_lambda=0.5,
                                    kernel=kernel, fit_intercept=fit_intercept,
                                    **params).fit(X, y)
    reference = reference_model(0.5 / alpha, kernel_kwargs(kernel, params),
                                fit_intercept).fit(X, y)
    assert_allclose(ours.predict(X_new), reference.predict(X_new), rtol=RTOL)
    assert_allclose(ours.predict(X), reference.predict(X), rtol=RTOL)
    assert_allclose(ours.alphas_, [alpha])


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_infinite_steps_is_the_end_of_many_finite_steps(fit_intercept):
    X, y, _, _, X_new = make_data()
    kwargs = {"kernel": "rbf", "gamma": 0.3, "fit_intercept": fit_intercept}
    limit = SelfDistilledKernelRidge(alpha=0.3, n_steps=math.inf, reg_lambda=0.5,
                                     **kwargs).fit(X, y).predict(X_new)
    # (1 - alpha) * max(a) < 0.7, so 150 steps leave a distance below 0.7**150.
    many = SelfDistilledKernelRidge(alpha=0.3, n_steps=150, reg_lambda=0.5,
                                    **kwargs).fit(X, y).predict(X_new)
    assert_allclose(many, limit, rtol=1e-10, atol=1e-12)


def test_infinite_steps_with_alpha_zero_and_an_intercept_is_the_weighted_mean():
    X, y, _, _, X_new = make_data(n_targets=2)
    weights = np.random.default_rng(3).uniform(0.1, 2.0, len(X))
    model = SelfDistilledKernelRidge(alpha=0.0, n_steps=math.inf, reg_lambda=0.5,
                                     kernel="rbf").fit(X, y, sample_weight=weights)
    mean = weights @ y / weights.sum()
    assert_allclose(model.predict(X_new), np.tile(mean, (len(X_new), 1)), rtol=1e-12)
    # The end of many finite steps with alpha = 0: everything but the mean shrinks away.
    # (a penalty that makes max(a) < 0.6, so that 400 steps leave nothing else).
    many = SelfDistilledKernelRidge(alpha=0.0, n_steps=400, reg_lambda=50.0, kernel="rbf").fit(
        X, y, sample_weight=weights)
    assert_allclose(many.predict(X_new), model.predict(X_new), rtol=1e-10)
    assert np.array_equal(model.dual_coef_, np.zeros_like(y))


def test_infinite_steps_with_alpha_zero_is_the_zero_function():
    X, y, _, _, X_new = make_data(n_targets=2)
    model = SelfDistilledKernelRidge(alpha=0.0, n_steps=math.inf, reg_lambda=0.5,
                                     kernel="rbf", fit_intercept=False).fit(X, y)
    assert np.array_equal(model.predict(X_new), np.zeros((len(X_new), 2)))
    with pytest.raises(ValueError, match="staged_predict needs a finite n_steps"):
        next(model.staged_predict(X_new))
    # An alpha so small that reg_lambda / alpha overflows is the zero function too.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tiny = SelfDistilledKernelRidge(alpha=5e-324, n_steps=math.inf, reg_lambda=1.0,
                                        kernel="rbf", fit_intercept=False).fit(X, y)
    assert np.array_equal(tiny.predict(X_new), np.zeros((len(X_new), 2)))


# --- every step against step-by-step refits ------------------------------------------------


@pytest.mark.parametrize("kernel,params", KERNELS)
@pytest.mark.parametrize(
    "alpha", [0.0, 0.25, 0.8, [0.2, 0.7, 0.0, 0.95], [1.3, -0.4, 0.5, 2.0]],
    ids=["0", "0.25", "0.8", "schedule", "schedule-outside-unit-interval"],
)
@pytest.mark.parametrize("n_targets", [None, 2])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_staged_predict_equals_refits(kernel, params, alpha, n_targets, fit_intercept):
    X, y, _, _, X_new = make_data(n_targets=n_targets)
    y = y + 3.0
    model = SelfDistilledKernelRidge(alpha=alpha, n_steps=5, reg_lambda=0.6, kernel=kernel,
                                     fit_intercept=fit_intercept, **params).fit(X, y)
    alphas = np.broadcast_to(alpha, (4,))
    assert_allclose(model.alphas_, alphas)
    references = refit_chain(X, y, alphas, 0.6, kernel_kwargs(kernel, params),
                             fit_intercept=fit_intercept)
    staged = list(model.staged_predict(X_new))
    assert len(staged) == len(references) == 5
    for prediction, reference in zip(staged, references, strict=True):
        assert_allclose(prediction, reference.predict(X_new), rtol=RTOL, atol=1e-12)
    assert_allclose(model.predict(X_new), references[-1].predict(X_new), rtol=RTOL)
    assert_allclose(model.dual_coef_, references[-1].dual_coef_, rtol=RTOL, atol=1e-12)
    if fit_intercept:
        assert_allclose(model.staged_intercept_, [r.intercept_ for r in references], rtol=RTOL)
        assert_allclose(model.intercept_, references[-1].intercept_, rtol=RTOL)
    else:
        assert not np.any(model.staged_intercept_) and not np.any(model.intercept_)


@pytest.mark.parametrize("n_targets", [None, 2])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_optimal_with_validation_data_equals_refits(n_targets, fit_intercept):
    X, y, X_val, y_val, X_new = make_data(n_targets=n_targets)
    model = SelfDistilledKernelRidge(alpha="optimal", n_steps=5, reg_lambda=0.05,
                                     kernel="rbf", gamma=0.3, fit_intercept=fit_intercept).fit(
        X, y, X_val=X_val, y_val=y_val)
    references = refit_chain(X, y, model.alphas_, 0.05, {"kernel": "rbf", "gamma": 0.3},
                             fit_intercept=fit_intercept)
    for prediction, reference in zip(model.staged_predict(X_new), references, strict=True):
        assert_allclose(prediction, reference.predict(X_new), rtol=RTOL, atol=1e-12)


def brute_force_minimiser(error, low, high, n_grid=41):
    """Minimise ``error`` over [low, high] by a grid, then refine the best cell with a
    bounded scalar search: a numerical reference independent of eq. (16)."""
    grid = np.linspace(low, high, n_grid)
    values = [error(a) for a in grid]
    best = int(np.argmin(values))
    cell = (grid[max(best - 1, 0)], grid[min(best + 1, n_grid - 1)])
    result = minimize_scalar(error, bounds=cell, method="bounded",
                             options={"xatol": 1e-9})
    return result.x if result.fun <= values[best] else grid[best]


def validation_error(X, y, X_val, y_val, previous_alphas, alpha, reg_lambda, kwargs,
                     sample_weight=None, fit_intercept=False):
    model = refit_chain(X, y, [*previous_alphas, alpha], reg_lambda, kwargs, sample_weight,
                        fit_intercept)[-1]
    residual = y_val - model.predict(X_val)
    return float(np.sum(residual**2))


@pytest.mark.parametrize("n_targets", [None, 2])
@pytest.mark.parametrize("clip,fit_intercept", [(False, False), (True, False), (False, True)])
def test_optimal_alpha_is_the_brute_force_minimiser(n_targets, clip, fit_intercept):
    X, y, X_val, y_val, _ = make_data(n=40, n_targets=n_targets, seed=3)
    kwargs = {"kernel": "rbf", "gamma": 0.5}
    model = SelfDistilledKernelRidge(alpha="optimal", n_steps=4, reg_lambda=0.02,
                                     clip_alpha=clip, fit_intercept=fit_intercept, **kwargs).fit(
        X, y, X_val=X_val, y_val=y_val)
    low, high = (0.0, 1.0) if clip else (-3.0, 3.0)
    for step, alpha_star in enumerate(model.alphas_):
        previous = list(model.alphas_[:step])

        def error(a, previous=previous):
            return validation_error(X, y, X_val, y_val, previous, a, 0.02, kwargs,
                                    fit_intercept=fit_intercept)

        best = brute_force_minimiser(error, low, high)
        assert abs(alpha_star - best) <= 1e-6
        assert error(alpha_star) <= error(best) * (1 + 1e-12)
    if clip:
        assert np.all((model.alphas_ >= 0) & (model.alphas_ <= 1))


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_optimal_alpha_without_validation_data_pools_the_folds(fit_intercept):
    """alphas_ from the cross-validated path minimise the summed held-out error."""
    X, y, _, _, X_new = make_data(n=45, seed=5)
    kwargs = {"kernel": "rbf", "gamma": 0.4}
    folds = list(KFold(3).split(X))
    model = SelfDistilledKernelRidge(alpha="optimal", n_steps=3, reg_lambda=0.03, cv=3,
                                     fit_intercept=fit_intercept, **kwargs).fit(X, y)
    for step, alpha_star in enumerate(model.alphas_):
        previous = list(model.alphas_[:step])

        def pooled(a, previous=previous):
            return sum(validation_error(X[train], y[train], X[test], y[test], previous, a, 0.03,
                                        kwargs, fit_intercept=fit_intercept)
                       for train, test in folds)

        assert abs(alpha_star - brute_force_minimiser(pooled, -3.0, 3.0)) <= 1e-6
    references = refit_chain(X, y, model.alphas_, 0.03, kwargs, fit_intercept=fit_intercept)
    assert_allclose(model.predict(X_new), references[-1].predict(X_new), rtol=RTOL)


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_weighted_optimal_alpha_without_validation_data_weights_the_held_out_errors(
        fit_intercept):
    X, y, _, _, _ = make_data(n=36, seed=6)
    weights = np.random.default_rng(7).uniform(0.1, 3.0, size=len(X))
    kwargs = {"kernel": "rbf", "gamma": 0.4}
    folds = list(KFold(3).split(X))
    model = SelfDistilledKernelRidge(alpha="optimal", n_steps=3, reg_lambda=0.03, cv=3,
                                     fit_intercept=fit_intercept, **kwargs).fit(
        X, y, sample_weight=weights)
    def pooled_error(previous, alpha):
        total = 0.0
        for train, test in folds:
            fitted = refit_chain(X[train], y[train], [*previous, alpha], 0.03, kwargs,
                                 weights[train], fit_intercept)[-1]
            total += float(np.sum(weights[test] * (y[test] - fitted.predict(X[test])) ** 2))
        return total

    for step, alpha_star in enumerate(model.alphas_):
        previous = list(model.alphas_[:step])
        best = brute_force_minimiser(lambda a, previous=previous: pooled_error(previous, a),
                                     -3.0, 3.0)
        assert abs(alpha_star - best) <= 1e-6


def test_optimal_alpha_with_vanishing_denominator_falls_back_to_one():
    X, y, _, _, X_new = make_data(n=30)
    # Validation points far from all training points: the rbf kernel underflows to
    # zero, both candidate predictions vanish and every alpha is as good as another.
    X_far = X[:5] + 1e3
    # Without an intercept: with one, both would predict their (different) intercepts.
    model = SelfDistilledKernelRidge(alpha="optimal", n_steps=4, reg_lambda=0.1, kernel="rbf",
                                     gamma=1.0, fit_intercept=False).fit(X, y, X_val=X_far,
                                                                         y_val=np.ones(5))
    assert_allclose(model.alphas_, [1.0, 1.0, 1.0])
    reference = KernelRidge(alpha=0.1, kernel="rbf", gamma=1.0).fit(X, y).predict(X_new)
    assert np.all(np.isfinite(model.predict(X_new)))
    assert_allclose(model.predict(X_new), reference, rtol=RTOL)


@pytest.mark.parametrize("factor", [1e-30, 1.0, 1e30])
def test_optimal_alpha_does_not_depend_on_the_units_of_the_validation_weights(factor):
    """The denominator of eq. (16) is compared with a scale in the same weighted
    norm: multiplying every weight by a constant changes neither the weight nor
    whether the denominator counts as zero."""
    rng = np.random.default_rng(0)
    y1, targets, weights = rng.normal(size=20), rng.normal(size=20), rng.uniform(1, 2, 20)
    flat = optimal_alpha(y1, y1 * (1 + 1e-10), targets, sample_weight=factor * weights)
    assert flat == DEGENERATE_ALPHA
    y0 = rng.normal(size=20)
    expected = optimal_alpha(y1, y0, targets, sample_weight=weights)
    assert optimal_alpha(y1, y0, targets, sample_weight=factor * weights) == pytest.approx(
        expected, rel=1e-12)
    assert optimal_alpha_scale(y1, y0, factor * weights) == pytest.approx(
        factor * np.sum(weights * (y1 ** 2 + y0 ** 2)), rel=1e-12)


# --- the intercept: a constant added to the targets ------------------------------------------


@pytest.mark.parametrize("alpha,validation", [
    (0.3, False), ([1.4, -0.2, 0.6], False), ("optimal", True), ("optimal", False)],
    ids=["fixed", "schedule", "optimal-validation", "optimal-cv"])
@pytest.mark.parametrize("n_targets", [None, 2])
@pytest.mark.parametrize("sample_weight", [False, True])
def test_a_constant_added_to_the_targets_moves_every_prediction_by_it(
        alpha, validation, n_targets, sample_weight):
    X, y, X_val, y_val, X_new = make_data(n=40, n_targets=n_targets, seed=11)
    weights = np.random.default_rng(12).uniform(0.2, 3.0, len(X)) if sample_weight else None
    shift = 1e3 if n_targets is None else np.array([1e3, -250.0])
    kwargs = {"alpha": alpha, "n_steps": 4, "reg_lambda": 0.05, "kernel": "rbf", "gamma": 0.4,
              "cv": 3}

    def fit(offset):
        extra = {"X_val": X_val, "y_val": y_val + offset} if validation else {}
        return SelfDistilledKernelRidge(**kwargs).fit(X, y + offset, sample_weight=weights,
                                                      **extra)

    base, moved = fit(0.0), fit(shift)
    atol = 1e-9 * np.max(np.abs(shift))
    assert_allclose(moved.alphas_, base.alphas_, rtol=0, atol=1e-7)
    for before, after in zip(base.staged_predict(X_new), moved.staged_predict(X_new),
                             strict=True):
        assert_allclose(after, before + shift, rtol=0, atol=atol)
    assert_allclose(moved.staged_intercept_, base.staged_intercept_ + shift, rtol=0, atol=atol)
    assert_allclose(moved.staged_dual_coef_, base.staged_dual_coef_, rtol=0, atol=atol)
    if not isinstance(alpha, str) and np.ndim(alpha) == 0:
        for limit_alpha in (0.0, alpha):
            limit = {**kwargs, "alpha": limit_alpha, "n_steps": math.inf}
            before = SelfDistilledKernelRidge(**limit).fit(X, y, sample_weight=weights)
            after = SelfDistilledKernelRidge(**limit).fit(X, y + shift, sample_weight=weights)
            assert_allclose(after.predict(X_new), before.predict(X_new) + shift, rtol=0,
                            atol=atol)


def test_without_an_intercept_distillation_shrinks_toward_zero_not_the_mean():
    """Why the intercept is the default: with a large mean and no intercept, more steps
    pull the predictions toward 0; with one, toward the mean."""
    X, y, _, _, X_new = make_data(n=60, seed=2)
    y = y + 50.0
    kwargs = {"alpha": 0.0, "n_steps": 6, "reg_lambda": 1.0, "kernel": "rbf", "gamma": 0.3}
    plain = SelfDistilledKernelRidge(fit_intercept=False, **kwargs).fit(X, y)
    centred = SelfDistilledKernelRidge(**kwargs).fit(X, y)
    plain_means = [p.mean() for p in plain.staged_predict(X_new)]
    assert plain_means[-1] < 0.8 * plain_means[0] < 40.0
    centred_means = [p.mean() for p in centred.staged_predict(X_new)]
    assert all(abs(m - y.mean()) < 3.0 for m in centred_means)


# --- sample weights ---------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, 0.4, [0.9, 0.1, 0.5]])
@pytest.mark.parametrize("n_targets", [None, 2])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_sample_weights_equal_weighted_refits(alpha, n_targets, fit_intercept):
    X, y, _, _, X_new = make_data(n_targets=n_targets)
    y = y - 7.0
    weights = np.random.default_rng(1).uniform(0.2, 3.0, size=len(X))
    kwargs = {"kernel": "rbf", "gamma": 0.3}
    model = SelfDistilledKernelRidge(alpha=alpha, n_steps=4, reg_lambda=0.3,
                                     fit_intercept=fit_intercept, **kwargs).fit(
        X, y, sample_weight=weights)
    references = refit_chain(X, y, np.broadcast_to(alpha, (3,)), 0.3, kwargs, weights,
                             fit_intercept)
    for prediction, reference in zip(model.staged_predict(X_new), references, strict=True):
        assert_allclose(prediction, reference.predict(X_new), rtol=RTOL)


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_zero_and_integer_weights_equal_removal_and_repetition(fit_intercept):
    X, y, _, _, X_new = make_data()
    weights = np.random.default_rng(2).integers(0, 4, size=len(X))
    weights[0] = 2
    kwargs = {"alpha": 0.3, "n_steps": 4, "reg_lambda": 0.2, "kernel": "rbf", "gamma": 0.3,
              "fit_intercept": fit_intercept}
    weighted = SelfDistilledKernelRidge(**kwargs).fit(X, y, sample_weight=weights)
    repeated = SelfDistilledKernelRidge(**kwargs).fit(np.repeat(X, weights, axis=0),
                                                      np.repeat(y, weights))
    assert_allclose(weighted.predict(X_new), repeated.predict(X_new), rtol=1e-7)


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_weighted_infinite_steps_is_weighted_kernel_ridge(fit_intercept):
    X, y, _, _, X_new = make_data()
    weights = np.random.default_rng(4).uniform(0.5, 2.0, size=len(X))
    ours = SelfDistilledKernelRidge(alpha=0.25, n_steps=math.inf, reg_lambda=0.5, kernel="rbf",
                                    gamma=0.3, fit_intercept=fit_intercept).fit(
        X, y, sample_weight=weights)
    reference = reference_model(2.0, {"kernel": "rbf", "gamma": 0.3}, fit_intercept).fit(
        X, y, weights)
    assert_allclose(ours.predict(X_new), reference.predict(X_new), rtol=RTOL)


# --- kernels: precomputed, callables, indefinite ----------------------------------------------


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_precomputed_kernel_equals_the_kernel_it_was_computed_with(fit_intercept):
    X, y, X_val, y_val, X_new = make_data()
    K = pairwise_kernels(X, metric="rbf", gamma=0.3)
    K_before = K.copy()
    kwargs = {"alpha": "optimal", "n_steps": 4, "reg_lambda": 0.1,
              "fit_intercept": fit_intercept}
    pre = SelfDistilledKernelRidge(kernel="precomputed", **kwargs).fit(
        K, y, X_val=pairwise_kernels(X_val, X, metric="rbf", gamma=0.3), y_val=y_val)
    direct = SelfDistilledKernelRidge(kernel="rbf", gamma=0.3, **kwargs).fit(
        X, y, X_val=X_val, y_val=y_val)
    assert np.array_equal(K, K_before), "the user's kernel matrix must not be overwritten"
    assert_allclose(pre.alphas_, direct.alphas_, rtol=RTOL)
    K_new = pairwise_kernels(X_new, X, metric="rbf", gamma=0.3)
    assert_allclose(pre.predict(K_new), direct.predict(X_new), rtol=RTOL)


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_callable_kernel_with_kernel_params(fit_intercept):
    X, y, _, _, X_new = make_data()

    def scaled_linear(a, b, scale=1.0):
        return scale * float(np.dot(a, b))

    model = SelfDistilledKernelRidge(alpha=0.5, n_steps=3, reg_lambda=0.4, kernel=scaled_linear,
                                     kernel_params={"scale": 2.0},
                                     fit_intercept=fit_intercept).fit(X, y)
    reference = SelfDistilledKernelRidge(alpha=0.5, n_steps=3, reg_lambda=0.2,
                                         kernel="linear", fit_intercept=fit_intercept).fit(X, y)
    assert_allclose(model.predict(X_new), reference.predict(X_new), rtol=RTOL)


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_indefinite_kernel_falls_back_from_cholesky(fit_intercept):
    X, y, _, _, X_new = make_data()
    kwargs = {"kernel": "sigmoid", "gamma": 0.5, "coef0": 1.0}
    model = SelfDistilledKernelRidge(alpha=0.5, n_steps=3, reg_lambda=0.05,
                                     fit_intercept=fit_intercept, **kwargs).fit(X, y)
    K = pairwise_kernels(X, metric="sigmoid", gamma=0.5, coef0=1.0)
    n = len(X)
    assert np.linalg.eigvalsh(K + 0.05 * np.eye(n))[0] < 0, "the example must be indefinite"
    # The bordered system [[K + lambda I, 1], [1^T, 0]] with an intercept.
    system = np.zeros((n + 1, n + 1)) if fit_intercept else np.zeros((n, n))
    system[:n, :n] = K + 0.05 * np.eye(n)
    if fit_intercept:
        system[:n, n] = system[n, :n] = 1.0
    targets, coefs = y, []
    for step in range(3):
        if step:
            targets = 0.5 * y + 0.5 * (K @ coefs[-1][:n] + (coefs[-1][n] if fit_intercept else 0))
        coefs.append(np.linalg.solve(system, np.r_[targets, 0.0] if fit_intercept else targets))
    K_new = pairwise_kernels(X_new, X, metric="sigmoid", gamma=0.5, coef0=1.0)
    expected = K_new @ coefs[-1][:n] + (coefs[-1][n] if fit_intercept else 0.0)
    assert_allclose(model.predict(X_new), expected, rtol=1e-7)


# --- the eigen form used for diagnostics ------------------------------------------------------


def test_spectral_shrinkage_reconstructs_every_step():
    X, y, _, _, _ = make_data()
    model = SelfDistilledKernelRidge(alpha=[0.3, 0.6, 0.1], n_steps=4, reg_lambda=0.2,
                                     kernel="rbf", gamma=0.3, fit_intercept=False).fit(X, y)
    result = model.spectral_shrinkage()
    K = pairwise_kernels(X, metric="rbf", gamma=0.3)
    eigenvalues, V = np.linalg.eigh(K)
    assert_allclose(result.eigenvalues, np.clip(eigenvalues, 0, None), atol=1e-10)
    assert result.diagonals.shape == (4, len(X))
    for diagonal, dual_coef in zip(result.diagonals, model.staged_dual_coef_, strict=True):
        # eq. (10): training predictions of each step are V B V^T y.
        assert_allclose(V @ (diagonal * (V.T @ y)), K @ dual_coef, rtol=1e-7, atol=1e-10)
    assert result.limit is None
    assert_allclose(result.ratios, result.diagonals[:, 1:] / result.diagonals[:, :-1])


@pytest.mark.parametrize("sample_weight", [False, True])
def test_spectral_shrinkage_with_an_intercept_is_that_of_the_centred_kernel(sample_weight):
    """Training predictions with an intercept are the weighted mean plus the shrunk
    centred part: ``S y(t) = s mean + V B(t) V^T S (y - mean)``, ``V`` the
    eigenvectors of ``H S K S H`` (``H`` the projection off ``s = sqrt(w)``), whose
    spectrum is the reported one plus the zero of the constant direction."""
    X, y, _, _, _ = make_data()
    y = y + 20.0
    n = len(X)
    w = np.random.default_rng(9).uniform(0.2, 3.0, n) if sample_weight else np.ones(n)
    alphas = [0.3, 0.6, 0.1]
    model = SelfDistilledKernelRidge(alpha=alphas, n_steps=4, reg_lambda=0.2, kernel="rbf",
                                     gamma=0.3).fit(X, y, sample_weight=w)
    result = model.spectral_shrinkage()
    assert result.eigenvalues.shape == (n - 1,) and result.diagonals.shape == (4, n - 1)
    s = np.sqrt(w)
    H = np.eye(n) - np.outer(s, s) / (s @ s)
    centred = H @ (s[:, None] * pairwise_kernels(X, metric="rbf", gamma=0.3) * s) @ H
    d, V = np.linalg.eigh(centred)
    d = np.clip(d, 0, None)
    assert_allclose(np.r_[0.0, result.eigenvalues], d, atol=1e-10)
    mean = w @ y / w.sum()
    full = shrinkage_diagonals(d, 0.2, alphas)
    for step, (predictions, diagonal) in enumerate(zip(model.staged_predict(X), full,
                                                       strict=True)):
        expected = s * mean + V @ (diagonal * (V.T @ (s * (y - mean))))
        assert_allclose(s * predictions, expected, rtol=1e-7, atol=1e-9)
        assert_allclose(result.diagonals[step], shrinkage_diagonals(
            result.eigenvalues, 0.2, alphas)[step])


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_spectral_shrinkage_extends_a_scalar_alpha_and_gives_the_limit(fit_intercept):
    X, y, _, _, _ = make_data()
    model = SelfDistilledKernelRidge(alpha=0.25, n_steps=2, reg_lambda=0.2, kernel="rbf",
                                     gamma=0.3, fit_intercept=fit_intercept).fit(X, y)
    result = model.spectral_shrinkage(n_steps=300)
    assert result.diagonals.shape == (300, len(X) - fit_intercept)
    assert_allclose(result.diagonals[-1], result.limit, rtol=1e-9, atol=1e-12)
    assert np.all(np.diff(result.diagonals, axis=0) <= 1e-15), "Lemma 4.2: decreasing in tau"
    schedule = SelfDistilledKernelRidge(alpha=[0.2], n_steps=2).fit(X, y)
    with pytest.raises(ValueError, match="only known for a scalar alpha"):
        schedule.spectral_shrinkage(n_steps=5)


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_spectral_shrinkage_of_other_samples(fit_intercept):
    X, y, X_val, _, _ = make_data()
    model = SelfDistilledKernelRidge(alpha=0.4, n_steps=3, reg_lambda=0.2, kernel="rbf",
                                     gamma=0.3, fit_intercept=fit_intercept).fit(X, y)
    assert_allclose(model.spectral_shrinkage(X=X).diagonals, model.spectral_shrinkage().diagonals,
                    rtol=1e-10, atol=1e-12)
    other = model.spectral_shrinkage(X=X_val)
    K_val = pairwise_kernels(X_val, metric="rbf", gamma=0.3)
    if fit_intercept:
        # The centred kernel has the zero of the constant direction, left out.
        H = np.eye(len(X_val)) - 1.0 / len(X_val)
        K_val = H @ K_val @ H
    d = np.clip(np.linalg.eigvalsh(K_val), 0, None)[int(fit_intercept):]
    a = d / (d + 0.2)
    assert_allclose(other.diagonals[1], a * (0.6 * a + 0.4), rtol=1e-9, atol=1e-12)
    assert_allclose(other.limit, 0.4 * d / (0.4 * d + 0.2), rtol=1e-9, atol=1e-12)
    precomputed = SelfDistilledKernelRidge(kernel="precomputed",
                                           fit_intercept=fit_intercept).fit(
        pairwise_kernels(X, metric="rbf"), y)
    with pytest.raises(ValueError, match="square kernel matrix"):
        precomputed.spectral_shrinkage(X=pairwise_kernels(X_val, X, metric="rbf"))
    assert_allclose(precomputed.spectral_shrinkage(X=pairwise_kernels(X_val, metric="rbf")).limit,
                    SelfDistilledKernelRidge(kernel="rbf", fit_intercept=fit_intercept).fit(
                        X, y).spectral_shrinkage(X=X_val).limit, rtol=1e-9, atol=1e-12)


# --- scikit-learn integration -----------------------------------------------------------------


# The n_steps=inf instance gets a small reg_lambda because check_regressors_train sets
# ``alpha = 0.01`` (it takes alpha for a penalty): the limit's penalty is reg_lambda / alpha.
# check_array_api_input is skipped by scikit-learn itself unless SCIPY_ARRAY_API is set.
@parametrize_with_checks([
    SelfDistilledKernelRidge(),
    SelfDistilledKernelRidge(fit_intercept=False, alpha="optimal", n_steps=3, kernel="rbf"),
    SelfDistilledKernelRidge(alpha="optimal", n_steps=3, kernel="rbf"),
    SelfDistilledKernelRidge(alpha="optimal", n_steps=3, clip_alpha=True, cv=3),
    SelfDistilledKernelRidge(alpha=[0.2, 0.9], n_steps=3, kernel="rbf"),
    SelfDistilledKernelRidge(alpha=0.5, n_steps=math.inf, reg_lambda=1e-3, kernel="rbf"),
])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_pipeline_grid_search_clone_and_pickle():
    X, y, _, _, X_new = make_data(n=80)
    pipeline = make_pipeline(StandardScaler(),
                             SelfDistilledKernelRidge(kernel="rbf", gamma=0.3))
    grid = {
        "selfdistilledkernelridge__alpha": [0.0, 0.5, "optimal"],
        "selfdistilledkernelridge__n_steps": [1, 3, math.inf],
        "selfdistilledkernelridge__reg_lambda": [0.01, 1.0],
    }
    # alpha="optimal" with n_steps=inf is refused; GridSearchCV records it as failed.
    search = GridSearchCV(pipeline, grid, cv=3, error_score=np.nan).fit(X, y)
    results = search.cv_results_
    failed = np.isnan(results["mean_test_score"])
    assert [p["selfdistilledkernelridge__alpha"] for p, f in zip(results["params"], failed,
                                                                 strict=True) if f] == [
        "optimal", "optimal"]
    assert all(p["selfdistilledkernelridge__n_steps"] == math.inf
               for p, f in zip(results["params"], failed, strict=True) if f)
    best = search.best_estimator_
    cloned = clone(best).fit(X, y)
    assert_allclose(cloned.predict(X_new), best.predict(X_new), rtol=1e-12)
    restored = pickle.loads(pickle.dumps(best))
    assert np.array_equal(restored.predict(X_new), best.predict(X_new))


def test_grid_search_passes_validation_data_as_fit_params():
    X, y, X_val, y_val, _ = make_data(n=60)
    search = GridSearchCV(SelfDistilledKernelRidge(alpha="optimal", kernel="rbf", gamma=0.3),
                          {"n_steps": [2, 4], "reg_lambda": [0.05, 0.5]}, cv=3)
    search.fit(X, y, X_val=X_val, y_val=y_val)
    direct = SelfDistilledKernelRidge(alpha="optimal", kernel="rbf", gamma=0.3,
                                      **search.best_params_).fit(X, y, X_val=X_val, y_val=y_val)
    assert_allclose(search.best_estimator_.alphas_, direct.alphas_, rtol=RTOL)


# --- bad input --------------------------------------------------------------------------------

X_OK, Y_OK, XV_OK, YV_OK, _ = make_data(n=20, n_val=6)


def with_nan(array, index=(0,)):
    array = np.array(array, dtype=float)
    array[index] = np.nan
    return array


BAD_PARAMS = [
    ({"reg_lambda": 0.0}, ValueError, "reg_lambda must be a finite number > 0"),
    ({"reg_lambda": -1.0}, ValueError, "reg_lambda must be a finite number > 0"),
    ({"reg_lambda": np.inf}, ValueError, "reg_lambda must be a finite number > 0"),
    ({"reg_lambda": "big"}, TypeError, "reg_lambda must be a real number"),
    ({"alpha": 1.5}, ValueError, r"alpha must lie in \[0, 1\]"),
    ({"alpha": -0.1}, ValueError, r"alpha must lie in \[0, 1\]"),
    ({"alpha": np.nan}, ValueError, r"alpha must lie in \[0, 1\]"),
    ({"alpha": "best"}, ValueError, "alpha must be a float in"),
    ({"alpha": None}, TypeError, "alpha must be a float in"),
    ({"alpha": [0.5, 0.5], "n_steps": 2}, ValueError, "n_steps - 1 = 1 weights"),
    ({"alpha": [], "n_steps": 3}, ValueError, "n_steps - 1 = 2 weights"),
    ({"alpha": [0.5, np.inf], "n_steps": 3}, ValueError, "schedule entries must be finite"),
    ({"alpha": [[0.5]], "n_steps": 2}, ValueError, "must be one-dimensional"),
    ({"alpha": [0.5], "n_steps": math.inf}, ValueError, "defined for a fixed scalar alpha"),
    ({"alpha": "optimal", "n_steps": math.inf}, ValueError, "defined for a fixed scalar alpha"),
    ({"n_steps": 0}, ValueError, "n_steps must be a whole number >= 1"),
    ({"n_steps": 2.5}, ValueError, "n_steps must be a whole number >= 1"),
    ({"n_steps": -math.inf}, ValueError, "n_steps must be a whole number >= 1"),
    ({"n_steps": "3"}, TypeError, "n_steps must be a whole number"),
    ({"n_steps": True}, TypeError, "n_steps must be a whole number"),
]


@pytest.mark.parametrize("params,error,message", BAD_PARAMS,
                         ids=[str(p) for p, _, _ in BAD_PARAMS])
def test_bad_parameters_are_refused(params, error, message):
    with pytest.raises(error, match=message):
        SelfDistilledKernelRidge(**params).fit(X_OK, Y_OK)


BAD_DATA = [
    ({"X": with_nan(X_OK)}, "Input X contains NaN"),
    ({"X": np.where(X_OK > 1, np.inf, X_OK)}, "Input X contains infinity"),
    ({"y": with_nan(Y_OK)}, "Input y contains NaN"),
    ({"y": Y_OK[:-1]}, "inconsistent numbers of samples"),
    ({"sample_weight": with_nan(np.ones(20))}, "Input sample_weight contains NaN"),
    ({"sample_weight": np.ones(19)}, "sample_weight has 19 entries, but X has 20"),
    ({"sample_weight": -np.ones(20)}, "sample_weight must be non-negative"),
    ({"sample_weight": np.zeros(20)}, "sample_weight must not be all zero"),
    ({"sample_weight": np.ones((20, 2))}, "sample_weight must be one-dimensional"),
    ({"X_val": with_nan(XV_OK), "y_val": YV_OK}, "Input X_val contains NaN"),
    ({"X_val": XV_OK, "y_val": with_nan(YV_OK)}, "Input y_val contains NaN"),
    ({"X_val": XV_OK}, "X_val and y_val must be given together"),
    ({"X_val": XV_OK[:, :2], "y_val": YV_OK}, "X_val has 2 columns, but 3 features"),
    ({"X_val": XV_OK, "y_val": YV_OK[:-1]}, "X_val has 6 samples but y_val has 5"),
    ({"X_val": XV_OK, "y_val": np.c_[YV_OK, YV_OK]}, "y_val must have the shape of y"),
]


@pytest.mark.parametrize("alpha", [0.5, "optimal"])
@pytest.mark.parametrize("data,message", BAD_DATA, ids=[str(sorted(d)) + m for d, m in BAD_DATA])
def test_bad_data_is_refused(data, message, alpha):
    arguments = {"X": X_OK, "y": Y_OK, **data}
    with pytest.raises(ValueError, match=message):
        SelfDistilledKernelRidge(alpha=alpha, n_steps=3).fit(**arguments)


def test_optimal_without_validation_data_needs_enough_samples():
    with pytest.raises(ValueError, match="cv=5 folds .* needs at least 5 samples, got n_samples=4"):
        SelfDistilledKernelRidge(alpha="optimal").fit(X_OK[:4], Y_OK[:4])
    model = SelfDistilledKernelRidge(alpha="optimal", cv=2).fit(X_OK[:4], Y_OK[:4])
    assert model.alphas_.shape == (1,)


def test_precomputed_kernel_of_the_wrong_shape_is_refused():
    K = pairwise_kernels(X_OK, metric="rbf")
    with pytest.raises(ValueError, match="square kernel matrix"):
        SelfDistilledKernelRidge(kernel="precomputed").fit(K[:, :10], Y_OK)
    model = SelfDistilledKernelRidge(kernel="precomputed", alpha="optimal").fit(K, Y_OK)
    with pytest.raises(ValueError, match="X_val has 5 columns, but 20 training samples"):
        model.fit(K, Y_OK, X_val=K[:6, :5], y_val=Y_OK[:6])
    with pytest.raises(ValueError, match="20 features"):
        model.predict(K[:3, :5])
