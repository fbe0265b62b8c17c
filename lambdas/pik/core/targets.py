"""Replay targets: where a replay run sends its events, whether it may, and what it sends.

A request names its target as one of::

    {"sqs": QUEUE_URL, "fifo_group_id"?: str, "envelope"?: ENVELOPE}
    {"eventbridge": BUS_NAME_OR_ARN, "envelope"?: ENVELOPE}
    {"kinesis": STREAM_ARN, "envelope"?: ENVELOPE}
    {"http": URL, "envelope"?: ENVELOPE, "content_mode"?: "binary" | "structured"}

No target is the stack's own replay queue (the processor's input, messages pointing at raw S3).
What an external target gets is its ``envelope`` (``ENVELOPES``): ``"raw"`` (the default) each
event exactly as its producer sent it; ``"pik"`` ``{"event": <as sent>, "replay": {replay_id,
event_id, ingested_at, attempt}}``; ``"cloudevents"`` a CloudEvents 1.0 event (``cloudevent``),
structured on SQS, Kinesis and EventBridge (the ``Detail``), binary (``ce-*`` headers, the default)
or structured over HTTP (``content_mode``). ``"raw": true | false`` is the older spelling of
``"raw"`` and ``"pik"``. Targets must be allowed by the deployment (``AllowList``, from template parameters
holding ARN or URL patterns with ``*``): anything else is refused naming the target. An HTTP
target's URL is normalised when parsed (``normal_url``: lowercase scheme and host, default port
dropped, dot segments resolved) and that normal form is what is matched, recorded and sent; a URL
pattern matches by component (``UrlPattern``), never as one string.

    >>> target = parse_target({"sqs": "https://sqs.eu-west-1.amazonaws.com/111122223333/orders"})
    >>> target.arn("us-east-1", "111122223333")
    'arn:aws:sqs:eu-west-1:111122223333:orders'
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, quote, urlsplit

from .compat import retired_names
from .errors import FieldError, ForbiddenError, ValidationError

__all__ = [
    "KINDS",
    "OPTIONS",
    "ENVELOPES",
    "CONTENT_MODES",
    "MAX_ADDRESS_CHARS",
    "GROUP_ID_RE",
    "BUS_NAME_RE",
    "BUS_ARN_RE",
    "STREAM_ARN_RE",
    "QUEUE_NAME_RE",
    "SQS_HOST_RE",
    "LOOPBACK",
    "WEBHOOK_SECRET_PREFIX",
    "Refuse",
    "PARAMETERS",
    "Target",
    "AllowList",
    "DEFAULT_PORTS",
    "HOST_RE",
    "UNSAFE_URL_RE",
    "normal_url",
    "UrlPattern",
    "target_label",
    "parse_target",
    "Outgoing",
    "body",
    "CLOUDEVENTS_SPECVERSION",
    "CLOUDEVENTS_JSON",
    "cloudevent",
    "http_message",
    "encoded",
    "webhook_id",
    "signing_keys",
    "webhook_signature",
    "Delivered",
]

KINDS = ("sqs", "eventbridge", "kinesis", "http")
OPTIONS = ("fifo_group_id", "raw", "envelope", "content_mode")
ENVELOPES = ("raw", "pik", "cloudevents")
CONTENT_MODES = ("binary", "structured")  # CloudEvents HTTP binding, section 3
MAX_ADDRESS_CHARS = 2_048
GROUP_ID_RE = re.compile(r"^[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}$")  # SQS MessageGroupId
BUS_NAME_RE = re.compile(r"^[A-Za-z0-9._\-/]{1,256}$")
BUS_ARN_RE = re.compile(r"^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/[A-Za-z0-9._\-/]{1,256}$")
STREAM_ARN_RE = re.compile(r"^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:\d{12}:stream/[A-Za-z0-9_.-]{1,128}$")
QUEUE_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}(\.fifo)?$")
SQS_HOST_RE = re.compile(r"^(?:sqs\.)?([a-z]{2}(?:-[a-z]+)+-\d)\.")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
WEBHOOK_SECRET_PREFIX = "whsec_"
Refuse = Callable[[str, str, str], ValidationError]  # (field, rule, message) -> the 400 to raise
PARAMETERS = {
    "sqs": "ReplayTargetQueueArns",
    "eventbridge": "ReplayTargetBusArns",
    "kinesis": "ReplayTargetStreamArns",
    "http": "ReplayTargetUrls",
}


@dataclass(frozen=True)
class Target:
    """A validated external target: ``kind`` is one of ``KINDS``, ``address`` what the request named."""

    kind: str
    address: str
    fifo_group_id: str | None = None
    envelope: str = "raw"
    content_mode: str | None = None  # an HTTP target's CloudEvents content mode ("binary" or "structured")

    @property
    def raw(self) -> bool:
        """Each event exactly as its producer sent it."""
        return self.envelope == "raw"

    @property
    def fifo(self) -> bool:
        return self.kind == "sqs" and self.address.rstrip("/").endswith(".fifo")

    @property
    def label(self) -> str:
        """How runs, logs and the widget name it: ``"sqs:https://.../orders"``."""
        return f"{self.kind}:{self.address}"

    def to_dict(self) -> dict[str, Any]:
        """The request's form, as recorded on the run. ``raw`` and ``pik`` are written ``"raw": true |
        false``, as before envelopes had names, so runs recorded then fingerprint the same."""
        data: dict[str, Any] = {self.kind: self.address}
        if self.envelope == "cloudevents":
            data["envelope"] = self.envelope
        else:
            data["raw"] = self.raw
        if self.content_mode is not None:
            data["content_mode"] = self.content_mode
        if self.fifo_group_id is not None:
            data["fifo_group_id"] = self.fifo_group_id
        return data

    def arn(self, region: str, account: str) -> str:
        """The ARN the allow-list and IAM speak of (the URL itself for ``http``); a bus or queue
        given without region/account is in the function's own."""
        if self.kind == "sqs":
            parts = urlsplit(self.address)
            owner, name = parts.path.strip("/").split("/")
            host = SQS_HOST_RE.match(parts.hostname or "")
            return f"arn:aws:sqs:{host.group(1) if host else region}:{owner}:{name}"
        if self.kind == "eventbridge" and not self.address.startswith("arn:"):
            return f"arn:aws:events:{region}:{account}:event-bus/{self.address}"
        return self.address


@dataclass(frozen=True)
class AllowList:
    """Patterns (``*`` wildcards, as in IAM resources) of the targets a deployment may replay to.

    >>> AllowList({"http": ("https://hooks.example.com/*",)}).check(parse_target({"http": "https://evil.example/x"}),
    ...                                                             "us-east-1", "1")   # doctest: +SKIP
    ForbiddenError: replay target http:https://evil.example/x is not allowed ...
    """

    patterns: dict[str, Any]

    @classmethod
    def from_text(cls, **by_kind: str) -> AllowList:
        """``AllowList.from_text(sqs="arn:a,arn:b", http="")``: comma-separated lists (template parameters)."""
        return cls({kind: tuple(p.strip() for p in text.split(",") if p.strip()) for kind, text in by_kind.items()})

    def check(self, target: Target, region: str, account: str) -> None:
        """Nothing when ``target`` is allowed; ``ForbiddenError`` naming it (and how to allow it) otherwise."""
        arn = target.arn(region, account)
        patterns = self.patterns.get(target.kind, ())
        if target.kind == "http" and any(UrlPattern.parse(pattern).matches(arn) for pattern in patterns):
            return
        if target.kind != "http" and any(fnmatch.fnmatchcase(arn, pattern) for pattern in patterns):
            return
        raise ForbiddenError(
            f"replay target {target.label} ({arn}) is not allowed: add it to the template "
            f"parameter {PARAMETERS[target.kind]}"
        )


DEFAULT_PORTS = {"http": 80, "https": 443}
HOST_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")
UNSAFE_URL_RE = re.compile(r"[\x00-\x20\x7f\\]|%2e|%2f|%5c", re.IGNORECASE)


def normal_url(address: str) -> str:
    """The one form of an HTTP target URL that is matched against the allow-list and sent: scheme and
    host lowercased, the scheme's default port dropped, ``.``/``..`` segments resolved (RFC 3986
    5.2.4), an empty path as ``/``. ``ValueError`` for what could be read two ways (user info, a
    fragment, backslashes, spaces or control characters, encoded dots or slashes, a non-ASCII host).

    >>> normal_url("HTTPS://Hooks.Example.com:443/ok/../admin/./x")
    'https://hooks.example.com/admin/x'
    """
    if UNSAFE_URL_RE.search(address):
        raise ValueError("a URL may not hold spaces, control characters, backslashes or encoded dots or slashes")
    parts = urlsplit(address)
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError("a URL may not hold user info (user@host)")
    if parts.fragment or address.endswith("#"):
        raise ValueError("a URL may not hold a fragment (#...)")
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if host != "::1" and not HOST_RE.fullmatch(host):
        raise ValueError("a URL's host must be a DNS name or an IP address (ASCII letters, digits, '-', '.')")
    port = parts.port  # ValueError for a port that is not a number from 0 to 65535
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        netloc += f":{port}"
    return SplitResult(scheme, netloc, _without_dot_segments(parts.path or "/"), parts.query, "").geturl()


def _without_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4: ``/a/b/../c/./d`` -> ``/a/c/d`` (a trailing ``..`` or ``.`` keeps its slash)."""
    out: list[str] = []
    segments = path.split("/")[1:] if path.startswith("/") else path.split("/")
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == "..":
            if out:
                out.pop()
            if last:
                out.append("")
        elif segment == ".":
            if last:
                out.append("")
        else:
            out.append(segment)
    return "/" + "/".join(out)


@dataclass(frozen=True)
class UrlPattern:
    """An allow-list URL pattern, matched component by component on a ``normal_url``:

    - scheme: exact;
    - host: exact, ``*`` (any host), or ``*.`` + a name (one or more DNS labels in front of it);
    - port: exact (the scheme's default when absent) or ``*``;
    - path: ``*`` wildcards within the normalised path (absent: any path); a query must equal
      the pattern's (absent: none allowed).

    >>> UrlPattern.parse("https://*.example.com/hooks/*").matches("https://evil.net/.example.com/hooks/x")
    False
    >>> UrlPattern.parse("https://*.example.com/hooks/*").matches("https://a.b.example.com/hooks/x")
    True
    """

    scheme: str
    host: str
    port: int | None  # None: any port
    path: str
    query: str

    @classmethod
    def parse(cls, text: str) -> UrlPattern:
        scheme, rest = text.split("://", 1) if "://" in text else ("", text)
        authority, slash, path = rest.partition("/")
        path, _, query = (slash + path).partition("?") if slash else ("/*", "", "")
        host, colon, port = authority.rpartition(":") if authority.count(":") == 1 else (authority, "", "")
        any_port = colon and port == "*"
        number = int(port) if colon and port.isdigit() else DEFAULT_PORTS.get(scheme.lower(), -1)
        return cls(scheme.lower(), host.lower(), None if any_port else number, path or "/", query)

    def matches(self, url: str) -> bool:
        """Whether ``url`` (a ``normal_url``) is one this pattern allows."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme != self.scheme or not self._host_matches(host):
            return False
        port = parts.port if parts.port is not None else DEFAULT_PORTS.get(parts.scheme)
        if self.port is not None and port != self.port:
            return False
        return fnmatch.fnmatchcase(parts.path or "/", self.path) and parts.query == self.query

    def _host_matches(self, host: str) -> bool:
        if self.host == "*":
            return True
        if self.host.startswith("*."):
            prefix = host[: -len(self.host) + 1] if host.endswith(self.host[1:]) else ""
            return bool(prefix) and HOST_RE.fullmatch(prefix) is not None
        return host == self.host


def target_label(target: dict[str, Any] | None) -> str:
    """How a run's recorded ``target`` is named: ``"replay_queue"`` (the stack's own) or ``"sqs:https://..."``."""
    return parse_target(target).label if target else "replay_queue"


def parse_target(data: object) -> Target:
    """Validate a request's ``target`` object; a 400 naming ``target.<field>`` and the rule otherwise."""

    def refuse(field: str, rule: str, message: str) -> ValidationError:
        return ValidationError([FieldError(f"target.{field}" if field else "target", rule, message)])

    if not isinstance(data, dict):
        raise refuse("", "object", f"target must be an object with one of {', '.join(KINDS)}")
    kinds = [name for name in data if name in KINDS]
    unknown = [name for name in data if name not in KINDS and name not in OPTIONS]
    if unknown:
        raise refuse(unknown[0][:64], "unknown_field", f"unknown target field {unknown[0][:64]!r}")
    if len(kinds) != 1:
        raise refuse("", "one_of", f"target must name exactly one of {', '.join(KINDS)}")
    kind, address = kinds[0], data[kinds[0]]
    if not isinstance(address, str) or not 0 < len(address) <= MAX_ADDRESS_CHARS:
        raise refuse(kind, "type", f"target.{kind} must be a string of 1 to {MAX_ADDRESS_CHARS} characters")
    envelope = _envelope(data, refuse)
    content_mode = _content_mode(data, kind, envelope, refuse)
    group = data.get("fifo_group_id")
    _check_address(kind, address, refuse)
    if kind == "http":
        try:
            address = normal_url(address)
        except ValueError as exc:
            raise refuse(kind, "url", f"target.http: {exc}") from exc
    target = Target(kind, address, group, envelope, content_mode)
    if group is not None and not target.fifo:
        raise refuse("fifo_group_id", "fifo_only", "fifo_group_id applies only to a FIFO queue (a URL ending .fifo)")
    if group is not None and (not isinstance(group, str) or not GROUP_ID_RE.fullmatch(group)):
        raise refuse("fifo_group_id", "pattern", "fifo_group_id must be 1 to 128 printable ASCII characters")
    return target


def _envelope(data: dict[str, Any], refuse: Refuse) -> str:
    """``envelope`` (one of ``ENVELOPES``), or what the older ``raw`` says; both only when they agree."""
    raw, envelope = data.get("raw"), data.get("envelope")
    if raw is not None and not isinstance(raw, bool):
        raise refuse("raw", "type", "target.raw must be true or false")
    if envelope is not None and envelope not in ENVELOPES:
        raise refuse("envelope", "one_of", f"envelope must be one of {', '.join(ENVELOPES)}")
    if raw is not None and envelope is not None and envelope != ("raw" if raw else "pik"):
        raise refuse(
            "raw", "conflict", f"target.raw {str(raw).lower()} contradicts envelope {envelope!r}: give envelope alone"
        )
    return envelope or ("pik" if raw is False else "raw")


def _content_mode(data: dict[str, Any], kind: str, envelope: str, refuse: Refuse) -> str | None:
    """An HTTP target's CloudEvents content mode: ``binary`` unless ``structured`` is asked; else None."""
    mode = data.get("content_mode")
    if mode is not None and mode not in CONTENT_MODES:
        raise refuse("content_mode", "one_of", f"content_mode must be one of {', '.join(CONTENT_MODES)}")
    if mode is not None and (kind != "http" or envelope != "cloudevents"):
        raise refuse(
            "content_mode",
            "http_cloudevents_only",
            "content_mode applies only to an http target with envelope cloudevents",
        )
    return (mode or "binary") if kind == "http" and envelope == "cloudevents" else None


def _check_address(kind: str, address: str, refuse: Refuse) -> None:
    if kind == "eventbridge":
        if not (BUS_ARN_RE.fullmatch(address) or (not address.startswith("arn:") and BUS_NAME_RE.fullmatch(address))):
            raise refuse(
                kind,
                "pattern",
                "target.eventbridge must be an event bus name or ARN (arn:aws:events:REGION:ACCOUNT:event-bus/NAME)",
            )
        return
    if kind == "kinesis":
        if not STREAM_ARN_RE.fullmatch(address):
            raise refuse(
                kind, "pattern", "target.kinesis must be a stream ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)"
            )
        return
    parts = urlsplit(address)
    loopback = parts.hostname in LOOPBACK
    if parts.scheme not in ("https", "http") or not parts.hostname or (parts.scheme == "http" and not loopback):
        raise refuse(kind, "https", f"target.{kind} must be an https:// URL (http:// only on 127.0.0.1)")
    if kind == "sqs":
        path = parts.path.strip("/").split("/")
        if len(path) != 2 or not path[0].isdigit() or not QUEUE_NAME_RE.fullmatch(path[1]) or parts.query:
            raise refuse(
                kind, "queue_url", "target.sqs must be a queue URL: https://sqs.REGION.amazonaws.com/ACCOUNT/NAME"
            )


@dataclass(frozen=True)
class Outgoing:
    """One event on its way to an external target: the event as its producer sent it and where it came from."""

    event_id: str
    entity_id: str
    source: str
    event_type: str
    event_time: str
    ingested_at: str
    event: dict[str, Any]


def body(outgoing: Outgoing, *, replay_id: str, envelope: str = "raw", attempt: int = 1) -> dict[str, Any]:
    """What a target receives for one event in ``envelope``: the event as sent (``raw``), event plus
    replay envelope (``pik``), or a structured CloudEvent (``cloudevents``, see ``cloudevent``).

    >>> sent = body(Outgoing("e1", "u1", "app", "click", "2026-11-20T00:00:00Z", "2026-11-20T00:00:01Z", {"a": 1}),
    ...             replay_id="rp-1", envelope="pik")
    >>> list(sent), sent["event"]
    (['event', 'replay'], {'a': 1})
    >>> sent["replay"]
    {'replay_id': 'rp-1', 'event_id': 'e1', 'ingested_at': '2026-11-20T00:00:01Z', 'attempt': 1}
    """
    if envelope == "cloudevents":
        return cloudevent(outgoing, replay_id=replay_id, attempt=attempt)
    if envelope == "raw":
        return outgoing.event
    return {
        "event": outgoing.event,
        "replay": {
            "replay_id": replay_id,
            "event_id": outgoing.event_id,
            "ingested_at": outgoing.ingested_at,
            "attempt": attempt,
        },
    }


# CloudEvents 1.0.2: https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md (attributes,
# extension names: lowercase a-z and 0-9, at most 20 characters), formats/json-format.md (structured),
# bindings/http-protocol-binding.md (binary mode: section 3.1)
CLOUDEVENTS_SPECVERSION = "1.0"
CLOUDEVENTS_JSON = "application/cloudevents+json"  # a structured event's media type (JSON format, section 4)


def cloudevent(outgoing: Outgoing, *, replay_id: str, attempt: int = 1) -> dict[str, Any]:
    """One event as a CloudEvents 1.0 event in the JSON event format (structured mode): ``id`` the
    original ``event_id`` (the same on every replay: a receiver drops a repeat by ``source`` + ``id``),
    ``source``, ``type`` (the event's ``event_type``), ``subject`` (its ``entity_id``), ``time`` (its
    ``event_time``, RFC 3339 UTC), ``data`` its ``payload``; the replay in extension attributes:
    ``pikreplayid``, ``pikattempt`` (this delivery's try, an integer), ``pikingesttime`` (when pik
    received the event) and ``pikidempotencykey`` (when the producer gave one). Nothing of the event
    is lost: the contract's fields are these attributes and data.

    >>> event = Outgoing("e1", "u1", "app", "click", "2026-11-20T00:00:00.000000Z",
    ...                  "2026-11-20T00:00:01.000000Z", {"payload": {"a": 1}})
    >>> cloudevent(event, replay_id="rp-1")["id"], cloudevent(event, replay_id="rp-1")["data"]
    ('e1', {'a': 1})
    """
    document: dict[str, Any] = {
        "specversion": CLOUDEVENTS_SPECVERSION,
        "id": outgoing.event_id,
        "source": outgoing.source,
        "type": outgoing.event_type,
        "subject": outgoing.entity_id,
        "time": outgoing.event_time,
        "datacontenttype": "application/json",
        "pikreplayid": replay_id,
        "pikattempt": attempt,
        "pikingesttime": outgoing.ingested_at,
    }
    if outgoing.event.get("idempotency_key") is not None:
        document["pikidempotencykey"] = outgoing.event["idempotency_key"]
    if "payload" in outgoing.event:
        document["data"] = outgoing.event["payload"]
    return document


# HTTP binding 3.1.3.2: a header value keeps printable ASCII except space, '"' and '%'; the rest is
# percent-encoded as UTF-8
_HEADER_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')


def http_message(outgoing: Outgoing, target: Target, *, replay_id: str, attempt: int = 1) -> tuple[dict[str, str], str]:
    """The headers (beyond signing) and the body text of one POST to an HTTP ``target``. With
    ``cloudevents`` in binary mode (CloudEvents HTTP binding, section 3.1) the attributes are
    ``ce-<name>`` headers, ``Content-Type`` is ``datacontenttype`` and the body is ``data``; in
    structured mode the body is the whole event, ``Content-Type: application/cloudevents+json``.
    The body returned is the one sent, so it is the one the Standard Webhooks signature covers.

    >>> event = Outgoing("e1", "u 1", "app", "click", "2026-11-20T00:00:00Z", "2026-11-20T00:00:01Z",
    ...                  {"payload": {}})
    >>> target = Target("http", "https://h.example/", envelope="cloudevents", content_mode="binary")
    >>> headers, text = http_message(event, target, replay_id="rp-1")
    >>> headers["ce-subject"], headers["Content-Type"], text
    ('u%201', 'application/json', '{}')
    """
    document = body(outgoing, replay_id=replay_id, envelope=target.envelope, attempt=attempt)
    if target.envelope != "cloudevents":
        return {"Content-Type": "application/json"}, encoded(document)
    if target.content_mode == "structured":
        return {"Content-Type": CLOUDEVENTS_JSON}, encoded(document)
    headers = {"Content-Type": document["datacontenttype"]}
    headers |= {
        f"ce-{name}": quote(str(value), safe=_HEADER_SAFE)
        for name, value in document.items()
        if name not in ("data", "datacontenttype")
    }
    return headers, encoded(document["data"]) if "data" in document else ""


def encoded(document: dict[str, Any]) -> str:
    """The compact JSON text every target receives (and the HTTP signature covers)."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def webhook_id(event_id: str, target: Target) -> str:
    """The Standard Webhooks ``webhook-id`` of one event to one target: the same on every retry and every
    replay of that event to that target, so a receiver can drop a repeat.

    >>> webhook_id("e1", Target("http", "https://hooks.example.com/in"))
    'msg_ca60f5750eb801e849d0ad0472c7f8fa'
    """
    return "msg_" + hashlib.sha256(f"{event_id}\n{target.label}".encode()).hexdigest()[:32]


def signing_keys(secrets: str) -> tuple[bytes, ...]:
    """The keys in the signing secret parameter: one or more secrets separated by spaces or commas
    (several while a secret is rotated: sign with each). ``whsec_<base64>`` is a Standard Webhooks
    secret (its key is the decoded bytes); any other value is used as its UTF-8 bytes.

    >>> signing_keys("whsec_c2VjcmV0 old-plain")
    (b'secret', b'old-plain')
    """
    keys = []
    for secret in secrets.replace(",", " ").split():
        if secret.startswith(WEBHOOK_SECRET_PREFIX):
            try:
                keys.append(base64.b64decode(secret[len(WEBHOOK_SECRET_PREFIX) :] + "==", validate=False))
            except ValueError as exc:
                raise ValueError("a whsec_ secret must be base64 after its prefix") from exc
        else:
            keys.append(secret.encode("utf-8"))
    if not keys or not all(keys):
        raise ValueError("the signing secret parameter holds no secret")
    return tuple(keys)


def webhook_signature(keys: tuple[bytes, ...], msg_id: str, timestamp: int, text: str) -> str:
    """The ``webhook-signature`` header: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` per key,
    space-separated (Standard Webhooks: a receiver accepts any one that matches its secret).

    >>> webhook_signature((b"secret",), "msg_1", 1700000000, '{"a":1}')
    'v1,Q5nZ7DiOGwijBBqvBVAK6c0zDr2JLkXI7TaV4f+Q2vY='
    """
    signed = f"{msg_id}.{timestamp}.{text}".encode()
    return " ".join(
        "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii") for key in keys
    )


@dataclass(frozen=True)
class Delivered:
    """The outcome of one batch: events the target took, events it refused after retries, re-sends made,
    the last error (``None`` when every event went), and the events that can never be delivered to
    this target with why (``undeliverable``: event id -> reason, e.g. larger than the service takes;
    they are among ``failed_ids``, and sending them again cannot help).

    >>> Delivered(9, ("e1",), undeliverable=(("e1", "too large"),)).refused_whole
    False
    """

    sent: int
    failed_ids: tuple[str, ...] = ()
    retried: int = 0
    error: str | None = None
    undeliverable: tuple[tuple[str, str], ...] = ()

    @property
    def failed(self) -> int:
        return len(self.failed_ids)

    @property
    def refused_whole(self) -> bool:
        """Nothing went and something may go later (the target refused, not the events' size): stop the run."""
        return self.sent == 0 and self.failed > len(self.undeliverable)


# --- retired: the X-Pik-Signature scheme HTTP targets were signed with before Standard Webhooks ------------
def _x_pik_signature(secret: str, timestamp: int, text: str) -> str:
    """``v1=`` + hex HMAC-SHA256 of ``f"{timestamp}.{body}"`` (what ``X-Pik-Signature`` held)."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.{text}".encode(), hashlib.sha256)
    return "v1=" + mac.hexdigest()


def _x_pik_verify(secret: str, timestamp: str, text: str, header: str) -> bool:
    """The old receiver check, constant time: it verifies requests pik signed before Standard Webhooks."""
    return timestamp.isdigit() and hmac.compare_digest(_x_pik_signature(secret, int(timestamp), text), header)


_STANDARD_WEBHOOKS = (
    "is retired: pik signs HTTP replays per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature;"
    " docs/api.md), verify them with `standardwebhooks.Webhook(secret).verify(body, headers)`"
)
__getattr__ = retired_names(
    __name__,
    {
        "verify": (lambda: _x_pik_verify, _STANDARD_WEBHOOKS),
        "signature": (lambda: _x_pik_signature, _STANDARD_WEBHOOKS),
        "SIGNATURE_HEADER": (lambda: "X-Pik-Signature", _STANDARD_WEBHOOKS),
        "TIMESTAMP_HEADER": (lambda: "X-Pik-Timestamp", _STANDARD_WEBHOOKS),
    },
)
