"""The AWS SDK's own configuration reaches every pik_nb and CLI call: ``AWS_ENDPOINT_URL`` /
``AWS_ENDPOINT_URL_<SERVICE>``, ``AWS_PROFILE``, ``AWS_REGION`` and a ``~/.aws/config`` profile's
``endpoint_url`` and ``services`` sections (boto3's rules), with no pik flag.

The "emulator" is moto's server over HTTP on a port chosen at run time: a stack reached this way
is not the local stack (no info file), so everything pik reads must follow the SDK's endpoint.
"""

from __future__ import annotations

import json

import boto3
import pytest
import urllib3
from click.testing import CliRunner
from moto.server import ThreadedMotoServer

import pik_nb
from pik.aws import clients
from pik.handlers import ingest
from pik_cli import cli
from pik_local import moto_patches, template
from tests.support.aws import REGION
from tests.support.events import make_event
from tests.support.lambdas import call


@pytest.fixture
def emulator(monkeypatch, tmp_path):
    """moto's server on 127.0.0.1:<free port>, the stack's resources in it, and a CloudFormation
    stack ``pik-emu`` whose outputs name them (as `sam deploy` would)."""
    moto_patches.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    monkeypatch.chdir(tmp_path)  # no .pik/local.json: only the SDK's settings can lead to moto
    try:
        session = boto3.session.Session(region_name=REGION)
        resources = template.create(_AtEndpoint(session, url), prefix="emu")
        outputs = {"".join(p.title() for p in k.split("_")): {"Value": v} for k, v in resources.outputs.items()}
        body = {"Resources": {"Marker": {"Type": "AWS::SQS::Queue"}}, "Outputs": outputs}
        session.client("cloudformation", endpoint_url=url).create_stack(
            StackName="pik-emu", TemplateBody=json.dumps(body)
        )
        for name, value in resources.environment.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)  # for the ingest handler below (Lambda's own SDK)
        clients.reset()
        event_id = _ingest_one()
        monkeypatch.delenv("AWS_ENDPOINT_URL")
        clients.reset()
        yield url, resources, event_id
    finally:
        urllib3.PoolManager().request("POST", f"{url}/moto-api/reset")
        server.stop()
        clients.reset()


class _AtEndpoint:
    """A session whose clients all go to ``url`` (to create the resources before any env is set)."""

    def __init__(self, session: boto3.session.Session, url: str) -> None:
        self._session, self._url, self.region_name = session, url, session.region_name

    def client(self, service: str, **kwargs):
        return self._session.client(service, endpoint_url=self._url, **kwargs)


def _ingest_one() -> str:
    status, answer = call(ingest, "/ingest", make_event())
    assert status == 200 and answer["status"] == "ACCEPTED", answer
    return answer["event_id"]


def _events(kit) -> list[str]:
    frame = kit.events(entity_id="customer-42", start="2000-01-01", end="2100-01-01", progress=False)
    return list(frame["event_id"])


def test_aws_endpoint_url_reaches_dynamodb_s3_and_the_archive(emulator, monkeypatch):
    url, resources, event_id = emulator
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    kit = pik_nb.connect(session=boto3.session.Session(region_name=REGION), **resources.outputs)
    assert (kit.endpoint_url, kit.stack.endpoint("dynamodb"), kit.stack.fan_out) == (url, url, 1)
    assert _events(kit) == [event_id]
    raw = kit.raw(kit.events(entity_id="customer-42", start="2000-01-01", end="2100-01-01", progress=False))
    amount = make_event()["payload"]["amount"]
    assert list(raw["event_id"]) == [event_id] and raw["hash_ok"].all() and list(raw["payload.amount"]) == [amount]
    # SQL: DuckDB (not Athena: the SDK does not point Athena at AWS), over pyarrow's S3 at the same endpoint
    assert kit.sql("SELECT count(*) AS n FROM events")["n"].tolist() == [1]


def test_per_service_endpoints_and_aws_region(emulator, monkeypatch):
    url, resources, event_id = emulator
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", url)
    monkeypatch.setenv("AWS_REGION", REGION)  # the SDKs' name; boto3 itself reads only AWS_DEFAULT_REGION
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    kit = pik_nb.connect(**resources.outputs)
    assert kit.session.region_name == REGION
    assert kit.stack.endpoint("sqs") is None  # not configured: AWS's own endpoint
    assert kit.client("sqs").meta.endpoint_url == f"https://sqs.{REGION}.amazonaws.com"
    assert _events(kit) == [event_id]


@pytest.mark.parametrize("style", ["services", "endpoint_url"])
def test_a_config_profile_reaches_a_stack_by_name_in_python_and_the_cli(emulator, monkeypatch, tmp_path, style):
    """``AWS_PROFILE=emu`` and a ``~/.aws/config`` (``AWS_CONFIG_FILE``) that points the profile at the
    emulator, with a ``services`` section per service or one ``endpoint_url``: ``connect(stack=...)``
    and ``pik ... --stack`` read the CloudFormation outputs and the data there."""
    url, _, event_id = emulator
    if style == "services":
        endpoints = "services = emu-services\n\n[services emu-services]\n" + "".join(
            f"{service} =\n  endpoint_url = {url}\n" for service in ("cloudformation", "dynamodb", "s3", "sqs")
        )
    else:
        endpoints = f"endpoint_url = {url}\n"
    config = tmp_path / "aws-config"
    config.write_text(
        f"[profile emu]\nregion = {REGION}\naws_access_key_id = testing\naws_secret_access_key = testing\n{endpoints}"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "emu")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name)
    kit = pik_nb.connect(stack="pik-emu")
    assert kit.session.profile_name == "emu" and _events(kit) == [event_id]

    result = CliRunner().invoke(cli, ["explain", event_id, "--stack", "pik-emu", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["event_id"] == event_id
    status = CliRunner().invoke(cli, ["status", "--stack", "pik-emu", "--json"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.output)["endpoint"] == url
