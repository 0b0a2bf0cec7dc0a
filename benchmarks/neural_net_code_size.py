"""Size of SelfDistilledNeuralNet: lines of the class, code lines of each method.

Code lines exclude blank lines, comment-only lines and docstrings; a method
counts its ``def`` line and decorators. Run from the repository root::

    python benchmarks/neural_net_code_size.py
"""

import ast
import sys
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "selfdistill_sklearn/neural/estimator.py"


def docstring_lines(node):
    lines = set()
    for child in ast.walk(node):
        body = getattr(child, "body", None)
        if (isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            lines.update(range(body[0].lineno, body[0].end_lineno + 1))
    return lines


def code_lines(node, text, skip):
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return sum(
        1 for number in range(start, node.end_lineno + 1)
        if number not in skip
        and text[number - 1].strip() and not text[number - 1].strip().startswith("#")
    )


def main(path=SOURCE, class_name="SelfDistilledNeuralNet", limit=35):
    source = Path(path).read_text()
    text = source.splitlines()
    tree = ast.parse(source)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    skip = docstring_lines(cls)
    methods = [n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    sizes = sorted(((code_lines(m, text, skip), m.name) for m in methods), reverse=True)
    print(f"{class_name}: {cls.end_lineno - cls.lineno + 1} lines, "
          f"{code_lines(cls, text, skip)} code lines, {len(methods)} methods")
    for size, name in sizes[:5]:
        print(f"  {name}: {size} code lines")
    over = [name for size, name in sizes if size > limit]
    print(f"methods over {limit} code lines: {over or 'none'}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
