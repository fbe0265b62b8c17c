"""ReplayFlow's rules about what a preview would send (finding 10): an external target is sent only what
it lacks, so a preview whose target has every event arms nothing; the widget refuses a bad date before any
request (issue 21, finding 6). Plain Python, a kit answering as the API."""

from __future__ import annotations

import html

import pytest
from click.testing import CliRunner

from pik_cli import cli
from pik_nb.replay import FlowError, ReplayFlow, Scope, to_send
from pik_nb.replay.widget import STATIC_NOTE, ReplayWidget

SCOPE = Scope(start="2026-11-20", end="2026-11-21", entity_id="customer-42", target={"sqs": "https://q"})


class AnsweringKit:
    """``kit.replay`` answering a given run, recording each request (the flow's only call for a preview)."""

    def __init__(self, answer: dict) -> None:
        self.answer, self.requests = answer, []

    def replay(self, **request) -> dict:
        self.requests.append(request)
        return {**self.answer, "request": {"resend": True} if request.get("resend") else {}}


def _answer(matched: int, already: int | None) -> dict:
    seen = (
        None
        if already is None
        else {"count": already, "runs": [{"replay_id": "rp-a", "count": already, "first_at": "t1", "last_at": "t2"}]}
    )
    return {
        "replay_id": "rp-dry",
        "matched": matched,
        "scanned": matched,
        "already_delivered": seen,
        "target": "sqs:https://q",
    }


@pytest.mark.parametrize(
    ("matched", "already", "resend", "sent"),
    [(12, 4, False, 8), (12, 12, False, 0), (12, 12, True, 12), (12, None, False, 12), (0, 0, False, 0)],
)
def test_to_send_is_what_the_target_lacks_unless_resend(matched, already, resend, sent):
    run = {**_answer(matched, already), "request": {"resend": True} if resend else {}}
    assert to_send(run) == sent


def test_a_target_that_has_every_event_arms_nothing_until_resend_is_previewed():
    kit = AnsweringKit(_answer(12, 12))
    flow = ReplayFlow(kit)
    flow.preview(SCOPE)
    assert not flow.can_replay(SCOPE)
    with pytest.raises(FlowError, match=r"^sqs:https://q already has all 12 events of this scope: nothing to send"):
        flow.replay(SCOPE, confirmed=True)
    again = Scope(**{**SCOPE.request(), "resend": True})
    flow.preview(again)
    assert flow.can_replay(again) and not flow.can_replay(SCOPE)  # the scope previewed is the one with resend
    assert [r.get("resend") for r in kit.requests] == [None, True]  # resend=False is not sent at all


def test_the_confirmation_counts_what_would_be_sent():
    flow = ReplayFlow(AnsweringKit(_answer(12, 4)))
    flow.preview(SCOPE)
    assert flow.can_replay(SCOPE) and flow.needs_confirmation()
    with pytest.raises(FlowError, match=r"^8 events would go to sqs:https://q: tick 'I confirm' first\.$"):
        flow.replay(SCOPE)


BAD_DATES = [
    (
        "2026-13-40",
        "2026-11-21",
        "start: '2026-13-40' is not an ISO-8601 date (2026-11-20) or time with offset (2026-11-20T10:00:00Z)",
    ),
    (
        "2026-11-20",
        "yesterday",
        "end: 'yesterday' is not an ISO-8601 date (2026-11-20) or time with offset (2026-11-20T10:00:00Z)",
    ),
    (
        "2026-11-20",
        "2026-11-21T10:00",
        "end: '2026-11-21T10:00' has no UTC offset: add Z or +01:00 (pik never guesses a time zone)",
    ),
]


@pytest.mark.parametrize(("start", "end", "message"), BAD_DATES)
def test_the_widget_refuses_a_bad_date_naming_the_field_with_the_cli_s_sentence_before_any_request(start, end, message):
    kit = AnsweringKit(_answer(3, None))
    widget = ReplayWidget(
        ReplayFlow(kit),
        entity_id="customer-42",
        source=None,
        event_type=None,
        start=start,
        end=end,
        metric="count",
        poll_seconds=0.01,
        timeout_seconds=1,
    )
    widget.preview_button.click()
    assert widget.status.value == f'<div class="pik-error" style="color:#b00020">{html.escape(message)}</div>'
    assert kit.requests == []  # refused before the dry run
    assert widget.replay_button.disabled and not widget.preview_button.disabled  # fix the date, preview again
    field, sentence = message.split(": ", 1)
    refused = CliRunner().invoke(cli, ["replay", "--entity", "customer-42", "--start", start, "--end", end])
    assert refused.exit_code == 2 and f"Invalid value for '--{field}': {sentence}" in refused.output


def test_a_saved_or_exported_notebook_shows_the_widget_s_whole_note():
    """Issue 21, finding 4: where no widget renders (the HTML report, a notebook opened from disk) the
    widget's plain text is the note, whole: ipywidgets cuts a widget's text at 110 characters ("only…")."""
    widget = ReplayWidget(
        ReplayFlow(AnsweringKit(_answer(3, None))),
        entity_id="customer-42",
        source=None,
        event_type=None,
        start="2026-11-20",
        end="2026-11-21",
        metric="count",
        poll_seconds=0.01,
        timeout_seconds=1,
    )
    bundle = widget.box._repr_mimebundle_()
    assert bundle["text/plain"] == STATIC_NOTE and len(STATIC_NOTE) > 110
    assert STATIC_NOTE.endswith("a saved or exported notebook only shows it.")
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == widget.box.model_id  # lab still renders
