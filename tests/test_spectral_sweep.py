"""The eigen form of the sweep against the refitting estimator and the closed forms."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics.pairwise import pairwise_kernels, rbf_kernel
from sklearn.model_selection import KFold

from selfdistill_sklearn import SelfDistilledKernelRidge
from selfdistill_sklearn.closed_forms import shrinkage_diagonals
from selfdistill_sklearn.solvers import weighted_kernel_eigh
from selfdistill_sklearn.spectral_sweep import (
    SpectralFold,
    downdated_optimal_schedules,
    fold_predictions,
    limit_weights,
    optimal_schedules,
    step_weights,
)


def _fold(K, y, train, test, sample_weight=None, callable_map=False):
    """A SpectralFold of the kernel K split into train and test."""
    w_train = None if sample_weight is None else sample_weight[train]
    d, V = weighted_kernel_eigh(K[np.ix_(train, train)], w_train)
    SV = V if w_train is None else np.sqrt(w_train)[:, None] * V
    K_test = K[np.ix_(test, train)]
    test_map = (lambda coefs: K_test @ (SV @ coefs)) if callable_map else K_test @ SV
    return SpectralFold(d, SV.T @ y[train], test_map, y[test],
                        None if sample_weight is None else sample_weight[test])


def _data(seed, n=40, n_outputs=None):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    y = np.sin(3 * X[:, 0]) + X[:, 1] ** 2
    if n_outputs:
        y = np.column_stack([y + k * X[:, 1] for k in range(n_outputs)])
    return X, y + rng.normal(scale=0.2, size=y.shape)


@given(seed=st.integers(0, 1000), reg_lambda=st.floats(1e-2, 10.0),
       schedule=st.lists(st.floats(0.0, 1.0), min_size=0, max_size=4),
       weighted=st.booleans(), n_outputs=st.sampled_from([None, 2]))
def test_fold_predictions_equal_refitted_chain(seed, reg_lambda, schedule, weighted, n_outputs):
    """Every step of the eigen form predicts what the refitted estimator predicts."""
    X, y = _data(seed, n_outputs=n_outputs)
    rng = np.random.default_rng(seed + 1)
    sample_weight = rng.uniform(0.0, 2.0, size=len(y)) if weighted else None
    train, test = np.arange(30), np.arange(30, 40)
    K = rbf_kernel(X, gamma=2.0)
    fold = _fold(K, y, train, test, sample_weight)
    weights = step_weights(fold.eigenvalues, reg_lambda, [schedule])[0]
    predictions = fold_predictions(fold, reg_lambda, weights)
    model = SelfDistilledKernelRidge(alpha=schedule, n_steps=len(schedule) + 1,
                                     reg_lambda=reg_lambda, kernel="rbf", gamma=2.0).fit(
        X[train], y[train], sample_weight=None if sample_weight is None else sample_weight[train])
    for step, expected in enumerate(model.staged_predict(X[test])):
        np.testing.assert_allclose(predictions[:, step], expected, rtol=1e-8, atol=1e-10)


@given(seed=st.integers(0, 1000), reg_lambda=st.floats(1e-3, 10.0),
       alpha=st.floats(0.0, 1.0), n_steps=st.integers(1, 6))
def test_step_weights_give_the_shrinkage_diagonals_of_lemma_4_2(seed, reg_lambda, alpha, n_steps):
    d = np.sort(np.random.default_rng(seed).exponential(size=12))
    weights = step_weights(d, reg_lambda, [[alpha] * (n_steps - 1)])[0]
    a = d / (d + reg_lambda)
    np.testing.assert_allclose(a * weights, shrinkage_diagonals(d, reg_lambda,
                                                                [alpha] * (n_steps - 1)),
                               rtol=1e-12, atol=1e-15)


@given(seed=st.integers(0, 1000), reg_lambda=st.floats(1e-2, 10.0), alpha=st.floats(0.05, 1.0))
def test_limit_weights_are_kernel_ridge_with_lambda_over_alpha_and_the_limit_of_steps(
        seed, reg_lambda, alpha):
    """Theorem 4.5: the chain converges to kernel ridge with penalty lambda / alpha."""
    X, y = _data(seed)
    train, test = np.arange(30), np.arange(30, 40)
    K = rbf_kernel(X, gamma=2.0)
    fold = _fold(K, y, train, test)
    limit = fold_predictions(fold, reg_lambda, limit_weights(fold.eigenvalues, reg_lambda,
                                                             [alpha]))[:, 0]
    ridge = SelfDistilledKernelRidge(n_steps=1, reg_lambda=reg_lambda / alpha, kernel="rbf",
                                     gamma=2.0).fit(X[train], y[train])
    np.testing.assert_allclose(limit, ridge.predict(X[test]), rtol=1e-8, atol=1e-10)
    # Linear convergence at rate (1 - alpha) max(a) <= 1 - alpha.
    n_steps = int(np.ceil(np.log(1e-12) / np.log(max(1 - alpha, 1e-3)))) + 2
    late = step_weights(fold.eigenvalues, reg_lambda, [[alpha] * (n_steps - 1)])[0, -1]
    np.testing.assert_allclose(late, limit_weights(fold.eigenvalues, reg_lambda, [alpha])[0],
                               rtol=1e-9, atol=1e-12)


def test_alpha_zero_limit_is_the_zero_function_and_alpha_one_is_exactly_kernel_ridge():
    d = np.array([0.0, 1e-9, 0.3, 2.0, 50.0])
    np.testing.assert_array_equal(limit_weights(d, 0.1, [0.0]), 0.0)
    # Exact, not approximate: candidates equal to kernel ridge must tie exactly.
    assert np.all(limit_weights(d, 0.1, [1.0]) == 1.0)
    assert np.all(step_weights(d, 0.1, [[1.0] * 5]) == 1.0)
    assert np.all(step_weights(d, 0.1, [[0.3] * 5])[:, 0] == 1.0)


def test_callable_test_map_equals_the_matrix():
    X, y = _data(3, n_outputs=2)
    K = rbf_kernel(X, gamma=2.0)
    train, test = np.arange(25), np.arange(25, 40)
    weights = step_weights(_fold(K, y, train, test).eigenvalues, 0.1, [[0.5, 0.5]])[0]
    np.testing.assert_allclose(
        fold_predictions(_fold(K, y, train, test, callable_map=True), 0.1, weights),
        fold_predictions(_fold(K, y, train, test), 0.1, weights), rtol=1e-10)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n_outputs", [None, 3])
@pytest.mark.parametrize("clip", [False, True])
def test_optimal_schedules_equal_the_estimators_cross_validated_alphas(weighted, n_outputs,
                                                                      clip):
    """Algorithm 1 pooled over folds (eq. (16)) as SelfDistilledKernelRidge runs it."""
    X, y = _data(7, n=60, n_outputs=n_outputs)
    rng = np.random.default_rng(0)
    sample_weight = rng.uniform(0.2, 2.0, size=len(y)) if weighted else None
    cv = KFold(4, shuffle=True, random_state=1)
    K = rbf_kernel(X, gamma=2.0)
    folds = [_fold(K, y, train, test, sample_weight) for train, test in cv.split(X)]
    lambdas = [0.01, 0.1, 1.0]
    schedules = optimal_schedules(folds, lambdas, 6, clip=clip)
    assert schedules.shape == (3, 5)
    for reg_lambda, schedule in zip(lambdas, schedules, strict=True):
        model = SelfDistilledKernelRidge(alpha="optimal", n_steps=6, reg_lambda=reg_lambda,
                                         kernel="rbf", gamma=2.0, cv=cv, clip_alpha=clip)
        model.fit(X, y, sample_weight=sample_weight)
        np.testing.assert_allclose(schedule, model.alphas_, rtol=1e-8, atol=1e-10)
    if clip:
        assert np.all((schedules >= 0) & (schedules <= 1))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n_outputs", [None, 3])
@pytest.mark.parametrize("kernel", ["rbf", "sigmoid"])
@pytest.mark.parametrize("clip", [False, True])
def test_downdated_schedules_equal_those_of_separately_diagonalised_folds(weighted, n_outputs,
                                                                          kernel, clip):
    """The folds' systems solved through the block inverse of the whole training
    set's eigendecomposition choose the weights that separate eigendecompositions
    of every fold's training part choose; the indefinite sigmoid kernel takes the
    LU path, integer weights include zeros."""
    X, y = _data(5, n=60, n_outputs=n_outputs)
    sample_weight = (np.random.default_rng(2).integers(0, 4, size=len(y)).astype(float)
                     if weighted else None)
    K = pairwise_kernels(X, metric=kernel, gamma=2.0 if kernel == "rbf" else 0.5,
                         **({} if kernel == "rbf" else {"coef0": 0.1}))
    if kernel == "sigmoid":
        assert np.linalg.eigvalsh(K).min() < -1e-3
    splits = list(KFold(4, shuffle=True, random_state=1).split(X))
    lambdas = [1e-3, 0.05, 1.0, 20.0]
    expected = optimal_schedules([_fold(K, y, train, test, sample_weight)
                                  for train, test in splits], lambdas, 6, clip=clip)
    d, V = weighted_kernel_eigh(K, sample_weight)
    scaled = y if sample_weight is None else np.sqrt(sample_weight).reshape(
        (-1,) + (1,) * (y.ndim - 1)) * y
    schedules = downdated_optimal_schedules(d, V, scaled, [test for _, test in splits],
                                            lambdas, 6, clip=clip)
    assert schedules.shape == (4, 5)
    np.testing.assert_allclose(schedules, expected, rtol=1e-8, atol=1e-10)
    assert downdated_optimal_schedules(d, V, scaled, [splits[0][1]], lambdas, 1).shape == (4, 0)


def test_optimal_weight_minimises_the_pooled_held_out_error():
    """Theorem 4.4: moving any chosen weight raises the pooled squared error."""
    X, y = _data(11, n=50)
    K = rbf_kernel(X, gamma=2.0)
    folds = [_fold(K, y, train, test) for train, test in KFold(5).split(X)]
    schedule = optimal_schedules(folds, [0.05], 4)[0]

    def pooled_error(schedule):
        return sum(np.sum((fold_predictions(
            fold, 0.05, step_weights(fold.eigenvalues, 0.05, [schedule])[0])[:, -1]
            - fold.test_targets) ** 2) for fold in folds)

    best = pooled_error(schedule)
    for delta in (-0.05, 0.05):
        moved = schedule.copy()
        moved[-1] += delta
        assert pooled_error(moved) > best


def test_degenerate_denominator_falls_back_to_alpha_one():
    """Targets orthogonal to every eigenvector leave y1 = y0: the weight is 1."""
    d = np.array([1.0, 2.0])
    fold = SpectralFold(d, np.zeros(2), np.eye(2), np.ones(2))
    np.testing.assert_array_equal(optimal_schedules([fold], [0.5], 3), [[1.0, 1.0]])


def test_step_weights_reject_a_one_dimensional_schedule():
    with pytest.raises(ValueError, match="two-dimensional"):
        step_weights(np.ones(3), 0.1, [0.5, 0.5])
