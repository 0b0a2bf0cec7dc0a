"""Display of cross-validated error over the number of self-distillation steps.

Follows scikit-learn's display convention (cf.
:class:`sklearn.metrics.PredictionErrorDisplay`): ``from_estimator`` and
``from_cv_results`` collect what is drawn, the constructor takes the arrays
directly, and ``plot`` draws them, keeps the matplotlib artists as
attributes and returns the display. matplotlib is imported only when
something is drawn.
"""

import math

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ..kernel_ridge import SelfDistilledKernelRidge
from ..model_selection import SelfDistilledKernelRidgeCV
from ._estimators import describe, final_type, import_pyplot, is_search

__all__ = ["CrossValidationErrorDisplay"]


def _metric_label(scoring):
    """The drawn quantity and whether the score must be negated to get it."""
    name = scoring or "neg_mean_squared_error"
    if name.startswith("neg_"):
        return name[4:].replace("_", " "), True
    return name.replace("_", " "), False


_NAMES = ("reg_lambda", "alpha", "n_steps")


def _short(params):
    """Parameter names without the ``step__`` prefixes of a pipeline."""
    return {name.rsplit("__", 1)[-1]: value for name, value in params.items()}


def _searched_results(estimator):
    """The fitted search whose ``cv_results_`` are drawn, with its parameter
    names shortened: a ``SelfDistilledKernelRidgeCV``, or a search over
    ``SelfDistilledKernelRidge`` (or a pipeline ending in one). A search over
    ``SelfDistilledKernelRidgeCV`` leads to the ``best_estimator_``'s own search."""
    kinds = (SelfDistilledKernelRidgeCV, SelfDistilledKernelRidge)
    if not isinstance(final_type(estimator, kinds), kinds) or isinstance(
            estimator, SelfDistilledKernelRidge):
        raise TypeError(
            "CrossValidationErrorDisplay draws the search of a SelfDistilledKernelRidgeCV, or "
            "of a GridSearchCV over SelfDistilledKernelRidge or SelfDistilledKernelRidgeCV "
            f"(a Pipeline ending in either included); got {describe(estimator)}."
        )
    while True:
        if isinstance(estimator, Pipeline):
            check_is_fitted(estimator)
            estimator = estimator.steps[-1][1]
        elif isinstance(estimator, SelfDistilledKernelRidgeCV):
            check_is_fitted(estimator, "cv_results_")
            return estimator, estimator.cv_results_, estimator.best_params_
        elif isinstance(final_type(estimator.estimator, kinds), SelfDistilledKernelRidgeCV):
            check_is_fitted(estimator, "cv_results_")
            if not hasattr(estimator, "best_estimator_"):
                raise ValueError(
                    f"{describe(estimator)} over SelfDistilledKernelRidgeCV holds no "
                    "best_estimator_ to draw: fit it with refit=True.")
            estimator = estimator.best_estimator_
        elif is_search(estimator) and isinstance(final_type(estimator.estimator, kinds),
                                                 SelfDistilledKernelRidge):
            check_is_fitted(estimator, "cv_results_")
            results = {"params": [_short(params) for params in estimator.cv_results_["params"]],
                       "mean_test_score": estimator.cv_results_["mean_test_score"]}
            best = getattr(estimator, "best_params_", None)
            return estimator, results, None if best is None else _short(best)


def _is_limit(n_steps):
    return isinstance(n_steps, float) and math.isinf(n_steps)


class CrossValidationErrorDisplay:
    """Cross-validated error against the number of steps, one panel per penalty.

    The picture to read before trusting self-distillation: in each panel
    (one ``lambda``) every weight ``alpha`` is a line over the steps ``tau =
    1, ..., max_steps``, starting from plain kernel ridge regression at
    ``tau = 1`` (the dotted horizontal reference). Where a line dips below
    the reference, distillation helped; where it climbs, the repeated
    shrinkage of Lemma 4.2 over-regularises. The limit ``tau = inf`` of a
    fixed ``alpha`` (Theorem 4.5: kernel ridge with penalty ``lambda /
    alpha``) is a marker at the right end, and the best candidate a star.

    Use :meth:`from_estimator` with a fitted
    :class:`~selfdistill_sklearn.model_selection.SelfDistilledKernelRidgeCV`,
    or :meth:`from_cv_results` with the ``cv_results_`` of a
    ``GridSearchCV`` over
    :class:`~selfdistill_sklearn.SelfDistilledKernelRidge`.

    Parameters
    ----------
    reg_lambdas : list of float
        Penalties, one panel each.
    alphas : list of float or "optimal"
        Weights, one line each.
    errors : ndarray of shape (n_lambdas, n_alphas, max_steps)
        Mean cross-validated error of step ``tau = 1, ..., max_steps``;
        ``nan`` where a candidate was not scored.
    limit_errors : ndarray of shape (n_lambdas, n_alphas)
        Mean error of the limit ``tau = inf``; ``nan`` where there is none
        (always for ``"optimal"``).
    best_params : dict, default=None
        ``reg_lambda``, ``alpha`` and ``n_steps`` of the candidate to mark.
    error_name : str, default="mean squared error"
        Label of the vertical axis.

    Attributes
    ----------
    lines_ : dict
        ``(lambda_index, alpha_index) -> Line2D``, the error over the steps.
    limit_markers_ : dict
        ``(lambda_index, alpha_index) -> Line2D``, the limit's marker.
    reference_lines_ : list of Line2D
        The level of ``tau = 1`` (plain kernel ridge) in each panel.
    best_marker_ : Line2D or None
    axes_ : ndarray of matplotlib Axes
        One per penalty.
    figure_ : matplotlib Figure

    See Also
    --------
    selfdistill_sklearn.SelfDistilledKernelRidgeCV : The search whose results are drawn.
    selfdistill_sklearn.SelfDistilledRidgeCV : The same search on explicit features;
        its ``cv_results_`` and ``best_params_`` go to :meth:`from_cv_results`.

    Examples
    --------
    >>> import numpy as np
    >>> from selfdistill_sklearn.model_selection import SelfDistilledKernelRidgeCV
    >>> from selfdistill_sklearn.plotting.cross_validation import (
    ...     CrossValidationErrorDisplay)
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(60, 1))
    >>> y = np.sin(2 * np.pi * X[:, 0]) + rng.normal(scale=0.3, size=60)
    >>> search = SelfDistilledKernelRidgeCV(
    ...     reg_lambdas=[0.01, 0.1], alphas=[0.0, 0.5, "optimal"], max_steps=4,
    ...     kernel="rbf", gamma=10.0).fit(X, y)
    >>> display = CrossValidationErrorDisplay.from_estimator(search)
    >>> display.errors.shape
    (2, 3, 4)
    """

    def __init__(self, *, reg_lambdas, alphas, errors, limit_errors, best_params=None,
                 error_name="mean squared error"):
        self.reg_lambdas = list(reg_lambdas)
        self.alphas = list(alphas)
        self.errors = np.asarray(errors, dtype=float)
        self.limit_errors = np.asarray(limit_errors, dtype=float)
        self.best_params = best_params
        self.error_name = error_name

    @classmethod
    def from_cv_results(cls, cv_results, *, scoring=None, best_params=None, max_panels=8,
                        plot=True, **plot_kwargs):
        """Collect the errors from a ``cv_results_`` dictionary and draw them.

        Parameters
        ----------
        cv_results : dict
            With ``params`` (dicts holding ``reg_lambda``, ``alpha`` and
            ``n_steps``) and ``mean_test_score``, as
            ``SelfDistilledKernelRidgeCV`` and ``GridSearchCV`` store them.
            Candidates with a schedule of weights are left out.
        scoring : str, default=None
            The scoring that produced the scores (``None`` stands for
            ``"neg_mean_squared_error"``). Scores of ``neg_*`` names are
            negated and drawn as errors; others (``"r2"``) are drawn as they
            are.
        best_params : dict, default=None
            Candidate to mark with a star.
        max_panels : int >= 1 or None, default=8
            Most penalties drawn: of a longer grid (the automatic grid has
            45), the ``max_panels`` consecutive ones centred on the best
            penalty (on the smallest penalties without ``best_params``).
            ``None`` draws all.
        plot : bool, default=True
            Whether to call :meth:`plot`.
        **plot_kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : CrossValidationErrorDisplay

        Raises
        ------
        ValueError
            If a candidate lacks ``reg_lambda``, ``alpha`` or ``n_steps``, or
            several differ in other parameters only; if ``max_panels`` is not
            a positive int or None.
        """
        if max_panels is not None and (not isinstance(max_panels, int) or max_panels < 1
                                       or isinstance(max_panels, bool)):
            raise ValueError(f"max_panels must be an int >= 1 or None, got {max_panels!r}.")
        error_name, negate = _metric_label(scoring)
        reg_lambdas, alphas, max_steps = [], [], 0
        entries, seen = [], {}
        for params, score in zip(cv_results["params"], cv_results["mean_test_score"],
                                 strict=True):
            missing = [name for name in _NAMES if name not in params]
            if missing:
                raise ValueError(
                    f"cv_results_ must hold candidates with reg_lambda, alpha and n_steps; a "
                    f"candidate lacks {missing}: {params}."
                )
            key = (params["reg_lambda"], repr(params["alpha"]), params["n_steps"])
            others = {name: value for name, value in params.items() if name not in _NAMES}
            if key in seen and seen[key] != others:
                raise ValueError(
                    "cv_results_ holds several candidates with the same reg_lambda, alpha and "
                    f"n_steps that differ in {sorted(others)}, which one panel per penalty "
                    "cannot show. Search those with GridSearchCV(SelfDistilledKernelRidgeCV("
                    f"...), {{{', '.join(repr(k) for k in sorted(others))}: [...]}}) and draw "
                    "that, or pass the cv_results_ of one value of them."
                )
            seen[key] = others
            alpha, n_steps = params["alpha"], params["n_steps"]
            if not isinstance(alpha, str) and np.ndim(alpha) != 0:
                continue
            reg_lambda = params["reg_lambda"]
            if reg_lambda not in reg_lambdas:
                reg_lambdas.append(reg_lambda)
            if alpha not in alphas:
                alphas.append(alpha)
            if not _is_limit(n_steps):
                max_steps = max(max_steps, int(n_steps))
            entries.append((reg_lambdas.index(reg_lambda), alphas.index(alpha), n_steps,
                            -score if negate else score))
        kept = list(range(len(reg_lambdas)))
        if max_panels is not None and len(reg_lambdas) > max_panels:
            order = sorted(kept, key=lambda index: reg_lambdas[index])
            best_lambda = None if best_params is None else best_params.get("reg_lambda")
            centre = (order.index(reg_lambdas.index(best_lambda))
                      if best_lambda in reg_lambdas else 0)
            start = min(max(centre - max_panels // 2, 0), len(order) - max_panels)
            kept = sorted(order[start:start + max_panels])
            entries = [(kept.index(entry[0]),) + entry[1:] for entry in entries
                       if entry[0] in kept]
            reg_lambdas = [reg_lambdas[index] for index in kept]
        errors = np.full((len(reg_lambdas), len(alphas), max_steps), np.nan)
        limit_errors = np.full((len(reg_lambdas), len(alphas)), np.nan)
        for lambda_index, alpha_index, n_steps, error in entries:
            if _is_limit(n_steps):
                limit_errors[lambda_index, alpha_index] = error
            else:
                errors[lambda_index, alpha_index, int(n_steps) - 1] = error
        display = cls(reg_lambdas=reg_lambdas, alphas=alphas, errors=errors,
                      limit_errors=limit_errors, best_params=best_params,
                      error_name=error_name)
        return display.plot(**plot_kwargs) if plot else display

    @classmethod
    def from_estimator(cls, estimator, *, plot=True, **plot_kwargs):
        """Draw the cross-validated errors of a fitted search.

        Parameters
        ----------
        estimator : SelfDistilledKernelRidgeCV, GridSearchCV or Pipeline
            Fitted: a ``SelfDistilledKernelRidgeCV``; a ``GridSearchCV`` over
            ``SelfDistilledKernelRidge`` (or a pipeline ending in one, whose
            parameter names lose their ``step__`` prefix) whose candidates are
            given by ``reg_lambda``, ``alpha`` and ``n_steps``; a
            ``GridSearchCV`` over ``SelfDistilledKernelRidgeCV`` (for instance
            over ``gamma``), drawn by its ``best_estimator_``'s search; or a
            ``Pipeline`` ending in one of these. The best candidate is marked.
        plot : bool, default=True
            Whether to call :meth:`plot`.
        **plot_kwargs
            Passed to :meth:`from_cv_results` (``max_panels``) and
            :meth:`plot`.

        Returns
        -------
        display : CrossValidationErrorDisplay

        Raises
        ------
        TypeError
            If ``estimator`` is none of these.
        sklearn.exceptions.NotFittedError
            If it is one but is not fitted.
        ValueError
            If the grid varies other parameters besides ``reg_lambda``,
            ``alpha`` and ``n_steps``, or the scoring is not given by name.
        """
        search, cv_results, best_params = _searched_results(estimator)
        scoring = getattr(search, "scoring", None)
        if scoring is None and not isinstance(search, SelfDistilledKernelRidgeCV):
            scoring = "r2"  # GridSearchCV's default: the regressor's score method
        if scoring is not None and not isinstance(scoring, str):
            raise ValueError(
                "from_estimator needs the scoring by name to label the error; pass "
                "cv_results_ to from_cv_results with scoring=<name> instead."
            )
        return cls.from_cv_results(cv_results, scoring=scoring, best_params=best_params,
                                   plot=plot, **plot_kwargs)

    def plot(self, axes=None, *, cmap="viridis", ncols=None, sharey=True):
        """Draw one panel per penalty.

        Parameters
        ----------
        axes : array-like of matplotlib Axes, default=None
            At least one per penalty; a new figure when ``None``.
        cmap : str, default="viridis"
            Colormap of the fixed weights, from ``alpha = 0`` to ``1``;
            ``"optimal"`` is drawn in black.
        ncols : int, default=None
            Panels per row of a new figure (at most 4 by default).
        sharey : bool, default=True
            Share the vertical axis between the panels of a new figure.

        Returns
        -------
        display : CrossValidationErrorDisplay
            Itself, with ``lines_``, ``limit_markers_``, ``reference_lines_``,
            ``best_marker_``, ``axes_`` and ``figure_``.
        """
        plt = import_pyplot()
        import matplotlib as mpl

        n_lambdas, n_alphas, max_steps = self.errors.shape
        new_figure = axes is None
        if new_figure:
            ncols = ncols or min(n_lambdas, 4)
            nrows = math.ceil(n_lambdas / ncols)
            figure, axes = plt.subplots(nrows, ncols, sharey=sharey, squeeze=False,
                                        figsize=(3.2 * ncols, 2.8 * nrows),
                                        constrained_layout=True)
            for extra in axes.ravel()[n_lambdas:]:
                extra.set_visible(False)
        axes = np.asarray(axes, dtype=object).ravel()
        if axes.size < n_lambdas:
            raise ValueError(f"axes holds {axes.size} Axes but {n_lambdas} panels are drawn.")
        colormap = mpl.colormaps[cmap]
        steps = np.arange(1, max_steps + 1)
        limit_x = max_steps + 1
        self.lines_, self.limit_markers_, self.reference_lines_ = {}, {}, []
        self.best_marker_ = None
        panels = zip(axes[:n_lambdas], self.reg_lambdas, strict=True)
        for lambda_index, (ax, reg_lambda) in enumerate(panels):
            first = self.errors[lambda_index, :, 0]
            if np.any(np.isfinite(first)):
                self.reference_lines_.append(ax.axhline(
                    np.nanmin(first), color="0.6", linestyle=":", linewidth=1,
                    label="kernel ridge (τ = 1)"))
            for alpha_index, alpha in enumerate(self.alphas):
                if isinstance(alpha, str):
                    style = {"color": "black", "linestyle": "--", "label": f"α = {alpha}"}
                else:
                    style = {"color": colormap(0.1 + 0.8 * float(alpha)),
                             "label": f"α = {float(alpha):g}"}
                (line,) = ax.plot(steps, self.errors[lambda_index, alpha_index], marker=".",
                                  **style)
                self.lines_[lambda_index, alpha_index] = line
                limit = self.limit_errors[lambda_index, alpha_index]
                if np.isfinite(limit):
                    (marker,) = ax.plot([limit_x], [limit], marker="o", linestyle="none",
                                        color=style["color"], markerfacecolor="none")
                    self.limit_markers_[lambda_index, alpha_index] = marker
            best = self.best_params
            if best is not None and best.get("reg_lambda") == reg_lambda and (
                    best.get("alpha") in self.alphas):
                alpha_index = self.alphas.index(best["alpha"])
                if _is_limit(best["n_steps"]):
                    x, y = limit_x, self.limit_errors[lambda_index, alpha_index]
                else:
                    x = int(best["n_steps"])
                    y = self.errors[lambda_index, alpha_index, x - 1]
                (self.best_marker_,) = ax.plot([x], [y], marker="*", markersize=14,
                                               color="crimson", linestyle="none", label="best")
            self._fit_limits(ax, lambda_index, limit_x)
            ax.set_xticks(list(steps) + [limit_x])
            ax.set_xticklabels([str(step) for step in steps] + ["∞"])
            ax.set_title(f"λ = {reg_lambda:g}")
            ax.set_xlabel("steps τ")
        axes[0].set_ylabel(f"cross-validated {self.error_name}")
        handles, labels = axes[0].get_legend_handles_labels()
        for ax in axes[1:n_lambdas]:
            more_handles, more_labels = ax.get_legend_handles_labels()
            for handle, label in zip(more_handles, more_labels, strict=True):
                if label not in labels:
                    handles.append(handle)
                    labels.append(label)
        if new_figure:
            axes[0].figure.legend(handles, labels, fontsize="small", loc="outside right upper")
        else:
            axes[n_lambdas - 1].legend(handles, labels, fontsize="small", loc="best")
        self.axes_ = axes[:n_lambdas]
        self.figure_ = axes[0].figure
        return self

    def _fit_limits(self, ax, lambda_index, limit_x):
        """Scale the panel to the steps; a limit far outside (the zero function
        of ``alpha = 0``) is named at the edge instead of flattening the lines."""
        steps = self.errors[np.isfinite(self.errors)]
        if steps.size == 0:
            return
        low, high = steps.min(), steps.max()
        limits = self.limit_errors[lambda_index]
        limits = limits[np.isfinite(limits)]
        span = max(high - low, 1e-12 * max(abs(high), 1.0))
        inside = limits[(limits >= low - span) & (limits <= high + span)]
        low = min(low, inside.min()) if inside.size else low
        high = max(high, inside.max()) if inside.size else high
        margin = 0.08 * max(high - low, 1e-12 * max(abs(high), 1.0))
        ax.set_ylim(low - margin, high + margin)
        for value in limits[(limits > high + margin) | (limits < low - margin)]:
            edge = high + margin if value > high else low - margin
            above = value > high
            ax.annotate(f"{value:.3g} {'↑' if above else '↓'}", xy=(limit_x, edge),
                        xytext=(0, -10 if above else 4), textcoords="offset points",
                        ha="center", fontsize="x-small", color="0.3")
