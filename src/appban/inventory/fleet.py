"""Fleet (fleetdm.com): the hosts its REST API lists with their software, or one host.

What the file holds (Fleet's REST API reference, github.com/fleetdm/fleet `docs/REST API/rest-api.md`, "List
hosts", "Get host", "Get host by identifier"; the software fields are `server/fleet/software.go`, `Software`):

- the answer of `GET /api/v1/fleet/hosts?populate_software=without_vulnerability_details` (or `=true`):
  `{"hosts": [host, ...]}`, streamed host by host. Filters add top-level keys (`software_title`, `software`,
  `mobile_device_management_solution`, `munki_issue`), which are ignored. A paging run (`page`, `per_page`) is
  several files, each imported on its own;
- or the answer of `GET /api/v1/fleet/hosts/:id` or `GET /api/v1/fleet/hosts/identifier/:identifier`:
  `{"host": host}` (these list the software unless `exclude_software=true`);
- an API error (`{"message", "errors": [{"name", "reason"}]}`) is refused with what Fleet said.

Without `populate_software` the listing leaves `software` out. A host without `software` has no inventory and
yields no report (Fleet also leaves the list out when it is empty, for a host not yet inventoried); a file in which
no host of appban's platforms lists software is refused, with the hint to ask for it.

Each host:

- **Device id**: `uuid`. Fleet's `id` is the row number of the host in one Fleet server's database: another
  server, or the same machine deleted and enrolled again, gives another `id`. `uuid` is the machine's own: the
  hardware UUID osquery reads for computers (the same value osquery logs as `hostIdentifier` with
  `--host_identifier=uuid`, so the osquery and Fleet inventories of one Mac are one device), the device's UDID for
  Apple MDM, the enrollment id for personal (BYOD) devices; it is also what `GET /hosts/identifier/:identifier`
  looks hosts up by. A host whose `uuid` is empty (Fleet does not know it yet) cannot be named and is skipped; a
  host without the `uuid` member is refused. A host listed twice is read once if both listings are identical and
  refused, naming both, if they differ.
- **Platform**: `platform` `darwin` is macOS, `windows`, `ios`, `ipados` and `android` are themselves. Every other
  value (the Linux distributions osquery names, `ubuntu`, `rhel`, `centos`, `debian`, `fedora`, ...; `chrome` for
  ChromeOS; empty for a host that has not reported its details) is outside the platforms an app ban targets: the
  host is skipped, not refused (Fleet's list of Linux distributions grows with osquery's).
- **Time**: `detail_updated_at` ("the last time Fleet updated host data, based on the results from the detail
  queries", of which the software inventory is one), or `software_updated_at` ("the last time software changed for
  the host in any way") when that is later, since the software was seen then. Fleet writes a date in 1970 for a
  host it has not refreshed yet; a host with no time after 2000 has no inventory and is skipped. `seen_time` (the
  last contact, "regardless of what operation it was for") says nothing of the apps and is not used.
- **Apps**: each platform's app inventory has one `source` (Fleet's "detail-query -> source" mapping: macOS
  `software_macos` reads osquery's `apps`, Windows `software_windows` reads `programs`, iOS and iPadOS apps come
  from Apple MDM's InstalledApplicationList, Android apps from the Android Management API):
  - `darwin`: `apps`, `App(macos, bundle_identifier)`. An app without a bundle identifier, or with one no
    catalogue identity can have, is skipped (as in the osquery format: macOS does not enforce its shape);
  - `ios` / `ipados`: `ios_apps` / `ipados_apps`, `App(ios|ipados, bundle_identifier)`;
  - `android`: `android_apps`, `App(android, application_id)` ("the unique identifier for Android software.
    Equivalent to the BundleIdentifier on Apple software");
  - `windows`: `programs`. Fleet keeps no package family name for them (its `programs` query reads `name`,
    `version`, `publisher`, `install_location`, `upgrade_code`), so the `name` is matched to the catalogue the way
    Intune's detected apps are (`appban.inventory.names.CatalogNames`), `matched_by=name`.
  Every other source is software appban does not target and is skipped: packages (`deb_packages`, `rpm_packages`,
  `python_packages`, `npm_packages`, `homebrew_packages`, `chocolatey_packages`, `pkg_packages`, ...), browser and
  editor extensions (`chrome_extensions`, `firefox_addons`, `safari_extensions`, `ie_extensions`,
  `vscode_extensions`, `jetbrains_plugins`, ...), and any source not of the host's platform.
- **Visibility**: **full** for macOS (fleetd's osquery reads every application); for Windows when
  `osquery_version` is 5.17.0 or later, whose `programs` table lists Microsoft Store (MSIX) packages, the way
  TikTok is installed on Windows; older or unknown versions cannot see Store apps: **managed_only**. iOS and
  iPadOS: **full** for a device enrollment (`mdm.enrollment_status` `On (automatic)`, `On (company-owned)`,
  `On (manual)`), where InstalledApplicationList lists every app; a personal enrollment (`On (personal)`,
  `On (manual - personal)`: account-driven User Enrollment, where Apple answers with managed apps only, and which
  Fleet shows as "Software installed on work profile (Managed Apple Account)") or any other status is
  **managed_only**. Android is always **managed_only**: Fleet enrolls Android devices with a work profile, and the
  personal profile's apps are invisible to it.
- **Ownership**: `On (automatic)` / `On (company-owned)` (Automated Device Enrollment, for devices the
  organisation bought through Apple Business Manager) is corporate, `On (personal)` / `On (manual - personal)`
  personal, anything else unknown (the import's defaults apply). `enrolled` is True (Fleet lists the hosts
  enrolled in it); `name` is `display_name`, else `computer_name`, else `hostname`. The holder is left to the
  import's directory (Fleet's human-device mapping is not read).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import BinaryIO, NoReturn

from appban.catalog import Catalog
from appban.errors import InvalidInput
from appban.inventory.interface import DeviceReport, InstalledApp, MatchedBy, ReportDefaults, Visibility
from appban.inventory.jsonstream import json_document, json_records, json_start
from appban.inventory.names import CatalogNames
from appban.inventory.records import IDENTIFIER_PATTERNS, Record, SeenRecords, app_identity
from appban.model import App, Ownership, Platform

__all__ = ["FLEET", "FleetFormat"]

_PLATFORMS = {
    "darwin": Platform.MACOS,
    "windows": Platform.WINDOWS,
    "ios": Platform.IOS,
    "ipados": Platform.IPADOS,
    "android": Platform.ANDROID,
}
_APP_SOURCE = {
    Platform.MACOS: "apps",
    Platform.WINDOWS: "programs",
    Platform.IOS: "ios_apps",
    Platform.IPADOS: "ipados_apps",
    Platform.ANDROID: "android_apps",
}
_DEVICE_ENROLLMENT = frozenset({"On (automatic)", "On (company-owned)", "On (manual)"})
_OWNERSHIP = {
    "On (automatic)": Ownership.CORPORATE,
    "On (company-owned)": Ownership.CORPORATE,
    "On (personal)": Ownership.PERSONAL,
    "On (manual - personal)": Ownership.PERSONAL,
}
_STORE_PROGRAMS_SINCE = (5, 17, 0)  # osquery's `programs` lists MSIX packages from this release (osquery#8585)
_VERSION = re.compile(r"\s*(\d{1,6})\.(\d{1,6})(?:\.(\d{1,6}))?")
_FIRST_REAL_YEAR = 2000  # Fleet dates a host it has not refreshed yet in 1970
_ERROR_KEYS = frozenset({"message", "errors"})
_HINT = ("list the hosts with GET /api/v1/fleet/hosts?populate_software=without_vulnerability_details, or get one "
         "host with GET /api/v1/fleet/hosts/:id")


@dataclass(slots=True)
class _Tally:
    """Hosts of appban's platforms seen, and how many listed their software."""

    hosts: int = 0
    with_software: int = 0


class FleetFormat:
    """Reads Fleet's host listing (with `populate_software`) or one host, with each host's software."""

    name = "fleet"

    def read(self, stream: BinaryIO, source: str, catalog: Catalog, defaults: ReportDefaults,
             ) -> Iterator[DeviceReport]:
        start, stream = json_start(stream, source)
        if start.kind != "object":
            raise InvalidInput.at(source, "expected a JSON object: Fleet's hosts, or one host", hint=_HINT)
        if start.first_key in _ERROR_KEYS:
            _refuse_error(json_document(stream, source), source)
        names = CatalogNames(catalog)
        tally = _Tally()
        if start.first_key == "host":
            document = json_document(stream, source)
            assert isinstance(document, Mapping)
            host = Record.of(document.get("host"), source, "host")
            report = _host(host, "host", SeenRecords(), names, tally)
            if report is not None:
                yield report
        else:
            seen = SeenRecords()
            for index, value in enumerate(json_records(stream, source, "hosts.item"), start=1):
                report = _host(Record.of(value, source, f"host {index}"), f"host {index}", seen, names, tally)
                if report is not None:
                    yield report
        if tally.hosts and not tally.with_software:
            raise InvalidInput.at(source, "no host lists its software (`software`): the hosts were listed without "
                                  "their apps", hint=_HINT)


FLEET = FleetFormat()


def _host(host: Record, label: str, seen: SeenRecords, names: CatalogNames, tally: _Tally) -> DeviceReport | None:
    """The host's report, or None for a host outside appban's platforms or without an inventory."""
    if not host.has("uuid"):
        raise host.fail("uuid", "is missing", "Fleet names every host by its `uuid`")
    uuid = host.text("uuid", required=False)
    if uuid is None:
        return None  # Fleet does not know the host's UUID yet: nothing to name the device by
    host = host.relabel(f"{label} ({uuid})")
    if not seen.first_time(uuid, host, "uuid"):
        return None
    platform = _PLATFORMS.get((host.text("platform", required=False) or "").lower())
    if platform is None:
        return None  # Linux, ChromeOS, or no details yet: not a platform an app ban targets
    tally.hosts += 1
    if host.value.get("software") is None:
        return None
    tally.with_software += 1
    observed_at = _observed_at(host)
    if observed_at is None:
        return None  # never refreshed: the software list is not an inventory yet
    enrollment = _enrollment_status(host)
    apps: dict[App, InstalledApp] = {}
    for item in host.records("software"):
        installed = _installed(item, platform, names)
        if installed is not None:
            apps.setdefault(installed.app, installed)
    return DeviceReport(
        device_id=uuid,
        platform=platform,
        observed_at=observed_at,
        apps=tuple(apps.values()),
        visibility=_visibility(host, platform, enrollment),
        where=host.where(),
        ownership=_OWNERSHIP.get(enrollment or ""),
        enrolled=True,
        name=(host.text("display_name", required=False) or host.text("computer_name", required=False)
              or host.text("hostname", required=False)),
    )


def _observed_at(host: Record) -> dt.datetime | None:
    """When the host's software was last seen, or None for a host Fleet has not inventoried yet."""
    details = host.timestamp("detail_updated_at", required=False)
    software = host.timestamp("software_updated_at", required=False)
    if details is None and software is None:
        raise host.fail("detail_updated_at", "is missing, and so is `software_updated_at`: nothing says when the "
                        "software was listed", "export the hosts again from Fleet's API")
    times = [time for time in (details, software) if time is not None and time.year >= _FIRST_REAL_YEAR]
    return max(times) if times else None


def _enrollment_status(host: Record) -> str | None:
    if host.value.get("mdm") is None:
        return None
    mdm = Record.of(host.value["mdm"], host.source, f"{host.label}, mdm", host.line)
    return mdm.text("enrollment_status", required=False)


def _installed(item: Record, platform: Platform, names: CatalogNames) -> InstalledApp | None:
    """The app a software entry is, or None for software appban does not target."""
    if item.text("source", required=False) != _APP_SOURCE[platform]:
        return None
    name = item.text("name", required=False)
    version = item.text("version", required=False)
    if platform is Platform.WINDOWS:
        if name is None:
            return None
        return InstalledApp(names.match(platform, name), name, version, MatchedBy.NAME)
    if platform is Platform.MACOS:
        identifier = item.text("bundle_identifier", required=False)
        if identifier is None or not IDENTIFIER_PATTERNS[platform].fullmatch(identifier):
            return None
        return InstalledApp(App(platform, identifier), name, version)
    field = "application_id" if platform is Platform.ANDROID else "bundle_identifier"
    return InstalledApp(app_identity(platform, item.required_text(field), item, field), name, version)


def _visibility(host: Record, platform: Platform, enrollment: str | None) -> Visibility:
    """How much of the host's apps Fleet sees (see the module's documentation)."""
    if platform is Platform.MACOS:
        return Visibility.FULL
    if platform is Platform.WINDOWS:
        match = _VERSION.match(host.text("osquery_version", required=False) or "")
        if match is None:
            return Visibility.MANAGED_ONLY
        version = tuple(int(part or 0) for part in match.groups())
        return Visibility.FULL if version >= _STORE_PROGRAMS_SINCE else Visibility.MANAGED_ONLY
    if platform in (Platform.IOS, Platform.IPADOS) and enrollment in _DEVICE_ENROLLMENT:
        return Visibility.FULL
    return Visibility.MANAGED_ONLY


def _refuse_error(document: object, source: str) -> NoReturn:
    detail = ""
    if isinstance(document, Mapping):
        parts = [str(document.get("message"))[:200]] if document.get("message") is not None else []
        errors = document.get("errors")
        if isinstance(errors, list):
            parts += [str(error.get("reason"))[:200] for error in errors[:3]
                      if isinstance(error, Mapping) and error.get("reason") is not None]
        detail = ": " + "; ".join(parts) if parts else ""
    raise InvalidInput.at(source, f"Fleet answered with an error, not hosts{detail}",
                          hint="nothing was imported from this file; fix the request and list the hosts again")
