"""What the stable moments of the primal estimators cost against plain Gram sums.

The pass of ``SelfDistilledRidge`` over ``make_friedman1`` rows with a fitted
``Nystroem(n_components=1000)`` map, one lane with one BLAS thread (as each
lane of the estimators' pass runs), blocks of 4096 rows, timed side by side in
one process:

* ``features``: the map's ``transform`` of every block, nothing else;
* ``plain Gram``: features, then ``G += Z^T Z`` of the raw block ``Z = [phi, y]``
  (one ``syrk``, the sums a textbook streamed ridge keeps, which lose digits
  to cancellation when the features have a large mean);
* ``centred moments``: the estimators' fixed-alpha pass: each block centred at
  its own weighted mean, then merged by Chan, Golub and LeVeque's update;
* ``QR roots``: the pass of a fold search, a triangular root per cell updated
  by LAPACK's ``tpqrt`` (held-out errors as norms).

Each is run three times, interleaved, and the fastest kept. Writes
``benchmarks/results/moments_cost.md``::

    python benchmarks/moments_cost.py --n 100000
"""

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import make_friedman1
from sklearn.kernel_approximation import Nystroem
from threadpoolctl import threadpool_limits

from selfdistill_sklearn._primal import Moments, block_moments

RESULTS = Path(__file__).resolve().parent / "results"
BLOCK = 4096


def run(kind, feature_map, X, y):
    m = feature_map.n_components
    gram = np.zeros((m + 1, m + 1))
    cell = Moments.empty(m + 1, root=kind == "QR roots")
    for start in range(0, X.shape[0], BLOCK):
        features = feature_map.transform(X[start:start + BLOCK])
        if kind == "features":
            continue
        Z = np.empty((features.shape[0], m + 1))
        Z[:, :m] = features
        Z[:, m] = y[start:start + BLOCK]
        if kind == "plain Gram":
            gram += Z.T @ Z
        else:
            cell = block_moments(Z, root=kind == "QR roots", into=cell, overwrite=True)
    return cell


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    X, y = make_friedman1(n_samples=args.n, noise=1.0, random_state=0)
    feature_map = Nystroem(gamma=0.1, n_components=1000, random_state=0).fit(X)
    kinds = ("features", "plain Gram", "centred moments", "QR roots")
    best = dict.fromkeys(kinds, np.inf)
    for _ in range(3):
        for kind in kinds:
            start = time.perf_counter()
            with threadpool_limits(limits=1, user_api="blas"):
                run(kind, feature_map, X, y)
            best[kind] = min(best[kind], time.perf_counter() - start)
            print(kind, f"{best[kind]:.2f} s", flush=True)
    sums = {kind: best[kind] - best["features"] for kind in kinds[1:]}
    lines = ["# What the stable moments cost", "",
             f"n = {args.n} rows of `make_friedman1`, Nystroem m = 1000, blocks of {BLOCK} rows, "
             "one lane with one BLAS thread, fastest of three interleaved runs in one process "
             "(2 shared cores).", "",
             "| pass | time (s) | sums only (s) | sums / plain Gram |", "|---|---|---|---|"]
    for kind in kinds:
        if kind == "features":
            lines.append(f"| features only | {best[kind]:.2f} |  |  |")
        else:
            lines.append(f"| {kind} | {best[kind]:.2f} | {sums[kind]:.2f} | "
                         f"{sums[kind] / sums['plain Gram']:.2f} |")
    lines += ["", f"Centred moments cost {best['centred moments'] / best['plain Gram']:.2f}x "
              "the whole plain-Gram pass; QR roots (fold searches only) "
              f"{best['QR roots'] / best['plain Gram']:.2f}x."]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "moments_cost.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
