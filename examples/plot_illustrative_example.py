"""
=================================================
The paper's illustrative example (Figures 2 to 4)
=================================================

Section 4.5 of Borup & Andersen (2021): eleven noisy points of a sinusoid, an
rbf kernel, ``lambda = 0.2`` and six steps of self-distillation with
``alpha = 0``, ``alpha = 0.25`` and the step-wise optimal ``alpha*`` of
Theorem 4.4, in the paper's model (no intercept). The display objects of
:mod:`selfdistill_sklearn.plotting` draw the three figures for a fitted
estimator. See :ref:`shrinkage` and :ref:`optimal_alpha`.
"""

# %%
# Data and the three chains
# -------------------------
# ``alpha*`` is chosen on validation data: eleven further points drawn
# uniformly from [0, 1] with the same noise (the paper does not say which
# validation data it used).
import matplotlib.pyplot as plt
import numpy as np

from selfdistill_sklearn import SelfDistilledKernelRidge
from selfdistill_sklearn.datasets import make_noisy_sinusoid, sinusoid
from selfdistill_sklearn.plotting import (
    DistillationPathDisplay,
    ShrinkageDiagonalDisplay,
    ShrinkageRatioDisplay,
)

X, y = make_noisy_sinusoid(n_samples=11, noise=0.5, random_state=0)
X_val, y_val = make_noisy_sinusoid(n_samples=11, noise=0.5, equally_spaced=False,
                                   random_state=1)
grid = np.linspace(0, 1, 501).reshape(-1, 1)


def fit(alpha):
    model = SelfDistilledKernelRidge(alpha=alpha, n_steps=6, reg_lambda=0.2, kernel="rbf",
                                     gamma=80.0, fit_intercept=False)
    if alpha == "optimal":
        return model.fit(X, y, X_val=X_val, y_val=y_val)
    return model.fit(X, y)


models = {"alpha = 0": fit(0.0), "alpha = 0.25": fit(0.25), "alpha*": fit("optimal")}
print("alpha*(2), ..., alpha*(6) =", np.round(models["alpha*"].alphas_, 3))

# %%
# Figure 2: the function of every step
# ------------------------------------
# With ``alpha = 0`` every step fits the previous one's predictions only, and
# the functions collapse towards zero; with ``alpha = 0.25`` they converge to
# kernel ridge regression with penalty ``lambda / alpha`` (dashed, Theorem 4.5).
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True, layout="constrained")
for ax, (title, model) in zip(axes, models.items(), strict=True):
    DistillationPathDisplay.from_estimator(model, X, y, X_eval=grid, ax=ax)
    ax.plot(grid[:, 0], sinusoid(grid), color="crimson", alpha=0.6, label="sin(2 pi x)")
    ax.set_title(title)
    ax.legend(fontsize="x-small")

# %%
# Figure 3: the diagonal of B(tau)
# --------------------------------
# Lemma 4.2: each step multiplies the coefficients of the kernel's
# eigenbasis by the diagonal of ``B(tau)``, in [0, 1] and decreasing in
# ``tau`` for a fixed weight.
fig, axes = plt.subplots(1, 3, figsize=(13, 3.5), layout="constrained")
for ax, (title, model) in zip(axes, models.items(), strict=True):
    ShrinkageDiagonalDisplay.from_estimator(model, ax=ax)
    ax.set_title(title)

# %%
# Figure 4: the ratios of consecutive diagonal entries
# ----------------------------------------------------
# Theorem 4.3: with ``alpha = 0`` every ratio grows with ``tau`` (the small
# eigenvalues are shrunk ever faster); with ``alpha > 0`` they need not.
fig, axes = plt.subplots(1, 3, figsize=(13, 3.5), layout="constrained")
for ax, (title, model) in zip(axes, models.items(), strict=True):
    ShrinkageRatioDisplay.from_estimator(model, ax=ax)
    ax.set_title(title)

ratios = models["alpha = 0"].spectral_shrinkage().ratios
print("alpha = 0, every ratio increasing in tau:", bool(np.all(np.diff(ratios, axis=0) > 0)))
