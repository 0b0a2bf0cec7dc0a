"""Held-out predictions of every (lambda, alpha, tau) from one decomposition per fold.

The eigen form of Section 4.2 (eqs. (8)-(13), Lemma 4.2) turns a whole grid
of self-distillation candidates into cheap operations on one decomposition
of a fold's training kernel matrix. Let ``S K S = Q T Q^T`` on the training
part of a fold (``S = diag(sqrt(w))`` carries the sample weights), with
``Q`` orthogonal and ``T`` either diagonal (the eigendecomposition ``V
diag(d) V^T``) or tridiagonal (the Householder reduction that is the first
half of an eigendecomposition; see
:class:`~selfdistill_sklearn._solvers.TridiagonalForm`). Then ``S K S +
lambda I = Q (T + lambda I) Q^T`` for every ``lambda``, and in the
coordinates ``h = Q^T g`` of the scaled dual coefficients ``c = S g`` the
chain of eq. (7) reads

    h(1) = (T + lambda I)^-1 z,
    h(t) = alpha(t) h(1) + (1 - alpha(t)) (T + lambda I)^-1 T h(t-1),

with ``z = Q^T S y``: the step's targets are the previous step's training
predictions ``S K S g(t-1) = Q T h(t-1)``. Each step costs ``O(n)`` per
column. The limit of Theorem 4.5 for a fixed ``alpha > 0`` is kernel ridge
regression with penalty ``lambda / alpha`` (eq. (17)), ``h(inf) = (T +
lambda / alpha I)^-1 z``, and the zero function for ``alpha = 0``. Held-out
predictions are ``K_test S Q h``: one matrix applied to all candidates at
once. With a diagonal ``T`` the recursion is Lemma 4.2's: ``h(t) = w(t) /
(d + lambda) * z`` with ``w(t) = (1 - alpha(t)) a w(t-1) + alpha(t)``.

An unpenalised intercept changes nothing here: kernel ridge regression with
an intercept is kernel ridge regression without one on the kernel and
targets centred by their weighted means, plus the mean (see
:func:`~selfdistill_sklearn._solvers.centre_kernel`), so a fold with an
intercept is the form of its centred kernel, its centred targets, the map of
the centred held-out kernel and the mean as an ``offset``. Only the inner
folds of :func:`downdated_optimal_schedules`, whose means differ from the
fold's, need a correction: one more right-hand side per penalty.

Nothing here knows about scikit-learn or kernels: a fold is its form, its
projected targets and the map to held-out predictions.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

from .closed_forms import optimal_alpha_from_terms

__all__ = [
    "SweepFold",
    "downdated_optimal_schedules",
    "limit_coefficients",
    "step_coefficients",
]


@dataclass
class SweepFold:
    """One cross-validation fold in the coordinates of its training part.

    Parameters
    ----------
    form : TridiagonalForm
        ``S K S = Q T Q^T`` of the (weighted) training kernel matrix.
    projected_targets : ndarray of shape (n,) or (n, k)
        ``z = Q^T S y``, the training targets in the form's coordinates.
    test_map : ndarray of shape (m, n) or callable
        Maps coordinates ``h``, an array of shape (n, c), to held-out
        predictions of shape (m, c): the matrix ``K_test S Q`` itself, or a
        callable that applies it without forming it.
    offset : float or ndarray of shape (k,), default=0.0
        Added to every held-out prediction: the weighted mean of the
        training targets when the form, targets and map are those of the
        centred kernel (a model with an intercept), else 0.
    """

    form: Any
    projected_targets: np.ndarray
    test_map: Any
    offset: Any = 0.0

    def predict(self, coefs):
        """Held-out predictions of the coordinates ``coefs`` of shape (n, c) or
        (n, c, k), of shape (m, c) or (m, c, k)."""
        coefs = np.asarray(coefs)
        columns = coefs.reshape(coefs.shape[0], -1)
        if callable(self.test_map):
            predictions = self.test_map(columns)
        else:
            predictions = self.test_map @ columns
        return predictions.reshape((-1,) + coefs.shape[1:]) + self.offset


def step_coefficients(form, projected_targets, reg_lambda, schedules):
    """Coordinates ``h(t)`` of every step of several chains (eq. (7)).

    Parameters
    ----------
    form : TridiagonalForm
    projected_targets : ndarray of shape (n,) or (n, k)
        ``z = Q^T S y``.
    reg_lambda : float
        Ridge penalty ``lambda > 0``.
    schedules : array-like of shape (n_schedules, T - 1)
        Row ``i`` holds the weights ``alpha(2), ..., alpha(T)`` of one chain;
        a fixed ``alpha`` is a constant row. ``T - 1 = 0`` columns give step
        1 alone.

    Returns
    -------
    coefs : ndarray of shape (n, n_schedules, T) or (n, n_schedules, T, k)
        ``coefs[:, i, t - 1]`` is ``h(t)`` of chain ``i``: dual coefficients
        ``S Q h(t)``, training predictions ``Q T h(t)`` (scaled by ``S``).
        Step 1, and every step of a weight 1, are the same array for every
        chain, bit for bit, as the refits of a grid search tie.
    """
    schedules = np.asarray(schedules, dtype=float)
    if schedules.ndim != 2:
        raise ValueError(f"schedules must be two-dimensional, got shape {schedules.shape}.")
    z = np.asarray(projected_targets, dtype=float)
    n_schedules, n_later = schedules.shape
    first = form.solve(reg_lambda, z)
    coefs = np.empty((z.shape[0], n_schedules, n_later + 1) + z.shape[1:])
    coefs[:, :, 0] = first[:, None]
    previous = coefs[:, :, 0]
    first = first[:, None]
    for t in range(1, n_later + 1):
        alpha = schedules[:, t - 1].reshape((1, -1) + (1,) * (z.ndim - 1))
        # alpha = 1 gives h(1) exactly: 0 * x adds a (signed) zero.
        coefs[:, :, t] = alpha * first + (1.0 - alpha) * form.solve(
            reg_lambda, form.multiply(previous))
        previous = coefs[:, :, t]
    return coefs


def limit_coefficients(form, projected_targets, reg_lambda, alphas):
    """Coordinates ``h(inf)`` of the limit of infinitely many steps (Theorem 4.5).

    For a fixed ``alpha > 0`` the chain converges to kernel ridge regression
    with penalty ``lambda / alpha`` (eq. (17)); for ``alpha = 0`` the
    solutions collapse to zero.

    Parameters
    ----------
    form : TridiagonalForm
    projected_targets : ndarray of shape (n,) or (n, k)
    reg_lambda : float
    alphas : array-like of shape (n_alphas,)
        Fixed weights in ``[0, 1]``.

    Returns
    -------
    coefs : ndarray of shape (n, n_alphas) or (n, n_alphas, k)
        ``alpha = 1`` gives step 1's coordinates bit for bit.
    """
    z = np.asarray(projected_targets, dtype=float)
    alphas = np.asarray(alphas, dtype=float).reshape(-1)
    coefs = np.zeros((z.shape[0], alphas.size) + z.shape[1:])
    for index, alpha in enumerate(alphas):
        if alpha > 0:
            coefs[:, index] = form.solve(reg_lambda / alpha, z)
    return coefs


def downdated_optimal_schedules(form, scaled_targets, splits, reg_lambdas, n_steps,
                                clip=False, fit_intercept=False, sample_weight=None):
    """Algorithm 1 on folds of a training set, from that set's one decomposition.

    One fold per entry of ``splits``, without decomposing or factorising
    the folds' training parts. Let ``M =
    S K S + lambda I = Q (T + lambda I) Q^T`` on all ``n`` samples and ``P =
    M^-1``. A fold that trains on ``I`` and removes the other samples ``T``
    has the system
    ``M_II g = b`` of eq. (3) (dual coefficients ``S_I g``), and by the block
    inverse of ``P`` (the inverse of a Schur complement)

        M_II^-1 = P_II - P_IT P_TT^-1 P_TI,

    so that ``g`` is the ``I`` part of ``P (b - z)`` with ``b`` and ``z``
    padded by zeros to all samples and ``z = P_TT^-1 (P b)_T``; the ``T``
    part of ``P (b - z)`` vanishes. The held-out predictions then come free:
    ``S_T K_TI S_I g = -z``. In the form's coordinates, with ``r = Q^T b``
    and ``h = (T + lambda I)^-1 (r - Q_T^T z)``, one has ``g = Q_I h`` and
    ``Q_T h = 0``, and the training predictions ``S_I K_II S_I g = b -
    lambda g`` have coordinates ``r - lambda h``: every step of every fold's
    chain stays in the ``n`` coordinates, and costs two products with the
    ``m x n`` block ``Q_T`` and one solve with the ``m x m`` matrix
    ``P_TT``. Forming and factorising ``P_TT`` once per fold and penalty
    costs ``O(m^2 n)``, against ``O((n - m)^3)`` for factorising ``M_II``.

    The chain is carried as its training residual ``e(t) = S_I (y_I -
    y(t))``: the direction ``y1 - y0`` of eq. (16) at step ``t + 1`` is the
    fit of ``e(t)`` (since ``g(1) - g0 = M_II^-1 (S_I y_I - S_I y(t))``),
    computed without subtracting two nearly equal predictions, and

        e(1) = lambda g(1),
        e(t) = alpha(t) lambda g(1) + (1 - alpha(t)) (e(t-1) + lambda g0(t)).

    Everything is scaled by ``S``: held-out predictions and targets times
    ``sqrt(w)``, so that the sums of eq. (16) are the weighted ones of
    :func:`~selfdistill_sklearn.closed_forms.optimal_alpha_terms`.

    With an unpenalised intercept each fold solves the bordered system of
    :func:`~selfdistill_sklearn.closed_forms.intercept_solver` on its
    training part: with ``s = sqrt(w)`` and ``g_1 = M_II^-1 s_I`` solved once
    per fold and penalty, ``g = M_II^-1 b - beta g_1`` with ``beta = s_I^T
    M_II^-1 b / s_I^T g_1``, and the removed samples' predictions gain
    ``beta s_T``. Training predictions are still ``b - lambda g``, so the
    chain above is unchanged. ``form`` may then be that of the kernel centred
    by any weighted mean (:func:`~selfdistill_sklearn._solvers.centre_kernel`):
    an intercept model does not change when the features are shifted.

    Parameters
    ----------
    form : TridiagonalForm
        ``S K S = Q T Q^T`` on all the samples.
    scaled_targets : ndarray of shape (n,) or (n, k)
        ``S y``.
    splits : sequence of (train, test) index arrays
        The folds, as a cross-validation splitter yields them: each trains on
        ``train`` (no sample twice) and is scored on ``test``, usually the
        other samples. The removed samples are all those not in ``train``.
    reg_lambdas : array-like of shape (n_lambdas,)
        Penalties ``lambda > 0``; each has its own schedule.
    n_steps : int
        Number of steps ``T``; ``T - 1`` weights are chosen.
    clip : bool, default=False
        Clip each weight to ``[0, 1]`` before it is used (footnote 10).
    fit_intercept : bool, default=False
        Fit an unpenalised intercept in every fold.
    sample_weight : ndarray of shape (n,), default=None
        The weights ``w`` of ``S``, needed only for the intercept.

    Returns
    -------
    schedules : ndarray of shape (n_lambdas, n_steps - 1)
        ``alpha*(2), ..., alpha*(T)`` for each penalty, as
        ``SelfDistilledKernelRidge(alpha="optimal", cv=...)`` chooses them
        on the same folds. When the pooled denominator vanishes (the
        held-out error is flat in ``alpha``) the weight is that of
        :func:`~selfdistill_sklearn.closed_forms.optimal_alpha_from_terms`.
        NaN for a penalty whose downdate does not exist (a numerically
        singular system on all samples or on a fold's training part, see
        :meth:`~selfdistill_sklearn._solvers.TridiagonalForm.held_out_inverse`,
        or with an intercept a singular bordered system of a fold, ``s_I^T
        M_II^-1 s_I`` vanishing or undefined): its folds must be factored on
        their own.
    """
    n = form.n
    lambdas = np.asarray(reg_lambdas, dtype=float).reshape(-1)
    n_lambdas = lambdas.size
    schedules = np.empty((n_lambdas, n_steps - 1))
    if n_steps == 1 or n_lambdas == 0:
        return schedules
    targets = np.asarray(scaled_targets, dtype=float).reshape(n, -1)
    projected = form.basis.T @ targets
    penalties = lambdas[None, :, None]
    intercept_direction = None
    if fit_intercept:
        intercept_direction = (np.ones(n) if sample_weight is None
                               else np.sqrt(np.asarray(sample_weight, dtype=float)))
    folds = [_DowndatedFold(form, train, test, lambdas, intercept_direction, targets,
                            projected) for train, test in splits]
    # The chain's state: each fold's residual lambda g(t) of the step before.
    residuals = [penalties * fold.first for fold in folds]
    for step in range(n_steps - 1):
        numerator = np.zeros(n_lambdas)
        denominator = np.zeros(n_lambdas)
        scale = np.zeros(n_lambdas)
        solutions = []
        for fold, residual in zip(folds, residuals, strict=True):
            solution, removed = fold.solve(residual)
            solutions.append(solution)
            direction = fold.predictions(residual, solution, removed)
            zero = fold.first_predictions - direction
            numerator += np.sum(direction * (fold.targets[:, None, :] - zero), axis=(0, 2))
            denominator += np.sum(direction ** 2, axis=(0, 2))
            scale += np.sum(fold.first_predictions ** 2 + zero ** 2, axis=(0, 2))
        for index in range(n_lambdas):
            schedules[index, step] = optimal_alpha_from_terms(
                numerator[index], denominator[index], clip, scale[index])
        alpha = schedules[None, :, step, None]
        for position, (fold, solution) in enumerate(zip(folds, solutions, strict=True)):
            first_residual = penalties * fold.first
            zero_residual = residuals[position] + first_residual - penalties * solution
            residuals[position] = alpha * first_residual + (1.0 - alpha) * zero_residual
    for fold in folds:
        schedules[fold.inverse.failed] = np.nan
    return schedules


class _DowndatedFold:
    """One fold of :func:`downdated_optimal_schedules`: the samples ``removed``
    from the whole set (all but ``train``), the block ``Q_R`` and the inverse
    of ``P_RR`` for every penalty; with an intercept along ``s``
    (``intercept_direction``), the fold's solution for ``s_I`` too. The
    first step's solution ``first`` for the training part of ``targets``
    (``S y``, whose coordinates ``Q^T S y`` are ``projected_targets``), its
    predictions ``first_predictions`` at the test samples, and the test
    samples' ``targets`` are computed on construction."""

    def __init__(self, form, train, test, lambdas, intercept_direction, targets,
                 projected_targets):
        train, test = np.asarray(train), np.asarray(test)
        if np.unique(train).size != train.size:
            raise ValueError("The folds' training parts must not repeat samples.")
        self.form, self.lambdas, self.test = form, lambdas, test
        self.removed = np.setdiff1d(np.arange(form.n), train)
        self.block = form.basis[self.removed]
        self.inverse = form.held_out_inverse(self.removed, lambdas)
        # Held-out samples are usually the removed ones, whose predictions
        # come with the solve; a splitter may also score training samples.
        self.scored_removed = np.isin(test, self.removed)
        self.positions = np.searchsorted(self.removed, test[self.scored_removed])
        self.scored_train_rows = form.basis[test[~self.scored_removed]]
        self.intercept = None
        if intercept_direction is not None:
            direction = np.array(intercept_direction, dtype=float)
            removed_direction = direction[self.removed]
            direction[self.removed] = 0.0
            if not np.any(direction > 0):
                raise ValueError("A fold with an intercept needs a training sample with a "
                                 "positive weight.")
            # Q^T s_I, zero on the removed samples.
            projected = form.basis.T @ direction
            ones, ones_removed = self._solve(np.broadcast_to(
                projected[:, None, None], (form.n, lambdas.size, 1)))
            # s_I^T M_II^-1 s_I for every penalty. It vanishes (or is NaN,
            # where the downdate failed) when the fold's bordered system is
            # singular, as it can be for a singular or indefinite system: the
            # downdate does not exist there, and the fold must be factored on
            # its own (with the least-squares fallback of the refitting estimator).
            denominator = projected @ ones[:, :, 0]
            size = np.linalg.norm(projected) * np.linalg.norm(ones[:, :, 0], axis=0)
            singular = ~(np.abs(denominator) > form.n * np.finfo(float).eps * size)
            if singular.any():
                self.inverse = self.inverse.with_failed(singular)
            denominator = np.where(singular, np.nan, denominator)
            self.intercept = (projected, ones, ones_removed, removed_direction, denominator)
        # Q^T of the training targets, zero on the removed samples.
        train_projected = projected_targets - self.block.T @ targets[self.removed]
        coordinates = np.broadcast_to(train_projected[:, None, :],
                                      (form.n, lambdas.size, targets.shape[1]))
        self.first, removed = self.solve(coordinates)
        self.first_predictions = self.predictions(coordinates, self.first, removed)
        self.targets = targets[test]

    def solve(self, projected):
        """``h`` with ``g = Q_I h``, the fold's solution for the right-hand
        sides ``b`` with coordinates ``projected = Q^T b`` (n, n_lambdas, k),
        and ``-z``, the predictions of the removed samples (m, n_lambdas, k);
        with an intercept, that of the bordered system and the removed
        samples' predictions with the intercept."""
        solution, removed = self._solve(projected)
        if self.intercept is None:
            return solution, removed
        return self._with_intercept(solution, removed)

    def _with_intercept(self, solution, removed):
        direction, ones, ones_removed, removed_direction, denominator = self.intercept
        # beta = s_I^T g / s_I^T g_1 for every penalty and output, (n_lambdas, k).
        with np.errstate(invalid="ignore"):
            beta = np.einsum("n,nlk->lk", direction, solution) / denominator[:, None]
        solution = solution - ones * beta[None]
        removed = removed + (removed_direction[:, None, None] - ones_removed) * beta[None]
        return solution, removed

    def _solve(self, projected):
        form, block, lambdas = self.form, self.block, self.lambdas
        n, n_lambdas, k = projected.shape
        m = block.shape[0]
        scaled = form.solve_shifted(lambdas, projected)
        held_out = (block @ scaled.reshape(n, n_lambdas * k)).reshape(m, n_lambdas, k)
        correction = self.inverse.apply(held_out)
        coordinates = projected - (block.T @ correction.reshape(m, n_lambdas * k)).reshape(
            n, n_lambdas, k)
        return form.solve_shifted(lambdas, coordinates), -correction

    def predictions(self, projected, solution, removed_predictions):
        """Predictions (scaled by ``S``) of a :meth:`solve` at the fold's test
        samples, shape (n_test, n_lambdas, k): ``-z`` on removed samples,
        ``Q_p (r - lambda h)`` on training samples."""
        n, n_lambdas, k = projected.shape
        predictions = np.empty((self.test.size, n_lambdas, k))
        predictions[self.scored_removed] = removed_predictions[self.positions]
        if self.scored_train_rows.shape[0]:
            fitted = projected - self.lambdas[None, :, None] * solution
            predictions[~self.scored_removed] = (
                self.scored_train_rows @ fitted.reshape(n, n_lambdas * k)).reshape(
                -1, n_lambdas, k)
        return predictions
