"""`pik demo --no-lab --report`: the whole story headless, on a small incident."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import nbformat
import urllib3

from tests.e2e.conftest import PIK, wait_for


def test_demo_writes_a_report_whose_cells_all_ran(tmp_path):
    report = tmp_path / "out.html"
    info_file = tmp_path / "pik" / "local.json"
    done = subprocess.run([*PIK, "demo", "--no-lab", "--report", str(report), "--events", "200", "--no-progress",
                           "--info-file", str(info_file)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    notebook = Path(done.stdout.split("incident notebook: ", 1)[1].splitlines()[0])
    assert notebook.parent == Path("incidents")  # a folder JupyterLab shows, relative to where the demo ran
    executed = nbformat.read(tmp_path / notebook, as_version=4)
    outputs = [o for cell in executed.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert outputs and [o for o in outputs if o["output_type"] == "error"] == []
    assert "<html" in report.read_text()[:2000].lower()
    answers = json.loads(done.stdout.split("answers per phase: ", 1)[1].splitlines()[0])
    assert sum(n for phase in answers.values() for n in phase.values()) == 200
    assert done.stdout.count("processor drained the queue") == 2
    assert not info_file.exists()  # the stack stopped and cleaned up


def test_sigterm_stops_a_running_demo_cleanly(tmp_path):
    info_file = tmp_path / "pik" / "local.json"
    demo = subprocess.Popen([*PIK, "demo", "--no-lab", "--events", "5000", "--no-progress", "--info-file", str(info_file)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    try:
        wait_for(info_file.exists, timeout_s=60, what="the demo's stack")
        os.kill(demo.pid, signal.SIGTERM)
        assert demo.wait(timeout=60) == 143
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert not info_file.exists()


def _descendants(pid: int) -> set[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_demo_serves_the_notebook_in_jupyterlab_until_stopped(tmp_path):
    out = tmp_path / "demo.out"
    with out.open("w") as log:
        demo = subprocess.Popen([*PIK, "demo", "--events", "60", "--no-progress"], stdout=log, stderr=subprocess.STDOUT,
                                cwd=tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = wait_for(lambda: next((l for l in out.read_text().splitlines() if l.startswith("JupyterLab: ")), None),
                        timeout_s=120, what="JupyterLab's URL")
        url = line.split(" ", 1)[1]
        base, notebook = url.split("/lab/tree/", 1)
        assert base.startswith("http://127.0.0.1:") and notebook.startswith("incidents/") and notebook.endswith("-demo.ipynb")
        assert urllib3.PoolManager().request("GET", url).status == 200
        # what the page asks for when it opens the link: JupyterLab's contents API must find the notebook
        assert urllib3.PoolManager().request("GET", f"{base}/api/contents/{notebook}").status == 200
        assert (tmp_path / notebook).exists()
        spawned = _descendants(demo.pid)
        assert spawned  # the JupyterLab server
        os.kill(demo.pid, signal.SIGTERM)
        assert demo.wait(timeout=60) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert [pid for pid in spawned if _alive(pid)] == []
    assert not (tmp_path / ".pik" / "local.json").exists()
