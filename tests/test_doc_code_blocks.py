"""The Python blocks of the documentation's pages run as written.

The gallery's examples are executed by every documentation build; the code
blocks of the front page and the user guide are not, so they run here, page
after page in the order of the user guide's table of contents, in one
namespace (a page may use the data an earlier one loaded, as a reader would).
"""

import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

DOC = Path(__file__).resolve().parents[1] / "doc"
BLOCK = re.compile(r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)")


def pages():
    toctree = (DOC / "user_guide" / "index.rst").read_text()
    names = re.findall(r"^   (\w+)$", toctree, flags=re.MULTILINE)
    return [DOC / "index.rst", *(DOC / "user_guide" / f"{name}.rst" for name in names)]


def blocks(page):
    return ["\n".join(line[3:] for line in block.splitlines())
            for block in BLOCK.findall(page.read_text())]


def test_every_user_guide_page_is_in_its_table_of_contents():
    listed = {page.name for page in pages()[1:]}
    present = {page.name for page in (DOC / "user_guide").glob("*.rst")} - {"index.rst"}
    assert listed == present


def test_pages_have_python_blocks():
    assert sum(len(blocks(page)) for page in pages()) >= 8


def test_code_blocks_run_in_order():
    namespace = {}
    for page in pages():
        for code in blocks(page):
            try:
                exec(compile(code, str(page), "exec"), namespace)  # noqa: S102
            except Exception as error:  # pragma: no cover - the failure message is the point
                pytest.fail(f"{page.name}: code block failed with {error!r}:\n{code}")
            finally:
                plt.close("all")
    # What the pages say the blocks give (optimal_alpha.rst prints alpha*).
    np.testing.assert_allclose(namespace["model"].alphas_, [2.749, 1.528, 2.644], atol=6e-4)
    assert set(namespace["search"].best_params_) == {"reg_lambda", "alpha", "n_steps"}
    assert namespace["nested"].best_params_["gamma"] in (0.01, 0.1)
    assert namespace["lazy"][:3].compute().shape == (3,)
    assert namespace["batched"].n_samples_seen_ == len(namespace["X2"])
    np.testing.assert_allclose(namespace["batched"].coef_, namespace["ridge"].coef_,
                               rtol=1e-10, atol=1e-10)
    assert len(namespace["net"].alphas_) == 2
