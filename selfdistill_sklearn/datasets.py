"""Small data sets of the paper's examples."""

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["make_noisy_sinusoid", "sinusoid"]


def sinusoid(X):
    """The noiseless target ``sin(2 pi x)`` of the illustrative example.

    Parameters
    ----------
    X : array-like of shape (n_samples, 1) or (n_samples,)
        Inputs ``x``.

    Returns
    -------
    y : ndarray of shape (n_samples,)
        ``sin(2 pi x)``.
    """
    x = np.asarray(X, dtype=float)
    if x.ndim == 2:
        if x.shape[1] != 1:
            raise ValueError(f"X must have a single feature, got shape {x.shape}.")
        x = x[:, 0]
    return np.sin(2.0 * np.pi * x)


def make_noisy_sinusoid(n_samples=11, *, noise=0.5, equally_spaced=True, random_state=None):
    """The training data of the paper's illustrative example (Section 4.5).

    ``x`` runs over ``{0, 0.1, ..., 1}`` (for the default ``n_samples=11``)
    and ``y = sin(2 pi x) + e`` with Gaussian noise ``e`` of standard
    deviation ``noise``.

    Parameters
    ----------
    n_samples : int >= 1, default=11
        Number of points.
    noise : float >= 0, default=0.5
        Standard deviation of the Gaussian noise.
    equally_spaced : bool, default=True
        Place the inputs at ``linspace(0, 1, n_samples)`` as in the paper;
        with ``False`` they are drawn uniformly from ``[0, 1]`` and sorted
        (useful for validation data).
    random_state : int, RandomState instance or None, default=None
        Seeds the noise (and the inputs when ``equally_spaced=False``).

    Returns
    -------
    X : ndarray of shape (n_samples, 1)
        Inputs.
    y : ndarray of shape (n_samples,)
        Noisy targets.

    Examples
    --------
    >>> from selfdistill_sklearn.datasets import make_noisy_sinusoid
    >>> X, y = make_noisy_sinusoid(random_state=0)
    >>> X.ravel()[:3]
    array([0. , 0.1, 0.2])
    >>> y.shape
    (11,)
    """
    if not (isinstance(n_samples, int | np.integer) and n_samples >= 1):
        raise ValueError(f"n_samples must be an integer >= 1, got {n_samples!r}.")
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}.")
    rng = check_random_state(random_state)
    if equally_spaced:
        x = np.linspace(0.0, 1.0, n_samples)
    else:
        x = np.sort(rng.uniform(0.0, 1.0, size=n_samples))
    y = sinusoid(x) + noise * rng.standard_normal(n_samples)
    return x.reshape(-1, 1), y
