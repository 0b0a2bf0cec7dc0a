"""dask DataFrames and Series as the data of the primal estimators, on dask's
synchronous scheduler: the partitions reach the feature map as pandas DataFrames."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from selfdistill_sklearn import SelfDistilledRidge, SelfDistilledRidgeCV

dd = pytest.importorskip("dask.dataframe")  # needs pandas and pyarrow
da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

TOL = 1e-10


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def make_frames(n=240, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"size": rng.normal(size=n) + 5.0, "age": rng.uniform(0, 3, n),
                          "kind": rng.choice(["a", "b", "c"], n)})
    y = pd.DataFrame({"price": 2.0 * frame["size"] - frame["age"] ** 2
                      + (frame["kind"] == "a") + 0.3 * rng.normal(size=n),
                      "rent": np.sin(frame["size"]) + 0.2 * rng.normal(size=n)})
    weight = pd.Series(rng.uniform(0.2, 2.0, n), name="weight")
    return frame, y, weight


def by_name():
    """Selects its columns by name: fails unless every block is a pandas DataFrame."""
    return ColumnTransformer([("numbers", StandardScaler(), ["size", "age"]),
                              ("kind", OneHotEncoder(), ["kind"])])


def filtered(frame, y, weight, npartitions=5):
    """dask collections whose partition lengths are unknown (a filter), and the
    pandas rows they hold."""
    parts = [dd.from_pandas(part, npartitions=npartitions) for part in (frame, y, weight)]
    keep = parts[0]["age"] > 0.4
    rows = (frame["age"] > 0.4).to_numpy()
    return ([part[keep] for part in parts],
            [part[rows].reset_index(drop=True) for part in (frame, y, weight)])


CASES = [SelfDistilledRidge(alpha=0.3, n_steps=3, feature_map=by_name()),
         SelfDistilledRidge(alpha="optimal", n_steps=3, cv=3, feature_map=by_name()),
         SelfDistilledRidge(alpha="optimal", n_steps=3, cv=None, feature_map=by_name()),
         SelfDistilledRidgeCV([0.1, 2.0], [0.2, "optimal"], max_steps=3, cv=4,
                              feature_map=by_name())]


@pytest.mark.parametrize("model", CASES, ids=lambda model: type(model).__name__)
@pytest.mark.parametrize("one_target", [True, False])
def test_dask_frames_equal_pandas(model, one_target):
    frame, y, weight = make_frames()
    (X_d, y_d, w_d), (X_p, y_p, w_p) = filtered(frame, y, weight)
    assert np.isnan(X_d.to_dask_array().chunks[0]).all()  # unknown lengths
    if one_target:
        y_d, y_p = y_d["price"], y_p["price"]
    expected = model.fit(X_p, y_p, sample_weight=w_p.to_numpy())
    expected_prediction = expected.predict(X_p)
    expected_state = {name: getattr(expected, name) for name in ("best_params_", "coef_")
                      if hasattr(expected, name)}
    fitted = model.fit(X_d, y_d, sample_weight=w_d)
    assert list(fitted.feature_names_in_) == ["size", "age", "kind"]
    for name, value in expected_state.items():
        if name == "coef_":
            assert_allclose(fitted.coef_, value, rtol=TOL, atol=TOL)
        else:
            assert fitted.best_params_ == value
    if hasattr(fitted, "cv_results_"):
        assert_allclose(fitted.cv_results_["mean_test_score"],
                        expected.cv_results_["mean_test_score"], rtol=TOL)
    prediction = fitted.predict(X_d)
    assert isinstance(prediction, da.Array)  # lazy
    assert_allclose(prediction.compute(), expected_prediction, rtol=TOL, atol=TOL)


def test_partial_fit_of_dask_frames_equals_fit():
    frame, y, weight = make_frames()
    params = dict(alpha="optimal", n_steps=3, cv=3)
    expected = SelfDistilledRidge(**params).fit(frame[["size", "age"]], y["price"],
                                                sample_weight=weight.to_numpy())
    model = SelfDistilledRidge(**params)
    for rows in (slice(0, 70), slice(70, 71), slice(71, None)):
        parts = [dd.from_pandas(part.iloc[rows], npartitions=2)
                 for part in (frame[["size", "age"]], y["price"], weight)]
        model.partial_fit(*parts[:2], sample_weight=parts[2])
    assert model.n_samples_seen_ == len(frame)
    assert_allclose(model.coef_, expected.coef_, rtol=TOL)
    assert_allclose(model.alphas_, expected.alphas_, rtol=TOL)
    assert list(model.feature_names_in_) == ["size", "age"]


def test_dask_frames_refused_with_clear_errors():
    frame, y, weight = make_frames()
    X_d = dd.from_pandas(frame, npartitions=4)
    model = SelfDistilledRidge(feature_map=by_name())
    with pytest.raises(ValueError, match="y has 3 partitions but X has 4"):
        model.fit(X_d, dd.from_pandas(y["price"], npartitions=3))
    with pytest.raises(TypeError, match="X must be a dask DataFrame"):
        model.fit(X_d["size"], dd.from_pandas(y["price"], npartitions=4))
    with pytest.raises(ValueError, match="columns of X must hold numbers"):
        SelfDistilledRidge().fit(X_d, dd.from_pandas(y["price"], npartitions=4))
    model.fit(X_d, dd.from_pandas(y["price"], npartitions=4))
    with pytest.raises(ValueError, match="feature names"):
        model.predict(X_d.rename(columns={"size": "area"}))


def test_verbose_reports_the_count_of_rows_and_dask_progress(capsys):
    frame, y, _ = make_frames()
    (X_d, y_d, _), _ = filtered(frame, y, y["price"])
    SelfDistilledRidge(feature_map=by_name(), verbose=1).fit(X_d, y_d["price"])
    out = capsys.readouterr().out
    assert "counting the rows of the 5 partitions" in out
    assert "100% Completed" in out  # dask.diagnostics.ProgressBar
    assert "rows/s" in out


@pytest.mark.parametrize("Estimator", [SelfDistilledRidge, SelfDistilledRidgeCV])
def test_a_dask_array_after_a_dask_frame_keeps_the_names_and_warns(Estimator):
    """As scikit-learn does with numpy after a DataFrame: the fitted names stay and
    "X does not have valid feature names" is warned, in partial_fit and predict."""
    frame, y, _ = make_frames()
    numbers = frame[["size", "age"]]
    X = dd.from_pandas(numbers, npartitions=3)
    array = da.from_array(numbers.to_numpy(), chunks=(50, -1))
    target = da.from_array(y["price"].to_numpy(), chunks=(50,))
    model = Estimator(cv=3).partial_fit(X, dd.from_pandas(y["price"], npartitions=3))
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        model.partial_fit(array, target)
    assert list(model.feature_names_in_) == ["size", "age"]
    expected = Estimator(cv=3).fit(pd.concat([numbers, numbers]),
                                   pd.concat([y["price"], y["price"]]))
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        predicted = model.predict(array).compute()
    assert_allclose(predicted, expected.predict(numbers), rtol=TOL)
    fitted = Estimator(cv=3).fit(X, dd.from_pandas(y["price"], npartitions=3))
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        fitted.predict(array)
    with pytest.raises(ValueError, match="X has 1 features.*expecting 2"):
        fitted.predict(array[:, :1])


def test_with_a_map_a_dask_array_after_a_dask_frame_is_refused():
    frame, y, _ = make_frames()
    X = dd.from_pandas(frame, npartitions=3)
    model = SelfDistilledRidge(feature_map=by_name()).partial_fit(
        X, dd.from_pandas(y["price"], npartitions=3))
    numbers = da.from_array(frame[["size", "age"]].to_numpy(), chunks=(50, -1))
    with pytest.raises(TypeError, match="X as dask after batches of dask DataFrame"):
        model.partial_fit(numbers, da.from_array(y["price"].to_numpy(), chunks=(50,)))
