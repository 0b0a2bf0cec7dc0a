"""Held-out predictions of every (lambda, alpha, tau) from one eigendecomposition.

The eigen form of Section 4.2 (eqs. (8)-(13), Lemma 4.2) turns a whole grid
of self-distillation candidates into diagonal scalings. Let ``S K S = V
diag(d) V^T`` on the training part of a fold (``S = diag(sqrt(w))`` carries
the sample weights) and ``z = V^T S y``. Step ``t`` of the chain with
penalty ``lambda`` and weights ``alpha(2), ..., alpha(t)`` has the dual
coefficients

    c(t) = S V (w(t) / (d + lambda) * z),

    w(1) = 1,   w(t) = (1 - alpha(t)) b(t-1) + alpha(t),   b(t) = a * w(t),

with ``a = d / (d + lambda)`` and ``b(t)`` the diagonal of ``B(t)``
(eq. (12)). The limit of Theorem 4.5 for a fixed ``alpha > 0`` is kernel
ridge regression with penalty ``lambda / alpha``, whose coefficients are
``S V (z / (d + lambda / alpha))``: in the same notation ``w(inf) = alpha
(d + lambda) / (alpha d + lambda)``, which is also the zero function for
``alpha = 0``. Held-out predictions are ``K_test S V (...)``: a map from
coefficients in the eigenbasis to predictions, applied to all candidates
at once.

Nothing here knows about scikit-learn or kernels: a fold is its eigenvalues,
its projected targets ``z`` and that map, however they were obtained (a
full kernel matrix, or later a Nystroem or random-feature map whose ``m x m``
Gram matrix supplies the eigenpairs).
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import linalg
from scipy.linalg import blas, lapack

from .closed_forms import optimal_alpha_from_terms, shrinkage_factors

__all__ = [
    "SpectralFold",
    "downdated_optimal_schedules",
    "fold_predictions",
    "limit_weights",
    "optimal_schedules",
    "step_weights",
]


@dataclass
class SpectralFold:
    """One cross-validation fold in the eigenbasis of its training part.

    Parameters
    ----------
    eigenvalues : ndarray of shape (n,)
        Eigenvalues ``d`` of the (weighted) training kernel matrix ``S K S``.
    projected_targets : ndarray of shape (n,) or (n, k)
        ``z = V^T S y``, the training targets in the eigenbasis.
    test_map : ndarray of shape (m, n) or callable
        Maps coefficients in the eigenbasis, an array of shape (n, c), to
        held-out predictions of shape (m, c): the matrix ``K_test S V``
        itself, or a callable that applies it without forming it.
    test_targets : ndarray of shape (m,) or (m, k), default=None
        Held-out targets; needed by :func:`optimal_schedules` only.
    test_weight : ndarray of shape (m,), default=None
        Weights of the held-out squared errors in :func:`optimal_schedules`.
    """

    eigenvalues: np.ndarray
    projected_targets: np.ndarray
    test_map: Any
    test_targets: np.ndarray = None
    test_weight: np.ndarray = None

    def predict(self, coefs):
        """Held-out predictions of the coefficient columns ``coefs`` (n, c)."""
        if callable(self.test_map):
            return self.test_map(coefs)
        return self.test_map @ coefs


def step_weights(eigenvalues, reg_lambda, schedules):
    """Weights ``w(t)`` of the dual coefficients of every step (Lemma 4.2).

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
        Eigenvalues ``d`` of the training kernel matrix.
    reg_lambda : float
        Ridge penalty ``lambda > 0``.
    schedules : array-like of shape (n_schedules, T - 1)
        Row ``i`` holds the weights ``alpha(2), ..., alpha(T)`` of one chain;
        a fixed ``alpha`` is a constant row. ``T - 1 = 0`` columns give step
        1 alone.

    Returns
    -------
    weights : ndarray of shape (n_schedules, T, n)
        ``weights[i, t - 1]`` is ``w(t)`` of chain ``i``: step ``t`` has the
        dual coefficients ``S V (w(t) / (d + lambda) * z)`` and the training
        predictions ``V (a * w(t) * z)`` (eq. (10)).
    """
    a = shrinkage_factors(eigenvalues, reg_lambda)
    schedules = np.asarray(schedules, dtype=float)
    if schedules.ndim != 2:
        raise ValueError(f"schedules must be two-dimensional, got shape {schedules.shape}.")
    n_schedules, n_later = schedules.shape
    weights = np.empty((n_schedules, n_later + 1, a.size))
    weights[:, 0] = 1.0
    for t in range(1, n_later + 1):
        alpha = schedules[:, t - 1, None]
        # Written as in eq. (12) so that alpha = 1 gives w = 1 exactly: the
        # candidates that equal plain kernel ridge then tie exactly, as the
        # refits of a grid search do.
        weights[:, t] = (1.0 - alpha) * (a * weights[:, t - 1]) + alpha
    return weights


def limit_weights(eigenvalues, reg_lambda, alphas):
    """Weights ``w(inf)`` of the limit of infinitely many steps (Theorem 4.5).

    For a fixed ``alpha > 0`` the chain converges to kernel ridge regression
    with penalty ``lambda / alpha`` (eq. (17)), whose dual coefficients are
    ``S V (z / (d + lambda / alpha)) = S V (w(inf) / (d + lambda) * z)`` with
    ``w(inf) = alpha (d + lambda) / (alpha d + lambda)``. For ``alpha = 0`` the
    weights vanish: the solutions collapse to zero.

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
    reg_lambda : float
    alphas : array-like of shape (n_alphas,)
        Fixed weights in ``[0, 1]``.

    Returns
    -------
    weights : ndarray of shape (n_alphas, n)
    """
    d = np.asarray(eigenvalues, dtype=float)
    alphas = np.asarray(alphas, dtype=float).reshape(-1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return alphas * (d + reg_lambda) / (alphas * d + reg_lambda)


def fold_predictions(fold, reg_lambda, weights):
    """Held-out predictions of many candidates with one matrix product.

    Parameters
    ----------
    fold : SpectralFold
    reg_lambda : float
    weights : ndarray of shape (n_candidates, n)
        ``w`` of each candidate, from :func:`step_weights` or
        :func:`limit_weights`.

    Returns
    -------
    predictions : ndarray of shape (m, n_candidates) or (m, n_candidates, k)
        ``K_test S V (w / (d + lambda) * z)`` for every row ``w``.
    """
    d = np.asarray(fold.eigenvalues, dtype=float)
    z = np.asarray(fold.projected_targets, dtype=float)
    weights = np.asarray(weights, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        coefs = (weights / (d + reg_lambda)).T
    if z.ndim == 1:
        return fold.predict(coefs * z[:, None])
    n_candidates, n_outputs = weights.shape[0], z.shape[1]
    stacked = (coefs[:, :, None] * z[:, None, :]).reshape(d.size, n_candidates * n_outputs)
    return fold.predict(stacked).reshape(-1, n_candidates, n_outputs)


def optimal_schedules(folds, reg_lambdas, n_steps, clip=False):
    """Algorithm 1 on several folds at once, for several penalties.

    At step ``t`` every fold predicts its held-out samples with the first
    step, ``y1 = K_test c(1)``, and with step ``t`` fitted at ``alpha(t) =
    0``, ``y0 = K_test R y(t-1)``. The numerators ``<y1 - y0, ytilde - y0>``
    and denominators ``||y1 - y0||^2`` of eq. (16) are summed over folds, and
    their ratio is the weight that minimises the pooled held-out squared
    error (Theorem 4.4). In the eigenbasis ``y1 - y0 = K_test S V ((1 -
    b(t-1)) / (d + lambda) * z)``; ``1 - b(t)`` is carried by its own
    recursion ``1 - b(t) = lambda / (d + lambda) + a (1 - alpha(t)) (1 -
    b(t-1))``, a sum of non-negative terms for ``alpha(t)`` in ``[0, 1]``,
    so that the direction does not lose digits to cancellation when ``y1``
    and ``y0`` are close.

    Parameters
    ----------
    folds : sequence of SpectralFold
        With ``test_targets`` (and ``test_weight`` for weighted errors).
    reg_lambdas : array-like of shape (n_lambdas,)
        Penalties ``lambda > 0``; each has its own schedule.
    n_steps : int
        Number of steps ``T``; ``T - 1`` weights are chosen.
    clip : bool, default=False
        Clip each weight to ``[0, 1]`` before it is used (footnote 10).

    Returns
    -------
    schedules : ndarray of shape (n_lambdas, n_steps - 1)
        ``alpha*(2), ..., alpha*(T)`` for each penalty. When the pooled
        denominator vanishes (the held-out error is flat in ``alpha``) the
        weight is that of
        :func:`~selfdistill_sklearn.closed_forms.optimal_alpha_from_terms`.
    """
    lambdas = np.asarray(reg_lambdas, dtype=float).reshape(-1)
    n_lambdas = lambdas.size
    schedules = np.empty((n_lambdas, n_steps - 1))
    if n_steps == 1 or n_lambdas == 0:
        return schedules
    states = []
    for fold in folds:
        d = np.asarray(fold.eigenvalues, dtype=float)
        z = np.asarray(fold.projected_targets, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            inverse = 1.0 / (d[None, :] + lambdas[:, None])
        a = d[None, :] * inverse
        remainder = lambdas[:, None] * inverse
        # Held-out predictions of step 1 for every penalty, in one product.
        first = _predict_scaled(fold, inverse, z)
        states.append({"d": d, "z": z, "inverse": inverse, "a": a, "remainder": remainder,
                       "b": a.copy(), "gap": remainder.copy(), "first": first})
    for step in range(n_steps - 1):
        numerator = np.zeros(n_lambdas)
        denominator = np.zeros(n_lambdas)
        scale = np.zeros(n_lambdas)
        for fold, state in zip(folds, states, strict=True):
            # y0 = K_test S V (b(t-1) / (d + lambda) * z), y1 - y0 with (1 - b(t-1)).
            zero = _predict_scaled(fold, state["b"] * state["inverse"], state["z"])
            direction = _predict_scaled(fold, state["gap"] * state["inverse"], state["z"])
            targets = np.asarray(fold.test_targets, dtype=float)
            residual = targets[:, None] - zero if targets.ndim == 1 else targets[:, None, :] - zero
            weighted = direction
            if fold.test_weight is not None:
                w = np.asarray(fold.test_weight, dtype=float)
                weighted = direction * w.reshape((-1,) + (1,) * (direction.ndim - 1))
            sum_axes = (0,) if direction.ndim == 2 else (0, 2)
            numerator += np.sum(weighted * residual, axis=sum_axes)
            denominator += np.sum(weighted * direction, axis=sum_axes)
            squares = state["first"] ** 2 + zero ** 2
            if fold.test_weight is not None:
                squares = squares * w.reshape((-1,) + (1,) * (squares.ndim - 1))
            scale += np.sum(squares, axis=sum_axes)
        for index in range(n_lambdas):
            schedules[index, step] = optimal_alpha_from_terms(
                numerator[index], denominator[index], clip, scale[index])
        alpha = schedules[:, step, None]
        for state in states:
            state["b"] = state["a"] * ((1.0 - alpha) * state["b"] + alpha)
            state["gap"] = state["remainder"] + state["a"] * (1.0 - alpha) * state["gap"]
    return schedules


def downdated_optimal_schedules(eigenvalues, eigenvectors, scaled_targets, held_out,
                                reg_lambdas, n_steps, clip=False):
    """Algorithm 1 on folds of a training set, from that set's eigendecomposition.

    :func:`optimal_schedules` with one fold per entry of ``held_out``, each
    trained on the other samples, without diagonalising or factorising the
    folds' training parts. Let ``M = S K S + lambda I = V diag(d + lambda)
    V^T`` on all ``n`` samples and ``P = M^-1``. A fold that holds out ``T``
    and trains on ``I`` has the system ``M_II g = b`` of eq. (3) (dual
    coefficients ``S_I g``), and by the block inverse of ``P`` (the inverse
    of a Schur complement)

        M_II^-1 = P_II - P_IT P_TT^-1 P_TI,

    so that ``g`` is the ``I`` part of ``P (b - z)`` with ``b`` and ``z``
    padded by zeros to all samples and ``z = P_TT^-1 (P b)_T``; the ``T``
    part of ``P (b - z)`` vanishes. The held-out predictions then come free:
    ``S_T K_TI S_I g = -z``. In the eigenbasis, with ``r = V^T b`` and ``h =
    (r - V_T^T z) / (d + lambda)``, one has ``g = V_I h`` and ``V_T h = 0``,
    and the training predictions ``S_I K_II S_I g = b - lambda g`` have
    ``V^T`` coordinates ``r - lambda h``: every step of every fold's chain
    stays in the ``n`` coordinates, and costs two products with the ``m x
    n`` block ``V_T`` and one solve with the ``m x m`` matrix ``P_TT``.
    Forming and factorising ``P_TT`` once per fold and penalty costs
    ``O(m^2 n)``, against ``O((n - m)^3)`` for factorising ``M_II``.

    The chain is carried as its training residual ``e(t) = S_I (y_I -
    y(t))``: the direction ``y1 - y0`` of eq. (16) at step ``t + 1`` is the
    fit of ``e(t)`` (since ``g(1) - g0 = M_II^-1 (S_I y_I - S_I y(t))``),
    computed without subtracting two nearly equal predictions, and

        e(1) = lambda g(1),
        e(t) = alpha(t) lambda g(1) + (1 - alpha(t)) (e(t-1) + lambda g0(t)).

    Everything is scaled by ``S``: held-out predictions and targets times
    ``sqrt(w)``, so that the sums of eq. (16) are the weighted ones of
    :func:`~selfdistill_sklearn.closed_forms.optimal_alpha_terms`.

    Parameters
    ----------
    eigenvalues : ndarray of shape (n,)
        ``d`` of ``S K S`` on all the samples.
    eigenvectors : ndarray of shape (n, n)
        ``V``, orthonormal columns.
    scaled_targets : ndarray of shape (n,) or (n, k)
        ``S y``.
    held_out : sequence of index arrays
        The held-out samples of each fold; each fold trains on the rest.
    reg_lambdas : array-like of shape (n_lambdas,)
        Penalties ``lambda > 0``; each has its own schedule.
    n_steps : int
        Number of steps ``T``; ``T - 1`` weights are chosen.
    clip : bool, default=False
        Clip each weight to ``[0, 1]`` before it is used (footnote 10).

    Returns
    -------
    schedules : ndarray of shape (n_lambdas, n_steps - 1)
        As :func:`optimal_schedules` returns them for the same folds.
    """
    d = np.asarray(eigenvalues, dtype=float)
    n = d.size
    lambdas = np.asarray(reg_lambdas, dtype=float).reshape(-1)
    n_lambdas = lambdas.size
    schedules = np.empty((n_lambdas, n_steps - 1))
    if n_steps == 1 or n_lambdas == 0:
        return schedules
    targets = np.asarray(scaled_targets, dtype=float).reshape(n, -1)
    with np.errstate(divide="ignore"):
        inverse = 1.0 / (d[:, None] + lambdas[None, :])
    projected = eigenvectors.T @ targets
    folds = []
    for indices in held_out:
        indices = np.asarray(indices)
        block = eigenvectors[indices]
        block_inverses = np.stack([_held_out_block_inverse(block, inverse[:, index])
                                   for index in range(n_lambdas)])
        # V^T of the training targets, zero on the held-out part.
        train_projected = projected - block.T @ targets[indices]
        first, first_predictions = _downdated_solve(
            block, inverse, block_inverses,
            np.broadcast_to(train_projected[:, None, :], (n, n_lambdas, targets.shape[1])))
        folds.append({"block": block, "block_inverses": block_inverses, "targets": targets[indices],
                      "first": first, "first_predictions": first_predictions,
                      "residual": lambdas[None, :, None] * first})
    for step in range(n_steps - 1):
        numerator = np.zeros(n_lambdas)
        denominator = np.zeros(n_lambdas)
        scale = np.zeros(n_lambdas)
        for fold in folds:
            fold["direction"], direction = _downdated_solve(
                fold["block"], inverse, fold["block_inverses"], fold["residual"])
            zero = fold["first_predictions"] - direction
            numerator += np.sum(direction * (fold["targets"][:, None, :] - zero), axis=(0, 2))
            denominator += np.sum(direction ** 2, axis=(0, 2))
            scale += np.sum(fold["first_predictions"] ** 2 + zero ** 2, axis=(0, 2))
        for index in range(n_lambdas):
            schedules[index, step] = optimal_alpha_from_terms(
                numerator[index], denominator[index], clip, scale[index])
        alpha = schedules[None, :, step, None]
        for fold in folds:
            first_residual = lambdas[None, :, None] * fold["first"]
            zero_residual = fold["residual"] + first_residual - lambdas[None, :, None] * fold[
                "direction"]
            fold["residual"] = alpha * first_residual + (1.0 - alpha) * zero_residual
    return schedules


def _held_out_block_inverse(block, inverse):
    """``P_TT^-1`` for ``P_TT = V_T diag(inverse) V_T^T``, through a Cholesky
    factorisation when ``P`` is positive definite (a positive semi-definite
    kernel), an LU factorisation otherwise. Explicit, so that the penalties'
    solves at each step are one stacked product."""
    if np.all(inverse > 0) and np.all(np.isfinite(inverse)):
        # syrk on the Fortran-ordered transpose forms the upper triangle only.
        scaled = (block * np.sqrt(inverse)).T
        factor, info = lapack.dpotrf(blas.dsyrk(1.0, scaled, trans=1), lower=0,
                                     overwrite_a=1, clean=1)
        if info == 0:
            upper, info = lapack.dpotri(factor, lower=0, overwrite_c=1)
            if info == 0:
                return np.triu(upper) + np.triu(upper, 1).T
    return linalg.inv((block * inverse) @ block.T, overwrite_a=True, check_finite=False)


def _downdated_solve(block, inverse, block_inverses, projected):
    """Solve the held-out fold's system for every penalty (see
    :func:`downdated_optimal_schedules`).

    ``projected`` of shape (n, n_lambdas, k) holds ``r = V^T b``;
    ``block_inverses`` of shape (n_lambdas, m, m) the matrices ``P_TT^-1``.
    Returns ``h`` of the same shape as ``projected`` (``g = V_I h``) and the
    held-out predictions ``-z`` of shape (m, n_lambdas, k), both scaled by
    ``S``.
    """
    n, n_lambdas, k = projected.shape
    m = block.shape[0]
    scaled = projected * inverse[:, :, None]
    held_out = (block @ scaled.reshape(n, n_lambdas * k)).reshape(m, n_lambdas, k)
    correction = np.matmul(block_inverses, held_out.transpose(1, 0, 2)).transpose(1, 0, 2)
    coordinates = projected - (block.T @ correction.reshape(m, n_lambdas * k)).reshape(
        n, n_lambdas, k)
    return coordinates * inverse[:, :, None], -correction


def _predict_scaled(fold, scaling, z):
    """Predictions ``K_test S V (scaling[l] * z)`` for each row ``l`` of
    ``scaling`` (n_lambdas, n): shape (m, n_lambdas) or (m, n_lambdas, k)."""
    if z.ndim == 1:
        return fold.predict((scaling * z[None, :]).T)
    n_rows, n, k = scaling.shape[0], z.shape[0], z.shape[1]
    stacked = (scaling.T[:, :, None] * z[:, None, :]).reshape(n, n_rows * k)
    return fold.predict(stacked).reshape(-1, n_rows, k)
