"""The README's neural network example prints what the README says it prints."""

import contextlib
import io
import re
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

README = Path(__file__).resolve().parents[1] / "README.rst"
SECTION = re.search(r"\nNeural networks\n-+\n(.*?)\n[^\n]+\n-{3,}\n", README.read_text(), re.S)
EXAMPLE = re.search(
    r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)\nprints [^:]*::\n\n((?:   .*\n)+)",
    SECTION.group(1) if SECTION else "",
)


def _tokens(text):
    return re.findall(r"[^\s\[\]]+", text)


def test_the_example_prints_what_the_readme_shows():
    assert EXAMPLE, "the Neural networks section lost its example or its printed output"
    code = "\n".join(line[3:] for line in EXAMPLE.group(1).splitlines())
    shown = "\n".join(line[3:] for line in EXAMPLE.group(2).splitlines())
    out = io.StringIO()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the README says
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, str(README), "exec"), {})  # noqa: S102
    finally:
        torch.set_num_threads(threads)
    printed, expected = _tokens(out.getvalue()), _tokens(shown)
    assert len(printed) == len(expected), out.getvalue()
    for got, want in zip(printed, expected, strict=True):
        try:
            # Another number of threads may move an accuracy by a sample or two.
            assert float(got) == pytest.approx(float(want), abs=0.011), out.getvalue()
        except ValueError:
            assert got == want, out.getvalue()
