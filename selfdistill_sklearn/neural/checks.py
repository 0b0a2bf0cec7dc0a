"""Checks of the parameters and data of :class:`~selfdistill_sklearn.SelfDistilledNeuralNet`.

Each check names the parameter or the argument and what was expected;
nothing is coerced silently. The estimator's parameters are read, never set;
:func:`check_fit_data` records what fit learns of the data (``input_shape_``,
``classes_inferred_``, and through scikit-learn's ``validate_data``
``n_features_in_`` and ``feature_names_in_``).
"""

import math
import numbers

import numpy as np
from scipy import sparse
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    column_or_1d,
    validate_data,
)
from skorch.utils import is_dataset
from torch import nn

from .._validation import check_alpha, check_n_steps, check_reg_lambda

__all__ = ["check_every_class", "check_fit_data", "check_labels", "check_params", "check_samples",
           "check_shape", "encode_labels", "validation_split"]


def _is_whole(value, minimum):
    return (
        isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum
    )


def check_params(net):
    """Check the estimator's parameters; return ``n_steps`` and ``alpha`` (an
    :class:`~selfdistill_sklearn._validation.AlphaSpec`) as validated."""
    if isinstance(net.n_steps, numbers.Real) and math.isinf(net.n_steps):
        raise ValueError(
            "n_steps must be finite for SelfDistilledNeuralNet: the limit of infinitely "
            "many steps (Theorem 4.5) is kernel ridge regression and has no network "
            "counterpart. Use SelfDistilledKernelRidge(n_steps=float('inf')) for it."
        )
    n_steps = check_n_steps(net.n_steps, allow_infinite=False)
    alpha = check_alpha(net.alpha, n_steps)
    check_reg_lambda(net.reg_lambda)
    for name in ("clip_alpha", "augment", "mixed_precision"):
        if not isinstance(getattr(net, name), (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {getattr(net, name)!r}.")
    if not (isinstance(net.keep_step, str) and net.keep_step in ("last", "best")):
        raise ValueError(f"keep_step must be 'last' or 'best', got {net.keep_step!r}.")
    if net.small_input not in ("auto", True, False):
        raise ValueError(
            f"small_input must be True, False or 'auto', got {net.small_input!r}."
        )
    fraction = net.validation_fraction
    if fraction is not None and not (
        isinstance(fraction, numbers.Real) and not isinstance(fraction, bool)
        and 0 < fraction < 1
    ):
        raise ValueError(
            f"validation_fraction must be a float in (0, 1) or None, got {fraction!r}."
        )
    if net.image_shape is not None and not (
        isinstance(net.image_shape, (tuple, list)) and len(net.image_shape) == 3
        and all(_is_whole(s, 1) for s in net.image_shape)
    ):
        raise ValueError(
            "image_shape must be None or (channels, height, width) of positive ints, got "
            f"{net.image_shape!r}."
        )
    if not (_is_whole(net.batch_size, 1) or (_is_whole(net.batch_size, -1)
                                              and net.batch_size == -1)):
        raise ValueError(
            f"batch_size must be an int >= 1, or -1 for the whole data set, got "
            f"{net.batch_size!r}."
        )
    _check_skorch_parts(net)
    if not _is_whole(net.max_epochs, 1):
        raise ValueError(f"max_epochs must be an int >= 1, got {net.max_epochs!r}.")
    if net.classes is not None:
        classes = np.asarray(net.classes)
        if classes.ndim != 1 or len(classes) < 2 or len(set(classes.tolist())) != len(
            classes
        ):
            raise ValueError(
                "classes must be None or a sequence of at least 2 distinct labels, got "
                f"{net.classes!r}."
            )
    if net.train_split is not None:
        raise ValueError(
            "train_split is not used by SelfDistilledNeuralNet: give fit X_val and y_val, "
            f"or set validation_fraction (got train_split={net.train_split!r})."
        )
    if net.warm_start:
        raise ValueError(
            "warm_start=True is not supported: every step starts from a fresh "
            "initialisation. Use checkpoint_dir to resume an interrupted fit."
        )
    if net.compile:
        raise ValueError("compile=True is not supported by SelfDistilledNeuralNet.")
    if net.predict_nonlinearity != "auto":
        raise ValueError(
            "predict_nonlinearity must stay 'auto': predict_proba returns the softmax "
            "probabilities that eq. (18) is defined on."
        )
    if "weight_decay" in net.get_params_for("optimizer"):
        raise ValueError(
            "Set the l2 penalty with reg_lambda, not optimizer__weight_decay."
        )
    return n_steps, alpha


def _check_skorch_parts(net):
    """skorch parameters that the chain replaces: refused by name, not ignored."""
    from skorch.dataset import Dataset

    from .loss import SelfDistillationLoss

    criterion = net.criterion
    if not (isinstance(criterion, type) and issubclass(criterion, SelfDistillationLoss)):
        raise ValueError(
            "criterion must be SelfDistillationLoss (or a subclass): every network "
            "minimises eq. (18), the squared error of its softmax to the labels and to the "
            f"previous network; got criterion={criterion!r}. A module that ends in "
            "nn.Softmax or nn.LogSoftmax is detected and needs no other criterion."
        )
    routed = {
        "criterion": "eq. (18) has no parameters besides alpha and reg_lambda",
        "dataset": "fit holds the arrays in memory, split and fingerprinted",
    }
    for prefix, reason in routed.items():
        given = sorted(net.get_params_for(prefix))
        if given:
            raise ValueError(
                f"{prefix}__{given[0]} is not used by SelfDistilledNeuralNet: {reason}."
            )
    if net.dataset is not Dataset:
        raise ValueError(
            f"dataset={net.dataset!r} is not used by SelfDistilledNeuralNet: fit takes X "
            "and y as arrays (it splits, validates and fingerprints them) and builds its "
            "own in-memory dataset."
        )
    module_params = sorted(net.get_params_for("module"))
    if module_params and isinstance(net.module, nn.Module):
        raise ValueError(
            f"module__{module_params[0]} needs a module class or factory to call, but "
            f"module is an instance of {type(net.module).__name__}, which is copied and "
            "re-initialised as it is. Pass the class, or build the instance with it."
        )


def check_samples(net, X, name):
    """Samples to predict on or validate with: an array of the fitted shape and columns.

    A net initialised, not fitted (skorch's ``initialize()`` and
    ``load_params``) knows no shape: any array of samples is taken.
    """
    if not hasattr(net, "input_shape_"):
        return check_array(X, allow_nd=True, dtype=np.float32, order="C", input_name=name)
    columns = getattr(X, "columns", None)
    fitted = getattr(net, "feature_names_in_", None)
    if columns is not None and fitted is not None and list(columns) != list(fitted):
        raise ValueError(
            f"{name} has the columns {list(columns)}, but {type(net).__name__} was "
            f"fitted on the columns {list(fitted)}: select them in that order."
        )
    checked = check_array(X, allow_nd=True, dtype=np.float32, order="C", input_name=name)
    check_shape(net, checked, name, reset=False)
    validate_data(net, X, reset=False, skip_check_array=True)  # feature names
    return checked



def check_shape(net, X, name, reset):
    """``X`` is 2-D or 4-D and, unless ``reset``, of the shape seen in fit."""
    if X.ndim not in (2, 4):
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features) or 4-D (n_samples, channels, "
            f"height, width), got shape {X.shape}."
        )
    if reset:
        if net.image_shape is not None and (
            X.ndim != 2 or X.shape[1] != math.prod(net.image_shape)
        ):
            raise ValueError(
                f"image_shape={tuple(net.image_shape)} needs X of shape (n_samples, "
                f"{math.prod(net.image_shape)}), got {X.shape}."
            )
    elif X.ndim == 2 and len(net.input_shape_) == 1 and X.shape[1] != net.input_shape_[0]:
        raise ValueError(
            f"{name} has {X.shape[1]} features, but {type(net).__name__} is expecting "
            f"{net.input_shape_[0]} features as input."
        )
    elif tuple(X.shape[1:]) != tuple(net.input_shape_):
        raise ValueError(
            f"{name} has samples of shape {tuple(X.shape[1:])}, but "
            f"{type(net).__name__} was fitted on samples of shape {net.input_shape_}."
        )
    return X



def check_labels(y, name):
    """Class labels as a 1-D array of a classification target type."""
    y = column_or_1d(check_array(y, ensure_2d=False, dtype=None, input_name=name), warn=True)
    check_classification_targets(y)
    return y



def encode_labels(net, y, name):
    """Labels as their positions in ``net.classes_`` (an error names unknown ones)."""
    # By position in classes_, which a user's ``classes`` may order freely.
    classes = net.classes_
    position = {label: i for i, label in enumerate(classes.tolist())}
    codes = np.fromiter((position.get(label, -1) for label in y.tolist()),
                        dtype=np.int64, count=len(y))
    if np.any(codes < 0):
        unseen = np.unique(y[codes < 0]).tolist()
        source = "classes" if net.classes is not None else "classes of y"
        raise ValueError(
            f"{name} contains labels not among the {source} {classes.tolist()}: {unseen}."
        )
    return codes



def validation_split(net, X, y, seed, needed):
    """A stratified ``net.validation_fraction`` of ``(X, y)`` held out, or no split."""
    # ``needed`` names the parameter that needs validation data, if any.
    fraction = net.validation_fraction
    if fraction is None:
        if needed:
            raise ValueError(
                f"{needed} needs validation data: pass X_val and y_val to fit, or set "
                "validation_fraction."
            )
        return X, y, None, None
    splitter = StratifiedShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    try:
        train, valid = next(splitter.split(X, y))
    except ValueError as exc:
        hint = "" if needed else ", or validation_fraction=None to train without one"
        raise ValueError(
            f"validation_fraction={fraction} cannot give a stratified validation split "
            f"of {len(y)} samples in {len(np.unique(y))} classes ({exc}). Pass X_val and "
            f"y_val to fit, or change validation_fraction{hint}."
        ) from exc
    return X[train], y[train], X[valid], y[valid]


def check_every_class(net, y_val):
    """alpha-hat (Theorem 4.4) needs every class among the encoded validation labels."""
    missing = np.setdiff1d(np.arange(len(net.classes_)), y_val)
    if missing.size:
        raise ValueError(
            "alpha='optimal' needs every class in the validation data, which lacks "
            f"{net.classes_[missing].tolist()}. Pass X_val and y_val holding every "
            "class, or a larger validation_fraction."
        )


def check_fit_data(net, X, y, X_val, y_val):
    """Validated samples and labels encoded by their position in ``classes_``.

    Records ``input_shape_`` and ``classes_inferred_`` on ``net`` (with
    scikit-learn's ``n_features_in_`` and ``feature_names_in_``).
    """
    if is_dataset(X) or is_dataset(X_val):
        raise TypeError(
            "fit needs the samples and labels as arrays (X, y and X_val, y_val), not a "
            "torch Dataset, because it splits, validates and fingerprints them; pass e.g. "
            "X = np.stack([x for x, _ in ds]) and y = np.array([t for _, t in ds])."
        )
    for name, value in (("X", X), ("X_val", X_val)):
        if isinstance(value, dict) and not sparse.issparse(value):  # dok is a dict
            raise TypeError(
                f"{name} must be an array, not a dict: a dict of several inputs, "
                "skorch's recipe for modules with several arguments, is not supported "
                "(the chain splits, validates and fingerprints one array of samples)."
            )
    if (X_val is None) != (y_val is None):
        raise ValueError("Pass both X_val and y_val to fit, or neither.")
    X, y = validate_data(
        net, X, y, allow_nd=True, dtype=np.float32, ensure_min_samples=2, order="C",
    )
    X = check_shape(net, X, "X", reset=True)
    y = check_labels(y, "y")
    net.input_shape_ = tuple(X.shape[1:])
    net.classes_inferred_ = np.unique(y)
    if len(net.classes_) < 2:
        raise ValueError(
            f"{type(net).__name__} needs at least 2 classes in y, got 1 class "
            f"({net.classes_.tolist()})."
        )
    if net.augment and len(net._network_input_shape()) != 3:
        raise ValueError(
            "augment=True needs images: X of shape (n_samples, channels, height, width) "
            "or image_shape."
        )
    y_enc = encode_labels(net, y, "y")
    if X_val is None:
        return X, y_enc, None, None
    X_val = check_samples(net, X_val, "X_val")
    y_val = check_labels(y_val, "y_val")
    check_consistent_length(X_val, y_val)
    return X, y_enc, X_val, encode_labels(net, y_val, "y_val")
