"""Self-distillation in the primal form: explicit features and m x m algebra.

The paper states the model with explicit features, ``f(x, beta) = phi(x)^T
beta`` (eq. (1)). With ``Phi`` the ``n x m`` features of the training data,
``W`` the sample weights, ``G = Phi^T W Phi`` and ``r = Phi^T W y`` (both
centred at the weighted means for an unpenalised intercept):

    beta(1) = (G + lambda I)^-1 r
    beta(t) = alpha(t) beta(1) + (1 - alpha(t)) M beta(t-1),   M = (G + lambda I)^-1 G
    beta(inf) = (G + (lambda / alpha) I)^-1 r                  (Theorem 4.5)

which is eq. (7) of Theorem 4.1 with the dual coefficients replaced by
``beta``. In the eigenbasis ``G = U diag(d) U^T`` every step is the
diagonal scaling of Lemma 4.2 (eqs. (12)-(13)) of ``U^T r``.

Every quantity is a function of sums over rows of ``z = [phi(x), y]``,
which this module receives as :class:`Moments`: a set of rows keeps its
weighted count, its weighted mean and its co-moments CENTRED at that mean
(or a triangular root ``R`` of them, ``R^T R``, from a QR factorisation of
the centred, weighted rows). Two sets merge by the pairwise update of Chan,
Golub and LeVeque, ``C = C_a + C_b + (w_a w_b / (w_a + w_b)) delta
delta^T`` with ``delta`` the difference of their means: no sum is ever
formed around a point far from the data, so zero-weight rows, large means or
an unrepresentative first block cost no digits, and rows of zero weight
affect nothing. Each mean is kept in two parts (``mean`` and what its
rounding left, ``mean_low``), and ``delta`` is taken from both, so that the
rounding of means far from 0 (y + 1e8) is not merged in block after block.
Held-out squared errors are norms ``||F [beta; -1]||^2`` of a root ``F`` of
the held-out rows' co-moments about the training means, never the
difference ``s - 2 beta^T r + beta^T G beta``, which cancels when the errors
are small.

Directions of ``G`` below rounding (``d <= m eps max d``: a feature that
duplicates others, more features than rows) are given coefficient zero:
``r`` has no component there in exact arithmetic, so this is the exact
solution where ``lambda`` is above rounding and the least-squares solution
of minimum norm where it is not, as the kernel estimators' solver gives it
(:func:`~selfdistill_sklearn._solvers.negligible_eigenvalues`, shared).
Where such directions come only from columns of very different scales
(independent once scaled to unit diagonal), the eigenpairs are computed to
high relative accuracy instead and every direction kept
(:func:`graded_eigh`).
Nothing here knows about scikit-learn or where the rows come from.
"""

import importlib
import math
import warnings

import numpy as np
from scipy import linalg
from scipy.linalg import lapack

from ._solvers import negligible_eigenvalues
from .closed_forms import optimal_alpha_from_terms

__all__ = [
    "HeldOut",
    "Moments",
    "SpectralFold",
    "TrainingPart",
    "block_moments",
    "cell_diagonal",
    "check_finite_moments",
    "column_norms",
    "check_poolable",
    "graded_eigh",
    "held_out_part",
    "heldout_squared_errors",
    "merge_moments",
    "pool_moments",
    "pooled_spectral_schedules",
    "spectral_coefficients",
    "split_cells",
    "step_weights",
    "training_part",
    "warn_if_singular",
]


def _overflow_checked():
    """Products whose overflow is detected afterwards and raised as an error
    (:func:`check_finite_moments`, :class:`TrainingPart`), not warned about."""
    return np.errstate(over="ignore", invalid="ignore")


class Moments:
    """Weighted count, mean and centred co-moments of a set of rows of ``z``.

    Parameters
    ----------
    weight : float
        ``w = sum_i w_i``.
    count : int
        Rows, whatever their weight.
    positive : int
        Rows of positive weight.
    mean : ndarray of shape (p,)
        ``sum_i w_i z_i / w`` (zeros when ``w = 0``: then undefined and unused),
        rounded.
    mean_low : ndarray of shape (p,) or None
        What ``mean`` rounded away (``mean + mean_low`` is the mean to about
        ``eps`` of the rows' spread, not of their distance from 0): the
        merges take differences of means from both parts, so that rows far
        from the origin (y + 1e8) lose no digits block after block. ``None``:
        zeros (the array API namespaces keep none).
    comoment : ndarray of shape (p, p) or None
        ``sum_i w_i (z_i - mean)(z_i - mean)^T``.
    root : ndarray of shape (q, p) or None
        Upper triangular ``R`` with ``R^T R`` the co-moments (one of the two
        is given; the co-moments of a root are formed when first asked for).
    xp : module or None
        The array API namespace of ``mean`` and ``comoment`` when they are not
        NumPy arrays (co-moments only: QR roots are NumPy's).
    """

    __slots__ = ("_comoment", "count", "mean", "mean_low", "positive", "root", "weight", "xp")

    def __init__(self, weight, count, positive, mean, comoment=None, root=None, xp=None,
                 mean_low=None):
        self.weight = float(weight)
        self.count = int(count)
        self.positive = int(positive)
        self.mean = mean
        self.mean_low = mean_low
        self._comoment = comoment
        self.root = root
        self.xp = xp

    @property
    def comoment(self):
        if self._comoment is None:
            with _overflow_checked():
                self._comoment = self.root.T @ self.root
        return self._comoment

    @classmethod
    def empty(cls, p, root=False):
        return cls(0.0, 0, 0, np.zeros(p), None if root else np.zeros((p, p)),
                   np.zeros((p, p)) if root else None)

    def copy(self):
        """A copy whose arrays are its own (``block_moments(into=...)``
        updates its argument in place)."""
        return Moments(self.weight, self.count, self.positive, self.mean.copy(),
                       None if self._comoment is None else self._comoment.copy(),
                       None if self.root is None else self.root.copy(), xp=self.xp,
                       mean_low=None if self.mean_low is None else self.mean_low.copy())

    def _replace_count(self, count):
        self.count = count
        return self

    def __reduce__(self):
        # A namespace is a module, pickled by its name and imported again.
        return (_moments_of, (self.weight, self.count, self.positive, self.mean,
                              None if self.root is not None else self._comoment, self.root,
                              None if self.xp is None else self.xp.__name__, self.mean_low))


def _moments_of(weight, count, positive, mean, comoment, root, namespace, mean_low=None):
    """:class:`Moments` from pickled fields, the namespace given by name."""
    xp = None if namespace is None else importlib.import_module(namespace)
    return Moments(weight, count, positive, mean, comoment, root, xp, mean_low)


def _two_sum(a, b):
    """``(s, e)`` with ``s = fl(a + b)`` and ``s + e = a + b`` exactly
    (Knuth's TwoSum, elementwise)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _low(moments):
    """``mean_low`` of ``moments``, zeros (in its namespace) where it keeps none."""
    if moments.mean_low is not None:
        return moments.mean_low
    return (np if moments.xp is None else moments.xp).zeros_like(moments.mean)


def _mean_difference(a, b):
    """``mean_b - mean_a`` from both parts of each mean: the difference of
    the rounded means is exact where they are close (Sterbenz) and rounded
    relatively to itself elsewhere, so it carries the rows' spread, not
    their distance from 0."""
    return (b.mean - a.mean) + (_low(b) - _low(a))


def _moved_mean(a, step):
    """The parts ``(mean, mean_low)`` of ``mean_a + step`` (one TwoSum: the
    low part stays of the order of the mean's rounding)."""
    mean, error = _two_sum(a.mean, step)
    return mean, _low(a) + error


def _merge_root(root, *blocks, triangular=0):
    """The triangular ``R`` of the QR factorisation of ``[root; blocks...]``.

    ``triangular`` is the number of trailing rows that form an upper
    triangle (another root), whose zeros LAPACK then skips.

    LAPACK's triangular-pentagonal QR (``tpqrt``) updates the ``p x p``
    triangle with the new rows at ``2 b p^2`` flops, without the work on the
    triangle's zeros that a QR of the stacked matrix would spend.
    """
    n_rows = sum(block.shape[0] for block in blocks)
    if n_rows == 0:
        return root
    p = root.shape[1]
    a = np.asfortranarray(root, dtype=float)
    b = np.empty((n_rows, p), order="F")
    start = 0
    for block in blocks:
        b[start:start + block.shape[0]] = block
        start += block.shape[0]
    a, _, _, info = lapack.dtpqrt(triangular, max(1, min(64, p)), a, b, overwrite_a=True,
                                  overwrite_b=True)
    if info != 0:  # pragma: no cover - only for invalid arguments
        raise np.linalg.LinAlgError(f"LAPACK dtpqrt failed with info={info}.")
    return np.triu(a)


def block_moments(Z, sample_weight=None, root=False, into=None, overwrite=False, xp=None,
                  ones=False):
    """Moments of the rows of ``Z``, merged into ``into`` when given.

    The block is centred at its own weighted mean before any product, so
    the result does not depend on where the rows lie; rows of weight 0
    contribute nothing but their count. The mean is kept in two parts
    (``mean`` and ``mean_low``): the rounded mean, and the centred rows'
    own mean, what the rounding left (exactly, where the rows lie far from
    0 and close together); the merge with ``into`` takes the difference of
    the means from both (Chan, Golub and LeVeque's update).

    Parameters
    ----------
    Z : ndarray of shape (b, p), or (b, p + 1) with ``ones``
    sample_weight : ndarray of shape (b,) or None
    root : bool
        Keep a QR root instead of the co-moments (about three times the
        flops; the held-out errors are then norms).
    into : Moments or None
        Moments of other rows, owned by the caller (updated in place).
    overwrite : bool
        ``Z`` may be overwritten.
    xp : module or None
        The array API namespace of ``Z`` and ``sample_weight`` when they are
        not NumPy arrays (co-moments only).
    ones : bool
        The last column of ``Z`` holds ones, not a column of ``z`` (co-moments
        only): the product that forms the co-moments forms the centred rows'
        sums with them, at ``1 / p`` more flops instead of another pass.

    Returns
    -------
    moments : Moments
    """
    if xp is not None:
        return _block_moments_xp(Z, sample_weight, into, xp)
    b, p = Z.shape[0], Z.shape[1] - int(ones)
    count = b + (0 if into is None else into.count)
    # Over all the columns (contiguous rows), the ones' mean then set to 0.
    if sample_weight is None:
        weight, positive = float(b), b
        mean = Z.mean(axis=0) if b else np.zeros(Z.shape[1])
    else:
        w = np.asarray(sample_weight, dtype=float)
        weight, positive = float(w.sum()), int(np.count_nonzero(w))
        if not weight > 0:
            if into is not None:
                into.count = count
                return into
            return Moments.empty(p, root)._replace_count(b)
        mean = (w @ Z) / weight
    if ones:
        mean[p] = 0.0
    scaled = np.subtract(Z, mean, out=Z if overwrite else None)
    mean = mean[:p]
    if root or not ones:
        # The centred rows' mean: what the rounding of the mean left.
        low = (scaled.mean(axis=0) if sample_weight is None
               else (w @ scaled) / weight) if b else np.zeros(p)
        scaled -= low
    if sample_weight is not None:
        scaled *= np.sqrt(w)[:, None]
    if not root:
        with _overflow_checked():
            product = scaled.T @ scaled
            if ones:
                sums = product[p, :p]  # sum_i w_i (z_i - mean)
                low = sums / weight
                comoment = product[:p, :p]
                # About the mean itself: less w low low^T, where that counts
                # at all (the mean far from 0 against the spread).
                if np.any(np.abs(low) > 2.0 ** -26 * np.sqrt(np.diag(comoment) / weight)):
                    comoment = comoment - np.outer(sums, low)
            else:
                comoment = product
    # (mean, low) is a two-part mean already: low is the rounding of mean.
    if into is None or not into.weight > 0:
        positive += 0 if into is None else into.positive
        if root:
            return Moments(weight, count, positive, mean,
                           root=_merge_root(np.zeros((p, p)), scaled), mean_low=low)
        return Moments(weight, count, positive, mean, comoment=comoment, mean_low=low)
    total = into.weight + weight
    with _overflow_checked():
        delta = (mean - into.mean) + (low - _low(into))
        correction = math.sqrt(into.weight * weight / total) * delta
        into.mean, into.mean_low = _moved_mean(into, (weight / total) * delta)
    into.weight, into.count, into.positive = total, count, into.positive + positive
    if root:
        # One QR of [R; block; correction]: the merge and the block at once.
        into.root = _merge_root(into.root, scaled, correction[None, :])
        into._comoment = None
    else:
        merged = into.comoment
        with _overflow_checked():
            merged += comoment
            merged += np.outer(correction, correction)
    return into


def _block_moments_xp(Z, sample_weight, into, xp):
    """:func:`block_moments` in the array API namespace ``xp``: the same
    centring and pairwise merge, co-moments only."""
    b, p = Z.shape
    count = b + (0 if into is None else into.count)
    if sample_weight is None:
        weight, positive = float(b), b
        if not b:
            if into is not None:
                return into
            mean = xp.zeros(p, dtype=Z.dtype, device=Z.device)
            return Moments(0.0, 0, 0, mean, comoment=mean[:, None] * mean[None, :], xp=xp)
        mean = xp.mean(Z, axis=0)
        centred = Z - mean
        low = xp.mean(centred, axis=0)  # what the rounding of the mean left
        scaled = centred - low
    else:
        w = sample_weight
        weight, positive = float(xp.sum(w)), int(xp.count_nonzero(w))
        if not weight > 0:
            if into is not None:
                into.count = count
                return into
            return Moments.empty(p)._replace_count(b)
        mean = (w @ Z) / weight
        centred = Z - mean
        low = (w @ centred) / weight
        scaled = (centred - low) * xp.sqrt(w)[:, None]
    gram = scaled.T @ scaled
    mean, low = _two_sum(mean, low)
    if into is None or not into.weight > 0:
        positive += 0 if into is None else into.positive
        return Moments(weight, count, positive, mean, comoment=gram, xp=xp, mean_low=low)
    block = Moments(weight, b, positive, mean, xp=xp, mean_low=low)
    total = into.weight + weight
    delta = _mean_difference(into, block)
    correction = math.sqrt(into.weight * weight / total) * delta
    into.weight, into.count, into.positive = total, count, into.positive + positive
    into.mean, into.mean_low = _moved_mean(into, (weight / total) * delta)
    into._comoment = into.comoment + gram + correction[:, None] * correction[None, :]
    return into


def merge_moments(a, b):
    """Chan, Golub and LeVeque's pairwise merge of two sets of rows (new Moments)."""
    xp = a.xp if a.xp is not None else b.xp
    if not (a.weight > 0 and b.weight > 0):
        # A set of weight 0 has no mean: it adds its rows' count, nothing else.
        kept = a if a.weight > 0 else b
        return Moments(kept.weight, a.count + b.count, a.positive + b.positive, kept.mean,
                       kept._comoment, kept.root, xp=kept.xp, mean_low=kept.mean_low)
    total = a.weight + b.weight
    delta = _mean_difference(a, b)
    mean, low = _moved_mean(a, (b.weight / total) * delta)
    correction = math.sqrt(a.weight * b.weight / total) * delta
    if xp is not None:  # co-moments in an array API namespace (no roots there)
        comoment = a.comoment + b.comoment + correction[:, None] * correction[None, :]
        return Moments(total, a.count + b.count, a.positive + b.positive, mean,
                       comoment=comoment, xp=xp, mean_low=low)
    if a.root is not None and b.root is not None:
        # The correction first, so that b's triangle closes the pentagon.
        root = _merge_root(a.root, correction[None, :], b.root, triangular=b.root.shape[0])
        return Moments(total, a.count + b.count, a.positive + b.positive, mean, root=root,
                       mean_low=low)
    comoment = a.comoment + b.comoment + np.outer(correction, correction)
    return Moments(total, a.count + b.count, a.positive + b.positive, mean, comoment=comoment,
                   mean_low=low)


def pool_moments(parts):
    """Weight, count, positive rows, mean and co-moments of a union of sets
    (the many-way form of the pairwise merge, one product for the means)."""
    parts = list(parts)
    xp = next((part.xp for part in parts if part.xp is not None), None)
    if xp is not None:
        return _pool_moments_xp(parts, xp)
    weights = np.array([part.weight for part in parts])
    count = sum(part.count for part in parts)
    positive = sum(part.positive for part in parts)
    total = float(weights.sum())
    p = parts[0].mean.size
    if not total > 0:
        return Moments(0.0, count, positive, np.zeros(p), comoment=np.zeros((p, p)))
    # Each part's mean as a difference from the first weighted one (both
    # parts of each: differences of close means are exact), then pooled.
    first = next(part for part in parts if part.weight > 0)
    offsets = np.array([_mean_difference(first, part) if part.weight > 0
                        else np.zeros(p) for part in parts])
    offset = weights @ offsets / total
    deltas = (offsets - offset) * np.sqrt(weights)[:, None]
    mean, low = _moved_mean(first, offset)
    with _overflow_checked():
        comoment = sum(part.comoment for part in parts if part.weight > 0)
        return Moments(total, count, positive, mean, comoment=comoment + deltas.T @ deltas,
                       mean_low=low)


def _pool_moments_xp(parts, xp):
    """:func:`pool_moments` in the namespace ``xp`` (every part of positive
    weight in it)."""
    count = sum(part.count for part in parts)
    positive = sum(part.positive for part in parts)
    parts = [part for part in parts if part.weight > 0]
    if not parts:
        raise ValueError("The training rows carry no weight: sample_weight is zero on "
                         "every one of them.")
    if len(parts) == 1:
        part = parts[0]
        return Moments(part.weight, count, positive, part.mean, comoment=part.comoment, xp=xp,
                       mean_low=part.mean_low)
    total = sum(part.weight for part in parts)
    # As pool_moments: the means as differences from the first part's.
    offsets = [_mean_difference(parts[0], part) for part in parts]
    offset = sum((part.weight / total) * each for part, each in zip(parts, offsets, strict=True))
    comoment = sum(part.comoment for part in parts)
    for part, each in zip(parts, offsets, strict=True):
        delta = math.sqrt(part.weight) * (each - offset)
        comoment = comoment + delta[:, None] * delta[None, :]
    mean, low = _moved_mean(parts[0], offset)
    return Moments(total, count, positive, mean, comoment=comoment, xp=xp, mean_low=low)


def _all_finite(array, xp=None):
    if xp is None:
        return bool(np.all(np.isfinite(array)))
    return bool(xp.all(xp.isfinite(array)))


#: Largest column norm of a QR root: its co-moments ``R^T R`` (every partial
#: sum bounded by the product of two column norms) stay finite, and so do
#: those of a few such roots merged.
_ROOT_NORM_LIMIT = math.sqrt(np.finfo(float).max) / 4


def column_norms(matrix):
    """Euclidean norms of the columns, without squaring below or above the
    normal range (each column scaled by its largest entry first)."""
    largest = np.max(np.abs(matrix), axis=0, initial=0.0)
    safe = np.where(largest > 0, largest, 1.0)
    return largest * np.linalg.norm(matrix / safe, axis=0)


def _root_fits(root):
    """Whether the co-moments of ``root`` can be formed: its
    :func:`column_norms` below :data:`_ROOT_NORM_LIMIT`."""
    if np.max(np.abs(root), initial=0.0) * math.sqrt(root.shape[0]) < _ROOT_NORM_LIMIT:
        return True  # at once, without the norms
    return bool(np.all(column_norms(root) < _ROOT_NORM_LIMIT))


def check_finite_moments(moments, where):
    """Raise when the co-moments overflowed: finite features whose squares do not fit
    in float64 (for a QR root, whose co-moments are formed later: when they
    would)."""
    matrix = moments.root if moments.root is not None else moments._comoment
    xp = moments.xp
    if not (_all_finite(matrix, xp) and _all_finite(moments.mean, xp)
            and (moments.root is None or _root_fits(moments.root))):
        raise ValueError(
            f"The features or targets of {where} are too large: their weighted squares "
            "overflow float64. Scale X or y, or the output of feature_map, before fitting."
        )


def cell_diagonal(cell):
    """The diagonal of a cell's co-moments, from its root's
    :func:`column_norms` where it keeps a root: ``inf`` where it overflows."""
    if cell.root is None:
        return np.diag(cell.comoment).copy()
    with np.errstate(over="ignore"):
        return column_norms(cell.root) ** 2


def check_poolable(cells, fit_intercept, where="the rows seen", parts=None):
    """Raise where the cells pooled (any union of them: a training part)
    would overflow, though each fits: their diagonals, plus the spread of
    their means, plus ``w mean^2`` without an intercept, passing half the
    largest float (cells of means far apart, many cells near
    :data:`_ROOT_NORM_LIMIT`, large means about the origin). NumPy cells
    only; ``parts``, ``(weight, mean, diagonal)`` of cells given otherwise
    (in the coordinates of ``z``), are checked with them."""
    parts = list(parts or []) + [(cell.weight, cell.mean, cell_diagonal(cell))
                                 for cell in cells if cell.weight > 0 and cell.xp is None]
    parts = [part for part in parts if part[0] > 0]
    if not parts:
        return
    with np.errstate(over="ignore", invalid="ignore"):
        weight = sum(part[0] for part in parts)
        mean = sum((part[0] / weight) * part[1] for part in parts)
        diagonal = sum(part[2] for part in parts)
        for part_weight, part_mean, _ in parts:
            diagonal = diagonal + part_weight * (part_mean - mean) ** 2
        if not fit_intercept:
            diagonal = diagonal + weight * mean ** 2
        fits = bool(np.all(np.isfinite(diagonal)) and np.all(diagonal <= np.finfo(float).max / 2))
    if not fits:
        raise ValueError(
            f"The features or targets of {where} are too large: their weighted squares "
            "overflow float64. Scale X or y, or the output of feature_map, before fitting."
        )


class TrainingPart:
    """``G``, ``r`` and the centre of a training set, from its moments.

    Attributes
    ----------
    gram : ndarray of shape (m, m)
    cross : ndarray of shape (m, k)
    feature_mean, target_mean : ndarray of shape (m,) and (k,)
        The weighted means with an intercept, zeros without.
    weight : float
    positive : int
        Rows of positive weight.
    target_sum_of_squares : ndarray of shape (k,)
        ``s = y_c^T W y_c``, the diagonal of the targets' block of the
        (centred) co-moments.
    fit_intercept : bool
    """

    def __init__(self, moments, n_features, fit_intercept):
        m = n_features
        if not moments.weight > 0:
            raise ValueError("The training rows carry no weight: sample_weight is zero on "
                             "every one of them.")
        matrix = moments.comoment
        centre = moments.mean
        xp = self.xp = moments.xp
        if not fit_intercept:
            # About the origin: C + w mean mean^T, a sum of positive terms.
            if xp is None:
                matrix = matrix + moments.weight * np.outer(centre, centre)
                centre = np.zeros_like(centre)
            else:
                matrix = matrix + moments.weight * (centre[:, None] * centre[None, :])
                centre = xp.zeros_like(centre)
        if not _all_finite(matrix, xp):
            # QR roots stay finite where their products overflow.
            raise ValueError(
                "The features or targets of the training rows are too large: their weighted "
                "squares overflow float64. Scale X or y, or the output of feature_map, "
                "before fitting."
            )
        matrix = 0.5 * (matrix + matrix.T)
        self.gram, self.cross = matrix[:m, :m], matrix[:m, m:]
        # s = y_c^T W y_c per target (about the origin without an intercept), for GCV.
        self.target_sum_of_squares = (np.diag(matrix)[m:].copy() if xp is None
                                      else xp.linalg.diagonal(matrix)[m:] * 1.0)
        self.feature_mean, self.target_mean = centre[:m], centre[m:]
        # What the rounding of the centre left (zeros without an intercept):
        # held-out means are taken from the centre with both parts.
        self.centre_low = _low(moments) if fit_intercept else centre  # (zeros without)
        self.weight, self.positive = moments.weight, moments.positive
        self.fit_intercept = fit_intercept


def training_part(parts, n_features, fit_intercept):
    """:class:`TrainingPart` of the union of ``parts`` (a list of Moments)."""
    return TrainingPart(pool_moments(parts), n_features, fit_intercept)


class HeldOut:
    """A held-out set seen from a training part's centre.

    ``F = [R_c; sqrt(w_c) (mean_c - centre)^T]`` over the held-out cells
    ``c`` has ``F^T F = sum_i w_i (z_i - centre)(z_i - centre)^T``: for
    coefficients ``beta``, ``F [beta; -e_j]`` has the norm of the weighted
    held-out residuals of output ``j``.

    Attributes
    ----------
    features : ndarray of shape (q, m)
        The feature columns of ``F`` (replaced by ``F U`` in an eigenbasis).
    targets : ndarray of shape (q, k)
    feature_sum : ndarray of shape (m,)
        ``sum_i w_i (phi_i - feature centre)``.
    target_mean : ndarray of shape (k,)
        The training target centre (predictions are ``(phi - mu)^T beta + nu``).
    weight : float
    count : int
        Held-out rows, whatever their weight.
    total : ndarray of shape (k,)
        ``sum_i w_i (y_ij - ybar_j)^2`` about the held-out weighted mean.
    """

    def __init__(self, features, targets, feature_sum, target_mean, weight, count, total):
        self.features, self.targets = features, targets
        self.feature_sum, self.target_mean = feature_sum, target_mean
        self.weight, self.count, self.total = weight, count, total

    def rotated(self, vectors):
        return HeldOut(self.features @ vectors, self.targets, self.feature_sum @ vectors,
                       self.target_mean, self.weight, self.count, self.total)


def held_out_part(parts, train, n_features):
    """:class:`HeldOut` of the union of ``parts`` (Moments with roots) about the
    centre of ``train``."""
    m = n_features
    centre = np.concatenate([train.feature_mean, train.target_mean])
    centre_low = train.centre_low
    count = sum(part.count for part in parts)
    parts = [part for part in parts if part.weight > 0]
    weight = sum(part.weight for part in parts)
    rows, own_rows = [], []
    p = centre.size
    # Each part's mean seen from the centre, from both parts of both means.
    offsets = [(part.mean - centre) + (_low(part) - centre_low) for part in parts]
    own_offset = (sum(part.weight * offset for part, offset in zip(parts, offsets, strict=True))
                  / weight if weight > 0 else np.zeros(p))
    for part, offset in zip(parts, offsets, strict=True):
        if part.root is None:
            raise ValueError("held-out statistics need the QR roots of their rows")
        rows.append(part.root)
        rows.append(math.sqrt(part.weight) * offset[None, :])
        own_rows.append(math.sqrt(part.weight) * (offset - own_offset)[None, :])
    F = np.concatenate(rows) if rows else np.zeros((0, p))
    spread = np.concatenate([part.root[:, m:] for part in parts] + [r[:, m:] for r in own_rows]) \
        if parts else np.zeros((0, p - m))
    return HeldOut(F[:, :m], F[:, m:], weight * own_offset[:m] if weight > 0
                   else np.zeros(m), train.target_mean, weight, count,
                   np.sum(spread ** 2, axis=0))


def heldout_squared_errors(held_out, coefs):
    """Weighted held-out sums of squared errors of ``c`` candidates.

    Parameters
    ----------
    held_out : HeldOut
    coefs : ndarray of shape (m, c, k)

    Returns
    -------
    errors : ndarray of shape (c, k)
        ``||F_phi beta - F_y||^2`` per candidate and output: norms of
        residual images, exact to rounding relative to the errors themselves.
    """
    m, c, k = coefs.shape
    images = (held_out.features @ coefs.reshape(m, c * k)).reshape(-1, c, k)
    images -= held_out.targets[:, None, :]
    return np.einsum("qck,qck->ck", images, images)


def _image(held_out, coefs):
    m = coefs.shape[0]
    return (held_out.features @ coefs.reshape(m, -1)).reshape((-1,) + coefs.shape[1:])


def _batched_terms(first, zero, first_image, held_out):
    """Numerator, denominator and scale of eq. (16) for ``L`` penalties at once.

    ``first`` and ``zero`` (m, L, k) are ``beta(1)`` and ``M beta(t-1)``;
    with ``A = F_phi beta`` the residual-free images, ``<y1 - y0, y - y0>``
    is ``<A1 - A0, F_y - A0>`` and ``||y1 - y0||^2`` is ``||A1 - A0||^2``
    (Theorem 4.4). The scale ``||A1||^2 + ||A0||^2`` is what
    :func:`~selfdistill_sklearn.closed_forms.optimal_alpha_from_terms`
    compares the denominator with: the images are free of the intercept,
    which cancels in ``y1 - y0`` exactly, so that an offset of ``y`` (which
    the predictions carry) does not make a well-posed weight look
    degenerate (an offset of 1e6 did, and ``alpha*`` became 1).
    """
    zero_image = _image(held_out, zero)
    direction = first_image - zero_image
    numerator = np.einsum("qlk,qlk->l", direction,
                          held_out.targets[:, None, :] - zero_image)
    denominator = np.einsum("qlk,qlk->l", direction, direction)
    scale = (np.einsum("qlk,qlk->l", first_image, first_image)
             + np.einsum("qlk,qlk->l", zero_image, zero_image))
    return numerator, denominator, scale


class SpectralFold:
    """A training part in the eigenbasis of its ``G``, with held-out parts.

    One eigendecomposition ``G = U diag(d) U^T`` serves every penalty,
    weight and number of steps: candidates are diagonal scalings of
    ``U^T r`` (:func:`step_weights`), and held-out errors are norms of
    ``F U`` times those coordinates. Directions with ``d`` below rounding
    (:func:`~selfdistill_sklearn._solvers.negligible_eigenvalues`) have
    ``d`` and ``U^T r`` set to zero: both are rounding of an exact zero.

    Parameters
    ----------
    train : TrainingPart
    held_out : list of HeldOut
        Held-out parts about ``train``'s centre.
    """

    def __init__(self, train, held_out=()):
        xp = self.xp = train.xp
        if xp is not None:
            self._decompose_xp(train, xp)
            if held_out:
                raise ValueError("held-out statistics are NumPy's: QR roots")
            self.held_out = []
            return
        # Divide and conquer: the fastest LAPACK driver for all eigenpairs.
        d, U = linalg.eigh(train.gram, check_finite=False, driver="evd")
        self.negligible = negligible_eigenvalues(d)
        self.graded, self.lost_to_scale = False, 0
        if self.negligible.any():
            # Below rounding of the largest: an exact dependence, or only
            # columns of very different scales (1e6 beside 1e-2)?
            graded = graded_eigh(train.gram, train.weight, train.feature_mean)
            if graded is not None:
                d, U, self.negligible = graded
                self.graded = True  # every direction resolved but constant columns'
            else:
                self.lost_to_scale = _warn_if_lost_to_scale(train, int(self.negligible.sum()))
        # Rounding of an exact zero (of either sign): no row reaches these
        # directions, and Lemma 4.2's shrinkage there is 0, not noise.
        self.eigenvalues = np.where(self.negligible, 0.0, d)
        self.vectors = U
        projected = U.T @ train.cross
        projected[self.negligible] = 0.0
        self.projected = projected  # (m, k)
        self.train = train
        self.held_out = [part.rotated(U) for part in held_out]

    def holding_out(self, held_out):
        """This decomposition with the held-out parts ``held_out`` (about this
        training part's centre) instead of its own: ``G`` is not decomposed
        again."""
        fold = object.__new__(SpectralFold)
        fold.__dict__.update(self.__dict__)
        fold.held_out = [part.rotated(self.vectors) for part in held_out]
        return fold

    def _decompose_xp(self, train, xp):
        """The decomposition in the namespace ``xp`` (``xp.linalg.eigh``), the
        same cut of eigenvalues below rounding."""
        d, U = xp.linalg.eigh(train.gram)
        self.negligible = _negligible_xp(d, xp)
        self.eigenvalues = xp.where(self.negligible, xp.zeros_like(d), d)
        self.vectors = U
        projected = U.T @ train.cross
        self.projected = xp.where(self.negligible[:, None], xp.zeros_like(projected),
                                  projected)
        self.train = train

    def coefficients(self, weights):
        """``weights`` of shape (m, c) to eigen-coordinates (m, c, k)."""
        return weights[:, :, None] * self.projected[:, None, :]

    def singular(self, reg_lambda):
        """Whether ``G + lambda I`` is numerically singular in a direction the
        data could determine (more than the null space that a wide ``Phi``
        or the intercept's centring forces), where the solution is then the
        least-squares one of minimum norm."""
        xp = self.xp
        if xp is not None:
            d = self.eigenvalues
            if not (bool(xp.any(self.negligible))
                    and bool(xp.any(_negligible_xp(d + reg_lambda, xp)))):
                return False
            kept = int(xp.sum(xp.astype(~self.negligible, xp.int64)))
            determined = self.train.positive - int(self.train.fit_intercept)
            return kept < min(d.shape[0], determined)
        if self.graded or self.lost_to_scale or not np.any(self.negligible):
            return False  # (the directions lost to scale were warned about)
        d = self.eigenvalues
        if not negligible_eigenvalues(d + reg_lambda).any():
            return False
        determined = self.train.positive - int(self.train.fit_intercept)
        return int(np.count_nonzero(~self.negligible)) < min(d.size, determined)


#: Most columns for :func:`graded_eigh`: LAPACK's Jacobi SVD takes about
#: ten times ``eigh`` (0.7 s against 0.06 s at 600 columns, 25 s at 2000).
GRADED_MAX_FEATURES = 600


def _live_columns(gram, weight, mean):
    """Columns whose spread is above rounding of their mean, their spreads,
    and ``G`` over them scaled to unit diagonal: the others are constants
    (centred), exact null directions."""
    eps = np.finfo(float).eps
    diagonal = np.diag(gram).copy()
    live = (diagonal > (64 * eps) ** 2 * weight * np.asarray(mean) ** 2) & (diagonal > 0)
    spread = np.sqrt(diagonal[live])
    scaled = gram[np.ix_(live, live)] / np.outer(spread, spread)
    return live, spread, 0.5 * (scaled + scaled.T)


def _warn_if_lost_to_scale(train, dropped):
    """Warn where :func:`graded_eigh` could not keep directions that
    ``eigh`` dropped as rounding and that are not null directions: columns
    of very different scales beside exactly dependent ones, or more than
    :data:`GRADED_MAX_FEATURES` of them. The rank of ``G`` scaled to unit
    diagonal is a pivoted Cholesky factorisation's (LAPACK's ``pstrf``).
    Returns the number of such directions."""
    gram = train.gram
    m = gram.shape[0]
    live, spread, scaled = _live_columns(gram, train.weight, train.feature_mean)
    n_live = int(live.sum())
    if n_live == 0:
        return 0
    if spread.max() < 1e3 * spread.min():
        # Scales this close cannot put independent directions below rounding:
        # those dropped are (nearly) dependent columns, as eigh says.
        return 0
    _, _, rank, info = lapack.dpstrf(scaled, tol=16 * m * np.finfo(float).eps)
    lost = dropped - (m - n_live) - (n_live - int(rank))
    if info < 0 or lost <= 0:
        return 0
    why = (f"more than {GRADED_MAX_FEATURES} features" if n_live > GRADED_MAX_FEATURES
           else "beside features that are exact combinations of others")
    warnings.warn(
        f"The features' scales differ by a factor of {spread.max() / spread.min():.1e}: "
        f"{lost} direction(s) of G = Phi^T W Phi lie below rounding of its largest "
        "eigenvalue though the features are independent there, and get coefficient 0 "
        f"({why}, where its eigenpairs are not computed to relative accuracy). Ridge's "
        "Cholesky solve keeps them: scale the features (feature_map=StandardScaler(), or "
        "a Pipeline) to keep them here.",
        linalg.LinAlgWarning, stacklevel=5,
    )
    return lost


def graded_eigh(gram, weight, mean):
    """Eigenpairs of ``G`` to high relative accuracy where its columns differ
    in scale and not in direction, or ``None`` where they are dependent.

    ``eigh`` finds every eigenvalue to about ``eps`` times the largest, and
    those below it (:func:`~selfdistill_sklearn._solvers.negligible_eigenvalues`)
    are dropped as rounding of exact zeros. With columns of scales 1e6 and
    1e-2 the second's eigenvalue (1e-1 over 1000 rows) lies there too, a
    direction that Ridge's Cholesky solve resolves. Scaled to unit diagonal,
    ``C = D^-1/2 G D^-1/2`` is then well conditioned: where ``C - 16 m eps
    I`` has a Cholesky factor, ``R = chol(C) D^1/2`` (``R^T R = G``) is a
    well-conditioned matrix with scaled columns, whose singular values
    LAPACK's preconditioned Jacobi SVD (``gejsv``) computes to ``eps
    kappa(chol(C))`` relative to each (Drmac and Veselic 2008); its right
    singular vectors are ``G``'s eigenvectors. Columns whose spread is
    rounding of their mean (a constant, centred) are exact null directions.

    Parameters
    ----------
    gram : ndarray of shape (m, m)
        ``G``, symmetric positive semi-definite.
    weight : float
        The rows' total weight.
    mean : ndarray of shape (m,)
        The columns' weighted means (zeros without an intercept).

    Returns
    -------
    (eigenvalues, vectors, negligible) or None
        Ascending as :func:`scipy.linalg.eigh` gives them; ``negligible``
        marks the null directions of the constant columns only. ``None``
        also above :data:`GRADED_MAX_FEATURES` columns (the Jacobi SVD's
        price), where :func:`_warn_if_lost_to_scale` says what is lost.
    """
    m = gram.shape[0]
    eps = np.finfo(float).eps
    live, spread, scaled = _live_columns(gram, weight, mean)
    n_live = int(live.sum())
    if n_live == 0 or n_live > GRADED_MAX_FEATURES:
        return None
    try:
        linalg.cholesky(scaled - 16 * m * eps * np.eye(n_live), check_finite=False)
        factor = linalg.cholesky(scaled, check_finite=False)
    except linalg.LinAlgError:
        return None  # dependent columns: their directions below rounding are zeros
    sva, _, v, work, _, info = lapack.dgejsv(factor * spread[None, :], joba=0, jobu=3, jobv=0)
    if info != 0:
        return None
    eigenvalues = np.zeros(m)
    vectors = np.zeros((m, m))
    negligible = np.ones(m, dtype=bool)
    dead = np.flatnonzero(~live)
    vectors[dead, np.arange(dead.size)] = 1.0
    order = np.argsort(sva)
    eigenvalues[dead.size:] = (sva[order] * (work[1] / work[0])) ** 2
    vectors[np.ix_(live, np.arange(dead.size, m))] = v[:, order]
    negligible[dead.size:] = False
    return eigenvalues, vectors, negligible


def _negligible_xp(eigenvalues, xp):
    """:func:`~selfdistill_sklearn._solvers.negligible_eigenvalues` in the
    namespace ``xp``, with the rounding unit of the eigenvalues' dtype."""
    size = eigenvalues.shape[0]
    if size == 0:
        return eigenvalues > 0
    eps = xp.finfo(eigenvalues.dtype).eps
    cutoff = size * eps * xp.max(xp.abs(eigenvalues))
    return xp.abs(eigenvalues) <= cutoff


def warn_if_singular(fold, reg_lambda):
    if fold.singular(reg_lambda):
        warnings.warn(
            f"The primal ridge system G + lambda I with lambda={reg_lambda!r} is numerically "
            "singular (features that are linear combinations of others): using its "
            "least-squares solution of minimum norm, as Ridge and the kernel estimators do. "
            "A larger reg_lambda avoids this.",
            linalg.LinAlgWarning, stacklevel=4,
        )


def spectral_coefficients(fold, reg_lambda, schedule, limit_alpha=None):
    """``beta(t)`` of every step (shape (T, m, k)), or of the limit (shape (1, m,
    k)) for ``limit_alpha``, from one eigendecomposition (Lemma 4.2; Theorem
    4.5 for the limit, zero for ``alpha = 0`` or a penalty that overflows)."""
    if fold.xp is not None:
        return _spectral_coefficients_xp(fold, reg_lambda, schedule, limit_alpha, fold.xp)
    d = fold.eigenvalues
    if limit_alpha is not None:
        if limit_alpha == 0 or not np.isfinite(reg_lambda / limit_alpha):
            return np.zeros((1,) + fold.projected.shape)
        weights = (1.0 / (d + reg_lambda / limit_alpha))[:, None, None]
    else:
        weights = step_weights(d, reg_lambda, np.asarray(schedule, dtype=float)[None, :])
    coords = weights[:, 0, :, None] * fold.projected[:, None, :]  # (m, T, k)
    return np.einsum("ij,jtk->tik", fold.vectors, coords)


def _spectral_coefficients_xp(fold, reg_lambda, schedule, limit_alpha, xp):
    """:func:`spectral_coefficients` in the namespace ``xp``."""
    d, projected = fold.eigenvalues, fold.projected
    m, k = projected.shape
    if limit_alpha is not None:
        if limit_alpha == 0 or not math.isfinite(reg_lambda / limit_alpha):
            return xp.zeros((1, m, k), dtype=d.dtype, device=d.device)
        weights = [1.0 / (d + reg_lambda / limit_alpha)]
    else:
        a = d / (d + reg_lambda)
        weights = [xp.ones_like(d)]
        for alpha in np.asarray(schedule, dtype=float).reshape(-1):
            weights.append(float(alpha) + (1.0 - float(alpha)) * a * weights[-1])
        weights = [w / (d + reg_lambda) for w in weights]
    coords = xp.stack(weights, axis=1)[:, :, None] * projected[:, None, :]  # (m, T, k)
    steps = coords.shape[1]
    betas = xp.reshape(fold.vectors @ xp.reshape(coords, (m, steps * k)), (m, steps, k))
    return xp.permute_dims(betas, (1, 0, 2))


def step_weights(eigenvalues, reg_lambda, alphas):
    """Coordinates of ``beta(t)`` in the eigenbasis of ``G``, per unit of ``U^T r``.

    ``beta(t) = U diag(w(t) / (d + lambda)) U^T r`` with ``w(1) = 1`` and
    ``w(t) = alpha(t) + (1 - alpha(t)) a w(t-1)``, ``a = d / (d + lambda)``
    (Lemma 4.2, eqs. (12)-(13), with ``G``'s eigenvalues ``d``, which are the
    non-zero eigenvalues of ``Phi W Phi^T``).

    Parameters
    ----------
    eigenvalues : ndarray of shape (m,)
    reg_lambda : float
    alphas : ndarray of shape (s, T - 1)
        ``s`` schedules.

    Returns
    -------
    weights : ndarray of shape (m, s, T)
    """
    d = np.asarray(eigenvalues, dtype=float)
    alphas = np.atleast_2d(np.asarray(alphas, dtype=float))
    a = d / (d + reg_lambda)
    inverse = 1.0 / (d + reg_lambda)
    n_schedules, n_later = alphas.shape
    w = np.empty((d.size, n_schedules, n_later + 1))
    w[:, :, 0] = 1.0
    for t in range(n_later):
        w[:, :, t + 1] = alphas[None, :, t] + (1.0 - alphas[None, :, t]) * a[:, None] * w[:, :, t]
    return w * inverse[:, None, None]




def pooled_spectral_schedules(folds, reg_lambdas, n_steps, clip):
    """Algorithm 1 with eq. (16) pooled over several training parts (each a
    :class:`SpectralFold` with its held-out parts), for every penalty at once.

    Returns
    -------
    schedules : ndarray of shape (n_lambdas, n_steps - 1)
    """
    lambdas = np.asarray(reg_lambdas, dtype=float)
    schedules = np.empty((lambdas.size, max(n_steps - 1, 0)))
    if n_steps < 2:
        return schedules
    firsts, shrinkages, first_images = [], [], []
    for fold in folds:
        d = fold.eigenvalues[:, None]
        first = fold.projected[:, None, :] / (d + lambdas[None, :])[:, :, None]
        firsts.append(first)
        shrinkages.append((d / (d + lambdas[None, :]))[:, :, None])
        first_images.append([_image(held_out, first) for held_out in fold.held_out])
    coefs = list(firsts)
    for step in range(n_steps - 1):
        numerator = np.zeros(lambdas.size)
        denominator = np.zeros(lambdas.size)
        scale = np.zeros(lambdas.size)
        zeros = []
        for fold, first, shrinkage, images, coef in zip(folds, firsts, shrinkages, first_images,
                                                        coefs, strict=True):
            zero = shrinkage * coef
            zeros.append(zero)
            for held_out, first_image in zip(fold.held_out, images, strict=True):
                num, den, sc = _batched_terms(first, zero, first_image, held_out)
                numerator += num
                denominator += den
                scale += sc
        alphas = np.array([optimal_alpha_from_terms(num, den, clip, sc)
                           for num, den, sc in zip(numerator, denominator, scale, strict=True)])
        schedules[:, step] = alphas
        weights = alphas[None, :, None]
        coefs = [weights * first + (1.0 - weights) * zero
                 for first, zero in zip(firsts, zeros, strict=True)]
    return schedules


def split_cells(splits, n_samples):
    """Partition the rows by their role in every split.

    A row's role in a split is 0 (unused), 1 (training) or 2 (held out);
    rows with the same roles in every split form a cell. The training and
    held-out parts of every split, and of intersections of splits, are
    unions of cells, so one pass that sums each cell's moments serves them
    all. K-fold splits give K cells.

    Parameters
    ----------
    splits : list of (train, test) index arrays
    n_samples : int

    Returns
    -------
    cell_roles : ndarray of shape (n_cells, n_splits)
        Role of each cell in each split.
    labels : ndarray of shape (n_samples,)
        Cell of each row.

    Raises
    ------
    ValueError
        If a split has an empty part or a row both in training and held out.
    """
    n_splits = len(splits)
    roles = np.zeros((n_samples, n_splits), dtype=np.int8)
    for index, (train, test) in enumerate(splits):
        train, test = np.asarray(train), np.asarray(test)
        if train.size == 0 or test.size == 0:
            raise ValueError(f"cv split {index} has an empty training or held-out part: "
                             "every split needs both.")
        roles[train, index] = 1
        if np.any(roles[test, index] == 1):
            raise ValueError(f"cv split {index} holds samples both in its training and its "
                             "held-out part.")
        roles[test, index] = 2
    if n_splits <= 39:
        # Base-3 codes sort as integers, far faster than rows of a matrix.
        codes = roles.astype(np.int64) @ (3 ** np.arange(n_splits, dtype=np.int64))
        unique, labels = np.unique(codes, return_inverse=True)
        cell_roles = (unique[:, None] // (3 ** np.arange(n_splits))[None, :]) % 3
    else:
        cell_roles, labels = np.unique(roles, axis=0, return_inverse=True)
    return cell_roles.astype(np.int8), labels.reshape(-1)
