"""Fold cells at the price of a Gram matrix: co-moments about a reference fit.

Held-out errors are norms ``||R [beta; -1]||`` of QR roots ``R`` of a
cell's rows (:mod:`selfdistill_sklearn._primal`), never the difference
``s - 2 beta^T r + beta^T G beta``, which cancels when the errors are small
(DESIGN.md section 8). A QR update costs five to seven times the Gram
matrix of the same rows (LAPACK's ``tpqrt`` against BLAS's ``syrk``),
which made every fold search over streamed rows five times dearer than one
fit. The cancellation is what roots avoid, and it has a cheaper cure:

* the first :func:`reference_rows` rows of the stream (the *head*) are kept
  as exact QR roots, cell by cell, and give a reference fit ``b0``, the
  centred least-squares coefficients of the head (a Cholesky solve of its
  pooled co-moments, scaled to unit diagonal, with a ridge of ``1e-10``: a
  reference need not be exact, only not wild);
* every later row is kept, cell by cell, as centred co-moments (Chan, Golub
  and LeVeque's merge, one ``syrk`` a block) of ``u = [phi, y - phi b0]``:
  its target columns are the residuals of the reference, of the size of the
  held-out errors rather than of ``y``, so that the quadratic form no longer
  cancels;
* when the cells are read, each cell's co-moments ``C_u`` are factored,
  equilibrated (``C_u = D^1/2 C D^1/2``, ``C`` of unit diagonal, then
  ``C = F^T F`` by Cholesky, or by an eigendecomposition and a QR where
  ``C`` is singular) into a triangular root ``F_u = F D^1/2``, taken back
  to ``z = [phi, y]`` by ``F_z = F_u [[I, b0], [0, I]]`` (``u = z [[I,
  -b0], [0, I]]``; still triangular) and merged with the head's root: the
  cells are the QR-root :class:`~selfdistill_sklearn._primal.Moments` that
  the search reads, to the precision stated below.

**Precision.** The co-moments of a cell carry an error of about ``eps``
times ``sqrt(C_ii C_jj)`` in entry ``(i, j)``, and the equilibrated factor
one of about ``p eps`` in norm. A split's held-out squared error is ``v^T C
v`` with ``v = [beta - b0; -e_j]`` and ``C`` the co-moments in ``u`` of its
held-out cells (head and tail); scaled to unit diagonal, its relative
error is at most ``4 p eps / w``, ``w`` the least eigenvalue of ``C`` over
the directions ``v`` takes: the features' directions above rounding (an
exact dependence, such as one-hot columns without a dropped level, carries
no coefficient) together with one target at a time. Forming ``u`` rounds
``phi b0`` by about ``2 eps sum_j |phi_j| |b0_j|`` a row, which adds ``2 r +
r^2`` for ``r`` that rounding against the residuals' spread; features whose
spread is rounding of their mean (a constant 0.1, centred) get no
reference coefficient. Both make :meth:`ReferencedCells.relative_error`. Where
that exceeds
:data:`PRECISION_TOLERANCE` (nearly collinear features, whose co-moments
lose what their roots keep), or where the products fell below the normal
range:

* the complete head forecasts it from its own co-moments, and then every
  later row is kept as a root too (one pass, at the price of roots, as
  before this module);
* where the head did not forecast it, ``fit`` forms the cells again with
  exact QR roots in a second pass, and ``partial_fit``, which cannot see the
  rows again, warns with a :class:`scipy.linalg.LinAlgWarning`.

Columns whose head lies outside ``2^-400 .. 2^400`` are scaled by powers of
two (exactly) before their products are formed.

Nothing here knows about scikit-learn, blocks or where the rows come from.
"""

import math
import sys

import numpy as np
from scipy import linalg
from scipy.linalg import lapack

from ._primal import (
    Moments,
    _low,
    _two_sum,
    cell_diagonal,
    check_finite_moments,
    column_norms,
    merge_moments,
)

__all__ = [
    "PRECISION_TOLERANCE",
    "ReferencedCells",
    "reference_rows",
]

#: Largest relative error of a held-out squared error that the referenced
#: co-moments may carry (:meth:`ReferencedCells.relative_error`).
PRECISION_TOLERANCE = 1e-8

#: Fewest rows of the head (exact QR roots) before the reference is fitted.
MIN_REFERENCE_ROWS = 8192


def reference_rows(p):
    """Rows of the head for ``p`` columns of ``[phi, y]``: ``max(8192, 8 p)``,
    enough that the reference fit is a fit (eight rows a coefficient), and
    few beside the millions of rows where the price of roots matters."""
    return max(MIN_REFERENCE_ROWS, 8 * p)


def _powers_of_two(spread):
    """The powers of two nearest ``1 / spread`` (1 where ``spread`` is 0)."""
    positive = spread > 0
    return np.exp2(-np.where(positive, np.round(np.log2(np.where(positive, spread, 1.0))), 0))


def _pooled_comoment(head):
    """The co-moments of the head's rows (its cells pooled about their
    common mean), formed in columns scaled by powers of two so that no
    product leaves the normal range, and that scale: ``(C_s, s)`` with ``C =
    C_s / (s s^T)``. One product of the stacked roots, not a QR merge a
    cell."""
    cells = [cell for cell in head if cell.weight > 0]
    weight = sum(cell.weight for cell in cells)
    mean = sum(cell.weight * cell.mean for cell in cells) / weight
    rows = np.concatenate([cell.root for cell in cells]
                          + [math.sqrt(cell.weight) * (cell.mean - mean)[None, :]
                             for cell in cells])
    scale = _powers_of_two(column_norms(rows) / math.sqrt(weight))
    scaled = rows * scale  # exact
    return scaled.T @ scaled, scale, mean


def _rounding(raw_spread, coef, target_spread=0.0):
    """The rounding of ``(phi - c_phi) b0`` and of ``y - c_y`` in ``u``,
    about ``2 eps sum_j |phi_j - c_j| |b0_j| + eps |y - c_y|`` a row, from
    the root mean squares ``raw_spread`` of the features about the centre
    and ``target_spread`` of the targets (or a bound of it): (k,)."""
    eps = np.finfo(float).eps
    return 2 * eps * (raw_spread @ np.abs(coef)) + eps * np.asarray(target_spread)


def _formation_error(rounding, residual_spread):
    """Relative error of held-out squared errors from the rounding of ``u =
    y - phi b0`` itself: ``2 r + r^2``, ``r`` the :func:`_rounding` against
    the residuals' spread, the largest over the targets (``inf`` for
    rounding against residuals of none)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(rounding > 0, rounding / residual_spread, 0.0)
    ratio = float(np.max(ratio, initial=0.0))
    return 2 * ratio + ratio ** 2


def _fit_reference(comoment, scale, mean, weight, n_features):
    """The reference of a complete head from its co-moments (scaled as
    :func:`_pooled_comoment` gives them) and mean: centred least-squares
    coefficients ``b0`` (m, k), from the co-moments scaled to unit diagonal
    with a ridge of ``1e-10`` (the reference need not be exact, only not
    wild), over the features whose spread is above the rounding of their
    mean (a constant 0.1 centres to rounding noise, which must not get a
    coefficient of 1e12); the power-of-two scale of each column of ``u =
    [phi, y - phi b0]`` (``None`` where every column's root mean square lies
    within ``2^-400 .. 2^400``, whose squares neither underflow nor
    overflow); and :func:`_formation_error` of the head's rows."""
    m = n_features
    spread = np.sqrt(np.clip(np.diag(comoment)[:m], 0.0, None) / weight) / scale[:m]
    live = spread > 64 * np.finfo(float).eps * np.abs(mean[:m])
    live &= spread > 0
    live = np.flatnonzero(live)
    diagonal = np.sqrt(np.diag(comoment)[live])
    gram = comoment[np.ix_(live, live)] / np.outer(diagonal, diagonal) + 1e-10 * np.eye(
        live.size)
    coef = np.zeros((m, comoment.shape[0] - m))
    if live.size:
        coef[live] = linalg.cho_solve(linalg.cho_factor(gram, check_finite=False),
                                      comoment[live, m:] / diagonal[:, None],
                                      check_finite=False) / diagonal[:, None]
    # The residuals' spread about b0, as a root mean square: sqrt of a
    # quadratic form, rough where it cancels, which a scale may be.
    v = np.vstack([-coef, np.eye(comoment.shape[0] - m)])
    residual = np.sqrt(np.clip(np.einsum("ij,ik,kj->j", v, comoment, v), 0.0, None) / weight)
    coef = coef * scale[:m, None] / scale[None, m:]  # back to phi and y
    residual = residual / scale[m:]
    # u is formed about the centre c = mean: spreads, not distances from 0.
    target_spread = np.sqrt(np.clip(np.diag(comoment)[m:], 0.0, None) / weight) / scale[m:]
    formation = _formation_error(_rounding(spread, coef, target_spread), residual)
    u_scale = _powers_of_two(np.concatenate([spread, residual]))
    if np.all((u_scale >= 2.0 ** -400) & (u_scale <= 2.0 ** 400)):
        return coef, None, formation
    return coef, u_scale, formation


def _root_factor(comoment):
    """An upper triangular ``F`` (p, p) with ``F^T F = comoment``: the
    Cholesky factor of the co-moments scaled to unit diagonal, or where they
    are singular (dependent columns) the pivoted Cholesky factor (LAPACK's
    ``pstrf``, stopped where the remaining diagonal is rounding: ``p eps``)
    put back in the columns' order and made triangular by a QR."""
    p = comoment.shape[0]
    scale = np.sqrt(np.clip(np.diag(comoment), 0.0, None))
    scale = np.where(scale > 0, scale, 1.0)
    scaled = comoment / scale[:, None] / scale[None, :]
    scaled = 0.5 * (scaled + scaled.T)
    try:
        return linalg.cholesky(scaled, check_finite=False) * scale[None, :]
    except linalg.LinAlgError:
        pass
    factor, pivots, rank, info = lapack.dpstrf(scaled, tol=p * np.finfo(float).eps)
    if info < 0:  # pragma: no cover - only for invalid arguments
        raise np.linalg.LinAlgError(f"LAPACK dpstrf failed with info={info}.")
    root = np.zeros((rank, p))
    root[:, pivots - 1] = np.triu(factor)[:rank]
    triangle = np.zeros((p, p))
    if rank:
        triangle[:rank] = linalg.qr(root, mode="r", check_finite=False)[0]
    return triangle * scale[None, :]


def _least_arrowhead_eigenvalue(eigenvalues, couplings):
    """Least eigenvalue of ``[[diag(eigenvalues), a], [a^T, 1]]`` for each
    column ``a`` of ``couplings`` (r, k), ``eigenvalues`` > 0: the root below
    ``min(eigenvalues)`` of the secular equation ``1 - mu - sum a_i^2 /
    (lambda_i - mu) = 0``, by bisection (0 where the matrix is singular)."""
    k = couplings.shape[1]
    squares = couplings ** 2
    high = np.full(k, min(1.0, eigenvalues.min()) if eigenvalues.size else 1.0)
    low = np.zeros(k)

    def secular(mu):
        return 1.0 - mu - np.sum(squares / (eigenvalues[:, None] - mu[None, :]), axis=0)

    if eigenvalues.size == 0:
        return np.ones(k)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        singular = ~(secular(low) > 0)
        for _ in range(64):
            middle = 0.5 * (low + high)
            above = secular(middle) > 0
            low = np.where(above, middle, low)
            high = np.where(above, high, middle)
    return np.where(singular, 0.0, low)


def _to_u(reference, scale, p):
    """``T`` (p, p) with ``u = z T``: ``[phi, y] -> [phi, y - phi b0] * scale``."""
    m = reference.shape[0]
    to_u = np.eye(p)
    to_u[:m, m:] = -reference
    if scale is not None:
        to_u *= scale[None, :]
    return to_u


def _scaled(comoment):
    """The co-moments over their columns of nonzero spread, scaled to unit
    diagonal, and the mask of those columns."""
    spread = np.sqrt(np.clip(np.diag(comoment), 0.0, None))
    live = spread > 0  # constant columns carry no error
    scaled = comoment[np.ix_(live, live)] / np.outer(spread[live], spread[live])
    return 0.5 * (scaled + scaled.T), live


def _error_bound(comoment, n_features, tolerance=None, unit=None):
    """``4 p u / w`` for co-moments ``C`` (p, p) of ``u``: ``w`` the least
    eigenvalue of ``C`` scaled to unit diagonal over the features'
    directions above rounding together with one target at a time (``inf``
    where it is not positive), ``u`` the relative error of the co-moments'
    entries (``eps``, or more where the rows were rounded before their
    products, ``unit``). With a ``tolerance``, ``0.0`` where a Cholesky
    factorisation shows the bound within it at once (the eigendecomposition
    is spared, :func:`_within_at_once`)."""
    m, p = n_features, comoment.shape[0]
    eps = np.finfo(float).eps
    unit = eps if unit is None else max(unit, eps)
    scaled, live = _scaled(comoment)
    if not live.any():
        return 0.0
    n_live = int(live[:m].sum())
    if tolerance is not None and _within_at_once(scaled, n_live, 4 * p * unit / tolerance, p):
        return 0.0
    eigenvalues, vectors = linalg.eigh(scaled[:n_live, :n_live])
    kept = eigenvalues > p * eps * max(1.0, eigenvalues.max(initial=0.0))
    eigenvalues, vectors = eigenvalues[kept], vectors[:, kept]
    least = eigenvalues.min(initial=math.inf)
    if scaled.shape[0] > n_live:
        couplings = vectors.T @ scaled[:n_live, n_live:]
        least = min(least, float(_least_arrowhead_eigenvalue(eigenvalues, couplings).min()))
    return math.inf if not least > 0 else 4 * p * unit / least


def _within_at_once(scaled, n_features, least, p):
    """Whether the least eigenvalue that :func:`_error_bound` reads of
    ``scaled`` (co-moments of unit diagonal, the ``n_features`` features
    first) is above ``least``, shown by Cholesky factorisations alone.

    Over all the columns: ``scaled - least I`` positive definite. Where the
    features are dependent (one-hot columns without a dropped level, a
    spline basis with a bias), over the ``r`` features that a pivoted
    Cholesky factorisation (LAPACK's ``pstrf``) keeps and the targets, the
    others being combinations of the kept ones to within a Schur complement
    ``S`` of norm ``s``:

    * ``s`` within half of ``p eps`` times a lower bound of the largest
      eigenvalue puts the ``m - r`` least eigenvalues of the features
      below the rounding that :func:`_error_bound` drops
      (Courant-Fischer on the complement's subspace), so that its
      directions lie in the range of the exact combinations, up to an angle
      of ``s`` over the gap;
    * on that range and a target the quadratic form is the kept block's
      over a norm no larger (its eigenvalues are at least the kept block's);
    * ``S`` and the targets' covariance with what the combinations leave
      (of norm at most ``sqrt(s)``, the co-moments being positive
      semi-definite) change the form by at most ``s + 2 sqrt(s)``, which the
      kept block must clear besides ``least``.

    ``False`` where neither shows it (the eigendecomposition decides)."""
    eps = np.finfo(float).eps
    try:
        linalg.cholesky(scaled - least * np.eye(scaled.shape[0]), check_finite=False)
        return True
    except linalg.LinAlgError:
        pass
    if n_features < 2:
        return False
    features = scaled[:n_features, :n_features]
    factor, pivots, rank, info = lapack.dpstrf(features, tol=p * eps)
    if info < 0 or not 0 < rank < n_features:  # full rank: the first factorisation said no
        return False
    order = pivots - 1
    coupling = np.triu(factor[:rank])[:, rank:]  # R_12 in the pivoted order
    rest = order[rank:]
    schur = features[np.ix_(rest, rest)] - coupling.T @ coupling
    size = float(np.max(np.abs(linalg.eigvalsh(schur, check_finite=False))))
    # The rounding that _error_bound drops is p eps times the largest
    # eigenvalue, at least 1 (the diagonal) and the Frobenius norm over
    # sqrt(m); half of it leaves room for the rounding of S itself.
    largest = max(1.0, float(np.linalg.norm(features)) / math.sqrt(n_features))
    if not size <= p * eps * largest / 2:
        return False
    kept = np.concatenate([np.sort(order[:rank]), np.arange(n_features, scaled.shape[0])])
    shift = least + size + 2 * math.sqrt(size) + p * eps
    try:
        linalg.cholesky(scaled[np.ix_(kept, kept)] - shift * np.eye(kept.size),
                        check_finite=False)
    except linalg.LinAlgError:
        return False
    return True


def _cell_bound_parts(head, tail, reference, scale, centre, n_features, tolerance):
    """A cell's share of :meth:`ReferencedCells.relative_error`: the
    co-moments of the whole cell (head and tail) in the scaled ``u`` (``None``
    where the tail's products fell below the normal range), the
    :func:`_rounding` of its tail's residuals, its weight, and the relative
    error of its co-moments' entries: ``eps`` from the products, and ``2 eps
    |phi - c| / spread`` from the rounding of ``phi - c`` before them.

    The tail's co-moments carry errors of about ``eps sqrt(C_ii C_jj)``; a
    held-out error of a union of cells is ``v^T C v`` for ``v = [beta - b0;
    -e_j]`` with ``C`` the sum of its cells' co-moments in ``u``. Scaled to
    unit diagonal, the ratio is at most ``4 p eps / w`` with ``w`` the least
    eigenvalue over the directions that such ``v`` take
    (:func:`_error_bound`).
    """
    m, p = n_features, tail.mean.size
    tail_spread = np.diag(tail.comoment)
    tiny_mean = np.abs(tail.mean)
    if (np.any((tail_spread > 0) & (tail_spread < 2.0 ** -900 * tail.weight))
            or np.any((tiny_mean > 0) & (tiny_mean < 2.0 ** -450))):
        # Products in the subnormal range (or below it, as exact zeros): rows
        # far smaller than the head's, whose scale was chosen there.
        return None, None, 0.0, None
    unscale = np.ones(p) if scale is None else scale
    spread = np.sqrt(np.clip(tail_spread[:m], 0.0, None) / tail.weight) / unscale[:m]
    # y - c_y = u_y + (phi - c_phi) b0: its spread is at most u_y's and the
    # features' term's, which _rounding counts twice already.
    u_y = np.sqrt(np.clip(tail_spread[m:], 0.0, None) / tail.weight
                  + tail.mean[m:] ** 2) / unscale[m:]
    about_centre = np.sqrt(spread ** 2 + (tail.mean[:m] / unscale[:m]) ** 2)
    rounding = _rounding(about_centre, reference, u_y)
    # phi - c is rounded to eps |phi - c|: against the tail's own spread, the
    # relative error of its co-moments' entries (rows far from the head, or
    # far smaller than it, lose their spread there).
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(spread > 0, about_centre / spread, 0.0)
    unit = float(np.finfo(float).eps * (1.0 + 2.0 * np.max(ratio, initial=0.0)))
    comoment = tail.comoment
    if head.weight > 0:
        to_u = _to_u(reference, scale, p)
        head_root = head.root @ to_u
        # The head's mean seen from the centre (an exact constant), both parts.
        head_mean = (head.mean - centre) + _low(head)
        correction = (math.sqrt(head.weight * tail.weight / (head.weight + tail.weight))
                      * (tail.mean - head_mean @ to_u))
        comoment = comoment + head_root.T @ head_root + np.outer(correction, correction)
    return comoment, rounding, head.weight + tail.weight, unit


def _head_error_bound(comoment, scale, reference, u_scale, n_features):
    """The bound of :func:`_error_bound` that co-moments like the head's
    (``comoment`` and ``scale`` of :func:`_pooled_comoment`) would have, or
    ``0.0`` where a Cholesky factorisation shows it within
    :data:`PRECISION_TOLERANCE` at once: the forecast, made once the head is
    complete, of whether co-moments of the later rows are worth keeping
    (the bound does not depend on the columns' scale)."""
    p = comoment.shape[0]
    # C_z = C_s / (s s^T); C_u = T^T C_z T, whose scaled form is all the bound reads.
    to_u = _to_u(reference, u_scale, p) / scale[:, None]
    return _error_bound(to_u.T @ comoment @ to_u, n_features, PRECISION_TOLERANCE)


class ReferencedCells:
    """The cells of a stream: a head of exact QR roots, then co-moments about
    the head's reference fit.

    Parameters
    ----------
    head : list of Moments
        QR roots of ``z = [phi, y]``, one per cell, of the first
        ``head_rows`` rows.
    head_rows : int
    n_features : int
        ``m``.
    reference : ndarray of shape (m, k) or None
        ``b0``, once the head is complete.
    scale : ndarray of shape (p,) or None
        Powers of two that multiply the columns of ``u`` before their
        co-moments are formed (``None``: none needed).
    tail : list of Moments or None
        Co-moments of ``u = [phi - c_phi, (y - c_y) - (phi - c_phi) b0] *
        scale``, one per cell, of the rows after the head.
    roots_only : bool, default=False
        The head, once complete, forecast co-moments too imprecise
        (:func:`_head_error_bound`): every row is kept as a root.
    centre : ndarray of shape (p,) or None
        ``c = [c_phi, c_y]``, the head's mean (rounded: an exact constant),
        subtracted from ``z`` before ``u`` is formed, so that ``phi b0`` and
        ``y - phi b0`` are rounded relative to the rows' spread, not to their
        distance from 0 (``y + 1e8``).
    """

    def __init__(self, head, head_rows, n_features, reference=None, scale=None, tail=None,
                 roots_only=False, centre=None):
        self.head, self.head_rows, self.n_features = head, head_rows, n_features
        self.reference, self.scale, self.tail = reference, scale, tail
        self.roots_only = roots_only
        self.centre = centre
        self._head_parts = None  # (weight, mean, diagonal) of the head's cells, when read

    @classmethod
    def empty(cls, n_cells, p, n_features):
        return cls([Moments.empty(p, root=True) for _ in range(n_cells)], 0, n_features)

    @property
    def rows_to_head(self):
        """Rows that the head still takes (0 once the reference is fitted)."""
        if self.roots_only:
            return sys.maxsize
        if self.reference is not None:
            return 0
        # Rows of positive weight: a head of zero weights fits no reference.
        positive = sum(cell.positive for cell in self.head)
        return max(0, reference_rows(self.head[0].mean.size) - positive)

    def with_head(self, cells, n_rows, merged=False):
        """A new state with ``n_rows`` more rows of exact QR roots (``cells``)
        merged into the head (``merged``: ``cells`` already hold the head's
        rows too), its reference fitted once the head is complete (and kept,
        with the tail, once fitted)."""
        if merged:  # checked where they were merged
            head = cells
        else:
            head = [merge_moments(a, b) for a, b in zip(self.head, cells, strict=True)]
            for cell in head:
                check_finite_moments(cell, "the rows")
        state = ReferencedCells(head, self.head_rows + n_rows, self.n_features,
                                self.reference, self.scale, self.tail, self.roots_only,
                                self.centre)
        return state.with_reference()

    def with_reference(self):
        """This state, or a new one with the reference fitted once the head
        is complete."""
        if self.reference is not None or self.rows_to_head > 0:
            return self
        weight = sum(cell.weight for cell in self.head)
        p = self.head[0].mean.size
        if not weight > 0:
            reference, scale = np.zeros((self.n_features, p - self.n_features)), None
            centre = np.zeros(p)
        else:
            comoment, z_scale, mean = _pooled_comoment(self.head)
            centre = mean
            reference, scale, formation = _fit_reference(comoment, z_scale, mean, weight,
                                                         self.n_features)
            if formation > PRECISION_TOLERANCE or _head_error_bound(
                    comoment, z_scale, reference, scale, self.n_features) > PRECISION_TOLERANCE:
                # Co-moments of rows like these would not be exact enough:
                # every row stays a root (one pass, at the price of roots).
                return ReferencedCells(self.head, self.head_rows, self.n_features,
                                       roots_only=True)
        return ReferencedCells(self.head, self.head_rows, self.n_features, reference, scale,
                               self.tail, centre=centre)

    def with_tail(self, cells, merged=False):
        """A new state with the co-moments ``cells`` of ``u`` merged
        (``merged``: ``cells`` already hold the tail's rows too)."""
        if self.reference is None:
            raise ValueError("rows after the head need the reference fit of a complete head")
        if merged or self.tail is None:  # checked where they were formed
            tail = cells
        else:
            tail = [merge_moments(a, b) for a, b in zip(self.tail, cells, strict=True)]
            for cell in tail:
                check_finite_moments(cell, "the rows")
        state = ReferencedCells(self.head, self.head_rows, self.n_features, self.reference,
                                self.scale, tail, centre=self.centre)
        state._head_parts = self._head_parts  # the same head
        return state

    def __setstate__(self, state):
        # States pickled before the centre existed formed u about 0.
        self.__dict__.update(state)
        self.__dict__.setdefault("_head_parts", None)
        if "centre" not in state:
            self.centre = (None if self.reference is None
                           else np.zeros(self.head[0].mean.size))

    def head_parts(self):
        """``(weight, mean, diagonal)`` of each head cell of positive weight
        (what :func:`check_poolable` reads; kept while the head is)."""
        if self._head_parts is None:
            self._head_parts = [(cell.weight, cell.mean, cell_diagonal(cell))
                                for cell in self.head if cell.weight > 0]
        return self._head_parts

    def tail_in_z(self):
        """``(weight, mean, diagonal)`` of each tail cell in the coordinates
        of ``z = [phi, y]`` (the diagonal of ``y`` bounded by the triangle
        inequality through ``y - c_y = u_y + (phi - c_phi) b0``), without
        factoring the cells: what :func:`check_poolable` reads."""
        if self.tail is None:
            return []
        m, b0 = self.n_features, self.reference
        unscale = np.ones(self.head[0].mean.size) if self.scale is None else self.scale
        parts = []
        with np.errstate(over="ignore", invalid="ignore"):
            for tail in self.tail:
                if not tail.weight > 0:
                    continue
                mean = (tail.mean + _low(tail)) / unscale
                spread = np.sqrt(np.clip(np.diag(tail.comoment), 0.0, None)) / unscale
                z_mean = self.centre + mean
                z_mean[m:] += mean[:m] @ b0
                z_spread = spread.copy()
                z_spread[m:] += spread[:m] @ np.abs(b0)
                parts.append((tail.weight, z_mean, z_spread ** 2))
        return parts

    @property
    def weight(self):
        parts = self.head + (self.tail or [])
        return sum(part.weight for part in parts)

    @property
    def n_cells(self):
        return len(self.head)

    def relative_error(self, groups=None):
        """Bound on the relative error of the held-out squared errors that
        the cells give (0 without a tail; ``inf`` where the co-moments
        underflowed or a direction the errors take is singular).

        Parameters
        ----------
        groups : list of sequences of int, default=None
            The cells that each split holds out together (its held-out
            errors are sums over them, bounded together: a cell of one row
            is singular alone, not in its fold); ``None``: each cell alone.
        """
        return self._bound(groups)

    def precise(self, groups=None):
        """Whether :meth:`relative_error` is within
        :data:`PRECISION_TOLERANCE` (by a Cholesky factorisation of a group
        where it suffices)."""
        return self._bound(groups, PRECISION_TOLERANCE) <= PRECISION_TOLERANCE

    def _bound(self, groups=None, tolerance=None):
        if self.tail is None:
            return 0.0
        if groups is None:
            groups = [[cell] for cell in range(self.n_cells)]
        m = self.n_features
        unscale = np.ones(self.head[0].mean.size) if self.scale is None else self.scale
        parts = {}
        worst = 0.0
        for group in groups:
            cells = [cell for cell in group if self.tail[cell].weight > 0]  # no tail, no error
            for cell in cells:
                if cell not in parts:
                    parts[cell] = _cell_bound_parts(self.head[cell], self.tail[cell],
                                                    self.reference, self.scale, self.centre, m,
                                                    tolerance)
            if not cells:
                continue
            if any(parts[cell][0] is None for cell in cells):
                return math.inf  # underflow
            comoment = sum(parts[cell][0] for cell in cells)
            weight = sum(parts[cell][2] for cell in cells)
            residual = np.sqrt(np.clip(np.diag(comoment)[m:], 0.0, None) / weight) / unscale[m:]
            rounding = np.max([parts[cell][1] for cell in cells], axis=0)
            worst = max(worst, _formation_error(rounding, residual))
            if worst > (PRECISION_TOLERANCE if tolerance is None else tolerance):
                return worst
            unit = max(parts[cell][3] for cell in cells)
            worst = max(worst, _error_bound(comoment, m, tolerance, unit))
        return worst

    def cells(self):
        """The cells as QR-root Moments of ``z`` (formed anew at each call:
        nothing is cached, so that the state is pickled at its size)."""
        if self.tail is None:
            return list(self.head)
        m, b0 = self.n_features, self.reference
        cells = []
        for head, tail in zip(self.head, self.tail, strict=True):
            p = head.mean.size
            if not tail.weight > 0:
                cells.append(merge_moments(head, Moments(0.0, tail.count, tail.positive,
                                                         np.zeros(p), root=np.zeros((p, p)))))
                continue
            root, mean, low = _root_factor(tail.comoment), tail.mean.copy(), _low(tail).copy()
            if self.scale is not None:  # back from the scaled u: roots, not squares
                root /= self.scale[None, :]
                mean /= self.scale
                low /= self.scale
            # Upper triangular still: [[I, b0], [0, I]] is.
            root[:, m:] += root[:, :m] @ b0
            mean[m:] += mean[:m] @ b0
            low[m:] += low[:m] @ b0
            # The centre back, an exact constant: the mean in two parts.
            mean, error = _two_sum(self.centre, mean)
            cells.append(merge_moments(head, Moments(tail.weight, tail.count, tail.positive,
                                                     mean, root=root, mean_low=low + error)))
        return cells
