"""The contract every inventory source implements: a file in a device-management system's own format in,
normalised device reports out.

A source never decides compliance. It says which device it saw, when, which apps, and, just as important,
how much of the device it could see: no device-management system sees the personal side of a BYOD phone
(Android work profile, Apple User Enrollment, Intune on personal devices), and "no TikTok seen" there is not
"no TikTok".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import BinaryIO, Protocol

from appban.catalog import Catalog
from appban.errors import Location
from appban.model import App, Funding, Ownership, Platform

__all__ = [
    "MAX_RECORD_APPS",
    "DeviceReport",
    "InstalledApp",
    "InventoryFormat",
    "MatchedBy",
    "ReportDefaults",
    "ReportKind",
    "Visibility",
]

MAX_RECORD_APPS = 20_000  # more apps than any phone holds: a record beyond this is hostile or broken


class Visibility(StrEnum):
    """How much of a device's apps the source can see."""

    FULL = "full"  # every app on the device (fully managed, supervised, desktop agents)
    MANAGED_ONLY = "managed_only"  # only the work profile / managed apps: personal apps are invisible


class MatchedBy(StrEnum):
    """How an app's identity was established: from an identifier the source reported, or from a display
    name matched to the catalogue (Intune's detected apps carry no bundle id on some platforms)."""

    IDENTIFIER = "identifier"
    NAME = "name"


class ReportKind(StrEnum):
    SNAPSHOT = "snapshot"  # the complete list of apps the source sees on the device at `observed_at`
    DELTA = "delta"  # apps added and removed since the previous report (osquery differential results)


@dataclass(frozen=True, slots=True)
class InstalledApp:
    app: App
    name: str | None = None
    version: str | None = None
    matched_by: MatchedBy = MatchedBy.IDENTIFIER


@dataclass(frozen=True, slots=True)
class DeviceReport:
    """One device as one source saw it at one time. Fields the source does not report are None and are filled
    from `ReportDefaults` by the importer (never by the source)."""

    device_id: str
    platform: Platform
    observed_at: dt.datetime  # UTC-aware
    apps: tuple[InstalledApp, ...]
    visibility: Visibility
    where: Location  # the file and record this came from, for errors and the import report
    kind: ReportKind = ReportKind.SNAPSHOT
    removed: tuple[App, ...] = ()  # DELTA reports only
    ownership: Ownership | None = None
    funding: Funding | None = None
    enrolled: bool | None = None
    organisation: str | None = None
    holder: str | None = None  # e-mail address
    name: str | None = None  # the device's display name in its source


@dataclass(frozen=True, slots=True)
class ReportDefaults:
    """Command-line or API defaults for what a format does not carry; a file's own fields win."""

    organisation: str | None = None
    ownership: Ownership | None = None
    funding: Funding | None = None
    enrolled: bool | None = None
    observed_at: dt.datetime | None = None  # for formats without a report time (Apple's command response)


class InventoryFormat(Protocol):
    """One device-management system's published format.

    `read` streams: it yields reports as it parses, holding at most one record in memory, so a 2 GB file is
    read in bounded memory. Any malformed record raises `InvalidInput` naming the file, the record and the
    field; the importer then stores nothing from that file.
    """

    name: str

    def read(self, stream: BinaryIO, source: str, catalog: Catalog, defaults: ReportDefaults,
             ) -> Iterator[DeviceReport]: ...
