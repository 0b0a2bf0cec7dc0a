"""The default chain against its first network, and the spread of a single network.

For a small network trained briefly (where alpha-hat often comes out above
1), fits one network per seed (the run-to-run spread of a single network)
and, per seed, chains of 2 and 3 steps with the default weight (alpha-hat,
guarded) and with the former default, a fixed alpha = 0.5. Every fit holds
out its default 10% for validation; accuracies are measured on a test set
(30% of the data, stratified) that no fit sees. Minutes on a CPU::

    python benchmarks/neural_net_spread.py
"""

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from sklearn.datasets import load_digits, load_wine  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from selfdistill_sklearn import SelfDistilledNeuralNet  # noqa: E402
from selfdistill_sklearn.networks import MLP, SmallCNN  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SEEDS = range(8)
WEIGHTS = {"alpha-hat (default)": "optimal", "fixed 0.5 (former default)": 0.5}


def settings():
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    yield "wine, MLP(100), 2 epochs", X, y, dict(module=MLP, lr=1e-2, max_epochs=2)
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32).reshape(-1, 1, 8, 8)
    yield "digits, SmallCNN, 5 epochs", X, y, dict(module=SmallCNN, lr=1e-2, max_epochs=5)


def test_accuracy(X, y, X_test, y_test, **params):
    return SelfDistilledNeuralNet(verbose=0, device="cpu", **params).fit(X, y).score(
        X_test, y_test)


def main():
    torch.set_num_threads(1)
    lines = ["| setting | single network: mean ± sd | weight | steps | chain: mean "
             "| chains ending below first - sd | worst last - first |",
             "|---|---|---|---|---|---|---|"]
    for name, X, y, params in settings():
        X, X_test, y, y_test = train_test_split(X, y, test_size=0.3, random_state=0,
                                                stratify=y)
        first = np.array([test_accuracy(X, y, X_test, y_test, n_steps=1, random_state=s,
                                        **params) for s in SEEDS])
        spread = float(np.std(first))
        for label, alpha in WEIGHTS.items():
            for n_steps in (2, 3):
                last = np.array([test_accuracy(X, y, X_test, y_test, alpha=alpha,
                                               n_steps=n_steps, random_state=s, **params)
                                 for s in SEEDS])
                gaps = last - first
                lines.append(f"| {name} | {first.mean():.3f} ± {spread:.3f} | {label} "
                             f"| {n_steps} | {last.mean():.3f} "
                             f"| {int(np.sum(gaps < -spread))}/{len(gaps)} "
                             f"| {gaps.min():+.3f} |")
                print(lines[-1], flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "neural_net_spread.md").write_text(
        "# The default chain against its first network\n\n"
        "Test accuracy (30% of the data, stratified, seen by no fit) of the network each "
        "chain predicts with, against the first network of the same seed (a chain's first "
        f"network is the single network of its seed); {len(SEEDS)} seeds, every fit "
        "holding out its default 10% for validation, one thread, "
        "`python benchmarks/neural_net_spread.py`.\n\n"
        + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
