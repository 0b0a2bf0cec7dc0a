"""Kept for imports of earlier versions: see :mod:`selfdistill_sklearn.neural.networks`."""

from .neural.networks import *  # noqa: F403
from .neural.networks import SMALL_INPUT_THRESHOLD, __all__  # noqa: F401
