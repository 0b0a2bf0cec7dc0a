"""Generalised cross-validation over the whole self-distillation chain.

With a fixed schedule every step of the chain is a linear smoother: by
Lemma 4.2 (eq. (10)) the training predictions of step ``t`` are
``y(t) = V B(t) V^T y``, with an unpenalised intercept plus the (weighted)
averaging projection. Generalised cross-validation (Craven & Wahba 1979;
Golub, Heath & Wahba 1979) scores such a smoother without folds,

    GCV = (RSS_w / sum(w)) / (1 - tr H / n)^2,

``RSS_w = sum_i w_i (y_i - (H y)_i)^2`` and ``tr H`` its effective degrees
of freedom. After ONE eigendecomposition ``S K_c S = V diag(d) V^T`` of the
weighted, centred kernel matrix (``S = diag(sqrt(w))``, ``K_c`` centred by
the weighted mean when there is an intercept, the plain ``K`` otherwise)
and the projections ``z = V^T S (y - ybar_w)``, every candidate
``(lambda, alpha, tau)`` costs ``O(n)``:

    a = d / (d + lambda),   b(1) = a,   b(t) = a ((1 - alpha) b(t-1) + alpha),
    b(inf) = alpha d / (alpha d + lambda)         (Theorem 4.5, eq. (17)),
    RSS_w = R0 + sum_k (1 - b_k)^2 z_k^2,  tr H = [intercept] + sum_k b_k,

where ``R0`` is the squared norm of the (weighted, centred) targets outside
the span of the eigenvectors: 0 for the kernel form, the least-squares
residual for the primal form (:func:`primal_spectrum`). ``1 - b(t)`` is
carried by its own recursion ``1 - b(t) = lambda / (d + lambda) + a (1 -
alpha) (1 - b(t-1))``, so that residual factors close to 0 keep their
relative accuracy.

Conventions fixed here, and why:

* **Sample weights.** The weighted fit is the smoother ``S H S^-1`` of the
  scaled targets ``S y`` (the same trace as ``H``). The residual sum of
  squares is weighted, and divided by ``sum(w)``, so that ``GCV`` estimates
  the weighted mean squared error that the folds of
  :class:`~selfdistill_sklearn.SelfDistilledKernelRidgeCV` score (it is
  ``n RSS / (n - tr H)^2`` without weights). ``n`` is the number of samples
  with a *positive* weight: a sample of weight 0 does not change the fit,
  the residuals or the trace, so GCV with it equals GCV without it.
* **Several targets.** The ``k`` columns share one smoother, hence one
  trace; GCV of ``k`` targets is the mean of the ``k`` per-column GCV
  values, i.e. the pooled ``RSS`` divided by ``k``, as scikit-learn's
  ``neg_mean_squared_error`` averages outputs uniformly. Only the pooled
  squared projections ``sum_j z_kj^2`` are then needed, and the GCV-optimal
  weight pools the terms of its closed form over columns, as the
  Frobenius inner products of Theorem 4.4 do for ``alpha*``.
* **Degenerate smoothers.** Where ``tr H >= n`` (interpolation) GCV is
  undefined and reported as ``inf``.

The GCV-optimal weight of step ``t`` has a closed form
(:func:`gcv_optimal_alpha_from_terms`). Exact leave-one-out has none beyond
``t = 1``: the chain fitted on ``n - 1`` samples is not the chain on ``n``
samples with one target replaced (every later step refits on the previous
step's predictions, which the held-out sample also moved), so the
leave-one-out shortcut of ridge regression does not carry over. GCV is the
rotation-invariant approximation of leave-one-out (Golub, Heath & Wahba
1979) that does.

Nothing here knows about scikit-learn or torch: numpy and scipy only.

Examples
--------
>>> import numpy as np
>>> from selfdistill_sklearn import gcv
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(30, 2))
>>> y = X[:, 0] + 0.1 * rng.normal(size=30)
>>> spectrum = gcv.kernel_matrix_spectrum(X @ X.T, y)
>>> scores, dof, limit_scores, limit_dof = gcv.gcv_grid(spectrum, [0.1, 1.0], [0.0, 0.5], 3)
>>> scores.shape, limit_scores.shape
((2, 2, 3), (2, 2))
>>> bool(dof.max() < 3)  # two features and the intercept
True
>>> alphas, *_ = gcv.gcv_optimal_schedules(spectrum, [0.1, 1.0], 3)
>>> alphas.shape
(2, 2)
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy import linalg, optimize
from scipy.linalg import lapack

from ._solvers import _constant_complement, _reflect, _scale_in_place, _sqrt_weights
from .closed_forms import DEGENERATE_ALPHA

__all__ = [
    "GCVSpectrum",
    "effective_dof",
    "equivalent_reg_lambda",
    "gcv_grid",
    "gcv_optimal_alpha_from_terms",
    "gcv_optimal_schedules",
    "gcv_schedule",
    "gcv_value",
    "kernel_eigenvalues",
    "kernel_matrix_spectrum",
    "kernel_spectrum",
    "limit_effective_dof",
    "primal_spectrum",
    "primal_spectrum_from_eigh",
]


@dataclass(frozen=True)
class GCVSpectrum:
    """What GCV needs of one training set: the spectrum and the targets in it.

    Build it with :func:`kernel_spectrum`, :func:`kernel_matrix_spectrum` or
    :func:`primal_spectrum`.

    Parameters
    ----------
    eigenvalues : ndarray of shape (q,)
        ``d``: eigenvalues of the weighted (and, with an intercept, centred)
        kernel matrix, or of the centred weighted Gram matrix ``G``.
    squared_projections : ndarray of shape (q,)
        ``sum_j z_kj^2`` over the target columns ``j``.
    residual : float
        ``R0``: the weighted squared norm of the centred targets outside the
        span of the eigenvectors, summed over columns.
    n_samples : int
        ``n``: the number of samples with a positive weight.
    weight_sum : float
        ``sum(w)`` (``n`` without weights).
    n_targets : int
        ``k``, the number of target columns.
    fit_intercept : bool
        Whether the smoother includes the unpenalised intercept (one more
        degree of freedom).

    See Also
    --------
    kernel_matrix_spectrum : The spectrum of a kernel matrix, from one decomposition.
    primal_spectrum : The spectrum of the centred moments of the primal form.
    gcv_grid : GCV of every step and of the limit over a grid.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.metrics.pairwise import rbf_kernel
    >>> from selfdistill_sklearn.gcv import gcv_grid, kernel_matrix_spectrum
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(50, 1))
    >>> y = np.sin(6 * X[:, 0]) + rng.normal(scale=0.1, size=50)
    >>> spectrum = kernel_matrix_spectrum(rbf_kernel(X, gamma=10.0), y)
    >>> spectrum.eigenvalues.shape, spectrum.n_samples
    ((49,), 50)
    >>> scores, dof, limit_scores, limit_dof = gcv_grid(spectrum, [0.1, 1.0], [0.5], n_steps=3)
    >>> scores.shape, limit_scores.shape
    ((2, 1, 3), (2, 1))
    """

    eigenvalues: np.ndarray
    squared_projections: np.ndarray
    residual: float
    n_samples: int
    weight_sum: float
    n_targets: int
    fit_intercept: bool

    @property
    def intercept_dof(self):
        """1 with an intercept, else 0."""
        return 1.0 if self.fit_intercept else 0.0


def _weights(sample_weight, n):
    if sample_weight is None:
        return None, n, float(n)
    w = np.asarray(sample_weight, dtype=float).reshape(n)
    return w, int(np.count_nonzero(w > 0)), float(np.sum(w))


def kernel_spectrum(eigenvalues, eigenvectors, y, sample_weight=None, fit_intercept=True):
    """:class:`GCVSpectrum` of a kernel matrix from its eigendecomposition.

    Parameters
    ----------
    eigenvalues : array-like of shape (q,)
        Eigenvalues of ``S K_c S`` (with an intercept, ``q = n - 1`` from
        ``_solvers.weighted_centred_kernel_eigh``)
        or of ``S K S`` (without, ``q = n``).
    eigenvectors : array-like of shape (n, q)
        The matching orthonormal eigenvectors (with an intercept, orthogonal
        to ``sqrt(w)``).
    y : array-like of shape (n,) or (n, k)
        Targets.
    sample_weight : array-like of shape (n,), default=None
        Non-negative weights, at least one positive.
    fit_intercept : bool, default=True
        Whether the targets are centred by their weighted mean and the
        intercept counted as a degree of freedom.

    Returns
    -------
    spectrum : GCVSpectrum
        With ``residual = 0``: ``z = V^T S (y - ybar_w)`` holds all of the
        centred targets' weighted norm, up to the directions that ``V``
        leaves out (the zero-weight samples, and ``sqrt(w)`` with an
        intercept), in which they have none.
    """
    d = np.asarray(eigenvalues, dtype=float)
    V = np.asarray(eigenvectors, dtype=float)
    y = np.asarray(y, dtype=float)
    n = y.shape[0]
    w, n_positive, weight_sum = _weights(sample_weight, n)
    if fit_intercept:
        y = y - np.average(y, axis=0, weights=w)
    scaled = y if w is None else np.sqrt(w).reshape((-1,) + (1,) * (y.ndim - 1)) * y
    z = V.T @ scaled
    z2 = z ** 2 if z.ndim == 1 else np.sum(z ** 2, axis=1)
    return GCVSpectrum(d, z2, 0.0, n_positive, weight_sum, 1 if y.ndim == 1 else y.shape[1],
                       bool(fit_intercept))


def _weighted_matrix(kernel_matrix, sample_weight, fit_intercept, targets=None):
    """``S K S`` (on the complement of ``s = sqrt(w)`` with an intercept, where
    the reflector of that complement is applied to ``targets`` too, whose
    first coordinate, along ``s``, is dropped)."""
    n = kernel_matrix.shape[0]
    sqrt_w = _sqrt_weights(sample_weight, n)
    matrix = _scale_in_place(np.array(kernel_matrix, dtype=float, order="F"), sqrt_w)
    if not fit_intercept:
        return matrix, targets
    v, beta = _constant_complement(sqrt_w, n)
    matrix = np.asfortranarray(_reflect(matrix, v, beta)[1:, 1:])
    if targets is not None:
        targets = (targets - beta * np.outer(v, v @ targets))[1:]
    return matrix, targets


def _clean(eigenvalues):
    """Negative eigenvalues within rounding of zero set to 0, as
    :func:`~selfdistill_sklearn._solvers.weighted_kernel_eigh` does."""
    if eigenvalues.size:
        rounding = eigenvalues.size * np.finfo(float).eps * max(abs(eigenvalues[-1]),
                                                                abs(eigenvalues[0]))
        eigenvalues[(eigenvalues < 0) & (eigenvalues > -rounding)] = 0.0
    return eigenvalues


def _tridiagonal(matrix):
    """LAPACK's Householder reduction of a symmetric matrix in its memory:
    the diagonal and off-diagonal of ``T`` and the reflectors of ``Q``."""
    n = matrix.shape[0]
    lwork = max(int(lapack.dsytrd_lwork(n, lower=1)[0]), n)
    reduced, diagonal, off_diagonal, tau, info = lapack.dsytrd(matrix, lower=1, lwork=lwork,
                                                               overwrite_a=1)
    if info != 0:
        raise linalg.LinAlgError(f"dsytrd failed with info={info}.")
    return reduced, diagonal, off_diagonal, tau


def kernel_matrix_spectrum(kernel_matrix, y, sample_weight=None, fit_intercept=True):
    """:class:`GCVSpectrum` of a training kernel matrix, from one decomposition.

    GCV needs the eigenvalues and the projections ``z = V^T S (y -
    ybar_w)``, not the eigenvectors themselves: the (weighted, centred)
    kernel matrix is reduced to tridiagonal form ``Q T Q^T`` (LAPACK's
    ``dsytrd``, ``4 n^3 / 3`` flops), ``Q^T`` is applied to the targets
    through its reflectors, and only ``T`` is diagonalised with its
    eigenvectors (``O(n^2)``): about a third of the time of a full
    eigendecomposition with eigenvectors, the same numbers as
    :func:`kernel_spectrum` on it.

    Parameters
    ----------
    kernel_matrix : ndarray of shape (n, n)
        Symmetric training kernel matrix ``K`` (not modified).
    y : array-like of shape (n,) or (n, k)
        Targets.
    sample_weight : array-like of shape (n,), default=None
        Non-negative weights, at least one positive.
    fit_intercept : bool, default=True
        Whether the targets are centred by their weighted mean and the
        intercept counted as a degree of freedom.

    Returns
    -------
    spectrum : GCVSpectrum
        As :func:`kernel_spectrum` gives it for the same kernel matrix.
    """
    y = np.asarray(y, dtype=float)
    n = y.shape[0]
    w, n_positive, weight_sum = _weights(sample_weight, n)
    if fit_intercept:
        y = y - np.average(y, axis=0, weights=w)
    targets = y.reshape(n, -1)
    if w is not None:
        targets = np.sqrt(w)[:, None] * targets
    matrix, targets = _weighted_matrix(kernel_matrix, w, fit_intercept, targets)
    m = matrix.shape[0]
    if m <= 2:
        d, V = linalg.eigh(matrix, check_finite=False)
        z = V.T @ targets
    else:
        reduced, diagonal, off_diagonal, tau = _tridiagonal(matrix)
        # Q = diag(1, Q'), Q' the product of the reflectors below the subdiagonal.
        rotated = np.array(targets, order="F")
        rotated[1:], _, info = lapack.dormqr("L", "T", reduced[1:, :-1], tau[:m - 1],
                                             np.asfortranarray(targets[1:]),
                                             lwork=max(64 * m, 1))
        if info != 0:
            raise linalg.LinAlgError(f"dormqr failed with info={info}.")
        del reduced
        d, W = linalg.eigh_tridiagonal(diagonal, off_diagonal, check_finite=False)
        z = W.T @ rotated
    d = _clean(d)
    z2 = np.sum(z ** 2, axis=1)
    return GCVSpectrum(d, z2, 0.0, n_positive, weight_sum, 1 if y.ndim == 1 else y.shape[1],
                       bool(fit_intercept))


def kernel_eigenvalues(kernel_matrix, sample_weight=None, fit_intercept=True):
    """Return the eigenvalues of the weighted kernel matrix, without eigenvectors.

    The eigenvalues of ``S K S`` (with an intercept, of ``S K_c S`` on the
    complement of ``sqrt(w)``): a tridiagonal reduction and the eigenvalues
    of ``T``.

    Parameters
    ----------
    kernel_matrix : ndarray of shape (n, n)
        Symmetric training kernel matrix ``K`` (not modified).
    sample_weight : array-like of shape (n,), default=None
        Non-negative weights ``w``, ``S = diag(sqrt(w))``; ``None`` weighs
        every sample 1.
    fit_intercept : bool, default=True
        Whether the kernel matrix is centred (the intercept's direction
        removed).

    Returns
    -------
    eigenvalues : ndarray of shape (q,)
        Ascending, ``q = n - 1`` with an intercept, else ``n``.
    """
    n = kernel_matrix.shape[0]
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=float).reshape(n)
    matrix, _ = _weighted_matrix(kernel_matrix, w, fit_intercept)
    if matrix.shape[0] <= 2:
        return _clean(linalg.eigvalsh(matrix, check_finite=False))
    _, diagonal, off_diagonal, _ = _tridiagonal(matrix)
    return _clean(linalg.eigvalsh_tridiagonal(diagonal, off_diagonal, check_finite=False))


def primal_spectrum(gram, moment, target_sum_of_squares, n_samples, weight_sum=None,
                    fit_intercept=True):
    """:class:`GCVSpectrum` from centred sufficient statistics (the primal form).

    With features ``Phi`` and targets centred by their weighted means when
    there is an intercept (``Phi_c``, ``y_c``), ``G = Phi_c^T W Phi_c = U
    diag(d) U^T``, ``r = Phi_c^T W y_c`` and ``s = y_c^T W y_c``. The
    squared projections of the scaled targets on the left singular vectors
    are ``c_k^2 = (u_k^T r)^2 / d_k`` for ``d_k > 0`` (DESIGN §7), and the
    residual outside the span of the features is ``s - sum_k c_k^2``, clipped
    at 0. That difference loses digits when the targets are nearly in the
    span; the statistics must be formed stably (centred moments).

    Parameters
    ----------
    gram : array-like of shape (m, m)
        ``G``, symmetric positive semi-definite.
    moment : array-like of shape (m,) or (m, k)
        ``r``.
    target_sum_of_squares : float or array-like of shape (k,)
        ``s`` (per target column, or already summed).
    n_samples : int
        Number of samples with a positive weight.
    weight_sum : float, default=None
        ``sum(w)``; ``n_samples`` when None (no weights).
    fit_intercept : bool, default=True
        Whether the statistics are centred and the intercept counted.

    Returns
    -------
    spectrum : GCVSpectrum
        Eigenvalues with ``d_k <= m eps max(d)`` are set to 0 (those
        directions count as outside the span).
    """
    G = np.asarray(gram, dtype=float)
    r = np.asarray(moment, dtype=float)
    d, U = linalg.eigh(G, check_finite=False)
    tolerance = G.shape[0] * np.finfo(float).eps * max(abs(d[-1]), 0.0) if d.size else 0.0
    d = np.where(d > tolerance, d, 0.0)
    return primal_spectrum_from_eigh(d, U.T @ r, target_sum_of_squares, n_samples, weight_sum,
                                     fit_intercept)


def primal_spectrum_from_eigh(eigenvalues, projected_moment, target_sum_of_squares, n_samples,
                              weight_sum=None, fit_intercept=True):
    """:class:`GCVSpectrum` from an eigendecomposition already made.

    As :func:`primal_spectrum`, given ``G = U diag(d) U^T`` (as a primal fit
    makes it) instead of ``G``.

    Parameters
    ----------
    eigenvalues : array-like of shape (m,)
        ``d``, with the eigenvalues at rounding level already set to 0:
        only ``d_k > 0`` count as inside the span of the features.
    projected_moment : array-like of shape (m,) or (m, k)
        ``U^T r``.
    target_sum_of_squares : float or array-like of shape (k,)
        ``s`` (per target column, or already summed).
    n_samples : int
        Number of samples with a positive weight.
    weight_sum : float, default=None
        ``sum(w)``; ``n_samples`` when None (no weights).
    fit_intercept : bool, default=True
        Whether the statistics are centred and the intercept counted.

    Returns
    -------
    spectrum : GCVSpectrum
        Eigenvalues ``d_k > 0`` with squared projections ``c_k^2 = (u_k^T
        r)^2 / d_k`` and the residual ``s - sum_k c_k^2`` clipped at 0, as
        :func:`primal_spectrum` returns them.
    """
    d = np.asarray(eigenvalues, dtype=float)
    projected = np.asarray(projected_moment, dtype=float)
    positive = d > 0
    # (u^T r / sqrt(d))^2, not (u^T r)^2 / d: features of 1e150 give u^T r
    # of 1e154 and more, whose square overflows while c_k is of y's size.
    scaled = projected[positive] / np.sqrt(d[positive]).reshape((-1,) + (1,) * (projected.ndim - 1))
    z2 = np.zeros_like(d)
    z2[positive] = scaled ** 2 if projected.ndim == 1 else np.sum(scaled ** 2, axis=1)
    total = float(np.sum(target_sum_of_squares))
    residual = max(total - float(np.sum(z2)), 0.0)
    return GCVSpectrum(np.where(positive, d, 0.0), z2, residual, int(n_samples),
                       float(n_samples if weight_sum is None else weight_sum),
                       1 if projected.ndim == 1 else projected.shape[1], bool(fit_intercept))


def gcv_value(rss, dof, spectrum):
    """``GCV = (RSS / (sum(w) k)) / (1 - dof / n)^2``, ``inf`` where ``dof >= n``.

    Parameters
    ----------
    rss : array-like
        Weighted residual sums of squares, pooled over the ``k`` targets.
    dof : array-like
        Effective degrees of freedom ``tr H`` (broadcast with ``rss``).
    spectrum : GCVSpectrum
        The training set's spectrum, from :func:`kernel_spectrum`,
        :func:`kernel_matrix_spectrum` or :func:`primal_spectrum`.

    Returns
    -------
    gcv : ndarray
        The GCV criterion, of the broadcast shape of ``rss`` and ``dof``.
    """
    rss = np.asarray(rss, dtype=float)
    dof = np.asarray(dof, dtype=float)
    n = spectrum.n_samples
    mse = rss / (spectrum.weight_sum * spectrum.n_targets)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = mse / (1.0 - dof / n) ** 2
    return np.where(dof < n, value, np.inf)


def _factors(d, reg_lambda):
    """``a = d / (d + lambda)`` and ``1 - a = lambda / (d + lambda)``."""
    denominator = d + reg_lambda
    return d / denominator, reg_lambda / denominator


def _scores(spectrum, residual_factors, diagonals):
    rss = spectrum.residual + (residual_factors ** 2) @ spectrum.squared_projections
    dof = spectrum.intercept_dof + np.sum(diagonals, axis=-1)
    return gcv_value(rss, dof, spectrum), dof


def gcv_grid(spectrum, reg_lambdas, alphas, n_steps):
    """GCV of every step and of the limit, for a grid of penalties and fixed weights.

    Parameters
    ----------
    spectrum : GCVSpectrum
        The training set's spectrum, from :func:`kernel_spectrum`,
        :func:`kernel_matrix_spectrum` or :func:`primal_spectrum`.
    reg_lambdas : array-like of shape (n_lambdas,)
        Penalties ``lambda > 0``.
    alphas : array-like of shape (n_alphas,)
        Fixed weights, each used at every step ``2, ..., n_steps``.
    n_steps : int
        ``T >= 1``.

    Returns
    -------
    scores : ndarray of shape (n_lambdas, n_alphas, n_steps)
        GCV of step ``t`` at ``[..., t - 1]``.
    dof : ndarray of shape (n_lambdas, n_alphas, n_steps)
        Effective degrees of freedom ``tr H`` of every step.
    limit_scores, limit_dof : ndarray of shape (n_lambdas, n_alphas)
        The same for ``tau = inf`` (Theorem 4.5: kernel ridge regression
        with penalty ``lambda / alpha``; the zero function, that is the
        weighted mean with an intercept, for ``alpha = 0``).
    """
    d = spectrum.eigenvalues
    lambdas = np.asarray(reg_lambdas, dtype=float).reshape(-1, 1, 1)
    alphas = np.asarray(alphas, dtype=float).reshape(1, -1, 1)
    a, abar = _factors(d, lambdas)
    shape = (lambdas.shape[0], alphas.shape[1], d.size)
    b = np.broadcast_to(a, shape).copy()
    e = np.broadcast_to(abar, shape).copy()
    scores = np.empty(shape[:2] + (n_steps,))
    dof = np.empty_like(scores)
    scores[..., 0], dof[..., 0] = _scores(spectrum, e, b)
    for t in range(1, n_steps):
        # e = 1 - b by its own recursion, before b is overwritten.
        e = abar + a * (1.0 - alphas) * e
        b = a * ((1.0 - alphas) * b + alphas)
        scores[..., t], dof[..., t] = _scores(spectrum, e, b)
    limit_denominator = alphas * d + lambdas
    limit_scores, limit_dof = _scores(spectrum, lambdas / limit_denominator,
                                      alphas * d / limit_denominator)
    return scores, dof, limit_scores, limit_dof


def gcv_schedule(spectrum, reg_lambda, schedule):
    """GCV and effective degrees of freedom of every step of one schedule.

    Parameters
    ----------
    spectrum : GCVSpectrum
        The training set's spectrum, from :func:`kernel_spectrum`,
        :func:`kernel_matrix_spectrum` or :func:`primal_spectrum`.
    reg_lambda : float
        The penalty ``lambda > 0`` of every step.
    schedule : array-like of shape (T - 1,)
        ``alpha(2), ..., alpha(T)``.

    Returns
    -------
    scores, dof : ndarray of shape (T,)
        GCV and effective degrees of freedom ``tr H`` of steps ``1, ..., T``.
    """
    d = spectrum.eigenvalues
    a, abar = _factors(d, float(reg_lambda))
    schedule = np.asarray(schedule, dtype=float).reshape(-1)
    b, e = a, abar
    scores = np.empty(schedule.size + 1)
    dof = np.empty_like(scores)
    scores[0], dof[0] = _scores(spectrum, e, b)
    for t, alpha in enumerate(schedule, start=1):
        e = abar + a * (1.0 - alpha) * e
        b = a * ((1.0 - alpha) * b + alpha)
        scores[t], dof[t] = _scores(spectrum, e, b)
    return scores, dof


def gcv_optimal_alpha_from_terms(A, B, C, D0, D1, clip=False):
    """The weight that minimises ``GCV(alpha) ∝ (A alpha^2 - 2 B alpha + C) / (D0 - D1 alpha)^2``.

    At step ``t`` the shrinkage is affine in ``alpha``, ``b = p + alpha q``
    with ``p = a b(t-1)`` and ``q = a (1 - b(t-1))``, so that ``RSS(alpha) =
    A alpha^2 - 2 B alpha + C`` (``A = sum q^2 z^2``, ``B = sum (1 - p) q
    z^2``, ``C = R0 + sum (1 - p)^2 z^2``) and ``n - tr H = D0 - D1 alpha``
    (``D0 = n - [intercept] - sum p``, ``D1 = sum q``). The derivative of
    GCV is ``2 (E alpha - F) / (D0 - D1 alpha)^3`` with ``E = A D0 - B D1``
    and ``F = B D0 - C D1`` (the ``alpha^2`` terms cancel), so GCV has a
    single stationary point ``alpha* = F / E``, and on the admissible set
    ``D0 - D1 alpha > 0`` (``tr H < n``) it is the minimum exactly when
    ``E > 0`` and ``D0 - D1 alpha* > 0``.

    Otherwise GCV has no minimum there: it is monotone, or ``alpha*`` is a
    maximum, and it decreases toward ``alpha -> +-inf``, an extrapolation
    of the chain far outside the paper's range. The weight is then the
    better of ``0`` and ``1`` (those with ``tr H < n``): the minimiser of
    GCV over ``[0, 1]``. When GCV does not depend on ``alpha`` at all
    (``E`` and ``F`` vanish, as when the step cannot change the fit) it is
    ``closed_forms.DEGENERATE_ALPHA``, 1, as for
    Theorem 4.4.

    Parameters
    ----------
    A, B, C, D0, D1 : array-like
        The terms, pooled over target columns (broadcast together).
    clip : bool, default=False
        Clip the weight to ``[0, 1]`` (footnote 10). GCV is unimodal on its
        admissible set, so a clipped minimiser is the minimiser over
        ``[0, 1]``.

    Returns
    -------
    alpha : ndarray
        The weights.
    is_minimum : ndarray of bool
        Whether ``alpha`` is the stationary minimum (``False`` for the
        fallbacks above).
    """
    A, B, C, D0, D1 = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in
                                            (A, B, C, D0, D1)))
    E = A * D0 - B * D1
    F = B * D0 - C * D1
    eps = 16 * np.finfo(float).eps
    e_scale = eps * (np.abs(A * D0) + np.abs(B * D1))
    f_scale = eps * (np.abs(B * D0) + np.abs(C * D1))
    with np.errstate(divide="ignore", invalid="ignore"):
        stationary = F / E
    is_minimum = (E > e_scale) & (D0 - D1 * stationary > 0)
    flat = (np.abs(E) <= e_scale) & (np.abs(F) <= f_scale)

    def endpoint_gcv(alpha):
        denominator = D0 - D1 * alpha
        with np.errstate(divide="ignore", invalid="ignore"):
            value = (A * alpha ** 2 - 2 * B * alpha + C) / denominator ** 2
        return np.where(denominator > 0, value, np.inf)

    endpoint = np.where(endpoint_gcv(1.0) <= endpoint_gcv(0.0), 1.0, 0.0)
    alpha = np.where(is_minimum, stationary, np.where(flat, DEGENERATE_ALPHA, endpoint))
    if clip:
        alpha = np.clip(alpha, 0.0, 1.0)
    return alpha, is_minimum


def gcv_optimal_schedules(spectrum, reg_lambdas, n_steps, clip=False):
    """The GCV-optimal weight of every step, step after step, for every penalty.

    Algorithm 1 with the validation error of Theorem 4.4 replaced by GCV:
    at step ``t`` the weight minimises GCV given the weights already chosen
    (:func:`gcv_optimal_alpha_from_terms`). No validation data, no folds.

    Parameters
    ----------
    spectrum : GCVSpectrum
        The training set's spectrum, from :func:`kernel_spectrum`,
        :func:`kernel_matrix_spectrum` or :func:`primal_spectrum`.
    reg_lambdas : array-like of shape (n_lambdas,)
        Penalties ``lambda > 0``, one chain each.
    n_steps : int
        ``T >= 1``; ``T - 1`` weights are chosen.
    clip : bool, default=False
        Clip each weight to ``[0, 1]`` before it is used.

    Returns
    -------
    alphas : ndarray of shape (n_lambdas, n_steps - 1)
        The chosen weights ``alpha(2), ..., alpha(T)`` of each penalty.
    scores, dof : ndarray of shape (n_lambdas, n_steps)
        GCV and ``tr H`` of every step of the chosen chain.
    is_minimum : ndarray of bool of shape (n_lambdas, n_steps - 1)
        Whether each weight is GCV's stationary minimum.
    """
    d = spectrum.eigenvalues
    z2 = spectrum.squared_projections
    lambdas = np.asarray(reg_lambdas, dtype=float).reshape(-1, 1)
    a, abar = _factors(d, lambdas)
    b = np.broadcast_to(a, (lambdas.shape[0], d.size)).copy()
    e = np.broadcast_to(abar, b.shape).copy()
    alphas = np.empty((lambdas.shape[0], n_steps - 1))
    is_minimum = np.empty(alphas.shape, dtype=bool)
    scores = np.empty((lambdas.shape[0], n_steps))
    dof = np.empty_like(scores)
    scores[:, 0], dof[:, 0] = _scores(spectrum, e, b)
    for t in range(1, n_steps):
        p = a * b
        q = a * e
        one_minus_p = abar + q
        A = (q ** 2) @ z2
        B = (one_minus_p * q) @ z2
        C = spectrum.residual + (one_minus_p ** 2) @ z2
        D0 = spectrum.n_samples - spectrum.intercept_dof - np.sum(p, axis=1)
        D1 = np.sum(q, axis=1)
        alpha, is_minimum[:, t - 1] = gcv_optimal_alpha_from_terms(A, B, C, D0, D1, clip)
        alphas[:, t - 1] = alpha
        alpha = alpha[:, None]
        b = p + alpha * q
        e = one_minus_p - alpha * q
        scores[:, t], dof[:, t] = _scores(spectrum, e, b)
    return alphas, scores, dof, is_minimum


def effective_dof(eigenvalues, reg_lambda, schedule, fit_intercept=True):
    """Effective degrees of freedom ``tr H`` of every step of a chain.

    ``tr H(t) = [intercept] + sum_k b_k(t)``, ``b(t)`` the diagonal of
    ``B(t)`` (Lemma 4.2, eq. (12)). With sample weights the smoother of the
    scaled targets ``S H S^-1`` has the same trace.

    Parameters
    ----------
    eigenvalues : array-like of shape (q,)
        As in :class:`GCVSpectrum`.
    reg_lambda : float
        The penalty ``lambda > 0`` of every step.
    schedule : array-like of shape (T - 1,)
        The weights ``alpha(2), ..., alpha(T)``.
    fit_intercept : bool, default=True
        Whether the intercept counts as one more degree of freedom.

    Returns
    -------
    dof : ndarray of shape (T,)
        ``tr H`` of steps ``1, ..., T``.
    """
    d = np.asarray(eigenvalues, dtype=float)
    a, _ = _factors(d, float(reg_lambda))
    b = a
    dof = [np.sum(b)]
    for alpha in np.asarray(schedule, dtype=float).reshape(-1):
        b = a * ((1.0 - alpha) * b + alpha)
        dof.append(np.sum(b))
    return np.asarray(dof) + (1.0 if fit_intercept else 0.0)


def limit_effective_dof(eigenvalues, reg_lambda, alpha, fit_intercept=True):
    """Effective degrees of freedom of the limit ``tau = inf`` (Theorem 4.5).

    ``tr H = [intercept] + sum_k alpha d_k / (alpha d_k + lambda)``: the
    limit of a fixed ``alpha`` is kernel ridge regression with penalty
    ``lambda / alpha``.

    Parameters
    ----------
    eigenvalues : array-like of shape (q,)
        As in :class:`GCVSpectrum`.
    reg_lambda : float
        The penalty ``lambda > 0``.
    alpha : float
        The fixed weight of every step.
    fit_intercept : bool, default=True
        Whether the intercept counts as one more degree of freedom.

    Returns
    -------
    dof : float
        ``tr H`` of the limit.
    """
    d = np.asarray(eigenvalues, dtype=float)
    return float(np.sum(alpha * d / (alpha * d + reg_lambda))) + (1.0 if fit_intercept else 0.0)


def equivalent_reg_lambda(eigenvalues, dof, fit_intercept=True):
    """The penalty that gives plain kernel ridge regression ``dof`` degrees of freedom.

    Solves the monotone equation ``[intercept] + sum_k d_k / (d_k + lambda)
    = dof`` over ``lambda > 0`` with a bracketed root finder (Brent's
    method on ``log lambda``). The left-hand side decreases from the
    number of positive eigenvalues ``r`` (plus the intercept) as ``lambda ->
    0`` to 0 (plus the intercept) as ``lambda -> inf``. Equal degrees of
    freedom do not make two smoothers equal: comparing the chain with the
    kernel ridge regression of the same ``dof`` says how far
    self-distillation is from a mere change of penalty.

    Parameters
    ----------
    eigenvalues : array-like of shape (q,)
        Only the positive ones count (an indefinite kernel's negative
        eigenvalues are ignored).
    dof : float or array-like
        Target effective degrees of freedom.
    fit_intercept : bool, default=True
        Whether the intercept counts as one more degree of freedom.

    Returns
    -------
    reg_lambda : float or ndarray
        ``inf`` where ``dof`` is at most the intercept's, ``0`` where it is
        ``r`` (plus the intercept), NaN where it exceeds that.
    """
    d = np.asarray(eigenvalues, dtype=float)
    d = d[d > 0]
    rank = d.size
    offset = 1.0 if fit_intercept else 0.0
    values = np.asarray(dof, dtype=float)
    result = np.empty(values.shape)
    for index, value in np.ndenumerate(values):
        target = value - offset
        if not np.isfinite(target) or target > rank:
            result[index] = np.nan
        elif target <= 0:
            result[index] = math.inf
        elif target == rank:
            result[index] = 0.0
        else:
            # sum d/(d + l) <= sum(d) / l and >= r - l sum(1/d) bracket the root.
            high = float(np.sum(d)) / target
            low = (rank - target) / float(np.sum(1.0 / d))

            def excess(log_lambda, target=target):
                return float(np.sum(d / (d + math.exp(log_lambda)))) - target

            result[index] = math.exp(optimize.brentq(excess, math.log(low), math.log(high),
                                                     xtol=1e-14, rtol=4 * np.finfo(float).eps))
    return float(result) if result.ndim == 0 else result
