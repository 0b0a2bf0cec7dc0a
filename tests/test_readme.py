"""The code in README.rst runs as written."""

import re
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

README = Path(__file__).resolve().parents[1] / "README.rst"
BLOCKS = re.findall(r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)", README.read_text())


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 4


def test_readme_examples_run_in_order():
    namespace = {}
    for block in BLOCKS:
        code = "\n".join(line[3:] for line in block.splitlines())
        try:
            exec(compile(code, str(README), "exec"), namespace)  # noqa: S102
        except Exception as error:  # pragma: no cover - the failure message is the point
            pytest.fail(f"README example failed with {error!r}:\n{code}")
        finally:
            plt.close("all")
    assert namespace["model"].n_steps == 6
    assert len(namespace["net"].alphas_) == 2
    assert set(namespace["search"].best_params_) == {"reg_lambda", "alpha", "n_steps"}
    nested = namespace["nested"]
    assert nested.best_params_["gamma"] in (0.01, 0.1)
    assert set(nested.best_estimator_.best_params_) == {"reg_lambda", "alpha", "n_steps"}
