"""Every notebook runs top to bottom against the local stack holding a generated incident."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from pik_nb.notebook.runner import run_notebook, write_html
from pik_nb.replay.widget import STATIC_NOTE
from tests.support.notebooks import NOTEBOOKS, ROOT, shown

OUTPUT = ROOT / "test-output" / "notebooks"


@pytest.fixture(scope="module")
def executed(incident):
    """Each notebook executed once (``test-output/notebooks/<name>.ipynb`` and ``.html``)."""
    stack, truth, *_ = incident
    OUTPUT.mkdir(parents=True, exist_ok=True)
    done = {}
    for path in NOTEBOOKS:
        out = OUTPUT / path.name
        run = run_notebook(path, out, parameters=truth.notebook_parameters(str(stack.info_file)), cwd=path.parent)
        assert run.ok, run.error
        write_html(out, out.with_suffix(".html"))
        done[path.name] = nbformat.read(out, as_version=4)
    return done


@pytest.mark.parametrize("name", [p.name for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom_and_states_findings(executed, name):
    errors = [o for c in executed[name].cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    if name != "5_replay.ipynb":
        assert any(text.startswith("**Finding:**") for text in shown(executed[name]))


def test_incident_notebook_findings_match_the_truth(incident, executed):
    _, truth, *_ = incident
    text = "\n".join(shown(executed["incident.ipynb"]))
    # the EMF lines, dated at arrival; the view covers the conflicts and the fix, which arrive now
    assert re.search(r"pipeline health, \d+ (min|h|d) periods: from [\d: -]+ to [\d: -]+ UTC \(the plotted range\), "
                     r"[\d,]+ events arrived \([\d,]+ accepted, [\d,]+ duplicates?, [\d,]+ conflicts?, "
                     r"[\d,]+ rejected\); lag p99 peaked at \d+ [dh].* UTC, "
                     r"(inside the incident window|before it|after it)\.", text)
    assert re.search(r"the latest-arriving stream is \w+/\w+ \(p99 ", text)
    assert f"count for {truth.focus_entity} on {truth.missing_day} went from" in text
    assert f"{len(truth.fix_event_ids)} events added, 0 removed; causes: late arrival, replay." in text
    assert_the_story(text, *incident[1:], "**Finding:**")
    assert "- [x] raw verified" in text and "- [x] processor observed" in text and "- [x] version validated" in text
    assert "- [ ] root cause noted" in text and "4 of 5 checks done" in text
    assert "a duplicate storm: " in text and f"UTC in {truth.focus_source}/{truth.focus_event_type} (up to" in text
    assert re.search(r"duplicates in a window, against \d+ new events per window on average", text)
    assert not re.search(r"\d\.\d+e[+-]\d+|\d+ days \d\d:\d\d:\d\d", text)  # lags read as durations
    assert re.search(r"median lag \d+ (min|s)\b.*, p99 \d+ [dh] \d+", text)


@pytest.mark.parametrize("name", [p.name for p in NOTEBOOKS])
def test_every_table_a_notebook_shows_reads_as_a_person_does(executed, name):
    """Issue 21, finding 8: one helper (``pik_nb.table``) shows every table: no pandas' own table, whose
    shares read 0.111111 and whose 0/1/2 index means nothing; and the widget's note is whole."""
    outputs = [o for c in executed[name].cells for o in c.get("outputs", [])]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    raw = [text[:300] for text in html if 'class="dataframe"' in text or "<table border=" in text]
    assert raw == [] and (html or name == "5_replay.ipynb")
    if "replay_widget(" in "".join(c.source for c in executed[name].cells):
        assert STATIC_NOTE in report_text((OUTPUT / name).with_suffix(".html"))  # not cut at 110 characters


@pytest.mark.parametrize("name", [p.name for p in NOTEBOOKS if p.name != "5_replay.ipynb"])
def test_the_report_images_carry_alternative_text(executed, name):
    html = (OUTPUT / name).with_suffix(".html").read_text()
    images = re.findall(r"<img\b[^>]*>", html)
    assert images and all(re.search(r'\balt="Figure: [^"]+"', image) for image in images)
    assert "No description has been provided" not in html  # nbconvert's stand-in when alt is missing


@pytest.mark.parametrize("name", [p.name for p in NOTEBOOKS if p.name != "5_replay.ipynb"])
def test_an_empty_scope_says_so_and_finishes(incident, tmp_path, capfd, name):
    stack, truth, *_ = incident
    start, end = truth.incident_window
    parameters = {"local_file": str(stack.info_file), "entity_id": "nobody", "start": start, "end": end}
    run = run_notebook(ROOT / "notebooks" / name, tmp_path / name, parameters=parameters, cwd=ROOT / "notebooks")
    cells = nbformat.read(run.path, as_version=4).cells
    assert run.ok, run.error
    assert [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"] == []
    text = "\n".join(shown(nbformat.read(run.path, as_version=4)))
    assert (f"**Finding:** no events in scope for nobody between {start[:10]} 00:00 and {end[:10]} 00:00 UTC"
            in text)
    captured = capfd.readouterr()
    assert "without encryption" not in captured.out + captured.err  # the kernel talks over ipc, not plain TCP


def test_pik_incident_open_then_report(incident, tmp_path):
    import subprocess

    from tests.support.processes import PIK

    stack, truth, *_ = incident
    start, end = truth.incident_window
    opened = subprocess.run([*PIK, "incident", "open", "missing-day", "--entity", truth.focus_entity,
                             "--start", start, "--end", end, "--local-file", str(stack.info_file), "--dir", "incidents",
                             "--no-lab"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert opened.returncode == 0, opened.stderr
    [notebook] = (tmp_path / "incidents").glob("*-missing-day.ipynb")
    assert f"incident notebook: incidents/{notebook.name}" in opened.stdout
    cells = nbformat.read(notebook, as_version=4).cells
    assert any(f'entity_id = "{truth.focus_entity}"' in c.source for c in cells)  # papermill's injected parameters
    assert not [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    reported = subprocess.run([*PIK, "incident", "report", "missing-day", "--dir", "incidents"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
    assert reported.returncode == 0, reported.stderr
    assert reported.stdout.strip() == f"report: incidents/{notebook.stem}.html (from incidents/{notebook.name})"
    assert_the_story(report_text(notebook.with_suffix(".html")), *incident[1:], "Finding:", stream_scoped=False)


def test_the_demos_report_tells_the_planted_story(incident, executed):
    """The HTML report of the demo's scope (the focus entity in the focus stream), as a person reads it."""
    report = report_text((OUTPUT / "incident.ipynb").with_suffix(".html"))
    assert_the_story(report, *incident[1:], "Finding:")
    _, truth, _ = incident
    start, end = truth.incident_window
    assert report.index("run at") < report.index("Finding:")  # the scope and run time head the report
    assert f"entity_id {truth.focus_entity}" in report and f"start {start}" in report and f"end {end}" in report


def report_text(path: Path) -> str:
    """What a reader of the HTML report sees: tags and scripts stripped, entities unescaped."""
    import html

    page = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", path.read_text())
    return re.sub(r"[ \t]+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def assert_the_story(text: str, truth, plan, finding: str, *, stream_scoped: bool = True) -> None:
    """Every sentence a person reads against what the generator planted (issue 21); ``stream_scoped``: the
    notebook's scope named the focus stream too (the demo's), not only the focus entity (README's command)."""
    focus, stream = truth.focus_entity, f"{truth.focus_source}/{truth.focus_event_type}"
    compact = re.sub(r"\s+", " ", text)
    # the missing day: named, with its stream and class, though the entity's other streams arrived on time
    gaps = re.search(r"Finding:\W+\d+ missing stream-days?[^.]*\.", compact)
    assert gaps and gaps.group(0).split("Finding:")[1].strip(" *") == (
        f"1 missing stream-day: {focus} {stream} on {truth.missing_day} (arrived late)."), gaps and gaps.group(0)
    assert "window(s)" not in compact and "0 missing" not in compact
    # the late stream: the late burst hit the focus source
    assert f"the latest-arriving stream is {stream} (p99 " in compact
    # the storm, in the focus stream
    assert re.search(rf"a duplicate storm: [\d,]+ duplicates in (an? \d+-(minute|hour|day) window|[\d,]+ windows "
                     rf"of \d+ (minute|hour|day)s?) (from|between) .* UTC in {stream} \(up to", compact), compact
    # the conflicts: the focus entity's re-used idempotency keys
    start, end = truth.incident_window
    inside = lambda e: start <= e.body["event_time"].replace("+00:00", "Z") < end  # noqa: E731  (same ISO form)
    conflicts = sum(1 for e in plan.events if e.expected == "CONFLICT" and e.body["entity_id"] == focus and inside(e))
    assert conflicts and f"{conflicts} conflict{'s' if conflicts > 1 else ''})" in compact
    # the rejected requests of the bad deploy, around the window: each one whose body still names the focus
    # entity (and, for a stream scope, the focus stream); one with no entity or a broken body cannot be placed
    rejected = re.search(r"(\d+) requests? rejected around the window", compact)
    placed = [e.body for e in plan.events if e.expected == "REJECTED" and isinstance(e.body, dict)]
    mine = [b for b in placed if b.get("entity_id") == focus and (not stream_scoped or (b.get("source"), b.get(
        "event_type")) == (truth.focus_source, truth.focus_event_type))]
    assert rejected and int(rejected.group(1)) == len(mine) > 0, (rejected and rejected.group(0), len(mine))
    # the replays: the demo replayed the focus entity's window, and the processor wrote a version from it
    assert f"replay scoped: a replay (not a dry run) covered {focus}" in compact
    assert "4 of 5 checks done: root cause noted still open." in compact  # replay scoped and processor observed ticked
    assert not re.search(r"\b\d+\.0\b (events|attempts|duplicates|conflicts)", compact)  # counts are integers
    assert finding in text


def test_pik_incident_open_refuses_an_ambiguous_scope(tmp_path):
    import subprocess

    from tests.support.processes import PIK

    done = subprocess.run([*PIK, "incident", "open", "x", "--entity", "a", "--source", "s", "--start", "2026-01-01",
                           "--end", "2026-01-02", "--no-lab"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    refused = "Error: give --entity, or --source with --event-type, not both (see: pik incident open --help)"
    assert done.returncode != 0 and refused in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "incidents").exists()
