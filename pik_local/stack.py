"""The local stack: moto's server, the template's resources, the handlers behind an HTTP API and
an SQS poller, on 127.0.0.1.

moto's server runs in a child process, the HTTP API in ``api_workers`` child processes (each one
Lambda execution environment per function; ``api_workers=0`` serves the API from this process),
the SQS pollers and the processor in this process: see ``pik_local.processes`` and ADR 0204.

    with LocalStack(info_file=tmp / "local.json") as stack:
        print(stack.info.api_url)          # http://127.0.0.1:PORT/v1 -> POST /ingest, /replay

Handlers reach moto only through the standard ``AWS_ENDPOINT_URL`` variable, set in this
process's environment together with the template's function environment.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import IO, Any

import boto3

from pik.aws import clients
from pik.core.errors import PikError

from . import conditions, journal, state, taps, targets, template
from .api import LocalApi, routes
from .info import LocalStackInfo, default_path
from .poller import Poller, mappings
from .processes import ApiWorkers, Child, ChildError
from .runtime import functions, open_log, unroute_output
from .stream_poller import StreamPoller, stream_mappings

__all__ = [
    "REGION",
    "API_WORKERS",
    "CREDENTIALS",
    "log",
    "StackError",
    "running",
    "free_port",
    "parameter_env",
    "LocalStack",
]

REGION = "us-east-1"
API_WORKERS = 3  # API processes: with moto's own process, enough to keep two cores busy
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
log = logging.getLogger("pik_local")


class StackError(PikError):
    """The local stack cannot start (already running, port taken)."""


def running(info_file: Path | str) -> LocalStackInfo | None:
    """The stack described by ``info_file`` if its process is alive, else None.

    >>> running(".pik/local.json").api_url       # doctest: +SKIP
    'http://127.0.0.1:41185/v1'
    """
    try:
        info = LocalStackInfo.read(info_file)
    except (OSError, ValueError, TypeError):
        return None
    try:
        os.kill(info.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, owned by someone else
        return info
    return info


def free_port(port: int) -> int:
    """``port`` if it can be bound on 127.0.0.1 (0 = pick one), else ``StackError``: ``free_port(0) -> 45123``."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise StackError(f"port {port} on 127.0.0.1 is taken ({exc.strerror}); choose another") from exc
        return sock.getsockname()[1]


def parameter_env(parameters: dict[str, str], template_doc: dict | None = None) -> dict[str, str]:
    """Function environment for template parameter overrides: ``{"AggregateFields": "amount"}`` ->
    ``{"AGGREGATE_FIELDS": "amount"}`` (the variables, in Globals or a function's own, whose value is
    ``!Ref`` of that parameter)."""
    doc = template_doc or template.load()
    unknown = set(parameters) - set(doc.get("Parameters", {}))
    if unknown:
        raise StackError(f"unknown template parameter{'s' if len(unknown) > 1 else ''}: {', '.join(sorted(unknown))}")
    variables = dict(doc["Globals"]["Function"]["Environment"]["Variables"])
    for function in template.of_type(doc, "AWS::Serverless::Function").values():  # one process runs them all
        variables.update(function["Properties"].get("Environment", {}).get("Variables", {}))
    return {
        name: str(parameters[value["Ref"]])
        for name, value in variables.items()
        if isinstance(value, dict) and value.get("Ref") in parameters
    }


def _owner(info_file: Path) -> int | None:
    try:
        return LocalStackInfo.read(info_file).pid
    except (OSError, ValueError, TypeError):
        return None


class LocalStack:
    """Start with ``start()`` (or ``with``), stop with ``stop()``; ``info`` says where it is."""

    def __init__(
        self,
        *,
        aws_port: int = 0,
        api_port: int = 0,
        region: str = REGION,
        prefix: str = "pik",
        info_file: Path | str | None = None,
        state_dir: Path | str | None = None,
        log_level: str = "INFO",
        parameters: dict[str, str] | None = None,
        simulated_arrival: bool = False,
        api_workers: int = API_WORKERS,
    ) -> None:
        self.aws_port, self.api_port, self.region, self.prefix = aws_port, api_port, region, prefix
        self.info_file = Path(info_file) if info_file else default_path()
        self.state_dir = Path(state_dir) if state_dir else None
        self.parameters = {"LogLevel": log_level, **targets.PARAMETERS, **(parameters or {})}
        self.simulated_arrival = simulated_arrival  # honour X-Pik-Simulated-Arrival (demos replaying history)
        self.api_workers = api_workers
        try:  # parameters, conditions and tap mappings are checked before anything starts
            self._template = conditions.resolve(template.load(), self.parameters)
            taps.check_mappings(self._template)
        except (conditions.ParameterError, taps.TapError) as exc:
            raise StackError(str(exc)) from exc
        self._parameter_env = parameter_env(self.parameters, self._template)
        self._tap_sources: dict[str, str] = {}
        self.info: LocalStackInfo | None = None
        self.resources: template.LocalResources | None = None
        self.restored: dict[str, int] | None = None
        self.replayed: dict[str, int] | None = None  # journaled writes called again on start
        self._generation = 0  # the journal generation this run's API workers append to
        self._moto: Child | None = None
        self._endpoint = ""
        self._api: LocalApi | ApiWorkers | None = None
        self._pollers: list[Poller | StreamPoller] = []
        self._saved_env: dict[str, str | None] = {}
        self.lambda_log_path = self.info_file.parent / "lambda.log"
        self._lambda_log: IO[str] | None = None

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop()

    def session(self) -> boto3.session.Session:
        """A boto3 session for this stack (endpoint from ``AWS_ENDPOINT_URL``, set by ``start``)."""
        return boto3.session.Session(region_name=self.region, **CREDENTIALS)

    def start(self) -> LocalStackInfo:
        """Bring everything up and write the info file; ``StackError`` if one already runs there.

        >>> LocalStack(info_file="/tmp/pik/local.json").start().api_url   # doctest: +SKIP
        'http://127.0.0.1:41185/v1'
        """
        other = running(self.info_file)
        if other is not None:
            raise StackError(
                f"a local stack is already running (pid {other.pid}, API {other.api_url}, "
                f"info file {self.info_file}); stop it first or pass another --info-file"
            )
        for port in (self.aws_port, self.api_port):
            if port:
                free_port(port)
        try:
            self._bring_up()
        except BaseException:
            self.stop()  # nothing half-started is left behind
            raise
        return self.info

    def _bring_up(self) -> None:
        self._endpoint = self._start_moto()
        self._set_env(
            {
                **{k.upper(): v for k, v in CREDENTIALS.items()},
                "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region,
                "AWS_ENDPOINT_URL": self._endpoint,
                "AWS_PROFILE": None,
                "AWS_SESSION_TOKEN": None,
            }
        )
        session = self.session()
        self.resources = template.create(session, prefix=self.prefix, template=self._template)
        tap_outputs, self._tap_sources = taps.create(
            session, self._template, prefix=self.prefix, names=self.resources.names
        )
        self.resources.outputs.update(tap_outputs)
        self.resources.outputs["lambda_log_file"] = str(self.lambda_log_path.resolve())  # EMF metrics: kit.metrics()
        self._set_env({**self.resources.environment, **self._parameter_env})
        targets.create_http_secret(session, self.parameters["ReplayHttpSecretParameter"])
        clients.reset()
        if self.state_dir:
            self.restored = state.restore(session, self.resources.names, self.state_dir)
            covered = state.journal_through(self.state_dir)
            queues = [url for url in self.resources.names.values() if url.startswith("http")]
            self.replayed = journal.replay(session, self.state_dir, covered, queue_urls=queues)
            self._generation = max([covered, *journal.generations(self.state_dir)]) + 1
        self._start_functions(session)
        self.info = LocalStackInfo(
            region=self.region,
            endpoint_url=self._endpoint,
            api_url=self._api.url,
            pid=os.getpid(),
            outputs=dict(self.resources.outputs),
            credentials=dict(CREDENTIALS),
        )
        self.info.write(self.info_file)

    def stop(self) -> dict[str, int] | None:
        """Stop pollers and API, save state if asked, stop moto, remove the info file.

        Returns the saved counts per resource with ``state_dir``, else None.
        """
        try:
            for poller in self._pollers:
                poller.stop()
            self._pollers = []
            if self._api:
                self._api.stop()
                self._api = None
            if self._moto and self.state_dir and self.resources:
                saved = state.save(
                    self.session(),
                    self.resources.names,
                    self.state_dir,
                    self._template,
                    journal_through=self._generation,
                )
                journal.discard(self.state_dir, self._generation)  # the snapshot holds what they held
                return saved
            return None
        finally:
            self._stop_moto()
            if self.info and _owner(self.info_file) == os.getpid():
                self.info_file.unlink()
            if self._lambda_log:
                unroute_output()
                self._lambda_log.close()
                self._lambda_log = None
            self._restore_env()
            clients.reset()

    def _stop_moto(self) -> None:
        if self._moto:
            self._moto.stop()
            self._moto = None

    def _start_moto(self) -> str:
        """moto's server (with ``pik_local.moto_patches``) in its own process: fresh state every start."""
        port = free_port(self.aws_port) if self.aws_port else 0  # 0: the server binds a free port itself
        self._moto = Child(["moto", "--port", str(port)], dict(os.environ))
        try:
            ready = self._moto.wait_ready()
        except ChildError as exc:
            raise StackError(f"moto's server did not start: {exc}") from exc
        return f"http://127.0.0.1:{ready['port']}"

    def _start_functions(self, session: boto3.session.Session) -> None:
        specs = template.function_specs(self._template)
        self.lambda_log_path.parent.mkdir(parents=True, exist_ok=True)
        self._lambda_log = open_log(self.lambda_log_path, fresh=True)  # one log per run, shared with the workers
        local = functions(specs, self.region, log=self._lambda_log)
        stage = next(iter(template.of_type(template.load(), "AWS::Serverless::Api").values()))["Properties"][
            "StageName"
        ]
        table = routes(specs, local)
        if self.api_workers > 0:
            self._api = ApiWorkers(
                self.api_workers,
                self.api_port,
                stage,
                table,
                region=self.region,
                simulated_arrival=self.simulated_arrival,
                log_path=self.lambda_log_path,
                journal_path=journal.path_of(self.state_dir, self._generation) if self.state_dir else None,
            )
        else:
            self._api = LocalApi(self.api_port, stage, table, self.simulated_arrival)
        self._api.start()
        sqs = session.client("sqs")
        urls = {**self.resources.names, **self._tap_sources}
        arns = {
            name: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            for name, url in urls.items()
            if url.startswith("http")
        }
        for function_name, mapping in mappings(specs, urls, arns):
            poller = Poller(session.client("sqs"), mapping, local[function_name], self.region)
            poller.start()
            self._pollers.append(poller)
        for function_name, stream in stream_mappings(specs, self._template["ParameterValues"], urls, self._tap_sources):
            poller = StreamPoller(
                session.client("kinesis"), session.client("sqs"), stream, local[function_name], self.region
            )
            poller.start()
            self._pollers.append(poller)

    def _set_env(self, values: dict[str, str | None]) -> None:
        for name, value in values.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def _restore_env(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = {}
