"""What every exporter takes and gives: values in, values out (docs/export.md).

The service reads the restrictions in force for an organisation, resolves each one's targets to the banned app
identities through the catalogue (the same `compile_rule` the engine uses) and hands them over as an
`ExportInput`; an exporter turns that into one file, an `ExportOutput`, without touching the store, the network
or the clock. The same input always gives byte-identical output.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from appban.model import App, ChildPolicy, Platform, Strictness

__all__ = ["BannedApp", "ExportInput", "ExportOutput", "ExportRestriction", "Exporter"]


@dataclass(frozen=True, slots=True, order=True)
class BannedApp:
    """One banned identity, with what the catalogue says about it (for lists people read, such as Intune's)."""

    app: App
    name: str = ""  # the app family's name, e.g. "TikTok"; empty for an identity the catalogue does not know
    publisher: str = ""  # the publisher's name, where known

    @property
    def platform(self) -> Platform:
        return self.app.platform

    @property
    def identifier(self) -> str:
        return self.app.identifier


@dataclass(frozen=True, slots=True)
class ExportRestriction:
    """One stored restriction version as exporters see it."""

    id: str
    version: int
    issuer: str
    title: str
    strictness: Strictness
    banned: tuple[BannedApp, ...] = ()  # sorted, one entry per (platform, identifier)
    grace: dt.timedelta = dt.timedelta(0)
    devices: str = "every device"  # the scope's device selector in words (exports cannot express it)
    shadow: bool = False
    rationale: str = ""
    children: ChildPolicy = ChildPolicy.MANDATORY
    text: str = ""  # the source file as stored (the feed carries it)

    @property
    def enforced(self) -> bool:
        """Whether a device-management system should block its apps: a requirement, not in shadow mode."""
        return self.strictness is Strictness.REQUIRE and not self.shadow

    def apps_on(self, *platforms: Platform) -> tuple[BannedApp, ...]:
        return tuple(b for b in self.banned if b.platform in platforms)


@dataclass(frozen=True, slots=True)
class ExportInput:
    """The restrictions to export for one organisation (`organisation` None: every organisation), by id."""

    organisation: str | None
    organisation_name: str
    restrictions: tuple[ExportRestriction, ...]
    issued_at: str | None = None  # written into outputs that carry a time, only when given

    @property
    def label(self) -> str:
        """The organisation's id, or `all`, for file names and identifiers."""
        return self.organisation or "all"


@dataclass(frozen=True, slots=True)
class ExportOutput:
    """One file to hand to the device-management system, and what the user should know about it."""

    filename: str
    media_type: str
    content: bytes
    notes: tuple[str, ...] = ()


class Exporter(Protocol):
    """Compiles restrictions into one target system's format."""

    name: str

    def export(self, data: ExportInput) -> ExportOutput: ...
