"""Microsoft Intune: an iOS/iPadOS compliance policy whose restricted-apps list holds the banned bundle ids.

The body is a Microsoft Graph `iosCompliancePolicy`
(https://learn.microsoft.com/graph/api/resources/intune-deviceconfig-ioscompliancepolicy?view=graph-rest-beta),
to POST to `https://graph.microsoft.com/beta/deviceManagement/deviceCompliancePolicies`:

- `@odata.type: "#microsoft.graph.iosCompliancePolicy"`, `displayName`, `description`;
- `restrictedApps`: `appListItem` entries (`name`, `publisher`, `appStoreUrl`, `appId`: the bundle id); Graph
  accepts at most 100 (https://learn.microsoft.com/graph/api/resources/intune-deviceconfig-applistitem);
- `scheduledActionsForRule`: required when a compliance policy is created, with exactly one `block` action
  (`deviceComplianceScheduledActionForRule` with `ruleName` and `scheduledActionConfigurations` of
  `deviceComplianceActionItem`: `actionType`, `gracePeriodHours` (0 to 8760), `notificationTemplateId`,
  `notificationMessageCCList`). The grace period is the shortest of the restrictions'.

A device holding a restricted app becomes non-compliant, and Conditional Access then cuts it off.
"""

from __future__ import annotations

import datetime as dt

from appban.errors import InvalidInput
from appban.export.common import json_bytes, select
from appban.export.interface import ExportInput, ExportOutput
from appban.model import Platform

__all__ = ["MAX_GRACE_HOURS", "MAX_RESTRICTED_APPS", "IntuneExporter"]

MAX_RESTRICTED_APPS = 100
MAX_GRACE_HOURS = 8760


class IntuneExporter:
    """Compiles restrictions into one Graph iosCompliancePolicy body."""

    name = "intune"

    def export(self, data: ExportInput) -> ExportOutput:
        selection = select(data, (Platform.IOS, Platform.IPADOS), "an Intune iOS/iPadOS compliance policy")
        if len(selection.apps) > MAX_RESTRICTED_APPS:
            raise InvalidInput.at("--to intune", f"{len(selection.apps)} bundle ids to restrict, more than the "
                                  f"{MAX_RESTRICTED_APPS} Graph accepts in one policy",
                                  hint="export each restriction's organisation separately, or narrow the targets")
        graces = [r.grace for r in selection.restrictions]
        hours = min(_hours(g) for g in graces) if graces else 0
        ids = ", ".join(f"{r.id} v{r.version}" for r in selection.restrictions) or "none"
        body = {
            "@odata.type": "#microsoft.graph.iosCompliancePolicy",
            "displayName": f"appban: banned apps ({data.label})",
            "description": f"Apps banned for {data.organisation_name} by appban restrictions: {ids}.",
            "restrictedApps": [
                {"@odata.type": "#microsoft.graph.appListItem", "appId": b.identifier, "appStoreUrl": None,
                 "name": b.name or b.identifier, "publisher": b.publisher or None}
                for b in selection.apps
            ],
            "scheduledActionsForRule": [{
                "ruleName": "PasswordRequired",  # Graph: currently always this value (actions are per policy)
                "scheduledActionConfigurations": [{
                    "actionType": "block",
                    "gracePeriodHours": hours,
                    "notificationMessageCCList": [],
                    "notificationTemplateId": "",
                }],
            }],
        }
        return ExportOutput(filename=f"appban-{data.label}-intune-ios-compliance.json",
                            media_type="application/json", content=json_bytes(body), notes=selection.notes)


def _hours(grace: dt.timedelta) -> int:
    return min(MAX_GRACE_HOURS, int(grace.total_seconds() // 3600))
