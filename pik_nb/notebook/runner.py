"""The one notebook runner: papermill executes a parameterised copy, nbconvert writes its HTML.

Every run writes a new file (``next_free``): an earlier notebook of the same name is never
overwritten. A failed run keeps the partial notebook as ``<stem>.failed.ipynb`` (so nothing that
looks for the newest good notebook picks it) and says which cell failed with which exception,
instead of a bare traceback. An executed notebook is signed as trusted (it is this user's own
output, as if they had run it in JupyterLab), so JupyterLab renders its saved widgets and HTML.

    outcome = run_notebook(Path("notebooks/incident.ipynb"), Path("incidents/2026-12-01-drop.ipynb"),
                           parameters={"entity_id": "user_001", ...})
    outcome.ok, outcome.path, outcome.error      # True, PosixPath(...), None
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# A Unix socket path holds at most 107 bytes; the kernel's are "<runtime dir>/kernel-<uuid>-ipc-N".
IPC_PATH_BYTES = 107 - len("/kernel-00000000-0000-0000-0000-000000000000-ipc-4")
# JupyterLab's HTML report, plus the alternative text our figures carry (the lab template drops it).
REPORT_TEMPLATES = Path(__file__).parent / "templates"
KERNEL_START_TIMEOUT_S = 180  # papermill's 60 s is reached on a machine busy with other kernels and tests


@dataclass(frozen=True)
class NotebookRun:
    """Where the executed (or partial) notebook is, and the failing cell's exception, if any."""

    path: Path
    error: str | None = None  # "KeyError: 'amount' (cell 7)"

    @property
    def ok(self) -> bool:
        return self.error is None


def next_free(path: Path) -> Path:
    """``path``, or ``<stem>-2<suffix>``, ``-3``, ... whichever does not exist yet.

    >>> next_free(Path("incidents/2026-12-01-drop.ipynb"))   # when the first exists
    PosixPath('incidents/2026-12-01-drop-2.ipynb')
    """
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def run_notebook(
    template: Path | str, output: Path | str, *, parameters: dict, execute: bool = True, cwd: Path | str | None = None
) -> NotebookRun:
    """Write ``template`` with ``parameters`` injected to ``output`` and execute it (unless not
    ``execute``) with the ``python3`` kernel in ``cwd`` (default: the output's folder)."""
    import papermill
    from traitlets.config import Config

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(
            str(template),
            str(output),
            parameters=parameters,
            prepare_only=not execute,
            progress_bar=False,
            kernel_name="python3",
            start_timeout=KERNEL_START_TIMEOUT_S,
            cwd=str(cwd or output.parent),
            config=Config(kernel_config()),
        )
    except papermill.PapermillExecutionError as exc:
        failed = output.replace(output.with_name(f"{output.stem}.failed{output.suffix}"))
        return NotebookRun(failed, f"{exc.ename}: {exc.evalue} (cell {exc.exec_count})")
    if execute:
        trust(output)
    return NotebookRun(output)


def trust(notebook: Path) -> None:
    """Sign ``notebook`` in this user's Jupyter notary (``jupyter trust``): JupyterLab shows the outputs
    of a trusted notebook as they were, widgets included, instead of their plain-text stand-ins."""
    import nbformat
    from nbformat.sign import NotebookNotary

    NotebookNotary().sign(nbformat.read(notebook, as_version=4))


def kernel_config() -> dict:
    """The kernel talks to us over ZeroMQ on this machine only: Unix domain sockets (``ipc``) in the
    Jupyter runtime folder instead of jupyter_client's default, unencrypted TCP on loopback (which
    ipykernel rightly warns about: "Kernel is running over TCP without encryption"). A runtime folder
    too deep for a socket path keeps TCP (and the warning) rather than failing to start the kernel.
    """
    from jupyter_core.paths import jupyter_runtime_dir

    return {"KernelManager": {"transport": "ipc"}} if ipc_fits(Path(jupyter_runtime_dir())) else {}


def ipc_fits(runtime_dir: Path) -> bool:
    """Kernel sockets under ``runtime_dir`` stay within a Unix socket path's 107 bytes."""
    return len(str(runtime_dir.absolute()).encode()) <= IPC_PATH_BYTES


def write_html(notebook: Path | str, html: Path | str) -> Path:
    """The executed notebook as one self-contained HTML file."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(extra_template_basedirs=[str(REPORT_TEMPLATES)], template_name="pik_report")
    body, _ = exporter.from_notebook_node(nbformat.read(Path(notebook), as_version=4))
    html = Path(html)
    html.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(body, encoding="utf-8")
    return html
