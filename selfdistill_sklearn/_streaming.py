"""Row-block streaming of feature-map statistics, in this process or on dask.

Every statistic of the primal form is a function of sums over rows: the
features ``phi(X)`` of a block of ``b`` rows are formed, checked (one row of
finite features per sample), and merged into the
:class:`~selfdistill_sklearn._primal.Moments` of the block's
cross-validation cell, centred at the cell's own weighted mean (the pairwise
update of Chan, Golub and LeVeque); the block is then dropped. Memory is
``O(b m + cells m^2)`` whatever the number of rows; the cells are bounded by
:data:`MAX_CELL_BYTES`.

In memory, the blocks are dealt to as many lanes as BLAS has threads (at
most :data:`MAX_LANES`): each lane is a thread that forms its blocks'
features and sums their moments with one BLAS thread, and the lanes' moments
are merged pairwise at the end. The feature map's elementwise work (the
exponential of an RBF map, the centring) then runs on every core, not only
its matrix products, and LAPACK's QR updates, slow on shared threads, run
one per core. Which blocks a lane takes is fixed (block ``i`` to lane ``i
mod lanes``), so a fit does not depend on thread timing; the first bad
block is the one reported. ``threadpoolctl.threadpool_limits(1)`` around a
fit gives one lane (the feature map's ``transform`` must be safe to call
from several threads otherwise, as scikit-learn's transformers are).

On a dask array the same function runs on each chunk where the chunk lives,
through dask's own scheduler (the active ``dask.distributed`` client, or
dask's default scheduler without one); each chunk is checked as in-memory
data are (:func:`check_block`), the chunks' moments are merged by a tree
reduction and only ``p x p`` matrices travel. The fitted feature map is one
key of the graph, sent to each worker once, in ``fit`` and in ``predict``.
dask is imported only when a dask array is passed.
"""

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from functools import cache

import numpy as np
from scipy import sparse
from sklearn import config_context, get_config
from sklearn.utils.validation import check_array
from threadpoolctl import ThreadpoolController

from . import _progress
from ._array_api import to_numpy
from ._dask_frames import PartitionedFrame, is_dask_frame
from ._primal import Moments, block_moments, check_finite_moments, merge_moments
from ._reference import ReferencedCells

__all__ = [
    "MAX_CELL_BYTES",
    "MAX_LANES",
    "check_block",
    "check_cell_memory",
    "check_dask_training_data",
    "fits_referenced",
    "is_dask_array",
    "moments",
    "is_in_memory",
    "predict",
    "referenced_moments",
    "take_rows",
    "transform_block",
]

#: Most bytes the moments of the cross-validation cells may take (in this
#: process, and on every dask chunk): 1 GiB, that is five folds of up to
#: 5000 features, 125 cells of 1000. Splitters whose held-out parts overlap
#: from split to split (``ShuffleSplit``, ``RepeatedKFold``) cut the rows
#: into many more cells than they have splits, and are refused above it.
MAX_CELL_BYTES = 2 ** 30

#: Most threads of an in-memory pass; each holds a block and its own cells.
MAX_LANES = 4

#: Most bytes the lanes' extra copies of the cells may take.
_LANE_CELL_BYTES = 2 ** 28

#: Fewest rows of a block that an in-memory pass cuts to share among lanes.
MIN_LANE_ROWS = 512


@cache
def _controller():
    return ThreadpoolController()


_POOL = {}
_POOL_LOCK = threading.Lock()
#: Whether this thread is running a lane (``active``).
_IN_LANE = threading.local()


def _lane_pool():
    """The threads of the lanes, started once per process (starting them
    for every batch of ``partial_fit`` cost half a millisecond a thread).
    A process forked from this one starts its own: a pool's threads do not
    survive a fork."""
    with _POOL_LOCK:
        pool = _POOL.get(os.getpid())
        if pool is None:
            _POOL.clear()
            pool = _POOL[os.getpid()] = ThreadPoolExecutor(MAX_LANES,
                                                           thread_name_prefix="moments-lane")
        return pool


def _one_blas_thread(root):
    """One BLAS thread for QR updates: LAPACK's tpqrt of a few thousand rows ran
    8 times slower with two OpenBLAS threads than with one on two shared cores."""
    return _controller().limit(limits=1, user_api="blas") if root else nullcontext()


def is_dask_array(X):
    """Whether ``X`` is a dask array, without importing dask."""
    module = sys.modules.get("dask.array")
    return module is not None and isinstance(X, module.Array)


def take_rows(X, index):
    """Rows ``index`` (a slice or an integer array) of an ndarray, sparse
    matrix, pandas DataFrame or dask array (a delayed pandas DataFrame of a
    :class:`~selfdistill_sklearn._dask_frames.PartitionedFrame`)."""
    if isinstance(X, PartitionedFrame):
        return X.take(index)
    if hasattr(X, "iloc"):
        return X.iloc[index]
    if sparse.issparse(X):
        return X[index]
    return X[index, ...]  # every axis named, as the array API asks


def transform_block(feature_map, X_block, where=None, n_features=None, offset=0,
                    namespace=None):
    """Features of a block of rows as a dense float64 array, checked.

    Arrays are cast to float64 before the feature map sees them (float32
    input gives float64 statistics); DataFrames reach it as they are.
    Sparse output is densified, one block at a time.

    Raises
    ------
    ValueError
        If the map gives a number of rows other than the block's, another
        number of features than ``n_features``, or, when ``where`` names the
        rows, NaN or infinity (naming ``where`` and the first bad row,
        counted from ``offset``).
    """
    described = where or "the rows"
    n = X_block.shape[0]
    if namespace is not None:
        return _transform_block_xp(feature_map, X_block, where, n_features, offset, namespace,
                                   described)
    if sparse.issparse(X_block):
        X_block = X_block.astype(np.float64)
    elif not hasattr(X_block, "iloc"):
        X_block = np.asarray(X_block, dtype=np.float64)
    features = X_block if feature_map is None else feature_map.transform(X_block)
    if sparse.issparse(features):
        features = features.toarray()
    features = np.asarray(features, dtype=np.float64)
    _check_feature_shape(features, n, n_features, described)
    if where is None:
        return features
    finite = np.isfinite(features)
    if not finite.all():
        bad = int(np.flatnonzero(~finite.all(axis=1))[0])
        if feature_map is None:  # the features are X's own values
            raise ValueError(f"Input X contains NaN or infinity in {where}, first at row "
                             f"{offset + bad}.")
        raise ValueError(
            f"feature_map gave NaN or infinity for {where}, first at row {offset + bad}: "
            "its output must be finite."
        )
    return features


def _check_feature_shape(features, n, n_features, described):
    """Refuse features that are not one row per sample, or not the
    ``n_features`` columns of the first rows."""
    if features.ndim != 2 or features.shape[0] != n:
        raise ValueError(
            f"feature_map gave features of shape {tuple(features.shape)} for the {n} samples "
            f"of {described}: it must map every sample to one row of features."
        )
    if n_features is not None and features.shape[1] != n_features:
        raise ValueError(
            f"feature_map gave {features.shape[1]} features for {described}, but {n_features} "
            "for the first rows: it must map every block to the same number of features."
        )


def _transform_block_xp(feature_map, X_block, where, n_features, offset, namespace,
                        described):
    """:func:`transform_block` for an array of the array API namespace of
    ``namespace``: the features stay there, in the fit's float dtype."""
    n = X_block.shape[0]
    X_block = namespace.asarray(X_block)
    features = X_block if feature_map is None else feature_map.transform(X_block)
    features = namespace.asarray(features)
    _check_feature_shape(features, n, n_features, described)
    xp = namespace.xp
    if where is not None and not bool(xp.all(xp.isfinite(features))):
        bad = int(np.flatnonzero(~np.all(np.isfinite(to_numpy(features)), axis=1))[0])
        raise ValueError(
            f"feature_map gave NaN or infinity for {where}, first at row {offset + bad}: "
            "its output must be finite."
        )
    return features


def check_block(X, Y, sample_weight, where, offset=0):
    """The checks of in-memory training data, applied to one block (a dask chunk).

    ``X`` as ``validate_data`` checks it (numbers, finite, CSR/CSC if
    sparse), ``Y`` finite numbers, ``sample_weight`` finite and
    non-negative. That not every weight is zero is checked on the total.
    A pandas DataFrame (a partition of a dask DataFrame) is left to the
    feature map, as in memory.

    Returns
    -------
    X, Y (float64, shape (b, k)), sample_weight (float64 or None)
    """
    frame = hasattr(X, "iloc")
    if len(Y) != X.shape[0]:
        raise ValueError(f"In {where}: X has {X.shape[0]} rows but y has {len(Y)}: the "
                         "partitions of X and y must hold the same rows.")
    if not (sparse.issparse(X) or frame):
        X = np.asarray(X)
        if X.ndim == 2 and X.dtype.kind in "fc" and not np.all(np.isfinite(X)):
            bad = int(np.flatnonzero(~np.all(np.isfinite(X), axis=1))[0])
            raise ValueError(f"Input X holds NaN or infinity in {where}, first at row "
                             f"{offset + bad}.")
    Y = np.asarray(Y)
    if Y.dtype.kind in "fc" and not np.all(np.isfinite(Y)):
        raise ValueError(f"Input y holds NaN or infinity in {where}.")
    try:
        if not frame:
            X = check_array(X, accept_sparse=("csr", "csc"), dtype="numeric",
                            ensure_min_samples=0, input_name="X")
        Y = check_array(Y, ensure_2d=False, dtype=np.float64, ensure_min_samples=0,
                        input_name="y")
        if sample_weight is not None:
            sample_weight = check_array(sample_weight, ensure_2d=False, dtype=np.float64,
                                        ensure_min_samples=0, input_name="sample_weight")
            if np.any(sample_weight < 0):
                raise ValueError("sample_weight must be non-negative.")
    except ValueError as exc:
        raise ValueError(f"In {where}: {exc}") from exc
    return X, Y.reshape(Y.shape[0], -1), sample_weight


def check_cell_memory(n_cells, p, splitter=None):
    """Refuse cells whose moments would exceed :data:`MAX_CELL_BYTES`, naming the
    ``cv`` splitter."""
    needed = n_cells * p * p * 8
    if n_cells > 1 and needed > MAX_CELL_BYTES:
        source = f"cv={splitter!r}" if hasattr(splitter, "split") else "cv"
        raise ValueError(
            f"The splits of {source} cut the rows into {n_cells} distinct cells (rows with "
            f"the same role in every split), whose {p} x {p} moments would take "
            f"{needed / 2 ** 30:.2f} GiB, more than the {MAX_CELL_BYTES / 2 ** 30:.2f} GiB "
            "this estimator allows (on every dask chunk too). Splitters whose held-out parts "
            "overlap from split to split (ShuffleSplit, RepeatedKFold, ...) do this; use "
            "KFold, GroupKFold or StratifiedKFold (K cells), fewer splits or repeats, or "
            "fewer features."
        )


def _lanes(n_blocks, n_cells, p):
    """Threads of an in-memory pass: BLAS's number of threads (what the user or
    the machine allows), at most :data:`MAX_LANES`, one per block, and fewer
    when the lanes' copies of the cells would pass ``_LANE_CELL_BYTES``; one
    inside a lane (a feature map that fits a streamed estimator in its
    ``transform`` must not queue behind the busy lanes of the pool)."""
    if getattr(_IN_LANE, "active", False):
        return 1
    threads = max([1] + [pool["num_threads"] for pool in _controller().info()
                         if pool["user_api"] == "blas"])
    by_memory = 1 + _LANE_CELL_BYTES // max(1, n_cells * p * p * 8)
    return int(max(1, min(threads, MAX_LANES, n_blocks, by_memory)))


def even_block_size(n_rows, block_size):
    """Rows of the blocks of an in-memory pass over ``n_rows``: at most
    ``block_size``; equal blocks in a multiple of :data:`MAX_LANES` where
    each keeps at least :data:`MIN_LANE_ROWS` rows, so that every lane gets
    the same work whatever the number of threads (and the blocks do not
    depend on it); ``block_size`` itself otherwise. A batch of 10^4 rows in
    blocks of 4096 would give one of two lanes twice the rows of the other;
    it is cut in four blocks of 2500."""
    n_blocks = max(-(-n_rows // block_size), 1)
    even = -(-max(n_blocks, MAX_LANES) // MAX_LANES) * MAX_LANES
    if n_rows // even < MIN_LANE_ROWS:
        return block_size
    return -(-n_rows // even)


def _block_moments(feature_map, X, Y, sample_weight, labels, n_cells, block_size,
                   n_features, root, offset=0, name="X", lanes=1, namespace=None,
                   counter=None, reference=None, initial=None):
    """Moments of the rows of in-memory ``X``, cell by cell (a list of Moments),
    the blocks dealt to ``lanes`` threads; ``counter`` (a
    :class:`~selfdistill_sklearn._progress.RowCounter`) is told the rows of
    each block done. ``initial`` (cells of earlier rows, not changed) are
    what the first lane starts from: one merge fewer a cell."""
    starts = range(0, X.shape[0], block_size)
    lanes = min(lanes, len(starts))
    if lanes <= 1:
        return _lane_moments(feature_map, X, Y, sample_weight, labels, n_cells, block_size,
                             n_features, root, offset, name, starts, namespace=namespace,
                             counter=counter, reference=reference, initial=initial)
    config = get_config()
    failed = [len(starts)]  # the first block known to have raised

    def lane(index):
        try:
            _IN_LANE.active = True
            with config_context(**config):  # scikit-learn's settings are per thread
                return _lane_moments(feature_map, X, Y, sample_weight, labels, n_cells,
                                     block_size, n_features, root, offset, name,
                                     starts[index::lanes], failed, index, lanes,
                                     counter=counter, reference=reference,
                                     initial=initial if index == 0 else None)
        except _LaneError as error:
            return error
        finally:
            _IN_LANE.active = False

    with _controller().limit(limits=1, user_api="blas"):
        # This thread takes the first lane: one thread fewer to wake a batch.
        others = [_lane_pool().submit(lane, index) for index in range(1, lanes)]
        results = [lane(0)] + [other.result() for other in others]
    errors = [result for result in results if isinstance(result, _LaneError)]
    if errors:
        raise min(errors, key=lambda error: error.block).cause
    cells = results[0]
    for other in results[1:]:
        cells = _merge_cells(cells, other)
    return cells


class _LaneError(Exception):
    """An error of a lane, with the block that raised it."""

    def __init__(self, block, cause):
        super().__init__(block)
        self.block, self.cause = block, cause


def _lane_moments(feature_map, X, Y, sample_weight, labels, n_cells, block_size, n_features,
                  root, offset, name, starts, failed=None, lane=0, lanes=1, namespace=None,
                  counter=None, reference=None, initial=None):
    """The moments of the blocks beginning at ``starts`` (merged into copies
    of ``initial`` when given); in a lane, errors are raised as
    :class:`_LaneError`, and blocks after one known to fail are skipped."""
    k = Y.shape[1]
    p = n_features + k
    n = X.shape[0]
    cells = ([Moments.empty(p, root) for _ in range(n_cells)] if initial is None
             else [cell.copy() for cell in initial])
    for position, start in enumerate(starts):
        block = lane + position * lanes
        if failed is not None:
            if block > failed[0]:
                break
            try:
                cells = _add_block(feature_map, X, Y, sample_weight, labels, block_size,
                                   n_features, root, offset, name, cells, start, n, p,
                                   in_lane=True, counter=counter, reference=reference)
            except Exception as exc:
                failed[0] = min(failed[0], block)
                raise _LaneError(block, exc) from exc
        else:
            cells = _add_block(feature_map, X, Y, sample_weight, labels, block_size,
                               n_features, root, offset, name, cells, start, n, p,
                               namespace=namespace, counter=counter, reference=reference)
    return cells


def _add_block(feature_map, X, Y, sample_weight, labels, block_size, n_features, root, offset,
               name, cells, start, n, p, in_lane=False, namespace=None, counter=None,
               reference=None):
    """Merge the rows ``start:start + block_size`` into ``cells``. With a
    ``namespace``, the co-moments stay in it; QR roots are formed in NumPy.
    With a ``reference`` ``(b0, scale, c)``, the rows are ``[phi - c_phi, (y -
    c_y) - (phi - c_phi) b0]`` times ``scale``
    (:mod:`selfdistill_sklearn._reference`)."""
    stop = min(start + block_size, n)
    where = f"rows {offset + start} to {offset + stop - 1} of {name}"
    features = transform_block(feature_map, take_rows(X, slice(start, stop)), where, n_features,
                               offset + start, namespace=namespace)
    if namespace is not None:
        if not root:
            xp = namespace.xp
            Z = xp.empty((stop - start, p), dtype=namespace.dtype, device=namespace.device)
            Z[:, :n_features] = features
            Z[:, n_features:] = Y[start:stop, ...]
            weights = None if sample_weight is None else sample_weight[start:stop, ...]
            cells[0] = block_moments(Z, weights, into=cells[0], xp=xp)
            check_finite_moments(cells[0], where)
            if counter is not None:
                counter.add(stop - start)
            return cells
        features = to_numpy(features)
    # Co-moments are formed with a column of ones beside z: the product
    # gives the centred rows' sums too (block_moments' mean_low).
    ones = not root
    Z = np.empty((stop - start, p + ones))
    weights = None if sample_weight is None else sample_weight[start:stop]
    if reference is None:
        Z[:, :n_features] = features
        Z[:, n_features:p] = Y[start:stop]
    else:
        coef, scale, centre = reference
        # About the head's mean (rounded to the spread, not to 0), as the
        # block is copied in.
        np.subtract(features, centre[:n_features], out=Z[:, :n_features])
        np.subtract(Y[start:stop], centre[n_features:], out=Z[:, n_features:p])
        if weights is not None:
            # Rows of weight 0 count and nothing else, whatever their values:
            # zeros before phi b0 (1e308 times b0 would be inf, times 0 NaN).
            Z[weights == 0] = 0.0
    if ones:
        Z[:, p] = 1.0
    if reference is not None:
        Z[:, n_features:p] -= Z[:, :n_features] @ coef
        if scale is not None:
            Z[:, :p] *= scale
    del features  # the block is held once, not also while the next one is formed
    if labels is None:
        groups = [(0, slice(None))]
    else:
        block_labels = labels[start:stop]
        present = np.unique(block_labels)
        groups = ([(present[0], slice(None))] if present.size == 1
                  else [(cell, block_labels == cell) for cell in present])
    # In a lane BLAS already has one thread.
    with _one_blas_thread(root and not in_lane):
        for cell, rows in groups:
            cells[cell] = block_moments(Z[rows],
                                        None if weights is None else weights[rows],
                                        root=root, into=cells[cell], overwrite=True,
                                        ones=ones)
            check_finite_moments(cells[cell], where)
    del Z
    if counter is not None:
        counter.add(stop - start)
    return cells


def _chunk_moments(feature_map, X, Y, sample_weight, labels, n_cells, block_size, n_features,
                   root, chunk_index, offset, name):
    """:func:`_block_moments` of one dask chunk, checked where it is computed."""
    where = f"block {chunk_index} of {name} (rows {offset} to {offset + X.shape[0] - 1})"
    X, Y, sample_weight = check_block(X, Y, sample_weight, where, offset)
    return _block_moments(feature_map, X, Y, sample_weight, labels, n_cells, block_size,
                          n_features, root, offset=offset, name=f"{name} (block {chunk_index})")


def _merge_cells(first, second):
    """The cells of two sets of rows merged, checked as a block's are (two
    sets whose squares fit may not, together)."""
    with _one_blas_thread(True):
        cells = [merge_moments(a, b) for a, b in zip(first, second, strict=True)]
    for cell in cells:
        check_finite_moments(cell, "the rows")
    return cells


def check_dask_training_data(X, y, sample_weight=None):
    """Shapes and chunks of dask training data, checked without computing.

    Raises
    ------
    ValueError
        If ``X`` is not two-dimensional, has no rows or no columns, is chunked
        along features or has unknown chunk sizes, or its row chunks differ
        from those of ``y`` or of a dask ``sample_weight``.
    """
    if X.ndim != 2:
        raise ValueError(f"X must be a two-dimensional dask array, got {X.ndim} dimensions.")
    if any(np.isnan(size) for size in X.chunks[0]):
        raise ValueError("X has unknown chunk sizes: call X.compute_chunk_sizes() first.")
    if X.shape[0] < 1:
        raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of "
                         "1 is required.")
    if X.shape[1] < 1:
        raise ValueError(f"Found array with 0 feature(s) (shape={X.shape}) while a minimum "
                         "of 1 is required.")
    if len(X.chunks[1]) != 1:
        raise ValueError(
            f"X must be chunked along rows only, but its {X.shape[1]} features lie in "
            f"{len(X.chunks[1])} chunks {X.chunks[1]}: rechunk with X.rechunk({{1: -1}})."
        )
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


def _check_total_weight(cells, sample_weight):
    if sample_weight is not None and not any(cell.weight > 0 for cell in cells):
        raise ValueError("sample_weight must not be all zero: some weight must be positive.")


def moments(feature_map, X, Y, sample_weight, labels, n_cells, block_size, n_features,
            root=False, splitter=None, name="X", progress=None, namespace=None,
            any_weight=True, initial=None):
    """Moments of every cell, streamed in row blocks.

    Parameters
    ----------
    feature_map : fitted transformer or None
        ``None`` uses the columns of ``X``.
    X : {ndarray, sparse matrix, DataFrame, dask array} of shape (n, d)
    Y : {ndarray, dask array} of shape (n, k)
    sample_weight : {ndarray, dask array} of shape (n,) or None
    labels : ndarray of shape (n,) or None
        Cell of each row (``None``: one cell).
    n_cells : int
    block_size : int
        Rows transformed at once (within each dask chunk).
    n_features : int
        ``m``, the number of features the feature map gives.
    root : bool, default=False
        Keep QR roots (for held-out errors as norms) instead of co-moments.
    splitter : object, default=None
        The ``cv`` that made the cells, named when they are too many.
    name : str, default="X"
        The data's name in errors ("X_val").
    progress : Progress or None, default=None
        Reports the rows done (:mod:`selfdistill_sklearn._progress`; dask's
        progress bar on dask).
    namespace : :class:`~selfdistill_sklearn._array_api.Namespace` or None
        Of ``X``, ``Y`` and ``sample_weight`` when they are not NumPy arrays:
        the co-moments (one cell, no roots) stay there; QR roots are NumPy's
        (LAPACK's tpqrt), the features of each block moved there.
    any_weight : bool, default=True
        Refuse weights that are all zero (False: a batch of partial_fit,
        whose total is checked over all the batches).
    initial : list of Moments or None, default=None
        Cells of earlier rows (not changed), added to: for NumPy rows in
        memory the first lane starts from copies of them (one merge fewer a
        cell), otherwise they are merged with the new rows' cells.

    Returns
    -------
    cells : list of Moments
        Of ``z = [phi(x), y]``, one per cell (with ``initial``'s rows).

    Raises
    ------
    ValueError
        For bad features (see :func:`transform_block`), co-moments that
        overflow, too many cells (:func:`check_cell_memory`), and on dask for
        a chunk that fails the in-memory checks, naming the chunk.
    """
    p = n_features + Y.shape[1]
    check_cell_memory(n_cells, p, splitter)
    counter = None if progress is None else progress.rows(X.shape[0])
    if namespace is not None:
        if root or n_cells > 1:
            Y, sample_weight = to_numpy(Y), to_numpy(sample_weight)
        elif labels is not None:
            raise ValueError("cells of another namespace than NumPy need QR roots")
        cells = _block_moments(feature_map, X, Y, sample_weight, labels, n_cells, block_size,
                               n_features, root, name=name, namespace=namespace,
                               counter=counter)
        if initial is not None:
            cells = _merge_cells(initial, cells)
        if counter is not None:
            counter.close(X.shape[0])
        if any_weight:
            _check_total_weight(cells, sample_weight)
        return cells
    if is_in_memory(X):
        cells = _in_memory_moments(feature_map, X, Y, sample_weight, labels, n_cells,
                                   block_size, n_features, root, name, counter,
                                   initial=initial)
        if counter is not None:
            counter.close(X.shape[0])
        if any_weight:
            _check_total_weight(cells, sample_weight)
        return cells
    import dask

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
    parts = []
    for index in range(len(chunks)):
        if chunks[index] == 0:
            continue  # an empty chunk (boolean filtering) holds no statistics
        block_labels = None if labels is None else labels[offsets[index]:offsets[index + 1]]
        parts.append(dask.delayed(_chunk_moments, pure=True)(
            shared_map, X_parts[index], Y_parts[index], w_parts[index], block_labels, n_cells,
            block_size, n_features, root, index, int(offsets[index]), name))
    merge = dask.delayed(_merge_cells, pure=True)
    while len(parts) > 1:
        parts = [merge(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i]
                 for i in range(0, len(parts), 2)]
    cells = _progress.compute(parts[0], progress)
    if initial is not None:
        cells = _merge_cells(initial, cells)
    if counter is not None:
        counter.close(X.shape[0])
    if any_weight:
        _check_total_weight(cells, sample_weight)
    return cells


def _in_memory_moments(feature_map, X, Y, sample_weight, labels, n_cells, block_size,
                       n_features, root, name, counter, offset=0, reference=None,
                       initial=None):
    """:func:`_block_moments` of in-memory rows, in even blocks dealt to lanes."""
    block_size = even_block_size(X.shape[0], block_size)
    lanes = _lanes(-(-X.shape[0] // block_size), n_cells, n_features + Y.shape[1])
    return _block_moments(feature_map, X, Y, sample_weight, labels, n_cells, block_size,
                          n_features, root, offset=offset, name=name, lanes=lanes,
                          counter=counter, reference=reference, initial=initial)


def is_in_memory(X):
    """Whether ``X`` is held in this process (not a dask collection)."""
    return not (is_dask_array(X) or isinstance(X, PartitionedFrame))


def fits_referenced(n_cells, p):
    """Whether the cells of :func:`referenced_moments` (a root and
    co-moments each, twice the memory of roots) stay within
    :data:`MAX_CELL_BYTES`."""
    return 2 * n_cells * p * p * 8 <= MAX_CELL_BYTES


def referenced_moments(feature_map, X, Y, sample_weight, labels, n_cells, block_size,
                       n_features, state=None, splitter=None, name="X", progress=None,
                       any_weight=True):
    """The cells of in-memory rows for folds, as
    :class:`~selfdistill_sklearn._reference.ReferencedCells`: the rows
    that the head of ``state`` still takes as QR roots, the others as
    co-moments about its reference fit (a Gram matrix a block instead of a
    QR update).

    Parameters
    ----------
    feature_map, X, Y, sample_weight, labels, n_cells, block_size, n_features
        As for :func:`moments`; ``labels`` (n,) gives each row's cell.
    state : ReferencedCells or None, default=None
        The cells of the rows before these (``None``: these are the first).
    splitter, name, progress, any_weight
        As for :func:`moments`.

    Returns
    -------
    state : ReferencedCells
        A new state; ``state`` is not changed.

    Raises
    ------
    ValueError
        As :func:`moments`.
    """
    p = n_features + Y.shape[1]
    check_cell_memory(n_cells, p, splitter)
    if not fits_referenced(n_cells, p):
        raise ValueError(f"{n_cells} cells of {p} columns, a root and co-moments each, would "
                         f"pass {MAX_CELL_BYTES} bytes: form exact roots instead")
    if state is None:
        state = ReferencedCells.empty(n_cells, p, n_features)
    n = X.shape[0]
    counter = None if progress is None else progress.rows(n)
    weights = (lambda rows: None) if sample_weight is None else sample_weight.__getitem__
    start = 0
    # The head takes rows until it holds enough of positive weight (the
    # reference and the forecast are then made, with one BLAS thread).
    with _one_blas_thread(True):
        state = state.with_reference()  # a head of roots from a fit, complete
    while start < n and state.rows_to_head > 0 and not state.roots_only:
        rows = slice(start, min(n, start + state.rows_to_head))
        cells = _in_memory_moments(feature_map, take_rows(X, rows), Y[rows], weights(rows),
                                   labels[rows], n_cells, block_size, n_features, True, name,
                                   counter, offset=start)
        with _one_blas_thread(True):
            state = state.with_head(cells, rows.stop - start)
        start = rows.stop
    if start < n:
        rows = slice(start, n)
        if state.roots_only:  # the head forecast imprecise co-moments: roots
            cells = _in_memory_moments(feature_map, take_rows(X, rows), Y[rows],
                                       weights(rows), labels[rows], n_cells, block_size,
                                       n_features, True, name, counter, offset=start,
                                       initial=state.head)
            state = state.with_head(cells, n - start, merged=True)
        else:
            cells = _in_memory_moments(feature_map, take_rows(X, rows), Y[rows],
                                       weights(rows), labels[rows], n_cells, block_size,
                                       n_features, False, name, counter, offset=start,
                                       reference=(state.reference, state.scale,
                                                  state.centre),
                                       initial=state.tail)
            state = state.with_tail(cells, merged=True)
    if counter is not None:
        counter.close(n)
    if any_weight and sample_weight is not None and not state.weight > 0:
        raise ValueError("sample_weight must not be all zero: some weight must be positive.")
    return state


def _predict_rows(feature_map, coef, intercept, block_size, X, offset=0, name="X",
                  namespace=None):
    """Predictions ``phi(X) coef^T + intercept`` of in-memory rows, block by block."""
    n = X.shape[0]
    if namespace is None:
        out = np.empty((n, coef.shape[0]))
    else:
        out = namespace.xp.empty((n, coef.shape[0]), dtype=namespace.dtype,
                                 device=namespace.device)
    n_features = coef.shape[1]
    for start in range(0, n, block_size):
        stop = min(start + block_size, n)
        where = f"rows {offset + start} to {offset + stop - 1} of {name}"
        features = transform_block(feature_map, take_rows(X, slice(start, stop)), where, n_features,
                                   offset + start, namespace=namespace)
        out[start:stop, ...] = features @ coef.T + intercept
    return out


def _predict_chunk(X, feature_map, coef, intercept, block_size, squeeze, block_info=None):
    offset, location = 0, 0
    if block_info is not None:
        location = block_info[0]["chunk-location"][0]
        offset = block_info[0]["array-location"][0][0]
    name = f"X (block {location})"
    if X.shape[0] and not (sparse.issparse(X) or np.all(np.isfinite(X))):
        raise ValueError(f"Input X holds NaN or infinity in block {location} of X (rows "
                         f"{offset} to {offset + X.shape[0] - 1}).")
    out = _predict_rows(feature_map, coef, intercept, block_size, X, offset, name)
    return out[:, 0] if squeeze else out


def _predict_partition(X, feature_map, coef, intercept, block_size, squeeze, index):
    out = _predict_rows(feature_map, coef, intercept, block_size, X, name=f"X (partition "
                        f"{index})")
    return out[:, 0] if squeeze else out


def _predict_frame(feature_map, coef, intercept, block_size, X, squeeze):
    """Predictions of a dask DataFrame: a lazy dask array, one chunk per
    partition (each reaching the map as a pandas DataFrame), of unknown
    length unless the partitions' lengths are known."""
    import dask
    import dask.array as da

    shared_map = dask.delayed(feature_map, pure=True) if feature_map is not None else None
    shape = (np.nan,) if squeeze else (np.nan, coef.shape[0])
    blocks = [da.from_delayed(dask.delayed(_predict_partition, pure=True)(
        part, shared_map, coef, intercept, block_size, squeeze, index), shape=shape,
        dtype=np.float64) for index, part in enumerate(X.to_delayed())]
    return da.concatenate(blocks)


def predict(feature_map, coef, intercept, block_size, X, squeeze, namespace=None):
    """Predictions for in-memory rows (an ndarray) or a dask array (a lazy
    dask array with the row chunks of ``X``).

    Parameters
    ----------
    coef : ndarray of shape (k, m)
    intercept : ndarray of shape (k,)
    squeeze : bool
        Return shape (n,) instead of (n, 1).
    namespace : :class:`~selfdistill_sklearn._array_api.Namespace` or None
        Of ``X``, ``coef`` and ``intercept`` when they are not NumPy arrays.
    """
    if is_dask_frame(X):
        return _predict_frame(feature_map, coef, intercept, block_size, X, squeeze)
    if is_dask_array(X):
        import dask

        # The map as one delayed key: every task refers to it instead of
        # carrying a pickled copy.
        shared_map = dask.delayed(feature_map, pure=True) if feature_map is not None else None
        if squeeze:
            return X.map_blocks(_predict_chunk, shared_map, coef, intercept, block_size,
                                squeeze, drop_axis=1, dtype=np.float64)
        return X.map_blocks(_predict_chunk, shared_map, coef, intercept, block_size, squeeze,
                            chunks=(X.chunks[0], (coef.shape[0],)), dtype=np.float64)
    out = _predict_rows(feature_map, coef, intercept, block_size, X, namespace=namespace)
    return out[:, 0] if squeeze else out
