"""Cross-validated choice of lambda, alpha and tau from one decomposition per fold."""

import numbers
import time
from contextlib import nullcontext

import numpy as np
from joblib import effective_n_jobs
from scipy import sparse
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin, clone
from sklearn.metrics import (
    explained_variance_score,
    max_error,
    mean_absolute_error,
    mean_absolute_percentage_error,
    median_absolute_error,
    r2_score,
)
from sklearn.model_selection import check_cv
from sklearn.utils import metadata_routing
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from . import gcv
from ._candidates import check_gcv_scoring as _check_gcv_scoring
from ._candidates import check_grid, gcv_search_results, grid_results, unique_columns
from ._grids import edge_messages, warn_at_edges
from ._kernels import KernelMixin
from ._solvers import centre_kernel, weighted_kernel_tridiagonal
from ._spectral_sweep import (
    SweepFold,
    downdated_optimal_schedules,
    limit_coefficients,
    step_coefficients,
)
from ._validation import (
    OPTIMAL,
    check_bool,
    check_sample_weight,
    check_splits,
    fit_atomically,
    route_groups,
    splitter_router,
)
from .kernel_ridge import SelfDistilledKernelRidge

__all__ = ["SCORINGS", "SMALL_PROBLEM_SAMPLES", "SelfDistilledKernelRidgeCV"]

#: Below this many samples :class:`SelfDistilledKernelRidgeCV` scores the folds
#: in its own process with single-threaded BLAS, whatever ``n_jobs`` says: for
#: kernel matrices of a few hundred rows, starting worker tasks and
#: synchronising BLAS threads costs more than they save (on two cores a
#: search of 442 samples takes 0.28 s so, 0.37 s in two workers and 0.68 s
#: with two BLAS threads).
SMALL_PROBLEM_SAMPLES = 1000


def _squared_errors(y_true, y_pred, sample_weight):
    """Per-output (weighted) mean squared errors of every candidate column."""
    target = y_true[:, None] if y_true.ndim == 1 else y_true[:, None, :]
    errors = np.average((y_pred - target) ** 2, axis=0, weights=sample_weight)
    return errors if errors.ndim == 1 else errors.T  # (n_outputs, n_candidates) or (c,)


def _neg_mean_squared_error(y_true, y_pred, sample_weight):
    errors = _squared_errors(y_true, y_pred, sample_weight)
    return -(errors if errors.ndim == 1 else np.mean(errors, axis=0))


def _neg_root_mean_squared_error(y_true, y_pred, sample_weight):
    errors = np.sqrt(_squared_errors(y_true, y_pred, sample_weight))
    return -(errors if errors.ndim == 1 else np.mean(errors, axis=0))


def _columnwise(metric, sign, weighted=True, multioutput=True):
    def score(y_true, y_pred, sample_weight):
        if not multioutput and y_pred.ndim == 3:
            raise ValueError(
                f"scoring with {metric.__name__} needs a single target, as "
                f"sklearn.metrics.{metric.__name__} does; y has {y_pred.shape[2]} columns."
            )
        kwargs = {"sample_weight": sample_weight} if weighted else {}
        return np.array([sign * metric(y_true, y_pred[:, j], **kwargs)
                         for j in range(y_pred.shape[1])])
    return score


#: Scorings that :class:`SelfDistilledKernelRidgeCV` computes from held-out
#: predictions, by their names in :func:`sklearn.metrics.get_scorer`, with
#: the same sign convention (higher is better). Each maps to a function of
#: ``(y_true, predictions of every candidate, sample_weight)``.
SCORINGS = {
    "neg_mean_squared_error": _neg_mean_squared_error,
    "neg_root_mean_squared_error": _neg_root_mean_squared_error,
    "neg_mean_absolute_error": _columnwise(mean_absolute_error, -1.0),
    "neg_median_absolute_error": _columnwise(median_absolute_error, -1.0),
    "neg_mean_absolute_percentage_error": _columnwise(mean_absolute_percentage_error, -1.0),
    "r2": _columnwise(r2_score, 1.0),
    "explained_variance": _columnwise(explained_variance_score, 1.0),
    "neg_max_error": _columnwise(max_error, -1.0, weighted=False, multioutput=False),
}


class SelfDistilledKernelRidgeCV(KernelMixin, MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Self-distilled kernel ridge regression with lambda, alpha and tau cross-validated.

    Every candidate is evaluated from one decomposition per fold.
    The candidates are those of a grid search of
    :class:`~selfdistill_sklearn.SelfDistilledKernelRidge` over
    ``reg_lambda`` in ``reg_lambdas``, ``alpha`` in ``alphas`` and
    ``n_steps`` in ``1, ..., max_steps`` (plus ``float("inf")`` for every
    fixed ``alpha`` when ``include_limit``), scored on the held-out part of each fold of ``cv``.
    Instead of a kernel ridge fit per candidate and fold, each fold's
    training kernel matrix is decomposed once as ``Q T Q^T`` with ``Q``
    orthogonal and ``T`` tridiagonal (the Householder reduction that is
    the first half of an eigendecomposition); as in the eigen form of
    Section 4.2 (eqs. (8)-(13), Lemma 4.2), where ``T`` is diagonal, every
    step of every candidate is then a solve with ``T + lambda I`` in
    ``O(n)``, and the held-out predictions of all candidates come from one
    matrix product. The limit ``n_steps=inf`` is kernel ridge regression
    with penalty ``reg_lambda / alpha`` (Theorem 4.5, eq. (17)), one such
    solve as well. This is what :class:`sklearn.linear_model.RidgeCV` does
    for a grid of penalties. The best candidate is refitted on all the data.

    Parameters
    ----------
    reg_lambdas : "auto" or array-like of float > 0, default="auto"
        Ridge penalties ``lambda`` to try. ``"auto"`` places 45 of them on
        the scale of the data, four per decade from ``1e-10`` to ``10``
        times the largest eigenvalue ``d_max`` of the kernel matrix (with
        ``sample_weight``, of ``S K S``, ``S = diag(sqrt(w))``; centred
        when ``fit_intercept``), the matrix ``lambda`` is added to: ``d_max
        * 10 ** (k / 4)`` for ``k = -40, ..., 4`` (see :ref:`choosing`).
        An explicit grid is used as given. A best penalty at either end of
        the grid gives a :class:`~selfdistill_sklearn.GridEdgeWarning`.
    alphas : array-like of float in [0, 1] and "optimal", default=(0.0, 0.25, 0.5, 0.75, 1.0)
        Weights of the ground truth to try, each used at every later step.
        ``"optimal"`` is the step-wise closed-form weight of Theorem 4.4,
        eq. (16) (Algorithm 1), chosen as
        ``SelfDistilledKernelRidge(alpha="optimal", cv=alpha_cv)`` chooses it
        (see Notes): its score on a fold never uses that fold's held-out part.
    max_steps : int in [1, 1000], default=4
        Largest number of steps ``tau`` tried; every ``tau`` from 1 to
        ``max_steps`` is a candidate, and so, when ``include_limit``, is the
        limit ``tau = inf`` for every fixed ``alpha`` (not for
        ``"optimal"``, whose limit is not defined). A best ``tau = max_steps``
        (when ``max_steps > 1``) gives a
        :class:`~selfdistill_sklearn.GridEdgeWarning`.
    include_limit : bool, default=True
        Whether the limit ``tau = inf`` of every fixed ``alpha`` (Theorem
        4.5) is a candidate. With ``False`` the candidates are exactly those
        of a grid search over ``n_steps`` in ``1, ..., max_steps``.
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
        Clip the weights of ``"optimal"`` to ``[0, 1]`` (footnote 10).
    cv : int, cross-validation generator, iterable or None, default=5
        Folds on which the candidates are scored, as in
        :func:`sklearn.model_selection.check_cv` (a generator of index pairs
        serves one fit). ``None`` scores every candidate by generalised
        cross-validation (GCV) instead, from one eigendecomposition of all
        the data and without folds (see Notes); ``"optimal"`` then chooses
        its weights by GCV too, and ``alpha_cv`` and ``n_jobs`` are not
        used. This is not the efficient leave-one-out of
        :class:`sklearn.linear_model.RidgeCV` with ``cv=None``, which GCV
        approximates: exact leave-one-out has no cheap form beyond the
        first step. The default stays 5 folds: on the problems of
        ``benchmarks/gcv.py`` (diabetes, friedman1, friedman3; 8 splits)
        GCV chose candidates of the same test error within the spread over
        splits (test MSE of the GCV choice over that of the 5-fold choice
        1.003 to 1.012 on average, better on 10 of 24 splits), not better;
        its score of ``"optimal"`` is the minimum of the criterion that
        chose the weights, hence optimistic, where folds choose the weights
        inside each training part; and it scores squared error only. It
        was about 7 times faster there and 5 to 9 times at 3000 samples:
        use ``cv=None`` when the search time matters.
    alpha_cv : int, cross-validation generator or iterable, default=5
        Folds on which ``"optimal"`` chooses its weights: the ``cv`` of the
        :class:`~selfdistill_sklearn.SelfDistilledKernelRidge` candidates
        and of ``best_estimator_``. Each fold of ``cv`` splits its own
        training part with it. (train, test) index pairs refer to all the
        samples: a fold's training part keeps, of each pair, the samples it
        holds (a grid search, whose refits see only the training part,
        cannot use such pairs).
    scoring : str, default=None
        One metric of the held-out predictions (several at once, as
        ``GridSearchCV`` takes them in a list or dict, are refused), higher
        is better, by its name in
        :func:`sklearn.metrics.get_scorer`: ``"neg_mean_squared_error"``
        (the default, also for ``None``), ``"neg_root_mean_squared_error"``,
        ``"neg_mean_absolute_error"``, ``"neg_median_absolute_error"``,
        ``"neg_mean_absolute_percentage_error"``, ``"r2"``,
        ``"explained_variance"`` or ``"neg_max_error"`` (single target only, and
        unweighted, since :func:`sklearn.metrics.max_error` takes no weights).
        Several outputs are averaged uniformly, as the scorers do. With
        ``cv=None`` only ``None`` and ``"neg_mean_squared_error"`` are
        accepted (a ``ValueError`` otherwise): GCV estimates the mean squared
        error and gives no held-out predictions to compute other metrics
        on (the same restriction as ``RidgeCV``'s generalised
        cross-validation mode, ``gcv_mode``, for squared error).
    n_jobs : int, default=None
        Number of folds scored at once, in joblib's worker processes (as
        ``GridSearchCV`` does; the kernel matrix is shared with them through
        a memory map). ``None`` means 1 unless in a
        :obj:`joblib.parallel_backend` context; ``-1`` uses all processors.
        The folds of a last round that would leave workers idle are split
        by penalty among them. With one job the folds run one after another
        in this process, their linear algebra in the BLAS threads. Threads
        would not help: SciPy's LAPACK routines hold the interpreter lock. Below
        ``SMALL_PROBLEM_SAMPLES`` (1000) samples the folds always run in this
        process, with one BLAS thread.
    verbose : int, default=0
        When positive, print a line as each fold has been scored, with its
        number of candidates and time: a search of thousands of samples
        takes seconds to minutes.
    fit_intercept : bool, default=True
        Fit an unpenalised intercept at every step of every candidate, as
        ``SelfDistilledKernelRidge(fit_intercept=True)`` does (see there why
        this is the default, unlike :class:`sklearn.kernel_ridge.KernelRidge`).
        Each fold then decomposes its kernel matrix centred by the weighted
        mean of its training part, which costs ``O(n^2)`` more.

    Attributes
    ----------
    cv_results_ : dict of ndarrays
        In the layout of :class:`sklearn.model_selection.GridSearchCV`
        (``pandas.DataFrame(cv_results_)`` tabulates it): ``params`` (dicts
        of ``reg_lambda``, ``alpha`` and ``n_steps``), ``param_reg_lambda``,
        ``param_alpha``, ``param_n_steps`` (masked arrays),
        ``split{k}_test_score``, ``mean_test_score``, ``std_test_score`` and
        ``rank_test_score``. The candidates are in the order in which
        ``GridSearchCV`` visits ``param_grid_``. With ``cv=None``,
        ``mean_test_score`` is the negative GCV of each candidate, there
        are no ``split{k}_test_score`` entries, ``std_test_score`` is 0,
        and ``effective_dof`` holds each candidate's degrees of freedom
        ``tr H``.
    best_index_ : int
        Index of the best candidate: the first of those with the best mean
        score, as ``GridSearchCV`` breaks ties.
    best_score_ : float
        Mean held-out score of the best candidate.
    best_params_ : dict
        ``reg_lambda``, ``alpha`` and ``n_steps`` of the best candidate.
    best_estimator_ : SelfDistilledKernelRidge
        The best candidate refitted on all the data.
    param_grid_ : list of dict
        The grid of :class:`~selfdistill_sklearn.SelfDistilledKernelRidge`
        parameters that ``GridSearchCV`` would search to score the same
        candidates.
    reg_lambdas_ : ndarray of shape (n_lambdas,)
        The penalties searched: ``reg_lambdas`` as given, or the automatic
        grid on the data's scale.
    optimal_alphas_ : ndarray of shape (n_splits, n_lambdas, max_steps - 1)
        The weights ``alpha*(2), ...`` that ``"optimal"`` chose inside each
        fold's training part, for each penalty. Only when ``alphas`` holds
        ``"optimal"``. With ``cv=None``, of shape (n_lambdas, max_steps -
        1): the GCV-optimal weights on all the data.
    n_splits_ : int
        Number of folds. Absent with ``cv=None``.
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features, when ``X`` has string column names.

    See Also
    --------
    SelfDistilledKernelRidge : One candidate, with ``alpha="optimal"``
        chosen on validation data or folds.
    sklearn.model_selection.GridSearchCV : The same search by refitting.
    sklearn.linear_model.RidgeCV : Many penalties from one decomposition.

    Notes
    -----
    **Cost.** A fold of ``n`` training and ``m`` held-out samples costs one
    tridiagonal reduction (``8 n^3 / 3`` flops with its orthogonal factor,
    about eight Cholesky factorisations) and products in ``O(m n^2)``; each
    candidate then costs ``O(n)`` per step and ``O(m)`` per column of one
    batched product. With ``"optimal"``, each penalty and inner split adds
    ``O(n^3 / k^2)`` for ``k`` inner splits. A grid search costs a Cholesky
    factorisation per candidate and fold, and ``"optimal"`` one more per
    inner split.

    **The optimal weight.** A fold's score of ``"optimal"`` must not choose
    the weights on the samples it is scored on. As
    ``SelfDistilledKernelRidge(alpha="optimal", cv=alpha_cv)`` does when
    fitted on the fold's training part, the training part is split by
    ``alpha_cv`` and Algorithm 1 runs on the inner splits for all penalties
    at once, the numerators and denominators of eq. (16) summed over them
    (held-out squared errors weighted by the sample weights). The inner
    splits are not factorised: each is the fold's training part less a
    block of samples, whose systems follow from the fold's own
    decomposition by the block inverse ``(M_II)^-1 = P_II - P_IT
    P_TT^-1 P_TI`` of ``P = M^-1`` (see
    ``selfdistill_sklearn._spectral_sweep.downdated_optimal_schedules``),
    at the cost of one ``|T| x |T|`` matrix per inner split and penalty. The
    weights depend on ``lambda`` but not on ``tau``: the schedule of ``tau``
    steps is the first ``tau - 1`` weights of the longest. Rounding aside,
    the schedules equal those of the refitting estimator; where the
    held-out error is nearly flat in ``alpha`` (a tiny denominator in eq.
    (16)) rounding can move them visibly.

    **The intercept.** Kernel ridge regression with an unpenalised
    intercept is kernel ridge regression without one on the kernel and
    targets centred by their weighted means, plus the mean (see
    ``selfdistill_sklearn._solvers.centre_kernel``): each fold decomposes
    its centred kernel matrix instead of the kernel matrix, and every
    candidate, step and limit follows as without intercept. The inner splits
    of ``"optimal"`` have means of their own; each solves the bordered system
    with one more right-hand side per penalty.

    **Sample weights** weight the training objective of every candidate
    and its held-out errors (except for ``"neg_max_error"``). The scores then
    equal those of ``GridSearchCV`` run with metadata routing enabled, the
    estimator requesting ``sample_weight`` for ``fit`` and the scorer for
    ``score``; without routing, ``GridSearchCV`` scores held-out samples
    unweighted.

    **Singular systems.** Where ``T + lambda I`` of a fold is numerically
    singular (an indefinite kernel, or a penalty tiny against the spectrum)
    its candidates use the least-squares solution of minimum norm, and the
    weights of ``"optimal"``, whose downdates then do not exist, are chosen
    by factoring the inner splits, with a :class:`scipy.linalg.LinAlgWarning`
    (shown when the folds run in this process): the scores equal those of
    ``GridSearchCV`` over the refitting estimator, which falls back the same
    way.

    **Generalised cross-validation** (``cv=None``). With its weights fixed,
    every step of a candidate is a linear smoother of the training targets,
    ``y(t) = H y`` (Lemma 4.2), and ``GCV = (RSS_w / sum(w)) / (1 - tr H /
    n)^2`` (Golub, Heath & Wahba 1979; ``RSS_w`` the weighted training
    residual sum of squares, ``n`` the number of positive weights, several
    targets averaged) estimates its held-out mean squared error. After ONE
    eigendecomposition of the (weighted, centred) kernel matrix of all the
    data, every ``(lambda, alpha, tau)``, the limit included, costs
    ``O(n)``, and ``"optimal"`` takes the GCV-optimal weight of every step
    in closed form (see :mod:`selfdistill_sklearn.gcv`). The search costs
    about one eigendecomposition (``4 n^3 / 3`` to ``3 n^3`` flops) and one
    refit, against one tridiagonal reduction per fold. GCV is not
    :class:`sklearn.linear_model.RidgeCV`'s ``cv=None``, which is exact
    leave-one-out: for ridge regression (one step) leave-one-out has a
    closed form, but beyond the first step the chain fitted without a
    sample is not the chain on all samples with one target changed (every
    later step refits on predictions the held-out sample moved), so it has
    none; GCV is the rotation-invariant approximation of leave-one-out
    that carries over.

    **The automatic penalty grid.** A step shrinks the eigendirection of
    eigenvalue ``d`` of the kernel matrix by ``d / (d + lambda)`` (Lemma
    4.2): what a penalty does depends on its ratio to the eigenvalues, whose
    scale varies by orders of magnitude with the kernel and the number of
    samples. ``reg_lambdas="auto"`` takes the largest eigenvalue of the
    matrix of all the samples, by Lanczos iterations above 500 samples
    (``O(n^2)`` each) and from all the eigenvalues below; with
    ``cv=None`` from the eigendecomposition GCV makes anyway. At the
    largest penalty every direction is shrunk to at most ``1 / 11`` at
    the first step; the smallest keeps the system's condition number near
    ``1e10``.

    **Edges.** When the best penalty is the smallest or the largest of the
    grid, or the best number of steps is ``max_steps``, a better candidate
    may lie beyond, and :meth:`fit` gives one
    :class:`~selfdistill_sklearn.GridEdgeWarning` naming each. A smallest
    penalty below ``1e-3`` times every resolved eigenvalue of the kernel
    matrix is not reported: every smaller penalty gives the same model to
    that precision.

    **Ties.** Several candidates give the same predictions in exact
    arithmetic: ``n_steps=1`` for every ``alpha``, and ``alpha=1`` for every
    ``n_steps``. They share one computation, so that they tie exactly, as
    they do in a grid search, and the first in ``GridSearchCV``'s order wins.

    ``score`` is the coefficient of determination of
    ``best_estimator_``, as for every regressor.

    References
    ----------
    K. Borup and L. N. Andersen, "Even your Teacher Needs Guidance:
    Ground-Truth Targets Dampen Regularization Imposed by Self-Distillation",
    NeurIPS 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from selfdistill_sklearn.model_selection import SelfDistilledKernelRidgeCV
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(60, 1))
    >>> y = np.sin(2 * np.pi * X[:, 0]) + rng.normal(scale=0.3, size=60)
    >>> search = SelfDistilledKernelRidgeCV(
    ...     reg_lambdas=[0.01, 0.1, 1.0], alphas=[0.0, 0.5, 1.0, "optimal"], max_steps=3,
    ...     kernel="rbf", gamma=10.0).fit(X, y)
    >>> len(search.cv_results_["params"])
    45
    >>> sorted(search.best_params_)
    ['alpha', 'n_steps', 'reg_lambda']
    >>> search.predict(X[:2]).shape
    (2,)
    """

    # groups go to the splitters cv and alpha_cv, not to this estimator's own requests.
    __metadata_request__fit = {"groups": metadata_routing.UNUSED}

    def __init__(self, reg_lambdas="auto", alphas=(0.0, 0.25, 0.5, 0.75, 1.0),
                 max_steps=4, *, include_limit=True, kernel="linear", gamma=None, degree=3,
                 coef0=1, kernel_params=None, clip_alpha=False, cv=5, alpha_cv=5,
                 scoring=None, n_jobs=None, verbose=0, fit_intercept=True):
        self.reg_lambdas = reg_lambdas
        self.alphas = alphas
        self.max_steps = max_steps
        self.include_limit = include_limit
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.kernel_params = kernel_params
        self.clip_alpha = clip_alpha
        self.cv = cv
        self.alpha_cv = alpha_cv
        self.scoring = scoring
        self.verbose = verbose
        self.n_jobs = n_jobs
        self.fit_intercept = fit_intercept

    def _fixed_params(self):
        return {"kernel": self.kernel, "gamma": self.gamma, "degree": self.degree,
                "coef0": self.coef0, "kernel_params": self.kernel_params,
                "clip_alpha": self.clip_alpha, "cv": self.alpha_cv,
                "fit_intercept": self.fit_intercept}

    def _check_grid(self):
        check_bool(self.include_limit, "include_limit")
        check_bool(self.clip_alpha, "clip_alpha")
        check_bool(self.fit_intercept, "fit_intercept")
        return check_grid(self.reg_lambdas, self.alphas, self.max_steps, self.scoring, SCORINGS,
                          include_limit=self.include_limit, n_jobs=self.n_jobs,
                          verbose=self.verbose)

    @fit_atomically()
    def fit(self, X, y, sample_weight=None, groups=None):
        """Score every candidate on the folds of ``cv`` and refit the best.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data, or the kernel matrix of shape (n_samples,
            n_samples) when ``kernel="precomputed"``.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        sample_weight : float or array-like of shape (n_samples,), default=None
            Non-negative weights of the training samples, used in every fit
            and in the held-out errors.
        groups : array-like of shape (n_samples,), default=None
            Group labels for group-aware splitters in ``cv`` and
            ``alpha_cv`` (``alpha_cv`` receives the labels of each fold's
            training part, and of all samples for ``best_estimator_``). With
            metadata routing enabled they are routed to the ``split`` of
            each splitter that requests them.

        Returns
        -------
        self : object
            The fitted estimator.

        Raises
        ------
        TypeError, ValueError
            For parameters or data that are not as documented, naming them.
            A fit that raises leaves the previous fitted state (none after a
            first fit).
        """
        grid = self._check_grid()
        self._check_kernel_params()
        groups = route_groups(self, groups, {"splitter": self.cv,
                                             "alpha_splitter": self.alpha_cv})
        X, y = validate_data(self, X, y, accept_sparse=("csr", "csc"), multi_output=True,
                             y_numeric=True)
        if self.kernel == "precomputed" and X.shape[0] != X.shape[1]:
            raise ValueError(
                "With kernel='precomputed', X must be the square kernel matrix of the "
                f"training samples, got shape {X.shape}."
            )
        sample_weight = check_sample_weight(sample_weight, X.shape[0])
        y_float = np.asarray(y, dtype=float)
        if self.cv is None:
            _check_gcv_scoring(self.scoring)
        scorer = SCORINGS[self.scoring or "neg_mean_squared_error"]
        if self.scoring == "neg_max_error" and y_float.ndim == 2:
            raise ValueError("scoring='neg_max_error' needs a single target, as "
                             f"sklearn.metrics.max_error does; y has shape {y_float.shape}.")

        # Small problems: threads and worker processes cost more than they save.
        small = X.shape[0] < SMALL_PROBLEM_SAMPLES
        with threadpool_limits(limits=1, user_api="blas") if small else nullcontext():
            if self.cv is None:
                self._gcv_search(X, y, y_float, sample_weight, groups, grid)
            else:
                self._search(X, y, y_float, sample_weight, groups, scorer, grid,
                             n_jobs=1 if small else self.n_jobs)
        return self

    def get_metadata_routing(self):
        """Metadata routing: this estimator's requests, and ``groups`` of
        :meth:`fit` to the ``split`` of ``cv`` and of ``alpha_cv``.

        Returns
        -------
        routing : :class:`sklearn.utils.metadata_routing.MetadataRouter`
        """
        return splitter_router(self, {"splitter": self.cv, "alpha_splitter": self.alpha_cv})

    def _search(self, X, y, y_float, sample_weight, groups, scorer, grid, n_jobs):
        """Score every candidate on every fold, then refit the best."""
        splits = check_splits(check_cv(self.cv).split(X, y, groups["splitter"]), X.shape[0],
                              "cv")
        # Index pairs (a generator of them read once: it can be read neither
        # again nor copied) refer to all the samples; each fold's training
        # part keeps the samples of its own.
        alpha_pairs = None
        if not (self.alpha_cv is None or isinstance(self.alpha_cv, numbers.Integral)
                or hasattr(self.alpha_cv, "split")):
            alpha_pairs = check_splits(check_cv(self.alpha_cv).split(), X.shape[0], "alpha_cv")
        kernel = self._get_kernel(X)
        kernel = kernel.toarray() if sparse.issparse(kernel) else np.asarray(kernel, dtype=float)
        grid = grid.resolved(lambda: largest_eigenvalue(kernel, sample_weight,
                                                        self.fit_intercept))

        n_lambdas = grid.lambdas.size
        inner = [self._inner_splits(X, y, groups["alpha_splitter"], alpha_pairs, train)
                 if grid.with_optimal else None for train, _ in splits]

        for split_index, (_, test) in enumerate(splits):
            if sample_weight is not None and not np.any(sample_weight[test] > 0):
                raise ValueError(
                    f"Held-out fold {split_index} has only zero sample weights: its weighted "
                    "error is not defined."
                )
        # Processes, not threads: SciPy's LAPACK routines hold the GIL, so that
        # folds in threads would not run at once. joblib memory-maps the
        # kernel matrix for the workers and limits their BLAS threads.
        tasks = _fold_tasks(len(splits), n_lambdas, effective_n_jobs(n_jobs))
        outputs = Parallel(n_jobs=n_jobs)(
            delayed(self._timed_split)(
                _task_label(index, len(splits), chosen, n_lambdas,
                            grid.of_lambdas(chosen).sum()),
                grid, chosen, kernel=kernel, y=y_float, sample_weight=sample_weight,
                train=splits[index][0], test=splits[index][1], inner_splits=inner[index],
                scorer=scorer)
            for index, chosen in tasks)
        scores = np.empty((grid.n_candidates, len(splits)))
        schedules = np.empty((len(splits), n_lambdas, grid.max_steps - 1))
        for (index, chosen), (task_scores, task_schedules) in zip(tasks, outputs, strict=True):
            rows = grid.of_lambdas(chosen)
            scores[rows, index] = task_scores[rows]
            if grid.with_optimal:
                schedules[index, chosen] = task_schedules

        self.cv_results_ = grid_results(grid.params(), scores)
        self.best_index_ = int(self.cv_results_["rank_test_score"].argmin())
        self.best_score_ = float(self.cv_results_["mean_test_score"][self.best_index_])
        self.best_params_ = dict(self.cv_results_["params"][self.best_index_])
        self.param_grid_ = grid.param_grid()
        self.reg_lambdas_ = grid.lambdas.copy()
        if grid.with_optimal:
            self.optimal_alphas_ = schedules
        self.n_splits_ = len(splits)
        warn_at_edges(type(self).__name__, edge_messages(
            self.best_params_, grid.lambdas, grid.max_steps, auto=grid.was_auto,
            eigenvalues=lambda: gcv.kernel_eigenvalues(kernel, sample_weight,
                                                       self.fit_intercept)))
        params = {**self._fixed_params(), **self.best_params_}
        if alpha_pairs is not None:
            params["cv"] = alpha_pairs
        self.best_estimator_ = SelfDistilledKernelRidge(**params).fit(
            X, y, sample_weight=sample_weight, groups=groups["alpha_splitter"])

    def _gcv_search(self, X, y, y_float, sample_weight, groups, grid):
        """Score every candidate by generalised cross-validation from one
        eigendecomposition of all the data, then refit the best."""
        start = time.perf_counter()
        kernel = self._get_kernel(X)
        kernel = kernel.toarray() if sparse.issparse(kernel) else np.asarray(kernel, dtype=float)
        spectrum = gcv.kernel_matrix_spectrum(kernel, y_float, sample_weight,
                                              self.fit_intercept)
        del kernel
        grid = grid.resolved(lambda: np.max(np.abs(spectrum.eigenvalues), initial=0.0))
        result = gcv_search_results(spectrum, grid, self.clip_alpha)
        if self.verbose:
            print(f"[SelfDistilledKernelRidgeCV] GCV of {grid.n_candidates} candidates in "
                  f"{time.perf_counter() - start:.2f} s", flush=True)
        self.cv_results_ = result["cv_results"]
        self.best_index_ = result["best_index"]
        self.best_score_ = result["best_score"]
        self.best_params_ = result["best_params"]
        self.param_grid_ = grid.param_grid()
        self.reg_lambdas_ = grid.lambdas.copy()
        schedules = result.get("optimal_alphas")
        if grid.with_optimal:
            self.optimal_alphas_ = schedules
        params = {**self._fixed_params(), **self.best_params_, "cv": None}
        best = SelfDistilledKernelRidge(**params)
        if self.best_params_["alpha"] == OPTIMAL:
            # The refit's GCV weights are those just computed on the same data.
            index = list(grid.reg_lambdas).index(self.best_params_["reg_lambda"])
            best._gcv_hint = (schedules[index, :self.best_params_["n_steps"] - 1],
                              spectrum.eigenvalues)
        self.best_estimator_ = best.fit(X, y, sample_weight=sample_weight)
        warn_at_edges(type(self).__name__, edge_messages(
            self.best_params_, grid.lambdas, grid.max_steps, auto=grid.was_auto,
            eigenvalues=lambda: spectrum.eigenvalues))

    def _inner_splits(self, X, y, groups, alpha_pairs, train):
        """The ``alpha_cv`` splits of the training part ``train`` of a fold, in
        positions within it, as
        ``SelfDistilledKernelRidge(alpha="optimal", cv=alpha_cv)`` fitted on
        that part splits it."""
        n_samples = len(train)
        if alpha_pairs is not None:
            return check_splits(
                [(np.flatnonzero(np.isin(train, inner_train)),
                  np.flatnonzero(np.isin(train, inner_test)))
                 for inner_train, inner_test in alpha_pairs], n_samples, "alpha_cv")
        # A grid search clones the estimator, and with it the splitter, for
        # every fit: a copy per fold keeps a seeded shuffle identical.
        cv = check_cv(clone(self.alpha_cv, safe=False))
        part_X = X[train]
        part_y = y[train]
        part_groups = None if groups is None else np.asarray(groups)[train]
        n_splits = cv.get_n_splits(part_X, part_y, part_groups)
        if n_samples < max(2, n_splits):
            raise ValueError(
                f"alpha='optimal' chooses alpha on alpha_cv={self.alpha_cv!r} folds of each "
                f"training part and needs at least {max(2, n_splits)} samples there, got "
                f"n_samples={n_samples}. Use fewer folds or drop 'optimal' from alphas."
            )
        return check_splits(cv.split(part_X, part_y, part_groups), n_samples, "alpha_cv")

    def _timed_split(self, label, grid, lambda_indices, **fold):
        """:meth:`_score_split`, reported as ``label`` when ``verbose``."""
        start = time.perf_counter()
        scores, schedules = self._score_split(grid, lambda_indices, **fold)
        if self.verbose:
            print(f"[SelfDistilledKernelRidgeCV] {label} scored in "
                  f"{time.perf_counter() - start:.2f} s", flush=True)
        return scores, schedules

    def _score_split(self, grid, lambda_indices, *, kernel, y, sample_weight, train, test,
                     inner_splits, scorer):
        """Scores of the candidates of the penalties ``lambda_indices`` on one
        fold (the other entries are left unset), and the optimal schedules of
        those penalties chosen inside its training part."""
        train_weight = None if sample_weight is None else sample_weight[train]
        test_weight = None if sample_weight is None else sample_weight[test]
        train_kernel = kernel[np.ix_(train, train)]
        y_train, offset, test_kernel = y[train], 0.0, None
        if self.fit_intercept:
            # The intercept model is the model without one on centred data.
            offset = np.average(y_train, axis=0, weights=train_weight)
            y_train = y_train - offset
            train_kernel, test_kernel = centre_kernel(
                train_kernel, train_weight, kernel[np.ix_(test, train)], overwrite=True)
        form = weighted_kernel_tridiagonal(train_kernel, train_weight)
        schedules = None
        if grid.with_optimal:
            schedules = self._optimal_schedules(form, y_train, train_weight,
                                                grid.lambdas[lambda_indices], grid.max_steps,
                                                inner_splits, train_kernel)
        del train_kernel
        if test_kernel is None:
            test_kernel = kernel[np.ix_(test, train)]
        fold = _sweep_fold(form, test_kernel, y_train, train_weight,
                           n_columns=lambda_indices.size * grid.n_rows, offset=offset)
        scores = np.full(grid.n_candidates, np.nan)
        for position, lambda_index in enumerate(lambda_indices):
            coefs = _candidate_coefficients(
                fold, grid, grid.lambdas[lambda_index],
                None if schedules is None else schedules[position])
            # Candidates with equal coefficients (tau = 1, alpha = 1) share
            # one evaluation, so that they tie exactly as the refits of a
            # grid search do.
            unique, inverse = unique_columns(coefs)
            predictions = fold.predict(unique)
            grid.scatter(lambda_index, scorer(y[test], predictions, test_weight)[inverse],
                         scores)
        return scores, schedules

    def _optimal_schedules(self, form, y, sample_weight, lambdas, max_steps, splits,
                           train_kernel):
        """Algorithm 1 on the ``alpha_cv`` splits of one fold's training part
        (:meth:`_inner_splits`), from that part's decomposition (see Notes)."""
        if max_steps == 1:
            return np.empty((lambdas.size, 0))
        schedules = downdated_optimal_schedules(form, _scaled(y, sample_weight), splits,
                                                lambdas, max_steps, clip=self.clip_alpha,
                                                fit_intercept=self.fit_intercept,
                                                sample_weight=sample_weight)
        # Where a system is numerically singular the downdate does not exist:
        # factor the inner splits as the refitting estimator does, with its
        # least-squares fallback.
        for index in np.flatnonzero(np.isnan(schedules).any(axis=1)):
            refit = SelfDistilledKernelRidge(alpha=OPTIMAL, n_steps=max_steps,
                                             reg_lambda=lambdas[index], kernel="precomputed",
                                             clip_alpha=self.clip_alpha, cv=splits,
                                             fit_intercept=self.fit_intercept)
            schedules[index] = refit._cross_validated_alphas(
                train_kernel, y, sample_weight, max_steps, lambdas[index])
        return schedules

    def predict(self, X):
        """Predict with ``best_estimator_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples, or their kernel with the training samples when
            ``kernel="precomputed"``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
            The predictions of the refitted best candidate.
        """
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=("csr", "csc"), reset=False)
        return self.best_estimator_.predict(X)


#: Above this many samples the largest eigenvalue of the kernel matrix is
#: found by Lanczos iterations (each a product with the kernel matrix),
#: below it from all the eigenvalues.
_LANCZOS_SAMPLES = 500


def largest_eigenvalue(kernel, sample_weight, fit_intercept):
    """The largest eigenvalue (in magnitude) of the weighted kernel matrix
    ``S K S``, centred with an intercept: the scale of ``reg_lambdas="auto"``.

    Above ``_LANCZOS_SAMPLES`` samples, implicitly restarted Lanczos
    iterations (ARPACK, from a fixed start) on products with ``K``, in
    ``O(n^2)`` each instead of the ``O(n^3)`` of all eigenvalues; to a
    relative ``1e-10``.
    """
    n = kernel.shape[0]
    if n <= _LANCZOS_SAMPLES:
        return float(np.max(np.abs(gcv.kernel_eigenvalues(kernel, sample_weight,
                                                          fit_intercept)), initial=0.0))
    root = np.ones(n) if sample_weight is None else np.sqrt(np.asarray(sample_weight, float))
    norm = root @ root

    def centre(vector):
        return vector - root * (root @ vector) / norm if fit_intercept else vector

    def matvec(vector):
        vector = centre(np.ravel(vector))
        return centre(root * (kernel @ (root * vector)))

    operator = LinearOperator((n, n), matvec=matvec, dtype=float)
    start = np.random.default_rng(0).standard_normal(n)
    try:
        values = eigsh(operator, k=1, which="LM", v0=start, tol=1e-10,
                       return_eigenvectors=False)
    except ArpackNoConvergence:
        return float(np.max(np.abs(gcv.kernel_eigenvalues(kernel, sample_weight,
                                                          fit_intercept)), initial=0.0))
    return float(abs(values[0]))


def _fold_tasks(n_splits, n_lambdas, n_workers):
    """``(fold index, penalty indices)`` of each task for ``n_workers``.

    Whole folds, except that the folds of a last round that would leave
    workers idle are split by penalty among them: each part decomposes the
    fold again but chooses alpha* and scores the candidates of its penalties
    only (on two workers the search of 3000 samples in the benchmark takes
    about 10.0 s instead of 11.0-11.5 s). One worker takes every fold whole.
    """
    every = np.arange(n_lambdas)
    n_whole = n_splits if n_workers <= 1 else n_splits - n_splits % n_workers
    tasks = [(index, every) for index in range(n_whole)]
    left = n_splits - n_whole
    for index in range(n_whole, n_splits):
        parts = max(1, min(n_workers // left, n_lambdas))
        tasks.extend((index, chosen) for chosen in np.array_split(every, parts))
    return tasks


def _task_label(index, n_splits, chosen, n_lambdas, n_candidates):
    """``fold 3/5 (penalties 1-4 of 8): 428 candidates`` for verbose output."""
    part = ("" if chosen.size == n_lambdas else
            f" (penalties {chosen[0] + 1}-{chosen[-1] + 1} of {n_lambdas})")
    return f"fold {index + 1}/{n_splits}{part}: {n_candidates} candidates"


def _candidate_coefficients(fold, grid, reg_lambda, schedule):
    """Coordinates of every row of one penalty (see
    :class:`~selfdistill_sklearn._candidates.CandidateGrid`), shape (n,
    n_rows) or (n, n_rows, k)."""
    form, z = fold.form, fold.projected_targets
    steps = limits = optimal = None
    if grid.fixed:
        constant = np.repeat(np.asarray(grid.fixed)[:, None], grid.max_steps - 1, axis=1)
        steps = step_coefficients(form, z, reg_lambda, constant)
        steps = steps.reshape((form.n, -1) + z.shape[1:])
        limits = limit_coefficients(form, z, reg_lambda, grid.fixed)
    if schedule is not None:
        optimal = step_coefficients(form, z, reg_lambda, schedule[None, :])[:, 0]
    return grid.rows(steps, limits, optimal)


def _scaled(y, sample_weight):
    """``S y`` with ``S = diag(sqrt(w))``."""
    if sample_weight is None:
        return y
    return np.sqrt(sample_weight).reshape((-1,) + (1,) * (y.ndim - 1)) * y


def _sweep_fold(form, test_kernel, y_train, train_weight, n_columns, offset=0.0):
    """The fold of a decomposed training part; ``n_columns`` is the number of
    candidate columns expected, which decides whether ``K_test S Q`` is
    formed; ``offset`` is added to every held-out prediction."""
    scaled_test_kernel = (test_kernel if train_weight is None
                          else test_kernel * np.sqrt(train_weight)[None, :])
    projected = form.basis.T @ _scaled(y_train, train_weight)
    n_test = test_kernel.shape[0]
    if n_columns * (1 if y_train.ndim == 1 else y_train.shape[1]) >= n_test:
        test_map = scaled_test_kernel @ form.basis
    else:
        def test_map(coefs):
            return scaled_test_kernel @ (form.basis @ coefs)
    return SweepFold(form, projected, test_map, offset)
