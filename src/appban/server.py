"""The served application: the gate, the holders' remediation pages and the API behind one ASGI callable.

`/gate/...` goes to the gate (appban.gate.asgi), `/remediate...` to the remediation pages, `/api/...`,
`/healthz`, `/metrics`, `/openapi.json`, `/docs` and `/redoc` to the API (appban.api), everything else to the
dashboard (appban.web); with APPBAN_GATE_LISTEN the gate also answers on a socket of its own
(appban.gate.listener), on the same event loop and from the same table, at several times uvicorn's rate.
Dispatch is two string prefix tests, so the gate pays nothing for the API's routing and middleware. The
lifespan starts the table follower and the decision log writer before the first request and stops them after
the last one, draining the log; the API's own lifespan runs inside it.

Settings come from APPBAN_* environment variables (`Settings.from_environment`, docs/gate.md); `appban serve`
(`serve`) runs uvicorn with uvloop and httptools, access log off (the decision log records every decision).
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import logging
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import uvicorn

from appban.audit import AuditEvent
from appban.errors import InvalidInput
from appban.gate import DecisionLog, DecisionSeal, Follower, GateApp, GateListener, Links, RemediationApp
from appban.gate.asgi import Message, Receive, Scope, Send
from appban.store import AuditLog, Database, database_url

if TYPE_CHECKING:  # imported where used: the API is built by its own module, which imports no server code
    from appban.api import HealthReport

__all__ = [
    "PUBLIC_URL_VARIABLE",
    "SECRET_VARIABLE",
    "AppbanServer",
    "Settings",
    "app_from_environment",
    "build_app",
    "serve",
]

logger = logging.getLogger("appban.server")

SECRET_VARIABLE = "APPBAN_SECRET"  # noqa: S105 (the variable's name)
PUBLIC_URL_VARIABLE = "APPBAN_PUBLIC_URL"
_HEADER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
_TRUE = {"1", "true", "yes", "on"}
# Paths of the API outside /api/ (the operations routes and the OpenAPI document); every other path but the
# gate's and the remediation pages' goes to the dashboard.
API_PATHS = frozenset({"/healthz", "/metrics", "/openapi.json", "/docs", "/redoc"})
_FALSE = {"0", "false", "no", "off", ""}


class ASGIApp(Protocol):
    async def __call__(self, scope: Scope, receive: Receive, send: Send, /) -> None: ...


class ApiFactory(Protocol):
    """How the API is made: appban.api.create_api, or a stand-in in tests."""

    def __call__(self, database: Database, *, clock: Callable[[], dt.datetime],
                 health: Callable[[], HealthReport], extra_metrics: Callable[[], str]) -> ASGIApp: ...


class WebFactory(Protocol):
    """How the dashboard is made: appban.web.create_web."""

    def __call__(self, database: Database, *, clock: Callable[[], dt.datetime], secret: bytes,
                 secure_cookies: bool, warm_counts: bool) -> ASGIApp: ...


@dataclass(frozen=True, slots=True)
class Settings:
    """What `appban serve` reads from the environment (each field names its variable)."""

    public_url: str = "http://127.0.0.1:8000"  # APPBAN_PUBLIC_URL: where holders reach this server
    secret: str | None = None  # APPBAN_SECRET: signs remediation links; random per start when unset
    device_header: str = "X-Device-Id"  # APPBAN_GATE_DEVICE_HEADER
    allow_unknown_devices: bool = False  # APPBAN_GATE_ALLOW_UNKNOWN
    decision_log: Path | None = Path("appban-decisions.jsonl")  # APPBAN_DECISION_LOG (`off`: none)
    seal_seconds: float = 60.0  # APPBAN_DECISION_SEAL_SECONDS: how often the decision log is sealed in the audit log
    attestation_days: int = 30  # APPBAN_ATTESTATION_DAYS
    poll_seconds: float = 0.25  # APPBAN_GATE_POLL_MS (milliseconds in the variable)
    refresh_seconds: float = 30.0  # APPBAN_GATE_REFRESH_SECONDS
    resync_seconds: float = 600.0  # APPBAN_GATE_RESYNC_SECONDS (0: never reload everything)
    gate_listen: tuple[str, int] | Path | None = None  # APPBAN_GATE_LISTEN (`host:port` or `unix:PATH`)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None, *,
                         public_url: str | None = None) -> Settings:
        """Read and check every variable; raises InvalidInput naming each variable at fault."""
        env = os.environ if environ is None else environ
        defaults = cls()
        problems: list[InvalidInput] = []

        def text(name: str, default: str) -> str:
            return env.get(name, default).strip()

        def number(name: str, default: float, low: float, high: float) -> float:
            raw = text(name, str(default))
            try:
                value = float(raw)
            except ValueError:
                value = float("nan")
            if not low <= value <= high:
                problems.append(InvalidInput.at(name, f"{raw!r} is not a number from {low:g} to {high:g}"))
                return default
            return value

        url = text(PUBLIC_URL_VARIABLE, public_url or defaults.public_url).rstrip("/")
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", url):
            problems.append(InvalidInput.at(PUBLIC_URL_VARIABLE, f"{url!r} is not an http(s) URL",
                                            hint="e.g. https://appban.example.org"))
        secret = env.get(SECRET_VARIABLE) or None
        if secret is not None and len(secret.encode()) < 16:
            problems.append(InvalidInput.at(SECRET_VARIABLE, "is shorter than 16 bytes",
                                            hint="e.g. the output of `openssl rand -base64 32`"))
        header = text("APPBAN_GATE_DEVICE_HEADER", defaults.device_header)
        if not _HEADER_NAME.fullmatch(header):
            problems.append(InvalidInput.at("APPBAN_GATE_DEVICE_HEADER", f"{header!r} is not a header name"))
        allow = text("APPBAN_GATE_ALLOW_UNKNOWN", "false").lower()
        if allow not in _TRUE | _FALSE:
            problems.append(InvalidInput.at("APPBAN_GATE_ALLOW_UNKNOWN", f"{allow!r} is not true or false"))
        log = text("APPBAN_DECISION_LOG", str(defaults.decision_log))
        days = number("APPBAN_ATTESTATION_DAYS", defaults.attestation_days, 1, 365)
        poll = number("APPBAN_GATE_POLL_MS", defaults.poll_seconds * 1000, 20, 10_000) / 1000
        refresh = number("APPBAN_GATE_REFRESH_SECONDS", defaults.refresh_seconds, 1, 3_600)
        resync = number("APPBAN_GATE_RESYNC_SECONDS", defaults.resync_seconds, 0, 86_400)
        seal = number("APPBAN_DECISION_SEAL_SECONDS", defaults.seal_seconds, 1, 86_400)
        listen_text = text("APPBAN_GATE_LISTEN", "")
        listen: tuple[str, int] | Path | None = None
        if listen_text.startswith("unix:") and len(listen_text) > 5:
            listen = Path(listen_text[5:])
        elif listen_text:
            listen = _host_port(listen_text)
            if listen is None:
                problems.append(InvalidInput.at("APPBAN_GATE_LISTEN", f"{listen_text!r} is neither host:port nor "
                                                "unix:PATH", hint="e.g. 127.0.0.1:8001, [::1]:8001 or "
                                                "unix:/run/appban/gate.sock"))
        if problems:
            raise InvalidInput([problem for error in problems for problem in error.problems])
        return cls(gate_listen=listen, public_url=url, secret=secret, device_header=header,
                   allow_unknown_devices=allow in _TRUE, decision_log=None if log.lower() in ("off", "") else Path(log),
                   attestation_days=int(days),
                   poll_seconds=poll, refresh_seconds=refresh, resync_seconds=resync, seal_seconds=seal)


class AppbanServer:
    """The one ASGI callable `appban serve` runs."""

    def __init__(self, database: Database, settings: Settings, *, clock: Callable[[], dt.datetime] | None = None,
                 api_factory: ApiFactory | None = None) -> None:
        self.database = database
        self.settings = settings
        clock = clock or _utc_now
        secret = settings.secret
        if secret is None:
            secret = secrets.token_urlsafe(32)
            logger.warning("%s is not set: remediation links are signed with a random key and change when appban "
                           "restarts", SECRET_VARIABLE)
        self.links = Links(secret.encode())
        self.log = DecisionLog(settings.decision_log, sealer=self._seal_decisions, seal_every=settings.seal_seconds)
        self._clock = clock
        self.follower = Follower(database, self.links, allow_unknown=settings.allow_unknown_devices, clock=clock,
                                 poll_interval=settings.poll_seconds, refresh_interval=settings.refresh_seconds,
                                 resync_interval=settings.resync_seconds)
        self.gate = GateApp(lambda: self.follower.table, self.log, device_header=settings.device_header,
                            public_url=settings.public_url, clock=clock)
        self.listener = GateListener(self.gate) if settings.gate_listen is not None else None
        self.remediation = RemediationApp(database, self.follower, self.links,
                                          attestation_days=settings.attestation_days, clock=clock)
        factory = api_factory or _api_factory()
        self.api = factory(database, clock=clock, health=self.health, extra_metrics=self.metrics)
        self.web = _web_factory()(database, clock=clock, secret=secret.encode(),
                                  secure_cookies=settings.public_url.startswith("https://"),
                                  warm_counts=database.backend == "postgresql")  # large fleets live there

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path: str = scope["path"]
            if path.startswith("/gate/"):
                await self.gate(scope, receive, send)
            elif path.startswith("/remediate") and (len(path) == 10 or path[10] == "/"):
                await self.remediation(scope, receive, send)
            elif path.startswith("/api/") or path in API_PATHS:
                await self.api(scope, receive, send)
            else:
                await self.web(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(scope, receive, send)
        else:
            await self.api(scope, receive, send)

    def start(self) -> None:
        """Start the decision log writer and the follower (which loads the table first)."""
        self.log.start()
        self.follower.start()

    def stop(self) -> None:
        """Stop following, then write out every queued decision."""
        self.follower.stop()
        self.log.close()

    def _seal_decisions(self, seal: DecisionSeal) -> None:
        """Store a run of the decision log's lines, counted and hashed, in the audit log (from its writer thread;
        raises while the database is away, and the log keeps the run for its next seal)."""
        log = self.settings.decision_log
        with self.database.session() as session:
            AuditLog(session).append(AuditEvent.GATE_DECISIONS, f"{seal.first}..{seal.last}", actor="gate",
                                     at=self._clock(), details={**seal.details(), "file": log.name if log else ""})

    def health(self) -> HealthReport:
        """The gate's part of /healthz: ready, degraded (answering from an older table) or down."""
        from appban.api import HealthReport

        status = self.follower.status()
        return HealthReport(status=status.state, reasons=list(status.reasons))

    def metrics(self) -> str:
        """The gate's part of /metrics, in Prometheus text format."""
        gate = self.gate
        status = self.follower.status()
        lines = [
            "# HELP appban_gate_decisions_total Gate decisions by result.",
            "# TYPE appban_gate_decisions_total counter",
            f'appban_gate_decisions_total{{result="allow"}} {gate.allowed}',
            f'appban_gate_decisions_total{{result="deny"}} {gate.denied}',
            "# HELP appban_gate_warnings_total Allowed decisions that carried a grace-period warning.",
            "# TYPE appban_gate_warnings_total counter",
            f"appban_gate_warnings_total {gate.warned}",
            "# HELP appban_gate_refusals_total Gate requests answered without a decision, by HTTP status.",
            "# TYPE appban_gate_refusals_total counter",
            *[f'appban_gate_refusals_total{{status="{code}"}} {count}' for code, count in sorted(gate.refused.items())],
            "# HELP appban_gate_table_devices Devices in the gate's decision table.",
            "# TYPE appban_gate_table_devices gauge",
            f"appban_gate_table_devices {status.devices}",
            "# HELP appban_gate_degraded 1 while the gate answers from a table it cannot refresh.",
            "# TYPE appban_gate_degraded gauge",
            f"appban_gate_degraded {0 if status.state == 'ready' else 1}",
            "# HELP appban_gate_last_change_id The newest store change the gate's table includes.",
            "# TYPE appban_gate_last_change_id gauge",
            f"appban_gate_last_change_id {status.last_change}",
            "# HELP appban_gate_decision_log_pending Decisions queued for the decision log.",
            "# TYPE appban_gate_decision_log_pending gauge",
            f"appban_gate_decision_log_pending {self.log.pending}",
        ]
        return "\n".join(lines) + "\n"

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        await receive()  # lifespan.startup
        child = _ChildLifespan(self.api, scope)
        try:
            await loop.run_in_executor(None, self.start)
            listen = self.settings.gate_listen
            if self.listener is not None:
                if isinstance(listen, Path):
                    await self.listener.start_unix(listen)
                    logger.info("gate: also answering /gate/auth on unix:%s", listen)
                elif isinstance(listen, tuple):
                    await self.listener.start(*listen, reuse_port=True)  # every worker on the same port
                    logger.info("gate: also answering /gate/auth on %s:%d", *listen)
            await child.startup()
        except Exception as error:  # reported to the server, which then refuses to start
            logger.exception("appban failed to start")
            await send({"type": "lifespan.startup.failed", "message": str(error)})
            return
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        try:
            if self.listener is not None:
                await self.listener.close()
            await child.shutdown()
        finally:
            await loop.run_in_executor(None, self.stop)
            self.database.dispose()
        await send({"type": "lifespan.shutdown.complete"})


class _ChildLifespan:
    """Runs the API's lifespan inside ours: it sees the same startup and shutdown events."""

    def __init__(self, app: ASGIApp, scope: Scope) -> None:
        self._app = app
        self._scope = scope
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._outbox: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        self._task = asyncio.create_task(self._app(self._scope, self._inbox.get, self._outbox.put))
        await self._event("lifespan.startup")

    async def shutdown(self) -> None:
        if self._task is not None and not self._task.done():
            await self._event("lifespan.shutdown")
            await self._task

    async def _event(self, kind: str) -> None:
        assert self._task is not None
        await self._inbox.put({"type": kind})
        reply = asyncio.ensure_future(self._outbox.get())
        done, _ = await asyncio.wait({reply, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if reply not in done:  # the API ended its lifespan (it has none, or it failed)
            reply.cancel()
            if self._task.exception() is not None and kind == "lifespan.startup":
                raise RuntimeError(f"the API could not start: {self._task.exception()}")
            return
        message = reply.result()
        if message["type"].endswith(".failed"):
            raise RuntimeError(f"the API could not start: {message.get('message', '')}")


def build_app(database: Database, *, settings: Settings, clock: Callable[[], dt.datetime] | None = None,
              api_factory: ApiFactory | None = None) -> AppbanServer:
    """The served application on an open database (its schema already checked)."""
    return AppbanServer(database, settings, clock=clock, api_factory=api_factory)


def app_from_environment() -> AppbanServer:
    """uvicorn's factory (`appban.server:app_from_environment`): every worker builds its app from APPBAN_*."""
    database = Database.open(database_url())
    database.check_schema()
    return build_app(database, settings=Settings.from_environment())


def serve(*, host: str, port: int, workers: int, log_level: str = "info") -> None:
    """Run uvicorn on the app built from the environment (which `appban serve` fills from its flags).

    Without APPBAN_SECRET, one random secret is made here and handed to every worker, so a link made by one
    worker opens on another (and every link changes at the next start: set APPBAN_SECRET).
    """
    if not os.environ.get(SECRET_VARIABLE):
        os.environ[SECRET_VARIABLE] = secrets.token_urlsafe(32)
        logger.warning("%s is not set: remediation links change when appban restarts", SECRET_VARIABLE)
    logging_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)  # uvicorn's format, for appban's messages too
    logging_config["loggers"]["appban"] = {"handlers": ["default"], "level": log_level.upper(), "propagate": False}
    options: dict[str, Any] = {"host": host, "port": port, "workers": workers, "factory": True, "loop": "uvloop",
                               "http": "httptools", "access_log": False, "lifespan": "on", "log_level": log_level,
                               "log_config": logging_config, "server_header": False}
    uvicorn.run("appban.server:app_from_environment", **options)


def _host_port(text: str) -> tuple[str, int] | None:
    """`host:port` or `[v6]:port`; None when it is neither."""
    found = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d{1,5})|([A-Za-z0-9.-]+):(\d{1,5})", text)
    if found is None:
        return None
    host = found.group(1) or found.group(3)
    port = int(found.group(2) or found.group(4))
    return (host, port) if 0 < port < 65536 else None


def _web_factory() -> WebFactory:
    from appban.web import create_web

    return create_web


def _api_factory() -> ApiFactory:
    from appban.api import create_api

    return create_api


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
