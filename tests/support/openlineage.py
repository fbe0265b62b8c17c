"""OpenLineage RunEvents checked against the spec's own JSON schemas (``tests/data/openlineage/``: spec 2-0-2
and the facet schemas pik's events use, vendored from the OpenLineage repository; its README names the commit).

``problems(event)`` validates the event against the spec's ``RunEvent`` definition, the whole
``OpenLineage.json`` (its ``oneOf``: a RunEvent, not a DatasetEvent or JobEvent) and the definition its
``schemaURL`` names, then every facet (run, job, dataset, input and output facets) against the schema its own
``_schemaURL`` names, resolved through one ``referencing.Registry`` (the facet schemas ``$ref`` the core
spec's ``BaseFacet``, ``RunFacet``, ...). pik's ``pik_counts`` facet resolves to ``pik.core.lineage.COUNTS_SCHEMA``.
Formats are checked (``uuid``, ``date-time``, ``uri``): a missing format checker is an error, never a
silent pass.

    >>> from pik.core import lineage
    >>> names = lineage.Names("b", "t", "https://sqs.eu-west-1.amazonaws.com/123456789012/q", "eu-west-1")
    >>> group = {"entity_id": "e", "day": "2026-11-23", "inputs_hash": "a" * 64, "code_version": "v1",
    ...          "computed_at": "2026-11-24T08:00:00Z", "input_count": 1, "replay_id": "", "versions": {"count": 1}}
    >>> [problems(event) for event in lineage.version_events(group, names)]
    [[], []]
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from pik.core import lineage

DATA = Path(__file__).resolve().parents[1] / "data" / "openlineage"
SPEC_ID = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
RUN_EVENT = f"{SPEC_ID}#/$defs/RunEvent"
FORMATS = ("uuid", "date-time", "uri")
Validator = jsonschema.Draft202012Validator


@cache
def registry() -> Registry:
    """Every vendored schema and pik's ``COUNTS_SCHEMA``, each under its ``$id``."""
    documents = [json.loads(path.read_text()) for path in sorted(DATA.rglob("*.json"))] + [lineage.COUNTS_SCHEMA]
    resources = [Resource.from_contents(doc, default_specification=DRAFT202012) for doc in documents]
    return Registry().with_resources((resource.id(), resource) for resource in resources)


def _checker() -> jsonschema.FormatChecker:
    checker = Validator.FORMAT_CHECKER
    missing = [name for name in FORMATS if name not in checker.checkers]
    if missing:  # jsonschema checks these only with its optional packages: never let a format pass unchecked
        raise RuntimeError(f"jsonschema cannot check the formats {missing}: install jsonschema[format-nongpl]")
    return checker


def _validator(schema: dict) -> jsonschema.protocols.Validator:
    return Validator(schema, registry=registry(), format_checker=_checker())


def facets(event: dict) -> list[tuple[str, dict]]:
    """Every facet of ``event`` with where it is (``run.facets.parent``, ``outputs[0].facets.version``, ...)."""
    found = [(f"run.facets.{k}", v) for k, v in event.get("run", {}).get("facets", {}).items()]
    found += [(f"job.facets.{k}", v) for k, v in event.get("job", {}).get("facets", {}).items()]
    for side in ("inputs", "outputs"):
        for n, dataset in enumerate(event.get(side, [])):
            for group in ("facets", "inputFacets", "outputFacets"):
                found += [(f"{side}[{n}].{group}.{k}", v) for k, v in dataset.get(group, {}).items()]
    return found


def _errors(value: Any, ref: str, where: str) -> list[str]:
    try:
        errors = list(_validator({"$ref": ref}).iter_errors(value))
    except Unresolvable:
        return [f"{where}: no vendored schema for {ref}"]
    return [f"{where}{''.join(f'.{p}' for p in error.absolute_path)}: {error.message}" for error in errors]


def problems(event: dict) -> list[str]:
    """What is wrong with ``event`` by the spec's schemas, one line each; ``[]`` when it is valid."""
    found = _errors(event, RUN_EVENT, "event")  # first the definition: its errors name the field
    if not found:
        found = _errors(event, SPEC_ID, "event (the spec's oneOf)")
    if not found and event.get("schemaURL") != RUN_EVENT:
        found = _errors(event, str(event.get("schemaURL")), "event (its schemaURL)")
    for where, facet in facets(event):
        url = facet.get("_schemaURL") if isinstance(facet, dict) else None
        found += _errors(facet, url, where) if isinstance(url, str) else [f"{where}: no _schemaURL"]
    return found
