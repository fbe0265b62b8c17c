"""The dashboard notebook and the incident notebook's "what the dashboard shows", executed against the
local stack holding a generated incident, with the demo's dashboard file (a nightly job's numbers)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

import pik_nb
from pik_cli.demo_dashboard import DASHBOARD_FILE, write_demo_dashboard
from pik_nb.notebook.runner import run_notebook
from tests.support.notebooks import ROOT, shown


@pytest.fixture(scope="module")
def dashboard_file(incident, tmp_path_factory):
    stack, truth, *_ = incident
    path = tmp_path_factory.mktemp("dashboard") / DASHBOARD_FILE
    write_demo_dashboard(pik_nb.connect(path=stack.info_file), truth, path)
    return path


def run(name: str, parameters: dict, out: Path) -> list[str]:
    done = run_notebook(ROOT / "notebooks" / name, out, parameters=parameters, cwd=ROOT / "notebooks")
    assert done.ok, done.error
    notebook = nbformat.read(done.path, as_version=4)
    assert [o for c in notebook.cells for o in c.get("outputs", []) if o.get("output_type") == "error"] == []
    return shown(notebook)


def test_the_demo_dashboard_is_a_nightly_job_with_a_cutoff(dashboard_file):
    values = pd.read_csv(dashboard_file)
    assert list(values.columns) == ["window", "value"] and len(values) >= 7 and values["value"].sum() > 0


def test_the_dashboard_notebook_gives_the_nightly_semantics_back(incident, dashboard_file, tmp_path):
    stack, truth, *_ = incident
    parameters = {"local_file": str(stack.info_file), "source": truth.focus_source,
                  "event_type": truth.focus_event_type, "dashboard_file": str(dashboard_file)}
    text = "\n".join(run("6_dashboard.ipynb", parameters, tmp_path / "6_dashboard.ipynb"))
    said = re.search(r"the dashboard counts by event time, with a \d+ h cutoff( \(any from ([\w ]+) to ([\w ]+) counts "
                     r"the same\))?, without dedup \(reproduces 100% of windows\)", text)
    assert said, text
    ex = pik_nb.connect(path=stack.info_file).explain_dashboard(dashboard_file, source=truth.focus_source,
                                                                event_type=truth.focus_event_type)
    low, high = ex.semantics.cutoff_range  # the story's arrivals tell apart only the cutoffs outside it
    assert low <= pd.Timedelta(hours=6) and (high is None or pd.Timedelta(hours=6) <= high)
    windows = len(pd.read_csv(dashboard_file))
    assert f"this reproduces {windows} of {windows} windows exactly" in text
    assert re.search(r"\*\*Finding:\*\* a replay of the [\d,]+ late events? would send \d+ \(dry run rp-", text)


def test_the_incident_notebook_shows_what_the_dashboard_shows(incident, dashboard_file, tmp_path):
    stack, truth, *_ = incident
    parameters = {**truth.notebook_parameters(str(stack.info_file)), "dashboard_file": str(dashboard_file)}
    text = "\n".join(run("incident.ipynb", parameters, tmp_path / "incident.ipynb"))
    windows = len(pd.read_csv(dashboard_file))
    assert re.search(r"\*\*Finding:\*\* \w+ \d+ shows [\d,]+, the truth is [\d,]+: [^.]*(arrived after the dashboard's "
                     r"\d+ h cutoff|repeats were counted twice)[^.]*\. The dashboard counts by event time, with a "
                     rf"\d+ h cutoff[^,]*, without dedup — this reproduces {windows} of {windows} windows exactly\.", text)
