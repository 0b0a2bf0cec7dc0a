"""The chain's bookkeeping, without torch: the plan, the weights, reuse, resume."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from selfdistill_sklearn._validation import check_alpha
from selfdistill_sklearn.neural.chain import (
    ChainState,
    describe_fit,
    fit_plan,
    validation_needed_by,
)


def test_the_chain_module_imports_no_torch():
    code = ("import sys\nfrom selfdistill_sklearn.neural.chain import ChainState\n"
            "print('torch' in sys.modules, 'skorch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"


@pytest.mark.parametrize(("n_steps", "optimal", "plan"), [
    (1, False, [(1, False)]),
    (3, False, [(1, False), (2, False), (3, False)]),
    (3, True, [(1, False), (2, True), (2, False), (3, True), (3, False)]),
])
def test_the_plan_has_an_alpha_zero_fit_before_each_estimated_step(n_steps, optimal, plan):
    assert fit_plan(n_steps, optimal) == plan
    assert len(plan) == (2 * (n_steps - 1) + 1 if optimal else n_steps)


def test_the_weight_of_each_fit_and_when_it_is_the_first_network():
    state = ChainState(fingerprint="", seed=0)
    schedule = check_alpha([0.2, 1.0], 3)
    assert state.weights_for(1, False, schedule) == (1.0, 1.0)
    assert state.weights_for(2, False, schedule) == (0.2, 0.2)
    assert state.weights_for(3, False, schedule) == (1.0, 1.0)
    optimal = check_alpha("optimal", 3)
    assert state.weights_for(2, True, optimal) == (0.0, 0.0)
    state.record_estimate(2.5, clip=True)
    assert state.weights_for(2, False, optimal) == (1.0, 2.5)
    state.record_estimate(2.5, clip=False)
    assert state.weights_for(2, False, optimal) == (2.5, 2.5)
    state.record_estimate(-0.5, clip=True)
    assert state.weights_for(2, False, optimal) == (0.0, -0.5)
    # alpha = 1 after the first step is the first network (Theorem 4.1, eq. (7)).
    assert ChainState.reuses_first(2, False, 1.0)
    assert not ChainState.reuses_first(1, False, 1.0)  # the first network itself trains
    assert not ChainState.reuses_first(2, True, 1.0)
    assert not ChainState.reuses_first(3, False, 0.999)


def test_networks_recorded_give_teacher_first_best_and_resume_rules():
    state = ChainState(fingerprint="", seed=0)
    first, second, third = {"w": 1}, {"w": 2}, {"w": 3}
    state.complete_network(first, valid_score=0.8)
    state.complete_network(second, alpha=0.4, unclipped=0.4, valid_score=0.9)
    state.complete_network(third, alpha=0.2, unclipped=0.2, valid_score=0.9)
    assert state.first_state is first and state.teacher_state is third
    assert state.best_state is second and state.best_step == 2  # the earliest of equals
    assert state.completed_steps == 3 and state.alphas == [0.4, 0.2]
    assert state.accepts(3, None) and state.accepts(5, None) and not state.accepts(2, None)
    assert state.accepts(4, [0.4, 0.2, 0.7]) and not state.accepts(4, [0.4, 0.3, 0.7])
    state.record_fit(3, [{"epoch": 1}])
    assert state.completed_fits == 3 and state.history == [{"epoch": 1}]
    assert ChainState(fingerprint="", seed=0).best_step is None
    assert np.isclose(max(state.valid_scores), 0.9)


def test_alpha_hat_of_a_probe_minimises_the_validation_error_of_the_blend():
    # Algorithm 1 on probabilities (Theorem 4.4, eq. (16)), against a brute
    # force over a fine grid of weights, clipped to [0, 1] on request.
    rng = np.random.default_rng(0)
    first, probe = rng.dirichlet(np.ones(3), size=20), rng.dirichlet(np.ones(3), size=20)
    y = rng.integers(0, 3, size=20)
    grid = np.linspace(-3, 3, 60001)
    errors = [np.sum((np.eye(3)[y] - (a * first + (1 - a) * probe)) ** 2) for a in grid]
    expected = grid[int(np.argmin(errors))]
    state = ChainState(fingerprint="", seed=0, first_valid_proba=first)
    line = state.record_probe(2, probe, y, clip=False)
    assert np.isclose(state.pending_alpha, expected, atol=1e-4)
    assert state.pending_unclipped == state.pending_alpha
    assert line == f"alpha-hat(2) = {state.pending_alpha:.4f}"
    state.record_probe(2, first, y, clip=True)  # the first network itself: alpha-hat 1
    assert np.isclose(state.pending_alpha, 1.0)


def test_what_is_said_and_what_needs_validation_data():
    plan = fit_plan(3, optimal=True)
    assert describe_fit(1, 1, False, 1.0, plan) == "Self-distillation step 1/3 (network 1/5)"
    assert describe_fit(2, 2, True, 0.0, plan) == (
        "Self-distillation step 2/3 (network 2/5, alpha = 0 fit of Algorithm 1)")
    assert describe_fit(3, 2, False, 0.25, plan) == (
        "Self-distillation step 2/3 (network 3/5, alpha = 0.25)")
    assert validation_needed_by(True, "last") == "alpha='optimal'"
    assert validation_needed_by(False, "best") == "keep_step='best'"
    assert validation_needed_by(False, "last") is None


def test_a_checkpoint_continues_only_the_same_parameters_and_data():
    state = ChainState(fingerprint="abc", seed=0)
    state.complete_network({"w": 1}, valid_score=0.5)
    state.complete_network({"w": 2}, alpha=0.3, unclipped=0.3)
    assert state.continues("abc", 2, None) and state.continues("abc", 4, [0.3, 0.9, 0.1])
    assert not state.continues("abd", 2, None)  # other parameters or data
    assert not state.continues("abc", 1, None)  # fewer steps than done
    assert not state.continues("abc", 3, [0.4, 0.9])  # another weight at a step done


def test_a_step_keeps_its_network_only_one_standard_error_better_than_the_first():
    from scipy.stats import sem

    def keeps(first, proba, y):
        return ChainState(fingerprint="", seed=0, first_valid_proba=first).keeps_step(proba, y)

    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, size=40)
    onehot = np.eye(3)[y]
    first = np.full((40, 3), 1 / 3)
    assert keeps(first, 0.5 * onehot + 0.5 * first, y)  # better on every sample
    assert not keeps(first, first, y)  # the first network itself
    assert not keeps(first[:1], onehot[:1], y[:1])  # one sample shows nothing
    kept = []
    for weight in np.linspace(0, 0.4, 20):  # against the rule written with scipy
        proba = (1 - weight) * rng.dirichlet(np.ones(3), size=40) + weight * onehot
        d = np.sum((onehot - proba) ** 2, axis=1) - np.sum((onehot - first) ** 2, axis=1)
        kept.append(keeps(first, proba, y))
        assert kept[-1] == (d.mean() + sem(d) < 0)
    assert 0 < sum(kept) < len(kept)  # both outcomes occur
