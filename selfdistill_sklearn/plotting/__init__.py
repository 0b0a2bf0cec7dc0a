"""Display objects in scikit-learn's style (``Display.from_estimator(...)``,
``.plot(ax=...)``) for the paper's figures and for model selection. Needs
matplotlib (the ``plot`` extra: ``pip install 'selfdistill_sklearn[plot]'``)."""

from .cross_validation import CrossValidationErrorDisplay
from .distillation import DistillationPathDisplay, ShrinkageDiagonalDisplay, ShrinkageRatioDisplay

__all__ = [
    "CrossValidationErrorDisplay",
    "DistillationPathDisplay",
    "ShrinkageDiagonalDisplay",
    "ShrinkageRatioDisplay",
]
