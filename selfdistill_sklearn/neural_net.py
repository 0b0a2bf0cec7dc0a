"""Self-distillation of neural network classifiers (Section 5, Appendix B).

:class:`SelfDistilledNeuralNet` is a :class:`skorch.NeuralNetClassifier`
that trains a chain of networks, each one on a blend of the one-hot labels
and the softmax outputs of the previous, frozen network (eq. (18)), with
the blend weight fixed, scheduled or estimated at every step by the
adapted Algorithm 1 (Theorem 4.4 on validation probabilities).

Needs the ``torch`` extra (torch, torchvision and skorch).
"""

import copy
import hashlib
import json
import math
import numbers
import os
import re
import time
import warnings
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback, EpochTimer, PassthroughScoring, PrintLog, ProgressBar
from skorch.dataset import unpack_data
from skorch.history import History
from skorch.utils import TeeGenerator, is_dataset, to_tensor
from torch import nn

from .closed_forms import optimal_alpha
from .networks import build_network, random_crop_flip
from .validation import OPTIMAL, check_alpha, check_n_steps, check_reg_lambda

__all__ = ["SelfDistillationLoss", "SelfDistilledNeuralNet", "self_distillation_loss"]

CHECKPOINT_FILE = "selfdistill_checkpoint.pt"
_CHECKPOINT_FORMAT = 1
# Parameters that change neither the networks nor the data they see: a run
# may be resumed with other values.
_RESUME_IGNORED = {"verbose", "checkpoint_dir", "device"}


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


class _EpochAccuracy(Callback):
    """Records ``train_acc`` and ``valid_acc`` from the batches of an epoch.

    Counts the argmax of the logits that training and validation computed
    anyway, so no second pass over the data is made. The training accuracy
    is therefore that of the (augmented) batches in training mode while the
    weights were changing, as is usual.
    """

    def on_epoch_begin(self, net, **kwargs):
        self.counts_ = {True: [0, 0], False: [0, 0]}

    def on_batch_end(self, net, batch=None, training=False, y_pred=None, **kwargs):
        if y_pred is None:
            return
        yi = unpack_data(batch)[1]
        pred = y_pred.argmax(dim=1)
        counts = self.counts_[bool(training)]
        counts[0] += int((pred == torch.as_tensor(yi, device=pred.device)).sum().item())
        counts[1] += len(pred)

    def on_epoch_end(self, net, **kwargs):
        for training, name in ((True, "train_acc"), (False, "valid_acc")):
            correct, total = self.counts_[training]
            if total:
                net.history.record(name, correct / total)


class _Chain:
    """What the training of the current network needs besides the net.

    A plain object (not a torch module) so that skorch does not register
    the teacher as a trainable part of the net.
    """

    def __init__(self, step, fit, alpha, probe, teacher, scaler):
        self.step = step
        self.fit = fit
        self.alpha = alpha
        self.probe = probe
        self.teacher = teacher
        self.scaler = scaler


def _stable_repr(value):
    """A text for ``value`` that is the same in every process (no addresses)."""
    if value is None or isinstance(value, (bool, numbers.Number, str, bytes)):
        return repr(value)
    if isinstance(value, np.ndarray):
        return f"array{value.shape}{value.dtype}:{_hash_arrays([value])}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_stable_repr(v) for v in value) + "]"
    if isinstance(value, (set, frozenset)):
        return "{" + ",".join(sorted(_stable_repr(v) for v in value)) + "}"
    if isinstance(value, dict):
        return "{" + ",".join(
            f"{_stable_repr(k)}:{_stable_repr(v)}" for k, v in sorted(value.items(), key=str)
        ) + "}"
    if isinstance(value, type) or callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '')}.{value.__qualname__}"
    if hasattr(value, "get_params") and not isinstance(value, nn.Module):
        return f"{type(value).__qualname__}({_stable_repr(value.get_params(deep=False))})"
    return f"{type(value).__qualname__}:" + re.sub(r"0x[0-9a-fA-F]+", "", repr(value))


def _hash_arrays(arrays):
    digest = hashlib.sha256()
    for array in arrays:
        if array is None:
            digest.update(b"None")
            continue
        array = np.ascontiguousarray(array)
        digest.update(f"{array.shape}{array.dtype}".encode())
        digest.update(array.tobytes() if array.dtype != object else repr(array).encode())
    return digest.hexdigest()


def _json_default(value):
    if isinstance(value, (np.generic, torch.Tensor)):
        return value.item()
    raise TypeError(f"{type(value).__name__} cannot be stored in the checkpoint's history.")


def _step_seed(base_seed, step):
    # Seeds depend on the step alone: chains with different alphas share the
    # initialisation of each step (the paper's Appendix B, footnote 16), and
    # so do the alpha = 0 fit of Algorithm 1 and the fit with alpha-hat.
    return int(np.random.SeedSequence([base_seed, step]).generate_state(1)[0])


def _is_whole(value, minimum):
    return (
        isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum
    )


class SelfDistilledNeuralNet(NeuralNetClassifier):
    """Self-distilled neural network classifier (Borup & Andersen, Section 5).

    Trains ``n_steps`` networks one after the other. Step 1 fits the one-hot
    labels; every later step ``t`` starts from a fresh initialisation and
    minimises eq. (18),

        alpha(t)/2 ||f(X) - Y||^2 + (1 - alpha(t))/2 ||f(X) - Y(t-1)||^2
        + lambda/2 ||theta||^2,

    where ``f(X)`` are softmax probabilities, ``Y`` the one-hot labels and
    ``Y(t-1)`` the probabilities of the previous network, frozen and
    evaluated on the same (augmented) batch (:func:`self_distillation_loss`).
    The penalty is Adam's weight decay ``reg_lambda``. With
    ``alpha="optimal"`` each weight is estimated by the adapted Algorithm 1:
    train step ``t`` with ``alpha = 0``, then ``alpha-hat(t)`` minimises
    ``||Y~ - (alpha Y~(1) + (1 - alpha) Y~(t)_0)||_F^2`` over the
    validation probabilities (Theorem 4.4, eq. (16)), and step ``t`` is
    trained again with ``alpha-hat(t)``: ``2 (n_steps - 1) + 1`` fits, against
    ``g (n_steps - 1) + 1`` for a grid of ``g`` values.

    Everything else is :class:`skorch.NeuralNetClassifier`: ``module__*``,
    ``optimizer__*``, ``iterator_train__*`` and ``callbacks`` are routed as
    there, and ``history`` holds every epoch of every network, with its
    ``step``, ``fit``, ``alpha`` and ``probe`` (the ``alpha = 0`` fit of
    Algorithm 1).

    Parameters
    ----------
    module : str, torch.nn.Module class, callable or torch.nn.Module, default="resnet50"
        The network of every step, built afresh for each one by
        :func:`selfdistill_sklearn.networks.build_network`: a torchvision
        classification model name (no pretrained weights; the first layer
        adapted to the channels of the images and, below 64 pixels, to their
        size: a 3x3 stride-1 convolution and no max pooling, the usual CIFAR
        variant), or a class / factory called with ``module__*`` and, when
        its signature takes them, ``num_classes`` and ``input_shape``.
    alpha : float in [0, 1], sequence of n_steps - 1 floats, or "optimal", default=0.5
        Weight of the ground truth at steps ``2 .. n_steps``: one value for
        all, a schedule ``alpha(2), ..., alpha(n_steps)``, or ``"optimal"``
        for the estimate of Algorithm 1 at every step.
    n_steps : int >= 1, default=2
        Number of networks in the chain, the first included. The limit of
        infinitely many steps (Theorem 4.5) is a kernel ridge result and is
        not available for networks.
    reg_lambda : float > 0, default=1e-4
        The l2 penalty lambda of eq. (18), given to the optimiser as
        ``weight_decay`` (Appendix B.1: 1e-4). For Adam that adds
        ``lambda theta`` to the gradient of the mean squared error.
    clip_alpha : bool, default=False
        Clip alpha-hat to [0, 1] (the paper's footnote 10).
    random_state : int, RandomState instance or None, default=None
        Seeds the validation split and the initialisation, shuffling and
        augmentation of each step. Step ``t`` always starts from the same
        initialisation for a given ``random_state``, whatever ``alpha``.
    validation_fraction : float in (0, 1) or None, default=0.1
        Share of the training data held out, stratified, for validation when
        ``fit`` gets no ``X_val``. Needed by ``alpha="optimal"``; otherwise
        only monitored. None trains on all the data.
    checkpoint_dir : str, path or None, default=None
        Where the state is saved after each completed network. A later
        ``fit`` with the same parameters and data resumes after the last
        completed network; on the CPU it ends in the same weights as an
        uninterrupted run. A checkpoint of other parameters or data is
        replaced, with a warning.
    augment : bool, default=False
        Random crop after 4-pixel zero padding and a horizontal flip of
        every training batch, on the device (Appendix B.1). Needs images.
    image_shape : tuple (channels, height, width) or None, default=None
        Shape of one image when ``X`` holds flattened images (e.g. after a
        scaler in a Pipeline). Without it, ``X`` of shape (n, C, H, W) are
        images and 2-D ``X`` are feature vectors.
    small_input : bool or "auto", default="auto"
        Small-image stem for torchvision models; see ``module``.
    mixed_precision : bool, default=False
        Train and predict under ``torch.autocast`` with float16 and a
        gradient scaler. CUDA only: on other devices a warning is given and
        float32 is used.
    optimizer : torch optimizer class, default=torch.optim.Adam
    lr : float, default=1e-4
        Learning rate (Appendix B.1).
    max_epochs : int, default=75
        Epochs of every network (Appendix B.1).
    batch_size : int, default=128
    device : str, torch.device or None, default="auto"
        ``"auto"`` is CUDA when available, else the CPU.
    verbose : int, default=1
        0 is silent; 1 prints a line per network and skorch's table per
        epoch; 2 adds skorch's progress bar.
    **kwargs
        Any other :class:`skorch.NeuralNetClassifier` parameter
        (``callbacks``, ``iterator_train__num_workers``, ``module__*``, ...).
        The training batches are shuffled unless
        ``iterator_train__shuffle=False``.

    Attributes
    ----------
    alphas_ : ndarray of shape (n_steps - 1,)
        The weights ``alpha(2), ..., alpha(n_steps)`` used (alpha-hat for
        ``"optimal"``).
    n_fits_ : int
        Networks trained for the chain: ``n_steps``, or
        ``2 (n_steps - 1) + 1`` for ``"optimal"`` (those restored from a
        checkpoint included).
    module_ : torch.nn.Module
        The network of the last step; ``predict`` and ``predict_proba`` use it.
    history_ : skorch.history.History
        One row per epoch of every network; see :meth:`step_scores`.
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    input_shape_ : tuple
        Shape of one sample of ``X`` as seen in ``fit``.
    device_ : str or torch.device
        The device used.
    seed_ : int
        The seed drawn from ``random_state``.

    See Also
    --------
    selfdistill_sklearn.SelfDistilledKernelRidge : the closed forms this
        estimator approximates.

    References
    ----------
    K. Borup and L. N. Andersen, "Even your Teacher Needs Guidance:
    Ground-Truth Targets Dampen Regularization Imposed by Self-Distillation",
    NeurIPS 2021, Section 5 and Appendix B.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from selfdistill_sklearn import SelfDistilledNeuralNet
    >>> from selfdistill_sklearn.networks import SmallCNN
    >>> X, y = load_digits(return_X_y=True)
    >>> X = (X / 16).astype("float32").reshape(-1, 1, 8, 8)
    >>> net = SelfDistilledNeuralNet(SmallCNN, alpha="optimal", n_steps=3, lr=1e-2,
    ...                              max_epochs=5, random_state=0, verbose=0)
    >>> net.fit(X, y).n_fits_
    5
    >>> net.step_scores()[["step", "alpha", "valid_acc"]]  # doctest: +SKIP
    """

    def __init__(
        self,
        module="resnet50",
        *,
        alpha=0.5,
        n_steps=2,
        reg_lambda=1e-4,
        clip_alpha=False,
        random_state=None,
        validation_fraction=0.1,
        checkpoint_dir=None,
        augment=False,
        image_shape=None,
        small_input="auto",
        mixed_precision=False,
        optimizer=torch.optim.Adam,
        lr=1e-4,
        max_epochs=75,
        batch_size=128,
        criterion=SelfDistillationLoss,
        train_split=None,
        device="auto",
        verbose=1,
        **kwargs,
    ):
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            device=device,
            verbose=verbose,
            **kwargs,
        )
        self.alpha = alpha
        self.n_steps = n_steps
        self.reg_lambda = reg_lambda
        self.clip_alpha = clip_alpha
        self.random_state = random_state
        self.validation_fraction = validation_fraction
        self.checkpoint_dir = checkpoint_dir
        self.augment = augment
        self.image_shape = image_shape
        self.small_input = small_input
        self.mixed_precision = mixed_precision

    # ------------------------------------------------------------------ skorch
    @property
    def _default_callbacks(self):
        callbacks = [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("valid_loss", PassthroughScoring(name="valid_loss")),
            ("accuracy", _EpochAccuracy()),
            ("print_log", PrintLog()),
        ]
        if isinstance(self.verbose, numbers.Number) and self.verbose >= 2:
            callbacks.insert(-1, ("progress_bar", ProgressBar()))
        return callbacks

    def initialize_module(self):
        """Build a fresh network for the current step on the device."""
        kwargs = self.get_params_for("module")
        network = build_network(
            self.module, self._network_input_shape(), len(self.classes_),
            small_input=self.small_input, **kwargs,
        )
        self.module_ = network.to(self.device) if self.device is not None else network
        return self

    def initialize_optimizer(self, triggered_directly=None):
        """The optimiser with ``weight_decay=reg_lambda`` (the penalty of eq. (18))."""
        named_parameters = self.get_all_learnable_params()
        args, kwargs = self.get_params_for_optimizer("optimizer", named_parameters)
        kwargs["weight_decay"] = self.reg_lambda
        self.optimizer_ = self.optimizer(*args, **kwargs)
        return self

    def check_data(self, X, y=None):
        # fit validates and encodes the labels before skorch sees them.
        pass

    def get_split_datasets(self, X, y=None, **fit_params):
        """Training data, and the validation data that ``fit`` set aside."""
        valid = getattr(self, "_valid_data_", None)
        dataset_valid = None if valid is None else self.get_dataset(*valid)
        return self.get_dataset(X, y), dataset_valid

    def get_iterator(self, dataset, training=False):
        """As skorch, with the training batches shuffled by default."""
        if training:
            kwargs = self.get_params_for("iterator_train")
            kwargs.setdefault("shuffle", True)
            iterator = self.iterator_train
        else:
            kwargs = self.get_params_for("iterator_valid")
            iterator = self.iterator_valid
        kwargs.setdefault("batch_size", self.batch_size)
        if kwargs["batch_size"] == -1:
            kwargs["batch_size"] = len(dataset)
        return iterator(dataset, **kwargs)

    def infer(self, x, **fit_params):
        return self.module_(self._as_input(x), **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Eq. (18) on a batch: labels and the frozen teacher on the same inputs."""
        chain = getattr(self, "_chain_", None)
        y_true = to_tensor(y_true, device=self.device)
        teacher_proba = self._teacher_proba(X)
        alpha = 1.0 if teacher_proba is None else chain.alpha
        return self.criterion_(y_pred, y_true, teacher_proba, alpha)

    def _teacher_proba(self, X):
        """Softmax outputs of the frozen previous network on the batch ``X``."""
        chain = getattr(self, "_chain_", None)
        if chain is None or chain.teacher is None:
            return None
        with torch.no_grad():
            return torch.softmax(chain.teacher(self._as_input(X)).float(), dim=1)

    def train_step_single(self, batch, **fit_params):
        """One forward and backward pass, with augmentation and mixed precision."""
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        Xi = self._as_input(Xi)
        if self.augment:
            # The teacher sees the same augmented batch (get_loss gets X=Xi).
            Xi = random_crop_flip(Xi)
        with self._autocast():
            y_pred = self.infer(Xi, **fit_params)
            loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        scaler = self._chain_.scaler if getattr(self, "_chain_", None) else None
        (scaler.scale(loss) if scaler is not None else loss).backward()
        return {"loss": loss, "y_pred": y_pred}

    def train_step(self, batch, **fit_params):
        chain = getattr(self, "_chain_", None)
        if chain is None or chain.scaler is None:
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
        chain.scaler.step(self.optimizer_)
        chain.scaler.update()
        return step

    def validation_step(self, batch, **fit_params):
        with self._autocast():
            return super().validation_step(batch, **fit_params)

    def evaluation_step(self, batch, training=False):
        with self._autocast():
            return super().evaluation_step(batch, training=training)

    def forward_iter(self, X, training=False, device="cpu"):
        with self._on_device():
            yield from super().forward_iter(X, training=training, device=device)

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_begin(net, dataset_train, dataset_valid, **kwargs)
        chain = getattr(self, "_chain_", None)
        if chain is not None:
            self.history.record("step", chain.step)
            self.history.record("fit", chain.fit)
            self.history.record("alpha", chain.alpha)
            self.history.record("probe", chain.probe)

    def _get_param_names(self):
        # skorch lists its private ``_params_to_validate`` among the parameters;
        # __init__ rebuilds it from the keyword arguments, and giving it another
        # value through set_params breaks the net.
        return [name for name in super()._get_param_names() if not name.startswith("_")]

    def _partial_fit_available(self):
        return False

    @available_if(_partial_fit_available)
    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Not available: a chain of freshly initialised networks has no
        incremental form. Use ``checkpoint_dir`` to resume an interrupted fit."""
        raise NotImplementedError

    def __setstate__(self, state):
        requested = state.get("device")
        if requested == "auto":
            state = dict(state, device=state.get("device_", "cpu"))
        super().__setstate__(state)
        if requested == "auto":
            if "device_" in state:
                self.device_ = self.device
            self.device = "auto"

    # ----------------------------------------------------------------- helpers
    @contextmanager
    def _on_device(self):
        # skorch moves tensors to ``self.device``; during fit and prediction
        # it must be the resolved device, while the parameter keeps "auto".
        requested = self.device
        resolved = getattr(self, "device_", requested)
        vars(self)["device"] = resolved
        try:
            yield
        finally:
            vars(self)["device"] = requested

    def _amp_enabled(self):
        device = getattr(self, "device_", None)
        return bool(self.mixed_precision) and device is not None and (
            torch.device(device).type == "cuda"
        )

    def _autocast(self):
        if self._amp_enabled():
            return torch.autocast("cuda", dtype=torch.float16)
        return nullcontext()

    def _network_input_shape(self):
        if self.image_shape is not None:
            return tuple(self.image_shape)
        return tuple(self.input_shape_)

    def _as_input(self, x):
        x = to_tensor(x, device=self.device)
        if self.image_shape is not None:
            x = x.reshape(-1, *self.image_shape)
        return x

    def _check_params(self):
        if isinstance(self.n_steps, numbers.Real) and math.isinf(self.n_steps):
            raise ValueError(
                "n_steps must be finite for SelfDistilledNeuralNet: the limit of infinitely "
                "many steps (Theorem 4.5) is kernel ridge regression and has no network "
                "counterpart. Use SelfDistilledKernelRidge(n_steps=float('inf')) for it."
            )
        n_steps = check_n_steps(self.n_steps, allow_infinite=False)
        alpha = check_alpha(self.alpha, n_steps)
        check_reg_lambda(self.reg_lambda)
        for name in ("clip_alpha", "augment", "mixed_precision"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}.")
        if self.small_input not in ("auto", True, False):
            raise ValueError(
                f"small_input must be True, False or 'auto', got {self.small_input!r}."
            )
        fraction = self.validation_fraction
        if fraction is not None and not (
            isinstance(fraction, numbers.Real) and not isinstance(fraction, bool)
            and 0 < fraction < 1
        ):
            raise ValueError(
                f"validation_fraction must be a float in (0, 1) or None, got {fraction!r}."
            )
        if self.image_shape is not None and not (
            isinstance(self.image_shape, (tuple, list)) and len(self.image_shape) == 3
            and all(_is_whole(s, 1) for s in self.image_shape)
        ):
            raise ValueError(
                "image_shape must be None or (channels, height, width) of positive ints, got "
                f"{self.image_shape!r}."
            )
        if not _is_whole(self.max_epochs, 1):
            raise ValueError(f"max_epochs must be an int >= 1, got {self.max_epochs!r}.")
        if self.train_split is not None:
            raise ValueError(
                "train_split is not used by SelfDistilledNeuralNet: give fit X_val and y_val, "
                f"or set validation_fraction (got train_split={self.train_split!r})."
            )
        if self.warm_start:
            raise ValueError(
                "warm_start=True is not supported: every step starts from a fresh "
                "initialisation. Use checkpoint_dir to resume an interrupted fit."
            )
        if self.compile:
            raise ValueError("compile=True is not supported by SelfDistilledNeuralNet.")
        if self.predict_nonlinearity != "auto":
            raise ValueError(
                "predict_nonlinearity must stay 'auto': predict_proba returns the softmax "
                "probabilities that eq. (18) is defined on."
            )
        if "weight_decay" in self.get_params_for("optimizer"):
            raise ValueError(
                "Set the l2 penalty with reg_lambda, not optimizer__weight_decay."
            )
        return n_steps, alpha

    def _check_shape(self, X, name, reset):
        if X.ndim not in (2, 4):
            raise ValueError(
                f"{name} must be 2-D (n_samples, n_features) or 4-D (n_samples, channels, "
                f"height, width), got shape {X.shape}."
            )
        if reset:
            if self.image_shape is not None and (
                X.ndim != 2 or X.shape[1] != math.prod(self.image_shape)
            ):
                raise ValueError(
                    f"image_shape={tuple(self.image_shape)} needs X of shape (n_samples, "
                    f"{math.prod(self.image_shape)}), got {X.shape}."
                )
        elif tuple(X.shape[1:]) != tuple(self.input_shape_):
            raise ValueError(
                f"{name} has samples of shape {tuple(X.shape[1:])}, but "
                f"{type(self).__name__} was fitted on samples of shape {self.input_shape_}."
            )
        return X

    def _check_y(self, y, name):
        y = column_or_1d(check_array(y, ensure_2d=False, dtype=None, input_name=name), warn=True)
        check_classification_targets(y)
        return y

    def _encode(self, y, name):
        classes = self.classes_
        unseen = np.setdiff1d(np.unique(y), classes)
        if unseen.size:
            raise ValueError(
                f"{name} contains labels not among the classes {classes.tolist()}: "
                f"{unseen.tolist()}."
            )
        return np.searchsorted(classes, y).astype(np.int64)

    def _validation_split(self, X, y, seed, optimal):
        fraction = self.validation_fraction
        if fraction is None:
            if optimal:
                raise ValueError(
                    "alpha='optimal' needs validation data: pass X_val and y_val to fit, or "
                    "set validation_fraction."
                )
            return X, y, None, None
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        try:
            train, valid = next(splitter.split(X, y))
        except ValueError as exc:
            hint = "" if optimal else ", or validation_fraction=None to train without one"
            raise ValueError(
                f"validation_fraction={fraction} cannot give a stratified validation split "
                f"of {len(y)} samples in {len(np.unique(y))} classes ({exc}). Pass X_val and "
                f"y_val to fit, or change validation_fraction{hint}."
            ) from exc
        return X[train], y[train], X[valid], y[valid]

    def _new_network(self, state_dict=None):
        network = build_network(
            self.module, self._network_input_shape(), len(self.classes_),
            small_input=self.small_input, **self.get_params_for("module"),
        )
        if state_dict is not None:
            network.load_state_dict(state_dict)
        return network.to(self.device) if self.device is not None else network

    @staticmethod
    def _frozen(network):
        network = network.eval()
        for parameter in network.parameters():
            parameter.requires_grad_(False)
        return network

    def _proba(self, X):
        probas = [
            torch.softmax(out.double(), dim=1).numpy()
            for out in self.forward_iter(X, training=False)
        ]
        return np.concatenate(probas, axis=0)

    def _fingerprint(self, arrays):
        params = self.get_params(deep=False)
        text = ";".join(
            f"{key}={_stable_repr(params[key])}"
            for key in sorted(params) if key not in _RESUME_IGNORED
        )
        return hashlib.sha256(
            (type(self).__qualname__ + text + _hash_arrays(arrays)).encode()
        ).hexdigest()

    def _checkpoint_path(self):
        return None if self.checkpoint_dir is None else Path(self.checkpoint_dir) / CHECKPOINT_FILE

    def _load_checkpoint(self, fingerprint):
        path = self._checkpoint_path()
        if path is None or not path.exists():
            return None
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("format") != _CHECKPOINT_FORMAT or state.get("fingerprint") != fingerprint:
            warnings.warn(
                f"The checkpoint in {path} was made with other parameters or data; "
                "starting over and replacing it.",
                UserWarning,
                stacklevel=3,
            )
            return None
        return state

    def _save_checkpoint(self, state):
        path = self._checkpoint_path()
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = dict(state, history=json.dumps(list(self.history), default=_json_default))
        partial = path.with_name(path.name + ".partial")
        torch.save(payload, partial)
        os.replace(partial, path)  # a crash mid-write leaves the previous checkpoint

    def _say(self, message):
        if self.verbose:
            print(message, flush=True)

    # --------------------------------------------------------------------- API
    def fit(self, X, y, X_val=None, y_val=None):
        """Train the chain of ``n_steps`` networks.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, C, H, W)
        y : array-like of shape (n_samples,)
            Class labels.
        X_val, y_val : array-like, default=None
            Validation data for alpha-hat and for the validation columns of
            ``history``; without them a stratified ``validation_fraction`` of
            the training data is held out.

        Returns
        -------
        self : SelfDistilledNeuralNet

        Notes
        -----
        Unlike skorch's ``fit``, an interruption (``KeyboardInterrupt``) is
        not swallowed: a half-trained step is not a result. With
        ``checkpoint_dir``, calling ``fit`` again resumes after the last
        completed network.
        """
        n_steps, alpha = self._check_params()
        optimal = isinstance(alpha, str) and alpha == OPTIMAL
        X, y = validate_data(
            self, X, y, allow_nd=True, dtype=np.float32, ensure_min_samples=2,
        )
        X = self._check_shape(X, "X", reset=True)
        y = self._check_y(y, "y")
        if (X_val is None) != (y_val is None):
            raise ValueError("Pass both X_val and y_val to fit, or neither.")
        self.input_shape_ = tuple(X.shape[1:])
        self.classes_inferred_ = np.unique(y)
        classes = self.classes_
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes in y, got 1 class "
                f"({classes.tolist()})."
            )
        if self.augment and len(self._network_input_shape()) != 3:
            raise ValueError(
                "augment=True needs images: X of shape (n_samples, channels, height, width) "
                "or image_shape."
            )
        y_enc = self._encode(y, "y")
        if X_val is not None:
            X_val = self._check_shape(
                check_array(X_val, allow_nd=True, dtype=np.float32, input_name="X_val"),
                "X_val", reset=False,
            )
            y_val = self._check_y(y_val, "y_val")
            check_consistent_length(X_val, y_val)
            y_val_enc = self._encode(y_val, "y_val")

        fingerprint = self._fingerprint([X, y_enc, X_val, None if X_val is None else y_val_enc])
        state = self._load_checkpoint(fingerprint)
        if state is None:
            seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
            state = {
                "format": _CHECKPOINT_FORMAT, "fingerprint": fingerprint, "seed": seed,
                "completed_fits": 0, "alphas": [], "pending_alpha": None,
                "first_valid_proba": None, "teacher_state": None,
            }
        self.seed_ = state["seed"]
        if X_val is None:
            X_train, y_train, X_val, y_val_enc = self._validation_split(
                X, y_enc, self.seed_, optimal
            )
        else:
            X_train, y_train = X, y_enc
        if optimal:
            missing = np.setdiff1d(np.arange(len(classes)), y_val_enc)
            if missing.size:
                raise ValueError(
                    "alpha='optimal' needs every class in the validation data, which lacks "
                    f"{classes[missing].tolist()}. Pass X_val and y_val holding every class, "
                    "or a larger validation_fraction."
                )

        plan = [(1, False)]
        for step in range(2, n_steps + 1):
            plan += [(step, True), (step, False)] if optimal else [(step, False)]
        self.n_fits_ = len(plan)

        self.device_ = self._resolve_device()
        if self.mixed_precision and not self._amp_enabled():
            warnings.warn(
                f"mixed_precision=True needs CUDA; training in float32 on {self.device_}.",
                UserWarning,
                stacklevel=2,
            )
        self._valid_data_ = None if X_val is None else (X_val, y_val_enc)
        try:
            # The steps seed torch's generators; the caller's streams are restored.
            with self._on_device(), torch.random.fork_rng(devices=self._cuda_devices()):
                self.initialize()
                if state["completed_fits"]:
                    self.history_ = History(json.loads(state["history"]))
                self._run_chain(plan, state, alpha, optimal, X_train, y_train, X_val, y_val_enc)
        finally:
            for name in ("_valid_data_", "_chain_"):
                if name in vars(self):
                    delattr(self, name)
        self.alphas_ = np.asarray(state["alphas"], dtype=float)
        return self

    def _cuda_devices(self):
        device = torch.device(self.device_) if self.device_ is not None else None
        if device is None or device.type != "cuda":
            return []
        return [device.index if device.index is not None else torch.cuda.current_device()]

    def _resolve_device(self):
        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return self.device

    def _run_chain(self, plan, state, alpha, optimal, X_train, y_train, X_val, y_val):
        n_steps = plan[-1][0]
        teacher_state = state["teacher_state"]
        teacher = None if teacher_state is None else self._frozen(self._new_network(teacher_state))
        trained = False
        for index, (step, probe) in enumerate(plan, start=1):
            if index <= state["completed_fits"]:
                continue
            if step == 1:
                step_alpha = 1.0
            elif probe:
                step_alpha = 0.0
            elif optimal:
                step_alpha = state["pending_alpha"]
            else:
                step_alpha = float(alpha if np.ndim(alpha) == 0 else alpha[step - 2])
            kind = "alpha = 0 fit of Algorithm 1" if probe else f"alpha = {step_alpha:.4g}"
            self._say(
                f"Self-distillation step {step}/{n_steps} (network {index}/{len(plan)}"
                + ("" if step == 1 else f", {kind}") + ")"
            )
            self._train_network(X_train, y_train, step, index, step_alpha, probe, teacher)
            trained = True
            if optimal and (step == 1 or probe):
                proba = self._proba(X_val)
                if step == 1:
                    state["first_valid_proba"] = torch.from_numpy(proba)
                else:
                    state["pending_alpha"] = optimal_alpha(
                        state["first_valid_proba"].numpy(), proba,
                        np.eye(proba.shape[1])[y_val], clip=self.clip_alpha,
                    )
                    self._say(f"alpha-hat({step}) = {state['pending_alpha']:.4f}")
            if not probe:
                if step > 1:
                    state["alphas"] = [*state["alphas"], step_alpha]
                teacher = self._frozen(copy.deepcopy(self.module_))
                state["teacher_state"] = {
                    k: v.detach().to("cpu", copy=True) for k, v in self.module_.state_dict().items()
                }
            state["completed_fits"] = index
            self._save_checkpoint(state)
        if not trained:
            # Everything was in the checkpoint: the last network is the teacher saved.
            self.module_ = self._new_network(state["teacher_state"])
            self.initialize_optimizer()

    def _train_network(self, X, y, step, index, alpha, probe, teacher):
        start = time.perf_counter()
        torch.manual_seed(_step_seed(self.seed_, step))
        self.initialize_module()
        self.initialize_optimizer()
        scaler = torch.amp.GradScaler("cuda") if self._amp_enabled() else None
        self._chain_ = _Chain(step, index, alpha, probe, teacher, scaler)
        self.notify("on_train_begin", X=X, y=y)
        self.fit_loop(X, y)
        self.notify("on_train_end", X=X, y=y)
        self.history.record("fit_time", time.perf_counter() - start)

    def predict_proba(self, X):
        """Class probabilities of the last step's network (softmax of its logits).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...) as in ``fit``

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        if not is_dataset(X):
            X = validate_data(self, X, reset=False, allow_nd=True, dtype=np.float32)
            X = self._check_shape(X, "X", reset=False)
        return self._proba(X)

    def predict(self, X):
        """Class labels predicted by the last step's network.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...) as in ``fit``

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    def step_scores(self):
        """One row per trained network, from the last epoch of each.

        Returns
        -------
        scores : pandas.DataFrame
            Columns ``fit``, ``step``, ``probe`` (the ``alpha = 0`` fit of
            Algorithm 1), ``alpha``, ``epochs``, the recorded losses and
            accuracies (``train_loss``, ``train_acc``, ``valid_loss``,
            ``valid_acc`` when there was validation data), ``fit_time`` in
            seconds and whatever else callbacks recorded. The rows with
            ``probe`` False are the chain itself.
        """
        import pandas as pd

        check_is_fitted(self)
        rows = {}
        for epoch in self.history:
            if "fit" not in epoch:
                continue
            row = rows.setdefault(epoch["fit"], {"epochs": 0})
            row["epochs"] += 1
            for key, value in epoch.items():
                if key in ("batches", "epoch") or key.endswith("_best"):
                    continue
                if isinstance(value, (numbers.Number, np.generic)):
                    row[key] = value
        frame = pd.DataFrame([rows[k] for k in sorted(rows)])
        first = ["fit", "step", "probe", "alpha", "epochs"]
        known = ["train_loss", "train_acc", "valid_loss", "valid_acc", "fit_time"]
        order = first + [c for c in known if c in frame] + sorted(
            c for c in frame if c not in first + known and c != "dur"
        )
        frame = frame[order]
        frame["probe"] = frame["probe"].astype(bool)
        return frame.reset_index(drop=True)
