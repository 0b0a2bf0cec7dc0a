"""The ``"auto"`` device of :class:`~selfdistill_sklearn.SelfDistilledNeuralNet`.

skorch reads ``net.device`` wherever it moves modules and tensors
(initialisation, set_params, scoring callbacks, load_params, unpickling)
and keeps it as ``vars(net)["device"]``; scikit-learn reads the parameter
through get_params. "auto" is resolved once, when the parameter is set, so
that skorch only ever sees a concrete device, and get_params gives back the
request.
"""

import torch

__all__ = ["AutoDevice", "resolve_device"]


def resolve_device(device):
    """``"auto"`` as CUDA when available, else the CPU; any other device as given."""
    if isinstance(device, str) and device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class AutoDevice:
    """Mixin for a skorch net: the ``device`` parameter may be ``"auto"``."""

    @property
    def device(self):
        """The device skorch trains and predicts on: ``"auto"`` resolved."""
        return vars(self)["device"]

    @device.setter
    def device(self, value):
        vars(self)["_device_param"] = value
        vars(self)["device"] = resolve_device(value)

    def get_params(self, deep=True, **kwargs):
        """Get the parameters as passed: ``device`` stays ``"auto"`` if given so.

        Parameters
        ----------
        deep : bool, default=True
            Also return the parameters of sub-objects (skorch's and
            scikit-learn's meaning).
        **kwargs : dict
            Passed to skorch's ``get_params``.

        Returns
        -------
        params : dict
            Parameter names mapped to their values, as scikit-learn's
            ``clone`` and ``set_params`` use them; ``params["device"]`` is
            the device requested (``"auto"``, say), not the one resolved.
        """
        params = super().get_params(deep=deep, **kwargs)
        params["device"] = vars(self)["_device_param"]
        return params

    def load_params(self, *args, **kwargs):
        """Load saved weights, optimiser state or history, as skorch does.

        A device that stays the same keeps the ``"auto"`` request in
        ``get_params``; one that changes (a CUDA file loaded without a GPU,
        say) becomes the requested device.

        Parameters
        ----------
        *args : tuple
            The arguments of skorch's ``load_params`` (``f_params``,
            ``f_optimizer``, ``f_criterion``, ``f_history``, ``checkpoint``,
            ``use_safetensors``).
        **kwargs : dict
            The same, by name.
        """
        requested, device = vars(self)["_device_param"], self.device
        super().load_params(*args, **kwargs)
        if self.device == device:
            vars(self)["_device_param"] = requested

    def __setstate__(self, state):
        # A state without the request is skorch's or an older version's.
        state = dict(state, _device_param=state.get("_device_param", state.get("device")))
        state["device"] = saved = resolve_device(state.get("device"))
        super().__setstate__(state)  # skorch maps a missing CUDA to the CPU
        if self.device != saved and vars(self).get("_device_param") != "auto":
            vars(self)["_device_param"] = self.device
        if "device_" in vars(self):
            self.device_ = self.device


    def _cuda_devices(self):
        device = None if self.device is None else torch.device(self.device)
        if device is None or device.type != "cuda":
            return []
        return [device.index if device.index is not None else torch.cuda.current_device()]
