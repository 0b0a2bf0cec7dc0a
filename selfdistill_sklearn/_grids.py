"""Penalty grids on the scale of the data, and the warning of a choice at a grid's edge.

Every estimator of this package solves systems ``M + lambda I`` with ``M``
the weighted kernel matrix ``S K S`` (the primal estimators: the weighted
Gram matrix ``G = Phi^T W Phi`` of the features, which has the same nonzero
eigenvalues), centred by the weighted means when an intercept is fitted:
``lambda`` is not divided by the number of samples. A step shrinks the
eigendirection of eigenvalue ``d`` by ``a = d / (d + lambda)`` (Lemma 4.2),
so what a penalty does is set by its ratio to the eigenvalues, whose scale
varies by orders of magnitude with the kernel, the features and the number
of samples. A fixed default grid such as ``(0.1, 1, 10)`` is then too
strong on one problem and too weak on another, and where the grid stops
short of the right penalty, distillation, which is extra regularisation
(Lemma 4.2; Theorem 4.5: the limit is kernel ridge with penalty
``lambda / alpha``), wins by standing in for the missing penalty.

:func:`auto_reg_lambdas` places the grid on the scale of the largest
eigenvalue ``d_max`` of ``M``, which the searches compute anyway (the
generalised cross-validation and primal searches decompose ``M``; the kernel
search's folds reduce their part of it), and :func:`edge_messages` says when
a search's best candidate lies at an edge of its grid. Functions of numbers
and arrays, importing numpy only.
"""

import math
import os
import sys
import warnings

import numpy as np

__all__ = [
    "AUTO",
    "DECADES_ABOVE",
    "DECADES_BELOW",
    "PER_DECADE",
    "PLATEAU",
    "GridEdgeWarning",
    "auto_reg_lambdas",
    "edge_messages",
    "outside_stacklevel",
    "smallest_resolved_eigenvalue",
    "warn_at_edges",
]

#: The value of ``reg_lambdas`` that asks for :func:`auto_reg_lambdas`.
AUTO = "auto"

#: Decades of the automatic grid below the largest eigenvalue ``d_max``.
DECADES_BELOW = 10

#: Decades of the automatic grid above ``d_max``.
DECADES_ABOVE = 1

#: Penalties per decade of the automatic grid.
PER_DECADE = 4

#: A penalty below this fraction of every resolved eigenvalue changes no
#: shrinkage factor ``d / (d + lambda)`` by more than this fraction: every
#: smaller penalty gives the same model to that precision.
PLATEAU = 1e-3


class GridEdgeWarning(UserWarning):
    """A search's best candidate lies at an edge of its grid.

    Raised (as a warning) by every search of this package when the best
    penalty ``reg_lambda`` is the smallest or the largest of ``reg_lambdas``,
    or the best number of steps ``n_steps`` equals a finite ``max_steps``
    larger than 1. A better candidate may lie beyond the edge; since
    self-distillation is extra regularisation (Lemma 4.2, Theorem 4.5), a
    penalty grid that stops short of the right penalty lets distillation win
    by standing in for the missing penalty. The message names the
    parameter, the value chosen and what to widen.

    See Also
    --------
    selfdistill_sklearn.SelfDistilledKernelRidgeCV : A search that gives it.
    selfdistill_sklearn.SelfDistilledRidgeCV : A search that gives it.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from selfdistill_sklearn import GridEdgeWarning, SelfDistilledKernelRidgeCV
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(40, 1))
    >>> y = np.sin(6 * X[:, 0]) + rng.normal(scale=0.1, size=40)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     search = SelfDistilledKernelRidgeCV(reg_lambdas=[10.0, 100.0], max_steps=2,
    ...                                         kernel="rbf", gamma=10.0).fit(X, y)
    >>> [type(warning.message).__name__ for warning in caught]
    ['GridEdgeWarning']
    """


def auto_reg_lambdas(largest_eigenvalue):
    """The automatic penalty grid: geometric, on the scale of ``d_max``.

    ``d_max * 10 ** (k / PER_DECADE)`` for ``k`` from ``-DECADES_BELOW *
    PER_DECADE`` to ``DECADES_ABOVE * PER_DECADE``: 45 penalties, four per
    decade (neighbours a factor ``10 ** 0.25 = 1.78`` apart), from ``1e-10
    d_max`` to ``10 d_max``. At the top every eigendirection is shrunk by
    ``d / (d + lambda) <= 1 / 11`` at the first step already (the model is
    nearly the constant); at the bottom the system's condition number is
    about ``1e10``, far from singular in double precision, and every
    eigendirection with ``d > 1e-7 d_max`` keeps at least 99.9 % of its
    least-squares fit. Four per decade keep the best penalty within a
    factor 1.33 of the grid: a fixed weight's limit is kernel ridge with
    penalty ``lambda / alpha`` (Theorem 4.5), so a coarse grid would let
    distillation win by interpolating it.

    Parameters
    ----------
    largest_eigenvalue : float
        The largest eigenvalue ``d_max`` of the matrix the penalty is added
        to (weighted, centred with an intercept). When it is not positive
        (a matrix of zeros: every sample alike after centring, where every
        penalty gives the same model) the grid is placed around 1.

    Returns
    -------
    reg_lambdas : ndarray of shape (45,)
        Ascending.
    """
    scale = float(largest_eigenvalue)
    if not (math.isfinite(scale) and scale > 0):
        scale = 1.0
    exponents = np.arange(-DECADES_BELOW * PER_DECADE, DECADES_ABOVE * PER_DECADE + 1)
    return scale * 10.0 ** (exponents / PER_DECADE)


def smallest_resolved_eigenvalue(eigenvalues):
    """The smallest eigenvalue above rounding, ``n eps max |d|``, or None.

    The cutoff is that of :func:`scipy.linalg.lstsq` and of this package's
    least-squares fallbacks: below it an eigenvalue is not told from zero.

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)

    Returns
    -------
    eigenvalue : float or None
        None when no eigenvalue is resolved (a matrix of zeros).
    """
    d = np.asarray(eigenvalues, dtype=float).ravel()
    if d.size == 0:
        return None
    cutoff = d.size * np.finfo(float).eps * np.max(np.abs(d))
    resolved = d[d > cutoff]
    return float(resolved.min()) if resolved.size else None


def edge_messages(best_params, reg_lambdas, max_steps, *, eigenvalues=None, auto=False):
    """What lies at an edge of a search's grid, one sentence each.

    Parameters
    ----------
    best_params : dict
        ``reg_lambda``, ``alpha`` and ``n_steps`` of the best candidate.
    reg_lambdas : array-like of float
        The penalties searched.
    max_steps : int
        The largest finite number of steps searched.
    eigenvalues : callable or None, default=None
        Called without arguments only when the best penalty is the smallest
        of several, it returns the eigenvalues of the matrix the penalty is
        added to. When the smallest penalty is below ``PLATEAU`` times
        every resolved eigenvalue (:func:`smallest_resolved_eigenvalue`),
        every smaller penalty gives the same model within ``PLATEAU``: the
        scores no longer change below the edge, and it is not reported.
    auto : bool, default=False
        Whether the grid was :func:`auto_reg_lambdas`'s (said in the message).

    Returns
    -------
    messages : list of str
        Empty when the best candidate is inside the grid. A grid of one
        penalty, or ``max_steps=1``, is a choice of the user's, not an
        edge.
    """
    lambdas = np.asarray(reg_lambdas, dtype=float)
    best_lambda = float(best_params["reg_lambda"])
    n_steps = best_params["n_steps"]
    messages = []
    if lambdas.size > 1:
        what = ("the automatic grid (reg_lambdas='auto')" if auto else
                f"reg_lambdas ({lambdas.size} values from {lambdas.min():.3g} to "
                f"{lambdas.max():.3g})")
        if best_lambda == lambdas.min() and not _on_plateau(best_lambda, eigenvalues):
            messages.append(
                f"the best reg_lambda={best_lambda:.3g} is the smallest of {what}: a smaller "
                f"penalty may score better; extend reg_lambdas below {best_lambda:.3g}")
        elif best_lambda == lambdas.max():
            messages.append(
                f"the best reg_lambda={best_lambda:.3g} is the largest of {what}: a larger "
                f"penalty may score better (the features may carry little signal); extend "
                f"reg_lambdas above {best_lambda:.3g}")
    if max_steps > 1 and math.isfinite(n_steps) and n_steps == max_steps:
        messages.append(
            f"the best n_steps={n_steps} equals max_steps={max_steps}: more steps may score "
            "better; raise max_steps")
    return messages


def _on_plateau(reg_lambda, eigenvalues):
    if eigenvalues is None:
        return False
    smallest = smallest_resolved_eigenvalue(eigenvalues())
    return smallest is None or reg_lambda <= PLATEAU * smallest


def warn_at_edges(owner, messages):
    """One :class:`GridEdgeWarning` of all ``messages`` of the search ``owner``
    (its class name), or nothing when there are none; shown at the first
    caller outside this package (the user's ``fit``)."""
    if messages:
        warnings.warn(f"{owner}: " + "; ".join(messages) + ".", GridEdgeWarning,
                      stacklevel=outside_stacklevel())


def outside_stacklevel():
    """The ``stacklevel`` of :func:`warnings.warn`, called from the function
    that calls this one (:func:`warn_at_edges`, say), that names the first
    frame outside this package (the user's call)."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(2), 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level
