"""Everything one restriction's evaluation reads, set-based: its candidate devices with their attributes, their
inventories restricted to the apps it bans, and its stored findings.

A new restriction over a million devices used to cost several round trips of id lists (the holders of its
apps, the devices nobody can see, then those devices, their inventories and their findings, 5,000 ids at a
time), each row becoming an ORM-shaped object. Here the candidates are one union the database computes, and
one join (the ids as a single array on PostgreSQL) returns what evaluation needs as plain rows: the same
devices `Engine._candidates` would pick from the whole fleet, so `appban.compliance.rule_changes` over them
makes exactly the changes a full evaluation would.

Measured alternatives, slower: the union as a CTE of the join (the planner, unable to size it, walked the
whole device and inventory indexes) and one pass over every device with its inventory keeping the candidates
(twice the time at 200,000 devices, 15 % more at 1,000,000).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, or_, select, union
from sqlalchemy.orm import Session

from appban.compliance.evaluate import Verdict
from appban.compliance.state import DeviceInventory
from appban.inventory.interface import Visibility
from appban.model import App, Attestation, Device, Exemption, FindingState, Funding, Ownership, Platform
from appban.store.attestations import AttestationRepository
from appban.store.bulk import CHUNK, among, chunked
from appban.store.exemptions import ExemptionRepository
from appban.store.findings import apps_from_text
from appban.store.tables import (
    AttestationRow,
    DeviceAppRow,
    DeviceRow,
    ExemptionRow,
    FindingRow,
    InventoryRow,
    OrganisationRow,
)

__all__ = ["RuleScan", "scan_rule"]

# Enumeration members by their words: `Platform("android")` costs a microsecond, 50,000 times per column.
_PLATFORMS = {member.value: member for member in Platform}
_OWNERSHIPS = {member.value: member for member in Ownership}
_FUNDINGS = {member.value: member for member in Funding}
_VISIBILITIES = {member.value: member for member in Visibility}
_STATES = {member.value: member for member in FindingState}


@dataclass(slots=True)
class RuleScan:
    """One restriction's working set: candidates by device id (sorted), the inventory of each (only the banned
    apps; None: never inventoried), its stored findings by device, its exemptions in force and not revoked (by
    id), and its attestations by device (expired ones included: the engine judges them)."""

    candidates: list[tuple[Device, DeviceInventory | None]] = field(default_factory=list)
    findings: dict[str, Verdict] = field(default_factory=dict)
    exemptions: list[Exemption] = field(default_factory=list)
    attestations: dict[str, Attestation] = field(default_factory=dict)


def scan_rule(session: Session, restriction_id: str, banned: Collection[App], now: dt.datetime,
              staleness_for: Callable[[str], dt.timedelta]) -> RuleScan:
    """The working set of one restriction: every device that can be anything but compliant under it (holding an
    app it bans, unseen, exempted or attested) and every device with a stored finding of it.

    Unseen means what `DeviceRepository.ids_unseen` means: no inventory, personal apps invisible, or an
    inventory older than the staleness limit of the device's organisation (`staleness_for(organisation)`).
    """
    with _settings(session, _SCAN_SETTINGS):
        return _scan(session, restriction_id, banned, now, staleness_for)


# PostgreSQL settings for the scan: the planner prices a million-device pass above `jit_above_cost` and JIT
# compilation then cost a second (more than running the statement); its sorts of 50,000 rows spill to disk
# in the default 4 MB.
_SCAN_SETTINGS = {"jit": "off", "work_mem": "64MB"}


@contextmanager
def _settings(session: Session, settings: dict[str, str]) -> Iterator[None]:
    """PostgreSQL: these settings for the statements inside, then each as it was (within the transaction)."""
    if session.get_bind().dialect.name != "postgresql":
        yield
        return
    previous: dict[str, str] = {}
    for name, value in settings.items():
        previous[name] = str(session.scalar(select(func.current_setting(name))))
        session.execute(select(func.set_config(name, value, True)))
    yield  # on an error the transaction is rolled back, and the settings with it
    for name, value in previous.items():
        session.execute(select(func.set_config(name, value, True)))


def _scan(session: Session, restriction_id: str, banned: Collection[App], now: dt.datetime,
          staleness_for: Callable[[str], dt.timedelta]) -> RuleScan:
    held = _holding(banned)
    exempted = _in_force(restriction_id, now)
    parts: list[Select[Any]] = [
        select(DeviceAppRow.device_id.label("device_id")).where(held),
        select(FindingRow.device_id).where(FindingRow.restriction_id == restriction_id),
        select(AttestationRow.device_id).where(AttestationRow.restriction_id == restriction_id),
        select(ExemptionRow.device_id).where(*exempted, ExemptionRow.device_id.is_not(None)),
        select(DeviceRow.id).join(ExemptionRow, ExemptionRow.holder_email == DeviceRow.holder_email).where(*exempted),
        *_unseen(session, now, staleness_for),
    ]
    connection = session.connection()  # Core rows as they come: the ORM's result layer cost more than the query
    ids = sorted(set(connection.scalars(union(*parts))))
    query = (select(DeviceRow.id, DeviceRow.organisation_id, DeviceRow.platform, DeviceRow.ownership,
                    DeviceRow.funding, DeviceRow.enrolled, DeviceRow.holder_email, InventoryRow.observed_at,
                    InventoryRow.visibility, FindingRow.state, FindingRow.reason, FindingRow.deadline,
                    FindingRow.apps, FindingRow.shadow, DeviceAppRow.platform.label("app_platform"),
                    DeviceAppRow.identifier, DeviceAppRow.present_since)
             .select_from(DeviceRow)
             .outerjoin(InventoryRow, InventoryRow.device_id == DeviceRow.id)
             .outerjoin(FindingRow, and_(FindingRow.device_id == DeviceRow.id,
                                         FindingRow.restriction_id == restriction_id))
             .outerjoin(DeviceAppRow, and_(DeviceAppRow.device_id == DeviceRow.id, held)))
    # PostgreSQL takes the ids as one array (`among`): each statement is a pass over the joined tables
    size = max(len(ids), 1) if session.get_bind().dialect.name == "postgresql" else CHUNK
    wanted = {(app.platform.value, app.identifier): app for app in banned}
    devices: dict[str, Device] = {}
    seen: dict[str, tuple[dt.datetime, Visibility] | None] = {}
    apps: dict[str, dict[App, dt.datetime]] = defaultdict(dict)
    out = RuleScan()
    rows = (row for chunk in chunked(ids, size) for row in connection.execute(
        query.where(among(DeviceRow.id, chunk))).all())
    for (device_id, organisation, platform, ownership, funding, enrolled, holder, observed_at, visibility, state,
         reason, deadline, stored_apps, shadow, app_platform, identifier, present_since) in rows:
        if device_id not in devices:
            devices[device_id] = Device(
                id=device_id, organisation=organisation, platform=_PLATFORMS[platform],
                ownership=_OWNERSHIPS[ownership], funding=_FUNDINGS[funding], enrolled=bool(enrolled),
                holder=holder, last_inventory=observed_at)
            seen[device_id] = None if observed_at is None else (observed_at, _VISIBILITIES[visibility])
            if state is not None:
                out.findings[device_id] = Verdict(state=_STATES[state], reason=reason, deadline=deadline,
                                                  apps=apps_from_text(stored_apps), shadow=bool(shadow))
        app = wanted.get((app_platform, identifier)) if identifier is not None else None
        if app is not None:
            apps[device_id][app] = present_since
    for device_id in sorted(devices):
        inventory = seen[device_id]
        out.candidates.append((devices[device_id], None if inventory is None else DeviceInventory(
            device=device_id, observed_at=inventory[0], visibility=inventory[1],
            apps=MappingProxyType(apps.get(device_id, {})))))
    out.exemptions = [e for e in ExemptionRepository(session).for_restriction(restriction_id) if e.ends > now]
    out.attestations = AttestationRepository(session).for_restriction(restriction_id)
    return out


def _holding(banned: Iterable[App]) -> ColumnElement[bool]:
    """An app row of one of `banned`: one (platform, identifiers) arm per platform, each served by the
    (platform, identifier) index. Exact pairs are checked again when rows are read."""
    by_platform: dict[str, set[str]] = defaultdict(set)
    for app in banned:
        by_platform[app.platform.value].add(app.identifier)
    if not by_platform:
        return false()
    return or_(*(and_(DeviceAppRow.platform == platform, DeviceAppRow.identifier.in_(sorted(identifiers)))
                 for platform, identifiers in sorted(by_platform.items())))


def _in_force(restriction_id: str, now: dt.datetime) -> tuple[ColumnElement[bool], ...]:
    return (ExemptionRow.restriction_id == restriction_id, ExemptionRow.revoked_at.is_(None), ExemptionRow.ends > now)


def _unseen(session: Session, now: dt.datetime, staleness_for: Callable[[str], dt.timedelta]) -> list[Select[Any]]:
    """The devices nobody can see now, as parts of the candidates' union.

    Inventories that are stale (older than the limit of the device's organisation) or not fully visible are
    one pass over `inventories`, one arm per distinct staleness limit (usually one for the whole fleet).
    Devices never inventoried need an anti-join of the whole fleet, which cost more than the rest of a rule's
    evaluation: it is left out when every device has an inventory, which the two tables' sizes tell (an
    inventory belongs to exactly one device), asked in one statement, so of one snapshot.
    """
    by_limit: dict[dt.timedelta, list[str]] = defaultdict(list)
    for organisation in session.scalars(select(OrganisationRow.id)):
        by_limit[staleness_for(organisation)].append(organisation)
    hidden = InventoryRow.visibility != Visibility.FULL.value
    parts: list[Select[Any]] = []
    if len(by_limit) <= 1:
        limit = next(iter(by_limit), dt.timedelta(0))
        parts.append(select(InventoryRow.device_id).where(or_(hidden, InventoryRow.observed_at < now - limit)))
    else:
        stale = or_(*(and_(DeviceRow.organisation_id.in_(sorted(members)), InventoryRow.observed_at < now - limit)
                      for limit, members in sorted(by_limit.items())))
        parts.append(select(InventoryRow.device_id).join(DeviceRow, DeviceRow.id == InventoryRow.device_id)
                     .where(or_(hidden, stale)))
    devices = select(func.count()).select_from(DeviceRow).scalar_subquery()
    inventories = select(func.count()).select_from(InventoryRow).scalar_subquery()
    if session.scalar(select(devices - inventories)):
        parts.append(select(DeviceRow.id).where(~exists().where(InventoryRow.device_id == DeviceRow.id)))
    return parts
