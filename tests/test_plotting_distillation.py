"""The displays of Figures 2-4 draw what the estimator computes."""

import matplotlib
import numpy as np
import pytest
from sklearn.metrics.pairwise import rbf_kernel

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from selfdistill_sklearn import SelfDistilledKernelRidge  # noqa: E402
from selfdistill_sklearn.datasets import make_noisy_sinusoid  # noqa: E402
from selfdistill_sklearn.plotting.distillation import (  # noqa: E402
    DistillationPathDisplay,
    ShrinkageDiagonalDisplay,
    ShrinkageRatioDisplay,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def data():
    return make_noisy_sinusoid(random_state=0)


def model(alpha=0.25, n_steps=4, **kwargs):
    return SelfDistilledKernelRidge(alpha=alpha, n_steps=n_steps, reg_lambda=0.2, kernel="rbf",
                                    gamma=10.0, **kwargs)


def test_path_lines_are_the_staged_predictions(data):
    X, y = data
    estimator = model().fit(X, y)
    display = DistillationPathDisplay.from_estimator(estimator, X, y, n_points=50)
    grid = np.linspace(0, 1, 50).reshape(-1, 1)
    staged = list(estimator.staged_predict(grid))
    assert len(display.lines_) == 4
    for line, prediction in zip(display.lines_, staged, strict=True):
        np.testing.assert_allclose(line.get_xdata(), grid[:, 0])
        np.testing.assert_allclose(line.get_ydata(), prediction)
    limit = SelfDistilledKernelRidge(alpha=1.0, n_steps=1, reg_lambda=0.2 / 0.25, kernel="rbf",
                                     gamma=10.0).fit(X, y)
    np.testing.assert_allclose(display.limit_line_.get_ydata(), limit.predict(grid))
    assert display.limit_line_.get_linestyle() == "--"
    np.testing.assert_allclose(display.points_.get_offsets(), np.column_stack([X[:, 0], y]))
    assert display.ax_.figure is display.figure_


def test_path_on_several_features_and_outputs():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 3))
    Y = np.column_stack([X[:, 0] ** 2, np.sin(X[:, 1])])
    estimator = model(alpha="optimal", n_steps=3, cv=3).fit(X, Y)
    with pytest.raises(ValueError, match="X_eval"):
        DistillationPathDisplay.from_estimator(estimator, X, Y)
    X_eval = np.tile(X.mean(axis=0), (30, 1))
    X_eval[:, 1] = np.linspace(3, -3, 30)  # unsorted on purpose
    _, ax = plt.subplots()
    display = DistillationPathDisplay.from_estimator(estimator, X, Y, X_eval=X_eval, feature=1,
                                                     output=1, ax=ax)
    assert display.ax_ is ax
    assert display.limit_line_ is None  # "optimal" weights have no limit
    order = np.argsort(X_eval[:, 1])
    for line, prediction in zip(display.lines_, estimator.staged_predict(X_eval[order]),
                                strict=True):
        np.testing.assert_allclose(line.get_xdata(), X_eval[order, 1])
        np.testing.assert_allclose(line.get_ydata(), prediction[:, 1])


def test_path_without_targets_draws_no_points_or_limit(data):
    X, y = data
    display = DistillationPathDisplay.from_estimator(model().fit(X, y), X)
    assert display.points_ is None and display.limit_line_ is None


def test_diagonal_bars_are_the_diagonals_of_b(data):
    X, y = data
    estimator = model(alpha=0.0, n_steps=5).fit(X, y)
    shrinkage = estimator.spectral_shrinkage()
    display = ShrinkageDiagonalDisplay.from_estimator(estimator)
    assert len(display.bars_) == 5
    for bars, diagonal in zip(display.bars_, shrinkage.diagonals, strict=True):
        np.testing.assert_allclose([bar.get_height() for bar in bars], diagonal)
        np.testing.assert_allclose([bar.get_x() + bar.get_width() / 2 for bar in bars],
                                   np.arange(1, 12))
    heights = [bar.get_height() for bar in display.limit_bars_]
    np.testing.assert_allclose(heights, 0.0)  # alpha = 0 collapses
    assert all(bar.get_hatch() == "//" for bar in display.limit_bars_)


def test_spectral_displays_on_other_samples_use_their_kernel(data):
    X, y = data
    estimator = model(alpha=0.3, n_steps=3).fit(X, y)
    X_other = np.linspace(0, 1, 7).reshape(-1, 1)
    eigenvalues = np.clip(np.linalg.eigvalsh(rbf_kernel(X_other, gamma=10.0)), 0, None)
    a = eigenvalues / (eigenvalues + 0.2)
    expected = [a, a * (0.7 * a + 0.3), a * (0.7 * a * (0.7 * a + 0.3) + 0.3)]
    display = ShrinkageDiagonalDisplay.from_estimator(estimator, X_other)
    for bars, diagonal in zip(display.bars_, expected, strict=True):
        np.testing.assert_allclose([bar.get_height() for bar in bars], diagonal, atol=1e-12)
    ratios = ShrinkageRatioDisplay.from_estimator(estimator, X_other)
    assert len(ratios.lines_) == 3
    np.testing.assert_allclose(ratios.lines_[-1].get_ydata(), expected[-1][1:] / expected[-1][:-1],
                               rtol=1e-9)


def test_diagonal_limit_and_extended_steps(data):
    X, y = data
    estimator = model(alpha=0.25, n_steps=2).fit(X, y)
    display = ShrinkageDiagonalDisplay.from_estimator(estimator, n_steps=7)
    assert len(display.bars_) == 7
    d = display.eigenvalues
    np.testing.assert_allclose([bar.get_height() for bar in display.limit_bars_],
                               0.25 * d / (0.25 * d + 0.2))


def test_ratio_lines_are_the_ratios(data):
    X, y = data
    estimator = model(alpha=0.0, n_steps=6).fit(X, y)
    b = estimator.spectral_shrinkage().diagonals
    display = ShrinkageRatioDisplay.from_estimator(estimator)
    assert display.ax_.get_yscale() == "log"
    for line, row in zip(display.lines_, b, strict=True):
        np.testing.assert_allclose(line.get_ydata(), row[1:] / row[:-1])
        np.testing.assert_allclose(line.get_xdata(), np.arange(1, 11))


def test_ratio_axis_with_negative_entries():
    display = ShrinkageRatioDisplay(ratios=np.array([[2.0, -1.0]])).plot()
    assert display.ax_.get_yscale() == "symlog"


def test_ratio_drops_undefined_entries():
    display = ShrinkageRatioDisplay(ratios=np.array([[1.0, np.inf, np.nan]])).plot(
        log_scale=False)
    ydata = display.lines_[0].get_ydata()
    assert ydata[0] == 1.0 and np.isnan(ydata[1:]).all()
    assert display.ax_.get_yscale() == "linear"


def test_precomputed_kernel_has_no_path(data):
    X, y = data
    K = np.exp(-10 * (X - X.T) ** 2)
    estimator = SelfDistilledKernelRidge(alpha=0.5, n_steps=2, kernel="precomputed").fit(K, y)
    with pytest.raises(ValueError, match="precomputed"):
        DistillationPathDisplay.from_estimator(estimator, K, y)
    # The spectral displays need only the fitted estimator.
    assert len(ShrinkageDiagonalDisplay.from_estimator(estimator).bars_) == 2
