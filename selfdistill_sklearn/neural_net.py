"""Kept for imports of earlier versions: see :mod:`selfdistill_sklearn.neural`."""

from .neural.estimator import SelfDistilledNeuralNet
from .neural.loss import SelfDistillationLoss, self_distillation_loss

__all__ = ["SelfDistillationLoss", "SelfDistilledNeuralNet", "self_distillation_loss"]
