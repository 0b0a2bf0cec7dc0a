"""The in-memory pass dealt to several threads ("lanes"): the same moments as one
thread, the first bad block reported, scikit-learn's settings seen by the map."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn import config_context, get_config
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import FunctionTransformer
from threadpoolctl import threadpool_limits

from selfdistill_sklearn import SelfDistilledRidge, SelfDistilledRidgeCV
from selfdistill_sklearn import _streaming as streaming


def data(n=600, d=4, k=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + 50.0
    Y = X @ rng.normal(size=(d, k)) + rng.normal(size=(n, k))
    return X, Y, rng.uniform(size=n), rng.integers(0, 3, size=n)


@pytest.mark.parametrize("root", [False, True])
def test_lanes_give_the_moments_of_one_thread(root):
    X, Y, w, labels = data()
    one = streaming._block_moments(None, X, Y, w, labels, 3, 37, 4, root, lanes=1)
    for lanes in (2, 3):
        many = streaming._block_moments(None, X, Y, w, labels, 3, 37, 4, root, lanes=lanes)
        for a, b in zip(one, many, strict=True):
            assert (a.count, a.positive) == (b.count, b.positive)
            assert_allclose(b.weight, a.weight, rtol=1e-13)
            assert_allclose(b.mean, a.mean, rtol=1e-13)
            assert_allclose(b.comoment, a.comoment, rtol=1e-11, atol=1e-11 * a.comoment.max())


@pytest.mark.parametrize("search", [False, True])
def test_fits_with_lanes_equal_fits_on_one_thread(monkeypatch, search):
    X, Y, w, _ = data()
    y = Y[:, 0]
    make = (lambda: SelfDistilledRidgeCV(reg_lambdas=[0.1, 1.0], alphas=[0.5, "optimal"],
                                         max_steps=3, block_size=29)) if search else (
        lambda: SelfDistilledRidge(alpha="optimal", n_steps=3, block_size=29))
    monkeypatch.setattr(streaming, "_lanes", lambda *args: 1)
    reference = make().fit(X, y, sample_weight=w)
    monkeypatch.setattr(streaming, "_lanes", lambda *args: 3)
    model = make().fit(X, y, sample_weight=w)
    assert_allclose(model.predict(X), reference.predict(X), rtol=1e-10)
    if search:
        assert_allclose(model.cv_results_["mean_test_score"],
                        reference.cv_results_["mean_test_score"], rtol=1e-9)


class _NaNRows(TransformerMixin, BaseEstimator):
    """The columns of X, NaN on the rows given; records scikit-learn's
    ``assume_finite`` as each call sees it."""

    def __init__(self, rows=()):
        self.rows = rows

    def fit(self, X, y=None):
        self.seen_ = []
        return self

    def transform(self, X):
        self.seen_.append(get_config()["assume_finite"])
        out = np.array(X, dtype=float)
        for row in self.rows:
            if (out[:, 0] == row).any():
                out[out[:, 0] == row] = np.nan
        return out


def test_the_first_bad_block_is_reported_whichever_lane_fails_first():
    X = np.column_stack([np.arange(100.0), np.ones(100)])
    # Block 3 (rows 30-39) is lane 1's, block 4 (rows 40-49) lane 0's: lane 0 meets its
    # bad block no later than lane 1, but block 3 comes first in the data.
    plan_map = _NaNRows(rows=(45.0, 33.0)).fit(X)
    with pytest.raises(ValueError, match="rows 30 to 39 of X, first at row 33"):
        streaming._block_moments(plan_map, X, X[:, :1], None, None, 1, 10, 2, False, lanes=2)


def test_lanes_see_scikit_learn_settings():
    X = np.column_stack([np.arange(100.0), np.ones(100)])
    feature_map = _NaNRows().fit(X)
    with config_context(assume_finite=True):
        streaming._block_moments(feature_map, X, X[:, :1], None, None, 1, 10, 2, False, lanes=2)
    assert len(feature_map.seen_) == 10 and all(feature_map.seen_)


def test_one_blas_thread_gives_one_lane(monkeypatch):
    with threadpool_limits(limits=1, user_api="blas"):
        assert streaming._lanes(100, 1, 11) == 1

    class Three:  # BLAS with 3 threads, whatever this machine has
        def info(self):
            return [{"user_api": "blas", "num_threads": 3}]

    monkeypatch.setattr(streaming, "_controller", Three)
    assert streaming._lanes(100, 1, 11) == 3
    assert streaming._lanes(2, 1, 11) == 2  # no more lanes than blocks
    # Lanes whose copies of the cells would take too much memory are not made.
    assert streaming._lanes(100, 5, 6000) == 1


@pytest.mark.parametrize("n_rows, block_size, expected", [
    (10_000, 4096, 2500),        # 3 uneven blocks become 4 equal ones
    (1_000_000, 4096, 4033),     # 245 blocks become 248
    (5000, 1000, 625),           # 5 become 8
    (2048, 4096, 512),           # one block cut for 4 lanes of 512 rows
    (2047, 4096, 4096),          # under 512 rows a lane: the blocks asked for
    (900, 300, 300),
])
def test_blocks_are_equal_and_a_multiple_of_the_lanes(n_rows, block_size, expected):
    size = streaming.even_block_size(n_rows, block_size)
    assert size == expected and size <= block_size
    n_blocks = -(-n_rows // size)
    if size != block_size:
        assert n_blocks % streaming.MAX_LANES == 0
        # Equal to a row: no lane gets a block of more rows than another.
        assert n_rows - (n_blocks - 1) * size >= size - n_blocks


def test_block_edges_named_in_errors_do_not_depend_on_threads():
    X = np.ones((10_000, 2))
    X[9000, 1] = 5.0
    explode = FunctionTransformer(lambda Z: np.exp(200.0 * Z))
    for limit in (1, 2):
        with threadpool_limits(limits=limit, user_api="blas"):
            with pytest.raises(ValueError, match="for rows 7500 to 9999 of X, first at row 9000"):
                SelfDistilledRidge(feature_map=explode).fit(X, X[:, 0])


def test_the_lanes_threads_are_reused():
    X, Y, w, labels = data()
    streaming._block_moments(None, X, Y, w, labels, 3, 37, 4, False, lanes=2)
    pool = streaming._lane_pool()
    streaming._block_moments(None, X, Y, w, labels, 3, 37, 4, False, lanes=2)
    assert streaming._lane_pool() is pool


def test_a_pass_inside_a_lane_takes_no_lanes():
    # A feature map that fits a streamed estimator in its transform: the
    # inner pass runs in its lane's thread, not on the busy pool.
    seen = []

    def inner_fit(Z):
        # Its own BLAS threads, as a nested estimator may set them.
        with threadpool_limits(limits=2, user_api="blas"):
            seen.append(streaming._lanes(64, 1, 3))
        return Z

    X, Y, w, labels = data()
    with threadpool_limits(limits=2, user_api="blas"):
        assert streaming._lanes(64, 1, 3) == 2
        streaming._block_moments(FunctionTransformer(inner_fit), X, Y, w, labels, 3, 37, 4,
                                 False, lanes=2)
    assert seen and set(seen) == {1}
    assert streaming._lanes(64, 1, 3) >= 1 and not getattr(streaming._IN_LANE, "active", False)
