"""Self-distilled ridge regression on explicit features, for millions of rows."""

import math
import numbers
import time
from functools import partial

import numpy as np
from joblib import effective_n_jobs
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin, clone
from sklearn.model_selection import check_cv
from sklearn.utils import Bunch, metadata_routing
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import (
    check_consistent_length,
    validate_data,
)
from threadpoolctl import threadpool_limits

from . import _array_api as array_api
from . import _dask_frames as dask_frames
from . import _incremental as incremental
from . import _progress, gcv
from . import _streaming as streaming
from ._candidates import check_gcv_scoring, check_grid
from ._feature_plan import (
    check_block_size,
    feature_map_input_tags,
    fit_feature_plan,
    is_dataframe,
)
from ._grids import edge_messages, warn_at_edges
from ._incremental import check_fitted as check_is_fitted  # saying why partial_fit's isn't
from ._primal import split_cells
from ._primal_search import PRIMAL_SCORINGS, fit_from_moments, gcv_search, search
from ._reference import PRECISION_TOLERANCE
from ._validation import (
    _fitted_attributes,
    _takes_groups,
    check_alpha,
    check_bool,
    check_n_steps,
    check_reg_lambda,
    check_splits,
    fit_atomically,
    restored_on_error,
    route_groups,
    shrinkage_alphas,
    splitter_router,
)
from .closed_forms import limit_shrinkage_diagonal, shrinkage_diagonals, shrinkage_ratios

__all__ = ["PRIMAL_SCORINGS", "SelfDistilledRidge", "SelfDistilledRidgeCV"]

#: Fitted attributes without a trailing underscore, replaced or rolled back
#: with the others by every fit.
_PRIVATE_STATE = ("_feature_plan", "_gram_eigenvalues", "_fitted_alpha", "_fitted_reg_lambda",
                  "_fitted_fit_intercept", "_partial_stream", "_partial_pending")
#: What partial_fit keeps between batches (see :mod:`._incremental`).
_STREAM_STATE = ("_partial_stream", "_partial_pending")


class _PrimalRegressor(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Input checks, feature plan, folds and routing shared by the primal
    estimators; the mathematics is in :mod:`selfdistill_sklearn._primal`."""

    # groups go to the splitter cv, not to this estimator's own requests.
    __metadata_request__fit = {"groups": metadata_routing.UNUSED}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        feature_map_input_tags(self.feature_map, tags.input_tags)
        tags.array_api_support = array_api.feature_map_supports_array_api(self.feature_map)
        return tags

    def get_metadata_routing(self):
        """Metadata routing: this estimator's requests, and ``groups`` of
        :meth:`fit` to the ``split`` of ``cv``.

        Returns
        -------
        routing : :class:`sklearn.utils.metadata_routing.MetadataRouter`
        """
        return splitter_router(self, {"splitter": self.cv})

    #: Fitted attributes that a ``partial_fit`` leaves to be computed from its
    #: moments when first read (set by each estimator).
    _LAZY_ATTRIBUTES = ()

    def __getattr__(self, name):
        # Only reached for attributes not set: those a partial_fit left to compute.
        return incremental.lazy_attribute(self, name, self._LAZY_ATTRIBUTES,
                                          self._finish_partial_fit)

    def __sklearn_is_fitted__(self):
        return incremental.is_fitted(self, self._finish_partial_fit)

    def _partial_fit(self, X, y, sample_weight):
        """Add a batch to the moments of ``partial_fit``, or start them; the
        model is finalised when a fitted attribute is first read."""
        stream = vars(self).get("_partial_stream")
        kind = incremental.input_kind(X)  # of what was passed, before any conversion
        if stream is not None:
            stream.check_batch(self, X, kind)
        n_folds = self._partial_fit_folds()
        block_size, _ = self._check_settings(None)
        if stream is None:
            for name in _fitted_attributes(self, _STREAM_STATE + self._LAZY_ATTRIBUTES):
                delattr(self, name)  # a first batch (of an unfitted model) starts afresh
        passed = X, y
        try:
            X, Y, sample_weight, y_ndim = self._training_data(X, y, sample_weight,
                                                              reset=stream is None, batch=True)
            progress = self._progress()
            if stream is None:
                stream = incremental.MomentStream.start(self, X, Y, sample_weight, y_ndim,
                                                        n_folds, block_size, progress, kind)
            else:
                stream = stream.add(X, Y, sample_weight, block_size, y_ndim, progress)
        except ValueError:
            # A later batch that skipped validate_data: its error first, as it
            # gives X's before the weights' and before any of the moments'.
            if stream is not None:
                incremental.check_refused_batch(self, *passed)
            raise
        progress.say(f"partial_fit: {stream.n_samples_seen} rows seen")
        for name in self._LAZY_ATTRIBUTES:
            vars(self).pop(name, None)
        self._partial_stream = stream
        self._partial_pending = True
        self.n_samples_seen_ = stream.n_samples_seen
        return self

    def _partial_fit_cv(self, what):
        """``cv`` as partial_fit's folds: ``K`` for an int, ``None`` for GCV."""
        if self.cv is None:
            return None
        if isinstance(self.cv, numbers.Integral) and not isinstance(self.cv, bool | np.bool_):
            return incremental.check_n_folds(self.cv)
        raise TypeError(
            f"partial_fit puts row i of the stream in fold i mod cv, which needs cv to be an "
            f"int (or None for generalised cross-validation) for {what}; got cv={self.cv!r}. "
            "Splitters need all the rows in advance: use fit."
        )

    def _finished_clone(self):
        """An unfitted estimator with the parameters of the first batch of
        partial_fit, knowing the fitted input features."""
        fresh = clone(self._partial_stream.estimator)
        fresh.n_features_in_ = self.n_features_in_
        if "feature_names_in_" in vars(self):
            fresh.feature_names_in_ = self.feature_names_in_
        return fresh

    def _take_fitted(self, fresh):
        """The fitted attributes of ``fresh`` (a :meth:`_finished_clone`)."""
        for name in self._LAZY_ATTRIBUTES:
            if name in vars(fresh):
                setattr(self, name, vars(fresh)[name])

    def _check_settings(self, groups):
        """The checked ``block_size``, and ``groups`` as the splitter of ``cv``
        receives them."""
        check_bool(self.clip_alpha, "clip_alpha")
        check_bool(self.fit_intercept, "fit_intercept")
        block_size = check_block_size(self.block_size)
        return block_size, route_groups(self, groups, {"splitter": self.cv})["splitter"]

    def _passes_frames(self, X):
        """Whether ``X`` reaches the feature map as it is: a DataFrame does,
        when there is a map (as in a Pipeline, so that a ColumnTransformer can
        select its columns by name)."""
        return self.feature_map is not None and is_dataframe(X)

    # -- training data -------------------------------------------------------------------
    def _training_data(self, X, y, sample_weight, reset=True, batch=False):
        """Checked training data: ``X``, targets ``Y`` of shape (n, k), weights,
        and the number of dimensions of ``y``; ``reset=False`` checks ``X``
        against the features seen before (a later batch of partial_fit);
        ``batch=True`` (partial_fit) lets every weight be zero."""
        if dask_frames.is_dask_frame(X) or dask_frames.is_dask_frame(y):
            return dask_frames.training_data(self, X, y, sample_weight, reset, self._progress(),
                                             batch=batch)
        if streaming.is_dask_array(X) or streaming.is_dask_array(y):
            return self._dask_training_data(X, y, sample_weight, reset, batch)
        if (namespace := array_api.namespace_of(X)) is not None:
            return array_api.training_data(self, X, y, sample_weight, namespace, reset=reset,
                                           batch=batch)
        if self._passes_frames(X):
            if len(X) == 0:
                raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a "
                                 f"minimum of 1 is required by {type(self).__name__}.")
            # n_features_in_, feature names
            validate_data(self, X, skip_check_array=True, reset=reset)
            y = incremental.check_targets(y)
            if y.ndim not in (1, 2):
                raise ValueError(f"y must have shape (n_samples,) or (n_samples, n_targets), "
                                 f"got {y.shape}.")
            check_consistent_length(X, y)
        elif reset or not incremental.plain_batch(self, X, y):
            try:
                X, y = validate_data(self, X, y, accept_sparse=("csr", "csc"),
                                     multi_output=True, y_numeric=True, reset=reset)
            except ValueError as exc:
                incremental.name_targets(y, exc)
                raise
        sample_weight = incremental.check_weights(sample_weight, X.shape[0], batch)
        if isinstance(y, np.ndarray) and y.dtype == np.float64:
            Y = y  # what validate_data gave: numeric, finite, 1-D or 2-D
        else:
            Y = incremental.check_targets(y)  # a string dtype passes y_numeric unconverted
        return X, Y.reshape(X.shape[0], -1), sample_weight, Y.ndim

    def _dask_training_data(self, X, y, sample_weight, reset=True, batch=False):
        if not streaming.is_dask_array(X):
            raise TypeError("y is a dask array but X is not: pass X as a dask array too.")
        streaming.check_dask_training_data(X, y, sample_weight)
        dask_frames.check_array_columns(self, X, reset)
        n = X.shape[0]
        if streaming.is_dask_array(y):
            if y.ndim not in (1, 2) or y.shape[0] != n:
                raise ValueError(f"y must have shape ({n},) or ({n}, n_targets), got "
                                 f"{y.shape}.")
            if y.dtype.kind not in "fiub":
                raise ValueError(f"y must hold numbers, got dtype {y.dtype}.")
        else:
            y = incremental.check_targets(y)
            if y.ndim not in (1, 2) or y.shape[0] != n:
                raise ValueError(f"y must have shape ({n},) or ({n}, n_targets), got "
                                 f"{y.shape}.")
        y_ndim = y.ndim
        Y = y.astype(np.float64) if y.ndim == 2 else y.astype(np.float64)[:, None]
        if sample_weight is not None and not streaming.is_dask_array(sample_weight):
            sample_weight = incremental.check_weights(sample_weight, n, batch)
        elif sample_weight is not None and sample_weight.shape != (n,):
            raise ValueError(f"sample_weight must have shape ({n},), got "
                             f"{sample_weight.shape}.")
        return X, Y, sample_weight, y_ndim

    def _fit_plan(self, X, Y, y_ndim, block_size):
        namespace = array_api.namespace_of(X)
        if self.feature_map is None:
            return fit_feature_plan(None, X, Y, y_ndim, block_size=block_size,
                                    samples=self.feature_map_samples,
                                    random_state=self.random_state, namespace=namespace)
        rows = X.shape[0] if self.feature_map_samples is None else min(
            X.shape[0], self.feature_map_samples)
        with self._progress().phase("feature map", f"fitting {type(self.feature_map).__name__} "
                                    f"on {rows} rows"):
            return fit_feature_plan(self.feature_map, X, Y, y_ndim, block_size=block_size,
                                    samples=self.feature_map_samples,
                                    random_state=self.random_state, namespace=namespace)

    def _progress(self):
        """The :class:`~selfdistill_sklearn._progress.Progress` of ``verbose``."""
        return _progress.Progress(type(self).__name__, getattr(self, "verbose", 0))

    def _splits(self, X, Y, y_ndim, groups):
        """The folds of ``cv`` as a list of (train, test) index arrays, checked."""
        n = X.shape[0]
        if isinstance(self.cv, numbers.Integral) and not isinstance(self.cv, bool | np.bool_):
            # Row i in fold i mod cv: the rule partial_fit can follow.
            return incremental.position_splits(n, self.cv)
        # A splitter sees y as in memory (StratifiedKFold needs it): n numbers
        # computed from a dask array.
        Y_split = Y.compute() if streaming.is_dask_array(Y) else Y
        y_split = Y_split[:, 0] if y_ndim == 1 else Y_split
        if groups is not None:
            groups = np.asarray(groups)
            if groups.shape[0] != n:
                raise ValueError(f"groups has {groups.shape[0]} entries, but X has {n} samples.")
        return check_splits(check_cv(self.cv).split(np.empty((n, 0)), y_split, groups), n, "cv")

    def _prediction_input(self, X, name="X"):
        """``X`` checked against the fit; a DataFrame stays one when the fitted
        map takes it."""
        if dask_frames.is_dask_frame(X):
            return dask_frames.prediction_input(self, X, name)
        if streaming.is_dask_array(X):
            if X.ndim != 2 or len(X.chunks[1]) != 1:
                raise ValueError(f"{name} must be a two-dimensional dask array chunked along "
                                 f"rows only: rechunk with {name}.rechunk({{1: -1}}).")
            dask_frames.check_array_columns(self, X, reset=False)
            return X
        if self._passes_frames(X):
            validate_data(self, X, reset=False, skip_check_array=True)
            return X
        return validate_data(self, X, accept_sparse=("csr", "csc"), reset=False)


def _is_int(cv):
    return isinstance(cv, numbers.Integral) and not isinstance(cv, bool | np.bool_)


def _algebra_threads(n_jobs=None):
    """BLAS threads for the m x m algebra after the pass: one unless ``n_jobs``
    asks for more. Eigendecompositions of a thousand columns gain little from
    threads and lose several times when the cores are shared (on two busy
    cores, eigh of 1000 x 1000 took 2.5 s with two threads and 0.45 s with
    one)."""
    return threadpool_limits(limits=1 if n_jobs is None else effective_n_jobs(n_jobs),
                             user_api="blas")


def _effective_dof(eigenvalues, reg_lambda, alphas, staged, fit_intercept):
    """``tr H`` of every step (``staged``) or of the limit, from the eigenvalues
    of the centred weighted ``G``: the non-zero eigenvalues of the weighted
    kernel matrix, so the kernel estimator's definition unchanged."""
    if staged:
        return gcv.effective_dof(eigenvalues, reg_lambda, alphas, fit_intercept)
    return np.array([gcv.limit_effective_dof(eigenvalues, reg_lambda, alphas[0],
                                             fit_intercept)])


def _stream(plan, X, Y, sample_weight, labels, n_cells, progress=None, **options):
    """The moments of every cell of the rows, in one pass (``options``: those
    of :func:`~selfdistill_sklearn._streaming.moments`), reported to
    ``progress``."""
    if progress is not None:
        progress.say(f"moments: one pass over {X.shape[0]} rows ({plan.n_features} features, "
                     f"{n_cells} cell{'s' if n_cells > 1 else ''})")
    return streaming.moments(plan.streamed_map, X, Y, sample_weight, labels, n_cells,
                             plan.block_size, plan.n_features, progress=progress,
                             namespace=plan.namespace, **options)


def _fold_stream(plan, X, Y, sample_weight, labels, cell_roles, progress, splitter):
    """The cells of the folds in one pass, and what ``partial_fit`` continues.

    In memory (NumPy, sparse or pandas), the rows after a head are kept as
    co-moments about the head's reference fit, a Gram matrix a block
    (:mod:`selfdistill_sklearn._reference`); where their held-out errors
    would not be exact to its ``PRECISION_TOLERANCE`` (nearly collinear
    features), a second pass forms exact QR roots, as dask and array API
    inputs always do.

    Returns
    -------
    cells : list of Moments
        QR roots of every cell.
    kept : ReferencedCells or list of Moments
        The state for ``partial_fit``.
    """
    n_cells = cell_roles.shape[0]
    if (plan.namespace is None and streaming.is_in_memory(X)
            and streaming.fits_referenced(n_cells, plan.n_features + Y.shape[1])):
        progress.say(f"moments: one pass over {X.shape[0]} rows ({plan.n_features} features, "
                     f"{n_cells} cells)")
        state = streaming.referenced_moments(plan.streamed_map, X, Y, sample_weight, labels,
                                             n_cells, plan.block_size, plan.n_features,
                                             splitter=splitter, progress=progress)
        # Each split's held-out cells, bounded together.
        held_out = [np.flatnonzero(roles == 2) for roles in cell_roles.T]
        with _algebra_threads():
            if state.precise(held_out):
                return state.cells(), state
            error = state.relative_error(held_out)
        progress.say(f"moments: the co-moments of the rows after the first {state.head_rows} "
                     f"would score folds to a relative {error:.1e} only (more than "
                     f"{PRECISION_TOLERANCE:.0e}; nearly collinear features, or rows far "
                     "larger than the first): a second pass forms exact QR roots")
    cells = _stream(plan, X, Y, sample_weight, labels, n_cells, progress, root=True,
                    splitter=splitter)
    return cells, cells


class SelfDistilledRidge(_PrimalRegressor):
    """Ridge regression on features refitted on its own predictions, streamed.

    Ridge regression on features ``phi(X)`` refitted on its own predictions,
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
    linear kernel, and ``n_steps=1`` is :class:`sklearn.linear_model.Ridge`
    with ``alpha=reg_lambda``.

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
        weight is 1. With ``cv=None`` and no validation data, each weight
        minimises the generalised cross-validation criterion instead, in
        closed form (see Notes): no validation data and no folds.
    n_steps : int in [1, 1000] or float("inf"), default=2
        Number of fits ``tau`` including the first. ``float("inf")`` needs a
        scalar ``alpha`` and gives ridge regression with penalty
        ``reg_lambda / alpha`` (Theorem 4.5, eq. (17)); zero for
        ``alpha = 0``.
    reg_lambda : float > 0, default=1.0
        Ridge penalty ``lambda`` on ``beta`` (``Ridge`` calls it ``alpha``).
    fit_intercept : bool, default=True
        Fit an unpenalised intercept at every step: the features and targets
        are centred by their weighted means, as in
        :class:`sklearn.linear_model.Ridge`.
    feature_map : transformer or None, default=None
        Map ``phi`` applied to ``X``: ``None`` uses the columns of ``X``;
        any scikit-learn transformer (``Nystroem``, ``RBFSampler``,
        ``PolynomialCountSketch``, ``SplineTransformer``, a
        ``ColumnTransformer``, a ``Pipeline``) is cloned, fitted once on the
        training data, or on ``feature_map_samples`` rows drawn at random
        when there are more (``Nystroem`` draws its landmarks from them,
        ``SplineTransformer`` its knots), then applied block by block. As in
        a :class:`~sklearn.pipeline.Pipeline`, the map sees ``X`` as it was
        passed (a pandas DataFrame stays one, so that a ``ColumnTransformer``
        selects its columns by name), and the fitted clone is kept whatever
        its ``fit`` returns. The object passed is never fitted itself. The
        input types the estimator accepts (sparse matrices) are those the
        map accepts.
    clip_alpha : bool, default=False
        Clip the weights of ``"optimal"`` to ``[0, 1]`` (footnote 10).
    cv : int, cross-validation generator, iterable or None, default=5
        Folds for ``alpha="optimal"`` without validation data: a number of
        folds ``K``, a splitter (a group splitter receives the ``groups`` of
        :meth:`fit`), or (train, test) index pairs, a generator of which
        serves one fit. An int puts row ``i`` in fold ``i mod K`` (the
        folds of ``PredefinedSplit(np.arange(n_samples) % K)``, not
        ``KFold``'s contiguous blocks): a rule that needs no number of rows
        in advance, so that :meth:`partial_fit` follows it over any batching
        of the same rows; ``cv=KFold(K)`` gives ``KFold``'s folds.
        ``None`` chooses the weights by generalised cross-validation (GCV)
        from the moments of the pass, without folds (see Notes); unlike
        ``check_cv``, for which ``None`` means 5 folds. Not used for a fixed
        ``alpha``.
    block_size : int >= 1, default=4096
        Rows whose features are formed at once (within each chunk of a dask
        array): memory of a fit is about ``block_size * m`` floats plus a few
        ``m x m`` matrices per fold. The value of the last fit is used by
        :meth:`predict`.
    feature_map_samples : int >= 1 or None, default=100_000
        Most rows the feature map is fitted on; ``None`` fits it on all rows
        (a dask array is then computed whole).
    random_state : int, RandomState instance or None, default=None
        Draw of the rows the feature map is fitted on, when there are more
        than ``feature_map_samples``.
    verbose : int, default=0
        When positive, print which phase runs (``feature map``, ``moments``,
        ``solve``) as it starts and ends, with its time, and during the pass
        the rows done, the rows per second and the time left, every two
        seconds (``verbose >= 2``: after every block). On a dask array
        dask's own progress bar shows the pass
        (:class:`dask.diagnostics.ProgressBar`, or
        :func:`distributed.progress` with a ``dask.distributed`` client).
        :meth:`partial_fit` prints each batch's rows and rate and the rows
        seen. Nothing is printed by default.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features_out_,) or (n_targets, n_features_out_)
        ``beta`` of the last step (of the limit for ``n_steps=inf``), in the
        layout of :class:`sklearn.linear_model.Ridge`: one-dimensional for a
        single target, whether ``y`` has shape (n,) or (n, 1).
    intercept_ : numpy.float64, ndarray of shape (n_targets,) or float
        Intercept of the last step, as ``Ridge`` gives it: a NumPy float for
        ``y`` of shape (n,), an array for ``y`` of shape (n, n_targets)
        (also for one target), and the float 0.0 without ``fit_intercept``.
    staged_coef_ : ndarray of shape (n_steps, m) or (n_steps, n_targets, m)
        ``coef_`` of every step, step 1 first. Absent for ``n_steps=inf``.
    staged_intercept_ : ndarray of shape (n_steps,) or (n_steps, n_targets)
        The intercept of every step (zeros without ``fit_intercept``).
        Absent for ``n_steps=inf``.
    alphas_ : ndarray of shape (n_steps - 1,)
        The weights used; the single constant weight for ``n_steps=inf``.
    feature_map_ : transformer or None
        The fitted clone of ``feature_map``.
    n_features_out_ : int
        ``m``, the number of features ``phi`` gives.
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features, when ``X`` has string column names.
    n_samples_seen_ : int
        Number of training rows: those of :meth:`fit`, or of every batch of
        :meth:`partial_fit` since its first.
    effective_dof_ : ndarray of shape (n_steps,)
        Effective degrees of freedom ``tr H`` of every step, ``H`` the
        smoother that maps the training targets to the step's training
        predictions (with sample weights ``S H S^-1``, the same trace), 1
        for the intercept included; for ``n_steps=inf`` shape (1,), that of
        the limit. As for
        :class:`~selfdistill_sklearn.SelfDistilledKernelRidge` (the
        eigenvalues of the centred weighted ``G`` are the non-zero
        eigenvalues of the weighted kernel matrix), from the eigenvalues the
        fit has already computed: no further cost.
    equivalent_reg_lambda_ : ndarray of shape (n_steps,)
        For each entry of ``effective_dof_``, the penalty that gives ridge
        regression (the first step) the same degrees of freedom
        (:func:`~selfdistill_sklearn.gcv.equivalent_reg_lambda`); for the
        limit of a fixed ``alpha > 0`` it is ``reg_lambda / alpha``
        (Theorem 4.5). NaN where the degrees of freedom exceed what ridge
        regression reaches (the rank of ``G`` plus the intercept).

    See Also
    --------
    SelfDistilledKernelRidge : The same model on the n x n kernel matrix.
    SelfDistilledRidgeCV : The penalty, weights and steps chosen in one pass.
    sklearn.linear_model.Ridge : The first step alone.

    Notes
    -----
    **Input.** NumPy arrays, SciPy sparse matrices (densified one block at a
    time, so ``feature_map=None`` suits a moderate number of columns),
    pandas DataFrames and dask arrays chunked along rows. For dask arrays
    each chunk's statistics are computed where the chunk lives, by the
    active ``dask.distributed`` client or dask's default scheduler, and only
    ``(m + 1 + k)^2`` numbers per chunk travel; a chunk holding NaN raises
    when it is computed, naming the chunk. :meth:`predict` then returns a
    lazy dask array. A dask DataFrame (with ``y`` and ``sample_weight`` as
    dask Series or DataFrames partitioned alike, or in memory) is read the
    same way, partition by partition: each partition reaches the feature
    map as the pandas DataFrame it is, so that a ``ColumnTransformer``
    selects its columns by name, and ``feature_names_in_`` is kept. When
    the partitions' lengths are unknown (after a filter, or reading Parquet
    or CSV) they are computed first, ``len`` of every partition: the folds
    and the rows the feature map is fitted on are positions. :meth:`predict`
    returns a lazy dask array with one chunk per partition. Needs
    ``dask[dataframe]``.

    **Fitted state.** Every :meth:`fit` replaces the whole fitted state, or,
    if it raises, leaves the previous one; :meth:`partial_fit` after it
    continues its moments (or refuses, saying why, when the fit cannot be
    continued), and every batch adds to the moments or, if it raises, leaves
    them. :meth:`predict`,
    :meth:`staged_predict` and :meth:`spectral_shrinkage` use the settings
    of the last fit (its feature map, number of features and block size,
    its penalty and weights), not parameters set since.

    **Accuracy.** Everything is float64 whatever the input dtype.

    **Folds over many rows.** Held-out errors are norms of QR roots of each
    fold's rows, never differences that cancel. In memory, only the first
    ``max(8192, 8 (m + k))`` rows are kept as QR roots; they give a
    reference fit ``b0``, and later rows are kept as co-moments of
    ``[phi, y - phi b0]`` (a Gram matrix a block, a fifth of the price of a
    QR update), factored into roots when the folds are scored
    (DESIGN.md section 8). The held-out errors are then exact to a relative
    ``1e-8`` or better. Where the bound says otherwise (nearly collinear
    features), the head, once complete, forecasts it and every row stays a
    root (the price of roots, one pass); where the head did not forecast
    it, ``fit`` passes over the rows a second time to form exact roots, and
    :meth:`partial_fit`, which cannot, warns with a
    :class:`scipy.linalg.LinAlgWarning`. dask and array API inputs form
    exact roots throughout.

    **Array API.** With ``sklearn.set_config(array_api_dispatch=True)`` (which
    needs ``SCIPY_ARRAY_API=1``), ``X`` may be a torch tensor, a CuPy array or
    another array API array: the feature map (one that declares array API
    support, such as ``Nystroem``, ``StandardScaler``, ``PolynomialFeatures``
    or a Pipeline of them; another is refused with a ``TypeError``), the
    moments, ``eigh``, the fitted attributes and the predictions stay in its
    namespace and on its device; ``y`` and ``sample_weight`` are moved there.
    Float64 is used wherever the device has it, else float32. Fold searches
    and validation data (``alpha="optimal"`` with ``cv`` folds or ``X_val``)
    form the QR roots of their held-out errors with LAPACK's triangular
    updates, which no array API library offers: their features are moved to
    NumPy block by block and the fitted attributes moved back. :meth:`predict`
    refuses input of another namespace or device than the fit's.

    **Threads.** In memory, the blocks are dealt to as many threads as BLAS
    has (at most four), each forming its blocks' features and moments with
    one BLAS thread; their moments are merged at the end, in an order that
    does not depend on timing. The feature map's ``transform`` is then called
    from several threads at once, as scikit-learn's transformers allow;
    ``threadpoolctl.threadpool_limits(1)`` around :meth:`fit` gives one.

    **Generalised cross-validation** (``alpha="optimal"``, ``cv=None``).
    With its weights fixed, step ``t`` is a linear smoother (Lemma 4.2), and
    ``GCV = (RSS_w / sum(w)) / (1 - tr H / n)^2`` (Golub, Heath & Wahba
    1979; ``n`` the number of positive weights) estimates its held-out
    squared error without holding anything out. In the primal form it needs
    only what the pass gives: the eigenvalues ``d`` of the centred weighted
    ``G``, the projections ``c_k^2 = (u_k^T r)^2 / d_k`` of the targets and
    the weighted squared norm ``s - sum_k c_k^2`` of the centred targets
    outside the span of the features (DESIGN §7), from the stable centred
    moments and clipped at 0. Each weight is GCV's closed-form minimiser
    given the earlier ones
    (:func:`~selfdistill_sklearn.gcv.gcv_optimal_schedules`), exactly as
    ``SelfDistilledKernelRidge(alpha="optimal", cv=None)`` chooses it with
    the linear kernel. This is not the efficient leave-one-out that
    :class:`sklearn.linear_model.RidgeCV` computes with ``cv=None``: GCV
    approximates leave-one-out, and exact leave-one-out has no cheap form
    beyond the first step.

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

    _LAZY_ATTRIBUTES = ("coef_", "intercept_", "staged_coef_", "staged_intercept_", "alphas_",
                        "feature_map_", "n_features_out_", "_feature_plan", "_gram_eigenvalues",
                        "_fitted_alpha", "_fitted_reg_lambda", "_fitted_fit_intercept")

    def __init__(self, alpha=0.5, n_steps=2, reg_lambda=1.0, *, fit_intercept=True,
                 feature_map=None, clip_alpha=False, cv=5, block_size=4096,
                 feature_map_samples=100_000, random_state=None, verbose=0):
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
        self.verbose = verbose

    @fit_atomically(private=_PRIVATE_STATE)
    def fit(self, X, y, sample_weight=None, X_val=None, y_val=None, groups=None):
        """Fit ``n_steps`` steps of self-distillation in one pass over the data.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame, dask array} of shape (n_samples, n_features)
            Training data; what the feature map takes. A dask DataFrame too
            (see Notes of :class:`SelfDistilledRidge`).
        y : {array-like, dask array, dask Series} of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        sample_weight : float or array-like of shape (n_samples,), default=None
            Non-negative weights of the squared errors.
        X_val, y_val : array-like, default=None
            Validation data for ``alpha="optimal"`` (unweighted). Checked but
            not used for a fixed ``alpha``.
        groups : array-like of shape (n_samples,), default=None
            Group labels for a group-aware ``cv`` splitter. With metadata
            routing enabled they are routed to the splitter's ``split``.

        Returns
        -------
        self : object
            The fitted estimator.

        Raises
        ------
        TypeError, ValueError
            For parameters or data that are not as documented, naming them;
            when the folds of ``cv`` are empty, hold indices that are not
            integers in ``[0, n_samples)``, or leave a part empty; when the
            feature map does not give one row of features per sample, or
            fails on rows it was not fitted on (naming
            ``feature_map_samples``). A fit that raises leaves the previous
            fitted state (none after a first fit).
        """
        n_steps = check_n_steps(self.n_steps)
        alpha = check_alpha(self.alpha, n_steps)
        reg_lambda = check_reg_lambda(self.reg_lambda)
        block_size, groups = self._check_settings(groups)
        kind = incremental.input_kind(X)
        X, Y, sample_weight, y_ndim = self._training_data(X, y, sample_weight)
        validation = self._validation_data(X_val, y_val, Y)
        plan = self._fit_plan(X, Y, y_ndim, block_size)
        cell_roles = labels = None
        by_gcv = self._chooses_by_gcv(alpha, validation)
        if alpha.is_optimal and validation is None and n_steps > 1 and not by_gcv:
            splits = self._splits(X, Y, y_ndim, groups)
            if X.shape[0] < 2:
                raise ValueError("alpha='optimal' without X_val, y_val needs at least 2 "
                                 "samples for its cv folds.")
            cell_roles, labels = split_cells(splits, X.shape[0])
        # Folds need held-out errors as norms: QR roots of their cells.
        if labels is None:
            cell_moments = kept = _stream(plan, X, Y, sample_weight, None, 1, self._progress())
        else:
            cell_moments, kept = _fold_stream(plan, X, Y, sample_weight, labels, cell_roles,
                                              self._progress(), self.cv)
        validation_moments = None
        if validation is not None and alpha.is_optimal:
            validation_moments = _stream(plan, validation[0], validation[1], None, None, 1,
                                         root=True, name="X_val")[0]
        with _algebra_threads(), self._progress().phase("solve", f"{n_steps} step(s) from "
                                                        f"the moments"):
            fitted = fit_from_moments(cell_moments, cell_roles, validation_moments,
                                      plan.n_features, self.fit_intercept, alpha, n_steps,
                                       reg_lambda, self.clip_alpha, by_gcv=by_gcv)
        self._set_fitted(fitted, plan, alpha, n_steps, reg_lambda, y_ndim)
        self.n_samples_seen_ = X.shape[0]
        refusal = None
        if validation_moments is not None:
            refusal = "its alpha='optimal' was chosen on X_val, y_val"
        elif labels is not None and not _is_int(self.cv):
            refusal = f"its folds came from cv={self.cv!r}, which splits all the rows at once"
        # The moments of the pass, kept (no further pass) for partial_fit to continue.
        self._partial_stream = incremental.MomentStream.after_fit(
            self, kind, plan, kept, X.shape[0], Y.shape[1], y_ndim,
            None if labels is None else self.cv, refusal)
        return self

    @available_if(incremental.offers_partial_fit)
    def partial_fit(self, X, y, sample_weight=None):
        """Add a batch of rows to the model's moments (incremental fit).

        Each call adds the batch's moments to those of the earlier batches
        (one pass over the batch, ``m x m`` memory whatever the number of
        rows), so that the model of batches ``X_1, ..., X_b`` is the model
        :meth:`fit` gives on their concatenation, to rounding. After
        :meth:`fit` on ``X_0`` it continues from fit's moments (kept by fit
        at no extra pass), giving the fit on ``X_0, X_1, ...``; a fit whose
        folds came from a splitter ``cv`` or whose ``alpha="optimal"`` came
        from ``X_val`` cannot be continued, and ``partial_fit`` raises a
        ``TypeError`` saying so. Later calls must have the same parameters
        (compared by value) and the same columns. The fitted
        attributes are computed from the moments when first read (``coef_``,
        :meth:`predict`, ...): a batch costs its pass and no ``m x m``
        algebra.

        **Feature map.** A ``feature_map`` that is already fitted
        (:func:`sklearn.utils.validation.check_is_fitted` passes; a
        stateless map such as ``FunctionTransformer`` counts) is used as it
        is, a copy of it. Otherwise a clone is fitted on the first batch (on
        ``feature_map_samples`` of its rows when it has more). That suits
        maps whose fit depends on the number of columns only
        (``RBFSampler``, ``PolynomialCountSketch``, ``PolynomialFeatures``,
        each then equal to what :meth:`fit` fits); a map that learns from
        the rows (``Nystroem``'s landmarks, ``SplineTransformer``'s knots, a
        ``StandardScaler``) learns from the first batch alone, a sample of
        the data: fit it beforehand on a sample that represents the data and
        pass it fitted.

        **Folds.** ``alpha="optimal"`` chooses its weights on folds by
        position in the stream: row ``i`` (counted from 0 over all batches)
        is held out in fold ``i mod cv``, as :meth:`fit` does with an
        integer ``cv``. ``cv=None`` chooses them by GCV; a splitter, which
        needs all the rows in advance, is refused.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_batch, n_features)
            A batch of training rows, in the container of the first batch
            and with its columns.
        y : array-like of shape (n_batch,) or (n_batch, n_targets)
            Its targets, of the dimensions of the first batch's.
        sample_weight : float or array-like of shape (n_batch,), default=None
            Non-negative weights of the batch's squared errors. A batch
            may weigh zero (its rows still take their fold positions); the
            weights of all the batches together may not.

        Returns
        -------
        self : object
            The estimator, its moments updated.

        Raises
        ------
        TypeError, ValueError
            For a batch that is empty, has other columns, another kind of
            container or other targets than the first batch; for parameters
            (other than ``verbose`` and ``block_size``) changed since the
            first batch; for a ``cv`` that is not an int or ``None`` when
            ``alpha="optimal"``.
            A batch that raises leaves the model as it was. While the rows
            seen cannot give a model (fewer rows than folds, no weight), the
            model is not fitted: ``predict`` raises
            :class:`~sklearn.exceptions.NotFittedError` saying why, and
            ``hasattr`` answers False.
        """
        with restored_on_error(self, _PRIVATE_STATE):
            return self._partial_fit(X, y, sample_weight)

    def _partial_fit_folds(self):
        n_steps = check_n_steps(self.n_steps)
        alpha = check_alpha(self.alpha, n_steps)
        check_reg_lambda(self.reg_lambda)
        if alpha.is_optimal and n_steps > 1:
            return self._partial_fit_cv("alpha='optimal'")
        return None

    def _finish_partial_fit(self):
        """The fitted attributes from the moments of partial_fit."""
        stream = self._partial_stream
        fresh = self._finished_clone()
        n_steps = check_n_steps(fresh.n_steps)
        alpha = check_alpha(fresh.alpha, n_steps)
        reg_lambda = check_reg_lambda(fresh.reg_lambda)
        stream.check_folds("alpha='optimal'")
        with _algebra_threads(), self._progress().phase(
                "solve", f"{n_steps} step(s) from the moments of {stream.n_samples_seen} rows"):
            fitted = fit_from_moments(stream.finished_cells(), stream.cell_roles, None,
                                      stream.plan.n_features, fresh.fit_intercept, alpha,
                                      n_steps, reg_lambda, fresh.clip_alpha,
                                      by_gcv=fresh._chooses_by_gcv(alpha, None))
        fresh._set_fitted(fitted, stream.plan, alpha, n_steps, reg_lambda, stream.y_ndim)
        self._take_fitted(fresh)

    def _set_fitted(self, fitted, plan, alpha, n_steps, reg_lambda, y_ndim):
        """The fitted attributes from
        :func:`~selfdistill_sklearn._primal_search.fit_from_moments` (betas
        (T, m, k) and intercepts (T, k)), in ``Ridge``'s layout."""
        # In the namespace and on the device of X.
        betas, intercepts, alphas, eigenvalues = array_api.follow_x(plan.namespace, fitted)
        coefs = array_api.swap_last_axes(betas)  # (T, k, m)
        if coefs.shape[1] == 1:
            coefs = coefs[:, 0, ...]
        if y_ndim == 1:
            intercepts = intercepts[:, 0]
        if not self.fit_intercept:
            intercepts = array_api.zeros_like(intercepts)
        if n_steps != math.inf:
            self.staged_coef_, self.staged_intercept_ = coefs, intercepts
        self.coef_ = coefs[-1, ...]
        last = intercepts[-1] if intercepts.ndim == 1 else intercepts[-1, ...]
        self.intercept_ = last if self.fit_intercept else 0.0
        self.alphas_ = alphas
        self.feature_map_ = plan.feature_map
        self.n_features_out_ = plan.n_features
        self._feature_plan = plan
        self._gram_eigenvalues = eigenvalues
        self._fitted_alpha = alpha
        self._fitted_reg_lambda = reg_lambda
        self._fitted_fit_intercept = self.fit_intercept

    def _chooses_by_gcv(self, alpha, validation):
        """Whether ``alpha="optimal"`` is chosen by generalised cross-validation:
        ``cv=None`` and no validation data."""
        return alpha.is_optimal and validation is None and self.cv is None

    @property
    def effective_dof_(self):
        check_is_fitted(self)
        return array_api.follow_fit(self._feature_plan.namespace, _effective_dof(
            array_api.to_numpy(self._gram_eigenvalues), self._fitted_reg_lambda,
            array_api.to_numpy(self.alphas_), hasattr(self, "staged_coef_"),
            self._fitted_fit_intercept))

    @property
    def equivalent_reg_lambda_(self):
        check_is_fitted(self)
        return array_api.follow_fit(self._feature_plan.namespace, np.atleast_1d(
            gcv.equivalent_reg_lambda(array_api.to_numpy(self._gram_eigenvalues),
                                      array_api.to_numpy(self.effective_dof_),
                                      self._fitted_fit_intercept)))

    def _validation_data(self, X_val, y_val, Y):
        if X_val is None and y_val is None:
            return None
        if X_val is None or y_val is None:
            raise ValueError("X_val and y_val must be given together.")
        if dask_frames.is_dask_frame(X_val) or dask_frames.is_dask_frame(y_val):
            raise TypeError("X_val and y_val as dask DataFrames or Series are not supported: "
                            "pass X_val.compute() and y_val.compute().")
        if streaming.is_dask_array(X_val):
            if X_val.ndim != 2 or X_val.shape[1] != self.n_features_in_:
                raise ValueError(f"X_val must have {self.n_features_in_} features (as X), got "
                                 f"shape {X_val.shape}.")
            dask_frames.check_array_columns(self, X_val, reset=False)  # names as numpy's
            streaming.check_dask_training_data(X_val, y_val)
        else:
            try:
                if self._passes_frames(X_val):
                    validate_data(self, X_val, reset=False, skip_check_array=True)
                else:
                    X_val = validate_data(self, X_val, accept_sparse=("csr", "csc"),
                                          reset=False)
            except ValueError as exc:
                raise ValueError(f"X_val does not match X: {exc}") from exc
        if array_api.namespace_of(y_val) is not None:
            y_val = array_api.to_numpy(y_val)  # for the validation pass, which is NumPy's
        if not streaming.is_dask_array(y_val):
            y_val = incremental.check_targets(y_val, "y_val")
        if y_val.shape[0] != X_val.shape[0]:
            raise ValueError(f"X_val has {X_val.shape[0]} samples but y_val has "
                             f"{y_val.shape[0]}.")
        if (y_val.shape[1] if y_val.ndim == 2 else 1) != Y.shape[1] or y_val.ndim > 2:
            raise ValueError(f"y_val must have {Y.shape[1]} target column(s) like y, got shape "
                             f"{y_val.shape}.")
        Y_val = y_val.astype(np.float64)
        return X_val, (Y_val[:, None] if Y_val.ndim == 1 else Y_val)

    def predict(self, X):
        """Predict with the last step (the limit for ``n_steps=inf``).

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame, dask array} of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray or dask array of shape (n_samples,) or (n_samples, n_targets)
            ``phi(X) coef_^T + intercept_`` (one-dimensional when ``coef_``
            is, as ``Ridge`` gives it); a lazy dask array for dask input.
        """
        check_is_fitted(self)
        X = self._prediction_input(X)
        plan = self._feature_plan
        array_api.check_same_namespace(plan.namespace, X, f"{type(self).__name__}.predict")
        coef, intercept = array_api.coefficient_rows(self.coef_, self.intercept_,
                                                     plan.n_features)
        return plan.predict(X, coef, intercept, squeeze=np.ndim(self.coef_) == 1)

    def staged_predict(self, X):
        """Predict with every step, step 1 first.

        The features are formed once for all steps.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame, dask array} of shape (n_samples, n_features)

        Yields
        ------
        y_pred : ndarray or dask array of shape (n_samples,) or (n_samples, n_targets)
            In the shape that :meth:`predict` gives.

        Raises
        ------
        ValueError
            After a fit with ``n_steps=inf``, which has only the limit.
        """
        check_is_fitted(self)
        if not hasattr(self, "staged_coef_"):
            raise ValueError("staged_predict needs a finite n_steps; with n_steps=inf only "
                             "the limit exists, which predict returns.")
        X = self._prediction_input(X)
        plan = self._feature_plan
        array_api.check_same_namespace(plan.namespace, X,
                                       f"{type(self).__name__}.staged_predict")
        n_steps = self.staged_coef_.shape[0]
        coefs, intercepts = array_api.coefficient_rows(self.staged_coef_, self.staged_intercept_,
                                                       plan.n_features, n_steps)
        k = coefs.shape[1]
        coefs, intercepts = array_api.coefficient_rows(coefs, intercepts, plan.n_features)
        predictions = plan.predict(X, coefs, intercepts, squeeze=False)
        for step in range(n_steps):
            block = predictions[:, step * k:(step + 1) * k]
            yield block[:, 0] if np.ndim(self.coef_) == 1 else block

    def spectral_shrinkage(self, n_steps=None):
        """Return the eigenvalues of ``G`` and each step's shrinkage (Section 4.2).

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
        fitted_steps = self.staged_coef_.shape[0] if hasattr(self, "staged_coef_") else None
        alphas = shrinkage_alphas(fixed_alpha, array_api.to_numpy(self.alphas_), fitted_steps,
                                  n_steps)
        scalar = fixed_alpha.is_fixed
        eigenvalues = array_api.to_numpy(self._gram_eigenvalues)
        reg_lambda = self._fitted_reg_lambda
        diagonals = shrinkage_diagonals(eigenvalues, reg_lambda, alphas)
        limit = (limit_shrinkage_diagonal(eigenvalues, reg_lambda, fixed_alpha.value) if scalar
                 else None)
        follow = partial(array_api.follow_fit, self._feature_plan.namespace)
        return Bunch(eigenvalues=follow(eigenvalues), diagonals=follow(diagonals),
                     ratios=follow(shrinkage_ratios(diagonals)), limit=follow(limit),
                     alphas=follow(alphas))


class SelfDistilledRidgeCV(_PrimalRegressor):
    """Self-distilled ridge regression with lambda, alpha and tau chosen by CV.

    Lambda, alpha and tau are chosen by cross-validation, every candidate on
    every fold scored after ONE pass.

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
    reg_lambdas : "auto" or array-like of float > 0, default="auto"
        Ridge penalties ``lambda`` to try. ``"auto"`` places 45 of them,
        four per decade, from ``1e-10`` to ``10`` times the largest
        eigenvalue of ``G = Phi^T W Phi`` of all the rows (centred when
        ``fit_intercept``), the matrix ``lambda`` is added to, as
        :class:`~selfdistill_sklearn.SelfDistilledKernelRidgeCV` does on the
        kernel matrix (see :ref:`choosing`); its eigendecomposition serves
        the refit. An explicit grid is used as given. A best penalty at
        either end of the grid, or a best ``tau = max_steps > 1``, gives a
        :class:`~selfdistill_sklearn.GridEdgeWarning`.
    alphas : array-like of float in [0, 1] and "optimal", default=(0.0, 0.25, 0.5, 0.75, 1.0)
        Weights of the ground truth to try, each used at every later step.
        ``"optimal"`` is Algorithm 1 (Theorem 4.4, eq. (16)) chosen inside
        each fold's training part (see Notes).
    max_steps : int in [1, 1000], default=4
        Largest number of steps ``tau`` tried; every ``tau`` from 1 to
        ``max_steps`` is a candidate, and so is the limit ``tau = inf`` of
        every fixed ``alpha`` (not of ``"optimal"``).
    fit_intercept : bool, default=True
        Fit an unpenalised intercept at every step of every candidate, as
        ``SelfDistilledRidge(fit_intercept=True)`` does.
    feature_map : transformer or None, default=None
        As in :class:`SelfDistilledRidge`; fitted once on the training data
        and shared by the folds (see Notes). Its parameters are nested
        (``feature_map__gamma``), so that
        ``GridSearchCV(SelfDistilledRidgeCV(feature_map=Nystroem()),
        {"feature_map__gamma": ...})`` searches them.
    clip_alpha : bool, default=False
        Clip the weights of ``"optimal"`` to ``[0, 1]`` (footnote 10).
    cv : int, cross-validation generator, iterable or None, default=5
        Folds on which the candidates are scored: a number of folds ``K``,
        a splitter (a group splitter receives the ``groups`` of
        :meth:`fit`), or (train, test) index pairs, a generator of which
        serves one fit. An int puts row ``i`` in fold ``i mod K``, as
        ``PredefinedSplit(np.arange(n_samples) % K)`` (not ``KFold``'s
        contiguous blocks), so that :meth:`partial_fit` follows the same
        rule over any batching of the same rows; ``cv=KFold(K)`` gives
        ``KFold``'s folds.
        ``"optimal"`` chooses its weights inside each fold on the other
        folds. ``None`` scores every candidate by generalised
        cross-validation (GCV) instead, from the moments of all the rows
        (one cell, no folds; see Notes), and ``"optimal"`` chooses its
        weights by GCV too. This is not the efficient leave-one-out of
        :class:`sklearn.linear_model.RidgeCV` with ``cv=None``, which GCV
        approximates: exact leave-one-out has no cheap form beyond the
        first step. Both cost one pass; at 20 000 rows and 200 features
        (232 candidates, one BLAS thread) GCV took 0.11 s and 5 folds 0.62
        s. The default stays 5 folds, as for
        :class:`~selfdistill_sklearn.SelfDistilledKernelRidgeCV`: folds
        score any of the scorings, and a fold's score of ``"optimal"`` never
        uses the rows that chose its weights, where GCV's is the minimum of
        the criterion that chose them, hence optimistic.
    scoring : {None, "neg_mean_squared_error", "neg_root_mean_squared_error", "r2"}, default=None
        One metric, computed from the held-out statistics (``None`` is
        ``"neg_mean_squared_error"``), weighted by ``sample_weight``; several
        outputs are averaged uniformly, as the scorers do. Several scorings
        at once are refused. With ``cv=None`` only ``None`` and
        ``"neg_mean_squared_error"`` are accepted (a ``ValueError``
        otherwise): GCV estimates the mean squared error.
    n_jobs : int, default=None
        Number of BLAS threads of the ``m x m`` algebra after the pass (the
        eigendecompositions of the folds' matrices and the refit): ``None``
        means 1, ``-1`` all processors. The pass itself runs in this
        process, or in dask's workers for a dask array; on cores shared with
        other work one thread is often the fastest (see Notes). Unlike
        :class:`~selfdistill_sklearn.SelfDistilledKernelRidgeCV`, whose
        folds each cost an ``n x n`` factorisation and run in worker
        processes, the folds here cost ``m x m`` algebra from statistics
        already in memory: threads, not processes, are what helps.
    verbose : int, default=0
        When positive, print which phase runs (``feature map``, ``moments``,
        ``search``) as it starts, a line after the pass (rows, features,
        cells, time) and after the search (candidates, folds, time), and
        during the pass the rows done, the rows per second and the time
        left, as :class:`SelfDistilledRidge` does (dask's own progress bar
        on dask).
    block_size : int >= 1, default=4096
        Rows whose features are formed at once, as in
        :class:`SelfDistilledRidge`.
    feature_map_samples : int >= 1 or None, default=100_000
        Most rows the feature map is fitted on; ``None`` fits it on all rows.
    random_state : int, RandomState instance or None, default=None
        Draw of the rows the feature map is fitted on, when there are more
        than ``feature_map_samples``.

    Attributes
    ----------
    cv_results_ : dict of ndarrays
        In the layout of :class:`sklearn.model_selection.GridSearchCV`
        (``pandas.DataFrame(cv_results_)`` tabulates it): ``params``,
        ``param_reg_lambda``, ``param_alpha``, ``param_n_steps``,
        ``split{k}_test_score``, ``mean_test_score``, ``std_test_score``
        and ``rank_test_score``, in the order in which ``GridSearchCV``
        visits ``param_grid_``. With ``cv=None``, as for
        :class:`~selfdistill_sklearn.SelfDistilledKernelRidgeCV`:
        ``mean_test_score`` is the negative GCV of each candidate, there
        are no ``split{k}_test_score`` entries, ``std_test_score`` is 0,
        and ``effective_dof`` holds each candidate's degrees of freedom
        ``tr H``.
    best_index_ : int
        Index of the best candidate: the first of those with the best mean
        score, as ``GridSearchCV`` breaks ties.
    best_score_ : float
        Mean held-out score of the best candidate.
    best_params_ : dict
        ``reg_lambda``, ``alpha`` and ``n_steps`` of the best candidate.
    best_estimator_ : SelfDistilledRidge
        The best candidate fitted on all the data (from the same statistics:
        no second pass). :meth:`predict` uses it.
    param_grid_ : list of dict
        The grid ``GridSearchCV`` would search to score the same candidates.
    reg_lambdas_ : ndarray of shape (n_lambdas,)
        The penalties searched: ``reg_lambdas`` as given, or the automatic
        grid on the data's scale.
    optimal_alphas_ : ndarray of shape (n_splits, n_lambdas, max_steps - 1)
        The weights ``"optimal"`` chose inside each fold. Only when
        ``alphas`` holds ``"optimal"``. With ``cv=None``, of shape
        (n_lambdas, max_steps - 1): the GCV-optimal weights on all the data.
    n_splits_ : int
        Number of folds. Absent with ``cv=None``.
    feature_map_ : transformer or None
        The fitted clone of ``feature_map``, shared by every fold and by
        ``best_estimator_``.
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features, when ``X`` has string column names.
    n_samples_seen_ : int
        Number of training rows: those of :meth:`fit`, or of every batch of
        :meth:`partial_fit` since its first.

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

    **Generalised cross-validation** (``cv=None``). The pass sums the
    moments of all the rows in one cell; one eigendecomposition of the
    centred weighted ``G`` then gives GCV of every candidate in ``O(m)``
    (:class:`SelfDistilledRidge` says how), exactly the scores of
    ``SelfDistilledKernelRidgeCV(kernel="linear", cv=None)`` on raw
    features, and the best candidate is fitted from the same
    decomposition. Memory is that of one cell whatever the grid.

    **The feature map** is fitted once, before the pass, on all the
    training rows (or a sample of them): it sees the held-out rows' inputs,
    never their targets. A grid search that refits it per fold would need a
    pass per fold.

    **Sample weights** weight every training objective and the held-out
    errors; ``GridSearchCV`` scores held-out rows unweighted unless metadata
    routing passes them to the scorer.

    **Threads.** On two busy shared cores an eigendecomposition of 1000 x
    1000 took 2.5 s with two BLAS threads and 0.45 s with one, hence the
    default of one thread.

    **Array API.** As for :class:`SelfDistilledRidge`: with
    ``array_api_dispatch`` on, ``cv=None`` runs in the namespace and on the
    device of ``X``; folds score from QR roots formed in NumPy. ``cv_results_``
    holds NumPy arrays, as ``GridSearchCV``'s does; ``best_estimator_`` and
    ``optimal_alphas_`` follow ``X``.

    ``score`` is the coefficient of determination of
    ``best_estimator_``, as for every regressor.

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

    _LAZY_ATTRIBUTES = ("cv_results_", "best_index_", "best_score_", "best_params_",
                        "best_estimator_", "param_grid_", "optimal_alphas_", "n_splits_",
                        "feature_map_", "reg_lambdas_")

    def __init__(self, reg_lambdas="auto", alphas=(0.0, 0.25, 0.5, 0.75, 1.0),
                 max_steps=4, *, fit_intercept=True, feature_map=None, clip_alpha=False, cv=5,
                 scoring=None, n_jobs=None, verbose=0, block_size=4096,
                 feature_map_samples=100_000, random_state=None):
        self.reg_lambdas = reg_lambdas
        self.alphas = alphas
        self.max_steps = max_steps
        self.fit_intercept = fit_intercept
        self.feature_map = feature_map
        self.clip_alpha = clip_alpha
        self.cv = cv
        self.scoring = scoring
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.block_size = block_size
        self.feature_map_samples = feature_map_samples
        self.random_state = random_state

    @fit_atomically(private=_STREAM_STATE)
    def fit(self, X, y, sample_weight=None, groups=None):
        """Score every candidate on the folds of ``cv``, then fit the best.

        One pass scores every candidate on the folds; the best is then fitted
        on all the data.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame, dask array} of shape (n_samples, n_features)
            Training data; what the feature map takes. A dask DataFrame too
            (see Notes of :class:`SelfDistilledRidge`).
        y : {array-like, dask array, dask Series} of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        sample_weight : float or array-like of shape (n_samples,), default=None
            Non-negative weights of the training samples, used in every fit
            and in the held-out errors.
        groups : array-like of shape (n_samples,), default=None
            Group labels for a group-aware ``cv`` splitter. With metadata
            routing enabled they are routed to the splitter's ``split``.

        Returns
        -------
        self : object
            The fitted estimator.

        Raises
        ------
        TypeError, ValueError
            For parameters or data that are not as documented, naming the
            search's own parameter (``reg_lambdas``, ``alphas``,
            ``max_steps``, ``scoring``, ...); for folds of ``cv`` that are
            empty, hold indices that are not integers in ``[0, n_samples)``
            or leave a part empty, or a held-out part with only zero sample
            weights; for a feature map as :meth:`SelfDistilledRidge.fit`
            says. A fit that raises leaves the previous fitted state (none
            after a first fit).
        """
        grid = check_grid(self.reg_lambdas, self.alphas, self.max_steps, self.scoring,
                          PRIMAL_SCORINGS, n_jobs=self.n_jobs, verbose=self.verbose,
                          scored_from="held-out sufficient statistics")
        block_size, groups = self._check_settings(groups)
        if self.cv is None:
            check_gcv_scoring(self.scoring)
        scorer = PRIMAL_SCORINGS[self.scoring or "neg_mean_squared_error"]
        start = time.perf_counter()
        kind = incremental.input_kind(X)
        X, Y, sample_weight, y_ndim = self._training_data(X, y, sample_weight)
        self.n_samples_seen_ = X.shape[0]
        plan = self._fit_plan(X, Y, y_ndim, block_size)
        if self.cv is None:
            return self._fit_gcv(X, Y, sample_weight, y_ndim, plan, grid, start, kind)
        splits = self._splits(X, Y, y_ndim, groups)
        cell_roles, labels = split_cells(splits, X.shape[0])
        cell_moments, kept = _fold_stream(plan, X, Y, sample_weight, labels, cell_roles,
                                          self._progress(), self.cv)
        self._report(f"pass over {X.shape[0]} rows ({plan.n_features} features, "
                     f"{cell_roles.shape[0]} cells)", start)
        start = time.perf_counter()
        self._progress().say(f"search: {grid.described} on {len(splits)} folds")
        result, grid, fitted = self._search_from_moments(cell_moments, cell_roles, plan, grid,
                                                         scorer)
        self._report(f"{grid.n_candidates} candidates scored on {len(splits)} folds, the best "
                     "refitted", start)
        self._set_search_result(result, grid, fitted, plan, y_ndim,
                                self.cv if _takes_groups(self.cv) else splits)
        self.n_splits_ = len(splits)
        self.feature_map_ = plan.feature_map
        # The moments of the pass, kept (no further pass) for partial_fit to continue.
        self._partial_stream = incremental.MomentStream.after_fit(
            self, kind, plan, kept, X.shape[0], Y.shape[1], y_ndim,
            self.cv if _is_int(self.cv) else None,
            None if _is_int(self.cv) else f"its folds came from cv={self.cv!r}, which splits "
            "all the rows at once")
        return self

    @available_if(incremental.offers_partial_fit)
    def partial_fit(self, X, y, sample_weight=None):
        """Add a batch of rows to the moments of the search (incremental fit).

        As :meth:`SelfDistilledRidge.partial_fit`: the moments of every fold
        accumulate batch by batch, and the search runs on them when a fitted
        attribute is first read (``cv_results_``, :meth:`predict`, ...), so
        that batches ``X_1, ..., X_b`` give the search that :meth:`fit`
        gives on their concatenation. Row ``i`` of the stream (counted from
        0 over all batches) is held out in fold ``i mod cv``, as in
        :meth:`fit` with an integer ``cv``; ``cv=None`` scores by GCV. The
        feature map is used as given when fitted already, otherwise fitted
        on the first batch (which maps that suits:
        :meth:`SelfDistilledRidge.partial_fit`).

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_batch, n_features)
            A batch of training rows, in the container of the first batch
            and with its columns.
        y : array-like of shape (n_batch,) or (n_batch, n_targets)
            Its targets, of the dimensions of the first batch's.
        sample_weight : float or array-like of shape (n_batch,), default=None
            Non-negative weights, used in every fit and in the held-out
            errors. A batch may weigh zero; all the batches together may
            not.

        Returns
        -------
        self : object
            The estimator, its moments updated.

        Raises
        ------
        TypeError, ValueError
            For a batch that is empty, has other columns, another kind of
            container or other targets than the first batch; for parameters
            (other than ``verbose``, ``n_jobs`` and ``block_size``) changed
            since the first batch; for a ``cv`` that is not an int or
            ``None``. A batch that raises leaves the model as it was. While
            the rows seen cannot give a model (fewer rows than folds, a fold
            without weight), ``predict`` raises
            :class:`~sklearn.exceptions.NotFittedError` saying why.
        """
        with restored_on_error(self, _STREAM_STATE):
            return self._partial_fit(X, y, sample_weight)

    def _partial_fit_folds(self):
        check_grid(self.reg_lambdas, self.alphas, self.max_steps, self.scoring,
                   PRIMAL_SCORINGS, n_jobs=self.n_jobs, verbose=self.verbose,
                   scored_from="held-out sufficient statistics")
        if self.cv is None:
            check_gcv_scoring(self.scoring)
        return self._partial_fit_cv("the search")

    def _finish_partial_fit(self):
        """The search's attributes from the moments of partial_fit, as
        :meth:`fit` computes them after its pass."""
        stream = self._partial_stream
        fresh = self._finished_clone()
        fresh.verbose = self.verbose
        grid = check_grid(fresh.reg_lambdas, fresh.alphas, fresh.max_steps, fresh.scoring,
                          PRIMAL_SCORINGS, n_jobs=self.n_jobs, verbose=self.verbose,
                          scored_from="held-out sufficient statistics")
        plan, y_ndim = stream.plan, stream.y_ndim
        stream.check_folds("The search")
        with _algebra_threads():
            cells = stream.finished_cells()
        with self._progress().phase("search", f"{grid.described} from the moments of "
                                    f"{stream.n_samples_seen} rows"):
            roles = None if fresh.cv is None else stream.cell_roles
            scorer = PRIMAL_SCORINGS[fresh.scoring or "neg_mean_squared_error"]
            result, grid, fitted = fresh._search_from_moments(cells, roles, plan, grid, scorer)
        fresh._set_search_result(result, grid, fitted, plan, y_ndim, fresh.cv)
        if fresh.cv is not None:
            fresh.n_splits_ = fresh.cv
        fresh.feature_map_ = plan.feature_map
        self._take_fitted(fresh)

    def _search_from_moments(self, cells, roles, plan, grid, scorer):
        """Every candidate of ``grid`` scored from the moments of the cells
        (on the folds of ``roles``, or by GCV when ``roles`` is None) and the
        best refitted from the same decompositions: ``(result, grid,
        fitted)``, the grid resolved (``"auto"`` placed on the spectrum)."""
        by_gcv = roles is None
        with _algebra_threads(self.n_jobs):
            if by_gcv:
                result = gcv_search(cells, plan.n_features, grid, self.fit_intercept,
                                    self.clip_alpha)
            else:
                result = search(cells, roles, plan.n_features, grid, scorer,
                                self.fit_intercept, self.clip_alpha)
            params = result["best_params"]
            n_steps = check_n_steps(params["n_steps"])
            fitted = fit_from_moments(cells, roles, None, plan.n_features, self.fit_intercept,
                                      check_alpha(params["alpha"], n_steps), n_steps,
                                      params["reg_lambda"], self.clip_alpha, by_gcv=by_gcv,
                                      fold=result["fold"])
        return result, result["grid"], fitted

    def _set_search_result(self, result, grid, fitted, plan, y_ndim, cv):
        """The search's attributes and its ``best_estimator_``, a
        :class:`SelfDistilledRidge` with the best parameters, fitted from
        ``fitted`` (whose weights came with ``cv``)."""
        params = result["best_params"]
        n_steps = check_n_steps(params["n_steps"])
        alpha = check_alpha(params["alpha"], n_steps)
        best = SelfDistilledRidge(
            **params, fit_intercept=self.fit_intercept, feature_map=self.feature_map,
            clip_alpha=self.clip_alpha, cv=cv, block_size=plan.block_size,
            feature_map_samples=self.feature_map_samples, random_state=self.random_state)
        best._set_fitted(fitted, plan, alpha, n_steps, params["reg_lambda"], y_ndim)
        best.n_features_in_ = self.n_features_in_
        if hasattr(self, "feature_names_in_"):
            best.feature_names_in_ = self.feature_names_in_
        if "n_samples_seen_" in vars(self):
            best.n_samples_seen_ = self.n_samples_seen_
        # Its moments are the search's: a batch goes to the search, not to it.
        best._partial_stream = incremental.FitOnly(
            "it is the best estimator of a search, whose moments the search keeps; call "
            "partial_fit on the search")
        self.best_estimator_ = best
        self.cv_results_ = result["cv_results"]
        self.best_index_ = result["best_index"]
        self.best_score_ = result["best_score"]
        self.best_params_ = params
        self.param_grid_ = grid.param_grid()
        self.reg_lambdas_ = array_api.follow_fit(plan.namespace, grid.lambdas.copy())
        if "optimal_alphas" in result:
            self.optimal_alphas_ = array_api.follow_fit(plan.namespace,
                                                        result["optimal_alphas"])
        warn_at_edges(type(self).__name__, edge_messages(
            params, grid.lambdas, grid.max_steps, auto=grid.was_auto,
            eigenvalues=lambda: array_api.to_numpy(result["fold"].eigenvalues)))

    def _fit_gcv(self, X, Y, sample_weight, y_ndim, plan, grid, start, kind):
        """``cv=None``: every candidate scored by generalised cross-validation
        from the moments of all the rows (one cell, one pass), and the best
        fitted from the same decomposition of ``G``."""
        cell_moments = _stream(plan, X, Y, sample_weight, None, 1, self._progress())
        self._report(f"pass over {X.shape[0]} rows ({plan.n_features} features)", start)
        start = time.perf_counter()
        self._progress().say(f"search: GCV of {grid.described}")
        result, grid, fitted = self._search_from_moments(cell_moments, None, plan, grid, None)
        self._report(f"GCV of {grid.n_candidates} candidates, the best refitted", start)
        self._set_search_result(result, grid, fitted, plan, y_ndim, None)
        self.feature_map_ = plan.feature_map
        # The moments of the pass, kept (no further pass) for partial_fit to continue.
        self._partial_stream = incremental.MomentStream.after_fit(
            self, kind, plan, cell_moments, X.shape[0], Y.shape[1], y_ndim, None)
        return self

    def _report(self, what, start):
        self._progress().say(f"{what} in {time.perf_counter() - start:.2f} s")

    def predict(self, X):
        """Predict with ``best_estimator_``.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame, dask array} of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray or dask array of shape (n_samples,) or (n_samples, n_targets)
            The predictions of ``best_estimator_``, which checks ``X``
            against the fit (its feature names included).
        """
        check_is_fitted(self)
        array_api.check_same_namespace(self.best_estimator_._feature_plan.namespace, X,
                                       f"{type(self).__name__}.predict")
        return self.best_estimator_.predict(X)


