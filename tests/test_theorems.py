"""The paper's theorems as properties of the package's computations.

Each test draws data, a kernel (rbf, laplacian, polynomial, or linear with
more samples than features, so that ``K`` is singular), a penalty over
five orders of magnitude, one or several outputs and weights ``alpha``, and
checks what the package computes (``closed_forms``, the one-factorisation
solver behind ``SelfDistilledKernelRidge``) against a reference built here
from first principles: step-by-step refits of scikit-learn's
``KernelRidge``, explicit matrix polynomials and eigendecompositions from
``numpy.linalg``, and numerical minimisation.

Tolerances follow the conditioning of each draw: a solve with ``K + lambda
I`` loses about ``cond(K + lambda I)`` units in the last place, so the
bounds are ``C * eps * cond * steps`` times the size of the quantities
involved, never one absolute number.
"""

from dataclasses import dataclass

import numpy as np
from hypothesis import event, given, note
from hypothesis import strategies as st
from scipy import optimize
from sklearn.kernel_ridge import KernelRidge
from sklearn.metrics.pairwise import pairwise_kernels

from selfdistill_sklearn import SelfDistilledKernelRidge, closed_forms

EPS = np.finfo(float).eps
#: Safety factor of the first-order rounding bounds.
SAFETY = 1e3


@dataclass
class Problem:
    X: np.ndarray
    y: np.ndarray
    X_new: np.ndarray
    kernel: str
    params: dict
    reg_lambda: float

    def __post_init__(self):
        self.K = pairwise_kernels(self.X, metric=self.kernel, filter_params=True, **self.params)
        self.K_new = pairwise_kernels(self.X_new, self.X, metric=self.kernel,
                                      filter_params=True, **self.params)

    @property
    def n_samples(self):
        return self.X.shape[0]

    def cond(self, reg_lambda=None):
        """Condition number of ``K + lambda I``."""
        lam = self.reg_lambda if reg_lambda is None else reg_lambda
        return float(np.linalg.cond(self.K + lam * np.eye(self.n_samples)))

    def estimator(self, alpha, n_steps, fit_intercept=False, **kwargs):
        return SelfDistilledKernelRidge(alpha=alpha, n_steps=n_steps,
                                        reg_lambda=self.reg_lambda, kernel=self.kernel,
                                        fit_intercept=fit_intercept, **self.params, **kwargs)

    def kernel_ridge(self, reg_lambda=None):
        lam = self.reg_lambda if reg_lambda is None else reg_lambda
        return KernelRidge(alpha=lam, kernel=self.kernel, **self.params)

    def prediction_atol(self, kernel_rows, dual_coefs, n_steps=1, reg_lambda=None):
        """Rounding bound of ``kernel_rows @ c`` where ``c`` solves a system with
        ``K + lambda I``: ``|K_x| * eps * cond * |c|`` to first order."""
        size = np.abs(kernel_rows).sum(axis=1).max() * max(np.abs(c).max() for c in dual_coefs)
        size += np.abs(self.y).max()
        return SAFETY * EPS * self.cond(reg_lambda) * n_steps * size


KERNELS = ["rbf", "laplacian", "polynomial", "linear"]


@st.composite
def problems(draw, kernels=KERNELS, max_samples=12):
    """Random data, a real kernel, ``lambda`` in ``[1e-3, 1e2]``, one or
    several outputs."""
    kernel = draw(st.sampled_from(kernels))
    n = draw(st.integers(3, max_samples))
    # The linear kernel gets fewer features than samples, so K is singular.
    p = draw(st.integers(2, n - 1)) if kernel == "linear" else draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = 10 ** draw(st.floats(-1, 0.5))
    X = scale * rng.standard_normal((n, p))
    # Repeated samples make K singular for every kernel.
    n_repeats = draw(st.integers(0, n // 3))
    X[n - n_repeats:] = X[:n_repeats]
    n_outputs = draw(st.sampled_from([None, 2, 3]))
    y_shape = (n,) if n_outputs is None else (n, n_outputs)
    y = 10 ** draw(st.floats(-1, 1)) * rng.standard_normal(y_shape)
    X_new = scale * 1.5 * rng.standard_normal((5, p))
    params = {}
    if kernel in ("rbf", "laplacian", "polynomial"):
        params["gamma"] = 10 ** draw(st.floats(-1.5, 1)) / (p * scale**2)
    if kernel == "polynomial":
        params["degree"] = draw(st.integers(1, 3))
        params["coef0"] = draw(st.floats(0, 1))
    reg_lambda = 10 ** draw(st.floats(-3, 2))
    note(f"kernel={kernel} n={n} p={p} params={params} lambda={reg_lambda:.3g} "
         f"outputs={n_outputs}")
    return Problem(X, y, X_new, kernel, params, reg_lambda)


def schedules(min_steps=1, max_steps=6, low=0.0, high=1.0):
    """Weights ``alpha(2), ..., alpha(tau)`` in ``[low, high)``."""
    return st.integers(min_steps, max_steps).flatmap(
        lambda n_steps: st.lists(st.floats(low, high, exclude_max=True),
                                 min_size=n_steps - 1, max_size=n_steps - 1)
    )


def refits(problem, alphas, X_eval):
    """Eqs. (3)-(5) literally: one scikit-learn KernelRidge per step, fitted
    on ``alpha(t) y + (1 - alpha(t)) y(t-1)``. Returns the predictions at
    ``X_eval``, the training predictions and the dual coefficients of every
    step."""
    predictions, fitted, duals = [], [], []
    targets = problem.y
    for step in range(len(alphas) + 1):
        if step:
            targets = alphas[step - 1] * problem.y + (1 - alphas[step - 1]) * fitted[-1]
        model = problem.kernel_ridge().fit(problem.X, targets)
        predictions.append(model.predict(X_eval))
        fitted.append(model.predict(problem.X))
        duals.append(model.dual_coef_)
    return predictions, fitted, duals


def hat_matrix_polynomial(problem, alphas):
    """Eq. (6): ``sum_i alpha(i) eta(i+1, tau) P^(tau-i+1) + eta(2, tau) P^tau``
    with ``P = K (K + lambda I)^-1``, as an explicit matrix."""
    n = problem.n_samples
    P = problem.K @ np.linalg.inv(problem.K + problem.reg_lambda * np.eye(n))
    tau = len(alphas) + 1
    alpha = {i: alphas[i - 2] for i in range(2, tau + 1)}

    def eta(start, stop):
        return np.prod([1 - alpha[j] for j in range(start, stop + 1)])

    M = eta(2, tau) * np.linalg.matrix_power(P, tau)
    for i in range(2, tau + 1):
        M = M + alpha[i] * eta(i + 1, tau) * np.linalg.matrix_power(P, tau - i + 1)
    return M


# -- Theorem 4.1 ------------------------------------------------------------------------------

@given(problem=problems(), alphas=schedules())
def test_theorem_4_1_eq6_matrix_polynomial(problem, alphas):
    """Eq. (6): y(tau) is a matrix polynomial in K (K + lambda I)^-1 applied to y."""
    model = problem.estimator(alphas, len(alphas) + 1).fit(problem.X, problem.y)
    staged = list(model.staged_predict(problem.X))
    assert len(staged) == len(alphas) + 1
    for tau in range(1, len(alphas) + 2):
        expected = hat_matrix_polynomial(problem, alphas[: tau - 1]) @ problem.y
        atol = problem.prediction_atol(problem.K, model.staged_dual_coef_, tau)
        np.testing.assert_allclose(staged[tau - 1], expected, rtol=0, atol=atol,
                                   err_msg=f"step {tau}")


@given(problem=problems(), alphas=schedules())
def test_theorem_4_1_equals_step_by_step_refits(problem, alphas):
    """Eqs. (3)-(5): the one-factorisation steps equal refitting every step,
    at the training points and at new points."""
    model = problem.estimator(alphas, len(alphas) + 1).fit(problem.X, problem.y)
    predictions, fitted, duals = refits(problem, alphas, problem.X_new)
    n_steps = len(alphas) + 1
    for tau, (new, train) in enumerate(zip(model.staged_predict(problem.X_new),
                                           model.staged_predict(problem.X), strict=True)):
        np.testing.assert_allclose(
            new, predictions[tau], rtol=0,
            atol=problem.prediction_atol(problem.K_new, duals, n_steps), err_msg=f"step {tau + 1}")
        np.testing.assert_allclose(
            train, fitted[tau], rtol=0,
            atol=problem.prediction_atol(problem.K, duals, n_steps), err_msg=f"step {tau + 1}")


@given(problem=problems(), alphas=schedules(min_steps=2))
def test_theorem_4_1_eq7_blend_at_new_points(problem, alphas):
    """Eq. (7): f(x, beta(tau)) = alpha(tau) f(x, beta(1)) + (1 - alpha(tau))
    f(x, beta(tau) | alpha(tau) = 0) at new points x."""
    tau = len(alphas) + 1
    model = problem.estimator(alphas, tau).fit(problem.X, problem.y)
    last = list(model.staged_predict(problem.X_new))[-1]
    # The reference: the first fit, and a fresh fit on the previous step's
    # training predictions alone.
    predictions, fitted, duals = refits(problem, alphas[:-1], problem.X_new)
    zero_alpha = problem.kernel_ridge().fit(problem.X, fitted[-1])
    blend = alphas[-1] * predictions[0] + (1 - alphas[-1]) * zero_alpha.predict(problem.X_new)
    atol = problem.prediction_atol(problem.K_new, duals + [zero_alpha.dual_coef_], tau)
    np.testing.assert_allclose(last, blend, rtol=0, atol=atol)
    # The package's own alpha(tau) = 0 step is that fresh fit.
    zero = problem.estimator(list(alphas[:-1]) + [0.0], tau).fit(problem.X, problem.y)
    np.testing.assert_allclose(list(zero.staged_predict(problem.X_new))[-1],
                               zero_alpha.predict(problem.X_new), rtol=0, atol=atol)


# -- Lemma 4.2 --------------------------------------------------------------------------------

@given(problem=problems(), alphas=schedules())
def test_lemma_4_2_recursion_is_the_eigen_form(problem, alphas):
    """Eqs. (10)-(12): the diagonals from the recursion are ``V^T M(tau) V``
    for the matrix polynomial M(tau) of eq. (6), in any orthonormal eigenbasis
    of K (taken here from numpy)."""
    n_steps = len(alphas) + 1
    model = problem.estimator(alphas, n_steps).fit(problem.X, problem.y)
    shrinkage = model.spectral_shrinkage()
    eigenvalues, V = np.linalg.eigh(problem.K)
    cond = problem.cond()
    np.testing.assert_allclose(shrinkage.eigenvalues, eigenvalues, rtol=0,
                               atol=SAFETY * EPS * np.abs(eigenvalues).max())
    assert shrinkage.diagonals.shape == (n_steps, problem.n_samples)
    for tau in range(1, n_steps + 1):
        expected = np.diag(V.T @ hat_matrix_polynomial(problem, alphas[: tau - 1]) @ V)
        np.testing.assert_allclose(shrinkage.diagonals[tau - 1], expected, rtol=0,
                                   atol=SAFETY * EPS * cond * tau, err_msg=f"step {tau}")
    # The same recursion from closed_forms directly, on numpy's eigenvalues.
    direct = closed_forms.shrinkage_diagonals(eigenvalues, problem.reg_lambda, alphas)
    np.testing.assert_allclose(direct, shrinkage.diagonals, rtol=0, atol=SAFETY * EPS * cond)


@given(problem=problems(), alpha=st.floats(0, 1, exclude_max=True), n_steps=st.integers(2, 12))
def test_lemma_4_2_diagonals_in_unit_interval_and_strictly_decreasing(problem, alpha, n_steps):
    """For a fixed alpha in [0, 1) and lambda > 0 every diagonal entry of B(tau)
    lies in [0, 1] and strictly decreases in tau.

    Two qualifications the lemma leaves implicit: an entry of a zero
    eigenvalue (singular K) is 0 at every step; and the exact decrease
    ``b(tau - 1) - b(tau) = (a (1 - alpha))^(tau - 1) (1 - a)`` can fall below
    the rounding of ``b`` once the entry has converged, where the computed
    entries may only stay equal.
    """
    model = problem.estimator(alpha, 1).fit(problem.X, problem.y)
    shrinkage = model.spectral_shrinkage(n_steps=n_steps)
    b = shrinkage.diagonals
    d = shrinkage.eigenvalues
    assert np.all((b >= 0) & (b <= 1))
    zero = d == 0
    assert np.all(b[:, zero] == 0)
    a = d / (d + problem.reg_lambda)
    previous, current = b[:-1, ~zero], b[1:, ~zero]
    steps = np.arange(1, n_steps)[:, None]
    decrease = (a[~zero] * (1 - alpha)) ** steps * (1 - a[~zero])
    resolvable = decrease > 64 * EPS * previous
    event(f"resolvable decreases: {resolvable.mean():.0%}" if resolvable.size else "no entries")
    assert np.all(current[resolvable] < previous[resolvable])
    assert np.all(current <= previous * (1 + 8 * EPS))


# -- Theorem 4.3 ------------------------------------------------------------------------------

@given(problem=problems(), alpha=st.sampled_from([0.0, 1.0]), n_steps=st.integers(1, 8))
def test_theorem_4_3_closed_form_ratios(problem, alpha, n_steps):
    """Eq. (14): [B]_kk / [B]_jj = ((1 + lambda/d_j) / (1 + lambda/d_k))^p with
    p = 1 for alpha = 1 and p = tau for alpha = 0, for every pair d_k > d_j > 0."""
    model = problem.estimator(alpha, n_steps).fit(problem.X, problem.y)
    shrinkage = model.spectral_shrinkage()
    d, b = shrinkage.eigenvalues, shrinkage.diagonals
    positive = np.flatnonzero(d > 0)
    lam = problem.reg_lambda
    j, k = np.meshgrid(positive, positive, indexing="ij")
    pairs = d[k] > d[j]
    j, k = j[pairs], k[pairs]
    event(f"pairs: {min(j.size, 10)}{'+' if j.size >= 10 else ''}")
    for tau in range(1, n_steps + 1):
        power = 1 if alpha == 1.0 else tau
        expected = ((1 + lam / d[j]) / (1 + lam / d[k])) ** power
        np.testing.assert_allclose(b[tau - 1, k] / b[tau - 1, j], expected,
                                   rtol=64 * tau * EPS, err_msg=f"step {tau}")


def _merge_equal(d, b):
    """Keep one eigenvalue of every group of numerically equal positive ones
    (eq. (15) divides by A_k - A_j)."""
    keep = []
    for index in np.flatnonzero(d > 0):
        if not keep or d[index] - d[keep[-1]] > 1e-8 * d[-1]:
            keep.append(index)
    return d[keep], b[:, keep]


@given(problem=problems(), alpha=st.floats(1e-3, 1 - 1e-3), n_steps=st.integers(2, 10))
def test_theorem_4_3_sign_rule(problem, alpha, n_steps):
    """Eq. (15): for alpha in (0, 1) the sign of the change of [B]_kk / [B]_jj
    from step tau - 1 to tau is sgn(1 / (x A_j / (B_k (A_k - A_j)) + 1) - alpha),
    x = B_k / B_j - A_k / A_j, on every pair of distinct eigenvalues d_k > d_j.

    Both sides are evaluated in floating point from the package's diagonals;
    a pair is skipped at a step only where one side lies within its
    first-order rounding bound of zero (the sign is then not determined by
    the computation). Step 2 always has x = 0 and a positive right-hand side,
    so no draw with a pair is vacuous.
    """
    model = problem.estimator(alpha, n_steps).fit(problem.X, problem.y)
    shrinkage = model.spectral_shrinkage()
    d, b = _merge_equal(shrinkage.eigenvalues, shrinkage.diagonals)
    A = b[0]
    j, k = np.triu_indices(d.size, 1)  # d ascending: d[k] > d[j]
    checked = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        for tau in range(2, n_steps + 1):
            rel = 8 * tau * EPS  # relative rounding of each computed entry of B
            r_now = b[tau - 1, k] / b[tau - 1, j]
            r_before = b[tau - 2, k] / b[tau - 2, j]
            lhs = r_now - r_before
            lhs_err = 2 * rel * (np.abs(r_now) + np.abs(r_before))

            ratio_a = A[k] / A[j]
            x = r_before - ratio_a
            x_err = 2 * rel * (np.abs(r_before) + np.abs(ratio_a))
            gap = A[k] - A[j]
            factor = A[j] / (b[tau - 2, k] * gap)
            term = x * factor
            term_err = (np.abs(factor) * x_err
                        + np.abs(term) * (4 * EPS * (A[k] + A[j]) / np.abs(gap) + 4 * rel))
            inner = term + 1
            rhs = 1 / inner - alpha
            rhs_err = term_err / inner**2 + 2 * EPS * (1 / np.abs(inner) + alpha)

            decided = ((np.abs(lhs) > SAFETY * lhs_err) & (np.abs(rhs) > SAFETY * rhs_err)
                       & np.isfinite(rhs_err) & (np.abs(gap) > 0))
            checked += int(decided.sum())
            mismatch = decided & (np.sign(lhs) != np.sign(rhs))
            assert not mismatch.any(), (
                f"step {tau}: pairs {list(zip(j[mismatch], k[mismatch], strict=True))}, "
                f"lhs {lhs[mismatch]}, rhs {rhs[mismatch]}"
            )
    total = j.size * (n_steps - 1)
    event(f"pairs x steps decided: {checked / total:.0%}" if total else "no pairs")
    note(f"d={d} alpha={alpha} checked={checked}/{total}")
    if j.size:
        assert checked > 0


# -- Theorem 4.4 ------------------------------------------------------------------------------

@given(problem=problems(), n_steps=st.integers(2, 5), seed=st.integers(0, 2**32 - 1))
def test_theorem_4_4_optimal_alpha_minimises_validation_error(problem, n_steps, seed):
    """Eq. (16): each alpha*(t) chosen in closed form minimises the validation
    squared error of step t given the earlier weights: no nearby alpha does
    better, and it agrees with a numerical minimiser of the error of an
    explicit refit."""
    rng = np.random.default_rng(seed)
    X_val = problem.X_new
    y_val = rng.standard_normal((X_val.shape[0],) + problem.y.shape[1:])
    model = problem.estimator("optimal", n_steps).fit(problem.X, problem.y,
                                                     X_val=X_val, y_val=y_val)
    n = problem.n_samples
    system = problem.K + problem.reg_lambda * np.eye(n)
    first = np.linalg.solve(system, problem.y)
    previous = problem.K @ first  # y(1)
    for t in range(2, n_steps + 1):
        alpha_star = model.alphas_[t - 2]

        def validation_error(alpha, previous=previous):
            dual = np.linalg.solve(system, alpha * problem.y + (1 - alpha) * previous)
            return float(np.sum((y_val - problem.K_new @ dual) ** 2))

        zero = np.linalg.solve(system, previous)
        direction = problem.K_new @ (first - zero)  # the parabola's slope
        curvature = float(np.sum(direction**2))
        size = np.abs(problem.K_new).sum(axis=1).max() * (np.abs(first).max()
                                                           + np.abs(zero).max())
        residual_err = SAFETY * EPS * problem.cond() * (1 + abs(alpha_star)) * size
        best = validation_error(alpha_star)
        # Rounding of the residuals, and of the sum of squares itself.
        error_tol = (2 * (np.sqrt(best) + residual_err) * residual_err * np.sqrt(y_val.size)
                     + 8 * y_val.size * EPS * (np.sqrt(best) + np.linalg.norm(y_val)) ** 2)
        for h in (1e-3, 1e-2, 1e-1, 1.0):
            for candidate in (alpha_star - h, alpha_star + h):
                assert best <= validation_error(candidate) + error_tol, (t, h)
        numerical = optimize.minimize_scalar(validation_error, bracket=(0.0, 1.0),
                                             method="brent", options={"xtol": 1e-12}).x
        assert best <= validation_error(numerical) + error_tol
        # On the parabola E(a) = E* + c (a - a*)^2 an error difference of tol
        # moves the minimiser by sqrt(tol / c).
        alpha_tol = 1e-7 * (1 + abs(alpha_star)) + np.sqrt(2 * error_tol / max(curvature, 1e-300))
        assert abs(numerical - alpha_star) <= alpha_tol, (t, numerical, alpha_star)
        previous = problem.K @ np.linalg.solve(
            system, alpha_star * problem.y + (1 - alpha_star) * previous)


# -- Theorem 4.5 ------------------------------------------------------------------------------

# alpha >= 1e-3 keeps lambda / alpha finite for every drawn lambda.
@given(problem=problems(), alpha=st.floats(1e-3, 1))
def test_theorem_4_5_limit_is_kernel_ridge_with_lambda_over_alpha(problem, alpha):
    """Eq. (17): infinitely many steps with a fixed alpha > 0 give kernel ridge
    regression with penalty lambda / alpha, at training and new points."""
    model = problem.estimator(alpha, float("inf")).fit(problem.X, problem.y)
    limit_lambda = problem.reg_lambda / alpha
    reference = problem.kernel_ridge(limit_lambda).fit(problem.X, problem.y)
    for X_eval, rows in ((problem.X, problem.K), (problem.X_new, problem.K_new)):
        atol = problem.prediction_atol(rows, [reference.dual_coef_], reg_lambda=limit_lambda)
        np.testing.assert_allclose(model.predict(X_eval), reference.predict(X_eval), rtol=0,
                                   atol=atol)


@given(problem=problems())
def test_theorem_4_5_zero_weight_collapses(problem):
    """With alpha = 0 the limit is the zero function (Theorem A.5)."""
    model = problem.estimator(0.0, float("inf")).fit(problem.X, problem.y)
    assert np.all(model.predict(problem.X_new) == 0)


@given(problem=problems(), alpha=st.floats(1e-3, 1, exclude_max=True), n_steps=st.integers(2, 25))
def test_theorem_4_5_geometric_convergence(problem, alpha, n_steps):
    """The distance to the limit shrinks at every step at least by the factor
    (1 - alpha) max_k a_k, a_k = d_k / (d_k + lambda): for the training
    predictions, for the dual coefficients, and so at every new point."""
    model = problem.estimator(alpha, n_steps).fit(problem.X, problem.y)
    reference = problem.kernel_ridge(problem.reg_lambda / alpha).fit(problem.X, problem.y)
    d_max = np.linalg.eigvalsh(problem.K)[-1]
    rate = (1 - alpha) * d_max / (d_max + problem.reg_lambda)
    duals = model.staged_dual_coef_
    fitted_atol = problem.prediction_atol(problem.K, list(duals), n_steps)
    dual_atol = SAFETY * EPS * problem.cond() * n_steps * np.abs(duals).max()
    fitted = np.stack(list(model.staged_predict(problem.X)))
    fitted_gap = [np.linalg.norm(f - reference.predict(problem.X)) for f in fitted]
    dual_gap = [np.linalg.norm(c - reference.dual_coef_) for c in duals]
    size = np.sqrt(problem.y.size)
    for tau in range(1, n_steps):
        assert fitted_gap[tau] <= rate * fitted_gap[tau - 1] + fitted_atol * size, tau
        assert dual_gap[tau] <= rate * dual_gap[tau - 1] + dual_atol * size, tau
    new_gap = np.abs(model.predict(problem.X_new) - reference.predict(problem.X_new))
    bound = (np.linalg.norm(problem.K_new, axis=1).reshape((-1,) + (1,) * (problem.y.ndim - 1))
             * rate ** (n_steps - 1) * dual_gap[0])
    atol = problem.prediction_atol(problem.K_new, list(duals) + [reference.dual_coef_], n_steps)
    assert np.all(new_gap <= bound + atol)
