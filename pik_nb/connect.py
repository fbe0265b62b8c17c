"""Find the stack: the local stack's info file, a CloudFormation stack, or names given explicitly."""

from __future__ import annotations

import os
import re
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from pik_local.info import LocalStackInfo, default_path

from ._errors import ConnectError
from .kit import Kit
from .read.stack import Resources, Stack


def connect(
    stack: str | None = None,
    *,
    profile: str | None = None,
    region: str | None = None,
    session: boto3.session.Session | None = None,
    path: str | Path | None = None,
    **outputs: str,
) -> Kit:
    """A ``Kit`` on the local stack (default), a deployed stack, or explicitly named resources.

    >>> kit = connect()                                     # .pik/local.json from `pik local up`
    >>> kit = connect(stack="pik-prod", profile="oncall")   # CloudFormation outputs
    >>> kit = connect(session=boto3.Session(), raw_bucket_name="b", events_table_name="e",
    ...               aggregates_table_name="a", replays_table_name="r")
    """
    if outputs:
        session = session or _session(profile, region)
        return Kit(Stack(session, Resources.of(outputs, "connect(**outputs)"), sign_api=True))
    if stack:
        session = session or _session(profile, region)
        outputs = {**stack_outputs(session, stack), "stack_name": stack}  # in extra: pik doctor reads the stack
        return Kit(Stack(session, Resources.of(outputs, f"stack {stack!r}"), sign_api=True))
    if session or profile:
        raise ConnectError(
            "give stack='NAME' or the stack outputs (raw_bucket_name=..., ...) with a session or profile"
        )
    return _local(Path(path) if path else _nearest(default_path()))


def stack_outputs(session: boto3.session.Session, stack: str) -> dict[str, str]:
    """A CloudFormation stack's outputs in snake_case: ``{"raw_bucket_name": ..., "api_url": ...}``."""
    try:
        described = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    except (ClientError, BotoCoreError) as exc:
        raise ConnectError(f"cannot read stack {stack!r}: {exc}") from exc
    return {snake(o["OutputKey"]): o["OutputValue"] for o in described.get("Outputs", [])}


def snake(name: str) -> str:
    """``snake("RawBucketName") == "raw_bucket_name"``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _session(profile: str | None, region: str | None) -> boto3.session.Session:
    """A session as the AWS SDKs make one: ``profile`` or ``AWS_PROFILE``; ``region``, else ``AWS_REGION``
    (the variable every other AWS SDK and the CLI v2 read first; boto3 alone reads only
    ``AWS_DEFAULT_REGION``), else boto3's own resolution (``AWS_DEFAULT_REGION``, the profile's region).
    Endpoints follow boto3: ``AWS_ENDPOINT_URL[_<SERVICE>]`` and the profile's ``endpoint_url``/``services``."""
    region = region or os.environ.get("AWS_REGION") or None
    try:
        return boto3.session.Session(profile_name=profile, region_name=region)
    except BotoCoreError as exc:
        raise ConnectError(f"cannot open AWS profile {profile!r}: {exc}") from exc


def _nearest(path: Path) -> Path:
    """A relative info file found in the working directory or the nearest parent holding it, so a
    notebook opened in ``notebooks/`` finds the ``.pik/local.json`` of the project root."""
    if path.is_absolute() or path.exists():
        return path
    found = (parent / path for parent in Path.cwd().parents if (parent / path).exists())
    return next(found, path)


def _local(path: Path) -> Kit:
    if not path.exists():
        raise ConnectError(
            f"no local stack info at {path} (start one with `pik local up`), "
            'and no deployed stack was named (--stack NAME; stack="NAME" or its resource names in Python)'
        )
    info = LocalStackInfo.read(path)
    session = boto3.session.Session(region_name=info.region, **info.credentials)
    resources = Resources.of({**info.outputs, "api_url": info.api_url}, f"local stack info {path}")
    return Kit(Stack(session, resources, endpoint_url=info.endpoint_url, sign_api=False))
