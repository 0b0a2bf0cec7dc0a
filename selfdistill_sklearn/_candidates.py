"""The candidates of a search over (lambda, alpha, tau), and their results.

Both searches (:class:`~selfdistill_sklearn.SelfDistilledKernelRidgeCV` and
:class:`~selfdistill_sklearn.SelfDistilledRidgeCV`) compute, for one penalty
at a time, the columns of every candidate in one layout of *rows*: the
fixed weights' steps ``1..max_steps`` (weight by weight), the fixed
weights' limits (Theorem 4.5), then the steps of the ``"optimal"``
schedule (Theorem 4.4). Candidates that give the same predictions in exact
arithmetic (``tau = 1`` for every weight, ``alpha = 1`` for every ``tau``)
share a row, and the candidates themselves are listed in
``GridSearchCV``'s order. :class:`CandidateGrid` owns both orders.

With ``cv=None`` both searches score the candidates by generalised
cross-validation from one :class:`~selfdistill_sklearn.gcv.GCVSpectrum` of
all the data (:func:`gcv_candidate_scores`, :func:`gcv_search_results`):
the kernel search's from the kernel matrix, the primal search's from the
moments of one pass.
"""

import dataclasses
import functools
import numbers

import numpy as np

from . import gcv
from ._grids import AUTO, auto_reg_lambdas
from ._validation import OPTIMAL, check_alpha, check_n_steps, check_reg_lambda

__all__ = [
    "CandidateGrid",
    "as_list",
    "check_gcv_scoring",
    "check_grid",
    "gcv_candidate_scores",
    "gcv_search_results",
    "grid_results",
    "unique_columns",
]


@dataclasses.dataclass(frozen=True, eq=False)
class CandidateGrid:
    """The penalties, weights and steps of a search, and its row layout.

    Parameters
    ----------
    reg_lambdas : tuple or "auto"
        The penalties as given (they appear so in ``cv_results_``), or
        ``"auto"`` until :meth:`resolved` places them on the data's scale.
    fixed_alphas : tuple
        The fixed weights as given, in order.
    with_optimal : bool
        Whether ``"optimal"`` is searched.
    max_steps : int
        Candidates have ``n_steps`` in ``1..max_steps``.
    include_limit : bool, default=True
        Whether every fixed weight also has ``n_steps=inf``.
    was_auto : bool, default=False
        Whether the penalties came from ``"auto"`` (for the messages).
    """

    reg_lambdas: tuple
    fixed_alphas: tuple
    with_optimal: bool
    max_steps: int
    include_limit: bool = True
    was_auto: bool = False

    @classmethod
    def from_params(cls, reg_lambdas, alphas, max_steps, include_limit=True):
        """From validated ``reg_lambdas`` and ``alphas`` (floats and "optimal")."""
        return cls(reg_lambdas if isinstance(reg_lambdas, str) else tuple(reg_lambdas),
                   tuple(alpha for alpha in alphas if not isinstance(alpha, str)),
                   any(isinstance(alpha, str) for alpha in alphas), max_steps, include_limit)

    @property
    def auto(self):
        """Whether the penalties are :func:`~selfdistill_sklearn._grids.auto_reg_lambdas`'s."""
        return isinstance(self.reg_lambdas, str)

    def resolved(self, largest_eigenvalue):
        """The grid with ``"auto"`` replaced by
        :func:`~selfdistill_sklearn._grids.auto_reg_lambdas` of
        ``largest_eigenvalue`` (a callable, called only then); an explicit
        grid unchanged."""
        if not self.auto:
            return self
        lambdas = tuple(float(value) for value in auto_reg_lambdas(largest_eigenvalue()))
        return dataclasses.replace(self, reg_lambdas=lambdas, was_auto=True)

    @functools.cached_property
    def lambdas(self):
        """The penalties as a float array of shape (n_lambdas,)."""
        if self.auto:
            raise RuntimeError("reg_lambdas='auto' is resolved on the data before use.")
        return np.array([float(value) for value in self.reg_lambdas])

    @functools.cached_property
    def fixed(self):
        """The fixed weights as floats."""
        return [float(alpha) for alpha in self.fixed_alphas]

    @property
    def n_rows(self):
        """Rows of one penalty: steps and limits of the fixed weights, the
        optimal schedule's steps."""
        return len(self.fixed) * (self.max_steps + 1) + (self.max_steps if self.with_optimal
                                                         else 0)

    def rows(self, steps, limits, optimal):
        """The columns of one penalty's rows, in their order: ``steps`` of
        shape (n, n_fixed * max_steps, ...) weight by weight and ``limits``
        (n, n_fixed, ...), both None without fixed weights, and ``optimal``
        (n, max_steps, ...) or None."""
        return np.concatenate([block for block in (steps, limits, optimal)
                               if block is not None], axis=1)

    def param_grid(self):
        """The ``GridSearchCV`` grid of the same candidates: ``"optimal"`` has
        no limit ``n_steps=inf``, so it takes a grid of its own, after the
        fixed weights."""
        steps = list(range(1, self.max_steps + 1))
        grid = []
        if self.fixed_alphas:
            grid.append({"reg_lambda": list(self.reg_lambdas), "alpha": list(self.fixed_alphas),
                         "n_steps": steps + ([float("inf")] if self.include_limit else [])})
        if self.with_optimal:
            grid.append({"reg_lambda": list(self.reg_lambdas), "alpha": [OPTIMAL],
                         "n_steps": steps})
        return grid

    def params(self):
        """Candidate parameters in ``ParameterGrid``'s order: grid by grid,
        keys sorted (alpha, n_steps, reg_lambda), the last key varying
        fastest."""
        return [{"alpha": alpha, "n_steps": n_steps, "reg_lambda": reg_lambda}
                for grid in self.param_grid() for alpha in grid["alpha"]
                for n_steps in grid["n_steps"] for reg_lambda in grid["reg_lambda"]]

    @functools.cached_property
    def candidates(self):
        """Penalty index and row of every candidate of :meth:`params`, as two
        read-only integer arrays."""
        n_fixed, max_steps, n_lambdas = len(self.fixed), self.max_steps, self.lambdas.size
        rows = []
        for fixed_index in range(n_fixed):
            rows.extend(fixed_index * max_steps + t for t in range(max_steps))
            if self.include_limit:
                rows.append(n_fixed * max_steps + fixed_index)
        if self.with_optimal:
            rows.extend(n_fixed * (max_steps + 1) + t for t in range(max_steps))
        rows = np.repeat(np.asarray(rows, dtype=int), n_lambdas)
        lambda_indices = np.tile(np.arange(n_lambdas), rows.size // max(n_lambdas, 1))
        rows.setflags(write=False)
        lambda_indices.setflags(write=False)
        return lambda_indices, rows

    @property
    def n_candidates(self):
        return self.candidates[1].size

    @property
    def described(self):
        """``"N candidates"``, or what an unresolved ``"auto"`` grid will hold
        (for progress messages written before the data are seen)."""
        if not self.auto:
            return f"{self.n_candidates} candidates"
        return (f"{self.n_rows} candidates per penalty of the automatic grid "
                f"(placed on the data's spectrum)")

    def of_lambdas(self, lambda_indices):
        """Mask of the candidates of the penalties ``lambda_indices``."""
        return np.isin(self.candidates[0], lambda_indices)

    def scatter(self, lambda_index, row_scores, scores):
        """Write the scores of one penalty's rows into its candidates' entries
        of ``scores`` (of shape (n_candidates,))."""
        lambda_indices, rows = self.candidates
        chosen = lambda_indices == lambda_index
        scores[chosen] = row_scores[rows[chosen]]


def check_grid(reg_lambdas, alphas, max_steps, scoring, scorings, *, include_limit=True,
               n_jobs=None, verbose=0, scored_from="held-out predictions"):
    """The candidates of a search, after checking its parameters.

    The one check of :class:`~selfdistill_sklearn.SelfDistilledKernelRidgeCV`
    and :class:`~selfdistill_sklearn.SelfDistilledRidgeCV`: every error names
    the search's own parameter (``reg_lambdas``, ``alphas``, ``max_steps``,
    ``scoring``, ``n_jobs``, ``verbose``), not that of a candidate.

    Parameters
    ----------
    reg_lambdas, alphas, max_steps, scoring, n_jobs, verbose
        The search's parameters; ``reg_lambdas`` may be ``"auto"``, which
        the returned grid keeps until :meth:`CandidateGrid.resolved`.
    scorings : collection of str
        The names ``scoring`` may take (besides ``None``).
    include_limit : bool, default=True
        Checked to be a bool by the caller.
    scored_from : str
        What the scores are computed from, for the error on ``scoring``.

    Returns
    -------
    grid : CandidateGrid

    Raises
    ------
    TypeError, ValueError
        Naming the parameter and what was expected.
    """
    if not (isinstance(reg_lambdas, str) and reg_lambdas == AUTO):
        reg_lambdas = as_list(reg_lambdas, "reg_lambdas", AUTO)
        for reg_lambda in reg_lambdas:
            check_reg_lambda(reg_lambda, name="every entry of reg_lambdas")
    alphas = as_list(alphas, "alphas")
    for alpha in alphas:
        if not isinstance(alpha, str | numbers.Real) or isinstance(alpha, bool | np.bool_):
            raise TypeError(f"alphas must hold floats in [0, 1] and 'optimal', got {alpha!r}.")
        check_alpha(alpha, 2, name="every entry of alphas")
    max_steps = check_n_steps(max_steps, allow_infinite=False, name="max_steps")
    if not isinstance(scoring, str | None):
        several = isinstance(scoring, list | tuple | set | dict)
        raise (ValueError if several else TypeError)(
            f"scoring must be None or one name among {sorted(scorings)}, got {scoring!r}"
            + (": several scorings at once (as GridSearchCV takes them, with refit) are not "
               "supported; run one search per scoring." if several else
               f": the scores are computed from {scored_from}, not by a scorer.")
        )
    if scoring is not None and scoring not in scorings:
        raise ValueError(f"scoring must be None or one of {sorted(scorings)}, got {scoring!r}: "
                         f"the scores are computed from {scored_from}.")
    if not isinstance(verbose, numbers.Integral) or isinstance(verbose, bool):
        raise TypeError(f"verbose must be an int, got {verbose!r}.")
    if n_jobs is not None and (not isinstance(n_jobs, numbers.Integral)
                               or isinstance(n_jobs, bool)):
        raise TypeError(f"n_jobs must be an int or None, got {n_jobs!r}.")
    if n_jobs == 0:
        raise ValueError("n_jobs must not be 0: None or 1 for one job, -1 for all processors.")
    return CandidateGrid.from_params(reg_lambdas, alphas, max_steps, include_limit)


def as_list(values, name, keyword=None):
    """A non-empty one-dimensional sequence as a list, or a ValueError naming
    it (and the string ``keyword`` it may also be)."""
    if isinstance(values, str) or np.ndim(values) != 1:
        also = "" if keyword is None else f" or {keyword!r}"
        raise ValueError(f"{name} must be a one-dimensional sequence{also}, got {values!r}.")
    values = list(values)
    if not values:
        raise ValueError(f"{name} must not be empty.")
    return values


def unique_columns(coefs):
    """The distinct columns ``coefs[:, j]`` in order of first appearance, and
    the index of each among them: bitwise equality by hashing, which does not
    sort thousands of entries as ``np.unique(axis=...)`` does."""
    first = {}
    n_columns = coefs.shape[1]
    inverse = np.empty(n_columns, dtype=int)
    for index in range(n_columns):
        key = np.ascontiguousarray(coefs[:, index]).tobytes()
        inverse[index] = first.setdefault(key, len(first))
    keep = np.full(len(first), -1)
    for index in range(n_columns - 1, -1, -1):
        keep[inverse[index]] = index
    return coefs[:, keep], inverse


def grid_results(params, scores):
    """``cv_results_`` in ``GridSearchCV``'s layout and arithmetic."""
    from scipy.stats import rankdata

    n_candidates, n_splits = scores.shape
    results = {}
    for name in ("alpha", "n_steps", "reg_lambda"):
        values = [candidate[name] for candidate in params]
        try:
            array = np.array(values)
        except ValueError:
            array = np.array(values, dtype=object)
        dtype = array.dtype if array.dtype.kind != "U" and array.ndim == 1 else object
        column = np.ma.MaskedArray(np.empty(n_candidates, dtype=dtype), mask=True)
        for index, value in enumerate(values):
            column[index] = value
        results[f"param_{name}"] = column
    results["params"] = params
    for split_index in range(n_splits):
        results[f"split{split_index}_test_score"] = scores[:, split_index]
    means = np.average(scores, axis=1)
    results["mean_test_score"] = means
    results["std_test_score"] = np.sqrt(np.average((scores - means[:, None]) ** 2, axis=1))
    if np.isnan(means).all():
        ranks = np.ones_like(means, dtype=np.int32)
    else:
        ranks = rankdata(-np.nan_to_num(means, nan=np.nanmin(means) - 1), method="min")
    results["rank_test_score"] = np.asarray(ranks, dtype=np.int32)
    return results


def check_gcv_scoring(scoring):
    """GCV estimates the mean squared error and gives no held-out predictions:
    no other scoring can be computed from it."""
    if scoring not in (None, "neg_mean_squared_error"):
        raise ValueError(
            "With cv=None the candidates are scored by generalised cross-validation, an "
            "estimate of the mean squared error without held-out predictions: scoring must "
            f"be None or 'neg_mean_squared_error', got {scoring!r}. Pass a cv to score "
            "held-out predictions otherwise."
        )


def gcv_candidate_scores(spectrum, grid, clip):
    """GCV, ``tr H`` of every candidate of ``grid`` in ``GridSearchCV``'s order,
    and the GCV-optimal schedules (n_lambdas, max_steps - 1) when ``"optimal"``
    is searched. Candidates that are the same smoother in exact arithmetic
    (``tau = 1`` for every weight, ``alpha = 1`` for every ``tau`` and the
    limit) share the value of step 1, so that they tie exactly."""
    n_lambdas, n_fixed, max_steps = grid.lambdas.size, len(grid.fixed), grid.max_steps
    row_scores = np.empty((n_lambdas, grid.n_rows))
    row_dof = np.empty_like(row_scores)
    schedules = None
    parts_scores, parts_dof = [], []
    if n_fixed:
        steps, steps_dof, limits, limits_dof = gcv.gcv_grid(spectrum, grid.lambdas, grid.fixed,
                                                            max_steps)
        ones = np.asarray(grid.fixed) == 1.0
        for values, limit in ((steps, limits), (steps_dof, limits_dof)):
            values[:, :, :] = np.where(ones[None, :, None], values[:, :1, :1], values)
            values[:, :, 0] = values[:, :1, 0]
            limit[:, ones] = values[:, :1, 0][:, [0] * int(ones.sum())]
        parts_scores += [steps.reshape(n_lambdas, -1), limits]
        parts_dof += [steps_dof.reshape(n_lambdas, -1), limits_dof]
    if grid.with_optimal:
        schedules, optimal, optimal_dof, _ = gcv.gcv_optimal_schedules(
            spectrum, grid.lambdas, max_steps, clip)
        if n_fixed:
            optimal[:, 0], optimal_dof[:, 0] = parts_scores[0][:, 0], parts_dof[0][:, 0]
        parts_scores.append(optimal)
        parts_dof.append(optimal_dof)
    row_scores[:] = np.concatenate(parts_scores, axis=1)
    row_dof[:] = np.concatenate(parts_dof, axis=1)
    scores = np.empty(grid.n_candidates)
    dof = np.empty(grid.n_candidates)
    for lambda_index in range(n_lambdas):
        grid.scatter(lambda_index, row_scores[lambda_index], scores)
        grid.scatter(lambda_index, row_dof[lambda_index], dof)
    return scores, dof, schedules


def gcv_search_results(spectrum, grid, clip):
    """What a search with ``cv=None`` reports: GCV of every candidate as its
    score, in the layout of :func:`grid_results` without split entries.

    Returns
    -------
    result : dict
        ``cv_results`` (``mean_test_score`` the negative GCV,
        ``std_test_score`` 0, ``rank_test_score``, the ``param_*`` columns
        and ``params``, and ``effective_dof``, each candidate's ``tr H``),
        ``best_index``, ``best_score``, ``best_params`` and, with
        ``"optimal"`` in the grid, ``optimal_alphas`` of shape (n_lambdas,
        max_steps - 1).
    """
    scores, dof, schedules = gcv_candidate_scores(spectrum, grid, clip)
    cv_results = grid_results(grid.params(), -scores[:, None])
    del cv_results["split0_test_score"]
    cv_results["effective_dof"] = dof
    best_index = int(cv_results["rank_test_score"].argmin())
    result = {"cv_results": cv_results, "best_index": best_index,
              "best_score": float(cv_results["mean_test_score"][best_index]),
              "best_params": dict(cv_results["params"][best_index])}
    if grid.with_optimal:
        result["optimal_alphas"] = schedules
    return result
