"""Self-distilled classifiers: the regressors on targets encoded in {-1, 1}.

As :class:`sklearn.linear_model.RidgeClassifier` sits on
:class:`sklearn.linear_model.Ridge`, each classifier here is its regressor
fitted on the labels encoded by
``LabelBinarizer(pos_label=1, neg_label=-1)``: one column for two classes,
one column per class otherwise. This is the paper's own classification setup
(Borup & Andersen, 2021, Section 5 and eq. (18): squared error against coded
class targets). Every closed form of the regressors holds column by column;
the optimal weight of Theorem 4.4, eq. (16), pools its numerator and
denominator over the class columns (the Frobenius inner products that
Section 5 uses for one-hot network outputs), so one weight serves all
classes at each step.
"""

import numbers
from contextlib import contextmanager

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import compute_sample_weight
from sklearn.utils.metadata_routing import get_routing_for_object
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d

from ._streaming import is_dask_array
from ._validation import check_sample_weight
from .kernel_ridge import SelfDistilledKernelRidge
from .model_selection import SelfDistilledKernelRidgeCV
from .ridge import SelfDistilledRidge, SelfDistilledRidgeCV

__all__ = [
    "SelfDistilledKernelRidgeClassifier",
    "SelfDistilledKernelRidgeClassifierCV",
    "SelfDistilledRidgeClassifier",
    "SelfDistilledRidgeClassifierCV",
]

#: Scorings of the searches computed from squared errors on the encoded
#: targets (both searches) and from held-out predictions (the kernel search).
_SQUARED_ERROR_SCORINGS = (None, "neg_mean_squared_error")


# -- labels -------------------------------------------------------------------------------

def _check_labels(y, name):
    """One label per sample, of a binary or multiclass problem, as a 1-D array."""
    if is_dask_array(y):
        # Labels are one column: the classes must be known before the pass.
        y = y.compute()
    y = check_array(y, ensure_2d=False, dtype=None, ensure_all_finite=True, input_name=name)
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    if y.ndim != 1:
        raise ValueError(
            f"{name} must hold one class label per sample, of shape (n_samples,), got shape "
            f"{y.shape}: multilabel and multioutput targets are not supported."
        )
    check_classification_targets(y)
    target_type = type_of_target(y, input_name=name)
    if target_type not in ("binary", "multiclass"):
        raise ValueError(f"{name} must hold binary or multiclass labels, got {target_type!r} "
                         "targets.")
    return y


def _check_class_weight(class_weight):
    if class_weight is None or isinstance(class_weight, dict) or class_weight == "balanced":
        return
    raise ValueError(
        f"class_weight must be None, 'balanced' or a dict from classes to weights, got "
        f"{class_weight!r}."
    )


def _class_indices(encoded):
    """Class indices of targets encoded in {-1, 1} (or of decision values):
    the sign of one column, else the column of the largest value."""
    if encoded is None:
        return None
    encoded = np.asarray(encoded)
    if encoded.ndim == 1 or encoded.shape[1] == 1:
        return (encoded.reshape(encoded.shape[0]) > 0).astype(np.intp)
    return encoded.argmax(axis=1)


def _encoded_accuracy(y_true, y_pred, sample_weight):
    """Held-out accuracy of every candidate, from the encoded targets ``y_true``
    of shape (m,) or (m, k) and the candidates' decision values ``y_pred`` of
    shape (m, c) or (m, c, k): the scorer signature of
    :data:`selfdistill_sklearn.model_selection.SCORINGS`."""
    true = _class_indices(y_true)
    predicted = (y_pred > 0).astype(np.intp) if y_pred.ndim == 2 else y_pred.argmax(axis=2)
    return np.average(predicted == true[:, None], axis=0, weights=sample_weight)


class _ClassLabelSplits:
    """A splitter that receives the encoded targets from a regressor and hands
    its wrapped splitter the class indices instead, so that stratified (and
    any other label-aware) splitting sees classes, as it does in a grid
    search over classifiers."""

    def __init__(self, splitter, original):
        self.splitter = splitter
        self.original = original

    def split(self, X, y=None, groups=None):
        return self.splitter.split(X, _class_indices(y), groups)

    def get_n_splits(self, X=None, y=None, groups=None):
        return self.splitter.get_n_splits(X, _class_indices(y), groups)

    def get_metadata_routing(self):
        return get_routing_for_object(self.splitter)

    def __repr__(self):
        return repr(self.original)


def _label_splits(cv):
    """``cv`` as the regressor should receive it: a number of folds becomes
    :class:`~sklearn.model_selection.StratifiedKFold` (as
    :func:`sklearn.model_selection.check_cv` makes it for a classifier), a
    splitter sees class labels; ``None`` and index pairs pass unchanged."""
    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool | np.bool_):
        return _ClassLabelSplits(StratifiedKFold(cv), cv)
    if hasattr(cv, "split") and not isinstance(cv, str):
        return _ClassLabelSplits(cv, cv)
    return cv


@contextmanager
def _fitting_with(estimator, **values):
    """Give ``estimator`` the attributes ``values`` for the duration of a fit,
    then put the user's parameters back (also when the fit raises)."""
    missing = object()
    saved = {name: vars(estimator).get(name, missing) for name in values}
    vars(estimator).update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                vars(estimator).pop(name, None)
            else:
                vars(estimator)[name] = value


class _EncodedTargets:
    """Labels of a fit, encoded; the weights with ``class_weight`` applied."""

    def __init__(self, estimator, y, sample_weight, y_val=None):
        _check_class_weight(estimator.class_weight)
        if y is None:
            raise ValueError(f"{type(estimator).__name__} requires y to be passed, but the "
                             "target y is None.")
        y = _check_labels(y, "y")
        classes = np.unique(y)
        if classes.size < 2:
            raise ValueError(
                f"y has one class only ({classes[0]!r}): a classifier needs samples of at "
                "least 2 classes."
            )
        binarizer = LabelBinarizer(pos_label=1, neg_label=-1).fit(y)
        self.classes = binarizer.classes_
        self.Y = self._encode(binarizer, y)
        sample_weight = check_sample_weight(sample_weight, y.shape[0])
        if estimator.class_weight is not None:
            reweighting = compute_sample_weight(estimator.class_weight, y)
            sample_weight = reweighting if sample_weight is None else sample_weight * reweighting
        self.sample_weight = sample_weight
        self.Y_val = None
        if y_val is not None:
            y_val = _check_labels(y_val, "y_val")
            unseen = np.setdiff1d(np.unique(y_val), self.classes)
            if unseen.size:
                raise ValueError(f"y_val holds labels that y does not: {unseen.tolist()!r}.")
            self.Y_val = self._encode(binarizer, y_val)

    def _encode(self, binarizer, y):
        Y = binarizer.transform(y).astype(np.float64)
        # Two classes: one column, passed as a single target.
        return Y[:, 0] if self.classes.size == 2 else Y


def _as_classifier(regressor, classifier_class, classes, class_weight):
    """The fitted ``regressor`` (a ``best_estimator_``) as the matching
    classifier, its fitted state carried over: the classifier is the
    regressor on the encoded targets, with ``classes_``."""
    params = {name: (value.original if isinstance(value, _ClassLabelSplits) else value)
              for name, value in regressor.get_params(deep=False).items()}
    classifier = classifier_class(**params, class_weight=class_weight)
    for name, value in vars(regressor).items():
        if name not in params:
            setattr(classifier, name, value)
    classifier.classes_ = classes
    return classifier


# -- the shared classifier behaviour ------------------------------------------------------

class _SelfDistilledClassifierMixin(ClassifierMixin):
    """Decision values, labels and staged versions of both; the regressor's
    predictions are the decision values."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags = None
        tags.target_tags.multi_output = False
        tags.classifier_tags.multi_label = False
        return tags

    def _decision(self, X):
        return super().predict(X)

    def _staged_decision(self, X):
        return super().staged_predict(X)

    def decision_function(self, X):
        """Decision values: the regressor's predictions of the encoded targets.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples (for kernel estimators with ``kernel="precomputed"``, their
            kernel with the training samples).

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            One column for two classes (positive values vote for
            ``classes_[1]``), else one per class. A lazy dask array for a
            dask ``X`` (primal estimators).
        """
        return self._decision(X)

    def predict(self, X):
        """Predict class labels: the class of the largest decision value.

        For two classes, ``classes_[1]`` where the decision value is positive.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels among ``classes_``.
        """
        return self._labels(self.decision_function(X))

    def staged_decision_function(self, X):
        """Decision values of every step, step 1 first.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Yields
        ------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)

        Raises
        ------
        ValueError
            With ``n_steps=inf``, whose steps do not exist.
        """
        yield from self._staged_decision(X)

    def staged_predict(self, X):
        """Class labels of every step, step 1 first.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Yields
        ------
        y_pred : ndarray of shape (n_samples,)

        Raises
        ------
        ValueError
            With ``n_steps=inf``, whose steps do not exist.
        """
        for decision in self._staged_decision(X):
            yield self._labels(decision)

    def _labels(self, decision):
        classes = self.classes_
        if is_dask_array(decision):
            return decision.map_blocks(
                lambda block: classes[_class_indices(block)], dtype=classes.dtype,
                drop_axis=list(range(1, decision.ndim)))
        return classes[_class_indices(decision)]


class _SearchClassifierMixin(_SelfDistilledClassifierMixin):
    """Decisions of a search: those of its ``best_estimator_``."""

    def _decision(self, X):
        check_is_fitted(self)
        return self.best_estimator_.decision_function(X)

    def _staged_decision(self, X):
        check_is_fitted(self)
        return self.best_estimator_.staged_decision_function(X)


# -- the estimators -----------------------------------------------------------------------

_CLASS_WEIGHT_DOC = """class_weight : dict, "balanced" or None, default=None
        Weights of the classes, ``{class_label: weight}``, that multiply
        ``sample_weight`` (as in :class:`sklearn.linear_model.RidgeClassifier`);
        ``"balanced"`` gives the weights ``n_samples / (n_classes *
        np.bincount(y))`` of :func:`sklearn.utils.compute_sample_weight`.
        They weight every squared error of the fit, the held-out errors of
        ``alpha="optimal"`` on folds included."""

_ENCODING_NOTE = """The labels are encoded by ``LabelBinarizer(pos_label=1, neg_label=-1)``
    (two classes: one column, ``+1`` for ``classes_[1]``; otherwise one
    column per class) and the regressor is fitted on them:
    :meth:`decision_function` is its prediction, :meth:`predict` the class
    of the largest decision value (two classes: its sign), ``score``
    the accuracy. The optimal weight of Theorem 4.4, eq. (16), is chosen for
    all class columns at once: its numerator ``<y1 - y0, ytilde - y0>`` and
    denominator ``||y1 - y0||^2`` are Frobenius inner products over samples
    and columns, the minimiser of the squared error summed over the columns,
    as Section 5 of the paper does for the one-hot outputs of networks. An
    integer ``cv`` means :class:`~sklearn.model_selection.StratifiedKFold`,
    as in a grid search over classifiers, and splitters receive the class
    labels."""


def _fill_docstring(cls):
    cls.__doc__ = (cls.__doc__.replace("{class_weight}", _CLASS_WEIGHT_DOC)
                   .replace("{encoding}", _ENCODING_NOTE))


class SelfDistilledKernelRidgeClassifier(_SelfDistilledClassifierMixin,
                                         SelfDistilledKernelRidge):
    """Classifier by self-distilled kernel ridge regression on encoded labels.

    The labels are encoded in {-1, 1}.

    :class:`~selfdistill_sklearn.SelfDistilledKernelRidge` fitted on the
    encoded labels, as :class:`sklearn.linear_model.RidgeClassifier` is
    :class:`sklearn.linear_model.Ridge` on them (see Notes): step 1 is
    kernel ridge classification, every later step refits on
    ``alpha(t) Y + (1 - alpha(t)) Y(t-1)`` (Borup & Andersen, 2021, eqs.
    (3)-(5)), all steps from one factorisation (Theorem 4.1).

    Parameters
    ----------
    alpha : float in [0, 1], array-like of shape (n_steps - 1,) or "optimal", default=0.5
        As in :class:`~selfdistill_sklearn.SelfDistilledKernelRidge`.
        ``"optimal"`` chooses one weight per step for all classes (eq. (16)
        pooled over the class columns), on ``X_val, y_val`` or on the folds
        of ``cv``.
    n_steps : int in [1, 1000] or float("inf"), default=2
        Number of fits including the first; ``float("inf")`` is the limit of
        Theorem 4.5 (kernel ridge with penalty ``reg_lambda / alpha``).
    reg_lambda : float > 0, default=1.0
        Ridge penalty ``lambda``.
    kernel : str or callable, default="linear"
        As in :class:`sklearn.kernel_ridge.KernelRidge`, ``"precomputed"``
        included.
    gamma : float >= 0, default=None
        Parameter of the rbf, laplacian, polynomial, exponential chi2 and
        sigmoid kernels.
    degree : float >= 0, default=3
        Degree of the polynomial kernel.
    coef0 : float, default=1
        Zero coefficient of the polynomial and sigmoid kernels.
    kernel_params : dict, default=None
        Parameters of the kernel, as in :class:`sklearn.kernel_ridge.KernelRidge`.
    clip_alpha : bool, default=False
        Clip the weights of ``"optimal"`` to ``[0, 1]`` (footnote 10).
    cv : int, cross-validation generator or iterable, default=5
        Folds of ``alpha="optimal"`` without validation data. An integer is
        that many stratified folds; a splitter receives the class labels.
    fit_intercept : bool, default=True
        Fit an unpenalised intercept per class column at every step
        (``False`` is the paper's model).
    {class_weight}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted.
    alphas_ : ndarray of shape (n_steps - 1,)
        The weights ``alpha(2), ..., alpha(n_steps)`` used, shared by all
        classes.
    dual_coef_ : ndarray of shape (n_samples,) or (n_samples, n_classes)
        Dual coefficients of the last step (one column for two classes).
    staged_dual_coef_ : ndarray of shape (n_steps, n_samples) or (n_steps, n_samples, n_classes)
        Dual coefficients of every step. Absent for ``n_steps=inf``.
    intercept_ : float or ndarray of shape (n_classes,)
    staged_intercept_ : ndarray of shape (n_steps,) or (n_steps, n_classes)
    X_fit_ : {ndarray, sparse matrix} of shape (n_samples, n_features)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    See Also
    --------
    SelfDistilledKernelRidge : The regressor fitted on the encoded labels.
    SelfDistilledKernelRidgeClassifierCV : The penalty, weights and steps chosen
        by cross-validation.
    sklearn.linear_model.RidgeClassifier : One step with the linear kernel.

    Notes
    -----
    {encoding}

    With ``kernel="linear"`` and ``n_steps=1`` this is
    :class:`sklearn.linear_model.RidgeClassifier` with ``alpha=reg_lambda``
    (with or without intercept and sample weights).

    References
    ----------
    K. Borup and L. N. Andersen, "Even your Teacher Needs Guidance:
    Ground-Truth Targets Dampen Regularization Imposed by Self-Distillation",
    NeurIPS 2021.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from selfdistill_sklearn import SelfDistilledKernelRidgeClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SelfDistilledKernelRidgeClassifier(alpha=0.5, n_steps=3, reg_lambda=0.1,
    ...                                          kernel="rbf", gamma=0.5).fit(X, y)
    >>> clf.classes_
    array([0, 1, 2])
    >>> clf.decision_function(X[:2]).shape
    (2, 3)
    >>> [round(float(score), 2) for score in (clf.score(X, y),)]
    [0.99]
    >>> len(list(clf.staged_predict(X[:2])))
    3
    """

    def __init__(self, alpha=0.5, n_steps=2, reg_lambda=1.0, *, kernel="linear", gamma=None,
                 degree=3, coef0=1, kernel_params=None, clip_alpha=False, cv=5,
                 fit_intercept=True, class_weight=None):
        super().__init__(alpha=alpha, n_steps=n_steps, reg_lambda=reg_lambda, kernel=kernel,
                         gamma=gamma, degree=degree, coef0=coef0, kernel_params=kernel_params,
                         clip_alpha=clip_alpha, cv=cv, fit_intercept=fit_intercept)
        self.class_weight = class_weight

    def fit(self, X, y, sample_weight=None, X_val=None, y_val=None, groups=None):
        """Fit ``n_steps`` steps on the encoded labels.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data, or the kernel matrix when ``kernel="precomputed"``.
        y : array-like of shape (n_samples,)
            Class labels (numbers or strings), of at least two classes.
        sample_weight : float or array-like of shape (n_samples,), default=None
            Non-negative weights, multiplied by those of ``class_weight``.
        X_val : {array-like, sparse matrix} of shape (n_val, n_features), default=None
            Validation inputs for ``alpha="optimal"``.
        y_val : array-like of shape (n_val,), default=None
            Validation labels, all among those of ``y``.
        groups : array-like of shape (n_samples,), default=None
            Group labels for a group-aware ``cv`` splitter.

        Returns
        -------
        self : object
            The fitted classifier.

        Raises
        ------
        TypeError, ValueError
            For parameters or data that are not as documented, naming them:
            labels that are not binary or multiclass (continuous values,
            multilabel indicators), a single class, ``y_val`` with labels
            absent from ``y``, a ``class_weight`` that is not a dict,
            ``"balanced"`` or ``None``. A fit that raises leaves the previous
            fitted state.
        """
        targets = _EncodedTargets(self, y, sample_weight, y_val)
        with _fitting_with(self, cv=_label_splits(self.cv)):
            super().fit(X, targets.Y, sample_weight=targets.sample_weight, X_val=X_val,
                        y_val=targets.Y_val, groups=groups)
        self.classes_ = targets.classes
        return self


_fill_docstring(SelfDistilledKernelRidgeClassifier)


class SelfDistilledRidgeClassifier(_SelfDistilledClassifierMixin, SelfDistilledRidge):
    """Classifier by self-distilled ridge regression on features, streamed.

    The labels are encoded in {-1, 1}; the features are formed over row blocks.

    :class:`~selfdistill_sklearn.SelfDistilledRidge` fitted on the encoded
    labels (see Notes): one pass over the data forms the moments ``G =
    Phi^T W Phi`` and ``r = Phi^T W Y`` of all class columns at once, after
    which every step, the limit (Theorem 4.5) and the optimal weights
    (Theorem 4.4) are ``m x m`` algebra. On raw features it is
    :class:`SelfDistilledKernelRidgeClassifier` with the linear kernel.

    Parameters
    ----------
    alpha : float in [0, 1], array-like of shape (n_steps - 1,) or "optimal", default=0.5
        As in :class:`~selfdistill_sklearn.SelfDistilledRidge`; ``"optimal"``
        chooses one weight per step for all classes.
    n_steps : int >= 1 or float("inf"), default=2
        Number of fits ``tau`` including the first, as in
        :class:`~selfdistill_sklearn.SelfDistilledRidge`.
    reg_lambda : float > 0, default=1.0
        Ridge penalty ``lambda`` on ``beta``.
    fit_intercept : bool, default=True
        Fit an unpenalised intercept per class column at every step.
    feature_map : transformer or None, default=None
        Map ``phi`` (``Nystroem``, ``RBFSampler``, a ``Pipeline`` ...), as in
        :class:`~selfdistill_sklearn.SelfDistilledRidge`; fitted on the
        samples and, for supervised maps, their encoded labels.
    clip_alpha : bool, default=False
        Clip the weights of ``"optimal"`` to ``[0, 1]`` (footnote 10).
    cv : int, cross-validation generator, iterable or None, default=5
        Folds of ``alpha="optimal"`` without validation data. An integer is
        that many stratified folds; a splitter receives the class labels.
        ``None`` chooses the weights by generalised cross-validation on the
        encoded labels, as :class:`~selfdistill_sklearn.SelfDistilledRidge`
        does with ``cv=None``.
    block_size : int, default=4096
        Rows whose features are formed at once, as in
        :class:`~selfdistill_sklearn.SelfDistilledRidge`.
    feature_map_samples : int or None, default=100_000
        Most rows the feature map is fitted on; ``None`` fits it on all rows.
    random_state : int, RandomState instance or None, default=None
        Draw of the rows the feature map is fitted on, when there are more
        than ``feature_map_samples``.
    verbose : int, default=0
        Print the phases of the fit and the progress of its pass, as
        :class:`~selfdistill_sklearn.SelfDistilledRidge` does.
    {class_weight}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (n_features_out,) or (n_classes, n_features_out)
        ``beta`` of the last step (one row for two classes, as the
        regressor's layout for a single target).
    intercept_ : float or ndarray of shape (n_classes,)
    staged_coef_ : ndarray of shape (n_steps, m) or (n_steps, n_classes, m)
        Absent for ``n_steps=inf``.
    staged_intercept_ : ndarray of shape (n_steps,) or (n_steps, n_classes)
    alphas_ : ndarray of shape (n_steps - 1,)
    feature_map_ : transformer or None
    n_features_out_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
    n_samples_seen_ : int
        Number of training rows.

    See Also
    --------
    SelfDistilledRidge : The regressor fitted on the encoded labels.
    SelfDistilledRidgeClassifierCV : The penalty, weights and steps chosen in one pass.
    sklearn.linear_model.RidgeClassifier : One step on raw features.

    Notes
    -----
    {encoding}

    Dask arrays ``X`` are streamed as by the regressor; the labels are held
    in memory (a dask ``y`` is computed: its classes are needed before the
    pass), and :meth:`predict` of a dask ``X`` returns a lazy dask array.

    References
    ----------
    K. Borup and L. N. Andersen, "Even your Teacher Needs Guidance:
    Ground-Truth Targets Dampen Regularization Imposed by Self-Distillation",
    NeurIPS 2021.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.kernel_approximation import Nystroem
    >>> from selfdistill_sklearn import SelfDistilledRidgeClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SelfDistilledRidgeClassifier(
    ...     alpha=0.5, n_steps=3, reg_lambda=0.1,
    ...     feature_map=Nystroem(gamma=0.5, n_components=40, random_state=0)).fit(X, y)
    >>> clf.coef_.shape
    (3, 40)
    >>> len(list(clf.staged_decision_function(X[:2])))
    3
    """

    def __init__(self, alpha=0.5, n_steps=2, reg_lambda=1.0, *, fit_intercept=True,
                 feature_map=None, clip_alpha=False, cv=5, block_size=4096,
                 feature_map_samples=100_000, random_state=None, verbose=0,
                 class_weight=None):
        super().__init__(alpha=alpha, n_steps=n_steps, reg_lambda=reg_lambda,
                         fit_intercept=fit_intercept, feature_map=feature_map,
                         clip_alpha=clip_alpha, cv=cv, block_size=block_size,
                         feature_map_samples=feature_map_samples, random_state=random_state,
                         verbose=verbose)
        self.class_weight = class_weight

    def fit(self, X, y, sample_weight=None, X_val=None, y_val=None, groups=None):
        """Fit ``n_steps`` steps on the encoded labels in one pass over the data.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels (numbers or strings), of at least two classes.
        sample_weight : float or array-like of shape (n_samples,), default=None
            Non-negative weights, multiplied by those of ``class_weight``.
        X_val : array-like of shape (n_val, n_features), default=None
            Validation inputs for ``alpha="optimal"`` (unweighted).
        y_val : array-like of shape (n_val,), default=None
            Validation labels, all among those of ``y``.
        groups : array-like of shape (n_samples,), default=None
            Group labels for a group-aware ``cv`` splitter.

        Returns
        -------
        self : object
            The fitted classifier.

        Raises
        ------
        TypeError, ValueError
            For parameters or data that are not as documented, naming them
            (as :meth:`SelfDistilledKernelRidgeClassifier.fit`).
        """
        targets = _EncodedTargets(self, y, sample_weight, y_val)
        with _fitting_with(self, cv=_label_splits(self.cv)):
            super().fit(X, targets.Y, sample_weight=targets.sample_weight, X_val=X_val,
                        y_val=targets.Y_val, groups=groups)
        self.classes_ = targets.classes
        return self


_fill_docstring(SelfDistilledRidgeClassifier)


class SelfDistilledKernelRidgeClassifierCV(_SearchClassifierMixin, SelfDistilledKernelRidgeCV):
    """Self-distilled kernel ridge classification with lambda, alpha and tau by CV.

    Every candidate is scored from one decomposition per fold.

    :class:`~selfdistill_sklearn.SelfDistilledKernelRidgeCV` on the labels
    encoded in {-1, 1}, as :class:`sklearn.linear_model.RidgeClassifierCV`
    is :class:`sklearn.linear_model.RidgeCV` on them: every candidate of
    ``reg_lambdas x alphas x (1, ..., max_steps[, inf])`` is scored on the
    held-out part of every fold from the closed forms of Section 4.2, and
    the best is refitted on all the data as a
    :class:`SelfDistilledKernelRidgeClassifier`.

    Parameters
    ----------
    reg_lambdas : "auto" or array-like of float > 0, default="auto"
        Ridge penalties ``lambda`` to try. ``"auto"``: 45, four per decade
        from ``1e-10`` to ``10`` times the largest eigenvalue of the
        (weighted, centred) matrix ``lambda`` is added to, as for the
        regressor (see :ref:`choosing`). An explicit grid is used as given.
        A best penalty at either end of the grid, or a best ``tau =
        max_steps > 1``, gives a :class:`~selfdistill_sklearn.GridEdgeWarning`.
    alphas : array-like of float in [0, 1] and "optimal", default=(0.0, 0.25, 0.5, 0.75, 1.0)
        ``"optimal"`` is the step-wise weight of eq. (16), pooled over the
        class columns, chosen inside each fold's training part on its
        ``alpha_cv`` splits.
    max_steps : int in [1, 1000], default=4
        Largest number of steps ``tau`` tried; every ``tau`` from 1 to
        ``max_steps`` is a candidate.
    include_limit : bool, default=True
        Whether the limit ``tau = inf`` of every fixed ``alpha`` (Theorem
        4.5) is a candidate.
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
        Folds on which the candidates are scored. An integer is that many
        stratified folds (as ``GridSearchCV`` makes them for a classifier);
        a splitter receives the class labels; ``None`` and index pairs go to
        :class:`~selfdistill_sklearn.SelfDistilledKernelRidgeCV` unchanged.
    alpha_cv : int, cross-validation generator or iterable, default=5
        Folds of ``"optimal"`` inside each training part (stratified for an
        integer), the ``cv`` of ``best_estimator_``.
    scoring : {None, "neg_mean_squared_error", "accuracy"}, default=None
        ``None`` and ``"neg_mean_squared_error"`` score the squared error of
        the decision values against the encoded labels (averaged over the
        class columns), as :class:`sklearn.linear_model.RidgeClassifierCV`
        does by default. ``"accuracy"`` scores the held-out predicted labels
        of every candidate; the search computes every candidate's held-out
        decision values anyway, so it costs no more (it is not available
        where the regressor's search scores without folds, ``cv=None``).
        Both are weighted by ``sample_weight`` and ``class_weight``.
    n_jobs : int, default=None
        Number of folds scored at once, in joblib's worker processes, as in
        :class:`~selfdistill_sklearn.SelfDistilledKernelRidgeCV`.
    verbose : int, default=0
        When positive, print a line as each fold has been scored.
    fit_intercept : bool, default=True
        Fit an unpenalised intercept per class column at every step of
        every candidate.
    {class_weight}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    cv_results_ : dict of ndarrays
        In the layout of :class:`sklearn.model_selection.GridSearchCV`.
    best_index_ : int
    best_score_ : float
    best_params_ : dict
    best_estimator_ : SelfDistilledKernelRidgeClassifier
        The best candidate refitted on all the data.
    param_grid_ : list of dict
        The grid of :class:`SelfDistilledKernelRidgeClassifier` parameters
        that ``GridSearchCV`` would search to score the same candidates.
    reg_lambdas_ : ndarray of shape (n_lambdas,)
        The penalties searched: ``reg_lambdas`` as given, or the automatic grid.
    optimal_alphas_ : ndarray of shape (n_splits, n_lambdas, max_steps - 1)
        Only when ``alphas`` holds ``"optimal"``.
    n_splits_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    See Also
    --------
    SelfDistilledKernelRidgeClassifier : One candidate.
    SelfDistilledKernelRidgeCV : The same search for regression.
    sklearn.linear_model.RidgeClassifierCV : The first step, many penalties.

    Notes
    -----
    {encoding}

    The scores equal those of
    ``GridSearchCV(SelfDistilledKernelRidgeClassifier(...), param_grid_)``
    on the same folds with the same scoring (the squared error on the
    encoded labels being a scorer of the decision function). See
    :class:`~selfdistill_sklearn.SelfDistilledKernelRidgeCV` for the cost,
    ties and sample weights.

    References
    ----------
    K. Borup and L. N. Andersen, "Even your Teacher Needs Guidance:
    Ground-Truth Targets Dampen Regularization Imposed by Self-Distillation",
    NeurIPS 2021.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from selfdistill_sklearn import SelfDistilledKernelRidgeClassifierCV
    >>> X, y = load_iris(return_X_y=True)
    >>> search = SelfDistilledKernelRidgeClassifierCV(
    ...     reg_lambdas=[0.01, 0.1, 1.0], alphas=[0.0, 0.5, "optimal"], max_steps=3,
    ...     kernel="rbf", gamma=0.5, scoring="accuracy").fit(X, y)
    >>> len(search.cv_results_["params"])
    33
    >>> type(search.best_estimator_).__name__
    'SelfDistilledKernelRidgeClassifier'
    """

    def __init__(self, reg_lambdas="auto", alphas=(0.0, 0.25, 0.5, 0.75, 1.0),
                 max_steps=4, *, include_limit=True, kernel="linear", gamma=None, degree=3,
                 coef0=1, kernel_params=None, clip_alpha=False, cv=5, alpha_cv=5,
                 scoring=None, n_jobs=None, verbose=0, fit_intercept=True, class_weight=None):
        super().__init__(reg_lambdas=reg_lambdas, alphas=alphas, max_steps=max_steps,
                         include_limit=include_limit, kernel=kernel, gamma=gamma,
                         degree=degree, coef0=coef0, kernel_params=kernel_params,
                         clip_alpha=clip_alpha, cv=cv, alpha_cv=alpha_cv, scoring=scoring,
                         n_jobs=n_jobs, verbose=verbose, fit_intercept=fit_intercept)
        self.class_weight = class_weight

    def fit(self, X, y, sample_weight=None, groups=None):
        """Score every candidate on the folds of ``cv`` and refit the best.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data, or the kernel matrix when ``kernel="precomputed"``.
        y : array-like of shape (n_samples,)
            Class labels, of at least two classes.
        sample_weight : float or array-like of shape (n_samples,), default=None
            Non-negative weights (multiplied by those of ``class_weight``) of
            every fit and held-out score.
        groups : array-like of shape (n_samples,), default=None
            Group labels for group-aware splitters in ``cv`` and ``alpha_cv``.

        Returns
        -------
        self : object
            The fitted classifier.

        Raises
        ------
        TypeError, ValueError
            For parameters or data that are not as documented, naming them;
            ``scoring`` other than those documented; ``scoring="accuracy"``
            with ``cv=None``.
        """
        accuracy = _check_search_scoring(self.scoring, ("accuracy",), "the held-out decision "
                                         "values of every candidate")
        if accuracy and self.cv is None:
            raise ValueError(
                "scoring='accuracy' needs held-out predictions, and cv=None scores the "
                "candidates without folds: give cv folds, or score the squared error "
                "(scoring=None)."
            )
        targets = _EncodedTargets(self, y, sample_weight)
        with _fitting_with(self, cv=_label_splits(self.cv),
                           alpha_cv=_label_splits(self.alpha_cv),
                           scoring=None if accuracy else self.scoring,
                           _scores_accuracy=accuracy):
            super().fit(X, targets.Y, sample_weight=targets.sample_weight, groups=groups)
        self.best_estimator_ = _as_classifier(self.best_estimator_,
                                              SelfDistilledKernelRidgeClassifier,
                                              targets.classes, self.class_weight)
        self.classes_ = targets.classes
        return self

    def _score_split(self, *args, **kwargs):
        # The regressor's search computes the held-out decision values of
        # every candidate and hands them to its scorer; accuracy is one more
        # scorer of them.
        if getattr(self, "_scores_accuracy", False):
            if "scorer" not in kwargs:
                raise RuntimeError("SelfDistilledKernelRidgeCV._score_split no longer takes "
                                   "the scorer by keyword: scoring='accuracy' cannot be set.")
            kwargs["scorer"] = _encoded_accuracy
        return super()._score_split(*args, **kwargs)


_fill_docstring(SelfDistilledKernelRidgeClassifierCV)


class SelfDistilledRidgeClassifierCV(_SearchClassifierMixin, SelfDistilledRidgeCV):
    """Self-distilled ridge classification with lambda, alpha and tau by CV.

    On features, every candidate scored after one pass over the data.

    :class:`~selfdistill_sklearn.SelfDistilledRidgeCV` on the labels encoded
    in {-1, 1}: the pass sums the moments of ``[phi(x), 1, Y]`` per cell of
    the folds, every candidate's held-out squared error on every fold is a
    quadratic form of them, and the best candidate is fitted on all the data
    from the same moments, as a :class:`SelfDistilledRidgeClassifier`.

    Parameters
    ----------
    reg_lambdas : "auto" or array-like of float > 0, default="auto"
        Ridge penalties ``lambda`` to try. ``"auto"``: 45, four per decade
        from ``1e-10`` to ``10`` times the largest eigenvalue of the
        (weighted, centred) matrix ``lambda`` is added to, as for the
        regressor (see :ref:`choosing`). An explicit grid is used as given.
        A best penalty at either end of the grid, or a best ``tau =
        max_steps > 1``, gives a :class:`~selfdistill_sklearn.GridEdgeWarning`.
    alphas : array-like of float in [0, 1] and "optimal", default=(0.0, 0.25, 0.5, 0.75, 1.0)
        Weights of the ground truth to try, each used at every later step;
        ``"optimal"`` is the step-wise weight of eq. (16), pooled over the
        class columns, chosen inside each fold's training part.
    max_steps : int >= 1, default=4
        Largest number of steps ``tau`` tried; every ``tau`` from 1 to
        ``max_steps`` is a candidate, and so is the limit of every fixed
        ``alpha``.
    fit_intercept : bool, default=True
        Fit an unpenalised intercept per class column at every step of
        every candidate.
    feature_map : transformer or None, default=None
        Map ``phi``, as in :class:`~selfdistill_sklearn.SelfDistilledRidgeCV`;
        fitted once on the training data and shared by the folds.
    clip_alpha : bool, default=False
        Clip the weights of ``"optimal"`` to ``[0, 1]`` (footnote 10).
    cv : int, cross-validation generator, iterable or None, default=5
        Folds. An integer is that many stratified folds; a splitter receives
        the class labels; ``None`` and index pairs go to
        :class:`~selfdistill_sklearn.SelfDistilledRidgeCV` unchanged:
        ``None`` scores every candidate by generalised cross-validation of
        the squared error on the encoded labels, without folds.
    scoring : {None, "neg_mean_squared_error"}, default=None
        The squared error of the decision values against the encoded labels,
        averaged over the class columns, weighted by ``sample_weight`` and
        ``class_weight``. Accuracy is refused: the pass keeps only moments,
        from which squared errors follow for every candidate, but held-out
        labels need every candidate's held-out decision values, a second
        pass over the data computing ``phi(x)`` times the coefficients of all
        candidates of all folds. Use
        :class:`SelfDistilledKernelRidgeClassifierCV` (which has the held-out
        predictions) or ``GridSearchCV`` over
        :class:`SelfDistilledRidgeClassifier` for accuracy.
    block_size : int, default=4096
        Rows whose features are formed at once, as in
        :class:`~selfdistill_sklearn.SelfDistilledRidge`.
    feature_map_samples : int or None, default=100_000
        Most rows the feature map is fitted on; ``None`` fits it on all rows.
    random_state : int, RandomState instance or None, default=None
        Draw of the rows the feature map is fitted on, when there are more
        than ``feature_map_samples``.
    {class_weight}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    cv_results_ : dict of ndarrays
    best_index_ : int
    best_score_ : float
    best_params_ : dict
    best_estimator_ : SelfDistilledRidgeClassifier
        The best candidate fitted on all the data (from the same moments).
    param_grid_ : list of dict
    reg_lambdas_ : ndarray of shape (n_lambdas,)
        The penalties searched: ``reg_lambdas`` as given, or the automatic grid.
    optimal_alphas_ : ndarray of shape (n_splits, n_lambdas, max_steps - 1)
        Only when ``alphas`` holds ``"optimal"``.
    n_splits_ : int
    feature_map_ : transformer or None
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    See Also
    --------
    SelfDistilledRidgeClassifier : One candidate.
    SelfDistilledRidgeCV : The same search for regression.

    Notes
    -----
    {encoding}

    The scores equal those of ``GridSearchCV`` over
    :class:`SelfDistilledRidgeClassifier` on the same folds for fixed
    weights; for ``"optimal"`` see
    :class:`~selfdistill_sklearn.SelfDistilledRidgeCV` (its inner folds are
    the other folds).

    References
    ----------
    K. Borup and L. N. Andersen, "Even your Teacher Needs Guidance:
    Ground-Truth Targets Dampen Regularization Imposed by Self-Distillation",
    NeurIPS 2021.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.kernel_approximation import Nystroem
    >>> from selfdistill_sklearn import SelfDistilledRidgeClassifierCV
    >>> X, y = load_iris(return_X_y=True)
    >>> search = SelfDistilledRidgeClassifierCV(
    ...     reg_lambdas=[0.01, 0.1, 1.0], alphas=[0.0, 0.5, "optimal"], max_steps=3,
    ...     feature_map=Nystroem(gamma=0.5, n_components=40, random_state=0)).fit(X, y)
    >>> len(search.cv_results_["params"])
    33
    >>> search.predict(X[:2]).shape
    (2,)
    """

    def __init__(self, reg_lambdas="auto", alphas=(0.0, 0.25, 0.5, 0.75, 1.0),
                 max_steps=4, *, fit_intercept=True, feature_map=None, clip_alpha=False, cv=5,
                 scoring=None, block_size=4096, feature_map_samples=100_000,
                 random_state=None, class_weight=None):
        super().__init__(reg_lambdas=reg_lambdas, alphas=alphas, max_steps=max_steps,
                         fit_intercept=fit_intercept, feature_map=feature_map,
                         clip_alpha=clip_alpha, cv=cv, scoring=scoring, block_size=block_size,
                         feature_map_samples=feature_map_samples, random_state=random_state)
        self.class_weight = class_weight

    def fit(self, X, y, sample_weight=None, groups=None):
        """Score every candidate on the folds of ``cv``, then fit the best.

        One pass scores every candidate, and the best is then fitted on all
        the data.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels, of at least two classes.
        sample_weight : float or array-like of shape (n_samples,), default=None
            Non-negative weights, multiplied by those of ``class_weight``.
        groups : array-like of shape (n_samples,), default=None
            Group labels for a group-aware ``cv`` splitter.

        Returns
        -------
        self : object
            The fitted classifier.

        Raises
        ------
        TypeError, ValueError
            For parameters or data that are not as documented, naming them;
            ``scoring="accuracy"`` (see ``scoring``).
        """
        _check_search_scoring(self.scoring, (), "a second pass over the data for the held-out "
                              "decision values of every candidate")
        targets = _EncodedTargets(self, y, sample_weight)
        with _fitting_with(self, cv=_label_splits(self.cv)):
            super().fit(X, targets.Y, sample_weight=targets.sample_weight, groups=groups)
        self.best_estimator_ = _as_classifier(self.best_estimator_, SelfDistilledRidgeClassifier,
                                              targets.classes, self.class_weight)
        self.classes_ = targets.classes
        return self


_fill_docstring(SelfDistilledRidgeClassifierCV)


def _check_search_scoring(scoring, label_scorings, accuracy_needs):
    """Whether ``scoring`` is one of ``label_scorings`` (scored on labels);
    refuse everything but the squared error on the encoded labels and those."""
    allowed = [*_SQUARED_ERROR_SCORINGS, *label_scorings]
    if not isinstance(scoring, str | type(None)) or scoring not in allowed:
        reason = ("" if "accuracy" in label_scorings or scoring != "accuracy" else
                  f": accuracy needs {accuracy_needs}, which this search does not compute")
        raise ValueError(f"scoring must be one of {allowed}, got {scoring!r}{reason}.")
    return scoring in label_scorings
