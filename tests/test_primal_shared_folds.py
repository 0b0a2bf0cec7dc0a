"""Inner folds of SelfDistilledRidgeCV that train on the same cells share one
eigendecomposition, with results identical to decomposing each."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.model_selection import KFold

from selfdistill_sklearn import SelfDistilledRidgeCV, _primal_search


def counted(monkeypatch):
    made = []
    original = _primal_search.SpectralFold

    def spectral_fold(*args, **kwargs):
        made.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(_primal_search, "SpectralFold", spectral_fold)
    return made


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_shared_inner_folds_give_the_search_of_separate_ones(monkeypatch, fit_intercept):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 6)) + 5.0
    y = X @ rng.normal(size=6) + rng.normal(size=150)
    w = rng.uniform(size=150)

    def search():
        return SelfDistilledRidgeCV(reg_lambdas=[0.01, 1.0], alphas=[0.5, "optimal"],
                                    max_steps=3, cv=KFold(5), fit_intercept=fit_intercept,
                                    block_size=40).fit(X, y, sample_weight=w)

    made = counted(monkeypatch)
    shared = search()
    best = shared.best_params_
    # The refit decomposes all the data, and its own 5 folds for "optimal".
    refit = 6 if best["alpha"] == "optimal" and best["n_steps"] > 1 else 1
    # 5 outer folds and the 10 distinct training parts of the 20 inner folds.
    assert len(made) == 5 + 10 + refit
    made.clear()
    monkeypatch.setattr(_primal_search, "_SHARED_BYTES", 0)
    separate = search()
    assert len(made) == 5 + 20 + refit
    for key in ("mean_test_score", "split0_test_score", "split4_test_score"):
        assert_array_equal(shared.cv_results_[key], separate.cv_results_[key])
    assert_array_equal(shared.optimal_alphas_, separate.optimal_alphas_)
    assert shared.best_params_ == separate.best_params_
    assert_array_equal(shared.predict(X), separate.predict(X))
