"""SelfDistilledRidge against independent references.

The references are SelfDistilledKernelRidge with the linear kernel (the same
model in the dual), scikit-learn's Ridge refitted step by step on the blended
targets of eqs. (3)-(5), and the normal equations on explicit features.
"""

import math
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy import sparse
from sklearn.base import clone
from sklearn.kernel_approximation import Nystroem
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from selfdistill_sklearn import SelfDistilledKernelRidge, SelfDistilledRidge, SelfDistilledRidgeCV
from selfdistill_sklearn.closed_forms import optimal_alpha_terms

RTOL = 1e-8


def make_data(n=60, n_features=4, n_targets=None, n_val=25, seed=0, offset=0.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features)) + offset
    X_val = rng.normal(size=(n_val, n_features)) + offset
    coef = rng.normal(size=(n_features,) if n_targets is None else (n_features, n_targets))

    def target(Z):
        clean = np.sin(Z) @ coef + 3.0
        return clean + 0.3 * rng.normal(size=clean.shape)

    return X, target(X), X_val, target(X_val)


def ridge_chain(X, y, alphas, reg_lambda, sample_weight=None, fit_intercept=True):
    """Eqs. (3)-(5) literally: one sklearn Ridge fit per step on blended targets."""
    models, targets = [], y
    for step in range(len(alphas) + 1):
        if step > 0:
            targets = alphas[step - 1] * y + (1 - alphas[step - 1]) * models[-1].predict(X)
        models.append(Ridge(alpha=reg_lambda, fit_intercept=fit_intercept, solver="cholesky")
                      .fit(X, targets, sample_weight))
    return models


def reference_optimal_alphas(X, y, reg_lambda, n_steps, validation_sets, sample_weight=None,
                             fit_intercept=True):
    """Algorithm 1 by refitting: ``validation_sets`` is a list of (train, X_test,
    y_test, w_test) with ``train`` row indices into X."""
    alphas = []
    for _ in range(n_steps - 1):
        numerator = denominator = 0.0
        for train, X_test, y_test, w_test in validation_sets:
            w = None if sample_weight is None else sample_weight[train]
            models = ridge_chain(X[train], y[train], alphas, reg_lambda, w, fit_intercept)
            zero = Ridge(alpha=reg_lambda, fit_intercept=fit_intercept, solver="cholesky").fit(
                X[train], models[-1].predict(X[train]), w)
            num, den = optimal_alpha_terms(models[0].predict(X_test), zero.predict(X_test),
                                           y_test, w_test)
            numerator += num
            denominator += den
        alphas.append(numerator / denominator)
    return np.array(alphas)


def assert_staged_equal(model, reference_predictions, X_new, rtol=RTOL):
    staged = list(model.staged_predict(X_new))
    assert len(staged) == len(reference_predictions)
    for ours, theirs in zip(staged, reference_predictions, strict=True):
        assert_allclose(ours, theirs, rtol=rtol, atol=rtol * np.abs(theirs).max())


@parametrize_with_checks([SelfDistilledRidge(),
                          SelfDistilledRidge(alpha="optimal", n_steps=3, cv=3),
                          SelfDistilledRidge(n_steps=math.inf, fit_intercept=False)])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


# -- exactness against the kernel estimator with the linear kernel ------------------------

ALPHA_CASES = [
    (0.3, 4),
    ([0.2, 0.9, 1.4], 4),
    (0.0, 3),
    (0.7, 1),
]


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("n_targets", [None, 2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("alpha", "n_steps"), ALPHA_CASES)
def test_equals_linear_kernel(alpha, n_steps, weighted, n_targets, fit_intercept):
    X, y, X_val, _ = make_data(n_targets=n_targets, offset=2.0)
    w = np.random.default_rng(1).uniform(0.2, 2.0, size=len(y)) if weighted else None
    ours = SelfDistilledRidge(alpha=alpha, n_steps=n_steps, reg_lambda=0.7,
                              fit_intercept=fit_intercept).fit(X, y, sample_weight=w)
    theirs = SelfDistilledKernelRidge(alpha=alpha, n_steps=n_steps, reg_lambda=0.7,
                                      kernel="linear", fit_intercept=fit_intercept).fit(
        X, y, sample_weight=w)
    assert_staged_equal(ours, list(theirs.staged_predict(X_val)), X_val)
    assert_allclose(ours.alphas_, theirs.alphas_, rtol=RTOL)
    # Predictions are K c + b = X X^T c + b in the dual, so beta = X^T c.
    beta = np.einsum("nd,tn...->t...d", X, theirs.staged_dual_coef_)
    assert_allclose(ours.staged_coef_, beta, rtol=RTOL, atol=RTOL * np.abs(beta).max())
    assert_allclose(ours.staged_intercept_, theirs.staged_intercept_, rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n_targets", [None, 2])
def test_optimal_equals_linear_kernel(weighted, n_targets, fit_intercept):
    X, y, X_val, y_val = make_data(n_targets=n_targets, offset=-1.0)
    w = np.random.default_rng(2).uniform(0.2, 2.0, size=len(y)) if weighted else None
    for fit_kwargs in ({"X_val": X_val, "y_val": y_val}, {}):
        ours = SelfDistilledRidge(alpha="optimal", n_steps=5, reg_lambda=3.0, cv=KFold(4),
                                  fit_intercept=fit_intercept).fit(
            X, y, sample_weight=w, **fit_kwargs)
        theirs = SelfDistilledKernelRidge(alpha="optimal", n_steps=5, reg_lambda=3.0,
                                          cv=KFold(4), fit_intercept=fit_intercept).fit(
            X, y, sample_weight=w, **fit_kwargs)
        assert_allclose(ours.alphas_, theirs.alphas_, rtol=RTOL)
        assert_staged_equal(ours, list(theirs.staged_predict(X_val)), X_val)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("alpha", [0.25, 1.0, 0.0])
def test_limit_equals_linear_kernel(alpha, weighted, fit_intercept):
    X, y, X_val, _ = make_data(n_targets=2, offset=1.0)
    w = np.random.default_rng(2).uniform(0.2, 2.0, size=len(y)) if weighted else None
    ours = SelfDistilledRidge(alpha=alpha, n_steps=math.inf, reg_lambda=2.0,
                              fit_intercept=fit_intercept).fit(X, y, sample_weight=w)
    theirs = SelfDistilledKernelRidge(alpha=alpha, n_steps=math.inf, reg_lambda=2.0,
                                      fit_intercept=fit_intercept).fit(X, y, sample_weight=w)
    assert_allclose(ours.predict(X_val), theirs.predict(X_val), rtol=RTOL, atol=1e-12)
    assert_allclose(ours.intercept_, theirs.intercept_, rtol=RTOL, atol=1e-12)
    assert not hasattr(ours, "staged_coef_")
    with pytest.raises(ValueError, match="finite n_steps"):
        next(ours.staged_predict(X_val))


def _weighted_centre(X, y, w):
    w = np.ones(len(y)) if w is None else w
    mu = np.average(X, axis=0, weights=w)
    nu = np.average(y, axis=0, weights=w)
    return X - mu, y - nu, mu, nu


@pytest.mark.parametrize("weighted", [False, True])
def test_intercept_is_the_weighted_centring(weighted):
    """An unpenalised intercept is the weighted centring of the
    features and targets, at every step, with alpha* on validation data too."""
    X, y, X_val, y_val = make_data(n_targets=2, offset=5.0)
    w = np.random.default_rng(3).uniform(0.2, 2.0, size=len(y)) if weighted else None
    Xc, yc, mu, nu = _weighted_centre(X, y, w)
    ours = SelfDistilledRidge(alpha="optimal", n_steps=4, reg_lambda=0.7).fit(
        X, y, sample_weight=w, X_val=X_val, y_val=y_val)
    theirs = SelfDistilledKernelRidge(alpha="optimal", n_steps=4, reg_lambda=0.7,
                                      fit_intercept=False).fit(
        Xc, yc, sample_weight=w, X_val=X_val - mu, y_val=y_val - nu)
    assert_allclose(ours.alphas_, theirs.alphas_, rtol=RTOL)
    assert_staged_equal(ours, [p + nu for p in theirs.staged_predict(X_val - mu)], X_val)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_every_step_equals_ridge_refits(weighted, fit_intercept):
    """Theorem 4.1 with an intercept: the closed form equals refitting sklearn's Ridge
    on the blended targets at every step, coefficients and intercepts included."""
    X, y, X_val, _ = make_data(n_targets=2, offset=2.0)
    w = np.random.default_rng(4).uniform(0.0, 2.0, size=len(y)) if weighted else None
    alphas = [0.1, 0.6, 1.2, 0.3]
    ours = SelfDistilledRidge(alpha=alphas, n_steps=5, reg_lambda=1.5,
                              fit_intercept=fit_intercept).fit(X, y, sample_weight=w)
    models = ridge_chain(X, y, alphas, 1.5, w, fit_intercept)
    for step, model in enumerate(models):
        assert_allclose(ours.staged_coef_[step], model.coef_, rtol=RTOL, atol=1e-12)
        assert_allclose(ours.staged_intercept_[step], model.intercept_, rtol=RTOL, atol=1e-12)
    assert_staged_equal(ours, [model.predict(X_val) for model in models], X_val)


@pytest.mark.parametrize("weighted", [False, True])
def test_optimal_with_folds_and_intercept_equals_refits(weighted):
    X, y, X_val, _ = make_data(n=50, offset=4.0)
    w = np.random.default_rng(5).uniform(0.2, 2.0, size=len(y)) if weighted else None
    splits = list(KFold(5, shuffle=True, random_state=0).split(X))
    sets = [(train, X[test], y[test], None if w is None else w[test]) for train, test in splits]
    expected = reference_optimal_alphas(X, y, 2.0, 4, sets, w)
    ours = SelfDistilledRidge(alpha="optimal", n_steps=4, reg_lambda=2.0, cv=splits).fit(
        X, y, sample_weight=w)
    assert_allclose(ours.alphas_, expected, rtol=RTOL)
    assert_staged_equal(ours, [m.predict(X_val) for m in ridge_chain(X, y, expected, 2.0, w)],
                        X_val)


def test_optimal_on_validation_data_equals_refits():
    X, y, X_val, y_val = make_data(n_targets=2, offset=-2.0)
    expected = reference_optimal_alphas(X, y, 0.5, 4, [(np.arange(len(y)), X_val, y_val, None)])
    ours = SelfDistilledRidge(alpha="optimal", n_steps=4, reg_lambda=0.5).fit(
        X, y, X_val=X_val, y_val=y_val)
    assert_allclose(ours.alphas_, expected, rtol=RTOL)


@pytest.mark.parametrize("n_targets", [None, 3])
def test_one_step_with_intercept_equals_ridge(n_targets):
    X, y, X_val, _ = make_data(n_targets=n_targets, offset=1e3)
    y = y + 1e4
    w = np.random.default_rng(6).uniform(0.0, 3.0, size=len(y))
    ours = SelfDistilledRidge(n_steps=1, reg_lambda=0.3).fit(X, y, sample_weight=w)
    ridge = Ridge(alpha=0.3).fit(X, y, sample_weight=w)
    assert_allclose(ours.coef_, ridge.coef_, rtol=1e-7)
    assert_allclose(ours.intercept_, ridge.intercept_, rtol=1e-10)
    assert_allclose(ours.predict(X_val), ridge.predict(X_val), rtol=1e-10)


def test_constant_shift_of_targets_moves_every_prediction():
    """A constant added to y moves every step, the limit and the
    optimal weights' predictions by that constant, and leaves alpha* alone."""
    X, y, X_val, y_val = make_data()
    for params, fit_kwargs in (({"alpha": 0.4, "n_steps": 4}, {}),
                               ({"alpha": "optimal", "n_steps": 4}, {}),
                               ({"alpha": "optimal", "n_steps": 3},
                                {"X_val": X_val, "y_val": y_val}),
                               ({"alpha": 0.4, "n_steps": math.inf}, {})):
        base = SelfDistilledRidge(**params).fit(X, y, **fit_kwargs)
        shifted_kwargs = dict(fit_kwargs)
        if "y_val" in shifted_kwargs:
            shifted_kwargs["y_val"] = y_val + 50.0
        moved = SelfDistilledRidge(**params).fit(X, y + 50.0, **shifted_kwargs)
        assert_allclose(moved.predict(X_val), base.predict(X_val) + 50.0, rtol=1e-10)
        assert_allclose(moved.alphas_, base.alphas_, rtol=1e-7)


# -- input forms --------------------------------------------------------------------------

def test_sparse_float32_and_block_size_give_the_same_fit():
    X, y, X_val, _ = make_data(n=97)
    reference = SelfDistilledRidge(alpha="optimal", n_steps=3, cv=KFold(3)).fit(X, y)
    small_blocks = SelfDistilledRidge(alpha="optimal", n_steps=3, cv=KFold(3),
                                      block_size=7).fit(X, y)
    assert_allclose(small_blocks.staged_coef_, reference.staged_coef_, rtol=1e-10)
    assert_allclose(small_blocks.alphas_, reference.alphas_, rtol=1e-10)
    X_sparse = sparse.csr_matrix(np.where(np.abs(X) > 0.5, X, 0.0))
    dense = SelfDistilledRidge(n_steps=3).fit(X_sparse.toarray(), y)
    assert_allclose(SelfDistilledRidge(n_steps=3).fit(X_sparse, y).coef_, dense.coef_,
                    rtol=1e-12)
    assert_allclose(dense.predict(X_sparse), dense.predict(X_sparse.toarray()), rtol=1e-12)
    single = SelfDistilledRidge(n_steps=3).fit(X.astype(np.float32), y.astype(np.float32))
    exact = SelfDistilledRidge(n_steps=3).fit(X.astype(np.float32).astype(float),
                                              y.astype(np.float32).astype(float))
    assert single.coef_.dtype == np.float64
    assert_allclose(single.coef_, exact.coef_, rtol=1e-12)


def test_data_passed_is_not_modified():
    X, y, X_val, y_val = make_data(offset=3.0)
    copies = [a.copy() for a in (X, y, X_val, y_val)]
    model = SelfDistilledRidge(alpha="optimal", n_steps=3).fit(X, y, X_val=X_val, y_val=y_val)
    model.predict(X_val)
    for original, copy in zip((X, y, X_val, y_val), copies, strict=True):
        assert_allclose(original, copy, rtol=0, atol=0)


def test_feature_map_is_cloned_fitted_and_applied_block_by_block():
    X, y, X_val, _ = make_data(n=120)
    feature_map = Nystroem(gamma=0.2, n_components=30, random_state=0)
    model = SelfDistilledRidge(alpha=0.5, n_steps=3, feature_map=feature_map,
                               block_size=17).fit(X, y)
    assert not hasattr(feature_map, "components_")
    features = clone(feature_map).fit(X, y).transform
    explicit = SelfDistilledRidge(alpha=0.5, n_steps=3).fit(features(X), y)
    assert_allclose(model.staged_coef_, explicit.staged_coef_, rtol=1e-10)
    assert_allclose(model.predict(X_val), explicit.predict(features(X_val)), rtol=1e-10)
    assert model.n_features_out_ == 30
    # A sample of the rows is all that Nystroem needs: its landmarks are training rows.
    sampled = SelfDistilledRidge(feature_map=feature_map, feature_map_samples=40,
                                 random_state=0).fit(X, y)
    landmarks = sampled.feature_map_.components_
    assert all(np.any(np.all(X == row, axis=1)) for row in landmarks)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_spectral_shrinkage_matches_the_kernel_estimator(fit_intercept):
    X, y, _, _ = make_data(offset=1.0)
    w = np.random.default_rng(7).uniform(0.2, 2.0, size=len(y))
    ours = SelfDistilledRidge(alpha=0.3, n_steps=4, reg_lambda=0.5,
                              fit_intercept=fit_intercept).fit(X, y, w).spectral_shrinkage()
    theirs = SelfDistilledKernelRidge(alpha=0.3, n_steps=4, reg_lambda=0.5,
                                      fit_intercept=fit_intercept).fit(
        X, y, w).spectral_shrinkage()
    m = X.shape[1]
    assert set(ours) == set(theirs)
    assert_allclose(ours.eigenvalues, theirs.eigenvalues[-m:], rtol=1e-9)
    assert_allclose(theirs.eigenvalues[:-m], 0.0, atol=1e-9 * theirs.eigenvalues[-1])
    assert_allclose(ours.diagonals, theirs.diagonals[:, -m:], rtol=1e-9, atol=1e-12)
    assert_allclose(ours.limit, theirs.limit[-m:], rtol=1e-9, atol=1e-12)
    assert_allclose(ours.alphas, theirs.alphas)


def test_pipeline_grid_search_clone_and_pickle():
    X, y, X_val, _ = make_data()
    pipe = make_pipeline(StandardScaler(), SelfDistilledRidge(n_steps=3))
    search = GridSearchCV(pipe, {"selfdistilledridge__reg_lambda": [0.1, 1.0]}, cv=3).fit(X, y)
    assert search.best_params_["selfdistilledridge__reg_lambda"] in (0.1, 1.0)
    model = SelfDistilledRidge(n_steps=3, feature_map=Nystroem(n_components=10,
                                                               random_state=0)).fit(X, y)
    assert "feature_map__gamma" in model.get_params(deep=True)
    assert_allclose(pickle.loads(pickle.dumps(model)).predict(X_val), model.predict(X_val))
    assert not hasattr(clone(model), "coef_")


# -- bad input ----------------------------------------------------------------------------

def test_feature_map_must_be_a_transformer():
    X, y, _, _ = make_data()
    with pytest.raises(TypeError, match="feature_map must be None or a scikit-learn transformer"):
        SelfDistilledRidge(feature_map=Ridge()).fit(X, y)


@pytest.mark.parametrize(("params", "error", "match"), [
    ({"block_size": 0}, ValueError, "block_size must be >= 1"),
    ({"block_size": 2.5}, TypeError, "block_size must be an int"),
    ({"feature_map": Nystroem(n_components=5), "feature_map_samples": 0}, ValueError,
     "feature_map_samples"),
    ({"reg_lambda": 0.0}, ValueError, "reg_lambda"),
    ({"alpha": [0.5], "n_steps": math.inf}, ValueError, "schedule"),
    ({"alpha": 1.5}, ValueError, "alpha must lie in"),
])
def test_bad_parameters_are_named(params, error, match):
    X, y, _, _ = make_data()
    with pytest.raises(error, match=match):
        SelfDistilledRidge(**params).fit(X, y)


def test_validation_data_is_checked_against_fit():
    import pandas as pd

    X, y, X_val, y_val = make_data()
    columns = [f"x{i}" for i in range(X.shape[1])]
    frame = pd.DataFrame(X, columns=columns)
    model = SelfDistilledRidge(alpha="optimal", n_steps=3)
    with pytest.raises(ValueError, match="X_val does not match X"):
        model.fit(frame, y, X_val=pd.DataFrame(X_val, columns=columns[::-1]), y_val=y_val)
    with pytest.raises(ValueError, match="X_val does not match X"):
        model.fit(X, y, X_val=X_val[:, :2], y_val=y_val)
    with pytest.raises(ValueError, match="given together"):
        model.fit(X, y, X_val=X_val)
    with pytest.raises(ValueError, match="samples but y_val"):
        model.fit(X, y, X_val=X_val, y_val=y_val[:3])


def test_failed_fit_keeps_the_previous_state():
    X, y, X_val, _ = make_data()
    model = SelfDistilledRidge(n_steps=3).fit(X, y)
    before = {key: np.copy(value) if isinstance(value, np.ndarray) else value
              for key, value in vars(model).items()}
    with pytest.raises(ValueError):
        model.fit(X[:, :2], y, sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="X_val does not match"):
        model.set_params(alpha="optimal").fit(X[:, :3], y, X_val=X_val, y_val=y[:25])
    model.set_params(alpha=0.5)
    assert model.n_features_in_ == X.shape[1]
    for key, value in before.items():
        if isinstance(value, np.ndarray):
            assert_allclose(getattr(model, key), value)
    assert_allclose(model.predict(X_val), SelfDistilledRidge(n_steps=3).fit(X, y).predict(X_val))


def test_nan_in_input_is_refused():
    X, y, _, _ = make_data()
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        SelfDistilledRidge().fit(X, y)


# -- theorems in the primal form ----------------------------------------------------------

@st.composite
def problems(draw):
    seed = draw(st.integers(0, 2 ** 16))
    n = draw(st.integers(8, 30))
    d = draw(st.integers(1, 6))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * draw(st.sampled_from([0.1, 1.0, 5.0]))
    y = rng.normal(size=n) + X @ rng.normal(size=d)
    reg_lambda = draw(st.floats(1e-2, 1e2))
    fit_intercept = draw(st.booleans())
    return X, y, reg_lambda, fit_intercept, rng


def normal_equations(X, u, reg_lambda, fit_intercept):
    """Ridge on explicit features by the normal equations, intercept by centring."""
    mu, nu = (X.mean(axis=0), u.mean()) if fit_intercept else (0.0, 0.0)
    Xc = X - mu
    beta = np.linalg.solve(Xc.T @ Xc + reg_lambda * np.eye(X.shape[1]), Xc.T @ (u - nu))
    return beta, nu - mu @ beta if fit_intercept else 0.0


@given(problems(), st.lists(st.floats(0.0, 1.0), min_size=1, max_size=5))
def test_theorem_4_1_closed_form_equals_refits(problem, alphas):
    X, y, reg_lambda, fit_intercept, _ = problem
    model = SelfDistilledRidge(alpha=alphas, n_steps=len(alphas) + 1, reg_lambda=reg_lambda,
                               fit_intercept=fit_intercept).fit(X, y)
    targets, previous = y, None
    for step in range(len(alphas) + 1):
        if step:
            targets = alphas[step - 1] * y + (1 - alphas[step - 1]) * previous
        beta, intercept = normal_equations(X, targets, reg_lambda, fit_intercept)
        previous = X @ beta + intercept
        scale = max(1.0, np.abs(beta).max())
        assert_allclose(model.staged_coef_[step], beta, rtol=1e-7, atol=1e-9 * scale)
        assert_allclose(model.staged_intercept_[step], intercept, rtol=1e-7, atol=1e-9 * scale)


@given(problems(), st.integers(2, 4))
def test_theorem_4_4_optimal_alpha_minimises_validation_error(problem, n_steps):
    X, y, reg_lambda, fit_intercept, rng = problem
    X_val = rng.normal(size=(12, X.shape[1]))
    y_val = rng.normal(size=12) + X_val.sum(axis=1)
    model = SelfDistilledRidge(alpha="optimal", n_steps=n_steps, reg_lambda=reg_lambda,
                               fit_intercept=fit_intercept).fit(X, y, X_val=X_val, y_val=y_val)

    def error(alpha_last):
        schedule = list(model.alphas_[:-1]) + [alpha_last]
        other = SelfDistilledRidge(alpha=schedule, n_steps=n_steps, reg_lambda=reg_lambda,
                                   fit_intercept=fit_intercept).fit(X, y)
        return np.sum((other.predict(X_val) - y_val) ** 2)

    best = error(model.alphas_[-1])
    for delta in (-0.3, -1e-3, 1e-3, 0.3):
        assert best <= error(model.alphas_[-1] + delta) * (1 + 1e-9) + 1e-12


@given(problems(), st.floats(0.2, 1.0))
def test_theorem_4_5_steps_converge_to_the_limit(problem, alpha):
    X, y, reg_lambda, fit_intercept, _ = problem
    limit = SelfDistilledRidge(alpha=alpha, n_steps=math.inf, reg_lambda=reg_lambda,
                               fit_intercept=fit_intercept).fit(X, y)
    beta, intercept = normal_equations(X, y, reg_lambda / alpha, fit_intercept)
    assert_allclose(limit.coef_, beta, rtol=1e-7, atol=1e-9 * max(1.0, np.abs(beta).max()))
    many = SelfDistilledRidge(alpha=alpha, n_steps=300, reg_lambda=reg_lambda,
                              fit_intercept=fit_intercept).fit(X, y)
    scale = max(1.0, np.abs(beta).max())
    assert_allclose(many.coef_, limit.coef_, rtol=1e-6, atol=1e-8 * scale)
    assert_allclose(many.intercept_, limit.intercept_, rtol=1e-6, atol=1e-8 * scale)


@pytest.mark.parametrize("value", ["False", "True", 0, 1.0, None])
@pytest.mark.parametrize("name", ["clip_alpha", "fit_intercept"])
@pytest.mark.parametrize("Estimator", [SelfDistilledRidge, SelfDistilledRidgeCV])
def test_boolean_parameters_must_be_booleans(Estimator, name, value):
    X = np.random.default_rng(0).normal(size=(30, 4))
    with pytest.raises(TypeError, match=name):
        Estimator(cv=3, **{name: value}).fit(X, X[:, 0])


def test_spectral_shrinkage_reads_the_fitted_settings_only():
    X = np.random.default_rng(0).normal(size=(30, 4))
    model = SelfDistilledRidge(alpha=0.5, n_steps=3, reg_lambda=1.0).fit(X, X[:, 0])
    before = model.spectral_shrinkage()
    model.set_params(reg_lambda=100.0, alpha=0.1, n_steps=5)
    after = model.spectral_shrinkage()
    np.testing.assert_array_equal(after.diagonals, before.diagonals)
    np.testing.assert_array_equal(after.alphas, [0.5, 0.5])
    # And the reported diagonals are those of the fitted penalty, read off G's spectrum.
    refit = SelfDistilledRidge(alpha=0.5, n_steps=3, reg_lambda=100.0).fit(X, X[:, 0])
    assert not np.allclose(refit.spectral_shrinkage().diagonals, before.diagonals)
