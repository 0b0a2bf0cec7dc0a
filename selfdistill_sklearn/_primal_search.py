"""Fits and cross-validated searches of the primal form from the moments of cells.

One pass over the data gives the :class:`~selfdistill_sklearn._primal.Moments`
of every cell (rows with the same role in every split); a fold's training
part pools its cells, its held-out part is seen from the training part's
centre (:func:`~selfdistill_sklearn._primal.held_out_part`), and every
candidate is a diagonal scaling in the eigenbasis of the fold's ``G``
(Lemma 4.2; Theorem 4.5 for the limit; Theorem 4.4, eq. (16) pooled over
folds for ``"optimal"``). Functions of arrays: the estimators in
:mod:`selfdistill_sklearn.ridge` call them after the pass.
"""

import math
import warnings

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning

from . import gcv
from ._array_api import to_numpy
from ._candidates import gcv_search_results, grid_results, unique_columns
from ._primal import (
    Moments,
    SpectralFold,
    held_out_part,
    heldout_squared_errors,
    pooled_spectral_schedules,
    spectral_coefficients,
    step_weights,
    training_part,
    warn_if_singular,
)

__all__ = [
    "PRIMAL_SCORINGS",
    "cross_validated_alphas",
    "fit_from_moments",
    "gcv_alphas",
    "gcv_search",
    "gcv_spectrum",
    "search",
    "spectral_fold",
]


def _select(cells, mask):
    return [cells[index] for index in np.flatnonzero(mask)]


def spectral_fold(cells, train_cells, test_cells, m, fit_intercept):
    """A :class:`~selfdistill_sklearn._primal.SpectralFold` on the cells of
    ``train_cells`` with the cells of ``test_cells`` held out (boolean masks)."""
    train = training_part(_select(cells, train_cells), m, fit_intercept)
    return SpectralFold(train, [held_out_part(_select(cells, test_cells), train, m)])


def fit_from_moments(cells, cell_roles, validation, m, fit_intercept, alpha, n_steps,
                     reg_lambda, clip, *, by_gcv=False, fold=None):
    """Every step of a fit from the moments of the cells.

    Parameters
    ----------
    cells : list of Moments
        Of ``[phi(x), y]``; their union is the training data.
    cell_roles : ndarray of shape (n_cells, n_splits) or None
        Roles of the cells in the folds of ``alpha="optimal"``.
    validation : Moments or None
        Of the validation data (with a QR root), for ``alpha="optimal"``.
    alpha : CheckedAlpha
    n_steps : int or math.inf
    by_gcv : bool, default=False
        Choose the weights of ``alpha="optimal"`` by generalised
        cross-validation on the training data (:func:`gcv_alphas`), without
        folds or validation data.
    fold : SpectralFold, default=None
        The decomposition of the union of ``cells`` without held-out parts,
        when the caller has already made it (a GCV search); it is not made
        again.

    Returns
    -------
    betas : ndarray of shape (T, m, k)
    intercepts : ndarray of shape (T, k)
    alphas : ndarray
        ``alphas_``.
    eigenvalues : ndarray of shape (m,)
        Of ``G`` (centred with an intercept).

    Warns
    -----
    scipy.linalg.LinAlgWarning
        When ``G + lambda I`` is numerically singular beyond what a wide
        ``Phi`` forces (see :meth:`SpectralFold.singular`).
    """
    if fold is None:
        if validation is not None or cell_roles is not None:
            # Held-out errors are norms of QR roots, which only NumPy's LAPACK
            # updates (tpqrt): the search runs in NumPy.
            cells = [_numpy_moments(cell) for cell in cells]
        train = training_part(cells, m, fit_intercept)
        held = [] if validation is None else [held_out_part([validation], train, m)]
        fold = SpectralFold(train, held)
    train = fold.train
    warn_if_singular(fold, reg_lambda)
    if n_steps == math.inf:
        betas = spectral_coefficients(fold, reg_lambda, None, limit_alpha=alpha.value)
        alphas = np.array([alpha.value])
    else:
        if alpha.is_optimal and n_steps > 1:
            if by_gcv:
                schedule = gcv_alphas(fold, reg_lambda, n_steps, clip)
            elif validation is not None:
                schedule = pooled_spectral_schedules([fold], [reg_lambda], n_steps, clip)[0]
            else:
                schedule = cross_validated_alphas(cells, cell_roles, m, fit_intercept, n_steps,
                                                  reg_lambda, clip)
        else:
            schedule = np.array([alpha.weight(step) for step in range(n_steps - 1)],
                                dtype=float)
        betas = spectral_coefficients(fold, reg_lambda, schedule)
        alphas = schedule
    if fold.xp is None:
        offsets = np.einsum("m,tmk->tk", train.feature_mean, betas)
    else:
        offsets = fold.xp.sum(train.feature_mean[None, :, None] * betas, axis=1)
    intercepts = train.target_mean[None, :] - offsets
    return betas, intercepts, alphas, fold.eigenvalues


def _numpy_moments(moments):
    """``moments`` with NumPy arrays (from another namespace's)."""
    if moments.xp is None:
        return moments
    return Moments(moments.weight, moments.count, moments.positive, to_numpy(moments.mean),
                   comoment=to_numpy(moments.comoment))


def cross_validated_alphas(cells, cell_roles, m, fit_intercept, n_steps, reg_lambda, clip):
    """Algorithm 1 on the folds, eq. (16) pooled over them at every step; each
    fold's parts are unions of cells."""
    folds = [spectral_fold(cells, cell_roles[:, split] == 1, cell_roles[:, split] == 2, m,
                           fit_intercept)
             for split in range(cell_roles.shape[1])]
    return pooled_spectral_schedules(folds, [reg_lambda], n_steps, clip)[0]


def gcv_spectrum(fold):
    """:class:`~selfdistill_sklearn.gcv.GCVSpectrum` of a fold's training part
    from its decomposition (DESIGN §7): the eigenvalues of the centred
    weighted ``G``, ``c_k^2 = (u_k^T r)^2 / d_k``, and the residual outside
    the span of the features ``s - sum_k c_k^2`` (clipped at 0) from the
    stable centred moments."""
    train = fold.train
    # m numbers: in NumPy whatever the namespace of the fold.
    return gcv.primal_spectrum_from_eigh(to_numpy(fold.eigenvalues), to_numpy(fold.projected),
                                         to_numpy(train.target_sum_of_squares), train.positive,
                                         train.weight, train.fit_intercept)


def gcv_alphas(fold, reg_lambda, n_steps, clip):
    """The GCV-optimal weights ``alpha(2), ..., alpha(n_steps)`` of one penalty
    (:func:`~selfdistill_sklearn.gcv.gcv_optimal_schedules`)."""
    return gcv.gcv_optimal_schedules(gcv_spectrum(fold), [reg_lambda], n_steps, clip)[0][0]


def gcv_search(cells, m, grid, fit_intercept, clip):
    """Score every candidate of ``grid`` by GCV on the union of ``cells``; see
    :class:`~selfdistill_sklearn.ridge.SelfDistilledRidgeCV` with ``cv=None``.

    Returns
    -------
    result : dict
        As :func:`~selfdistill_sklearn._candidates.gcv_search_results`,
        ``fold``, the :class:`SpectralFold` of all the data, for the refit,
        and ``grid``, with ``reg_lambdas="auto"`` resolved on its scale.
    """
    fold = SpectralFold(training_part(cells, m, fit_intercept))
    grid = _resolved(grid, fold)
    result = gcv_search_results(gcv_spectrum(fold), grid, clip)
    result["fold"] = fold
    result["grid"] = grid
    return result


def _resolved(grid, fold):
    """``grid`` with ``reg_lambdas="auto"`` placed on the scale of the
    largest eigenvalue of ``fold``'s ``G`` (weighted, centred with an
    intercept), to which the penalty is added."""
    return grid.resolved(lambda: _largest_magnitude(fold.eigenvalues))


def _largest_magnitude(values):
    """``max |values|`` as a float (0 for none), for arrays of any namespace."""
    if not values.shape[0]:
        return 0.0
    import array_api_compat

    xp = array_api_compat.array_namespace(values)
    return float(xp.max(xp.abs(values)))


#: Most bytes of decompositions kept for the inner folds that share them.
_SHARED_BYTES = 2 ** 28


class _SharedTraining:
    """Inner folds whose training parts are shared, each decomposed once.

    Inner fold ``(k, j)`` of a K-fold search trains on the cells outside folds
    ``k`` and ``j``, as inner fold ``(j, k)`` does: ``K (K - 1)`` inner folds
    have ``K (K - 1) / 2`` training parts. A decomposition is kept from its
    first use to its last (at most :data:`_SHARED_BYTES` of them; beyond, it
    is made again, with the same result).

    Parameters
    ----------
    uses : dict
        Number of inner folds of each training part (keyed by its cell mask's
        bytes).
    """

    def __init__(self, cells, m, fit_intercept, uses):
        self.cells, self.m, self.fit_intercept = cells, m, fit_intercept
        self.uses = dict(uses)
        self.kept = {}
        self.size = 0

    def fold(self, train_cells, test_cells):
        key = train_cells.tobytes()
        base = self.kept.get(key)
        if base is None:
            base = SpectralFold(training_part(_select(self.cells, train_cells), self.m,
                                              self.fit_intercept))
        size = 2 * base.vectors.nbytes  # the vectors and the training moments
        self.uses[key] -= 1
        if self.uses[key] > 0 and key not in self.kept and self.size + size <= _SHARED_BYTES:
            self.kept[key] = base
            self.size += size
        elif self.uses[key] == 0 and key in self.kept:
            del self.kept[key]
            self.size -= size
        return base.holding_out([held_out_part(_select(self.cells, test_cells), base.train,
                                               self.m)])


def _inner_parts(cell_roles, split, other):
    train_cells = cell_roles[:, split] == 1
    return (train_cells & (cell_roles[:, other] == 1), train_cells & (cell_roles[:, other] == 2))


def candidate_weights(eigenvalues, grid, reg_lambda, schedule):
    """Eigen-coordinates per unit of ``U^T r`` of every row of one penalty
    (see :class:`~selfdistill_sklearn._candidates.CandidateGrid`), shape (m,
    n_rows)."""
    d = eigenvalues
    steps = limits = optimal = None
    if grid.fixed:
        constant = np.repeat(np.asarray(grid.fixed)[:, None], grid.max_steps - 1, axis=1)
        steps = step_weights(d, reg_lambda, constant).reshape(d.size, -1)
        limits = np.zeros((d.size, len(grid.fixed)))
        for index, alpha in enumerate(grid.fixed):
            if alpha > 0 and np.isfinite(reg_lambda / alpha):
                limits[:, index] = 1.0 / (d + reg_lambda / alpha)
    if schedule is not None:
        optimal = step_weights(d, reg_lambda, schedule[None, :])[:, 0]
    return grid.rows(steps, limits, optimal)


def search(cells, cell_roles, m, grid, scorer, fit_intercept, clip):
    """Score every candidate of ``grid`` on every split; see
    :class:`~selfdistill_sklearn.ridge.SelfDistilledRidgeCV`.

    Returns
    -------
    result : dict
        ``cv_results``, ``best_index``, ``best_score``, ``best_params``,
        with ``"optimal"`` in the grid ``optimal_alphas``, ``fold``, the
        :class:`SpectralFold` of all the cells (no held-out part), which
        places ``reg_lambdas="auto"`` and serves the refit, and ``grid``
        with ``"auto"`` resolved.
    """
    full = SpectralFold(training_part(cells, m, fit_intercept))
    grid = _resolved(grid, full)
    lambdas, max_steps, with_optimal = grid.lambdas, grid.max_steps, grid.with_optimal
    n_splits = cell_roles.shape[1]
    scores = np.empty((grid.n_candidates, n_splits))
    schedules = np.empty((n_splits, lambdas.size, max_steps - 1))
    uses = {}
    for split in range(n_splits):
        for other in range(n_splits):
            inner_train, inner_test = _inner_parts(cell_roles, split, other)
            if other != split and inner_train.any() and inner_test.any():
                uses[inner_train.tobytes()] = uses.get(inner_train.tobytes(), 0) + 1
    shared = _SharedTraining(cells, m, fit_intercept, uses)
    for split in range(n_splits):
        train_cells = cell_roles[:, split] == 1
        test_cells = cell_roles[:, split] == 2
        fold = spectral_fold(cells, train_cells, test_cells, m, fit_intercept)
        if not fold.held_out[0].weight > 0:
            raise ValueError(f"Held-out fold {split} has only zero sample weights: its "
                             "weighted error is not defined.")
        if with_optimal and max_steps > 1:
            inner = []
            for other in range(n_splits):
                inner_train, inner_test = _inner_parts(cell_roles, split, other)
                if other == split or not inner_train.any() or not inner_test.any():
                    continue
                inner.append(shared.fold(inner_train, inner_test))
            if not inner:
                raise ValueError(
                    "alpha='optimal' is chosen inside each fold on the other folds, but "
                    f"fold {split}'s training part meets no other fold's held-out part: "
                    "use a cv with at least 3 folds or drop 'optimal' from alphas."
                )
            schedules[split] = pooled_spectral_schedules(inner, lambdas, max_steps, clip)
        held_out = fold.held_out[0]
        for index, reg_lambda in enumerate(lambdas):
            weights = candidate_weights(fold.eigenvalues, grid, reg_lambda,
                                        schedules[split, index] if with_optimal else None)
            unique, inverse = unique_columns(weights)
            errors = heldout_squared_errors(held_out, fold.coefficients(unique))
            grid.scatter(index, scorer(errors, held_out)[inverse], scores[:, split])
    cv_results = grid_results(grid.params(), scores)
    best_index = int(cv_results["rank_test_score"].argmin())
    result = {"cv_results": cv_results, "best_index": best_index,
              "best_score": float(cv_results["mean_test_score"][best_index]),
              "best_params": dict(cv_results["params"][best_index]), "fold": full,
              "grid": grid}
    if with_optimal:
        result["optimal_alphas"] = schedules
    return result


def neg_mse(errors, held_out):
    return -np.mean(errors / held_out.weight, axis=-1)


def neg_rmse(errors, held_out):
    return -np.mean(np.sqrt(errors / held_out.weight), axis=-1)


def r2(errors, held_out):
    """``r2_score`` from held-out errors: NaN with scikit-learn's warning for
    fewer than two samples; 1 (perfect) or 0 for constant targets."""
    if held_out.count < 2:
        warnings.warn("R^2 score is not well-defined with less than two samples.",
                      UndefinedMetricWarning, stacklevel=2)
        return np.full(errors.shape[:-1], np.nan)
    total = held_out.total
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(total > 0, 1.0 - errors / total, np.where(errors == 0, 1.0, 0.0))
    return np.mean(scores, axis=-1)


#: Scorings that :class:`~selfdistill_sklearn.ridge.SelfDistilledRidgeCV`
#: computes from the held-out statistics, with scikit-learn's names and
#: signs; several outputs are averaged uniformly, as the scorers do.
PRIMAL_SCORINGS = {
    "neg_mean_squared_error": neg_mse,
    "neg_root_mean_squared_error": neg_rmse,
    "r2": r2,
}
