"""Demonstration: does self-distillation beat tuned kernel ridge regression?

Run ``python -m selfdistill_sklearn`` (``--help`` for options). On
scikit-learn's diabetes data and on ``make_friedman1``, or on your own table
(``--data FILE.csv --target COLUMN``, Parquet too), tuned ``KernelRidge`` and
a tuned ``SelfDistilledKernelRidgeCV`` are compared on the same random
splits, tuned on the same folds over the same wide grid of ``lambda`` and
``gamma`` (see :mod:`selfdistill_sklearn.demo`). It prints the test error of
each, its spread over the splits, the fit times, the gain or the loss as it
is, what to use, and the code that fits it; ``--output FILE`` writes the same
tables to a file.
"""

import argparse
import sys
from pathlib import Path

from .demo import (
    DATASETS,
    TABLE_SUFFIXES,
    Settings,
    describe,
    format_report,
    load,
    notes,
    preprocessor,
    recommendations,
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


def _data(text):
    """A built-in data set by name, or a table file by path."""
    if text in DATASETS:
        return text
    path = Path(text)
    if path.suffix.lower() in TABLE_SUFFIXES:
        if not path.is_file():
            raise argparse.ArgumentTypeError(f"no file {text!r}")
        return text
    raise argparse.ArgumentTypeError(
        f"expected one of {list(DATASETS)} or a .csv or .parquet file, got {text!r}")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m selfdistill_sklearn",
        description="Tuned KernelRidge against tuned SelfDistilledKernelRidgeCV, on the same "
                    "splits, folds and grid of lambda and gamma.",
    )
    parser.add_argument("--data", nargs="+", type=_data, default=list(DATASETS),
                        help=f"data sets to compare on: {', '.join(DATASETS)} (default: both), "
                             "or .csv / .parquet files (with --target; Parquet needs "
                             "pyarrow)")
    parser.add_argument("--target", default=None,
                        help="the column of the files to predict (numbers); the other "
                             "columns are the inputs: numeric ones standardised, the others "
                             "one-hot encoded")
    parser.add_argument("--splits", type=_positive_int, default=5,
                        help="random train/test splits, each tuned and scored (default 5)")
    parser.add_argument("--max-steps", "--n-steps", type=_positive_int, default=4,
                        dest="max_steps",
                        help="largest number of steps tau searched (default 4)")
    parser.add_argument("--folds", type=_positive_int, default=5,
                        help="cross-validation folds of each training part, for every method "
                             "(default 5)")
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
    if args.folds < 2:
        parser.error("argument --folds: expected a whole number >= 2, got 1")
    files = [name for name in args.data if name not in DATASETS]
    if files and args.target is None:
        parser.error(f"argument --target: the column to predict in {files[0]!r} is needed")
    if args.target is not None and not files:
        parser.error("argument --target: only used with a .csv or .parquet file in --data")
    if args.output is not None and not args.output.parent.is_dir():
        # Refused before a minute of fitting, not after.
        parser.error(f"argument --output: the folder {str(args.output.parent)!r} does not "
                     "exist")
    return args


def main(argv=None):
    args = parse_args(argv)
    settings = Settings(datasets=tuple(dict.fromkeys(args.data)), n_splits=args.splits,
                        max_steps=args.max_steps, test_size=args.test_size, seed=args.seed,
                        clip_alpha=args.clip, target=args.target, n_folds=args.folds)
    for name in settings.datasets:
        try:
            X, _ = load(name, settings.target)
        except (ValueError, OSError) as error:
            print(f"python -m selfdistill_sklearn: error: {error}", file=sys.stderr)
            return 2
        print(f"{name}: {describe(name, settings.target)}; inputs prepared by")
        print("    " + repr(preprocessor(X)).replace("\n", "\n    "))
    print(f"{settings.n_splits} random split(s), {100 * settings.test_size:g}% held out; "
          f"every method tuned by {settings.n_folds}-fold cross-validation on the training "
          "part, over the "
          "same 45 penalties (reg_lambdas='auto') for each gamma.\n", flush=True)
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
    print("\nWhat this means for you:")
    for line in recommendations(summaries, settings):
        print(line if "\n" not in line else "\n    " + line.replace("\n", "\n    ") + "\n")
    if args.output is not None:
        args.output.write_text(format_report(results, settings))
        print(f"\nWrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
