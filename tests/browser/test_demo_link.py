"""`pik demo` as a person meets it: open the JupyterLab link it prints, in a real browser, and see
the executed incident notebook (outputs, a plot, findings), no error dialog; then stop it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.browser import OUTPUT, chromium_page
from tests.support.processes import PIK, stopped
from tests.support.waits import wait_for


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


def test_the_printed_link_opens_the_executed_incident_notebook_in_a_browser(tmp_path):
    out = tmp_path / "demo.out"
    with out.open("w") as log:
        demo = subprocess.Popen(
            [*PIK, "demo", "--events", "600", "--no-progress"],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    with stopped(demo):
        line = wait_for(
            lambda: next((s for s in out.read_text().splitlines() if s.startswith("JupyterLab: ")), None),
            timeout_s=240,
            what="JupyterLab's URL",
        )
        url = line.split(" ", 1)[1]
        parts = urlsplit(url)
        notebook = parts.path.split("/lab/tree/", 1)[1]
        assert notebook.startswith("incidents/") and (tmp_path / notebook).exists()
        # loopback is every local user's: without the link's token the server lets no one in
        (token,) = parse_qs(parts.query)["token"]
        assert len(token) >= 32 and token not in Path(f"/proc/{demo.pid}/cmdline").read_text()
        for pid in _descendants(demo.pid):
            assert token not in Path(f"/proc/{pid}/cmdline").read_text()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{parts.scheme}://{parts.netloc}/api/contents/{notebook}", timeout=30)
        assert refused.value.code == 403
        with chromium_page(1400, 1600) as page:
            page.goto(url, timeout=120_000)
            page.wait_for_selector(".jp-NotebookPanel .jp-OutputArea-output", timeout=120_000)
            page.wait_for_function(
                "() => document.querySelectorAll('.jp-NotebookPanel .jp-OutputArea-output img').length > 0",
                timeout=60_000,
            )
            page.wait_for_function(  # Markdown outputs render asynchronously, after the images
                "() => document.querySelector('.jp-NotebookPanel').innerText.includes('Finding:')", timeout=60_000
            )
            text = page.inner_text(".jp-NotebookPanel")
            dialog = page.query_selector(".jp-Dialog")  # e.g. "Cannot open: Could not find path"
            assert dialog is None, dialog.inner_text()
            assert "Finding:" in text
            assert "Traceback" not in text and "Error" not in page.inner_text(".jp-NotebookPanel-toolbar")
            assert page.locator(".jp-NotebookPanel .jp-OutputArea-output img").count() >= 3
            assert page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').count() == 0
            # the replay widget's controls, rendered from the state saved in the (trusted) executed notebook
            page.wait_for_selector(".jp-NotebookPanel .pik-replay-widget button.widget-button", timeout=60_000)
            buttons = page.locator(".jp-NotebookPanel .pik-replay-widget button.widget-button").all_inner_texts()
            assert [b.strip() for b in buttons] == ["Preview", "Replay"]
            assert "VBox(children=" not in text
            page.screenshot(path=str(OUTPUT / "demo_link.png"), full_page=False)
        spawned = _descendants(demo.pid)
        assert spawned  # the JupyterLab server
        os.kill(demo.pid, signal.SIGTERM)
        assert demo.wait(timeout=60) == 0
    assert [pid for pid in spawned if _alive(pid)] == []
    assert not (tmp_path / ".pik" / "local.json").exists()
