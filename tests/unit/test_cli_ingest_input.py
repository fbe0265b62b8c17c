"""``pik ingest`` reads UTF-8 JSON lines: a file in another encoding is refused in one line naming the line
and the API's own rule (``body``/``utf8``), before anything is sent, never with a traceback (issue 21,
finding 6); a UTF-8 byte-order mark (what some Windows tools write) does not make the first line broken."""

from __future__ import annotations

import io
import json
import subprocess

import pytest

from pik_cli.local import _json_lines
from tests.support.events import make_event
from tests.support.processes import PIK

EVENT = json.dumps(make_event())
NOWHERE = ["--api-url", "http://127.0.0.1:9/v1", "--no-progress"]  # nothing may be sent: nothing listens there


@pytest.mark.parametrize(
    "encoding, at",
    [("utf-16", "byte 0 is not UTF-8 (UTF-16 or UTF-32?)"), ("utf-16-le", "it holds NUL bytes (UTF-16 or UTF-32?)")],
)
def test_a_utf16_file_is_refused_naming_its_line_and_rule_and_nothing_is_sent(tmp_path, encoding, at):
    lines = tmp_path / "events.jsonl"
    lines.write_bytes((EVENT + "\n").encode(encoding))
    done = subprocess.run([*PIK, "ingest", str(lines), *NOWHERE], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"Error: {lines} line 1: body/utf8: body must be UTF-8 JSON: {at}; nothing was sent "
        "(pik ingest reads UTF-8 JSON lines)\n"
    )


def test_a_line_that_is_not_utf8_is_named_by_its_number_from_stdin_too():
    body = (EVENT + "\n\n").encode() + b'{"entity_id": "caf\xe9"}\n'  # Latin-1 on line 3
    done = subprocess.run([*PIK, "ingest", "-", *NOWHERE], input=body, capture_output=True, timeout=60)
    assert (done.returncode, done.stdout) == (1, b"")
    assert done.stderr.decode() == (
        "Error: <stdin> line 3: body/utf8: body must be UTF-8 JSON: byte 18 is not UTF-8; nothing was sent "
        "(pik ingest reads UTF-8 JSON lines)\n"
    )


def test_a_utf8_byte_order_mark_and_crlf_line_ends_leave_the_lines_json():
    source = io.BytesIO(b"\xef\xbb\xbf" + EVENT.encode() + b"\r\n\r\n{broken\r\n")
    assert list(_json_lines(source)) == [(1, json.loads(EVENT)), (3, "{broken")]
