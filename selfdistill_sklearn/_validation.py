"""Checks of the parameters that every self-distilled estimator shares.

Each check names the parameter and what was expected; nothing is coerced
silently.
"""

import contextlib
import dataclasses
import functools
import math
import numbers

import numpy as np
from sklearn import get_config
from sklearn.model_selection import check_cv
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    get_routing_for_object,
    process_routing,
)
from sklearn.utils.validation import check_array

__all__ = [
    "MAX_STEPS",
    "OPTIMAL",
    "AlphaSpec",
    "check_alpha",
    "check_bool",
    "check_n_steps",
    "check_reg_lambda",
    "check_sample_weight",
    "check_splits",
    "fit_atomically",
    "restored_on_error",
    "route_groups",
    "splitter_router",
]

#: The value of ``alpha`` that selects the closed-form weight of Theorem 4.4.
OPTIMAL = "optimal"

#: Largest finite number of steps. A fit keeps the dual coefficients of every
#: step (``n_steps x n_samples`` values) and costs a solve per step, while the
#: chain converges geometrically to its limit (Theorem 4.5), which
#: ``n_steps=math.inf`` gives in one solve.
MAX_STEPS = 1000


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_reg_lambda(reg_lambda, name="reg_lambda"):
    """Return ``reg_lambda`` as a float after checking ``0 < lambda < inf``."""
    if not _is_real(reg_lambda):
        raise TypeError(f"{name} must be a real number > 0, got {reg_lambda!r}.")
    if not (math.isfinite(reg_lambda) and reg_lambda > 0):
        raise ValueError(
            f"{name} must be a finite number > 0 (the ridge penalty lambda), "
            f"got {reg_lambda!r}."
        )
    return float(reg_lambda)


def check_bool(value, name):
    """Return ``value`` as a bool after checking that it is one.

    A string such as ``"False"`` is truthy and would silently mean ``True``,
    so only ``True``, ``False`` and NumPy booleans are accepted.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}.")
    return bool(value)


def check_n_steps(n_steps, allow_infinite=True, name="n_steps"):
    """Return the number of steps: an int in ``[1, MAX_STEPS]``, or ``math.inf``.

    A float is accepted only when it is a whole number (``3.0``) or, where
    allowed, ``float("inf")``. Counts above :data:`MAX_STEPS` are refused:
    they would cost a solve and ``n_samples`` stored values per step, while
    the chain has long converged to its limit.
    """
    if not _is_real(n_steps):
        expected = "a whole number >= 1" + (" or float('inf')" if allow_infinite else "")
        raise TypeError(f"{name} must be {expected}, got {n_steps!r}.")
    if math.isinf(n_steps) and n_steps > 0:
        if not allow_infinite:
            raise ValueError(f"{name} must be finite for this estimator, got inf.")
        return math.inf
    if not (math.isfinite(n_steps) and float(n_steps).is_integer() and n_steps >= 1):
        raise ValueError(f"{name} must be a whole number >= 1, got {n_steps!r}.")
    if n_steps > MAX_STEPS:
        limit = (" For the limit of infinitely many steps (Theorem 4.5) use "
                 "n_steps=math.inf." if name == "n_steps" else "")
        raise ValueError(
            f"{name} must be at most {MAX_STEPS}, got {n_steps!r}: every step is stored and "
            "the chain converges geometrically to its limit." + limit
        )
    return int(n_steps)


@dataclasses.dataclass(frozen=True, eq=False)
class AlphaSpec:
    """The parameter ``alpha`` as :func:`check_alpha` validated it.

    Parameters
    ----------
    kind : {"fixed", "schedule", "optimal"}
        One weight for every step, one weight per step, or the weights of
        Theorem 4.4 (eq. (16)) chosen while the chain runs.
    value : float, read-only ndarray of shape (n_steps - 1,), or None
        The weight (``"fixed"``), the weights ``alpha(2), ..., alpha(T)``
        (``"schedule"``), or None (``"optimal"``).
    """

    kind: str
    value: float | np.ndarray | None = None

    @classmethod
    def schedule(cls, weights):
        """The weights ``alpha(2), ..., alpha(T)``, copied and read-only."""
        weights = np.array(weights, dtype=float)
        weights.setflags(write=False)
        return cls("schedule", weights)

    @property
    def is_fixed(self):
        return self.kind == "fixed"

    @property
    def is_optimal(self):
        return self.kind == "optimal"

    def weight(self, step):
        """``alpha(step + 2)``, the weight of the step after step ``step + 1``
        (``step`` counts from 0); not known in advance for ``"optimal"``."""
        if self.kind == "fixed":
            return self.value
        if self.kind == "schedule":
            return float(self.value[step])
        raise ValueError("alpha='optimal' chooses each weight while the chain runs.")

    def weights(self, n_steps):
        """``alpha(2), ..., alpha(n_steps)`` of a fixed weight or a schedule."""
        if self.kind == "fixed":
            return np.full(n_steps - 1, self.value)
        return np.array([self.weight(step) for step in range(n_steps - 1)])


def check_alpha(alpha, n_steps, name="alpha"):
    """Validate ``alpha`` against ``n_steps``.

    Parameters
    ----------
    alpha : float in [0, 1], sequence of ``n_steps - 1`` finite floats, or "optimal"
    n_steps : int or math.inf
        As returned by :func:`check_n_steps`.
    name : str, default="alpha"
        The name of the parameter in error messages.

    Returns
    -------
    alpha : AlphaSpec
        ``"fixed"`` with a float, ``"schedule"`` with a float array, or
        ``"optimal"``. Schedule entries may leave ``[0, 1]`` so that an
        unclipped ``alphas_`` from ``"optimal"`` can be replayed.
    """
    expected = (f"{name} must be a float in [0, 1], a sequence of n_steps - 1 weights or "
                "'optimal'")
    if isinstance(alpha, str):
        if alpha != OPTIMAL:
            raise ValueError(f"{expected}, got the string {alpha!r}.")
        if math.isinf(n_steps):
            raise ValueError(
                f"{name}='optimal' cannot be used with n_steps=inf: the limit of infinitely "
                "many steps (Theorem 4.5) is defined for a fixed scalar alpha only."
            )
        return AlphaSpec("optimal")
    if _is_real(alpha):
        if not (math.isfinite(alpha) and 0.0 <= alpha <= 1.0):
            raise ValueError(f"{name} must lie in [0, 1] when it is a scalar, got {alpha!r}.")
        return AlphaSpec("fixed", float(alpha))
    if isinstance(alpha, (bool, np.bool_, numbers.Complex, dict)) or alpha is None:
        # Complex weights would be truncated to their real part, booleans read as 0/1.
        raise TypeError(f"{expected}, got {alpha!r}.")
    schedule = _real_array(alpha, f"{expected}, got {alpha!r}.")
    if schedule.ndim != 1:
        raise ValueError(
            f"{name} as a schedule must be one-dimensional, got shape {schedule.shape}."
        )
    if math.isinf(n_steps):
        raise ValueError(
            "A schedule of alphas cannot be used with n_steps=inf: the limit of "
            "infinitely many steps (Theorem 4.5) is defined for a fixed scalar alpha only."
        )
    if schedule.size != n_steps - 1:
        raise ValueError(
            f"{name} as a schedule must hold n_steps - 1 = {n_steps - 1} weights "
            f"alpha(2), ..., alpha({n_steps}), got {schedule.size}."
        )
    if not np.all(np.isfinite(schedule)):
        raise ValueError(f"{name} schedule entries must be finite, got {schedule.tolist()}.")
    return AlphaSpec.schedule(schedule)


def shrinkage_alphas(fitted_alpha, fitted_alphas, fitted_steps, n_steps):
    """The weights ``alpha(2), ..., alpha(T)`` that ``spectral_shrinkage`` reports.

    Parameters
    ----------
    fitted_alpha : AlphaSpec
        The ``alpha`` of the fit.
    fitted_alphas : ndarray of shape (fitted_steps - 1,)
        The weights the fit used (``alphas_``).
    fitted_steps : int or None
        The number of fitted steps; ``None`` after a fit with ``n_steps=inf``.
    n_steps : int or None
        The number of steps ``T`` asked for; ``None`` for the fitted number.

    Returns
    -------
    alphas : ndarray of shape (T - 1,)

    Raises
    ------
    ValueError
        When ``n_steps`` is missing after a fit with ``n_steps=inf``, or
        exceeds the fitted steps of a schedule or ``"optimal"`` (whose later
        weights are unknown).
    """
    if n_steps is None:
        if fitted_steps is None:
            raise ValueError("spectral_shrinkage needs n_steps when the fit used n_steps=inf.")
        n_steps = fitted_steps
    n_steps = check_n_steps(n_steps, allow_infinite=False)
    if fitted_alpha.is_fixed:
        return fitted_alpha.weights(n_steps)
    if n_steps > fitted_steps:
        raise ValueError(
            f"n_steps={n_steps} exceeds the {fitted_steps} fitted steps; the weights of "
            "later steps are only known for a scalar alpha."
        )
    return np.asarray(fitted_alphas[: n_steps - 1])


def _real_array(values, message):
    """``values`` as a float array, refusing complex, boolean and string entries
    (which ``np.asarray(values, dtype=float)`` would truncate or parse)."""
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise TypeError(message) from exc
    if array.dtype.kind == "O":
        if not all(_is_real(entry) for entry in array.reshape(-1)):
            raise TypeError(message)
    elif array.dtype.kind not in "iuf":
        raise TypeError(message)
    return array.astype(float)


def check_sample_weight(sample_weight, n_samples):
    """Return the sample weights as a float array of shape ``(n_samples,)``.

    ``None`` stays ``None``; a scalar gives every sample that weight. The
    weights must be finite and non-negative, and not all zero.
    """
    if sample_weight is None:
        return None
    if _is_real(sample_weight):
        sample_weight = np.full(n_samples, float(sample_weight))
    sample_weight = check_array(
        sample_weight, ensure_2d=False, dtype=np.float64, ensure_all_finite=True,
        input_name="sample_weight",
    )
    if sample_weight.ndim != 1:
        raise ValueError(
            "Sample weights must be 1D array or scalar: sample_weight must be "
            f"one-dimensional of shape ({n_samples},), got shape {sample_weight.shape}."
        )
    if sample_weight.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight has {sample_weight.shape[0]} entries, but X has "
            f"{n_samples} samples: they must match."
        )
    if np.any(sample_weight < 0):
        raise ValueError("sample_weight must be non-negative.")
    if not np.any(sample_weight > 0):
        raise ValueError("sample_weight must not be all zero: some weight must be positive.")
    return sample_weight


def _fitted_attributes(estimator, private):
    """Names of the attributes a fit sets: scikit-learn's trailing underscore
    (``dual_coef_``, ``n_features_in_``) and the estimator's ``private`` ones."""
    return [name for name in vars(estimator)
            if (name.endswith("_") and not name.startswith("__")) or name in private]


def fit_atomically(private=()):
    """Make a ``fit`` method replace the whole fitted state, or leave it as it was.

    The previous fit's attributes are removed before ``fit`` runs, so that the
    new state holds only what the new fit produced (a refit with
    ``n_steps=inf`` keeps no steps of an earlier finite fit). When ``fit``
    raises (``KeyboardInterrupt`` included) the previous complete state is
    put back, or none after a first fit: never a mixture of two fits.

    Parameters
    ----------
    private : tuple of str, default=()
        Attributes without a trailing underscore that ``fit`` sets.
    """
    def decorate(fit):
        @functools.wraps(fit)
        def wrapper(self, *args, **kwargs):
            with restored_on_error(self, private, clear=True):
                return fit(self, *args, **kwargs)
        return wrapper
    return decorate


@contextlib.contextmanager
def restored_on_error(estimator, private=(), *, clear=False):
    """Put the fitted attributes (scikit-learn's trailing underscore and
    ``private``) back as they were when the block raises
    (``KeyboardInterrupt`` included); ``clear`` removes them before the block
    runs (a fit that replaces the whole state), otherwise the block adds to
    them (a batch of ``partial_fit``)."""
    previous = {name: vars(estimator)[name] for name in _fitted_attributes(estimator, private)}
    if clear:
        for name in previous:
            delattr(estimator, name)
    try:
        yield
    except BaseException:
        for name in _fitted_attributes(estimator, private):
            delattr(estimator, name)
        vars(estimator).update(previous)
        raise


def _takes_groups(cv):
    """Whether ``cv`` is a splitter (or a number of folds) that may take
    ``groups``; an iterable of index pairs takes none, and must not be
    consumed before ``fit`` materialises it."""
    return cv is None or isinstance(cv, numbers.Integral) or hasattr(cv, "split")


def splitter_router(estimator, splitters):
    """The metadata routing of an estimator that splits its data: its own
    requests, and ``groups`` of ``fit`` to the ``split`` of each splitter.

    Parameters
    ----------
    estimator : estimator
    splitters : dict of str to cv
        The splitters by the names under which :func:`route_groups` finds
        them, each as its ``cv`` parameter.

    Returns
    -------
    router : :class:`sklearn.utils.metadata_routing.MetadataRouter`
    """
    router = MetadataRouter(owner=estimator).add_self_request(estimator)
    for name, cv in splitters.items():
        if _takes_groups(cv):
            router.add(**{name: check_cv(cv)},
                       method_mapping=MethodMapping().add(caller="fit", callee="split"))
    return router


def route_groups(estimator, groups, splitters):
    """The ``groups`` that each splitter of ``estimator.fit`` receives.

    Without metadata routing a splitter receives ``groups`` unless it
    declares that it takes none (scikit-learn's ``KFold`` warns that it
    ignores them), as ``cross_validate`` passes them. With
    ``sklearn.set_config(enable_metadata_routing=True)`` they are routed by
    :func:`sklearn.utils.metadata_routing.process_routing` through the
    estimator's ``get_metadata_routing`` (see :func:`splitter_router`), which
    refuses ``groups`` that no splitter requests.

    Parameters
    ----------
    estimator : estimator
    groups : array-like of shape (n_samples,) or None
    splitters : dict of str to cv
        As for :func:`splitter_router`.

    Returns
    -------
    groups : dict of str to array-like or None
    """
    if groups is None:
        return dict.fromkeys(splitters)
    if not get_config()["enable_metadata_routing"]:
        return {name: groups if _consumes_groups(cv) else None
                for name, cv in splitters.items()}
    routed = process_routing(estimator, "fit", groups=groups)
    return {name: routed[name].split.get("groups") if name in routed else None
            for name in splitters}


def _consumes_groups(cv):
    if not _takes_groups(cv):
        return False
    splitter = check_cv(cv)
    if hasattr(splitter, "get_metadata_routing"):
        return bool(get_routing_for_object(splitter).consumes("split", ["groups"]))
    return True


def check_splits(splits, n_samples, name):
    """The folds that a splitter gave, as a list of integer index arrays.

    Parameters
    ----------
    splits : iterable of (train, test)
        What ``cv.split`` yields, read once.
    n_samples : int
        Number of samples the indices refer to.
    name : str
        The parameter that gave the splits, for error messages.

    Raises
    ------
    ValueError
        When there are no folds (a generator of splits is used up after one
        fit), or a fold has no training or no held-out samples, or indices
        that are not integers in ``[0, n_samples)``.
    """
    folds = []
    for train, test in splits:
        parts = []
        for part in (train, test):
            indices = np.asarray(part)
            if indices.dtype.kind == "b" and indices.shape == (n_samples,):
                indices = np.flatnonzero(indices)
            if indices.ndim != 1 or (indices.size and indices.dtype.kind not in "iu"):
                raise ValueError(
                    f"{name} must give folds of integer sample indices, got {part!r}.")
            if indices.size and (indices.min() < 0 or indices.max() >= n_samples):
                raise ValueError(
                    f"{name} gave sample indices outside [0, {n_samples}) for data of "
                    f"{n_samples} samples."
                )
            parts.append(indices.astype(np.intp))
        if parts[0].size == 0 or parts[1].size == 0:
            raise ValueError(f"{name} must give folds with training and held-out samples.")
        folds.append(tuple(parts))
    if not folds:
        raise ValueError(
            f"{name} gave no folds (a generator of splits can be used for one fit only: "
            "pass a list of (train, test) pairs or a splitter)."
        )
    return folds
