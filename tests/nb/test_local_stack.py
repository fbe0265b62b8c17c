"""The kit and the CLI against the real local stack (moto server + handlers over loopback HTTP)."""

from __future__ import annotations

from datetime import datetime, timedelta

from click.testing import CliRunner

import pik_nb
from pik.core.timefmt import UTC
from pik_api import ingest_events
from pik_cli import cli
from pik_local.stack import LocalStack
from tests.support.events import make_event

DAY = (datetime.now(UTC) - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def test_kit_and_cli_work_against_the_local_stack(tmp_path):
    info_file = tmp_path / "local.json"
    first, second = (make_event(entity_id="e2e", event_time=(DAY + timedelta(hours=h)).isoformat()) for h in (1, 2))
    with LocalStack(info_file=info_file):
        kit = pik_nb.connect(path=info_file)
        answers = ingest_events(kit.resources.api_url, [first, second], workers=1, progress=False)
        ingest_events(kit.resources.api_url, [first], workers=1, progress=False)
        events = kit.events(entity_id="e2e", start=DAY, end=DAY + timedelta(days=1), progress=False)
        assert list(events["status"]) == ["ACCEPTED", "DUPLICATE", "ACCEPTED"]
        assert kit.raw(events, progress=False)["hash_ok"].tolist() == [True, True]
        run = kit.replay(entity_id="e2e", start=DAY, end=DAY + timedelta(days=1))
        assert (run["dry_run"], run["matched"], run["sent"]) == (True, 2, 0)
        assert list(kit.replays()["replay_id"]) == [run["replay_id"]]
        runner, where = CliRunner(), ["--local-file", str(info_file)]
        replayed = runner.invoke(
            cli,
            [
                "replay",
                "--entity",
                "e2e",
                "--start",
                DAY.isoformat(),
                "--end",
                (DAY + timedelta(days=1)).isoformat(),
                *where,
            ],
        )
        assert replayed.exit_code == 0, replayed.output
        assert "DRY RUN" in replayed.output and "matched 2  sent 0" in replayed.output
        explained = runner.invoke(cli, ["explain", answers[0].body["event_id"], *where])
        assert explained.exit_code == 0 and "2 attempts (ACCEPTED 1, DUPLICATE 1)" in explained.output
        unscoped = runner.invoke(cli, ["replay", "--start", "2026-11-20", "--end", "2026-11-21", *where])
        assert unscoped.exit_code == 2 and "give --entity, or --source with --event-type" in unscoped.output
        refused = runner.invoke(
            cli, ["replay", "--entity", "e2e", "--start", "2026-11-21", "--end", "2026-11-20", *where]
        )
        assert refused.exit_code == 1 and refused.output.startswith("Error: POST /replay answered 400"), refused.output
