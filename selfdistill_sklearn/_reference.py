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
  centred least-squares coefficients of the head (a truncated SVD solve);
* every later row is kept, cell by cell, as centred co-moments (Chan, Golub
  and LeVeque's merge, one ``syrk`` a block) of ``u = [phi, y - phi b0]``:
  its target columns are the residuals of the reference, of the size of the
  held-out errors rather than of ``y``, so that the quadratic form no longer
  cancels;
* when the cells are read, each cell's co-moments ``C_u`` are factored,
  equilibrated (``C_u = D^1/2 C D^1/2``, ``C`` of unit diagonal, then
  ``C = V diag(w) V^T``) into a root ``F_u = diag(w)^1/2 V^T D^1/2``,
  taken back to ``z = [phi, y]`` by ``F_z = F_u [[I, b0], [0, I]]``
  (``u = z [[I, -b0], [0, I]]``), made triangular and merged with the
  head's root: the cells are the QR-root
  :class:`~selfdistill_sklearn._primal.Moments` that the search reads, to
  the precision stated below.

**Precision.** The co-moments of a cell carry an error of about ``eps``
times ``sqrt(C_ii C_jj)`` in entry ``(i, j)``, and the equilibrated factor
one of about ``p eps`` in norm (``C`` has unit diagonal, so ``||C|| <= p``).
For any coefficients, the held-out squared error ``v^T C_u v`` is then
exact to a relative ``4 p eps ||D^1/2 v||^2 / v^T C_u v <= 4 p eps /
w_min``, ``w_min`` the least eigenvalue of the equilibrated co-moments
(:meth:`ReferencedCells.relative_error`). Where that exceeds
:data:`PRECISION_TOLERANCE` (features that are nearly collinear, whose
co-moments lose what their roots keep), ``fit`` forms the cells again with
exact QR roots in a second pass, and ``partial_fit``, which cannot see the
rows again, warns.

Nothing here knows about scikit-learn, blocks or where the rows come from.
"""

import math
from functools import reduce

import numpy as np
from scipy import linalg

from ._primal import Moments, merge_moments

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


def _fit_reference(head, n_features):
    """Centred least-squares coefficients ``b0`` (m, k) of the pooled head
    roots; directions below ``1e-8`` of the largest singular value are
    dropped (the reference need not be exact, only not wild)."""
    pooled = reduce(merge_moments, head)
    m = n_features
    root = pooled.root
    if not pooled.weight > 0:
        return np.zeros((m, root.shape[1] - m))
    coef, _, _, _ = linalg.lstsq(root[:, :m], root[:, m:], cond=1e-8,
                                 lapack_driver="gelsd")
    return coef


def _equilibrated_factor(comoment):
    """``F`` with ``F^T F = comoment``, from the eigendecomposition of the
    co-moments scaled to unit diagonal, and the least eigenvalue of that
    scaled matrix over its columns of nonzero spread (``inf`` without any)."""
    p = comoment.shape[0]
    scale = np.sqrt(np.clip(np.diag(comoment), 0.0, None))
    spread = scale > 0
    scale = np.where(spread, scale, 1.0)
    scaled = comoment / scale[:, None] / scale[None, :]
    scaled = 0.5 * (scaled + scaled.T)
    eigenvalues, vectors = linalg.eigh(scaled)
    factor = (np.sqrt(np.clip(eigenvalues, 0.0, None))[:, None] * vectors.T) * scale[None, :]
    if not spread.any():
        return np.zeros((p, p)), math.inf
    if spread.all():
        least = eigenvalues[0]
    else:
        least = linalg.eigvalsh(scaled[np.ix_(spread, spread)], subset_by_index=[0, 0])[0]
    return factor, float(least)


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
    tail : list of Moments or None
        Co-moments of ``u = [phi, y - phi b0]``, one per cell, of the rows
        after the head.
    """

    def __init__(self, head, head_rows, n_features, reference=None, tail=None):
        self.head, self.head_rows, self.n_features = head, head_rows, n_features
        self.reference, self.tail = reference, tail
        self._cells = self._factors = None

    @classmethod
    def empty(cls, n_cells, p, n_features):
        return cls([Moments.empty(p, root=True) for _ in range(n_cells)], 0, n_features)

    @property
    def rows_to_head(self):
        """Rows that the head still takes (0 once the reference is fitted)."""
        if self.reference is not None:
            return 0
        return max(0, reference_rows(self.head[0].mean.size) - self.head_rows)

    def with_head(self, cells, n_rows):
        """A new state with ``n_rows`` more rows of exact QR roots (``cells``)
        merged into the head, its reference fitted once the head is complete
        (and kept, with the tail, once fitted)."""
        head = [merge_moments(a, b) for a, b in zip(self.head, cells, strict=True)]
        state = ReferencedCells(head, self.head_rows + n_rows, self.n_features,
                                self.reference, self.tail)
        return state.with_reference()

    def with_reference(self):
        """This state, or a new one with the reference fitted once the head
        is complete."""
        if self.reference is not None or self.rows_to_head > 0:
            return self
        return ReferencedCells(self.head, self.head_rows, self.n_features,
                               _fit_reference(self.head, self.n_features), self.tail)

    def with_tail(self, cells):
        """A new state with the co-moments ``cells`` of ``u`` merged."""
        if self.reference is None:
            raise ValueError("rows after the head need the reference fit of a complete head")
        tail = cells if self.tail is None else [
            merge_moments(a, b) for a, b in zip(self.tail, cells, strict=True)]
        return ReferencedCells(self.head, self.head_rows, self.n_features, self.reference,
                               tail)

    @property
    def weight(self):
        parts = self.head + (self.tail or [])
        return sum(part.weight for part in parts)

    def _tail_factors(self):
        """Each tail cell's equilibrated factor and least eigenvalue (formed once)."""
        if self._factors is None:
            self._factors = [_equilibrated_factor(cell.comoment) if cell.weight > 0
                             else (None, math.inf) for cell in self.tail or []]
        return self._factors

    def relative_error(self):
        """Bound on the relative error of any held-out squared error of the
        cells, ``4 p eps / w_min`` over the tail's cells (0 without a tail)."""
        least = min([least for _, least in self._tail_factors()], default=math.inf)
        p = self.head[0].mean.size
        if least == math.inf:
            return 0.0
        return math.inf if not least > 0 else 4 * p * np.finfo(float).eps / least

    @property
    def precise(self):
        """Whether :meth:`relative_error` is within :data:`PRECISION_TOLERANCE`."""
        return self.relative_error() <= PRECISION_TOLERANCE

    def cells(self):
        """The cells as QR-root Moments of ``z`` (formed once)."""
        if self._cells is None:
            self._cells = self._form_cells()
        return self._cells

    def _form_cells(self):
        if self.tail is None:
            return list(self.head)
        m, b0 = self.n_features, self.reference
        cells = []
        for head, tail, (factor, _) in zip(self.head, self.tail, self._tail_factors(),
                                           strict=True):
            if not tail.weight > 0:
                cells.append(merge_moments(head, tail_as_root(tail, head.mean.size)))
                continue
            root = factor.copy()
            root[:, m:] += factor[:, :m] @ b0
            mean = tail.mean.copy()
            mean[m:] += tail.mean[:m] @ b0
            root = linalg.qr(root, mode="r", check_finite=False)[0]
            cells.append(merge_moments(head, Moments(tail.weight, tail.count, tail.positive,
                                                     mean, root=np.triu(root))))
        return cells


def tail_as_root(tail, p):
    """A tail cell of no weight as QR-root Moments (its rows' count only)."""
    return Moments(0.0, tail.count, tail.positive, np.zeros(p), root=np.zeros((p, p)))
