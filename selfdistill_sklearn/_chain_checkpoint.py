"""Kept for imports of earlier versions: see :mod:`selfdistill_sklearn.neural.checkpoint`."""

from .neural.checkpoint import *  # noqa: F403
from .neural.checkpoint import __all__  # noqa: F401
