"""Google Android Management API: the devices an enterprise's `enterprises.devices.list` answers with.

What the file holds (developers.google.com/android/management/reference/rest/v1/enterprises.devices; the
discovery document `androidmanagement/v1/androidmanagement-api.json`, schemas `ListDevicesResponse`, `Device`,
`ApplicationReport`, `HardwareInfo`, `User`):

- one page of `enterprises.devices.list`: `{"devices": [Device, ...], "nextPageToken": "..."}`. A paging run is
  several such files, each imported as its own file; `nextPageToken` only says another page exists. The API
  writes protocol-buffer JSON, which leaves out empty lists, so an enterprise without devices answers `{}`: an
  empty file object is zero devices, not an error;
- or a single `Device` (the answer of `enterprises.devices.get`, or the `data` of an `ENROLLMENT` or
  `STATUS_REPORT` Pub/Sub notification, which carries "the JSON representation of the updated resource");
- an API error (`{"error": {"code", "message", "status"}}`) is refused with what Google said.

Each Device:

- `name`, `enterprises/{enterpriseId}/devices/{deviceId}`: the device id is the whole name (device ids are only
  unique within an enterprise);
- `managementMode`: `DEVICE_OWNER` (fully managed: Android Device Policy controls the whole device, and its
  application reports list every app) is **full** visibility; `PROFILE_OWNER` (a work profile, on a personal or
  a company-owned device) is **managed_only**: the reports list the work profile's apps, and the personal
  profile is invisible. `MANAGEMENT_MODE_UNSPECIFIED`, a missing mode or a future one is managed_only too:
  appban never claims to see a whole device it was not told it sees;
- `ownership`: `COMPANY_OWNED` is corporate, `PERSONALLY_OWNED` personal; `OWNERSHIP_UNSPECIFIED`, a missing
  value or a value added after this was written is None (the import's defaults then apply);
- `lastStatusReportTime` ("the last time the device sent a status report", which is what carries the
  application reports) is `observed_at`; without it `lastPolicySyncTime`; without either the device is refused;
- `applicationReports[]`: `packageName`, `versionName`, `displayName`, `state`. They exist only when
  `statusReportingSettings.applicationReportsEnabled` is true in the device's policy. A report whose `state` is
  `REMOVED` (sent when the policy sets `applicationReportingSettings.includeRemovedApps`) is an app that is gone
  and is not listed; `INSTALLED`, `APPLICATION_STATE_UNSPECIFIED`, no state or a future state count as
  installed, so that a banned app is never hidden by a state appban does not know. An app reported twice counts
  as installed if any report says so;
- the device `state` (and `appliedState`): `ACTIVE`, `DISABLED`, `LOST`, `PROVISIONING`,
  `PREPARING_FOR_MIGRATION`, `DEACTIVATED_BY_DEVICE_FINANCE` and unknown values are reported as usual: a
  disabled or lost phone still holds its apps. `DELETED` ("never returned by an API call, but used in the final
  status report when the device acknowledges the deletion"; deleted devices do not appear in
  `enterprises.devices.list`) means the work profile or device was wiped: there is nothing left to report and
  the device is skipped;
- a device without `applicationReports` (its policy does not enable application reports, or it is still
  provisioning) has no app inventory and yields no report: an empty list there would read as "no banned app",
  which nobody observed. (Protocol-buffer JSON also omits an empty list, but a device that reports its apps
  always lists at least Android Device Policy itself.)
- the holder: the API holds no e-mail address. `userName` is a resource name (`enterprises/{e}/users/{u}`) and
  `user.accountIdentifier` is an opaque id the EMM chose, which Google requires to hold no personal data;
  `holder` is therefore None, for the import's defaults or a directory to fill;
- `enrolled` is True (a device listed by the enterprise is enrolled in it); `name` is `hardwareInfo.model`.

A device listed twice in one file is read once if both listings are identical, and refused if they differ.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import BinaryIO, NoReturn

from appban.catalog import Catalog
from appban.errors import InvalidInput
from appban.inventory.interface import DeviceReport, InstalledApp, ReportDefaults, Visibility
from appban.inventory.jsonstream import json_document, json_records, json_start
from appban.inventory.records import Record, SeenRecords, app_identity
from appban.model import App, Ownership, Platform

__all__ = ["AMAPI", "AmapiFormat"]

_DEVICE_NAME = re.compile(r"enterprises/[^/\s]+/devices/[^/\s]+")
_VISIBILITY = {"DEVICE_OWNER": Visibility.FULL, "PROFILE_OWNER": Visibility.MANAGED_ONLY}
_OWNERSHIP = {"COMPANY_OWNED": Ownership.CORPORATE, "PERSONALLY_OWNED": Ownership.PERSONAL}
_REMOVED = "REMOVED"
_DELETED = "DELETED"

# The fields of a Device resource: a file whose first key is one of these is a single Device.
_DEVICE_FIELDS = frozenset({
    "name", "userName", "managementMode", "state", "appliedState", "policyCompliant", "nonComplianceDetails",
    "enrollmentTime", "lastStatusReportTime", "lastPolicyComplianceReportTime", "lastPolicySyncTime",
    "policyName", "appliedPolicyName", "appliedPolicyVersion", "apiLevel", "enrollmentTokenData",
    "enrollmentTokenName", "disabledReason", "softwareInfo", "hardwareInfo", "displays", "applicationReports",
    "previousDeviceNames", "networkInfo", "memoryInfo", "memoryEvents", "powerManagementEvents",
    "hardwareStatusSamples", "deviceSettings", "user", "systemProperties", "securityPosture", "ownership",
    "commonCriteriaModeInfo", "appliedPasswordPolicies", "dpcMigrationInfo", "defaultApplicationInfo",
})


class AmapiFormat:
    """Reads pages of `enterprises.devices.list` (or one Device) of the Android Management API."""

    name = "amapi"

    def read(self, stream: BinaryIO, source: str, catalog: Catalog, defaults: ReportDefaults,
             ) -> Iterator[DeviceReport]:
        start, stream = json_start(stream, source)
        if start.kind == "object" and start.first_key is None:
            return  # `{}`: a page without devices (protocol-buffer JSON leaves the empty list out)
        if start.kind == "object" and start.first_key == "error":
            _refuse_error(json_document(stream, source), source)
        if start.kind == "object" and start.first_key in _DEVICE_FIELDS:
            record = Record.of(json_document(stream, source), source, "device")
            name = _device_name(record)
            report = _report(record.relabel(f"device ({name})"), name)
            if report is not None:
                yield report
            return
        seen = SeenRecords()
        for index, value in enumerate(json_records(stream, source, "devices.item"), start=1):
            record = Record.of(value, source, f"device {index}")
            name = _device_name(record)
            record = record.relabel(f"device {index} ({name})")
            if not seen.first_time(name, record, "name"):
                continue
            report = _report(record, name)
            if report is not None:
                yield report


AMAPI = AmapiFormat()


def _device_name(device: Record) -> str:
    name = device.required_text("name")
    if not _DEVICE_NAME.fullmatch(name):
        raise device.fail("name", f"is not a device name: {name[:80]!r}",
                          "the API names devices enterprises/{enterpriseId}/devices/{deviceId}")
    return name


def _report(device: Record, name: str) -> DeviceReport | None:
    """The device's report, or None for a device with nothing to report (deleted, or no application reports)."""
    states = {device.text("state", required=False), device.text("appliedState", required=False)}
    visibility = _VISIBILITY.get(device.text("managementMode", required=False) or "", Visibility.MANAGED_ONLY)
    ownership = _OWNERSHIP.get(device.text("ownership", required=False) or "")
    status_time = device.timestamp("lastStatusReportTime", required=False)
    sync_time = device.timestamp("lastPolicySyncTime", required=False)
    model = None
    if device.has("hardwareInfo"):
        hardware = Record.of(device.value["hardwareInfo"], device.source, f"{device.label}, hardwareInfo",
                             device.line)
        model = hardware.text("model", required=False)
    apps = _installed(device)
    if _DELETED in states or apps is None:
        return None
    observed_at = status_time or sync_time
    if observed_at is None:
        raise device.fail("lastStatusReportTime", "is missing, and so is `lastPolicySyncTime`: nothing says when "
                          "the applications were reported", "export the device list again from the API")
    return DeviceReport(
        device_id=name,
        platform=Platform.ANDROID,
        observed_at=observed_at,
        apps=tuple(apps.values()),
        visibility=visibility,
        where=device.where(),
        ownership=ownership,
        enrolled=True,
        name=model,
    )


def _installed(device: Record) -> dict[App, InstalledApp] | None:
    """The installed apps of the application reports, or None if the device sent none."""
    if not device.has("applicationReports"):
        return None
    installed: dict[App, InstalledApp] = {}
    for report in device.records("applicationReports"):
        app = app_identity(Platform.ANDROID, report.required_text("packageName"), report, "packageName")
        state = report.text("state", required=False)
        display_name = report.text("displayName", required=False)
        version = report.text("versionName", required=False)
        if state != _REMOVED:
            installed.setdefault(app, InstalledApp(app, display_name, version))
    return installed


def _refuse_error(document: object, source: str) -> NoReturn:
    error = document.get("error") if isinstance(document, Mapping) else None
    detail = ""
    if isinstance(error, Mapping):
        parts = [str(error.get(key))[:200] for key in ("code", "status", "message") if error.get(key) is not None]
        detail = ": " + " ".join(parts) if parts else ""
    raise InvalidInput.at(source, f"the Android Management API answered with an error, not devices{detail}",
                          hint="nothing was imported from this file; fix the request and list the devices again")
