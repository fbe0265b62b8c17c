"""JupyterLab on one notebook, on 127.0.0.1, with its own Jupyter dirs under ``.pik/jupyter``.

Loopback is every local user's, not only ours: the server asks for a fresh random token (passed in
the environment, ``JUPYTER_TOKEN``, which only this user can read, never on the command line, which
``/proc`` shows to everyone), and the link it prints carries it, as ``jupyter lab`` does itself.
(Jupyter Server: "Security in the Jupyter Server", token authentication.)
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

SETTINGS = {  # no news popup over the notebook; every cell rendered (no lazy windowing) for search and print
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": (
        '{"fetchNews": "false", "checkForUpdates": false, "doNotDisturbMode": true}'
    ),
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": '{"windowingMode": "none"}',
}


def lab_command(notebook: Path, port: int, root: Path, runtime_dir: Path) -> list[str]:
    """The ``jupyter lab`` command line for ``notebook`` under ``root``; kernels over Unix sockets in
    ``runtime_dir`` when their paths fit (no "TCP without encryption"), see ``pik_nb.notebook.runner``."""
    from pik_nb.notebook.runner import ipc_fits

    return [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.password=",
        "--allow-root",
        *(["--KernelManager.transport=ipc"] if ipc_fits(runtime_dir) else []),
        f"--ServerApp.root_dir={root}",
        "--ServerApp.open_browser=False",
        str(notebook.resolve().relative_to(root)),
    ]


def lab_command_line(notebook: Path | str) -> list[str]:
    """A command that opens ``notebook`` in JupyterLab with this Python, no activated venv needed.

    >>> lab_command_line("incidents/2026-12-01-demo.ipynb")   # doctest: +SKIP
    ['/work/main/.venv/bin/python', '-m', 'jupyterlab', 'incidents/2026-12-01-demo.ipynb']
    """
    return [sys.executable, "-m", "jupyterlab", str(notebook)]


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def lab_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment with private Jupyter config, data, runtime and IPython dirs (news popup off)."""
    dirs = {
        "JUPYTER_CONFIG_DIR": home / "config",
        "JUPYTER_RUNTIME_DIR": home / "runtime",
        "IPYTHONDIR": home / "ipython",
        "JUPYTERLAB_SETTINGS_DIR": home / "lab-settings",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    for name, text in SETTINGS.items():
        target = dirs["JUPYTERLAB_SETTINGS_DIR"] / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return {**os.environ, **{k: str(v) for k, v in dirs.items()}, **(extra or {})}


def wait_ready(url: str, process: subprocess.Popen, timeout_s: float = 60, token: str = "") -> None:
    """Poll ``url`` (with ``token``) until it answers; ``RuntimeError`` if the server exits or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"} if token else {})
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(request, timeout=2):
                return
        except OSError:
            time.sleep(0.3)  # polling interval of a bounded wait
    raise RuntimeError(f"jupyter lab did not answer {url} within {timeout_s:.0f} s")


def run_lab(
    notebook: Path | str,
    *,
    port: int = 0,
    home: Path | str = ".pik/jupyter",
    env: dict[str, str] | None = None,
    say: Callable[[str], None] = print,
    on_ready: Callable[[], None] | None = None,
) -> int:
    """Serve ``notebook`` in JupyterLab until Ctrl-C or SIGTERM, then stop the server; its exit code.

    >>> run_lab("incidents/2026-11-24-checkout-drop.ipynb")   # doctest: +SKIP
    JupyterLab: http://127.0.0.1:8888/lab/tree/incidents/2026-11-24-checkout-drop.ipynb?token=...
    """
    notebook = Path(notebook).resolve()
    root = Path.cwd().resolve() if notebook.is_relative_to(Path.cwd().resolve()) else notebook.parent
    port = port or free_port()
    home = Path(home).resolve()
    token = secrets.token_urlsafe(24)
    environment = {**lab_env(home, env), "JUPYTER_TOKEN": token}
    with (home / "lab.log").open("a") as log:  # Jupyter logs a lot: keep it out of the terminal
        process = subprocess.Popen(
            lab_command(notebook, port, root, Path(environment["JUPYTER_RUNTIME_DIR"])),
            env=environment,
            stdout=log,
            stderr=log,
            preexec_fn=_die_with_parent,
        )
    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        wait_ready(f"http://127.0.0.1:{port}/api/status", process, token=token)
        if on_ready is not None:
            on_ready()
        say(f"JupyterLab: http://127.0.0.1:{port}/lab/tree/{notebook.relative_to(root)}?token={token}")
        say(f"Ctrl-C stops it (server log: {home / 'lab.log'})")
        while not stopping.wait(0.5) and process.poll() is None:
            pass  # until a signal or the server exits
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stop_process(process)
    return process.returncode


def _die_with_parent() -> None:
    """In the child before exec: Linux sends it SIGTERM when its parent dies, even by SIGKILL, so
    a killed `pik demo` or `pik incident open` never leaves a JupyterLab server behind."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: Ctrl-C and SIGTERM still stop the server through run_lab


def stop_process(process: subprocess.Popen, timeout_s: float = 15) -> None:
    """SIGTERM a child we started, then SIGKILL it if it has not exited within ``timeout_s``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
