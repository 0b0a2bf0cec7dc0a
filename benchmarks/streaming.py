"""Streamed fits: ``partial_fit`` over batches against one ``fit``, and against
scikit-learn-intelex's ``IncrementalRidge``.

Data: ``n`` rows of ``p`` standard normal features (default 10^6 x 200), the
target a linear function of them plus unit noise, generated batch by batch
from one seed (batches of 10^4 rows); 10^4 more rows are held out for the
test R^2. The batches are made first and held in memory (1.6 GB at the
default size), so that making them is neither timed nor between the calls;
every estimator sees the same batches in the same order, in this one process,
one after another, and the whole round is run ``--repeats`` times (9) so that
each time is a median of interleaved runs. This machine's timings drift by
15% from run to run, and a ratio of two medians carries that drift (1.07x to
1.14x for the same code in two runs of five rounds): each ratio is therefore
also taken within every round, between runs seconds apart, and reported as
the median of the rounds' ratios with their range:

1. ``SelfDistilledRidge(alpha=0.5, n_steps=5)``: ``partial_fit`` over the
   batches against one ``fit`` on their concatenation (target <= 1.1x);
2. scikit-learn-intelex's ``IncrementalRidge(alpha=1)`` fed the same batches,
   one fixed penalty and no cross-validation, against our 5-step chain with
   ``alpha="optimal"`` (Theorem 4.4 on 5 folds) and against
   ``SelfDistilledRidgeCV`` over 8 penalties x (11 weights and "optimal") x
   steps 1..8 and the limit on 5 folds (target: within 1.5x of the one
   fixed-penalty fit).

scikit-learn-intelex is a benchmark dependency only (``pip install
scikit-learn-intelex`` in the benchmark's own environment); without it, its
rows are skipped with a note. Run::

    python benchmarks/streaming.py                  # 10^6 x 200
    python benchmarks/streaming.py --n 100000       # a quick look

It prints the table and writes benchmarks/results/streaming.md and
streaming.png.
"""

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results"
SEARCH = {"reg_lambdas": list(np.logspace(-2, 4, 8)),
          "alphas": [round(a, 1) for a in np.linspace(0, 1, 11)] + ["optimal"],
          "max_steps": 8, "cv": 5}


def batches(n, p, batch_size, seed=0):
    """Yield ``(X, y)`` batches of a fixed linear problem, reproducibly."""
    coef = np.random.default_rng(seed).normal(size=p) / np.sqrt(p)
    for start in range(0, n, batch_size):
        rng = np.random.default_rng([seed, start])
        X = rng.normal(size=(min(batch_size, n - start), p))
        yield X, X @ coef + rng.normal(size=len(X))


def held_out(p, seed=0):
    """10^4 test rows of the same problem."""
    coef = np.random.default_rng(seed).normal(size=p) / np.sqrt(p)
    rng = np.random.default_rng([seed + 1, 0])
    X = rng.normal(size=(10_000, p))
    return X, X @ coef + rng.normal(size=len(X))


def streamed(estimator, stream):
    """Seconds of ``partial_fit`` over the batches of ``stream`` (made
    beforehand, so that making them is not timed and does not come between
    the calls) and of one prediction (the estimators finish their model when
    it is first used)."""
    start = time.perf_counter()
    for X, y in stream:
        estimator.partial_fit(X, y)
    estimator.predict(X[:1])
    return time.perf_counter() - start


def r2(estimator, X_test, y_test):
    residual = y_test - np.asarray(estimator.predict(X_test)).ravel()
    return 1.0 - residual @ residual / np.sum((y_test - y_test.mean()) ** 2)


def run(n, p, batch_size, repeats=9):
    from selfdistill_sklearn import SelfDistilledRidge, SelfDistilledRidgeCV

    X_test, y_test = held_out(p)
    # Warm-up, not timed: the first fit in a process pays for thread pools
    # and BLAS buffers, which would be charged to whichever estimator ran first.
    SelfDistilledRidge(n_steps=2).fit(X_test[:5000], y_test[:5000])
    SelfDistilledRidgeCV(reg_lambdas=[1.0], alphas=[0.5], max_steps=2).fit(X_test[:5000],
                                                                          y_test[:5000])
    try:
        from sklearnex.linear_model import IncrementalRidge
    except ImportError:
        IncrementalRidge = None
    stream = list(batches(n, p, batch_size))
    X, y = (np.concatenate(parts) for parts in zip(*stream, strict=True))

    def whole_fit(estimator):
        start = time.perf_counter()
        estimator.fit(X, y)
        return time.perf_counter() - start

    # (name, new estimator, timer, note): every repeat runs them all, in this
    # order, so that the machine's drifts reach each one alike.
    runs = [
        ("SelfDistilledRidge(alpha=0.5, n_steps=5).partial_fit",
         lambda: SelfDistilledRidge(alpha=0.5, n_steps=5, reg_lambda=1.0),
         lambda estimator: streamed(estimator, stream), lambda estimator: ""),
        ("SelfDistilledRidge(alpha=0.5, n_steps=5).fit (all rows)",
         lambda: SelfDistilledRidge(alpha=0.5, n_steps=5, reg_lambda=1.0), whole_fit,
         lambda estimator: ""),
    ]
    if IncrementalRidge is not None:
        runs.append(("sklearnex IncrementalRidge(alpha=1).partial_fit (fixed lambda)",
                     lambda: IncrementalRidge(alpha=1.0),
                     lambda estimator: streamed(estimator, stream), lambda estimator: ""))
    runs += [
        ('SelfDistilledRidge(alpha="optimal", n_steps=5, cv=5).partial_fit',
         lambda: SelfDistilledRidge(alpha="optimal", n_steps=5, reg_lambda=1.0, cv=5),
         lambda estimator: streamed(estimator, stream),
         lambda estimator: f"alphas {np.round(np.ravel(estimator.alphas_), 3).tolist()}"),
        ("SelfDistilledRidgeCV(8 lambdas x 12 alphas x tau <= 8).partial_fit",
         lambda: SelfDistilledRidgeCV(**SEARCH),
         lambda estimator: streamed(estimator, stream),
         lambda estimator: f"best {estimator.best_params_}"),
    ]
    seconds = {name: [] for name, *_ in runs}
    fitted = {}
    for repeat in range(repeats):
        for name, make, timer, _ in runs:
            estimator = make()
            seconds[name].append(timer(estimator))
            fitted[name] = estimator
            print(f"run {repeat + 1}/{repeats}: {name:62s} {seconds[name][-1]:8.2f} s",
                  flush=True)
    rows = []
    for name, _, _, note in runs:
        estimator = fitted[name]
        rows.append({"name": name, "seconds": float(np.median(seconds[name])),
                     "low": min(seconds[name]), "high": max(seconds[name]),
                     "runs": seconds[name],
                     "r2": r2(estimator, X_test, y_test), "note": note(estimator)})
        print(f"{name:62s} median {rows[-1]['seconds']:8.2f} s  test R2 "
              f"{rows[-1]['r2']:.5f} {rows[-1]['note']}", flush=True)
    names = [name for name, *_ in runs]
    difference = float(np.max(np.abs(fitted[names[0]].coef_ - fitted[names[1]].coef_)))
    print(f"max |coef difference| partial_fit vs fit: {difference:.2e}")
    return rows, difference, IncrementalRidge is not None


def paired(rows, numerator, denominator):
    """Median, smallest and largest of the ratios of two rows' times taken
    within each round."""
    top, bottom = rows[numerator], rows[denominator]
    ratios = np.divide(top["runs"], bottom["runs"])
    return (f"**{np.median(ratios):.2f}x** (rounds {ratios.min():.2f} - {ratios.max():.2f}; "
            f"ratio of the medians {top['seconds'] / bottom['seconds']:.2f})")


def write(rows, difference, have_intel, n, p, batch_size, repeats):
    lines = [
        "# Streamed fits: partial_fit against fit and against IncrementalRidge",
        "",
        f"{n} x {p} standard normal features, linear target plus unit noise, "
        f"batches of {batch_size} rows; test R^2 on 10^4 held-out rows. "
        f"One process, {repeats} runs of each, interleaved (the median, and the "
        f"fastest and slowest run), {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores. Written by `python benchmarks/streaming.py "
        f"--n {n} --p {p} --batch-size {batch_size} --repeats {repeats}`.",
        "",
        "| estimator | seconds (median) | fastest - slowest | test R^2 | note |",
        "|---|---:|---:|---:|---|",
    ]
    lines += [f"| {row['name']} | {row['seconds']:.2f} | {row['low']:.2f} - {row['high']:.2f} "
              f"| {row['r2']:.5f} | {row['note']} |" for row in rows]
    lines += ["", "Ratios are medians over the rounds of the ratio within each round (each "
              "round runs every estimator once, seconds apart), with their range.", "",
              f"* partial_fit / fit: {paired(rows, 0, 1)} (target <= 1.1x); "
              f"largest coefficient difference {difference:.1e}."]
    if have_intel:
        lines += [f"* 5-step chain with alpha* / IncrementalRidge: {paired(rows, 3, 2)}; the "
                  f"whole search / IncrementalRidge: {paired(rows, 4, 2)} "
                  "(target <= 1.5x). IncrementalRidge fits one fixed penalty with no "
                  "cross-validation; the search scores 856 candidates on 5 folds."]
    else:
        lines += ["* scikit-learn-intelex is not installed here: its row is missing."]
    (RESULTS / "streaming.md").write_text("\n".join(lines) + "\n")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 0.55 * len(rows) + 1.4))
    medians = np.array([row["seconds"] for row in rows])
    spread = np.array([[row["seconds"] - row["low"], row["high"] - row["seconds"]]
                       for row in rows]).T
    ax.barh(range(len(rows)), medians, xerr=spread, color="tab:blue", capsize=3)
    ax.set_yticks(range(len(rows)), [row["name"] for row in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("seconds, median (whiskers: fastest to slowest run; lower is better)")
    ax.set_title(f"Streamed fits over {n:,} x {p} in batches of {batch_size:,}", loc="left")
    fig.tight_layout()
    fig.savefig(RESULTS / "streaming.png", dpi=120)
    print(f"wrote {RESULTS / 'streaming.md'} and streaming.png")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--p", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    rows, difference, have_intel = run(args.n, args.p, args.batch_size, args.repeats)
    write(rows, difference, have_intel, args.n, args.p, args.batch_size, args.repeats)


if __name__ == "__main__":
    main()
