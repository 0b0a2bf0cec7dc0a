"""Self-distillation with closed forms, as scikit-learn estimators.

Implements Borup & Andersen (2021), "Even your Teacher Needs Guidance:
Ground-Truth Targets Dampen Regularization Imposed by Self-Distillation"
(NeurIPS 2021).

The kernel estimators need only numpy, scipy and scikit-learn. The neural
network estimator needs the ``torch`` extra::

    pip install "selfdistill_sklearn[torch]"

The primal estimators take dask arrays with the ``dask`` extra (dask is
imported only when a dask array is passed)::

    pip install "selfdistill_sklearn[dask]"
"""

from ._grids import GridEdgeWarning
from .classification import (
    SelfDistilledKernelRidgeClassifier,
    SelfDistilledKernelRidgeClassifierCV,
    SelfDistilledRidgeClassifier,
    SelfDistilledRidgeClassifierCV,
)
from .kernel_ridge import SelfDistilledKernelRidge
from .model_selection import SelfDistilledKernelRidgeCV
from .ridge import SelfDistilledRidge, SelfDistilledRidgeCV

__version__ = "0.1.0"

__all__ = [
    "GridEdgeWarning",
    "SelfDistilledKernelRidge",
    "SelfDistilledKernelRidgeCV",
    "SelfDistilledKernelRidgeClassifier",
    "SelfDistilledKernelRidgeClassifierCV",
    "SelfDistilledNeuralNet",
    "SelfDistilledRidge",
    "SelfDistilledRidgeCV",
    "SelfDistilledRidgeClassifier",
    "SelfDistilledRidgeClassifierCV",
    "__version__",
]

_TORCH_NAMES = {"SelfDistilledNeuralNet": ".neural.estimator"}


def __getattr__(name):
    # The neural network estimator imports torch, torchvision and skorch,
    # several GB that a kernel-only user does not install: import it lazily
    # and say which extra is missing.
    if name in _TORCH_NAMES:
        from importlib import import_module

        try:
            module = import_module(_TORCH_NAMES[name], __name__)
        except ModuleNotFoundError as exc:
            if exc.name in {"torch", "torchvision", "skorch"}:
                raise ImportError(
                    f"{name} needs torch, torchvision and skorch ({exc.name!r} is "
                    "missing). Install them with: pip install "
                    "'selfdistill_sklearn[torch]'"
                ) from exc
            raise
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
