"""Self-distilled ridge regression on explicit features, for millions of rows."""

import math
import numbers

import numpy as np
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin, clone
from sklearn.kernel_approximation import Nystroem
from sklearn.model_selection import check_cv
from sklearn.utils import Bunch, check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from . import _streaming as streaming
from ._candidates import CandidateGrid, as_list
from ._primal import split_cells
from ._primal_search import PRIMAL_SCORINGS, fit_from_moments, search
from ._validation import (
    check_alpha,
    check_bool,
    check_n_steps,
    check_reg_lambda,
    check_sample_weight,
    shrinkage_alphas,
)
from .closed_forms import limit_shrinkage_diagonal, shrinkage_diagonals, shrinkage_ratios

__all__ = ["PRIMAL_SCORINGS", "SelfDistilledRidge", "SelfDistilledRidgeCV"]

_FEATURE_ATTRIBUTES = ("n_features_in_", "feature_names_in_")


class _PrimalRegressor(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Validation, feature maps, streaming and prediction shared by the primal
    estimators; the mathematics is in :mod:`selfdistill_sklearn._primal`."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # -- training data -------------------------------------------------------------------
    def _training_data(self, X, y, sample_weight):
        """Checked training data: ``X``, targets ``Y`` of shape (n, k), weights."""
        if streaming.is_dask_array(X) or streaming.is_dask_array(y):
            if not streaming.is_dask_array(X):
                raise TypeError("y is a dask array but X is not: pass X as a dask array too.")
            streaming.check_dask_training_data(X, y, sample_weight)
            n = X.shape[0]
            if streaming.is_dask_array(y):
                if y.ndim not in (1, 2) or y.shape[0] != n:
                    raise ValueError(f"y must have shape ({n},) or ({n}, n_targets), got "
                                     f"{y.shape}.")
                if y.dtype.kind not in "fiub":
                    raise ValueError(f"y must hold numbers, got dtype {y.dtype}.")
            else:
                y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
                if y.ndim not in (1, 2) or y.shape[0] != n:
                    raise ValueError(f"y must have shape ({n},) or ({n}, n_targets), got "
                                     f"{y.shape}.")
            self.n_features_in_ = X.shape[1]
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            y_ndim = y.ndim
            Y = y.astype(np.float64) if y.ndim == 2 else y.astype(np.float64)[:, None]
            if sample_weight is not None and not streaming.is_dask_array(sample_weight):
                sample_weight = check_sample_weight(sample_weight, n)
            elif sample_weight is not None and sample_weight.shape != (n,):
                raise ValueError(f"sample_weight must have shape ({n},), got "
                                 f"{sample_weight.shape}.")
            return X, Y, sample_weight, y_ndim
        X, y = validate_data(self, X, y, accept_sparse=("csr", "csc"), multi_output=True,
                             y_numeric=True)
        sample_weight = check_sample_weight(sample_weight, X.shape[0])
        Y = np.asarray(y, dtype=np.float64)
        return X, Y.reshape(X.shape[0], -1), sample_weight, Y.ndim

    def _check_block_size(self):
        if not isinstance(self.block_size, numbers.Integral) or isinstance(self.block_size, bool):
            raise TypeError(f"block_size must be an int >= 1, got {self.block_size!r}.")
        if self.block_size < 1:
            raise ValueError(f"block_size must be >= 1 rows, got {self.block_size}.")
        return int(self.block_size)

    def _fit_feature_map(self, X, Y, y_ndim, block_size):
        """Fit a clone of ``feature_map``; return it with the number of features
        and the shifts that centre the sums (see :mod:`~selfdistill_sklearn._primal`)."""
        n = X.shape[0]
        feature_map = self.feature_map
        if feature_map is not None:
            if not (hasattr(feature_map, "fit") and hasattr(feature_map, "transform")):
                raise TypeError(
                    "feature_map must be None or a scikit-learn transformer with fit and "
                    f"transform (Nystroem, RBFSampler, a Pipeline ...), got {feature_map!r}."
                )
            size = self.feature_map_samples
            if size is not None and (not isinstance(size, numbers.Integral)
                                     or isinstance(size, bool) or size < 1):
                raise ValueError(f"feature_map_samples must be None or an int >= 1, got "
                                 f"{size!r}.")
            rows = None
            if size is not None and n > size:
                rng = check_random_state(self.random_state)
                rows = np.sort(rng.choice(n, size=size, replace=False))
            X_fit = X if rows is None else X[rows]
            y_fit = Y if rows is None else Y[rows]
            if streaming.is_dask_array(X_fit) or streaming.is_dask_array(y_fit):
                import dask

                X_fit, y_fit = dask.compute(X_fit, y_fit)
            X_fit = X_fit.astype(np.float64)
            y_fit = np.asarray(y_fit)[:, 0] if y_ndim == 1 else np.asarray(y_fit)
            n_components = getattr(feature_map, "n_components", None)
            if isinstance(feature_map, Nystroem) and n_components > X_fit.shape[0]:
                raise ValueError(
                    f"feature_map.n_components={n_components} exceeds the {X_fit.shape[0]} "
                    "samples that the Nystroem map is fitted on: it needs that many "
                    "distinct training samples as landmarks."
                )
            feature_map = clone(feature_map).fit(X_fit, y_fit)
        first = X[:min(n, block_size)]
        first_y = Y[:min(n, block_size)]
        if streaming.is_dask_array(first) or streaming.is_dask_array(first_y):
            import dask

            first, first_y = dask.compute(first, first_y)
        features = streaming.transform_block(feature_map, first)
        if features.ndim != 2 or features.shape[0] != first.shape[0]:
            raise ValueError(f"feature_map must give one row of features per sample, got shape "
                             f"{features.shape} for {first.shape[0]} samples.")
        n_features = features.shape[1]
        if self.fit_intercept:
            # Sums of features and targets around a point near their means keep
            # the centred statistics accurate when the means are large.
            shift, target_shift = features.mean(axis=0), np.asarray(first_y).mean(axis=0)
        else:
            shift, target_shift = np.zeros(n_features), np.zeros(Y.shape[1])
        return feature_map, n_features, shift, target_shift

    def _splits(self, cv, X, Y, y_ndim, groups):
        """The folds of ``cv`` as a list of (train, test) index arrays."""
        n = X.shape[0]
        # A splitter sees y as in memory (StratifiedKFold needs it): n numbers
        # computed from a dask array.
        Y_split = Y.compute() if streaming.is_dask_array(Y) else Y
        y_split = Y_split[:, 0] if y_ndim == 1 else Y_split
        if groups is not None:
            groups = np.asarray(groups)
            if groups.shape[0] != n:
                raise ValueError(f"groups has {groups.shape[0]} entries, but X has {n} samples.")
        return list(check_cv(cv).split(np.empty((n, 0)), y_split, groups))

    def _prediction_input(self, X):
        check_is_fitted(self)
        if streaming.is_dask_array(X):
            if X.ndim != 2 or len(X.chunks[1]) != 1:
                raise ValueError("X must be a two-dimensional dask array chunked along rows "
                                 "only: rechunk with X.rechunk({1: -1}).")
            if X.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is "
                                 f"expecting {self.n_features_in_} features as input.")
            return X
        return validate_data(self, X, accept_sparse=("csr", "csc"), reset=False)


def _algebra_threads():
    """One BLAS thread for the m x m algebra after the pass: eigendecompositions
    of a thousand columns gain little from threads and lose several times
    when the cores are shared (on two busy cores, eigh of 1000 x 1000 took
    2.5 s with two threads and 0.45 s with one)."""
    return threadpool_limits(limits=1, user_api="blas")


def _snapshot(estimator):
    return {name: estimator.__dict__[name] for name in _FEATURE_ATTRIBUTES
            if name in estimator.__dict__}


def _restore(estimator, snapshot):
    for name in _FEATURE_ATTRIBUTES:
        estimator.__dict__.pop(name, None)
    estimator.__dict__.update(snapshot)


class SelfDistilledRidge(_PrimalRegressor):
    """Ridge regression on features ``phi(X)`` refitted on its own predictions,
    in closed form and streamed over row blocks.

    The primal form of self-distillation (Borup & Andersen, 2021, eq. (1):
    ``f(x) = phi(x)^T beta``). Step 1 is ridge regression of ``y`` on the
    features; step ``t`` refits on ``alpha(t) y + (1 - alpha(t)) y(t-1)``.
    With ``G = Phi^T W Phi`` and ``r = Phi^T W y`` (centred when
    ``fit_intercept``), Theorem 4.1 reads ``beta(t) = alpha(t) beta(1) + (1 -
    alpha(t)) (G + lambda I)^-1 G beta(t-1)``: one pass over the data forms
    ``G`` and ``r``, after which every step, the limit of Theorem 4.5 and
    the optimal weights of Theorem 4.4 cost ``m x m`` algebra, whatever the
    number of rows. The features are formed ``block_size`` rows at a time
    and never held whole. On raw features (``feature_map=None``) this is
    exactly :class:`~selfdistill_sklearn.SelfDistilledKernelRidge` with the
    linear kernel.

    Parameters
    ----------
    alpha : float in [0, 1], array-like of shape (n_steps - 1,) or "optimal", default=0.5
        Weight of the ground truth in the targets of steps ``2, ...,
        n_steps``, as in :class:`~selfdistill_sklearn.SelfDistilledKernelRidge`.
        ``"optimal"`` chooses each weight by Theorem 4.4, eq. (16), on
        ``X_val, y_val`` when they are passed to :meth:`fit`, otherwise on the
        folds of ``cv`` with the numerators and denominators of eq. (16)
        summed over folds (held-out squared errors weighted by
        ``sample_weight``); every fold's statistics come from the same single
        pass over the data. When the two candidate predictions coincide the
        weight is 1.
    n_steps : int >= 1 or float("inf"), default=2
        Number of fits ``tau`` including the first. ``float("inf")`` needs a
        scalar ``alpha`` and gives ridge regression with penalty
        ``reg_lambda / alpha`` (Theorem 4.5, eq. (17)); zero for
        ``alpha = 0``.
    reg_lambda : float > 0, default=1.0
        Ridge penalty ``lambda`` on ``beta``.
    fit_intercept : bool, default=True
        Fit an unpenalised intercept at every step: the features and targets
        are centred by their weighted means, as in
        :class:`sklearn.linear_model.Ridge`.
    feature_map : transformer or None, default=None
        Map ``phi`` applied to ``X``: ``None`` uses the columns of ``X``;
        any scikit-learn transformer (``Nystroem``, ``RBFSampler``,
        ``PolynomialCountSketch``, ``SplineTransformer``, a ``Pipeline``) is
        cloned, fitted once on the training data, or on
        ``feature_map_samples`` rows drawn at random when there are more
        (``Nystroem`` draws its landmarks from them, ``SplineTransformer``
        its knots), then applied block by block. The object passed is never
        fitted itself.
    clip_alpha : bool, default=False
        Clip the weights of ``"optimal"`` to ``[0, 1]`` (footnote 10).
    cv : int, cross-validation generator or iterable, default=5
        Folds for ``alpha="optimal"`` without validation data, as in
        :func:`sklearn.model_selection.check_cv`.
    block_size : int, default=4096
        Rows whose features are formed at once (within each chunk of a dask
        array): memory of a fit is about ``block_size * m`` floats plus a few
        ``m x m`` matrices per fold.
    feature_map_samples : int or None, default=100_000
        Most rows the feature map is fitted on; ``None`` fits it on all rows
        (a dask array is then computed whole).
    random_state : int, RandomState instance or None, default=None
        Draw of the rows the feature map is fitted on, when there are more
        than ``feature_map_samples``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features_out,) or (n_targets, n_features_out)
        ``beta`` of the last step (of the limit for ``n_steps=inf``), in the
        layout of :class:`sklearn.linear_model.Ridge`.
    intercept_ : float or ndarray of shape (n_targets,)
        Intercept of the last step; 0.0 without ``fit_intercept``.
    staged_coef_ : ndarray of shape (n_steps, m) or (n_steps, n_targets, m)
        ``coef_`` of every step, step 1 first. Absent for ``n_steps=inf``.
    staged_intercept_ : ndarray of shape (n_steps,) or (n_steps, n_targets)
        ``intercept_`` of every step. Absent for ``n_steps=inf``.
    alphas_ : ndarray of shape (n_steps - 1,)
        The weights used; the single constant weight for ``n_steps=inf``.
    feature_map_ : transformer or None
        The fitted clone of ``feature_map``.
    n_features_out_ : int
        ``m``, the number of features ``phi`` gives.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        When ``X`` has string column names.

    See Also
    --------
    SelfDistilledKernelRidge : The same model on the n x n kernel matrix.
    SelfDistilledRidgeCV : lambda, alpha and tau chosen in one pass.
    sklearn.linear_model.Ridge : The first step alone.

    Notes
    -----
    **Input.** NumPy arrays, SciPy sparse matrices (densified one block at a
    time, so ``feature_map=None`` suits a moderate number of columns) and
    dask arrays chunked along rows. For dask arrays each chunk's statistics
    are computed where the chunk lives, by the active ``dask.distributed``
    client or dask's default scheduler, and only ``(m + 1 + k)^2`` numbers
    per chunk travel; a chunk holding NaN raises when it is computed, naming
    the chunk. :meth:`predict` then returns a lazy dask array.

    **Accuracy.** Sums are formed around the first block's means, so that the
    centred statistics stay accurate when the features or targets have a
    large mean; everything is float64 whatever the input dtype.

    References
    ----------
    K. Borup and L. N. Andersen, "Even your Teacher Needs Guidance:
    Ground-Truth Targets Dampen Regularization Imposed by Self-Distillation",
    NeurIPS 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.kernel_approximation import Nystroem
    >>> from selfdistill_sklearn import SelfDistilledRidge
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(500, 1))
    >>> y = np.sin(2 * np.pi * X[:, 0]) + rng.normal(scale=0.3, size=500)
    >>> model = SelfDistilledRidge(alpha=0.25, n_steps=4, reg_lambda=0.1,
    ...                            feature_map=Nystroem(gamma=10.0, n_components=50,
    ...                                                 random_state=0)).fit(X, y)
    >>> model.alphas_
    array([0.25, 0.25, 0.25])
    >>> model.coef_.shape, len(list(model.staged_predict(X[:3])))
    ((50,), 4)
    """

    def __init__(self, alpha=0.5, n_steps=2, reg_lambda=1.0, *, fit_intercept=True,
                 feature_map=None, clip_alpha=False, cv=5, block_size=4096,
                 feature_map_samples=100_000, random_state=None):
        self.alpha = alpha
        self.n_steps = n_steps
        self.reg_lambda = reg_lambda
        self.fit_intercept = fit_intercept
        self.feature_map = feature_map
        self.clip_alpha = clip_alpha
        self.cv = cv
        self.block_size = block_size
        self.feature_map_samples = feature_map_samples
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None, X_val=None, y_val=None, groups=None):
        """Fit ``n_steps`` steps of self-distillation in one pass over the data.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
        y : {array-like, dask array} of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : float or array-like of shape (n_samples,), default=None
            Non-negative weights of the squared errors.
        X_val, y_val : array-like, default=None
            Validation data for ``alpha="optimal"`` (unweighted). Checked but
            not used for a fixed ``alpha``.
        groups : array-like of shape (n_samples,), default=None
            Group labels for a group-aware ``cv`` splitter.

        Returns
        -------
        self : object

        Raises
        ------
        ValueError
            For invalid parameters or data (naming them); the estimator then
            keeps the state of its previous fit.
        """
        n_steps = check_n_steps(self.n_steps)
        alpha = check_alpha(self.alpha, n_steps)
        reg_lambda = check_reg_lambda(self.reg_lambda)
        check_bool(self.clip_alpha, "clip_alpha")
        check_bool(self.fit_intercept, "fit_intercept")
        block_size = self._check_block_size()
        snapshot = _snapshot(self)
        try:
            X, Y, sample_weight, y_ndim = self._training_data(X, y, sample_weight)
            validation = self._validation_data(X_val, y_val, Y)
            feature_map, m, _, _ = self._fit_feature_map(X, Y, y_ndim, block_size)
            cell_roles = labels = None
            if alpha.is_optimal and validation is None and n_steps > 1:
                splits = self._splits(self.cv, X, Y, y_ndim, groups)
                if X.shape[0] < 2:
                    raise ValueError("alpha='optimal' without X_val, y_val needs at least 2 "
                                     "samples for its cv folds.")
                cell_roles, labels = split_cells(splits, X.shape[0])
            n_cells = 1 if labels is None else cell_roles.shape[0]
            # Folds need held-out errors as norms: QR roots of their cells.
            cell_moments = streaming.moments(feature_map, X, Y, sample_weight, labels, n_cells,
                                             block_size, m, root=labels is not None,
                                             splitter=self.cv)
            validation_moments = None
            if validation is not None and alpha.is_optimal:
                validation_moments = streaming.moments(
                    feature_map, validation[0], validation[1], None, None, 1, block_size, m,
                    root=True, name="X_val")[0]
            with _algebra_threads():
                fitted = fit_from_moments(cell_moments, cell_roles, validation_moments, m,
                                          self.fit_intercept, alpha, n_steps, reg_lambda,
                                          self.clip_alpha)
        except BaseException:
            _restore(self, snapshot)
            raise
        _finish(self, fitted, np.zeros(m), np.zeros(Y.shape[1]), y_ndim, feature_map, m, self)
        return self

    def _validation_data(self, X_val, y_val, Y):
        if X_val is None and y_val is None:
            return None
        if X_val is None or y_val is None:
            raise ValueError("X_val and y_val must be given together.")
        if streaming.is_dask_array(X_val):
            if X_val.ndim != 2 or X_val.shape[1] != self.n_features_in_:
                raise ValueError(f"X_val must have {self.n_features_in_} features (as X), got "
                                 f"shape {X_val.shape}.")
            streaming.check_dask_training_data(X_val, y_val)
        else:
            try:
                X_val = validate_data(self, X_val, accept_sparse=("csr", "csc"), reset=False)
            except ValueError as exc:
                raise ValueError(f"X_val does not match X: {exc}") from exc
        if not streaming.is_dask_array(y_val):
            y_val = check_array(y_val, ensure_2d=False, dtype=np.float64, input_name="y_val")
        if y_val.shape[0] != X_val.shape[0]:
            raise ValueError(f"X_val has {X_val.shape[0]} samples but y_val has "
                             f"{y_val.shape[0]}.")
        if (y_val.shape[1] if y_val.ndim == 2 else 1) != Y.shape[1] or y_val.ndim > 2:
            raise ValueError(f"y_val must have {Y.shape[1]} target column(s) like y, got shape "
                             f"{y_val.shape}.")
        Y_val = y_val.astype(np.float64)
        return X_val, (Y_val[:, None] if Y_val.ndim == 1 else Y_val)

    def _stacked(self, steps):
        coefs = np.asarray(steps[0]).reshape(len(steps[0]), -1, self.n_features_out_)
        intercepts = np.asarray(steps[1], dtype=float).reshape(len(steps[0]), -1)
        return coefs.reshape(-1, self.n_features_out_), intercepts.reshape(-1)

    def predict(self, X):
        """Predict with the last step (the limit for ``n_steps=inf``).

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray or dask array of shape (n_samples,) or (n_samples, n_targets)
            ``phi(X) coef_^T + intercept_``; a lazy dask array for dask input.
        """
        X = self._prediction_input(X)
        coef, intercept = self._stacked(([self.coef_], [self.intercept_]))
        return streaming.predict(self.feature_map_, coef, intercept, self._check_block_size(),
                                 X, squeeze=np.ndim(self.coef_) == 1)

    def staged_predict(self, X):
        """Predictions of every step, step 1 first; the features are formed
        once for all steps.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)

        Yields
        ------
        y_pred : ndarray or dask array of shape (n_samples,) or (n_samples, n_targets)
        """
        check_is_fitted(self)
        if not hasattr(self, "staged_coef_"):
            raise ValueError("staged_predict needs a finite n_steps; with n_steps=inf only "
                             "the limit exists, which predict returns.")
        X = self._prediction_input(X)
        coef, intercept = self._stacked((self.staged_coef_, self.staged_intercept_))
        n_steps = len(self.staged_coef_)
        predictions = streaming.predict(self.feature_map_, coef, intercept,
                                        self._check_block_size(), X, squeeze=False)
        k = coef.shape[0] // n_steps
        for step in range(n_steps):
            block = predictions[:, step * k:(step + 1) * k]
            yield block[:, 0] if np.ndim(self.coef_) == 1 else block

    def spectral_shrinkage(self, n_steps=None):
        """Eigenvalues of ``G`` and the shrinkage of each step (Section 4.2).

        The eigenvalues of the ``m x m`` matrix ``G = Phi^T W Phi`` (centred
        when ``fit_intercept``) are the non-zero eigenvalues of the kernel
        matrix ``S Phi Phi^T S``, so that Lemma 4.2's diagonals of ``B(t)``
        are read off them unchanged; the other ``n - m`` eigenvalues are 0,
        with ``b = 0``.

        Parameters
        ----------
        n_steps : int, default=None
            Number of steps ``T``; defaults to the fitted ``n_steps``
            (required when that is infinite). A scalar ``alpha`` extends
            beyond the fitted steps; a schedule or ``"optimal"`` cannot.

        Returns
        -------
        result : :class:`~sklearn.utils.Bunch`
            ``eigenvalues`` (m,) ascending, ``diagonals`` (T, m), ``ratios``
            (T, m - 1), ``limit`` (the diagonal of ``B(infinity)`` for a
            scalar ``alpha``, else ``None``) and ``alphas``, as
            :meth:`SelfDistilledKernelRidge.spectral_shrinkage` gives.
        """
        check_is_fitted(self)
        # The fit's own settings, not parameters that may have been set since.
        fixed_alpha = self._fitted_alpha
        fitted_steps = len(self.staged_coef_) if hasattr(self, "staged_coef_") else None
        alphas = shrinkage_alphas(fixed_alpha, self.alphas_, fitted_steps, n_steps)
        scalar = fixed_alpha.is_fixed
        eigenvalues = self._gram_eigenvalues
        reg_lambda = self._fitted_reg_lambda
        diagonals = shrinkage_diagonals(eigenvalues, reg_lambda, alphas)
        limit = (limit_shrinkage_diagonal(eigenvalues, reg_lambda, fixed_alpha.value) if scalar
                 else None)
        return Bunch(eigenvalues=eigenvalues, diagonals=diagonals,
                     ratios=shrinkage_ratios(diagonals), limit=limit, alphas=alphas)


class SelfDistilledRidgeCV(_PrimalRegressor):
    """Self-distilled ridge regression with lambda, alpha and tau chosen by
    cross-validation, every candidate on every fold scored after ONE pass.

    The candidates are those of a grid search of :class:`SelfDistilledRidge`
    over ``reg_lambda`` in ``reg_lambdas``, ``alpha`` in ``alphas`` and
    ``n_steps`` in ``1, ..., max_steps`` (plus ``float("inf")`` for every
    fixed ``alpha``). One pass over the data sums, for every cell of rows
    with the same role in every fold, the moments of ``[phi(x), 1, y]``
    (the primal form of the paper's eq. (1)); fold ``k``'s training statistics are sums of
    cells, its held-out squared error for any ``beta`` is the quadratic form
    ``s_k - 2 beta^T r_k + beta^T G_k beta``. An eigendecomposition of each
    fold's ``m x m`` matrix ``G`` then gives every candidate as a diagonal
    scaling (Lemma 4.2, eqs. (12)-(13); the limit by Theorem 4.5), and the
    best candidate is refitted on all the data from the same statistics, so
    the whole search costs one pass and ``O(K m^3)`` algebra.

    Parameters
    ----------
    reg_lambdas : array-like of float > 0, default=(0.1, 1.0, 10.0)
    alphas : array-like of float in [0, 1] and "optimal", default=(0.0, 0.25, 0.5, 0.75, 1.0)
        ``"optimal"`` is Algorithm 1 (Theorem 4.4, eq. (16)) chosen inside
        each fold's training part (see Notes).
    max_steps : int >= 1, default=4
    fit_intercept : bool, default=True
    feature_map : transformer or None, default=None
        As in :class:`SelfDistilledRidge`; fitted once on the training data
        and shared by the folds (see Notes). Its parameters are nested
        (``feature_map__gamma``), so that
        ``GridSearchCV(SelfDistilledRidgeCV(feature_map=Nystroem()),
        {"feature_map__gamma": ...})`` searches them.
    clip_alpha : bool, default=False
    cv : int, cross-validation generator or iterable, default=5
        Folds, as in :func:`sklearn.model_selection.check_cv`.
    scoring : {None, "neg_mean_squared_error", "neg_root_mean_squared_error", "r2"}, default=None
        Computed from the held-out statistics (``None`` is
        ``"neg_mean_squared_error"``), weighted by ``sample_weight``.
    block_size : int, default=4096
    feature_map_samples : int or None, default=100_000
    random_state : int, RandomState instance or None, default=None

    Attributes
    ----------
    cv_results_ : dict of ndarrays
        In the layout of :class:`sklearn.model_selection.GridSearchCV`.
    best_index_ : int
    best_score_ : float
    best_params_ : dict
        ``reg_lambda``, ``alpha`` and ``n_steps`` of the best candidate.
    best_estimator_ : SelfDistilledRidge
        The best candidate fitted on all the data (from the same statistics:
        no second pass).
    param_grid_ : list of dict
        The grid ``GridSearchCV`` would search to score the same candidates.
    optimal_alphas_ : ndarray of shape (n_splits, n_lambdas, max_steps - 1)
        The weights ``"optimal"`` chose inside each fold. Only when
        ``alphas`` holds ``"optimal"``.
    n_splits_ : int
    feature_map_ : transformer or None
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    See Also
    --------
    SelfDistilledRidge : One candidate.
    SelfDistilledKernelRidgeCV : The same search on the kernel matrix.

    Notes
    -----
    **The optimal weight inside a fold.** Fold ``k``'s ``"optimal"`` weights
    are chosen as ``SelfDistilledRidge(alpha="optimal")`` would choose them
    on the fold's training part with the other splits as its inner folds:
    inner split ``j`` trains on the rows in both training parts of splits
    ``k`` and ``j`` and is validated on the rows in the training part of
    ``k`` and the held-out part of ``j``. For K-fold splits these are the
    other ``K - 1`` folds, and both are sums of cells, so the inner folds
    cost no further pass and never touch fold ``k``'s held-out rows. With
    ``cv=KFold(K)`` on a number of samples divisible by ``K`` the scores are
    those of ``GridSearchCV(SelfDistilledRidge(cv=K - 1), ...)`` on the same
    folds. ``best_estimator_`` chooses its weights on the ``cv`` folds of all
    the data.

    **The feature map** is fitted once, before the pass, on all the
    training rows (or a sample of them): it sees the held-out rows' inputs,
    never their targets. A grid search that refits it per fold would need a
    pass per fold.

    **Sample weights** weight every training objective and the held-out
    errors; ``GridSearchCV`` scores held-out rows unweighted unless metadata
    routing passes them to the scorer.

    References
    ----------
    K. Borup and L. N. Andersen, "Even your Teacher Needs Guidance:
    Ground-Truth Targets Dampen Regularization Imposed by Self-Distillation",
    NeurIPS 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.kernel_approximation import Nystroem
    >>> from selfdistill_sklearn import SelfDistilledRidgeCV
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(500, 1))
    >>> y = np.sin(2 * np.pi * X[:, 0]) + rng.normal(scale=0.3, size=500)
    >>> search = SelfDistilledRidgeCV(
    ...     reg_lambdas=[0.01, 0.1, 1.0], alphas=[0.0, 0.5, 1.0, "optimal"], max_steps=3,
    ...     feature_map=Nystroem(gamma=10.0, n_components=50, random_state=0)).fit(X, y)
    >>> len(search.cv_results_["params"])
    45
    >>> sorted(search.best_params_)
    ['alpha', 'n_steps', 'reg_lambda']
    """

    def __init__(self, reg_lambdas=(0.1, 1.0, 10.0), alphas=(0.0, 0.25, 0.5, 0.75, 1.0),
                 max_steps=4, *, fit_intercept=True, feature_map=None, clip_alpha=False, cv=5,
                 scoring=None, block_size=4096, feature_map_samples=100_000,
                 random_state=None):
        self.reg_lambdas = reg_lambdas
        self.alphas = alphas
        self.max_steps = max_steps
        self.fit_intercept = fit_intercept
        self.feature_map = feature_map
        self.clip_alpha = clip_alpha
        self.cv = cv
        self.scoring = scoring
        self.block_size = block_size
        self.feature_map_samples = feature_map_samples
        self.random_state = random_state

    def _check_grid(self):
        reg_lambdas = as_list(self.reg_lambdas, "reg_lambdas")
        for reg_lambda in reg_lambdas:
            check_reg_lambda(reg_lambda, name="every entry of reg_lambdas")
        alphas = as_list(self.alphas, "alphas")
        for alpha in alphas:
            if not isinstance(alpha, str | numbers.Real) or isinstance(alpha, bool):
                raise TypeError(f"alphas must hold floats in [0, 1] and 'optimal', got "
                                f"{alpha!r}.")
            check_alpha(alpha, 2)
        max_steps = check_n_steps(self.max_steps, allow_infinite=False)
        if self.scoring is not None and self.scoring not in PRIMAL_SCORINGS:
            raise ValueError(
                f"scoring must be None or one of {sorted(PRIMAL_SCORINGS)}, got "
                f"{self.scoring!r}: the scores are computed from held-out sufficient "
                "statistics."
            )
        return CandidateGrid.from_params(reg_lambdas, alphas, max_steps)

    def fit(self, X, y, sample_weight=None, groups=None):
        """Score every candidate on the folds of ``cv`` after one pass, and
        fit the best on all the data.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
        y : {array-like, dask array} of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : float or array-like of shape (n_samples,), default=None
        groups : array-like of shape (n_samples,), default=None
            Group labels for a group-aware ``cv`` splitter.

        Returns
        -------
        self : object
        """
        grid = self._check_grid()
        check_bool(self.clip_alpha, "clip_alpha")
        check_bool(self.fit_intercept, "fit_intercept")
        block_size = self._check_block_size()
        scorer = PRIMAL_SCORINGS[self.scoring or "neg_mean_squared_error"]
        snapshot = _snapshot(self)
        try:
            X, Y, sample_weight, y_ndim = self._training_data(X, y, sample_weight)
            feature_map, m, _, _ = self._fit_feature_map(X, Y, y_ndim, block_size)
            splits = self._splits(self.cv, X, Y, y_ndim, groups)
            cell_roles, labels = split_cells(splits, X.shape[0])
            cell_moments = streaming.moments(feature_map, X, Y, sample_weight, labels,
                                             cell_roles.shape[0], block_size, m, root=True,
                                             splitter=self.cv)
            with _algebra_threads():
                result = search(cell_moments, cell_roles, m, grid, scorer, self.fit_intercept,
                                self.clip_alpha)
            best = SelfDistilledRidge(
                **result["best_params"], fit_intercept=self.fit_intercept,
                feature_map=self.feature_map, clip_alpha=self.clip_alpha,
                cv=self.cv if isinstance(self.cv, numbers.Integral) or hasattr(
                    self.cv, "split") else splits,
                block_size=self.block_size, feature_map_samples=self.feature_map_samples,
                random_state=self.random_state)
            n_steps = check_n_steps(best.n_steps)
            with _algebra_threads():
                fitted = fit_from_moments(cell_moments, cell_roles, None, m,
                                          self.fit_intercept, check_alpha(best.alpha, n_steps),
                                          n_steps, best.reg_lambda, self.clip_alpha)
        except BaseException:
            _restore(self, snapshot)
            raise
        _finish(best, fitted, np.zeros(m), np.zeros(Y.shape[1]), y_ndim, feature_map, m, self)
        self.cv_results_ = result["cv_results"]
        self.best_index_ = result["best_index"]
        self.best_score_ = result["best_score"]
        self.best_params_ = result["best_params"]
        self.param_grid_ = grid.param_grid()
        if "optimal_alphas" in result:
            self.optimal_alphas_ = result["optimal_alphas"]
        else:
            self.__dict__.pop("optimal_alphas_", None)
        self.n_splits_ = len(splits)
        self.best_estimator_ = best
        self.feature_map_ = feature_map
        return self

    def predict(self, X):
        """Predict with ``best_estimator_``.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray or dask array of shape (n_samples,) or (n_samples, n_targets)
        """
        X = self._prediction_input(X)
        return self.best_estimator_.predict(X)


def _finish(model, fitted, shift, target_shift, y_ndim, feature_map, m, source):
    """Set the fitted attributes of ``model`` from :func:`_fit_from_moments`."""
    betas, intercepts, alphas, eigenvalues = fitted
    intercepts = intercepts + target_shift[None, :] - betas.transpose(0, 2, 1) @ shift
    coefs = betas.transpose(0, 2, 1)
    if y_ndim == 1:
        coefs, intercepts = coefs[:, 0], intercepts[:, 0]
    if not model.fit_intercept:
        intercepts = np.zeros_like(intercepts)
    if check_n_steps(model.n_steps) == math.inf:
        for name in ("staged_coef_", "staged_intercept_"):
            model.__dict__.pop(name, None)
    else:
        model.staged_coef_, model.staged_intercept_ = coefs, intercepts
    model.coef_ = coefs[-1]
    model.intercept_ = float(intercepts[-1]) if y_ndim == 1 else intercepts[-1]
    model.alphas_ = alphas
    model._gram_eigenvalues = eigenvalues
    model._fitted_alpha = check_alpha(model.alpha, check_n_steps(model.n_steps))
    model._fitted_reg_lambda = check_reg_lambda(model.reg_lambda)
    model.feature_map_ = feature_map
    model.n_features_out_ = m
    if model is not source:
        model.n_features_in_ = source.n_features_in_
        if hasattr(source, "feature_names_in_"):
            model.feature_names_in_ = source.feature_names_in_
