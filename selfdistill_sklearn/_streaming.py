"""Row-block streaming of feature-map statistics, in this process or on dask.

Every statistic of the primal form is a sum over rows: the features
``phi(X)`` of a block of ``b`` rows are formed, their moments ``Z^T W Z``
(see :func:`~selfdistill_sklearn._primal.augmented_moments`) are added to
those of the block's cross-validation cell, and the block is
dropped. Memory is ``O(b m + cells m^2)`` whatever the number of rows.

On a dask array the same function runs on each chunk where the chunk lives,
through dask's own scheduler (the active ``dask.distributed`` client, or
dask's default scheduler without one); the chunks' moments are summed by a
tree reduction and only ``p x p`` matrices travel. dask is imported only
when a dask array is passed.
"""

import sys

import numpy as np
from scipy import sparse

from ._primal import augmented_moments

__all__ = [
    "check_dask_training_data",
    "is_dask_array",
    "moments",
    "predict",
    "transform_block",
]


def is_dask_array(X):
    """Whether ``X`` is a dask array, without importing dask."""
    module = sys.modules.get("dask.array")
    return module is not None and isinstance(X, module.Array)


def transform_block(feature_map, X_block):
    """Features of a block of rows as a dense float64 array.

    The block is cast to float64 before the feature map sees it, so that
    float32 input gives float64 statistics.
    """
    if sparse.issparse(X_block):
        X_block = X_block.astype(np.float64)
        features = X_block if feature_map is None else feature_map.transform(X_block)
        if sparse.issparse(features):
            features = features.toarray()
    else:
        X_block = np.asarray(X_block, dtype=np.float64)
        features = X_block if feature_map is None else feature_map.transform(X_block)
    return np.asarray(features, dtype=np.float64)


def _block_moments(feature_map, X, Y, sample_weight, labels, n_cells, shift, target_shift,
                   block_size, n_features, where=None):
    """Moments of the rows of ``X`` (in memory), cell by cell."""
    n = X.shape[0]
    p = n_features + 1 + Y.shape[1]
    out = np.zeros((n_cells, p, p))
    for start in range(0, n, block_size):
        stop = min(start + block_size, n)
        features = transform_block(feature_map, X[start:stop])
        if where is not None and not np.all(np.isfinite(features)):
            raise ValueError(f"The features of {where} (rows {start} to {stop - 1} of that "
                             "block) hold NaN or infinity.")
        if features.shape[1] != n_features:
            raise ValueError(
                f"feature_map gave {features.shape[1]} features for rows {start} to "
                f"{stop - 1}, but {n_features} for the first rows: it must map every block "
                "to the same number of features."
            )
        features = features - shift  # never in place: the block may be a view of X
        targets = Y[start:stop] - target_shift
        weights = None if sample_weight is None else sample_weight[start:stop]
        if labels is None:
            out[0] += augmented_moments(features, targets, weights)
            continue
        block_labels = labels[start:stop]
        present = np.unique(block_labels)
        if present.size == 1:
            out[present[0]] += augmented_moments(features, targets, weights)
            continue
        for cell in present:
            rows = block_labels == cell
            out[cell] += augmented_moments(features[rows], targets[rows],
                                           None if weights is None else weights[rows])
    return out


def _chunk_moments(feature_map, X, Y, sample_weight, labels, n_cells, shift, target_shift,
                   block_size, n_features, chunk_index, offset):
    """:func:`_block_moments` of one dask chunk, checked where it is computed."""
    where = f"block {chunk_index} of X (rows {offset} to {offset + X.shape[0] - 1})"
    X = X.toarray() if sparse.issparse(X) else np.asarray(X)
    if not np.all(np.isfinite(X)):
        bad = int(np.flatnonzero(~np.all(np.isfinite(X), axis=1))[0])
        raise ValueError(f"Input X holds NaN or infinity in {where}, first at row "
                         f"{offset + bad}.")
    Y = np.asarray(Y, dtype=np.float64)
    Y = Y.reshape(Y.shape[0], -1)
    if not np.all(np.isfinite(Y)):
        raise ValueError(f"Input y holds NaN or infinity in block {chunk_index} (rows {offset} "
                         f"to {offset + Y.shape[0] - 1}).")
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        if not (np.all(np.isfinite(sample_weight)) and np.all(sample_weight >= 0)):
            raise ValueError(f"sample_weight holds a negative, NaN or infinite value in block "
                             f"{chunk_index} (rows {offset} to {offset + X.shape[0] - 1}).")
    return _block_moments(feature_map, X, Y, sample_weight, labels, n_cells, shift,
                          target_shift, block_size, n_features, where=where)


def check_dask_training_data(X, y, sample_weight=None):
    """Shapes and chunks of dask training data, checked without computing.

    Raises
    ------
    ValueError
        If ``X`` is not two-dimensional, is chunked along features, or its
        row chunks differ from those of ``y`` or of a dask ``sample_weight``.
    """
    if X.ndim != 2:
        raise ValueError(f"X must be a two-dimensional dask array, got {X.ndim} dimensions.")
    if len(X.chunks[1]) != 1:
        raise ValueError(
            f"X must be chunked along rows only, but its {X.shape[1]} features lie in "
            f"{len(X.chunks[1])} chunks {X.chunks[1]}: rechunk with X.rechunk({{1: -1}})."
        )
    if any(np.isnan(size) for size in X.chunks[0]):
        raise ValueError("X has unknown chunk sizes: call X.compute_chunk_sizes() first.")
    if X.dtype.kind not in "fiub":
        raise ValueError(f"X must hold numbers, got dtype {X.dtype}.")
    for name, other in (("y", y), ("sample_weight", sample_weight)):
        if not is_dask_array(other):
            continue
        if other.ndim == 2 and len(other.chunks[1]) != 1:
            raise ValueError(f"{name} must be chunked along rows only: rechunk with "
                             f"{name}.rechunk({{1: -1}}).")
        if other.chunks[0] != X.chunks[0]:
            raise ValueError(
                f"The row chunks of X and {name} differ: X has {X.chunks[0]}, {name} has "
                f"{other.chunks[0]}. Rechunk {name} with {name}.rechunk({{0: X.chunks[0]}})."
            )


def moments(feature_map, X, Y, sample_weight, labels, n_cells, shift, target_shift,
            block_size, n_features):
    """Moments ``Z^T W Z`` of every cell, streamed in row blocks.

    Parameters
    ----------
    feature_map : fitted transformer or None
        ``None`` uses the columns of ``X``.
    X : {ndarray, sparse matrix, dask array} of shape (n, d)
    Y : {ndarray, dask array} of shape (n, k)
    sample_weight : {ndarray, dask array} of shape (n,) or None
    labels : ndarray of shape (n,) or None
        Cell of each row (``None``: one cell).
    n_cells : int
    shift, target_shift : ndarray of shape (m,) and (k,)
        Subtracted from the features and targets before the sums.
    block_size : int
        Rows transformed at once (within each dask chunk).
    n_features : int
        ``m``, the number of features the feature map gives.

    Returns
    -------
    moments : ndarray of shape (n_cells, m + 1 + k, m + 1 + k)
    """
    if not is_dask_array(X):
        return _block_moments(feature_map, X, Y, sample_weight, labels, n_cells, shift,
                              target_shift, block_size, n_features)
    import dask
    import dask.array as da

    chunks = X.chunks[0]
    offsets = np.concatenate([[0], np.cumsum(chunks)]).astype(int)
    # One key for the fitted feature map: the workers fetch it once, not once per task.
    shared_map = dask.delayed(feature_map, pure=True) if feature_map is not None else None
    X_parts = X.to_delayed().reshape(-1)
    Y_parts = (Y.to_delayed().reshape(-1) if is_dask_array(Y)
               else [Y[offsets[i]:offsets[i + 1]] for i in range(len(chunks))])
    if sample_weight is None:
        w_parts = [None] * len(chunks)
    elif is_dask_array(sample_weight):
        w_parts = sample_weight.to_delayed().reshape(-1)
    else:
        w_parts = [sample_weight[offsets[i]:offsets[i + 1]] for i in range(len(chunks))]
    p = n_features + 1 + Y.shape[1]
    parts = []
    for index in range(len(chunks)):
        block_labels = None if labels is None else labels[offsets[index]:offsets[index + 1]]
        task = dask.delayed(_chunk_moments, pure=True)(
            shared_map, X_parts[index], Y_parts[index], w_parts[index], block_labels, n_cells,
            shift, target_shift, block_size, n_features, index, int(offsets[index]))
        parts.append(da.from_delayed(task, shape=(n_cells, p, p), dtype=np.float64))
    return da.stack(parts).sum(axis=0).compute()


def _predict_rows(feature_map, coef, intercept, block_size, X):
    """Predictions ``phi(X) coef^T + intercept`` of in-memory rows, block by block."""
    n = X.shape[0]
    out = np.empty((n, coef.shape[0]))
    for start in range(0, n, block_size):
        stop = min(start + block_size, n)
        out[start:stop] = transform_block(feature_map, X[start:stop]) @ coef.T + intercept
    return out


def _predict_chunk(feature_map, coef, intercept, block_size, squeeze, X, block_info=None):
    if block_info is not None and not np.all(np.isfinite(X)):
        location = block_info[0]["chunk-location"][0]
        rows = block_info[0]["array-location"][0]
        raise ValueError(f"Input X holds NaN or infinity in block {location} of X (rows "
                         f"{rows[0]} to {rows[1] - 1}).")
    out = _predict_rows(feature_map, coef, intercept, block_size, X)
    return out[:, 0] if squeeze else out


def predict(feature_map, coef, intercept, block_size, X, squeeze):
    """Predictions for in-memory rows (an ndarray) or a dask array (a lazy
    dask array with the row chunks of ``X``).

    Parameters
    ----------
    coef : ndarray of shape (k, m)
    intercept : ndarray of shape (k,)
    squeeze : bool
        Return shape (n,) instead of (n, 1).
    """
    if is_dask_array(X):
        from functools import partial

        function = partial(_predict_chunk, feature_map, coef, intercept, block_size, squeeze)
        if squeeze:
            return X.map_blocks(function, drop_axis=1, dtype=np.float64)
        return X.map_blocks(function, chunks=(X.chunks[0], (coef.shape[0],)), dtype=np.float64)
    out = _predict_rows(feature_map, coef, intercept, block_size, X)
    return out[:, 0] if squeeze else out
