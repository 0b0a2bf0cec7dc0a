"""The state of a chain of self-distilled networks, and its checkpoint file.

:class:`ChainState` is everything :class:`~selfdistill_sklearn.SelfDistilledNeuralNet`
carries from one network of the chain to the next: the seed, the weights
used so far, the first network's validation probabilities (Algorithm 1 needs
them at every step), the last network of the chain (the next teacher) and
the network that validated best. It saves itself to one file after every
completed network, and loads itself back when a later ``fit`` has the same
parameters and data, so that an interrupted or extended chain goes on where
it stopped.

The file is written with :func:`torch.save` and read with
``torch.load(weights_only=True)``: tensors, numbers, strings and lists only,
no pickled code.
"""

import dataclasses
import hashlib
import json
import numbers
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import torch

__all__ = ["CHECKPOINT_FILE", "ChainState", "check_writable", "fingerprint"]

CHECKPOINT_FILE = "selfdistill_checkpoint.pt"
FORMAT = 3


def _stable_repr(value):
    """A text for ``value`` that is the same in every process (no addresses)."""
    if value is None or isinstance(value, (bool, numbers.Number, str, bytes)):
        return repr(value)
    if isinstance(value, np.ndarray):
        return f"array{value.shape}{value.dtype}:{hash_arrays([value])}"
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
    # get_params of the class: a Mock answers any attribute, get_params too.
    if callable(getattr(type(value), "get_params", None)) and not isinstance(
        value, torch.nn.Module
    ):
        return f"{type(value).__qualname__}({_stable_repr(value.get_params(deep=False))})"
    return f"{type(value).__qualname__}:" + re.sub(r"0x[0-9a-fA-F]+", "", repr(value))


def hash_arrays(arrays):
    """SHA-256 of the shapes, dtypes and bytes of ``arrays`` (None allowed)."""
    digest = hashlib.sha256()
    for array in arrays:
        if array is None:
            digest.update(b"None")
            continue
        array = np.ascontiguousarray(array)
        digest.update(f"{array.shape}{array.dtype}".encode())
        digest.update(array.tobytes() if array.dtype != object else repr(array).encode())
    return digest.hexdigest()


def fingerprint(name, params, arrays):
    """What a checkpoint must match to be resumed: parameters and data.

    Parameters
    ----------
    name : str
        The estimator's class name.
    params : dict
        The parameters that shape the networks and the data they see (the
        caller leaves out those that do not, and ``n_steps``, which a
        checkpoint may be extended by).
    arrays : list of ndarray or None
        The training and validation data, labels encoded.

    Returns
    -------
    fingerprint : str
        A hexadecimal SHA-256 digest.
    """
    text = ";".join(f"{key}={_stable_repr(params[key])}" for key in sorted(params))
    return hashlib.sha256((name + text + hash_arrays(arrays)).encode()).hexdigest()


def check_writable(directory):
    """Create ``directory`` if needed and make sure a file can be written in it.

    Raises
    ------
    ValueError
        Naming ``checkpoint_dir`` and the operating system's reason.
    """
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise ValueError(
            f"checkpoint_dir={str(directory)!r} cannot be written ({exc}). Give a writable "
            "directory, or checkpoint_dir=None to train without checkpoints."
        ) from exc


def _json_default(value):
    if isinstance(value, (np.generic, torch.Tensor)):
        return value.item()
    raise TypeError(f"{type(value).__name__} cannot be stored in the checkpoint's history.")


def _cpu_state(module):
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


@dataclasses.dataclass
class ChainState:
    """Where a chain of networks stands, between two networks.

    Attributes
    ----------
    fingerprint : str
        See :func:`fingerprint`.
    seed : int
        Drawn from ``random_state`` once per chain; seeds the validation
        split and every step.
    completed_fits : int
        Networks trained so far, the ``alpha = 0`` fits of Algorithm 1
        included.
    alphas, alphas_unclipped : list of float
        The weights of steps ``2 ..`` trained so far, and for
        ``alpha="optimal"`` the estimates before clipping (for fixed weights
        the same values).
    pending_alpha, pending_unclipped : float or None
        alpha-hat of a step whose ``alpha = 0`` fit is done and whose fit
        with alpha-hat is not.
    first_valid_proba : torch.Tensor or None
        The first network's validation probabilities (``alpha="optimal"``).
    first_state : dict or None
        Weights of the first network (on the CPU): a later step with
        ``alpha = 1`` is this network (Theorem 4.1, eq. (7)).
    teacher_state : dict or None
        Weights of the last network of the chain (on the CPU).
    valid_scores : list of float
        Validation accuracy of each network of the chain (not of the
        ``alpha = 0`` fits), step 1 first.
    best_state : dict or None
        Weights of the chain's network with the highest validation accuracy
        (the earliest among equals).
    history : list of dict
        skorch's history rows of every network trained.
    """

    fingerprint: str
    seed: int
    completed_fits: int = 0
    alphas: list = dataclasses.field(default_factory=list)
    alphas_unclipped: list = dataclasses.field(default_factory=list)
    pending_alpha: float | None = None
    pending_unclipped: float | None = None
    first_valid_proba: torch.Tensor | None = None
    first_state: dict | None = None
    teacher_state: dict | None = None
    valid_scores: list = dataclasses.field(default_factory=list)
    best_state: dict | None = None
    history: list = dataclasses.field(default_factory=list)

    @property
    def completed_steps(self):
        """Networks of the chain trained so far (step 1 included)."""
        return 0 if self.teacher_state is None else 1 + len(self.alphas)

    @property
    def best_step(self):
        """The step (from 1) whose network validated best, or None."""
        if not self.valid_scores:
            return None
        return int(np.argmax(self.valid_scores)) + 1

    def complete_network(self, module, alpha=None, unclipped=None, valid_score=None):
        """Record a network of the chain as the next teacher.

        Parameters
        ----------
        module : torch.nn.Module
            The trained network.
        alpha, unclipped : float or None
            Its weight (None for step 1).
        valid_score : float or None
            Its validation accuracy, None without validation data.
        """
        if alpha is not None:
            self.alphas = [*self.alphas, float(alpha)]
            self.alphas_unclipped = [*self.alphas_unclipped, float(unclipped)]
        self.teacher_state = _cpu_state(module)
        if self.first_state is None:
            self.first_state = self.teacher_state
        if valid_score is not None:
            best = max(self.valid_scores, default=-np.inf)
            self.valid_scores = [*self.valid_scores, float(valid_score)]
            if valid_score > best:
                self.best_state = self.teacher_state

    def record_estimate(self, estimate, clip):
        """Keep alpha-hat of the step whose ``alpha = 0`` fit just ended.

        Parameters
        ----------
        estimate : float
            alpha-hat of Theorem 4.4 on the validation probabilities.
        clip : bool
            Train the step with ``estimate`` clipped to [0, 1] (footnote 10).
        """
        self.pending_unclipped = float(estimate)
        self.pending_alpha = float(np.clip(estimate, 0, 1)) if clip else float(estimate)

    def record_fit(self, index, history):
        """Count network ``index`` (from 1) as trained, with skorch's history so far."""
        self.completed_fits = index
        self.history = list(history)

    def accepts(self, n_steps, schedule):
        """Whether a chain of ``n_steps`` (and ``schedule``) continues this one.

        A chain continues when it has at least the steps completed here and,
        for a schedule of weights, the same weights at those steps.
        """
        if self.completed_steps > n_steps:
            return False
        if schedule is not None:
            done = len(self.alphas)
            return np.array_equal(np.asarray(self.alphas), np.asarray(schedule)[:done])
        return True

    def save(self, path):
        """Write the state to ``path``; a crash mid-write keeps the previous file."""
        path = Path(path)
        payload = {
            field.name: getattr(self, field.name) for field in dataclasses.fields(self)
        }
        payload["history"] = json.dumps(self.history, default=_json_default)
        payload["format"] = FORMAT
        partial = path.with_name(path.name + ".partial")
        torch.save(payload, partial)
        os.replace(partial, path)

    @classmethod
    def load(cls, path):
        """Read a state written by :meth:`save`; None when ``path`` does not exist.

        Raises
        ------
        ValueError
            When the file cannot be read as a checkpoint: names the file and
            what to do.
        """
        path = Path(path)
        if not path.exists():
            return None
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            if payload.get("format") != FORMAT:
                return cls(fingerprint="", seed=0)  # another format: not resumable
            payload = {k: v for k, v in payload.items() if k != "format"}
            payload["history"] = json.loads(payload["history"])
            return cls(**payload)
        except Exception as exc:  # torch raises several kinds for a damaged file
            raise ValueError(
                f"The checkpoint file {path} cannot be read ({type(exc).__name__}): it is "
                "damaged or was not written by SelfDistilledNeuralNet. Delete it to train "
                "from the start, or give another checkpoint_dir."
            ) from exc
