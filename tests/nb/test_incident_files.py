"""Incident files as a person meets them (issue 21, finding 5): a report says which notebook it used,
a failed run never becomes "the newest notebook", a bad scope is refused before a kernel starts,
and an executed notebook is trusted so JupyterLab shows its widgets."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from pik_cli import cli
from pik_nb.notebook.incident import IncidentError, find_incident, incident_parameters
from pik_nb.notebook.runner import run_notebook, write_html


def _notebook(path: Path, source: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(source),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture
def notary(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))
    return tmp_path


def test_a_failed_run_is_kept_apart_and_the_report_names_the_notebook_it_used(notary):
    folder = notary / "incidents"
    folder.mkdir()
    good = _notebook(folder / "2026-12-01-drop.ipynb", "print('fine')")
    older = time.time() - 60
    os.utime(good, (older, older))
    (folder / "2026-12-01-big-drop.ipynb").write_text(good.read_text())  # another incident, newer
    failed = run_notebook(
        _notebook(notary / "bad.ipynb", "raise KeyError('amount')"), folder / "2026-12-01-drop-2.ipynb", parameters={}
    )
    assert failed.error == "KeyError: 'amount' (cell 2)"
    assert failed.path.name == "2026-12-01-drop-2.failed.ipynb" and failed.path.exists()
    assert not (folder / "2026-12-01-drop-2.ipynb").exists()
    assert find_incident("drop", folder) == good
    result = CliRunner().invoke(cli, ["incident", "report", "drop", "--dir", str(folder)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"report: {good.with_suffix('.html')} (from {good})"


def test_an_executed_notebook_is_trusted_so_lab_renders_its_widgets(notary):
    from nbformat.sign import NotebookNotary

    run = run_notebook(
        _notebook(notary / "w.ipynb", "import ipywidgets as w\nw.Button(description='Preview')"),
        notary / "out.ipynb",
        parameters={},
    )
    assert run.ok
    assert NotebookNotary().check_signature(nbformat.read(run.path, as_version=4))
    assert "application/vnd.jupyter.widget-state+json" in nbformat.read(run.path, as_version=4).metadata["widgets"]


def test_the_report_carries_no_widget_javascript_and_hides_code_behind_one_switch(notary):
    """Issue 21, finding 9: a report has no kernel, so no widget manager nor saved widget state; the
    widget reads as its plain-text line, the code is hidden until the one "show code" switch."""
    source = "import ipywidgets as w\nprint('Finding: the day arrived late')\nw.Button(description='Preview')"
    run = run_notebook(_notebook(notary / "w.ipynb", source), notary / "out.ipynb", parameters={})
    assert run.ok and "widgets" in nbformat.read(run.path, as_version=4).metadata  # the notebook keeps its state
    page = write_html(run.path, notary / "out.html").read_text()
    scripts = re.findall(r"<script\b[^>]*>", page)
    assert "widget-state+json" not in page and "widget-view+json" not in page and "embed-amd" not in page, scripts
    plain = "<pre>Button(description='Preview', style=ButtonStyle())</pre>"  # the widget as its plain-text line
    assert f'data-mime-type="text/plain" tabindex="0">\n{plain}' in page
    assert page.count('id="pik-show-code"') == 1 and "Finding: the day arrived late" in page
    assert "body:not(.pik-show-code) .jp-CodeCell .jp-Cell-inputWrapper" in page  # code hidden by default
    assert page.index("show code") < page.index("Finding: the day arrived late")


@pytest.mark.parametrize(
    "start, end, message",
    [
        ("2026-11-21", "2026-11-20", "the window ends (2026-11-20T00:00:00+00:00) before it starts"),
        ("2026-11-20", "2026-11-20", "--end must be after --start"),
    ],
)
def test_a_backwards_window_is_refused_before_any_kernel_starts(tmp_path, start, end, message):
    result = CliRunner().invoke(
        cli,
        [
            "incident",
            "open",
            "drop",
            "--entity",
            "e-1",
            "--start",
            start,
            "--end",
            end,
            "--dir",
            str(tmp_path / "incidents"),
            "--no-lab",
        ],
    )
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "incidents").exists()
    with pytest.raises(IncidentError, match="before it starts"):
        incident_parameters(entity_id="e-1", start="2026-11-21", end="2026-11-20")


def test_every_parameter_pik_injects_is_one_the_incident_notebook_declares():
    # papermill warns "Passed unknown parameter" (the demo printed it for dashboard_file) for a name the
    # parameters cell lacks; each name pik passes is declared there, so `papermill --help-notebook` lists it
    import papermill

    from pik_nb.notebook.incident import TEMPLATE

    passed = incident_parameters(
        entity_id="user_003",
        start="2026-11-30",
        end="2026-12-03",
        local_file=".pik/local.json",
        dashboard="demo-dashboard.csv",
    )
    declared = papermill.inspect_notebook(str(TEMPLATE))
    assert set(passed) - set(declared) == set()
    assert set(passed) == {
        "entity_id",
        "source",
        "event_type",
        "start",
        "end",
        "stack",
        "profile",
        "region",
        "local_file",
        "dashboard_file",
    }


def test_incident_open_and_report_print_one_json_document_with_json(notary, monkeypatch):
    # issue 23, item 2: the two commands that print paths say them as JSON for a script; stdout is that
    # document alone (a failure stays on stderr with exit 1)
    monkeypatch.chdir(notary)
    scope = ["--entity", "user_003", "--start", "2026-11-30", "--end", "2026-12-03"]
    opened = CliRunner().invoke(cli, ["incident", "open", "drop", *scope, "--no-execute", "--no-lab", "--json"])
    assert opened.exit_code == 0, opened.output
    said = json.loads(opened.stdout)
    notebook = Path(said.pop("notebook"))
    assert notebook.parent == Path("incidents") and re.fullmatch(r"\d{4}-\d{2}-\d{2}-drop\.ipynb", notebook.name)
    assert notebook.exists() and said.pop("lab_command")[-1] == str(notebook)
    assert said == {"executed": False, "ok": True, "error": None}
    reported = CliRunner().invoke(cli, ["incident", "report", "drop", "--output", "out.html", "--json"])
    assert reported.exit_code == 0, reported.output
    assert json.loads(reported.stdout) == {"report": "out.html", "notebook": str(notebook)}
    assert Path("out.html").read_text().startswith("<!DOCTYPE html>")
