"""No function over 60 lines outside ``benchmarks/`` (issue 20's gate): a long function is split into
named steps. A function's body is counted, from its first statement (the docstring) to its last line,
comments and blank lines included; not its decorators nor its signature (``ruff format`` gives each
parameter of a long signature its own line, which makes no function harder to read)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ["lambdas", "pik_nb", "pik_local", "pik_cli", "pik_api", "tests", "scripts"]  # benchmarks/ is not
MAX_LINES = 60


def long_functions(source: str, max_lines: int = MAX_LINES) -> list[tuple[str, int, int]]:
    """``(name, line of its def, body length)`` of each function (nested ones too) whose body is longer
    than ``max_lines``.

    >>> long_functions("def f(\\n    a,\\n):\\n" + "    x = a\\n" * 4, max_lines=3)
    [('f', 1, 4)]
    """
    return [
        (node.name, node.lineno, length)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (length := (node.end_lineno or node.lineno) - node.body[0].lineno + 1) > max_lines
    ]


def test_the_check_finds_a_long_function_and_passes_a_short_one():
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_LINES + 1))
    assert long_functions(f"def long():\n{body}") == [("long", 1, MAX_LINES + 1)]
    assert long_functions("async def short():\n    return 1\n") == []


def test_no_function_is_over_60_lines_outside_benchmarks():
    offenders = [
        f"{path.relative_to(ROOT)}:{line} {name} (a body of {length} lines)"
        for top in CHECKED
        for path in sorted((ROOT / top).rglob("*.py"))
        for name, line, length in long_functions(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "split these into named steps:\n" + "\n".join(offenders)
