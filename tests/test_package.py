"""The package as a user meets it: imports, the optional torch extra, the demonstration."""

import ast
import subprocess
import sys
from pathlib import Path

import selfdistill_sklearn

PACKAGE = Path(selfdistill_sklearn.__file__).resolve().parent


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


def test_mathematics_module_imports_neither_sklearn_nor_torch():
    tree = ast.parse((PACKAGE / "closed_forms.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= {"numpy", "math"}


def test_demonstration_runs_and_reports_every_step():
    result = subprocess.run([sys.executable, "-m", "selfdistill_sklearn", "--n-steps", "3"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "alpha*" in result.stdout
    step_rows = [line.split() for line in result.stdout.splitlines()
                 if line.strip()[:1].isdigit() and len(line.split()) == 3]
    assert [row[0] for row in step_rows[:3]] == ["1", "2", "3"]
