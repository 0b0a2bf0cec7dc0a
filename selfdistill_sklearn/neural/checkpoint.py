"""The checkpoint file of a chain of self-distilled networks.

The :class:`~selfdistill_sklearn.neural.chain.ChainState` of a chain is
saved to one file after every completed network, and loaded back when a
later ``fit`` has the same parameters and data (:func:`fingerprint`), so
that an interrupted or extended chain goes on where it stopped.

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
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.utils import check_random_state

from .chain import ChainState

__all__ = ["CHECKPOINT_FILE", "RESUME_IGNORED", "ChainState", "check_writable", "cpu_state",
           "fingerprint", "initial_state", "load_state", "save_state"]

CHECKPOINT_FILE = "selfdistill_checkpoint.pt"
FORMAT = 3
# Parameters that change neither the networks nor the data they see, and
# n_steps, by which a finished chain may be extended: a checkpoint is resumed
# whatever their values.
RESUME_IGNORED = {"verbose", "checkpoint_dir", "device", "n_steps", "keep_step"}


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


def cpu_state(module):
    """A copy of ``module``'s weights on the CPU, to keep or save."""
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def save_state(state, path):
    """Write ``state`` (a :class:`ChainState`) to ``path``; a crash mid-write keeps the
    previous file."""
    path = Path(path)
    payload = {
        field.name: getattr(state, field.name) for field in dataclasses.fields(state)
    }
    # weights_only loading reads tensors, not NumPy arrays.
    payload = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v
               for k, v in payload.items()}
    payload["history"] = json.dumps(state.history, default=_json_default)
    payload["format"] = FORMAT
    partial = path.with_name(path.name + ".partial")
    torch.save(payload, partial)
    os.replace(partial, path)

def load_state(path):
    """Read a :class:`ChainState` written by :func:`save_state`; None when ``path`` does
    not exist.

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
            return ChainState(fingerprint="", seed=0)  # another format: not resumable
        payload = {k: v for k, v in payload.items() if k != "format"}
        payload["history"] = json.loads(payload["history"])
        if isinstance(payload["first_valid_proba"], torch.Tensor):
            payload["first_valid_proba"] = payload["first_valid_proba"].numpy()
        return ChainState(**payload)
    except Exception as exc:  # torch raises several kinds for a damaged file
        raise ValueError(
            f"The checkpoint file {path} cannot be read ({type(exc).__name__}): it is "
            "damaged or was not written by SelfDistilledNeuralNet. Delete it to train "
            "from the start, or give another checkpoint_dir."
        ) from exc


def initial_state(path, key, n_steps, schedule, random_state):
    """The checkpoint in ``path`` that a fit continues, or a new chain.

    Parameters
    ----------
    path : path or None
        The checkpoint file; None without ``checkpoint_dir``.
    key : str
        The new fit's :func:`fingerprint`.
    n_steps : int
        Its number of steps.
    schedule : sequence of float or None
        Its schedule of weights (see :meth:`ChainState.continues`).
    random_state : int, RandomState instance or None
        Draws the seed of a new chain.

    Returns
    -------
    state : ChainState
        The checkpoint's state when it continues; otherwise a new chain, with
        a warning when a checkpoint of other parameters or data is replaced.
    """
    state = None if path is None else load_state(path)
    if state is not None and not state.continues(key, n_steps, schedule):
        warnings.warn(
            f"The checkpoint in {path} was made with other parameters or data; "
            "starting over and replacing it.",
            UserWarning,
            stacklevel=5,
        )
        state = None
    if state is None:
        seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
        state = ChainState(fingerprint=key, seed=seed)
    return state
