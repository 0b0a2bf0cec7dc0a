"""Numerics of the primal estimators: stable moments, held-out errors, wide data,
bad features, streamed blocks and the memory the cells take.

Every value is checked against an independent computation: Ridge,
SelfDistilledKernelRidge(kernel="linear"), GridSearchCV over SelfDistilledRidge, or
a fit on the data without the rows that must not matter.
"""

import ast
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import linalg, sparse
from sklearn.base import clone
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold, RepeatedKFold, ShuffleSplit
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, SplineTransformer

import selfdistill_sklearn._reference as reference
from selfdistill_sklearn import (
    SelfDistilledKernelRidge,
    SelfDistilledRidge,
    SelfDistilledRidgeCV,
)
from selfdistill_sklearn import _streaming as streaming

PACKAGE = Path(__file__).resolve().parents[1] / "selfdistill_sklearn"


def linear_data(n=400, coef=(1.0, -2.0, 0.5), noise=0.1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, len(coef)))
    return X, X @ np.asarray(coef) + noise * rng.normal(size=n)


# -- 1. moments centred per block, merged pairwise -------------------------------------

def masked_data():
    """50 of 400 rows with features 1e8 and weight 0, first in the data."""
    X, y = linear_data()
    w = np.ones(len(y))
    X[:50] = 1e8
    w[:50] = 0.0
    return X, y, w


def test_zero_weight_rows_with_huge_features_change_nothing():
    X, y, w = masked_data()
    model = SelfDistilledRidge(n_steps=1, reg_lambda=1.0).fit(X, y, sample_weight=w)
    ridge = Ridge(alpha=1.0).fit(X, y, sample_weight=w)
    assert_allclose(model.coef_, ridge.coef_, rtol=1e-10)
    assert_allclose(model.intercept_, ridge.intercept_, rtol=1e-10)
    # Every step, and predict and staged_predict, as a fit without those rows.
    kept = w > 0
    for block_size in (4096, 37):
        model = SelfDistilledRidge(alpha=0.3, n_steps=4, block_size=block_size).fit(
            X, y, sample_weight=w)
        reference = SelfDistilledRidge(alpha=0.3, n_steps=4).fit(X[kept], y[kept])
        assert_allclose(model.staged_coef_, reference.staged_coef_, rtol=1e-10)
        assert_allclose(model.staged_intercept_, reference.staged_intercept_, rtol=1e-10)
        X_new = linear_data(20, seed=1)[0]
        for got, expected in zip(model.staged_predict(X_new),
                                 reference.staged_predict(X_new), strict=True):
            assert_allclose(got, expected, rtol=1e-10)


def test_zero_weight_rows_change_nothing_in_the_optimal_weights():
    X, y, w = masked_data()
    kept = w > 0
    X_val, y_val = linear_data(60, seed=2)
    # On validation data ...
    model = SelfDistilledRidge(alpha="optimal", n_steps=3).fit(
        X, y, sample_weight=w, X_val=X_val, y_val=y_val)
    reference = SelfDistilledRidge(alpha="optimal", n_steps=3).fit(
        X[kept], y[kept], X_val=X_val, y_val=y_val)
    assert_allclose(model.alphas_, reference.alphas_, rtol=1e-8)
    assert_allclose(model.coef_, reference.coef_, rtol=1e-10)
    # ... and on folds: the same folds of the kept rows, with the masked rows added to
    # the held-out part of the first.
    folds = list(KFold(5).split(X[kept]))
    kept_rows = np.flatnonzero(kept)
    masked_rows = np.flatnonzero(~kept)
    full = [(kept_rows[train], np.concatenate([kept_rows[test], masked_rows]) if index == 0
             else kept_rows[test]) for index, (train, test) in enumerate(folds)]
    model = SelfDistilledRidge(alpha="optimal", n_steps=3, cv=full).fit(X, y, sample_weight=w)
    reference = SelfDistilledRidge(alpha="optimal", n_steps=3, cv=folds).fit(X[kept], y[kept])
    assert_allclose(model.alphas_, reference.alphas_, rtol=1e-8)
    search = SelfDistilledRidgeCV(reg_lambdas=[0.1, 1.0], alphas=[0.5, "optimal"],
                                  max_steps=3, cv=full).fit(X, y, sample_weight=w)
    expected = SelfDistilledRidgeCV(reg_lambdas=[0.1, 1.0], alphas=[0.5, "optimal"],
                                    max_steps=3, cv=folds).fit(X[kept], y[kept])
    assert_allclose(search.cv_results_["mean_test_score"],
                    expected.cv_results_["mean_test_score"], rtol=1e-8)
    assert_allclose(search.optimal_alphas_, expected.optimal_alphas_, rtol=1e-8)


@pytest.mark.parametrize("root", [False, True])
def test_moments_merged_pairwise_are_the_centred_sums_in_any_grouping(root):
    from selfdistill_sklearn._primal import block_moments, merge_moments, pool_moments

    rng = np.random.default_rng(0)
    Z = rng.normal(size=(300, 6)) + 1e6
    w = rng.uniform(size=300)
    w[40:90] = 0.0  # one whole block of weight zero, with absurd values
    Z[40:90] = 1e12
    mean = np.average(Z, axis=0, weights=w)
    centred = (Z - mean) * np.sqrt(w)[:, None]
    expected = centred.T @ centred
    edges = [(0, 40), (40, 90), (90, 170), (170, 300)]
    blocks = [block_moments(Z[a:b], w[a:b], root=root) for a, b in edges]
    streamed = None
    for a, b in edges:
        streamed = block_moments(Z[a:b].copy(), w[a:b], root=root, into=streamed,
                                 overwrite=True)
    tree = merge_moments(merge_moments(blocks[0], blocks[1]),
                         merge_moments(blocks[2], blocks[3]))
    for result in (streamed, tree, pool_moments(blocks)):
        assert result.count == 300 and result.positive == 250
        assert_allclose(result.weight, w.sum(), rtol=1e-14)
        assert_allclose(result.mean, mean, rtol=1e-14)
        assert_allclose(result.comoment, expected, rtol=1e-12,
                        atol=1e-12 * np.abs(expected).max())


def test_a_large_common_offset_costs_no_digits_whatever_the_blocks():
    # Features near 1e7 with unit spread, sorted so that no block resembles another:
    # every block size gives Ridge's coefficients.
    X, y = linear_data(300)
    order = np.argsort(X[:, 0])
    X, y = X[order] + 1e7, y[order]
    ridge = Ridge(alpha=1.0).fit(X, y)
    for block_size in (4096, 1, 16):
        model = SelfDistilledRidge(n_steps=1, block_size=block_size).fit(X, y)
        assert_allclose(model.coef_, ridge.coef_, rtol=1e-12)


@pytest.mark.parametrize("x_offset, y_offset", [(1e7, 0.0), (0.0, 1e8), (1e6, 1e8)])
def test_offsets_cost_no_digits_over_many_blocks_and_batches(x_offset, y_offset):
    # Each block's mean is rounded to ulp(1e8) = 1.5e-8; a merge that took
    # the difference of two rounded means lost 2e-9 of the coefficients over
    # 20000 rows. Both parts of the means make the merges exact.
    rng = np.random.default_rng(1)
    n = 20_000
    Z = rng.normal(size=(n, 4))
    X, y = Z + x_offset, np.sin(Z).sum(axis=1) + 0.3 * rng.normal(size=n) + y_offset
    ridge = Ridge(alpha=1.0).fit(X, y)
    for params in ({"n_steps": 1}, {"alpha": 0.5, "n_steps": 3},
                   {"alpha": "optimal", "n_steps": 3, "cv": None}):
        fitted = SelfDistilledRidge(**params).fit(X, y)
        streamed = SelfDistilledRidge(**params)
        for rows in np.array_split(np.arange(n), [5000, 9000, 15000]):
            streamed.partial_fit(X[rows], y[rows])
        assert_allclose(streamed.coef_, fitted.coef_, rtol=1e-12)
        if params == {"n_steps": 1}:
            assert_allclose(fitted.coef_, ridge.coef_, rtol=1e-12)
            assert_allclose(fitted.intercept_, ridge.intercept_, rtol=1e-14)


@pytest.mark.parametrize("offset", [1e4, 1e6])
def test_the_optimal_weights_do_not_depend_on_an_offset_of_the_targets(offset):
    # The intercept cancels in y1 - y0: a shift of y is no reason to call
    # the weight degenerate (an offset of 1e6 once made alpha* 1.0).
    X, y = linear_data(noise=1.0)
    model = SelfDistilledRidge(alpha="optimal", n_steps=3, reg_lambda=30.0, cv=4)
    alphas = model.fit(X, y).alphas_
    assert not np.allclose(alphas, 1.0)
    assert_allclose(model.fit(X, y + offset).alphas_, alphas, rtol=1e-6)


# -- 2. held-out errors as norms ---------------------------------------------------------

def noise_free_data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    return X, X @ np.array([1.0, 2.0, 3.0, 4.0]) + 1e-9 * rng.normal(size=n) + 3.0


def test_held_out_errors_on_noise_free_data_are_gridsearchcvs():
    X, y = noise_free_data()
    cv = KFold(5)
    search = SelfDistilledRidgeCV(reg_lambdas=[1e-6, 1e-3], alphas=[0.0, 0.5], max_steps=3,
                                  cv=cv).fit(X, y)
    grid = GridSearchCV(SelfDistilledRidge(), search.param_grid_, cv=cv,
                        scoring="neg_mean_squared_error").fit(X, y)
    for split in range(5):
        key = f"split{split}_test_score"
        by_params = dict(zip(map(repr, grid.cv_results_["params"]), grid.cv_results_[key],
                             strict=True))
        expected = [by_params[repr(params)] for params in search.cv_results_["params"]]
        assert_allclose(search.cv_results_[key], expected, rtol=1e-5)
    assert search.best_params_ == grid.best_params_


def test_r2_of_one_sample_folds_is_nan_as_in_gridsearchcv():
    X, y = noise_free_data(12)
    cv = KFold(12)
    with pytest.warns(UndefinedMetricWarning, match="less than two samples"):
        search = SelfDistilledRidgeCV(reg_lambdas=[1e-3], alphas=[0.5], max_steps=2, cv=cv,
                                      scoring="r2").fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grid = GridSearchCV(SelfDistilledRidge(), search.param_grid_, cv=cv,
                            scoring="r2").fit(X, y)
    assert np.all(np.isnan(grid.cv_results_["mean_test_score"]))
    assert np.all(np.isnan(search.cv_results_["mean_test_score"]))


def test_r2_on_noise_free_folds_is_gridsearchcvs():
    X, y = noise_free_data()
    cv = KFold(4)
    search = SelfDistilledRidgeCV(reg_lambdas=[1e-4, 1.0], alphas=[0.25, 1.0], max_steps=2,
                                  cv=cv, scoring="r2").fit(X, y)
    grid = GridSearchCV(SelfDistilledRidge(), search.param_grid_, cv=cv, scoring="r2").fit(X, y)
    by_params = dict(zip(map(repr, grid.cv_results_["params"]),
                         grid.cv_results_["mean_test_score"], strict=True))
    expected = [by_params[repr(params)] for params in search.cv_results_["params"]]
    # r2 near 1: compare the unexplained fractions, 1 - r2, relative to themselves.
    assert_allclose(1 - search.cv_results_["mean_test_score"], 1 - np.array(expected),
                    rtol=1e-5)


def test_optimal_weight_on_noise_free_validation_data_is_the_kernel_estimators():
    X, y = noise_free_data(80)
    X_val, y_val = noise_free_data(30, seed=1)
    model = SelfDistilledRidge(alpha="optimal", n_steps=3, reg_lambda=1e-3).fit(
        X, y, X_val=X_val, y_val=y_val)
    kernel = SelfDistilledKernelRidge(alpha="optimal", n_steps=3, reg_lambda=1e-3,
                                      kernel="linear", fit_intercept=True).fit(
        X, y, X_val=X_val, y_val=y_val)
    assert_allclose(model.alphas_, kernel.alphas_, rtol=1e-4)


# -- 3. wide data, small penalties, singular systems -----------------------------------

def wide_data(seed=0):
    rng = np.random.default_rng(seed)
    X = 3 * rng.normal(size=(30, 100))
    return X, X @ rng.normal(size=100), 3 * rng.normal(size=(10, 100))


@pytest.mark.parametrize("reg_lambda", [1e-12, 1e-14])
def test_wide_data_with_a_tiny_penalty_is_exact(reg_lambda):
    X, y, X_new = wide_data()
    scale = np.max(np.abs(y))
    with warnings.catch_warnings():
        warnings.simplefilter("error", linalg.LinAlgWarning)
        model = SelfDistilledRidge(alpha=0.5, n_steps=3, reg_lambda=reg_lambda).fit(X, y)
        limit = SelfDistilledRidge(alpha=0.5, n_steps=float("inf"),
                                   reg_lambda=reg_lambda).fit(X, y)
    kernel = SelfDistilledKernelRidge(alpha=0.5, n_steps=3, reg_lambda=reg_lambda,
                                      kernel="linear", fit_intercept=True).fit(X, y)
    kernel_limit = SelfDistilledKernelRidge(alpha=0.5, n_steps=float("inf"),
                                            reg_lambda=reg_lambda, kernel="linear",
                                            fit_intercept=True).fit(X, y)
    for got, expected in zip(model.staged_predict(X_new), kernel.staged_predict(X_new),
                             strict=True):
        assert_allclose(got, expected, atol=1e-8 * scale)
    assert_allclose(limit.predict(X_new), kernel_limit.predict(X_new), atol=1e-8 * scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Ridge's own dual solve may warn
        ridge = Ridge(alpha=reg_lambda).fit(X, y)
    first = SelfDistilledRidge(n_steps=1, reg_lambda=reg_lambda).fit(X, y)
    assert_allclose(first.predict(X_new), ridge.predict(X_new), atol=1e-8 * scale)


def test_spectral_shrinkage_of_wide_data_is_the_kernel_estimators():
    X, y, _ = wide_data()
    reg_lambda = 1e-12
    model = SelfDistilledRidge(alpha=0.5, n_steps=3, reg_lambda=reg_lambda).fit(X, y)
    kernel = SelfDistilledKernelRidge(alpha=0.5, n_steps=3, reg_lambda=reg_lambda,
                                      kernel="linear", fit_intercept=True).fit(X, y)
    ours, theirs = model.spectral_shrinkage(), kernel.spectral_shrinkage()
    rank = X.shape[0] - 1  # centred rows
    assert_allclose(ours.eigenvalues[-rank:], theirs.eigenvalues[-rank:], rtol=1e-9)
    assert_allclose(ours.diagonals[:, -rank:], theirs.diagonals[:, -rank:], rtol=1e-9)
    # The directions no row reaches are zero, with no shrinkage factor beyond [0, 1].
    assert np.all(ours.eigenvalues[:-rank] == 0.0)
    assert np.all((ours.diagonals >= 0) & (ours.diagonals <= 1))


def test_search_on_wide_data_with_a_tiny_penalty_scores_as_the_kernel_estimator():
    X, y, _ = wide_data()
    cv = KFold(3)
    search = SelfDistilledRidgeCV(reg_lambdas=[1e-12, 1e-3], alphas=[0.0, 0.5], max_steps=2,
                                  cv=cv).fit(X, y)
    grid = GridSearchCV(SelfDistilledKernelRidge(kernel="linear", fit_intercept=True),
                        search.param_grid_, cv=cv, scoring="neg_mean_squared_error").fit(X, y)
    by_params = dict(zip(map(repr, grid.cv_results_["params"]),
                         grid.cv_results_["mean_test_score"], strict=True))
    expected = [by_params[repr(params)] for params in search.cv_results_["params"]]
    assert_allclose(search.cv_results_["mean_test_score"], expected, rtol=1e-7)


def test_a_singular_system_falls_back_to_minimum_norm_least_squares_with_a_warning():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(80, 4))
    X = np.c_[base, base[:, :1]]  # a duplicated feature
    y = base @ np.array([1.0, -1.0, 2.0, 0.5]) + 0.1 * rng.normal(size=80)
    with pytest.warns(linalg.LinAlgWarning, match="numerically singular"):
        model = SelfDistilledRidge(n_steps=2, alpha=1.0, reg_lambda=1e-15).fit(X, y)
    Xc, yc = X - X.mean(axis=0), y - y.mean()
    expected = np.linalg.lstsq(Xc, yc, rcond=None)[0]
    assert np.all(np.isfinite(model.staged_coef_))
    assert_allclose(model.coef_, expected, rtol=1e-7)
    assert_allclose(model.coef_[0], model.coef_[4], rtol=1e-10)
    with pytest.warns(linalg.LinAlgWarning):
        kernel = SelfDistilledKernelRidge(n_steps=2, alpha=1.0, reg_lambda=1e-15,
                                          kernel="linear", fit_intercept=True).fit(X, y)
    assert_allclose(model.predict(X[:10]), kernel.predict(X[:10]), rtol=1e-7)


@pytest.mark.parametrize("with_constant", [False, True])
def test_columns_of_very_different_scales_keep_every_direction(with_constant):
    # An amount of 1e6 beside a fraction of 1e-2: G's second eigenvalue
    # (1e-1) is below eps times its first (1e15) times m, where eigh's
    # directions are rounding. The columns are independent, and Ridge's
    # Cholesky solve keeps the fraction's coefficient; so does the chain,
    # step by step as refits of Ridge give it (eqs. (3)-(5)), with no warning.
    rng = np.random.default_rng(0)
    n = 1000
    X = rng.normal(size=(n, 3)) * [1e6, 1e-2, 1.0]
    if with_constant:  # centred, an exact null direction among them
        X = np.c_[X, np.full(n, 0.1)]
    y = 1e-6 * X[:, 0] + 100 * X[:, 1] + X[:, 2] + 0.1 * rng.normal(size=n)
    targets = y
    for _ in range(3):
        ridge = Ridge(alpha=1.0, solver="cholesky").fit(X, targets)
        targets = 0.5 * y + 0.5 * ridge.predict(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", linalg.LinAlgWarning)
        model = SelfDistilledRidge(alpha=0.5, n_steps=3).fit(X, y)
        streamed = SelfDistilledRidge(alpha=0.5, n_steps=3)
        for rows in np.array_split(np.arange(n), [1, 4, 600]):
            streamed.partial_fit(X[rows], y[rows])
    assert_allclose(model.coef_, ridge.coef_, rtol=1e-9, atol=1e-12)
    assert_allclose(streamed.coef_, model.coef_, rtol=1e-9, atol=1e-12)
    assert abs(model.coef_[1]) > 1.0  # not dropped


@pytest.mark.parametrize("case", ["dependent", "many features"])
def test_directions_lost_to_scale_are_warned_about(monkeypatch, case):
    # Beside one-hot columns with every level (dependent with the intercept),
    # or above the columns the Jacobi SVD is run for, the fraction's
    # direction stays below rounding: a warning says so and how to keep it,
    # not that the system is singular "as in Ridge".
    import selfdistill_sklearn._primal as primal

    rng = np.random.default_rng(0)
    n = 1000
    X = np.c_[1e6 * rng.lognormal(size=n), 1e-2 * rng.uniform(size=n)]
    if case == "dependent":
        X = np.c_[X, np.eye(3)[rng.integers(0, 3, size=n)]]
    else:
        monkeypatch.setattr(primal, "GRADED_MAX_FEATURES", 1)
    y = 1e-6 * X[:, 0] + 100 * X[:, 1] + 0.1 * rng.normal(size=n)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        SelfDistilledRidge(n_steps=1).fit(X, y)
    messages = [str(w.message) for w in caught if issubclass(w.category, linalg.LinAlgWarning)]
    reason = "exact combinations" if case == "dependent" else "more than 1 features"
    assert any("scales differ" in text and reason in text and "StandardScaler" in text
               for text in messages), messages
    assert not any("numerically singular" in text for text in messages)


def test_nearly_collinear_columns_of_one_scale_are_not_said_to_differ_in_scale():
    # Two columns 2e-8 apart: eigh drops their difference as rounding, and
    # scaling them would not help; no warning says it would.
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 2000))
    X = np.c_[a, a + 2e-8 * b]
    y = a + 0.1 * rng.normal(size=2000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        SelfDistilledRidge(n_steps=1).fit(X, y)
    assert not any("scales differ" in str(w.message) for w in caught)


# -- 4. non-finite and overflowing features -----------------------------------------------

def exploding_map():
    # Finite for inputs below 1, infinite for inputs above 2.
    return FunctionTransformer(lambda Z: np.exp(400.0 * Z))


def test_non_finite_features_are_named_in_fit_validation_and_predict():
    X, y = linear_data(200)
    X = np.abs(X) / 10 / np.abs(X).max()
    X_bad = X.copy()
    X_bad[150, 1] = 3.0
    with pytest.raises(ValueError, match="NaN or infinity for rows 128 to 191 of X, first at "
                                         "row 150"):
        SelfDistilledRidge(feature_map=exploding_map(), block_size=64).fit(X_bad, y)
    with pytest.raises(ValueError, match="NaN or infinity for rows 0 to 59 of X_val, first at "
                                         "row 10"):
        SelfDistilledRidge(alpha="optimal", feature_map=exploding_map()).fit(
            X[:150], y[:150], X_val=X_bad[140:], y_val=y[140:])
    with pytest.raises(ValueError, match="NaN or infinity .* first at row 7"):
        SelfDistilledRidge(alpha="optimal", feature_map=exploding_map(), cv=3).fit(
            X_bad[143:], y[143:])
    model = SelfDistilledRidge(n_steps=3, feature_map=exploding_map(), block_size=64).fit(X, y)
    with pytest.raises(ValueError, match="first at row 150"):
        model.predict(X_bad)
    with pytest.raises(ValueError, match="first at row 150"):
        list(model.staged_predict(X_bad))


def test_features_whose_squares_overflow_are_an_error():
    X, y = linear_data(100)
    huge = FunctionTransformer(lambda Z: Z * 1e160)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # an error, not a warning and inf
        for kwargs in ({}, {"alpha": "optimal"}):
            with pytest.raises(ValueError, match="too large: their weighted squares overflow"):
                SelfDistilledRidge(feature_map=huge, **kwargs).fit(X, y)
        with pytest.raises(ValueError, match="overflow"):
            SelfDistilledRidgeCV(feature_map=huge).fit(X, y)


@pytest.mark.parametrize("head_rows", [None, 150], ids=["in the head", "after the head"])
def test_a_batch_whose_squares_overflow_is_refused_by_fold_models(monkeypatch, head_rows):
    # Folds keep QR roots of 1e300 (finite) whose co-moments overflow when
    # they are formed: the batch is refused when it comes, and the model
    # goes on from the batches before it.
    if head_rows is not None:
        monkeypatch.setattr(reference, "MIN_REFERENCE_ROWS", head_rows)
    X, y = linear_data(400)
    models = (SelfDistilledRidge(alpha="optimal", n_steps=3, cv=3),
              SelfDistilledRidgeCV(reg_lambdas=[0.1, 1.0], alphas=[0.5, "optimal"], max_steps=2,
                                   cv=3))
    for model in models:
        model.partial_fit(X[:200], y[:200])
        before = model.predict(X[:5])
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            with pytest.raises(ValueError, match="too large: their weighted squares overflow"):
                model.partial_fit(X[200:205] * 1e300, y[200:205])
        assert_allclose(model.predict(X[:5]), before, rtol=0)
        model.partial_fit(X[200:], y[200:])
        assert_allclose(model.predict(X[:5]), clone(model).fit(X, y).predict(X[:5]), rtol=1e-10)


@pytest.mark.parametrize("scale", [1.72e151, 2.46e151])
def test_large_values_that_fit_accepts_partial_fit_accepts(scale):
    # Pooled squares up to the largest float are formed by fit: partial_fit
    # in batches takes the same rows (it once refused them past max / 16).
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 3))
    y = X @ [1.0, 2.0, 3.0] + 0.1 * rng.normal(size=4000)
    model = SelfDistilledRidge(alpha="optimal", n_steps=2, cv=4)
    fitted = clone(model).fit(X * scale, y * scale)
    for rows in np.array_split(np.arange(4000), 4):
        model.partial_fit(X[rows] * scale, y[rows] * scale)
    assert_allclose(model.coef_, fitted.coef_, rtol=1e-10)


def test_a_tail_whose_union_overflows_is_refused_in_the_coordinates_of_z(monkeypatch):
    # After a head of spread 1e130 the tail's co-moments are kept scaled by
    # powers of two: rows of +-1e200 in different folds are refused as they
    # come, in the coordinates of the rows, not of the scaled tail.
    monkeypatch.setattr(reference, "MIN_REFERENCE_ROWS", 300)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 2)) * 1e130
    y = X @ [1.0, 2.0] + rng.normal(size=600) * 1e130
    far = X[300:].copy()
    far[0::4] += 1e200
    far[1::4] -= 1e200
    model = SelfDistilledRidge(alpha="optimal", n_steps=2, cv=4).partial_fit(X[:300], y[:300])
    before = model.predict(X[:5])
    with pytest.raises(ValueError, match="too large: their weighted squares overflow"):
        model.partial_fit(far, far @ [1.0, 2.0])
    assert_allclose(model.predict(X[:5]), before, rtol=0)


def test_a_batch_whose_pooled_moments_overflow_is_refused():
    # Each cell fits, their union does not: cells of +-1e200 (by position,
    # fold i mod 2 holds one sign; each constant, of root 0), or means of
    # 1e155 about the origin without an intercept. The batch is refused
    # (a model of these rows could never be formed, nor of any later ones).
    rng = np.random.default_rng(0)
    X = np.c_[rng.normal(size=40), np.ones(40)]
    y = rng.normal(size=40)
    signs = X.copy()
    signs[:, 1] = 1e200 * np.where(np.arange(40) % 2 == 0, 1.0, -1.0)
    for model, bad in ((SelfDistilledRidge(alpha="optimal", n_steps=3, cv=2), signs),
                       (SelfDistilledRidge(fit_intercept=False), X + 1e155)):
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            with pytest.raises(ValueError, match="too large: their weighted squares overflow"):
                model.partial_fit(bad, y)
        assert not hasattr(model, "coef_")
        model.partial_fit(X, y)
        assert_allclose(model.coef_, clone(model).fit(X, y).coef_, rtol=1e-12)


# -- 5. sparse output of a feature map -------------------------------------------------------

def test_sparse_output_of_a_feature_map_on_dense_input():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 4, size=(120, 2)).astype(float)
    y = X[:, 0] - 2 * (X[:, 1] == 2) + 0.1 * rng.normal(size=120)
    encoder = OneHotEncoder()
    Phi = encoder.fit_transform(X).toarray()
    model = SelfDistilledRidge(n_steps=1, feature_map=OneHotEncoder(), block_size=50).fit(X, y)
    ridge = Ridge(alpha=1.0).fit(Phi, y)
    assert_allclose(model.coef_, ridge.coef_, rtol=1e-10)
    assert_allclose(model.predict(X[:7]), ridge.predict(Phi[:7]), rtol=1e-10)
    Xs = rng.uniform(size=(90, 2))
    ys = np.sin(4 * Xs[:, 0]) + Xs[:, 1]
    dense = SelfDistilledRidge(n_steps=3, feature_map=SplineTransformer()).fit(Xs, ys)
    sparse_map = SelfDistilledRidge(n_steps=3, feature_map=SplineTransformer(
        sparse_output=True), block_size=32).fit(Xs, ys)
    assert_allclose(sparse_map.staged_coef_, dense.staged_coef_, rtol=1e-9, atol=1e-12)
    for got, expected in zip(sparse_map.staged_predict(Xs), dense.staged_predict(Xs),
                             strict=True):
        assert_allclose(got, expected, rtol=1e-9)
    search = SelfDistilledRidgeCV(feature_map=SplineTransformer(sparse_output=True)).fit(Xs, ys)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))


def test_take_rows_cuts_arrays_sparse_matrices_and_dataframes():
    pd = pytest.importorskip("pandas")
    X = np.arange(12.0).reshape(6, 2)
    frame = pd.DataFrame(X, columns=["a", "b"], index=[5, 4, 3, 2, 1, 0])
    assert_allclose(streaming.take_rows(X, slice(2, 4)), X[2:4])
    assert_allclose(streaming.take_rows(sparse.csr_matrix(X), slice(2, 4)).toarray(), X[2:4])
    assert_allclose(streaming.take_rows(frame, slice(2, 4)).to_numpy(), X[2:4])


# -- 7. a map that changes the number of rows ------------------------------------------------

@pytest.mark.parametrize("change", ["drop", "double", "one"])
def test_every_block_must_keep_its_rows(change):
    X, y = linear_data(100)
    X[40:, 0] = 100.0 + np.arange(60)  # blocks from row 40 on trigger the change

    def transform(Z):
        if Z[0, 0] < 50:
            return Z
        return {"drop": Z[:-1], "double": np.r_[Z, Z[:1]], "one": Z[:1]}[change]

    bad = FunctionTransformer(transform)
    with pytest.raises(ValueError, match="for the 20 samples of rows 40 to 59 of X"):
        SelfDistilledRidge(feature_map=bad, block_size=20).fit(X, y)
    model = SelfDistilledRidge(feature_map=bad, block_size=20).fit(X[:40], y[:40])
    with pytest.raises(ValueError, match="for the 20 samples of rows 40 to 59"):
        model.predict(X)
    with pytest.raises(ValueError, match="for the 20 samples of rows 40 to 59"):
        list(model.staged_predict(X))


# -- 12. memory of the cells ----------------------------------------------------------------

def test_splitters_with_many_cells_are_refused_clearly(monkeypatch):
    X, y = linear_data(200)
    # 3 + 1 + 1 = 5 columns of moments: a limit of 10 cells of them.
    monkeypatch.setattr(streaming, "MAX_CELL_BYTES", 10 * 5 * 5 * 8)
    SelfDistilledRidgeCV(cv=KFold(5)).fit(X, y)  # 5 cells
    for cv in (ShuffleSplit(10, random_state=0), RepeatedKFold(n_splits=3, n_repeats=3,
                                                               random_state=0)):
        name = type(cv).__name__
        with pytest.raises(ValueError, match=rf"cv={name}.*distinct cells.*KFold"):
            SelfDistilledRidgeCV(cv=cv).fit(X, y)
        with pytest.raises(ValueError, match=rf"cv={name}"):
            SelfDistilledRidge(alpha="optimal", cv=cv).fit(X, y)


# -- the mathematics stays apart ------------------------------------------------------------

def tree_text(module):
    return (PACKAGE / module).read_text()


@pytest.mark.parametrize("module", ["_primal.py", "_solvers.py", "closed_forms.py"])
def test_primal_mathematics_imports_neither_sklearn_nor_torch(module):
    tree = ast.parse((PACKAGE / module).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    # importlib: a pickled array API namespace is imported again by its name.
    assert imported <= {"numpy", "scipy", "math", "warnings", "importlib", "_solvers",
                        "closed_forms"}
    assert "importlib" not in imported or 'import_module(namespace)' in tree_text(module)
