"""Bitwise fingerprint of SelfDistilledNeuralNet's outputs on the CPU.

Fits SmallCNN chains on sklearn's digits for fixed seeds (a fixed alpha, a
schedule and alpha="optimal") and saves, or compares against a saved file,
``predict_proba`` and ``alphas_`` bit for bit. Used to show that a
restructuring of the estimator changes none of its outputs::

    python benchmarks/neural_net_bitwise.py --save before.npz
    ... change the code ...
    python benchmarks/neural_net_bitwise.py --compare before.npz
"""

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from selfdistill_sklearn import SelfDistilledNeuralNet  # noqa: E402
from selfdistill_sklearn.networks import SmallCNN  # noqa: E402

CASES = {
    "fixed_0.5": {"alpha": 0.5, "n_steps": 3},
    "schedule": {"alpha": [0.2, 0.7], "n_steps": 3},
    "optimal_unclipped": {"alpha": "optimal", "n_steps": 3, "clip_alpha": False},
    "augment": {"alpha": 0.3, "n_steps": 2, "augment": True},
}


def outputs(seeds=(0, 1)):
    torch.set_num_threads(1)
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype("float32").reshape(-1, 1, 8, 8)
    result = {}
    for name, params in CASES.items():
        for seed in seeds:
            net = SelfDistilledNeuralNet(SmallCNN, lr=1e-2, max_epochs=2, batch_size=64,
                                         random_state=seed, verbose=0, device="cpu",
                                         **params)
            net.fit(X[:600], y[:600])
            result[f"{name}/{seed}/proba"] = net.predict_proba(X[600:900])
            result[f"{name}/{seed}/alphas"] = net.alphas_
            result[f"{name}/{seed}/unclipped"] = net.alphas_unclipped_
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--save", type=Path)
    group.add_argument("--compare", type=Path)
    args = parser.parse_args()
    result = outputs()
    if args.save:
        np.savez(args.save, **result)
        print(f"saved {len(result)} arrays to {args.save}")
        return 0
    saved = np.load(args.compare)
    differ = [k for k in result
              if result[k].tobytes() != saved[k].tobytes() or result[k].shape != saved[k].shape]
    for key in sorted(result):
        print(f"{key:32s} {'identical' if key not in differ else 'DIFFERENT'}")
    print(f"{len(result) - len(differ)}/{len(result)} arrays bitwise identical")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
