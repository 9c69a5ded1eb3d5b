"""`/remediate/{token}`: the holder's page, linked from every denial and warning, as a bare ASGI callable.

GET reads the device's findings from the store at each view, so "check again" shows what is stored now; when
the database is unreachable it shows the gate's table instead, and says so. POST records the holder's statement
that a banned app is gone from a device whose personal apps the source cannot see (an attestation, audited,
expiring after APPBAN_ATTESTATION_DAYS), re-evaluates that one pair, and the gate follows within a poll. The
form carries a nonce bound to the device, the restriction and the time of rendering (appban.gate.links), and
the link itself is the holder's credential: a bad or forged token gets a 404 page.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import parse_qsl

from appban.errors import AppbanError, Conflict, NotFound
from appban.gate.asgi import Receive, Scope, Send
from appban.gate.decision import DecisionTable, FindingInfo
from appban.gate.follow import Follower, in_force
from appban.gate.links import Links
from appban.gate.page import Item, PageView, render_message, render_page, render_unknown_device
from appban.inventory import Visibility
from appban.model import Attestation, Device, FindingState
from appban.service import ContextCache, evaluate_pairs
from appban.store import (
    AttestationRepository,
    Database,
    DeviceRepository,
    FindingRepository,
    InventoryRepository,
    RestrictionRepository,
)

__all__ = ["PAGE_ROOT", "RemediationApp"]

logger = logging.getLogger("appban.gate")

PAGE_ROOT = "/remediate"
MAX_FORM_BYTES = 8_192
T = TypeVar("T")
_ORDER = {FindingState.NON_COMPLIANT: 0, FindingState.UNKNOWN: 1, FindingState.GRACE: 2, FindingState.ADVISED: 3,
          FindingState.EXEMPT: 4, FindingState.COMPLIANT: 5}
_SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    (b"referrer-policy", b"no-referrer"),  # the page's URL is the holder's credential
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
]


class RemediationApp:
    """The holders' pages. Store work runs in a worker thread; the event loop only renders and sends."""

    def __init__(self, database: Database, follower: Follower, links: Links, *, attestation_days: int = 30,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self._database = database
        self._follower = follower
        self._links = links
        self._days = attestation_days
        self._clock = clock or _utc_now
        self._contexts = ContextCache()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        rest = path[len(PAGE_ROOT):]
        method: str = scope["method"]
        if rest in ("", "/"):
            await _html(send, 200, render_unknown_device(), head=method == "HEAD")
            return
        token = rest[1:] if rest.startswith("/") else ""
        device_id = self._links.device(token) if token and "/" not in token else None
        if device_id is None:
            await _html(send, 404, render_message("Link not valid", "This link is not valid. Use the link from your "
                                                  "latest notice, or ask your IT service desk."))
            return
        action = f"{PAGE_ROOT}/{token}"
        if method in ("GET", "HEAD"):
            view = await _in_thread(self._view, device_id, action, None)
            if view is None:
                await _html(send, 200, render_unknown_device(), head=method == "HEAD")
            else:
                await _html(send, 200, render_page(view), head=method == "HEAD")
            return
        if method != "POST":
            await _html(send, 405, render_message("Not allowed", "Use the buttons on the page."),
                        extra=[(b"allow", b"GET, HEAD, POST")])
            return
        await self._post(scope, receive, send, device_id, action)

    async def _post(self, scope: Scope, receive: Receive, send: Send, device_id: str, action: str) -> None:
        content_type = dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type != b"application/x-www-form-urlencoded":
            await _html(send, 415, render_message("Not accepted", "Send the form from the page."))
            return
        body = await _read_body(receive, MAX_FORM_BYTES)
        if body is None:
            await _html(send, 413, render_message("Too large", "The form sent was too large."))
            return
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        restriction = form.get("restriction", "")
        now = self._clock()
        if not self._links.check_nonce(form.get("nonce", ""), device_id, restriction, now):
            await _html(send, 403, render_message("This form has expired", "Open the page again and send the form "
                                                  "from there."))
            return
        if form.get("confirm") != "yes":
            await _html(send, 400, render_message("Not confirmed", "Tick the box to confirm, then send the form."))
            return
        try:
            notice = await _in_thread(self._attest, device_id, restriction, now)
        except (NotFound, Conflict) as error:
            await _html(send, 409, render_message("Nothing to record", error.diagnosis))
            return
        except AppbanError as error:
            logger.warning("gate: attestation for device %s not recorded: %s", device_id, error.diagnosis)
            await _html(send, 503, render_message("Not recorded", "appban cannot reach its database right now; "
                                                  "try again in a few minutes."))
            return
        view = await _in_thread(self._view, device_id, action, notice)
        await _html(send, 200, render_page(view) if view is not None else render_unknown_device())

    # --- in a worker thread --------------------------------------------------------------------------

    def _view(self, device_id: str, action: str, notice: str | None) -> PageView | None:
        now = self._clock()
        try:
            return self._view_from_store(device_id, action, notice, now)
        except Exception as error:  # the database is away: show what the gate answers from, and say so
            logger.warning("gate: remediation page for %s from the table: %s", device_id, error)
            return self._view_from_table(self._follower.table, device_id, action, now)

    def _view_from_store(self, device_id: str, action: str, notice: str | None, now: dt.datetime) -> PageView | None:
        with self._database.session() as session:
            device = DeviceRepository(session).get_many([device_id]).get(device_id)
            if device is None:
                return None
            stored = FindingRepository(session).get_for_devices([device_id])
            inventory = InventoryRepository(session).get_many([device_id]).get(device_id)
            restrictions = RestrictionRepository(session)
            latest = {rule: restrictions.latest(rule) for _, rule in stored}
        hidden = inventory is not None and inventory.visibility is not Visibility.FULL
        items = []
        for (_, rule), item in stored.items():
            current = latest.get(rule)
            if current is None or not in_force(current.restriction, now):
                continue
            r = current.restriction
            verdict = item.verdict
            attestable = verdict.state is FindingState.UNKNOWN and hidden
            items.append(Item(
                restriction=rule, title=r.title, rationale=r.rationale, state=verdict.state, reason=verdict.reason,
                apps=tuple(sorted(self._follower.app_name(app) for app in verdict.apps)), deadline=verdict.deadline,
                cuts=r.cuts, shadow=verdict.shadow,
                nonce=self._links.nonce(device_id, rule, now) if attestable else None))
        return self._page(device, tuple(items), action, notice, now, live=True)

    def _view_from_table(self, table: DecisionTable | None, device_id: str, action: str,
                         now: dt.datetime) -> PageView | None:
        entry = table.devices.get(device_id) if table is not None else None
        if table is None or entry is None:
            return None
        items = []
        for finding in entry.device.findings:
            info = table.restrictions.get(finding.restriction)
            if info is None:
                continue
            items.append(_table_item(finding, info.title, info.rationale, info.cuts))
        status = self._follower.status()
        as_of = status.fresh_at or now
        device = entry.device
        return PageView(device=device.id, platform=device.platform, holder=device.holder,
                        items=tuple(sorted(items, key=_item_order)), as_of=as_of, live=False, action=action,
                        attestation_days=self._days)

    def _attest(self, device_id: str, restriction_id: str, now: dt.datetime) -> str:
        key = (device_id, restriction_id)
        with self._database.session() as session:
            device = DeviceRepository(session).get_many([device_id]).get(device_id)
            if device is None:
                raise NotFound("this device is no longer known to appban")
            finding = FindingRepository(session).get_pairs([key]).get(key)
            inventory = InventoryRepository(session).get_many([device_id]).get(device_id)
            hidden = inventory is not None and inventory.visibility is not Visibility.FULL
            if finding is None or finding.verdict.state is not FindingState.UNKNOWN or not hidden:
                raise Conflict("a statement is only needed where the device management cannot see personal apps; "
                               "this restriction does not need one for this device now")
            holder = device.holder or "unassigned"
            expires = now + dt.timedelta(days=self._days)
            AttestationRepository(session).record(
                Attestation(device=device_id, restriction=restriction_id, holder=holder, at=now, expires=expires),
                actor=f"holder:{holder} (remediation page)")
            evaluate_pairs(session, self._contexts.get(session), [key], now)
            after = FindingRepository(session).get_pairs([key]).get(key)
        logger.info("gate: attestation recorded for device %s, restriction %s, until %s", device_id, restriction_id,
                    expires.isoformat())
        if after is None:
            return (f"Thank you: your statement is recorded until {expires:%Y-%m-%d}. Access comes back within a "
                    "few seconds.")
        return (f"Your statement is recorded until {expires:%Y-%m-%d}, but appban still counts this device as "
                f"{after.verdict.state.value.replace('_', ' ')}: {after.verdict.reason}.")

    def _page(self, device: Device, items: tuple[Item, ...], action: str, notice: str | None, now: dt.datetime, *,
              live: bool) -> PageView:
        return PageView(device=device.id, platform=device.platform, holder=device.holder,
                        items=tuple(sorted(items, key=_item_order)), as_of=now, live=live, action=action,
                        notice=notice, attestation_days=self._days)


def _table_item(finding: FindingInfo, title: str, rationale: str, cuts: frozenset[str]) -> Item:
    return Item(restriction=finding.restriction, title=title, rationale=rationale, state=finding.state,
                reason=finding.reason, apps=finding.apps, deadline=finding.deadline, cuts=cuts, shadow=finding.shadow)


def _item_order(item: Item) -> tuple[bool, int, str]:
    return (item.shadow, _ORDER[item.state], item.restriction)


async def _in_thread(function: Callable[..., T], *args: object) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(function, *args))


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None once it exceeds `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _html(send: Send, status: int, page: str, *, head: bool = False,
                extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = page.encode()
    headers = [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode()),
               *_SECURITY_HEADERS, *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
