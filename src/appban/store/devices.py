"""Devices in the store: the bulk upsert an import makes, and the look-ups the incremental engine needs.

Every operation here is sized for a fleet of hundreds of thousands: reads send ids `CHUNK` at a time, writes
are one executemany per batch, and the questions the engine asks ("which devices hold this app", "which
devices can we not see") are answered by indexed queries, never by loading the fleet. A device's last
inventory time is not a column of its own: it is read from its current inventory (`inventories`). Every
device created, changed or removed gets a row in `gate_changes` (appban.gate follows them).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from sqlalchemy import ColumnElement, Row, Select, case, delete, exists, func, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from appban.audit import AuditEvent
from appban.errors import Conflict, InvalidInput, Location, Problem
from appban.inventory.interface import Visibility
from appban.model import App, Device, FindingState, Funding, Ownership, Platform
from appban.store.audit_log import AuditLog
from appban.store.bulk import BATCH, CHUNK, among, chunked, insert_rows
from appban.store.tables import (
    DEVICE_ID_LENGTH,
    DeviceAppRow,
    DeviceRow,
    FindingEventRow,
    FindingRow,
    GateChangeRow,
    InventoryRow,
    OrganisationRow,
    UTCDateTime,
)

__all__ = ["DeviceRepository", "Profile", "UpsertCounts"]

_Row: TypeAlias = "Row[*tuple[Any, ...]]"  # a result row of any columns

_COLUMNS = (DeviceRow.id, DeviceRow.organisation_id, DeviceRow.platform, DeviceRow.ownership, DeviceRow.funding,
            DeviceRow.enrolled, DeviceRow.holder_email, InventoryRow.observed_at)


# (organisation, platform, ownership, funding, enrolled): everything a restriction's scope can look at.
Profile: TypeAlias = tuple[str, Platform, Ownership, Funding, bool]


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    """What a bulk upsert did."""

    created: int
    updated: int
    unchanged: int
    # which devices, for callers that import several files at once (not compared: the counts say what happened)
    created_ids: frozenset[str] = field(default=frozenset(), compare=False)
    updated_ids: frozenset[str] = field(default=frozenset(), compare=False)


class DeviceRepository:
    """Devices in one session (one transaction)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def upsert(self, devices: Sequence[Device], *, now: dt.datetime, source_format: str | None = None,
               names: Mapping[str, str | None] | None = None) -> UpsertCounts:
        """Create new devices and update changed ones; a device listed twice counts once, the last one wins.

        `last_inventory` is ignored (it is the current inventory's time, see `InventoryRepository.save`).
        `source_format` and the display `names` (device id -> name), when given, are stored too; a device
        without an entry in `names` keeps its stored name. Raises InvalidInput (nothing written) when a
        device's organisation is not stored or its id is empty or too long, and Conflict when a concurrent
        transaction created one of the new devices first.
        """
        latest = {device.id: device for device in devices}
        self._check(latest.values())
        names = names or {}
        created_ids: set[str] = set()
        updated_ids: set[str] = set()
        unchanged = 0
        for chunk in chunked(latest):
            stored = {row.id: row for row in self._session.execute(
                select(DeviceRow.id, DeviceRow.organisation_id, DeviceRow.platform, DeviceRow.ownership,
                       DeviceRow.funding, DeviceRow.enrolled, DeviceRow.holder_email, DeviceRow.name,
                       DeviceRow.source_format).where(among(DeviceRow.id, chunk)))}
            new: list[dict[str, Any]] = []
            changed: list[dict[str, Any]] = []
            for device_id in chunk:
                device = latest[device_id]
                row = stored.get(device_id)
                values: dict[str, Any] = {
                    "id": device.id, "organisation_id": device.organisation, "platform": device.platform.value,
                    "ownership": device.ownership.value, "funding": device.funding.value,
                    "enrolled": device.enrolled, "holder_email": device.holder,
                    "name": names.get(device_id, row.name if row is not None else None),
                    "source_format": source_format or (row.source_format if row is not None else None),
                }
                if row is None:
                    new.append(values | {"created_at": now, "updated_at": now})
                elif any(values[field] != getattr(row, field) for field in values):
                    changed.append(values | {"updated_at": now})
                else:
                    unchanged += 1
            try:
                insert_rows(self._session, DeviceRow, new)
            except IntegrityError as error:  # PostgreSQL: another transaction created one of them meanwhile
                raise Conflict(f"device `{new[0]['id']}` or another of {len(new)} new devices was created by "
                               "someone else at the same time (import again)") from error
            for batch in chunked(changed, BATCH):
                self._session.execute(update(DeviceRow), batch)
            insert_rows(self._session, GateChangeRow, [{"device_id": row["id"], "at": now} for row in new + changed])
            created_ids.update(row["id"] for row in new)
            updated_ids.update(row["id"] for row in changed)
        return UpsertCounts(created=len(created_ids), updated=len(updated_ids), unchanged=unchanged,
                            created_ids=frozenset(created_ids), updated_ids=frozenset(updated_ids))

    def get_many(self, ids: Iterable[str]) -> dict[str, Device]:
        """The stored devices among `ids` (unknown ids are left out), with their last inventory time."""
        out: dict[str, Device] = {}
        for chunk in chunked(set(ids)):
            for row in self._session.execute(_select_devices().where(among(DeviceRow.id, chunk))):
                out[row.id] = _device(row)
        return out

    def all(self, chunk_size: int = CHUNK) -> Iterator[Device]:
        """Every device by id, read `chunk_size` at a time (keyset pagination: memory stays bounded)."""
        after: str | None = None
        while True:
            query = _select_devices().order_by(DeviceRow.id).limit(chunk_size)
            if after is not None:
                query = query.where(DeviceRow.id > after)
            rows = self._session.execute(query).all()
            for row in rows:
                yield _device(row)
            if len(rows) < chunk_size:
                return
            after = rows[-1].id

    def count(self) -> int:
        return self._session.scalar(select(func.count()).select_from(DeviceRow)) or 0

    def profile_counts(self, organisations: Collection[str] | None = None, *, now: dt.datetime | None = None,
                       staleness_for: Callable[[str], dt.timedelta] | None = None) -> dict[tuple[Profile, bool], int]:
        """How many devices per (profile, stale), in one scan in the database: a profile is the device's
        (organisation, platform, ownership, funding, enrolled), everything a restriction's scope looks at, so a
        few hundred groups however large the fleet, to which any scope can be applied in Python.

        Stale (given `now` and `staleness_for(organisation)`) means no inventory, or one older than the limit of
        the device's organisation; without them every group is `False`.
        """
        members = sorted(set(organisations)) if organisations is not None else []
        profile = (DeviceRow.organisation_id, DeviceRow.platform, DeviceRow.ownership, DeviceRow.funding,
                   DeviceRow.enrolled)
        query = select(*profile, func.count()).select_from(DeviceRow).group_by(*profile)
        if now is not None and staleness_for is not None:  # without them no inventory is read
            if organisations is None:
                members = list(self._session.scalars(select(DeviceRow.organisation_id).distinct()))
            by_limit: dict[dt.timedelta, list[str]] = defaultdict(list)
            for organisation in members:
                by_limit[staleness_for(organisation)].append(organisation)
            old = [(InventoryRow.observed_at < now - limit, group) for limit, group in sorted(by_limit.items())]
            late = old[0][0] if len(old) == 1 else or_(
                *(DeviceRow.organisation_id.in_(group) & too_old for too_old, group in old))
            flag = case((or_(InventoryRow.device_id.is_(None), late), 1), else_=0)
            query = (select(*profile, flag, func.count()).select_from(DeviceRow)
                     .outerjoin(InventoryRow, InventoryRow.device_id == DeviceRow.id).group_by(*profile, flag))
        queries = [query] if organisations is None else [
            query.where(DeviceRow.organisation_id.in_(chunk)) for chunk in chunked(members)]
        out: dict[tuple[Profile, bool], int] = {}
        for each in queries:
            for row in self._session.execute(each):
                organisation, platform, ownership, funding, enrolled = row[:5]
                key = ((organisation, Platform(platform), Ownership(ownership), Funding(funding), bool(enrolled)),
                       bool(row[5]) if len(row) == 7 else False)
                out[key] = out.get(key, 0) + row[-1]
        return out

    def page(self, *, organisations: Collection[str] | None = None, platform: str | None = None,
             ownership: str | None = None, holder: str | None = None, state: str | None = None,
             order: str = "id", descending: bool = False, offset: int = 0, limit: int = 50,
             after: str | None = None, app: str | None = None,
             id_prefix: str | None = None) -> tuple[list[Device], int]:
        """One page of the devices that match, and how many match in all: what a list in the API shows.

        `organisations` None means all; `state` keeps the devices with a finding (not shadow) in that state, and
        `compliant` those with none; `app` keeps the devices whose inventory holds that identifier on any
        platform (through the (platform, identifier) index); `id_prefix` the devices whose id starts so (a
        search box); `order` is `id`, `organisation`, `platform` or
        `last_inventory` (devices never inventoried last), ties broken by id. Filtering and counting happen in
        the database: a fleet is too large to page through in Python.

        `after` (a device id; only with `order` `id`) is a keyset cursor: the page starts after that id
        (before it when descending) and `offset` is ignored, so a later page costs what the first does.
        """
        conditions: list[ColumnElement[bool]] = []
        if organisations is not None:
            conditions.append(among(DeviceRow.organisation_id, sorted(organisations)))
        for column, value in ((DeviceRow.platform, platform), (DeviceRow.ownership, ownership),
                              (DeviceRow.holder_email, holder)):
            if value is not None:
                conditions.append(column == value)
        if id_prefix is not None:
            conditions.append(DeviceRow.id.startswith(id_prefix, autoescape=True))
        if app is not None:
            conditions.append(exists().where(DeviceAppRow.device_id == DeviceRow.id,
                                             DeviceAppRow.platform.in_([p.value for p in Platform]),
                                             DeviceAppRow.identifier == app))
        if state is not None:
            breaking = exists().where(FindingRow.device_id == DeviceRow.id, FindingRow.shadow.is_(False))
            conditions.append(~breaking if state == FindingState.COMPLIANT.value
                              else breaking.where(FindingRow.state == state))
        total = self._session.scalar(select(func.count()).select_from(DeviceRow).where(*conditions)) or 0
        columns = {"id": DeviceRow.id, "organisation": DeviceRow.organisation_id, "platform": DeviceRow.platform,
                   "last_inventory": InventoryRow.observed_at}
        if order not in columns:
            raise ValueError(f"cannot order devices by {order!r}")
        by = columns[order]
        key = (by.desc() if descending else by.asc()).nulls_last()
        tiebreak = DeviceRow.id.desc() if descending else DeviceRow.id.asc()
        query = _select_devices().where(*conditions)
        if after is not None:
            if order != "id":
                raise ValueError("a keyset cursor (`after`) pages devices ordered by id only")
            query = query.where(DeviceRow.id < after if descending else DeviceRow.id > after).order_by(tiebreak)
        else:
            query = query.order_by(key, tiebreak).offset(offset)
        query = query.limit(limit)
        return [_device(row) for row in self._session.execute(query)], total

    def ids_holding(self, apps: Iterable[App]) -> set[str]:
        """The devices whose current inventory holds any of `apps` (the (platform, identifier) index)."""
        by_platform: dict[str, set[str]] = defaultdict(set)
        for app in apps:
            by_platform[app.platform.value].add(app.identifier)
        out: set[str] = set()
        for platform, identifiers in sorted(by_platform.items()):
            for chunk in chunked(sorted(identifiers)):
                out.update(self._session.scalars(
                    select(DeviceAppRow.device_id).distinct()
                    .where(DeviceAppRow.platform == platform, DeviceAppRow.identifier.in_(chunk))))
        return out

    def ids_in_organisations(self, organisations: Iterable[str]) -> set[str]:
        out: set[str] = set()
        for chunk in chunked(set(organisations)):
            out.update(self._session.scalars(select(DeviceRow.id).where(DeviceRow.organisation_id.in_(chunk))))
        return out

    def ids_of_holder(self, email: str) -> set[str]:
        """The devices assigned to a holder (for exemptions granted to a person)."""
        return set(self._session.scalars(select(DeviceRow.id).where(DeviceRow.holder_email == email)))

    def ids_unseen(self, now: dt.datetime, staleness_for: Callable[[str], dt.timedelta]) -> set[str]:
        """The devices the engine cannot see now: no inventory, personal apps invisible, or an inventory older
        than the staleness limit of the device's organisation (`staleness_for(organisation)`).

        One query per distinct staleness limit (usually one, for the whole fleet), filtered by organisation
        only when limits differ.
        """
        organisations = self._session.scalars(select(DeviceRow.organisation_id).distinct()).all()
        by_limit: dict[dt.timedelta, list[str]] = defaultdict(list)
        for organisation in organisations:
            by_limit[staleness_for(organisation)].append(organisation)
        out: set[str] = set()
        for limit, members in sorted(by_limit.items()):
            query = (select(DeviceRow.id).outerjoin(InventoryRow, InventoryRow.device_id == DeviceRow.id)
                     .where(or_(InventoryRow.device_id.is_(None),
                                InventoryRow.visibility != Visibility.FULL.value,
                                InventoryRow.observed_at < now - limit)))
            if len(by_limit) == 1:
                out.update(self._session.scalars(query))
                continue
            for chunk in chunked(sorted(members)):
                out.update(self._session.scalars(query.where(DeviceRow.organisation_id.in_(chunk))))
        return out

    def delete(self, ids: Iterable[str], *, actor: str, now: dt.datetime) -> int:
        """Remove devices with their inventories, apps, findings and attestations; returns how many were removed.

        Each removed finding gets a closing event (to `compliant`: no longer covered) so the history still
        adds up, and the removal is audited with the ids and the number of findings it closed.
        """
        removed: list[str] = []
        findings = 0
        for chunk in chunked(sorted(set(ids))):
            present = list(self._session.scalars(select(DeviceRow.id).where(among(DeviceRow.id, chunk))))
            if not present:
                continue
            closing = select(FindingRow.device_id, FindingRow.restriction_id, literal(now, UTCDateTime()),
                             FindingRow.state, literal(FindingState.COMPLIANT.value), FindingRow.shadow,
                             ).where(FindingRow.device_id.in_(present))
            findings += self._session.scalar(
                select(func.count()).select_from(FindingRow).where(FindingRow.device_id.in_(present))) or 0
            self._session.execute(insert(FindingEventRow).from_select(
                ["device_id", "restriction_id", "at", "state_from", "state_to", "shadow"], closing))
            self._session.execute(delete(DeviceRow).where(DeviceRow.id.in_(present))
                                  .execution_options(synchronize_session=False))
            insert_rows(self._session, GateChangeRow, [{"device_id": device, "at": now} for device in present])
            removed += present
        if removed:
            AuditLog(self._session).append(AuditEvent.DEVICE_DELETE, removed[0] if len(removed) == 1 else "devices",
                                           actor=actor, at=now,
                                           details={"devices": removed, "findings_closed": findings})
        return len(removed)

    def _check(self, devices: Iterable[Device]) -> None:
        where = Location("devices")
        problems: list[Problem] = []
        first_device: dict[str, str] = {}
        for device in devices:
            first_device.setdefault(device.organisation, device.id)
            if not 1 <= len(device.id) <= DEVICE_ID_LENGTH:
                problems.append(Problem(where, f"device `{device.id[:80]}`: `id` must have 1 to {DEVICE_ID_LENGTH} "
                                        "characters"))
        known: set[str] = set()
        for chunk in chunked(sorted(first_device)):
            known.update(self._session.scalars(select(OrganisationRow.id).where(OrganisationRow.id.in_(chunk))))
        problems += [Problem(where, f"device `{device_id}`: unknown organisation `{organisation}`",
                             "apply the organisations file first")
                     for organisation, device_id in sorted(first_device.items()) if organisation not in known]
        if problems:
            raise InvalidInput(problems)


def _select_devices() -> Select[*tuple[Any, ...]]:
    return select(*_COLUMNS).outerjoin(InventoryRow, InventoryRow.device_id == DeviceRow.id)


def _device(row: _Row) -> Device:
    return Device(id=row.id, organisation=row.organisation_id, platform=Platform(row.platform),
                  ownership=Ownership(row.ownership), funding=Funding(row.funding), enrolled=row.enrolled,
                  holder=row.holder_email, last_inventory=row.observed_at)
