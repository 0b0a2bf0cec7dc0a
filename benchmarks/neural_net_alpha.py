"""Figure 5 of the paper: fixed alpha against the estimated alpha-hat, step by step.

For every seed, one chain of ``n_steps`` networks per fixed alpha in
{0, 0.1, ..., 0.9}, one with ``alpha="optimal"`` (the adapted Algorithm 1,
alpha-hat clipped to [0, 1] as by default) and one with alpha-hat unclipped
(``clip_alpha=False``, the paper's plain estimate; ``--no-unclipped`` skips
it), all sharing the initialisation of each step (the paper's Appendix B,
footnote 16). Records the training, validation and test accuracy of every
step, alpha-hat, the number of networks trained and the wall time of each
chain, and writes a markdown table, a CSV of the raw numbers and a plot in
the shape of Figure 5.

Two settings:

* sklearn's digits (the default): a small network, a train / validation /
  test split, minutes on two CPU cores::

      python benchmarks/neural_net_alpha.py

* the paper's ResNet-50 on CIFAR-10 (Section 5.1, Appendix B: Adam, lr 1e-4,
  lambda 1e-4, 75 epochs a step, crop-and-flip augmentation, validation on
  the 10000 test images), given a directory holding CIFAR-10 in
  torchvision's format (nothing is downloaded); hours on a GPU::

      python benchmarks/neural_net_alpha.py --cifar10-dir ~/data --seeds 4

  Options such as ``--n-train``, ``--max-epochs`` or ``--module resnet18``
  shrink it for a trial.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from skorch.callbacks import Callback  # noqa: E402

from selfdistill_sklearn import SelfDistilledNeuralNet  # noqa: E402
from selfdistill_sklearn.datasets import load_cifar10  # noqa: E402
from selfdistill_sklearn.networks import MLP, SmallCNN  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
OWN_MODULES = {"mlp": MLP, "small_cnn": SmallCNN}


class StepAccuracy(Callback):
    """After each network: accuracy on the clean training set and on a test set.

    The epoch's ``train_acc`` is measured on augmented batches while the
    weights change; the paper's training accuracy is that of the trained
    network on the training data, recorded here as ``train_accuracy``.
    """

    def __init__(self, X_train, y_train, X_test=None, y_test=None):
        self.X_train = X_train
        self.y_train = y_train
        self.X_test = X_test
        self.y_test = y_test

    def on_train_end(self, net, **kwargs):
        net.history.record("train_accuracy", net.score(self.X_train, self.y_train))
        if self.X_test is not None:
            net.history.record("test_acc", net.score(self.X_test, self.y_test))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cifar10-dir", help="directory holding cifar-10-batches-py")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (3 / 4)")
    parser.add_argument("--n-steps", type=int, default=None, help="digits: 4, CIFAR: 5")
    parser.add_argument("--alphas", default="0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9",
                        help="comma-separated fixed alphas")
    parser.add_argument("--module", default=None,
                        help="mlp, small_cnn or a torchvision name (digits: small_cnn, "
                             "CIFAR-10: resnet50)")
    parser.add_argument("--hidden", type=int, default=256, help="width of the mlp")
    parser.add_argument("--max-epochs", type=int, default=None, help="digits: 25, CIFAR: 75")
    parser.add_argument("--lr", type=float, default=None, help="digits: 3e-3, CIFAR: 1e-4")
    parser.add_argument("--reg-lambda", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=None, help="128")
    parser.add_argument("--n-train", type=int, default=None, help="CIFAR: first n images")
    parser.add_argument("--n-test", type=int, default=None, help="CIFAR: first n images")
    parser.add_argument("--no-augment", action="store_true", help="CIFAR: no crop and flip")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--mixed-precision", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--out-dir", default=str(RESULTS))
    parser.add_argument("--name", default=None,
                        help="file name stem (neural_net_alpha_digits / _cifar10)")
    parser.add_argument("--no-unclipped", dest="unclipped", action="store_false",
                        help="skip the chain with alpha-hat unclipped (clip_alpha=False)")
    parser.add_argument("--verbose", type=int, default=0)
    return parser.parse_args(argv)


def load_data(args):
    """Training, validation (for alpha-hat) and test data, and the settings."""
    if args.cifar10_dir:
        data = load_cifar10(args.cifar10_dir, n_train=args.n_train, n_test=args.n_test)
        # The paper validates on the 10000 test images; there is no third set.
        settings = dict(module="resnet50", max_epochs=75, lr=1e-4, batch_size=128, seeds=4,
                        n_steps=5, name="neural_net_alpha_cifar10", augment=not args.no_augment)
        return (data.X_train, data.y_train, data.X_test, data.y_test, None, None), settings
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32).reshape(-1, 1, 8, 8)
    X_train, X_rest, y_train, y_rest = train_test_split(
        X, y, train_size=0.5, stratify=y, random_state=0
    )
    X_val, X_test, y_val, y_test = train_test_split(
        X_rest, y_rest, train_size=0.5, stratify=y_rest, random_state=0
    )
    # A small CNN that nearly fits the training half: the regime of the paper,
    # where distillation regularises a network that does not underfit.
    settings = dict(module="small_cnn", max_epochs=25, lr=3e-3, batch_size=128, seeds=3,
                    n_steps=4, name="neural_net_alpha_digits", augment=False)
    return (X_train, y_train, X_val, y_val, X_test, y_test), settings


def run(args):
    (X_train, y_train, X_val, y_val, X_test, y_test), settings = load_data(args)
    for key in ("module", "max_epochs", "lr", "batch_size", "seeds", "n_steps", "name"):
        if getattr(args, key, None) is not None:
            settings[key] = getattr(args, key)
    fixed = [float(a) for a in args.alphas.split(",") if a.strip()]
    module = OWN_MODULES.get(settings["module"], settings["module"])
    module_params = {"module__hidden_layer_sizes": (args.hidden,)} if module is MLP else {}
    rows = []
    for seed in range(settings["seeds"]):
        chains = [*fixed, "optimal"] + (["unclipped"] if args.unclipped else [])
        for alpha in chains:
            net = SelfDistilledNeuralNet(
                module, alpha="optimal" if alpha == "unclipped" else alpha,
                clip_alpha=alpha != "unclipped",
                n_steps=settings["n_steps"], reg_lambda=args.reg_lambda,
                lr=settings["lr"], max_epochs=settings["max_epochs"],
                batch_size=settings["batch_size"], augment=settings["augment"],
                device=args.device, mixed_precision=args.mixed_precision, random_state=seed,
                verbose=args.verbose,
                callbacks=[("step_accuracy", StepAccuracy(X_train, y_train, X_test, y_test))],
                **module_params,
            )
            start = time.perf_counter()
            net.fit(X_train, y_train, X_val=X_val, y_val=y_val)
            wall = time.perf_counter() - start
            chain = net.step_scores()
            chain = chain[~chain["probe"]]
            label = {"optimal": "alpha-hat", "unclipped": "alpha-hat unclipped"}.get(
                alpha, alpha if isinstance(alpha, str) else f"{alpha:.1f}")
            for _, step in chain.iterrows():
                rows.append(dict(
                    seed=seed, alpha=label, step=int(step["step"]),
                    alpha_used=float(step["alpha"]) if step["step"] > 1 else np.nan,
                    alpha_hat=(float(net.alphas_unclipped_[int(step["step"]) - 2])
                               if isinstance(alpha, str) and step["step"] > 1 else np.nan),
                    train_acc=step["train_accuracy"], valid_acc=step["valid_acc"],
                    test_acc=step.get("test_acc", np.nan), n_fits=net.n_fits_,
                    chain_seconds=wall,
                ))
            print(f"seed {seed} alpha {label:>9}: {net.n_fits_} fits, {wall:6.1f} s, "
                  f"valid acc per step "
                  + " ".join(f"{a:.3f}" for a in chain["valid_acc"])
                  + ("" if not isinstance(alpha, str) else
                     "; alpha-hat " + " ".join(f"{a:.3f}" for a in net.alphas_unclipped_)),
                  flush=True)
    return rows, settings


def _summary(frame, column):
    stats = frame.groupby(["alpha", "step"], sort=False)[column].agg(["mean", "min", "max"])
    table = stats.apply(lambda r: f"{r['mean']:.4f} [{r['min']:.3f}, {r['max']:.3f}]", axis=1)
    return table.unstack("step")


def write_report(rows, settings, args, seconds):
    import pandas as pd

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = settings["name"]
    frame = pd.DataFrame(rows)
    frame.to_csv(out / f"{stem}.csv", index=False)
    has_test = frame["test_acc"].notna().any()
    n_steps = settings["n_steps"]
    g = int((~frame["alpha"].str.startswith("alpha-hat")).groupby(frame["alpha"]).first().sum())
    lines = [
        f"# Fixed alpha against alpha-hat, step by step ({stem})",
        "",
        f"Module `{settings['module']}`, {n_steps} steps, {settings['max_epochs']} epochs a "
        f"network, lr {settings['lr']}, lambda {args.reg_lambda}, batch "
        f"{settings['batch_size']}, augmentation {'on' if settings['augment'] else 'off'}, "
        f"{frame['seed'].nunique()} seeds. Mean [min, max] over the seeds. Every chain of a "
        "seed starts from the same network at each step; alpha-hat is estimated on the "
        "validation data" + (", and the test data are used for nothing else." if has_test
                             else " (the paper's protocol: validation on the test images)."),
        f"Total time {seconds / 60:.1f} min; torch {torch.__version__}, device "
        f"{args.device}. Command: `{args.command}`",
        "",
        "## Validation accuracy per step",
        "",
        _summary(frame, "valid_acc").to_markdown(),
        "",
    ]
    if has_test:
        lines += ["## Test accuracy per step", "", _summary(frame, "test_acc").to_markdown(), ""]
    lines += ["## Training accuracy per step (trained network on the training data)", "",
              _summary(frame, "train_acc").to_markdown(), ""]
    hat = frame[frame["alpha"].str.startswith("alpha-hat") & (frame["step"] > 1)]
    if len(hat):
        stats = hat.groupby(["alpha", "step"])[["alpha_hat", "alpha_used"]].agg(
            ["mean", "min", "max"])
        stats.columns = [f"{a} {b}" for a, b in stats.columns]
        lines += ["## alpha-hat per step", "",
                  "`alpha_hat`: the estimate of Algorithm 1; `alpha_used`: the weight "
                  "trained with (clipped to [0, 1] by default, `clip_alpha=True`).", "",
                  stats.to_markdown(floatfmt=".4f"), ""]
    cost = frame.groupby("alpha", sort=False).agg(
        fits=("n_fits", "first"), seconds=("chain_seconds", "mean"),
        last_valid=("valid_acc", lambda s: s[frame.loc[s.index, "step"] == n_steps].mean()),
    )
    lines += [
        "## Networks trained and wall time per chain (mean over seeds)",
        "",
        cost.to_markdown(floatfmt=".4f"),
        "",
        f"A grid search over these {g} values of alpha (one alpha for all steps, the first "
        f"network shared) trains g(tau - 1) + 1 = {g * (n_steps - 1) + 1} networks; alpha-hat "
        f"trains 2(tau - 1) + 1 = {2 * (n_steps - 1) + 1}.",
        "",
    ]
    (out / f"{stem}.md").write_text("\n".join(lines))
    plot(frame, out / f"{stem}.png", has_test, stem)
    return out / f"{stem}.md"


def plot(frame, path, has_test, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [("train_acc", "training accuracy"), ("valid_acc", "validation accuracy")]
    if has_test:
        columns.append(("test_acc", "test accuracy"))
    fig, axes = plt.subplots(1, len(columns), figsize=(4.2 * len(columns), 3.6))
    fixed = [a for a in frame["alpha"].unique() if not a.startswith("alpha-hat")]
    colours = plt.cm.viridis(np.linspace(0, 0.95, len(fixed)))
    for ax, (column, label) in zip(np.atleast_1d(axes), columns, strict=True):
        hats = [("alpha-hat", "black", "--", r"$\hat\alpha$ (clipped)"),
                ("alpha-hat unclipped", "tab:red", ":", r"$\hat\alpha$ unclipped")]
        lines = [(a, c, "-", rf"$\alpha$={a}") for a, c in zip(fixed, colours, strict=True)]
        for alpha, colour, style, name in lines + hats:
            if alpha not in set(frame["alpha"]):
                continue
            stats = frame[frame["alpha"] == alpha].groupby("step")[column]
            mean, low, high = stats.mean(), stats.min(), stats.max()
            hat = alpha == "alpha-hat"
            ax.plot(mean.index, mean.values, color=colour, lw=2.2 if style != "-" else 1.2,
                    ls=style, marker="o", ms=3, label=name, zorder=3 if style != "-" else 2)
            if hat:
                ax.fill_between(mean.index, low.values, high.values, color="0.6", alpha=0.35)
        ax.set_xlabel("distillation step")
        ax.set_ylabel(label)
        ax.set_xticks(sorted(frame["step"].unique()))
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[-1].legend(fontsize="x-small", ncol=2, loc="lower left")
    fig.suptitle(f"{title}: mean over seeds (band: min/max of alpha-hat)", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    args.command = " ".join(["python benchmarks/neural_net_alpha.py",
                             *(sys.argv[1:] if argv is None else argv)])
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    rows, settings = run(args)
    report = write_report(rows, settings, args, time.perf_counter() - start)
    print(report.read_text())
    return report


if __name__ == "__main__":
    main()
