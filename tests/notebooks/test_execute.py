"""Every notebook runs top to bottom against the local stack holding a generated incident."""

from __future__ import annotations

from pathlib import Path

import nbformat
import papermill
import pytest

from pik_local.demo import stage_incident
from pik_local.incident import generate
from tests.e2e.conftest import StackProcess

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def incident(tmp_path_factory):
    """`pik local up` in a subprocess, holding an incident sent, replayed, fixed and replayed."""
    stack = StackProcess(tmp_path_factory.mktemp("notebooks"))
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("AWS_ENDPOINT_URL", stack.info.endpoint_url)  # stage_incident's boto3 calls reach moto
            outcome = stage_incident(stack, generate(400, seed=11), workers=4, progress=False, say=lambda _: None)
        yield stack, outcome.truth
    finally:
        assert stack.stop() == 0


def run(path: Path, parameters: dict, tmp_path: Path) -> list[str]:
    """Execute a notebook; return the Markdown it displayed (findings, checklists)."""
    out = tmp_path / path.name
    papermill.execute_notebook(str(path), str(out), parameters=parameters, kernel_name="python3",
                               progress_bar=False, cwd=str(path.parent))
    notebook = nbformat.read(out, as_version=4)
    return [o["data"]["text/markdown"] for c in notebook.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if "text/markdown" in o.get("data", {})]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(incident, path, tmp_path):
    stack, truth = incident
    shown = run(path, truth.notebook_parameters(str(stack.info_file)), tmp_path)
    if path.name != "5_replay.ipynb":
        assert any(text.startswith("**Finding:**") for text in shown)


def test_incident_notebook_findings_match_the_truth(incident, tmp_path):
    stack, truth = incident
    shown = "\n".join(run(NOTEBOOKS[-1], truth.notebook_parameters(str(stack.info_file)), tmp_path))
    assert NOTEBOOKS[-1].name == "incident.ipynb"
    fixed = len(truth.fix_event_ids)
    assert f"count for {truth.focus_entity} on {truth.missing_day} went from" in shown
    assert f"{fixed} events added, 0 removed; causes: late arrival, replay." in shown
    assert "- [x] raw verified" in shown and "- [x] processor observed" in shown and "- [x] version validated" in shown
    assert "- [ ] root cause noted" in shown and "4 of 5 checks done" in shown
