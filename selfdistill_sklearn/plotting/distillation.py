"""Displays of the paper's illustrative example (Section 4.5, Figures 2-4).

Each display follows scikit-learn's convention (cf.
:class:`sklearn.metrics.PredictionErrorDisplay`): ``from_estimator``
computes what is drawn from a fitted
:class:`~selfdistill_sklearn.SelfDistilledKernelRidge`, the constructor
takes those arrays directly, and ``plot`` draws them on an axes, keeps the
matplotlib artists as attributes and returns the display. matplotlib is
imported only when something is drawn.
"""

import math

import numpy as np
from sklearn.base import clone
from sklearn.utils.validation import check_array

from ..kernel_ridge import SelfDistilledKernelRidge
from ..model_selection import SelfDistilledKernelRidgeCV
from ._estimators import import_pyplot, transform, unwrap

__all__ = [
    "DistillationPathDisplay",
    "ShrinkageDiagonalDisplay",
    "ShrinkageRatioDisplay",
]


def _axes(ax):
    plt = import_pyplot()
    if ax is None:
        _, ax = plt.subplots()
    return ax


def _step_colors(n_steps, cmap):
    import_pyplot()
    import matplotlib as mpl

    colormap = mpl.colormaps[cmap]
    return [colormap(value) for value in np.linspace(0.1, 0.9, n_steps)]


def _unwrap(estimator, display):
    return unwrap(estimator, SelfDistilledKernelRidge, display,
                  through=(SelfDistilledKernelRidgeCV,))


#: Steps drawn, with the limit, for an estimator fitted with ``n_steps=inf``
#: (a search may choose the limit): the chain converging to it, as in the
#: paper's Figures 2 and 3.
LIMIT_STEPS = 4


def _fitted_limit(estimator):
    """Whether ``estimator`` was fitted with ``n_steps=inf`` (it keeps no steps)."""
    return not hasattr(estimator, "staged_dual_coef_")


def _fixed_alpha(estimator):
    """The scalar weight of the estimator, or None for a schedule or
    ``"optimal"`` (only a fixed weight has the limit of Theorem 4.5)."""
    alpha = estimator.alpha
    if isinstance(alpha, str) or np.ndim(alpha) != 0:
        return None
    return float(alpha)


class DistillationPathDisplay:
    """The function of every self-distillation step and its limit (Figure 2).

    Use :meth:`from_estimator` to compute it from a fitted estimator. The
    functions ``f(x, beta(t))`` of eq. (4) are drawn as lines over one input
    feature, the limit of Theorem 4.5 (for a fixed ``alpha``) dashed, and the
    training points as crosses.

    Parameters
    ----------
    x : ndarray of shape (n_points,)
        Positions on the horizontal axis, sorted.
    staged_predictions : ndarray of shape (n_steps, n_points)
        ``f(x, beta(t))`` for ``t = 1, ..., n_steps``.
    limit_prediction : ndarray of shape (n_points,), default=None
        ``f(x, beta(infinity))``; not drawn when ``None``.
    x_train, y_train : ndarray of shape (n_samples,), default=None
        Data points drawn as crosses.

    Attributes
    ----------
    lines_ : list of matplotlib Line2D
        One line per step, step 1 first.
    limit_line_ : matplotlib Line2D or None
        The dashed limit.
    points_ : matplotlib PathCollection or None
        The data points.
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    See Also
    --------
    ShrinkageDiagonalDisplay : The shrinkage of every step (Figure 3).
    ShrinkageRatioDisplay : The ratios of consecutive shrinkage factors (Figure 4).
    selfdistill_sklearn.SelfDistilledKernelRidge.staged_predict : The functions drawn.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from selfdistill_sklearn import SelfDistilledKernelRidge
    >>> from selfdistill_sklearn.datasets import make_noisy_sinusoid
    >>> from selfdistill_sklearn.plotting.distillation import DistillationPathDisplay
    >>> X, y = make_noisy_sinusoid(random_state=0)
    >>> model = SelfDistilledKernelRidge(alpha=0.25, n_steps=6, reg_lambda=0.2,
    ...                                  kernel="rbf", gamma=10.0).fit(X, y)
    >>> display = DistillationPathDisplay.from_estimator(model, X, y)
    >>> len(display.lines_)
    6
    """

    def __init__(self, *, x, staged_predictions, limit_prediction=None, x_train=None,
                 y_train=None):
        self.x = x
        self.staged_predictions = staged_predictions
        self.limit_prediction = limit_prediction
        self.x_train = x_train
        self.y_train = y_train

    @classmethod
    def from_estimator(cls, estimator, X, y=None, *, X_eval=None, feature=0, n_points=200,
                       output=0, limit=True, sample_weight=None, ax=None, cmap="viridis",
                       line_kw=None, limit_kw=None, scatter_kw=None):
        """Compute the functions of every step from a fitted estimator and plot them.

        Parameters
        ----------
        estimator : SelfDistilledKernelRidge, Pipeline, GridSearchCV or \
SelfDistilledKernelRidgeCV
            Fitted: the estimator, a ``Pipeline`` whose last step is one
            (``X`` and ``X_eval`` then go through the earlier steps), or a
            search whose ``best_estimator_`` leads to one (``GridSearchCV``
            over either estimator or a pipeline ending in one,
            ``SelfDistilledKernelRidgeCV``). Fitted with ``n_steps=inf`` (a
            search may choose the limit), the limit is the estimator's own
            function, and the first ``LIMIT_STEPS`` (4) steps that converge
            to it are drawn from a refit on ``X, y`` with those steps (none
            without ``y``).
        X : array-like of shape (n_samples, n_features)
            The training inputs, as given to ``estimator`` (drawn as crosses
            when ``y`` is given; their range sets the grid when ``X_eval`` is
            None).
        y : array-like of shape (n_samples,) or (n_samples, n_targets), default=None
            The training targets. Needed for the data points and for the
            limit, which is the estimator refitted on ``X, y`` with
            ``n_steps=inf`` (kernel ridge with penalty ``lambda / alpha``,
            eq. (17)).
        X_eval : array-like of shape (n_points, n_features), default=None
            Where to evaluate the functions. By default a grid of
            ``n_points`` over the range of ``X``, which needs a single
            feature; with several features pass ``X_eval`` (for instance the
            data with one feature varied).
        feature : int, default=0
            Column of ``X`` and ``X_eval`` on the horizontal axis.
        n_points : int, default=200
            Size of the default grid.
        output : int, default=0
            Which target to draw when there are several.
        limit : bool, default=True
            Draw the limit of infinitely many steps. Needs ``y`` and a fixed
            scalar ``alpha``; for a schedule or ``"optimal"`` no limit exists
            and none is drawn.
        sample_weight : array-like of shape (n_samples,), default=None
            The sample weights of the fit, used to refit the limit.
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when ``None``.
        cmap : str, default="viridis"
            Colormap running over the steps.
        line_kw, limit_kw, scatter_kw : dict, default=None
            Keyword arguments of the step lines, the limit line and the data
            points, passed to :meth:`plot`.

        Returns
        -------
        display : DistillationPathDisplay
            The display, drawn.

        Raises
        ------
        TypeError
            If ``estimator`` holds no ``SelfDistilledKernelRidge``.
        sklearn.exceptions.NotFittedError
            If it does but is not fitted.
        ValueError
            With ``kernel="precomputed"``, or several features and no
            ``X_eval``.
        """
        estimator, pipelines = _unwrap(estimator, "DistillationPathDisplay")
        if estimator.kernel == "precomputed":
            raise ValueError("DistillationPathDisplay needs input features; it cannot draw "
                             "an estimator with kernel='precomputed'.")
        X = check_array(X, input_name="X")
        if X_eval is None:
            if X.shape[1] != 1:
                raise ValueError(
                    f"X has {X.shape[1]} features: pass X_eval, the inputs at which to draw "
                    "the functions (for instance the data with one feature varied)."
                )
            X_eval = np.linspace(X[:, 0].min(), X[:, 0].max(), n_points).reshape(-1, 1)
        X_eval = check_array(X_eval, input_name="X_eval")
        order = np.argsort(X_eval[:, feature], kind="stable")
        X_eval = X_eval[order]

        def column(prediction):
            prediction = np.asarray(prediction)
            return prediction if prediction.ndim == 1 else prediction[:, output]

        inputs = transform(pipelines, X_eval)
        limit_prediction = None
        alpha = _fixed_alpha(estimator)
        if _fitted_limit(estimator):
            # The limit is the fit itself; its first steps need the data again.
            limit_prediction = column(estimator.predict(inputs)) if limit else None
            staged = np.empty((0, X_eval.shape[0]))
            if y is not None:
                steps_model = clone(estimator).set_params(n_steps=LIMIT_STEPS)
                steps_model.fit(transform(pipelines, X), y, sample_weight=sample_weight)
                staged = np.stack([column(p) for p in steps_model.staged_predict(inputs)])
        else:
            staged = np.stack([column(p) for p in estimator.staged_predict(inputs)])
        if limit_prediction is None and limit and y is not None and alpha is not None:
            limit_model = clone(estimator).set_params(n_steps=math.inf)
            limit_model.fit(transform(pipelines, X), y, sample_weight=sample_weight)
            limit_prediction = column(limit_model.predict(inputs))
        y_train = None if y is None else column(y)
        display = cls(x=X_eval[:, feature], staged_predictions=staged,
                      limit_prediction=limit_prediction,
                      x_train=None if y is None else X[:, feature], y_train=y_train)
        return display.plot(ax=ax, cmap=cmap, line_kw=line_kw, limit_kw=limit_kw,
                            scatter_kw=scatter_kw)

    def plot(self, ax=None, *, cmap="viridis", line_kw=None, limit_kw=None, scatter_kw=None):
        """Draw the functions.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when ``None``.
        cmap : str, default="viridis"
            Colormap running over the steps.
        line_kw, limit_kw, scatter_kw : dict, default=None
            Keyword arguments of the step lines, the limit line and the data
            points.

        Returns
        -------
        display : DistillationPathDisplay
            Itself, with ``lines_``, ``limit_line_``, ``points_``, ``ax_`` and ``figure_``.
        """
        ax = _axes(ax)
        staged = np.asarray(self.staged_predictions)
        colors = _step_colors(len(staged), cmap)
        self.lines_ = []
        for step, (prediction, color) in enumerate(zip(staged, colors, strict=True), start=1):
            kw = {"color": color, "label": f"$f_{{{step}}}$"} | (line_kw or {})
            self.lines_.append(ax.plot(self.x, prediction, **kw)[0])
        self.limit_line_ = None
        if self.limit_prediction is not None:
            kw = {"color": "black", "linestyle": "--", "label": r"$f_\infty$"} | (limit_kw or {})
            self.limit_line_ = ax.plot(self.x, self.limit_prediction, **kw)[0]
        self.points_ = None
        if self.x_train is not None and self.y_train is not None:
            kw = {"marker": "x", "color": "black", "label": "training data",
                  "zorder": 3} | (scatter_kw or {})
            self.points_ = ax.scatter(self.x_train, self.y_train, **kw)
        ax.set_xlabel("x")
        ax.set_ylabel(r"$f(x, \hat\beta^{(\tau)})$")
        ax.legend(ncols=2, fontsize="small")
        self.ax_ = ax
        self.figure_ = ax.figure
        return self


class _SpectralDisplay:
    """Shared ``from_estimator`` of the displays read from ``diag B(t)``."""

    @classmethod
    def from_estimator(cls, estimator, X=None, *, n_steps=None, ax=None, **plot_kw):
        """Compute the shrinkage of every step from a fitted estimator and plot it.

        The diagonals of ``B(t)`` depend on a kernel matrix, the penalty and
        the weights (through
        :meth:`~selfdistill_sklearn.SelfDistilledKernelRidge.spectral_shrinkage`,
        one eigendecomposition of the kernel matrix); they do not depend on
        targets.

        Parameters
        ----------
        estimator : SelfDistilledKernelRidge, Pipeline, GridSearchCV or \
SelfDistilledKernelRidgeCV
            Fitted: the estimator, a ``Pipeline`` whose last step is one, or a
            search whose ``best_estimator_`` leads to one.
        X : {array-like, sparse matrix} of shape (n, n_features), default=None
            Samples whose kernel matrix is decomposed, as given to
            ``estimator`` (through a pipeline's earlier steps); by default the
            training data the estimator holds (with its sample weights).
        n_steps : int, default=None
            Number of steps to draw: the fitted ``n_steps`` by default, and
            ``LIMIT_STEPS`` (4) with the limit after a fit with
            ``n_steps=inf`` (a search may choose it), as in the paper's
            Figure 3; a fixed scalar ``alpha`` can be extended further.
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when ``None``.
        **plot_kw
            Passed to :meth:`plot`.

        Returns
        -------
        display : ShrinkageDiagonalDisplay or ShrinkageRatioDisplay
            An instance of the class it is called on, drawn.

        Raises
        ------
        TypeError
            If ``estimator`` holds no ``SelfDistilledKernelRidge``.
        sklearn.exceptions.NotFittedError
            If it does but is not fitted.
        """
        estimator, pipelines = _unwrap(estimator, cls.__name__)
        if X is not None:
            X = transform(pipelines, X)
        if n_steps is None and _fitted_limit(estimator):
            n_steps = LIMIT_STEPS
        shrinkage = estimator.spectral_shrinkage(n_steps=n_steps, X=X)
        return cls._from_shrinkage(shrinkage).plot(ax=ax, **plot_kw)


class ShrinkageDiagonalDisplay(_SpectralDisplay):
    """The diagonal of ``B(t)`` for every step as overlaid bars (Figure 3).

    Training predictions of step ``t`` are ``V B(t) V^T y`` (eq. (10)); the
    diagonal entry ``k`` of ``B(t)`` is how much of the target's component
    along the ``k``-th eigenvector (eigenvalues ascending) step ``t`` keeps.
    At each index the bars are overlaid, the smallest in magnitude on top, so
    every step stays visible; for a fixed ``alpha`` in ``[0, 1)`` the entries
    decrease with the step (Lemma 4.2) and the later steps are in front. The
    limit (Theorem A.5) is drawn as hatched outlines. With an intercept
    (``fit_intercept=True``) the eigenvectors are those of the centred kernel
    matrix, one fewer: the constant direction is the intercept's, never
    shrunk, and not drawn (see
    :meth:`~selfdistill_sklearn.SelfDistilledKernelRidge.spectral_shrinkage`).

    Parameters
    ----------
    diagonals : ndarray of shape (n_steps, n_samples)
        Row ``t - 1`` is the diagonal of ``B(t)``.
    limit : ndarray of shape (n_samples,), default=None
        Diagonal of ``B(infinity)``; not drawn when ``None``.
    eigenvalues : ndarray of shape (n_samples,), default=None
        The eigenvalues, ascending (kept for reference, not drawn).

    Attributes
    ----------
    bars_ : list of matplotlib BarContainer
        One per step, step 1 first.
    limit_bars_ : matplotlib BarContainer or None
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    See Also
    --------
    ShrinkageRatioDisplay : The ratios of consecutive diagonal entries (Figure 4).
    DistillationPathDisplay : The function of every step (Figure 2).
    selfdistill_sklearn.SelfDistilledKernelRidge.spectral_shrinkage : The values drawn.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from selfdistill_sklearn import SelfDistilledKernelRidge
    >>> from selfdistill_sklearn.datasets import make_noisy_sinusoid
    >>> from selfdistill_sklearn.plotting.distillation import ShrinkageDiagonalDisplay
    >>> X, y = make_noisy_sinusoid(random_state=0)
    >>> model = SelfDistilledKernelRidge(alpha=0.0, n_steps=6, reg_lambda=0.2,
    ...                                  kernel="rbf", gamma=10.0).fit(X, y)
    >>> display = ShrinkageDiagonalDisplay.from_estimator(model)
    >>> len(display.bars_), len(display.bars_[0])  # 11 samples, one direction is the intercept's
    (6, 10)
    """

    def __init__(self, *, diagonals, limit=None, eigenvalues=None):
        self.diagonals = diagonals
        self.limit = limit
        self.eigenvalues = eigenvalues

    @classmethod
    def _from_shrinkage(cls, shrinkage):
        return cls(diagonals=shrinkage.diagonals, limit=shrinkage.limit,
                   eigenvalues=shrinkage.eigenvalues)

    def plot(self, ax=None, *, cmap="viridis", bar_kw=None, limit_kw=None):
        """Draw the bars.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when ``None``.
        cmap : str, default="viridis"
            Colormap running over the steps.
        bar_kw, limit_kw : dict, default=None
            Keyword arguments of the step bars and of the limit bars.

        Returns
        -------
        display : ShrinkageDiagonalDisplay
            Itself, with ``bars_``, ``limit_bars_``, ``ax_`` and ``figure_``.
        """
        ax = _axes(ax)
        diagonals = np.asarray(self.diagonals)
        index = np.arange(1, diagonals.shape[1] + 1)
        colors = _step_colors(len(diagonals), cmap)
        self.bars_ = []
        for step, (diagonal, color) in enumerate(zip(diagonals, colors, strict=True), start=1):
            kw = {"color": color, "width": 0.8, "label": rf"$\tau = {step}$"} | (bar_kw or {})
            self.bars_.append(ax.bar(index, diagonal, **kw))
        # Within each index the smallest bar in magnitude goes on top, so that every
        # step stays visible even where the entries do not decrease with the step.
        heights = np.abs(diagonals)
        for k in range(diagonals.shape[1]):
            for rank, step in enumerate(np.argsort(-heights[:, k], kind="stable")):
                self.bars_[step][k].set_zorder(1 + rank / len(diagonals))
        self.limit_bars_ = None
        if self.limit is not None:
            kw = {"width": 0.8, "fill": False, "hatch": "//", "edgecolor": "black",
                  "label": r"$\tau = \infty$", "zorder": 3} | (limit_kw or {})
            self.limit_bars_ = ax.bar(index, np.asarray(self.limit), **kw)
        ax.set_xticks(index)
        ax.set_xlabel("k (eigenvalues ascending)")
        ax.set_ylabel(r"$[B^{(\tau)}]_{k,k}$")
        ax.legend(fontsize="small")
        self.ax_ = ax
        self.figure_ = ax.figure
        return self


class ShrinkageRatioDisplay(_SpectralDisplay):
    """Ratios ``R_k = [B(t)]_{k+1,k+1} / [B(t)]_{k,k}`` for every step (Figure 4).

    With the eigenvalues ascending, ``R_k >= 1`` compares the shrinkage of
    neighbouring basis functions. For ``alpha = 0`` every ratio strictly
    increases with the step (Theorem 4.3, eq. (14)): the smaller eigenvalue
    shrinks faster. For ``alpha`` in ``(0, 1)`` eq. (15) gives the sign of
    the change, and the ratios need not increase. Ratios with a zero
    denominator (a zero eigenvalue, or a collapsed step) are left out.

    Parameters
    ----------
    ratios : ndarray of shape (n_steps, n_samples - 1)
        Row ``t - 1`` holds ``R_1, ..., R_{n-1}`` of step ``t``.

    Attributes
    ----------
    lines_ : list of matplotlib Line2D
        One per step, step 1 first.
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    See Also
    --------
    ShrinkageDiagonalDisplay : The diagonals the ratios are taken of (Figure 3).
    DistillationPathDisplay : The function of every step (Figure 2).
    selfdistill_sklearn.SelfDistilledKernelRidge.spectral_shrinkage : The values drawn.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from selfdistill_sklearn import SelfDistilledKernelRidge
    >>> from selfdistill_sklearn.datasets import make_noisy_sinusoid
    >>> from selfdistill_sklearn.plotting.distillation import ShrinkageRatioDisplay
    >>> X, y = make_noisy_sinusoid(random_state=0)
    >>> model = SelfDistilledKernelRidge(alpha=0.0, n_steps=6, reg_lambda=0.2,
    ...                                  kernel="rbf", gamma=10.0).fit(X, y)
    >>> display = ShrinkageRatioDisplay.from_estimator(model)
    >>> len(display.lines_)
    6
    """

    def __init__(self, *, ratios):
        self.ratios = ratios

    @classmethod
    def _from_shrinkage(cls, shrinkage):
        return cls(ratios=shrinkage.ratios)

    def plot(self, ax=None, *, cmap="viridis", log_scale="auto", line_kw=None):
        """Draw the ratios.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when ``None``.
        cmap : str, default="viridis"
            Colormap running over the steps.
        log_scale : {"auto", True, False}, default="auto"
            Logarithmic vertical axis (for ``alpha = 0`` the ratios grow as a
            power of the step, eq. (14)). ``"auto"`` uses it when every drawn
            ratio is positive and a symmetric logarithmic axis otherwise
            (weights outside ``[0, 1]``, as ``"optimal"`` may choose, can make
            entries of ``B`` negative).
        line_kw : dict, default=None
            Keyword arguments of the lines.

        Returns
        -------
        display : ShrinkageRatioDisplay
            Itself, with ``lines_``, ``ax_`` and ``figure_``.
        """
        ax = _axes(ax)
        ratios = np.asarray(self.ratios, dtype=float)
        index = np.arange(1, ratios.shape[1] + 1)
        colors = _step_colors(len(ratios), cmap)
        self.lines_ = []
        for step, (ratio, color) in enumerate(zip(ratios, colors, strict=True), start=1):
            shown = np.where(np.isfinite(ratio), ratio, np.nan)
            kw = {"color": color, "marker": "o", "label": rf"$\tau = {step}$"} | (line_kw or {})
            self.lines_.append(ax.plot(index, shown, **kw)[0])
        if log_scale == "auto":
            finite = ratios[np.isfinite(ratios)]
            ax.set_yscale("log" if np.all(finite > 0) else "symlog")
        elif log_scale:
            ax.set_yscale("log")
        from matplotlib.ticker import FormatStrFormatter, MaxNLocator, NullLocator

        if ax.get_yscale() == "log":
            low, high = ax.get_ylim()
            if high < 10 * low:
                # Within a decade a log axis has one or two labelled ticks; evenly spaced
                # plain numbers read better.
                ax.yaxis.set_major_locator(MaxNLocator(nbins=6))
                ax.yaxis.set_minor_locator(NullLocator())
                ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        elif ax.get_yscale() == "symlog":
            ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))  # 1, 0, -10, not 10^0
            ax.axhline(0.0, color="0.7", linewidth=0.8, zorder=0)
        ax.set_xticks(index)
        ax.set_xlabel("k (eigenvalues ascending)")
        ax.set_ylabel(r"$R_k^{(\tau)}$")
        ax.legend(fontsize="small")
        self.ax_ = ax
        self.figure_ = ax.figure
        return self
