"""The primal estimators under scikit-learn's array API dispatch: everything follows X.

scikit-learn's dispatch needs ``SCIPY_ARRAY_API=1`` before SciPy is first imported,
which the rest of the suite does not set; without it, one test runs this module in a
child process that sets it.
"""

import math
import os
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import array_api_compat
import array_api_strict
import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import clone, config_context
from sklearn.kernel_approximation import Nystroem
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, SplineTransformer, StandardScaler
from sklearn.utils.estimator_checks import (
    check_array_api_input,
    check_array_api_mixed_inputs,
    check_array_api_same_namespace,
)

from selfdistill_sklearn import SelfDistilledRidge, SelfDistilledRidgeCV, _array_api

ARRAY_API = os.environ.get("SCIPY_ARRAY_API") == "1"
NAMESPACES = {"array_api_strict": array_api_strict.asarray, "torch": torch.asarray}
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(ARRAY_API, reason="this process already has SCIPY_ARRAY_API=1")
def test_array_api_module_in_a_process_with_scipy_array_api():
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-x",
         "--no-header", str(Path(__file__).relative_to(ROOT))],
        cwd=ROOT, env={**os.environ, "SCIPY_ARRAY_API": "1"}, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout


needs_array_api = pytest.mark.skipif(not ARRAY_API, reason="needs SCIPY_ARRAY_API=1")

def data(n=240, d=4, k=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + 3.0
    Y = X @ rng.normal(size=(d, k)) + 0.3 * rng.normal(size=(n, k))
    return X, (Y[:, 0] if k == 1 else Y), rng.uniform(0.2, 2.0, size=n)


def estimators():
    nystroem = {"feature_map": "nystroem"}
    return [
        ("fixed", SelfDistilledRidge, dict(alpha=0.3, n_steps=4, reg_lambda=0.5, block_size=57),
         {}),
        ("limit", SelfDistilledRidge, dict(alpha=0.4, n_steps=math.inf, fit_intercept=False), {}),
        ("nystroem", SelfDistilledRidge, dict(alpha=[0.2, 0.7], n_steps=3, **nystroem), {}),
        ("pipeline", SelfDistilledRidge, dict(alpha=0.5, n_steps=2, feature_map="pipeline"), {}),
        ("weights", SelfDistilledRidge, dict(alpha=0.5, n_steps=3, block_size=50),
         {"sample_weight": True}),
        ("targets", SelfDistilledRidge, dict(alpha=0.5, n_steps=3), {"k": 2}),
        ("gcv", SelfDistilledRidge, dict(alpha="optimal", n_steps=3, cv=None), {}),
        ("folds", SelfDistilledRidge, dict(alpha="optimal", n_steps=3, cv=3),
         {"sample_weight": True}),
        ("validation", SelfDistilledRidge, dict(alpha="optimal", n_steps=3), {"val": True}),
        ("search", SelfDistilledRidgeCV, dict(reg_lambdas=[0.1, 1.0], alphas=[0.5, "optimal"],
                                              max_steps=3, cv=3), {}),
        ("search-gcv", SelfDistilledRidgeCV, dict(reg_lambdas=[0.1, 1.0], alphas=[0.5, "optimal"],
                                                  max_steps=3, cv=None), {}),
    ]


def make(cls, params):
    params = dict(params)
    if params.get("feature_map") == "nystroem":
        params["feature_map"] = Nystroem(gamma=0.2, n_components=30, random_state=0)
    elif params.get("feature_map") == "pipeline":
        params["feature_map"] = make_pipeline(StandardScaler(), PolynomialFeatures(2))
    return cls(**params)


def fitted_arrays(model):
    """The array attributes of a fitted model (of its best estimator for a search)."""
    inner = getattr(model, "best_estimator_", model)
    names = ["coef_", "alphas_", "staged_coef_", "staged_intercept_"]
    arrays = {name: getattr(inner, name) for name in names if hasattr(inner, name)}
    if type(inner.intercept_) is not float:  # 0.0 without an intercept
        arrays["intercept_"] = inner.intercept_
    if hasattr(model, "optimal_alphas_"):
        arrays["optimal_alphas_"] = model.optimal_alphas_
    return arrays


def fit_both(case, namespace, dtype=np.float64):
    _, cls, params, options = case
    X, y, w = data(k=options.get("k", 1))
    X = X.astype(dtype)
    fit_kwargs = {"sample_weight": w} if options.get("sample_weight") else {}
    if options.get("val"):
        X_val, y_val, _ = data(n=80, seed=1)
        fit_kwargs.update(X_val=X_val, y_val=y_val)
    reference = make(cls, params).fit(X, y, **fit_kwargs)
    asarray = NAMESPACES[namespace]
    with config_context(array_api_dispatch=True):
        model = make(cls, params).fit(asarray(X), asarray(y),
                                      **{k: asarray(v) for k, v in fit_kwargs.items()})
        prediction = model.predict(asarray(X))
    return reference, model, prediction, X


@needs_array_api
@pytest.mark.parametrize("namespace", ["array_api_strict", "torch"])
@pytest.mark.parametrize("case", estimators(), ids=lambda case: case[0])
def test_fit_and_predict_equal_numpy_and_follow_x(case, namespace):
    reference, model, prediction, X = fit_both(case, namespace)
    x_namespace = array_api_compat.array_namespace(NAMESPACES[namespace](X))
    assert array_api_compat.array_namespace(prediction) is x_namespace
    assert_allclose(_array_api.to_numpy(prediction), reference.predict(X), rtol=1e-10,
                    atol=1e-10)
    expected = fitted_arrays(reference)
    for name, array in fitted_arrays(model).items():
        assert array_api_compat.array_namespace(array) is x_namespace, name
        assert array_api_compat.device(array) == array_api_compat.device(prediction), name
        assert_allclose(_array_api.to_numpy(array), np.asarray(expected[name]), rtol=1e-10,
                        atol=1e-10, err_msg=name)
    inner = getattr(model, "best_estimator_", model)
    with config_context(array_api_dispatch=True):
        if hasattr(inner, "staged_coef_"):
            asarray = NAMESPACES[namespace]
            stages = list(inner.staged_predict(asarray(X[:7])))
            for stage, expected_stage in zip(stages, getattr(reference, "best_estimator_",
                                                             reference).staged_predict(X[:7]),
                                             strict=True):
                assert array_api_compat.array_namespace(stage) is x_namespace
                assert_allclose(_array_api.to_numpy(stage), expected_stage, rtol=1e-10)
        dof = inner.effective_dof_
        assert array_api_compat.array_namespace(dof) is x_namespace
        assert_allclose(_array_api.to_numpy(dof),
                        getattr(reference, "best_estimator_", reference).effective_dof_,
                        rtol=1e-10)


@needs_array_api
@pytest.mark.parametrize("namespace", ["array_api_strict", "torch"])
def test_float32_input_is_computed_in_float64_as_numpy_input_is(namespace):
    # Where the device has float64 (every CPU), float32 input is cast as the NumPy
    # path casts it: the same float64 results, to 1e-10.
    case = estimators()[2]
    reference, model, prediction, X = fit_both(case, namespace, dtype=np.float32)
    assert X.dtype == np.float32
    assert_allclose(_array_api.to_numpy(prediction), reference.predict(X), rtol=1e-10)
    assert _array_api.to_numpy(model.coef_).dtype == np.float64


@needs_array_api
@pytest.mark.parametrize("namespace", ["array_api_strict", "torch"])
def test_offsets_cost_no_digits_in_the_namespace(namespace):
    # As with NumPy: both parts of each block's mean in every merge, so
    # that X + 1e7 and y + 1e8 in blocks of 16 rows equal Ridge's fit.
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(2000, 3))
    X, y = Z + 1e7, Z @ [1.0, -2.0, 0.5] + 0.3 * rng.normal(size=2000) + 1e8
    w = rng.uniform(0.2, 2.0, size=2000)
    ridge = Ridge(alpha=1.0, solver="cholesky").fit(X, y, sample_weight=w)
    asarray = NAMESPACES[namespace]
    with config_context(array_api_dispatch=True):
        model = SelfDistilledRidge(n_steps=1, block_size=16).fit(
            asarray(X), asarray(y), sample_weight=asarray(w))
    assert_allclose(_array_api.to_numpy(model.coef_), ridge.coef_, rtol=1e-11)
    assert_allclose(float(model.intercept_), ridge.intercept_, rtol=1e-14)


@needs_array_api
def test_devices_without_float64_compute_in_float32_to_a_float32_tolerance(monkeypatch):
    # A device without float64 (Apple's MPS) keeps the moments and eigh in float32:
    # relative errors of a few 1e-6 on this well-conditioned problem, asserted at 1e-4.
    original = _array_api.Namespace.__init__

    def float32_only(self, xp, device):
        original(self, xp, device)
        self.dtype = xp.float32

    monkeypatch.setattr(_array_api.Namespace, "__init__", float32_only)
    X, y, w = data()
    reference = SelfDistilledRidge(alpha=0.3, n_steps=4).fit(X, y, sample_weight=w)
    with config_context(array_api_dispatch=True):
        model = SelfDistilledRidge(alpha=0.3, n_steps=4).fit(
            torch.asarray(X), torch.asarray(y), sample_weight=torch.asarray(w))
        prediction = model.predict(torch.asarray(X))
    assert model.coef_.dtype == torch.float32 and prediction.dtype == torch.float32
    scale = np.abs(reference.predict(X)).max()  # float32: relative to the predictions' size
    assert_allclose(prediction.numpy(), reference.predict(X), rtol=1e-4, atol=1e-5 * scale)
    assert_allclose(model.coef_.numpy(), reference.coef_, rtol=1e-4, atol=1e-4)


@needs_array_api
@pytest.mark.parametrize("cls", ["SelfDistilledRidge", "SelfDistilledRidgeCV"])
def test_dispatch_off_is_numpy_unchanged(cls):
    X, y, _ = data()
    make_model = {"SelfDistilledRidge": lambda: SelfDistilledRidge(alpha=0.3, n_steps=3),
                  "SelfDistilledRidgeCV": lambda: SelfDistilledRidgeCV(
                      reg_lambdas=[0.1, 1.0], alphas=[0.5], max_steps=2)}[cls]
    reference = make_model().fit(X, y)
    model = make_model().fit(torch.asarray(X), torch.asarray(y))  # converted by NumPy
    inner = getattr(model, "best_estimator_", model)
    assert isinstance(inner.coef_, np.ndarray)
    assert_array_equal(inner.coef_, getattr(reference, "best_estimator_", reference).coef_)
    with config_context(array_api_dispatch=True):  # NumPy input with dispatch on: unchanged
        again = make_model().fit(X, y)
    assert_array_equal(again.predict(X), reference.predict(X))
    assert isinstance(getattr(again, "best_estimator_", again).coef_, np.ndarray)


@needs_array_api
@pytest.mark.parametrize("cls", [SelfDistilledRidge, SelfDistilledRidgeCV])
def test_a_map_without_array_api_support_is_refused_by_name(cls):
    X, y, _ = data()
    model = cls(feature_map=SplineTransformer())
    with config_context(array_api_dispatch=True), pytest.raises(
            TypeError, match=r"feature_map=SplineTransformer\(\) does not support the array API"):
        model.fit(torch.asarray(X), torch.asarray(y))
    assert not hasattr(model, "n_features_in_")
    with config_context(array_api_dispatch=True), pytest.raises(
            TypeError, match="does not support the array API"):
        cls(feature_map=make_pipeline(StandardScaler(), SplineTransformer())).fit(
            torch.asarray(X), torch.asarray(y))
    # The tag says which maps the estimator takes under dispatch.
    assert cls(feature_map=Nystroem()).__sklearn_tags__().array_api_support
    assert not cls(feature_map=SplineTransformer()).__sklearn_tags__().array_api_support


@needs_array_api
def test_predict_refuses_another_namespace_than_the_fit():
    X, y, _ = data()
    with config_context(array_api_dispatch=True):
        model = SelfDistilledRidge().fit(torch.asarray(X), torch.asarray(y))
        with pytest.raises(ValueError, match=r"SelfDistilledRidge.predict\(\) was given a "
                                             "NumPy array.*must use the same namespace"):
            model.predict(X)
        with pytest.raises(ValueError, match="must use the same namespace"):
            model.predict(array_api_strict.asarray(X))


NamespaceAndDevice = namedtuple("NamespaceAndDevice", ["xp", "device"])

CHECKED = [
    ("SelfDistilledRidge", dict(alpha=0.5, n_steps=3)),
    ("SelfDistilledRidge", dict(alpha=0.5, n_steps=3, feature_map="nystroem")),
    ("SelfDistilledRidgeCV", dict(reg_lambdas=[0.1, 1.0], alphas=[0.5, "optimal"],
                                  max_steps=2, cv=3)),
]


@needs_array_api
@pytest.mark.parametrize("name, params", CHECKED, ids=lambda value: str(value))
@pytest.mark.parametrize("namespace", ["array_api_strict", "torch"])
def test_scikit_learn_array_api_checks(name, params, namespace):
    cls = {"SelfDistilledRidge": SelfDistilledRidge, "SelfDistilledRidgeCV": SelfDistilledRidgeCV}
    estimator = make(cls[name], params)
    device = "cpu" if namespace == "torch" else None
    for dtype in ("float64", "float32"):
        check_array_api_input(name, clone(estimator), namespace, device_name=device,
                              dtype_name=dtype, check_values=True, check_sample_weight=True)
    check_array_api_mixed_inputs(name, clone(estimator), NamespaceAndDevice(namespace, device),
                                 NamespaceAndDevice("numpy", None), check_values=True)
    check_array_api_same_namespace(name, clone(estimator), namespace, device_name=device)


@needs_array_api
@pytest.mark.parametrize("namespace", ["array_api_strict", "torch"])
def test_a_pickled_model_predicts_in_the_namespace_of_its_fit(namespace):
    import pickle

    X, y, _ = data()
    asarray = NAMESPACES[namespace]
    with config_context(array_api_dispatch=True):
        model = SelfDistilledRidge(alpha=0.5, n_steps=3).fit(asarray(X), asarray(y))
        restored = pickle.loads(pickle.dumps(model))
        prediction = restored.predict(asarray(X))
        original = model.predict(asarray(X))
    assert array_api_compat.array_namespace(prediction) is array_api_compat.array_namespace(
        asarray(X))
    assert_array_equal(_array_api.to_numpy(prediction), _array_api.to_numpy(original))


@needs_array_api
def test_dask_and_numpy_input_keep_their_paths_with_dispatch_on():
    import dask.array as da

    X, y, _ = data()
    reference = SelfDistilledRidge(alpha=0.5, n_steps=3).fit(X, y)
    with config_context(array_api_dispatch=True):
        model = SelfDistilledRidge(alpha=0.5, n_steps=3, block_size=50).fit(
            da.from_array(X, chunks=100), da.from_array(y, chunks=100))
        prediction = model.predict(da.from_array(X, chunks=100)).compute()
    assert isinstance(model.coef_, np.ndarray)
    assert_allclose(prediction, reference.predict(X), rtol=1e-10)
    with config_context(array_api_dispatch=True), pytest.raises(
            ValueError, match="inconsistent numbers of samples"):
        SelfDistilledRidge().fit(torch.asarray(X), torch.asarray(y[:-1]))


@needs_array_api
@pytest.mark.parametrize("namespace", ["array_api_strict", "torch"])
def test_wide_data_with_a_tiny_penalty_drop_the_rounding_directions_as_numpy(namespace):
    # More features than rows: G's null space is rounding, cut as the NumPy path cuts
    # it, so that new rows are predicted as the minimum-norm solution predicts them.
    rng = np.random.default_rng(0)
    X, y, X_new = rng.normal(size=(30, 60)), rng.normal(size=30), rng.normal(size=(5, 60))
    reference = SelfDistilledRidge(alpha=0.5, n_steps=3, reg_lambda=1e-12).fit(X, y)
    asarray = NAMESPACES[namespace]
    with config_context(array_api_dispatch=True):
        model = SelfDistilledRidge(alpha=0.5, n_steps=3, reg_lambda=1e-12).fit(
            asarray(X), asarray(y))
        prediction = _array_api.to_numpy(model.predict(asarray(X_new)))
    expected = reference.predict(X_new)
    assert_allclose(prediction, expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max())


# -- partial_fit under dispatch ------------------------------------------------------------
@needs_array_api
@pytest.mark.parametrize("namespace", ["array_api_strict", "torch"])
@pytest.mark.parametrize("case", [case for case in estimators()
                                  if case[0] not in ("nystroem", "pipeline", "validation")],
                         ids=lambda case: case[0])
def test_partial_fit_in_the_namespace_equals_numpy_fit(case, namespace):
    """Batches of another namespace stream into the same moments as fit's,
    and the finished model follows them (maps fitted on the first batch are
    tested elsewhere: their landmarks differ from a fit on all rows)."""
    _, cls, params, options = case
    X, y, w = data(k=options.get("k", 1))
    weights = options.get("sample_weight")
    reference = make(cls, params).fit(X, y, **({"sample_weight": w} if weights else {}))
    asarray = NAMESPACES[namespace]
    model = make(cls, params)
    with config_context(array_api_dispatch=True):
        for start in (0, 1, 60, 173):  # uneven batches, one of a single row
            stop = {0: 1, 1: 60, 60: 173, 173: len(X)}[start]
            model.partial_fit(asarray(X[start:stop]), asarray(y[start:stop]),
                              **({"sample_weight": asarray(w[start:stop])} if weights else {}))
        prediction = model.predict(asarray(X))
    x_namespace = array_api_compat.array_namespace(asarray(X))
    assert array_api_compat.array_namespace(prediction) is x_namespace
    assert_allclose(_array_api.to_numpy(prediction), reference.predict(X), rtol=1e-10,
                    atol=1e-10)
    for name, array in fitted_arrays(model).items():
        assert array_api_compat.array_namespace(array) is x_namespace, name


@needs_array_api
def test_partial_fit_refuses_a_batch_of_another_namespace_or_a_numpy_fitted_map():
    X, y, _ = data()
    model = SelfDistilledRidge()
    with config_context(array_api_dispatch=True):
        model.partial_fit(torch.asarray(X[:100]), torch.asarray(y[:100]))
        before = _array_api.to_numpy(model.predict(torch.asarray(X)))
        with pytest.raises(TypeError, match="same kind of container"):
            model.partial_fit(X[100:], y[100:])
        with pytest.raises((TypeError, ValueError)):
            model.partial_fit(array_api_strict.asarray(X[100:]), array_api_strict.asarray(y[100:]))
        assert_array_equal(_array_api.to_numpy(model.predict(torch.asarray(X))), before)
        fitted_on_numpy = Nystroem(n_components=10, random_state=0).fit(X)
        with pytest.raises(ValueError, match="feature_map Nystroem is fitted already"):
            SelfDistilledRidge(feature_map=fitted_on_numpy).partial_fit(torch.asarray(X),
                                                                        torch.asarray(y))


def assert_same_best(best, expected):
    """The same candidate: the automatic penalties are computed from the
    moments in each namespace, equal to rounding, not bit for bit."""
    assert best.keys() == expected.keys()
    assert {k: v for k, v in best.items() if k != "reg_lambda"} == {
        k: v for k, v in expected.items() if k != "reg_lambda"}
    assert_allclose(float(best["reg_lambda"]), float(expected["reg_lambda"]), rtol=1e-10)


@needs_array_api
@pytest.mark.parametrize("cv", [3, None])
def test_the_automatic_grid_under_dispatch_equals_numpy(cv):
    X, y, _ = data()
    reference = SelfDistilledRidgeCV(max_steps=2, cv=cv).fit(X, y)
    with config_context(array_api_dispatch=True):
        model = SelfDistilledRidgeCV(max_steps=2, cv=cv).fit(torch.asarray(X), torch.asarray(y))
    assert_allclose(_array_api.to_numpy(model.reg_lambdas_), reference.reg_lambdas_, rtol=1e-10)
    assert_same_best(model.best_params_, reference.best_params_)


@needs_array_api
def test_partial_fit_refuses_a_namespace_batch_after_numpy_batches():
    X, y, _ = data()
    model = SelfDistilledRidge().partial_fit(torch.asarray(X[:100]), torch.asarray(y[:100]))
    before = model.predict(X)
    with config_context(array_api_dispatch=True), pytest.raises(ValueError,
                                                                match="same namespace"):
        model.partial_fit(torch.asarray(X[100:]), torch.asarray(y[100:]))
    assert_array_equal(model.predict(X), before)


@needs_array_api
def test_the_automatic_grid_and_its_edge_warning_on_array_api_strict_devices():
    from selfdistill_sklearn import GridEdgeWarning

    X, y, _ = data()
    device = array_api_strict.Device("device1")
    Xd, yd = (array_api_strict.asarray(a, device=device) for a in (X, y))
    reference = SelfDistilledRidgeCV(max_steps=2, cv=None).fit(X, y)
    with config_context(array_api_dispatch=True):
        model = SelfDistilledRidgeCV(max_steps=2, cv=None).fit(Xd, yd)
        assert_same_best(model.best_params_, reference.best_params_)
        with pytest.warns(GridEdgeWarning, match="reg_lambda"):
            SelfDistilledRidgeCV(reg_lambdas=[10.0, 100.0, 1000.0], cv=None).fit(Xd, yd)
