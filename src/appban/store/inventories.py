"""Inventories in the store: each device's current inventory with its apps, and every report received.

The current inventory is what `appban.compliance.fold_report` made of the reports so far; saving one
replaces the device's inventory row and its app rows, writing only the rows that differ. Every
report is also appended to `inventory_reports`, applied or not: a report older than what is known never
overwrites it, but the history shows it arrived.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import operator
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sqlalchemy import DateTime, Dialect, bindparam, delete, func, select, text, tuple_, type_coerce, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from appban.compliance.state import DeviceInventory
from appban.inventory.interface import InstalledApp, MatchedBy, ReportKind, Visibility
from appban.inventory.records import intern_app
from appban.model import App, Platform
from appban.store.bulk import BATCH, CHUNK, NULL, among, chunked, copy_lines, copy_text, copy_time, insert_rows
from appban.store.tables import DeviceAppRow, InventoryReportRow, InventoryRow, UTCDateTime

__all__ = ["InventoryRepository", "ReceivedReport"]

# pg_advisory_xact_lock key of inventory writes: the first 8 bytes, signed, of sha256(b"appban.inventory").
_WRITE_LOCK = -0x6EFB_8562_49DD_6B92
PER_DEVICE_LOCKS = 256  # devices an import may lock one by one; a larger one takes the import lock whole
_HELD_KEY = "appban.inventory_locks"  # Session.info: (transaction, devices locked in it, or _ALL)
_ALL: frozenset[str] = frozenset({"\x00all"})  # not a device id: the store refuses control characters


def _device_lock(device: str) -> int:
    """The advisory lock key of one device: 64 bits of its id's hash (a collision only serialises two)."""
    return int.from_bytes(hashlib.blake2b(device.encode(), digest_size=8).digest(), "big", signed=True)

_APP_VALUES = ("name", "version", "matched_by", "present_since")
_APP_COLUMNS = (DeviceAppRow.device_id, DeviceAppRow.platform, DeviceAppRow.identifier,
                *(getattr(DeviceAppRow, name) for name in _APP_VALUES))
_APP_NAMES = ("device_id", "platform", "identifier", *_APP_VALUES)
_REPORT_FIELDS = ("device_id", "source_format", "source_file", "observed_at", "received_at", "kind", "visibility",
                  "app_count", "applied")


@dataclass(frozen=True, slots=True)
class ReceivedReport:
    """One report as received: where from, when observed and received, and whether it became current."""

    device_id: str
    source_format: str
    source_file: str
    observed_at: dt.datetime
    received_at: dt.datetime
    kind: ReportKind
    visibility: Visibility
    app_count: int
    applied: bool


@dataclass(slots=True)
class _AppPlan:
    """The app rows to write for some devices: by device, those gone; rows new and changed; and the devices
    with no stored rows at all, whose every row is new (written by COPY on PostgreSQL)."""

    fresh: list[str]
    gone: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    new: list[dict[str, Any]] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)


class InventoryRepository:
    """Current inventories and the report history in one session (one transaction)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        # What `get_for_update` read, for `save` to compare with instead of reading it again: device -> its app
        # rows ((platform, identifier) -> the `_APP_VALUES`); every device it looked at; and which of those have
        # an inventory row. On PostgreSQL every device looked at has an entry in `_stored` (perhaps empty); on
        # SQLite only those with an inventory.
        self._stored: dict[str, dict[tuple[str, str], tuple[Any, ...]]] = {}
        self._looked: set[str] = set()
        self._inventoried: set[str] = set()  # of `_looked`, those with an inventory row

    def serialise_writes(self, devices: Collection[str] | None = None) -> None:
        """Hold inventory write locks until this transaction ends (PostgreSQL; SQLite has one writer anyway).

        Two sources reporting the same devices at once would otherwise both read them as new (and one import
        fail on the other's rows) or both read the older inventory (and an older report win). Taken before the
        first read of an import, so that everything it reads was committed by the imports before it.

        A few `devices` (a push from a device-management system: one device, or a page of them) lock only those
        devices, under a shared hold of the import lock, so pushes about different devices run side by side. A
        whole file (`devices` None or more than PER_DEVICE_LOCKS) holds the import lock alone: it waits for the
        pushes in flight and keeps new ones out. Per-device locks are taken in one sorted pass, and a later call
        in the same transaction may only name devices already locked (or take nothing new), so two
        transactions never wait for each other in a circle.
        """
        if self._session.get_bind().dialect.name != "postgresql":
            return
        transaction = self._session.get_transaction()
        held_by, held = self._session.info.get(_HELD_KEY, (None, frozenset()))
        if held_by is not transaction:
            held = frozenset()
        if held == _ALL:
            return
        if devices is None or len(devices) > PER_DEVICE_LOCKS:
            self._session.execute(select(func.pg_advisory_xact_lock(_WRITE_LOCK)))
            self._session.info[_HELD_KEY] = (transaction, _ALL)
            return
        wanted = frozenset(devices) - held
        if not wanted:
            return
        if not held:
            self._session.execute(select(func.pg_advisory_xact_lock_shared(_WRITE_LOCK)))
        keys = sorted({_device_lock(device) for device in wanted})
        # one round trip; the function scan hands the keys over in array order, which is sorted
        self._session.execute(text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS t(k)"),
                              {"keys": keys})
        self._session.info[_HELD_KEY] = (transaction, held | wanted)

    def get_many(self, ids: Iterable[str], *, only: Collection[App] | None = None) -> dict[str, DeviceInventory]:
        """The current inventories of those of `ids` that have one, each app with the time it appeared.

        With `only`, each inventory holds just those of its apps that are in `only`: an evaluation needs no
        more than the apps some restriction bans, and a fleet's devices hold 80 apps each, not one.
        """
        wanted_ids = set(ids)
        query = select(DeviceAppRow.device_id, DeviceAppRow.platform, DeviceAppRow.identifier,
                       DeviceAppRow.present_since)
        wanted: set[tuple[str, str]] = set()
        apps: dict[str, dict[App, dt.datetime]] = {}
        if only is not None:
            wanted = {(app.platform.value, app.identifier) for app in only}
            query = query.where(among(DeviceAppRow.platform, sorted({platform for platform, _ in wanted})),
                                among(DeviceAppRow.identifier, sorted({identifier for _, identifier in wanted})))
            if len(wanted_ids) > CHUNK:  # many devices, few apps: walk the app index once, not the devices
                self._collect(apps, self._session.execute(query), wanted, wanted_ids)
        out: dict[str, DeviceInventory] = {}
        for chunk in chunked(wanted_ids):
            if only is None or len(wanted_ids) <= CHUNK:
                self._collect(apps, self._session.execute(query.where(among(DeviceAppRow.device_id, chunk))),
                              wanted, None)
            for row in self._session.execute(
                    select(InventoryRow.device_id, InventoryRow.observed_at, InventoryRow.visibility)
                    .where(among(InventoryRow.device_id, chunk))):
                out[row.device_id] = DeviceInventory(
                    device=row.device_id, observed_at=row.observed_at, visibility=Visibility(row.visibility),
                    apps=MappingProxyType(apps.get(row.device_id, {})))
        return out

    def get_for_update(self, ids: Iterable[str]) -> dict[str, DeviceInventory]:
        """`get_many(ids)` (every app) in one query per chunk, remembered for `save` on this repository.

        Folding a report needs the whole current inventory, and saving the result needs the stored rows to
        write only the difference: one query that joins them serves both (the re-evaluation of one device
        after a report used to read the same rows three times, in three round trips).
        """
        out: dict[str, DeviceInventory] = {}
        # The inventory's time is read as the driver gives it and made UTC once per device, not once per app row.
        inventory_columns = (type_coerce(InventoryRow.observed_at, DateTime(timezone=True)), InventoryRow.visibility,
                             *_APP_COLUMNS[1:])
        dialect = self._session.get_bind().dialect
        postgresql = dialect.name == "postgresql"
        for chunk in chunked(set(ids)):
            self._looked.update(chunk)
            heads: dict[str, tuple[dt.datetime, str]] = {}
            apps: dict[str, dict[App, dt.datetime]] = {}
            if postgresql:
                # Driven by the ids, unnested: one plan serves one device and 5,000, even once the statement
                # is prepared with a generic plan (`inventories.device_id = ANY(...)` joined to device_apps
                # got a hash join over the whole of device_apps: 45 ms for one device). Every id comes back,
                # with its inventory and its app rows where it has them, so `save` reads none of them again
                # (a new device's missing rows cost a second look-up of every chunk of an import).
                listed = func.unnest(bindparam("ids", chunk, type_=ARRAY(InventoryRow.device_id.type))) \
                    .table_valued("id").render_derived()
                query = (select(listed.c.id, *inventory_columns).select_from(listed)
                         .outerjoin(InventoryRow, InventoryRow.device_id == listed.c.id)
                         .outerjoin(DeviceAppRow, DeviceAppRow.device_id == listed.c.id))
            else:
                query = (select(InventoryRow.device_id, *inventory_columns)
                         .where(among(InventoryRow.device_id, chunk))
                         .outerjoin(DeviceAppRow, DeviceAppRow.device_id == InventoryRow.device_id))
            held: dict[str, dict[tuple[str, str], tuple[Any, ...]]] = {}
            for device_id, observed_at, visibility, platform, identifier, name, version, matched_by, since \
                    in self._session.execute(query):
                rows = held.get(device_id)
                if rows is None:
                    rows = held[device_id] = {}
                    if observed_at is not None:
                        heads[device_id] = (observed_at, visibility)
                        apps[device_id] = {}
                if identifier is not None:
                    rows[(platform, identifier)] = (name, version, matched_by, since)
                    if observed_at is not None:
                        apps[device_id][_app(platform, identifier)] = since
            self._stored.update(held)
            self._inventoried.update(heads)
            for device_id, (observed_at, visibility) in heads.items():
                out[device_id] = DeviceInventory(device=device_id, observed_at=_as_utc(observed_at, dialect),
                                                 visibility=Visibility(visibility),
                                                 apps=MappingProxyType(apps[device_id]))
        return out

    @staticmethod
    def _collect(apps: dict[str, dict[App, dt.datetime]], rows: Iterable[Any], wanted: set[tuple[str, str]],
                 devices: set[str] | None) -> None:
        for row in rows:
            if wanted and (row.platform, row.identifier) not in wanted:
                continue
            if devices is not None and row.device_id not in devices:
                continue
            apps.setdefault(row.device_id, {})[_app(row.platform, row.identifier)] = row.present_since

    def observed_at_many(self, ids: Iterable[str]) -> dict[str, dt.datetime]:
        """When each device's current inventory was observed (devices without one are left out)."""
        out: dict[str, dt.datetime] = {}
        for chunk in chunked(set(ids)):
            out.update((device_id, observed_at) for device_id, observed_at in self._session.execute(
                select(InventoryRow.device_id, InventoryRow.observed_at).where(among(InventoryRow.device_id, chunk))))
        return out

    def app_details(self, device_id: str) -> list[InstalledApp]:
        """A device's current apps as last reported: name, version and how each was matched; by identity."""
        query = (select(*_APP_COLUMNS).where(DeviceAppRow.device_id == device_id)
                 .order_by(DeviceAppRow.platform, DeviceAppRow.identifier))
        return [InstalledApp(_app(row.platform, row.identifier), name=row.name, version=row.version,
                             matched_by=MatchedBy(row.matched_by)) for row in self._session.execute(query)]

    def observed_since(self, moments: Sequence[dt.datetime]) -> list[int]:
        """How many current inventories were observed at or after each moment: inventory age in one query."""
        if not moments:
            return []
        counts = [func.count().filter(InventoryRow.observed_at >= moment) for moment in moments]
        return [int(value or 0) for value in self._session.execute(select(*counts)).one()]

    def save(self, inventories: Sequence[DeviceInventory],
             app_details: Mapping[str, Sequence[InstalledApp]] | None = None, *, source_format: str,
             now: dt.datetime) -> None:
        """Make these the devices' current inventories, replacing what was stored (the last one of a device
        listed twice wins). An app's display name, version and how it was matched come from the device's
        entry in `app_details` when there is one; otherwise they are unknown and the app counts as matched by
        identifier.

        Only the difference is written: a device checks in with the same 80 apps day after day, and one
        installed or removed app should cost one row, not the deletion and insertion of eighty (each also
        maintaining two indexes).
        """
        latest = {inventory.device: inventory for inventory in inventories}
        details = app_details or {}
        for chunk in chunked(latest):
            new, updated = self._inventory_rows(chunk, latest, source_format, now)
            insert_rows(self._session, InventoryRow, new)
            for batch in chunked(updated, BATCH):
                self._session.execute(update(InventoryRow), batch)
            self._write_apps(self._plan_apps(chunk, latest, details), latest, details)

    def _inventory_rows(self, chunk: Sequence[str], latest: Mapping[str, DeviceInventory], source_format: str,
                        now: dt.datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The inventory rows of `chunk`: (those to insert, those to update)."""
        unread = [device_id for device_id in chunk if device_id not in self._looked]
        stored = {device_id for device_id in chunk if device_id in self._inventoried}
        if unread:
            stored.update(row.device_id for row in self._session.execute(
                select(InventoryRow.device_id).where(among(InventoryRow.device_id, unread))))
        rows = [{"device_id": device_id, "observed_at": latest[device_id].observed_at,
                 "visibility": latest[device_id].visibility.value, "source_format": source_format,
                 "received_at": now} for device_id in chunk]
        return ([row for row in rows if row["device_id"] not in stored],
                [row for row in rows if row["device_id"] in stored])

    def _plan_apps(self, chunk: Sequence[str], latest: Mapping[str, DeviceInventory],
                   details: Mapping[str, Sequence[InstalledApp]]) -> _AppPlan:
        """What to write to make the app rows of `chunk` those of `latest`, against the stored rows (as
        `get_for_update` read them, else read now)."""
        old: dict[tuple[str, str, str], tuple[Any, ...]] = {}
        unread = [device_id for device_id in chunk if device_id not in self._stored]
        if unread:  # devices `get_for_update` did not read, or read without an inventory (rows left over?)
            for row in self._session.execute(select(*_APP_COLUMNS).where(among(DeviceAppRow.device_id, unread))):
                old[(row.device_id, row.platform, row.identifier)] = tuple(row)[3:]
        for device_id in chunk:
            for (platform, identifier), remembered in self._stored.pop(device_id, {}).items():
                old[(device_id, platform, identifier)] = remembered
            self._looked.discard(device_id)  # written: read again before another save
            self._inventoried.discard(device_id)
        held = {device_id for device_id, _, _ in old}
        plan = _AppPlan(fresh=[device_id for device_id in chunk if device_id not in held])  # nothing to compare
        identified = MatchedBy.IDENTIFIER.value
        for device_id in chunk:
            if device_id not in held:
                continue
            for app, since, entry in _entries(latest[device_id], details.get(device_id, ())):
                platform = app.platform.value
                values = ((None, None, identified, since) if entry is None else
                          (entry.name, entry.version, entry.matched_by.value, since))
                before = old.pop((device_id, platform, app.identifier), None)
                if before != values:  # a dict only for the rows written: most are as stored
                    written: dict[str, Any] = {"device_id": device_id, "platform": platform,
                                               "identifier": app.identifier,
                                               **dict(zip(_APP_VALUES, values, strict=True))}
                    (plan.new if before is None else plan.changed).append(written)
        for device_id, platform, identifier in old:
            plan.gone.setdefault(device_id, []).append((platform, identifier))
        return plan

    def _write_apps(self, plan: _AppPlan, latest: Mapping[str, DeviceInventory],
                    details: Mapping[str, Sequence[InstalledApp]]) -> None:
        for device_id, apps in sorted(plan.gone.items()):
            for part in chunked(apps):
                self._session.execute(delete(DeviceAppRow).where(
                    DeviceAppRow.device_id == device_id,
                    tuple_(DeviceAppRow.platform, DeviceAppRow.identifier).in_(part))
                    .execution_options(synchronize_session=False))
        new = plan.new
        if not plan.fresh:
            pass
        elif self._session.get_bind().dialect.name == "postgresql":
            copy_lines(self._session, DeviceAppRow, _APP_NAMES, _app_lines(plan.fresh, latest, details))
        else:
            new = new + list(_app_rows(plan.fresh, latest, details))
        insert_rows(self._session, DeviceAppRow, new)
        for batch in chunked(plan.changed, BATCH):
            self._session.execute(update(DeviceAppRow), batch)

    def record_reports(self, rows: Iterable[Mapping[str, object]]) -> int:
        """Append reports to the history; each row has the fields of `ReceivedReport`. Returns how many."""
        return insert_rows(self._session, InventoryReportRow,
                           ({field: _plain(row[field]) for field in _REPORT_FIELDS} for row in rows))

    def reports(self, device_id: str, *, limit: int | None = None) -> list[ReceivedReport]:
        """The reports received for a device, newest observation first."""
        query = (select(*(getattr(InventoryReportRow, field) for field in _REPORT_FIELDS))
                 .where(InventoryReportRow.device_id == device_id)
                 .order_by(InventoryReportRow.observed_at.desc(), InventoryReportRow.id.desc()).limit(limit))
        return [ReceivedReport(device_id=row.device_id, source_format=row.source_format, source_file=row.source_file,
                               observed_at=row.observed_at, received_at=row.received_at, kind=ReportKind(row.kind),
                               visibility=Visibility(row.visibility), app_count=row.app_count, applied=row.applied)
                for row in self._session.execute(query)]


def _app_rows(device_ids: Iterable[str], inventories: Mapping[str, DeviceInventory],
              details: Mapping[str, Sequence[InstalledApp]]) -> Iterable[dict[str, Any]]:
    for device_id in device_ids:
        for app, since, entry in _entries(inventories[device_id], details.get(device_id, ())):
            yield {"device_id": device_id, "platform": app.platform.value, "identifier": app.identifier,
                   "name": entry.name if entry is not None else None,
                   "version": entry.version if entry is not None else None,
                   "matched_by": (entry.matched_by if entry is not None else MatchedBy.IDENTIFIER).value,
                   "present_since": since}


def _entries(inventory: DeviceInventory, listed: Sequence[InstalledApp]) -> Iterable[tuple[App, dt.datetime,
                                                                                       InstalledApp | None]]:
    """(app, present since, its entry in `listed` or None) for each app of the inventory.

    After a snapshot the inventory lists the report's apps in the report's order, so the two are walked side by
    side, comparing objects by identity: an App's hash is a Python call, and this runs once per stored row.
    """
    apps = inventory.apps
    if len(listed) == len(apps) and all(entry.app is app for entry, app in zip(listed, apps, strict=True)):
        return ((entry.app, since, entry) for entry, since in zip(listed, apps.values(), strict=True))
    entries = {entry.app: entry for entry in listed}
    return ((app, since, entries.get(app)) for app, since in apps.items())


def _app_lines(device_ids: Iterable[str], inventories: Mapping[str, DeviceInventory],
               details: Mapping[str, Sequence[InstalledApp]]) -> Iterator[str]:
    """`_app_rows` in COPY's text format (columns `_APP_NAMES`), a device's lines at a time.

    The common device is one whose inventory is its report's snapshot, every app present since that report:
    its lines are one list comprehension over the report's entries, each entry's part of the line made once
    (entries repeat: a reader keeps one entry per app listed without a name or a version). Every other device
    goes row by row.
    """
    times: dict[dt.datetime, str] = {}
    texts: dict[int, str] = {}  # id(entry) -> its fields; `details` keeps every entry alive, so ids stay theirs
    for device_id in device_ids:
        inventory = inventories[device_id]
        head = copy_text(device_id)
        listed = details.get(device_id, ())
        apps = inventory.apps
        since = set(apps.values())
        if len(since) == 1 and list(map(_ENTRY_APP, listed)) == list(apps):
            only = since.pop()
            when = times.get(only)
            if when is None:
                when = times[only] = copy_time(only)
            for entry in [entry for entry in listed if id(entry) not in texts]:
                texts[id(entry)] = _entry_text(entry.app, entry)
            yield "".join([f"{head}\t{texts[id(entry)]}\t{when}\n" for entry in listed])
            continue
        for app, present, found in _entries(inventory, listed):
            when = times.get(present)
            if when is None:
                when = times[present] = copy_time(present)
            yield f"{head}\t{_entry_text(app, found)}\t{when}\n"


def _entry_text(app: App, entry: InstalledApp | None) -> str:
    """An app row's platform, identifier, name, version and how it was matched, in COPY's text format."""
    if entry is None:
        return f"{app.platform.value}\t{copy_text(app.identifier)}\t{NULL}\t{NULL}\t{MatchedBy.IDENTIFIER.value}"
    name = NULL if entry.name is None else copy_text(entry.name)
    version = NULL if entry.version is None else copy_text(entry.version)
    return f"{app.platform.value}\t{copy_text(app.identifier)}\t{name}\t{version}\t{entry.matched_by.value}"


_ENTRY_APP = operator.attrgetter("app")


@functools.lru_cache(maxsize=65_536)
def _app(platform: str, identifier: str) -> App:
    """One App object per identity however many devices hold it: a working set of 50,000 devices with 80
    apps each would otherwise hold four million copies of a few thousand apps."""
    return intern_app(Platform(platform), identifier)


def _as_utc(value: Any, dialect: Dialect) -> dt.datetime:
    """A time read without its column type, made what `UTCDateTime` gives (SQLite gives text, or a naive time)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    result = _UTC_TYPE.process_result_value(value, dialect)
    assert result is not None
    return result


_UTC_TYPE = UTCDateTime()


def _plain(value: object) -> object:
    """Enumeration members as their words (the columns are plain strings); by exact type, which is cheaper than
    `isinstance` with a union (a third of recording 2,000 reports)."""
    return value.value if type(value) in _WORDS else value  # type: ignore[attr-defined]


_WORDS = frozenset({ReportKind, Visibility})
