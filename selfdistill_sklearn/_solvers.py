"""Factorisations of the kernel ridge system ``K + lambda W^-1``.

One factorisation serves every self-distillation step (Theorem 4.1): the
objects here are built once from the kernel matrix and then solve for any
number of target vectors. Sample weights ``w`` enter through the scaling
``S = diag(sqrt(w))``: the system ``S K S + lambda I`` is symmetric positive
definite for ``lambda > 0`` and stays well defined for zero weights, as in
scikit-learn's ``KernelRidge``.
"""

import warnings

import numpy as np
from scipy import linalg
from scipy.linalg import blas, lapack

from .closed_forms import intercept_solver

__all__ = [
    "HeldOutInverse",
    "KernelRidgeFactorization",
    "TridiagonalForm",
    "centre_kernel",
    "factorize",
    "negligible_eigenvalues",
    "weighted_centred_kernel_eigh",
    "weighted_kernel_eigh",
    "weighted_kernel_tridiagonal",
]


def _sqrt_weights(sample_weight, n_samples):
    if sample_weight is None:
        return None
    return np.sqrt(np.asarray(sample_weight, dtype=float)).reshape(n_samples)


def _scale_in_place(matrix, sqrt_w):
    """``S K S`` in the memory of ``K``; ``sqrt_w`` None means no weights."""
    if sqrt_w is not None:
        matrix *= sqrt_w[:, None]
        matrix *= sqrt_w[None, :]
    return matrix


class KernelRidgeFactorization:
    """Kernel ridge regression on a fixed kernel matrix, for many targets.

    Factors ``M = S K S + lambda I`` once: a Cholesky factorisation
    (``n^3 / 3`` flops) and, when the kernel matrix is not positive
    semi-definite (a sigmoid kernel, an indefinite callable), an LU
    factorisation. Each call then costs two triangular solves.

    When ``M`` is numerically singular (its reciprocal condition number,
    estimated by LAPACK, is below the machine epsilon: a tiny ``lambda`` on a
    rank-deficient kernel, or ``lambda`` equal to minus an eigenvalue of an
    indefinite one), the solution of the factorisation would be NaN or
    rounding noise. As ``KernelRidge`` does, the least-squares solution of
    minimum norm is used instead, with a :class:`scipy.linalg.LinAlgWarning`:
    from the eigendecomposition ``M = V diag(m) V^T``, eigenvalues with
    ``|m| <= n eps max |m|`` count as zero (``8 n^3 / 3`` more flops, paid
    only then).

    With ``fit_intercept`` every call solves the bordered system
    ``[[M, s], [s^T, 0]] [S^-1 c; b] = [S u; 0]`` with ``s = sqrt(w)``: from
    the factorisation of ``M`` by
    :func:`~selfdistill_sklearn.closed_forms.intercept_solver` when ``M`` and
    the bordered system are regular. Otherwise ``M`` is diagonalised on the
    complement of ``s`` (``E^T M E = diag(m)``, ``E`` orthonormal and
    orthogonal to ``s``, as the centred kernel of
    :func:`weighted_centred_kernel_eigh`), and ``S^-1 c = E diag(1 / m)
    E^T S u`` with negligible ``m`` counted as zero, and ``b`` the weighted
    mean of ``u - K c``, the intercept that is optimal for ``c``. This is the
    least-squares solution of the centred model, which a constant added to
    ``u`` moves by that constant; where ``M`` is positive semi-definite it is
    also the minimum-norm least-squares solution of the bordered system. The
    warning is given only when the system on the complement is singular:
    where only ``M`` is (along ``s``), the bordered system has an exact
    solution and this is it.

    Parameters
    ----------
    kernel_matrix : ndarray of shape (n, n)
        The symmetric kernel matrix ``K``.
    reg_lambda : float
        Ridge penalty ``lambda > 0``.
    sample_weight : ndarray of shape (n,), default=None
        Non-negative weights of the squared errors.
    overwrite_kernel : bool, default=False
        Factor in the memory of ``kernel_matrix`` (which is then destroyed)
        instead of a copy; this keeps the peak memory of a fit at one
        ``n x n`` matrix. A matrix that needs more than a Cholesky
        factorisation then raises :class:`numpy.linalg.LinAlgError` (see
        :func:`factorize`, which starts again from a copy), and so does a
        singular system with ``fit_intercept``.
    fit_intercept : bool, default=False
        Fit an unpenalised intercept ``b`` too (see above).

    Attributes
    ----------
    method : {"cholesky", "lu", "lstsq"}
        The factorisation that was used; ``"lstsq"`` with ``fit_intercept``
        when the bordered system needed the eigendecomposition on the
        complement of ``s``.
    """

    def __init__(self, kernel_matrix, reg_lambda, sample_weight=None,
                 overwrite_kernel=False, fit_intercept=False):
        n = self._n = kernel_matrix.shape[0]
        self.reg_lambda = float(reg_lambda)
        self.fit_intercept = bool(fit_intercept)
        self._sqrt_w = _sqrt_weights(sample_weight, n)
        self._with_intercept = None
        system = _scale_in_place(
            kernel_matrix if overwrite_kernel else np.array(kernel_matrix, dtype=float),
            self._sqrt_w)
        system.flat[:: n + 1] += self.reg_lambda
        norm = _one_norm(system)
        backup = None if overwrite_kernel else system.copy()
        try:
            # The transpose of a C-ordered symmetric matrix is the same matrix
            # in Fortran order, which LAPACK factors in place without a copy.
            self._factor = linalg.cho_factor(system.T, lower=False, overwrite_a=True,
                                             check_finite=False)
            self.method = "cholesky"
            if _regular(lapack.dpocon(self._factor[0], norm)) and self._border():
                return
        except linalg.LinAlgError:
            pass
        if backup is None:
            raise linalg.LinAlgError(
                "The kernel ridge system is not numerically positive definite, or its "
                "bordered system is singular; factor a copy.")
        lu, piv, info = lapack.dgetrf(backup, overwrite_a=False)
        if info == 0 and _regular(lapack.dgecon(lu, norm)):
            self._factor, self.method = (lu, piv), "lu"
            if self._border():
                return
        self.method = "lstsq"
        if self.fit_intercept:
            self._factor = _centred_pseudo_inverse_factor(backup, self._sqrt_w)
            if not self._factor[-1]:
                return
            warnings.warn(
                f"The kernel ridge system with an intercept, S K S + lambda I with "
                f"lambda={self.reg_lambda!r} bordered by sqrt(w), is numerically singular: "
                "using the least-squares solution of minimum norm of the centred system "
                "(the model's unpenalised intercept fitted exactly), as KernelRidge does "
                "without intercept. A larger reg_lambda (or, for an indefinite kernel, "
                "another one) avoids this.",
                linalg.LinAlgWarning, stacklevel=3,
            )
            return
        self._factor = _pseudo_inverse_factor(backup)
        warnings.warn(
            f"The kernel ridge system S K S + lambda I with lambda={self.reg_lambda!r} is "
            "numerically singular: using its least-squares solution of minimum norm, as "
            "KernelRidge does. A larger reg_lambda (or, for an indefinite kernel, another "
            "one) avoids this.",
            linalg.LinAlgWarning, stacklevel=3,
        )

    def _border(self):
        """With an intercept, the bordered solver of
        :func:`~selfdistill_sklearn.closed_forms.intercept_solver` on the
        regular factorisation; False when its bordered system is numerically
        singular (``1^T R 1`` vanishes, which an indefinite kernel can do)."""
        if not self.fit_intercept:
            return True
        try:
            self._with_intercept = intercept_solver(self._solve_without_intercept, self._n)
        except np.linalg.LinAlgError:
            return False
        return True

    def _solve_system(self, rhs):
        """``(M^+ rhs, P rhs)`` with ``P`` the projection onto the range of ``M``
        (the identity unless ``M`` is singular)."""
        if self.method == "cholesky":
            return linalg.cho_solve(self._factor, rhs, check_finite=False), rhs
        if self.method == "lu":
            return linalg.lu_solve(self._factor, rhs, check_finite=False), rhs
        vectors, inverse = self._factor
        coordinates = vectors.T @ rhs
        kept = (inverse != 0).reshape((-1,) + (1,) * (coordinates.ndim - 1))
        inverse = inverse.reshape(kept.shape)
        return vectors @ (inverse * coordinates), vectors @ np.where(kept, coordinates, 0.0)

    def __call__(self, targets):
        """Fit kernel ridge regression on ``targets``.

        Parameters
        ----------
        targets : ndarray of shape (n,) or (n, k)

        Returns
        -------
        dual_coef : ndarray of the shape of ``targets``
            ``c = (K + lambda W^-1)^-1 u`` (eq. (2) with the representer
            theorem); the least-squares solution of minimum norm when the
            system is singular.
        fitted : ndarray of the shape of ``targets``
            Training predictions ``K c = u - lambda W^-1 c`` (``P u - lambda
            W^-1 c`` with the projection ``P`` onto the range of a singular
            system), obtained without a product with ``K``. Entries of
            zero-weight samples are set to 0: they never influence a fit,
            since their targets are multiplied by a zero weight.

        With ``fit_intercept``, ``dual_coef`` has ``n + 1`` rows, the intercept
        ``b`` in the last (so that ``[K_new, 1] @ dual_coef`` predicts), and
        ``fitted`` is ``K c + b``.
        """
        if not self.fit_intercept:
            return self._solve_without_intercept(targets)
        if self.method != "lstsq":
            return self._with_intercept(targets)
        return self._centred_solve(targets)

    def _solve_without_intercept(self, targets):
        u = np.asarray(targets, dtype=float)
        if self._sqrt_w is None:
            dual_coef, projected = self._solve_system(u)
            return dual_coef, projected - self.reg_lambda * dual_coef
        s = self._sqrt_w if u.ndim == 1 else self._sqrt_w[:, None]
        scaled, projected = self._solve_system(s * u)
        with np.errstate(divide="ignore", invalid="ignore"):
            fitted = np.where(s > 0, (projected - self.reg_lambda * scaled) / s, 0.0)
        return s * scaled, fitted


    def _centred_solve(self, targets):
        """The intercept model on a singular system: the least-squares solution
        of minimum norm of the system on the complement of ``s = sqrt(w)``,
        ``S c`` orthogonal to ``s``, and the intercept that is optimal for it,
        the weighted mean of the residual ``u - K c``."""
        system, vectors, inverse, _ = self._factor
        u = np.asarray(targets, dtype=float)
        n = system.shape[0]
        s = np.ones(n) if self._sqrt_w is None else self._sqrt_w
        column = s if u.ndim == 1 else s[:, None]
        scaled = column * u
        coordinates = vectors.T @ scaled
        solution = vectors @ (inverse.reshape((-1,) + (1,) * (u.ndim - 1)) * coordinates)
        product = system @ solution
        # s^T solution = 0, so s^T M solution = s^T S K S solution: the
        # intercept zeroes the weighted sum of the training residuals.
        intercept = s @ (scaled - product) / float(s @ s)
        with np.errstate(divide="ignore", invalid="ignore"):
            fitted = np.where(column > 0,
                              (product - self.reg_lambda * solution) / column, 0.0) + intercept
        return np.concatenate([column * solution, np.asarray(intercept)[None]]), fitted


def _one_norm(matrix):
    """The 1-norm (largest absolute row sum, equal to the column sum of a
    symmetric matrix) for LAPACK's condition estimates, by blocks of rows so
    that no ``n x n`` temporary adds to the peak memory."""
    step = max(1, 2 ** 15 // max(matrix.shape[1], 1))
    return max((float(np.max(np.sum(np.abs(matrix[start:start + step]), axis=1)))
                for start in range(0, matrix.shape[0], step)), default=0.0)


def _regular(condition):
    """Whether LAPACK's estimate ``(rcond, info)`` says the system is not
    numerically singular."""
    rcond, info = condition
    return info == 0 and rcond >= np.finfo(float).eps


def negligible_eigenvalues(eigenvalues):
    """Which eigenvalues of a symmetric ``n x n`` matrix are rounding: ``|m| <= n
    eps max |m|``, the cutoff of :func:`scipy.linalg.lstsq` and of this
    package's least-squares fallbacks.

    Parameters
    ----------
    eigenvalues : ndarray of shape (n,)

    Returns
    -------
    negligible : ndarray of bool, shape (n,)
    """
    eigenvalues = np.asarray(eigenvalues, dtype=float)
    cutoff = eigenvalues.size * np.finfo(float).eps * np.max(np.abs(eigenvalues), initial=0.0)
    return np.abs(eigenvalues) <= cutoff


def _pseudo_inverse_factor(system):
    """``(V, 1 / m)`` of ``system = V diag(m) V^T``, zero where ``|m| <= n eps
    max |m|``: the least-squares solution of minimum norm is ``V diag(1 / m)
    V^T u``, as :func:`scipy.linalg.lstsq` gives it."""
    eigenvalues, vectors = linalg.eigh(system, check_finite=False)
    inverse = np.zeros_like(eigenvalues)
    kept = ~negligible_eigenvalues(eigenvalues)
    inverse[kept] = 1.0 / eigenvalues[kept]
    return vectors, inverse


def _centred_pseudo_inverse_factor(system, sqrt_w):
    """``(M, E, 1 / m, singular)`` for the pseudo-inverse of ``M = S K S +
    lambda I`` on the complement of ``s = sqrt(w)``: ``E^T M E = diag(m)``
    with ``E`` (n, n - 1) an orthonormal basis of that complement, ``1 / m``
    zero where ``|m|`` is below ``n eps`` times the scale of ``M``,
    ``singular`` whether any was."""
    n = system.shape[0]
    v, beta = _constant_complement(sqrt_w, n)
    reflected = _reflect(np.array(system, dtype=float), v, beta)
    eigenvalues, inner = linalg.eigh(reflected[1:, 1:], check_finite=False)
    # Relative to M, not to its block on the complement (whose eigenvalues may
    # all be rounding): the first column of H M H is H M s / ||s||, so that
    # max(|m|, ||M s|| / ||s||) <= ||M||_2 is a scale of M at no cost.
    scale = max(np.max(np.abs(eigenvalues), initial=0.0), np.linalg.norm(reflected[:, 0]))
    cutoff = n * np.finfo(float).eps * scale
    kept = np.abs(eigenvalues) > cutoff
    inverse = np.zeros_like(eigenvalues)
    inverse[kept] = 1.0 / eigenvalues[kept]
    return system, _complement_vectors(inner, v, beta), inverse, not np.all(kept)


def factorize(make_kernel, reg_lambda, sample_weight=None, owns_kernel=True,
              fit_intercept=False):
    """Factor the kernel ridge system with the least memory that works.

    Parameters
    ----------
    make_kernel : callable
        ``make_kernel() -> K``. Called once; called a second time only when
        ``K`` turns out not to be (numerically) positive definite, or with an
        intercept its bordered system singular, after the in-place Cholesky
        factorisation destroyed the first copy.
    reg_lambda : float
    sample_weight : ndarray of shape (n,), default=None
    owns_kernel : bool, default=True
        Whether the matrix returned by ``make_kernel`` may be overwritten
        (``False`` for a user's precomputed kernel).
    fit_intercept : bool, default=False
        Solve with an unpenalised intercept (see
        :class:`KernelRidgeFactorization`).

    Returns
    -------
    factorization : KernelRidgeFactorization
    """
    if owns_kernel:
        try:
            return KernelRidgeFactorization(make_kernel(), reg_lambda, sample_weight,
                                            overwrite_kernel=True,
                                            fit_intercept=fit_intercept)
        except linalg.LinAlgError:
            pass
    return KernelRidgeFactorization(make_kernel(), reg_lambda, sample_weight,
                                    overwrite_kernel=False, fit_intercept=fit_intercept)


def weighted_kernel_eigh(kernel_matrix, sample_weight=None):
    """Eigendecomposition of ``S K S`` with ``S = diag(sqrt(w))``.

    The eigen form of Lemma 4.2 (the paper's eqs. (8)-(13)): with ``S K S =
    V diag(d) V^T``, the weighted kernel ridge fit on targets ``u`` has dual
    coefficients ``S V diag(1 / (d + lambda)) V^T S u`` for every ``lambda``
    at once.

    Parameters
    ----------
    kernel_matrix : ndarray of shape (n, n)
    sample_weight : ndarray of shape (n,), default=None

    Returns
    -------
    eigenvalues : ndarray of shape (n,)
        In ascending order; negative values within rounding of zero are set to
        0 (an indefinite kernel keeps its genuinely negative ones).
    eigenvectors : ndarray of shape (n, n)
        Orthonormal columns.
    """
    n = kernel_matrix.shape[0]
    matrix = _scale_in_place(np.array(kernel_matrix, dtype=float),
                             _sqrt_weights(sample_weight, n))
    # Divide and conquer: a fifth faster than the default MRRR driver on
    # matrices of thousands of rows, with the same orthogonality.
    eigenvalues, eigenvectors = linalg.eigh(matrix, overwrite_a=True, check_finite=False,
                                            driver="evd")
    rounding = n * np.finfo(float).eps * max(abs(eigenvalues[-1]), abs(eigenvalues[0]), 0.0)
    eigenvalues[(eigenvalues < 0) & (eigenvalues > -rounding)] = 0.0
    return eigenvalues, eigenvectors


def centre_kernel(kernel_matrix, sample_weight=None, test_kernel=None, overwrite=False):
    """The kernel of features centred by their weighted mean.

    With ``p = w / sum(w)`` and ``phi`` the feature map of the kernel, the
    centred features ``phi(x) - sum_i p_i phi(x_i)`` have the kernel
    ``K_c = (I - 1 p^T) K (I - p 1^T)`` on the training samples and
    ``K_t - (K_t p) 1^T - 1 (K p)^T + p^T K p`` between other samples and
    them. Kernel ridge regression with an unpenalised intercept (the
    bordered system of
    :func:`~selfdistill_sklearn.closed_forms.intercept_solver`) is kernel
    ridge regression without intercept on ``K_c`` and the targets less
    their weighted mean, plus that mean: the intercept model does not
    change when every feature is shifted by a constant, and on centred
    features and targets its intercept is the mean.

    Parameters
    ----------
    kernel_matrix : ndarray of shape (n, n)
        The symmetric training kernel matrix ``K``.
    sample_weight : ndarray of shape (n,), default=None
        Non-negative weights, not all zero; ``None`` centres by the plain mean.
    test_kernel : ndarray of shape (m, n), default=None
        Kernel ``K_t`` between other samples and the training samples.
    overwrite : bool, default=False
        Centre ``kernel_matrix`` in its own memory (and ``test_kernel`` in
        its).

    Returns
    -------
    centred : ndarray of shape (n, n)
        ``K_c``.
    centred_test : ndarray of shape (m, n) or None
        The centred ``test_kernel``, when one is given.
    """
    n = kernel_matrix.shape[0]
    p = (np.full(n, 1.0 / n) if sample_weight is None
         else np.asarray(sample_weight, dtype=float) / np.sum(sample_weight))
    K = kernel_matrix if overwrite else np.array(kernel_matrix, dtype=float)
    means = K @ p
    grand = float(p @ means)
    K -= means[:, None]
    K -= means[None, :]
    K += grand
    if test_kernel is None:
        return K, None
    test = test_kernel if overwrite else np.array(test_kernel, dtype=float)
    test_means = test @ p
    test -= test_means[:, None]
    test -= means[None, :]
    test += grand
    return K, test


def _constant_complement(sqrt_w, n):
    """A Householder reflector ``H = I - beta v v^T`` whose first column is
    ``+-s / ||s||`` (``s = sqrt(w)``, ones without weights), as ``(v, beta)``:
    its other ``n - 1`` columns are an orthonormal basis of the complement of
    ``s``, the directions an unpenalised intercept does not reach."""
    s = np.ones(n) if sqrt_w is None else np.asarray(sqrt_w, dtype=float)
    v = s / np.linalg.norm(s)
    # The sign that avoids cancellation in v[0].
    v[0] += 1.0 if v[0] >= 0 else -1.0
    return v, 2.0 / float(v @ v)


def weighted_centred_kernel_eigh(kernel_matrix, sample_weight=None):
    """Eigendecomposition of ``S K S`` on the complement of ``s = sqrt(w)``.

    With an unpenalised intercept, kernel ridge regression on ``K`` is kernel
    ridge regression without intercept on the weighted-centred kernel
    ``K_c = (I - 1 w^T / sum(w)) K (I - w 1^T / sum(w))`` and centred
    targets, plus the weighted mean (see
    :func:`~selfdistill_sklearn.closed_forms.intercept_solver`);
    ``S K_c S = H S K S H`` with ``H`` the orthogonal projection onto the complement of ``s``.
    The direction ``s`` itself carries the intercept and is not shrunk at all;
    the eigen form of eqs. (8)-(13) applies on its complement, whose
    ``n - 1`` eigenpairs are returned (computed on an orthonormal basis of
    the complement, so that a zero eigenvalue of ``K_c`` is never confused
    with the direction of the intercept).

    Parameters
    ----------
    kernel_matrix : ndarray of shape (n, n)
    sample_weight : ndarray of shape (n,), default=None

    Returns
    -------
    eigenvalues : ndarray of shape (n - 1,)
        In ascending order, rounding of zero cleared as in
        :func:`weighted_kernel_eigh`.
    eigenvectors : ndarray of shape (n, n - 1)
        Orthonormal columns, each orthogonal to ``s``.
    """
    n = kernel_matrix.shape[0]
    sqrt_w = _sqrt_weights(sample_weight, n)
    matrix = _scale_in_place(np.array(kernel_matrix, dtype=float), sqrt_w)
    v, beta = _constant_complement(sqrt_w, n)
    eigenvalues, inner = weighted_kernel_eigh(_reflect(matrix, v, beta)[1:, 1:])
    return eigenvalues, _complement_vectors(inner, v, beta)


def _reflect(matrix, v, beta):
    """``H M H`` in the memory of ``M`` for the reflector ``H = I - beta v
    v^T``, in ``O(n^2)``: a symmetric rank-two update."""
    mv = matrix @ v
    correction = mv - 0.5 * beta * float(v @ mv) * v
    matrix -= beta * (np.outer(v, correction) + np.outer(correction, v))
    return matrix


def _complement_vectors(inner, v, beta):
    """``H [0; inner]``: coordinates on the last ``n - 1`` columns of the
    reflector of :func:`_constant_complement` as vectors of all ``n``
    samples, orthogonal to ``s``."""
    n = v.size
    vectors = np.zeros((n, inner.shape[1]))
    vectors[1:] = inner
    vectors -= beta * np.outer(v, v[1:] @ inner)
    return vectors


class TridiagonalForm:
    """A symmetric matrix as ``Q T Q^T``, ``Q`` orthogonal, ``T`` tridiagonal.

    Every ``(T + mu I)^-1`` costs ``O(n)`` per column, so that kernel ridge
    regression on the matrix ``Q T Q^T`` is cheap for every penalty ``mu``
    once the form is known: ``(Q T Q^T + mu I)^-1 = Q (T + mu I)^-1 Q^T``.
    This is what the eigen form ``V diag(d) V^T`` of the paper's eqs. (8)-(13)
    does with a diagonal ``T``, and an eigendecomposition is one (with zero
    off-diagonal, see :meth:`from_eigh`); the Householder reduction that
    yields a tridiagonal ``T`` (:func:`weighted_kernel_tridiagonal`) is the
    first and cheaper half of an eigendecomposition.

    Parameters
    ----------
    basis : ndarray of shape (n, n)
        ``Q``, orthonormal columns.
    diagonal : ndarray of shape (n,)
        Diagonal of ``T``.
    off_diagonal : ndarray of shape (n - 1,)
        Sub- and super-diagonal of ``T``.
    """

    def __init__(self, basis, diagonal, off_diagonal):
        self.basis = basis
        self.diagonal = np.asarray(diagonal, dtype=float)
        self.off_diagonal = np.asarray(off_diagonal, dtype=float)
        self._is_diagonal = not np.any(self.off_diagonal)
        self._spectrum = None
        self._warned = False

    def _eigen(self, vectors=False):
        """``(d, V)`` of ``T = V diag(d) V^T``; ``V`` None unless ``vectors``.
        Computed once, when a shift is first checked (``O(n^2)``) or found
        singular (``O(n^3)``)."""
        if self._spectrum is None or (vectors and self._spectrum[1] is None):
            if self._is_diagonal:
                self._spectrum = (self.diagonal, None)
            elif vectors:
                self._spectrum = linalg.eigh_tridiagonal(self.diagonal, self.off_diagonal)
            else:
                self._spectrum = (linalg.eigvalsh_tridiagonal(self.diagonal,
                                                              self.off_diagonal), None)
        return self._spectrum

    def is_singular(self, shift):
        """Whether ``T + shift I`` is numerically singular: its reciprocal
        condition number ``min |d + shift| / max |d + shift|`` is below the
        machine epsilon, the test that
        :class:`KernelRidgeFactorization` applies to the same system. Only
        an indefinite matrix or a penalty tiny against its eigenvalues gives
        one."""
        if self.n == 0:
            return False
        shifted = np.abs(self._eigen()[0] + shift)
        return not shifted.min() >= np.finfo(float).eps * shifted.max()

    def singular_shifts(self, shifts):
        """:meth:`is_singular` of every shift at once, a boolean array."""
        shifts = np.asarray(shifts, dtype=float)
        if self.n == 0 or shifts.size == 0:
            return np.zeros(shifts.shape, dtype=bool)
        shifted = np.abs(self._eigen()[0][:, None] + shifts.reshape(1, -1))
        return ~(shifted.min(axis=0) >= np.finfo(float).eps * shifted.max(axis=0))

    def _pseudo_solve(self, shift, rhs):
        """``(T + shift I)^+ @ rhs``, the least-squares solution of minimum
        norm, with eigenvalues ``|d + shift| <= n eps max |d + shift|`` counted
        as zero as in :class:`KernelRidgeFactorization`."""
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"A kernel ridge system with penalty {shift!r} is numerically singular: "
                "using its least-squares solution of minimum norm, as KernelRidge does.",
                linalg.LinAlgWarning, stacklevel=3,
            )
        eigenvalues, vectors = self._eigen(vectors=not self._is_diagonal)
        shifted = eigenvalues + shift
        inverse = np.zeros_like(shifted)
        kept = np.abs(shifted) > self.n * np.finfo(float).eps * np.max(np.abs(shifted))
        inverse[kept] = 1.0 / shifted[kept]
        shape = (-1,) + (1,) * (rhs.ndim - 1)
        if vectors is None:
            return inverse.reshape(shape) * rhs
        columns = rhs.reshape(self.n, -1)
        return (vectors @ (inverse[:, None] * (vectors.T @ columns))).reshape(rhs.shape)

    @classmethod
    def from_eigh(cls, eigenvalues, eigenvectors):
        """The eigen form ``V diag(d) V^T`` as a (diagonal) tridiagonal form."""
        eigenvalues = np.asarray(eigenvalues, dtype=float)
        return cls(eigenvectors, eigenvalues, np.zeros(max(eigenvalues.size - 1, 0)))

    @property
    def n(self):
        return self.diagonal.size

    def multiply(self, coefs):
        """``T @ coefs`` for ``coefs`` of shape (n, ...)."""
        coefs = np.asarray(coefs, dtype=float)
        shape = (-1,) + (1,) * (coefs.ndim - 1)
        product = self.diagonal.reshape(shape) * coefs
        if not self._is_diagonal:
            off = self.off_diagonal.reshape(shape)
            product[:-1] += off * coefs[1:]
            product[1:] += off * coefs[:-1]
        return product

    def solve(self, shift, rhs):
        """``(T + shift I)^-1 @ rhs`` for ``rhs`` of shape (n, ...).

        A numerically singular ``T + shift I`` (see :meth:`is_singular`)
        gives the least-squares solution of minimum norm, as
        :class:`KernelRidgeFactorization` does for the same system.
        """
        rhs = np.asarray(rhs, dtype=float)
        if self.is_singular(shift):
            return self._pseudo_solve(shift, rhs)
        shifted = self.diagonal + shift
        if self._is_diagonal:
            with np.errstate(divide="ignore", invalid="ignore"):
                return rhs / shifted.reshape((-1,) + (1,) * (rhs.ndim - 1))
        columns = rhs.reshape(self.n, -1)
        if self.n == 2:
            matrix = np.diag(shifted) + np.diag(self.off_diagonal, 1) + np.diag(
                self.off_diagonal, -1)
            try:
                solution = linalg.solve(matrix, columns, assume_a="sym", check_finite=False)
            except linalg.LinAlgError:
                solution = np.full_like(columns, np.nan)
        else:
            *_, solution, info = lapack.dgtsv(self.off_diagonal, shifted, self.off_diagonal,
                                              columns)
            if info > 0:
                solution = np.full_like(columns, np.nan)
        return solution.reshape(rhs.shape)

    def solve_shifted(self, shifts, rhs):
        """``(T + shifts[l] I)^-1 @ rhs[:, l]`` for every ``l``.

        Parameters
        ----------
        shifts : ndarray of shape (n_shifts,)
        rhs : ndarray of shape (n, n_shifts, ...)

        Returns
        -------
        solution : ndarray of the shape of ``rhs``
        """
        shifts = np.asarray(shifts, dtype=float)
        if self.singular_shifts(shifts).any():
            return self._solve_one_by_one(shifts, rhs)
        if self._is_diagonal:
            shifted = self.diagonal[:, None] + shifts[None, :]
            with np.errstate(divide="ignore", invalid="ignore"):
                return rhs / shifted.reshape(shifted.shape + (1,) * (rhs.ndim - 2))
        if self.n <= 2:
            return self._solve_one_by_one(shifts, rhs)
        # The shifted systems side by side are one block-diagonal tridiagonal
        # system of size n * n_shifts: one LAPACK call for all of them.
        n, n_shifts = self.n, shifts.size
        diagonal = (self.diagonal[None, :] + shifts[:, None]).reshape(-1)
        off = np.zeros((n_shifts, n))
        off[:, :-1] = self.off_diagonal
        off = off.reshape(-1)[:-1]
        stacked = np.moveaxis(rhs, 1, 0).reshape(n_shifts * n, -1)
        *_, solution, info = lapack.dgtsv(off, diagonal, off, stacked)
        if info > 0:
            # A singular shift: solve one by one so that only it is lost.
            return self._solve_one_by_one(shifts, rhs)
        return np.moveaxis(solution.reshape((n_shifts, n) + rhs.shape[2:]), 0, 1)

    def _solve_one_by_one(self, shifts, rhs):
        solution = np.empty(rhs.shape)
        for index, shift in enumerate(shifts):
            solution[:, index] = self.solve(shift, rhs[:, index])
        return solution

    def held_out_inverse(self, rows, shifts):
        """``P_TT^-1`` for ``P = Q (T + shift I)^-1 Q^T``, every shift.

        The ``m x m`` block of the inverse system matrix that removing the
        samples ``rows`` from a kernel ridge problem needs (the block inverse
        ``(M_II)^-1 = P_II - P_IT P_TT^-1 P_TI``). When ``T + shift I = L D
        L^T`` is positive definite (``L`` unit lower bidiagonal), ``P_TT =
        W^T W`` with ``W = D^-1/2 L^-1 Q_T^T``, formed in ``O(m^2 n)`` by a
        symmetric rank-k update, and ``P_TT^-1 = U^-1 U^-T`` for the Cholesky
        factor ``U`` of ``W^T W``; otherwise the inverse comes from an LU
        factorisation.

        Parameters
        ----------
        rows : array of int of shape (m,)
        shifts : array-like of shape (n_shifts,)

        Returns
        -------
        inverse : HeldOutInverse
            Its ``failed`` entries mark the shifts for which the downdate does
            not exist: ``T + shift I`` or ``P_TT`` numerically singular (the
            system without the samples ``rows`` is then singular itself, or
            the whole system is).
        """
        block = self.basis[rows]
        shifts = np.asarray(shifts, dtype=float).reshape(-1)
        m = block.shape[0]
        if m == 0:
            return HeldOutInverse(np.empty((shifts.size, 0, 0)), np.ones(shifts.size, bool),
                                  np.zeros(shifts.size, bool))
        # Per shift: (inverse factor, True), (P_TT^-1, False), or None where
        # the downdate does not exist.
        entries = [None] * shifts.size
        factors = {}
        singular = self.singular_shifts(shifts)
        for index, shift in enumerate(shifts):
            if singular[index]:
                continue
            factor = self._ldl(shift)
            if factor is None:
                entries[index] = self._held_out_lu_inverse(block, shift)
            else:
                factors[index] = factor
        # W for several shifts at once, in chunks of at most about 128 MB.
        definite = list(factors)
        chunk = max(1, int(2 ** 27 // max(8 * self.n * m, 1)))
        transposed = np.ascontiguousarray(block.T)
        for start in range(0, len(definite), chunk):
            indices = definite[start:start + chunk]
            halves = self._scaled_half_solves(
                transposed, np.stack([factors[i][0] for i in indices], axis=1),
                None if self._is_diagonal else np.stack([factors[i][1] for i in indices],
                                                        axis=1))
            for position, index in enumerate(indices):
                inverse_factor = _cholesky_inverse_factor(halves[:, position, :])
                entries[index] = (self._held_out_lu_inverse(block, shifts[index])
                                  if inverse_factor is None else (inverse_factor, True))
        return HeldOutInverse.from_entries(entries, m)

    def _held_out_lu_inverse(self, block, shift):
        """``(P_TT^-1, False)`` through an LU factorisation, for indefinite
        systems; None when ``P_TT`` is numerically singular."""
        matrix = block @ self.solve(shift, block.T)
        norm = float(np.max(np.sum(np.abs(matrix), axis=0)))
        lu, piv, info = lapack.dgetrf(matrix, overwrite_a=True)
        if info != 0 or not _regular(lapack.dgecon(lu, norm)):
            return None
        inverse, info = lapack.dgetri(lu, piv, overwrite_lu=True)
        return (inverse, False) if info == 0 else None

    def _ldl(self, shift):
        """``(d, l)`` of ``T + shift I = L diag(d) L^T``, or None when that is
        not (numerically) positive definite."""
        shifted = self.diagonal + shift
        if self._is_diagonal:
            factor_diagonal, factor_off, info = shifted, None, 0
        else:
            factor_diagonal, factor_off, info = lapack.dpttrf(shifted, self.off_diagonal)
        if info != 0 or not np.all(factor_diagonal > 0) or not np.all(
                np.isfinite(factor_diagonal)):
            return None
        return factor_diagonal, factor_off

    def _scaled_half_solves(self, transposed, diagonals, offs):
        """``W = D^-1/2 L^-1 Q_T^T`` for several shifts, shape (n, n_shifts, m).

        ``transposed`` is ``Q_T^T`` (n, m), ``diagonals`` (n, n_shifts) and
        ``offs`` (n - 1, n_shifts) the factors of :meth:`_ldl`. With ``u_i =
        x_i / sqrt(d_i)`` the forward substitution ``x_i = b_i - l_{i-1}
        x_{i-1}`` becomes ``u_i = b_i / sqrt(d_i) - l_{i-1} sqrt(d_{i-1} /
        d_i) u_{i-1}``: one pass over the rows for all shifts at once, each
        row a vector operation.
        """
        roots = np.sqrt(diagonals)
        halves = transposed[:, None, :] / roots[:, :, None]
        if offs is not None:
            coefficients = (offs * roots[:-1] / roots[1:])[:, :, None]
            for row in range(1, self.n):
                halves[row] -= coefficients[row - 1] * halves[row - 1]
        return halves


class HeldOutInverse:
    """The matrices ``P_TT^-1`` of several shifts, factored where possible.

    ``factors[l] @ factors[l].T`` where ``symmetric[l]`` (the inverse of an
    upper Cholesky factor), ``factors[l]`` itself otherwise. Built complete
    by :meth:`TridiagonalForm.held_out_inverse`; :meth:`with_failed` gives a
    copy with more shifts marked as failed.

    Parameters
    ----------
    factors : ndarray of shape (n_shifts, m, m)
    symmetric : ndarray of bool of shape (n_shifts,)
    failed : ndarray of bool of shape (n_shifts,)
        Shifts whose ``P_TT`` is numerically singular; their factors are NaN.
    """

    def __init__(self, factors, symmetric, failed):
        self.factors = factors
        self.symmetric = symmetric
        self.failed = failed

    @classmethod
    def from_entries(cls, entries, m):
        """From one entry per shift: ``(matrix, symmetric)``, or None for a
        shift whose ``P_TT`` cannot be inverted (its factor is NaN)."""
        factors = np.empty((len(entries), m, m))
        symmetric = np.zeros(len(entries), dtype=bool)
        failed = np.zeros(len(entries), dtype=bool)
        for index, entry in enumerate(entries):
            if entry is None:
                factors[index] = np.nan
                failed[index] = True
            else:
                factors[index], symmetric[index] = entry
        return cls(factors, symmetric, failed)

    def with_failed(self, failed):
        """A copy in which the shifts ``failed`` (bool mask) are failed too."""
        failed = self.failed | failed
        factors = self.factors.copy()
        factors[failed] = np.nan
        return HeldOutInverse(factors, self.symmetric & ~failed, failed)

    def apply(self, rhs):
        """``P_TT^-1 @ rhs[:, l]`` for every shift ``l``; ``rhs`` of shape
        (m, n_shifts, k), as is the result."""
        stacked = rhs.transpose(1, 0, 2)
        if np.all(self.symmetric):
            inner = np.matmul(self.factors.transpose(0, 2, 1), stacked)
        else:
            inner = stacked.copy()
            chosen = self.symmetric
            inner[chosen] = np.matmul(self.factors[chosen].transpose(0, 2, 1), stacked[chosen])
        return np.matmul(self.factors, inner).transpose(1, 0, 2)


def _cholesky_inverse_factor(half):
    """``U^-1`` with ``U^T U = half^T half`` (``half`` of shape (n, m)), or None
    when the Gram matrix is not numerically positive definite."""
    # syrk forms the upper triangle only, which is all potrf reads.
    gram = blas.dsyrk(1.0, half.T, trans=0)
    factor, info = lapack.dpotrf(gram, lower=0, overwrite_a=1, clean=1)
    if info != 0:
        return None
    inverse_factor, info = lapack.dtrtri(factor, lower=0, overwrite_c=1)
    return inverse_factor if info == 0 else None


def weighted_kernel_tridiagonal(kernel_matrix, sample_weight=None):
    """Tridiagonal form ``S K S = Q T Q^T`` with ``S = diag(sqrt(w))``.

    LAPACK's Householder reduction (``dsytrd``, ``4 n^3 / 3`` flops) and the
    accumulation of its reflectors into ``Q`` (``dorgqr``): about two thirds
    of the time of :func:`weighted_kernel_eigh`, which performs the same
    reduction and then diagonalises ``T``.

    Parameters
    ----------
    kernel_matrix : ndarray of shape (n, n)
    sample_weight : ndarray of shape (n,), default=None

    Returns
    -------
    form : TridiagonalForm
    """
    n = kernel_matrix.shape[0]
    matrix = _scale_in_place(np.array(kernel_matrix, dtype=float, order="F"),
                             _sqrt_weights(sample_weight, n))
    if n <= 2:
        eigenvalues, eigenvectors = linalg.eigh(matrix, check_finite=False)
        return TridiagonalForm.from_eigh(eigenvalues, eigenvectors)
    lwork = max(int(lapack.dsytrd_lwork(n, lower=1)[0]), n)
    reduced, diagonal, off_diagonal, tau, info = lapack.dsytrd(matrix, lower=1, lwork=lwork,
                                                               overwrite_a=1)
    if info != 0:
        raise linalg.LinAlgError(f"dsytrd failed with info={info}.")
    # Q = diag(1, Q') with Q' the product of the n - 1 reflectors stored
    # below the subdiagonal, as LAPACK's dorgtr forms it.
    reflectors = np.asfortranarray(reduced[1:, :-1])
    del reduced
    lower, _, info = lapack.dorgqr(reflectors, tau[: n - 1], lwork=64 * n, overwrite_a=1)
    if info != 0:
        raise linalg.LinAlgError(f"dorgqr failed with info={info}.")
    # C order: the rows of held-out samples are then contiguous.
    basis = np.zeros((n, n))
    basis[0, 0] = 1.0
    basis[1:, 1:] = lower
    return TridiagonalForm(basis, diagonal, off_diagonal)
