"""SelfDistilledKernelRidgeCV against GridSearchCV over SelfDistilledKernelRidge."""

import math

import numpy as np
import pytest
import sklearn
from joblib import parallel_config
from scipy import sparse
from sklearn.datasets import load_diabetes, make_friedman1, make_regression
from sklearn.metrics import get_scorer
from sklearn.metrics.pairwise import polynomial_kernel
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    KFold,
    ParameterGrid,
    ShuffleSplit,
)
from sklearn.utils.estimator_checks import parametrize_with_checks

from selfdistill_sklearn import SelfDistilledKernelRidge
from selfdistill_sklearn.model_selection import SCORINGS, SelfDistilledKernelRidgeCV

RTOL = 1e-8
LAMBDAS = [0.003, 0.03, 0.3]
ALPHAS = [0.0, 0.3, 0.7, 1.0, "optimal"]


def _friedman(n=80, n_outputs=None, seed=0):
    X, y = make_friedman1(n, noise=1.0, random_state=seed)
    if n_outputs:
        y = np.column_stack([y] + [np.sin(3 * X[:, k]) + X[:, k + 1] for k in range(n_outputs - 1)])
    return X, y


def _diabetes(n=90):
    X, y = load_diabetes(return_X_y=True)
    return X[:n] * 10, (y[:n] - y[:n].mean()) / y[:n].std()


def _grid_search(search, X, y, sample_weight=None, scoring="neg_mean_squared_error"):
    """GridSearchCV over the same candidates, folds and scoring; with sample
    weights routed to both the fits and the held-out scores."""
    params = {k: v for k, v in search.get_params().items()
              if k in ("kernel", "gamma", "degree", "coef0", "kernel_params", "clip_alpha")}
    base = SelfDistilledKernelRidge(cv=search.alpha_cv, fit_intercept=False, **params)
    if sample_weight is None:
        return GridSearchCV(base, search.param_grid_, cv=search.cv, scoring=scoring).fit(X, y)
    with sklearn.config_context(enable_metadata_routing=True):
        base.set_fit_request(sample_weight=True, X_val=False, y_val=False)
        scorer = get_scorer(scoring).set_score_request(sample_weight=True)
        return GridSearchCV(base, search.param_grid_, cv=search.cv, scoring=scorer).fit(
            X, y, sample_weight=sample_weight)


def _assert_same_search(search, reference):
    assert search.cv_results_["params"] == reference.cv_results_["params"]
    keys = [f"split{k}_test_score" for k in range(search.n_splits_)]
    for key in keys + ["mean_test_score", "std_test_score"]:
        np.testing.assert_allclose(search.cv_results_[key], reference.cv_results_[key],
                                   rtol=RTOL, atol=1e-12, err_msg=key)
    # The data sets are chosen so that the best candidate is unique up to the
    # exact ties that both searches reproduce (tau = 1, alpha = 1).
    assert search.best_params_ == reference.best_params_
    assert search.best_index_ == reference.best_index_
    np.testing.assert_array_equal(search.cv_results_["rank_test_score"],
                                  reference.cv_results_["rank_test_score"])
    assert math.isclose(search.best_score_, reference.best_score_, rel_tol=RTOL)


def _assert_optimal_schedules_equal_the_estimator(search, X, y, sample_weight=None):
    """The inner choice of alpha* is the plain estimator's on each training part."""
    fixed = {k: v for k, v in search.get_params().items()
             if k in ("kernel", "gamma", "degree", "coef0", "kernel_params", "clip_alpha")}
    for split, (train, _) in enumerate(KFold(search.n_splits_).split(X) if isinstance(
            search.cv, int) else search.cv.split(X)):
        for index, reg_lambda in enumerate(search.reg_lambdas):
            model = SelfDistilledKernelRidge(alpha="optimal", n_steps=search.max_steps,
                                             reg_lambda=reg_lambda, cv=search.alpha_cv,
                                             fit_intercept=False, **fixed)
            model.fit(X[train], y[train],
                      sample_weight=None if sample_weight is None else sample_weight[train])
            np.testing.assert_allclose(search.optimal_alphas_[split, index], model.alphas_,
                                       rtol=1e-8, atol=1e-10)


CASES = {
    "rbf": dict(data=_friedman, kernel="rbf", gamma=0.1),
    "multi-output": dict(data=lambda: _friedman(n_outputs=3), kernel="rbf", gamma=0.1),
    "laplacian diabetes": dict(data=_diabetes, kernel="laplacian", gamma=0.5),
    "polynomial": dict(data=_friedman, kernel="poly", degree=2, gamma=0.1, coef0=1.0),
    "linear clipped": dict(data=_diabetes, kernel="linear", clip_alpha=True),
}


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", list(CASES))
def test_scores_and_choice_equal_grid_search(case, weighted):
    params = dict(CASES[case])
    X, y = params.pop("data")()
    sample_weight = (np.random.default_rng(3).integers(0, 4, size=len(y)).astype(float)
                     if weighted else None)
    search = SelfDistilledKernelRidgeCV(LAMBDAS, ALPHAS, 3, cv=KFold(4, shuffle=True,
                                                                     random_state=0),
                                       alpha_cv=3, **params).fit(X, y, sample_weight)
    _assert_same_search(search, _grid_search(search, X, y, sample_weight))
    _assert_optimal_schedules_equal_the_estimator(search, X, y, sample_weight)


def test_optimal_chosen_on_inner_splits_that_leave_samples_out_equals_grid_search():
    """An alpha_cv whose training and test parts do not cover the fold's
    training part (ShuffleSplit): the inner folds are those it gives."""
    X, y = _friedman(70)
    search = SelfDistilledKernelRidgeCV(
        [0.03, 0.3], [0.5, "optimal"], 3, kernel="rbf", gamma=0.1,
        cv=KFold(3, shuffle=True, random_state=0),
        alpha_cv=ShuffleSplit(3, train_size=0.5, test_size=0.3, random_state=0)).fit(X, y)
    _assert_same_search(search, _grid_search(search, X, y))
    _assert_optimal_schedules_equal_the_estimator(search, X, y)


@pytest.mark.parametrize("scoring", sorted(set(SCORINGS) - {"neg_mean_squared_error"}))
def test_other_scorings_equal_grid_search(scoring):
    X, y = _friedman(60)
    search = SelfDistilledKernelRidgeCV([0.01, 0.3], [0.2, 1.0, "optimal"], 2, kernel="rbf",
                                       gamma=0.1, cv=3, alpha_cv=3, scoring=scoring).fit(X, y)
    _assert_same_search(search, _grid_search(search, X, y, scoring=scoring))


def test_precomputed_kernel_and_default_scoring_equal_grid_search():
    X, y = _friedman(70)
    K = polynomial_kernel(X, degree=2, gamma=0.1)
    search = SelfDistilledKernelRidgeCV(LAMBDAS, ALPHAS, 3, kernel="precomputed", cv=3,
                                       alpha_cv=3).fit(K, y)
    _assert_same_search(search, _grid_search(search, K, y))
    expected = SelfDistilledKernelRidgeCV(LAMBDAS, ALPHAS, 3, kernel="poly", degree=2,
                                         gamma=0.1, coef0=1.0, cv=3, alpha_cv=3).fit(X, y)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"],
                               expected.cv_results_["mean_test_score"], rtol=1e-9)
    np.testing.assert_allclose(search.predict(K[:5]), expected.predict(X[:5]), rtol=1e-8)


def test_candidates_follow_parameter_grid_and_best_estimator_is_refitted():
    X, y = _friedman(60)
    search = SelfDistilledKernelRidgeCV([1.0, 0.1], [0.5, "optimal", 0.0], 2, kernel="rbf",
                                       gamma=0.1, cv=3, alpha_cv=3).fit(X, y)
    assert search.cv_results_["params"] == list(ParameterGrid(search.param_grid_))
    assert len(search.cv_results_["params"]) == 2 * (2 * 3 + 2)
    limits = [p for p in search.cv_results_["params"] if p["n_steps"] == math.inf]
    assert {p["alpha"] for p in limits} == {0.0, 0.5}
    best = search.best_estimator_
    assert isinstance(best, SelfDistilledKernelRidge)
    assert {k: best.get_params()[k] for k in search.best_params_} == search.best_params_
    assert best.get_params()["gamma"] == 0.1 and best.get_params()["cv"] == 3
    reference = SelfDistilledKernelRidge(**search.best_params_, kernel="rbf", gamma=0.1,
                                         cv=3, fit_intercept=False).fit(X, y)
    np.testing.assert_allclose(search.predict(X), reference.predict(X), rtol=1e-12)
    assert search.score(X, y) == pytest.approx(reference.score(X, y))
    assert search.optimal_alphas_.shape == (3, 2, 1)


def test_cv_results_load_into_a_data_frame():
    pd = pytest.importorskip("pandas")
    X, y = _friedman(50)
    search = SelfDistilledKernelRidgeCV([0.1], [0.5, "optimal"], 2, kernel="rbf", cv=3,
                                       alpha_cv=3).fit(X, y)
    frame = pd.DataFrame(search.cv_results_)
    assert len(frame) == 5
    assert {"param_alpha", "param_n_steps", "param_reg_lambda", "mean_test_score",
            "std_test_score", "rank_test_score", "split2_test_score"} <= set(frame.columns)
    assert frame.loc[search.best_index_, "rank_test_score"] == 1


def test_equal_candidates_tie_exactly_and_the_first_wins():
    """tau = 1 for every alpha and alpha = 1 for every tau are plain kernel ridge."""
    X, y = _friedman(60)
    search = SelfDistilledKernelRidgeCV([0.1, 1.0], [1.0, 0.0, 0.5, "optimal"], 3,
                                       kernel="rbf", gamma=0.1, cv=3, alpha_cv=3).fit(X, y)
    results = search.cv_results_
    for reg_lambda in (0.1, 1.0):
        ridge = [i for i, p in enumerate(results["params"]) if p["reg_lambda"] == reg_lambda
                 and (p["n_steps"] == 1 or p["alpha"] == 1.0)]
        assert len(ridge) == 4 + 3  # n_steps=1 for the 4 alphas; alpha=1 at 2, 3, inf
        for key in ("split0_test_score", "split1_test_score", "split2_test_score"):
            assert len(set(results[key][ridge])) == 1
        assert len(set(results["rank_test_score"][ridge])) == 1
    # On data where plain kernel ridge with the larger penalty wins, the first
    # of the tied candidates (alpha=1, n_steps=1) is chosen, as in GridSearchCV.
    rng = np.random.default_rng(0)
    noise = rng.normal(size=60)
    search = SelfDistilledKernelRidgeCV([100.0], [1.0, 0.5], 2, kernel="rbf", cv=3).fit(X, noise)
    reference = _grid_search(search, X, noise)
    assert search.best_params_ == reference.best_params_


def test_optimal_choice_never_sees_the_held_out_fold():
    """Changing the targets of fold 0's held-out part leaves the weights
    chosen for fold 0 as they were, and changes those of other folds."""
    X, y = _friedman(60)
    cv = KFold(3)
    search = SelfDistilledKernelRidgeCV([0.05], ["optimal"], 4, kernel="rbf", gamma=0.1, cv=cv,
                                       alpha_cv=3)
    before = search.fit(X, y).optimal_alphas_.copy()
    changed = y.copy()
    changed[next(cv.split(X))[1]] += 5.0
    after = search.fit(X, changed).optimal_alphas_
    np.testing.assert_array_equal(after[0], before[0])
    assert not np.allclose(after[1:], before[1:])


def test_groups_reach_the_splitter_and_sparse_input_equals_dense():
    X, y = _friedman(60)
    groups = np.repeat(np.arange(6), 10)
    params = dict(reg_lambdas=[0.1, 1.0], alphas=[0.5, "optimal"], max_steps=2, kernel="rbf",
                  gamma=0.1, cv=GroupKFold(3), alpha_cv=3)
    dense = SelfDistilledKernelRidgeCV(**params).fit(X, y, groups=groups)
    csr = SelfDistilledKernelRidgeCV(**params).fit(sparse.csr_matrix(X), y, groups=groups)
    np.testing.assert_allclose(dense.cv_results_["mean_test_score"],
                               csr.cv_results_["mean_test_score"], rtol=1e-10)
    reference = GridSearchCV(SelfDistilledKernelRidge(kernel="rbf", gamma=0.1, cv=3,
                                                      fit_intercept=False),
                             dense.param_grid_, cv=GroupKFold(3),
                             scoring="neg_mean_squared_error").fit(X, y, groups=groups)
    np.testing.assert_allclose(dense.cv_results_["mean_test_score"],
                               reference.cv_results_["mean_test_score"], rtol=RTOL)


def test_folds_in_worker_processes_give_the_same_results(monkeypatch):
    """n_jobs=2 scores the folds in joblib's worker processes, on a memory-mapped
    kernel matrix; a callable kernel travels with the estimator."""
    from sklearn.metrics.pairwise import rbf_kernel

    from selfdistill_sklearn import model_selection

    monkeypatch.setattr(model_selection, "SMALL_PROBLEM_SAMPLES", 0)
    X, y = _friedman(60)
    # Three folds on two workers: the third is split by penalty between them.
    params = dict(reg_lambdas=[0.1, 1.0, 3.0], alphas=[0.5, "optimal"], max_steps=3, cv=3,
                  alpha_cv=3)
    one = SelfDistilledKernelRidgeCV(**params, kernel="rbf", gamma=0.1).fit(X, y)
    two = SelfDistilledKernelRidgeCV(**params, kernel="rbf", gamma=0.1, n_jobs=2)
    with parallel_config(max_nbytes=1):
        # Memory-map even this small kernel matrix, as a large one would be.
        two.fit(X, y)
    callable_kernel = SelfDistilledKernelRidgeCV(
        **params, kernel=lambda a, b: rbf_kernel(a[None], b[None], gamma=0.1)[0, 0],
        n_jobs=2).fit(X, y)
    for other in (two, callable_kernel):
        np.testing.assert_allclose(one.cv_results_["mean_test_score"],
                                   other.cv_results_["mean_test_score"], rtol=1e-10)
        np.testing.assert_allclose(one.optimal_alphas_, other.optimal_alphas_, rtol=1e-10)


@pytest.mark.parametrize("n_splits, n_lambdas, n_workers, expected", [
    (5, 8, 1, [(k, range(8)) for k in range(5)]),
    (4, 8, 2, [(k, range(8)) for k in range(4)]),
    (5, 8, 2, [(k, range(8)) for k in range(4)] + [(4, range(4)), (4, range(4, 8))]),
    (5, 3, 4, [(k, range(3)) for k in range(4)] + [(4, [0]), (4, [1]), (4, [2])]),
    (3, 2, 8, [(0, [0]), (0, [1]), (1, [0]), (1, [1]), (2, [0]), (2, [1])]),
])
def test_folds_of_an_incomplete_last_round_are_split_by_penalty(n_splits, n_lambdas, n_workers,
                                                                expected):
    from selfdistill_sklearn.model_selection import _fold_tasks

    tasks = _fold_tasks(n_splits, n_lambdas, n_workers)
    assert [(index, list(chosen)) for index, chosen in tasks] == [
        (index, list(chosen)) for index, chosen in expected]


def test_verbose_reports_folds_and_their_parts(monkeypatch, capsys):
    from selfdistill_sklearn import model_selection

    monkeypatch.setattr(model_selection, "SMALL_PROBLEM_SAMPLES", 0)
    X, y = _friedman(40)
    with parallel_config(backend="threading"):
        # Threads keep the output in this process, where capsys sees it.
        SelfDistilledKernelRidgeCV([0.1, 1.0], [0.5], 2, kernel="rbf", cv=3, n_jobs=2,
                                   verbose=1).fit(X, y)
    lines = sorted(capsys.readouterr().out.splitlines())
    assert len(lines) == 4
    assert any("fold 3/3 (penalties 1-1 of 2): 3 candidates" in line for line in lines)
    assert any("fold 1/3: 6 candidates" in line for line in lines)


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_small_problems_run_in_this_process_with_one_blas_thread(monkeypatch, n_jobs):
    import os

    from threadpoolctl import threadpool_info

    from selfdistill_sklearn import model_selection

    seen = []
    decompose = model_selection.weighted_kernel_tridiagonal

    def recording(*args, **kwargs):
        seen.append((os.getpid(), max(pool["num_threads"] for pool in threadpool_info()
                                      if pool["user_api"] == "blas")))
        return decompose(*args, **kwargs)

    monkeypatch.setattr(model_selection, "weighted_kernel_tridiagonal", recording)
    X, y = _friedman(60)
    SelfDistilledKernelRidgeCV([0.1], [0.5], 2, kernel="rbf", cv=3, n_jobs=n_jobs).fit(X, y)
    assert seen == [(os.getpid(), 1)] * 3


@pytest.mark.parametrize("params, error, match", [
    ({"reg_lambdas": [0.1, 0.0]}, ValueError, "reg_lambdas"),
    ({"reg_lambdas": []}, ValueError, "must not be empty"),
    ({"reg_lambdas": 0.1}, ValueError, "one-dimensional"),
    ({"alphas": [0.5, 1.5]}, ValueError, r"\[0, 1\]"),
    ({"alphas": ["best"]}, ValueError, "optimal"),
    ({"alphas": [[0.5, 0.5]]}, ValueError, "one-dimensional"),
    ({"alphas": [True]}, TypeError, "alphas"),
    ({"max_steps": 0}, ValueError, "n_steps"),
    ({"max_steps": math.inf}, ValueError, "finite"),
    ({"scoring": "accuracy"}, ValueError, "scoring"),
])
def test_invalid_parameters_are_named(params, error, match):
    X, y = _friedman(30)
    with pytest.raises(error, match=match):
        SelfDistilledKernelRidgeCV(**params).fit(X, y)


def test_invalid_data_are_named():
    X, y = _friedman(30, n_outputs=2)
    with pytest.raises(ValueError, match="single target"):
        SelfDistilledKernelRidgeCV(scoring="neg_max_error").fit(X, y)
    with pytest.raises(ValueError, match="n_samples=8"):
        SelfDistilledKernelRidgeCV(alphas=["optimal"], cv=3, alpha_cv=10).fit(X[:12], y[:12])
    weights = np.ones(30)
    weights[:10] = 0.0
    with pytest.raises(ValueError, match="only zero sample weights"):
        SelfDistilledKernelRidgeCV(cv=KFold(3)).fit(X, y, sample_weight=weights)
    with pytest.raises(ValueError, match="square"):
        SelfDistilledKernelRidgeCV(kernel="precomputed").fit(X, y)


def _expected_failed_checks(estimator):
    if "optimal" not in estimator.alphas:
        return {}
    # alpha="optimal" chooses its weights on KFold splits of the training
    # data, and KFold splits repeated samples differently from weighted ones;
    # SelfDistilledKernelRidge(alpha="optimal") behaves the same way.
    reason = "alpha='optimal' splits repeated and weighted samples differently"
    return {"check_sample_weight_equivalence_on_dense_data": reason,
            "check_sample_weight_equivalence_on_sparse_data": reason}


@parametrize_with_checks(
    [SelfDistilledKernelRidgeCV(),
     SelfDistilledKernelRidgeCV(reg_lambdas=(0.1, 1.0), alphas=(0.5, "optimal"), max_steps=2,
                                kernel="rbf", alpha_cv=3)],
    expected_failed_checks=_expected_failed_checks)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_verbose_reports_every_fold(capsys):
    X, y = make_regression(n_samples=40, n_features=3, noise=1.0, random_state=0)
    SelfDistilledKernelRidgeCV(reg_lambdas=[0.1, 1.0], alphas=[0.5], max_steps=2, cv=4,
                               kernel="rbf", verbose=1).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        f"[SelfDistilledKernelRidgeCV] fold {k}/4" for k in range(1, 5)]
    # 2 penalties x one weight x (2 steps and the limit)
    assert all("6 candidates scored" in line for line in lines)
    SelfDistilledKernelRidgeCV(reg_lambdas=[0.1], alphas=[0.5], max_steps=2, cv=4).fit(X, y)
    assert capsys.readouterr().out == ""
