"""``pik demo``: the local stack, a generated incident staged on it (``pik_local.demo``), then the
incident notebook executed into ``incidents/`` and opened in JupyterLab (or written as HTML).

    run_demo(events=2_000, lab=False, report=Path("out.html"))      # what `pik demo --no-lab` does
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pik_local.demo import DEMO_PARAMETERS, DemoError, DemoOutcome, stage_incident
from pik_local.info import default_path
from pik_local.stack import LocalStack
from pik_local.story import Truth, generate
from pik_nb.notebook.incident import TEMPLATE
from pik_nb.notebook.runner import NotebookRun, next_free, run_notebook, write_html

from ._common import DEMO_EVENTS, DEMO_WORKERS
from .lab import lab_command_line, run_lab

INCIDENTS = Path("incidents")  # a visible folder: JupyterLab cannot open notebooks under dot-folders


def run_demo(
    *,
    events: int = DEMO_EVENTS,
    seed: int = 7,
    workers: int = DEMO_WORKERS,
    lab: bool = True,
    report: Path | None = None,
    info_file: Path | None = None,
    progress: bool = True,
    notebook: Path = TEMPLATE,
    say: Callable[[str], None] = print,
) -> DemoOutcome:
    """Stack up, incident staged, notebook executed (``report`` HTML and/or JupyterLab), stack down.

    Raises ``StackError`` when the stack cannot start and ``DemoError`` when a step or a notebook
    cell failed (the report and the partial notebook are written first).
    """
    began = time.monotonic()
    stack = LocalStack(info_file=info_file, parameters=DEMO_PARAMETERS, simulated_arrival=True)
    stack.start()
    stack_up = time.monotonic() - began
    try:
        say(f"local stack: API {stack.info.api_url}, AWS {stack.info.endpoint_url}, info {stack.info_file}")
        incident = generate(events, seed=seed)
        truth = incident.truth
        say(
            f"incident: {events} requests, focus {truth.focus_entity} ({truth.focus_source}) missing "
            f"{truth.missing_day}, expected {json.dumps(truth.expected())}"
        )
        outcome = stage_incident(stack, incident, workers=workers, progress=progress, say=say)
        outcome.seconds = {"stack up": stack_up, **outcome.seconds}  # phases in the order they ran
        truth_file = stack.info_file.parent / "demo-truth.json"
        truth_file.write_text(json.dumps(truth.summary(), indent=2))
        say(f"ground truth: {truth_file}")
        say(_dashboard(stack, truth))
        say(
            try_this(truth, write_scope(truth, stack.info_file.parent / "demo.env"), lab=lab, info_file=stack.info_file)
        )
        run = _notebook(stack, outcome, notebook, report, lab, say, began)
    finally:
        stack.stop()
    if not run.ok:
        raise DemoError(f"the incident notebook failed: {run.error}; the partial notebook is {run.path}")
    return outcome


def _dashboard(stack: LocalStack, truth: Truth) -> str:
    """``.pik/demo-dashboard.csv`` (``pik_cli.demo_dashboard``) and the command that explains it."""
    from pik_nb.connect import connect

    from .demo_dashboard import DASHBOARD_FILE, dashboard_hint, write_demo_dashboard

    path = write_demo_dashboard(connect(path=stack.info_file), truth, stack.info_file.parent / DASHBOARD_FILE)
    return dashboard_hint(truth, path)


def write_scope(truth: Truth, path: Path) -> Path:
    """``.pik/demo.env``: the incident's scope as shell variables (``source .pik/demo.env``)."""
    path.write_text("".join(f"{name}={shlex.quote(value)}\n" for name, value in truth.shell_scope().items()))
    return path


def try_this(truth: Truth, scope_file: Path, *, lab: bool = True, info_file: Path | None = None) -> str:
    """What to try while the demo runs (with the lab, which keeps the stack up): the commands of the README
    with this incident's values, with ``--local-file`` when the stack's ``info_file`` is not where they look
    by default (``--info-file``); without the lab the stack stops when the notebook is done, so how to keep one.

    >>> try_this(truth, Path(".pik/demo.env"), lab=False).splitlines()[1]     # doctest: +SKIP
    'This run stops its stack when the report is written (--no-lab). ...'
    """
    scope, pik = truth.shell_scope(), _here(Path(sys.executable).parent / "pik")
    window = f"--start {scope['START']} --end {scope['END']}"
    elsewhere = info_file is not None and info_file.absolute() != default_path().absolute()
    where = f" --local-file {_here(info_file)}" if elsewhere and info_file is not None else ""
    incident = (
        f"The incident: entity {scope['FOCUS']} lost {scope['SOURCE']}/{scope['EVENT_TYPE']} events of "
        f"{scope['MISSING_DAY']} (window {scope['START']} .. {scope['END']})."
    )
    if not lab:
        return "\n".join(
            [
                incident,
                "This run stops its stack when the report is written (--no-lab). To try the CLI on this incident, run "
                f"`{pik} demo` without --no-lab: the stack runs until you close the lab, and it prints the commands; "
                f"`{pik} local up` keeps an empty stack of your own.",
            ]
        )
    return "\n".join(
        [
            incident,
            f"Try, in another terminal while this runs (`source {_here(scope_file)}` sets these values):",
            f"  {pik} status{where}",
            f"  {pik} replay --entity {scope['FOCUS']} {window}{where}",
            f"  {pik} explain {scope['EVENT_ID']}{where}",
            f"  {pik} incident open missing-day --entity {scope['FOCUS']} {window} --no-lab{where}",
            f"In a notebook: kit.diff({scope['FOCUS']!r}, {scope['MISSING_DAY']!r})",
        ]
    )


def _here(path: Path) -> Path:
    """``path`` relative to the working directory when it is inside it (shorter to copy)."""
    path = path.absolute()
    return path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path


def _notebook(
    stack: LocalStack,
    outcome: DemoOutcome,
    notebook: Path,
    report: Path | None,
    lab: bool,
    say: Callable[[str], None],
    began: float,
) -> NotebookRun:
    """Execute the notebook into ``incidents/`` (never over an earlier one); HTML and/or JupyterLab."""
    parameters = outcome.truth.notebook_parameters(str(stack.info_file.resolve()))
    dashboard = stack.info_file.parent / "demo-dashboard.csv"  # written by run_demo: "what the dashboard shows"
    if dashboard.exists():
        parameters["dashboard_file"] = str(dashboard.resolve())
    day = datetime.now(UTC).date().isoformat()
    with outcome.timed("notebook"):
        run = run_notebook(notebook, next_free(INCIDENTS / f"{day}-demo.ipynb"), parameters=parameters, cwd=Path.cwd())
    say(f"incident notebook: {run.path}" + ("" if run.ok else f" (failed: {run.error})"))
    if report:
        write_html(run.path, report)
        say(f"report: {report}")
    if not lab:
        say(f"phases: {phases(outcome, time.monotonic() - began)}")
        say(f"open it with: {shlex.join(lab_command_line(run.path))}")
    elif run.ok:
        started = time.monotonic()

        def ready() -> None:
            outcome.seconds["lab"] = time.monotonic() - started
            say(f"phases: {phases(outcome, time.monotonic() - began)}")

        run_lab(run.path, env={"PIK_LOCAL_FILE": str(stack.info_file.resolve())}, say=say, on_ready=ready)
    return run


def phases(outcome: DemoOutcome, total: float) -> str:
    """``"total 48.1 s = stack up 1.2 s, ingest 20.3 s, ..."``: where the demo's time went."""
    return f"total {total:.1f} s = " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in outcome.seconds.items())
