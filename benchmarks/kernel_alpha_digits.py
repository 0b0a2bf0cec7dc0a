"""The kernel twin of Figure 5: alpha*(tau) of the kernel classifier chain on
digits next to the network chain's alpha-hat(tau).

The network numbers are read from ``benchmarks/results/neural_net_alpha_digits.csv``
(written by ``benchmarks/neural_net_alpha.py``: a small CNN, 4 steps, 3
seeds, alpha-hat of the adapted Algorithm 1 on validation probabilities).
The kernel chain uses the same split of digits (50 % train, 25 %
validation, 25 % test, stratified, ``random_state=0``, pixels / 16):
``SelfDistilledKernelRidgeClassifier(alpha="optimal", n_steps=4,
clip_alpha=False)`` with the rbf kernel, its weights chosen on the same
validation data by eq. (16) pooled over the ten class columns. Its lambda and
gamma are those of the best first step on the validation data (squared error
on the encoded labels); the chains at 10 and 100 times that lambda show how
alpha* answers a first step that regularises too much. With an intercept,
alpha* is the same for labels encoded in {-1, 1} as for the one-hot {0, 1}
targets of the network (a constant shift and a scale of the targets leave
eq. (16) unchanged). Run::

    python benchmarks/kernel_alpha_digits.py

It writes benchmarks/results/kernel_alpha_digits.md and .png (seconds).
"""

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import LabelBinarizer  # noqa: E402

from selfdistill_sklearn import SelfDistilledKernelRidgeClassifier  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
NETWORK_CSV = RESULTS / "neural_net_alpha_digits.csv"
N_STEPS = 4
LAMBDAS = [float(v) for v in np.logspace(-5, 0, 11)]
GAMMAS = (0.01, 0.03, 0.1, 0.3)


def split_digits():
    """The split of benchmarks/neural_net_alpha.py."""
    X, y = load_digits(return_X_y=True)
    X = X / 16
    X_train, X_rest, y_train, y_rest = train_test_split(X, y, train_size=0.5, stratify=y,
                                                        random_state=0)
    X_val, X_test, y_val, y_test = train_test_split(X_rest, y_rest, train_size=0.5,
                                                    stratify=y_rest, random_state=0)
    return X_train, y_train, X_val, y_val, X_test, y_test


def network_chains():
    """alpha-hat (unclipped) and test accuracy per step and seed of the network."""
    import csv

    rows = list(csv.DictReader(NETWORK_CSV.open()))
    seeds = sorted({row["seed"] for row in rows})
    alphas = np.full((len(seeds), N_STEPS - 1), np.nan)
    accuracy = np.full((len(seeds), N_STEPS), np.nan)
    for row in rows:
        seed, step = seeds.index(row["seed"]), int(row["step"])
        if row["alpha"] == "alpha-hat unclipped":
            # Every chain of a seed shares its first network, which has no weight.
            if step > 1:
                alphas[seed, step - 2] = float(row["alpha_hat"])
            accuracy[seed, step - 1] = float(row["test_acc"])
    return alphas, accuracy


def main():
    X_train, y_train, X_val, y_val, X_test, y_test = split_digits()
    Y_val = LabelBinarizer(pos_label=1, neg_label=-1).fit(y_train).transform(y_val)
    sweeps = {}
    for gamma in GAMMAS:
        for reg_lambda in LAMBDAS:
            model = SelfDistilledKernelRidgeClassifier(
                alpha="optimal", n_steps=N_STEPS, reg_lambda=reg_lambda, kernel="rbf",
                gamma=gamma).fit(X_train, y_train, X_val=X_val, y_val=y_val)
            first = next(model.staged_decision_function(X_val))
            sweeps[reg_lambda, gamma] = {
                "first_error": float(np.mean((first - Y_val) ** 2)),
                "alphas": model.alphas_,
                "test": [float(np.mean(p == y_test)) for p in model.staged_predict(X_test)],
            }
    best_lambda, gamma = min(sweeps, key=lambda key: sweeps[key]["first_error"])
    sweep = {reg_lambda: sweeps[reg_lambda, gamma] for reg_lambda in LAMBDAS}
    net_alphas, net_accuracy = network_chains()
    write(best_lambda, gamma, sweep, net_alphas, net_accuracy)
    plot(best_lambda, gamma, sweep, net_alphas, net_accuracy)


def _steps(values, digits=3):
    return " | ".join(f"{v:.{digits}f}" for v in values)


def write(best_lambda, gamma, sweep, net_alphas, net_accuracy):
    lines = [
        "# alpha*(tau) of the kernel classifier chain against the network's alpha-hat (digits)",
        "",
        "Written by `benchmarks/kernel_alpha_digits.py`. Same split as "
        "`benchmarks/neural_net_alpha.py` (898 train, 449 validation, 450 test). Kernel: rbf "
        f"with gamma={gamma} (of {list(GAMMAS)}, with lambda, the best first step on the "
        "validation data: squared error on the encoded labels), every lambda of the sweep; "
        "weights chosen on the validation data by eq. (16) pooled over the 10 class columns, "
        f"unclipped. The best first step is at lambda={best_lambda:.3g}. Network: alpha-hat "
        "unclipped of the small CNN, 3 seeds, from `neural_net_alpha_digits.csv`.",
        "",
        "| chain | alpha(2) | alpha(3) | alpha(4) | validation MSE step 1 | test acc. step 1 "
        "| step 2 | step 3 | step 4 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for reg_lambda, result in sweep.items():
        mark = " (best step 1)" if reg_lambda == best_lambda else ""
        lines.append(f"| kernel, lambda = {reg_lambda:.2g}{mark} | {_steps(result['alphas'])} | "
                     f"{result['first_error']:.4f} | {_steps(result['test'])} |")
    for seed in range(net_alphas.shape[0]):
        lines.append(f"| network, seed {seed} | {_steps(net_alphas[seed])} | | "
                     f"{_steps(net_accuracy[seed])} |")
    lines.append(f"| network, mean | {_steps(np.nanmean(net_alphas, axis=0))} | | "
                 f"{_steps(np.nanmean(net_accuracy, axis=0))} |")
    (RESULTS / "kernel_alpha_digits.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def plot(best_lambda, gamma, sweep, net_alphas, net_accuracy):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lambdas = np.array(list(sweep))
    alphas = np.array([sweep[reg_lambda]["alphas"] for reg_lambda in lambdas])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = ("tab:blue", "tab:orange", "tab:green")
    for step, color in zip(range(2, N_STEPS + 1), colors, strict=True):
        left.plot(lambdas, alphas[:, step - 2], "-o", color=color, markersize=3,
                  label=rf"kernel $\alpha^*({step})$")
        low, high = np.nanmin(net_alphas[:, step - 2]), np.nanmax(net_alphas[:, step - 2])
        left.axhspan(low, high, color=color, alpha=0.12,
                     label=rf"network $\hat\alpha({step})$, 3 seeds")
    left.axvline(best_lambda, color="grey", linestyle=":", label="best first step")
    left.axhline(1.0, color="grey", linewidth=0.8)
    left.set(xscale="log", yscale="symlog", xlabel=r"$\lambda$ of the kernel chain",
             ylabel=r"weight of the ground truth $\alpha(\tau)$",
             title=rf"digits, rbf $\gamma$={gamma}: optimal weights (unclipped, symlog)")
    left.legend(fontsize=7, ncol=2)
    test = np.array([sweep[reg_lambda]["test"] for reg_lambda in lambdas])
    for step in range(1, N_STEPS + 1):
        right.plot(lambdas, test[:, step - 1], "-o", markersize=3, label=f"kernel, step {step}")
    network = np.nanmean(net_accuracy, axis=0)
    for step in range(1, N_STEPS + 1):
        right.axhline(network[step - 1], color="black", alpha=0.2 + 0.2 * step, linewidth=0.8,
                      linestyle="--", label=f"network $\\hat\\alpha$ chain, step {step}")
    right.axvline(best_lambda, color="grey", linestyle=":")
    right.set(xscale="log", xlabel=r"$\lambda$ of the kernel chain", ylabel="test accuracy",
              title="test accuracy per step")
    right.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(RESULTS / "kernel_alpha_digits.png", dpi=120)


if __name__ == "__main__":
    main()
