"""One vocabulary (issue 20, item 3): attempt statuses, a batch event's FAILED, run statuses and stop
reasons are enums, each defined once (``pik.core.records``: ``AttemptStatus``, ``OutcomeStatus``;
``pik.core.replay``: ``RunStatus``, ``StopReason``), and no other module spells their values.

The tests below keep the strings exact (they are what DynamoDB stores and the API answers); an AST
check fails on a status or stop-reason literal anywhere in the five packages outside its enum's
module. ``tests/`` is not checked: tests assert the exact strings on purpose."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from pik.core.records import ACCEPTED, FAILED, REJECTED, AttemptStatus, OutcomeStatus
from pik.core.replay import ACTIONS, ENDED, RunStatus, StopReason

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_ROOTS = [ROOT / "lambdas" / "pik", ROOT / "pik_nb", ROOT / "pik_local", ROOT / "pik_cli", ROOT / "pik_api"]
HOMES = {  # enum -> the one module that may spell its values
    AttemptStatus: "lambdas/pik/core/records.py",
    OutcomeStatus: "lambdas/pik/core/records.py",
    RunStatus: "lambdas/pik/core/replay.py",
    StopReason: "lambdas/pik/core/replay.py",
}
#: (file, literal) -> why that file spells the word without meaning our status.
ALLOWED = {
    ("pik_nb/sql/engine.py", "FAILED"): "Athena's QueryExecution State (SUCCEEDED, FAILED, CANCELLED), AWS's words",
    ("pik_nb/sql/engine.py", "CANCELLED"): "Athena's QueryExecution State, as above",
}


def test_run_statuses_are_the_strings_stored_and_answered():
    assert [status.value for status in RunStatus] == ["RUNNING", "COMPLETED", "PARTIAL", "PAUSED", "CANCELLED"]
    assert RunStatus("PARTIAL") is RunStatus.PARTIAL and RunStatus.PAUSED == "PAUSED"
    assert json.dumps({"status": RunStatus.CANCELLED}) == '{"status": "CANCELLED"}'
    assert {"RUNNING": 1}[RunStatus.RUNNING] == 1  # a stored item's plain string finds the member's key
    assert ENDED == (RunStatus.COMPLETED, RunStatus.CANCELLED)


def test_stop_reasons_are_the_strings_stored_and_answered():
    assert [reason.value for reason in StopReason] == [
        "completed",
        "limit",
        "time",
        "target_errors",
        "paused",
        "cancelled",
    ]
    assert StopReason("target_errors") is StopReason.TARGET_ERRORS and StopReason.LIMIT == "limit"
    assert json.dumps({"stopped": StopReason.TIME}) == '{"stopped": "time"}'
    with pytest.raises(ValueError):
        StopReason("LIMIT")  # case matters: the stored value is lower case


def test_each_steering_action_leads_to_a_run_status_and_stop_reason():
    assert ACTIONS == {
        "pause": (RunStatus.PAUSED, StopReason.PAUSED),
        "cancel": (RunStatus.CANCELLED, StopReason.CANCELLED),
        "resume": (RunStatus.RUNNING, None),
    }


def test_a_batch_event_failed_is_its_own_vocabulary_beside_the_attempt_statuses():
    assert [status.value for status in OutcomeStatus] == ["FAILED"] and FAILED == "FAILED"
    assert not set(OutcomeStatus) & set(AttemptStatus)  # FAILED is never an attempt's status: nothing is recorded
    assert (ACCEPTED, REJECTED) == ("ACCEPTED", "REJECTED")


# --- the AST check ------------------------------------------------------------------------------------------
UPPER = {status.value: enum for enum in (AttemptStatus, OutcomeStatus, RunStatus) for status in enum}
REASONS = {reason.value for reason in StopReason}  # "limit" and "time" are field names too: judged by context


def _docstrings(tree: ast.Module) -> set[int]:
    holders = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, holders)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }


def _strings(node: ast.AST | None) -> list[ast.Constant]:
    """The str constants ``node`` is, or holds as the elements of a tuple, list or set."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [c for element in node.elts for c in _strings(element)]
    return []


def _about_stopping(node: ast.AST) -> bool:
    """``run["stopped"]``, ``run.get("stopped")``, ``stopped``, ``self.stopped``: an expression of a stop reason."""
    return "stopped" in ast.unparse(node)


def _stop_reasons(tree: ast.Module) -> list[ast.Constant]:
    """Stop-reason literals used as one: compared with, assigned to or keyed by ``stopped``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_about_stopping(operand) for operand in operands):
                found += [c for operand in operands for c in _strings(operand)]
        elif isinstance(node, ast.Dict):
            found += [
                c for k, v in zip(node.keys, node.values, strict=True) if k and _about_stopping(k) for c in _strings(v)
            ]
        elif isinstance(node, ast.keyword) and node.arg and "stopped" in node.arg:
            found += _strings(node.value)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(_about_stopping(target) for target in targets):
                found += _strings(node.value)
    return [c for c in found if c.value in REASONS]


def literals(path: Path, where: str) -> list[str]:
    """``where:line: value`` for each status or stop-reason literal of ``path`` outside its enum's module."""
    tree = ast.parse(path.read_text())
    docs = _docstrings(tree)
    upper = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value in UPPER
        and id(node) not in docs
    ]
    hits = [(node, UPPER[node.value]) for node in upper] + [(node, StopReason) for node in _stop_reasons(tree)]
    return sorted(
        f"{where}:{node.lineno}: {node.value!r}"
        for node, enum in hits
        if where != HOMES[enum] and (where, node.value) not in ALLOWED
    )


def test_no_module_spells_a_status_or_stop_reason_its_enum_defines():
    offenders = [
        hit
        for root in PACKAGE_ROOTS
        for path in sorted(root.rglob("*.py"))
        for hit in literals(path, str(path.relative_to(ROOT)))
    ]
    assert offenders == []


def test_the_check_finds_each_way_a_literal_is_used(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        '"""A docstring may say ACCEPTED."""\n'
        "def f(run, frame, stopped):\n"
        '    """Nor here: PARTIAL."""\n'
        '    if run["status"] == "PARTIAL":\n'  # 4
        '        frame = frame[frame.status.isin(["DUPLICATE", "x"])]\n'  # 5
        '    if run.get("stopped") in (None, "completed"):\n'  # 6
        '        return {"stopped": "time", "limit": 10, "status": "FAILED"}\n'  # 7
        '    stopped = "limit"\n'  # 8
        '    g(stopped="target_errors", limit="limit", time="time")\n'  # 9
        '    return run["limit"] == 3 and f"{stopped} at ACCEPTED" and "paused"\n'  # 10: none of these
    )
    assert literals(module, "m.py") == [
        "m.py:4: 'PARTIAL'",
        "m.py:5: 'DUPLICATE'",
        "m.py:6: 'completed'",
        "m.py:7: 'FAILED'",
        "m.py:7: 'time'",
        "m.py:8: 'limit'",
        "m.py:9: 'target_errors'",
    ]
    assert literals(module, HOMES[RunStatus]) == [  # its home spells run statuses and stop reasons, no other
        "lambdas/pik/core/replay.py:5: 'DUPLICATE'",
        "lambdas/pik/core/replay.py:7: 'FAILED'",
    ]
