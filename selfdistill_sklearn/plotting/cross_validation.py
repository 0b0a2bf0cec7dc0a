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
from sklearn.utils.validation import check_is_fitted

__all__ = ["CrossValidationErrorDisplay"]


def _metric_label(scoring):
    """The drawn quantity and whether the score must be negated to get it."""
    name = scoring or "neg_mean_squared_error"
    if name.startswith("neg_"):
        return name[4:].replace("_", " "), True
    return name.replace("_", " "), False


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
    def from_cv_results(cls, cv_results, *, scoring=None, best_params=None, plot=True,
                        **plot_kwargs):
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
        plot : bool, default=True
            Whether to call :meth:`plot`.
        **plot_kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : CrossValidationErrorDisplay
        """
        error_name, negate = _metric_label(scoring)
        reg_lambdas, alphas, max_steps = [], [], 0
        entries = []
        for params, score in zip(cv_results["params"], cv_results["mean_test_score"],
                                 strict=True):
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
        estimator : SelfDistilledKernelRidgeCV or GridSearchCV
            Fitted, with candidates given by ``reg_lambda``, ``alpha`` and
            ``n_steps``. The best candidate is marked.
        plot : bool, default=True
            Whether to call :meth:`plot`.
        **plot_kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : CrossValidationErrorDisplay
        """
        check_is_fitted(estimator, "cv_results_")
        scoring = getattr(estimator, "scoring", None)
        if scoring is not None and not isinstance(scoring, str):
            raise ValueError(
                "from_estimator needs the scoring by name to label the error; pass "
                "cv_results_ to from_cv_results with scoring=<name> instead."
            )
        return cls.from_cv_results(estimator.cv_results_, scoring=scoring,
                                   best_params=getattr(estimator, "best_params_", None),
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
        """
        import matplotlib as mpl
        import matplotlib.pyplot as plt

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
