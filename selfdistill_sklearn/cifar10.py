"""CIFAR-10 from a directory in torchvision's on-disk format.

Kept for imports of earlier versions: the reader is
:func:`selfdistill_sklearn.datasets.load_cifar10` (it needs no torch).
"""

from .datasets import CLASS_NAMES, FOLDER, META_FILE, TEST_FILE, TRAIN_FILES, load_cifar10

__all__ = ["load_cifar10"]
__all__ += ["CLASS_NAMES", "FOLDER", "META_FILE", "TEST_FILE", "TRAIN_FILES"]
