"""Self-distillation as a constrained problem (the paper's Appendix D).

Mobahi et al. (2020) pose each step as the minimisation of a regulariser
under a bound ``epsilon`` on the training loss; Borup & Andersen add the
ground truth with weight ``alpha`` to that loss, eqs. (21)-(22)::

    f(t) = argmin_f  R(f)
           s.t.  alpha / N ||f(X) - y||^2 + (1 - alpha) / N ||f(X) - y(t-1)||^2 <= epsilon

with ``y(0) = y``. By the KKT conditions each step is a kernel ridge
regression, eq. (24) and Proposition D.1, whose penalty ``lambda_t`` makes
the constraint active; when the zero function satisfies the constraint
(eq. (23)) it is the solution, since it minimises ``R``. Unlike the
penalised problem of Sections 3-4, ``lambda_t`` changes from step to step,
so there is no closed form such as eq. (6); but Appendix D.1 tells from
``||y||^2 / N`` alone whether the steps collapse to zero.

The Gram-type matrix ``G`` of Proposition D.1 (the Green's function of the
regulariser at the training points, divided by ``N``) plays the role of
the kernel matrix; any symmetric positive semi-definite matrix will do.
Pure numpy and scipy.
"""

from dataclasses import dataclass

import numpy as np
from scipy import linalg, optimize

__all__ = [
    "COLLAPSED",
    "COLLAPSING",
    "NON_COLLAPSING",
    "ConstrainedDistillation",
    "constrained_regime",
    "constrained_self_distillation",
]

#: ``||y||^2 / N <= epsilon``: the zero function solves every step.
COLLAPSED = "collapsed"
#: ``epsilon < ||y||^2 / N <= epsilon / alpha``: steps non-zero, then zero.
#:
#: From some finite step on, every step is the zero function.
COLLAPSING = "collapsing"
#: ``||y||^2 / N > epsilon / alpha``: no step is ever zero.
NON_COLLAPSING = "non-collapsing"


def constrained_regime(y, alpha, epsilon):
    """Which of the three regimes of Appendix D.1 the targets fall in.

    With ``r = ||y||^2 / N`` (the Frobenius norm for several outputs):

    1. ``r <= epsilon``: collapsed, ``||y(t)|| = 0`` for every ``t >= 1``;
    2. ``epsilon < r <= epsilon / alpha``: collapsing, ``||y(t)|| > 0`` up
       to some finite step and ``0`` from then on;
    3. ``r > epsilon / alpha``: never collapsing, ``||y(t)|| > 0`` for all
       ``t``.

    For ``alpha = 0`` (Mobahi et al., 2020) the third regime is empty.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Training targets.
    alpha : float in [0, 1]
        Weight of the ground truth in the constraint (22).
    epsilon : float > 0
        Bound on the training loss in (22).

    Returns
    -------
    regime : {"collapsed", "collapsing", "non-collapsing"}
        :data:`COLLAPSED`, :data:`COLLAPSING` or :data:`NON_COLLAPSING`.

    Notes
    -----
    At the boundary ``r = epsilon / alpha`` the paper's condition for a zero
    step, eq. (23), needs ``||y(t-1)|| = 0`` exactly, which the steps reach
    only in the limit; the statement is sharp only inside the intervals.
    """
    y = np.asarray(y, dtype=float)
    alpha, epsilon = _check_alpha_epsilon(alpha, epsilon)
    mean_square = float(np.vdot(y, y)) / y.shape[0]
    if mean_square <= epsilon:
        return COLLAPSED
    if alpha == 0 or mean_square <= epsilon / alpha:
        return COLLAPSING
    return NON_COLLAPSING


@dataclass(frozen=True)
class ConstrainedDistillation:
    """The steps of constrained self-distillation.

    Returned by :func:`constrained_self_distillation`; each parameter is kept
    as the attribute of the same name.

    Parameters
    ----------
    fitted : ndarray of shape (n_steps, n_samples) or (n_steps, n_samples, n_targets)
        ``y(t) = f(t)(X)``, the training predictions of step ``t`` (row
        ``t - 1``).
    dual_coef : ndarray of the shape of ``fitted``
        ``(G + lambda_t I)^-1 u(t)`` with ``u(t) = alpha y + (1 - alpha)
        y(t-1)`` (Proposition D.1), so that ``f(t)(x) = g(x)^T dual_coef[t - 1]``;
        zero for a zero step.
    reg_lambdas : ndarray of shape (n_steps,)
        The KKT multipliers ``lambda_t`` of eq. (24); ``inf`` for a zero step.
    collapsed : ndarray of bool of shape (n_steps,)
        Whether step ``t`` is the zero function, i.e. whether it satisfies
        eq. (23).

    See Also
    --------
    constrained_self_distillation : Computes these steps.
    constrained_regime : Which of the three regimes the targets fall in.

    Examples
    --------
    >>> import numpy as np
    >>> from selfdistill_sklearn.constrained import constrained_self_distillation
    >>> x = np.linspace(0, 1, 8)
    >>> G = np.exp(-10 * (x[:, None] - x[None, :]) ** 2)
    >>> steps = constrained_self_distillation(G, np.sin(2 * np.pi * x), alpha=0.05,
    ...                                       epsilon=0.05, n_steps=6)
    >>> steps.fitted.shape, steps.reg_lambdas.shape
    ((6, 8), (6,))
    >>> bool(np.isinf(steps.reg_lambdas[steps.collapsed]).all())
    True
    """

    fitted: np.ndarray
    dual_coef: np.ndarray
    reg_lambdas: np.ndarray
    collapsed: np.ndarray


def constrained_self_distillation(gram, y, alpha, epsilon, n_steps):
    """Solve ``n_steps`` steps of the constrained problem (21)-(22).

    Each step is the kernel ridge regression (24) on the targets ``u(t) =
    alpha y + (1 - alpha) y(t-1)`` with the penalty ``lambda_t`` at which the
    constraint (22) is active. In the eigenbasis ``G = V diag(d) V^T`` the
    loss of (22) is, up to the factor ``1 / N``,

        ``alpha ||s * z_u - z_y||^2 + (1 - alpha) ||s * z_u - z_prev||^2``,
        ``s = d / (d + lambda)``,

    which increases with ``lambda`` (from the interpolating fit to the zero
    function), so ``lambda_t`` is a scalar root found by Brent's method.
    When the zero function already satisfies the constraint, eq. (23), it
    is the step's solution (``lambda_t = inf``). One eigendecomposition
    serves all steps.

    Parameters
    ----------
    gram : array-like of shape (n_samples, n_samples)
        Symmetric positive semi-definite matrix ``G`` of Proposition D.1.
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Training targets.
    alpha : float in [0, 1]
        Weight of the ground truth in the constraint (22).
    epsilon : float > 0
        Bound on the training loss in (22).
    n_steps : int >= 1
        Number of steps.

    Returns
    -------
    result : ConstrainedDistillation
        Training predictions, dual coefficients, penalties and zero steps.

    Raises
    ------
    ValueError
        When a step is infeasible: with a singular ``G`` the part of the
        targets outside its range cannot be fitted, and the loss may stay
        above ``epsilon`` for every ``lambda``. With a positive definite
        ``G`` every step is feasible (after an active step, ``alpha ||y(t) -
        y||^2 <= N epsilon``, so the next step's smallest loss is at most
        ``(1 - alpha) epsilon``).

    Examples
    --------
    >>> import numpy as np
    >>> from selfdistill_sklearn.constrained import (
    ...     constrained_regime, constrained_self_distillation)
    >>> x = np.linspace(0, 1, 8)
    >>> G = np.exp(-10 * (x[:, None] - x[None, :]) ** 2)
    >>> y = np.sin(2 * np.pi * x)
    >>> float(np.mean(y ** 2))
    0.4375
    >>> constrained_regime(y, alpha=0.05, epsilon=0.05)
    'collapsing'
    >>> steps = constrained_self_distillation(G, y, alpha=0.05, epsilon=0.05, n_steps=6)
    >>> steps.collapsed.tolist()
    [False, False, False, True, True, True]
    >>> constrained_regime(y, alpha=0.3, epsilon=0.1)
    'non-collapsing'
    >>> constrained_self_distillation(G, y, alpha=0.3, epsilon=0.1, n_steps=6).collapsed.any()
    np.False_
    """
    G = np.asarray(gram, dtype=float)
    y = np.asarray(y, dtype=float)
    if G.ndim != 2 or G.shape[0] != G.shape[1] or G.shape[0] != y.shape[0]:
        raise ValueError(
            f"gram must be a square matrix with one row per target, got shapes {G.shape} "
            f"and {y.shape}."
        )
    if not (isinstance(n_steps, int | np.integer) and n_steps >= 1):
        raise ValueError(f"n_steps must be an integer >= 1, got {n_steps!r}.")
    alpha, epsilon = _check_alpha_epsilon(alpha, epsilon)
    n_samples = y.shape[0]

    d, V = linalg.eigh(G, check_finite=True)
    rounding = n_samples * np.finfo(float).eps * max(abs(d[-1]), abs(d[0]))
    if d[0] < -rounding:
        raise ValueError("gram must be positive semi-definite; it has an eigenvalue "
                         f"{d[0]:.3g} < 0.")
    d = np.where(d > rounding, d, 0.0)
    d_col = d.reshape((-1,) + (1,) * (y.ndim - 1))
    in_range = d_col > 0

    z_y = V.T @ y
    z_prev = z_y
    bound = n_samples * epsilon
    shape = (n_steps,) + y.shape
    fitted, dual_coef = np.zeros(shape), np.zeros(shape)
    reg_lambdas = np.full(n_steps, np.inf)
    collapsed = np.zeros(n_steps, dtype=bool)

    for step in range(n_steps):
        # y(0) = y, so the first step is the plain constraint ||f - y||^2 <= N epsilon.
        z_u = alpha * z_y + (1.0 - alpha) * z_prev

        def loss(shrink, z_u=z_u, z_prev=z_prev):
            z_f = shrink * z_u
            return alpha * _sq(z_f - z_y) + (1.0 - alpha) * _sq(z_f - z_prev)

        if loss(0.0) <= bound:  # eq. (23): the zero function is feasible
            collapsed[step] = True
            z_prev = np.zeros_like(z_y)
            continue
        smallest = loss(np.where(in_range, 1.0, 0.0))
        if smallest > bound * (1 + 1e-12):
            raise ValueError(
                f"Step {step + 1} is infeasible: the smallest loss attainable with this gram "
                f"matrix is {smallest / n_samples:.6g} > epsilon = {epsilon:.6g}."
            )
        reg_lambda = _active_penalty(lambda lam: loss(d_col / (d_col + lam)) - bound, d[-1])
        reg_lambdas[step] = reg_lambda
        z_c = z_u / (d_col + reg_lambda)
        z_prev = d_col * z_c
        dual_coef[step] = V @ z_c
        fitted[step] = V @ z_prev
    return ConstrainedDistillation(fitted=fitted, dual_coef=dual_coef, reg_lambdas=reg_lambdas,
                                   collapsed=collapsed)


def _sq(z):
    return float(np.vdot(z, z))


def _active_penalty(excess, largest_eigenvalue):
    """The root in ``lambda`` of the increasing function ``excess``, found in
    ``log(lambda)``; ``excess(0+) <= 0 < excess(inf)`` is known."""
    eps = np.finfo(float).eps
    low, high = np.log(largest_eigenvalue * eps), np.log(largest_eigenvalue / eps)
    if excess(np.exp(low)) >= 0:
        # The constraint binds only at the interpolating fit.
        return float(np.exp(low))
    # excess(inf) > 0 since zero is infeasible; at lambda = inf the shrinkage is exactly 0.
    while excess(np.exp(high)) <= 0 and high < 800.0:
        high += 50.0
    root = optimize.brentq(lambda t: excess(np.exp(t)), low, high, xtol=1e-13, rtol=4 * eps)
    return float(np.exp(root))


def _check_alpha_epsilon(alpha, epsilon):
    alpha, epsilon = float(alpha), float(epsilon)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}.")
    if not (np.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon must be a finite number > 0, got {epsilon!r}.")
    return alpha, epsilon
