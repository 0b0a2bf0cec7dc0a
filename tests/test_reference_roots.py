"""Fold cells as co-moments about a reference fit (``_reference``): the same
scores as exact QR roots and as scikit-learn's Ridge fold by fold, a second
pass with roots where the co-moments would not be exact enough, and a
warning from partial_fit, which cannot pass again."""

import warnings

import numpy as np
import pytest
from scipy.linalg import LinAlgWarning
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.preprocessing import FunctionTransformer

import selfdistill_sklearn._reference as reference
from selfdistill_sklearn import SelfDistilledRidge, SelfDistilledRidgeCV
from selfdistill_sklearn._incremental import position_splits

HEAD = 300  # rows of the head in these tests (8192 by default)
LAMBDAS = np.logspace(-3, 3, 4)


@pytest.fixture
def short_head(monkeypatch):
    monkeypatch.setattr(reference, "MIN_REFERENCE_ROWS", HEAD)


def exact_roots(monkeypatch):
    monkeypatch.setattr(reference, "MIN_REFERENCE_ROWS", 10 ** 9)


def problem(n=2000, d=5, noise=1.0, shift=0.0, targets=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + shift
    Y = X @ rng.normal(size=(d, targets)) + noise * rng.normal(size=(n, targets)) + 3.0
    return X, Y[:, 0] if targets == 1 else Y


def search(**options):
    return SelfDistilledRidgeCV(**{"reg_lambdas": LAMBDAS, "alphas": (0.0, 0.5, 1.0, "optimal"),
                                   "max_steps": 3, "cv": 4, **options})


def in_batches(estimator, X, y, n_batches=4, sample_weight=None):
    """``estimator`` given the rows in ``n_batches`` calls of partial_fit."""
    for rows in np.array_split(np.arange(len(X)), n_batches):
        estimator.partial_fit(X[rows], y[rows], sample_weight=None if sample_weight is None
                              else sample_weight[rows])
    return estimator


def stream_state(estimator):
    return estimator._partial_stream._cells


@pytest.mark.parametrize("case", ["plain", "weights", "targets", "no intercept", "shifted",
                                  "noise-free"])
def test_referenced_cells_score_as_exact_roots(short_head, monkeypatch, case):
    X, y = problem(targets=2 if case == "targets" else 1,
                   shift=1e6 if case == "shifted" else 0.0,
                   noise=1e-9 if case == "noise-free" else 1.0)
    weights = (np.random.default_rng(1).uniform(0, 2, len(X)) if case == "weights" else None)
    options = {"fit_intercept": case != "no intercept"}
    fast = search(**options).fit(X, y, sample_weight=weights)
    state = stream_state(fast)
    if case == "noise-free":
        # Rounding y - phi b0 (1e-15) against residuals of 1e-9: the head
        # forecasts it, and every row stays a root.
        assert state.roots_only and state.tail is None
    else:
        assert state.tail is not None and state.head_rows == HEAD
        assert state.relative_error() <= reference.PRECISION_TOLERANCE
    exact_roots(monkeypatch)
    exact = search(**options).fit(X, y, sample_weight=weights)
    assert stream_state(exact).tail is None
    assert fast.best_params_ == exact.best_params_
    # The exact roots themselves lose digits on noise-free rows (the held-out
    # errors are 1e-18 of the targets' spread) and on rows a million from the
    # origin (alpha* then amplifies them): agreement to their precision.
    rtol = {"noise-free": 1e-6, "shifted": reference.PRECISION_TOLERANCE}.get(case, 1e-10)
    np.testing.assert_allclose(fast.cv_results_["mean_test_score"],
                               exact.cv_results_["mean_test_score"], rtol=rtol)
    np.testing.assert_allclose(fast.predict(X[:50]), exact.predict(X[:50]), rtol=1e-9,
                               atol=1e-9)


def test_referenced_held_out_errors_are_ridge_fold_by_fold(short_head):
    X, y = problem(shift=1e3)
    fitted = SelfDistilledRidgeCV(reg_lambdas=LAMBDAS, alphas=(1.0,), max_steps=1,
                                  cv=4).fit(X, y)
    assert stream_state(fitted).tail is not None
    for j, reg_lambda in enumerate(LAMBDAS):
        index = list(fitted.cv_results_["param_reg_lambda"]).index(reg_lambda)
        for k, (train, test) in enumerate(position_splits(len(X), 4)):
            ridge = Ridge(alpha=reg_lambda).fit(X[train], y[train])
            mse = np.mean((y[test] - ridge.predict(X[test])) ** 2)
            assert fitted.cv_results_[f"split{k}_test_score"][index] == pytest.approx(
                -mse, rel=1e-10), (j, k)


@pytest.mark.parametrize("n_batches", [1, 3, 17])
def test_partial_fit_across_the_head_equals_fit(short_head, n_batches):
    X, y = problem(n=1700)
    weights = np.random.default_rng(2).uniform(0, 2, len(X))
    fitted = search().fit(X, y, sample_weight=weights)
    optimal = SelfDistilledRidge(alpha="optimal", n_steps=4, cv=5).fit(X, y)
    streamed, streamed_optimal = search(), SelfDistilledRidge(alpha="optimal", n_steps=4, cv=5)
    for rows in np.array_split(np.arange(len(X)), n_batches):
        streamed.partial_fit(X[rows], y[rows], sample_weight=weights[rows])
        streamed_optimal.partial_fit(X[rows], y[rows])
    assert stream_state(streamed).tail is not None
    assert streamed.best_params_ == fitted.best_params_
    np.testing.assert_allclose(streamed.cv_results_["mean_test_score"],
                               fitted.cv_results_["mean_test_score"], rtol=1e-10)
    np.testing.assert_allclose(streamed_optimal.alphas_, optimal.alphas_, rtol=1e-10)
    np.testing.assert_allclose(streamed_optimal.coef_, optimal.coef_, rtol=1e-10, atol=1e-12)


def test_partial_fit_continues_a_fit_across_the_head(short_head):
    X, y = problem(n=1200)
    whole = search().fit(X, y)
    continued = search().fit(X[:200], y[:200])  # inside the head: roots only
    assert stream_state(continued).tail is None
    continued.partial_fit(X[200:], y[200:])
    np.testing.assert_allclose(continued.cv_results_["mean_test_score"],
                               whole.cv_results_["mean_test_score"], rtol=1e-10)


def collinear(n=2000, from_row=0):
    """A feature that repeats another to 1e-7 from row ``from_row`` on (to
    1e-3 before it, which the head's forecast accepts): co-moments lose what
    roots keep."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(n, 4))
    X[:, 3] = X[:, 0] + 1e-3 * X[:, 3]
    X[from_row:, 3] = X[from_row:, 0] + 1e-7 * rng.normal(size=n - from_row)
    return X, X[:, :3] @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=n)


def test_a_collinear_head_keeps_every_row_as_a_root(short_head, monkeypatch):
    # The complete head forecasts co-moments too imprecise: one pass of roots.
    X, y = collinear()
    fast = search().fit(X, y)
    state = stream_state(fast)
    assert state.roots_only and state.tail is None and state.head_rows == len(X)
    streamed = in_batches(search(), X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LinAlgWarning)
        scores = streamed.cv_results_["mean_test_score"]
    assert stream_state(streamed).roots_only
    exact_roots(monkeypatch)
    exact = search().fit(X, y)
    for result in (fast.cv_results_["mean_test_score"], scores):
        np.testing.assert_allclose(result, exact.cv_results_["mean_test_score"], rtol=1e-10)


def test_a_collinear_tail_gets_a_second_pass_with_exact_roots(short_head, monkeypatch,
                                                               capsys):
    X, y = collinear(from_row=HEAD)  # the head did not see it coming
    fast = search(verbose=1).fit(X, y)
    assert "a second pass forms exact QR roots" in capsys.readouterr().out
    assert stream_state(fast).tail is None  # the roots are what is kept
    exact_roots(monkeypatch)
    exact = search().fit(X, y)
    np.testing.assert_array_equal(fast.cv_results_["mean_test_score"],
                                  exact.cv_results_["mean_test_score"])


def test_partial_fit_warns_when_its_co_moments_are_not_exact_enough(short_head):
    X, y = collinear(from_row=HEAD)
    streamed = in_batches(search(), X, y)
    state = stream_state(streamed)
    assert state.tail is not None
    assert state.relative_error() > reference.PRECISION_TOLERANCE
    with pytest.warns(LinAlgWarning, match="relative .* only: the features are nearly "
                                           "collinear") as record:
        assert streamed.best_params_["reg_lambda"] in LAMBDAS
    # Shown at the user's line, not inside the package.
    assert {entry.filename for entry in record if entry.category is LinAlgWarning} == {__file__}
    X, y = problem()
    well_posed = in_batches(search(), X, y)
    assert 0 < stream_state(well_posed).relative_error() < 1e-12
    with warnings.catch_warnings():
        warnings.simplefilter("error", LinAlgWarning)
        assert well_posed.best_params_["reg_lambda"] in LAMBDAS


def test_errors_name_rows_after_the_head_by_their_position(short_head):
    X, y = problem(n=1000)
    X[700, 1] = 5.0
    explode = FunctionTransformer(lambda Z: np.exp(800.0 * (Z - 4.0)))  # inf at 5 only
    with pytest.raises(ValueError, match="first at row 700"):
        search(feature_map=explode).fit(X, y)


def test_exactly_dependent_columns_keep_the_fast_path(short_head, monkeypatch):
    # A column that repeats another exactly (as one-hot columns without a
    # dropped level sum to one) carries no coefficient: the bound ignores it.
    X, y = problem()
    X = np.column_stack([X, X[:, 0], X[:, 1] - X[:, 2]])
    fast = search().fit(X, y)
    state = stream_state(fast)
    assert state.tail is not None and state.relative_error() < 1e-12
    exact_roots(monkeypatch)
    exact = search().fit(X, y)
    np.testing.assert_allclose(fast.cv_results_["mean_test_score"],
                               exact.cv_results_["mean_test_score"], rtol=1e-10)


def test_dependent_targets_are_bounded_one_at_a_time(short_head):
    X, y = problem()
    Y = np.column_stack([y, 2.0 * y, y + X[:, 0]])
    state = stream_state(search().fit(X, Y))
    assert state.tail is not None and state.relative_error() < 1e-12


def test_a_tail_of_few_rows_is_bounded_with_its_cells_head(short_head):
    # 12 rows after the head: tail cells of 3 rows, singular on their own.
    X, y = problem(n=HEAD + 12)
    streamed = search()
    streamed.partial_fit(X[:150], y[:150])
    streamed.partial_fit(X[150:], y[150:])
    state = stream_state(streamed)
    assert state.tail is not None and state.relative_error() < 1e-12
    with warnings.catch_warnings():
        warnings.simplefilter("error", LinAlgWarning)
        assert streamed.best_params_["reg_lambda"] in LAMBDAS


@pytest.mark.parametrize("x_scale, y_scale", [(1e-160, 1.0), (1.0, 1e-170), (1.0, 1e150)])
def test_tiny_and_huge_columns_are_scaled_before_their_products(short_head, monkeypatch,
                                                                x_scale, y_scale):
    # Squares of 1e-160 are subnormal (four digits); of 1e150, near overflow.
    X, y = problem(n=1000)
    X, y = X * x_scale, y * y_scale

    def fit():
        return SelfDistilledRidgeCV(reg_lambdas=[1e-3, 1.0], alphas=(1.0,), max_steps=1,
                                    cv=4).fit(X, y)

    fast = fit()
    state = stream_state(fast)
    assert state.tail is not None and state.scale is not None
    exact_roots(monkeypatch)
    exact = fit()
    np.testing.assert_allclose(fast.cv_results_["mean_test_score"],
                               exact.cv_results_["mean_test_score"], rtol=1e-10)
    np.testing.assert_allclose(fast.best_estimator_.coef_, exact.best_estimator_.coef_,
                               rtol=1e-10)


@pytest.mark.parametrize("value", [0.1, 1 / 3, 7.77])
def test_a_constant_feature_gets_no_reference_coefficient(short_head, monkeypatch, value):
    # Centred, a constant 0.1 is rounding noise: a coefficient fitted to it
    # (1e12) would round every residual y - phi b0 to 1e-4.
    X, y = problem()
    X[:, 2] = value
    fast = search().fit(X, y)
    state = stream_state(fast)
    assert state.tail is not None and abs(state.reference[2, 0]) < 1e-12
    exact_roots(monkeypatch)
    exact = search().fit(X, y)
    np.testing.assert_allclose(fast.cv_results_["mean_test_score"],
                               exact.cv_results_["mean_test_score"], rtol=1e-10)


@pytest.mark.parametrize("closeness, noise, loose", [
    (1e-1, 1.0, 0.0), (1e-2, 1.0, 0.0), (1e-1, 1.0, 1e-9), (1e-2, 1e-3, 0.0),  # at once
    (1e-3, 1.0, 0.0), (1e-5, 1.0, 0.0), (1e-1, 1e-6, 0.0),  # the bound is above tolerance
    (1e-1, 1.0, 1e-6),  # dependent to 1e-6 only: not an exact combination
])
def test_dependent_features_are_bounded_at_once_only_within_the_tolerance(closeness, noise,
                                                                          loose):
    # Six features, two of them `closeness` apart, four exact combinations
    # of them (to `loose`), and a target `noise` from them: the Cholesky
    # factorisations accept exactly where the eigendecomposition does.
    rng = np.random.default_rng(1)
    n = 4000
    base = rng.normal(size=(n, 6))
    base[:, 5] = base[:, 0] + closeness * rng.normal(size=n)
    dependent = base @ rng.integers(-2, 3, size=(6, 4)) + loose * rng.normal(size=(n, 4))
    target = base @ rng.normal(size=6) + noise * rng.normal(size=n)
    Z = np.column_stack([base, dependent, target])
    Z -= Z.mean(axis=0)
    comoment = Z.T @ Z
    exact = reference._error_bound(comoment, 10)  # eigendecomposition
    at_once = reference._error_bound(comoment, 10, reference.PRECISION_TOLERANCE)
    scaled, _ = reference._scaled(comoment)
    least = 4 * 11 * np.finfo(float).eps / reference.PRECISION_TOLERANCE
    accepted = reference._within_at_once(scaled, 10, least, 11)
    assert accepted == (exact <= reference.PRECISION_TOLERANCE)
    assert at_once == (0.0 if accepted else exact)


def test_the_rounding_of_the_residuals_is_bounded():
    # 2 eps sum |phi||b0| against the residuals' spread: 1e-15 against 1e-3
    # is exact enough, against 1e-9 it is not.
    raw, coef = np.ones(5), np.ones((5, 1))
    rounding = 2 * np.finfo(float).eps * 5
    assert reference._rounding(raw, coef) == pytest.approx([rounding])
    assert reference._formation_error(reference._rounding(raw, coef),
                                      np.array([1e-3])) == pytest.approx(
        2 * rounding / 1e-3 + (rounding / 1e-3) ** 2)
    assert reference._formation_error(reference._rounding(raw, coef), np.array([1e-9])) > \
        reference.PRECISION_TOLERANCE
    assert reference._formation_error(reference._rounding(raw, np.zeros((5, 1))),
                                      np.array([0.0])) == 0.0


def test_a_head_of_zero_weights_waits_for_weighted_rows(short_head, monkeypatch):
    X, y = problem(n=3000, noise=0.01)
    weights = np.ones(len(X))
    weights[:HEAD] = 0.0  # the first HEAD rows carry nothing
    fast = search().fit(X, y, sample_weight=weights)
    state = stream_state(fast)
    assert state.tail is not None and state.head_rows >= 2 * HEAD
    assert state.relative_error() <= reference.PRECISION_TOLERANCE
    streamed = in_batches(search(), X, y, 7, sample_weight=weights)
    assert stream_state(streamed).head_rows == state.head_rows
    exact_roots(monkeypatch)
    exact = search().fit(X, y, sample_weight=weights)
    for result in (fast, streamed):
        np.testing.assert_allclose(result.cv_results_["mean_test_score"],
                                   exact.cv_results_["mean_test_score"], rtol=1e-10)


@pytest.mark.parametrize("row", [100, 1500], ids=["in the head", "after the head"])
def test_rows_of_weight_zero_change_nothing_whatever_their_values(short_head, row):
    # 1e308 times b0 is inf, and inf times a weight of 0 NaN: the row must
    # weigh nothing before phi b0 is formed.
    X, y = problem()
    weights = np.ones(len(X))
    weights[row] = 0.0
    huge, plain = X.copy(), X.copy()
    huge[row], plain[row] = 1e308, 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        far = search().fit(huge, y, sample_weight=weights)
        streamed = in_batches(search(), huge, y, 3, sample_weight=weights)
    near = search().fit(plain, y, sample_weight=weights)
    for result in (far, streamed):
        np.testing.assert_allclose(result.cv_results_["mean_test_score"],
                                   near.cv_results_["mean_test_score"], rtol=1e-12)


def test_cells_of_a_few_rows_are_bounded_in_their_folds(short_head, monkeypatch, capsys):
    # ShuffleSplit cuts the rows into many cells of one or two rows, singular
    # alone; each split's held-out cells are bounded together.
    from sklearn.model_selection import ShuffleSplit

    X, y = problem(n=3000)
    splitter = ShuffleSplit(8, test_size=0.2, random_state=0)
    fast = search(cv=splitter, verbose=1).fit(X, y)
    assert "second pass" not in capsys.readouterr().out
    exact_roots(monkeypatch)
    exact = search(cv=splitter).fit(X, y)
    np.testing.assert_allclose(fast.cv_results_["mean_test_score"],
                               exact.cv_results_["mean_test_score"], rtol=1e-10)


@pytest.mark.parametrize("head_rows", [HEAD, 10 ** 9], ids=["head and tail", "roots only"])
@pytest.mark.parametrize("offset", [1e8, 1e12])
def test_fold_models_lose_nothing_to_an_offset_of_the_targets(monkeypatch, head_rows, offset):
    # The held-out means are taken from the training centre with both parts
    # of each mean, and u is formed about the head's mean: y + 1e12 gives
    # the fit of the same targets shifted back exactly (it moved alpha* by
    # 2e-3 and the coefficients by 1e-6).
    monkeypatch.setattr(reference, "MIN_REFERENCE_ROWS", head_rows)
    X, y = problem(n=2000)
    far = y + offset
    near = far - offset  # the same targets, shifted exactly
    model = SelfDistilledRidge(alpha="optimal", n_steps=3, cv=5)
    shifted, plain = clone(model).fit(X, far), clone(model).fit(X, near)
    np.testing.assert_allclose(shifted.alphas_, plain.alphas_, rtol=1e-9)
    np.testing.assert_allclose(shifted.coef_, plain.coef_, rtol=1e-12)
    scores = [search().fit(X, targets).cv_results_["mean_test_score"] for targets in (far, near)]
    np.testing.assert_allclose(*scores, rtol=1e-9)


def test_a_state_pickled_before_the_centre_existed_loads_about_zero(short_head, monkeypatch):
    # States of earlier versions formed u about 0 (here: a centre of zeros
    # from the start, the attribute then removed): loaded, they go on so.
    import pickle

    original = reference.ReferencedCells.with_reference

    def about_zero(self):
        state = original(self)
        if state.centre is not None:
            state.centre = np.zeros_like(state.centre)
        return state

    monkeypatch.setattr(reference.ReferencedCells, "with_reference", about_zero)
    X, y = problem(n=1000)
    streamed = in_batches(search(), X[:800], y[:800], 2)
    state = stream_state(streamed)
    old = {key: value for key, value in vars(state).items() if key != "centre"}
    old_state = object.__new__(type(state))
    old_state.__dict__.update(old)
    loaded = pickle.loads(pickle.dumps(old_state))
    np.testing.assert_array_equal(loaded.centre, np.zeros(X.shape[1] + 1))
    streamed._partial_stream._cells = loaded
    streamed.partial_fit(X[800:], y[800:])
    exact = search().fit(X, y)
    np.testing.assert_allclose(streamed.cv_results_["mean_test_score"],
                               exact.cv_results_["mean_test_score"], rtol=1e-10)


def test_rows_far_larger_than_the_head_are_caught(short_head, monkeypatch):
    # Features 1e8 times the head's: rounding phi b0 swamps the residuals.
    X, y = problem(n=2000)
    X[HEAD:] *= 1e8
    streamed = in_batches(search(), X, y)
    assert stream_state(streamed).relative_error() > reference.PRECISION_TOLERANCE
    with pytest.warns(LinAlgWarning, match="later rows are far larger"):
        assert streamed.best_params_["reg_lambda"] in LAMBDAS
    fast = search().fit(X, y)
    assert stream_state(fast).tail is None  # the second pass's roots
    exact_roots(monkeypatch)
    exact = search().fit(X, y)
    np.testing.assert_array_equal(fast.cv_results_["mean_test_score"],
                                  exact.cv_results_["mean_test_score"])


def test_rows_far_smaller_than_the_head_lose_nothing_that_counts(short_head, monkeypatch):
    # Features of 1e-170 after a head of 1: about the head's mean they are
    # the mean itself, their spread below its rounding, and they carry
    # nothing the held-out errors see (formed raw, their squares underflowed
    # to zeros and a second pass was needed).
    X, y = problem(n=2000)
    X[HEAD:] *= 1e-170
    with warnings.catch_warnings():
        warnings.simplefilter("error", LinAlgWarning)
        streamed = in_batches(search(), X, y)
        scores = streamed.cv_results_["mean_test_score"]
        fast = search().fit(X, y)
    assert stream_state(fast).tail is not None  # no second pass
    exact_roots(monkeypatch)
    exact = search().fit(X, y).cv_results_["mean_test_score"]
    for result in (scores, fast.cv_results_["mean_test_score"]):
        np.testing.assert_allclose(result, exact, rtol=1e-12)
