"""Closed forms of self-distilled kernel ridge regression.

The mathematics of Borup & Andersen (2021), "Even your Teacher Needs Guidance:
Ground-Truth Targets Dampen Regularization Imposed by Self-Distillation",
as functions of arrays. Nothing here knows about scikit-learn or torch, nor
where eigenpairs or factorisations come from: a full kernel matrix, a
Nyström or random-feature map, or anything else that provides them.

Notation (paper, Section 3 and eqs. (8)-(13)): ``d`` the eigenvalues of the
kernel matrix ``K``, ``lambda`` the ridge penalty, ``a = d / (d + lambda)``
the diagonal of ``A``, ``b(t)`` the diagonal of ``B(t)`` and ``alpha(t)`` the
weight of the ground truth at step ``t``. Step ``t = 1`` is ordinary kernel
ridge regression and ignores ``alpha(1)``.
"""

import numpy as np

__all__ = [
    "SelfDistillationChain",
    "intercept_solver",
    "limit_reg_lambda",
    "limit_shrinkage_diagonal",
    "optimal_alpha",
    "optimal_alpha_from_terms",
    "optimal_alpha_scale",
    "optimal_alpha_terms",
    "shrinkage_diagonals",
    "shrinkage_factors",
    "shrinkage_ratios",
]

#: Weight used when the validation data cannot tell two candidate steps
#: apart (``||y1 - y0|| = 0`` in Theorem 4.4): every ``alpha`` then gives
#: the same validation error, and ``alpha = 1`` keeps the ground truth
#: model, the choice that adds no regularisation the data did not ask for.
DEGENERATE_ALPHA = 1.0


def shrinkage_factors(eigenvalues, reg_lambda):
    """Diagonal of ``A = D (D + lambda I)^-1`` (eq. (11)).

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
        Eigenvalues ``d`` of the kernel matrix (non-negative).
    reg_lambda : float
        Ridge penalty ``lambda > 0``.

    Returns
    -------
    a : ndarray of shape (n,)
        ``d / (d + lambda)``, each entry in ``[0, 1)``.
    """
    d = np.asarray(eigenvalues, dtype=float)
    return d / (d + reg_lambda)


def shrinkage_diagonals(eigenvalues, reg_lambda, alphas):
    """Compute the diagonals of ``B(t)`` for ``t = 1, ..., T`` (Lemma 4.2, eq. (12)).

    ``B(0) = I`` and ``B(t) = A ((1 - alpha(t)) B(t-1) + alpha(t) I)``, so
    that the training predictions of step ``t`` are ``V B(t) V^T y``
    (eq. (10)).

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
        Eigenvalues of the kernel matrix.
    reg_lambda : float
        Ridge penalty ``lambda > 0``.
    alphas : array-like of shape (T - 1,)
        The weights ``alpha(2), ..., alpha(T)``. An empty sequence gives
        only ``B(1) = A``.

    Returns
    -------
    diagonals : ndarray of shape (T, n)
        Row ``t - 1`` is the diagonal of ``B(t)``.
    """
    a = shrinkage_factors(eigenvalues, reg_lambda)
    alphas = np.asarray(alphas, dtype=float).reshape(-1)
    diagonals = np.empty((alphas.size + 1, a.size))
    diagonals[0] = a
    for t, alpha in enumerate(alphas, start=1):
        diagonals[t] = a * ((1.0 - alpha) * diagonals[t - 1] + alpha)
    return diagonals


def limit_shrinkage_diagonal(eigenvalues, reg_lambda, alpha):
    """Diagonal of ``B(infinity)`` for a fixed ``alpha`` (Theorem A.5).

    ``y(infinity) = alpha K (alpha K + lambda I)^-1 y``, whose diagonal in the
    eigenbasis is ``alpha d / (alpha d + lambda)``: kernel ridge regression
    with penalty ``lambda / alpha`` for ``alpha > 0`` (eq. (17)) and the zero
    function for ``alpha = 0``.

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
        Eigenvalues ``d`` of the kernel matrix (non-negative).
    reg_lambda : float
        Ridge penalty ``lambda > 0``.
    alpha : float in [0, 1]
        The fixed weight of the ground truth.

    Returns
    -------
    diagonal : ndarray of shape (n,)
        ``alpha d / (alpha d + lambda)``, each entry in ``[0, 1)``.
    """
    d = np.asarray(eigenvalues, dtype=float)
    return alpha * d / (alpha * d + reg_lambda)


def shrinkage_ratios(diagonals):
    """Compute the ratios ``R_k = b_{k+1} / b_k`` of consecutive diagonal entries.

    Section 4.5 and Figure 4: with the eigenvalues in ascending order,
    ``R_k`` compares the shrinkage of neighbouring basis functions. For a
    fixed ``alpha = 0`` every ratio strictly increases with the step
    (Theorem 4.3, eq. (14)); for ``alpha`` in ``(0, 1)`` eq. (15) gives the
    sign of the change.

    Parameters
    ----------
    diagonals : array-like of shape (..., n)
        Diagonals of ``B``, ordered by ascending eigenvalue.

    Returns
    -------
    ratios : ndarray of shape (..., n - 1)
        ``inf`` where ``b_k = 0`` and ``b_{k+1} > 0``; ``nan`` where both
        vanish (a collapsed solution has no ratio).
    """
    b = np.asarray(diagonals, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return b[..., 1:] / b[..., :-1]


def limit_reg_lambda(reg_lambda, alpha):
    """Return the penalty ``lambda / alpha`` of the limit of infinitely many steps.

    Infinite self-distillation with a fixed ``alpha > 0`` converges to kernel
    ridge regression with this penalty (Theorem 4.5, eq. (17)).

    Parameters
    ----------
    reg_lambda : float
        Ridge penalty ``lambda > 0`` of every step.
    alpha : float in (0, 1]
        The fixed weight of the ground truth.

    Returns
    -------
    limit_reg_lambda : float
        ``reg_lambda / alpha``.

    Raises
    ------
    ValueError
        If ``alpha`` is not positive: with ``alpha = 0`` the steps collapse to
        the zero function, which no penalty gives.
    """
    if not alpha > 0:
        raise ValueError(
            "The limit of infinitely many steps is kernel ridge regression only "
            f"for alpha > 0; got alpha={alpha!r} (alpha = 0 collapses to zero)."
        )
    return reg_lambda / alpha


def optimal_alpha_terms(first_predictions, zero_alpha_predictions, targets,
                        sample_weight=None):
    """Numerator and denominator of the optimal weight (Theorem 4.4, eq. (16)).

    Step ``t`` predicts ``alpha * y1 + (1 - alpha) * y0`` on the validation
    inputs (eq. (7)), where ``y1`` are the predictions of the first step and
    ``y0`` those of step ``t`` fitted with ``alpha(t) = 0``. The validation
    squared error is a parabola in ``alpha`` minimised at ``<y1 - y0,
    ytilde - y0> / ||y1 - y0||^2``, the same value as eq. (16) written
    around ``y0`` instead of ``y1``. The terms are returned apart so that
    they can be summed over several validation sets (cross-validation
    folds): the pooled ratio minimises the pooled squared error.

    Parameters
    ----------
    first_predictions : array-like of shape (m,) or (m, k)
        ``y1``, the first step's predictions on the validation inputs.
    zero_alpha_predictions : array-like of shape (m,) or (m, k)
        ``y0``, step ``t`` with ``alpha(t) = 0`` on the validation inputs.
    targets : array-like of shape (m,) or (m, k)
        The validation targets ``ytilde``.
    sample_weight : array-like of shape (m,), default=None
        Weights of the validation samples in the squared error.

    Returns
    -------
    numerator, denominator : float
        Frobenius inner products ``<y1 - y0, ytilde - y0>`` and
        ``||y1 - y0||^2`` (weighted when ``sample_weight`` is given).
    """
    y1 = np.asarray(first_predictions, dtype=float)
    y0 = np.asarray(zero_alpha_predictions, dtype=float)
    y = np.asarray(targets, dtype=float)
    direction = y1 - y0
    residual = y - y0
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=float).reshape((-1,) + (1,) * (direction.ndim - 1))
        weighted = w * direction
    else:
        weighted = direction
    return float(np.vdot(weighted, residual)), float(np.vdot(weighted, direction))


def optimal_alpha_scale(first_predictions, zero_alpha_predictions, sample_weight=None):
    """Size ``||y1||^2 + ||y0||^2`` that a denominator of eq. (16) is compared with.

    Weighted like the terms of :func:`optimal_alpha_terms`, so that the
    denominator ``||y1 - y0||^2`` and its scale are measured in the same
    norm: the denominator counts as zero below ``eps * scale`` in
    :func:`optimal_alpha_from_terms`.

    Parameters
    ----------
    first_predictions, zero_alpha_predictions : array-like of shape (m,) or (m, k)
        ``y1`` and ``y0`` as in :func:`optimal_alpha_terms`.
    sample_weight : array-like of shape (m,), default=None
        Weights of the validation samples.

    Returns
    -------
    scale : float
        ``||y1||^2 + ||y0||^2``, weighted when ``sample_weight`` is given.
    """
    y1 = np.asarray(first_predictions, dtype=float)
    y0 = np.asarray(zero_alpha_predictions, dtype=float)
    squares = y1 ** 2 + y0 ** 2
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=float).reshape((-1,) + (1,) * (squares.ndim - 1))
        squares = w * squares
    return float(np.sum(squares))


def optimal_alpha_from_terms(numerator, denominator, clip=False, scale=None):
    """The optimal weight from (pooled) terms of :func:`optimal_alpha_terms`.

    Parameters
    ----------
    numerator, denominator : float
        ``<y1 - y0, ytilde - y0>`` and ``||y1 - y0||^2``.
    clip : bool, default=False
        Clip the weight to ``[0, 1]`` (the paper's footnote 10). Theorem 4.4
        places no bound on ``alpha``.
    scale : float, default=None
        Size of the squared norms the denominator is compared with; the
        denominator counts as zero when it is below ``eps * scale``. Without
        it only an exact zero counts.

    Returns
    -------
    alpha : float
        ``numerator / denominator``, or ``DEGENERATE_ALPHA`` (1.0) when the
        denominator vanishes: the validation error is then flat in
        ``alpha``, the minimiser is not unique, and no division is made.
    """
    threshold = 0.0 if scale is None else np.finfo(float).eps * scale
    if not denominator > threshold:
        alpha = DEGENERATE_ALPHA
    else:
        alpha = numerator / denominator
    if clip:
        alpha = min(max(alpha, 0.0), 1.0)
    return float(alpha)


def optimal_alpha(first_predictions, zero_alpha_predictions, targets, clip=False,
                  sample_weight=None):
    """Closed-form optimal weight of one step (Theorem 4.4, eq. (16)).

    ``argmin_alpha ||ytilde - (alpha y1 + (1 - alpha) y0)||^2``, computed
    without search from the terms of :func:`optimal_alpha_terms`; see
    :func:`optimal_alpha_from_terms` for clipping and the degenerate case.

    Parameters
    ----------
    first_predictions : array-like of shape (m,) or (m, k)
        ``y1``, the first step's predictions on the validation inputs.
    zero_alpha_predictions : array-like of shape (m,) or (m, k)
        ``y0``, step ``t`` with ``alpha(t) = 0`` on the validation inputs.
    targets : array-like of shape (m,) or (m, k)
        The validation targets ``ytilde``.
    clip : bool, default=False
        Clip the weight to ``[0, 1]`` (the paper's footnote 10).
    sample_weight : array-like of shape (m,), default=None
        Weights of the validation samples in the squared error.

    Returns
    -------
    alpha : float
        The minimiser ``alpha*(t)``; 1.0 when the validation error does not
        depend on ``alpha`` (``y1 = y0``).
    """
    numerator, denominator = optimal_alpha_terms(
        first_predictions, zero_alpha_predictions, targets, sample_weight
    )
    scale = optimal_alpha_scale(first_predictions, zero_alpha_predictions, sample_weight)
    return optimal_alpha_from_terms(numerator, denominator, clip=clip, scale=scale)


def intercept_solver(solve, n_samples):
    """Kernel ridge regression with an unpenalised intercept, from a solver without.

    The fit of ``f(x) = kappa(x, X) c + b`` to targets ``u`` with ``b`` not
    penalised, ``min sum_i w_i (f(x_i) - u_i)^2 + lambda c^T K c``, is the
    bordered system (the LS-SVM form)::

        [K + lambda W^-1   1] [c]   [u]
        [      1^T         0] [b] = [0],

    solved by ``b = 1^T R u / 1^T R 1`` and ``c = R (u - b 1)`` with ``R =
    (K + lambda W^-1)^-1``. ``R 1`` is solved once, here; every further fit
    costs the one solve of ``u`` that a fit without intercept costs, so the
    factorisation behind ``solve`` still serves every step of Theorem 4.1.
    The map ``u -> (c, b)`` is linear, which is all that the chain of
    :class:`SelfDistillationChain` and eq. (16) need. Training predictions
    are still ``u - lambda W^-1 c``.

    Parameters
    ----------
    solve : callable
        ``solve(u) -> (dual_coef, fitted)`` without intercept, as
        :class:`SelfDistillationChain` takes it: ``R u`` and ``K R u``
        (entries of zero-weight samples may be anything).
    n_samples : int
        ``n``, the number of training samples.

    Returns
    -------
    solve_with_intercept : callable
        ``solve_with_intercept(u) -> (coef, fitted)``: ``coef`` of shape
        ``(n + 1,)`` or ``(n + 1, k)`` holds ``c`` in its first ``n`` rows and
        ``b`` in its last (so that ``[K_new, 1] @ coef`` predicts), ``fitted``
        the training predictions ``K c + b``.

    Raises
    ------
    numpy.linalg.LinAlgError
        When ``1^T R 1`` vanishes (the bordered system is singular; only an
        indefinite kernel can do this).
    """
    ones = np.ones(n_samples)
    ones_coef, ones_fitted = solve(ones)
    ones_coef = np.asarray(ones_coef, dtype=float)
    ones_fitted = np.asarray(ones_fitted, dtype=float)
    # 1^T R 1: the weighted sum that every intercept is divided by.
    denominator = float(np.sum(ones_coef))
    size = float(np.sum(np.abs(ones_coef)))
    if not (np.isfinite(denominator) and abs(denominator) > n_samples * np.finfo(float).eps
            * size):
        raise np.linalg.LinAlgError(
            "The kernel ridge system with an intercept is singular (1^T R 1 = "
            f"{denominator!r}); fit without an intercept (fit_intercept=False)."
        )

    def solve_with_intercept(targets):
        u = np.asarray(targets, dtype=float)
        coef, fitted = solve(u)
        # R is symmetric, so 1^T R u = (R 1)^T u.
        intercept = (ones_coef @ u) / denominator
        if u.ndim == 1:
            coef = coef - intercept * ones_coef
            fitted = fitted - intercept * ones_fitted + intercept
        else:
            coef = coef - np.outer(ones_coef, intercept)
            fitted = fitted - np.outer(ones_fitted, intercept) + intercept
        return np.concatenate([coef, np.asarray(intercept)[None]]), fitted

    return solve_with_intercept


class SelfDistillationChain:
    """One chain of self-distillation steps on a single factorisation.

    Implements eqs. (3)-(5) through Theorem 4.1, eq. (7): since
    ``c(t) = R (alpha(t) y + (1 - alpha(t)) y(t-1))`` is linear in the
    targets, step ``t`` is the blend ``alpha(t) c(1) + (1 - alpha(t)) c0(t)``
    of the first step and the step fitted with ``alpha(t) = 0``,
    ``c0(t) = R y(t-1)``. Every step therefore costs one solve with the
    factorisation of the first fit, whether ``alpha(t)`` is fixed or chosen
    by Algorithm 1 from ``c0(t)``.

    Parameters
    ----------
    solve : callable
        ``solve(u) -> (dual_coef, fitted)``: the kernel ridge fit on targets
        ``u`` with the factorisation the chain is built on, returning the
        dual coefficients and the training predictions ``K dual_coef``.
    targets : ndarray of shape (n,) or (n, k)
        The ground truth ``y``. Step 1 is fitted on construction.

    Attributes
    ----------
    first_dual_coef : ndarray
        ``c(1)``.
    dual_coef : ndarray
        ``c(t)`` of the last completed step.
    fitted : ndarray
        ``y(t) = K c(t)``, the training predictions of the last step.
    n_steps : int
        Number of completed steps ``t``.

    See Also
    --------
    intercept_solver : A solver with an unpenalised intercept, for the chain.
    optimal_alpha : The weight of Theorem 4.4, from the ``alpha = 0`` step.
    selfdistill_sklearn.SelfDistilledKernelRidge : The estimator built on it.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.linalg import cho_factor, cho_solve
    >>> from selfdistill_sklearn.closed_forms import SelfDistillationChain
    >>> x = np.linspace(0, 1, 6)
    >>> K = np.exp(-10 * (x[:, None] - x[None, :]) ** 2)
    >>> y = np.sin(2 * np.pi * x)
    >>> factor = cho_factor(K + 0.1 * np.eye(6))
    >>> def solve(u):
    ...     c = cho_solve(factor, u)
    ...     return c, K @ c
    >>> chain = SelfDistillationChain(solve, y)
    >>> _ = chain.advance(0.5)
    >>> # Step 2 refitted on its blended targets (eqs. (3)-(5)):
    >>> refit, _ = solve(0.5 * y + 0.5 * (K @ cho_solve(factor, y)))
    >>> bool(np.allclose(chain.dual_coef, refit)), chain.n_steps
    (True, 2)
    """

    def __init__(self, solve, targets):
        self._solve = solve
        self.first_dual_coef, self._first_fitted = solve(targets)
        self.dual_coef, self.fitted = self.first_dual_coef, self._first_fitted
        self.n_steps = 1
        self._zero_alpha = None

    def zero_alpha_dual_coef(self):
        """Return the dual coefficients of the next step with ``alpha = 0``.

        The student fitted on the teacher alone, ``c0(t+1) = R y(t)``
        (Theorem 4.1, eq. (7)); computed once and reused by :meth:`advance`.

        Returns
        -------
        dual_coef : ndarray of shape (n,) or (n, k)
            ``c0(t+1)``.
        """
        if self._zero_alpha is None:
            self._zero_alpha = self._solve(self.fitted)
        return self._zero_alpha[0]

    def advance(self, alpha):
        """Complete the next step with weight ``alpha`` on the ground truth.

        Parameters
        ----------
        alpha : float
            ``alpha(t+1)``, the weight of the ground truth in the next step's
            targets; any real number (Theorem 4.4's optimum may leave
            [0, 1]).

        Returns
        -------
        dual_coef : ndarray
            ``c(t) = alpha c(1) + (1 - alpha) c0(t)`` (eq. (7)).
        """
        self.zero_alpha_dual_coef()
        zero_coef, zero_fitted = self._zero_alpha
        self.dual_coef = alpha * self.first_dual_coef + (1.0 - alpha) * zero_coef
        self.fitted = alpha * self._first_fitted + (1.0 - alpha) * zero_fitted
        self._zero_alpha = None
        self.n_steps += 1
        return self.dual_coef
