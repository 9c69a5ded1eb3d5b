"""`/api/v1/devices`: the devices of the caller's subtree, filtered and paged in the database, and one device
with its current apps and its findings.

A device's `state` is the worst state among its findings that are not shadow (compliant when it has none),
in the order non_compliant, grace, unknown, advised, exempt. Device ids are the source MDM's and may hold
`/` (Android Management API resource names), so the id is the rest of the path.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from appban.api.auth import Reader
from appban.api.errors import responses
from appban.api.fields import DEVICE_ID_PATTERN, EMAIL_PATTERN, ID_PATTERN
from appban.api.pagination import Page, PageParams, query_of
from appban.api.routes.findings import DeviceFindingOut
from appban.api.scope import scoped
from appban.errors import NotFound
from appban.model import Device, FindingState, Ownership, Platform
from appban.store import DeviceRepository, FindingRepository, InventoryRepository, StoredFinding
from appban.store.tables import DEVICE_ID_LENGTH, EMAIL_LENGTH, ID_LENGTH

__all__ = ["DeviceDetail", "DeviceOut", "InstalledAppOut", "router", "worst_state"]

router = APIRouter(prefix="/devices", tags=["devices"])

SEVERITY = (FindingState.NON_COMPLIANT, FindingState.GRACE, FindingState.UNKNOWN, FindingState.ADVISED,
            FindingState.EXEMPT, FindingState.COMPLIANT)


class DeviceOut(BaseModel):
    id: str
    organisation: str
    platform: Platform
    ownership: Ownership
    funding: str
    enrolled: bool
    holder: str | None
    last_inventory: dt.datetime | None
    state: FindingState


class InstalledAppOut(BaseModel):
    platform: Platform
    identifier: str
    name: str | None
    version: str | None
    matched_by: str
    present_since: dt.datetime | None


class DeviceDetail(DeviceOut):
    visibility: str | None
    apps: list[InstalledAppOut]
    findings: list[DeviceFindingOut]


def worst_state(findings: list[StoredFinding]) -> FindingState:
    """The state a device is in, all restrictions together (shadow findings enforce nothing: not counted)."""
    states = {f.verdict.state for f in findings if not f.verdict.shadow}
    return next((state for state in SEVERITY if state in states), FindingState.COMPLIANT)


def _out(device: Device, findings: list[StoredFinding]) -> DeviceOut:
    return DeviceOut(id=device.id, organisation=device.organisation, platform=device.platform,
                     ownership=device.ownership, funding=device.funding.value, enrolled=device.enrolled,
                     holder=device.holder, last_inventory=device.last_inventory, state=worst_state(findings))


@router.get("", response_model=Page[DeviceOut], responses=responses(404),
            summary="Devices of the caller's subtree")
def list_devices(
    caller: Reader,
    page: PageParams,
    organisation: Annotated[str | None, Query(pattern=ID_PATTERN, max_length=ID_LENGTH,
                                              description="Devices of this organisation and those below it.")] = None,
    platform: Platform | None = None,
    ownership: Ownership | None = None,
    holder: Annotated[str | None, Query(pattern=EMAIL_PATTERN, max_length=EMAIL_LENGTH)] = None,
    state: Annotated[FindingState | None, Query(description="Devices in this state (see `state`).")] = None,
    sort: Literal["id", "-id", "organisation", "-organisation", "platform", "-platform", "last_inventory",
                  "-last_inventory"] = "id",
) -> Page[DeviceOut]:
    query = query_of("devices", organisation=organisation, platform=platform, ownership=ownership, holder=holder,
                     state=state, sort=sort)
    start = page.position(query)
    with scoped(caller) as work:
        organisations = work.filter_below(organisation)
        devices, total = DeviceRepository(work.session).page(
            organisations=organisations, platform=platform.value if platform else None,
            ownership=ownership.value if ownership else None, holder=holder,
            state=state.value if state else None, order=sort.lstrip("-"), descending=sort.startswith("-"),
            offset=start, limit=page.limit)
        stored = FindingRepository(work.session).get_for_devices(d.id for d in devices)
    by_device: dict[str, list[StoredFinding]] = {}
    for (device_id, _), finding in stored.items():
        by_device.setdefault(device_id, []).append(finding)
    end = start + len(devices)
    return Page[DeviceOut](items=[_out(d, by_device.get(d.id, [])) for d in devices],
                           next=page.next_cursor(query, end) if end < total else None, total=total)


@router.get("/{device_id:path}", response_model=DeviceDetail, responses=responses(404),
            summary="One device with its current apps and its findings")
def get_device(device_id: Annotated[str, Path(pattern=DEVICE_ID_PATTERN, max_length=DEVICE_ID_LENGTH)],
               caller: Reader) -> DeviceDetail:
    with scoped(caller) as work:
        device = DeviceRepository(work.session).get_many([device_id]).get(device_id)
        if device is None or not work.sees(device.organisation):
            raise NotFound(f"no device `{device_id}`")
        inventories = InventoryRepository(work.session)
        inventory = inventories.get_many([device_id]).get(device_id)
        details = inventories.app_details(device_id)
        stored = FindingRepository(work.session).get_for_devices([device_id])
    since = dict(inventory.apps) if inventory is not None else {}
    findings = [DeviceFindingOut(**DeviceFindingOut.fields_of(rule, f)) for (_, rule), f in sorted(stored.items())]
    base = _out(device, list(stored.values()))
    return DeviceDetail(**base.model_dump(), visibility=inventory.visibility.value if inventory else None,
                        apps=[InstalledAppOut(platform=entry.app.platform, identifier=entry.app.identifier,
                                              name=entry.name, version=entry.version,
                                              matched_by=entry.matched_by.value,
                                              present_since=since.get(entry.app)) for entry in details],
                        findings=findings)
