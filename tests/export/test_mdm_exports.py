"""The three device-management exports against the field lists their publishers document.

Field lists below are copied from the documentation, with the page each comes from.
"""

from __future__ import annotations

import json
import plistlib
import uuid
from typing import Any

import pytest

from appban.errors import InvalidInput
from appban.export import AmapiExporter, AppleExporter, BannedApp, ExportInput, IntuneExporter
from appban.model import App, Platform
from tests.export.samples import ADVISED, OTHER, REQUIRED, SHADOW, belgium

ANDROID_REQUIRED = {"com.zhiliaoapp.musically", "com.ss.android.ugc.trill"}
APPLE_REQUIRED = {"com.zhiliaoapp.musically", "com.ss.iphone.ugc.Ame"}

# --- Android Management API -------------------------------------------------------------------------------
# https://developers.google.com/android/management/reference/rest/v1/enterprises.policies (Policy resource);
# generated client docs: https://pub.dev/documentation/googleapis/latest/androidmanagement_v1/PersonalUsagePolicies-class.html
# and https://doc.deno.land/https://googleapis.deno.dev/v1/androidmanagement:v1.ts/~/PersonalUsagePolicies
POLICY_FIELDS = {"applications", "personalUsagePolicies"}  # the two Policy fields the fragment sets
APPLICATION_POLICY_FIELDS = {"packageName", "installType", "defaultPermissionPolicy", "permissionGrants",
                             "managedConfiguration", "lockTaskAllowed", "disabled", "minimumVersionCode",
                             "delegatedScopes", "managedConfigurationTemplate", "accessibleTrackIds",
                             "connectedWorkAndPersonalApp", "autoUpdateMode", "extensionConfig",
                             "alwaysOnVpnLockdownExemption", "workProfileWidgets", "credentialProviderPolicy",
                             "installConstraint", "installPriority", "userControlSettings", "preferentialNetworkId",
                             "signingKeyCerts", "roles", "customAppConfig"}
INSTALL_TYPES = {"INSTALL_TYPE_UNSPECIFIED", "PREINSTALLED", "FORCE_INSTALLED", "BLOCKED", "AVAILABLE",
                 "REQUIRED_FOR_SETUP", "KIOSK", "CUSTOM"}
PERSONAL_USAGE_FIELDS = {"accountTypesWithManagementDisabled", "bluetoothSharing", "cameraDisabled",
                         "maxDaysWithWorkOff", "personalApplications", "personalPlayStoreMode", "privateSpacePolicy",
                         "screenCaptureDisabled"}
PERSONAL_APPLICATION_FIELDS = {"installType", "packageName"}
PERSONAL_PLAY_STORE_MODES = {"PLAY_STORE_MODE_UNSPECIFIED", "BLACKLIST", "BLOCKLIST", "ALLOWLIST"}


def test_amapi_fragment_uses_only_documented_fields() -> None:
    fragment = json.loads(AmapiExporter().export(belgium()).content)
    assert set(fragment) <= POLICY_FIELDS
    for entry in fragment["applications"]:
        assert set(entry) <= APPLICATION_POLICY_FIELDS
        assert entry["installType"] in INSTALL_TYPES
    personal = fragment["personalUsagePolicies"]
    assert set(personal) <= PERSONAL_USAGE_FIELDS
    assert personal["personalPlayStoreMode"] in PERSONAL_PLAY_STORE_MODES
    for entry in personal["personalApplications"]:
        assert set(entry) == PERSONAL_APPLICATION_FIELDS


def test_amapi_blocks_the_required_android_packages_only() -> None:
    result = AmapiExporter().export(belgium())
    fragment = json.loads(result.content)
    blocked = {e["packageName"] for e in fragment["applications"] if e["installType"] == "BLOCKED"}
    assert blocked == ANDROID_REQUIRED  # not the advised one, not the shadow one, no bundle ids of iOS
    assert {e["packageName"] for e in fragment["personalUsagePolicies"]["personalApplications"]} == ANDROID_REQUIRED
    assert fragment["personalUsagePolicies"]["personalPlayStoreMode"] == "BLOCKLIST"
    notes = "\n".join(result.notes)
    assert "apps of other platforms left out (ios, ipados, macos, windows)" in notes
    assert "be-federal-tiktok-personal-2023: left out, it advises" in notes
    assert "zz-shadow: left out, it is in shadow mode" in notes
    assert "covers only funding is full or partial" in notes
    assert result.media_type == "application/json"
    assert result.filename == "appban-be-federal-amapi-policy.json"


# --- Microsoft Graph (Intune) -----------------------------------------------------------------------------
# https://learn.microsoft.com/graph/api/resources/intune-deviceconfig-ioscompliancepolicy?view=graph-rest-beta
# https://learn.microsoft.com/graph/api/intune-deviceconfig-ioscompliancepolicy-create?view=graph-rest-beta
IOS_COMPLIANCE_FIELDS = {"@odata.type", "roleScopeTagIds", "id", "createdDateTime", "description",
                         "lastModifiedDateTime", "displayName", "version", "passcodeBlockSimple",
                         "passcodeExpirationDays", "passcodeMinimumLength", "passcodeMinutesOfInactivityBeforeLock",
                         "passcodeMinutesOfInactivityBeforeScreenTimeout", "passcodePreviousPasscodeBlockCount",
                         "passcodeMinimumCharacterSetCount", "passcodeRequiredType", "passcodeRequired",
                         "osMinimumVersion", "osMaximumVersion", "osMinimumBuildVersion", "osMaximumBuildVersion",
                         "securityBlockJailbrokenDevices", "deviceThreatProtectionEnabled",
                         "deviceThreatProtectionRequiredSecurityLevel", "managedEmailProfileRequired",
                         "restrictedApps", "scheduledActionsForRule"}
# https://learn.microsoft.com/graph/api/resources/intune-deviceconfig-applistitem
APP_LIST_ITEM_FIELDS = {"@odata.type", "name", "publisher", "appStoreUrl", "appId"}
# https://learn.microsoft.com/graph/api/resources/intune-deviceconfig-devicecompliancescheduledactionforrule
SCHEDULED_ACTION_FIELDS = {"id", "ruleName", "scheduledActionConfigurations"}
# https://learn.microsoft.com/graph/api/resources/intune-deviceconfig-devicecomplianceactionitem
ACTION_ITEM_FIELDS = {"id", "gracePeriodHours", "actionType", "notificationTemplateId", "notificationMessageCCList"}
ACTION_TYPES = {"noAction", "notification", "block", "retire", "wipe", "removeResourceAccessProfiles",
                "pushNotification"}


def test_intune_body_uses_only_documented_fields() -> None:
    body = json.loads(IntuneExporter().export(belgium()).content)
    assert set(body) <= IOS_COMPLIANCE_FIELDS
    assert body["@odata.type"] == "#microsoft.graph.iosCompliancePolicy"
    assert {"displayName", "description", "restrictedApps", "scheduledActionsForRule"} <= set(body)
    for item in body["restrictedApps"]:
        assert set(item) == APP_LIST_ITEM_FIELDS
        assert item["@odata.type"] == "#microsoft.graph.appListItem"
        assert isinstance(item["name"], str) and item["name"]
    [rule] = body["scheduledActionsForRule"]
    assert set(rule) <= SCHEDULED_ACTION_FIELDS
    actions = rule["scheduledActionConfigurations"]
    assert all(set(a) <= ACTION_ITEM_FIELDS and a["actionType"] in ACTION_TYPES for a in actions)
    assert [a["actionType"] for a in actions].count("block") == 1  # Graph: one and only one block action
    assert all(0 <= a["gracePeriodHours"] <= 8760 for a in actions)


def test_intune_restricts_ios_bundle_ids_once_with_the_shortest_grace() -> None:
    body = json.loads(IntuneExporter().export(belgium(REQUIRED, ADVISED, SHADOW, OTHER)).content)
    assert [i["appId"] for i in body["restrictedApps"]] == sorted(APPLE_REQUIRED)  # ios+ipados deduplicated
    assert all(i["name"] == "TikTok" and i["publisher"] == "TikTok Ltd" for i in body["restrictedApps"])
    assert body["scheduledActionsForRule"][0]["scheduledActionConfigurations"][0]["gracePeriodHours"] == 14 * 24


def test_intune_refuses_more_apps_than_graph_accepts() -> None:
    many = tuple(BannedApp(App(Platform.IOS, f"com.example.app{i:03}")) for i in range(101))
    data = ExportInput("x", "X", (REQUIRED.__class__(**{**_fields(REQUIRED), "banned": many}),))
    with pytest.raises(InvalidInput, match="more than the 100 Graph accepts"):
        IntuneExporter().export(data)


# --- Apple configuration profile --------------------------------------------------------------------------
# https://developer.apple.com/documentation/devicemanagement/toplevel and
# github.com/apple/device-management mdm/profiles/TopLevel.yaml (required: PayloadContent, PayloadIdentifier,
# PayloadType, PayloadUUID, PayloadVersion)
TOP_LEVEL_REQUIRED = {"PayloadContent", "PayloadIdentifier", "PayloadType", "PayloadUUID", "PayloadVersion"}
TOP_LEVEL_FIELDS = TOP_LEVEL_REQUIRED | {"IsEncrypted", "EncryptedPayloadContent", "PayloadDescription",
                                         "PayloadDisplayName", "HasRemovalPasscode", "PayloadOrganization",
                                         "PayloadRemovalDisallowed", "PayloadScope", "RemovalDate",
                                         "DurationUntilRemoval", "PayloadExpirationDate", "TargetDeviceType",
                                         "ConsentText"}
# https://developer.apple.com/documentation/devicemanagement/restrictions and
# mdm/profiles/CommonPayloadKeys.yaml + com.apple.applicationaccess.yaml (blockedAppBundleIDs: iOS 15, supervised)
PAYLOAD_REQUIRED = {"PayloadIdentifier", "PayloadType", "PayloadUUID", "PayloadVersion"}
PAYLOAD_FIELDS = PAYLOAD_REQUIRED | {"PayloadDescription", "PayloadDisplayName", "PayloadOrganization",
                                     "blockedAppBundleIDs"}


def test_apple_profile_reads_back_with_the_documented_keys() -> None:
    result = AppleExporter().export(belgium(REQUIRED, ADVISED, SHADOW, OTHER))
    profile: dict[str, Any] = plistlib.loads(result.content)
    assert TOP_LEVEL_REQUIRED <= set(profile) <= TOP_LEVEL_FIELDS
    assert profile["PayloadType"] == "Configuration" and profile["PayloadVersion"] == 1
    [payload] = profile["PayloadContent"]
    assert PAYLOAD_REQUIRED <= set(payload) <= PAYLOAD_FIELDS
    assert payload["PayloadType"] == "com.apple.applicationaccess"
    assert set(payload["blockedAppBundleIDs"]) == APPLE_REQUIRED  # no Android package, no macOS app
    for value in (profile["PayloadUUID"], payload["PayloadUUID"]):
        assert uuid.UUID(value).version == 5
    assert profile["PayloadUUID"] != payload["PayloadUUID"]
    assert result.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert any("supervised" in note for note in result.notes)
    assert any("(android, macos, windows)" in note for note in result.notes)


def test_apple_uuids_follow_the_organisation_and_restrictions() -> None:
    one = plistlib.loads(AppleExporter().export(belgium(REQUIRED)).content)
    other_org = plistlib.loads(AppleExporter().export(ExportInput("be-gent", "Ghent", (REQUIRED,))).content)
    assert one["PayloadUUID"] != other_org["PayloadUUID"]
    assert one["PayloadUUID"] == plistlib.loads(AppleExporter().export(belgium(REQUIRED, ADVISED)).content)[
        "PayloadUUID"]  # the advisory one is not in the profile, so it does not change its identity


# --- all three ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("exporter", [AmapiExporter(), IntuneExporter(), AppleExporter()], ids=lambda e: e.name)
def test_same_input_gives_byte_identical_output(exporter: Any) -> None:
    first = exporter.export(belgium(REQUIRED, ADVISED, SHADOW, OTHER))
    again = exporter.export(belgium(REQUIRED, ADVISED, SHADOW, OTHER))
    assert first == again
    assert first.content == again.content


@pytest.mark.parametrize("exporter", [AmapiExporter(), IntuneExporter(), AppleExporter()], ids=lambda e: e.name)
def test_nothing_enforced_exports_an_empty_list_and_says_so(exporter: Any) -> None:
    result = exporter.export(belgium(ADVISED, SHADOW))
    assert any("blocks nothing" in note for note in result.notes)
    text = result.content.decode()
    assert "com.advised.only" not in text and "com.shadow" not in text


def test_json_outputs_round_trip() -> None:
    for exporter in (AmapiExporter(), IntuneExporter()):
        content = exporter.export(belgium()).content
        assert json.dumps(json.loads(content), sort_keys=True, indent=2).encode() + b"\n" == content


def _fields(restriction: Any) -> dict[str, Any]:
    return {name: getattr(restriction, name) for name in restriction.__dataclass_fields__}
