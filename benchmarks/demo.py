"""How long `pik demo` takes to print a working JupyterLab link, phase by phase.

    .venv/bin/python benchmarks/demo.py                 # the default story
    .venv/bin/python benchmarks/demo.py --events 20000  # a bigger one

Runs `pik demo` as a person does (a subprocess in a scratch folder), waits for its `JupyterLab:`
line, checks that the link's notebook is served, prints the wall time to the link and the phases
the demo reports (stack up, ingest, replay, processor drain, notebook execution, lab ready),
then stops it with SIGTERM, as Ctrl-C would.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(events: int | None, timeout_s: float) -> dict[str, str]:
    """One demo until its link answers; the lines it printed that matter, and the wall time."""
    with tempfile.TemporaryDirectory(prefix="pik-demo-bench-") as folder:
        out = Path(folder) / "demo.out"
        command = [sys.executable, "-c", "from pik_cli import main; main()", "demo", "--no-progress"]
        command += ["--events", str(events)] if events else []
        began = time.monotonic()
        with out.open("w") as log:
            demo = subprocess.Popen(
                command, cwd=folder, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
            )
        try:
            link = None
            while link is None:
                if demo.poll() is not None:
                    raise SystemExit(f"pik demo exited with {demo.returncode}:\n{out.read_text()}")
                if time.monotonic() - began > timeout_s:
                    raise SystemExit(f"no JupyterLab link within {timeout_s:.0f} s:\n{out.read_text()}")
                link = next(
                    (line.split(" ", 1)[1] for line in out.read_text().splitlines() if line.startswith("JupyterLab: ")),
                    None,
                )
                time.sleep(0.2)  # polling interval of a bounded wait
            wall = time.monotonic() - began
            base, notebook = link.split("/lab/tree/", 1)
            with urllib.request.urlopen(f"{base}/api/contents/{notebook}", timeout=10) as answer:
                served = answer.status
        finally:
            if demo.poll() is None:
                os.kill(demo.pid, signal.SIGTERM)
                demo.wait(timeout=60)
        lines = out.read_text().splitlines()
        pick = lambda prefix: next((line for line in lines if line.startswith(prefix)), "")  # noqa: E731
        return {
            "wall": f"{wall:.1f} s",
            "link": link,
            "served": str(served),
            "phases": pick("phases: "),
            "incident": pick("incident: "),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=None, help="requests in the story (default: pik demo's)")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    print(f"## pik demo to a working link ({os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})")
    for n in range(args.runs):
        result = run(args.events, args.timeout)
        print(f"run {n + 1}: link after {result['wall']} (contents API {result['served']})")
        print(f"  {result['incident']}")
        print(f"  {result['phases']}")


if __name__ == "__main__":
    main()
