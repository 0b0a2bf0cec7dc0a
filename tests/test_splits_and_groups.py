"""Every splitter the kernel estimators use takes what ``check_cv`` accepts (index
pairs, generators) and receives ``groups``, directly and by metadata routing."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn import config_context
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold, cross_validate

from selfdistill_sklearn import GridEdgeWarning, SelfDistilledKernelRidge
from selfdistill_sklearn.model_selection import SelfDistilledKernelRidgeCV

RNG = np.random.default_rng(0)
X = RNG.normal(size=(36, 3))
Y = np.sin(X[:, 0]) + 0.2 * RNG.normal(size=36)
GROUPS = np.repeat(np.arange(6), 6)
PAIRS = list(KFold(3, shuffle=True, random_state=0).split(X))
PLAIN = dict(alpha="optimal", n_steps=3, reg_lambda=0.3, kernel="rbf", gamma=0.5)
SEARCH = dict(reg_lambdas=[0.1, 1.0], alphas=[0.5, "optimal"], max_steps=3, kernel="rbf",
              gamma=0.5)


@pytest.mark.parametrize("cv", [PAIRS, tuple(PAIRS), "generator"])
def test_index_pairs_and_generators_choose_alpha_as_the_splitter_does(cv):
    cv = (pair for pair in PAIRS) if cv == "generator" else cv
    reference = SelfDistilledKernelRidge(**PLAIN, cv=KFold(3, shuffle=True, random_state=0))
    model = SelfDistilledKernelRidge(**PLAIN, cv=cv).fit(X, Y)
    assert_allclose(model.alphas_, reference.fit(X, Y).alphas_, rtol=1e-12)


def test_a_used_up_generator_and_bad_indices_are_refused_by_name():
    model = SelfDistilledKernelRidge(**PLAIN, cv=(pair for pair in PAIRS))
    model.fit(X, Y)
    with pytest.raises(ValueError, match="cv gave no folds .* for one fit only"):
        model.fit(X, Y)
    with pytest.raises(ValueError, match=r"cv gave sample indices outside \[0, 36\)"):
        SelfDistilledKernelRidge(**PLAIN, cv=[(np.arange(30), np.arange(30, 40))]).fit(X, Y)
    with pytest.raises(ValueError, match="cv must give folds with training and held-out"):
        SelfDistilledKernelRidge(**PLAIN, cv=[(np.arange(36), np.array([], int))]).fit(X, Y)
    with pytest.raises(ValueError, match="cv gave no folds"):
        SelfDistilledKernelRidgeCV(**SEARCH, cv=[]).fit(X, Y)


@pytest.mark.parametrize("cv", [PAIRS, "generator"])
def test_the_search_takes_index_pairs_and_generators_for_cv(cv):
    cv = (pair for pair in PAIRS) if cv == "generator" else cv
    reference = SelfDistilledKernelRidgeCV(
        **SEARCH, cv=KFold(3, shuffle=True, random_state=0)).fit(X, Y)
    search = SelfDistilledKernelRidgeCV(**SEARCH, cv=cv).fit(X, Y)
    assert_allclose(search.cv_results_["mean_test_score"],
                    reference.cv_results_["mean_test_score"], rtol=1e-12)


@pytest.mark.parametrize("alpha_cv", [PAIRS, "generator"])
def test_alpha_cv_index_pairs_split_each_training_part_by_its_own_samples(alpha_cv):
    alpha_cv = (pair for pair in PAIRS) if alpha_cv == "generator" else alpha_cv
    outer = KFold(4)
    search = SelfDistilledKernelRidgeCV(**SEARCH, cv=outer, alpha_cv=alpha_cv).fit(X, Y)
    for fold, (train, _) in enumerate(outer.split(X)):
        # The pairs restricted to the fold's training part, in its positions.
        restricted = [(np.flatnonzero(np.isin(train, inner_train)),
                       np.flatnonzero(np.isin(train, inner_test)))
                      for inner_train, inner_test in PAIRS]
        for index, reg_lambda in enumerate(SEARCH["reg_lambdas"]):
            refit = SelfDistilledKernelRidge(alpha="optimal", n_steps=3, reg_lambda=reg_lambda,
                                             kernel="rbf", gamma=0.5, cv=restricted)
            assert_allclose(search.optimal_alphas_[fold, index],
                            refit.fit(X[train], Y[train]).alphas_, rtol=1e-7, atol=1e-9)
    best = search.best_estimator_
    if best.alpha == "optimal":
        reference = SelfDistilledKernelRidge(**{**PLAIN, "reg_lambda": best.reg_lambda,
                                                "n_steps": best.n_steps}, cv=PAIRS)
        assert_allclose(best.alphas_, reference.fit(X, Y).alphas_, rtol=1e-12)


def test_group_splitters_receive_groups_for_the_optimal_weight():
    model = SelfDistilledKernelRidge(**PLAIN, cv=GroupKFold(3)).fit(X, Y, groups=GROUPS)
    pairs = list(GroupKFold(3).split(X, Y, GROUPS))
    reference = SelfDistilledKernelRidge(**PLAIN, cv=pairs).fit(X, Y)
    assert_allclose(model.alphas_, reference.alphas_, rtol=1e-12)
    ungrouped = SelfDistilledKernelRidge(**PLAIN, cv=KFold(3)).fit(X, Y)
    assert not np.allclose(model.alphas_, ungrouped.alphas_)
    with pytest.raises(ValueError, match="groups"):
        SelfDistilledKernelRidge(**PLAIN, cv=GroupKFold(3)).fit(X, Y)


def _search_reference(search, groups):
    """The optimal schedules of each fold, refitted with the fold's groups."""
    for fold, (train, _) in enumerate(GroupKFold(3).split(X, Y, groups)):
        for index, reg_lambda in enumerate(SEARCH["reg_lambdas"]):
            refit = SelfDistilledKernelRidge(**{**PLAIN, "reg_lambda": reg_lambda},
                                             cv=GroupKFold(2))
            refit.fit(X[train], Y[train], groups=groups[train])
            assert_allclose(search.optimal_alphas_[fold, index], refit.alphas_,
                            rtol=1e-7, atol=1e-9)


def test_the_search_gives_groups_to_cv_and_alpha_cv():
    search = SelfDistilledKernelRidgeCV(**SEARCH, cv=GroupKFold(3), alpha_cv=GroupKFold(2))
    search.fit(X, Y, groups=GROUPS)
    _search_reference(search, GROUPS)
    with config_context(enable_metadata_routing=True):
        routed = SelfDistilledKernelRidgeCV(**SEARCH, cv=GroupKFold(3), alpha_cv=GroupKFold(2))
        routed.fit(X, Y, groups=GROUPS)
    assert_allclose(routed.cv_results_["mean_test_score"], search.cv_results_["mean_test_score"],
                    rtol=1e-12)
    # A splitter that takes no groups (alpha_cv=3, KFold) is not given them:
    # KFold would warn that it ignores them.
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", GridEdgeWarning)  # about the grid, not the groups
        SelfDistilledKernelRidgeCV(**SEARCH, cv=GroupKFold(3), alpha_cv=3).fit(
            X, Y, groups=GROUPS)


def test_groups_are_routed_through_grid_search_and_cross_validate():
    outer = GroupKFold(2)
    expected = []
    for train, test in outer.split(X, Y, GROUPS):
        model = SelfDistilledKernelRidge(**PLAIN, cv=GroupKFold(3))
        model.fit(X[train], Y[train], groups=GROUPS[train])
        expected.append(r2_score(Y[test], model.predict(X[test])))
    with config_context(enable_metadata_routing=True):
        results = cross_validate(SelfDistilledKernelRidge(**PLAIN, cv=GroupKFold(3)), X, Y,
                                 cv=outer, params={"groups": GROUPS})
        search = GridSearchCV(SelfDistilledKernelRidge(**PLAIN, cv=GroupKFold(3)),
                              {"reg_lambda": [PLAIN["reg_lambda"]]}, cv=outer)
        search.fit(X, Y, groups=GROUPS)
    assert_allclose(results["test_score"], expected, rtol=1e-10)
    assert_allclose([search.cv_results_[f"split{k}_test_score"][0] for k in range(2)],
                    expected, rtol=1e-10)
    assert_allclose(search.best_estimator_.alphas_,
                    SelfDistilledKernelRidge(**PLAIN, cv=GroupKFold(3)).fit(
                        X, Y, groups=GROUPS).alphas_, rtol=1e-12)
