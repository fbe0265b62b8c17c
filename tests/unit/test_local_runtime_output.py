"""What a local Lambda logs goes to its log file, never to the terminal of ``pik demo`` (the demo
printed the processor's powertools lines: its ``Logger`` was built, holding the real stdout, when
the handler modules were imported, before the stack routed output)."""

from __future__ import annotations

import io
import logging
import sys

from pik_local.runtime import LocalFunction, route_output, unroute_output


def test_a_logger_made_before_routing_writes_an_invocation_to_the_function_log(monkeypatch):
    terminal, lambda_log = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", terminal)
    logger = logging.getLogger("pik-test-early-logger")
    handler = logging.StreamHandler(sys.stdout)  # as powertools' Logger does at import
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        route_output()
        LocalFunction("Processor", lambda event, context: logger.info("aggregate versions"), log=lambda_log).invoke({})
        logger.info("outside any invocation")
    finally:
        unroute_output()
        logger.removeHandler(handler)
    assert lambda_log.getvalue() == "aggregate versions\n"
    assert terminal.getvalue() == "outside any invocation\n"
