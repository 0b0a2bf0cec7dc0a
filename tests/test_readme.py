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
    # What the blocks that stay in the README leave (the moved ones run in
    # tests/test_doc_code_blocks.py and the documentation's gallery).
    assert len(namespace["model"].alphas_) == 3
    assert namespace["limit"].n_steps == float("inf")
    assert set(namespace["search"].best_params_) == {"reg_lambda", "alpha", "n_steps"}
    assert len(namespace["net"].alphas_) == 2
    assert len(namespace["ridge"].alphas_) == 4
    assert namespace["probe"].n_samples_seen_ == len(namespace["X"])
    assert set(namespace["probe"].best_params_) == {"reg_lambda", "alpha", "n_steps"}
    assert set(namespace["cv"].best_params_) == {"reg_lambda", "alpha", "n_steps"}
    assert namespace["classifier"].decision_function(namespace["X_wine"][:2]).shape == (2, 3)
