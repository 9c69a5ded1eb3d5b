"""Inventories in the store: each device's current inventory with its apps, and every report received.

The current inventory is what `appban.compliance.fold_report` made of the reports so far; saving one
replaces the device's inventory row and its app rows (delete, then insert, per chunk of devices). Every
report is also appended to `inventory_reports`, applied or not: a report older than what is known never
overwrites it, but the history shows it arrived.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from appban.compliance.state import DeviceInventory
from appban.inventory.interface import InstalledApp, MatchedBy, ReportKind, Visibility
from appban.model import App, Platform
from appban.store.bulk import chunked, insert_rows
from appban.store.tables import DeviceAppRow, InventoryReportRow, InventoryRow

__all__ = ["InventoryRepository", "ReceivedReport"]

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

    def get_many(self, ids: Iterable[str]) -> dict[str, DeviceInventory]:
        """The current inventories of those of `ids` that have one, each app with the time it appeared."""
        out: dict[str, DeviceInventory] = {}
        for chunk in chunked(set(ids)):
            apps: dict[str, dict[App, dt.datetime]] = {}
            for app_row in self._session.execute(
                    select(DeviceAppRow.device_id, DeviceAppRow.platform, DeviceAppRow.identifier,
                           DeviceAppRow.present_since).where(DeviceAppRow.device_id.in_(chunk))):
                apps.setdefault(app_row.device_id, {})[App(Platform(app_row.platform), app_row.identifier)] = (
                    app_row.present_since)
            for row in self._session.execute(
                    select(InventoryRow.device_id, InventoryRow.observed_at, InventoryRow.visibility)
                    .where(InventoryRow.device_id.in_(chunk))):
                out[row.device_id] = DeviceInventory(
                    device=row.device_id, observed_at=row.observed_at, visibility=Visibility(row.visibility),
                    apps=MappingProxyType(apps.get(row.device_id, {})))
        return out

    def observed_at_many(self, ids: Iterable[str]) -> dict[str, dt.datetime]:
        """When each device's current inventory was observed (devices without one are left out)."""
        out: dict[str, dt.datetime] = {}
        for chunk in chunked(set(ids)):
            out.update((device_id, observed_at) for device_id, observed_at in self._session.execute(
                select(InventoryRow.device_id, InventoryRow.observed_at).where(InventoryRow.device_id.in_(chunk))))
        return out

    def save(self, inventories: Sequence[DeviceInventory],
             app_details: Mapping[str, Sequence[InstalledApp]] | None = None, *, source_format: str,
             now: dt.datetime) -> None:
        """Make these the devices' current inventories, replacing what was stored (the last one of a device
        listed twice wins). An app's display name, version and how it was matched come from the device's
        entry in `app_details` when there is one; otherwise they are unknown and the app counts as matched by
        identifier."""
        latest = {inventory.device: inventory for inventory in inventories}
        details = app_details or {}
        for chunk in chunked(latest):
            self._session.execute(delete(DeviceAppRow).where(DeviceAppRow.device_id.in_(chunk))
                                  .execution_options(synchronize_session=False))
            self._session.execute(delete(InventoryRow).where(InventoryRow.device_id.in_(chunk))
                                  .execution_options(synchronize_session=False))
            insert_rows(self._session, InventoryRow, (
                {"device_id": device_id, "observed_at": latest[device_id].observed_at,
                 "visibility": latest[device_id].visibility.value, "source_format": source_format,
                 "received_at": now} for device_id in chunk))
            insert_rows(self._session, DeviceAppRow, _app_rows(chunk, latest, details))

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


def _plain(value: object) -> object:
    """Enumeration members as their words (the columns are plain strings)."""
    return value.value if isinstance(value, ReportKind | Visibility) else value
