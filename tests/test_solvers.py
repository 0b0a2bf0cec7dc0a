"""The tridiagonal form, the centred kernel and the intercept against dense linear
algebra."""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import linalg
from sklearn.metrics.pairwise import pairwise_kernels

from selfdistill_sklearn._solvers import (
    KernelRidgeFactorization,
    TridiagonalForm,
    centre_kernel,
    weighted_centred_kernel_eigh,
    weighted_kernel_eigh,
    weighted_kernel_tridiagonal,
)
from selfdistill_sklearn.closed_forms import intercept_solver


def _kernel(seed, n, metric):
    X = np.random.default_rng(seed).normal(size=(n, 3))
    params = {"gamma": 0.5} if metric == "rbf" else {"gamma": 0.5, "coef0": 0.1}
    return pairwise_kernels(X, metric=metric, **params)


def _dense(form):
    return (np.diag(form.diagonal) + np.diag(form.off_diagonal, 1)
            + np.diag(form.off_diagonal, -1))


def _forms(K, sample_weight):
    return [weighted_kernel_tridiagonal(K, sample_weight),
            TridiagonalForm.from_eigh(*weighted_kernel_eigh(K, sample_weight))]


@pytest.mark.parametrize("metric", ["rbf", "sigmoid"])
@given(seed=st.integers(0, 1000), n=st.integers(1, 30), weighted=st.booleans(),
       shift=st.floats(1e-3, 10.0))
def test_tridiagonal_form_reconstructs_and_solves(metric, seed, n, weighted, shift):
    K = _kernel(seed, n, metric)
    rng = np.random.default_rng(seed)
    w = rng.integers(0, 3, size=n).astype(float) if weighted else None
    scaled = K if w is None else np.sqrt(w)[:, None] * K * np.sqrt(w)[None, :]
    rhs = rng.normal(size=(n, 2, 3))
    for form in _forms(K, w):
        Q, T = form.basis, _dense(form)
        assert form.off_diagonal.shape == (max(n - 1, 0),)
        np.testing.assert_allclose(Q.T @ Q, np.eye(n), atol=1e-12)
        np.testing.assert_allclose(Q @ T @ Q.T, scaled, atol=1e-12 * max(1.0, np.abs(K).max()))
        np.testing.assert_allclose(form.multiply(rhs), np.einsum("ij,jkl->ikl", T, rhs),
                                   atol=1e-12)
        system = T + shift * np.eye(n)
        if abs(np.linalg.det(system)) < 1e-8 * np.abs(system).max() ** n:
            continue
        expected = np.linalg.solve(system, rhs.reshape(n, -1)).reshape(rhs.shape)
        np.testing.assert_allclose(system @ form.solve(shift, rhs).reshape(n, -1),
                                   rhs.reshape(n, -1), atol=1e-9 * np.abs(expected).max())
        shifts = np.array([shift, 2 * shift])
        both = form.solve_shifted(shifts, rhs)
        for index, value in enumerate(shifts):
            np.testing.assert_allclose(both[:, index], form.solve(value, rhs[:, index]),
                                       rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("metric", ["rbf", "sigmoid"])
@pytest.mark.parametrize("kind", [0, 1])
@pytest.mark.parametrize("n", [1, 2, 3, 40])
def test_held_out_inverse_inverts_the_block_of_the_inverse(metric, kind, n):
    """The inverse of P_TT for P = (S K S + shift I)^-1, on both the
    Cholesky path (positive definite) and the LU path (the indefinite sigmoid
    kernel with a small shift)."""
    K = _kernel(n, n, metric)
    w = np.random.default_rng(n).integers(0, 3, size=n).astype(float)
    scaled = np.sqrt(w)[:, None] * K * np.sqrt(w)[None, :]
    form = _forms(K, w)[kind]
    rows = np.arange(0, n, 3)
    shifts = [1e-3, 0.5, 10.0]
    inverse = form.held_out_inverse(rows, shifts)
    assert inverse.factors.shape == (3, rows.size, rows.size)
    rhs = np.random.default_rng(0).normal(size=(rows.size, 3, 2))
    applied = inverse.apply(rhs)
    for index, shift in enumerate(shifts):
        P = np.linalg.inv(scaled + shift * np.eye(n))
        block = P[np.ix_(rows, rows)]
        np.testing.assert_allclose(block @ applied[:, index], rhs[:, index],
                                   atol=1e-7 * np.abs(rhs).max())
    if metric == "sigmoid" and n == 40:
        assert np.linalg.eigvalsh(scaled).min() < -1e-3


def test_held_out_inverse_uses_the_cholesky_path_when_positive_definite():
    """The Cholesky path keeps the upper triangular inverse factor."""
    K = _kernel(0, 20, "rbf")
    form = weighted_kernel_tridiagonal(K)
    inverse = form.held_out_inverse(np.arange(5), [0.1])
    assert inverse.symmetric.tolist() == [True]
    np.testing.assert_array_equal(np.tril(inverse.factors[0], -1), 0.0)


def test_a_singular_shift_gives_least_squares_and_leaves_the_other_shifts_exact():
    """T + shift I is singular only for an indefinite matrix (or a tiny shift);
    the shift's solutions are the minimum-norm least-squares ones, as
    KernelRidge's fallback gives, and the others are unaffected."""
    # Rows 1 and 2 of T are equal: T itself (shift 0) is exactly singular.
    form = TridiagonalForm(np.eye(3), np.array([1.0, 1.0, 1.0]), np.array([1.0, 0.0]))
    T = _dense(form)
    rhs = np.arange(6.0).reshape(3, 2, 1)
    with pytest.warns(linalg.LinAlgWarning, match="numerically singular"):
        solution = form.solve_shifted(np.array([0.0, 0.5]), rhs)
    np.testing.assert_allclose(solution[:, 0], linalg.lstsq(T, rhs[:, 0])[0], atol=1e-12)
    np.testing.assert_allclose((T + 0.5 * np.eye(3)) @ solution[:, 1], rhs[:, 1], atol=1e-12)
    np.testing.assert_allclose(form.solve(0.0, rhs[:, 0]), linalg.lstsq(T, rhs[:, 0])[0],
                               atol=1e-12)


def _features(seed, n):
    """Explicit features and the linear kernel they give."""
    Phi = np.random.default_rng(seed).normal(size=(n, 4))
    return Phi, Phi @ Phi.T


@given(seed=st.integers(0, 1000), n=st.integers(2, 20), weighted=st.booleans())
def test_centred_kernel_is_the_kernel_of_the_centred_features(seed, n, weighted):
    Phi, K = _features(seed, n + 5)
    rng = np.random.default_rng(seed + 1)
    w = rng.integers(0, 3, size=n).astype(float) if weighted else None
    if w is not None:
        w[0] = 1.0  # not all zero
    mean = np.average(Phi[:n], axis=0, weights=w)
    centred, test = centre_kernel(K[:n, :n], w, K[n:, :n])
    np.testing.assert_allclose(centred, (Phi[:n] - mean) @ (Phi[:n] - mean).T, atol=1e-12)
    np.testing.assert_allclose(test, (Phi[n:] - mean) @ (Phi[:n] - mean).T, atol=1e-12)
    original = K[:n, :n].copy()
    centre_kernel(K[:n, :n], w)
    np.testing.assert_array_equal(K[:n, :n], original)


@given(seed=st.integers(0, 1000), n=st.integers(2, 20), weighted=st.booleans())
def test_centred_eigh_spans_the_complement_of_the_intercept(seed, n, weighted):
    """``n - 1`` orthonormal eigenvectors, orthogonal to ``s = sqrt(w)``, of the
    compression of ``S K S`` to the complement of ``s``: with ``s`` (eigenvalue 0
    of ``H S K S H``) they diagonalise the centred matrix."""
    K = _kernel(seed, n, "rbf")
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.1, 3.0, size=n) if weighted else None
    s = np.ones(n) if w is None else np.sqrt(w)
    d, V = weighted_centred_kernel_eigh(K, w)
    assert d.shape == (n - 1,) and V.shape == (n, n - 1)
    np.testing.assert_allclose(V.T @ V, np.eye(n - 1), atol=1e-12)
    np.testing.assert_allclose(s @ V, 0.0, atol=1e-12 * np.linalg.norm(s))
    H = np.eye(n) - np.outer(s, s) / (s @ s)
    centred = H @ (s[:, None] * K * s[None, :]) @ H
    np.testing.assert_allclose(V @ np.diag(d) @ V.T, centred, atol=1e-10)
    assert np.all(np.diff(d) >= 0)


@pytest.mark.parametrize("metric", ["rbf", "sigmoid"])
@pytest.mark.parametrize("weighted", [False, True])
def test_intercept_solver_solves_the_bordered_system(metric, weighted):
    n = 15
    K = _kernel(3, n, metric)
    rng = np.random.default_rng(0)
    w = rng.integers(0, 3, size=n).astype(float) if weighted else np.ones(n)
    w[:2] = 1.0
    u = rng.normal(size=(n, 2)) + 5.0
    solve = intercept_solver(KernelRidgeFactorization(K, 0.3, None if not weighted else w), n)
    coef, fitted = solve(u)
    # Normal equations: W (K c + b - u) + lambda c = 0 and 1^T W (K c + b - u) = 0.
    c, b = coef[:n], coef[n]
    residual = K @ c + b - u
    np.testing.assert_allclose(w[:, None] * residual + 0.3 * c, 0.0, atol=1e-9)
    np.testing.assert_allclose(w @ residual, 0.0, atol=1e-9)
    positive = w > 0
    np.testing.assert_allclose(fitted[positive], (K @ c + b)[positive], atol=1e-9)
    single, _ = solve(u[:, 0])
    np.testing.assert_allclose(single, coef[:, 0], rtol=1e-12)


def test_intercept_solver_refuses_a_singular_bordered_system():
    """An indefinite system with 1^T R 1 = 0: no intercept is defined."""
    # K + lambda I = diag(1, -1): R 1 = (1, -1) sums to zero.
    K = np.diag([0.5, -1.5])
    with pytest.raises(np.linalg.LinAlgError, match="fit_intercept=False"):
        intercept_solver(KernelRidgeFactorization(K, 0.5), 2)


@pytest.mark.parametrize("metric", ["rbf", "sigmoid"])
@pytest.mark.parametrize("weighted", [False, True])
def test_the_factorization_with_an_intercept_is_the_bordered_solver(metric, weighted):
    n = 15
    K = _kernel(3, n, metric)
    rng = np.random.default_rng(1)
    w = rng.uniform(0.5, 2.0, size=n) if weighted else None
    u = rng.normal(size=(n, 2)) + 5.0
    expected = intercept_solver(KernelRidgeFactorization(K, 0.3, w), n)(u)
    got = KernelRidgeFactorization(K, 0.3, w, fit_intercept=True)(u)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_a_singular_bordered_system_gives_the_mean():
    # K + lambda I = diag(1, -1) is regular but 1^T R 1 = 0: the system on the
    # complement of 1, (1, -1) / sqrt(2), is 1/2 (1 - 1) = 0. Its least-squares
    # solution is c = 0, and the optimal intercept is then the mean of u.
    K = np.diag([0.5, -1.5])
    u = np.array([[3.0, -1.0], [1.0, 4.0]])
    with pytest.warns(linalg.LinAlgWarning, match="numerically singular"):
        solve = KernelRidgeFactorization(K, 0.5, fit_intercept=True)
    coef, fitted = solve(u)
    np.testing.assert_allclose(coef, [[0.0, 0.0], [0.0, 0.0], [2.0, 1.5]], atol=1e-15)
    np.testing.assert_allclose(fitted, [[2.0, 1.5], [2.0, 1.5]], atol=1e-15)


@pytest.mark.parametrize("weighted", [False, True])
def test_a_singular_system_whose_bordered_system_is_regular_is_solved_exactly(weighted):
    # K = -lambda s s^T / s^T s: K + lambda W^-1 is singular along s = sqrt(w)
    # (S K S + lambda I = lambda (I - s s^T / s^T s)), but with an intercept
    # the system on the complement of s is lambda I: with u = S^-1 z, the
    # bordered system has the exact solution b = s^T z / s^T s, S^-1 c = (z - b s)
    # / lambda, and no warning is due.
    n, reg_lambda = 6, 0.5
    rng = np.random.default_rng(2)
    w = rng.uniform(0.5, 2.0, size=n) if weighted else np.ones(n)
    s = np.sqrt(w)
    K = -reg_lambda * np.ones((n, n)) / (s @ s)
    u = rng.normal(size=n) + 3.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        coef, fitted = KernelRidgeFactorization(K, reg_lambda, w if weighted else None,
                                                fit_intercept=True)(u)
    b = (s @ (s * u)) / (s @ s)
    np.testing.assert_allclose(coef[n], b, rtol=1e-12)
    np.testing.assert_allclose(coef[:n], s * (s * u - b * s) / reg_lambda, rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(fitted, K @ coef[:n] + b, rtol=1e-10, atol=1e-12)
    # Normal equations of the intercept model: W (K c + b - u) + lambda c = 0.
    np.testing.assert_allclose(w * (K @ coef[:n] + b - u) + reg_lambda * coef[:n], 0.0,
                               atol=1e-10)
