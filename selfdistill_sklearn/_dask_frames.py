"""dask DataFrames and Series as the data of the primal estimators.

A dask DataFrame reaches the feature map one partition at a time, as the
pandas DataFrame that the partition is, so that a ``ColumnTransformer``
selects its columns by name as it does in memory; ``feature_names_in_`` is
kept. The pass needs each partition's position among the rows (the folds
of ``cv`` and the rows drawn for the feature map are positions): when the
lengths of the partitions are unknown, as after reading Parquet or CSV or
filtering, they are computed first (``len`` of every partition, one dask
computation that dask can often answer from the files' metadata). A target
or weight Series is then read as a dask array with the same row chunks.
Predictions need no lengths: a lazy dask array with one chunk per partition
(of unknown length when the frame's are unknown).

dask is imported only when a dask collection is passed.
"""

import sys

import numpy as np
from sklearn.utils.validation import validate_data

__all__ = ["PartitionedFrame", "check_array_columns", "is_dask_frame", "prediction_input",
           "training_data"]


def is_dask_frame(X):
    """Whether ``X`` is a dask DataFrame or Series, without importing dask."""
    module = sys.modules.get("dask.dataframe")
    return module is not None and isinstance(X, module.DataFrame | module.Series)


class PartitionedFrame:
    """A dask DataFrame with the lengths of its partitions known.

    It offers what the pass reads of a dask array: ``shape``, the row
    ``chunks`` and the partitions as delayed objects (pandas DataFrames).

    Parameters
    ----------
    frame : dask.dataframe.DataFrame
    lengths : tuple of int
        Rows of every partition.
    """

    ndim = 2

    def __init__(self, frame, lengths):
        self.frame = frame
        self.lengths = tuple(int(length) for length in lengths)
        self.columns = frame.columns
        self.shape = (sum(self.lengths), len(frame.columns))
        self.chunks = (self.lengths, (self.shape[1],))

    def to_delayed(self):
        """The partitions, as an object array of delayed pandas DataFrames."""
        parts = np.empty(len(self.lengths), dtype=object)
        parts[:] = self.frame.to_delayed()
        return parts

    def take(self, rows):
        """The rows at positions ``rows`` (a slice or sorted integer array)
        as a delayed pandas DataFrame."""
        import dask
        import pandas as pd

        positions = np.arange(self.shape[0])[rows]
        offsets = np.concatenate([[0], np.cumsum(self.lengths)])
        pieces = []
        for index, part in enumerate(self.to_delayed()):
            local = positions[(positions >= offsets[index]) & (positions < offsets[index + 1])]
            if local.size:
                pieces.append(dask.delayed(_iloc)(part, local - offsets[index]))
        return dask.delayed(pd.concat)(pieces)


def _iloc(frame, positions):
    return frame.iloc[positions]


def _check_columns(estimator, X, reset):
    """``n_features_in_`` and ``feature_names_in_`` set (``reset``) or checked
    as scikit-learn's ``validate_data`` does, from the columns of a dask
    DataFrame (an empty pandas DataFrame with its columns: nothing is
    computed)."""
    import pandas as pd

    validate_data(estimator, pd.DataFrame(columns=X.columns), skip_check_array=True,
                  reset=reset)


def check_array_columns(estimator, X, reset):
    """``n_features_in_`` set (``reset``, removing ``feature_names_in_``) or
    checked from the columns of a dask array, as scikit-learn's
    ``validate_data`` does for a numpy array: after a fit on named columns
    it keeps the names and warns that ``X`` has none (an empty numpy array
    of ``X``'s columns is checked: nothing is computed)."""
    validate_data(estimator, np.empty((0, X.shape[1])), skip_check_array=True, reset=reset)


def _partition_lengths(frame, progress):
    """Rows of every partition, counted by dask (a dask DataFrame keeps none)."""
    from ._progress import compute

    if progress is not None:
        progress.say(f"moments: counting the rows of the {frame.npartitions} partitions")
    return tuple(int(length) for length in compute(frame.map_partitions(len), progress))


def _as_array(values, name, lengths, n_partitions):
    """A target or weight Series (or DataFrame of targets) as a dask array
    with the row chunks ``lengths``."""
    if is_dask_frame(values):
        if values.npartitions != n_partitions:
            raise ValueError(
                f"{name} has {values.npartitions} partitions but X has {n_partitions}: they "
                f"must be partitioned alike (take X and {name} from one DataFrame)."
            )
        return values.to_dask_array(lengths=lengths)
    if hasattr(values, "chunks"):  # a dask array
        if tuple(values.chunks[0]) != tuple(lengths):
            raise ValueError(f"The row chunks of {name} {values.chunks[0]} differ from the "
                             f"partition lengths of X {lengths}.")
        return values
    return values


def training_data(estimator, X, y, sample_weight, reset=True, progress=None, batch=False):
    """Checked training data from a dask DataFrame ``X`` (and dask or
    in-memory ``y`` and weights), as ``_training_data`` returns it: ``X``
    (a :class:`PartitionedFrame`, or a dask array without a feature map),
    ``Y`` a dask array of shape (n, k), the weights and the dimensions of
    ``y``. ``progress`` reports the count of the partitions' rows;
    ``batch=True`` (a batch of partial_fit) lets every weight be zero.

    Raises
    ------
    TypeError, ValueError
        When ``y`` is a dask collection but ``X`` is not a dask DataFrame, for
        a Series as ``X``, an empty ``X``, ``y`` or weights of other
        partitions or lengths, non-numeric targets, or non-numeric columns
        without a feature map.
    """
    module = sys.modules["dask.dataframe"]
    if not isinstance(X, module.DataFrame):
        raise TypeError(f"With a dask Series or DataFrame as y, X must be a dask DataFrame; "
                        f"got {type(X).__name__}.")
    _check_columns(estimator, X, reset)
    lengths = _partition_lengths(X, progress)
    n = sum(lengths)
    if n == 0:
        raise ValueError(f"Found array with 0 sample(s) (shape=(0, {len(X.columns)})) while a "
                         f"minimum of 1 is required by {type(estimator).__name__}.")
    Y = _as_array(y, "y", lengths, X.npartitions)
    if not hasattr(Y, "chunks"):
        from ._incremental import check_targets

        Y = check_targets(Y)
    if Y.ndim not in (1, 2) or Y.shape[0] != n:
        raise ValueError(f"y must have shape ({n},) or ({n}, n_targets), got {Y.shape}.")
    if Y.dtype.kind not in "fiub":
        raise ValueError(f"y must hold numbers, got dtype {Y.dtype}.")
    y_ndim = Y.ndim
    Y = Y.astype(np.float64)
    Y = Y if y_ndim == 2 else Y[:, None]
    if sample_weight is not None:
        sample_weight = _as_array(sample_weight, "sample_weight", lengths, X.npartitions)
        if not hasattr(sample_weight, "chunks"):
            from ._incremental import check_weights

            sample_weight = check_weights(sample_weight, n, batch)
        elif sample_weight.shape != (n,):
            raise ValueError(f"sample_weight must have shape ({n},), got "
                             f"{sample_weight.shape}.")
    if estimator.feature_map is None:
        from pandas.api.types import is_bool_dtype, is_numeric_dtype

        if not all(is_numeric_dtype(dtype) or is_bool_dtype(dtype) for dtype in X.dtypes):
            raise ValueError("Without a feature_map the columns of X must hold numbers, got "
                             f"dtypes {sorted(set(map(str, X.dtypes)))}.")
        return X.to_dask_array(lengths=lengths), Y, sample_weight, y_ndim
    return PartitionedFrame(X, lengths), Y, sample_weight, y_ndim


def prediction_input(estimator, X, name="X"):
    """A dask DataFrame to predict on, checked against the fit (its columns
    and their names); it stays a dask DataFrame."""
    module = sys.modules["dask.dataframe"]
    if not isinstance(X, module.DataFrame):
        raise TypeError(f"{name} must be a dask DataFrame, not a {type(X).__name__}.")
    _check_columns(estimator, X, reset=False)
    return X
