"""Apple: a configuration profile whose Restrictions payload hides and blocks the banned bundle ids.

Keys from Apple's device-management schema (https://developer.apple.com/documentation/devicemanagement/restrictions,
`mdm/profiles/com.apple.applicationaccess.yaml` and `TopLevel.yaml` in github.com/apple/device-management):

- top level: `PayloadType: Configuration`, `PayloadVersion: 1`, `PayloadIdentifier`, `PayloadUUID`,
  `PayloadDisplayName`, `PayloadDescription`, `PayloadOrganization`, `PayloadScope`, `PayloadContent`;
- one `com.apple.applicationaccess` payload with `blockedAppBundleIDs` (iOS/iPadOS 15 and later; tvOS 15; not
  macOS): the system neither shows nor launches those apps. It requires a **supervised** device and is
  forbidden under User Enrollment. It replaced the deprecated `blacklistedAppBundleIDs`.

PayloadUUIDs are uuid5 of the organisation and the restriction ids, so the same input gives the same bytes.
"""

from __future__ import annotations

import plistlib
import uuid

from appban.export.common import select
from appban.export.interface import ExportInput, ExportOutput
from appban.model import Platform

__all__ = ["BLOCKED_KEY", "NAMESPACE", "RESTRICTIONS_TYPE", "AppleExporter"]

RESTRICTIONS_TYPE = "com.apple.applicationaccess"
BLOCKED_KEY = "blockedAppBundleIDs"
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://appban.invalid/export/apple")


class AppleExporter:
    """Compiles restrictions into a `.mobileconfig` profile for supervised iPhones and iPads."""

    name = "apple"

    def export(self, data: ExportInput) -> ExportOutput:
        selection = select(data, (Platform.IOS, Platform.IPADOS), "an Apple Restrictions payload")
        ids = sorted(r.id for r in selection.restrictions)
        seed = f"{data.label}:{','.join(ids)}"
        identifier = f"org.appban.{data.label}.blocked-apps"
        restrictions = {
            "PayloadType": RESTRICTIONS_TYPE,
            "PayloadVersion": 1,
            "PayloadIdentifier": f"{identifier}.restrictions",
            "PayloadUUID": str(uuid.uuid5(NAMESPACE, f"payload:{seed}")).upper(),
            "PayloadDisplayName": "Blocked apps",
            BLOCKED_KEY: [b.identifier for b in selection.apps],
        }
        profile = {
            "PayloadType": "Configuration",
            "PayloadVersion": 1,
            "PayloadIdentifier": identifier,
            "PayloadUUID": str(uuid.uuid5(NAMESPACE, f"profile:{seed}")).upper(),
            "PayloadDisplayName": f"Blocked apps ({data.organisation_name})",
            "PayloadDescription": "Apps banned by appban restrictions: " + (", ".join(ids) or "none"),
            "PayloadOrganization": data.organisation_name,
            "PayloadScope": "System",
            "PayloadContent": [restrictions],
        }
        content = plistlib.dumps(profile, fmt=plistlib.FMT_XML, sort_keys=True)
        notes = (*selection.notes,
                 f"{BLOCKED_KEY} applies to supervised iPhones and iPads only (iOS/iPadOS 15 and later), not under "
                 "User Enrollment; sign the profile before distributing it outside your MDM")
        return ExportOutput(filename=f"appban-{data.label}-blocked-apps.mobileconfig",
                            media_type="application/x-apple-aspen-config", content=content, notes=notes)
