"""The package as a user meets it: imports, the optional torch extra, the demonstration."""

import ast
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import selfdistill_sklearn
from selfdistill_sklearn import demo
from selfdistill_sklearn.__main__ import parse_args

PACKAGE = Path(selfdistill_sklearn.__file__).resolve().parent
ROOT = PACKAGE.parent
README = ROOT / "README.rst"
# Written by ``python -m selfdistill_sklearn --output ...``; README.rst shows its summary.
DEMO_REPORT = ROOT / "benchmarks" / "results" / "demo.rst"


def run_python(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)


def test_kernel_estimator_works_without_torch_and_the_network_names_the_extra():
    # A finder placed first on sys.meta_path makes "import torch" fail as if torch were
    # not installed.
    result = run_python(
        "import sys\n"
        "class Missing:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'torchvision', 'skorch'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Missing())\n"
        "import numpy as np\n"
        "from selfdistill_sklearn import SelfDistilledKernelRidge\n"
        "X = np.arange(20.0).reshape(10, 2)\n"
        "SelfDistilledKernelRidge(n_steps=3).fit(X, X[:, 0])\n"
        "try:\n"
        "    from selfdistill_sklearn import SelfDistilledNeuralNet\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'selfdistill_sklearn[torch]'" in result.stdout


def test_unknown_attribute_is_an_attribute_error():
    try:
        selfdistill_sklearn.NoSuchEstimator  # noqa: B018
    except AttributeError as error:
        assert "NoSuchEstimator" in str(error)
    else:
        raise AssertionError("expected an AttributeError")


@pytest.mark.parametrize(("module", "allowed"), [
    ("closed_forms.py", {"numpy", "math"}),
    ("_grids.py", {"numpy", "math", "os", "sys", "warnings"}),
])
def test_mathematics_module_imports_neither_sklearn_nor_torch(module, allowed):
    tree = ast.parse((PACKAGE / module).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= allowed


def _report_sections(text):
    """The summary table and the rows of every split from a file the demo writes."""
    tables = re.findall(r"(=+(?:  =+)+\n.*?\n=+(?:  =+)+\n.*?\n=+(?:  =+)+)", text, re.S)
    summary, splits = tables
    rows = [re.split(r"\s{2,}", line.strip()) for line in splits.splitlines()[3:-1]]
    return summary, rows


def test_demonstration_rejects_flags_that_make_no_sense(capsys):
    for flags, name in [(["--n-steps", "0"], "--max-steps/--n-steps"),
                        (["--splits", "-1"], "--splits"), (["--splits", "two"], "--splits"),
                        (["--test-size", "1"], "--test-size"), (["--seed", "-3"], "--seed"),
                        (["--data", "iris"], "--data"),
                        (["--output", "no/such/folder/demo.rst"], "--output")]:
        with pytest.raises(SystemExit) as exit_info:
            parse_args(flags)
        assert exit_info.value.code == 2
        assert f"argument {name}" in capsys.readouterr().err


def test_notes_print_only_when_they_apply():
    settings = demo.Settings(n_splits=5)
    plain = demo.Result("diabetes", 0, demo.DISTILLED, 1.0, 0.1,
                        {"lambda": 0.1, "gamma": 0.01, "alpha": 0.5, "tau": 3})
    assert demo.notes([plain], settings) == []
    outside = demo.Result("diabetes", 1, demo.DISTILLED, 1.0, 0.1,
                          {"lambda": 0.1, "gamma": 0.01, "alpha": "optimal", "tau": 3},
                          optimal_alphas=np.array([1.5, 0.2]))
    inside = demo.Result("diabetes", 2, demo.DISTILLED, 1.0, 0.1, outside.chosen,
                         optimal_alphas=np.array([0.5, 0.2]))
    (note,) = demo.notes([plain, outside, inside], settings)
    assert note.startswith("alpha* outside [0, 1] was chosen on 1 split(s)")
    undistilled = demo.Result("diabetes", 3, demo.DISTILLED, 1.0, 0.1,
                              plain.chosen | {"tau": 1})
    edge = demo.Result("diabetes", 4, demo.BASELINE, 1.0, 0.1,
                       {"lambda": 10.0, "gamma": 0.01}, edges=("lambda",))
    found = demo.notes([plain, undistilled, edge], demo.Settings(n_splits=1))
    assert [line.split()[:2] for line in found] == [["On", "1"], ["1", "of"], ["Only", "1"]]


def test_summary_states_the_loss_as_a_loss():
    results = [demo.Result("d", split, method, mse, 1.0, {})
               for split, (base, ours) in enumerate([(1.0, 1.2), (2.0, 2.2)])
               for method, mse in [(demo.BASELINE, base), (demo.INTERCEPT, base),
                                   (demo.DISTILLED, ours)]]
    summary = {s.method: s for s in demo.summarise(results)}[demo.DISTILLED]
    assert summary.ratio_mean == pytest.approx((1.2 + 1.1) / 2)
    assert summary.wins == 0
    (verdict,) = demo.verdicts(demo.summarise(results))
    assert "15.0% higher test MSE (a loss)" in verdict and "lower on 0 of 2" in verdict


def test_committed_demo_table_is_what_its_splits_give_and_the_readme_shows_it():
    text = DEMO_REPORT.read_text()
    command = re.match(r"Generated by ``(.*)``\.", text).group(1)
    summary, rows = _report_sections(text)
    results = [demo.Result(data, int(split), method, float(mse), float(time), {})
               for data, split, method, mse, time, _ in rows]
    recomputed = demo.summary_table(demo.summarise(results))

    def without_times(table):
        return [line.rsplit(None, 1)[0] if line[:1] != "=" else "" for line in
                table.splitlines()]

    assert without_times(recomputed) == without_times(summary)
    readme = README.read_text()
    assert command in readme
    assert summary in readme


def test_demonstration_reproduces_the_first_split_of_the_committed_table(tmp_path):
    # One split instead of the committed run's several: split k draws its test part and
    # folds from seed + k alone, so the first split must come out the same.
    output = tmp_path / "demo.rst"
    result = subprocess.run([sys.executable, "-m", "selfdistill_sklearn", "--splits", "1",
                             "--output", str(output)], capture_output=True, text=True,
                            timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "KernelRidge" in result.stdout and "SelfDistilledKernelRidgeCV" in result.stdout
    assert "Only 1 split(s)" in result.stdout
    _, fresh = _report_sections(output.read_text())
    _, committed = _report_sections(DEMO_REPORT.read_text())
    committed = [row for row in committed if row[1] == "0"]
    assert [row[:3] + row[5:] for row in fresh] == [row[:3] + row[5:] for row in committed]
    np.testing.assert_allclose([float(row[3]) for row in fresh],
                               [float(row[3]) for row in committed], rtol=1e-6)


def _table(path, n=60):
    import pandas as pd

    rng = np.random.default_rng(0)
    city = rng.choice(["north", "south", "east"], size=n)
    x1, x2 = rng.normal(size=n), rng.uniform(size=n)
    price = np.sin(2 * x1) + 2 * x2 + (city == "north") + 0.3 * rng.normal(size=n)
    pd.DataFrame({"x1": x1, "city": city, "x2": x2, "price": price}).to_csv(path, index=False)
    return path


def test_demonstration_on_a_csv_file_with_a_categorical_column(tmp_path, capsys, monkeypatch):
    from selfdistill_sklearn.__main__ import main

    # Two widths instead of five: each costs 45 kernel ridge fits per fold.
    monkeypatch.setattr(demo, "GAMMA_FACTORS", (0.3, 1.0))
    path = _table(tmp_path / "houses.csv")
    assert main(["--data", str(path), "--target", "price", "--splits", "1", "--folds", "3",
                 "--max-steps", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    # The pipeline's preparation: numeric columns scaled, the categorical one encoded.
    assert "('numeric', StandardScaler(), ['x1', 'x2'])" in out.replace("\n", " ").replace(
        "  ", "")
    assert "OneHotEncoder" in out and "['city']" in out
    for method in (demo.BASELINE, demo.INTERCEPT, demo.DISTILLED):
        assert re.search(rf"^houses\.csv +{re.escape(method)} +\d", out, re.M), method
    assert "What this means for you:" in out
    closing = out.split("What this means for you:\n", 1)[1]
    assert closing.startswith("houses.csv: 1 split(s) cannot tell a difference from chance")
    # The code it prints fits the recommended model on the whole file.
    code = "\n".join(line[4:] for line in closing.splitlines() if line.startswith("    "))
    namespace = {}
    exec(compile(code, "printed", "exec"), namespace)  # noqa: S102
    model = namespace["model"]
    assert model.best_estimator_[-1].max_steps == 1
    assert model.predict(namespace["X"][:3]).shape == (3,)


def test_demonstration_refuses_a_file_without_target_or_reader(tmp_path, capsys):
    from selfdistill_sklearn.__main__ import main

    path = _table(tmp_path / "houses.csv", n=20)
    for flags, message in [([str(path)], "argument --target"),
                           (["diabetes", "--target", "price"], "argument --target"),
                           ([str(tmp_path / "missing.csv"), "--target", "y"], "no file"),
                           ([str(path), "--folds", "1", "--target", "price"], "--folds")]:
        with pytest.raises(SystemExit) as exit_info:
            parse_args(["--data", *flags])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
    assert main(["--data", str(path), "--target", "city"]) == 2
    assert "--target 'city' must hold numbers" in capsys.readouterr().err
    assert main(["--data", str(path), "--target", "nope"]) == 2
    assert "--target 'nope' is not a column of 'houses.csv'" in capsys.readouterr().err
    parquet = tmp_path / "houses.parquet"
    parquet.write_bytes(b"")
    if importlib.util.find_spec("pyarrow") is None and importlib.util.find_spec(
            "fastparquet") is None:
        assert main(["--data", str(parquet), "--target", "price"]) == 2
        assert "pip install pyarrow, or save the table as CSV" in capsys.readouterr().err


def test_demonstration_reads_parquet_as_it_reads_csv(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from selfdistill_sklearn.demo import load_table

    csv = _table(tmp_path / "houses.csv")
    parquet = tmp_path / "houses.parquet"
    pd.read_csv(csv).to_parquet(parquet)
    X_csv, y_csv = load_table(csv, "price")
    X_parquet, y_parquet = load_table(parquet, "price")
    pd.testing.assert_frame_equal(X_parquet, X_csv)
    np.testing.assert_array_equal(y_parquet, y_csv)
    assert list(X_parquet.columns) == ["x1", "city", "x2"]
