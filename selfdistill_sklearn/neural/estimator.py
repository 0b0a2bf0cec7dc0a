"""Self-distillation of neural network classifiers (Section 5, Appendix B).

:class:`SelfDistilledNeuralNet` is a :class:`skorch.NeuralNetClassifier`
that trains a chain of networks, each one on a blend of the one-hot labels
and the softmax outputs of the previous, frozen network (eq. (18)), with
the blend weight fixed, scheduled or estimated at every step by the
adapted Algorithm 1 (Theorem 4.4 on validation probabilities); a step with
weight 1 is the first network itself (Theorem 4.1, eq. (7)), and so is a
step whose network trained with alpha-hat validates no better than the first. What the chain
carries from one network to the next is in
:mod:`~selfdistill_sklearn.neural.chain`, its file in
:mod:`~selfdistill_sklearn.neural.checkpoint`, the loss in
:mod:`~selfdistill_sklearn.neural.loss`, the networks in
:mod:`~selfdistill_sklearn.neural.networks`, the checks in
:mod:`~selfdistill_sklearn.neural.checks`, the batches in
:mod:`~selfdistill_sklearn.neural.data`, and the ``"auto"`` device and mixed
precision in :mod:`~selfdistill_sklearn.neural.device` and
:mod:`~selfdistill_sklearn.neural.precision`.

Needs the ``torch`` extra (torch, torchvision and skorch).
"""

import copy
import dataclasses
import inspect
import textwrap
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet, NeuralNetClassifier
from skorch.dataset import Dataset, unpack_data
from skorch.history import History
from skorch.utils import is_dataset
from torch import nn

from .chain import describe_fit, fit_plan, step_table, validation_needed_by
from .checkpoint import (
    CHECKPOINT_FILE,
    RESUME_IGNORED,
    check_writable,
    cpu_state,
    fingerprint,
    initial_state,
    save_state,
)
from .checks import (
    check_every_class,
    check_fit_data,
    check_params,
    check_samples,
    validation_split,
)
from .data import ArrayDataset, batch_iterator, default_callbacks
from .device import AutoDevice
from .loss import SelfDistillationLoss, TeacherLoss, self_distillation_loss
from .networks import (
    build_network,
    frozen,
    outputs_probabilities,
    random_crop_flip,
)
from .precision import MixedPrecision

__all__ = ["SelfDistillationLoss", "SelfDistilledNeuralNet", "self_distillation_loss"]

# Above this many parameters a network on the CPU takes minutes an epoch even
# on small images (ResNet-18 has 11 million, ResNet-50 24 million).
LARGE_NETWORK = 5_000_000


@dataclasses.dataclass
class _Network:
    """The network being trained and what its loss needs besides the net.

    A plain object (not a torch module) so that skorch does not register
    the teacher as a trainable part of the net.
    """

    step: int
    fit: int
    alpha: float
    probe: bool
    teacher: nn.Module | None
    scaler: object
    valid_dataset: Dataset | None


class _EndOfTraining(Exception):
    """A callback ended the current network's training (skorch's KeyboardInterrupt)."""


def _step_seed(base_seed, step):
    # Seeds depend on the step alone: chains with different alphas share the
    # initialisation of each step (the paper's Appendix B, footnote 16), and
    # so do the alpha = 0 fit of Algorithm 1 and the fit with alpha-hat.
    return int(np.random.SeedSequence([base_seed, step]).generate_state(1)[0])


class SelfDistilledNeuralNet(AutoDevice, MixedPrecision, TeacherLoss, NeuralNetClassifier):
    """Self-distilled neural network classifier (Borup & Andersen, Section 5).

    Trains ``n_steps`` networks one after the other. Step 1 fits the one-hot
    labels; every later step ``t`` starts from a fresh initialisation and
    minimises eq. (18),

        alpha(t)/2 ||f(X) - Y||^2 + (1 - alpha(t))/2 ||f(X) - Y(t-1)||^2
        + lambda/2 ||theta||^2,

    where ``f(X)`` are softmax probabilities, ``Y`` the one-hot labels and
    ``Y(t-1)`` the probabilities of the previous network, frozen and
    evaluated on the same (augmented) batch (``self_distillation_loss`` of
    ``selfdistill_sklearn.neural.loss``).
    The penalty is Adam's weight decay ``reg_lambda``. With
    ``alpha="optimal"`` each weight is estimated by the adapted Algorithm 1:
    train step ``t`` with ``alpha = 0``, then ``alpha-hat(t)`` minimises
    ``||Y~ - (alpha Y~(1) + (1 - alpha) Y~(t)_0)||_F^2`` over the
    validation probabilities (Theorem 4.4, eq. (16)), and step ``t`` is
    trained again with ``alpha-hat(t)``: ``2 (n_steps - 1) + 1`` fits, against
    ``g (n_steps - 1) + 1`` for a grid of ``g`` values.

    Everything else is :class:`skorch.NeuralNetClassifier`, each network of
    the chain being one skorch training run (callbacks, ``history`` and
    checkpoints: see the user guide, :ref:`networks`).

    Parameters
    ----------
    module : str, torch.nn.Module class, callable or torch.nn.Module, default="resnet50"
        The network of every step, built afresh for each one by
        :func:`selfdistill_sklearn.networks.build_network`: a torchvision
        classification model name (no pretrained weights; the first layer
        adapted to the channels of the images and, below 64 pixels, to their
        size: a 3x3 stride-1 convolution and no max pooling, the usual CIFAR
        variant), a class / factory called with ``module__*`` and, when
        its signature takes them, ``num_classes`` and ``input_shape``, or an
        instance, copied and re-initialised for every step. A network that
        ends in a softmax (skorch's usual classifier module) is detected:
        its outputs are taken as the probabilities of eq. (18).
    alpha : "optimal", float in [0, 1] or sequence of n_steps - 1 floats, default="optimal"
        Weight of the ground truth at steps ``2 .. n_steps``: ``"optimal"``
        for the estimate of Algorithm 1 at every step, one value for all, or
        a schedule ``alpha(2), ..., alpha(n_steps)``. A step whose weight is
        1 (alpha-hat clipped to 1, say) weighs the ground truth alone: by
        Theorem 4.1, eq. (7), it is the first fit, and the first network is
        reused rather than a fresh one of another seed trained; so is, with
        ``"optimal"``, a step whose network validates no better than the
        first (see the user guide).
    n_steps : int >= 1, default=2
        Number of networks in the chain, the first included. The limit of
        infinitely many steps (Theorem 4.5) is a kernel ridge result and is
        not available for networks.
    reg_lambda : float > 0, default=1e-4
        The l2 penalty lambda of eq. (18), given to the optimiser as
        ``weight_decay`` (Appendix B.1: 1e-4). For Adam that adds
        ``lambda theta`` to the gradient of the mean squared error.
    clip_alpha : bool, default=True
        Clip alpha-hat to [0, 1] before training with it (the paper's
        footnote 10; why, in the user guide). False trains with the
        estimate as it is; ``alphas_unclipped_`` holds the estimates either
        way.
    keep_step : {"last", "best"}, default="last"
        The network that ``predict`` uses: the last of the chain, as in the
        paper, or the one whose validation accuracy is highest
        (``best_step_``; the earliest among equals), so that a chain that
        did not help costs nothing but time. "best" needs validation data.
    random_state : int, RandomState instance or None, default=None
        Seeds the validation split and the initialisation, shuffling and
        augmentation of each step. Step ``t`` always starts from the same
        initialisation for a given ``random_state``, whatever ``alpha``.
    validation_fraction : float in (0, 1) or None, default=0.1
        Share of the training data held out, stratified, for validation when
        ``fit`` gets no ``X_val``. Needed by ``alpha="optimal"`` and
        ``keep_step="best"``; otherwise only monitored. None trains on all
        the data.
    checkpoint_dir : str, path or None, default=None
        Where the state is saved after each completed network (checked to
        be writable before anything trains). A later ``fit`` with the same
        parameters and data resumes after the last completed network, or
        extends a finished chain to a larger ``n_steps`` (see the user
        guide). A checkpoint of other parameters or data is replaced, with a
        warning; an unreadable one is an error that names the file.
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
    classes : sequence of labels or None, default=None
        All the labels, in the order of the network's outputs and of
        ``predict_proba``'s columns; None takes the sorted labels of ``y``.
        Given, a net can be initialised before ``fit`` (skorch's
        ``initialize()``, then ``load_params``).
    optimizer : torch optimizer class, default=torch.optim.Adam
        The optimiser of every network (Appendix B.1: Adam), built afresh
        for each with ``lr``, ``optimizer__*`` and ``weight_decay=reg_lambda``.
    lr : float, default=1e-4
        Learning rate (Appendix B.1).
    max_epochs : int, default=75
        Epochs of every network (Appendix B.1).
    batch_size : int >= 1 or -1, default=128
        Samples per training and prediction batch; -1 takes the whole data
        set as one batch (as in skorch).
    criterion : SelfDistillationLoss subclass, default=SelfDistillationLoss
        The loss of eq. (18) (``selfdistill_sklearn.neural.loss``). Any
        other criterion is refused by name: every network minimises eq.
        (18). A module that ends in a softmax needs no other criterion (see
        ``module``); ``criterion__*`` parameters are refused too.
    train_split : None, default=None
        Must stay None: the validation data are ``fit``'s ``X_val`` and
        ``y_val`` or the ``validation_fraction`` held out, the same for
        every network of the chain.
    device : str, torch.device or None, default="auto"
        ``"auto"`` is CUDA when available, else the CPU; it is resolved
        when set, and the resolved device is what skorch reads as
        ``net.device`` (``get_params`` keeps ``"auto"``). A network of more
        than five million parameters on the CPU gives a warning.
    verbose : int, default=1
        0 is silent; 1 prints a line per network and skorch's table per
        epoch; 2 adds skorch's progress bar.
    **kwargs
        Any other :class:`skorch.NeuralNetClassifier` parameter
        (``callbacks``, ``iterator_train__num_workers``, ``module__*``, ...),
        except ``history``, ``dataset``, ``warm_start=True`` and ``compile=True``,
        which the chain replaces and refuses by name.
        The training batches are shuffled unless
        ``iterator_train__shuffle=False``.

    Attributes
    ----------
    alphas_ : ndarray of shape (n_steps - 1,)
        The weights ``alpha(2), ..., alpha(n_steps)`` of the chain
        (alpha-hat, clipped when ``clip_alpha``, for ``"optimal"``; 1 for a
        step that fell back to the first network).
    alphas_unclipped_ : ndarray of shape (n_steps - 1,)
        For ``"optimal"`` the estimates of Algorithm 1 before clipping;
        otherwise ``alphas_``.
    best_step_ : int or None
        The step (from 1) whose network has the highest validation accuracy;
        None without validation data.
    n_fits_ : int
        Fits of the chain: ``n_steps``, or ``2 (n_steps - 1) + 1`` for
        ``"optimal"`` (those restored from a checkpoint included). A step
        whose weight is 1 counts as one but is not trained: it is the first
        network (``reused`` in :meth:`step_scores`).
    module_ : torch.nn.Module
        The network that ``predict`` and ``predict_proba`` use (see
        ``keep_step``).
    history_ : skorch.history.History
        One row per epoch of every network; see :meth:`step_scores`.
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    input_shape_ : tuple
        Shape of one sample of ``X`` as seen in ``fit``.
    device_ : str or torch.device
        The device trained on (after unpickling, the device loaded to).
    seed_ : int
        The seed drawn from ``random_state``.

    Raises
    ------
    ValueError, TypeError
        From ``fit``, for parameters or data it cannot use, naming them;
        the estimator then keeps its previous fitted state (or stays
        unfitted). An interruption (``KeyboardInterrupt`` outside a
        callback's ``on_epoch_end``) is raised too, likewise: a half-trained
        chain is not a result; ``checkpoint_dir`` keeps the completed
        networks for the next ``fit``.

    See Also
    --------
    selfdistill_sklearn.SelfDistilledKernelRidge : The closed forms this
        estimator approximates.
    selfdistill_sklearn.networks.build_network : The network of each step.

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
        self, module="resnet50", *, alpha="optimal", n_steps=2, reg_lambda=1e-4, clip_alpha=True,
        keep_step="last", random_state=None, validation_fraction=0.1, checkpoint_dir=None,
        augment=False, image_shape=None, small_input="auto", mixed_precision=False,
        classes=None, optimizer=torch.optim.Adam, lr=1e-4, max_epochs=75, batch_size=128,
        criterion=SelfDistillationLoss, train_split=None, device="auto", verbose=1, **kwargs,
    ):
        if kwargs.get("history") is not None:
            raise TypeError(
                "history is not a parameter of SelfDistilledNeuralNet: every fit records "
                "the epochs of every network of the chain in a new History."
            )
        super().__init__(
            module, criterion=criterion, classes=classes, optimizer=optimizer, lr=lr,
            max_epochs=max_epochs, batch_size=batch_size, train_split=train_split,
            device=device, verbose=verbose, **kwargs,
        )
        self.alpha = alpha
        self.n_steps = n_steps
        self.reg_lambda = reg_lambda
        self.clip_alpha = clip_alpha
        self.keep_step = keep_step
        self.random_state = random_state
        self.validation_fraction = validation_fraction
        self.checkpoint_dir = checkpoint_dir
        self.augment = augment
        self.image_shape = image_shape
        self.small_input = small_input
        self.mixed_precision = mixed_precision

    def __repr__(self):
        return _parameter_repr(self)

    # ------------------------------------------------------------------ skorch
    @property
    def _default_callbacks(self):
        return default_callbacks(self.verbose)

    def initialize_module(self):
        """Build a fresh network for the current step on the device.

        Before ``fit`` (skorch's ``initialize()``, e.g. to ``load_params``),
        the shape of the samples and the number of classes come from
        ``image_shape`` and ``classes`` or the ``module__*`` parameters.
        A network that ends in a softmax (skorch's usual classifier module)
        is detected: its outputs are taken as probabilities, their logarithm
        as logits (``outputs_probabilities_``).
        """
        self.module_ = self._new_network()
        shape = self._network_input_shape()
        # Unknown before fit: found from the first batch the network sees.
        self.outputs_probabilities_ = None if shape is None else outputs_probabilities(
            self.module_, shape
        )
        return self

    def _new_network(self, state_dict=None):
        classes = getattr(self, "classes_inferred_", None) if self.classes is None else (
            self.classes)
        params = self.get_params_for("module")
        # module__input_shape and module__num_classes, when given, are the network's.
        shape = params.pop("input_shape", self._network_input_shape())
        n_classes = params.pop("num_classes", None if classes is None else len(classes))
        network = build_network(self.module, shape, n_classes, small_input=self.small_input,
                                **params)
        if state_dict is not None:
            network.load_state_dict(state_dict)
        return network if self.device is None else network.to(self.device)

    def initialize_optimizer(self, triggered_directly=None):
        """The optimiser with ``weight_decay=reg_lambda`` (the penalty of eq. (18))."""
        named_parameters = self.get_all_learnable_params()
        args, kwargs = self.get_params_for_optimizer("optimizer", named_parameters)
        kwargs["weight_decay"] = self.reg_lambda
        self.optimizer_ = self.optimizer(*args, **kwargs)
        return self

    def initialize_history(self):
        # A new object, not skorch's clear(): a fit that fails restores the old one.
        self.history_ = History()
        return self

    def check_data(self, X, y=None):
        # fit validates and encodes the labels before skorch sees them.
        pass

    def get_split_datasets(self, X, y=None, **fit_params):
        """The training data, and the validation data that ``fit`` set aside."""
        return self.get_dataset(X, y), self._network.valid_dataset

    def get_iterator(self, dataset, training=False):
        """As skorch, shuffling the training batches by default and cutting
        each batch of in-memory data with one index (:func:`~.data.batch_iterator`)."""
        return batch_iterator(self, dataset, training)

    def train_step_single(self, batch, **fit_params):
        """One forward and backward pass, with augmentation and mixed precision."""
        if not self.module_.training:  # once an epoch, not a walk of the modules a batch
            self._set_training(True)
        Xi, yi = unpack_data(batch)
        Xi = self._as_input(Xi)
        if self.augment:
            # The teacher sees the same augmented batch (get_loss gets X=Xi).
            Xi = random_crop_flip(Xi)
        with self._autocast():
            y_pred = self.infer(Xi, **fit_params)
            loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        scaler = self._network.scaler
        (scaler.scale(loss) if scaler is not None else loss).backward()
        return {"loss": loss, "y_pred": y_pred}

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_begin(net, dataset_train, dataset_valid, **kwargs)
        network = getattr(self, "_network", None)
        if network is not None:
            for key in ("step", "fit", "alpha", "probe"):
                self.history.record(key, getattr(network, key))

    def notify(self, method_name, **cb_kwargs):
        # skorch's callbacks end a training run by raising KeyboardInterrupt at
        # the end of an epoch (EarlyStopping): that ends one network, not the
        # chain. Raised anywhere else it is an interruption of the fit.
        if method_name != "on_epoch_end":
            return super().notify(method_name, **cb_kwargs)
        try:
            return super().notify(method_name, **cb_kwargs)
        except KeyboardInterrupt as exc:
            raise _EndOfTraining from exc

    def _get_param_names(self):
        # skorch lists every attribute not ending in "_" as a parameter; the
        # private ones (its _params_to_validate, the device as passed) are not.
        return [name for name in super()._get_param_names() if not name.startswith("_")]

    def _partial_fit_available(self):
        return False

    @available_if(_partial_fit_available)
    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Not available: a chain of fresh networks has no incremental form.

        skorch's ``partial_fit`` trains the current network further; every
        step of the chain starts from a fresh initialisation instead, so
        ``hasattr(net, "partial_fit")`` is False. Use ``checkpoint_dir`` to
        resume an interrupted fit or extend a finished chain.

        Parameters
        ----------
        X, y, classes : object
            Unused.
        **fit_params : dict
            Unused.

        Raises
        ------
        NotImplementedError
            Always, when called through the class.
        """
        raise NotImplementedError

    # --------------------------------------------------------------------- API
    def fit(self, X, y, X_val=None, y_val=None):
        """Train the chain of ``n_steps`` networks.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, C, H, W)
            Any NumPy array (views, read-only or non-native byte order
            included) or array-like; not a torch ``Dataset``.
        y : array-like of shape (n_samples,)
            Class labels.
        X_val, y_val : array-like, default=None
            Validation data for alpha-hat, ``best_step_`` and the validation
            columns of ``history``; without them a stratified
            ``validation_fraction`` of the training data is held out.

        Returns
        -------
        self : SelfDistilledNeuralNet
            The fitted estimator, predicting with the network that
            ``keep_step`` names.

        Raises
        ------
        ValueError, TypeError
            For parameters or data that cannot be used.
        KeyboardInterrupt
            When training is interrupted other than by a callback at the end
            of an epoch.

        Notes
        -----
        A fit that raises leaves the estimator as it was before (fitted with
        the previous chain, or unfitted). With ``checkpoint_dir``, calling
        ``fit`` again resumes after the last completed network.
        """
        with _fitted_state_kept(self):
            return self._fit(X, y, X_val, y_val)

    def predict_proba(self, X):
        """Class probabilities of the kept network (softmax of its logits).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...) or torch Dataset
            Samples of the shape (and, for a DataFrame, the columns) seen in
            ``fit``, or a torch Dataset yielding such samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        check_is_fitted(self)
        if not is_dataset(X):
            X = ArrayDataset(check_samples(self, X, "X"))
        return self._proba(X)

    def predict(self, X):
        """Class labels predicted by the kept network.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...) or torch Dataset
            Samples as for :meth:`predict_proba`.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            The labels of ``classes_`` with the highest probability (class
            indices for a net initialised, not fitted, without ``classes``).
        """
        proba = self.predict_proba(X)
        if self.classes is None and not hasattr(self, "classes_inferred_"):
            return proba.argmax(axis=1)  # initialised, not fitted: skorch's class indices
        return self.classes_[proba.argmax(axis=1)]

    def step_scores(self):
        """One row per network, from the last epoch of each.

        Returns
        -------
        scores : pandas.DataFrame
            Columns ``fit``, ``step``, ``probe`` (the ``alpha = 0`` fit of
            Algorithm 1), ``alpha``, ``reused`` (a step with ``alpha = 1``,
            the first network itself, not trained), ``fallback`` (a network
            trained with alpha-hat, its scores shown, replaced by the first
            because it validated no better), ``epochs``,
            the recorded losses and accuracies (``train_loss``, ``train_acc``,
            ``valid_loss``, ``valid_acc`` when there was validation data),
            ``fit_time`` in seconds and whatever else callbacks recorded. The
            rows with ``probe`` False are the chain itself.
        """
        check_is_fitted(self)
        return step_table(self.history)

    # ---------------------------------------------------------------- the chain
    def _fit(self, X, y, X_val, y_val):
        n_steps, alpha = check_params(self)
        X, y_enc, X_val, y_val_enc = check_fit_data(self, X, y, X_val, y_val)
        if self.checkpoint_dir is not None:
            check_writable(self.checkpoint_dir)
        state = self._initial_state(n_steps, alpha, [X, y_enc, X_val, y_val_enc])
        self.seed_ = state.seed
        estimates = alpha.is_optimal and n_steps > 1
        if X_val is None:
            needs = validation_needed_by(estimates, self.keep_step)
            X, y_enc, X_val, y_val_enc = validation_split(self, X, y_enc, self.seed_, needs)
        if estimates:
            check_every_class(self, y_val_enc)
        plan = fit_plan(n_steps, alpha.is_optimal)
        self.n_fits_ = len(plan)
        self.device_ = self.device
        self._warn_without_amp()
        data = (ArrayDataset(X, y_enc), None if X_val is None else ArrayDataset(X_val, y_val_enc))
        # The steps seed torch's generators; the caller's streams are restored.
        with torch.random.fork_rng(devices=self._cuda_devices()):
            self._run_chain(plan, state, alpha, data)
        self.alphas_ = np.asarray(state.alphas, dtype=float)
        self.alphas_unclipped_ = np.asarray(state.alphas_unclipped, dtype=float)
        self.best_step_ = state.best_step
        if self.keep_step == "best" and state.best_state is not None:
            self.module_.load_state_dict(state.best_state)
        return self

    def _checkpoint_path(self):
        return None if self.checkpoint_dir is None else Path(self.checkpoint_dir) / CHECKPOINT_FILE

    def _initial_state(self, n_steps, alpha, arrays):
        """The checkpoint to resume, or a new chain."""
        params = {k: v for k, v in self.get_params(deep=False).items()
                  if k not in RESUME_IGNORED}
        schedule = alpha.value if alpha.kind == "schedule" else None
        if schedule is not None:
            params["alpha"] = "schedule"  # compared step by step by ChainState.accepts
        key = fingerprint(type(self).__qualname__, params, arrays)
        return initial_state(self._checkpoint_path(), key, n_steps, schedule, self.random_state)

    def _run_chain(self, plan, state, alpha, data):
        """Train (or reuse) every network of ``plan`` not in the checkpoint."""
        teacher = None
        if state.teacher_state is not None:
            teacher = frozen(self._new_network(state.teacher_state))
        remaining = [(i, step, probe) for i, (step, probe) in enumerate(plan, start=1)
                     if i > state.completed_fits]
        # skorch's initialize builds the callbacks, the criterion and the first
        # network to train (from its step's seed), so no network is thrown away.
        torch.manual_seed(_step_seed(state.seed, remaining[0][1] if remaining else 1))
        self.initialize()
        # During a network's training, ``history`` holds that network's epochs
        # only, as after skorch's own fit (LRScheduler counts its rows, for
        # one); the chain's rows are gathered here and become history_ at the end.
        rows = list(state.history)
        if remaining:
            _warn_if_slow(self, len(remaining))
        for fit in remaining:
            teacher = self._one_fit(plan, state, alpha, data, fit, teacher,
                                    initialized=fit is remaining[0])
            rows += self.history
            state.record_fit(fit[0], rows)
            if self._checkpoint_path() is not None:
                save_state(state, self._checkpoint_path())
        if not remaining:
            # Everything was in the checkpoint: the last network is the teacher saved.
            self.module_.load_state_dict(state.teacher_state)
        self.history_ = History(rows)

    def _one_fit(self, plan, state, alpha, data, fit, teacher, initialized):
        """Train (or reuse) one network of the chain; the teacher of the next."""
        (index, step, probe), (train, valid) = fit, data
        weights = state.weights_for(step, probe, alpha)
        self._say(describe_fit(index, step, probe, weights[0], plan))
        if state.reuses_first(step, probe, weights[0]):
            self._reuse_first(state, index, step, weights[0])
        else:
            if not initialized:
                self._reinitialize(_step_seed(state.seed, step))
            self._network = _Network(step, index, weights[0], probe, teacher,
                                     self._new_scaler(), valid)
            self._train_network(train)
        return self._record_network(state, alpha, valid, (step, probe), weights) or teacher

    def _reinitialize(self, seed):
        """A fresh network, optimiser, callbacks and history for the next fit."""
        torch.manual_seed(seed)
        self.initialize_module()
        self.initialize_optimizer()
        if self.callbacks != "disable":
            self.initialize_callbacks()
        self.initialize_history()

    def _reuse_first(self, state, index, step, alpha):
        """A step with alpha = 1 is the first network (Theorem 4.1, eq. (7)): no training."""
        self.module_.load_state_dict(state.first_state)
        self.history = History([{"step": step, "fit": index, "alpha": alpha,
                                 "probe": False, "reused": True}])

    def _record_network(self, state, alpha, valid, fit, weights):
        """Record the network just trained (or reused); the new teacher, if any."""
        (step, probe), (step_alpha, unclipped) = fit, weights
        proba = None if valid is None else self._proba(valid)
        if probe:
            self._say(state.record_probe(step, proba, valid.y, self.clip_alpha))
            return None
        reused = self.history[-1].get("reused", False)
        if alpha.is_optimal and step > 1 and not reused and not state.keeps_step(proba, valid.y):
            proba, step_alpha = self._fall_back_to_first(state, step)
        accuracy = None if proba is None else float(np.mean(proba.argmax(axis=1) == valid.y))
        if reused and accuracy is not None:
            self.history.record("valid_acc", accuracy)
        if alpha.is_optimal and step == 1:
            state.first_valid_proba = proba  # Algorithm 1's Y~(1)
        state.complete_network(cpu_state(self.module_), None if step == 1 else step_alpha,
                               unclipped, accuracy)
        return frozen(copy.deepcopy(self.module_))

    def _fall_back_to_first(self, state, step):
        """Step ``step`` did not validate better than the first network: it is the first."""
        self._say(f"Step {step} validates no better than the first network (one standard "
                  f"error): step {step} is the first network (alpha = 1)")
        self.module_.load_state_dict(state.first_state)
        self.history.record("fallback", True)
        return np.asarray(state.first_valid_proba), 1.0

    def _train_network(self, dataset):
        """One network as one skorch training run."""
        start = time.perf_counter()
        self.notify("on_train_begin", X=dataset.X, y=dataset.y)
        try:
            self.fit_loop(dataset)
        except _EndOfTraining:
            pass
        self.notify("on_train_end", X=dataset.X, y=dataset.y)
        self.history.record("fit_time", time.perf_counter() - start)

    def _proba(self, X):
        probas = [
            # detach: skorch's scoring callbacks replay the training batches' outputs.
            torch.softmax(out.detach().double(), dim=1).cpu().numpy()
            for out in self.forward_iter(X, training=False)
        ]
        return np.concatenate(probas, axis=0)

    def _network_input_shape(self):
        if self.image_shape is not None:
            return tuple(self.image_shape)
        shape = getattr(self, "input_shape_", None)
        return None if shape is None else tuple(shape)

    def _say(self, message):
        if self.verbose:
            print(message, flush=True)


@contextmanager
def _fitted_state_kept(net):
    """A fit that raises leaves ``net`` as it was: fitted before, or unfitted."""
    # skorch keeps its fitted state in the attributes ending in "_".
    before = {key: value for key, value in vars(net).items() if key.endswith("_")}
    try:
        yield
    except BaseException:
        state = vars(net)
        for key in [k for k in state if k.endswith("_") and k not in before]:
            del state[key]
        state.update(before)
        raise
    finally:
        vars(net).pop("_network", None)


def _parameter_repr(net):
    # skorch's repr lists the module only. As scikit-learn's: the parameters
    # that differ from their defaults, ours or skorch's (which scikit-learn's
    # repr cannot see behind **kwargs).
    defaults = {}
    for cls in (NeuralNet, NeuralNetClassifier, SelfDistilledNeuralNet):
        for name, parameter in inspect.signature(cls.__init__).parameters.items():
            if parameter.default is not inspect.Parameter.empty:
                defaults[name] = parameter.default
    parts = [
        f"{name}={value!r}" for name, value in net.get_params(deep=False).items()
        if name not in defaults or repr(value) != repr(defaults[name])
    ]
    text = f"{type(net).__name__}(" + ", ".join(parts) + ")"
    return textwrap.fill(text, 79, subsequent_indent=" " * (len(type(net).__name__) + 1),
                         break_long_words=False, break_on_hyphens=False)


def _warn_if_slow(net, n_networks):
    device = torch.device("cpu" if net.device is None else net.device)
    size = sum(p.numel() for p in net.module_.parameters())
    if device.type == "cpu" and size > LARGE_NETWORK:
        name = net.module if isinstance(net.module, str) else type(net.module_).__name__
        warnings.warn(
            f"module={name!r} has {size / 1e6:.1f} million parameters and trains on the "
            f"CPU: {n_networks} network(s) of {net.max_epochs} epochs may take hours. "
            "Train on a GPU (device='cuda'; the default 'auto' picks one when present) "
            "or choose a smaller network, e.g. selfdistill_sklearn.networks.SmallCNN.",
            UserWarning,
            stacklevel=5,
        )

