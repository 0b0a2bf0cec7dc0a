"""What the displays accept: the estimators users hold, unwrapped to the one drawn.

A display draws a :class:`~selfdistill_sklearn.SelfDistilledKernelRidge` (or
the search results of a
:class:`~selfdistill_sklearn.model_selection.SelfDistilledKernelRidgeCV`),
but users hold it inside a :class:`~sklearn.pipeline.Pipeline`, a
:class:`~sklearn.model_selection.GridSearchCV` or a
``SelfDistilledKernelRidgeCV``. These helpers find it, and the transformation
of ``X`` by the steps before it. What cannot be drawn is a ``TypeError``
whether fitted or not; what can be drawn but is not fitted is scikit-learn's
``NotFittedError``.
"""

from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

PLOT_EXTRA = "pip install 'selfdistill_sklearn[plot]'"


def import_pyplot():
    """``matplotlib.pyplot``, or an ImportError that names the extra to install."""
    try:
        import matplotlib.pyplot as plt
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "matplotlib":
            raise
        raise ImportError(
            f"Drawing needs matplotlib, which is not installed. Install it with: {PLOT_EXTRA}"
        ) from exc
    return plt


def is_search(estimator):
    """A hyper-parameter search in scikit-learn's style (``GridSearchCV``,
    ``RandomizedSearchCV``, ...): it wraps ``estimator`` and, once fitted and
    refitted, holds ``best_estimator_`` and ``cv_results_``."""
    return hasattr(estimator, "estimator") and hasattr(estimator, "refit") and (
        hasattr(estimator, "param_grid") or hasattr(estimator, "param_distributions"))


def describe(estimator):
    return type(estimator).__name__


def final_type(estimator, stop):
    """The estimator a display would draw, found without fitting: the last step
    of a pipeline, the ``estimator`` of a search, ``stop`` types left as they
    are. Used to refuse what cannot be drawn before asking whether it is fitted."""
    while True:
        if isinstance(estimator, stop):
            return estimator
        if isinstance(estimator, Pipeline):
            estimator = estimator.steps[-1][1]
        elif is_search(estimator):
            estimator = estimator.estimator
        else:
            return estimator


def _best(search, display):
    check_is_fitted(search, "cv_results_")
    if not hasattr(search, "best_estimator_"):
        raise ValueError(
            f"{display} draws the best estimator of {describe(search)}, which holds none: "
            "fit it with refit=True."
        )
    return search.best_estimator_


def unwrap(estimator, drawn, display, *, through=()):
    """The fitted instance of ``drawn`` inside ``estimator``, and the pipelines
    whose earlier steps transform ``X`` on the way to it (outermost first).

    Parameters
    ----------
    estimator : estimator
        ``drawn`` itself, a ``Pipeline`` whose last step leads to it, a search
        whose ``best_estimator_`` leads to it, or one of ``through`` (whose
        ``best_estimator_`` leads to it).
    drawn : type
    display : str
        Name of the display, for the messages.
    through : tuple of type
        Further wrappers unwrapped by their ``best_estimator_``.

    Returns
    -------
    final : instance of drawn
    pipelines : list of Pipeline

    Raises
    ------
    TypeError
        If no ``drawn`` is inside ``estimator``.
    sklearn.exceptions.NotFittedError
        If it is, but ``estimator`` is not fitted.
    """
    final = final_type(estimator, (drawn, *through))
    if not isinstance(final, (drawn, *through)):
        holders = ", ".join(["a Pipeline", "GridSearchCV",
                             *(kind.__name__ for kind in through)])
        raise TypeError(
            f"{display} draws a {drawn.__name__}, or {holders} that holds one; got "
            f"{describe(estimator)}"
            + (f", which holds {describe(final)}" if final is not estimator else "") + "."
        )
    pipelines = []
    current = estimator
    while not isinstance(current, drawn):
        if isinstance(current, Pipeline):
            check_is_fitted(current)
            pipelines.append(current)
            current = current.steps[-1][1]
        else:
            current = _best(current, display)
    check_is_fitted(current)
    return current, pipelines


def transform(pipelines, X):
    """``X`` through the steps before the last of each pipeline, outermost first."""
    for pipeline in pipelines:
        if len(pipeline) > 1:
            X = pipeline[:-1].transform(X)
    return X
