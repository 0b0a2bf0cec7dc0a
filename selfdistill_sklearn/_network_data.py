"""Kept for imports of earlier versions: see :mod:`selfdistill_sklearn.neural.data`."""

from .neural.data import *  # noqa: F403
from .neural.data import __all__  # noqa: F401
