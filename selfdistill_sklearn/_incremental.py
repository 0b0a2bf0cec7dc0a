"""Folds by position in the stream, and the moments that ``partial_fit`` accumulates.

**The fold rule.** An integer ``cv = K`` puts row ``i`` (counted from 0 in
the order the rows arrive) in fold ``i mod K``: a rule that needs neither the
number of rows nor the rows themselves, so that ``fit`` on all the rows and
``partial_fit`` over any batching of them, in the same order, form the same
folds (scikit-learn's ``PredefinedSplit(np.arange(n) % K)``). It nests: the
training part of fold ``k`` is, in its own order, split by the same rule
with ``K - 1`` folds into the other ``K - 1`` folds, so that a fold's inner
folds for ``alpha="optimal"`` are again folds of this rule.

**The stream.** :class:`MomentStream` holds what the rows seen so far
determine: the fitted feature map, the
:class:`~selfdistill_sklearn._primal.Moments` of every fold's rows (Chan,
Golub and LeVeque's pairwise merge adds a batch), the count of rows, and
the estimator's parameters as they were at the first batch. Each batch gives
a new stream; the estimator replaces its stream only when the batch has
passed every check, so that a batch that fails leaves the model as it was.
"""

import copy
import numbers
import warnings

import joblib
import numpy as np
from scipy import linalg
from sklearn import get_config
from sklearn.base import clone
from sklearn.utils import get_tags
from sklearn.utils.validation import NotFittedError, check_array, check_is_fitted, validate_data

from . import _streaming as streaming
from ._array_api import check_same_namespace, namespace_of
from ._dask_frames import is_dask_frame
from ._feature_plan import (
    ExplainedMap,
    FeaturePlan,
    _computed,
    fit_feature_plan,
    is_dataframe,
)
from ._grids import outside_stacklevel
from ._primal import check_poolable
from ._reference import ReferencedCells
from ._validation import check_sample_weight

__all__ = [
    "FitOnly",
    "MomentStream",
    "check_fitted",
    "check_n_folds",
    "check_targets",
    "check_weights",
    "finalise",
    "input_kind",
    "is_fitted",
    "lazy_attribute",
    "name_targets",
    "offers_partial_fit",
    "plain_batch",
    "position_cell_roles",
    "position_labels",
    "position_splits",
]

#: Parameters that change nothing that ``partial_fit`` accumulates or
#: computes, and may change between its calls.
FREE_PARAMETERS = frozenset({"verbose", "n_jobs", "block_size"})


#: The error of weights that are all zero, as fit gives it.
ZERO_WEIGHTS = "sample_weight must not be all zero: some weight must be positive."


def check_n_folds(cv, name="cv"):
    """An integer ``cv`` as a number of folds ``K >= 2``."""
    if isinstance(cv, bool | np.bool_) or not isinstance(cv, numbers.Integral):
        raise TypeError(f"{name} must be an int >= 2 here, got {cv!r}.")
    if cv < 2:
        raise ValueError(f"{name}={cv} folds: cross-validation needs at least 2 folds.")
    return int(cv)


def position_labels(start, n_rows, n_folds):
    """Fold of the rows ``start, ..., start + n_rows - 1`` of the stream."""
    return (start + np.arange(n_rows)) % n_folds


def position_cell_roles(n_folds):
    """Roles (1 training, 2 held out) of the ``K`` folds in the ``K`` splits:
    the cells of :func:`~selfdistill_sklearn._primal.split_cells` for the
    splits of :func:`position_splits`, in the same order."""
    roles = np.ones((n_folds, n_folds), dtype=np.int8)
    np.fill_diagonal(roles, 2)
    return roles


def position_splits(n_samples, cv, name="cv"):
    """The ``K`` splits of ``n_samples`` rows by position: fold ``k`` holds out
    the rows ``i`` with ``i mod K = k``.

    Raises
    ------
    ValueError
        With fewer rows than folds (a fold would be empty), naming ``cv``.
    """
    n_folds = check_n_folds(cv, name)
    if n_samples < n_folds:
        raise ValueError(
            f"{name}={n_folds} puts row i in fold i mod {n_folds} and needs at least "
            f"{n_folds} samples, got n_samples={n_samples}."
        )
    labels = position_labels(0, n_samples, n_folds)
    return [(np.flatnonzero(labels != fold), np.flatnonzero(labels == fold))
            for fold in range(n_folds)]


def check_weights(sample_weight, n_samples, batch):
    """``check_sample_weight``; for a ``batch`` of partial_fit, weights that
    are all zero are accepted (the batch adds its rows' count and nothing
    else; that some weight is positive is checked on the whole stream when
    it is finalised)."""
    try:
        return check_sample_weight(sample_weight, n_samples)
    except ValueError as exc:
        if not (batch and ZERO_WEIGHTS in str(exc)):
            raise
    return np.zeros(n_samples)  # every other check passed: finite, non-negative, all zero


def check_targets(y, name="y", **options):
    """``y`` as a float array (scikit-learn's ``check_array``), the error
    naming ``name`` when its values are not numbers (``check_array`` says
    only "could not convert string to float")."""
    try:
        return check_array(y, ensure_2d=False, dtype=np.float64, input_name=name, **options)
    except ValueError as exc:
        if "convert" not in str(exc):
            raise
        raise ValueError(f"{name} must hold numbers (regression targets), got a value that "
                         f"is not one: {exc}.") from exc


def plain_batch(estimator, X, y):
    """Whether ``X, y`` is a later batch that scikit-learn's ``validate_data(
    estimator, X, y, reset=False, multi_output=True, y_numeric=True)`` would
    return as it is: float64 NumPy arrays of the fitted width, as many
    targets as rows (at least one), finite, and no feature names to
    compare. Such a batch skips that call, whose fixed cost (telling arrays
    from data frames) is a few percent of a batch of 10^4 rows.

    Finite by scikit-learn's own first test (the sum is finite, unless
    ``assume_finite`` is set), except for ``X`` without a ``feature_map``:
    its values are then the features, every one of which (rows of weight 0
    too) :func:`~selfdistill_sklearn._streaming.transform_block` checks as
    the moments are formed (the sum would read them a second time, 4% of
    ``partial_fit``). A batch refused there goes through
    :func:`check_refused_batch`, which gives scikit-learn's error; every
    other batch that ``validate_data`` would refuse goes through it at once."""
    if not (type(X) is np.ndarray and type(y) is np.ndarray
            and X.dtype == np.float64 and y.dtype == np.float64
            and X.ndim == 2 and y.ndim in (1, 2) and 0 < X.shape[0] == y.shape[0]
            and (y.ndim == 1 or y.shape[1] > 0)
            and X.shape[1] == getattr(estimator, "n_features_in_", -1)
            and "feature_names_in_" not in vars(estimator)):
        return False
    if get_config()["assume_finite"]:
        return True
    with np.errstate(over="ignore", invalid="ignore"):
        return bool((estimator.feature_map is None or np.isfinite(X.sum()))
                    and np.isfinite(y.sum()))


def check_refused_batch(estimator, X, y):
    """Raise scikit-learn's error for a :func:`plain_batch` whose moments were
    refused (``X`` not finite, found as its features were formed), where
    ``validate_data`` has one; return otherwise (the moments' own error,
    e.g. squares that overflow, stands)."""
    if not plain_batch(estimator, X, y):
        return
    try:
        validate_data(estimator, X, y, multi_output=True, y_numeric=True, reset=False)
    except ValueError as exc:
        raise exc from None


def name_targets(y, error):
    """Raise the error of :func:`check_targets` when ``y`` is what made
    ``error`` (of ``validate_data(X, y)``) happen; return otherwise."""
    if "convert" in str(error):
        check_targets(y)


def input_kind(X):
    """The kind of container a batch comes in: ``"dask DataFrame"``,
    ``"dask"`` (array), ``"DataFrame"``, ``"sparse"``, or the top-level
    module of an array's type (``"numpy"``, ``"torch"``, ``"cupy"``); lists
    and tuples are ``"numpy"``."""
    module = type(X).__module__.split(".")[0]
    if module == "dask":
        return "dask DataFrame" if is_dask_frame(X) else "dask"
    if is_dataframe(X):
        return "DataFrame"
    if module == "scipy":
        return "sparse"
    if isinstance(X, list | tuple):
        return "numpy"
    return module


def _container(kind, estimator):
    """What a batch's container decides: without a feature map a DataFrame
    is the array it becomes (its names are checked as scikit-learn checks
    them: numpy after a DataFrame warns), with a map it is what the map
    receives."""
    if estimator.feature_map is not None:
        return kind
    return {"DataFrame": "numpy", "dask DataFrame": "dask"}.get(kind, kind)


def _parameters(estimator, names=None):
    """The parameters that must stay those of the first batch, as
    ``get_params(deep=True)`` gives them. ``names``, the estimator's own
    parameter names when known (those of the first batch: the class does not
    change), are read as the attributes that ``get_params`` reads, without
    inspecting the constructor's signature again for every batch."""
    if names is None:
        parameters = estimator.get_params(deep=True)
    else:
        parameters = {}
        for name in names:
            value = getattr(estimator, name)
            if hasattr(value, "get_params") and not isinstance(value, type):
                parameters.update((f"{name}__{key}", inner)
                                  for key, inner in value.get_params(deep=True).items())
            parameters[name] = value
    return {name: value for name, value in parameters.items()
            if name.split("__")[0] not in FREE_PARAMETERS}


def same_value(a, b):
    """Whether two parameter values are equal by value, as a user means it:
    numbers by ``==`` (``1 == 1.0 == np.float64(1.0)``; a bool only equals a
    bool; NaN equals NaN), sequences and arrays elementwise (a list equals a
    tuple), dicts by key, estimators by class and ``get_params(deep=False)``
    (scikit-learn's ``clone`` compares them by what it copies), anything
    else by ``joblib.hash`` (splitters, callables)."""
    if a is b:
        return True
    if isinstance(a, bool | np.bool_) or isinstance(b, bool | np.bool_):
        return (isinstance(a, bool | np.bool_) and isinstance(b, bool | np.bool_)
                and bool(a) == bool(b))
    if isinstance(a, numbers.Number) and isinstance(b, numbers.Number):
        return a == b or (a != a and b != b)  # NaN equals NaN
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, np.ndarray) and a.ndim == 0:
        return same_value(a.item(), b)
    if isinstance(b, np.ndarray) and b.ndim == 0:
        return same_value(a, b.item())
    sequence = list | tuple | np.ndarray
    if isinstance(a, sequence) and isinstance(b, sequence):
        return len(a) == len(b) and all(map(same_value, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[key], b[key]) for key in a)
    if (hasattr(a, "get_params") and hasattr(b, "get_params")
            and not isinstance(a, type) and not isinstance(b, type)):
        return type(a) is type(b) and same_value(a.get_params(deep=False),
                                                 b.get_params(deep=False))
    return joblib.hash(a) == joblib.hash(b)


def _feature_plan(feature_map, X, Y, y_ndim, *, block_size, samples, random_state, progress):
    """The plan of the first batch, and whether its map was fitted on it.

    The map is fitted on the first batch, or, when it is fitted already
    (scikit-learn's ``check_is_fitted``; a stateless map such as a
    ``FunctionTransformer`` counts as fitted), a copy of it as it is. Under
    array API dispatch the plan keeps the batch's namespace and device."""
    namespace = namespace_of(X)
    if feature_map is None:
        return fit_feature_plan(None, X, Y, y_ndim, block_size=block_size, samples=samples,
                                random_state=random_state, namespace=namespace), False
    if not _is_fitted(feature_map):
        rows = X.shape[0] if samples is None else min(samples, X.shape[0])
        with progress.phase("feature map", f"fitting {type(feature_map).__name__} on {rows} "
                            "rows of the first batch"):
            plan = fit_feature_plan(feature_map, X, Y, y_ndim, block_size=block_size,
                                    samples=samples, random_state=random_state,
                                    namespace=namespace)
        return plan, True
    progress.say(f"feature map: {type(feature_map).__name__} used as fitted")
    feature_map = copy.deepcopy(feature_map)  # the object passed is never changed
    (first,) = _computed(streaming.take_rows(X, slice(0, min(X.shape[0], block_size))))
    try:
        features = streaming.transform_block(feature_map, first, namespace=namespace)
    except (ValueError, TypeError) as exc:
        if namespace is None:
            raise
        raise ValueError(
            f"feature_map {type(feature_map).__name__} is fitted already, and its transform "
            f"failed on the first batch, an array of {namespace.xp.__name__} under "
            f"array_api_dispatch ({exc}). A map fitted on NumPy arrays does not transform "
            "arrays of another namespace: fit it on arrays of the batches' namespace and "
            "device with array_api_dispatch on, or pass it unfitted."
        ) from exc
    return FeaturePlan(feature_map, features.shape[1], block_size, None, X.shape[0],
                       namespace=namespace), False


def _first_batch_map(feature_map, n_rows):
    """A map fitted on the first batch, saying so when it fails on a later one."""
    return ExplainedMap(
        feature_map, f"the {n_rows} rows of the first batch of partial_fit (or of fit) and "
        "its transform failed on a later batch", "Pass the map fitted beforehand (it is then "
        "used as it is), or a first batch that represents the data.")


class MomentStream:
    """The moments of the rows that ``partial_fit`` has seen, by fold.

    Made by :meth:`start` on the first batch and by :meth:`add` for every
    later one; neither changes an existing stream.

    Attributes
    ----------
    estimator : estimator
        An unfitted clone with the parameters of the first batch: the
        finalisation reads its parameters, whatever was set since.
    plan : FeaturePlan
    n_folds : int or None
        ``K`` of the fold rule, or ``None`` for one cell of all the rows.
    cells : list of Moments
        Of ``[phi(x), y]``, one per fold (QR roots with folds, formed when
        first read from the referenced co-moments of
        :mod:`selfdistill_sklearn._reference` that the batches add to).
    n_samples_seen : int
    n_targets, y_ndim : int
    kind : str
        :func:`input_kind` of the first batch as passed (a tensor converted
        to numpy by the checks stays ``"torch"``).
    """

    def __init__(self, estimator, parameters, plan, n_folds, cells, n_samples_seen, n_targets,
                 y_ndim, kind, map_fitted_here):
        self.estimator = estimator
        self._parameters = parameters
        self.plan = plan
        self.n_folds = n_folds
        if n_folds is not None and isinstance(cells, list):
            # Roots of a fit (dask, array API, or features too collinear for
            # co-moments): the head of later batches.
            cells = ReferencedCells(cells, n_samples_seen, plan.n_features)
        self._cells = cells
        self.n_samples_seen = n_samples_seen
        self.n_targets = n_targets
        self.y_ndim = y_ndim
        self.kind = kind
        self._map_fitted_here = map_fitted_here

    @classmethod
    def start(cls, estimator, X, Y, sample_weight, y_ndim, n_folds, block_size, progress, kind):
        """The stream of a first batch; ``estimator`` is the one being fitted
        (its parameters are copied, it is not changed); ``progress`` reports
        the phases; ``kind`` is the :func:`input_kind` of the batch as the
        user passed it (``X`` here is the checked, possibly converted, one)."""
        frozen = clone(estimator)  # unfitted: the map as passed is read below
        plan, fitted_here = _feature_plan(estimator.feature_map, X, Y, y_ndim,
                                          block_size=block_size,
                                          samples=frozen.feature_map_samples,
                                          random_state=frozen.random_state, progress=progress)
        stream = cls(frozen, _parameters(frozen), plan, n_folds, None, 0, Y.shape[1],
                     y_ndim, kind, fitted_here)
        return stream._with_batch(X, Y, sample_weight, plan.streamed_map, plan.block_size,
                                  progress)

    @classmethod
    def after_fit(cls, estimator, kind, plan, cells, n_samples, n_targets, y_ndim, n_folds,
                  refusal=None):
        """The stream that ``fit`` leaves for ``partial_fit`` to continue: its
        moments (``cells``, by position fold when ``n_folds``), kept as they
        are (no further pass). ``refusal`` (why the fit cannot be continued,
        e.g. its folds came from a splitter) gives a :class:`FitOnly`
        instead, which refuses every batch saying why; ``None`` for an
        estimator without ``partial_fit`` (a classifier keeps nothing)."""
        if not offers_partial_fit(estimator):
            return None
        if refusal is not None:
            return FitOnly(refusal)
        try:
            frozen = clone(estimator)
        except TypeError:  # a parameter that cannot be copied, e.g. a generator of splits
            return FitOnly("a parameter of the fit (such as cv given as a generator) cannot be "
                           "kept for later batches")
        return cls(frozen, _parameters(frozen), plan, n_folds, cells, n_samples, n_targets,
                   y_ndim, kind, estimator.feature_map is not None)

    def changed_parameters(self, estimator):
        """Names of the parameters that differ from those of the first batch."""
        names = [name for name in self._parameters if "__" not in name]
        current, missing = _parameters(estimator, names), object()
        return sorted(name for name in set(current) | set(self._parameters)
                      if not same_value(current.get(name, missing),
                                        self._parameters.get(name, missing)))

    def check_batch(self, estimator, X, kind):
        """Refuse a batch whose parameters, container or targets differ from
        the first batch's (before its data are checked)."""
        changed = self.changed_parameters(estimator)
        if changed:
            raise ValueError(
                f"The parameters {', '.join(changed)} of {type(estimator).__name__} changed "
                "since the first call of partial_fit: every batch must be fitted with the "
                "same parameters. Set them back, or call fit (which starts over on its rows)."
            )
        if _container(kind, self.estimator) != _container(self.kind, self.estimator):
            raise TypeError(
                f"partial_fit received X as {kind} after batches of {self.kind}: every batch "
                f"must come in the same kind of container (here {self.kind})."
            )

    def add(self, X, Y, sample_weight, block_size, y_ndim, progress):
        """A new stream with the rows of a checked batch added."""
        if Y.shape[1] != self.n_targets or y_ndim != self.y_ndim:
            raise ValueError(
                f"y of this batch has shape {Y.shape if y_ndim == 2 else Y.shape[:1]}, but the "
                f"earlier batches had {'1-D targets' if self.y_ndim == 1 else ''}"
                f"{'' if self.y_ndim == 1 else f'{self.n_targets} target columns'}: every "
                "batch must have the same targets."
            )
        feature_map = self.plan.streamed_map
        if self._map_fitted_here:
            feature_map = _first_batch_map(feature_map, self.plan.n_rows)
        return self._with_batch(X, Y, sample_weight, feature_map, block_size, progress)

    def _with_batch(self, X, Y, sample_weight, feature_map, block_size, progress):
        n = X.shape[0]
        n_cells = 1 if self.n_folds is None else self.n_folds
        labels = (None if self.n_folds is None
                  else position_labels(self.n_samples_seen, n, self.n_folds))
        check_same_namespace(self.plan.namespace, X, "partial_fit")
        if (self.n_folds is not None and self.plan.namespace is None
                and streaming.is_in_memory(X)
                and streaming.fits_referenced(n_cells, self.plan.n_features + self.n_targets)):
            cells = streaming.referenced_moments(feature_map, X, Y, sample_weight, labels,
                                                 n_cells, block_size, self.plan.n_features,
                                                 state=self._cells, progress=progress,
                                                 any_weight=False)
        elif isinstance(self._cells, ReferencedCells):  # array API batches: all roots
            batch = streaming.moments(feature_map, X, Y, sample_weight, labels, n_cells,
                                      block_size, self.plan.n_features, root=True,
                                      progress=progress, any_weight=False,
                                      namespace=self.plan.namespace)
            cells = self._cells.with_head(batch, n)
        else:
            cells = streaming.moments(feature_map, X, Y, sample_weight, labels, n_cells,
                                      block_size, self.plan.n_features,
                                      root=self.n_folds is not None, progress=progress,
                                      any_weight=False, namespace=self.plan.namespace,
                                      initial=self._cells)
        # Each cell fits; their unions (the training parts) must too, or
        # the model could not be formed from these rows nor any later ones.
        intercept = self.estimator.fit_intercept
        if isinstance(cells, ReferencedCells):
            # Head and tail together, the tail taken back to z (no factoring).
            check_poolable([], intercept, parts=cells.head_parts() + cells.tail_in_z())
        else:
            check_poolable(cells, intercept)
        return MomentStream(self.estimator, self._parameters, self.plan, self.n_folds, cells,
                            self.n_samples_seen + n, self.n_targets, self.y_ndim, self.kind,
                            self._map_fitted_here)

    def finished_cells(self):
        """The moments of every cell (QR roots with folds), formed from the
        stream's state; with a :class:`scipy.linalg.LinAlgWarning` where the
        folds' held-out errors are exact to less than
        :data:`~selfdistill_sklearn._reference.PRECISION_TOLERANCE` (the
        rows are gone: a ``fit`` on them would form exact roots)."""
        if not isinstance(self._cells, ReferencedCells):
            return self._cells
        if not self._cells.precise():
            error = self._cells.relative_error()
            warnings.warn(
                "The co-moments that partial_fit keeps of the rows after its first "
                f"{self._cells.head_rows} score the folds to a relative {error:.1e} only: "
                "the features are nearly collinear, or later rows are far larger than the "
                "first ones (fit, which can pass over the rows again, forms exact QR roots "
                "instead). Scale or decorrelate the features, or compare with fit on a "
                "sample.", linalg.LinAlgWarning, stacklevel=outside_stacklevel())
        return self._cells.cells()

    @property
    def cell_roles(self):
        """Roles of the cells in the folds (``None`` for one cell)."""
        return None if self.n_folds is None else position_cell_roles(self.n_folds)

    def check_folds(self, what):
        """Refuse to finalise while a fold has no rows, or while every weight
        seen is zero (fit's error); ``what`` names the use of the folds."""
        weight = (self._cells.weight if isinstance(self._cells, ReferencedCells)
                  else sum(cell.weight for cell in self._cells))
        if not weight > 0:
            raise ValueError(ZERO_WEIGHTS)
        if self.n_folds is not None and self.n_samples_seen < self.n_folds:
            raise ValueError(
                f"{what} uses cv={self.n_folds} folds (row i in fold i mod {self.n_folds}) "
                f"and needs at least {self.n_folds} rows, but partial_fit has seen "
                f"{self.n_samples_seen}: pass more rows before reading the fitted model."
            )


class FitOnly:
    """What ``fit`` leaves when ``partial_fit`` cannot continue it: every
    batch is refused, saying why (rather than silently starting over)."""

    def __init__(self, reason):
        self.reason = reason

    def check_batch(self, estimator, X, kind):
        raise TypeError(
            f"This {type(estimator).__name__} was fitted by fit, and partial_fit cannot "
            f"continue it: {self.reason}. Refit on all the rows, or start a new stream from "
            "an unfitted copy: sklearn.base.clone(model).partial_fit(...)."
        )


def _is_fitted(feature_map):
    """Whether ``feature_map`` is a transformer fitted already (or stateless)."""
    if feature_map is None or not hasattr(feature_map, "transform"):
        return False
    try:
        check_is_fitted(feature_map)
    except (NotFittedError, TypeError):
        return False
    return True


def finalise(estimator, finish):
    """Compute the fitted attributes that the last ``partial_fit`` left to
    compute, by ``finish()``, if any.

    Raises
    ------
    NotFittedError
        When the rows seen cannot give a model yet (fewer rows than folds, a
        fold or the whole stream without weight), saying why. scikit-learn's
        ``NotFittedError`` is both a ``ValueError`` and an ``AttributeError``:
        ``hasattr`` answers False and ``getattr`` with a default returns it.
    """
    state = vars(estimator)
    if state.get("_partial_pending"):
        try:
            finish()
        except ValueError as exc:
            raise NotFittedError(
                f"This {type(estimator).__name__} cannot be finalised from the "
                f"{state['n_samples_seen_']} rows partial_fit has seen: {exc}"
            ) from exc
        state["_partial_pending"] = False


def lazy_attribute(estimator, name, lazy_names, finish):
    """``estimator.name`` for ``__getattr__``: a fitted attribute of
    ``lazy_names`` that the last ``partial_fit`` left to compute is computed
    by ``finish()`` (which sets them all) when first read. Only
    ``AttributeError`` (``NotFittedError`` when the model cannot be
    finalised yet, see :func:`finalise`) is raised."""
    state = vars(estimator)
    prop = getattr(type(estimator), name, None)
    if isinstance(prop, property):
        # Python falls back here when a property raises AttributeError (such as
        # scikit-learn's NotFittedError): raise that error again, not ours.
        return prop.fget(estimator)
    if name in lazy_names and state.get("_partial_pending"):
        finalise(estimator, finish)
        if name in state:
            return state[name]
    raise AttributeError(f"{type(estimator).__name__!r} object has no attribute {name!r}")


def is_fitted(estimator, finish):
    """``__sklearn_is_fitted__``: False while the rows of ``partial_fit``
    cannot give a model yet; otherwise scikit-learn's own rule (a fitted
    attribute with a trailing underscore is set)."""
    try:
        finalise(estimator, finish)
    except NotFittedError:
        return False
    return any(name.endswith("_") and not name.startswith("__") for name in vars(estimator))


def check_fitted(estimator):
    """scikit-learn's ``check_is_fitted``, whose error says why when the rows
    of ``partial_fit`` cannot give a model yet (its own would say only "not
    fitted yet")."""
    if vars(estimator).get("_partial_pending"):
        finalise(estimator, estimator._finish_partial_fit)
    check_is_fitted(estimator)


def offers_partial_fit(estimator):
    """Whether ``partial_fit`` applies: regressors only (a classifier's
    classes would have to be known before the first batch)."""
    return get_tags(estimator).estimator_type == "regressor"
