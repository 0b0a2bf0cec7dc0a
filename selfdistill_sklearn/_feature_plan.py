"""The features of the primal estimators: the feature map fitted once, and
what prediction reads of it.

:func:`fit_feature_plan` clones and fits the ``feature_map`` parameter (on all
rows or on a random sample of them) and fixes the number of features and the
block size; the resulting :class:`FeaturePlan` is the only thing that
``predict`` and ``staged_predict`` read, so that parameters set after a fit
change nothing until the next fit.

The map is treated as :class:`sklearn.pipeline.Pipeline` treats a step: it
sees ``X`` as the user passed it (a pandas DataFrame stays one, so that a
``ColumnTransformer`` can select columns by name), and the object fitted is
the object kept, whatever its ``fit`` returns.
"""

import dataclasses
import numbers

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_random_state, get_tags

from . import _streaming as streaming

__all__ = [
    "FeaturePlan",
    "check_block_size",
    "feature_map_input_tags",
    "fit_feature_plan",
    "is_dataframe",
]


def is_dataframe(X):
    """Whether ``X`` is a pandas DataFrame (or another frame with ``iloc``)."""
    return hasattr(X, "iloc") and hasattr(X, "columns")


def check_block_size(block_size):
    """``block_size`` as an int >= 1."""
    if not isinstance(block_size, numbers.Integral) or isinstance(block_size, bool):
        raise TypeError(f"block_size must be an int >= 1, got {block_size!r}.")
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1 rows, got {block_size}.")
    return int(block_size)


def _check_feature_map(feature_map):
    if feature_map is not None and not (hasattr(feature_map, "fit")
                                        and hasattr(feature_map, "transform")):
        raise TypeError(
            "feature_map must be None or a scikit-learn transformer with fit and "
            f"transform (Nystroem, RBFSampler, a Pipeline ...), got {feature_map!r}."
        )


def _check_samples(samples):
    if samples is not None and (not isinstance(samples, numbers.Integral)
                                or isinstance(samples, bool) or samples < 1):
        raise ValueError(f"feature_map_samples must be None or an int >= 1, got {samples!r}.")
    return samples


def feature_map_input_tags(feature_map, input_tags):
    """Set the input tags that follow from ``feature_map`` on ``input_tags``:
    raw columns (``None``) may be sparse; a map accepts what its own tags say,
    and a map without tags (or not a transformer, which ``fit`` refuses) is
    taken to accept dense input only, as a Pipeline's tags take such a step."""
    if feature_map is None:
        input_tags.sparse = True
        return input_tags
    try:
        input_tags.sparse = get_tags(feature_map).input_tags.sparse
    except (AttributeError, TypeError, ValueError):
        input_tags.sparse = False
    return input_tags


@dataclasses.dataclass(frozen=True, eq=False)
class FeaturePlan:
    """The features of one fit.

    Parameters
    ----------
    feature_map : fitted transformer or None
        The fitted clone of ``feature_map`` (``None``: the columns of ``X``).
    n_features : int
        ``m``, the number of features it gives.
    block_size : int
        Rows whose features are formed at once.
    n_fitted_rows : int or None
        The number of rows the map was fitted on when it was fitted on a
        random sample (``feature_map_samples``), else ``None``.
    n_rows : int
        The number of training rows.
    namespace : :class:`~selfdistill_sklearn._array_api.Namespace` or None
        The array API namespace and device of the training ``X`` when it was
        not NumPy's (``array_api_dispatch`` on): the features, the fitted
        attributes and the predictions are there.
    """

    feature_map: object
    n_features: int
    block_size: int
    n_fitted_rows: int | None = None
    n_rows: int = 0
    namespace: object = None

    @property
    def streamed_map(self):
        """The map as the pass over the training data uses it: when it was
        fitted on a sample, a failure on the other rows says so."""
        if self.n_fitted_rows is None or self.feature_map is None:
            return self.feature_map
        return _sample_fitted_map(self.feature_map, self.n_fitted_rows, self.n_rows)

    def predict(self, X, coef, intercept, squeeze):
        """``phi(X) coef^T + intercept`` block by block (a lazy dask array for
        dask input); ``coef`` of shape (k, m), ``intercept`` (k,); ``squeeze``
        returns shape (n,) for ``k = 1``."""
        return streaming.predict(self.feature_map, coef, intercept, self.block_size, X,
                                 squeeze=squeeze, namespace=self.namespace)


class ExplainedMap:
    """A fitted map whose ``transform``, when it raises a ``ValueError``,
    says on which rows the map was fitted and what to do: ``fitted_on``
    and ``advice`` are the two halves of that sentence."""

    def __init__(self, feature_map, fitted_on, advice):
        self.feature_map = feature_map
        self.fitted_on = fitted_on
        self.advice = advice

    def transform(self, X):
        try:
            return self.feature_map.transform(X)
        except ValueError as exc:
            raise ValueError(f"feature_map was fitted on {self.fitted_on}: "
                             f"{str(exc).rstrip('.')}. {self.advice}") from exc


def _sample_fitted_map(feature_map, n_fitted, n_rows):
    """A map fitted on ``n_fitted`` of ``n_rows`` rows, naming
    ``feature_map_samples`` when it fails on the other rows."""
    return ExplainedMap(
        feature_map, f"feature_map_samples={n_fitted} of the {n_rows} training rows, drawn "
        "at random, and its transform failed on other rows",
        "Fit it on more rows: a larger feature_map_samples, or None for all of them.")


def fit_feature_plan(feature_map, X, Y, y_ndim, *, block_size, samples, random_state,
                     namespace=None):
    """Fit a clone of ``feature_map`` and fix the features of a fit.

    Parameters
    ----------
    feature_map : transformer or None
        The ``feature_map`` parameter; never fitted itself.
    X : {ndarray, sparse matrix, DataFrame, dask array} of shape (n, d)
    Y : {ndarray, dask array} of shape (n, k)
    y_ndim : {1, 2}
        Dimensions of the ``y`` the user passed: the map is fitted on it.
    block_size : int
    samples : int or None
        ``feature_map_samples``: most rows the map is fitted on, drawn with
        ``random_state``.
    random_state : int, RandomState instance or None
    namespace : :class:`~selfdistill_sklearn._array_api.Namespace` or None
        Of ``X`` and ``Y`` when they are not NumPy arrays: the map is fitted
        on arrays of that namespace.

    Returns
    -------
    plan : FeaturePlan

    Raises
    ------
    TypeError, ValueError
        For a ``feature_map`` without ``fit`` and ``transform``, a bad
        ``feature_map_samples``, or a map that does not give one row of
        features per sample.
    """
    _check_feature_map(feature_map)
    samples = _check_samples(samples)
    n = X.shape[0]
    n_fitted_rows = None
    if feature_map is not None:
        rows = slice(None)
        if samples is not None and n > samples:
            rng = check_random_state(random_state)
            rows = np.sort(rng.choice(n, size=samples, replace=False))
            n_fitted_rows = samples
        if namespace is not None:
            if not isinstance(rows, slice):
                rows = namespace.xp.asarray(rows, device=namespace.device)
            X_fit = namespace.asarray(namespace.xp.take(X, rows, axis=0)
                                      if not isinstance(rows, slice) else X[rows, ...])
            y_fit = (namespace.xp.take(Y, rows, axis=0) if not isinstance(rows, slice)
                     else Y[rows, ...])
        else:
            X_fit, y_fit = _computed(streaming.take_rows(X, rows), Y[rows])
            if not is_dataframe(X_fit):
                X_fit = X_fit.astype(np.float64)  # the pass casts blocks so
            y_fit = np.asarray(y_fit)
        fitted = clone(feature_map)
        # As in a Pipeline, the object fitted is the object kept: a fit that
        # returns something else (or None) does not replace it.
        fitted.fit(X_fit, y_fit[:, 0] if y_ndim == 1 else y_fit)
        feature_map = fitted
    first = slice(0, min(n, block_size))
    (first_X,) = _computed(streaming.take_rows(X, first))
    streamed = (feature_map if n_fitted_rows is None
                else _sample_fitted_map(feature_map, n_fitted_rows, n))
    # transform_block refuses a map that does not give one row per sample.
    features = streaming.transform_block(streamed, first_X, namespace=namespace)
    return FeaturePlan(feature_map, features.shape[1], block_size, n_fitted_rows, n, namespace)


def _computed(*arrays):
    # dask arrays, and the delayed rows of a dask DataFrame
    if any(hasattr(array, "__dask_graph__") for array in arrays):
        import dask

        return dask.compute(*arrays)
    return arrays
