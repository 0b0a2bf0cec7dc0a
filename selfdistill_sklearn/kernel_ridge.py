"""Self-distilled kernel ridge regression as a scikit-learn estimator."""

import math

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.model_selection import check_cv
from sklearn.utils import Bunch, metadata_routing
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from . import gcv
from ._kernels import KernelMixin
from ._solvers import factorize, weighted_centred_kernel_eigh, weighted_kernel_eigh
from ._validation import (
    AlphaSpec,
    check_alpha,
    check_bool,
    check_n_steps,
    check_reg_lambda,
    check_sample_weight,
    check_splits,
    fit_atomically,
    route_groups,
    shrinkage_alphas,
    splitter_router,
)
from .closed_forms import (
    SelfDistillationChain,
    limit_reg_lambda,
    limit_shrinkage_diagonal,
    optimal_alpha_from_terms,
    optimal_alpha_scale,
    optimal_alpha_terms,
    shrinkage_diagonals,
    shrinkage_ratios,
)

__all__ = ["SelfDistilledKernelRidge"]


class SelfDistilledKernelRidge(KernelMixin, MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Kernel ridge regression refitted on its own predictions, in closed form.

    Step 1 is kernel ridge regression on the targets ``y``. Every later step
    ``t`` refits on the blend ``alpha(t) y + (1 - alpha(t)) y(t-1)`` of the
    ground truth and the previous step's training predictions (Borup &
    Andersen, 2021, eqs. (3)-(5)). By Theorem 4.1 every step follows from the
    first fit: the kernel matrix is factored once and each further step costs
    one pair of triangular solves, so a fit of any number of steps costs about
    one kernel ridge fit. ``n_steps=float("inf")`` gives the limit of
    Theorem 4.5 directly: kernel ridge regression with penalty
    ``reg_lambda / alpha``.

    Parameters
    ----------
    alpha : float in [0, 1], array-like of shape (n_steps - 1,) or "optimal", default=0.5
        Weight of the ground truth in the targets of steps ``2, ..., n_steps``.
        A float is used at every step; a sequence gives ``alpha(2), ...,
        alpha(n_steps)`` (entries may leave ``[0, 1]``, so that a fitted
        ``alphas_`` can be replayed). ``"optimal"`` chooses each weight in
        closed form by Theorem 4.4, eq. (16), the minimiser of the validation
        squared error, step after step (Algorithm 1): on ``X_val, y_val``
        when they are passed to :meth:`fit`, otherwise on the folds of ``cv``
        with the numerators and denominators of eq. (16) summed over folds,
        after which all the data are fitted with the chosen weights. When the
        validation error does not depend on the weight (the two candidate
        predictions coincide), the weight is 1. With ``cv=None`` and no
        validation data, each weight minimises the generalised
        cross-validation criterion instead, in closed form (see Notes): no
        validation data and no folds.
    n_steps : int in [1, 1000] or float("inf"), default=2
        Number of fits ``tau`` including the first; ``n_steps=1`` is plain
        kernel ridge regression. Counts above
        1000 are refused:
        every step is stored, and the chain converges geometrically to its
        limit, which ``float("inf")`` gives in one solve. ``float("inf")`` needs a scalar ``alpha``:
        for ``alpha > 0`` the limit is kernel ridge regression with penalty
        ``reg_lambda / alpha`` (eq. (17)); for ``alpha = 0`` it is the zero
        function.
    reg_lambda : float > 0, default=1.0
        Ridge penalty ``lambda`` (scikit-learn's ``KernelRidge`` calls it
        ``alpha``).
    kernel : str or callable, default="linear"
        Kernel as in :class:`sklearn.kernel_ridge.KernelRidge`, including
        ``"precomputed"`` (then ``X`` is the kernel matrix).
    gamma : float >= 0, default=None
        Parameter of the rbf, laplacian, polynomial, exponential chi2 and
        sigmoid kernels.
    degree : float >= 0, default=3
        Degree of the polynomial kernel.
    coef0 : float, default=1
        Zero coefficient of the polynomial and sigmoid kernels.
    kernel_params : dict, default=None
        Parameters of a callable kernel.
    clip_alpha : bool, default=False
        With ``alpha="optimal"``, clip each weight to ``[0, 1]`` before it is
        used (the paper's footnote 10). Theorem 4.4 itself places no bound.
    cv : int, cross-validation generator, iterable or None, default=5
        Splits used by ``alpha="optimal"`` when :meth:`fit` gets no
        validation data, as in :func:`sklearn.model_selection.check_cv`:
        a number of folds, a splitter (a group splitter receives the
        ``groups`` of :meth:`fit`), or (train, test) index pairs, a
        generator of which serves one fit. ``None`` chooses the weights by
        generalised cross-validation (GCV) instead of folds (see Notes);
        unlike ``check_cv``, for which ``None`` means 5 folds.
    fit_intercept : bool, default=True
        Fit an unpenalised intercept at every step: ``f(x) = kappa(x, X) c +
        b`` (see Notes). Unlike :class:`sklearn.kernel_ridge.KernelRidge`,
        which has none, this is the default: self-distillation is repeated
        shrinkage toward zero, so without an intercept targets with a large
        mean are shrunk, step after step, toward 0 rather than toward their
        mean. ``False`` is the paper's model, in which ``n_steps=1`` is
        ``KernelRidge``.

    Attributes
    ----------
    alphas_ : ndarray of shape (n_steps - 1,)
        The weights ``alpha(2), ..., alpha(n_steps)`` used. For
        ``n_steps=inf`` it holds the single constant weight.
    dual_coef_ : ndarray of shape (n_samples,) or (n_samples, n_targets)
        Dual coefficients of the last step (of the limit for ``n_steps=inf``).
    staged_dual_coef_ : ndarray of shape (n_steps, n_samples) or (n_steps, n_samples, n_targets)
        Dual coefficients of every step, step 1 first. Absent for
        ``n_steps=inf``.
    intercept_ : float or ndarray of shape (n_targets,)
        Intercept of the last step (of the limit for ``n_steps=inf``); 0
        when ``fit_intercept=False``.
    staged_intercept_ : ndarray of shape (n_steps,) or (n_steps, n_targets)
        Intercept of every step, step 1 first. Absent for ``n_steps=inf``.
    X_fit_ : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Training data, needed at prediction time (the kernel matrix for
        ``kernel="precomputed"``).
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features, when ``X`` has string column names.
    effective_dof_ : ndarray of shape (n_steps,)
        Effective degrees of freedom ``tr H`` of every step, ``H`` the
        smoother that maps the training targets to the step's training
        predictions (with sample weights, ``S H S^-1``, the same trace), 1
        for the intercept included; for ``n_steps=inf`` shape (1,), that of
        the limit. Computed on first access from one eigendecomposition of
        the training kernel matrix (several times the cost of a fit), which
        a fit with ``alpha="optimal"`` and ``cv=None`` has already made.
    equivalent_reg_lambda_ : ndarray of shape (n_steps,)
        For each entry of ``effective_dof_``, the penalty that gives plain
        kernel ridge regression (the first step) the same degrees of
        freedom (:func:`~selfdistill_sklearn.gcv.equivalent_reg_lambda`):
        how strongly each step regularises, on kernel ridge's scale. For the
        limit of a fixed ``alpha > 0`` it is ``reg_lambda / alpha``
        (Theorem 4.5). Computed on first access, as ``effective_dof_``.

    See Also
    --------
    sklearn.kernel_ridge.KernelRidge : The first step alone.
    selfdistill_sklearn.gcv : Generalised cross-validation over the chain.

    Notes
    -----
    Kernel matrices are computed and factored in float64 whatever the dtype
    of ``X``, and must be finite; a training kernel matrix must be symmetric
    within rounding. When a system ``S K S + lambda I`` is numerically
    singular, its least-squares solution of minimum norm is used with a
    :class:`scipy.linalg.LinAlgWarning`, as ``KernelRidge`` does; with
    ``fit_intercept=True``, that of the kernel ridge system of the centred
    model (see below) with the intercept that is optimal for it, whenever the
    bordered system with the intercept is singular. Every
    :meth:`fit` replaces the whole fitted state (or, if it raises, leaves the
    previous one); :meth:`predict`, :meth:`staged_predict` and
    :meth:`spectral_shrinkage` use the settings of the last fit, not
    parameters set since.

    With sample weights ``w`` each step minimises ``sum_i w_i (f(x_i) -
    u_i)^2 + lambda ||beta||^2``, solved as ``KernelRidge`` does through the
    system ``S K S + lambda I`` with ``S = diag(sqrt(w))``. With
    ``alpha="optimal"`` and no validation data, held-out squared errors are
    weighted by ``w`` too.

    With ``fit_intercept=True`` every step solves the bordered system
    ``[[K + lambda W^-1, 1], [1^T, 0]] [c; b] = [u; 0]`` (the intercept ``b``
    is not penalised) from the same factorisation of ``K + lambda W^-1``,
    with one extra solve of ``R 1`` for the whole chain. The map from the
    targets to ``(c, b)`` stays linear, so Theorems 4.1 and 4.4 hold as
    stated; the limit of Theorem 4.5 is the same model with penalty
    ``reg_lambda / alpha``, and for ``alpha = 0`` the constant function at
    the weighted mean of ``y`` (the intercept keeps the weighted mean of the
    targets at every step while all else is shrunk away). The model equals
    kernel ridge regression without intercept on the kernel and targets
    centred by their weighted means (for the linear kernel and one step,
    :class:`sklearn.linear_model.Ridge`); a constant added to ``y`` (and to
    ``y_val``) moves every step's predictions by that constant and leaves
    the weights of ``alpha="optimal"`` unchanged.

    **Generalised cross-validation** (``alpha="optimal"``, ``cv=None``).
    With its weights fixed, step ``t`` is a linear smoother ``y(t) = H(t)
    y`` (Lemma 4.2), and ``GCV = (RSS_w / sum(w)) / (1 - tr H / n)^2``
    (Golub, Heath & Wahba 1979; ``n`` the number of positive weights)
    estimates its held-out squared error without holding anything out. In
    ``alpha(t)`` GCV is a quadratic over the square of a linear function, so
    its minimiser has a closed form: the weights follow, step after step,
    from one eigendecomposition of the (weighted, centred) training kernel
    matrix (:func:`~selfdistill_sklearn.gcv.gcv_optimal_schedules`, which
    says what happens when GCV has no minimum). This is not the efficient
    leave-one-out that :class:`sklearn.linear_model.RidgeCV` computes with
    ``cv=None``: GCV approximates leave-one-out, and exact leave-one-out has
    no cheap form beyond the first step, since the chain fitted without a
    sample is not the chain on all samples with one target changed (every
    later step refits on predictions that the held-out sample moved).

    References
    ----------
    K. Borup and L. N. Andersen, "Even your Teacher Needs Guidance:
    Ground-Truth Targets Dampen Regularization Imposed by Self-Distillation",
    NeurIPS 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from selfdistill_sklearn import SelfDistilledKernelRidge
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(40, 1))
    >>> y = np.sin(2 * np.pi * X[:, 0]) + rng.normal(scale=0.3, size=40)
    >>> model = SelfDistilledKernelRidge(alpha=0.25, n_steps=4, reg_lambda=0.1,
    ...                                  kernel="rbf", gamma=10.0).fit(X, y)
    >>> model.alphas_
    array([0.25, 0.25, 0.25])
    >>> len(list(model.staged_predict(X[:3])))
    4
    """

    def __init__(self, alpha=0.5, n_steps=2, reg_lambda=1.0, *, kernel="linear", gamma=None,
                 degree=3, coef0=1, kernel_params=None, clip_alpha=False, cv=5,
                 fit_intercept=True):
        self.alpha = alpha
        self.n_steps = n_steps
        self.reg_lambda = reg_lambda
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.kernel_params = kernel_params
        self.clip_alpha = clip_alpha
        self.cv = cv
        self.fit_intercept = fit_intercept

    # groups go to the splitter cv, not to this estimator's own requests.
    __metadata_request__fit = {"groups": metadata_routing.UNUSED}

    @fit_atomically(private=("_sample_weight", "_fitted_kernel", "_fitted_alpha",
                             "_fitted_reg_lambda", "_fitted_fit_intercept",
                             "_dof_eigenvalues"))
    def fit(self, X, y, sample_weight=None, X_val=None, y_val=None, groups=None):
        """Fit ``n_steps`` steps of self-distillation.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data, or the kernel matrix of shape (n_samples,
            n_samples) when ``kernel="precomputed"``.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        sample_weight : float or array-like of shape (n_samples,), default=None
            Non-negative weights of the training samples.
        X_val : {array-like, sparse matrix} of shape (n_val, n_features), default=None
            Validation inputs for ``alpha="optimal"`` (the kernel between
            validation and training samples, of shape (n_val, n_samples), when
            ``kernel="precomputed"``). Checked but not used for a fixed
            ``alpha``.
        y_val : array-like of shape (n_val,) or (n_val, n_targets), default=None
            Validation targets, given together with ``X_val``.
        groups : array-like of shape (n_samples,), default=None
            Group labels for a group-aware ``cv`` splitter (such as
            :class:`~sklearn.model_selection.GroupKFold`), used by
            ``alpha="optimal"`` without validation data. With metadata
            routing enabled they are routed to the splitter's ``split``.

        Returns
        -------
        self : object
            The fitted estimator.

        Raises
        ------
        TypeError, ValueError
            For parameters or data that are not as documented, naming them;
            when the kernel gives non-finite values or a non-symmetric
            training matrix. A fit that raises leaves the previous fitted
            state (none after a first fit).

        Warns
        -----
        scipy.linalg.LinAlgWarning
            When a kernel ridge system is numerically singular and its
            least-squares solution is used, as ``KernelRidge`` does.
        """
        # Set by SelfDistilledKernelRidgeCV(cv=None) on its best_estimator_ just
        # before this fit: the GCV schedule it computed on the same data and
        # the eigenvalues, so that the refit does not decompose again.
        hint = vars(self).pop("_gcv_hint", None)
        n_steps = check_n_steps(self.n_steps)
        alpha = check_alpha(self.alpha, n_steps)
        reg_lambda = check_reg_lambda(self.reg_lambda)
        check_bool(self.clip_alpha, "clip_alpha")
        check_bool(self.fit_intercept, "fit_intercept")
        self._check_kernel_params()
        groups = route_groups(self, groups, {"splitter": self.cv})["splitter"]
        X, y = validate_data(self, X, y, accept_sparse=("csr", "csc"), multi_output=True,
                             y_numeric=True)
        if self.kernel == "precomputed" and X.shape[0] != X.shape[1]:
            raise ValueError(
                "With kernel='precomputed', X must be the square kernel matrix of the "
                f"training samples, got shape {X.shape}."
            )
        sample_weight = check_sample_weight(sample_weight, X.shape[0])
        X_val, y_val = self._check_validation_data(X, y, X_val, y_val)
        y_float = np.asarray(y, dtype=float)
        self._dof_eigenvalues = None
        make_kernel, owns_kernel = (lambda: self._get_kernel(X)), self.kernel != "precomputed"

        if n_steps == math.inf:
            self.alphas_ = np.array([alpha.value])
            self.dual_coef_, self.intercept_ = self._fit_limit(X, y_float, sample_weight,
                                                               alpha.value, reg_lambda)
        else:
            chain_alpha, kernel_val = alpha, None
            if alpha.is_optimal and X_val is None and self.cv is None and hint is not None:
                # The weights a GCV search has just chosen on these same data.
                schedule, self._dof_eigenvalues = hint
                chain_alpha = AlphaSpec.schedule(schedule)
            elif alpha.is_optimal and X_val is None and self.cv is None:
                # Generalised cross-validation: the weights in closed form from
                # one eigendecomposition, no folds; the chain replays them.
                K = self._get_kernel(X)
                schedule, self._dof_eigenvalues = _gcv_alphas(
                    K, y_float, sample_weight, n_steps, reg_lambda, self.clip_alpha,
                    self.fit_intercept)
                chain_alpha = AlphaSpec.schedule(schedule)
                make_kernel = lambda: K  # noqa: E731
            elif alpha.is_optimal and X_val is None:
                # Without validation data Algorithm 1 runs on folds of the
                # training data first; the chain then replays its weights.
                chain_alpha = AlphaSpec.schedule(self._cross_validated_alphas(
                    X, y_float, sample_weight, n_steps, reg_lambda, groups))
            elif alpha.is_optimal:
                kernel_val = self._get_kernel(X_val, X)
                if self.fit_intercept:
                    kernel_val = _with_ones(kernel_val)
            solve = factorize(make_kernel, reg_lambda, sample_weight, owns_kernel=owns_kernel,
                              fit_intercept=self.fit_intercept)
            staged, self.alphas_ = _distill(solve, y_float, n_steps, chain_alpha, kernel_val,
                                            y_val, None, self.clip_alpha)
            self.staged_dual_coef_, self.staged_intercept_ = _split_intercept(
                np.stack(staged, axis=0), X.shape[0], self.fit_intercept, stacked=True)
            self.dual_coef_ = self.staged_dual_coef_[-1]
            self.intercept_ = _scalar_if_0d(self.staged_intercept_[-1])
        self.X_fit_ = X
        self._sample_weight = sample_weight
        # What spectral_shrinkage and the kernels of predict use, rather than
        # parameters that may have been set since.
        self._fitted_kernel = self._check_kernel_params()
        self._fitted_alpha = alpha
        self._fitted_reg_lambda = reg_lambda
        self._fitted_fit_intercept = self.fit_intercept
        return self

    def _dof_spectrum(self):
        """Eigenvalues of the fitted (weighted, centred) training kernel
        matrix, computed once per fit."""
        check_is_fitted(self)
        if self._dof_eigenvalues is None:
            K = self._get_kernel(self.X_fit_)
            K = K.toarray() if sparse.issparse(K) else K
            self._dof_eigenvalues = gcv.kernel_eigenvalues(K, self._sample_weight,
                                                           self._fitted_fit_intercept)
        return self._dof_eigenvalues

    @property
    def effective_dof_(self):
        eigenvalues = self._dof_spectrum()
        if hasattr(self, "staged_dual_coef_"):
            return gcv.effective_dof(eigenvalues, self._fitted_reg_lambda, self.alphas_,
                                     self._fitted_fit_intercept)
        return np.array([gcv.limit_effective_dof(eigenvalues, self._fitted_reg_lambda,
                                                 self.alphas_[0], self._fitted_fit_intercept)])

    @property
    def equivalent_reg_lambda_(self):
        return np.atleast_1d(gcv.equivalent_reg_lambda(
            self._dof_spectrum(), self.effective_dof_, self._fitted_fit_intercept))

    def get_metadata_routing(self):
        """Metadata routing: this estimator's requests, and ``groups`` of
        :meth:`fit` to the ``split`` of ``cv``.

        Returns
        -------
        routing : :class:`sklearn.utils.metadata_routing.MetadataRouter`
        """
        return splitter_router(self, {"splitter": self.cv})

    def _check_validation_data(self, X, y, X_val, y_val):
        if X_val is None and y_val is None:
            return None, None
        if X_val is None or y_val is None:
            raise ValueError("X_val and y_val must be given together.")
        _check_feature_names_like_X(self, X_val, "X_val")
        X_val = check_array(X_val, accept_sparse=("csr", "csc"), input_name="X_val")
        y_val = check_array(y_val, ensure_2d=False, dtype=np.float64, input_name="y_val")
        expected_columns = X.shape[0] if self.kernel == "precomputed" else X.shape[1]
        if X_val.shape[1] != expected_columns:
            what = ("training samples (the kernel between validation and training samples)"
                    if self.kernel == "precomputed" else "features")
            raise ValueError(
                f"X_val has {X_val.shape[1]} columns, but {expected_columns} {what} were "
                "expected."
            )
        if y_val.shape[0] != X_val.shape[0]:
            raise ValueError(
                f"X_val has {X_val.shape[0]} samples but y_val has {y_val.shape[0]}."
            )
        if y_val.shape[1:] != np.shape(y)[1:]:
            raise ValueError(
                f"y_val must have the shape of y beyond the sample axis: y has shape "
                f"{np.shape(y)}, y_val has shape {y_val.shape}."
            )
        return X_val, y_val

    def _fit_limit(self, X, y, sample_weight, alpha, reg_lambda):
        # alpha = 0 collapses to the zero function (Theorem A.5); so, within floating
        # point, does an alpha so small that lambda / alpha overflows. With an
        # intercept, every step keeps the weighted mean of the targets, which is
        # then the limit.
        if alpha == 0 or not math.isfinite(reg_lambda / alpha):
            intercept = (np.average(y, axis=0, weights=sample_weight) if self.fit_intercept
                         else np.zeros(y.shape[1:]))
            return np.zeros_like(y), _scalar_if_0d(intercept)
        solve = factorize(lambda: self._get_kernel(X), limit_reg_lambda(reg_lambda, alpha),
                          sample_weight, owns_kernel=self.kernel != "precomputed",
                          fit_intercept=self.fit_intercept)
        dual_coef, intercept = _split_intercept(solve(y)[0], X.shape[0], self.fit_intercept)
        return dual_coef, _scalar_if_0d(intercept)

    def _cross_validated_alphas(self, X, y, sample_weight, n_steps, reg_lambda, groups=None):
        """Algorithm 1 on cross-validation folds, numerators and denominators of
        eq. (16) pooled over folds at every step."""
        n_samples = X.shape[0]
        cv = check_cv(self.cv)
        n_splits = cv.get_n_splits(X, y, groups)
        if n_samples < max(2, n_splits):
            raise ValueError(
                f"alpha='optimal' without X_val, y_val chooses alpha on cv={self.cv!r} folds of "
                f"the training data and needs at least {max(2, n_splits)} samples, got "
                f"n_samples={n_samples}. Pass X_val and y_val, or use fewer folds."
            )
        if n_steps == 1:
            return np.empty(0)
        K = self._get_kernel(X)
        folds = []
        for train, test in check_splits(cv.split(X, y, groups), n_samples, "cv"):
            solve = factorize(
                lambda train=train: K[np.ix_(train, train)], reg_lambda,
                None if sample_weight is None else sample_weight[train],
                fit_intercept=self.fit_intercept,
            )
            kernel_test = K[np.ix_(test, train)]
            if self.fit_intercept:
                kernel_test = _with_ones(kernel_test)
            folds.append((SelfDistillationChain(solve, y[train]), kernel_test,
                          y[test], None if sample_weight is None else sample_weight[test]))
        first = [kernel_test @ chain.first_dual_coef for chain, kernel_test, _, _ in folds]
        alphas = np.empty(n_steps - 1)
        for step in range(n_steps - 1):
            numerator = denominator = scale = 0.0
            for (chain, kernel_test, y_test, w_test), y1 in zip(folds, first, strict=True):
                y0 = kernel_test @ chain.zero_alpha_dual_coef()
                num, den = optimal_alpha_terms(y1, y0, y_test, w_test)
                numerator += num
                denominator += den
                scale += optimal_alpha_scale(y1, y0, w_test)
            alphas[step] = optimal_alpha_from_terms(numerator, denominator, self.clip_alpha,
                                                    scale)
            for chain, _, _, _ in folds:
                chain.advance(alphas[step])
        return alphas

    def _kernel_to_fit(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=("csr", "csc"), reset=False)
        return self._get_kernel(X, self.X_fit_)

    def predict(self, X):
        """Predict with the last step (the limit for ``n_steps=inf``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples, or the kernel between them and the training samples
            when ``kernel="precomputed"``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
            ``f(x, beta(n_steps))``, or the limit of Theorem 4.5.
        """
        return self._kernel_to_fit(X) @ self.dual_coef_ + self.intercept_

    def staged_predict(self, X):
        """Predict with every step, step 1 first.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples, or their kernel with the training samples when
            ``kernel="precomputed"``.

        Yields
        ------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
            ``f(x, beta(t))`` for ``t = 1, ..., n_steps``.
        """
        check_is_fitted(self)
        if not hasattr(self, "staged_dual_coef_"):
            raise ValueError(
                "staged_predict needs a finite n_steps; with n_steps=inf only the limit "
                "exists, which predict returns."
            )
        K = self._kernel_to_fit(X)
        for dual_coef, intercept in zip(self.staged_dual_coef_, self.staged_intercept_,
                                        strict=True):
            yield K @ dual_coef + intercept

    def spectral_shrinkage(self, n_steps=None, X=None):
        """Return the kernel matrix's eigenvalues and the shrinkage of each step.

        The eigen form of Section 4.2: training predictions of step ``t`` are
        ``V B(t) V^T y`` (eq. (10)), ``B(t)`` diagonal and given by Lemma 4.2.
        This costs one eigendecomposition of the training kernel matrix (with
        sample weights, of ``S K S``), several times a fit; it is meant for
        diagnostics such as the paper's Figures 3 and 4.

        Parameters
        ----------
        n_steps : int in [1, 1000], default=None
            Number of steps ``T`` to report. Defaults to the fitted
            ``n_steps`` (required when that is infinite). A fixed scalar
            ``alpha`` can be extended beyond the fitted steps; a schedule or
            ``"optimal"`` cannot.
        X : {array-like, sparse matrix} of shape (n, n_features), default=None
            Samples whose kernel matrix is decomposed instead of the training
            data's (the kernel matrix itself, of shape (n, n), when
            ``kernel="precomputed"``): how this estimator's penalty and
            weights would shrink the spectrum of other data. ``B(t)`` does not
            depend on targets. Training sample weights apply only when ``X``
            is ``None``.

        Returns
        -------
        result : :class:`~sklearn.utils.Bunch`
            ``eigenvalues`` of shape (n_samples,) in ascending order;
            ``diagonals`` of shape (T, n_samples), row ``t - 1`` the diagonal
            of ``B(t)``; ``ratios`` of shape (T, n_samples - 1), the ratios
            ``R_k`` of consecutive diagonal entries (Figure 4); ``limit``, the
            diagonal of ``B(infinity)`` for a scalar ``alpha`` (Theorem A.5),
            else ``None``; ``alphas``, the weights used. With
            ``fit_intercept=True`` the spectrum is that of the kernel matrix
            centred by the (weighted) mean, on the complement of the constant
            direction: ``n_samples - 1`` eigenvalues in place of
            ``n_samples``. The constant direction belongs to the unpenalised
            intercept and is not shrunk at all (its diagonal entry would be 1
            at every step); training predictions of step ``t`` are the
            weighted mean of ``y`` plus ``S^-1 V B(t) V^T S y``, ``V`` the
            eigenvectors of the centred ``S K S``.
        """
        check_is_fitted(self)
        fixed_alpha = self._fitted_alpha
        fitted_steps = len(self.staged_dual_coef_) if hasattr(self, "staged_dual_coef_") else None
        alphas = shrinkage_alphas(fixed_alpha, getattr(self, "alphas_", None), fitted_steps,
                                  n_steps)
        scalar = fixed_alpha.is_fixed
        if X is None:
            K, sample_weight = self._get_kernel(self.X_fit_), self._sample_weight
        else:
            if self._fitted_kernel.kernel == "precomputed":
                # A kernel matrix of other samples: its size is not the training size.
                K = self._check_kernel_matrix(X)
            else:
                K = self._get_kernel(validate_data(self, X, accept_sparse=("csr", "csc"),
                                                   reset=False))
            sample_weight = None
        eigh = weighted_centred_kernel_eigh if self._fitted_fit_intercept else weighted_kernel_eigh
        eigenvalues, _ = eigh(K, sample_weight)
        reg_lambda = self._fitted_reg_lambda
        diagonals = shrinkage_diagonals(eigenvalues, reg_lambda, alphas)
        limit = (limit_shrinkage_diagonal(eigenvalues, reg_lambda, fixed_alpha.value) if scalar
                 else None)
        return Bunch(eigenvalues=eigenvalues, diagonals=diagonals,
                     ratios=shrinkage_ratios(diagonals), limit=limit, alphas=alphas)


def _gcv_alphas(K, y, sample_weight, n_steps, reg_lambda, clip, fit_intercept):
    """The GCV-optimal weights of a chain of ``n_steps`` steps, and the
    eigenvalues of the decomposition they came from."""
    K = K.toarray() if sparse.issparse(K) else K
    spectrum = gcv.kernel_matrix_spectrum(K, y, sample_weight, fit_intercept)
    alphas = gcv.gcv_optimal_schedules(spectrum, [reg_lambda], n_steps, clip)[0][0]
    return alphas, spectrum.eigenvalues


def _split_intercept(coef, n_samples, fit_intercept, stacked=False):
    """Dual coefficients and intercepts of coefficients from
    :class:`~selfdistill_sklearn._solvers.KernelRidgeFactorization`;
    ``stacked`` when the first axis holds the steps. The intercept is 0
    without ``fit_intercept``."""
    steps = (slice(None),) if stacked else ()
    if not fit_intercept:
        return coef, np.zeros(coef.shape[:len(steps)] + coef.shape[len(steps) + 1:])
    return coef[steps + (slice(None, n_samples),)], coef[steps + (n_samples,)]


def _scalar_if_0d(value):
    return float(value) if np.ndim(value) == 0 else value


def _with_ones(kernel):
    """``[kernel, 1]``: the map from coefficients with an intercept in their last
    row to predictions."""
    if sparse.issparse(kernel):
        return sparse.hstack([kernel, np.ones((kernel.shape[0], 1))], format="csr")
    return np.hstack([kernel, np.ones((kernel.shape[0], 1))])


def _check_feature_names_like_X(estimator, X_val, name):
    """Refuse ``X_val`` whose feature names (of a data frame) differ from
    those of the ``X`` that ``fit`` was given, as :meth:`predict` does: its
    columns would be matched by position, silently."""
    names_in = getattr(estimator, "feature_names_in_", None)
    names = getattr(X_val, "columns", None)
    if names_in is None and names is None:
        return
    try:
        validate_data(estimator, X_val, reset=False, skip_check_array=True)
    except ValueError as exc:
        raise ValueError(f"{name} must have the feature names of X. {exc}") from exc


def _distill(solve, y, n_steps, alpha, kernel_val, y_val, val_weight, clip):
    """Run the chain of steps on one factorisation.

    ``alpha`` is an :class:`~selfdistill_sklearn._validation.AlphaSpec`;
    for ``"optimal"``, ``kernel_val`` and ``y_val`` give the validation
    predictions of Algorithm 1. Returns the dual coefficients of every step
    and the weights used.
    """
    chain = SelfDistillationChain(solve, y)
    staged = [chain.first_dual_coef]
    alphas = np.empty(n_steps - 1)
    first_val = kernel_val @ chain.first_dual_coef if alpha.is_optimal else None
    for step in range(n_steps - 1):
        if alpha.is_optimal:
            zero_val = kernel_val @ chain.zero_alpha_dual_coef()
            num, den = optimal_alpha_terms(first_val, zero_val, y_val, val_weight)
            scale = optimal_alpha_scale(first_val, zero_val, val_weight)
            alphas[step] = optimal_alpha_from_terms(num, den, clip, scale)
        else:
            alphas[step] = alpha.weight(step)
        staged.append(chain.advance(alphas[step]))
    return staged, alphas
