"""Where a chain of self-distilled networks stands, without torch.

:class:`ChainState` is everything
:class:`~selfdistill_sklearn.SelfDistilledNeuralNet` carries from one
network of the chain to the next, and the rules that say what each network
is: the plan of fits (Algorithm 1 adds an ``alpha = 0`` fit before each
later step), the weight each one trains with, alpha-hat, and whether a
step is the first network itself (``alpha = 1``, Theorem 4.1 eq. (7), or a
network trained with alpha-hat that validates no better than the first).
Weights are held as given (the estimator gives state dicts of torch
tensors), probabilities as NumPy arrays; their file is
:mod:`selfdistill_sklearn.neural.checkpoint`.
"""

import dataclasses
import numbers

import numpy as np

from ..closed_forms import optimal_alpha

__all__ = ["ChainState", "describe_fit", "fit_plan", "step_table", "validation_needed_by"]


def fit_plan(n_steps, optimal):
    """The fits of a chain, in order, as ``(step, probe)`` pairs.

    Parameters
    ----------
    n_steps : int
        Networks in the chain, the first included.
    optimal : bool
        Whether alpha-hat is estimated (Algorithm 1): each step after the
        first is then preceded by its ``alpha = 0`` fit, the probe.

    Returns
    -------
    plan : list of (int, bool)
        ``n_steps`` pairs, or ``2 (n_steps - 1) + 1`` with probes.
    """
    plan = [(1, False)]
    for step in range(2, n_steps + 1):
        plan += [(step, True), (step, False)] if optimal else [(step, False)]
    return plan


def describe_fit(index, step, probe, alpha, plan):
    """The line printed before fit ``index`` (from 1) of ``plan`` trains.

    Parameters
    ----------
    index : int
        The fit's position in ``plan``, from 1.
    step : int
        Its step (from 1).
    probe : bool
        Whether it is the ``alpha = 0`` fit of Algorithm 1.
    alpha : float
        The weight it trains with.
    plan : list of (int, bool)
        The chain's fits, from :func:`fit_plan`.

    Returns
    -------
    line : str
    """
    kind = "alpha = 0 fit of Algorithm 1" if probe else f"alpha = {alpha:.4g}"
    return (f"Self-distillation step {step}/{plan[-1][0]} (network {index}/{len(plan)}"
            + ("" if step == 1 else f", {kind}") + ")")


def validation_needed_by(optimal, keep_step):
    """What needs validation data, named as the user set it, or None.

    Parameters
    ----------
    optimal : bool
        Whether alpha-hat is estimated (``alpha="optimal"``).
    keep_step : str
        The ``keep_step`` parameter.

    Returns
    -------
    needs : str or None
        ``"alpha='optimal'"`` or ``"keep_step='best'"``; None when
        validation data are only monitored.
    """
    if optimal:
        return "alpha='optimal'"
    return "keep_step='best'" if keep_step == "best" else None


@dataclasses.dataclass
class ChainState:
    """Where a chain of networks stands, between two networks.

    Attributes
    ----------
    fingerprint : str
        What a checkpoint must match to be resumed (parameters and data).
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
    first_valid_proba : ndarray of shape (n_valid, n_classes) or None
        The first network's validation probabilities, Algorithm 1's
        ``Y~(1)`` (``alpha="optimal"``).
    first_state : dict or None
        Weights of the first network: a later step with ``alpha = 1`` is
        this network (Theorem 4.1, eq. (7)).
    teacher_state : dict or None
        Weights of the last network of the chain.
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
    first_valid_proba: object = None
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

    def weights_for(self, step, probe, alpha):
        """The weight of the ground truth that a fit trains with, and unclipped.

        Parameters
        ----------
        step : int
            The step (from 1).
        probe : bool
            Whether the fit is the ``alpha = 0`` fit of Algorithm 1.
        alpha : AlphaSpec
            The validated ``alpha`` parameter.

        Returns
        -------
        alpha, unclipped : float
            1 for the first step, 0 for a probe, alpha-hat (as recorded by
            :meth:`record_estimate`) or the fixed or scheduled weight.
        """
        if step == 1:
            return 1.0, 1.0
        if probe:
            return 0.0, 0.0
        if alpha.is_optimal:
            return self.pending_alpha, self.pending_unclipped
        weight = float(alpha.weight(step - 2))
        return weight, weight

    @staticmethod
    def reuses_first(step, probe, alpha):
        """Whether the fit is the first network itself: a later step with alpha = 1.

        alpha = 1 weighs the ground truth alone, and by Theorem 4.1, eq. (7),
        the step is then the first fit; training a fresh network of another
        seed would only add the run-to-run spread of a single network.
        """
        return step > 1 and not probe and alpha == 1

    def complete_network(self, weights, alpha=None, unclipped=None, valid_score=None):
        """Record a network of the chain as the next teacher.

        Parameters
        ----------
        weights : dict
            The trained network's weights (a state dict, kept as given).
        alpha, unclipped : float or None
            Its weight (None for step 1).
        valid_score : float or None
            Its validation accuracy, None without validation data.
        """
        if alpha is not None:
            self.alphas = [*self.alphas, float(alpha)]
            self.alphas_unclipped = [*self.alphas_unclipped, float(unclipped)]
        self.teacher_state = weights
        if self.first_state is None:
            self.first_state = weights
        if valid_score is not None:
            best = max(self.valid_scores, default=-np.inf)
            self.valid_scores = [*self.valid_scores, float(valid_score)]
            if valid_score > best:
                self.best_state = weights

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

    def record_probe(self, step, proba, y_valid, clip):
        """Estimate alpha-hat of ``step`` from its ``alpha = 0`` fit (Algorithm 1).

        alpha-hat minimises ``||Y~ - (alpha Y~(1) + (1 - alpha) Y~(t)_0)||_F^2``
        over the validation probabilities (Theorem 4.4, eq. (16)) and is kept
        by :meth:`record_estimate` for the step's fit that follows.

        Parameters
        ----------
        step : int
            The step (from 2).
        proba : ndarray of shape (n_valid, n_classes)
            Validation probabilities of the ``alpha = 0`` fit, ``Y~(t)_0``.
        y_valid : ndarray of shape (n_valid,)
            Validation labels, as positions in the classes.
        clip : bool
            Clip alpha-hat to [0, 1] (footnote 10).

        Returns
        -------
        line : str
            alpha-hat, and what it was clipped to, for the progress output.
        """
        targets = np.eye(proba.shape[1])[y_valid]
        raw = optimal_alpha(np.asarray(self.first_valid_proba), proba, targets)
        self.record_estimate(raw, clip)
        clipped = self.pending_alpha != raw
        return f"alpha-hat({step}) = {raw:.4f}" + (
            f", clipped to {self.pending_alpha:.4g}" if clipped else "")

    def keeps_step(self, proba, y_valid):
        """Whether a network trained with alpha-hat validates better than the first.

        alpha-hat minimises ``||Y~ - (alpha Y~(1) + (1 - alpha) Y~(t)_0)||_F^2``
        over all alpha, ``alpha = 1`` included, whose error is the first
        network's ``||Y~ - Y~(1)||_F^2`` (Theorem 4.4, eq. (16)); the network
        trained with alpha-hat only approximates that blend, and the
        validation data that judge it are few. The step keeps its network
        when the network's squared error is below the first network's by more
        than one standard error of their paired difference over the
        validation samples (the one-standard-error rule: the simplest
        candidate within one standard error, Hastie, Tibshirani and Friedman,
        The Elements of Statistical Learning, Section 7.10). Otherwise the
        step is the ``alpha = 1`` step, which is the first network (Theorem
        4.1, eq. (7)) and costs nothing.

        Parameters
        ----------
        proba : ndarray of shape (n_valid, n_classes)
            Validation probabilities of the network trained with alpha-hat.
        y_valid : ndarray of shape (n_valid,)
            Validation labels, as positions in the classes.

        Returns
        -------
        bool
            True when the network validates better than the first by more
            than one standard error; False (the step is then the first
            network) otherwise, and always with a single validation sample.
        """
        targets = np.eye(proba.shape[1])[y_valid]
        first = np.asarray(self.first_valid_proba)
        difference = np.sum((targets - proba) ** 2, axis=1) - np.sum((targets - first) ** 2,
                                                                      axis=1)
        if len(difference) < 2:
            return False
        standard_error = np.std(difference, ddof=1) / np.sqrt(len(difference))
        return bool(np.mean(difference) + standard_error < 0)

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

    def continues(self, fingerprint, n_steps, schedule):
        """Whether a fit of ``fingerprint`` resumes or extends this chain.

        Parameters
        ----------
        fingerprint : str
            The parameters and data of the new fit (see :meth:`accepts`).
        n_steps : int
            Its number of steps.
        schedule : sequence of float or None
            Its schedule of weights, None for a fixed weight or alpha-hat.

        Returns
        -------
        bool
        """
        return self.fingerprint == fingerprint and self.accepts(n_steps, schedule)


def step_table(history):
    """One row per network of a chain, from the last epoch of each.

    Parameters
    ----------
    history : iterable of dict
        skorch's history rows of the chain: each has ``fit``, ``step``,
        ``alpha``, ``probe``, ``reused`` for a step that is the first
        network (one row, no epoch), and ``fallback`` on the last epoch of
        a network replaced by the first (see :meth:`ChainState.keeps_step`).

    Returns
    -------
    scores : pandas.DataFrame
        See :meth:`~selfdistill_sklearn.SelfDistilledNeuralNet.step_scores`.
    """
    import pandas as pd

    rows = {}
    for epoch in history:
        if "fit" not in epoch:
            continue
        row = rows.setdefault(epoch["fit"], {"epochs": 0, "reused": False, "fallback": False})
        row["epochs"] += not epoch.get("reused", False)
        for key, value in epoch.items():
            if key in ("batches", "epoch") or key.endswith("_best"):
                continue
            if isinstance(value, (numbers.Number, np.generic)):
                row[key] = value
    frame = pd.DataFrame([rows[k] for k in sorted(rows)])
    first = ["fit", "step", "probe", "alpha", "reused", "fallback", "epochs"]
    known = ["train_loss", "train_acc", "valid_loss", "valid_acc", "fit_time"]
    order = first + [c for c in known if c in frame] + sorted(
        c for c in frame if c not in first + known and c != "dur"
    )
    frame = frame[order]
    frame["probe"] = frame["probe"].astype(bool)
    frame["reused"] = frame["reused"].astype(bool)
    frame["fallback"] = frame["fallback"].astype(bool)
    return frame.reset_index(drop=True)
