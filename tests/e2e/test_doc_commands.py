"""Docs that run: every shell command in README.md and docs/*.md is executed here as written (and
README's Python), in a folder set up like a clone after `make demo` (a local stack holding the
demo's incident, `.pik/demo.env`, `.pik/demo-truth.json`, `.pik/demo-dashboard.csv`).

Exceptions are explicit: blocks whose first line is ``# needs AWS`` are syntax-checked only (they
need an account), and the commands in ``ELSEWHERE`` are run by the test named there.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

import pik_nb
from pik_cli.demo import write_scope
from pik_cli.demo_dashboard import DASHBOARD_FILE, write_demo_dashboard
from pik_local.demo import stage_incident
from pik_local.story import generate
from tests.support.processes import StackProcess

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```(bash|python)\n(.*?)^```", re.MULTILINE | re.DOTALL)
NEEDS_AWS = "# needs AWS"
#: commands that start long-lived processes or the suite itself, and the test that runs each
ELSEWHERE = {
    "make demo": "tests/browser/test_demo_link.py",  # `pik demo`, its printed link opened in Chromium
    "make test": ".ci/run",  # the whole suite (this test included)
    "make lint": "Makefile",  # the first step of `make test`
    "make install": "Makefile",  # the first step of `make test`
    "make checkov": "Makefile",  # optional scanner (a 2-minute install), not in `make test`
}
#: files a folder needs to look like a clone with `make install` done
LINKED = [
    ".venv",
    "Makefile",
    "pyproject.toml",
    "template.yaml",
    "lambdas",
    "notebooks",
    "pik_nb",
    "pik_local",
    "pik_cli",
    "docs",
]


def blocks(path: Path, language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(path.read_text()) if lang == language]


def runnable(body: str) -> str:
    """The block without the commands other tests run (each replaced by a comment naming the test)."""
    lines = []
    for line in body.splitlines():
        command = line.strip()
        elsewhere = next((key for key in ELSEWHERE if command == key or command.startswith(key + " ")), None)
        lines.append(f"# {command}: run by {ELSEWHERE[elsewhere]}" if elsewhere else line)
    return "\n".join(lines)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A clone-like folder whose `.pik/local.json` is a running stack holding the demo's incident."""
    folder = tmp_path_factory.mktemp("clone")
    for name in LINKED:
        if (ROOT / name).exists():
            (folder / name).symlink_to(ROOT / name)
    stack = StackProcess(folder, "--simulated-arrival", name=".pik")
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("AWS_ENDPOINT_URL", stack.info.endpoint_url)
            outcome = stage_incident(stack, generate(400, seed=5), workers=4, progress=False, say=lambda _: None)
        write_scope(outcome.truth, folder / ".pik" / "demo.env")
        (folder / ".pik" / "demo-truth.json").write_text(json.dumps(outcome.truth.summary()))
        write_demo_dashboard(pik_nb.connect(path=stack.info_file), outcome.truth, folder / ".pik" / DASHBOARD_FILE)
        yield folder
    finally:
        assert stack.stop() == 0


def run(script: str, cwd: Path, *command: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    env.pop("PIK_LOCAL_FILE", None)
    return subprocess.run([*command, script], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_every_command_named_elsewhere_is_really_run_there():
    for command, where in ELSEWHERE.items():
        assert command.split()[1] in (ROOT / where).read_text(), (command, where)
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "test: $(STAMP) lint" in (ROOT / "Makefile").read_text()


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_aws_blocks_are_valid_bash(doc):
    for body in blocks(doc, "bash"):
        if body.startswith(NEEDS_AWS):
            done = subprocess.run(["bash", "-n"], input=body, capture_output=True, text=True)
            assert done.returncode == 0, f"{doc.name}: {done.stderr}\n{body}"


@pytest.mark.parametrize(
    "doc", [d for d in DOCS if [b for b in blocks(d, "bash") if not b.startswith(NEEDS_AWS)]], ids=lambda p: p.name
)
def test_shell_commands_run_as_written(workspace, doc):
    """All runnable blocks of one document, in order, in one shell (variables carry over), `set -e`."""
    script = "set -euo pipefail\n" + "\n".join(runnable(b) for b in blocks(doc, "bash") if not b.startswith(NEEDS_AWS))
    before = {p.name for p in workspace.iterdir()}
    done = run(script, workspace, "bash", "-c")
    assert done.returncode == 0, (
        f"{doc.name} failed:\n{script}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    )
    if doc.name == "api.md":  # its scratch files go to a temporary folder, not the clone
        assert {p.name for p in workspace.iterdir()} == before


def test_the_api_examples_work_in_the_order_written(workspace):
    """docs/api.md's ingest example lands inside the window of the dry run that follows it."""
    setup, ingest, dry_run = [
        runnable(b) for b in blocks(ROOT / "docs" / "api.md", "bash") if not b.startswith(NEEDS_AWS)
    ][:3]
    assert "/ingest" in ingest and '"dry_run"' not in dry_run and "/replay" in dry_run
    done = run("\n".join(["set -euo pipefail", setup, ingest, "echo", dry_run]), workspace, "bash", "-c")
    assert done.returncode == 0, done.stderr
    ingested, previewed = (json.loads(line) for line in done.stdout.strip().splitlines())
    assert ingested["status"] in ("ACCEPTED", "DUPLICATE"), ingested
    day = ingested["s3_key"].split("event_date=")[1][:10]
    assert previewed["dry_run"] is True and previewed["matched"] >= 1 and day in previewed["by_day"], previewed


def test_readme_python_runs_as_written(workspace):
    code = "import matplotlib\nmatplotlib.use('Agg')\n" + "\n".join(blocks(ROOT / "README.md", "python"))
    done = run(code, workspace, str(ROOT / ".venv" / "bin" / "python"), "-c")
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_readme_walkthrough_does_what_it_says(workspace):
    """Beyond exit codes: the README's commands answer about the demo's incident."""
    script = (
        "set -euo pipefail\nsource .pik/demo.env\n"
        '.venv/bin/pik replay --entity "$FOCUS" --start "$START" --end "$END"\n'
        '.venv/bin/pik explain "$EVENT_ID"\n'
    )
    done = run(script, workspace, "bash", "-c")
    assert done.returncode == 0, done.stderr
    assert "DRY RUN" in done.stdout and "matched 0" not in done.stdout
    assert "ACCEPTED" in done.stdout
