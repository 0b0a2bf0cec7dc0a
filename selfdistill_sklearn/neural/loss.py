"""The self-distillation loss of eq. (18), as a function and as a criterion."""

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SelfDistillationLoss", "self_distillation_loss"]


def self_distillation_loss(logits, targets, teacher_proba=None, alpha=1.0):
    """The data term of the self-distillation objective, eq. (18).

    ``alpha * MSE(softmax(logits), onehot(targets)) + (1 - alpha) *
    MSE(softmax(logits), teacher_proba)``: the squared distance of the
    predicted class probabilities to the one-hot labels and to the
    probabilities of the previous, frozen network (the paper's footnote 13).
    The squared errors are averaged over samples and classes, as torch's
    ``mse_loss``; the penalty ``lambda/2 ||theta||^2`` is not part of it (it
    is the optimiser's weight decay). Since ``alpha a + (1 - alpha) b`` of
    two squared distances equals, up to a constant, the squared distance to
    the blended target ``alpha y + (1 - alpha) teacher_proba``, any real
    ``alpha`` gives a well-posed objective (as an unclipped alpha-hat may
    require).

    Parameters
    ----------
    logits : torch.Tensor of shape (n, k)
    targets : torch.Tensor of shape (n,)
        Class indices in ``0 .. k - 1``.
    teacher_proba : torch.Tensor of shape (n, k) or None
        Probabilities of the previous network on the same (augmented)
        inputs. None for the first step, which must have ``alpha = 1``.
    alpha : float
        Weight of the ground truth.

    Returns
    -------
    loss : torch.Tensor (scalar)
    """
    proba = torch.softmax(logits.float(), dim=1)
    onehot = F.one_hot(targets.long(), proba.shape[1]).to(proba.dtype)
    loss = alpha * F.mse_loss(proba, onehot)
    if teacher_proba is None:
        if alpha != 1:
            raise ValueError(f"alpha={alpha!r} needs teacher probabilities (alpha < 1 or > 1).")
        return loss
    return loss + (1 - alpha) * F.mse_loss(proba, teacher_proba.to(proba.dtype))


class SelfDistillationLoss(nn.Module):
    """:func:`self_distillation_loss` as a criterion module (eq. (18))."""

    def forward(self, logits, targets, teacher_proba=None, alpha=1.0):
        return self_distillation_loss(logits, targets, teacher_proba, alpha)
