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


def test_a_handler_line_is_written_once_though_the_cli_configured_the_root_logger(monkeypatch):
    # pik's CLI calls logging.basicConfig after powertools' Logger("pik") exists: without a filter the
    # root's handler wrote each of the processor's lines a second time, as text, into .pik/lambda.log
    terminal, lambda_log, own_stream = io.StringIO(), io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", terminal)
    service = logging.getLogger("pik")
    monkeypatch.setattr(service, "handlers", [logging.StreamHandler(own_stream)])  # powertools' JSON handler
    monkeypatch.setattr(service, "propagate", True)
    root = logging.StreamHandler(sys.stderr)  # as basicConfig(stream=sys.stderr)
    logging.root.addHandler(root)
    try:
        route_output()
        LocalFunction("Processor", lambda event, context: service.warning("aggregate versions"), log=lambda_log).invoke(
            {}
        )
        logging.getLogger("pik_local").warning("the stack's own line")
    finally:
        unroute_output()
        logging.root.removeHandler(root)
    assert own_stream.getvalue() == "aggregate versions\n"
    assert lambda_log.getvalue() == ""  # not a second time, through the root's handler
    assert terminal.getvalue() == "the stack's own line\n"
