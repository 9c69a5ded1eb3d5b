"""Apple MDM: a device's response to the `InstalledApplicationList` command, as an XML or binary property list.

What the file holds (Apple, Device Management, "InstalledApplicationListResponse" and "Installed Application
List" command; github.com/apple/device-management, mdm/commands/application.installed.list.yaml):

- one response dictionary, or a property-list array of them (one per device, as an MDM server that stores
  the responses it received can write them out; a device answering twice the same is read once, differently
  is refused, since both answers would get the same time);
- each response: `Status` (only `Acknowledged` is accepted: `Error`, `NotNow`, `Idle` and
  `CommandFormatError` carry no inventory and are refused with the reason), `UDID` for a device enrollment, or
  `EnrollmentID` / `EnrollmentUserID` for a user enrollment (the device then has no UDID), `CommandUUID`,
  and `InstalledApplicationList`: an array of dictionaries with `Identifier` (bundle id), `Name`,
  `ShortVersion`, `Version`, `Installing`, `IsValidated`, `BundleSize`, `IsAppClip`, `DownloadFailed`,
  `DownloadCancelled`, ...;
- optionally `Command`: the `Command` dictionary of the request this answers (`RequestType`,
  `ManagedAppsOnly`, `Identifiers`, `Items`). A response does not repeat its request, so a server that asked
  with `ManagedAppsOnly` can store the request beside the response for appban to know.

What appban makes of it:

- visibility: a user enrollment (`EnrollmentID`) or a request with `ManagedAppsOnly` lists managed apps only
  (Apple: "If the enrollment type is a user enrollment, the system always considers this key as set to true"),
  so such a device is `managed_only`; a device enrollment answered without `ManagedAppsOnly` lists every
  third-party app: `full`. A request restricted by `Identifiers` lists only those apps and is refused: it is a
  probe, not an inventory.
- the response carries no time: `observed_at` comes from the import's defaults (`--observed-at`).
- the response does not say iOS, iPadOS or macOS: the platform is the one this format object was made with
  (`AppleMdmFormat(Platform.MACOS)`); `APPLE_MDM` reads iOS.
- apps whose download failed or was cancelled are not on the device and are left out; apps still downloading
  (`Installing`) are reported: they are arriving. On macOS, Apple notes `Identifier` "may be missing": such
  entries (tools without a bundle) are skipped; on iOS and iPadOS a missing identifier is an error.

Hostile files: the file is read whole (property lists are not streamed), so it is capped at
`MAX_PLIST_BYTES` first; XML entity declarations are refused (plistlib refuses them too, this does not depend
on it); a binary plist that refers to one dictionary or array from several places (a reference trick that
multiplies the work, or a cycle) is refused; every other malformation is one `InvalidInput` naming the file.
"""

from __future__ import annotations

import datetime as dt
import plistlib
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

from appban.catalog import Catalog
from appban.errors import InvalidInput
from appban.inventory.interface import DeviceReport, InstalledApp, ReportDefaults, Visibility
from appban.inventory.records import Record, SeenRecords, app_identity, default_observed_at
from appban.model import App, Platform

__all__ = ["APPLE_MDM", "MAX_PLIST_BYTES", "AppleMdmFormat"]

MAX_PLIST_BYTES = 64 * 1024 * 1024  # a response listing 20,000 apps is a few MB; the file is read whole
MAX_RESPONSES = 100_000

_BINARY_MAGIC = b"bplist00"
_ACKNOWLEDGED = "Acknowledged"
_STATUS_HINTS = {
    "NotNow": "the device was busy or locked and did not run the command; send it again",
    "Idle": "the device had no status to report; this is not an answer to the command",
    "Error": "the device could not run the command",
    "CommandFormatError": "the device found the command malformed",
}


class AppleMdmFormat:
    """Reads `InstalledApplicationList` responses of the devices of one Apple platform."""

    name = "apple-mdm"

    def __init__(self, platform: Platform = Platform.IOS) -> None:
        if platform not in (Platform.IOS, Platform.IPADOS, Platform.MACOS):
            raise ValueError(f"Apple MDM manages iOS, iPadOS and macOS devices, not {platform}")
        self.platform = platform

    def read(self, stream: BinaryIO, source: str, catalog: Catalog, defaults: ReportDefaults,
             ) -> Iterator[DeviceReport]:
        observed_at = default_observed_at(defaults, source, "an InstalledApplicationList response does not say "
                                          "when it was taken", "give the time the device answered with --observed-at")
        root = _load(stream, source)
        seen: set[int] = set()
        devices = SeenRecords()
        if isinstance(root, list):
            if len(root) > MAX_RESPONSES:
                raise InvalidInput.at(source, f"holds {len(root)} responses, more than the {MAX_RESPONSES} accepted")
            for index, item in enumerate(root, start=1):
                report = self._report(Record.of(item, source, f"response {index}"), observed_at, seen, devices)
                if report is not None:
                    yield report
        else:
            report = self._report(Record.of(root, source, "response"), observed_at, seen, devices)
            assert report is not None  # the first response of a file
            yield report

    def _report(self, record: Record, observed_at: dt.datetime, seen: set[int], devices: SeenRecords,
                ) -> DeviceReport | None:
        """The response's report, or None if the file already held the same device with the same apps."""
        _once(record.value, record, seen)
        udid = record.text("UDID", required=False)
        enrollment_id = record.text("EnrollmentID", required=False)
        device_id = udid or enrollment_id
        name = "UDID" if udid else "EnrollmentID"
        if device_id is not None:
            record = record.relabel(f"{record.label} ({name} {device_id})")
        _check_status(record)
        for field in ("UDID", "EnrollmentID", "EnrollmentUserID"):
            _check_type(record, field, str)
        if device_id is None:
            raise record.fail("UDID", "is missing, and so is `EnrollmentID`",
                              "a response names its device by UDID, or by EnrollmentID for a user enrollment")
        user_enrollment = enrollment_id is not None or record.has("EnrollmentUserID")
        managed_only = self._managed_apps_only(record) or user_enrollment
        apps = self._apps(record, seen)
        # A device twice in one file: the same answer is read once, a different one is refused (both would
        # claim the same time). Compared on what was read, never on the raw plist (which may be hostile).
        read = {"visibility": managed_only, "apps": [[a.app.identifier, a.name, a.version] for a in apps]}
        if not devices.first_time(device_id, Record(read, record.source, record.label), name):
            return None
        return DeviceReport(
            device_id=device_id,
            platform=self.platform,
            observed_at=observed_at,
            apps=apps,
            visibility=Visibility.MANAGED_ONLY if managed_only else Visibility.FULL,
            where=record.where(),
        )

    def _managed_apps_only(self, record: Record) -> bool:
        if not record.has("Command"):
            return False
        command = Record.of(record.value["Command"], record.source, f"{record.label}, Command")
        _check_type(command, "RequestType", str)
        _check_type(command, "ManagedAppsOnly", bool)
        request_type = command.text("RequestType", required=False)
        if request_type not in (None, "InstalledApplicationList"):
            raise command.fail("RequestType", f"is {request_type!r}: this is not an InstalledApplicationList command")
        if command.items("Identifiers"):
            raise command.fail("Identifiers", "restricts the response to the apps it lists: that is not an inventory",
                               "send InstalledApplicationList without Identifiers")
        return command.boolean("ManagedAppsOnly") is True

    def _apps(self, record: Record, seen: set[int]) -> tuple[InstalledApp, ...]:
        if not record.has("InstalledApplicationList"):
            raise record.fail("InstalledApplicationList", "is missing",
                              "is this the response to an InstalledApplicationList command?")
        _once(record.value["InstalledApplicationList"], record, seen)
        apps: dict[App, InstalledApp] = {}
        for item in record.records("InstalledApplicationList", required=True):
            _once(item.value, item, seen)
            for field in ("Identifier", "Name", "ShortVersion", "Version"):
                _check_type(item, field, str)
            for field in ("DownloadFailed", "DownloadCancelled", "Installing"):
                _check_type(item, field, bool)
            if item.boolean("DownloadFailed") or item.boolean("DownloadCancelled"):
                continue  # never arrived on the device
            identifier = item.text("Identifier", required=self.platform is not Platform.MACOS)
            if identifier is None:
                continue  # macOS: an app without a bundle identifier (Apple: "may be missing on macOS")
            app = app_identity(self.platform, identifier, item, "Identifier")
            version = item.text("ShortVersion", required=False) or item.text("Version", required=False)
            apps.setdefault(app, InstalledApp(app, item.text("Name", required=False), version))
        return tuple(apps.values())


APPLE_MDM = AppleMdmFormat()


def _load(stream: BinaryIO, source: str) -> Any:
    data = stream.read(MAX_PLIST_BYTES + 1)
    if not isinstance(data, bytes):
        raise InvalidInput.at(source, "expected a binary stream")
    if len(data) > MAX_PLIST_BYTES:
        raise InvalidInput.at(source, f"the file is larger than {MAX_PLIST_BYTES // (1024 * 1024)} MiB",
                              hint="export the responses into several files")
    if not data.strip():
        raise InvalidInput.at(source, "the file is empty")
    binary = data.startswith(_BINARY_MAGIC)
    if not binary and b"<!ENTITY" in data:
        raise InvalidInput.at(source, "the property list declares XML entities, which property lists never do",
                              hint="a file that does is hostile or broken; nothing was imported from it")
    try:
        return plistlib.loads(data, fmt=plistlib.FMT_BINARY if binary else plistlib.FMT_XML)
    except RecursionError:
        raise InvalidInput.at(source, "the binary property list nests too deeply") from None
    except Exception as error:  # plistlib raises many kinds on hostile input (struct, value, expat, ...): all refused
        kind = "binary" if binary else "XML"
        detail = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise InvalidInput.at(source, f"not a valid {kind} property list: {detail}",
                              hint="expected the device's InstalledApplicationList response") from None


def _check_status(record: Record) -> None:
    _check_type(record, "Status", str)
    status = record.text("Status")
    if status == _ACKNOWLEDGED:
        return
    hint = _STATUS_HINTS.get(str(status), "only Acknowledged responses list apps")
    reason = _error_chain(record)
    message = f"is {status!r}, not {_ACKNOWLEDGED!r}: the response lists no apps"
    raise record.fail("Status", f"{message}; the device says: {reason}" if reason else message, hint)


def _error_chain(record: Record) -> str | None:
    chain = record.value.get("ErrorChain")
    if not isinstance(chain, list) or not chain or not isinstance(chain[0], Mapping):
        return None
    first = chain[0]
    for key in ("USEnglishDescription", "LocalizedDescription"):
        text = first.get(key)
        if isinstance(text, str) and text.strip():
            return text.strip()[:200]
    return None


def _check_type(record: Record, field: str, kind: type) -> None:
    """Property lists are typed: an <integer> where Apple documents a <string> is a broken file, not text."""
    value = record.value.get(field)
    if value is not None and not (isinstance(value, kind) and (kind is bool or not isinstance(value, bool))):
        expected = "a boolean (<true/> or <false/>)" if kind is bool else f"a <{_PLIST_TYPES[kind]}>"
        raise record.fail(field, f"must be {expected}, not {_plist_type(value)}")


_PLIST_TYPES: Mapping[type, str] = {
    str: "string", int: "integer", float: "real", bytes: "data", dt.datetime: "date", list: "array", dict: "dict",
    plistlib.UID: "uid",
}


def _plist_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    for kind, name in _PLIST_TYPES.items():
        if isinstance(value, kind):
            return f"<{name}>"
    return type(value).__name__


def _once(value: object, record: Record, seen: set[int]) -> None:
    """Refuse a dictionary or array reached twice: XML cannot express it, and a binary plist that does (shared
    or cyclic references) is built to multiply the work of reading it."""
    if id(value) in seen:
        raise InvalidInput.at(record.source, f"{record.label}: the property list refers to one object from "
                              "several places (shared or cyclic references)",
                              hint="a device's response never does; the file is hostile or broken")
    seen.add(id(value))
