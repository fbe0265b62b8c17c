"""``pik demo``: the local stack, a generated incident sent through the API, replays and the
processor, then the incident notebook (JupyterLab, or executed headless into an HTML report).

    run_demo(events=2_000, lab=False, report=Path("out.html"))      # what `pik demo` does

    with LocalStack() as stack:                                      # or step by step
        outcome = stage_incident(stack, generate(2_000))
        render_report(NOTEBOOK, Path("out.html"), outcome.truth.notebook_parameters(str(stack.info_file)))
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .client import count_statuses, ingest_events, replay
from .incident import Incident, Truth, generate
from .stack import LocalStack

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "incident.ipynb"
DEMO_PARAMETERS = {"AggregateFields": "amount"}  # so aggregates carry sum/min/max of the payload amount


class DemoError(Exception):
    """The demo could not complete a step (the message says which)."""


@dataclass
class DemoOutcome:
    """What the demo did: statuses the API answered per phase and the two replay runs."""

    truth: Truth
    statuses: dict[str, dict[str, int]] = field(default_factory=dict)
    replays: list[dict] = field(default_factory=list)


def queue_depth(sqs: Any, url: str) -> int:
    """Visible plus in-flight messages of a queue."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


def wait_for_drain(sqs: Any, url: str, *, timeout_s: float = 600, poll_s: float = 0.5) -> float:
    """Poll until the queue is empty (processed or dead-lettered); seconds waited, or ``DemoError``."""
    started = time.monotonic()
    while queue_depth(sqs, url):
        if time.monotonic() - started > timeout_s:
            raise DemoError(f"the processor did not drain {url} within {timeout_s:.0f} s")
        time.sleep(poll_s)  # polling interval of a bounded wait, not synchronisation by sleep
    return time.monotonic() - started


def replay_incident(api_url: str, truth: Truth, token: str) -> dict:
    """Replay the focus entity over the incident window, for real (``dry_run: false``)."""
    start, end = truth.incident_window
    return replay(api_url, {"entity_id": truth.focus_entity, "start_time": start, "end_time": end,
                            "dry_run": False, "client_token": token})


def stage_incident(stack: "LocalStack | Any", incident: Incident, *, workers: int = 8, progress: bool = True,
                   say: Callable[[str], None] = print, drain_timeout_s: float = 600) -> DemoOutcome:
    """Send the incident, replay, wait for the processor, send the fix, replay again, wait again.

    ``stack`` is a ``LocalStack`` or anything with its ``info`` and ``session()`` (e.g. a stack
    started by ``pik local up`` in another process).
    """
    outcome = DemoOutcome(incident.truth)
    api, queue = stack.info.api_url, stack.info.outputs["replay_queue_url"]
    sqs = stack.session().client("sqs", endpoint_url=stack.info.endpoint_url)
    for phase in ("stream", "conflicts"):
        outcome.statuses[phase] = _send(api, incident, phase, workers, progress)
    for step, phase in (("before-fix", None), ("after-fix", "fix")):
        if phase:
            outcome.statuses[phase] = _send(api, incident, phase, workers, progress)
        run = replay_incident(api, incident.truth, f"demo-{incident.truth.seed}-{step}")
        say(f"replay {run['replay_id']}: matched {run['matched']}, sent {run['sent']} messages")
        waited = wait_for_drain(sqs, queue, timeout_s=drain_timeout_s)
        say(f"processor drained the queue in {waited:.1f} s")
        outcome.replays.append(run)
    return outcome


def _send(api: str, incident: Incident, phase: str, workers: int, progress: bool) -> dict[str, int]:
    events = incident.phase(phase)
    # The stream is history, replayed with its arrival times; conflicts and the fix happen live, now.
    arrivals = [e.sent_at for e in events] if phase == "stream" else None
    results = ingest_events(api, [e.body for e in events], workers=workers, progress=progress, description=phase,
                            arrivals=arrivals)
    answered = count_statuses(results)
    expected = incident.truth.expected(phase)
    if answered != expected:
        raise DemoError(f"phase {phase}: the API answered {answered}, the generator expected {expected}")
    return answered


def execute_notebook(notebook: Path, output: Path, parameters: dict[str, str]) -> Exception | None:
    """Run ``notebook`` with papermill into ``output``; the cell error, or None when every cell ran."""
    import papermill

    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(str(notebook), str(output), parameters=parameters, kernel_name="python3",
                                   progress_bar=False, cwd=str(notebook.parent))
    except papermill.PapermillExecutionError as exc:
        return exc
    return None


def write_html(notebook: Path, html: Path) -> Path:
    """The executed notebook as one HTML file."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(notebook, as_version=4))
    html.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(body, encoding="utf-8")
    return html


def render_report(notebook: Path, html: Path, parameters: dict[str, str]) -> Exception | None:
    """Execute ``notebook`` next to ``html`` (``.ipynb``) and write the HTML even if a cell failed."""
    executed = html.with_suffix(".ipynb")
    error = execute_notebook(notebook, executed, parameters)
    write_html(executed, html)
    return error


def run_demo(*, events: int = 20_000, seed: int = 7, workers: int = 8, lab: bool = True, report: Path | None = None,
             info_file: Path | None = None, progress: bool = True, notebook: Path = NOTEBOOK,
             say: Callable[[str], None] = print) -> DemoOutcome:
    """Stack up, incident staged, notebook executed (``report`` HTML and/or JupyterLab), stack down.

    Raises ``StackError`` when the stack cannot start and ``DemoError`` when a step or a notebook
    cell failed (the report is written first).
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
        failure = _notebook(stack, truth, notebook, report, lab, say)
    finally:
        stack.stop()
    if failure is not None:
        raise DemoError(f"the incident notebook failed: {str(failure).strip().splitlines()[-1]}")
    return outcome


def _notebook(stack: LocalStack, truth: Truth, notebook: Path, report: Path | None, lab: bool,
              say: Callable[[str], None]) -> Exception | None:
    """Execute the notebook for the report and/or for JupyterLab; the first cell error, if any."""
    parameters = truth.notebook_parameters(str(stack.info_file.resolve()))
    failures = []
    if report:
        failures.append(render_report(notebook, report, parameters))
        say(f"report: {report}")
    if lab:
        from .lab import run_lab

        executed = stack.info_file.parent / "demo" / notebook.name
        failures.append(execute_notebook(notebook, executed, parameters))
        run_lab(executed, env={"PIK_LOCAL_FILE": str(stack.info_file.resolve())}, say=say)
    return next((f for f in failures if f is not None), None)
