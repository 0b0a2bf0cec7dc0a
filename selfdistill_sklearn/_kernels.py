"""The kernel parameters that the kernel estimators share with ``KernelRidge``."""

import numbers

import numpy as np
from scipy import sparse
from sklearn.metrics.pairwise import kernel_metrics, pairwise_kernels
from sklearn.utils import Bunch
from sklearn.utils.validation import check_array

__all__ = ["KernelMixin"]


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _kernel_name(kernel):
    return repr(kernel) if isinstance(kernel, str) else getattr(kernel, "__name__", repr(kernel))


class KernelMixin:
    """Kernel matrices from the parameters ``kernel``, ``gamma``, ``degree``,
    ``coef0`` and ``kernel_params``, as :class:`sklearn.kernel_ridge.KernelRidge`
    computes them, and the input tags that go with them (sparse input, and
    pairwise input for ``kernel="precomputed"``).

    The parameters are checked as ``KernelRidge`` checks them. Kernel
    matrices are computed in float64 whatever the input's dtype, and must
    be finite; a training kernel matrix must be symmetric. After a fit
    (which stores the checked settings in ``_fitted_kernel``) kernels are
    computed with the fitted settings, not with parameters set since.
    """

    def _check_kernel_params(self):
        """The kernel settings, checked.

        Raises
        ------
        TypeError, ValueError
            Naming the parameter: ``kernel`` not a name of
            :func:`sklearn.metrics.pairwise.kernel_metrics`, ``"precomputed"``
            or a callable; ``gamma`` not ``None`` or a finite float >= 0;
            ``degree`` not a finite float >= 0; ``coef0`` not a finite float;
            ``kernel_params`` not ``None`` or a dict.
        """
        kernel = self.kernel
        names = sorted(set(kernel_metrics()) | {"precomputed"})
        if not callable(kernel):
            if not isinstance(kernel, str):
                raise TypeError(f"kernel must be a str among {names} or a callable, got "
                                f"{kernel!r}.")
            if kernel not in names:
                raise ValueError(f"kernel must be a str among {names} or a callable, got "
                                 f"{kernel!r}.")
        checks = [("gamma", self.gamma, True, 0.0), ("degree", self.degree, False, 0.0),
                  ("coef0", self.coef0, False, None)]
        for name, value, allow_none, lower in checks:
            if value is None and allow_none:
                continue
            expected = ("a finite float" + (f" >= {lower:g}" if lower is not None else "")
                        + (" or None" if allow_none else ""))
            if not _is_real(value):
                raise TypeError(f"{name} must be {expected}, got {value!r}.")
            if not np.isfinite(value) or (lower is not None and value < lower):
                raise ValueError(f"{name} must be {expected}, got {value!r}.")
        if self.kernel_params is not None and not isinstance(self.kernel_params, dict):
            raise TypeError(f"kernel_params must be a dict or None, got {self.kernel_params!r}.")
        return Bunch(kernel=kernel, gamma=self.gamma, degree=self.degree, coef0=self.coef0,
                     kernel_params=dict(self.kernel_params or {}))

    def _kernel_settings(self):
        fitted = vars(self).get("_fitted_kernel")
        return fitted if fitted is not None else self._check_kernel_params()

    def _get_kernel(self, X, Y=None):
        """The kernel matrix between ``X`` and ``Y`` (``X`` and itself when
        ``Y`` is None), dense float64.

        Raises
        ------
        ValueError
            When the kernel gives non-finite values (a callable returning NaN,
            a polynomial that overflows), or when the training kernel matrix
            (``Y`` None) is not symmetric within rounding.
        """
        settings = self._kernel_settings()
        kernel = settings.kernel
        input_dtype = X.dtype if np.issubdtype(getattr(X, "dtype", object), np.floating) \
            else np.float64
        X = _as_float64(X)
        Y = None if Y is None else _as_float64(Y)
        if callable(kernel):
            params = settings.kernel_params
        else:
            params = {"gamma": settings.gamma, "degree": settings.degree,
                      "coef0": settings.coef0}
        with np.errstate(over="ignore", invalid="ignore"):
            K = pairwise_kernels(X, Y, metric=kernel, filter_params=True, **params)
        K = K.toarray() if sparse.issparse(K) else np.asarray(K)
        if K.dtype != np.float64:
            K = K.astype(np.float64)
        if not _all_finite(K):
            raise ValueError(
                f"The kernel {_kernel_name(kernel)} gave non-finite values (NaN or infinity) "
                "on this data"
                + ("" if callable(kernel) else
                   f" with gamma={settings.gamma!r}, degree={settings.degree!r}, "
                   f"coef0={settings.coef0!r}")
                + ": a kernel matrix must be finite. Check the kernel and its parameters, "
                "or scale the data."
            )
        if Y is None:
            _check_symmetric(K, kernel, input_dtype)
        return K

    def _check_kernel_matrix(self, K):
        """A user's square kernel matrix of other samples, for
        ``kernel="precomputed"``: dense float64, finite and symmetric."""
        input_dtype = getattr(K, "dtype", np.float64)
        K = check_array(K, accept_sparse=("csr", "csc"), dtype=np.float64, input_name="X")
        K = K.toarray() if sparse.issparse(K) else K
        if K.shape[0] != K.shape[1]:
            raise ValueError(
                f"With kernel='precomputed', X must be a square kernel matrix, got shape "
                f"{K.shape}."
            )
        _check_symmetric(K, "precomputed",
                         input_dtype if np.issubdtype(input_dtype, np.floating) else np.float64)
        return K

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.pairwise = self.kernel == "precomputed"
        return tags


def _as_float64(X):
    """``X`` in float64, so that kernels of float32 data are not computed and
    factored in float32."""
    if getattr(X, "dtype", None) == np.float64:
        return X
    return check_array(X, accept_sparse=("csr", "csc"), dtype=np.float64,
                       ensure_all_finite=False, ensure_2d=False, ensure_min_samples=0,
                       ensure_min_features=0)


def _row_blocks(K):
    """Slices of about 256 kB of rows of ``K`` (one row at least), so that checks of a
    kernel matrix add no ``n x n`` temporary to the peak memory of a fit."""
    step = max(1, 2 ** 15 // max(K.shape[1], 1))
    return [slice(start, start + step) for start in range(0, K.shape[0], step)]


def _all_finite(K):
    return all(np.all(np.isfinite(K[rows])) for rows in _row_blocks(K))


def _check_symmetric(K, kernel, input_dtype):
    """Refuse a training kernel matrix that is not symmetric within rounding.

    A ``KernelRidge`` fit reads one triangle of it, this estimator the other.
    The tolerance on ``max |K - K^T|`` is ``sqrt(eps) max |K|`` for the
    machine epsilon of the input (``1.5e-8`` relative for float64, ``3.5e-4``
    for float32): far above the rounding of kernels computed in another
    order, far below an asymmetry that would change a fit.
    """
    if K.ndim != 2 or K.shape[0] != K.shape[1] or K.size == 0:
        return
    # Tiles of 128 x 128 (128 kB): K[a, b] against K[b, a]^T without an n x n
    # temporary, and without striding through K by columns.
    scale = asymmetry = 0.0
    n, tile = K.shape[0], 128
    for start in range(0, n, tile):
        rows = slice(start, start + tile)
        for other in range(start, n, tile):
            columns = slice(other, other + tile)
            upper, lower = K[rows, columns], K[columns, rows].T
            scale = max(scale, float(np.max(np.abs(upper))), float(np.max(np.abs(lower))))
            difference = upper - lower
            asymmetry = max(asymmetry, float(np.max(np.abs(difference, out=difference))))
    tolerance = np.sqrt(np.finfo(input_dtype).eps) * scale
    if asymmetry > tolerance:
        what = ("X must be a symmetric kernel matrix" if kernel == "precomputed" else
                f"The kernel {_kernel_name(kernel)} must give a symmetric matrix K(X, X)")
        raise ValueError(
            f"{what}: max |K - K^T| = {asymmetry:.3g} exceeds the rounding tolerance "
            f"{tolerance:.3g} (sqrt(eps) of {np.dtype(input_dtype).name} times max |K|)."
        )
