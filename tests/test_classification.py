"""The self-distilled classifiers against independent references.

References: scikit-learn's RidgeClassifier (one step, linear kernel), refits
of Ridge and KernelRidge on the blended encoded targets of eqs. (3)-(5), a
numerical minimisation of the pooled validation error (the optimal weight),
and GridSearchCV over the classifiers (the searches).
"""

import math

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import minimize_scalar
from sklearn.base import clone
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import Ridge, RidgeClassifier
from sklearn.metrics import get_scorer
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold, StratifiedKFold
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import compute_sample_weight
from sklearn.utils.estimator_checks import parametrize_with_checks

from selfdistill_sklearn import (
    SelfDistilledKernelRidge,
    SelfDistilledKernelRidgeClassifier,
    SelfDistilledKernelRidgeClassifierCV,
    SelfDistilledRidge,
    SelfDistilledRidgeClassifier,
    SelfDistilledRidgeClassifierCV,
)

RTOL = 1e-8
NAMES = np.array(["ant", "bee", "cat", "dog"])


def make_data(n=60, n_classes=3, n_features=4, seed=0, n_val=30, noise=0.7):
    """Labels (strings) from a noisy linear score, so that no class is separable."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n + n_val, n_features))
    scores = X @ rng.normal(size=(n_features, n_classes)) + noise * rng.normal(
        size=(n + n_val, n_classes))
    y = NAMES[scores.argmax(axis=1)]
    return X[:n], y[:n], X[n:], y[n:]


def encoded(y, classes):
    Y = LabelBinarizer(pos_label=1, neg_label=-1).fit(classes).transform(y).astype(float)
    return Y[:, 0] if len(classes) == 2 else Y


def encoded_neg_mse(estimator, X, y):
    """The searches' default scoring as a scorer of the decision function."""
    Y = encoded(y, estimator.classes_)
    return -np.mean((estimator.decision_function(X) - Y) ** 2)


# -- one step is RidgeClassifier ----------------------------------------------------------

@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("make", [
    lambda **kw: SelfDistilledKernelRidgeClassifier(kernel="linear", **kw),
    lambda **kw: SelfDistilledRidgeClassifier(**kw),
], ids=["kernel", "primal"])
def test_one_step_linear_is_ridge_classifier(make, n_classes, fit_intercept, weighted):
    X, y, X_new, _ = make_data(n_classes=n_classes)
    X = X + 2.0  # a mean that the intercept must absorb
    X_new = X_new + 2.0
    weight = np.random.default_rng(1).uniform(0.2, 3.0, size=len(y)) if weighted else None
    model = make(n_steps=1, reg_lambda=0.7, fit_intercept=fit_intercept).fit(
        X, y, sample_weight=weight)
    reference = RidgeClassifier(alpha=0.7, fit_intercept=fit_intercept).fit(
        X, y, sample_weight=weight)
    assert_array_equal(model.classes_, reference.classes_)
    assert_allclose(model.decision_function(X_new), reference.decision_function(X_new),
                    rtol=RTOL, atol=1e-10)
    assert_array_equal(model.predict(X_new), reference.predict(X_new))
    assert model.score(X, y) == reference.score(X, y)


# -- every step is a refit on blended encoded targets -------------------------------------

def _refit_chain(make_reference, X, Y, weight, alphas):
    """Eqs. (3)-(5) by refitting: step t fits alpha(t) Y + (1 - alpha(t)) Y(t-1)."""
    models, targets = [], Y
    for step in range(len(alphas) + 1):
        if step:
            targets = alphas[step - 1] * Y + (1 - alphas[step - 1]) * models[-1].predict(X)
        models.append(make_reference().fit(X, targets, sample_weight=weight))
    return models


@pytest.mark.parametrize("alpha", [[0.3, -0.4, 1.2], 0.6, "optimal"])
@pytest.mark.parametrize("case", ["rbf-no-intercept", "kernel-linear", "primal"])
def test_every_step_equals_refits_on_blended_encoded_targets(case, alpha):
    X, y, X_val, y_val = make_data(n_classes=4, seed=2)
    weight = np.random.default_rng(3).uniform(0.5, 2.0, size=len(y))
    params = {"alpha": alpha, "n_steps": 4, "reg_lambda": 0.3}
    if case == "rbf-no-intercept":
        model = SelfDistilledKernelRidgeClassifier(kernel="rbf", gamma=0.2, fit_intercept=False,
                                                   **params)
        def make_reference():
            return KernelRidge(alpha=0.3, kernel="rbf", gamma=0.2)
    else:
        model = (SelfDistilledKernelRidgeClassifier(kernel="linear", **params)
                 if case == "kernel-linear" else SelfDistilledRidgeClassifier(**params))
        def make_reference():
            return Ridge(alpha=0.3)
    model.fit(X, y, sample_weight=weight, X_val=X_val, y_val=y_val)
    expected_alphas = (np.full(3, alpha) if np.ndim(alpha) == 0 and alpha != "optimal"
                       else model.alphas_)
    if alpha != "optimal":
        assert_allclose(model.alphas_, expected_alphas)
    references = _refit_chain(make_reference, X, encoded(y, model.classes_), weight,
                              model.alphas_)
    staged = list(model.staged_decision_function(X_val))
    labels = list(model.staged_predict(X_val))
    assert len(staged) == len(labels) == 4
    for decision, predicted, reference in zip(staged, labels, references, strict=True):
        expected = reference.predict(X_val)
        assert_allclose(decision, expected, rtol=1e-7, atol=1e-9)
        assert_array_equal(predicted, model.classes_[expected.argmax(axis=1)])
    assert_allclose(model.decision_function(X_val), staged[-1], rtol=1e-12, atol=1e-12)


def test_binary_decision_is_one_column_for_the_second_class():
    X, y, X_new, _ = make_data(n_classes=2, seed=4)
    model = SelfDistilledKernelRidgeClassifier(alpha=0.4, n_steps=3, kernel="rbf",
                                               gamma=0.3).fit(X, y)
    decision = model.decision_function(X_new)
    assert decision.shape == (len(X_new),)
    assert_array_equal(model.predict(X_new), np.where(decision > 0, model.classes_[1],
                                                      model.classes_[0]))
    regressor = SelfDistilledKernelRidge(alpha=0.4, n_steps=3, kernel="rbf", gamma=0.3).fit(
        X, np.where(y == model.classes_[1], 1.0, -1.0))
    assert_allclose(decision, regressor.predict(X_new), rtol=1e-12)


@pytest.mark.parametrize("make", [
    lambda **kw: SelfDistilledKernelRidgeClassifier(kernel="rbf", gamma=0.3, **kw),
    lambda **kw: SelfDistilledRidgeClassifier(**kw),
], ids=["kernel", "primal"])
def test_limit_is_one_step_with_penalty_over_alpha(make):
    """Theorem 4.5 for the classifiers: n_steps=inf is one step at lambda / alpha."""
    X, y, X_new, _ = make_data(seed=5)
    limit = make(alpha=0.25, n_steps=math.inf, reg_lambda=0.2).fit(X, y)
    one_step = make(n_steps=1, reg_lambda=0.8).fit(X, y)
    assert_allclose(limit.decision_function(X_new), one_step.decision_function(X_new),
                    rtol=1e-9, atol=1e-12)
    assert_array_equal(limit.predict(X_new), one_step.predict(X_new))
    with pytest.raises(ValueError, match="finite n_steps"):
        next(limit.staged_predict(X_new))


# -- the optimal weight pools the class columns -------------------------------------------

def _pooled_validation_error(alpha, make, X, y, X_val, Y_val):
    model = make(alpha=[alpha], n_steps=2).fit(X, y)
    return np.sum((model.decision_function(X_val) - Y_val) ** 2)


@pytest.mark.parametrize("make", [
    lambda **kw: SelfDistilledKernelRidgeClassifier(kernel="rbf", gamma=0.3, reg_lambda=0.05,
                                                    **kw),
    lambda **kw: SelfDistilledRidgeClassifier(reg_lambda=0.05, **kw),
], ids=["kernel", "primal"])
def test_optimal_alpha_minimises_the_error_summed_over_class_columns(make):
    X, y, X_val, y_val = make_data(n_classes=3, seed=6)
    model = make(alpha="optimal", n_steps=2).fit(X, y, X_val=X_val, y_val=y_val)
    Y_val = encoded(y_val, model.classes_)
    best = minimize_scalar(_pooled_validation_error, bracket=(-1.0, 2.0),
                           args=(make, X, y, X_val, Y_val), options={"xtol": 1e-10})
    assert_allclose(model.alphas_[0], best.x, rtol=1e-6)
    # Each class column alone would choose another weight: the pooling matters.
    per_column = []
    for column in range(Y_val.shape[1]):
        params = {k: v for k, v in make().get_params().items() if k != "class_weight"}
        regressor_class = (SelfDistilledKernelRidge if "kernel" in params
                           else SelfDistilledRidge)
        regressor = regressor_class(**{**params, "alpha": "optimal", "n_steps": 2}).fit(
            X, encoded(y, model.classes_)[:, column], X_val=X_val, y_val=Y_val[:, column])
        per_column.append(regressor.alphas_[0])
    assert np.ptp(per_column) > 0.05
    assert np.min(np.abs(np.array(per_column) - model.alphas_[0])) > 1e-3


def test_optimal_alpha_on_stratified_folds_pools_folds_and_columns():
    X, y, _, _ = make_data(n=75, n_classes=3, seed=7)

    def make(**kw):
        return SelfDistilledKernelRidgeClassifier(kernel="rbf", gamma=0.3, reg_lambda=0.05,
                                                  **kw)
    model = make(alpha="optimal", n_steps=2, cv=3).fit(X, y)
    folds = list(StratifiedKFold(3).split(X, y))

    def error(alpha):
        return sum(_pooled_validation_error(alpha, make, X[train], y[train], X[test],
                                            encoded(y[test], model.classes_))
                   for train, test in folds)
    best = minimize_scalar(error, bracket=(-1.0, 2.0), options={"xtol": 1e-10})
    assert_allclose(model.alphas_[0], best.x, rtol=1e-6)


# -- weights, labels, parameters ----------------------------------------------------------

@pytest.mark.parametrize("class_weight", ["balanced", {"ant": 3.0, "bee": 0.5, "cat": 1.5}])
@pytest.mark.parametrize("make", [
    lambda **kw: SelfDistilledKernelRidgeClassifier(alpha="optimal", n_steps=3, kernel="rbf",
                                                    gamma=0.3, cv=3, **kw),
    lambda **kw: SelfDistilledRidgeClassifier(alpha=0.3, n_steps=3, **kw),
    lambda **kw: SelfDistilledKernelRidgeClassifierCV(reg_lambdas=[0.1, 1.0],
                                                      alphas=[0.5, "optimal"], max_steps=3,
                                                      kernel="rbf", gamma=0.3, cv=3,
                                                      alpha_cv=3, **kw),
    lambda **kw: SelfDistilledRidgeClassifierCV(reg_lambdas=[0.1, 1.0], alphas=[0.0, 0.5],
                                                max_steps=3, cv=3, **kw),
], ids=["kernel", "primal", "kernel-cv", "primal-cv"])
def test_class_weight_multiplies_sample_weight(make, class_weight):
    X, y, X_new, _ = make_data(n=70, seed=8)
    sample_weight = np.random.default_rng(9).uniform(0.5, 2.0, size=len(y))
    weighted = make(class_weight=class_weight).fit(X, y, sample_weight=sample_weight)
    reference = make().fit(X, y, sample_weight=sample_weight
                           * compute_sample_weight(class_weight, y))
    unweighted = make().fit(X, y, sample_weight=sample_weight)
    assert_allclose(weighted.decision_function(X_new), reference.decision_function(X_new),
                    rtol=1e-10, atol=1e-12)
    assert not np.allclose(weighted.decision_function(X_new),
                           unweighted.decision_function(X_new))


@pytest.mark.parametrize("make", [SelfDistilledKernelRidgeClassifier,
                                  SelfDistilledRidgeClassifier])
def test_labels_of_any_kind_give_the_same_model(make):
    X, y, X_new, _ = make_data(seed=10)
    classes, codes = np.unique(y, return_inverse=True)
    by_name = make(alpha="optimal", n_steps=3, cv=3).fit(X, list(y))
    by_code = make(alpha="optimal", n_steps=3, cv=3).fit(X, codes * 10 - 7)
    assert_array_equal(by_name.classes_, classes)
    assert_allclose(by_name.decision_function(X_new), by_code.decision_function(X_new),
                    rtol=1e-12)
    assert_array_equal(by_name.predict(X_new),
                       classes[(by_code.predict(X_new) + 7) // 10])


def test_splitters_receive_class_labels_and_groups():
    X, y, X_new, _ = make_data(n=72, seed=11)
    groups = np.arange(len(y)) % 6
    splitter = GroupKFold(3)
    by_splitter = SelfDistilledKernelRidgeClassifier(alpha="optimal", n_steps=3,
                                                     cv=splitter).fit(X, y, groups=groups)
    by_pairs = SelfDistilledKernelRidgeClassifier(
        alpha="optimal", n_steps=3, cv=list(splitter.split(X, y, groups))).fit(X, y)
    assert_allclose(by_splitter.alphas_, by_pairs.alphas_, rtol=1e-12)
    assert by_splitter.cv is splitter  # the parameter is left as it was given


@pytest.mark.parametrize("make, message", [
    (lambda: SelfDistilledKernelRidgeClassifier(class_weight="uniform"), "class_weight"),
    (lambda: SelfDistilledRidgeClassifier(class_weight=[1, 2]), "class_weight"),
    (lambda: SelfDistilledRidgeClassifierCV(scoring="accuracy"), "second pass"),
    (lambda: SelfDistilledRidgeClassifierCV(scoring="r2"), "scoring must be one of"),
    (lambda: SelfDistilledKernelRidgeClassifierCV(scoring="r2"), "scoring must be one of"),
    (lambda: SelfDistilledKernelRidgeClassifierCV(scoring="accuracy", cv=None), "cv=None"),
])
def test_bad_parameters_are_refused_by_name(make, message):
    X, y, _, _ = make_data()
    with pytest.raises(ValueError, match=message):
        make().fit(X, y)


@pytest.mark.parametrize("make", [SelfDistilledKernelRidgeClassifier,
                                  SelfDistilledRidgeClassifier])
def test_bad_labels_are_refused(make):
    X, y, X_val, y_val = make_data()
    with pytest.raises(ValueError, match="one class"):
        make().fit(X, np.full(len(y), "ant"))
    with pytest.raises(ValueError, match="Unknown label type"):
        make().fit(X, np.linspace(0, 1, len(y)))
    with pytest.raises(ValueError, match="one class label per sample"):
        make().fit(X, np.eye(3)[np.arange(len(y)) % 3])
    with pytest.raises(ValueError, match="y_val holds labels that y does not"):
        make(alpha="optimal").fit(X, y, X_val=X_val, y_val=np.where(y_val == "ant", "eel",
                                                                       y_val))


# -- the searches are grid searches -------------------------------------------------------

def _grid_search(search, estimator, X, y, scoring, sample_weight=None):
    grid = GridSearchCV(estimator, search.param_grid_, cv=search.cv, scoring=scoring)
    if sample_weight is None:
        return grid.fit(X, y)
    with sklearn.config_context(enable_metadata_routing=True):
        estimator.set_fit_request(sample_weight=True)
        scoring = get_scorer(scoring).set_score_request(sample_weight=True)
        grid = GridSearchCV(estimator, search.param_grid_, cv=search.cv, scoring=scoring)
        return grid.fit(X, y, sample_weight=sample_weight)


def _assert_same_search(search, grid, X_new):
    n_splits = search.n_splits_
    for split in range(n_splits):
        key = f"split{split}_test_score"
        assert_allclose(search.cv_results_[key], grid.cv_results_[key], rtol=RTOL, atol=1e-12)
    assert search.best_params_ == grid.best_params_
    assert_allclose(search.decision_function(X_new), grid.best_estimator_.decision_function(
        X_new), rtol=1e-8, atol=1e-10)
    assert_array_equal(search.predict(X_new), grid.predict(X_new))


@pytest.mark.parametrize("scoring, weighted", [(None, False), ("accuracy", False),
                                               ("accuracy", True)])
def test_kernel_search_equals_grid_search_over_classifiers(scoring, weighted):
    X, y, X_new, _ = make_data(n=60, seed=12)
    sample_weight = (np.random.default_rng(13).uniform(0.5, 2.0, size=len(y)) if weighted
                     else None)
    search = SelfDistilledKernelRidgeClassifierCV(
        reg_lambdas=[0.03, 0.3], alphas=[0.0, 0.6, 1.0, "optimal"], max_steps=3,
        kernel="rbf", gamma=0.3, cv=3, alpha_cv=3, scoring=scoring).fit(
        X, y, sample_weight=sample_weight)
    assert isinstance(search.best_estimator_, SelfDistilledKernelRidgeClassifier)
    assert search.best_estimator_.cv == 3 and search.cv == 3
    # An integer cv is stratified on both sides, as GridSearchCV makes it for a classifier.
    grid = _grid_search(search, SelfDistilledKernelRidgeClassifier(kernel="rbf", gamma=0.3,
                                                                   cv=3),
                        X, y, scoring or encoded_neg_mse, sample_weight)
    _assert_same_search(search, grid, X_new)
    assert_allclose(search.best_score_, grid.best_score_, rtol=RTOL)
    staged = list(search.staged_decision_function(X_new))
    assert len(staged) == search.best_params_["n_steps"] or math.isinf(
        search.best_params_["n_steps"])


def test_primal_search_equals_grid_search_over_classifiers():
    X, y, X_new, _ = make_data(n=60, n_classes=4, seed=14)
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    search = SelfDistilledRidgeClassifierCV(reg_lambdas=[0.03, 0.3, 3.0],
                                            alphas=[0.0, 0.6, 1.0], max_steps=3,
                                            cv=folds).fit(X, y)
    assert isinstance(search.best_estimator_, SelfDistilledRidgeClassifier)
    grid = _grid_search(search, SelfDistilledRidgeClassifier(), X, y, encoded_neg_mse)
    _assert_same_search(search, grid, X_new)
    assert_array_equal(list(search.staged_predict(X_new))[-1] if not math.isinf(
        search.best_params_["n_steps"]) else search.predict(X_new), search.predict(X_new))


def test_primal_search_with_optimal_equals_grid_search_on_the_other_folds():
    """The primal search chooses alpha* inside a fold on the other folds: with KFold(3)
    on a number of samples divisible by 3, GridSearchCV over the classifier with
    cv=KFold(2) (splitters that ignore labels pass unchanged) sees the same folds."""
    X, y, X_new, _ = make_data(n=60, seed=17)
    search = SelfDistilledRidgeClassifierCV(reg_lambdas=[0.03, 0.3], alphas=[0.5, "optimal"],
                                            max_steps=3, cv=KFold(3)).fit(X, y)
    grid = _grid_search(search, SelfDistilledRidgeClassifier(cv=KFold(2)), X, y,
                        encoded_neg_mse)
    for split in range(3):
        key = f"split{split}_test_score"
        assert_allclose(search.cv_results_[key], grid.cv_results_[key], rtol=RTOL)
    assert search.best_params_ == grid.best_params_
    # best_estimator_ chooses its weights on the search's own folds of all the data.
    refit = clone(grid.best_estimator_).set_params(cv=KFold(3)).fit(X, y)
    assert_allclose(search.decision_function(X_new), refit.decision_function(X_new),
                    rtol=1e-8, atol=1e-10)


def test_search_binary_string_labels_and_score_is_accuracy():
    X, y, X_new, y_new = make_data(n=60, n_classes=2, seed=15)
    search = SelfDistilledKernelRidgeClassifierCV(reg_lambdas=[0.1, 1.0], alphas=[0.5],
                                                  max_steps=2, cv=3).fit(X, y)
    assert search.decision_function(X_new).shape == (len(X_new),)
    assert set(search.predict(X_new)) <= set(search.classes_)
    assert search.score(X_new, y_new) == np.mean(search.predict(X_new) == y_new)
    assert clone(search).get_params()["cv"] == 3


def test_primal_classifier_streams_dask_arrays():
    da = pytest.importorskip("dask.array")
    X, y, X_new, _ = make_data(n=80, seed=16)
    model = SelfDistilledRidgeClassifier(alpha="optimal", n_steps=3, cv=3).fit(
        da.from_array(X, chunks=25), da.from_array(y, chunks=25))
    reference = SelfDistilledRidgeClassifier(alpha="optimal", n_steps=3, cv=3).fit(X, y)
    assert_allclose(model.alphas_, reference.alphas_, rtol=1e-10)
    labels = model.predict(da.from_array(X_new, chunks=7))
    assert isinstance(labels, da.Array)
    assert_array_equal(labels.compute(), reference.predict(X_new))


# -- scikit-learn's estimator checks ------------------------------------------------------

def _expected_failed_checks(estimator):
    if "optimal" not in getattr(estimator, "alphas", ()):
        return {}
    # The search scores its candidates on folds, and the folds of repeated samples are
    # not those of weighted ones (as for SelfDistilledKernelRidgeCV).
    reason = "alpha='optimal' splits repeated and weighted samples differently"
    return {"check_sample_weight_equivalence_on_dense_data": reason,
            "check_sample_weight_equivalence_on_sparse_data": reason}


@parametrize_with_checks([
    SelfDistilledKernelRidgeClassifier(),
    SelfDistilledKernelRidgeClassifier(alpha="optimal", n_steps=3, kernel="rbf", cv=3),
    SelfDistilledRidgeClassifier(alpha=[0.3, 1.2], n_steps=3),
    SelfDistilledKernelRidgeClassifierCV(reg_lambdas=(0.1, 1.0), alphas=(0.5, "optimal"),
                                         max_steps=2, kernel="rbf", cv=3, alpha_cv=3),
    SelfDistilledRidgeClassifierCV(reg_lambdas=(0.1, 1.0), alphas=(0.0, 0.5), max_steps=2,
                                   cv=3),
], expected_failed_checks=_expected_failed_checks)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
