"""The sweep in the eigen and tridiagonal forms against the refitting estimator
and the closed forms."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics.pairwise import pairwise_kernels, rbf_kernel
from sklearn.model_selection import KFold

from selfdistill_sklearn import SelfDistilledKernelRidge
from selfdistill_sklearn._solvers import (
    TridiagonalForm,
    centre_kernel,
    weighted_kernel_eigh,
    weighted_kernel_tridiagonal,
)
from selfdistill_sklearn._spectral_sweep import (
    SweepFold,
    downdated_optimal_schedules,
    limit_coefficients,
    step_coefficients,
)
from selfdistill_sklearn.closed_forms import DEGENERATE_ALPHA, shrinkage_diagonals

FORMS = ["eigen", "tridiagonal"]


def _form(kind, K, sample_weight=None):
    if kind == "eigen":
        return TridiagonalForm.from_eigh(*weighted_kernel_eigh(K, sample_weight))
    return weighted_kernel_tridiagonal(K, sample_weight)


def _scaled(y, sample_weight):
    if sample_weight is None:
        return y
    return np.sqrt(sample_weight).reshape((-1,) + (1,) * (y.ndim - 1)) * y


def _fold(kind, K, y, train, test, sample_weight=None, callable_map=False,
          fit_intercept=False):
    """A SweepFold of the kernel K split into train and test; with an intercept,
    that of the kernel and targets centred by their weighted means."""
    w_train = None if sample_weight is None else sample_weight[train]
    K_train, K_test = K[np.ix_(train, train)], K[np.ix_(test, train)]
    y_train, offset = y[train], 0.0
    if fit_intercept:
        K_train, K_test = centre_kernel(K_train, w_train, K_test)
        offset = np.average(y_train, axis=0, weights=w_train)
        y_train = y_train - offset
    form = _form(kind, K_train, w_train)
    if w_train is not None:
        K_test = K_test * np.sqrt(w_train)[None, :]
    test_map = ((lambda coefs: K_test @ (form.basis @ coefs)) if callable_map
                else K_test @ form.basis)
    return SweepFold(form, form.basis.T @ _scaled(y_train, w_train), test_map, offset)


def _predict(fold, coefs):
    return fold.predict(coefs)


def _data(seed, n=40, n_outputs=None):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    y = np.sin(3 * X[:, 0]) + X[:, 1] ** 2
    if n_outputs:
        y = np.column_stack([y + k * X[:, 1] for k in range(n_outputs)])
    return X, y + rng.normal(scale=0.2, size=y.shape)


@pytest.mark.parametrize("kind", FORMS)
@given(seed=st.integers(0, 1000), reg_lambda=st.floats(1e-2, 10.0),
       schedule=st.lists(st.floats(0.0, 1.0), min_size=0, max_size=4),
       weighted=st.booleans(), n_outputs=st.sampled_from([None, 2]),
       fit_intercept=st.booleans())
def test_step_coefficients_predict_what_the_refitted_chain_predicts(kind, seed, reg_lambda,
                                                                    schedule, weighted,
                                                                    n_outputs, fit_intercept):
    """Every step of the sweep predicts what the refitting estimator predicts,
    with an intercept through the centred kernel (a mean the intercept takes up
    is added to the targets)."""
    X, y = _data(seed, n_outputs=n_outputs)
    y = y + 4.0
    rng = np.random.default_rng(seed + 1)
    sample_weight = rng.uniform(0.0, 2.0, size=len(y)) if weighted else None
    train, test = np.arange(30), np.arange(30, 40)
    K = rbf_kernel(X, gamma=2.0)
    fold = _fold(kind, K, y, train, test, sample_weight, fit_intercept=fit_intercept)
    coefs = step_coefficients(fold.form, fold.projected_targets, reg_lambda, [schedule])[:, 0]
    predictions = _predict(fold, coefs)
    model = SelfDistilledKernelRidge(alpha=schedule, n_steps=len(schedule) + 1,
                                     reg_lambda=reg_lambda, kernel="rbf", gamma=2.0,
                                     fit_intercept=fit_intercept).fit(
        X[train], y[train], sample_weight=None if sample_weight is None else sample_weight[train])
    for step, expected in enumerate(model.staged_predict(X[test])):
        np.testing.assert_allclose(predictions[:, step], expected, rtol=1e-8, atol=1e-10)


@given(seed=st.integers(0, 1000), reg_lambda=st.floats(1e-3, 10.0),
       alpha=st.floats(0.0, 1.0), n_steps=st.integers(1, 6))
def test_eigen_form_steps_are_the_shrinkage_diagonals_of_lemma_4_2(seed, reg_lambda, alpha,
                                                                  n_steps):
    """With a diagonal T the training predictions d * h(t) are B(t) z (eq. (10))."""
    rng = np.random.default_rng(seed)
    d = np.sort(rng.exponential(size=12))
    z = rng.normal(size=12)
    form = TridiagonalForm(np.eye(12), d, np.zeros(11))
    coefs = step_coefficients(form, z, reg_lambda, [[alpha] * (n_steps - 1)])[:, 0]
    diagonals = shrinkage_diagonals(d, reg_lambda, [alpha] * (n_steps - 1))
    np.testing.assert_allclose(d[:, None] * coefs, diagonals.T * z[:, None], rtol=1e-12,
                               atol=1e-15)


@given(seed=st.integers(0, 1000), reg_lambda=st.floats(1e-3, 10.0),
       schedule=st.lists(st.floats(-0.5, 1.5), min_size=1, max_size=4))
def test_tridiagonal_and_eigen_forms_give_the_same_training_predictions(seed, reg_lambda,
                                                                         schedule):
    X, y = _data(seed, n=25)
    K = rbf_kernel(X, gamma=2.0)
    predictions = []
    for kind in FORMS:
        form = _form(kind, K)
        coefs = step_coefficients(form, form.basis.T @ y, reg_lambda, [schedule])[:, 0]
        predictions.append(form.basis @ form.multiply(coefs))
    np.testing.assert_allclose(predictions[0], predictions[1], rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("kind", FORMS)
@given(seed=st.integers(0, 1000), reg_lambda=st.floats(1e-2, 10.0), alpha=st.floats(0.05, 1.0),
       fit_intercept=st.booleans())
def test_limit_is_kernel_ridge_with_lambda_over_alpha_and_the_limit_of_steps(
        kind, seed, reg_lambda, alpha, fit_intercept):
    """Theorem 4.5: the chain converges to kernel ridge with penalty lambda / alpha
    (with an intercept, through the centred kernel)."""
    X, y = _data(seed)
    y = y - 3.0
    train, test = np.arange(30), np.arange(30, 40)
    fold = _fold(kind, rbf_kernel(X, gamma=2.0), y, train, test, fit_intercept=fit_intercept)
    limit = limit_coefficients(fold.form, fold.projected_targets, reg_lambda, [alpha])[:, 0]
    ridge = SelfDistilledKernelRidge(n_steps=1, reg_lambda=reg_lambda / alpha, kernel="rbf",
                                     gamma=2.0, fit_intercept=fit_intercept).fit(
        X[train], y[train])
    np.testing.assert_allclose(fold.predict(limit), ridge.predict(X[test]), rtol=1e-8,
                               atol=1e-10)
    # alpha = 0: the zero function, or with an intercept the (weighted) mean.
    collapsed = limit_coefficients(fold.form, fold.projected_targets, reg_lambda, [0.0])[:, 0]
    np.testing.assert_allclose(fold.predict(collapsed),
                               SelfDistilledKernelRidge(alpha=0.0, n_steps=float("inf"),
                                                        fit_intercept=fit_intercept).fit(
                                   X[train], y[train]).predict(X[test]), rtol=1e-12)
    # Linear convergence at rate (1 - alpha) max(a) <= 1 - alpha.
    n_steps = int(np.ceil(np.log(1e-12) / np.log(max(1 - alpha, 1e-3)))) + 2
    late = step_coefficients(fold.form, fold.projected_targets, reg_lambda,
                             [[alpha] * (n_steps - 1)])[:, 0, -1]
    np.testing.assert_allclose(late, limit, rtol=1e-9, atol=1e-12 * np.abs(limit).max())


@pytest.mark.parametrize("kind", FORMS)
def test_alpha_zero_limit_is_zero_and_candidates_equal_to_kernel_ridge_tie_exactly(kind):
    """Step 1, weight 1 at every step and the limit of weight 1 are the same
    computation bit for bit, as the refits of a grid search tie."""
    X, y = _data(0, n=20, n_outputs=2)
    form = _form(kind, rbf_kernel(X, gamma=2.0))
    z = form.basis.T @ y
    np.testing.assert_array_equal(limit_coefficients(form, z, 0.1, [0.0]), 0.0)
    steps = step_coefficients(form, z, 0.1, [[1.0] * 5, [0.3] * 5])
    first = steps[:, 1, 0]
    assert np.all(steps[:, 0] == first[:, None])
    assert np.all(steps[:, 1, 0] == first)
    assert np.all(limit_coefficients(form, z, 0.1, [1.0])[:, 0] == first)
    assert not np.allclose(steps[:, 1, 1], first)


def test_callable_test_map_equals_the_matrix():
    X, y = _data(3, n_outputs=2)
    K = rbf_kernel(X, gamma=2.0)
    train, test = np.arange(25), np.arange(25, 40)
    folds = [_fold("tridiagonal", K, y, train, test, callable_map=flag) for flag in (True, False)]
    coefs = step_coefficients(folds[0].form, folds[0].projected_targets, 0.1, [[0.5, 0.5]])
    np.testing.assert_allclose(_predict(folds[0], coefs), _predict(folds[1], coefs), rtol=1e-10)


@pytest.mark.parametrize("kind", FORMS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n_outputs", [None, 3])
@pytest.mark.parametrize("kernel", ["rbf", "sigmoid"])
@pytest.mark.parametrize("clip,fit_intercept", [(False, False), (True, False), (False, True)])
def test_downdated_schedules_equal_the_estimators_cross_validated_alphas(kind, weighted,
                                                                         n_outputs, kernel,
                                                                         clip, fit_intercept):
    """Algorithm 1 pooled over folds (eq. (16)), the folds' systems solved through
    the block inverse of the whole set's decomposition, chooses the weights that
    SelfDistilledKernelRidge chooses by factorising every fold. The indefinite
    sigmoid kernel takes the LU path; integer weights include zeros. With an
    intercept, the decomposition is that of the centred kernel (as the
    cross-validated search has it) and every fold solves its bordered system."""
    X, y = _data(5, n=60, n_outputs=n_outputs)
    y = y + 2.0
    sample_weight = (np.random.default_rng(2).integers(0, 4, size=len(y)).astype(float)
                     if weighted else None)
    params = ({"gamma": 2.0} if kernel == "rbf" else {"gamma": 0.5, "coef0": 0.1})
    K = pairwise_kernels(X, metric=kernel, **params)
    if kernel == "sigmoid":
        assert np.linalg.eigvalsh(K).min() < -1e-3
    cv = KFold(4, shuffle=True, random_state=1)
    lambdas = [1e-3, 0.05, 1.0, 20.0]
    K_form = centre_kernel(K, sample_weight)[0] if fit_intercept else K
    schedules = downdated_optimal_schedules(
        _form(kind, K_form, sample_weight), _scaled(y, sample_weight),
        list(cv.split(X)), lambdas, 6, clip=clip, fit_intercept=fit_intercept,
        sample_weight=sample_weight)
    assert schedules.shape == (4, 5)
    for reg_lambda, schedule in zip(lambdas, schedules, strict=True):
        model = SelfDistilledKernelRidge(alpha="optimal", n_steps=6, reg_lambda=reg_lambda,
                                         kernel=kernel, cv=cv, clip_alpha=clip,
                                         fit_intercept=fit_intercept, **params)
        model.fit(X, y, sample_weight=sample_weight)
        np.testing.assert_allclose(schedule, model.alphas_, rtol=1e-8, atol=1e-10)
    if clip:
        assert np.all((schedules >= 0) & (schedules <= 1))


@pytest.mark.parametrize("kind", FORMS)
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_downdated_schedules_follow_splits_that_do_not_partition_the_samples(kind,
                                                                             fit_intercept):
    """Training parts that leave samples out of both parts, test parts that
    overlap the training part, and a training part of every sample: the folds
    are those the splitter gives, as SelfDistilledKernelRidge uses them."""
    X, y = _data(8, n=50, n_outputs=2)
    sample_weight = np.random.default_rng(4).uniform(0.5, 2.0, size=50)
    K = rbf_kernel(X, gamma=2.0)
    rng = np.random.default_rng(0)
    order = rng.permutation(50)
    splits = [
        (order[:25], order[25:40]),                                     # 10 samples unused
        (order[10:50], np.concatenate([order[:10], order[10:15]])),     # 5 training samples scored
        (np.arange(50), order[:12]),                                    # nothing removed
    ]
    lambdas = [0.01, 0.3]
    # Without centring: the intercept does not need the centred kernel, only
    # the cross-validated search's sweep does.
    schedules = downdated_optimal_schedules(_form(kind, K, sample_weight),
                                            _scaled(y, sample_weight), splits, lambdas, 5,
                                            fit_intercept=fit_intercept,
                                            sample_weight=sample_weight)
    for reg_lambda, schedule in zip(lambdas, schedules, strict=True):
        model = SelfDistilledKernelRidge(alpha="optimal", n_steps=5, reg_lambda=reg_lambda,
                                         kernel="rbf", gamma=2.0, cv=splits,
                                         fit_intercept=fit_intercept)
        model.fit(X, y, sample_weight=sample_weight)
        np.testing.assert_allclose(schedule, model.alphas_, rtol=1e-8, atol=1e-10)
    with pytest.raises(ValueError, match="must not repeat samples"):
        downdated_optimal_schedules(_form(kind, K), y, [(np.r_[0, 0, 1:30], order[:5])],
                                    lambdas, 3)


def test_optimal_weight_minimises_the_pooled_held_out_error():
    """Theorem 4.4: moving any chosen weight raises the pooled squared error."""
    X, y = _data(11, n=50)
    K = rbf_kernel(X, gamma=2.0)
    splits = list(KFold(5).split(X))
    schedule = downdated_optimal_schedules(_form("tridiagonal", K), y, splits, [0.05], 4)[0]
    folds = [_fold("tridiagonal", K, y, train, test) for train, test in splits]

    def pooled_error(schedule):
        return sum(np.sum((fold.predict(step_coefficients(
            fold.form, fold.projected_targets, 0.05, [schedule])[:, 0, -1]) - y[test]) ** 2)
            for fold, (_, test) in zip(folds, splits, strict=True))

    best = pooled_error(schedule)
    for delta in (-0.05, 0.05):
        moved = schedule.copy()
        moved[-1] += delta
        assert pooled_error(moved) > best


@pytest.mark.parametrize("kind", FORMS)
def test_degenerate_denominator_falls_back_to_the_documented_weight(kind):
    """Zero targets leave y1 = y0 on every fold: the weight is DEGENERATE_ALPHA."""
    X, _ = _data(1, n=12)
    form = _form(kind, rbf_kernel(X, gamma=2.0))
    halves = [(np.arange(4, 12), np.arange(4)), (np.arange(4), np.arange(4, 12))]
    schedules = downdated_optimal_schedules(form, np.zeros(12), halves, [0.5, 2.0], 3)
    np.testing.assert_array_equal(schedules, DEGENERATE_ALPHA)
    assert downdated_optimal_schedules(form, np.zeros(12), halves, [0.5], 1).shape == (1, 0)


def test_step_coefficients_reject_a_one_dimensional_schedule():
    form = TridiagonalForm(np.eye(3), np.ones(3), np.zeros(2))
    with pytest.raises(ValueError, match="two-dimensional"):
        step_coefficients(form, np.ones(3), 0.1, [0.5, 0.5])
