"""Compaction runs one at a time by a lease, collects orphan parts, and works under the real IAM
policy (issue 18, findings 4, 10, 11). Races are forced with botocore hooks (one run paused inside
another's S3 call), never with sleeps; time moves through the runs' own clocks."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError

from pik.aws import clients
from pik.bootstrap import compactor
from pik.core import curated, keys
from pik.core.errors import LeaseError, StorageError
from pik.core.timefmt import UTC
from pik.services.compact import Compactor
from pik.settings import Settings
from tests.support.compaction import DAY, at, objects, run, send
from tests.support.events import make_event
from tests.support.iam_stack import iam_stack

PARTITION = curated.Partition("checkout", "order_placed", DAY)


def step(now: datetime | None = None) -> Compactor:
    """The Lambda's compaction step, on a clock of the test's choosing."""
    built = compactor(Settings.from_env(), holder="test")
    if now is not None:
        built.now = lambda: now
    return built


def parts_under(stack) -> set[str]:
    return {k for k in objects(stack) if k.startswith(("curated/attempts/", "curated/events/"))}


def listed(stack) -> set[str]:
    manifest = json.loads(objects(stack)[curated.manifest_key(PARTITION)][1])
    return {key for layout in curated.LAYOUTS for key in manifest["files"][layout]}


def lease_item(stack) -> dict:
    table = boto3.resource("dynamodb").Table(stack.outputs["events_table_name"])
    return table.get_item(Key={"pk": keys.LEASE_PK, "sk": keys.LEASE_SK}).get("Item", {})


def during(operation: str, key_prefix: str, action) -> list:
    """Run ``action()`` inside the first S3 ``operation`` on a key under ``key_prefix`` (the shared
    client: the Lambda's), before the call is sent; its result is collected."""
    results: list = []
    fired: list = []
    client = clients.client("s3")

    def hook(params, **_):
        if params.get("Key", "").startswith(key_prefix) and not fired:
            fired.append(True)
            results.append(action())

    client.meta.events.register(f"provide-client-params.s3.{operation}", hook)
    return results


@pytest.fixture
def one_event(stack):
    send(make_event(entity_id="c-1", event_time=at(1), payload={"amount": 1}))


def test_a_run_while_another_holds_the_lease_does_nothing(stack, one_event):
    before = {}
    inner = during("PutObject", curated.MANIFEST_PREFIX, lambda: (before.update(objects(stack)), run())[1])
    result = run()
    [skipped] = inner
    assert "another compaction holds the lease" in skipped["skipped"]
    assert before and not [k for k in before if k.startswith(curated.MANIFEST_PREFIX)]  # it wrote nothing
    assert result["written"] == 1 and lease_item(stack)["until_ms"] == 0  # released at the end
    assert run()["written"] == 0  # the lease is free again


def test_a_holder_that_lost_its_lease_never_switches_a_manifest(stack, one_event):
    """A slow run (its clock 20 minutes behind: its lease ended 5 minutes ago) is paused after
    writing its first part; another run takes the lease and compacts; the slow one resumes, its
    renewal before the switch fails, and the manifest is the other run's. The slow run's parts,
    which no manifest lists, are collected by the next run, which its note sends there."""
    slow = step(datetime.now(UTC) - timedelta(minutes=20))
    seen: dict = {}

    def other_run():
        send(make_event(entity_id="c-2", event_time=at(2), payload={"amount": 2}))  # the other run sees more
        seen.update(other=run(), manifest=listed(stack))

    during("PutObject", "curated/attempts/", other_run)
    with pytest.raises(LeaseError, match="lost its lease"):
        slow.run()
    assert seen["other"]["written"] == 1 and seen["other"]["attempts"] == 2
    assert listed(stack) == seen["manifest"]  # the slow run switched nothing
    assert len(parts_under(stack) - listed(stack)) == 2  # its two parts (one event's rows) are left
    assert curated.orphans_key(PARTITION) in objects(stack)  # with a note: the next run collects them
    assert run()["orphans"] == 2 and parts_under(stack) == listed(stack)
    assert not [key for key in objects(stack) if key.startswith(curated.ORPHANS_PREFIX)]


def test_a_holder_that_lost_its_lease_never_deletes_a_part_the_new_holder_lists(stack, one_event):
    """Same rows, same bytes, same key: a slow run (its lease ended) and the run that took the lease
    write the same parts. The new holder is held just before its switch (a barrier, in its own
    thread) while the slow one fails its renewal; the slow one must not delete those shared keys,
    or the new manifest would list parts that are gone, and every later run, finding the
    partition's parts unchanged, would never write them again."""
    slow, other = step(datetime.now(UTC) - timedelta(minutes=20)), step()
    client, fired = clients.client("s3"), []
    at_switch, go = threading.Event(), threading.Event()
    thread = threading.Thread(target=lambda: fired.append(other.run()))

    def hold_other_at_its_switch(params, **_):
        if threading.current_thread() is thread and params["Key"].startswith(curated.MANIFEST_PREFIX):
            at_switch.set()
            assert go.wait(30)

    def start_other(params, **_):
        if threading.current_thread() is not thread and not thread.is_alive() and not fired:
            thread.start()  # it takes the ended lease, writes the same parts, then waits at its switch
            assert at_switch.wait(30)

    client.meta.events.register("provide-client-params.s3.PutObject", hold_other_at_its_switch)
    client.meta.events.register("provide-client-params.s3.PutObject", start_other)
    try:
        with pytest.raises(LeaseError, match="lost its lease"):
            slow.run()
    finally:
        go.set()
        thread.join(30)
        client.meta.events.unregister("provide-client-params.s3.PutObject", hold_other_at_its_switch)
        client.meta.events.unregister("provide-client-params.s3.PutObject", start_other)
    assert fired[0]["written"] == 1
    assert listed(stack) <= parts_under(stack)  # every part the manifest lists is there
    assert parts_under(stack) == listed(stack)


def test_parts_a_failed_delete_left_are_collected_by_the_next_run(stack, one_event):
    run()
    send(make_event(entity_id="c-2", event_time=at(2), payload={"amount": 2}))
    client = clients.client("s3")

    def fail(**_):
        raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, "DeleteObjects")

    client.meta.events.register("before-call.s3.DeleteObjects", fail)
    try:
        with pytest.raises(StorageError, match="injected"):
            run()
    finally:
        client.meta.events.unregister("before-call.s3.DeleteObjects", fail)
    assert len(parts_under(stack)) == 4 and len(listed(stack)) == 2  # two orphans: old attempts + events
    assert lease_item(stack)["partition"] == PARTITION.path()  # left for the next holder
    again = run()
    assert parts_under(stack) == listed(stack) and again["orphans"] == 2
    assert run()["orphans"] == 0


def test_a_killed_runs_parts_wait_for_its_lease_to_end_then_are_collected(stack, one_event):
    """A run killed after writing its parts (before its manifest) keeps the lease until its own
    deadline: a run before then does nothing; the first run after it collects the parts."""
    killed = step()
    killed.deadline = datetime.now(UTC) + timedelta(minutes=15)

    class Killed(BaseException):
        pass

    def kill():
        killed.lease.release = lambda *args: None  # a dead process releases nothing
        raise Killed

    client = clients.client("s3")

    def hook(params, **_):
        if params["Key"].startswith(curated.MANIFEST_PREFIX):
            kill()

    client.meta.events.register("provide-client-params.s3.PutObject", hook)
    with pytest.raises(Killed):
        killed.run()
    client.meta.events.unregister("provide-client-params.s3.PutObject", hook)
    orphans = parts_under(stack)
    assert len(orphans) == 2 and curated.manifest_key(PARTITION) not in objects(stack)
    assert "skipped" in run()  # its lease has not ended
    later = step(datetime.now(UTC) + timedelta(minutes=16))
    result = later.run()
    assert result["written"] == 1 and result["orphans"] == 0 and parts_under(stack) == listed(stack)
    # (the same rows give the same bytes: the killed run's parts are the new manifest's own)
    assert parts_under(stack) == orphans


def test_a_run_killed_in_its_delete_leaves_its_partition_to_the_next_holder(stack, one_event):
    """A run killed after its switch, while deleting the old parts (no error raised, no release):
    the lease names its partition. The next holder, once the lease has ended, collects that
    partition's orphans even when it compacts something else (a manual run over another day)."""
    run()
    send(make_event(entity_id="c-2", event_time=at(2), payload={"amount": 2}))
    killed = step()
    killed.deadline = datetime.now(UTC) + timedelta(minutes=15)
    killed.lease.release = lambda *args: None  # a dead process releases nothing

    class Killed(BaseException):
        pass

    def kill(**_):
        raise Killed

    client = clients.client("s3")
    client.meta.events.register("before-call.s3.DeleteObjects", kill)
    try:
        with pytest.raises(Killed):
            killed.run()
    finally:
        client.meta.events.unregister("before-call.s3.DeleteObjects", kill)
    assert len(parts_under(stack)) == 4 and len(listed(stack)) == 2  # switched; the old two left
    assert lease_item(stack)["partition"] == PARTITION.path()
    other_day = ("checkout", "order_placed", "2026-11-21")
    assert "skipped" in run()  # the dead run's lease has not ended
    result = step(datetime.now(UTC) + timedelta(minutes=16)).run([other_day])
    assert result["orphans"] == 2 and parts_under(stack) == listed(stack)
    assert lease_item(stack)["partition"] == ""


# --- finding 10: the real policy's 403 for a missing key ------------------------------------
def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def s3_answers_by_policy(stack) -> None:
    """Answer the compaction role's GetObject of a missing key as S3 does under the template's
    policy: 404 only with an unconditioned ``s3:ListBucket`` on the bucket, else 403 ("If you don't
    have the s3:ListBucket permission, Amazon S3 returns an HTTP status code 403", GetObject API)."""
    documents = iam_stack(stack).role_policies("CompactionFunction")  # what CloudFormation receives
    bucket = f"arn:aws:s3:::{stack.names['RawBucket']}"
    lists = any(
        s["Effect"] == "Allow"
        and "s3:ListBucket" in _listed(s["Action"])
        and bucket in _listed(s["Resource"])
        and "Condition" not in s
        for document in documents
        for s in document["Statement"]
    )
    plain = boto3.client("s3")

    def deny_missing(params, **_):
        try:
            plain.head_object(Bucket=params["Bucket"], Key=params["Key"])
        except ClientError:
            if not lists:
                raise ClientError(
                    {
                        "Error": {"Code": "AccessDenied", "Message": "Access Denied"},
                        "ResponseMetadata": {"HTTPStatusCode": 403},
                    },
                    "GetObject",
                ) from None

    clients.client("s3").meta.events.register("provide-client-params.s3.GetObject", deny_missing)


def test_a_first_run_works_under_the_templates_policy(stack, one_event):
    s3_answers_by_policy(stack)
    result = run()  # no watermark, no manifest yet: both are missing keys
    assert (result["written"], result["attempts"]) == (1, 1)
    assert json.loads(objects(stack)[curated.WATERMARK_KEY][1])["recorded_at"] == result["watermark"]


def test_a_lease_is_taken_only_when_free(stack):
    lease = step().lease
    now = datetime.now(UTC)
    assert lease.acquire("a", now + timedelta(minutes=1), now, 5000) == {}
    with pytest.raises(LeaseError, match=r"another compaction holds the lease \(a, until "):
        lease.acquire("b", now + timedelta(minutes=1), now, 5000)
    with pytest.raises(LeaseError, match="lost its lease"):
        lease.renew("b", now + timedelta(minutes=2), now, "")
    later = now + timedelta(minutes=1, seconds=6)  # past a's end and the skew
    assert lease.acquire("b", later + timedelta(minutes=1), later, 5000)["holder"] == "a"
    with pytest.raises(LeaseError):
        lease.renew("a", later + timedelta(minutes=2), later, "")
