"""Keeps the gate's decision table current: one full load, then the store's change feed every 250 ms.

Every transaction that creates, changes or removes a device, or changes its findings, also writes a row to
`gate_changes` (appban.store.tables.GateChangeRow). The follower polls the rows after the last id it has seen
and reloads those devices only; it re-reads the restrictions when their versions (or the set in force today)
change, and the gate tokens every two seconds. Polling a change counter works the same on SQLite and
PostgreSQL and needs no connection held open (LISTEN/NOTIFY would need one per process and still a catch-up
read after any reconnect, which is this read). See docs/gate.md.

Fail-static: when the database fails, the table in memory stays as it is and keeps answering; `status` says
degraded (since when, and why), the follower retries with a growing pause, and when the database is back it
reads every change after the last id it had, so nothing is skipped. A second thread runs the periodic refresh
(grace periods and exemptions that ended, attestations that ran out) so those changes are stored, and skips it
quietly while the database is away.
"""

from __future__ import annotations

import bisect
import datetime as dt
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from appban.access import Role
from appban.catalog import Catalog, default_catalog
from appban.compliance import start_of
from appban.errors import AppbanError
from appban.gate.decision import (
    DecisionTable,
    DeviceEntry,
    DeviceInfo,
    FindingInfo,
    GateToken,
    RestrictionInfo,
    build_table,
    compile_device,
)
from appban.gate.links import Links
from appban.model import App, Device, Lifecycle, Restriction
from appban.policy import OrganisationTree, lifecycle
from appban.service import ContextCache, evaluate_pairs, refresh_due
from appban.store import (
    AttestationRepository,
    Database,
    DeviceRepository,
    FindingRepository,
    GateFeed,
    OrganisationRepository,
    RestrictionRepository,
    StoredFinding,
    StoredRestriction,
    TokenRepository,
)

__all__ = ["ChangeCursor", "Follower", "GateStatus", "in_force"]

logger = logging.getLogger("appban.gate")

POLL_LIMIT = 5_000  # changes read per poll; a longer backlog is read in further polls without pausing
HOLE_WAIT = 600.0  # seconds a missing change id is looked for: a transaction open that long is not followed
MAX_HOLES = 1_000  # ranges of missing ids tracked; beyond that the follower reloads everything
LOAD_WINDOW = 100_000  # ids below a full load's starting point checked for changes not committed yet
ATTESTATION_LOOKBACK = dt.timedelta(days=31)  # how far back the first refresh looks for lapsed attestations
_BACKOFF = (0.25, 0.5, 1.0, 2.0, 4.0, 5.0)


@dataclass(frozen=True, slots=True)
class GateStatus:
    """How the gate is: `ready`, `degraded` (answering from an older table) or `down` (no table at all)."""

    state: str
    reasons: tuple[str, ...]
    devices: int
    last_change: int
    fresh_at: dt.datetime | None  # when the table last matched the store


class ChangeCursor:
    """Which change ids have been read: the last one, and the ranges below it not seen yet.

    On PostgreSQL a transaction takes its ids when it writes and shows them when it commits, so id 41 may
    appear after id 42. The ranges skipped over are looked for again at each poll until they appear or
    `wait` seconds pass (a rolled-back transaction leaves a range that never fills).
    """

    def __init__(self, last: int, *, wait: float = HOLE_WAIT, max_holes: int = MAX_HOLES) -> None:
        self.last = last
        self.overflowed = False
        self._wait = wait
        self._max = max_holes
        self._holes: list[tuple[int, int, float]] = []  # (low, high, first noticed), inclusive, by low

    def holes(self) -> list[tuple[int, int]]:
        return [(low, high) for low, high, _ in self._holes]

    def take(self, ids: Iterable[int], now: float) -> None:
        """Record the ids just read (from after `last` and from the holes)."""
        seen = sorted(set(ids))
        if not seen:
            self._expire(now)
            return
        holes: list[tuple[int, int, float]] = []
        for low, high, since in self._holes:
            start = bisect.bisect_left(seen, low)
            stop = bisect.bisect_right(seen, high)
            cursor = low
            for found in seen[start:stop]:
                if found > cursor:
                    holes.append((cursor, found - 1, since))
                cursor = found + 1
            if cursor <= high:
                holes.append((cursor, high, since))
        previous = self.last
        for found in seen[bisect.bisect_right(seen, self.last):]:
            if found > previous + 1:
                holes.append((previous + 1, found - 1, now))
            previous = found
        self.last = max(self.last, seen[-1])
        self._holes = sorted(holes)
        self._expire(now)

    def _expire(self, now: float) -> None:
        self._holes = [hole for hole in self._holes if now - hole[2] < self._wait]
        if len(self._holes) > self._max:
            self._holes = sorted(sorted(self._holes, key=lambda hole: hole[2])[-self._max:])
            self.overflowed = True


class Follower:
    """The decision table and the threads that keep it current. `table` is what the gate reads."""

    def __init__(self, database: Database, links: Links, *, allow_unknown: bool = False,
                 clock: Callable[[], dt.datetime] | None = None, poll_interval: float = 0.25,
                 token_interval: float = 2.0, refresh_interval: float = 30.0, resync_interval: float = 600.0,
                 catalog: Catalog | None = None) -> None:
        self.table: DecisionTable | None = None
        self._database = database
        self._links = links
        self._allow_unknown = allow_unknown
        self._clock = clock or _utc_now
        self._poll_interval = poll_interval
        self._token_interval = token_interval
        self._refresh_interval = refresh_interval
        self._resync_interval = resync_interval
        self._catalog = catalog or default_catalog()
        self._contexts = ContextCache(self._catalog)
        self._names: dict[App, str] = {}
        self._cursor = ChangeCursor(0)
        self._stored: list[StoredRestriction] = []
        self._versions: dict[str, int] = {}
        self._in_force: frozenset[tuple[str, int]] | None = None
        self._current: Mapping[str, RestrictionInfo] = {}
        self._loaded_at = 0.0
        self._tokens_at = 0.0
        self._refreshed_until: dt.datetime | None = None
        self._failing_since: dt.datetime | None = None
        self._failure = ""
        self._fresh_at: dt.datetime | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Load the table (if the database answers) and start following; never raises for the database."""
        if self._threads:
            return
        self._stop.clear()
        try:
            self.load()
        except Exception as error:  # fail-static: whatever broke, keep going and report it
            self._failed(error)
        self._threads = [threading.Thread(target=self._follow, name="appban-gate-follow", daemon=True),
                         threading.Thread(target=self._refresh_loop, name="appban-gate-refresh", daemon=True)]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._threads = []

    def status(self) -> GateStatus:
        table = self.table
        devices = len(table.devices) if table is not None else 0
        if table is None:
            reason = f"no decision table yet: {self._failure}" if self._failure else "loading the decision table"
            return GateStatus("down", (reason,), 0, self._cursor.last, None)
        since = self._failing_since
        if since is not None:
            fresh = f"{self._fresh_at:%H:%M:%S}" if self._fresh_at is not None else "start"
            reason = (f"database unreachable since {since:%H:%M:%S} UTC: {self._failure}; the gate answers from "
                      f"its table as of {fresh} UTC")
            return GateStatus("degraded", (reason,), devices, self._cursor.last, self._fresh_at)
        return GateStatus("ready", (), devices, self._cursor.last, self._fresh_at)

    # --- one step each (the threads call these; tests may too) ---------------------------------------

    def load(self) -> None:
        """Read everything and replace the table."""
        now = self._clock()
        with self._database.session() as session:
            last = GateFeed(session).last_change()  # before the data: changes after it are read again
            recent = GateFeed(session).ids_after(max(0, last - LOAD_WINDOW))
            stored = RestrictionRepository(session).all_latest()
            tokens = self._read_tokens(session, now)
            devices = list(DeviceRepository(session).all())
            findings: dict[str, list[FindingInfo]] = defaultdict(list)
            for (device, restriction), item in GateFeed(session).all_findings():
                findings[device].append(self._finding(restriction, item))
        self._set_restrictions(stored, now)
        restrictions = self._restrictions(now)
        entries = [self._entry(_info(device, findings.get(device.id, ())), restrictions) for device in devices]
        self.table = build_table(entries, restrictions, tokens, allow_unknown=self._allow_unknown)
        cursor = ChangeCursor(max(0, last - LOAD_WINDOW))
        cursor.take([change for change in recent if change <= last], time.monotonic())  # what is missing: holes
        cursor.overflowed = False
        self._cursor = cursor
        self._loaded_at = self._tokens_at = time.monotonic()
        self._healthy(now)
        logger.info("gate: decision table loaded: %d device(s), %d restriction(s) in force, %d gate token(s)",
                    len(entries), len(restrictions), len(tokens))

    def poll(self) -> int:
        """Read the changes since the last poll and apply them; returns how many changes were read."""
        table = self.table
        if table is None:
            self.load()
            return 0
        now = self._clock()
        tick = time.monotonic()
        cursor = self._cursor
        tokens: Mapping[str, GateToken] | None = None
        stored: list[StoredRestriction] | None = None
        with self._database.session() as session:
            feed = GateFeed(session)
            rows = feed.changes_after(cursor.last, POLL_LIMIT)
            holes = cursor.holes()
            if holes:
                rows += feed.changes_in(holes)
            versions = feed.restriction_versions()
            if versions != self._versions:
                stored = RestrictionRepository(session).all_latest()
            ids = {device for _, device in rows}
            devices = DeviceRepository(session).get_many(ids) if ids else {}
            found = FindingRepository(session).get_for_devices(ids) if ids else {}
            if tick - self._tokens_at >= self._token_interval:
                tokens = self._read_tokens(session, now)
        cursor.take([change for change, _ in rows], tick)
        if stored is not None:
            self._set_restrictions(stored, now)
        restrictions = self._restrictions(now)
        if restrictions is not table.restrictions:  # a new version, or a restriction came into or out of force
            entries = {device_id: (self._entry(entry.device, restrictions) if entry.device.findings else entry)
                       for device_id, entry in table.devices.items()}
            table = replace(table, devices=entries, restrictions=restrictions)
        if tokens is not None:
            table = replace(table, tokens=tokens)
            self._tokens_at = tick
        self._apply(table, ids, devices, found)
        self.table = table
        self._healthy(now)
        return len(rows)

    def refresh(self) -> None:
        """Store what time alone changed: grace periods and exemptions that ended, attestations that ran out."""
        now = self._clock()
        after = self._refreshed_until or now - ATTESTATION_LOOKBACK
        with self._database.session() as session:
            if not GateFeed(session).claim_refresh():
                return  # another process is refreshing right now
            context = self._contexts.get(session)
            due = refresh_due(session, context, now)
            lapsed = evaluate_pairs(session, context, AttestationRepository(session).expiring(after, now), now)
        self._refreshed_until = now
        if due.changes or lapsed.changes:
            logger.info("gate: refresh moved %d finding(s) on (deadlines passed, attestations lapsed)",
                        due.changes + lapsed.changes)

    # --- threads -----------------------------------------------------------------------------------------

    def _follow(self) -> None:
        delay = self._poll_interval
        failures = 0
        while not self._stop.wait(delay):
            try:
                overdue = self._resync_interval > 0 and time.monotonic() - self._loaded_at >= self._resync_interval
                if self.table is None or overdue or self._cursor.overflowed:
                    self.load()
                    read = 0
                else:
                    read = self.poll()
                failures = 0
                delay = 0.0 if read >= POLL_LIMIT else self._poll_interval
            except Exception as error:  # fail-static: whatever broke, keep the table and retry
                self._failed(error)
                delay = _BACKOFF[min(failures, len(_BACKOFF) - 1)]
                failures += 1

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self._refresh_interval):
            if self._failing_since is not None or self.table is None:
                continue  # the follower reports the outage; try again once the database is back
            try:
                self.refresh()
            except Exception as error:  # the next run tries again
                logger.warning("gate: periodic refresh failed: %s", _describe(error))

    # --- building the table --------------------------------------------------------------------------

    def _apply(self, table: DecisionTable, ids: Iterable[str], devices: Mapping[str, Device],
               found: Mapping[tuple[str, str], StoredFinding]) -> None:
        findings: dict[str, list[FindingInfo]] = defaultdict(list)
        for (device_id, restriction), item in found.items():
            findings[device_id].append(self._finding(restriction, item))
        for device_id in ids:
            device = devices.get(device_id)
            if device is None:
                table.devices.pop(device_id, None)
            else:
                table.devices[device_id] = self._entry(_info(device, findings.get(device_id, ())),
                                                       table.restrictions)

    def _entry(self, device: DeviceInfo, restrictions: Mapping[str, RestrictionInfo]) -> DeviceEntry:
        remediation = self._links.path(device.id) if device.findings else None
        return compile_device(device, restrictions, remediation)

    def _finding(self, restriction: str, item: StoredFinding) -> FindingInfo:
        verdict = item.verdict
        return FindingInfo(restriction=restriction, version=item.restriction_version,
                           state=verdict.state, reason=verdict.reason, deadline=verdict.deadline,
                           apps=tuple(sorted(self.app_name(app) for app in verdict.apps)), shadow=verdict.shadow)

    def app_name(self, app: App) -> str:
        """How holders read an app: the catalogue's family name and the identity, `TikTok (com.zhiliaoapp...)`."""
        name = self._names.get(app)
        if name is None:
            family = self._catalog.family_of(app)
            name = f"{family.name} ({app.identifier})" if family is not None else app.identifier
            self._names[app] = name
        return name

    def _set_restrictions(self, stored: list[StoredRestriction], now: dt.datetime) -> None:
        self._stored = stored
        self._versions = {item.restriction.id: item.version for item in stored}
        self._in_force = None  # recomputed by `_restrictions`
        self._restrictions(now)

    def _restrictions(self, now: dt.datetime) -> Mapping[str, RestrictionInfo]:
        """The restrictions in force now, the same object as long as that set is unchanged."""
        enforced = frozenset((item.restriction.id, item.version) for item in self._stored
                             if in_force(item.restriction, now))
        if enforced != self._in_force:
            self._in_force = enforced
            self._current = {item.restriction.id: _restriction_info(item) for item in self._stored
                             if (item.restriction.id, item.version) in enforced}
        return self._current

    def _read_tokens(self, session: Session, now: dt.datetime) -> dict[str, GateToken]:
        valid = {digest: info for digest, info in TokenRepository(session).valid_by_hash(now).items()
                 if info.role is Role.GATE}
        if not valid:
            return {}
        tree = OrganisationTree(OrganisationRepository(session).all())
        subtrees: dict[str, frozenset[str]] = {}
        out: dict[str, GateToken] = {}
        for digest, info in valid.items():
            within = subtrees.get(info.organisation)
            if within is None:
                within = subtrees[info.organisation] = frozenset(tree.subtree(info.organisation))
            out[digest] = GateToken(id=info.id, name=info.name, organisation=info.organisation, within=within,
                                    expires=info.expires)
        return out

    # --- health ------------------------------------------------------------------------------------------

    def _healthy(self, now: dt.datetime) -> None:
        if self._failing_since is not None:
            logger.warning("gate: database reachable again after %.0f s; caught up to change %d",
                           (now - self._failing_since).total_seconds(), self._cursor.last)
        self._failing_since = None
        self._failure = ""
        self._fresh_at = now

    def _failed(self, error: Exception) -> None:
        described = _describe(error)
        if self._failing_since is None:
            self._failing_since = self._clock()
            logger.error("gate: cannot read the database, answering from the table in memory: %s", described)
        self._failure = described


def _info(device: Device, findings: Sequence[FindingInfo]) -> DeviceInfo:
    return DeviceInfo(id=device.id, organisation=device.organisation, holder=device.holder, platform=device.platform,
                      findings=tuple(sorted(findings, key=lambda f: f.restriction)))


def in_force(restriction: Restriction, now: dt.datetime) -> bool:
    """Whether the gate enforces a restriction now: active today, and past its effective date."""
    return lifecycle(restriction, now.date()) is Lifecycle.ACTIVE and now >= start_of(restriction.effective)


def _restriction_info(item: StoredRestriction) -> RestrictionInfo:
    r = item.restriction
    return RestrictionInfo(id=r.id, version=item.version, title=r.title, rationale=r.rationale, cuts=r.cuts,
                           unknown_counts_as=r.unknown_counts_as)


def _describe(error: Exception) -> str:
    if isinstance(error, AppbanError):
        return error.diagnosis
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else 'no detail'}"


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
