"""Microsoft Intune through Microsoft Graph: pages of managed devices, each with the apps Intune discovered on it.

What the file holds (Microsoft Graph v1.0 reference, "managedDevice resource type" and "detectedApp resource
type", learn.microsoft.com/graph/api/resources/intune-devices-manageddevice and
.../intune-devices-detectedapp; github.com/microsoftgraph/microsoft-graph-docs-contrib):

- one page of `GET /deviceManagement/managedDevices`: `{"@odata.context": ..., "value": [managedDevice, ...],
  "@odata.nextLink": ...}`, each device carrying its `detectedApps` (a list of detectedApp: `id`,
  `displayName`, `version`, `sizeInByte`, `deviceCount`, `publisher`, `platform`). A paging run is several such
  files, each imported as its own file. Graph's answer to a list with `$expand=detectedApps` has been reported
  to carry empty lists (github.com/microsoftgraph/msgraph-sdk-dotnet/issues/2048), so the file is typically
  assembled from `GET /deviceManagement/managedDevices/{id}?$expand=detectedApps` or
  `.../managedDevices/{id}/detectedApps` per device, the apps put into the device as `detectedApps`.
- accepted shape: only that one. A device without a `detectedApps` member is refused (the apps were not
  exported, and "no app listed" would read as "no banned app"). A page of detectedApps on its own (the answer of
  `.../managedDevices/{id}/detectedApps`) names no device, time or ownership and is refused with that hint. An
  API error (`{"error": {"code", "message"}}`) is refused with what Graph said.

Each managedDevice:

- `id` is the device id; `deviceName` its name;
- `operatingSystem` gives the platform: `Android`, `iOS`, `iPadOS`, `Windows`, `macOS` (case-insensitively;
  `AndroidForWork` and `AndroidEnterprise` are Android). Intune also manages `Linux` and `ChromeOS` devices,
  which are outside appban's platforms: they are skipped. Any other value is refused;
- `managedDeviceOwnerType` ("Possible values are: unknown, company, personal"): company is corporate, personal is
  personal; unknown, a missing value or a value added later (Graph enums grow, `unknownFutureValue`) is None;
- `lastSyncDateTime` ("the date and time that the device last completed a successful sync with Intune") is
  `observed_at`; it is required. Graph writes `0001-01-01T00:00:00Z` for a device that never synced (a
  pre-enrolled device): it has no inventory and is skipped;
- the holder's e-mail is `emailAddress` ("Email(s) for the user associated with the device"; the first address
  if it lists several), else `userPrincipalName` when it is an address; a userless device has none;
- `enrolled` is True (Intune lists the devices enrolled in it).

Visibility follows Intune's "Discovered apps" documentation (MicrosoftDocs/memdocs,
`memdocs/intune/apps/app-discovered-apps.md`, 2022-09-13): "For personal devices, Intune never collects
information on applications that are unmanaged. On corporate devices, any app whether it is a managed app or
not is collected", with this table per platform: iOS/iPadOS and macOS, company-owned: "All apps installed on the
device", personal: "Only managed apps"; Windows 10/11 company-owned: all modern (Store) apps and MSI-installed
Win32 apps, personal: "Only managed modern apps"; Windows 8.1 and RT: only managed apps; Android device
administrator company-owned: all apps; Android Enterprise personally-owned: "Only managed apps in the work
profile"; Android Enterprise corporate-owned (fully managed, dedicated, corporate-owned work profile): "Not yet
supported" (they "do not display discovered apps"). Hence:

- **full**: a company-owned iOS, iPadOS or macOS device (supervision does not matter: Intune asks a
  device-enrolled Apple device for all its apps) unless it came through Apple User Enrollment
  (`deviceEnrollmentType` `appleUserEnrollment...`, which Apple limits to managed apps); a company-owned Windows
  device running Windows 10 or later (`osVersion` 10 and up, or not given);
- **managed_only**: every personal or unknown-ownership device; every Android device (fully managed and
  dedicated devices report no discovered apps at all, and a work-profile phone whose ownership was switched to
  company in the console cannot be told from a device-administrator one); Windows before 10;
- and any device whose `detectedApps` is empty: Intune fills discovered apps every 7 days from enrollment, and
  the list-with-expand answer above is empty too, so an empty list proves nothing.

Apps: a detectedApp has a display name and no package or bundle id, so apps are matched to the catalogue by name,
conservatively (every one is `matched_by=name`):

- a display name that, ignoring case and runs of white space, equals a family's name ("TikTok", "tiktok ") is
  that family's identity on the device's platform, if the family has one there. A variant name counts only if it
  names the product (it begins with the family's name, like a variant "TikTok Lite"): the catalogue's variant
  labels such as "global" or "Asian markets" are descriptions, not app names. Nothing else matches: no
  substrings ("TikTok Downloader"), no spelling variants ("Tik Tok");
- where the family has several identities on the platform (TikTok on iOS: the global and the Asian-market bundle
  ids), the one chosen is the first of the family's `variants` on that platform, in catalogue order (the main
  variant comes first), else the smallest identifier. Either is in the family, so a family ban matches;
- a display name that is exactly a catalogue identity on the platform (a package name shown as the app's name)
  is that identity;
- any other app is kept as `App(platform, "name:" + displayName)`, an identity no package name, bundle id or
  package family name can take. A detectedApp without a display name names nothing and is skipped.

A device listed twice in one file is read once if both listings are identical, and refused if they differ.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import BinaryIO, NoReturn

from appban.catalog import Catalog
from appban.errors import InvalidInput
from appban.inventory.interface import DeviceReport, InstalledApp, MatchedBy, ReportDefaults, Visibility
from appban.inventory.jsonstream import json_document, json_records, json_start
from appban.inventory.names import CatalogNames
from appban.inventory.records import Record, SeenRecords
from appban.model import App, Ownership, Platform

__all__ = ["GRAPH", "GraphFormat"]


_PLATFORMS = {
    "android": Platform.ANDROID,
    "androidforwork": Platform.ANDROID,
    "androidenterprise": Platform.ANDROID,
    "ios": Platform.IOS,
    "ipados": Platform.IPADOS,
    "windows": Platform.WINDOWS,
    "macos": Platform.MACOS,
}
_OUTSIDE_PLATFORMS = frozenset({"linux", "chromeos", "chrome os"})  # managed by Intune, not banned-app platforms
_OWNERSHIP = {"company": Ownership.CORPORATE, "personal": Ownership.PERSONAL}
_NEVER_SYNCED_YEAR = 1  # Graph's 0001-01-01T00:00:00Z
_EMAIL = re.compile(r"[^@\s;,]+@[^@\s;,]+\.[^@\s;,]+")
_DETECTED_APP_FIELDS = frozenset({"sizeInByte", "deviceCount"})


class GraphFormat:
    """Reads pages of Intune managed devices from Microsoft Graph, each device with its `detectedApps`."""

    name = "graph"

    def read(self, stream: BinaryIO, source: str, catalog: Catalog, defaults: ReportDefaults,
             ) -> Iterator[DeviceReport]:
        start, stream = json_start(stream, source)
        if start.kind == "object" and start.first_key == "error":
            _refuse_error(json_document(stream, source), source)
        names = CatalogNames(catalog)
        seen = SeenRecords()
        for index, value in enumerate(json_records(stream, source, "value.item"), start=1):
            record = Record.of(value, source, f"device {index}")
            _refuse_detected_app(record)
            device_id = record.required_text("id")
            record = record.relabel(f"device {index} ({device_id})")
            if not seen.first_time(device_id, record, "id"):
                continue
            report = _report(record, device_id, names)
            if report is not None:
                yield report


GRAPH = GraphFormat()


def _report(device: Record, device_id: str, names: CatalogNames) -> DeviceReport | None:
    """The device's report, or None for a device outside appban's platforms or that never synced."""
    system = device.required_text("operatingSystem")
    platform = _PLATFORMS.get(system.casefold())
    if platform is None:
        if system.casefold() in _OUTSIDE_PLATFORMS:
            return None
        raise device.fail("operatingSystem", f"cannot be {system[:80]!r}",
                          "one of: Android, iOS, iPadOS, Windows, macOS (Linux and ChromeOS devices are skipped)")
    ownership = _OWNERSHIP.get((device.text("managedDeviceOwnerType", required=False) or "").casefold())
    observed_at = device.timestamp("lastSyncDateTime")
    assert observed_at is not None
    enrollment = device.text("deviceEnrollmentType", required=False) or ""
    os_version = device.text("osVersion", required=False)
    holder = _holder(device)
    name = device.text("deviceName", required=False)
    if device.value.get("detectedApps") is None:
        raise device.fail("detectedApps", "is missing: the file lists devices without their apps",
                          "put each device's apps in it as `detectedApps` (GET /deviceManagement/managedDevices/"
                          "{id}?$expand=detectedApps, or .../managedDevices/{id}/detectedApps)")
    apps: dict[App, InstalledApp] = {}
    for item in device.records("detectedApps", required=True):
        display_name = item.text("displayName", required=False)
        version = item.text("version", required=False)
        if display_name is None:
            continue
        app = names.match(platform, display_name)
        apps.setdefault(app, InstalledApp(app, display_name, version, MatchedBy.NAME))
    if observed_at.year == _NEVER_SYNCED_YEAR:
        return None
    return DeviceReport(
        device_id=device_id,
        platform=platform,
        observed_at=observed_at,
        apps=tuple(apps.values()),
        visibility=_visibility(platform, ownership, enrollment, os_version, bool(apps)),
        where=device.where(),
        ownership=ownership,
        enrolled=True,
        holder=holder,
        name=name,
    )


def _visibility(platform: Platform, ownership: Ownership | None, enrollment: str, os_version: str | None,
                any_apps: bool) -> Visibility:
    """What Intune's discovered apps show of the device (see the module's documentation)."""
    if not any_apps or ownership is not Ownership.CORPORATE or platform is Platform.ANDROID:
        return Visibility.MANAGED_ONLY
    if platform in (Platform.IOS, Platform.IPADOS, Platform.MACOS):
        user_enrollment = enrollment.casefold().startswith(("appleuserenrollment", "appleaccountdriven"))
        return Visibility.MANAGED_ONLY if user_enrollment else Visibility.FULL
    major = re.match(r"\s*(\d+)", os_version or "")
    if major is not None and int(major.group(1)[:6]) < 10:
        return Visibility.MANAGED_ONLY  # Windows 8.1 and RT: only managed apps
    return Visibility.FULL


def _holder(device: Record) -> str | None:
    for field in ("emailAddress", "userPrincipalName"):
        text = device.text(field, required=False) or ""
        for part in re.split(r"[;,\s]+", text):
            if _EMAIL.fullmatch(part):
                return part
    return None


def _refuse_detected_app(record: Record) -> None:
    value = record.value
    device_fields = "operatingSystem" in value or "deviceName" in value
    if not device_fields and any(field in value for field in _DETECTED_APP_FIELDS):
        raise InvalidInput.at(record.source, f"{record.label}: this is a detected app, not a managed device",
                              line=record.line, hint="a page of one device's detectedApps names no device; put "
                              "the apps into their managedDevice as `detectedApps` and import the devices")


def _refuse_error(document: object, source: str) -> NoReturn:
    error = document.get("error") if isinstance(document, Mapping) else None
    detail = ""
    if isinstance(error, Mapping):
        parts = [str(error.get(key))[:200] for key in ("code", "message") if error.get(key) is not None]
        detail = ": " + " ".join(parts) if parts else ""
    raise InvalidInput.at(source, f"Microsoft Graph answered with an error, not devices{detail}",
                          hint="nothing was imported from this file; fix the request and list the devices again")
