"""Android Management API: `Policy` fragments that block the banned Android packages.

Field names are those of the Android Management API v1 `Policy` resource
(https://developers.google.com/android/management/reference/rest/v1/enterprises.policies):

- `applications[]` (`ApplicationPolicy`): `packageName`, `installType: "BLOCKED"`. On fully managed devices and in
  the work profile the app cannot be installed, and one already installed is removed.
- `personalUsagePolicies` (`PersonalUsagePolicies`, company-owned devices with a work profile):
  `personalPlayStoreMode: "BLOCKLIST"` with `personalApplications[]` (`PersonalApplicationPolicy`: `packageName`,
  `installType: "BLOCKED"`) blocks the packages in the personal profile.

The output is a fragment: merge both keys into the enterprise's policies (`enterprises.policies.patch` with
`updateMask=applications,personalUsagePolicies`). Android package names only.
"""

from __future__ import annotations

from appban.export.common import json_bytes, select
from appban.export.interface import ExportInput, ExportOutput
from appban.model import Platform

__all__ = ["BLOCKED", "PERSONAL_PLAY_STORE_MODE", "AmapiExporter"]

BLOCKED = "BLOCKED"
PERSONAL_PLAY_STORE_MODE = "BLOCKLIST"  # every Play Store app but those BLOCKED in personalApplications


class AmapiExporter:
    """Compiles restrictions into Android Management API policy fragments."""

    name = "amapi"

    def export(self, data: ExportInput) -> ExportOutput:
        selection = select(data, (Platform.ANDROID,), "the Android Management API")
        entries = [{"installType": BLOCKED, "packageName": b.identifier} for b in selection.apps]
        fragment = {
            "applications": entries,
            "personalUsagePolicies": {
                "personalApplications": [dict(entry) for entry in entries],
                "personalPlayStoreMode": PERSONAL_PLAY_STORE_MODE,
            },
        }
        notes = (*selection.notes,
                 "merge both keys into the policy (enterprises.policies.patch with "
                 "updateMask=applications,personalUsagePolicies), replacing any other entry for the same package")
        return ExportOutput(filename=f"appban-{data.label}-amapi-policy.json", media_type="application/json",
                            content=json_bytes(fragment), notes=notes)
