"""The primal estimators on dask arrays, computed by a dask.distributed cluster."""

import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.kernel_approximation import Nystroem
from sklearn.model_selection import KFold

from selfdistill_sklearn import SelfDistilledRidge, SelfDistilledRidgeCV

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

RTOL = 1e-9


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None, memory_limit="1GiB") as cluster:
        with distributed.Client(cluster) as client:
            yield client


def make_data(n=203, n_features=4, n_targets=None, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features)) + 1.0
    coef = rng.normal(size=(n_features,) if n_targets is None else (n_features, n_targets))
    y = np.sin(X) @ coef + 0.3 * rng.normal(size=(n,) if n_targets is None else
                                            (n, n_targets)) + 2.0
    return X, y


def to_dask(X, y, chunks=50):
    return (da.from_array(X, chunks=(chunks, -1)),
            da.from_array(y, chunks=(chunks,) + (() if y.ndim == 1 else (-1,))))


@pytest.mark.parametrize("n_targets", [None, 2])
def test_dask_equals_numpy(client, n_targets):
    X, y = make_data(n_targets=n_targets)
    w = np.random.default_rng(1).uniform(0.2, 2.0, size=len(X))
    Xd, yd = to_dask(X, y)
    wd = da.from_array(w, chunks=50)
    feature_map = Nystroem(gamma=0.3, n_components=20, random_state=0)
    X_val, y_val = make_data(n=40, n_targets=n_targets, seed=5)
    cases = [({"alpha": 0.3, "n_steps": 4}, {}),
             ({"alpha": "optimal", "n_steps": 4, "cv": KFold(4)}, {}),
             ({"alpha": "optimal", "n_steps": 3}, {"X_val": X_val, "y_val": y_val}),
             ({"alpha": 0.5, "n_steps": float("inf"), "fit_intercept": False}, {})]
    for params, fit_kwargs in cases:
        model = SelfDistilledRidge(**params, feature_map=feature_map, block_size=16)
        numpy_fit = model.fit(X, y, sample_weight=w, **fit_kwargs)
        expected_coef, expected_alphas = numpy_fit.coef_, numpy_fit.alphas_
        expected = numpy_fit.predict(X)
        dask_kwargs = dict(fit_kwargs)
        if "X_val" in dask_kwargs:
            dask_kwargs["X_val"], dask_kwargs["y_val"] = to_dask(X_val, y_val, chunks=15)
        dask_fit = SelfDistilledRidge(**params, feature_map=feature_map, block_size=16).fit(
            Xd, yd, sample_weight=wd, **dask_kwargs)
        assert_allclose(dask_fit.coef_, expected_coef, rtol=RTOL, atol=1e-12)
        assert_allclose(dask_fit.alphas_, expected_alphas, rtol=RTOL)
        predictions = dask_fit.predict(Xd)
        assert isinstance(predictions, da.Array)
        assert predictions.chunks[0] == Xd.chunks[0]
        assert_allclose(predictions.compute(), expected, rtol=RTOL, atol=1e-12)
    staged = list(dask_fit.set_params(n_steps=3, alpha=0.2).fit(Xd, yd).staged_predict(Xd))
    assert all(isinstance(step, da.Array) for step in staged)
    numpy_staged = list(SelfDistilledRidge(n_steps=3, alpha=0.2, fit_intercept=False,
                                           feature_map=feature_map).fit(X, y).staged_predict(X))
    for ours, theirs in zip(staged, numpy_staged, strict=True):
        assert_allclose(ours.compute(), theirs, rtol=RTOL, atol=1e-12)


def test_search_on_dask_equals_numpy(client):
    X, y = make_data(n=200)
    Xd, yd = to_dask(X, y, chunks=37)
    params = {"reg_lambdas": [0.1, 3.0], "alphas": [0.0, 0.5, "optimal"], "max_steps": 3,
              "cv": KFold(5), "feature_map": Nystroem(n_components=15, random_state=0)}
    numpy_search = SelfDistilledRidgeCV(**params).fit(X, y)
    dask_search = SelfDistilledRidgeCV(**params).fit(Xd, yd)
    assert_allclose(dask_search.cv_results_["mean_test_score"],
                    numpy_search.cv_results_["mean_test_score"], rtol=RTOL)
    assert dask_search.best_params_ == numpy_search.best_params_
    assert_allclose(dask_search.predict(Xd).compute(), numpy_search.predict(X), rtol=RTOL)


def test_chunks_along_features_are_refused(client):
    X, y = make_data()
    Xd = da.from_array(X, chunks=(50, 2))
    with pytest.raises(ValueError, match="X must be chunked along rows only"):
        SelfDistilledRidge().fit(Xd, da.from_array(y, chunks=50))


def test_mismatched_chunks_of_X_and_y_are_refused(client):
    X, y = make_data()
    with pytest.raises(ValueError, match="row chunks of X and y differ"):
        SelfDistilledRidge().fit(da.from_array(X, chunks=(50, -1)), da.from_array(y, chunks=60))


def test_nan_inside_a_block_is_named_when_the_block_is_computed(client):
    X, y = make_data()
    X[123, 2] = np.nan
    Xd, yd = to_dask(X, y)
    with pytest.raises(ValueError, match=r"block 2 of X \(rows 100 to 149\), first at row 123"):
        SelfDistilledRidge().fit(Xd, yd)
    model = SelfDistilledRidge().fit(*to_dask(*make_data()))
    lazy = model.predict(Xd)  # nothing is computed yet
    with pytest.raises(ValueError, match=r"block 2 of X \(rows 100 to 149\)"):
        lazy.compute()
    y_bad = y.copy()
    y_bad[7] = np.inf
    with pytest.raises(ValueError, match=r"y holds NaN or infinity in block 0"):
        SelfDistilledRidge().fit(*to_dask(make_data()[0], y_bad))


def test_dask_x_with_numpy_y_and_a_numpy_x_with_dask_y():
    X, y = make_data(n=60)
    Xd = da.from_array(X, chunks=(20, -1))
    reference = SelfDistilledRidge(n_steps=3).fit(X, y)
    # dask's default scheduler, no client: the same statistics.
    assert_allclose(SelfDistilledRidge(n_steps=3).fit(Xd, y).coef_, reference.coef_, rtol=RTOL)
    with pytest.raises(TypeError, match="y is a dask array but X is not"):
        SelfDistilledRidge().fit(X, da.from_array(y, chunks=20))


def test_importing_the_package_does_not_import_dask():
    code = ("import sys, selfdistill_sklearn; "
            "sys.exit(any(name.split('.')[0] in ('dask', 'distributed') for name in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def _graph_bytes(collection):
    import pickle

    return sum(len(pickle.dumps(task)) for task in dict(collection.__dask_graph__()).values())


def test_predict_sends_the_feature_map_once_not_once_per_task():
    X, y = make_data(n=600)
    Xd, yd = to_dask(X, y, chunks=50)  # 12 chunks
    model = SelfDistilledRidge(n_steps=3, feature_map=Nystroem(n_components=200, random_state=0))
    model.fit(Xd, yd)
    import pickle

    map_bytes = len(pickle.dumps(model.feature_map_))
    assert map_bytes > 100_000
    lazy = model.predict(Xd)
    assert _graph_bytes(lazy) < 2 * map_bytes
    assert_allclose(lazy.compute(), model.predict(X), rtol=RTOL)
    for step, expected in zip(model.staged_predict(Xd), model.staged_predict(X), strict=True):
        assert _graph_bytes(step) < 2 * map_bytes
        assert_allclose(step.compute(), expected, rtol=RTOL)


def test_empty_chunks_zero_weights_and_empty_arrays_on_dask():
    X, y = make_data(n=200)
    keep = np.ones(200, dtype=bool)
    keep[50:100] = False  # one chunk of 50 rows filtered away entirely
    Xd, yd = to_dask(X, y)
    Xf, yf = Xd[da.from_array(keep, chunks=50)], yd[da.from_array(keep, chunks=50)]
    Xf.compute_chunk_sizes()
    yf.compute_chunk_sizes()
    assert 0 in Xf.chunks[0]
    expected = SelfDistilledRidge(alpha="optimal", n_steps=3, cv=KFold(3)).fit(X[keep], y[keep])
    model = SelfDistilledRidge(alpha="optimal", n_steps=3, cv=KFold(3)).fit(Xf, yf)
    assert_allclose(model.coef_, expected.coef_, rtol=RTOL)
    assert_allclose(model.predict(Xf).compute(), expected.predict(X[keep]), rtol=RTOL)
    with pytest.raises(ValueError, match="sample_weight must not be all zero"):
        SelfDistilledRidge().fit(Xd, yd, sample_weight=da.zeros(200, chunks=50))
    with pytest.raises(ValueError, match="sample_weight must not be all zero"):
        SelfDistilledRidge(fit_intercept=False).fit(Xd, yd, sample_weight=np.zeros(200))
    with pytest.raises(ValueError, match="0 feature"):
        SelfDistilledRidge().fit(Xd[:, :0], yd)
    with pytest.raises(ValueError, match="0 sample"):
        SelfDistilledRidge().fit(Xd[:0], yd[:0])
    with pytest.raises(ValueError, match=r"sample_weight must be non-negative"):
        SelfDistilledRidge().fit(Xd, yd, sample_weight=-da.ones(200, chunks=50))


def test_stratified_folds_see_y_on_dask():
    from sklearn.model_selection import StratifiedKFold

    X, y = make_data(n=150)
    labels = (y > np.median(y)).astype(float)
    cv = StratifiedKFold(3)
    expected = SelfDistilledRidge(alpha="optimal", n_steps=3, cv=cv).fit(X, labels)
    model = SelfDistilledRidge(alpha="optimal", n_steps=3, cv=cv).fit(*to_dask(X, labels))
    assert_allclose(model.alphas_, expected.alphas_, rtol=RTOL)


def test_zero_weight_rows_with_huge_features_change_nothing_on_dask():
    from sklearn.linear_model import Ridge

    X, y = make_data(n=240)
    w = np.ones(240)
    X[100:150] = 1e8  # inside the third chunk and the start of the fourth
    w[100:150] = 0.0
    Xd, yd = to_dask(X, y, chunks=60)
    model = SelfDistilledRidge(n_steps=1).fit(Xd, yd, sample_weight=da.from_array(w, chunks=60))
    ridge = Ridge(alpha=1.0).fit(X, y, sample_weight=w)
    assert_allclose(model.coef_, ridge.coef_, rtol=1e-10)
    assert_allclose(model.intercept_, ridge.intercept_, rtol=1e-10)


def test_verbose_shows_distributed_progress(client, capsys):
    X, y = make_data()
    SelfDistilledRidge(verbose=1).fit(*to_dask(X, y))
    out = capsys.readouterr().out
    assert "100% Completed" in out  # distributed.progress
    assert "moments: 203 rows in" in out
