"""Kept for imports of earlier versions: see :mod:`selfdistill_sklearn.neural.checks`."""

from .neural.checks import *  # noqa: F403
from .neural.checks import __all__  # noqa: F401
