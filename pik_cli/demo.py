"""``pik demo``: the local stack, a generated incident staged on it (``pik_local.demo``), then the
incident notebook executed into ``incidents/`` and opened in JupyterLab (or written as HTML).

    run_demo(events=2_000, lab=False, report=Path("out.html"))      # what `pik demo --no-lab` does
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from pik_local.demo import DEMO_PARAMETERS, DemoError, DemoOutcome, stage_incident
from pik_local.incident import Truth, generate
from pik_local.stack import LocalStack
from pik_nb.incident import TEMPLATE
from pik_nb.runner import NotebookRun, next_free, run_notebook, write_html

INCIDENTS = Path("incidents")  # a visible folder: JupyterLab cannot open notebooks under dot-folders


def run_demo(*, events: int = 20_000, seed: int = 7, workers: int = 8, lab: bool = True, report: Path | None = None,
             info_file: Path | None = None, progress: bool = True, notebook: Path = TEMPLATE,
             say: Callable[[str], None] = print) -> DemoOutcome:
    """Stack up, incident staged, notebook executed (``report`` HTML and/or JupyterLab), stack down.

    Raises ``StackError`` when the stack cannot start and ``DemoError`` when a step or a notebook
    cell failed (the report and the partial notebook are written first).
    """
    stack = LocalStack(info_file=info_file, parameters=DEMO_PARAMETERS, simulated_arrival=True)
    stack.start()
    try:
        say(f"local stack: API {stack.info.api_url}, AWS {stack.info.endpoint_url}, info {stack.info_file}")
        incident = generate(events, seed=seed)
        truth = incident.truth
        say(f"incident: {events} requests, focus {truth.focus_entity} ({truth.focus_source}) missing "
            f"{truth.missing_day}, expected {json.dumps(truth.expected())}")
        outcome = stage_incident(stack, incident, workers=workers, progress=progress, say=say)
        truth_file = stack.info_file.parent / "demo-truth.json"
        truth_file.write_text(json.dumps(truth.summary(), indent=2))
        say(f"ground truth: {truth_file}")
        run = _notebook(stack, truth, notebook, report, lab, say)
    finally:
        stack.stop()
    if not run.ok:
        raise DemoError(f"the incident notebook failed: {run.error}; the partial notebook is {run.path}")
    return outcome


def _notebook(stack: LocalStack, truth: Truth, notebook: Path, report: Path | None, lab: bool,
              say: Callable[[str], None]) -> NotebookRun:
    """Execute the notebook into ``incidents/`` (never over an earlier one); HTML and/or JupyterLab."""
    parameters = truth.notebook_parameters(str(stack.info_file.resolve()))
    day = datetime.now(timezone.utc).date().isoformat()
    run = run_notebook(notebook, next_free(INCIDENTS / f"{day}-demo.ipynb"), parameters=parameters, cwd=Path.cwd())
    say(f"incident notebook: {run.path}" + ("" if run.ok else f" (failed: {run.error})"))
    if report:
        write_html(run.path, report)
        say(f"report: {report}")
    if lab and run.ok:
        from .lab import run_lab

        run_lab(run.path, env={"PIK_LOCAL_FILE": str(stack.info_file.resolve())}, say=say)
    return run
