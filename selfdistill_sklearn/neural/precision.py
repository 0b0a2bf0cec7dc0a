"""Mixed precision for :class:`~selfdistill_sklearn.SelfDistilledNeuralNet`.

With ``mixed_precision=True`` on CUDA, training and prediction run under
``torch.autocast`` with float16, and the loss goes through a gradient
scaler (one per network, ``net._network.scaler``); elsewhere float32.
"""

import warnings
from contextlib import nullcontext

import torch
from skorch.utils import TeeGenerator

__all__ = ["MixedPrecision"]

_NO_AUTOCAST = nullcontext()  # reusable: entering it does nothing


class MixedPrecision:
    """Mixin for a skorch net with a ``mixed_precision`` parameter."""

    def train_step(self, batch, **fit_params):
        """Run one optimisation step on a training batch.

        As skorch's, except under mixed precision: the loss then goes
        through the network's gradient scaler, outside an optimiser closure
        (a gradient scaler cannot step through one).

        Parameters
        ----------
        batch : tuple
            The batch as the training iterator yields it, ``(X, y)``.
        **fit_params : dict
            Passed on to the network's forward call.

        Returns
        -------
        step : dict
            ``"loss"`` (scalar tensor) and ``"y_pred"`` (the logits).
        """
        scaler = self._network.scaler
        if scaler is None:
            return super().train_step(batch, **fit_params)
        # A gradient scaler cannot go through an optimiser closure.
        self.optimizer_.zero_grad()
        step = self.train_step_single(batch, **fit_params)
        self.notify(
            "on_grad_computed",
            named_parameters=TeeGenerator(self.get_all_learnable_params()),
            batch=batch,
            training=True,
        )
        scaler.step(self.optimizer_)
        scaler.update()
        return step

    def validation_step(self, batch, **fit_params):
        """Compute the loss on a validation batch, under autocast when on.

        Parameters
        ----------
        batch : tuple
            The batch as the validation iterator yields it, ``(X, y)``.
        **fit_params : dict
            Passed on to the network's forward call.

        Returns
        -------
        step : dict
            ``"loss"`` (scalar tensor) and ``"y_pred"`` (the logits).
        """
        with self._autocast():
            return super().validation_step(batch, **fit_params)

    def evaluation_step(self, batch, training=False):
        """Compute the network's outputs on a batch, under autocast when on.

        Parameters
        ----------
        batch : tuple or array-like
            The batch as the iterator yields it; its first element is ``X``.
        training : bool, default=False
            Whether to keep the network in training mode (and gradients).

        Returns
        -------
        y_infer : torch.Tensor
            The logits of the batch.
        """
        with self._autocast():
            return super().evaluation_step(batch, training=training)

    def _warn_without_amp(self):
        if self.mixed_precision and not self._amp_enabled():
            warnings.warn(
                f"mixed_precision=True needs CUDA; training in float32 on {self.device}.",
                UserWarning,
                stacklevel=4,
            )

    def _new_scaler(self):
        return torch.amp.GradScaler("cuda") if self._amp_enabled() else None

    def _amp_enabled(self):
        return bool(self.mixed_precision) and str(self.device).startswith("cuda")

    def _autocast(self):
        if self.mixed_precision and self._amp_enabled():
            return torch.autocast("cuda", dtype=torch.float16)
        return _NO_AUTOCAST
