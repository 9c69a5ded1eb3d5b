"""Devices, inventories and verdicts for the storage tests of issue 3 (on top of store_examples)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from appban.compliance import Change, DeviceInventory, Verdict
from appban.inventory import Visibility
from appban.model import App, Device, FindingState, Funding, Ownership, Platform
from appban.store import Database, DeviceRepository, InventoryRepository

from .store_examples import NOW

TIKTOK = App(Platform.ANDROID, "com.zhiliaoapp.musically")
TIKTOK_IOS = App(Platform.IOS, "com.zhiliaoapp.musically")
TIKTOK_LITE = App(Platform.ANDROID, "com.zhiliaoapp.musically.go")
SIGNAL = App(Platform.ANDROID, "org.thoughtcrime.securesms")
EU_RULE = "eu-commission-tiktok-2023"
BE_RULE = "be-federal-tiktok-2023"


def device(device_id: str, organisation: str = "eu-commission", *, platform: Platform = Platform.ANDROID,
           ownership: Ownership = Ownership.CORPORATE, funding: Funding = Funding.FULL, enrolled: bool = True,
           holder: str | None = None) -> Device:
    return Device(id=device_id, organisation=organisation, platform=platform, ownership=ownership, funding=funding,
                  enrolled=enrolled, holder=holder)


def inventory(device_id: str, observed_at: dt.datetime = NOW,
              apps: Mapping[App, dt.datetime] | Iterable[App] = (),
              visibility: Visibility = Visibility.FULL) -> DeviceInventory:
    present = dict(apps) if isinstance(apps, Mapping) else dict.fromkeys(apps, observed_at)
    return DeviceInventory(device=device_id, observed_at=observed_at, visibility=visibility,
                           apps=MappingProxyType(present))


def seed_fleet(database: Database, devices: Iterable[Device], inventories: Iterable[DeviceInventory] = (),
               at: dt.datetime = NOW) -> None:
    with database.session() as session:
        DeviceRepository(session).upsert(list(devices), now=at)
        listed = list(inventories)
        if listed:
            InventoryRepository(session).save(listed, source_format="csv", now=at)


def verdict(state: FindingState, *, reason: str = "", deadline: dt.datetime | None = None,
            apps: Iterable[App] = (), shadow: bool = False) -> Verdict:
    return Verdict(state=state, reason=reason or f"{state} for a test", deadline=deadline, apps=frozenset(apps),
                   shadow=shadow)


def change(device_id: str, restriction: str, after: Verdict | None, before: Verdict | None = None) -> Change:
    return Change(device=device_id, restriction=restriction, before=before, after=after)
