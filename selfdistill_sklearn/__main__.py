"""Demonstration: does self-distillation beat tuned kernel ridge regression?

Run ``python -m selfdistill_sklearn`` (``--help`` for options). On
scikit-learn's diabetes data and on ``make_friedman1``, tuned
``KernelRidge`` and a tuned ``SelfDistilledKernelRidgeCV`` are compared on
the same random splits, tuned on the same folds over the same grid of
``lambda`` and ``gamma`` (see :mod:`selfdistill_sklearn.demo`). It prints
the test error of each, its spread over the splits, the fit times, and the
gain or the loss as it is; ``--output FILE`` writes the same tables to a
file.
"""

import argparse
import sys
from pathlib import Path

from .demo import (
    DATASETS,
    Settings,
    format_report,
    notes,
    run,
    summarise,
    summary_table,
    verdicts,
)


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value}")
    return value


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction strictly between 0 and 1, "
                                         f"got {value:g}")
    return value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m selfdistill_sklearn",
        description="Tuned KernelRidge against tuned SelfDistilledKernelRidgeCV, on the same "
                    "splits, folds and grid of lambda and gamma.",
    )
    parser.add_argument("--data", nargs="+", choices=list(DATASETS), default=list(DATASETS),
                        help="data sets to compare on (default: all)")
    parser.add_argument("--splits", type=_positive_int, default=5,
                        help="random train/test splits, each tuned and scored (default 5)")
    parser.add_argument("--max-steps", "--n-steps", type=_positive_int, default=4,
                        dest="max_steps",
                        help="largest number of steps tau searched (default 4)")
    parser.add_argument("--test-size", type=_fraction, default=0.25,
                        help="fraction of each data set held out for testing (default 0.25)")
    parser.add_argument("--seed", type=_non_negative_int, default=0,
                        help="split k uses random_state seed + k (default 0)")
    parser.add_argument("--clip", action="store_true",
                        help="clip the optimal weights alpha* to [0, 1]")
    parser.add_argument("--output", type=Path, default=None,
                        help="also write the tables, and every split, to this file")
    parser.add_argument("--quiet", action="store_true", help="do not report progress")
    args = parser.parse_args(argv)
    if args.output is not None and not args.output.parent.is_dir():
        # Refused before a minute of fitting, not after.
        parser.error(f"argument --output: the folder {str(args.output.parent)!r} does not "
                     "exist")
    return args


def main(argv=None):
    args = parse_args(argv)
    settings = Settings(datasets=tuple(dict.fromkeys(args.data)), n_splits=args.splits,
                        max_steps=args.max_steps, test_size=args.test_size, seed=args.seed,
                        clip_alpha=args.clip)
    for name in settings.datasets:
        print(f"{name}: {DATASETS[name][1]}")
    print(f"{settings.n_splits} random split(s), {100 * settings.test_size:g}% held out; "
          "every method tuned by 5-fold cross-validation on the training part.\n", flush=True)
    progress = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    results = run(settings, progress=progress)
    summaries = summarise(results)
    print(summary_table(summaries))
    print("\nMSE / KernelRidge is the ratio of test errors on the same split (below 1: "
          "better), averaged over the splits; fit times include the search.\n")
    for line in verdicts(summaries):
        print(line)
    found = notes(results, settings)
    if found:
        print("\nNotes:")
        for line in found:
            print(f"- {line}")
    if args.output is not None:
        args.output.write_text(format_report(results, settings))
        print(f"\nWrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
