"""Inventories in the store: each device's current inventory with its apps, and every report received.

The current inventory is what `appban.compliance.fold_report` made of the reports so far; saving one
replaces the device's inventory row and its app rows, writing only the rows that differ. Every
report is also appended to `inventory_reports`, applied or not: a report older than what is known never
overwrites it, but the history shows it arrived.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import delete, func, select, tuple_, update
from sqlalchemy.orm import Session

from appban.compliance.state import DeviceInventory
from appban.inventory.interface import InstalledApp, MatchedBy, ReportKind, Visibility
from appban.model import App, Platform
from appban.store.bulk import BATCH, CHUNK, among, chunked, insert_rows
from appban.store.tables import DeviceAppRow, InventoryReportRow, InventoryRow

__all__ = ["InventoryRepository", "ReceivedReport"]

# pg_advisory_xact_lock key of inventory writes: the first 8 bytes, signed, of sha256(b"appban.inventory").
_WRITE_LOCK = -0x6EFB_8562_49DD_6B92

_APP_VALUES = ("name", "version", "matched_by", "present_since")
_APP_COLUMNS = (DeviceAppRow.device_id, DeviceAppRow.platform, DeviceAppRow.identifier,
                *(getattr(DeviceAppRow, name) for name in _APP_VALUES))
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


class InventoryRepository:
    """Current inventories and the report history in one session (one transaction)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def serialise_writes(self) -> None:
        """Hold the inventory write lock until this transaction ends (PostgreSQL; SQLite has one writer anyway).

        Two sources reporting the same devices at once would otherwise both read them as new (and one import
        fail on the other's rows) or both read the older inventory (and an older report win). Taken before the
        first read of an import, so that everything it reads was committed by the imports before it.
        """
        if self._session.get_bind().dialect.name == "postgresql":
            self._session.execute(select(func.pg_advisory_xact_lock(_WRITE_LOCK)))

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
            stored = {row.device_id for row in self._session.execute(
                select(InventoryRow.device_id).where(among(InventoryRow.device_id, chunk)))}
            rows = [{"device_id": device_id, "observed_at": latest[device_id].observed_at,
                     "visibility": latest[device_id].visibility.value, "source_format": source_format,
                     "received_at": now} for device_id in chunk]
            insert_rows(self._session, InventoryRow, [row for row in rows if row["device_id"] not in stored])
            for batch in chunked([row for row in rows if row["device_id"] in stored], BATCH):
                self._session.execute(update(InventoryRow), batch)
            self._save_apps(chunk, latest, details)

    def _save_apps(self, chunk: Sequence[str], latest: Mapping[str, DeviceInventory],
                   details: Mapping[str, Sequence[InstalledApp]]) -> None:
        old: dict[tuple[str, str, str], tuple[Any, ...]] = {}
        for row in self._session.execute(select(*_APP_COLUMNS).where(among(DeviceAppRow.device_id, chunk))):
            old[(row.device_id, row.platform, row.identifier)] = tuple(row)[3:]
        new: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        for values in _app_rows(chunk, latest, details):
            key = (values["device_id"], values["platform"], values["identifier"])
            before = old.pop(key, None)
            if before is None:
                new.append(values)
            elif before != tuple(values[name] for name in _APP_VALUES):
                changed.append(values)
        gone: dict[str, list[tuple[str, str]]] = {}
        for device_id, platform, identifier in old:
            gone.setdefault(device_id, []).append((platform, identifier))
        for device_id, apps in sorted(gone.items()):
            for part in chunked(apps):
                self._session.execute(delete(DeviceAppRow).where(
                    DeviceAppRow.device_id == device_id,
                    tuple_(DeviceAppRow.platform, DeviceAppRow.identifier).in_(part))
                    .execution_options(synchronize_session=False))
        insert_rows(self._session, DeviceAppRow, new)
        for batch in chunked(changed, BATCH):
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
        entries = {entry.app: entry for entry in details.get(device_id, ())}
        for app, since in inventories[device_id].apps.items():
            entry = entries.get(app)
            yield {"device_id": device_id, "platform": app.platform.value, "identifier": app.identifier,
                   "name": entry.name if entry is not None else None,
                   "version": entry.version if entry is not None else None,
                   "matched_by": (entry.matched_by if entry is not None else MatchedBy.IDENTIFIER).value,
                   "present_since": since}


@functools.lru_cache(maxsize=65_536)
def _app(platform: str, identifier: str) -> App:
    """One App object per identity however many devices hold it: a working set of 50,000 devices with 80
    apps each would otherwise hold four million copies of a few thousand apps."""
    return App(Platform(platform), identifier)


def _plain(value: object) -> object:
    """Enumeration members as their words (the columns are plain strings)."""
    return value.value if isinstance(value, ReportKind | Visibility) else value
