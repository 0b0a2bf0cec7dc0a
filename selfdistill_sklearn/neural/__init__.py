"""The torch family: self-distilled neural network classifiers (Section 5).

* :mod:`~selfdistill_sklearn.neural.estimator`: :class:`SelfDistilledNeuralNet`,
  a :class:`skorch.NeuralNetClassifier` training the chain;
* :mod:`~selfdistill_sklearn.neural.loss`: eq. (18);
* :mod:`~selfdistill_sklearn.neural.networks`: the networks of each step;
* :mod:`~selfdistill_sklearn.neural.chain`: where a chain stands and what
  each network is (no torch);
* :mod:`~selfdistill_sklearn.neural.checkpoint`: its checkpoint file;
* :mod:`~selfdistill_sklearn.neural.checks` and
  :mod:`~selfdistill_sklearn.neural.data`: parameters, data and batches.

Needs the ``torch`` extra, except :mod:`~selfdistill_sklearn.neural.chain`:
the names below are imported when first used.
"""

__all__ = ["SelfDistilledNeuralNet", "SelfDistillationLoss", "self_distillation_loss"]

_NAMES = {
    "SelfDistilledNeuralNet": ".estimator",
    "SelfDistillationLoss": ".loss",
    "self_distillation_loss": ".loss",
}


def __getattr__(name):
    if name in _NAMES:
        from importlib import import_module

        return getattr(import_module(_NAMES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
