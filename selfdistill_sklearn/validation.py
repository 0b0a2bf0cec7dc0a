"""Checks of the parameters that every self-distilled estimator shares.

Each check names the parameter and what was expected; nothing is coerced
silently.
"""

import math
import numbers

import numpy as np
from sklearn.utils.validation import check_array

__all__ = [
    "OPTIMAL",
    "check_alpha",
    "check_n_steps",
    "check_reg_lambda",
    "check_sample_weight",
]

#: The value of ``alpha`` that selects the closed-form weight of Theorem 4.4.
OPTIMAL = "optimal"


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


def check_n_steps(n_steps, allow_infinite=True):
    """Return the number of steps: an int >= 1, or ``math.inf``.

    A float is accepted only when it is a whole number (``3.0``) or, where
    allowed, ``float("inf")``.
    """
    if not _is_real(n_steps):
        expected = "a whole number >= 1" + (" or float('inf')" if allow_infinite else "")
        raise TypeError(f"n_steps must be {expected}, got {n_steps!r}.")
    if math.isinf(n_steps) and n_steps > 0:
        if not allow_infinite:
            raise ValueError("n_steps must be finite for this estimator, got inf.")
        return math.inf
    if not (math.isfinite(n_steps) and float(n_steps).is_integer() and n_steps >= 1):
        raise ValueError(f"n_steps must be a whole number >= 1, got {n_steps!r}.")
    return int(n_steps)


def check_alpha(alpha, n_steps):
    """Validate ``alpha`` against ``n_steps``.

    Parameters
    ----------
    alpha : float in [0, 1], sequence of ``n_steps - 1`` finite floats, or "optimal"
    n_steps : int or math.inf
        As returned by :func:`check_n_steps`.

    Returns
    -------
    alpha : float, ndarray of shape (n_steps - 1,), or "optimal"
        A scalar stays a float; a schedule becomes a float array. Schedule
        entries may leave ``[0, 1]`` so that an unclipped ``alphas_`` from
        ``"optimal"`` can be replayed.
    """
    if isinstance(alpha, str):
        if alpha != OPTIMAL:
            raise ValueError(
                f"alpha must be a float in [0, 1], a sequence of n_steps - 1 weights or "
                f"'optimal', got the string {alpha!r}."
            )
        if math.isinf(n_steps):
            raise ValueError(
                "alpha='optimal' cannot be used with n_steps=inf: the limit of infinitely "
                "many steps (Theorem 4.5) is defined for a fixed scalar alpha only."
            )
        return OPTIMAL
    if _is_real(alpha):
        if not (math.isfinite(alpha) and 0.0 <= alpha <= 1.0):
            raise ValueError(f"alpha must lie in [0, 1] when it is a scalar, got {alpha!r}.")
        return float(alpha)
    if isinstance(alpha, bool) or alpha is None or isinstance(alpha, dict):
        raise TypeError(
            f"alpha must be a float in [0, 1], a sequence of n_steps - 1 weights or "
            f"'optimal', got {alpha!r}."
        )
    try:
        schedule = np.asarray(alpha, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"alpha must be a float in [0, 1], a sequence of n_steps - 1 weights or "
            f"'optimal', got {alpha!r}."
        ) from exc
    if schedule.ndim != 1:
        raise ValueError(
            f"alpha as a schedule must be one-dimensional, got shape {schedule.shape}."
        )
    if math.isinf(n_steps):
        raise ValueError(
            "A schedule of alphas cannot be used with n_steps=inf: the limit of "
            "infinitely many steps (Theorem 4.5) is defined for a fixed scalar alpha only."
        )
    if schedule.size != n_steps - 1:
        raise ValueError(
            f"alpha as a schedule must hold n_steps - 1 = {n_steps - 1} weights "
            f"alpha(2), ..., alpha({n_steps}), got {schedule.size}."
        )
    if not np.all(np.isfinite(schedule)):
        raise ValueError(f"alpha schedule entries must be finite, got {schedule.tolist()}.")
    return schedule


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
            f"sample_weight must be one-dimensional of shape ({n_samples},), got shape "
            f"{sample_weight.shape}."
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
