"""Overhead of SelfDistilledNeuralNet over a plain PyTorch loop, side by side.

One network (``n_steps=1``) on sklearn's digits (1797 images of 1x8x8),
``SmallCNN``, 10 epochs, batch 128, Adam with the same learning rate and
weight decay, the same loss (eq. (18) with alpha = 1), no validation split,
on the CPU with one thread. The plain loop shuffles with ``torch.randperm``,
indexes the tensors and records the loss of every batch (as any loop that
reports its training loss); the estimator's time is the whole ``fit``:
checking the data, building the network, the epochs and skorch's history
and callbacks. Both run alternately in one process, several times; the
ratio of the medians is reported::

    python benchmarks/neural_net_overhead.py            # about a minute
    python benchmarks/neural_net_overhead.py --repeats 3 --epochs 2   # a dry run

Writes ``benchmarks/results/neural_net_overhead.md``.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from selfdistill_sklearn import SelfDistilledNeuralNet  # noqa: E402
from selfdistill_sklearn.networks import SmallCNN, build_network  # noqa: E402
from selfdistill_sklearn.neural_net import self_distillation_loss  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
LR = 1e-2
REG_LAMBDA = 1e-4


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=str(RESULTS / "neural_net_overhead.md"))
    parser.add_argument("--profile", action="store_true",
                        help="print cProfile's top functions of one estimator fit")
    return parser.parse_args(argv)


def synchronize(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def plain_loop(X, y, args, seed):
    """One network trained as the estimator trains it, written directly."""
    start = time.perf_counter(), time.process_time()
    X = torch.as_tensor(X, device=args.device)
    y = torch.as_tensor(y, device=args.device)
    torch.manual_seed(seed)
    net = build_network(SmallCNN, X.shape[1:], 10).to(args.device)
    optimizer = torch.optim.Adam(net.parameters(), lr=LR, weight_decay=REG_LAMBDA)
    losses = []
    for _ in range(args.epochs):
        net.train()
        for batch in torch.randperm(len(X), device=args.device).split(args.batch_size):
            optimizer.zero_grad()
            loss = self_distillation_loss(net(X[batch]), y[batch])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    synchronize(args.device)
    return time.perf_counter() - start[0], time.process_time() - start[1]


def estimator(X, y, args, seed):
    net = SelfDistilledNeuralNet(
        SmallCNN, n_steps=1, lr=LR, reg_lambda=REG_LAMBDA, max_epochs=args.epochs,
        batch_size=args.batch_size, validation_fraction=None, device=args.device,
        random_state=seed, verbose=0,
    )
    start = time.perf_counter(), time.process_time()
    net.fit(X, y)
    synchronize(args.device)
    return time.perf_counter() - start[0], time.process_time() - start[1]


def measure(args):
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32).reshape(-1, 1, 8, 8)
    y = y.astype(np.int64)
    estimator(X, y, args, 0)  # warm-up: imports, first allocations
    plain_loop(X, y, args, 0)
    plain, wrapped = [], []
    for repeat in range(args.repeats):
        # Alternate the order so that drifting load on a shared machine
        # falls on both alike.
        runs = [("plain", plain_loop), ("estimator", estimator)]
        for name, run in runs if repeat % 2 == 0 else runs[::-1]:
            (plain if name == "plain" else wrapped).append(run(X, y, args, repeat))
    return X, y, plain, wrapped


def profile(X, y, args):
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    estimator(X, y, args, 0)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    X, y, plain, wrapped = measure(args)
    rows, ratios = [], {}
    for clock, index in (("wall", 0), ("CPU", 1)):
        p = [run[index] for run in plain]
        w = [run[index] for run in wrapped]
        ratios[clock] = statistics.median(w) / statistics.median(p)
        pairs = ", ".join(f"{a / b:.2f}" for a, b in zip(w, p, strict=True))
        rows.append(f"| {clock} | {statistics.median(p):.3f} [{min(p):.3f}, {max(p):.3f}] | "
                    f"{statistics.median(w):.3f} [{min(w):.3f}, {max(w):.3f}] | "
                    f"**{ratios[clock]:.3f}** | {pairs} |")
    lines = [
        "# Overhead of SelfDistilledNeuralNet over a plain PyTorch loop",
        "",
        f"One network, digits ({len(y)} images of 1x8x8), SmallCNN, {args.epochs} epochs, "
        f"batch {args.batch_size}, Adam (lr {LR}, weight decay {REG_LAMBDA}), eq. (18) with "
        f"alpha = 1, no validation split, device {args.device}, {args.threads} thread(s); "
        f"{args.repeats} alternating runs of each in one process, torch {torch.__version__}. "
        "The estimator's time is its whole fit (checks, building the network, skorch's "
        "history and callbacks). On a machine shared with other work wall times are "
        "noisy; the CPU time of this one-threaded process is what it spent itself.",
        "",
        "| clock | plain loop, s: median [min, max] | estimator fit, s | ratio of medians "
        "| ratio per pair |",
        "|:--|--:|--:|--:|:--|",
        *rows,
        "",
        "Command: `python benchmarks/neural_net_overhead.py "
        + " ".join(sys.argv[1:] if argv is None else argv) + "`",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    if args.profile:
        profile(X, y, args)
    return ratios


if __name__ == "__main__":
    main()
