"""The self-distillation loss of eq. (18): a function, a criterion, and the net's hooks.

:class:`TeacherLoss` gives a skorch net the loss of eq. (18) on every batch:
the labels, and the frozen previous network evaluated on the same (augmented)
inputs.
"""

import torch
import torch.nn.functional as F
from skorch.utils import to_tensor
from torch import nn

from .networks import is_probabilities

__all__ = ["SelfDistillationLoss", "TeacherLoss", "self_distillation_loss"]


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


class TeacherLoss:
    """Mixin for a skorch net: eq. (18) on every batch, teacher included.

    The net holds the fit being trained in ``_network`` (its ``teacher``,
    frozen, and its ``alpha``), the shape of one image in ``image_shape``,
    and whether its module's outputs are probabilities in
    ``outputs_probabilities_`` (None until the first batch tells).
    """

    def infer(self, x, **fit_params):
        """Compute the logits of the network being trained on a batch.

        Parameters
        ----------
        x : array-like or torch.Tensor
            The batch, reshaped to ``(n, *image_shape)`` when ``image_shape``
            is set.
        **fit_params : dict
            Passed on to the network's forward call.

        Returns
        -------
        logits : torch.Tensor of shape (n, n_classes)
            The network's outputs, or their logarithm for a network that
            ends in a softmax (``softmax(log p) = p``).
        """
        return self._logits(self.module_, self._as_input(x), **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Compute eq. (18) on a batch: the labels and the teacher on the same inputs.

        Parameters
        ----------
        y_pred : torch.Tensor of shape (n, n_classes)
            Logits of the network being trained.
        y_true : array-like or torch.Tensor of shape (n,)
            Labels, as positions in ``classes_``.
        X : array-like or torch.Tensor, default=None
            The (augmented) batch the logits came from; the teacher is
            evaluated on it. None, or no teacher, weighs the labels alone.
        training : bool, default=False
            Unused; skorch's signature.

        Returns
        -------
        loss : torch.Tensor
            A scalar: ``self_distillation_loss`` with the fit's ``alpha``.
        """
        y_true = to_tensor(y_true, device=self.device)
        teacher_proba = self._teacher_proba(X)
        alpha = 1.0 if teacher_proba is None else self._network.alpha
        return self.criterion_(y_pred, y_true, teacher_proba, alpha)

    def _teacher_proba(self, X):
        """Softmax outputs of the frozen previous network on the batch ``X``."""
        network = getattr(self, "_network", None)
        if network is None or network.teacher is None:
            return None
        with torch.no_grad():
            return torch.softmax(self._logits(network.teacher, self._as_input(X)).float(), dim=1)

    def _logits(self, network, x, **fit_params):
        out = network(x, **fit_params)
        if getattr(self, "outputs_probabilities_", False) is None:
            self.outputs_probabilities_ = is_probabilities(out.detach())
        if getattr(self, "outputs_probabilities_", False):
            # softmax(log p) = p: eq. (18) sees the module's own probabilities.
            return torch.log(out.clamp_min(torch.finfo(out.dtype).tiny))
        return out

    def _as_input(self, x):
        x = to_tensor(x, device=self.device)
        if self.image_shape is not None:
            x = x.reshape(-1, *self.image_shape)
        return x
