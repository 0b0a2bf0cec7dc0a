"""A tiny fake CIFAR-10 in torchvision's exact on-disk format, for the tests."""

import pickle
from pathlib import Path

import numpy as np
from sklearn.utils import check_random_state

from selfdistill_sklearn.datasets import CLASS_NAMES, FOLDER, META_FILE, TEST_FILE, TRAIN_FILES

__all__ = ["make_fake_cifar10"]


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
