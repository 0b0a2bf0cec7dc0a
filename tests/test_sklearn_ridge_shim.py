"""scikit-learn's own tests of ``Ridge``, run against ``SelfDistilledRidge(n_steps=1)``.

A fresh copy of ``sklearn/linear_model/tests/test_ridge.py`` from the installed
scikit-learn is loaded under a private name, its ``Ridge`` replaced by
:class:`Ridge` below (a thin adapter that maps ``Ridge``'s parameters onto
``SelfDistilledRidge``), and the tests that concern ``Ridge``'s behaviour are
collected here. One step of self-distillation is ridge regression, so every
one of them must pass, except where the two differ by design (marked xfail,
with the reason). Tests parametrised over ``Ridge``'s solvers run for one
solver only: the adapter ignores ``solver``, ``tol`` and ``max_iter`` (the
primal estimator always solves the normal equations in closed form).

Left out, grouped, one line each:

Private solver functions and solver internals (the adapter has no solvers):
    test_primal_dual_relationship: _solve_cholesky and _solve_cholesky_kernel
    test_ridge_regression_convergence_fail: sparse_cg's ConvergenceWarning in ridge_regression
    test_X_CenterStackOp: a private sparse centring operator of the GCV
    test_compute_gram: a private helper of the GCV
    test_compute_covariance: a private helper of the GCV
    test_solver_consistency: compares Ridge's solvers and RidgeCV with solver='svd'
    test_sparse_cg_max_iter: sparse_cg's iteration limit
    test_n_iter: n_iter_ of the iterative solvers
    test_ridge_fit_intercept_sparse_error: solvers that refuse sparse input with an intercept
    test_ridge_fit_intercept_sparse_sag: sag's tolerance and its warning
    test_ridge_regression_check_arguments_validity: the ridge_regression function
    test_ridge_regression_dtype_stability: the ridge_regression function
    test_ridge_sag_with_X_fortran: sag's memory layout
    test_lbfgs_solver_consistency: the lbfgs solver
    test_lbfgs_solver_error: the lbfgs solver

positive=True, which the primal estimator does not offer:
    test_ridge_positive_regression_test: positive coefficients
    test_ridge_ground_truth_positive_test: positive coefficients
    test_ridge_positive_error_test: positive coefficients
    test_positive_ridge_loss: positive coefficients

Per-target penalties (reg_lambda is one scalar; see the xfail of test_ridge_individual_penalties):
    test_dtype_match_cholesky: an array of penalties, one per target

RidgeCV, RidgeClassifier, RidgeClassifierCV and the GCV:
    test_ridge_gcv_integer_arrays: RidgeCV / GCV
    test_ridge_gcv_vs_ridge_loo_cv: RidgeCV / GCV
    test_regularization_limits_ridge_gcv: RidgeCV / GCV
    test_ridge_loo_cv_asym_scoring: RidgeCV / GCV
    test_ridge_gcv_sample_weights: RidgeCV / GCV
    test_check_gcv_mode_choice: RidgeCV / GCV
    test_ridge_gcv_cv_results_not_stored: RidgeCV / GCV
    test_ridge_best_score: RidgeCV / GCV
    test_ridge_cv_individual_penalties: RidgeCV / GCV
    test_ridge_regression_custom_scoring: RidgeCV / GCV
    test_ridgecv_store_cv_results: RidgeCV / GCV
    test_ridgecv_alphas_conversion: RidgeCV / GCV
    test_ridgecv_alphas_zero: RidgeCV / GCV
    test_ridgecv_sample_weight: RidgeCV / GCV
    test_ridgecv_int_alphas: RidgeCV / GCV
    test_ridgecv_alphas_validation: RidgeCV / GCV
    test_ridgecv_alphas_scalar: RidgeCV / GCV
    test_ridge_cv_results_predictions: RidgeCV / GCV
    test_ridge_cv_multioutput_sample_weight: RidgeCV / GCV
    test_ridge_cv_custom_multioutput_scorer: RidgeCV / GCV
    test_metadata_routing_with_default_scoring: RidgeCV / GCV
    test_set_score_request_with_default_scoring: RidgeCV / GCV
    test_regularization_limits_ridge_classifier_gcv: RidgeClassifier / RidgeClassifierCV
    test_ridge_classifier_with_scoring: RidgeClassifier / RidgeClassifierCV
    test_class_weights: RidgeClassifier / RidgeClassifierCV
    test_class_weight_vs_sample_weight: RidgeClassifier / RidgeClassifierCV
    test_class_weights_cv: RidgeClassifier / RidgeClassifierCV
    test_ridge_classifier_cv_store_cv_results: RidgeClassifier / RidgeClassifierCV
    test_ridgeclassifier_multilabel: RidgeClassifier / RidgeClassifierCV
    test_dense_sparse (loo, cv, classifiers): its RidgeCV and classifier functions only

Array API dispatch (the primal estimator computes with NumPy only):
    test_ridge_array_api_compliance: array API
    test_ridge_classifier_multilabel_array_api: array API
    test_ridge_per_target_alpha_array_api: array API
    test_array_api_error_and_warnings_for_solver_parameter: array API
    test_array_api_numpy_namespace_no_warning: array API
"""

import importlib.util
import pathlib

import pytest
import sklearn
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from selfdistill_sklearn import SelfDistilledRidge


class Ridge(RegressorMixin, BaseEstimator):
    """``sklearn.linear_model.Ridge``'s parameters on ``SelfDistilledRidge(n_steps=1)``:
    ``alpha`` is the penalty ``reg_lambda``; ``solver``, ``tol``, ``max_iter``,
    ``copy_X`` and ``random_state`` have no counterpart and are ignored."""

    def __init__(self, alpha=1.0, *, fit_intercept=True, copy_X=True, max_iter=None,
                 tol=1e-4, solver="auto", positive=False, random_state=None):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.copy_X = copy_X
        self.max_iter = max_iter
        self.tol = tol
        self.solver = solver
        self.positive = positive
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None):
        if self.positive:
            raise NotImplementedError("positive=True has no counterpart.")
        model = SelfDistilledRidge(n_steps=1, alpha=1.0, reg_lambda=self.alpha,
                                   fit_intercept=self.fit_intercept)
        model.fit(X, y, sample_weight=sample_weight)
        self.model_ = model
        for name, value in vars(model).items():
            if name.endswith("_") and not name.startswith("_"):
                setattr(self, name, value)
        self.solver_ = self.solver  # Ridge reports the solver it used
        return self

    def predict(self, X):
        check_is_fitted(self)
        return self.model_.predict(X)

    def __sklearn_tags__(self):
        return SelfDistilledRidge().__sklearn_tags__()


def _load_sklearn_tests():
    path = pathlib.Path(sklearn.__file__).parent / "linear_model" / "tests" / "test_ridge.py"
    spec = importlib.util.spec_from_file_location("_sklearn_test_ridge_copy", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.Ridge = Ridge
    return module


_sk = _load_sklearn_tests()


@pytest.fixture
def global_random_seed():
    """scikit-learn's default global seed."""
    return 42


ols_ridge_dataset = _sk.ols_ridge_dataset

#: Why a test (or some of its parametrisations) differs from ``Ridge`` by design.
_ALPHA_ZERO = ("reg_lambda must be > 0: Ridge(alpha=0) is ordinary least squares, which "
               "the self-distilled estimators do not offer (their steps need a penalty).")
_FLOAT64 = ("the moments are accumulated in float64 whatever the input's dtype, so that "
            "coef_ and predictions are float64 for float32 input.")
_PER_TARGET = "one penalty for all targets: reg_lambda is a scalar, not one per target."


def _single(name, solver, xfail=None):
    """The sklearn test ``name`` with its ``solver`` parametrisation reduced to
    ``solver`` (None: left as it is), xfailed (strictly) for ``xfail``."""
    test = getattr(_sk, name)
    marks = []
    for mark in getattr(test, "pytestmark", []):
        if mark.name == "parametrize" and mark.args[0] == "solver" and solver is not None:
            mark = pytest.mark.parametrize("solver", [solver]).mark
        marks.append(mark)
    if xfail is not None:
        marks.append(pytest.mark.xfail(reason=xfail, strict=True).mark)
    test.pytestmark = marks
    return test


test_ridge_regression = _single("test_ridge_regression", "cholesky")
test_ridge_regression_hstacked_X = _single("test_ridge_regression_hstacked_X", "cholesky")
test_ridge_regression_vstacked_X = _single("test_ridge_regression_vstacked_X", "cholesky")
test_ridge_regression_unpenalized = _single("test_ridge_regression_unpenalized", "cholesky",
                                            _ALPHA_ZERO)
test_ridge_regression_unpenalized_hstacked_X = _single(
    "test_ridge_regression_unpenalized_hstacked_X", "svd", _ALPHA_ZERO)
test_ridge_regression_unpenalized_vstacked_X = _single(
    "test_ridge_regression_unpenalized_vstacked_X", "cholesky", _ALPHA_ZERO)
test_ridge_regression_sample_weights = _single("test_ridge_regression_sample_weights",
                                               "sparse_cg")
test_ridge_shapes_type = _single("test_ridge_shapes_type", None)
test_ridge_intercept = _single("test_ridge_intercept", None)
test_ridge_vs_lstsq = _single("test_ridge_vs_lstsq", None, _ALPHA_ZERO)
test_ridge_individual_penalties = _single("test_ridge_individual_penalties", None, _PER_TARGET)
def test_regularization_limits_ridge(alpha, solver, fit_intercept, X_shape, X_container):
    """scikit-learn's test_regularization_limits_ridge, wide data with a
    penalty of 1e-16 included (the eigen-form fit of the stable moments)."""
    _sk.test_regularization_limits_ridge(alpha, solver, fit_intercept, X_shape, X_container)


test_regularization_limits_ridge.pytestmark = _single("test_regularization_limits_ridge",
                                                      "lsqr").pytestmark
test_raises_value_error_if_sample_weights_greater_than_1d = _single(
    "test_raises_value_error_if_sample_weights_greater_than_1d", None)
test_sparse_design_with_sample_weights = _single("test_sparse_design_with_sample_weights",
                                                 None)
test_ridge_fit_intercept_sparse = _single("test_ridge_fit_intercept_sparse", "sparse_cg")
test_dtype_match = _single("test_dtype_match", "cholesky", _FLOAT64)
test_ridge_sample_weight_consistency = _single("test_ridge_sample_weight_consistency",
                                               "sparse_cg")


@pytest.mark.parametrize("test_func", [_sk._test_ridge_diabetes,
                                       _sk._test_multi_ridge_diabetes, _sk._test_tolerance])
@pytest.mark.parametrize("csr_container", _sk.CSR_CONTAINERS)
def test_dense_sparse(test_func, csr_container):
    """scikit-learn's test_dense_sparse, for the functions that fit ``Ridge``."""
    _sk.test_dense_sparse(test_func, csr_container)
