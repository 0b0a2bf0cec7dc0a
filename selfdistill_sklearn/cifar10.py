"""CIFAR-10 from a directory in torchvision's on-disk format.

The paper's deep-learning experiment (Section 5.1, Appendix B) trains on
the 50000 CIFAR-10 training images and validates on the 10000 test images.
This module reads a copy that is already on disk, in the layout that
``torchvision.datasets.CIFAR10(root, download=True)`` leaves behind::

    root/cifar-10-batches-py/data_batch_1 ... data_batch_5
    root/cifar-10-batches-py/test_batch
    root/cifar-10-batches-py/batches.meta

It never downloads anything. The batches are Python pickles, as
distributed by the data set's authors: read only copies you trust.
"""

import pickle
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch, check_random_state

__all__ = ["load_cifar10", "make_fake_cifar10"]

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


def make_fake_cifar10(root, *, n_per_batch=20, n_test=20, random_state=0):
    """Write a small random data set in CIFAR-10's on-disk format.

    For exercising a CIFAR-10 pipeline where the real data are not
    available (tests, continuous integration): the same files, pickled
    dictionaries and dtypes as the real copy, with random pixels whose
    mean brightness depends on the class, so that they can be learnt.

    Parameters
    ----------
    root : str or path
        ``cifar-10-batches-py`` is created inside it.
    n_per_batch : int, default=20
        Images in each of the five training batches.
    n_test : int, default=20
        Images in the test batch.
    random_state : int, RandomState instance or None, default=0

    Returns
    -------
    folder : pathlib.Path
        The ``cifar-10-batches-py`` folder written.
    """
    rng = check_random_state(random_state)
    folder = Path(root) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)

    def write(name, n):
        labels = rng.randint(0, 10, size=n)
        base = 40 + 18 * labels[:, None]
        data = np.clip(base + rng.randint(-40, 41, size=(n, 3 * 32 * 32)), 0, 255)
        entry = {
            "batch_label": name,
            "labels": labels.tolist(),
            "data": data.astype(np.uint8),
            "filenames": [f"{name}_{i}.png" for i in range(n)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f)

    for name in TRAIN_FILES:
        write(name, n_per_batch)
    write(TEST_FILE, n_test)
    meta = {"num_cases_per_batch": n_per_batch, "label_names": list(CLASS_NAMES), "num_vis": 3072}
    with open(folder / META_FILE, "wb") as f:
        pickle.dump(meta, f)
    return folder
