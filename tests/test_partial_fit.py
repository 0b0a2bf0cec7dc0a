"""partial_fit of the primal estimators: batches give the fit of their concatenation."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn import config_context
from sklearn.kernel_approximation import Nystroem, RBFSampler
from sklearn.model_selection import GridSearchCV, KFold, PredefinedSplit

from selfdistill_sklearn import (
    SelfDistilledRidge,
    SelfDistilledRidgeClassifier,
    SelfDistilledRidgeCV,
)

TOL = 1e-10
N = 103


def make_data(n=N, n_targets=None, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)) + 3.0
    coef = rng.normal(size=(4,) if n_targets is None else (4, n_targets))
    noise = rng.normal(size=(n,) if n_targets is None else (n, n_targets))
    return X, np.sin(X) @ coef + 0.5 * noise + 1.0


def batches(n, n_batches):
    """Uneven batches: the cuts at random positions."""
    cuts = np.sort(np.random.default_rng(n_batches).choice(np.arange(1, n), n_batches - 1,
                                                           replace=False))
    return np.split(np.arange(n), cuts)


def streamed(model, X, y, n_batches, sample_weight=None):
    for rows in batches(len(X), n_batches):
        model.partial_fit(X[rows], y[rows],
                          sample_weight=None if sample_weight is None else sample_weight[rows])
    return model


CASES = {
    "fixed": dict(alpha=0.3, n_steps=4, reg_lambda=0.5),
    "schedule": dict(alpha=[0.9, 0.2, 0.6], n_steps=4, reg_lambda=0.5),
    "limit": dict(alpha=0.4, n_steps=math.inf, reg_lambda=0.5),
    "optimal-folds": dict(alpha="optimal", n_steps=4, reg_lambda=0.5, cv=4),
    "optimal-gcv": dict(alpha="optimal", n_steps=3, reg_lambda=0.5, cv=None),
    "no-intercept": dict(alpha="optimal", n_steps=3, reg_lambda=0.5, cv=3,
                         fit_intercept=False),
}


@pytest.mark.parametrize("n_batches", [1, 3, 17])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize(("weighted", "n_targets"), [(False, None), (True, 2)])
def test_batches_equal_fit(case, n_batches, weighted, n_targets):
    X, y = make_data(n_targets=n_targets)
    w = np.random.default_rng(1).uniform(0.0, 2.0, size=N) if weighted else None
    # Stateless after its draw from random_state: the same map for fit and the batches.
    params = dict(CASES[case], feature_map=RBFSampler(gamma=0.2, n_components=15,
                                                      random_state=0))
    expected = SelfDistilledRidge(**params).fit(X, y, sample_weight=w)
    model = streamed(SelfDistilledRidge(**params), X, y, n_batches, w)
    assert model.n_samples_seen_ == expected.n_samples_seen_ == N
    assert_allclose(model.coef_, expected.coef_, rtol=TOL, atol=TOL)
    assert_allclose(model.intercept_, expected.intercept_, rtol=TOL, atol=TOL)
    assert_allclose(model.alphas_, expected.alphas_, rtol=TOL, atol=TOL)
    if hasattr(expected, "staged_coef_"):
        assert_allclose(model.staged_coef_, expected.staged_coef_, rtol=TOL, atol=TOL)
    assert_allclose(model.predict(X), expected.predict(X), rtol=TOL, atol=TOL)


@pytest.mark.parametrize("n_batches", [1, 3, 17])
@pytest.mark.parametrize("cv", [4, None])
def test_search_batches_equal_fit(n_batches, cv):
    X, y = make_data(n_targets=2)
    w = np.random.default_rng(2).uniform(0.1, 2.0, size=N)
    # A map fitted beforehand is used as it is; fit refits its clone on the same rows.
    feature_map = Nystroem(gamma=0.2, n_components=12, random_state=0)
    params = dict(reg_lambdas=[0.05, 1.0, 20.0], alphas=[0.0, 0.5, "optimal"], max_steps=3,
                  cv=cv)
    expected = SelfDistilledRidgeCV(**params, feature_map=feature_map).fit(X, y,
                                                                          sample_weight=w)
    model = streamed(SelfDistilledRidgeCV(**params, feature_map=feature_map.fit(X)), X, y,
                     n_batches, w)
    assert model.best_params_ == expected.best_params_
    assert model.cv_results_.keys() == expected.cv_results_.keys()
    for key, value in expected.cv_results_.items():
        if key.startswith(("mean", "std", "split", "effective")):
            assert_allclose(model.cv_results_[key], value, rtol=TOL, atol=TOL)
        else:
            assert list(model.cv_results_[key]) == list(value), key
    assert_allclose(model.optimal_alphas_, expected.optimal_alphas_, rtol=TOL, atol=TOL)
    assert_allclose(model.predict(X), expected.predict(X), rtol=TOL, atol=TOL)


def test_integer_cv_is_position_mod_k_and_nests():
    """cv=K holds out rows i = k mod K in fold k, for any number of rows; the inner
    folds of "optimal" inside a fold are the rule's K - 1 folds of its training part."""
    X, y = make_data(n=61)
    folds = PredefinedSplit(np.arange(61) % 4)
    search = SelfDistilledRidgeCV([0.1, 3.0], [0.5, "optimal"], max_steps=3, cv=4).fit(X, y)
    grid = GridSearchCV(SelfDistilledRidge(cv=3), search.param_grid_, cv=folds,
                        scoring="neg_mean_squared_error").fit(X, y)
    for split in range(4):
        key = f"split{split}_test_score"
        assert_allclose(search.cv_results_[key], grid.cv_results_[key], rtol=1e-9)
    by_position = SelfDistilledRidge(alpha="optimal", n_steps=3, cv=4).fit(X, y)
    by_splits = SelfDistilledRidge(alpha="optimal", n_steps=3, cv=folds).fit(X, y)
    assert_allclose(by_position.alphas_, by_splits.alphas_, rtol=1e-12)
    contiguous = SelfDistilledRidge(alpha="optimal", n_steps=3, cv=KFold(4)).fit(X, y)
    assert not np.allclose(by_position.alphas_, contiguous.alphas_)


def test_parameters_are_those_of_the_first_batch_and_fit_starts_over():
    X, y = make_data()
    params = dict(alpha="optimal", n_steps=3, cv=3)
    model = SelfDistilledRidge(**params).partial_fit(X[:10], y[:10])
    model.set_params(n_steps=2)  # after the batch: read with the batches' parameters
    assert len(model.alphas_) == 2  # of n_steps=3
    assert model.fit(X, y).n_samples_seen_ == N  # fit starts over, with its parameters
    assert_allclose(model.coef_, SelfDistilledRidge(**params).set_params(n_steps=2).fit(
        X, y).coef_, rtol=TOL)


CONTINUED = {
    "folds": (SelfDistilledRidge, dict(alpha="optimal", n_steps=3, cv=4)),
    "gcv": (SelfDistilledRidge, dict(alpha="optimal", n_steps=3, cv=None)),
    "fixed-splitter": (SelfDistilledRidge, dict(alpha=0.4, n_steps=3, cv=KFold(3))),
    "map": (SelfDistilledRidge, dict(alpha=[0.3, 0.6], n_steps=3,
                                     feature_map=RBFSampler(gamma=0.2, n_components=9,
                                                            random_state=0))),
    "search-folds": (SelfDistilledRidgeCV, dict(reg_lambdas=[0.1, 1.0], alphas=[0.0, 0.5],
                                                 max_steps=3, cv=4)),
    "search-gcv": (SelfDistilledRidgeCV, dict(reg_lambdas=[0.1, 1.0], alphas=[0.0, 0.5],
                                               max_steps=3, cv=None)),
}


@pytest.mark.parametrize("case", CONTINUED)
def test_partial_fit_continues_fit(case):
    """As IncrementalPCA, MiniBatchKMeans and SGD: partial_fit after fit(X_0) continues
    from fit's moments, giving fit on the concatenation."""
    Estimator, params = CONTINUED[case]
    X, y = make_data(n_targets=2)
    w = np.random.default_rng(4).uniform(0.2, 2.0, size=N)
    model = Estimator(**params).fit(X[:45], y[:45], sample_weight=w[:45])
    model.partial_fit(X[45:80], y[45:80], sample_weight=w[45:80])
    model.partial_fit(X[80:], y[80:], sample_weight=w[80:])
    expected = Estimator(**params).fit(X, y, sample_weight=w)
    assert model.n_samples_seen_ == N
    assert_allclose(model.predict(X), expected.predict(X), rtol=TOL, atol=TOL)


def test_a_fit_that_cannot_be_continued_is_refused():
    X, y = make_data()
    for model, why in [
        (SelfDistilledRidge(alpha="optimal", n_steps=3, cv=KFold(3)).fit(X, y),
         "folds came from cv=KFold"),
        (SelfDistilledRidge(alpha="optimal", n_steps=3).fit(X[:60], y[:60], X_val=X[60:],
                                                             y_val=y[60:]), "X_val"),
        (SelfDistilledRidgeCV(cv=KFold(3)).fit(X, y), "folds came from cv=KFold"),
    ]:
        coef = model.predict(X)
        with pytest.raises(TypeError, match=f"fitted by fit.*cannot continue it.*{why}"):
            model.partial_fit(X[:10], y[:10])
        assert_allclose(model.predict(X), coef, rtol=0)  # the model as it was


def _state(model):
    """Everything but the parameters: the fitted attributes and the moments."""
    return {name: value for name, value in vars(model).items()
            if name not in model.get_params(deep=False)}


def _assert_unchanged(model, before):
    after = _state(model)
    assert after.keys() == before.keys()
    for name, value in before.items():
        assert after[name] is value, name


@pytest.mark.parametrize("Estimator", [SelfDistilledRidge, SelfDistilledRidgeCV])
def test_bad_batches_raise_and_leave_the_model(Estimator):
    X, y = make_data()
    model = Estimator(cv=3).partial_fit(X[:40], y[:40])
    model.predict(X[:2])  # finalised: its attributes are part of the state kept
    before = _state(model)
    with pytest.raises(ValueError, match="X has 3 features.*expecting 4"):
        model.partial_fit(X[40:60, :3], y[40:60])
    _assert_unchanged(model, before)
    with pytest.raises(ValueError, match="0 sample"):
        model.partial_fit(X[:0], y[:0])
    _assert_unchanged(model, before)
    with pytest.raises(ValueError, match="y of this batch.*same targets"):
        model.partial_fit(X[40:60], np.c_[y[40:60], y[40:60]])
    _assert_unchanged(model, before)
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="X as torch after batches of numpy"):
        model.partial_fit(torch.asarray(X[40:60]), y[40:60])
    _assert_unchanged(model, before)
    model.set_params(fit_intercept=False)
    with pytest.raises(ValueError, match="parameters fit_intercept .*changed since the first"):
        model.partial_fit(X[40:60], y[40:60])
    _assert_unchanged(model, before)
    model.set_params(fit_intercept=True, block_size=7)  # a block size changes nothing
    model.partial_fit(X[40:], y[40:])
    assert_allclose(model.predict(X), Estimator(cv=3).fit(X, y).predict(X), rtol=TOL)


def test_later_batches_are_checked_as_validate_data_checks_them():
    """Later float64 batches skip validate_data only where it would return them as they
    are: every batch it refuses gets its error (the model unchanged), one whose sum
    overflows is checked value by value, and an array after named columns warns."""
    pd = pytest.importorskip("pandas")
    X, y = make_data()
    model = SelfDistilledRidge(alpha=0.5).partial_fit(X[:40], y[:40])
    model.predict(X[:2])
    before = _state(model)
    bad_x, bad_y = X[40:60].copy(), y[40:60].copy()
    bad_x[3, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        model.partial_fit(bad_x, y[40:60])
    bad_x[3, 1] = -np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        model.partial_fit(bad_x, y[40:60])
    bad_y[5] = np.nan
    with pytest.raises(ValueError, match="Input y contains NaN"):
        model.partial_fit(X[40:60], bad_y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        model.partial_fit(X[40:60], y[40:61])
    huge = np.full((3, 4), 1e300)  # finite, but its sum overflows: checked value by value
    with pytest.raises(ValueError, match="too large"):
        model.partial_fit(huge, y[:3])
    _assert_unchanged(model, before)
    model.partial_fit(X[40:], y[40:])
    assert_allclose(model.coef_, SelfDistilledRidge(alpha=0.5).fit(X, y).coef_, rtol=TOL)
    frame = pd.DataFrame(X, columns=list("abcd"))
    named = SelfDistilledRidge(alpha=0.5).partial_fit(frame[:40], y[:40])
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        named.partial_fit(X[40:], y[40:])


@pytest.mark.parametrize(("Estimator", "params"), [
    (SelfDistilledRidge, dict(alpha=0.5)),
    (SelfDistilledRidge, dict(alpha="optimal", cv=4)),  # folds: the referenced moments
    (SelfDistilledRidgeCV, dict(cv=3)),
])
def test_nonfinite_x_found_while_forming_features_gets_validate_datas_error(Estimator, params):
    """Without a feature map, a later batch's X is checked for NaN and infinity
    as its features are formed, not summed first: a value anywhere, in either lane of a
    large batch, still gets scikit-learn's error, and the model is unchanged."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(2600, 4))
    y = X @ [1.0, -2.0, 0.5, 0.0] + rng.normal(size=2600)
    model = Estimator(**params).partial_fit(X[:100], y[:100])
    model.predict(X[:2])
    before = _state(model)
    for row, value, message in [(5, np.nan, "Input X contains NaN"),
                                (2400, np.inf, "Input X contains infinity"),
                                (1300, -np.inf, "Input X contains infinity")]:
        bad = X[100:].copy()
        bad[row, 2] = value
        with pytest.raises(ValueError, match=message):
            model.partial_fit(bad, y[100:])
        _assert_unchanged(model, before)
    # scikit-learn told to assume finite input: the values are still checked, named as X's.
    with config_context(assume_finite=True), pytest.raises(
            ValueError, match="Input X contains NaN or infinity in rows .* first at row 1300"):
        model.partial_fit(bad, y[100:])
    _assert_unchanged(model, before)
    model.partial_fit(X[100:], y[100:])
    assert_allclose(model.predict(X[:50]), Estimator(**params).fit(X, y).predict(X[:50]),
                    rtol=TOL)


def test_nonfinite_x_is_refused_before_a_feature_map_or_weights_can_hide_it():
    """A map that fills NaN (SimpleImputer) would make a bad X look finite: such batches
    are summed first, and refused as fit refuses them. Rows of weight 0 (zeroed before
    their products with folds) are checked as their features are formed."""
    from sklearn.impute import SimpleImputer

    X, y = make_data()
    bad = X[40:].copy()
    bad[7, 0] = np.nan
    imputed = SelfDistilledRidge(feature_map=SimpleImputer()).partial_fit(X[:40], y[:40])
    with pytest.raises(ValueError, match="Input X contains NaN"):
        SelfDistilledRidge(feature_map=SimpleImputer()).fit(np.r_[X[:40], bad], y)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        imputed.partial_fit(bad, y[40:])
    weights = np.ones(N - 40)
    weights[7] = 0.0
    folds = SelfDistilledRidge(alpha="optimal", cv=3).partial_fit(X[:40], y[:40])
    with pytest.raises(ValueError, match="Input X contains NaN"):
        folds.partial_fit(bad, y[40:], sample_weight=weights)
    # X's error before the weights', as fit and Ridge give them.
    for wrong in (-weights, weights[:5]):
        with pytest.raises(ValueError, match="Input X contains NaN"):
            folds.partial_fit(bad, y[40:], sample_weight=wrong)
    with pytest.raises(ValueError, match="non-negative"):
        folds.partial_fit(X[40:], y[40:], sample_weight=-weights)
    assert folds.n_samples_seen_ == imputed.n_samples_seen_ == 40


def test_folds_need_their_rows_and_a_position_rule():
    X, y = make_data()
    model = SelfDistilledRidge(alpha="optimal", n_steps=3, cv=5).partial_fit(X[:3], y[:3])
    with pytest.raises(ValueError, match="needs at least 5 rows, but partial_fit has seen 3"):
        model.predict(X)
    assert_allclose(model.partial_fit(X[3:], y[3:]).coef_,
                    SelfDistilledRidge(alpha="optimal", n_steps=3, cv=5).fit(X, y).coef_,
                    rtol=TOL)
    with pytest.raises(TypeError, match="fold i mod cv.*cv=KFold"):
        SelfDistilledRidge(alpha="optimal", cv=KFold(3)).partial_fit(X, y)
    with pytest.raises(ValueError, match="cv=5 puts row i in fold i mod 5.*n_samples=3"):
        SelfDistilledRidge(alpha="optimal", cv=5).fit(X[:3], y[:3])
    # A fixed alpha uses no folds, whatever cv is.
    SelfDistilledRidge(alpha=0.5, cv=KFold(3)).partial_fit(X, y).predict(X)
    assert not hasattr(SelfDistilledRidgeClassifier(), "partial_fit")


def test_map_fitted_on_the_first_batch_is_named_when_it_fails():
    X, y = make_data()
    from sklearn.preprocessing import OneHotEncoder

    codes = np.c_[np.arange(N) % 3, np.arange(N) % 5].astype(float)
    model = SelfDistilledRidge(feature_map=OneHotEncoder()).partial_fit(codes[:2], y[:2])
    with pytest.raises(ValueError, match="fitted on the 2 rows of the first batch"):
        model.partial_fit(codes[2:], y[2:])
    assert model.n_samples_seen_ == 2


def test_dask_array_batches_and_a_pickled_stream():
    import pickle

    da = pytest.importorskip("dask.array")
    dask = pytest.importorskip("dask")
    X, y = make_data(n_targets=2)
    params = dict(alpha="optimal", n_steps=3, cv=4)
    expected = SelfDistilledRidge(**params).fit(X, y)
    model = SelfDistilledRidge(**params)
    with dask.config.set(scheduler="synchronous"):
        for rows in batches(N, 3):
            model.partial_fit(da.from_array(X[rows], chunks=(7, -1)),
                              da.from_array(y[rows], chunks=(7, -1)))
        with pytest.raises(ValueError, match="X has 3 features.*expecting 4"):
            model.partial_fit(da.from_array(X[:5, :3], chunks=(2, -1)),
                              da.from_array(y[:5], chunks=(2, -1)))
    restored = pickle.loads(pickle.dumps(model))  # the moments travel, not yet the model
    assert "coef_" not in vars(restored)
    assert_allclose(restored.coef_, expected.coef_, rtol=TOL)
    assert_allclose(model.alphas_, expected.alphas_, rtol=TOL)


@pytest.mark.parametrize("Estimator", [SelfDistilledRidge, SelfDistilledRidgeCV])
def test_batches_in_the_users_container_without_a_map(Estimator):
    """The container recorded is the one passed, not what the checks converted it to:
    DataFrame after DataFrame and tensor after tensor are accepted without a map."""
    pd = pytest.importorskip("pandas")
    torch = pytest.importorskip("torch")
    X, y = make_data()
    frame = pd.DataFrame(X, columns=list("abcd"))
    expected = Estimator(cv=3).fit(frame, y)
    model = Estimator(cv=3).partial_fit(frame[:30], y[:30]).partial_fit(frame[30:], y[30:])
    assert list(model.feature_names_in_) == list("abcd")
    assert_allclose(model.predict(frame), expected.predict(frame), rtol=TOL)
    tensor = torch.asarray(X)
    model = Estimator(cv=3).partial_fit(tensor[:30], y[:30]).partial_fit(tensor[30:], y[30:])
    assert_allclose(model.predict(X), Estimator(cv=3).fit(X, y).predict(X), rtol=TOL)
    with pytest.raises(TypeError, match="X as numpy after batches of torch"):
        model.partial_fit(X[:5], y[:5])


def test_messages_name_y_and_end_their_sentences():
    X, y = make_data()
    labels = np.array(["a", "b"] * (N // 2) + ["a"])
    for Estimator in (SelfDistilledRidge, SelfDistilledRidgeCV):
        with pytest.raises(ValueError, match="y must hold numbers.*could not convert"):
            Estimator().fit(X, labels)
        with pytest.raises(ValueError, match="y must hold numbers.*could not convert"):
            Estimator().partial_fit(X, list(labels))
    with pytest.raises(ValueError, match="y_val must hold numbers"):
        SelfDistilledRidge(alpha="optimal").fit(X, y, X_val=X, y_val=labels)
    from sklearn.preprocessing import OneHotEncoder

    codes = np.c_[np.arange(N) % 3].astype(float)
    model = SelfDistilledRidge(feature_map=OneHotEncoder()).partial_fit(codes[:2], y[:2])
    with pytest.raises(ValueError, match=r"first batch.*during transform\. Pass the map"):
        model.partial_fit(codes[2:], y[2:])


def test_parameters_are_compared_by_value():
    """The same values in another type are not a change; another value is."""
    from sklearn.preprocessing import StandardScaler

    X, y = make_data()
    model = SelfDistilledRidge(reg_lambda=1.0, alpha=[0.5, 0.25], n_steps=3, cv=3,
                               feature_map=StandardScaler())
    model.partial_fit(X[:40], y[:40])
    model.set_params(reg_lambda=np.float64(1.0), alpha=(np.float32(0.5), 0.25),
                     cv=np.int64(3), feature_map=StandardScaler().fit(X))
    model.partial_fit(X[40:70], y[40:70])
    model.set_params(reg_lambda=1, alpha=np.array([0.5, 0.25]))
    model.partial_fit(X[70:], y[70:])
    expected = SelfDistilledRidge(alpha=[0.5, 0.25], n_steps=3, cv=3,
                                  feature_map=StandardScaler().fit(X[:40]))
    assert_allclose(model.coef_, streamed(expected, X, y, 1).coef_, rtol=TOL)
    for changed in (dict(reg_lambda=1.5), dict(alpha=[0.5, 0.3]),
                    dict(feature_map=StandardScaler(with_mean=False)), dict(cv=4)):
        name = next(iter(changed))
        with pytest.raises(ValueError, match=f"parameters {name}.* changed"):
            model.set_params(**changed).partial_fit(X[:5], y[:5])
        model.set_params(reg_lambda=1.0, alpha=[0.5, 0.25], cv=3, feature_map=StandardScaler())
    model.feature_map.set_params(with_std=False)  # in place: named as get_params(deep=True)
    with pytest.raises(ValueError, match="parameters feature_map, feature_map__with_std of"):
        model.partial_fit(X[:5], y[:5])
    search = SelfDistilledRidgeCV(reg_lambdas=[0.1, 1.0], alphas=[0.0, 0.5], max_steps=2,
                                  cv=3).partial_fit(X[:40], y[:40])
    search.set_params(reg_lambdas=(0.1, 1), alphas=np.array([0.0, 0.5])).partial_fit(X[40:], y[40:])
    assert search.n_samples_seen_ == N


def _unfinished_models():
    """Models whose rows cannot give a fit yet, with what their error says."""
    X, y = make_data()
    w = np.ones(N)
    w[np.arange(N) % 3 == 1] = 0.0  # fold 1 of cv=3 has no weight
    return [
        (SelfDistilledRidge(alpha="optimal", n_steps=3, cv=5).partial_fit(X[:3], y[:3]),
         "needs at least 5 rows, but partial_fit has seen 3"),
        (SelfDistilledRidgeCV(cv=5).partial_fit(X[:3], y[:3]), "needs at least 5 rows"),
        (SelfDistilledRidgeCV([0.1, 1.0], [0.0, 0.5], max_steps=2, cv=3).partial_fit(
            X, y, sample_weight=w), "weight"),
    ]


def test_a_model_that_cannot_be_finalised_is_not_fitted():
    """hasattr and getattr answer (AttributeError only), check_is_fitted raises
    NotFittedError, predict says why; more rows then give the model."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    X, y = make_data()
    for model, why in _unfinished_models():
        name = "coef_" if isinstance(model, SelfDistilledRidge) else "best_estimator_"
        assert not hasattr(model, name)
        assert getattr(model, name, None) is None
        with pytest.raises(NotFittedError):
            check_is_fitted(model)
        with pytest.raises(NotFittedError, match=f"cannot be finalised.*{why}"):
            model.predict(X)
        assert model.__sklearn_is_fitted__() is False
    model = _unfinished_models()[0][0].partial_fit(X[3:], y[3:])
    check_is_fitted(model)
    assert hasattr(model, "coef_")


@pytest.mark.parametrize("Estimator", [SelfDistilledRidge, SelfDistilledRidgeCV])
@pytest.mark.parametrize("zero_rows", [slice(0, 17), slice(40, 61)], ids=["first", "middle"])
def test_a_batch_without_weight_adds_its_rows_and_nothing_else(Estimator, zero_rows):
    """A batch whose weights are all zero is accepted and only moves the fold
    positions on: the stream equals fit on the concatenation."""
    from sklearn.exceptions import NotFittedError

    X, y = make_data()
    w = np.random.default_rng(3).uniform(0.5, 2.0, size=N)
    w[zero_rows] = 0.0
    params = (dict(alpha="optimal", n_steps=3, cv=4) if Estimator is SelfDistilledRidge
              else dict(reg_lambdas=[0.1, 1.0], alphas=[0.0, "optimal"], max_steps=3, cv=4))
    expected = Estimator(**params).fit(X, y, sample_weight=w)
    model = Estimator(**params)
    for rows in (slice(0, zero_rows.start), zero_rows, slice(zero_rows.stop, N)):
        if rows.stop > rows.start:
            model.partial_fit(X[rows], y[rows], sample_weight=w[rows])
    assert_allclose(model.predict(X), expected.predict(X), rtol=TOL, atol=TOL)
    unweighted = Estimator(**params).partial_fit(X[:20], y[:20], sample_weight=np.zeros(20))
    with pytest.raises(NotFittedError, match="sample_weight must not be all zero"):
        unweighted.predict(X)
    with pytest.raises(ValueError, match="sample_weight must not be all zero"):
        Estimator(**params).fit(X[:20], y[:20], sample_weight=np.zeros(20))
    assert_allclose(unweighted.partial_fit(X[20:], y[20:], sample_weight=w[20:]).predict(X),
                    Estimator(**params).fit(X, y, sample_weight=np.r_[np.zeros(20), w[20:]])
                    .predict(X), rtol=TOL, atol=TOL)


def test_dask_batches_without_weight():
    da = pytest.importorskip("dask.array")
    dask = pytest.importorskip("dask")
    X, y = make_data()
    w = np.ones(N)
    w[30:60] = 0.0
    params = dict(alpha="optimal", n_steps=3, cv=3)
    expected = SelfDistilledRidge(**params).fit(X, y, sample_weight=w)
    model = SelfDistilledRidge(**params)
    with dask.config.set(scheduler="synchronous"):
        for rows in (slice(0, 30), slice(30, 60), slice(60, N)):
            model.partial_fit(da.from_array(X[rows], chunks=(11, -1)), y[rows],
                              sample_weight=da.from_array(w[rows], chunks=11))
    assert_allclose(model.coef_, expected.coef_, rtol=TOL, atol=TOL)


def test_the_container_counts_where_it_reaches_the_map():
    """Without a map a DataFrame is the array it becomes: numpy after it is accepted
    with scikit-learn's warning and the names kept; with a map, the map's input must
    stay the same kind."""
    pd = pytest.importorskip("pandas")
    from sklearn.preprocessing import StandardScaler

    X, y = make_data()
    frame = pd.DataFrame(X, columns=list("abcd"))
    model = SelfDistilledRidge(cv=3).partial_fit(frame[:40], y[:40])
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        model.partial_fit(X[40:], y[40:])
    assert list(model.feature_names_in_) == list("abcd")
    assert_allclose(model.coef_, SelfDistilledRidge(cv=3).fit(X, y).coef_, rtol=TOL)
    mapped = SelfDistilledRidge(feature_map=StandardScaler()).partial_fit(frame[:40], y[:40])
    with pytest.raises(TypeError, match="X as numpy after batches of DataFrame"):
        mapped.partial_fit(X[40:], y[40:])


# -- what a fit leaves, seen from its parts ------------------------------------------------
def test_a_fit_on_a_generator_of_splits_works_and_refuses_to_be_continued():
    X, y = make_data(60)
    model = SelfDistilledRidge(alpha=0.5, cv=(split for split in KFold(3).split(X))).fit(X, y)
    assert_allclose(model.coef_, SelfDistilledRidge(alpha=0.5).fit(X, y).coef_, rtol=1e-12)
    with pytest.raises(TypeError, match="cannot be kept for later batches"):
        model.partial_fit(X[:10], y[:10])


def test_the_best_estimator_of_a_search_refuses_batches_meant_for_the_search():
    X, y = make_data(60)
    search = SelfDistilledRidgeCV(reg_lambdas=[0.1, 1.0], cv=3).fit(X[:40], y[:40])
    best = search.best_estimator_
    assert best.n_samples_seen_ == 40
    before = best.predict(X)
    with pytest.raises(TypeError, match="call partial_fit on the search"):
        best.partial_fit(X[40:], y[40:])
    assert_allclose(best.predict(X), before, rtol=0, atol=0)
    search.partial_fit(X[40:], y[40:])
    assert search.n_samples_seen_ == 60


def test_an_unfitted_property_raises_not_fitted_error():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        SelfDistilledRidge().effective_dof_  # noqa: B018
    with pytest.raises(NotFittedError):
        SelfDistilledRidge().equivalent_reg_lambda_  # noqa: B018
