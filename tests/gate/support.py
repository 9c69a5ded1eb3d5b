"""Shared by the gate tests: a fleet pushed through the service layer, a gate token, a TCP forwarder that cuts
the database away, and a stand-in for the API (written in parallel, appban.api)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx

from appban.access import Role
from appban.errors import Location
from appban.inventory import DeviceReport, InstalledApp, Visibility
from appban.model import App, Device, Funding, Ownership, Platform
from appban.policy.organisations import parse_organisations
from appban.policy.restriction import parse_restriction
from appban.service import apply_reports, evaluate_rules, load_context
from appban.store import Database, DeviceRepository, OrganisationRepository, RestrictionRepository, TokenRepository

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ACTOR = "gate-tests"
TIKTOK = App(Platform.ANDROID, "com.zhiliaoapp.musically")
SIGNAL = App(Platform.ANDROID, "org.thoughtcrime.securesms")
RULE = "eu-mail-cut"

RESTRICTION = """\
id: eu-mail-cut
issuer: eu-commission
title: {title}
status: active
targets:
  - family: tiktok
scope:
  organisations: [eu-commission]
  devices:
    ownership: [corporate, personal]
strictness: require
grace: 10d
cuts: [{cuts}]
effective: 2023-01-01
children: mandatory
unknown_counts_as: non_compliant
rationale: >
  TikTok collects a large amount of data from its users, often without their knowledge, and its publisher
  must cooperate with a foreign state's intelligence services. Devices that reach corporate mail must not carry it.
"""


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def seed_policy(database: Database, *, title: str = "TikTok off devices that reach corporate mail",
                cuts: str = "mail, chat", at: dt.datetime | None = None) -> None:
    """The example organisations and the test restriction (a new version when `title` or `cuts` change)."""
    at = at or now()
    organisations = [entry.organisation for path in sorted((EXAMPLES / "organisations").glob("*.yaml"))
                     for entry in parse_organisations(path.read_text(), str(path))]
    parsed = parse_restriction(RESTRICTION.format(title=json.dumps(title), cuts=cuts), "eu-mail-cut.yaml")
    with database.session() as session:
        OrganisationRepository(session).apply(organisations, actor=ACTOR, now=at)
        RestrictionRepository(session).apply(parsed, actor=ACTOR, now=at, source_path="eu-mail-cut.yaml")
        evaluate_rules(session, load_context(session), [RULE], at)


def report(device: str, apps: Iterable[App] = (), *, observed_at: dt.datetime | None = None,
           visibility: Visibility = Visibility.FULL, organisation: str = "eu-commission",
           platform: Platform = Platform.ANDROID, holder: str | None = None,
           ownership: Ownership = Ownership.CORPORATE) -> DeviceReport:
    return DeviceReport(device_id=device, platform=platform, observed_at=observed_at or now(),
                        apps=tuple(InstalledApp(app, name=app.identifier) for app in apps), visibility=visibility,
                        where=Location("gate-tests"), ownership=ownership, funding=Funding.FULL, enrolled=True,
                        organisation=organisation, holder=holder)


def push(database: Database, *reports: DeviceReport, at: dt.datetime | None = None) -> None:
    """What an inventory push does: the devices, then their reports and findings, in one transaction."""
    at = at or now()
    with database.session() as session:
        push_in(session, reports, at)


def push_in(session: Any, reports: Iterable[DeviceReport], at: dt.datetime) -> None:
    listed = list(reports)
    devices = [Device(id=r.device_id, organisation=r.organisation or "eu-commission", platform=r.platform,
                      ownership=r.ownership or Ownership.CORPORATE, funding=r.funding or Funding.FULL,
                      enrolled=True if r.enrolled is None else r.enrolled, holder=r.holder) for r in listed]
    DeviceRepository(session).upsert(devices, now=at, source_format="csv")
    apply_reports(session, load_context(session), listed, source_format="csv", source_file="gate-tests", now=at)


def seed_fleet(database: Database) -> dict[str, str]:
    """Four devices, one of each kind the gate tells apart; returns a gate token of eu-commission."""
    at = now()
    seed_policy(database, at=at)
    push(database,
         report("clean-phone", [SIGNAL], observed_at=at - dt.timedelta(days=20), holder="ana@example.eu"),
         report("late-phone", [TIKTOK, SIGNAL], observed_at=at - dt.timedelta(days=15), holder="bo@example.eu"),
         report("grace-phone", [TIKTOK], holder="cy@example.eu"),
         report("byod-phone", [SIGNAL], visibility=Visibility.MANAGED_ONLY, ownership=Ownership.PERSONAL,
                holder="di@example.eu"),
         at=at)
    return {"eu": gate_token(database, "eu-commission"), "be": gate_token(database, "be-federal")}


def gate_token(database: Database, organisation: str) -> str:
    with database.session() as session:
        _, secret = TokenRepository(session).create(name=f"proxy-{organisation}", organisation=organisation,
                                                    role=Role.GATE, expires=None, actor=ACTOR, now=now())
    return secret


def wait_for(condition: Callable[[], bool], timeout: float, step: float = 0.02) -> float:
    """Seconds until `condition()` held; fails the test after `timeout`."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(step)
    return time.monotonic() - start


class Forwarder:
    """A TCP forwarder in front of a server: `cut()` drops every connection and refuses new ones (as if the
    database went away), `restore()` listens again on the same port."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self.port = 0
        self.restore()

    def restore(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, []
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept(): new connections fail
            listener.close()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def close(self) -> None:
        self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._connections += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, target), daemon=True).start()


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def stub_api(database: Database, *, clock: Callable[[], dt.datetime], health: Callable[[], Any],
             extra_metrics: Callable[[], str]) -> Callable[..., Any]:
    """Stands in for appban.api.create_api: `/metrics` shows the gate's part, anything else is 404."""

    async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        status, body = (200, extra_metrics().encode()) if scope["path"] == "/metrics" else (404, b"{}")
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-length",
                                                                                   str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    return app


class AsgiClient:
    """Calls an ASGI app in-process through httpx, one event loop per request (tests only)."""

    def __init__(self, app: Any, base_url: str = "http://testserver") -> None:
        self._app = app
        self._base_url = base_url

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self._app)
            async with httpx.AsyncClient(transport=transport, base_url=self._base_url) as client:
                return await client.request(method, url, **options)

        return asyncio.run(send())

    def get(self, url: str, **options: Any) -> httpx.Response:
        return self.request("GET", url, **options)

    def post(self, url: str, **options: Any) -> httpx.Response:
        return self.request("POST", url, **options)
