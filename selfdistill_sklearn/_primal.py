"""Self-distillation in the primal form: explicit features and m x m algebra.

The paper states the model with explicit features, ``f(x, beta) = phi(x)^T
beta`` (eq. (1)). With ``Phi`` the ``n x m`` features of the training data,
``W`` the sample weights, ``G = Phi^T W Phi`` and ``r = Phi^T W y``:

    beta(1) = (G + lambda I)^-1 r
    beta(t) = alpha(t) beta(1) + (1 - alpha(t)) M beta(t-1),   M = (G + lambda I)^-1 G
    beta(inf) = (G + (lambda / alpha) I)^-1 r                  (Theorem 4.5)

which is eq. (7) of Theorem 4.1 with the dual coefficients replaced by
``beta``: the map from targets to coefficients is linear, and the training
predictions of ``beta`` enter the next step only through ``G beta``. Every
quantity is a function of sums over rows, which this module receives as
*moments*: for ``Z = [phi(x) - c, 1, y - c_y]`` (a constant shift ``c``,
``c_y`` that keeps the sums well conditioned), the ``p x p`` matrix
``Z^T W Z`` with ``p = m + 1 + k`` holds ``G``, ``Phi^T W 1``, ``1^T W 1``,
``r``, ``1^T W y`` and ``y^T W y`` at once. Moments of disjoint row sets add,
so the moments of cross-validation cells give every fold's training part and
held-out part.

An unpenalised intercept is the centring of ``Phi`` and ``y`` by their
weighted means; the held-out squared error of any ``beta`` is the quadratic
form ``s - 2 beta^T r_h + beta^T G_h beta`` of held-out statistics centred at
the training means. Nothing here knows about scikit-learn or where the rows
come from.
"""

from typing import NamedTuple

import numpy as np
from scipy import linalg

from .closed_forms import (
    SelfDistillationChain,
    limit_reg_lambda,
    optimal_alpha_from_terms,
)

__all__ = [
    "QuadraticStatistics",
    "SpectralFold",
    "augmented_moments",
    "heldout_squared_errors",
    "limit_coefficients",
    "moment_centre",
    "pooled_optimal_alpha",
    "pooled_spectral_schedules",
    "primal_chain",
    "quadratic_optimal_alpha_terms",
    "quadratic_statistics",
    "split_cells",
    "step_weights",
]


class QuadraticStatistics(NamedTuple):
    """Sums over a set of rows, centred at ``(feature_mean, target_mean)``.

    Attributes
    ----------
    gram : ndarray of shape (m, m)
        ``sum_i w_i (phi_i - mu)(phi_i - mu)^T``.
    cross : ndarray of shape (m, k)
        ``sum_i w_i (phi_i - mu)(y_i - nu)^T``.
    squares : ndarray of shape (k,)
        ``sum_i w_i (y_ij - nu_j)^2`` for each output ``j``.
    feature_sum : ndarray of shape (m,)
        ``sum_i w_i (phi_i - mu)``.
    target_sum : ndarray of shape (k,)
        ``sum_i w_i (y_i - nu)``.
    weight : float
        ``sum_i w_i``.
    feature_mean, target_mean : ndarray of shape (m,) and (k,)
        The centre ``mu``, ``nu`` (in the shifted coordinates of the moments).
    """

    gram: np.ndarray
    cross: np.ndarray
    squares: np.ndarray
    feature_sum: np.ndarray
    target_sum: np.ndarray
    weight: float
    feature_mean: np.ndarray
    target_mean: np.ndarray


def augmented_moments(features, targets, sample_weight=None):
    """``Z^T W Z`` for ``Z = [features, 1, targets]``.

    Parameters
    ----------
    features : ndarray of shape (b, m)
    targets : ndarray of shape (b, k)
    sample_weight : ndarray of shape (b,), default=None

    Returns
    -------
    moments : ndarray of shape (m + 1 + k, m + 1 + k)
    """
    b, m = features.shape
    Z = np.empty((b, m + 1 + targets.shape[1]))
    Z[:, :m] = features
    Z[:, m] = 1.0
    Z[:, m + 1:] = targets
    if sample_weight is not None:
        Z *= np.sqrt(sample_weight)[:, None]
    # Z^T Z of one buffer: BLAS computes the symmetric product (syrk), half
    # the flops of a general product.
    return np.dot(Z.T, Z)


def moment_centre(moments, n_features, fit_intercept):
    """The weighted means ``(mu, nu)`` of features and targets, or zeros.

    Raises
    ------
    ValueError
        If the rows carry no weight.
    """
    m = n_features
    k = moments.shape[0] - m - 1
    if not fit_intercept:
        return np.zeros(m), np.zeros(k)
    weight = moments[m, m]
    if not weight > 0:
        raise ValueError("The training rows carry no weight: their means are not defined.")
    return moments[:m, m] / weight, moments[m, m + 1:] / weight


def quadratic_statistics(moments, n_features, feature_mean, target_mean):
    """Centre the moments of a set of rows at ``(mu, nu)``.

    Parameters
    ----------
    moments : ndarray of shape (p, p)
        As returned by :func:`augmented_moments` (or a sum of such).
    n_features : int
        ``m``.
    feature_mean, target_mean : ndarray of shape (m,) and (k,)
        The centre: a training part's own means for its fit, the training
        means for a held-out part (so that its squared errors are quadratic
        forms of the training coefficients).

    Returns
    -------
    statistics : QuadraticStatistics
    """
    m = n_features
    A = moments
    mu = np.asarray(feature_mean, dtype=float)
    nu = np.asarray(target_mean, dtype=float)
    gram_raw, feature_sum_raw, weight = A[:m, :m], A[:m, m], float(A[m, m])
    cross_raw, target_sum_raw = A[:m, m + 1:], A[m, m + 1:]
    gram = (gram_raw - np.outer(feature_sum_raw, mu) - np.outer(mu, feature_sum_raw)
            + weight * np.outer(mu, mu))
    gram = 0.5 * (gram + gram.T)
    cross = (cross_raw - np.outer(feature_sum_raw, nu) - np.outer(mu, target_sum_raw)
             + weight * np.outer(mu, nu))
    squares = np.diag(A[m + 1:, m + 1:]) - 2.0 * target_sum_raw * nu + weight * nu ** 2
    return QuadraticStatistics(gram, cross, np.maximum(squares, 0.0),
                               feature_sum_raw - weight * mu, target_sum_raw - weight * nu,
                               weight, mu, nu)


def primal_chain(gram, cross, reg_lambda):
    """A :class:`~selfdistill_sklearn.closed_forms.SelfDistillationChain` on
    ``G + lambda I``, factored once (Theorem 4.1 in the primal form).

    The chain's "dual coefficients" are the primal ``beta(t)`` and its
    "fitted values" are ``G beta(t)``, the cross statistics of the training
    predictions with the features: solving for them gives ``M beta(t)``.

    Parameters
    ----------
    gram : ndarray of shape (m, m)
    cross : ndarray of shape (m, k)
    reg_lambda : float

    Returns
    -------
    chain : SelfDistillationChain
    """
    system = gram + reg_lambda * np.eye(gram.shape[0])
    try:
        factor = linalg.cho_factor(system, lower=False, check_finite=False)

        def solve(u):
            beta = linalg.cho_solve(factor, u, check_finite=False)
            return beta, gram @ beta
    except linalg.LinAlgError:
        # G is positive semi-definite; only rounding of a centred G far below
        # lambda can break Cholesky, and LU still solves the system.
        lu = linalg.lu_factor(system, check_finite=False)

        def solve(u):
            beta = linalg.lu_solve(lu, u, check_finite=False)
            return beta, gram @ beta
    return SelfDistillationChain(solve, cross)


def limit_coefficients(gram, cross, reg_lambda, alpha):
    """``beta(inf) = (G + (lambda / alpha) I)^-1 r`` (Theorem 4.5, eq. (17));
    zero for ``alpha = 0`` or a penalty that overflows."""
    if alpha == 0 or not np.isfinite(reg_lambda / alpha):
        return np.zeros_like(cross)
    penalty = limit_reg_lambda(reg_lambda, alpha)
    system = gram + penalty * np.eye(gram.shape[0])
    return linalg.solve(system, cross, assume_a="pos", check_finite=False)


def heldout_squared_errors(statistics, coefs):
    """Weighted held-out sums of squared errors of coefficients ``coefs``.

    Parameters
    ----------
    statistics : QuadraticStatistics
        Held-out statistics centred at the training means.
    coefs : ndarray of shape (m, c, k)
        ``c`` candidate coefficient matrices.

    Returns
    -------
    errors : ndarray of shape (c, k)
        ``s - 2 beta^T r + beta^T G beta`` per candidate and output, never
        below zero.
    """
    m, c, k = coefs.shape
    flat = coefs.reshape(m, c * k)
    quadratic = np.einsum("ij,ij->j", flat, statistics.gram @ flat).reshape(c, k)
    linear = np.einsum("ick,ik->ck", coefs, statistics.cross)
    return np.maximum(statistics.squares[None, :] - 2.0 * linear + quadratic, 0.0)


def quadratic_optimal_alpha_terms(first_coef, zero_coef, statistics):
    """Numerator, denominator and scale of eq. (16) from held-out statistics.

    Step ``t`` predicts ``alpha y1 + (1 - alpha) y0`` with ``y1`` from
    ``beta(1)`` and ``y0`` from ``M beta(t-1)`` (Theorem 4.4). With the
    held-out statistics centred at the training means, ``<y1 - y0, y - y0>``
    and ``||y1 - y0||^2`` are quadratic forms in ``d = beta(1) - M
    beta(t-1)``: ``d^T (r - G beta0)`` and ``d^T G d``. The scale
    ``||y1||^2 + ||y0||^2`` is what
    :func:`~selfdistill_sklearn.closed_forms.optimal_alpha_from_terms`
    compares the denominator with.

    Parameters
    ----------
    first_coef, zero_coef : ndarray of shape (m, k)
    statistics : QuadraticStatistics

    Returns
    -------
    numerator, denominator, scale : float
    """
    gram, cross = statistics.gram, statistics.cross
    direction = first_coef - zero_coef
    numerator = float(np.sum(direction * (cross - gram @ zero_coef)))
    denominator = float(np.sum(direction * (gram @ direction)))

    def squared_norm(coef):
        # Predictions are (phi - mu)^T beta + nu on the held-out rows.
        nu = statistics.target_mean
        return (np.sum(coef * (gram @ coef)) + 2.0 * np.sum(nu * (statistics.feature_sum @ coef))
                + statistics.weight * np.sum(nu ** 2))

    scale = float(squared_norm(first_coef) + squared_norm(zero_coef))
    return numerator, denominator, scale


def pooled_optimal_alpha(chains, held_out, clip):
    """Eq. (16) with numerators and denominators summed over validation sets.

    Parameters
    ----------
    chains : list of SelfDistillationChain
        One chain per training part, advanced to the same step.
    held_out : list of QuadraticStatistics
        The matching held-out statistics, centred at each part's means.
    clip : bool

    Returns
    -------
    alpha : float
    """
    numerator = denominator = scale = 0.0
    for chain, statistics in zip(chains, held_out, strict=True):
        num, den, sc = quadratic_optimal_alpha_terms(
            chain.first_dual_coef, chain.zero_alpha_dual_coef(), statistics)
        numerator += num
        denominator += den
        scale += sc
    return optimal_alpha_from_terms(numerator, denominator, clip, scale)


def step_weights(eigenvalues, reg_lambda, alphas):
    """Coordinates of ``beta(t)`` in the eigenbasis of ``G``, per unit of ``U^T r``.

    ``beta(t) = U diag(w(t) / (d + lambda)) U^T r`` with ``w(1) = 1`` and
    ``w(t) = alpha(t) + (1 - alpha(t)) a w(t-1)``, ``a = d / (d + lambda)``
    (Lemma 4.2, eqs. (12)-(13), with ``G``'s eigenvalues ``d``, which are the
    non-zero eigenvalues of ``Phi W Phi^T``).

    Parameters
    ----------
    eigenvalues : ndarray of shape (m,)
    reg_lambda : float
    alphas : ndarray of shape (s, T - 1)
        ``s`` schedules.

    Returns
    -------
    weights : ndarray of shape (m, s, T)
    """
    d = np.asarray(eigenvalues, dtype=float)
    alphas = np.atleast_2d(np.asarray(alphas, dtype=float))
    a = d / (d + reg_lambda)
    inverse = 1.0 / (d + reg_lambda)
    n_schedules, n_later = alphas.shape
    w = np.empty((d.size, n_schedules, n_later + 1))
    w[:, :, 0] = 1.0
    for t in range(n_later):
        w[:, :, t + 1] = alphas[None, :, t] + (1.0 - alphas[None, :, t]) * a[:, None] * w[:, :, t]
    return w * inverse[:, None, None]


class SpectralFold:
    """A training part in the eigenbasis of its ``G``, with held-out parts.

    One eigendecomposition ``G = U diag(d) U^T`` serves every penalty,
    weight and number of steps: candidates are diagonal scalings of
    ``U^T r``, and the held-out squared errors are quadratic forms with
    ``U^T G_h U`` and ``U^T r_h``.

    Parameters
    ----------
    train : QuadraticStatistics
        The training part, centred at its own means.
    held_out : list of QuadraticStatistics
        Held-out parts centred at the training means.
    """

    def __init__(self, train, held_out):
        # Divide and conquer: the fastest LAPACK driver for all eigenpairs.
        d, U = linalg.eigh(train.gram, check_finite=False, driver="evd")
        self.eigenvalues = d
        self.projected = U.T @ train.cross  # (m, k)
        self.held_out = [
            statistics._replace(gram=U.T @ statistics.gram @ U, cross=U.T @ statistics.cross,
                                feature_sum=U.T @ statistics.feature_sum)
            for statistics in held_out
        ]

    def coefficients(self, weights):
        """``weights`` of shape (m, c) to coordinates (m, c, k)."""
        return weights[:, :, None] * self.projected[:, None, :]


def _batched_terms(first, zero, first_gram, statistics):
    """:func:`quadratic_optimal_alpha_terms` for many penalties at once.

    ``first`` and ``zero`` have shape (m, L, k), ``first_gram`` is ``G_h @
    first``; one product ``G_h @ zero`` serves numerator, denominator and
    scale of all ``L`` penalties. Returns three arrays of shape (L,).
    """
    m, n_lambdas, k = zero.shape
    zero_gram = (statistics.gram @ zero.reshape(m, -1)).reshape(m, n_lambdas, k)
    direction = first - zero
    numerator = np.einsum("mlk,mlk->l", direction, statistics.cross[:, None, :] - zero_gram)
    denominator = np.einsum("mlk,mlk->l", direction, first_gram - zero_gram)
    nu = statistics.target_mean
    offsets = np.einsum("m,mlk->lk", statistics.feature_sum, first + zero)
    scale = (np.einsum("mlk,mlk->l", first, first_gram)
             + np.einsum("mlk,mlk->l", zero, zero_gram)
             + 2.0 * np.einsum("k,lk->l", nu, offsets)
             + 2.0 * statistics.weight * np.sum(nu ** 2))
    return numerator, denominator, scale


def pooled_spectral_schedules(folds, reg_lambdas, n_steps, clip):
    """Algorithm 1 with eq. (16) pooled over several training parts (each a
    :class:`SpectralFold` with its held-out part), for every penalty at once.

    Returns
    -------
    schedules : ndarray of shape (n_lambdas, n_steps - 1)
    """
    lambdas = np.asarray(reg_lambdas, dtype=float)
    schedules = np.empty((lambdas.size, max(n_steps - 1, 0)))
    if n_steps < 2:
        return schedules
    firsts, shrinkages, first_grams = [], [], []
    for fold in folds:
        d = fold.eigenvalues[:, None]
        first = fold.projected[:, None, :] / (d + lambdas[None, :])[:, :, None]
        firsts.append(first)
        shrinkages.append((d / (d + lambdas[None, :]))[:, :, None])
        m = first.shape[0]
        first_grams.append([(statistics.gram @ first.reshape(m, -1)).reshape(first.shape)
                            for statistics in fold.held_out])
    coefs = list(firsts)
    for step in range(n_steps - 1):
        numerator = np.zeros(lambdas.size)
        denominator = np.zeros(lambdas.size)
        scale = np.zeros(lambdas.size)
        zeros = []
        for fold, first, shrinkage, grams, coef in zip(folds, firsts, shrinkages, first_grams,
                                                       coefs, strict=True):
            zero = shrinkage * coef
            zeros.append(zero)
            for statistics, first_gram in zip(fold.held_out, grams, strict=True):
                num, den, sc = _batched_terms(first, zero, first_gram, statistics)
                numerator += num
                denominator += den
                scale += sc
        alphas = np.array([optimal_alpha_from_terms(num, den, clip, sc)
                           for num, den, sc in zip(numerator, denominator, scale, strict=True)])
        schedules[:, step] = alphas
        weights = alphas[None, :, None]
        coefs = [weights * first + (1.0 - weights) * zero
                 for first, zero in zip(firsts, zeros, strict=True)]
    return schedules


def split_cells(splits, n_samples):
    """Partition the rows by their role in every split.

    A row's role in a split is 0 (unused), 1 (training) or 2 (held out);
    rows with the same roles in every split form a cell. The training and
    held-out parts of every split, and of intersections of splits, are
    unions of cells, so one pass that sums each cell's moments serves them
    all. K-fold splits give K cells.

    Parameters
    ----------
    splits : list of (train, test) index arrays
    n_samples : int

    Returns
    -------
    cell_roles : ndarray of shape (n_cells, n_splits)
        Role of each cell in each split.
    labels : ndarray of shape (n_samples,)
        Cell of each row.

    Raises
    ------
    ValueError
        If a split has an empty part or a row both in training and held out.
    """
    n_splits = len(splits)
    roles = np.zeros((n_samples, n_splits), dtype=np.int8)
    for index, (train, test) in enumerate(splits):
        train, test = np.asarray(train), np.asarray(test)
        if train.size == 0 or test.size == 0:
            raise ValueError(f"cv split {index} has an empty training or held-out part: "
                             "every split needs both.")
        roles[train, index] = 1
        if np.any(roles[test, index] == 1):
            raise ValueError(f"cv split {index} holds samples both in its training and its "
                             "held-out part.")
        roles[test, index] = 2
    if n_splits <= 39:
        # Base-3 codes sort as integers, far faster than rows of a matrix.
        codes = roles.astype(np.int64) @ (3 ** np.arange(n_splits, dtype=np.int64))
        unique, labels = np.unique(codes, return_inverse=True)
        cell_roles = (unique[:, None] // (3 ** np.arange(n_splits))[None, :]) % 3
    else:
        cell_roles, labels = np.unique(roles, axis=0, return_inverse=True)
    return cell_roles.astype(np.int8), labels.reshape(-1)
