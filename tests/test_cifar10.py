"""CIFAR-10 from torchvision's on-disk format, and the benchmarks that use it.

A tiny fake copy in the exact format stands in for the real data set.
"""

import importlib.util
import pickle
from pathlib import Path

import numpy as np
import pytest
from cifar10_fake import make_fake_cifar10

from selfdistill_sklearn.datasets import CLASS_NAMES, FOLDER, TRAIN_FILES, load_cifar10

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _benchmark(name):
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True, scope="module")
def restore_threads():
    # The benchmarks are run with --threads 1 (two shared cores); put torch back.
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    make_fake_cifar10(root, n_per_batch=12, n_test=30, random_state=0)
    return root


def test_fake_copy_has_torchvision_layout(fake_root):
    folder = fake_root / FOLDER
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*TRAIN_FILES, "test_batch", "batches.meta"]
    )
    with open(folder / "data_batch_1", "rb") as f:
        entry = pickle.load(f, encoding="latin1")
    assert entry["data"].dtype == np.uint8 and entry["data"].shape == (12, 3072)
    assert len(entry["labels"]) == 12


def test_load_reads_pixels_labels_and_names(fake_root):
    raw = load_cifar10(fake_root, normalize=False)
    assert raw.X_train.shape == (60, 3, 32, 32) and raw.X_train.dtype == np.float32
    assert raw.X_test.shape == (30, 3, 32, 32)
    assert raw.y_train.dtype == np.int64 and set(raw.y_train) <= set(range(10))
    assert raw.class_names == list(CLASS_NAMES)
    with open(fake_root / FOLDER / "data_batch_2", "rb") as f:
        entry = pickle.load(f, encoding="latin1")
    # Row-major 3072 bytes: the 1024 red, then green, then blue pixels of 32x32.
    np.testing.assert_array_equal(
        raw.X_train[12:24] * 255, entry["data"].reshape(12, 3, 32, 32).astype(np.float32)
    )
    np.testing.assert_array_equal(raw.y_train[12:24], entry["labels"])

    data = load_cifar10(fake_root / FOLDER, n_train=50, n_test=10)
    assert data.X_train.shape[0] == 50 and data.X_test.shape[0] == 10
    np.testing.assert_allclose(data.X_train.mean(axis=(0, 2, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(data.X_train.std(axis=(0, 2, 3)), 1, atol=1e-4)
    # The test images are standardised with the training statistics.
    expected = (raw.X_test[:10] - data.mean[None, :, None, None]) / data.std[None, :, None, None]
    np.testing.assert_allclose(data.X_test, expected, atol=1e-5)


def test_missing_data_is_reported_and_never_downloaded(tmp_path):
    with pytest.raises(FileNotFoundError, match="never downloads"):
        load_cifar10(tmp_path)
    folder = make_fake_cifar10(tmp_path, n_per_batch=2, n_test=2)
    (folder / "test_batch").unlink()
    with pytest.raises(FileNotFoundError, match="test_batch"):
        load_cifar10(tmp_path)


def test_figure5_benchmark_runs_the_cifar10_setting(fake_root, tmp_path):
    pytest.importorskip("torch")
    bench = _benchmark("neural_net_alpha")
    report = bench.main([
        "--cifar10-dir", str(fake_root), "--module", "small_cnn", "--seeds", "1",
        "--n-steps", "2", "--alphas", "0.5", "--max-epochs", "1", "--batch-size", "20",
        "--threads", "1", "--device", "cpu", "--out-dir", str(tmp_path),
    ])
    assert report == tmp_path / "neural_net_alpha_cifar10.md"
    text = report.read_text()
    assert "alpha-hat per step" in text and "2(tau - 1) + 1 = 3" in text
    assert "validation on the test images" in text and "augmentation on" in text
    assert (tmp_path / "neural_net_alpha_cifar10.png").stat().st_size > 0
    import pandas as pd

    rows = pd.read_csv(tmp_path / "neural_net_alpha_cifar10.csv")
    assert set(rows["alpha"]) == {"0.5", "alpha-hat", "alpha-hat unclipped"}
    assert rows.groupby("alpha")["n_fits"].first().to_dict() == {
        "0.5": 2, "alpha-hat": 3, "alpha-hat unclipped": 3}
    hat = rows[rows["step"] == 2].set_index("alpha")
    # One estimate, trained with as it is or clipped to [0, 1].
    assert hat.loc["alpha-hat", "alpha_hat"] == hat.loc["alpha-hat unclipped", "alpha_hat"]
    assert hat.loc["alpha-hat", "alpha_used"] == np.clip(hat.loc["alpha-hat", "alpha_hat"], 0, 1)
    assert hat.loc["alpha-hat unclipped", "alpha_used"] == hat.loc["alpha-hat", "alpha_hat"]
    # Both chains share the first network.
    first = rows[rows["step"] == 1]
    assert first["valid_acc"].nunique() == 1 and first["train_acc"].nunique() == 1


def test_figure5_benchmark_digits_setting_smoke(tmp_path):
    pytest.importorskip("torch")
    bench = _benchmark("neural_net_alpha")
    report = bench.main([
        "--seeds", "1", "--n-steps", "2", "--alphas", "0,1", "--max-epochs", "1",
        "--threads", "1", "--device", "cpu", "--out-dir", str(tmp_path), "--name", "digits",
    ])
    text = report.read_text()
    assert "Test accuracy per step" in text and "small_cnn" in text


def test_gpu_check_script_runs_on_the_cpu(tmp_path):
    pytest.importorskip("torch")
    import json
    import subprocess
    import sys

    # A process of its own: array API dispatch needs SciPy's array API mode,
    # which the script sets before SciPy is first imported.
    figures = tmp_path / "gpu_check.json"
    subprocess.run([sys.executable, str(BENCHMARKS / "gpu_check.py"), "--device", "cpu",
                    "--tiny", "--module", "resnet18", "--threads", "1", "--json", str(figures)],
                   check=True, capture_output=True, timeout=600)
    result = json.loads(figures.read_text())
    (plain, estimator), = result["rates"].values()  # no mixed precision on the CPU
    assert plain > 0 and estimator > 0
    assert len(result["alphas"]) == 2  # a 3-step chain
    assert result["n_networks"] == 5  # 2 (n_steps - 1) + 1 networks
    assert result["loads_on_cpu"]
    # The primal estimators on torch tensors equal their NumPy fits, and the
    # one-step fit equals Ridge(solver="svd") on the same tensors.
    primal = result["primal"]
    assert len(primal) == 4
    assert all(run["difference"] < 1e-8 for run in primal.values())


def test_the_reader_needs_no_torch_and_the_old_module_still_exports_it(fake_root):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from selfdistill_sklearn.datasets import load_cifar10\n"
        f"print(load_cifar10({str(fake_root)!r}).X_train.shape, 'torch' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "(60, 3, 32, 32) False"
    from selfdistill_sklearn import cifar10, datasets

    assert cifar10.load_cifar10 is datasets.load_cifar10
