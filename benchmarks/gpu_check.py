"""GPU check of the network chain: throughput, an alpha-hat chain, pickling, memory.

One command, a few minutes on one GPU::

    python benchmarks/gpu_check.py --out benchmarks/results/gpu_check.md

and the same path on the CPU, shrunk to seconds (a dry run; it writes nowhere
unless ``--out`` or ``--json`` is given)::

    python benchmarks/gpu_check.py --device cpu --tiny

It measures, in one process:

1. **Throughput.** ResNet-50 (the package's small-image stem) on CIFAR-shaped
   images from torchvision's ``FakeData`` (3x32x32, 10 classes, nothing is
   downloaded), batch 128, with mixed precision off and on: a plain PyTorch
   loop (data already on the device, the same loss of eq. (18), optimiser,
   augmentation and a validation pass per epoch) against
   ``SelfDistilledNeuralNet(n_steps=1)`` fed the same arrays from the host.
   Both run alternately, ``--repeats`` times each; the first epoch of every
   run (cuDNN's autotuning, allocator warm-up) is left out and the median
   images per second of the other epochs is reported, with the ratio
   plain / estimator (the target is at most 1.05).
2. **An alpha-hat chain.** ``SelfDistilledNeuralNet(SmallCNN,
   alpha="optimal", n_steps=3)`` on scikit-learn's digits: alpha-hat clipped
   and unclipped, and the validation and test accuracy of every network.
3. **Pickling across devices.** That chain, fitted on CUDA, is pickled and
   loaded in a child process that sees no GPU (``CUDA_VISIBLE_DEVICES=""``);
   its probabilities on the CPU are compared with those on the GPU.
4. **Peak GPU memory** of every phase (``torch.cuda.max_memory_allocated``).
5. **The primal estimators on device tensors.** Under scikit-learn's array
   API dispatch, ``SelfDistilledRidge(alpha=0.5, n_steps=5)`` and
   ``SelfDistilledRidgeCV`` (8 penalties x (11 weights and "optimal") x
   steps 1..8 and the limit, 5 folds) on an ``--primal-rows`` x
   ``--primal-features`` float64 torch tensor on the device (default
   10^6 x 1000), against the same fits on the host's NumPy copy and against
   ``Ridge(solver="svd")`` under dispatch on the device; the largest
   coefficient difference between device and host, and between the one-step
   fit and ``Ridge``.
"""

import argparse
import io
import json
import os
import pickle
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# scikit-learn's array API dispatch needs SciPy's array API mode, set before
# SciPy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from selfdistill_sklearn import SelfDistilledNeuralNet  # noqa: E402
from selfdistill_sklearn.networks import SmallCNN, build_network, random_crop_flip  # noqa: E402
from selfdistill_sklearn.neural_net import self_distillation_loss  # noqa: E402


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true",
                        help="a few images of 8x8, two epochs, one repeat: for a CPU")
    parser.add_argument("--module", default="resnet50")
    parser.add_argument("--n-train", type=int, default=8192)
    parser.add_argument("--n-val", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=3,
                        help="epochs per throughput run; the first is left out")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--chain-epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--primal-rows", type=int, default=1_000_000)
    parser.add_argument("--primal-features", type=int, default=1000)
    parser.add_argument("--out", default=None, help="write the report (markdown) here")
    parser.add_argument("--json", default=None, help="write the figures (JSON) here")
    args = parser.parse_args(argv)
    args.image_size = 32
    if args.tiny:
        args.n_train, args.n_val, args.image_size = 64, 32, 8
        args.epochs, args.repeats, args.chain_epochs = 2, 1, 2
        args.primal_rows, args.primal_features = 3000, 20
    return args


def fake_cifar(n, size, seed):
    """``n`` images of ``FakeData`` as float32 arrays in [0, 1], labels int64."""
    from torchvision.datasets import FakeData
    from torchvision.transforms import PILToTensor

    data = FakeData(size=n, image_size=(3, size, size), num_classes=10,
                    transform=PILToTensor(), random_offset=seed)
    X = np.stack([np.asarray(data[i][0]) for i in range(n)]).astype(np.float32) / 255.0
    y = np.array([int(data[i][1]) for i in range(n)], dtype=np.int64)
    return X, y


def synchronize(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def reset_peak(device):
    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats()


def peak_gib(device):
    if torch.device(device).type != "cuda":
        return float("nan")
    return torch.cuda.max_memory_allocated() / 2 ** 30


def plain_loop(args, data, amp):
    """One step of the estimator written directly; images per second of each epoch."""
    X, y, X_val, y_val = (torch.as_tensor(a, device=args.device) for a in data)
    torch.manual_seed(args.seed)
    net = build_network(args.module, X.shape[1:], 10).to(args.device)
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr, weight_decay=1e-4)
    scaler = torch.amp.GradScaler("cuda") if amp else None
    autocast = torch.autocast("cuda", dtype=torch.float16, enabled=amp)
    rates = []
    for _ in range(args.epochs):
        synchronize(args.device)
        start = time.perf_counter()
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
        rates.append(len(X) / (time.perf_counter() - start))
    return rates


def estimator_run(args, data, amp):
    """``SelfDistilledNeuralNet(n_steps=1)``; images per second of each epoch."""
    X, y, X_val, y_val = data
    net = SelfDistilledNeuralNet(
        args.module, alpha=1.0, n_steps=1, lr=args.lr, max_epochs=args.epochs,
        batch_size=args.batch_size, augment=True, mixed_precision=amp,
        device=args.device, random_state=args.seed, verbose=0,
    )
    net.fit(X, y, X_val=X_val, y_val=y_val)
    # An epoch's duration holds its training and its validation pass, as the plain loop's.
    return [len(X) / row["dur"] for row in net.history]


def throughput(args, lines):
    X, y = fake_cifar(args.n_train, args.image_size, args.seed)
    X_val, y_val = fake_cifar(args.n_val, args.image_size, args.seed + args.n_train)
    data = (X, y, X_val, y_val)
    amps = (False, True) if torch.device(args.device).type == "cuda" else (False,)
    lines += ["## Throughput: ResNet-50 on FakeData (3x32x32), batch "
              f"{args.batch_size}, {args.n_train} training images", "",
              "| mixed precision | plain loop (images/s) | estimator (images/s) | "
              "plain / estimator | peak GPU memory plain / estimator (GiB) |",
              "|---|---|---|---|---|"]
    results = {}
    for amp in amps:
        plain, ours, peaks = [], [], {"plain": 0.0, "estimator": 0.0}
        for _ in range(args.repeats):
            reset_peak(args.device)
            plain += plain_loop(args, data, amp)[1:]
            peaks["plain"] = max(peaks["plain"], peak_gib(args.device))
            reset_peak(args.device)
            ours += estimator_run(args, data, amp)[1:]
            peaks["estimator"] = max(peaks["estimator"], peak_gib(args.device))
        p, e = statistics.median(plain), statistics.median(ours)
        results[amp] = (p, e)
        row = (f"| {'on' if amp else 'off'} | {p:.0f} | {e:.0f} | {p / e:.3f} | "
               f"{peaks['plain']:.2f} / {peaks['estimator']:.2f} |")
        lines.append(row)
        print(row, flush=True)
    lines += ["", f"Median over {args.repeats} runs of each, alternating, of the epochs after "
              "the first; the plain loop holds the data on the device, the estimator is fed "
              "host arrays.", ""]
    return results


def digits_chain(args, lines):
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32).reshape(-1, 1, 8, 8)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25,
                                                        random_state=args.seed, stratify=y)
    reset_peak(args.device)
    start = time.perf_counter()
    chain = SelfDistilledNeuralNet(SmallCNN, alpha="optimal", n_steps=3, lr=1e-2,
                                   max_epochs=args.chain_epochs, device=args.device,
                                   random_state=args.seed, verbose=0)
    chain.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    peak = peak_gib(args.device)
    table = chain.step_scores()[["fit", "step", "probe", "alpha", "valid_acc"]]
    lines += [f"## alpha-hat chain: SmallCNN on digits, 3 steps, {args.chain_epochs} epochs "
              "a network", "",
              f"{chain.n_fits_} networks in {seconds:.1f} s, peak GPU memory {peak:.3f} GiB; "
              f"alpha-hat {np.round(chain.alphas_, 4).tolist()} (unclipped "
              f"{np.round(chain.alphas_unclipped_, 4).tolist()}), best step "
              f"{chain.best_step_}, test accuracy {chain.score(X_test, y_test):.4f}", "",
              "```", table.to_string(index=False, float_format=lambda v: f"{v:.4f}"), "```", ""]
    print("\n".join(lines[-8:]), flush=True)
    return chain, table, X_test


_LOAD_ON_CPU = """
import pickle, sys
import numpy as np
import torch
assert not torch.cuda.is_available()
net = pickle.loads(sys.stdin.buffer.read())
proba = net.predict_proba(np.load(sys.argv[1]))
print(net.device, next(net.module_.parameters()).device)
np.save(sys.argv[2], proba)
"""


def pickle_to_cpu(args, chain, X_test, lines):
    import tempfile

    proba = chain.predict_proba(X_test)
    with tempfile.TemporaryDirectory() as folder:
        x_path, p_path = Path(folder, "X.npy"), Path(folder, "proba.npy")
        np.save(x_path, X_test)
        buffer = io.BytesIO()
        pickle.dump(chain, buffer)
        env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
        done = subprocess.run([sys.executable, "-c", _LOAD_ON_CPU, str(x_path), str(p_path)],
                              input=buffer.getvalue(), capture_output=True, env=env,
                              cwd=str(ROOT), check=False)
        if done.returncode != 0:
            text = f"loading the pickled chain without a GPU FAILED:\n{done.stderr.decode()}"
        else:
            cpu = np.load(p_path)
            text = (f"pickled on {args.device} ({len(buffer.getvalue()) / 2 ** 20:.1f} MiB), "
                    f"loaded in a process without a GPU on "
                    f"`{done.stdout.decode().strip()}`; largest difference of the "
                    f"probabilities {np.abs(cpu - proba).max():.2e}, predictions equal: "
                    f"{bool(np.array_equal(cpu.argmax(1), proba.argmax(1)))}")
    lines += ["## Pickled on the GPU, loaded on the CPU", "", text, ""]
    print(text, flush=True)
    return done.returncode == 0 and bool(np.array_equal(cpu.argmax(1), proba.argmax(1)))


def _timed(device, fit):
    synchronize(device)
    start = time.perf_counter()
    fitted = fit()
    synchronize(device)
    return fitted, time.perf_counter() - start


def _host(array):
    return np.asarray(array.cpu()) if hasattr(array, "cpu") else np.asarray(array)


def primal_on_device(args, lines):
    """SelfDistilledRidge(CV) on device tensors under array API dispatch,
    against the host's NumPy copy and Ridge(solver="svd") on the device."""
    from sklearn import config_context
    from sklearn.linear_model import Ridge

    from selfdistill_sklearn import SelfDistilledRidge, SelfDistilledRidgeCV

    n, p, device = args.primal_rows, args.primal_features, args.device
    generator = torch.Generator(device=device).manual_seed(args.seed)
    X = torch.randn(n, p, dtype=torch.float64, device=device, generator=generator)
    coef = torch.randn(p, dtype=torch.float64, device=device, generator=generator) / p ** 0.5
    y = X @ coef + torch.randn(n, dtype=torch.float64, device=device, generator=generator)
    X_host, y_host = _host(X), _host(y)
    search = {"reg_lambdas": list(np.logspace(-2, 4, 8)),
              "alphas": [round(a, 1) for a in np.linspace(0, 1, 11)] + ["optimal"],
              "max_steps": 8, "cv": 5}
    runs = {
        "SelfDistilledRidge(alpha=0.5, n_steps=5)":
            lambda: SelfDistilledRidge(alpha=0.5, n_steps=5, reg_lambda=1.0),
        "SelfDistilledRidge(n_steps=1)": lambda: SelfDistilledRidge(n_steps=1, reg_lambda=1.0),
        "SelfDistilledRidgeCV (856 candidates, 5 folds)":
            lambda: SelfDistilledRidgeCV(**search),
    }
    lines += [f"## Primal estimators on {n} x {p} float64 tensors", "",
              "| fit | device (s) | host NumPy (s) | host / device | "
              "max abs coefficient difference | peak GPU memory (GiB) |",
              "|---|---|---|---|---|---|"]
    results = {}
    for name, make in runs.items():
        reset_peak(device)
        with config_context(array_api_dispatch=True):
            on_device, seconds = _timed(device, lambda make=make: make().fit(X, y))
        peak = peak_gib(device)
        on_host, host_seconds = _timed("cpu", lambda make=make: make().fit(X_host, y_host))
        fitted = getattr(on_device, "best_estimator_", on_device)
        reference = getattr(on_host, "best_estimator_", on_host)
        difference = float(np.max(np.abs(_host(fitted.coef_) - reference.coef_)))
        results[name] = dict(device=seconds, host=host_seconds, difference=difference)
        row = (f"| {name} | {seconds:.2f} | {host_seconds:.2f} | {host_seconds / seconds:.2f} "
               f"| {difference:.1e} | {peak:.2f} |")
        lines.append(row)
        print(row, flush=True)
    reset_peak(device)
    with config_context(array_api_dispatch=True):
        ridge, seconds = _timed(device, lambda: Ridge(alpha=1.0, solver="svd").fit(X, y))
        one_step = SelfDistilledRidge(n_steps=1, reg_lambda=1.0).fit(X, y)
    difference = float(np.max(np.abs(_host(ridge.coef_) - _host(one_step.coef_))))
    results["Ridge(solver='svd')"] = dict(device=seconds, difference=difference)
    ours = results["SelfDistilledRidge(alpha=0.5, n_steps=5)"]["device"]
    lines += [f"| Ridge(solver=\"svd\") under dispatch | {seconds:.2f} | | | {difference:.1e} "
              f"(against n_steps=1) | {peak_gib(device):.2f} |", "",
              f"The 5-step chain on the device took {ours / seconds:.2f}x one "
              "Ridge(solver=\"svd\") fit on the same tensors.", ""]
    print(lines[-2], flush=True)
    return results


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("No CUDA device here; run with --device cpu --tiny.")
    name = (torch.cuda.get_device_name(args.device) if torch.device(args.device).type == "cuda"
            else "CPU")
    lines = [f"# GPU check on {name}", "",
             f"torch {torch.__version__}, device {args.device}, "
             f"`python benchmarks/gpu_check.py {' '.join(argv or sys.argv[1:])}`", ""]
    print(lines[0], lines[2], flush=True)
    start = time.perf_counter()
    rates = throughput(args, lines)
    chain, table, X_test = digits_chain(args, lines)
    loads_on_cpu = pickle_to_cpu(args, chain, X_test, lines)
    primal = primal_on_device(args, lines)
    lines.append(f"Whole check: {time.perf_counter() - start:.0f} s.")
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    result = dict(rates=rates, alphas=chain.alphas_, table=table, loads_on_cpu=loads_on_cpu,
                  primal=primal)
    if args.json:
        Path(args.json).write_text(json.dumps(dict(
            rates={str(amp): list(pair) for amp, pair in rates.items()},
            alphas=np.asarray(chain.alphas_).tolist(), n_networks=len(table),
            loads_on_cpu=bool(loads_on_cpu), primal=primal), indent=1))
    return result


if __name__ == "__main__":
    main()
