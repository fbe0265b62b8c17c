"""Notebooks: what every notebook starts with (``investigate``, ``finding``, ``counted``), incident
notebooks (``open_incident``, ``report``) and the one runner (papermill, then nbconvert's HTML with
the ``templates/pik_report`` template).

>>> from pik_nb.notebook import counted, finding, investigate
>>> counted(3, "event")
'3 events'
"""

from . import incident, runner
from .incident import TEMPLATE, IncidentError, find_incident, incident_parameters, open_incident, report
from .investigation import Investigation, counted, finding, investigate, number, percent, table
from .runner import NotebookRun, ipc_fits, next_free, run_notebook, write_html

__all__ = [
    "investigate",
    "Investigation",
    "finding",
    "counted",
    "percent",
    "number",
    "table",
    "open_incident",
    "find_incident",
    "incident_parameters",
    "report",
    "IncidentError",
    "TEMPLATE",
    "run_notebook",
    "write_html",
    "next_free",
    "ipc_fits",
    "NotebookRun",
    "incident",
    "runner",
]
