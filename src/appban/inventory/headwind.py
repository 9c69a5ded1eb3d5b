"""Headwind MDM: the device information its Android agent posts, and the server's device list that holds it.

Two published shapes, told apart by how the file begins:

1. What the agent (github.com/h-mdm/hmdm-android, `json/DeviceInfo.java`, built by
   `util/DeviceInfoProvider.java`) posts to `POST {project}/rest/public/sync/info`: one object with
   `deviceId`, `model`, `applications` (`[{"pkg", "name", "version", ...}]`), `imei`, `phone`, `serial`,
   `batteryLevel`, `permissions`, `mdmMode`, `kioskMode`, `location` (`{"ts", "lat", "lon"}`), ... A file is
   one such object, or a JSON list of them (streamed). The payload carries no time of its own (`location.ts`
   is when the position was fixed, not when the apps were listed), so `observed_at` comes from the import's
   defaults (`--observed-at`).
2. The server's answer to `POST {project}/rest/private/devices/search` (github.com/h-mdm/hmdm-server,
   `DeviceResource.getAllDevices`): `{"status": "OK", "data": {"devices": {"items": [...]}}}` where each item
   (`DeviceView`) has `number` (the device id), `description`, `lastUpdate` (milliseconds since 1970, set
   when the agent last posted its information) and `info`: the agent's object as above. Streamed; a file whose
   first key is `status`, `message` or `data` is read this way. `observed_at` is `lastUpdate`. A device that
   never posted its information (`info` null) has no inventory and yields no report.

Visibility: **managed_only**. The agent does not list every installed package: it looks up only the apps of
the device's Headwind configuration (`DeviceInfoProvider.getDeviceInfo`: for each configured app not marked
for removal, `PackageManager.getPackageInfo`). An app outside the configuration is invisible to it, so "no
TikTok listed" is not "no TikTok" (see `VISIBILITY`). Web links (`type` "web") are not packages and are skipped.

A device listed twice in one file is read once if both records are identical and refused, naming both, if
they differ (`records.SeenRecords`, as the other formats do).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import BinaryIO

from appban.catalog import Catalog
from appban.errors import InvalidInput
from appban.inventory.interface import DeviceReport, InstalledApp, ReportDefaults, Visibility
from appban.inventory.jsonstream import JsonPage, json_document, json_records, json_start
from appban.inventory.records import Record, SeenRecords, app_identity, default_observed_at
from appban.model import App, Platform

__all__ = ["HEADWIND", "VISIBILITY", "HeadwindFormat"]

# The agent reports only the installed apps its configuration names (to install, or "do not install"); an
# admin who lists a banned package in the configuration with "do not install" makes it visible, but the rest
# of the device is not: managed_only, never full.
VISIBILITY = Visibility.MANAGED_ONLY

_SEARCH_RESPONSE_KEYS = frozenset({"status", "message", "data"})
_SEARCH_ITEMS = "data.devices.items.item"


class HeadwindFormat:
    """Reads Headwind MDM device information: agent payloads, or the server's device search response."""

    name = "headwind"

    def read(self, stream: BinaryIO, source: str, catalog: Catalog, defaults: ReportDefaults,
             ) -> Iterator[DeviceReport]:
        start, stream = json_start(stream, source)
        if start.kind == "object" and start.first_key in _SEARCH_RESPONSE_KEYS:
            yield from _search_response(stream, source, defaults)
        elif start.kind == "object":
            record = Record.of(json_document(stream, source), source, "device")
            yield _report(record, None, _default_time(defaults, source))
        elif start.kind == "list":
            observed_at = _default_time(defaults, source)
            seen = SeenRecords()
            for index, value in enumerate(json_records(stream, source, "item"), start=1):
                record = Record.of(value, source, f"device {index}")
                report = _report(record, None, observed_at)
                if seen.first_time(report.device_id, record, "deviceId"):
                    yield report
        else:
            raise InvalidInput.at(source, "expected a JSON object or a list of objects",
                                  hint="a Headwind agent's device information, or the server's device search")


HEADWIND = HeadwindFormat()


def _search_response(stream: BinaryIO, source: str, defaults: ReportDefaults) -> Iterator[DeviceReport]:
    page = JsonPage()
    seen = SeenRecords()
    try:
        for index, value in enumerate(json_records(stream, source, _SEARCH_ITEMS, page), start=1):
            _check_status(page, source)
            device = Record.of(value, source, f"device {index}")
            number = device.required_text("number")
            device = device.relabel(f"device {index} ({number})")
            if not seen.first_time(number, device, "number"):
                continue  # the same device twice, identically
            if not device.has("info"):
                continue  # never posted its information: no inventory to report
            info = Record.of(device.value["info"], source, f"{device.label}, info")
            observed_at = device.timestamp("lastUpdate", required=False) or _default_time(defaults, source)
            yield _report(info, number, observed_at, device.text("description", required=False))
    except InvalidInput:
        _check_status(page, source)  # a refused search explains itself better than its missing device list
        raise
    _check_status(page, source)


def _check_status(page: JsonPage, source: str) -> None:
    status = page.scalars.get("status")
    if status is not None and status != "OK":
        message = page.scalars.get("message")
        detail = f": {str(message)[:200]}" if message else ""
        raise InvalidInput.at(source, f"the Headwind server answered {str(status)[:40]!r}{detail}",
                              hint="the search failed; nothing was imported from this file")


def _report(info: Record, number: str | None, observed_at: dt.datetime, name: str | None = None) -> DeviceReport:
    device_id = number or info.required_text("deviceId")
    if number is None:
        info = info.relabel(f"{info.label} ({device_id})")
    apps: dict[App, InstalledApp] = {}
    for item in info.records("applications"):
        if item.text("type", required=False) == "web":
            continue
        app = app_identity(Platform.ANDROID, item.required_text("pkg"), item, "pkg")
        apps.setdefault(app, InstalledApp(app, item.text("name", required=False),
                                          item.text("version", required=False)))
    return DeviceReport(
        device_id=device_id,
        platform=Platform.ANDROID,
        observed_at=observed_at,
        apps=tuple(apps.values()),
        visibility=VISIBILITY,
        where=info.where(),
        name=name,
    )


def _default_time(defaults: ReportDefaults, source: str) -> dt.datetime:
    return default_observed_at(defaults, source, "Headwind's device information does not say when it was taken",
                               "give the time it was collected with --observed-at, or import the server's device "
                               "search, whose `lastUpdate` says it")
