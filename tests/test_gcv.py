"""Generalised cross-validation over the chain, against smoothers built explicitly."""

import ast
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.utils.estimator_checks import parametrize_with_checks

import selfdistill_sklearn
from selfdistill_sklearn import SelfDistilledKernelRidge, SelfDistilledKernelRidgeCV, gcv

PACKAGE = Path(selfdistill_sklearn.__file__).resolve().parent
N = 18


def _problem(n_targets=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, 2))
    y = 3 * X[:, :1] + np.sin(X[:, 1:]) + 0.3 * rng.normal(size=(N, n_targets)) + 10.0
    weights = rng.uniform(0.5, 2.0, size=N)
    weights[4] = 0.0
    return X, rbf_kernel(X, gamma=0.5), (y[:, 0] if n_targets == 1 else y), weights


def _smoothers(K, reg_lambda, alpha, n_steps, weights, fit_intercept):
    """H of every step (and of the limit for a scalar alpha): the estimator fitted on
    the n unit vectors at once, its training predictions the columns of H."""
    n = K.shape[0]
    model = SelfDistilledKernelRidge(alpha=alpha, n_steps=n_steps, reg_lambda=reg_lambda,
                                     kernel="precomputed", fit_intercept=fit_intercept)
    steps = [np.asarray(p) for p in model.fit(K, np.eye(n), sample_weight=weights)
             .staged_predict(K)]
    limit = None
    if np.ndim(alpha) == 0:
        limit = model.set_params(n_steps=float("inf")).fit(
            K, np.eye(n), sample_weight=weights).predict(K)
    return steps, limit


def _explicit_gcv(H, y, weights):
    w = np.ones(len(y)) if weights is None else weights
    residual = (y - H @ y).reshape(len(y), -1)
    n = np.count_nonzero(w > 0)
    mse = np.sum(w[:, None] * residual ** 2) / (np.sum(w) * residual.shape[1])
    return mse / (1 - np.trace(H) / n) ** 2


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("n_targets", [1, 2])
def test_gcv_of_every_step_and_limit_equals_the_explicit_smoother(fit_intercept, weighted,
                                                                 n_targets):
    _, K, y, weights = _problem(n_targets)
    weights = weights if weighted else None
    lambdas, alphas, n_steps = [0.05, 0.7], [0.0, 0.4, 1.0], 3
    spectrum = gcv.kernel_matrix_spectrum(K, y, weights, fit_intercept)
    scores, dof, limit_scores, limit_dof = gcv.gcv_grid(spectrum, lambdas, alphas, n_steps)
    for i, reg_lambda in enumerate(lambdas):
        for j, alpha in enumerate(alphas):
            steps, limit = _smoothers(K, reg_lambda, alpha, n_steps, weights, fit_intercept)
            for t, H in enumerate(steps):
                np.testing.assert_allclose(dof[i, j, t], np.trace(H), rtol=0, atol=1e-10)
                np.testing.assert_allclose(scores[i, j, t], _explicit_gcv(H, y, weights),
                                           rtol=1e-10)
            np.testing.assert_allclose(limit_dof[i, j], np.trace(limit), rtol=0, atol=1e-10)
            np.testing.assert_allclose(limit_scores[i, j], _explicit_gcv(limit, y, weights),
                                       rtol=1e-10)
            # One schedule alone gives the same numbers as the grid.
            one, one_dof = gcv.gcv_schedule(spectrum, reg_lambda, [alpha] * (n_steps - 1))
            np.testing.assert_allclose(one, scores[i, j], rtol=1e-12)
            np.testing.assert_allclose(one_dof, dof[i, j], rtol=1e-12)
            np.testing.assert_allclose(
                gcv.effective_dof(spectrum.eigenvalues, reg_lambda, [alpha] * (n_steps - 1),
                                  fit_intercept), dof[i, j], rtol=1e-12)
            np.testing.assert_allclose(
                gcv.limit_effective_dof(spectrum.eigenvalues, reg_lambda, alpha, fit_intercept),
                limit_dof[i, j], rtol=1e-12)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_a_sample_of_zero_weight_is_as_good_as_absent(fit_intercept):
    _, K, y, weights = _problem()
    keep = weights > 0
    with_zero = gcv.kernel_matrix_spectrum(K, y, weights, fit_intercept)
    without = gcv.kernel_matrix_spectrum(K[np.ix_(keep, keep)], y[keep], weights[keep],
                                         fit_intercept)
    assert with_zero.n_samples == without.n_samples == N - 1
    for got, expected in zip(gcv.gcv_grid(with_zero, [0.1, 1.0], [0.0, 0.5], 4),
                             gcv.gcv_grid(without, [0.1, 1.0], [0.0, 0.5], 4), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-10)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [True, False])
def test_gcv_optimal_weights_minimise_the_explicit_gcv(fit_intercept, weighted):
    _, K, y, weights = _problem(n_targets=2 if weighted else 1)
    weights = weights if weighted else None
    reg_lambda, n_steps = 0.1, 4
    spectrum = gcv.kernel_matrix_spectrum(K, y, weights, fit_intercept)
    alphas, scores, dof, is_minimum = gcv.gcv_optimal_schedules(spectrum, [reg_lambda, 2.0],
                                                                n_steps)
    assert is_minimum[0].all()
    for t in range(1, n_steps):
        chosen = list(alphas[0, :t - 1])
        # Step t is linear in its weight: H(alpha) = alpha H1 + (1 - alpha) H0.
        H1 = _smoothers(K, reg_lambda, chosen + [1.0], t + 1, weights, fit_intercept)[0][-1]
        H0 = _smoothers(K, reg_lambda, chosen + [0.0], t + 1, weights, fit_intercept)[0][-1]

        def explicit(alpha, H1=H1, H0=H0):
            return _explicit_gcv(alpha * H1 + (1 - alpha) * H0, y, weights)

        numerical = minimize_scalar(explicit, bounds=(-10.0, 10.0), method="bounded",
                                    options={"xatol": 1e-10})
        np.testing.assert_allclose(alphas[0, t - 1], numerical.x, atol=1e-6)
        assert explicit(alphas[0, t - 1]) <= numerical.fun * (1 + 1e-12)
        np.testing.assert_allclose(scores[0, t], explicit(alphas[0, t - 1]), rtol=1e-10)
        np.testing.assert_allclose(dof[0, t], np.trace(
            alphas[0, t - 1] * H1 + (1 - alphas[0, t - 1]) * H0), atol=1e-10)


def _terms(p, q, z2, residual, n):
    return ((q ** 2) @ z2, ((1 - p) * q) @ z2, residual + ((1 - p) ** 2) @ z2,
            n - np.sum(p), np.sum(q))


def test_gcv_optimal_weight_is_the_minimum_or_the_better_end_of_zero_one():
    rng = np.random.default_rng(1)
    grid = np.linspace(-5.0, 5.0, 200001)
    unit = np.linspace(0.0, 1.0, 100001)
    seen = set()
    for _ in range(300):
        m = 6
        p = rng.uniform(0, 1, m)
        z2 = rng.uniform(0, 1, m) ** 4
        if rng.uniform() < 0.5:
            q = rng.uniform(-1, 1, m) * rng.choice([0.05, 1.0])
            n = rng.uniform(m, 3 * m)
        else:
            # A chain close to interpolation (tr H near n): often no minimum.
            q = rng.uniform(0, 1, m) * (1 - p)
            n = np.sum(p + q) + rng.uniform(0.01, 2.0)
        A, B, C, D0, D1 = _terms(p, q, z2, rng.uniform(0, 0.1), n)
        alpha, is_minimum = gcv.gcv_optimal_alpha_from_terms(A, B, C, D0, D1)

        def value(x, A=A, B=B, C=C, D0=D0, D1=D1):
            den = D0 - D1 * x
            return np.where(den > 0, (A * x ** 2 - 2 * B * x + C) / den ** 2, np.inf)

        if is_minimum:
            assert value(alpha) <= value(grid).min() * (1 + 1e-12)
            clipped, _ = gcv.gcv_optimal_alpha_from_terms(A, B, C, D0, D1, clip=True)
            assert value(clipped) <= value(unit).min() * (1 + 1e-12)
        else:
            assert alpha in (0.0, 1.0)
            assert value(alpha) <= value(unit).min() * (1 + 1e-12)
            # No minimum on the admissible set: some point of the wide grid beats it.
            assert value(grid).min() < value(alpha)
        seen.add(bool(is_minimum))
    assert seen == {True, False}
    # GCV independent of alpha (q = 0): the weight of Theorem 4.4's degenerate case.
    A, B, C, D0, D1 = _terms(np.full(3, 0.5), np.zeros(3), np.ones(3), 0.0, 10.0)
    alpha, is_minimum = gcv.gcv_optimal_alpha_from_terms(A, B, C, D0, D1)
    assert alpha == 1.0 and not is_minimum


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("n_features", [5, 30])
def test_primal_statistics_give_the_kernel_gcv_of_the_linear_kernel(fit_intercept, n_features):
    rng = np.random.default_rng(2)
    n = 24
    X = rng.normal(size=(n, n_features)) + 2.0
    y = np.column_stack([X[:, 0] - X[:, 1], X[:, 2]]) + rng.normal(size=(n, 2)) + 5.0
    w = rng.uniform(0.2, 3.0, size=n)
    w[7] = 0.0
    kernel = gcv.kernel_matrix_spectrum(X @ X.T, y, w, fit_intercept)
    if fit_intercept:
        Xc = X - np.average(X, axis=0, weights=w)
        yc = y - np.average(y, axis=0, weights=w)
    else:
        Xc, yc = X, y
    primal = gcv.primal_spectrum(Xc.T @ (w[:, None] * Xc), Xc.T @ (w[:, None] * yc),
                                 np.sum(w[:, None] * yc ** 2, axis=0),
                                 n_samples=np.count_nonzero(w), weight_sum=w.sum(),
                                 fit_intercept=fit_intercept)
    assert (primal.residual > 1.0) == (n_features < n)
    lambdas = [0.3, 30.0]
    for got, expected in zip(gcv.gcv_grid(primal, lambdas, [0.0, 0.5, 1.0], 3),
                             gcv.gcv_grid(kernel, lambdas, [0.0, 0.5, 1.0], 3), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-9)
    for got, expected in zip(gcv.gcv_optimal_schedules(primal, lambdas, 4),
                             gcv.gcv_optimal_schedules(kernel, lambdas, 4), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-8)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_equivalent_penalty_gives_kernel_ridge_the_same_degrees_of_freedom(fit_intercept):
    _, K, y, _ = _problem()
    d = gcv.kernel_matrix_spectrum(K, y, None, fit_intercept).eigenvalues
    dof = gcv.effective_dof(d, 0.2, [0.3, 0.3, 0.3], fit_intercept)
    lambdas = gcv.equivalent_reg_lambda(d, dof, fit_intercept)
    np.testing.assert_allclose(lambdas[0], 0.2, rtol=1e-10)
    for value, reg_lambda in zip(dof, lambdas, strict=True):
        np.testing.assert_allclose(gcv.effective_dof(d, reg_lambda, [], fit_intercept)[0],
                                   value, rtol=1e-12)
    # The limit is kernel ridge regression with penalty lambda / alpha (Theorem 4.5).
    limit = gcv.limit_effective_dof(d, 0.2, 0.3, fit_intercept)
    np.testing.assert_allclose(gcv.equivalent_reg_lambda(d, limit, fit_intercept), 0.2 / 0.3,
                               rtol=1e-10)
    offset = 1.0 if fit_intercept else 0.0
    rank = np.count_nonzero(d > 0)
    assert gcv.equivalent_reg_lambda(d, offset, fit_intercept) == np.inf
    assert gcv.equivalent_reg_lambda(d, offset + rank, fit_intercept) == 0.0
    assert np.isnan(gcv.equivalent_reg_lambda(d, offset + rank + 0.5, fit_intercept))


def test_gcv_mathematics_imports_neither_sklearn_nor_torch():
    allowed = {"numpy", "scipy", "math", "dataclasses"}
    for name in ("gcv.py", "_solvers.py", "closed_forms.py"):
        tree = ast.parse((PACKAGE / name).read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.module and not node.level}
        relative = {node.module for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.level}
        assert imported <= allowed | {"warnings"}, (name, imported)
        assert relative <= {"_solvers", "closed_forms"}, (name, relative)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [True, False])
def test_gcv_search_equals_brute_force_over_explicit_smoothers(fit_intercept, weighted):
    X, K, y, weights = _problem(n_targets=2 if weighted else 1)
    weights = weights if weighted else None
    lambdas, fixed, max_steps = [0.05, 0.5], [0.0, 0.5, 1.0], 3
    search = SelfDistilledKernelRidgeCV(lambdas, fixed + ["optimal"], max_steps, kernel="rbf",
                                        gamma=0.5, cv=None, fit_intercept=fit_intercept)
    search.fit(X, y, sample_weight=weights)
    results = search.cv_results_
    assert "split0_test_score" not in results and not hasattr(search, "n_splits_")
    expected_scores, expected_dof = [], []
    for params in results["params"]:
        reg_lambda, alpha, n_steps = params["reg_lambda"], params["alpha"], params["n_steps"]
        if alpha == "optimal":
            schedule = search.optimal_alphas_[lambdas.index(reg_lambda), :n_steps - 1]
            H = _smoothers(K, reg_lambda, list(schedule), n_steps, weights, fit_intercept)[0][-1]
            # The refitting estimator with cv=None chooses the same weights.
            refit = SelfDistilledKernelRidge(alpha="optimal", n_steps=max_steps,
                                             reg_lambda=reg_lambda, kernel="precomputed",
                                             cv=None, fit_intercept=fit_intercept)
            np.testing.assert_allclose(refit.fit(K, y, sample_weight=weights).alphas_,
                                       search.optimal_alphas_[lambdas.index(reg_lambda)],
                                       rtol=1e-12)
        else:
            steps, limit = _smoothers(K, reg_lambda, alpha, 1 if n_steps == np.inf else n_steps,
                                      weights, fit_intercept)
            H = limit if n_steps == np.inf else steps[-1]
        expected_scores.append(-_explicit_gcv(H, y, weights))
        expected_dof.append(np.trace(H))
    np.testing.assert_allclose(results["mean_test_score"], expected_scores, rtol=1e-10)
    np.testing.assert_allclose(results["effective_dof"], expected_dof, rtol=0, atol=1e-10)
    assert search.best_index_ == int(np.argmax(expected_scores)) or np.isclose(
        expected_scores[search.best_index_], max(expected_scores), rtol=1e-12)
    # Candidates that are the same smoother tie exactly: tau = 1, and alpha = 1.
    scores = {(p["reg_lambda"], p["alpha"], p["n_steps"]): s
              for p, s in zip(results["params"], results["mean_test_score"], strict=True)}
    for reg_lambda in lambdas:
        first = scores[(reg_lambda, 0.0, 1)]
        assert scores[(reg_lambda, "optimal", 1)] == first
        assert all(scores[(reg_lambda, 1.0, t)] == first for t in (1, 2, 3, np.inf))
    best = search.best_estimator_
    assert best.get_params()["cv"] is None
    assert {k: best.get_params()[k] for k in search.best_params_} == search.best_params_
    np.testing.assert_allclose(search.predict(X), SelfDistilledKernelRidge(
        **{**best.get_params()}).fit(X, y, sample_weight=weights).predict(X))


def test_gcv_search_refuses_scorings_it_cannot_compute():
    X, _, y, _ = _problem()
    for scoring in ["r2", "neg_mean_absolute_error", "neg_root_mean_squared_error"]:
        with pytest.raises(ValueError, match="cv=None.*neg_mean_squared_error"):
            SelfDistilledKernelRidgeCV(cv=None, scoring=scoring).fit(X, y)
    explicit = SelfDistilledKernelRidgeCV(cv=None, scoring="neg_mean_squared_error").fit(X, y)
    default = SelfDistilledKernelRidgeCV(cv=None).fit(X, y)
    np.testing.assert_array_equal(explicit.cv_results_["mean_test_score"],
                                  default.cv_results_["mean_test_score"])


@pytest.mark.parametrize("n_steps", [3, np.inf])
def test_effective_dof_of_the_estimator_is_the_trace_of_its_smoother(n_steps):
    _, K, y, weights = _problem()
    alpha = 0.3 if n_steps == np.inf else [0.3, 0.8]
    model = SelfDistilledKernelRidge(alpha=alpha, n_steps=n_steps, reg_lambda=0.2,
                                     kernel="precomputed").fit(K, y, sample_weight=weights)
    steps, limit = _smoothers(K, 0.2, alpha, 3 if n_steps == np.inf else n_steps, weights, True)
    traces = [np.trace(limit)] if n_steps == np.inf else [np.trace(H) for H in steps]
    np.testing.assert_allclose(model.effective_dof_, traces, rtol=0, atol=1e-10)
    # Kernel ridge regression with the equivalent penalty has the same trace.
    for dof, reg_lambda in zip(model.effective_dof_, model.equivalent_reg_lambda_, strict=True):
        H = _smoothers(K, reg_lambda, 0.5, 1, weights, True)[0][0]
        np.testing.assert_allclose(np.trace(H), dof, rtol=1e-9)
    if n_steps == np.inf:
        np.testing.assert_allclose(model.equivalent_reg_lambda_, [0.2 / 0.3], rtol=1e-10)
    else:
        np.testing.assert_allclose(model.equivalent_reg_lambda_[0], 0.2, rtol=1e-10)
    # A refit replaces the cached spectrum.
    model.set_params(alpha=0.5, reg_lambda=2.0, n_steps=1).fit(K, y)
    np.testing.assert_allclose(model.effective_dof_,
                               [np.trace(_smoothers(K, 2.0, 0.5, 1, None, True)[0][0])],
                               atol=1e-10)
    assert not hasattr(SelfDistilledKernelRidge(), "effective_dof_")


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_tridiagonal_spectrum_equals_the_full_eigendecomposition(fit_intercept):
    from selfdistill_sklearn._solvers import weighted_centred_kernel_eigh, weighted_kernel_eigh

    _, K, y, weights = _problem(n_targets=2)
    eigh = weighted_centred_kernel_eigh if fit_intercept else weighted_kernel_eigh
    d, V = eigh(K, weights)
    full = gcv.kernel_spectrum(d, V, y, weights, fit_intercept)
    fast = gcv.kernel_matrix_spectrum(K, y, weights, fit_intercept)
    np.testing.assert_allclose(fast.eigenvalues, full.eigenvalues, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gcv.kernel_eigenvalues(K, weights, fit_intercept), d,
                               rtol=1e-10, atol=1e-12)
    # Projections of a repeated eigenvalue are not unique, their sums over it are.
    np.testing.assert_allclose(np.sum(fast.squared_projections),
                               np.sum(full.squared_projections), rtol=1e-12)
    for reg_lambda in (0.01, 1.0):
        np.testing.assert_allclose(
            fast.squared_projections @ (d / (d + reg_lambda)),
            full.squared_projections @ (d / (d + reg_lambda)), rtol=1e-10)


def _expected_failed_gcv_checks(estimator):
    # GCV counts n as the number of samples with a positive weight, the
    # observations of the weighted least-squares problem (as weighted GCV
    # usually does), so that its value does not depend on the scale of the
    # weights; integer weights are then not the same as repeated samples,
    # whose n is larger, and the GCV-optimal weights differ.
    # (The single estimator happens to pass on the check's data.)
    if "optimal" not in estimator.get_params().get("alphas", ()):
        return {}
    reason = "GCV's n counts samples of positive weight, not the sum of the weights"
    return {"check_sample_weight_equivalence_on_dense_data": reason,
            "check_sample_weight_equivalence_on_sparse_data": reason}


@parametrize_with_checks(
    [SelfDistilledKernelRidgeCV(cv=None),
     SelfDistilledKernelRidgeCV(reg_lambdas=(0.1, 1.0), alphas=(0.5, "optimal"), max_steps=2,
                                kernel="rbf", cv=None, fit_intercept=False),
     SelfDistilledKernelRidge(alpha="optimal", n_steps=3, kernel="rbf", cv=None)],
    expected_failed_checks=_expected_failed_gcv_checks)
def test_scikit_learn_estimator_checks_with_gcv(estimator, check):
    check(estimator)


def test_gcv_search_refits_its_optimal_choice_as_a_fresh_fit_would():
    X, _, y, weights = _problem()
    search = SelfDistilledKernelRidgeCV([0.05, 0.5], ["optimal"], 3, kernel="rbf", gamma=0.5,
                                        cv=None).fit(X, y, sample_weight=weights)
    best = search.best_estimator_
    assert best.alpha == "optimal" and best.n_steps == search.best_params_["n_steps"]
    fresh = SelfDistilledKernelRidge(**best.get_params()).fit(X, y, sample_weight=weights)
    np.testing.assert_allclose(best.alphas_, fresh.alphas_, rtol=1e-12)
    np.testing.assert_allclose(best.predict(X), fresh.predict(X), rtol=1e-10)
    np.testing.assert_allclose(best.effective_dof_, fresh.effective_dof_, rtol=1e-10)
    assert not hasattr(best, "_gcv_hint") and not hasattr(fresh, "_gcv_hint")


def test_clipped_gcv_weights_minimise_gcv_over_zero_one_step_after_step():
    X, K, y, _ = _problem()
    model = SelfDistilledKernelRidge(alpha="optimal", n_steps=4, reg_lambda=1.0,
                                     kernel="precomputed", cv=None, clip_alpha=True).fit(K, y)
    free = SelfDistilledKernelRidge(alpha="optimal", n_steps=4, reg_lambda=1.0,
                                    kernel="precomputed", cv=None).fit(K, y)
    assert np.any(free.alphas_ > 1)  # these data ask for weights beyond [0, 1]
    assert np.all((model.alphas_ >= 0) & (model.alphas_ <= 1))
    grid = np.linspace(0.0, 1.0, 2001)
    for t in range(1, 4):
        chosen = list(model.alphas_[:t - 1])
        H1 = _smoothers(K, 1.0, chosen + [1.0], t + 1, None, True)[0][-1]
        H0 = _smoothers(K, 1.0, chosen + [0.0], t + 1, None, True)[0][-1]
        values = [_explicit_gcv(a * H1 + (1 - a) * H0, y, None) for a in grid]
        best = _explicit_gcv(model.alphas_[t - 1] * H1 + (1 - model.alphas_[t - 1]) * H0, y,
                             None)
        assert best <= min(values) * (1 + 1e-12)
