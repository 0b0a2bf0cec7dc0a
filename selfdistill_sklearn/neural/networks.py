"""Networks for :class:`~selfdistill_sklearn.SelfDistilledNeuralNet`.

Builds a fresh, randomly initialised classification network for every
distillation step, from a torchvision model name (the paper's ResNet-50,
Section 5.1), an :class:`torch.nn.Module` class or a factory; adapts the
first layer to the input images; and augments image batches on whatever
device they live on (the paper's random crop with 4-pixel padding and
horizontal flip, Appendix B.1, footnote 15).

Nothing here downloads anything: torchvision models are always built with
``weights=None``.
"""

import copy
import difflib
import inspect
import math

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

__all__ = [
    "MLP",
    "SmallCNN",
    "adapt_first_layer",
    "build_network",
    "classification_model_names",
    "is_probabilities",
    "outputs_probabilities",
    "random_crop_flip",
]

#: Images whose smaller side is below this many pixels get the small-image
#: stem when ``small_input="auto"``.
SMALL_INPUT_THRESHOLD = 64

# torchvision models whose training-mode output carries auxiliary logits;
# the distillation loss needs one tensor of logits.
_AUX_LOGIT_MODELS = {"googlenet", "inception_v3"}


def classification_model_names():
    """List the torchvision classification models that can be built.

    Returns
    -------
    names : list of str
        As ``torchvision.models.list_models(module=torchvision.models)``;
        detection, segmentation, video and quantised models are not in it.

    See Also
    --------
    build_network : Builds a network from one of these names.

    Examples
    --------
    >>> from selfdistill_sklearn.networks import classification_model_names
    >>> "resnet50" in classification_model_names()
    True
    """
    return list(torchvision.models.list_models(module=torchvision.models))


class MLP(nn.Module):
    """A fully connected classifier with ReLU hidden layers.

    Small enough for tests and for sklearn's digits; any input shape is
    flattened first.

    Parameters
    ----------
    input_shape : tuple of int
        Shape of one sample, e.g. ``(64,)`` or ``(1, 8, 8)``.
    num_classes : int
        Number of outputs (logits).
    hidden_layer_sizes : tuple of int, default=(100,)
        Widths of the hidden layers.

    See Also
    --------
    SmallCNN : A small convolutional network for images.
    build_network : Builds this or any other network for each step.

    Examples
    --------
    >>> import torch
    >>> from selfdistill_sklearn.networks import MLP
    >>> network = MLP((64,), num_classes=10, hidden_layer_sizes=(32,))
    >>> network(torch.zeros(5, 64)).shape
    torch.Size([5, 10])
    """

    def __init__(self, input_shape, num_classes, hidden_layer_sizes=(100,)):
        super().__init__()
        layers = [nn.Flatten()]
        width = math.prod(input_shape)
        for size in hidden_layer_sizes:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)


class SmallCNN(nn.Module):
    """A small convolutional classifier for small images (8x8 to 32x32).

    Each block is a 3x3 convolution with batch normalisation and ReLU
    followed by 2x2 max pooling while the image is at least 4 pixels wide;
    global average pooling and a linear layer give the logits.

    Parameters
    ----------
    input_shape : tuple of int
        ``(channels, height, width)`` of one image.
    num_classes : int
        Number of outputs (logits).
    channels : tuple of int, default=(16, 32)
        Output channels of the convolution blocks.

    Raises
    ------
    ValueError
        If ``input_shape`` is not ``(channels, height, width)``.

    See Also
    --------
    MLP : A fully connected network, for feature vectors.
    build_network : Builds this or any other network for each step.

    Examples
    --------
    >>> import torch
    >>> from selfdistill_sklearn.networks import SmallCNN
    >>> network = SmallCNN((1, 8, 8), num_classes=10)
    >>> network(torch.zeros(5, 1, 8, 8)).shape
    torch.Size([5, 10])
    """

    def __init__(self, input_shape, num_classes, channels=(16, 32)):
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(
                f"SmallCNN needs images of shape (channels, height, width), got "
                f"input_shape={tuple(input_shape)}."
            )
        in_channels, height, width = input_shape
        layers = []
        for out_channels in channels:
            layers += [
                nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(),
            ]
            if min(height, width) >= 4:
                layers.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
            in_channels = out_channels
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_channels, num_classes)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)


def _set_submodule(model, name, new):
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def adapt_first_layer(model, in_channels, small_input):
    """Fit a network's stem to the channels and size of the input images.

    The first :class:`~torch.nn.Conv2d` (in module order) is replaced by a
    freshly initialised one taking ``in_channels`` channels. With
    ``small_input`` it becomes a 3x3 convolution with stride 1 and padding
    1, and a max pooling that comes before the second convolution is
    removed: the usual CIFAR variant of ResNet, which keeps 32x32 images
    (and 8x8 digits) from shrinking to nothing before the last stage. The
    same rule covers the other torchvision families whose stem is a
    strided convolution followed by pooling (DenseNet, ResNeXt, RegNet,
    ...). The model is changed in place.

    Parameters
    ----------
    model : torch.nn.Module
        A network whose first layer is a :class:`~torch.nn.Conv2d` (a
        torchvision classification model, say).
    in_channels : int
        Channels of the input images (1 for grey scale, 3 for colour).
    small_input : bool
        Whether to use the small-image stem.

    Returns
    -------
    model : torch.nn.Module
        The same object, adapted.

    Raises
    ------
    ValueError
        If ``model`` has no :class:`~torch.nn.Conv2d`, or its first one is
        grouped and must change its input channels.
    """
    convs = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError(
            f"{type(model).__name__} has no Conv2d layer to adapt to images with "
            f"{in_channels} channel(s)."
        )
    name, conv = convs[0]
    if small_input:
        kernel_size, stride, padding = 3, 1, 1
    else:
        kernel_size, stride, padding = conv.kernel_size, conv.stride, conv.padding
    if (
        in_channels != conv.in_channels
        or (small_input
            and (conv.kernel_size, conv.stride, conv.padding) != ((3, 3), (1, 1), (1, 1)))
    ):
        if conv.groups != 1:
            raise ValueError(
                f"The first convolution of {type(model).__name__} is grouped "
                f"(groups={conv.groups}); it cannot be adapted to {in_channels} channel(s)."
            )
        new = nn.Conv2d(
            in_channels, conv.out_channels, kernel_size, stride=stride, padding=padding,
            dilation=conv.dilation, bias=conv.bias is not None, padding_mode=conv.padding_mode,
        )
        _set_submodule(model, name, new)
    if small_input:
        order = [n for n, _ in model.named_modules()]
        second_conv = order.index(convs[1][0]) if len(convs) > 1 else len(order)
        for pool_name, m in model.named_modules():
            if isinstance(m, nn.MaxPool2d) and order.index(pool_name) < second_conv:
                _set_submodule(model, pool_name, nn.Identity())
                break
    return model


def _accepts(factory, name):
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


def _requires(factory, name):
    try:
        parameter = inspect.signature(factory).parameters.get(name)
    except (TypeError, ValueError):
        return False
    return parameter is not None and parameter.default is inspect.Parameter.empty


def _reset_parameters(model):
    for m in model.modules():
        if hasattr(m, "reset_parameters") and callable(m.reset_parameters):
            m.reset_parameters()


def build_network(module, input_shape, num_classes, *, small_input="auto", **kwargs):
    """A freshly initialised classification network.

    Draws from torch's global random number generator: seed it first
    (``torch.manual_seed``) for a reproducible initialisation.

    Parameters
    ----------
    module : str, torch.nn.Module class, callable or torch.nn.Module
        * a torchvision classification model name (see
          :func:`classification_model_names`), e.g. ``"resnet50"``: built
          with ``weights=None`` and ``num_classes``; its first layer is
          adapted by :func:`adapt_first_layer` to the channels of the
          images and, for small images, to their size;
        * an :class:`~torch.nn.Module` subclass or any factory returning a
          module: called with ``**kwargs``, plus ``num_classes`` and
          ``input_shape`` when its signature takes them and ``kwargs``
          does not set them;
        * a module instance: deep-copied and re-initialised with each
          submodule's ``reset_parameters``.
    input_shape : tuple of int or None
        Shape of one sample: ``(n_features,)`` or ``(channels, height,
        width)``. torchvision models need the latter. None when not known
        yet (a net initialised before ``fit``): not passed to the factory.
    num_classes : int or None
        Number of output logits; None as ``input_shape``.
    small_input : bool or "auto", default="auto"
        Small-image stem for torchvision models (see
        :func:`adapt_first_layer`); ``"auto"`` uses it for images whose
        smaller side is below 64 pixels.
    **kwargs
        Passed to the torchvision builder or the factory.

    Returns
    -------
    network : torch.nn.Module
        In training mode, on the CPU, mapping a batch of shape
        ``(n, *input_shape)`` to logits of shape ``(n, num_classes)``.

    Raises
    ------
    ValueError
        For an unknown model name, inputs that are not images for a
        torchvision model, or a network whose output does not have the
        shape ``(n, num_classes)`` (checked on two zero samples).
    """
    if input_shape is not None:
        input_shape = tuple(int(s) for s in input_shape)
    if isinstance(module, str):
        names = classification_model_names()
        if module not in names:
            close = difflib.get_close_matches(module, names, n=3)
            hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise ValueError(
                f"module={module!r} is not a torchvision classification model.{hint} "
                "See selfdistill_sklearn.networks.classification_model_names()."
            )
        if input_shape is None or num_classes is None:
            raise ValueError(
                f"module={module!r} is built for the shape of the images and the number of "
                "classes: fit first, or set image_shape and classes to initialize before fit."
            )
        if len(input_shape) != 3:
            raise ValueError(
                f"module={module!r} needs images: X of shape (n_samples, channels, height, "
                f"width) or flattened rows with image_shape=(channels, height, width); got "
                f"samples of shape {input_shape}."
            )
        if small_input == "auto":
            small_input = min(input_shape[1:]) < SMALL_INPUT_THRESHOLD
        kwargs = dict(kwargs)
        if module in _AUX_LOGIT_MODELS:
            kwargs.setdefault("aux_logits", False)
            kwargs.setdefault("init_weights", True)
        network = torchvision.models.get_model(
            module, weights=None, num_classes=num_classes, **kwargs
        )
        adapt_first_layer(network, input_shape[0], bool(small_input))
    elif isinstance(module, nn.Module):
        network = copy.deepcopy(module)
        _reset_parameters(network)
    elif callable(module):
        kwargs = dict(kwargs)
        for name, value, remedy in (("num_classes", num_classes, "classes"),
                                    ("input_shape", input_shape, "image_shape")):
            if name in kwargs or not _accepts(module, name):
                continue
            if value is not None:
                kwargs[name] = value
            elif _requires(module, name):
                raise ValueError(
                    f"module={module!r} needs {name}, known once fit has seen the data: "
                    f"fit first, or set {remedy} or module__{name} to initialize before fit."
                )
        network = module(**kwargs)
        if not isinstance(network, nn.Module):
            raise TypeError(
                f"module must build a torch.nn.Module; {module!r} returned "
                f"{type(network).__name__}."
            )
    else:
        raise TypeError(
            "module must be a torchvision model name, a torch.nn.Module class or factory, "
            f"or a torch.nn.Module; got {module!r}."
        )
    if input_shape is not None and num_classes is not None:
        _check_output_shape(network, input_shape, num_classes)
    return network.train()


def frozen(network):
    """Put ``network`` in evaluation mode with its gradients off: a teacher.

    Parameters
    ----------
    network : torch.nn.Module
        A trained network, changed in place.

    Returns
    -------
    network : torch.nn.Module
        The same object, in evaluation mode, every parameter with
        ``requires_grad=False``.
    """
    network = network.eval()
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    return network


def outputs_probabilities(network, input_shape):
    """Whether ``network`` ends in a softmax: its outputs are probabilities.

    skorch's classifier modules usually end in ``nn.Softmax``; the
    self-distillation loss takes logits. On two zero samples in evaluation
    mode (no random draw, no running statistics updated), outputs that are
    non-negative and sum to 1 in every row are probabilities; logits of a
    freshly initialised network practically never are.

    Parameters
    ----------
    network : torch.nn.Module
        A network mapping a batch of shape ``(n, *input_shape)`` to a tensor
        of shape ``(n, k)``; its training mode is restored afterwards.
    input_shape : tuple of int
        Shape of one sample.

    Returns
    -------
    bool
        True when the outputs are probabilities (see
        :func:`is_probabilities`), False when they are logits.

    See Also
    --------
    is_probabilities : The test applied to the outputs.
    """
    training = network.training
    network.eval()
    try:
        parameter = next(network.parameters(), None)
        device = None if parameter is None else parameter.device
        with torch.no_grad():
            out = network(torch.zeros((2, *input_shape), device=device)).float()
    finally:
        network.train(training)
    return is_probabilities(out)


def is_probabilities(out):
    """Whether the rows of ``out`` are non-negative and sum to 1.

    Parameters
    ----------
    out : torch.Tensor of shape (n, k)
        Outputs of a network on ``n`` samples.

    Returns
    -------
    bool
        True when every entry is non-negative and every row sums to 1
        within 1e-5 (in float32): the outputs of a softmax.
    """
    out = out.float()
    return bool(torch.all(out >= 0)) and bool(
        torch.allclose(out.sum(dim=1), torch.ones(len(out), device=out.device), atol=1e-5)
    )


def _check_output_shape(network, input_shape, num_classes):
    # Two zero samples in evaluation mode: fails early with a readable message
    # (e.g. an image too small for the model) and initialises lazy layers.
    # Evaluation mode neither draws random numbers nor updates running
    # statistics, so the network is left as built.
    network.eval()
    try:
        with torch.no_grad():
            out = network(torch.zeros((2, *input_shape)))
    except RuntimeError as exc:
        raise ValueError(
            f"{type(network).__name__} cannot take inputs of shape {input_shape}: {exc}"
        ) from exc
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, num_classes):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"{type(network).__name__} must return logits of shape (n_samples, "
            f"{num_classes}); it returned {shape} for 2 samples."
        )


def random_crop_flip(images, padding=4, flip=True, generator=None):
    """Random crop after zero padding, and random horizontal flip.

    The augmentation of the paper (Appendix B.1, footnote 15): each image
    is padded with ``padding`` zero pixels on every side, a window of the
    original size is cut at a uniformly drawn offset, and the result is
    flipped left-right with probability 1/2. Done on tensors with one
    gather, so it runs on the device that holds the batch.

    Parameters
    ----------
    images : torch.Tensor of shape (n, channels, height, width)
        The batch, on any device.
    padding : int, default=4
        Zero pixels added on every side before cropping; the offset of the
        crop is drawn in ``0 .. 2 * padding`` along each axis.
    flip : bool, default=True
        Whether to flip each image left-right with probability 1/2.
    generator : torch.Generator, default=None
        On the device of ``images``; torch's default generator if None.

    Returns
    -------
    augmented : torch.Tensor
        Same shape, dtype and device as ``images``.

    Raises
    ------
    ValueError
        If ``images`` is not 4-dimensional.
    """
    if images.ndim != 4:
        raise ValueError(
            f"random_crop_flip needs a batch of shape (n, channels, height, width), got "
            f"{tuple(images.shape)}."
        )
    n, c, h, w = images.shape
    device = images.device
    padded = F.pad(images, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n,), device=device, generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (n,), device=device, generator=generator)
    rows = dy[:, None] + torch.arange(h, device=device)
    cols = dx[:, None] + torch.arange(w, device=device)
    if flip:
        mirrored = torch.rand(n, device=device, generator=generator) < 0.5
        cols = torch.where(mirrored[:, None], cols.flip(1), cols)
    batch = torch.arange(n, device=device)[:, None, None, None]
    channel = torch.arange(c, device=device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]
