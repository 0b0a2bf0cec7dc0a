"""Data sets of the paper's examples.

The illustrative sinusoid (Section 5), and CIFAR-10 (Section 5.1,
Appendix B) read from a directory in torchvision's on-disk format::

    root/cifar-10-batches-py/data_batch_1 ... data_batch_5
    root/cifar-10-batches-py/test_batch
    root/cifar-10-batches-py/batches.meta

as ``torchvision.datasets.CIFAR10(root, download=True)`` leaves it. Nothing
is downloaded, and nothing here needs torch. The batches are Python
pickles, as distributed by the data set's authors: read only copies you
trust.
"""

import pickle
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch, check_random_state

__all__ = ["load_cifar10", "make_noisy_sinusoid", "sinusoid"]


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


# ------------------------------------------------------------------ CIFAR-10
FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
CLASS_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)


def _folder(root):
    root = Path(root)
    folder = root if root.name == FOLDER else root / FOLDER
    missing = [name for name in (*TRAIN_FILES, TEST_FILE) if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"No CIFAR-10 in torchvision's format under {root}: {folder} lacks "
            f"{', '.join(missing)}. This loader never downloads; fetch the data once with "
            "torchvision.datasets.CIFAR10(root, download=True) where a network is available."
        )
    return folder


def _read_batch(path):
    with open(path, "rb") as f:
        entry = pickle.load(f, encoding="latin1")
    data = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    labels = np.asarray(entry["labels"] if "labels" in entry else entry["fine_labels"])
    return data, labels.astype(np.int64)


def load_cifar10(root, *, normalize=True, n_train=None, n_test=None):
    """Load CIFAR-10 as arrays of shape (n, 3, 32, 32).

    Parameters
    ----------
    root : str or path
        The directory holding ``cifar-10-batches-py`` (torchvision's
        ``root``), or that folder itself.
    normalize : bool, default=True
        Standardise every channel with the mean and standard deviation of the
        training images, for the training and the test images alike (the
        paper's footnote 15). Otherwise pixels are scaled to [0, 1].
    n_train, n_test : int, default=None
        Keep only the first so many training / test images (for quick runs).

    Returns
    -------
    data : sklearn.utils.Bunch
        ``X_train`` (float32, (n_train, 3, 32, 32)), ``y_train`` (int64),
        ``X_test``, ``y_test``, ``class_names``, and ``mean`` and ``std`` of
        shape (3,) (zeros and ones when ``normalize`` is False).

    Raises
    ------
    FileNotFoundError
        When a batch file is missing.
    """
    folder = _folder(root)
    train = [_read_batch(folder / name) for name in TRAIN_FILES]
    X_train = np.concatenate([d for d, _ in train])
    y_train = np.concatenate([labels for _, labels in train])
    X_test, y_test = _read_batch(folder / TEST_FILE)
    if n_train is not None:
        X_train, y_train = X_train[:n_train], y_train[:n_train]
    if n_test is not None:
        X_test, y_test = X_test[:n_test], y_test[:n_test]
    X_train = X_train.astype(np.float32) / 255
    X_test = X_test.astype(np.float32) / 255
    if normalize:
        mean = X_train.mean(axis=(0, 2, 3), dtype=np.float64)
        std = X_train.std(axis=(0, 2, 3), dtype=np.float64)
        std[std == 0] = 1.0
        scale = (mean[None, :, None, None], std[None, :, None, None])
        X_train = ((X_train - scale[0]) / scale[1]).astype(np.float32)
        X_test = ((X_test - scale[0]) / scale[1]).astype(np.float32)
    else:
        mean, std = np.zeros(3), np.ones(3)
    names = CLASS_NAMES
    if (folder / META_FILE).is_file():
        with open(folder / META_FILE, "rb") as f:
            names = tuple(pickle.load(f, encoding="latin1")["label_names"])
    return Bunch(
        X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test,
        class_names=list(names), mean=mean, std=std,
    )
