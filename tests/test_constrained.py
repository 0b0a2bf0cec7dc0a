"""Appendix D: the constrained formulation and its three regimes (D.1)."""

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from sklearn.metrics.pairwise import pairwise_kernels

from selfdistill_sklearn import constrained
from selfdistill_sklearn.constrained import (
    COLLAPSED,
    COLLAPSING,
    NON_COLLAPSING,
    constrained_regime,
    constrained_self_distillation,
)

#: Enough steps for every draw below to reach its regime's pattern (the
#: collapsing draws stay 5% inside their interval in log scale).
MAX_STEPS = 150


@st.composite
def gram_problems(draw):
    """A positive definite G from a real kernel plus a ridge, targets y."""
    kernel = draw(st.sampled_from(["rbf", "laplacian", "polynomial", "linear"]))
    n = draw(st.integers(2, 10))
    p = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = rng.standard_normal((n, p))
    params = {"gamma": 10 ** draw(st.floats(-1.5, 1)) / p} if kernel != "linear" else {}
    G = pairwise_kernels(X, metric=kernel, filter_params=True, **params)
    # The Green's function matrix of a regulariser is positive definite; a
    # ridge keeps the draw away from numerically singular kernel matrices.
    G += 10 ** draw(st.floats(-4, -1)) * np.trace(G) / n * np.eye(n)
    n_outputs = draw(st.sampled_from([None, 2]))
    y = 10 ** draw(st.floats(-1, 1)) * rng.standard_normal((n,) if n_outputs is None
                                                            else (n, n_outputs))
    return G, y


@st.composite
def regimes(draw):
    """alpha, and epsilon placed so that ||y||^2 / N falls inside the chosen
    regime of Appendix D.1, a margin away from its ends."""
    regime = draw(st.sampled_from([COLLAPSED, COLLAPSING, NON_COLLAPSING]))
    # A seeded generator spreads alpha and the position evenly over their
    # ranges, where drawn floats would cluster at the ends.
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    alpha = rng.uniform(0.02, 0.98)
    position = rng.uniform(0.05, 0.95)
    # q = ||y||^2 / (N epsilon): (0, 1] collapsed, (1, 1/alpha] collapsing.
    if regime == COLLAPSED:
        q = position
    elif regime == COLLAPSING:
        q = alpha**-position
    else:
        q = 100**position * 1.01 / alpha
    note(f"regime={regime} alpha={alpha:.4g} q={q:.4g}")
    return regime, alpha, q


@given(problem=gram_problems(), regime=regimes())
def test_appendix_d1_regimes_follow_the_norm_conditions(problem, regime):
    """Appendix D.1: ||y||^2/N <= eps: every step is zero; eps < ||y||^2/N <=
    eps/alpha: non-zero steps, then zero from a finite step on; ||y||^2/N >
    eps/alpha: no step is zero. For the last regime ||y(t)|| >= ||y|| -
    sqrt(N eps / alpha) > 0 holds at every step, since an active constraint
    gives alpha ||y(t) - y||^2 <= N eps."""
    G, y = problem
    expected, alpha, q = regime
    n = y.shape[0]
    epsilon = float(np.sum(y**2)) / (n * q)
    assert constrained_regime(y, alpha, epsilon) == expected
    steps = constrained_self_distillation(G, y, alpha, epsilon, MAX_STEPS)
    norms = np.sqrt(np.sum(steps.fitted.reshape(MAX_STEPS, -1) ** 2, axis=1))
    zero = norms == 0
    np.testing.assert_array_equal(zero, steps.collapsed)
    first_zero = int(np.argmax(zero)) if zero.any() else None
    note(f"q={q:.4g} alpha={alpha:.4g} first zero step index={first_zero}")
    if expected == COLLAPSED:
        assert zero.all()
    elif expected == COLLAPSING:
        assert first_zero is not None and first_zero >= 1
        assert zero[first_zero:].all() and not zero[:first_zero].any()
    else:
        assert not zero.any()
        lower = np.sqrt(np.sum(y**2)) - np.sqrt(n * epsilon / alpha)
        assert lower > 0
        assert np.all(norms >= lower * (1 - 1e-9))


@given(problem=gram_problems(), regime=regimes(), n_steps=st.integers(1, 6))
def test_each_step_solves_the_constrained_problem(problem, regime, n_steps):
    """Every non-zero step is the kernel ridge fit of Proposition D.1 with the
    constraint (22) active; every zero step has the zero function feasible
    (23)."""
    G, y = problem
    _, alpha, q = regime
    n = y.shape[0]
    epsilon = float(np.sum(y**2)) / (n * q)
    steps = constrained_self_distillation(G, y, alpha, epsilon, n_steps)
    previous = y
    for t in range(n_steps):
        loss_of_zero = (alpha * np.sum(y**2) + (1 - alpha) * np.sum(previous**2)) / n
        if steps.collapsed[t]:
            assert loss_of_zero <= epsilon
            assert np.all(steps.fitted[t] == 0) and np.isinf(steps.reg_lambdas[t])
        else:
            assert loss_of_zero > epsilon
            lam = steps.reg_lambdas[t]
            assert 0 < lam < np.inf
            targets = alpha * y + (1 - alpha) * previous
            dual = np.linalg.solve(G + lam * np.eye(n), targets)
            # First-order rounding of a solve with G + lambda I.
            rounding = 1e3 * np.finfo(float).eps * np.linalg.cond(G + lam * np.eye(n))
            atol = rounding * np.abs(dual).max()
            np.testing.assert_allclose(steps.dual_coef[t], dual, rtol=0, atol=atol)
            np.testing.assert_allclose(steps.fitted[t], G @ dual, rtol=0,
                                       atol=atol * np.abs(G).sum(axis=1).max())
            f = steps.fitted[t]
            loss = (alpha * np.sum((f - y) ** 2) + (1 - alpha) * np.sum((f - previous) ** 2)) / n
            np.testing.assert_allclose(loss, epsilon, rtol=1e-9)
        previous = steps.fitted[t]


def test_regime_boundaries():
    y = np.array([1.0, -1.0, 1.0, -1.0])  # ||y||^2 / N = 1
    assert constrained_regime(y, 0.5, 1.0) == COLLAPSED
    assert constrained_regime(y, 0.5, 0.5) == COLLAPSING  # 1 = eps / alpha
    assert constrained_regime(y, 0.5, 0.4999) == NON_COLLAPSING
    assert constrained_regime(y, 0.0, 1e-6) == COLLAPSING  # Mobahi et al.: always collapses
    assert constrained_regime(y, 1.0, 0.999) == NON_COLLAPSING


def test_singular_gram_can_be_infeasible():
    # G = 1 1^T only fits constants: the alternating targets cannot come
    # within epsilon.
    G = np.ones((4, 4))
    y = np.array([1.0, -1.0, 1.0, -1.0])
    with pytest.raises(ValueError, match="infeasible"):
        constrained_self_distillation(G, y, 0.5, 0.5, 3)


@pytest.mark.parametrize("kwargs, match", [
    ({"alpha": 1.5}, "alpha"),
    ({"epsilon": 0.0}, "epsilon"),
    ({"n_steps": 0}, "n_steps"),
    ({"gram": -np.eye(3)}, "positive semi-definite"),
    ({"gram": np.eye(2)}, "square"),
])
def test_invalid_arguments(kwargs, match):
    arguments = {"gram": np.eye(3), "y": np.ones(3), "alpha": 0.5, "epsilon": 0.1,
                 "n_steps": 2} | kwargs
    with pytest.raises(ValueError, match=match):
        constrained.constrained_self_distillation(**arguments)
