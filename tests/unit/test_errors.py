"""One error tree: every exception class of the project's packages derives from ``PikError``, both tree
docstrings list every class, and the command line maps errors to messages and exit codes in one place."""

from __future__ import annotations

import ast
import importlib
import re

import click
import pytest
from click.testing import CliRunner

import pik_nb._errors
from pik.core import errors
from pik.core.errors import PikError
from pik_cli._errors import PikGroup
from tests.support.layout import PACKAGES


def _classes() -> dict[str, type]:
    """``module.Class`` -> class, for every class (top level or nested in a class) of the packages."""
    found = {}
    for package, root in PACKAGES.items():
        for path in sorted(root.rglob("*.py")):
            parts = [package, *path.relative_to(root).with_suffix("").parts]
            module_name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            module = importlib.import_module(module_name)
            pending = [(module, node) for node in ast.parse(path.read_text()).body]
            while pending:
                owner, node = pending.pop()
                if isinstance(node, ast.ClassDef):
                    cls = getattr(owner, node.name)
                    found[f"{module_name}.{cls.__qualname__}"] = cls
                    pending.extend((cls, child) for child in node.body)
    return found


EXCEPTIONS = {name: cls for name, cls in _classes().items() if issubclass(cls, BaseException)}


def test_the_packages_hold_the_exceptions_the_tree_names():
    names = {cls.__name__ for cls in EXCEPTIONS.values()}
    assert {
        "PikError",
        "MappingError",
        "FlowError",
        "StackError",
        "DemoError",
        "TapError",
        "ParameterError",
        "ChildError",
        "ApiError",
        "IncidentError",
    } <= names


@pytest.mark.parametrize("name", sorted(EXCEPTIONS))
def test_every_exception_class_derives_from_pik_error(name):
    assert issubclass(EXCEPTIONS[name], PikError)


def _tree(docstring: str) -> set[str]:
    """The class names a tree drawing lists (``├── ValidationError  ...``)."""
    return set(re.findall(r"── (_?[A-Za-z]+)", docstring))


def test_the_tree_in_pik_core_errors_lists_every_class_and_its_parent():
    listed = _tree(errors.__doc__)
    assert {cls.__name__ for cls in EXCEPTIONS.values()} - {"PikError"} == listed
    for line in errors.__doc__.splitlines():  # each class hangs under its real parent
        if "── " in line:
            name = line.split("── ")[1].split()[0]
            depth = line.index("── ")
            parent = next(cls for cls in EXCEPTIONS.values() if cls.__name__ == name).__mro__[1]
            above = [
                row
                for row in errors.__doc__.splitlines()[: errors.__doc__.splitlines().index(line)]
                if ("── " in row and row.index("── ") < depth) or row.strip() == "PikError"
            ]
            assert above[-1].split("── ")[-1].split()[0] == parent.__name__, name


def test_the_tree_in_pik_nb_lists_every_class_of_pik_nb():
    of_pik_nb = {cls.__name__ for name, cls in EXCEPTIONS.items() if name.startswith("pik_nb.")}
    assert of_pik_nb <= _tree(pik_nb._errors.__doc__)


# --- the command line: one place -------------------------------------------------------------------------
def test_only_pik_cli_errors_catches_errors_or_chooses_exit_codes():
    offenders = []
    for path in sorted(PACKAGES["pik_cli"].glob("*.py")):
        if path.name == "_errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                caught = {
                    n.id if isinstance(n, ast.Name) else n.attr
                    for n in ast.walk(node.type)
                    if isinstance(n, (ast.Name, ast.Attribute))
                }
                if caught & ({cls.__name__ for cls in EXCEPTIONS.values()} | {"ClickException", "Exception"}):
                    offenders.append(f"{path.name}:{node.lineno} catches {sorted(caught)}")
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Raise) and "ClickException" in ast.unparse(inner):
                        offenders.append(f"{path.name}:{inner.lineno} re-words an error")
            if isinstance(node, ast.Call) and ast.unparse(node.func) in {"sys.exit", "exit", "os._exit"}:
                offenders.append(f"{path.name}:{node.lineno} exits")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "exit":
                offenders.append(f"{path.name}:{node.lineno} exits ({ast.unparse(node.func)})")  # ctx.exit(n)
            if isinstance(node, ast.Raise) and node.exc is not None:
                raised = ast.unparse(node.exc)
                if raised.startswith("SystemExit") or (
                    raised.startswith("click.exceptions.Exit(") and raised != "click.exceptions.Exit(1)"
                ):
                    offenders.append(
                        f"{path.name}:{node.lineno} chooses an exit code ({raised})"
                    )  # only 1: 'said, then exit 1'
    assert offenders == []


@pytest.fixture
def cli():
    @click.group(cls=PikGroup)
    def group() -> None:
        pass

    @group.command()
    @click.option("--days", type=int, required=True)
    def fails(days: int) -> None:
        raise PikError(f"no stack at {days}")

    @group.command()
    def quits() -> None:
        raise click.exceptions.Exit(3)

    return group


def test_a_pik_error_is_one_line_on_stderr_and_exit_1(cli):
    result = CliRunner().invoke(cli, ["fails", "--days", "2"])
    assert (result.exit_code, result.stderr, result.stdout) == (1, "Error: no stack at 2\n", "")


def test_a_usage_error_is_one_line_naming_the_option_and_exit_2(cli):
    result = CliRunner().invoke(cli, ["fails", "--days", "two"], prog_name="pik")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: Invalid value for '--days': 'two' is not a valid integer. (see: pik fails --help)\n"
    )


def test_a_command_s_exit_code_is_kept(cli):
    assert CliRunner().invoke(cli, ["quits"]).exit_code == 3
