"""GPU check: ResNet-50 self-distillation with alpha-hat, and the wrapper's overhead.

One command, a few minutes on one GPU::

    python benchmarks/gpu_check.py

and the same path on the CPU, shrunk to seconds::

    python benchmarks/gpu_check.py --device cpu --tiny

On synthetic, learnable 3x32x32 images (class templates plus noise; nothing
is downloaded) it

1. trains ResNet-50 (the small-image stem of the package) with a plain
   PyTorch loop: data on the device, the same loss, optimiser, augmentation
   and a validation pass per epoch;
2. trains the same network with ``SelfDistilledNeuralNet(n_steps=1)``;
3. runs ``SelfDistilledNeuralNet(alpha="optimal", n_steps=3)``;

and prints training images per second for each, the ratio of the first two
(the overhead of skorch and the wrapper), alpha-hat, and the validation
accuracy of every network. Last it runs ``benchmarks/neural_net_overhead.py``
on the same device (one SmallCNN on digits against a plain loop, side by
side) and writes its table to ``results/neural_net_overhead_<device>.md``
(``--tiny`` writes nowhere).
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import neural_net_overhead  # noqa: E402

from selfdistill_sklearn import SelfDistilledNeuralNet  # noqa: E402
from selfdistill_sklearn.networks import build_network, random_crop_flip  # noqa: E402
from selfdistill_sklearn.neural_net import self_distillation_loss  # noqa: E402


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true",
                        help="40 images of 8x8, one epoch, two steps: for a CPU")
    parser.add_argument("--module", default="resnet50")
    parser.add_argument("--n-train", type=int, default=8192)
    parser.add_argument("--n-val", type=int, default=2048)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--n-steps", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--amp", action="store_true", help="mixed precision (CUDA)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.tiny:
        args.n_train, args.n_val, args.image_size = 40, 20, 8
        args.epochs, args.batch_size, args.n_steps = 1, 20, 2
    return args


def synthetic_images(n, size, n_classes, rng, templates=None):
    """Images whose class sets a smooth template, under heavy pixel noise."""
    if templates is None:
        coarse = rng.randn(n_classes, 3, 4, 4)
        templates = np.kron(coarse, np.ones((1, 1, size // 4, size // 4)))
    y = rng.permutation(np.arange(n) % n_classes)  # every class, even in tiny sets
    X = templates[y] + 2.0 * rng.randn(n, 3, size, size)
    return X.astype(np.float32), y.astype(np.int64), templates


def synchronize(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def plain_loop(args, data):
    """The same training as one step of the estimator, written directly."""
    X, y, X_val, y_val = (torch.as_tensor(a, device=args.device) for a in data)
    torch.manual_seed(args.seed)
    net = build_network(args.module, X.shape[1:], 10).to(args.device)
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr, weight_decay=1e-4)
    amp = args.amp and torch.device(args.device).type == "cuda"
    scaler = torch.amp.GradScaler("cuda") if amp else None
    autocast = torch.autocast("cuda", dtype=torch.float16, enabled=amp)
    synchronize(args.device)
    start = time.perf_counter()
    for _ in range(args.epochs):
        net.train()
        for batch in torch.randperm(len(X), device=args.device).split(args.batch_size):
            Xi = random_crop_flip(X[batch])
            optimizer.zero_grad()
            with autocast:
                loss = self_distillation_loss(net(Xi), y[batch])
            if scaler is None:
                loss.backward()
                optimizer.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
        net.eval()
        correct = 0
        with torch.no_grad(), autocast:
            for batch in torch.arange(len(X_val), device=args.device).split(args.batch_size):
                correct += (net(X_val[batch]).argmax(1) == y_val[batch]).sum().item()
    synchronize(args.device)
    seconds = time.perf_counter() - start
    return args.epochs * len(X) / seconds, correct / len(X_val)


def estimator(args, alpha, n_steps):
    return SelfDistilledNeuralNet(
        args.module, alpha=alpha, n_steps=n_steps, lr=args.lr, max_epochs=args.epochs,
        batch_size=args.batch_size, augment=True, mixed_precision=args.amp,
        device=args.device, random_state=args.seed, verbose=0,
    )


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("No CUDA device here; run with --device cpu --tiny.")
    name = (torch.cuda.get_device_name(args.device) if torch.device(args.device).type == "cuda"
            else "CPU")
    print(f"device {args.device} ({name}), torch {torch.__version__}, module {args.module}, "
          f"{args.n_train} training / {args.n_val} validation images of "
          f"3x{args.image_size}x{args.image_size}, {args.epochs} epochs, batch "
          f"{args.batch_size}, mixed precision {args.amp}", flush=True)
    rng = np.random.RandomState(args.seed)
    X, y, templates = synthetic_images(args.n_train, args.image_size, 10, rng)
    X_val, y_val, _ = synthetic_images(args.n_val, args.image_size, 10, rng, templates)

    plain_rate, plain_acc = plain_loop(args, (X, y, X_val, y_val))
    print(f"plain PyTorch loop      : {plain_rate:9.1f} images/s, validation accuracy "
          f"{plain_acc:.4f}", flush=True)

    single = estimator(args, 0.5, 1)
    start = time.perf_counter()
    single.fit(X, y, X_val=X_val, y_val=y_val)
    seconds = time.perf_counter() - start
    # Epoch durations hold training and validation, as the plain loop's timing;
    # the whole fit adds building the network and checking the data.
    epochs_rate = args.epochs * len(X) / sum(row["dur"] for row in single.history)
    single_rate = args.epochs * len(X) / seconds
    print(f"estimator, one step     : {epochs_rate:9.1f} images/s in its epochs, "
          f"{single_rate:.1f} over the whole fit, validation accuracy "
          f"{single.step_scores()['valid_acc'].iloc[-1]:.4f}", flush=True)
    print(f"overhead (plain / estimator): {plain_rate / epochs_rate:.2f} in the epochs, "
          f"{plain_rate / single_rate:.2f} over the whole fit", flush=True)

    chain = estimator(args, "optimal", args.n_steps)
    start = time.perf_counter()
    chain.fit(X, y, X_val=X_val, y_val=y_val)
    seconds = time.perf_counter() - start
    chain_rate = chain.n_fits_ * args.epochs * len(X) / seconds
    print(f"estimator, alpha-hat    : {chain_rate:9.1f} images/s over {chain.n_fits_} networks "
          f"(teacher forward passes included), {seconds:.1f} s", flush=True)
    print("alpha-hat per step      : "
          + ", ".join(f"{a:.4f}" for a in chain.alphas_), flush=True)
    table = chain.step_scores()[["fit", "step", "probe", "alpha", "train_acc", "valid_acc",
                                 "fit_time"]]
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"), flush=True)
    assert chain.n_fits_ == 2 * (args.n_steps - 1) + 1

    device = torch.device(args.device).type
    out = (Path(tempfile.mkdtemp()) if args.tiny else neural_net_overhead.RESULTS) / (
        f"neural_net_overhead_{device}.md")
    overhead = neural_net_overhead.main([
        "--device", args.device, "--out", str(out),
        *(["--epochs", "1", "--repeats", "1"] if args.tiny else []),
        *(["--threads", str(args.threads)] if args.threads else []),
    ])
    print(f"overhead, one SmallCNN on digits (estimator / plain loop): {overhead['wall']:.3f} "
          f"wall clock, {overhead['CPU']:.3f} CPU time", flush=True)
    return dict(plain=plain_rate, single=single_rate, single_epochs=epochs_rate, chain=chain_rate,
                alphas=chain.alphas_, table=table, overhead=overhead)


if __name__ == "__main__":
    main()
