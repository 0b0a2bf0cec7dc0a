"""
=======================================================
A chain of networks on digits, with the estimated alpha
=======================================================

:class:`~selfdistill_sklearn.SelfDistilledNeuralNet` (the ``torch`` extra)
trains a chain of networks with the loss of the paper's eq. (18),
``alpha MSE(softmax, one-hot) + (1 - alpha) MSE(softmax, teacher's softmax)``,
and weight decay ``lambda``. With ``alpha="optimal"`` it estimates
``alpha-hat`` at every step with the adapted Algorithm 1 (Section 5): a probe
network trained with ``alpha = 0`` gives the validation probabilities of
Theorem 4.4's formula, then the step trains with ``alpha-hat``, clipped to
[0, 1]. Here a small convolutional network on scikit-learn's 8 x 8 digits, for
a few epochs (seconds on a CPU); the paper's setting is a ResNet-50 on
CIFAR-10 for 75 epochs a step (see :ref:`networks`).
"""

# %%
# Train the chain
# ---------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from selfdistill_sklearn import SelfDistilledNeuralNet
from selfdistill_sklearn.networks import SmallCNN

X, y = load_digits(return_X_y=True)
X = (X / 16).astype("float32").reshape(-1, 1, 8, 8)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0,
                                                    stratify=y)

net = SelfDistilledNeuralNet(SmallCNN, alpha="optimal", n_steps=3, lr=1e-2, max_epochs=4,
                             random_state=0, verbose=0)
net.fit(X_train, y_train)  # 2 (n_steps - 1) + 1 = 5 networks
print("alpha-hat used (clipped):", np.round(net.alphas_, 3))
print("alpha-hat estimated     :", np.round(net.alphas_unclipped_, 3))
print("step that validated best:", net.best_step_)

# %%
# Networks trained for a few epochs are far from converged, and ``alpha-hat``
# tends to come out above 1: the teacher is taken as too regularised (the
# paper's footnote 10, :ref:`optimal_alpha`). Above 1 the loss would reward
# disagreeing with the teacher, so ``clip_alpha=True`` (the default) trains
# with the clipped weight and keeps the estimate in ``alphas_unclipped_``.

# %%
# Every network of the chain
# --------------------------
# One row per trained network: the steps, and the ``alpha = 0`` probes that
# Algorithm 1 trains to estimate each step's weight.
scores = net.step_scores()
print(scores[["step", "probe", "alpha", "valid_acc"]].to_string(index=False))

# %%
# Accuracy of each step
# ---------------------
# The validation accuracy that the chain recorded for each step's network
# (the probes left out), and the final network on the held-out test quarter.
steps = scores[~scores["probe"]]
fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
ax.plot(steps["step"], steps["valid_acc"], marker="o")
ax.set(xlabel="step", ylabel="validation accuracy", xticks=steps["step"])
print(f"test accuracy of the last step: {np.mean(net.predict(X_test) == y_test):.3f}")
