"""Microsoft Graph / Intune: managedDevices pages with detectedApps, visibility per Intune's discovered-apps rules,
conservative name matching to the catalogue, and bad or hostile JSON."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appban.catalog import Catalog
from appban.inventory.graph import GRAPH, GraphFormat
from appban.inventory.interface import (
    MAX_RECORD_APPS,
    DeviceReport,
    InventoryFormat,
    MatchedBy,
    ReportDefaults,
    Visibility,
)
from appban.inventory.names import NAME_PREFIX, CatalogNames, normal_name
from appban.model import App, AppFamily, Ownership, Platform

from . import support

SOURCE = "managedDevices-page1.json"
CATALOG: Catalog = support.CATALOG
DEFAULTS = ReportDefaults()
CONTEXT = "https://graph.microsoft.com/v1.0/$metadata#deviceManagement/managedDevices"
NEXT_LINK = ("https://graph.microsoft.com/v1.0/deviceManagement/managedDevices?$expand=detectedApps"
             "&$skiptoken=LastDeviceName%3d%27iPhone%2520van%2520Els%27")
TIKTOK_IOS = App(Platform.IOS, "com.zhiliaoapp.musically")


def detected(name: str, version: str, platform: str, size: int = 0, publisher: str | None = None) -> dict[str, Any]:
    """A detectedApp as Graph returns it: `id` is a 64-hex-digit hash Intune generates."""
    return {"id": hashlib.sha256(f"{name} {version}".encode()).hexdigest(), "displayName": name,
            "version": version, "sizeInByte": size, "deviceCount": 1, "publisher": publisher, "platform": platform}


# A company-owned iPhone enrolled through Automated Device Enrollment, as `GET /deviceManagement/managedDevices`
# gives it (property names and value shapes per the v1.0 managedDevice resource), with the apps Intune
# discovered on it as `detectedApps` (detectedApp resource). Timestamps have Graph's seven fractional digits.
IPHONE: dict[str, Any] = {
    "id": "0f3c9b6e-2a71-4d0e-9c55-8e1f4a7b2d10",
    "userId": "8a2c4e6f-1b3d-4f5a-9c7e-0d2b4f6a8c1e",
    "deviceName": "iPhone van Els",
    "managedDeviceOwnerType": "company",
    "deviceActionResults": [],
    "enrolledDateTime": "2022-11-07T09:12:44Z",
    "lastSyncDateTime": "2023-03-14T07:45:31.1234567Z",
    "operatingSystem": "iOS",
    "complianceState": "compliant",
    "jailBroken": "False",
    "managementAgent": "mdm",
    "osVersion": "16.3.1",
    "easActivated": True,
    "easDeviceId": "A1B2C3D4E5F60718293A4B5C6D",
    "easActivationDateTime": "2022-11-07T09:20:01Z",
    "azureADRegistered": True,
    "deviceEnrollmentType": "appleBulkWithUser",
    "activationLockBypassCode": None,
    "emailAddress": "els.peeters@example.gov.be",
    "azureADDeviceId": "5d0e3c1a-7f2b-4e8d-a6c9-1b0f2e3d4c5a",
    "deviceRegistrationState": "registered",
    "deviceCategoryDisplayName": "Unknown",
    "isSupervised": True,
    "exchangeLastSuccessfulSyncDateTime": "0001-01-01T00:00:00Z",
    "exchangeAccessState": "none",
    "exchangeAccessStateReason": "none",
    "remoteAssistanceSessionUrl": None,
    "remoteAssistanceSessionErrorDetails": None,
    "isEncrypted": True,
    "userPrincipalName": "els.peeters@example.gov.be",
    "model": "iPhone 13",
    "manufacturer": "Apple",
    "imei": "35 391610 123456 7",
    "complianceGracePeriodExpirationDateTime": "9999-12-31T23:59:59Z",
    "serialNumber": "F2LXK0ABCD12",
    "phoneNumber": "+32470123456",
    "androidSecurityPatchLevel": None,
    "userDisplayName": "Els Peeters",
    "wiFiMacAddress": "a4f1e8000001",
    "subscriberCarrier": "Proximus",
    "meid": "35391610123456",
    "totalStorageSpaceInBytes": 127968034816,
    "freeStorageSpaceInBytes": 81604378624,
    "managedDeviceName": "els.peeters_iPhone_11/7/2022_9:12 AM",
    "partnerReportedThreatState": "unknown",
    "detectedApps": [
        detected("TikTok", "28.5.0", "ios", 466313216, "TikTok Ltd."),
        detected("Microsoft Outlook", "4.2309.0", "ios", 288194560, "Microsoft Corporation"),
        detected("Company Portal", "5.2302.0", "ios", 76218368, "Microsoft Corporation"),
    ],
}

# A personally-owned Android phone with a work profile: Intune sees only the managed apps of the work profile.
ANDROID_BYOD: dict[str, Any] = {
    "id": "7b1e0c2d-3f4a-4b5c-8d6e-9f0a1b2c3d4e",
    "userId": "2c4e6a8b-0d1f-4a3c-8e5b-7d9f1a3c5e7b",
    "deviceName": "SM-A536B",
    "managedDeviceOwnerType": "personal",
    "enrolledDateTime": "2023-02-20T16:40:00Z",
    "lastSyncDateTime": "2023-03-14T21:44:59.0000001Z",
    "operatingSystem": "Android",
    "complianceState": "compliant",
    "jailBroken": "False",
    "managementAgent": "mdm",
    "osVersion": "13",
    "deviceEnrollmentType": "userEnrollment",
    "emailAddress": "jan.janssens@example.gov.be",
    "isSupervised": False,
    "isEncrypted": True,
    "userPrincipalName": "jan.janssens@example.gov.be",
    "model": "SM-A536B",
    "manufacturer": "samsung",
    "imei": "",
    "serialNumber": "",
    "phoneNumber": "",
    "userDisplayName": "Jan Janssens",
    "managedDeviceName": "jan.janssens_AndroidForWork_2/20/2023_4:40 PM",
    "detectedApps": [
        detected("Microsoft Outlook", "4.2309.0", "androidWorkProfile", 0, "Microsoft Corporation"),
    ],
}

WINDOWS_LAPTOP: dict[str, Any] = {
    "id": "c4d5e6f7-0a1b-4c2d-8e3f-5a6b7c8d9e0f",
    "deviceName": "FOD-LT-00417",
    "managedDeviceOwnerType": "company",
    "lastSyncDateTime": "2023-03-14T12:00:05.55Z",
    "operatingSystem": "Windows",
    "osVersion": "10.0.22621.1344",
    "deviceEnrollmentType": "windowsAzureADJoin",
    "managementAgent": "mdm",
    "emailAddress": "",
    "userPrincipalName": "p.dubois@example.gov.be",
    "detectedApps": [
        detected("Microsoft.WindowsCalculator", "11.2210.0.0", "windows"),
        detected("TikTok", "1.0.9.0", "windows"),
    ],
}


def device(base: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    """A copy of a documented device with some fields changed (None removes one)."""
    return support.changed(IPHONE if base is None else base, **changes)


def page(*devices: Any, next_link: str | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {"@odata.context": CONTEXT, "value": list(devices)}
    if next_link is not None:
        document["@odata.nextLink"] = next_link
    return document


def encode(document: object) -> bytes:
    return json.dumps(document, indent=2).encode()


def read(data: bytes | object, source: str = SOURCE, catalog: Catalog = CATALOG) -> list[DeviceReport]:
    raw = data if isinstance(data, bytes) else encode(data)
    return support.read(GRAPH, raw, source, DEFAULTS, catalog=catalog, seconds=None)


def refused(data: bytes | object, *fragments: str) -> str:
    return str(support.refused(lambda: read(data), SOURCE, *fragments, prefix=SOURCE + ":", single=True,
                               located=False))


def one(document: dict[str, Any]) -> DeviceReport:
    [report] = read(page(document))
    return report


def apps_of(report: DeviceReport) -> dict[str, App]:
    return {installed.name or "": installed.app for installed in report.apps}


# --- the documented shape ---------------------------------------------------------------------------------------


def test_the_format_object_implements_the_contract() -> None:
    fmt: InventoryFormat = GRAPH
    assert fmt.name == "graph"
    assert isinstance(GRAPH, GraphFormat)


def test_a_company_iphone_is_seen_whole_and_tiktok_is_found_by_name() -> None:
    report = one(IPHONE)
    assert report.device_id == IPHONE["id"]
    assert report.name == "iPhone van Els"
    assert report.platform is Platform.IOS
    assert report.ownership is Ownership.CORPORATE
    assert report.visibility is Visibility.FULL
    assert report.enrolled is True
    assert report.holder == "els.peeters@example.gov.be"
    assert report.observed_at == dt.datetime(2023, 3, 14, 7, 45, 31, 123456, tzinfo=dt.UTC)
    apps = apps_of(report)
    assert apps["TikTok"] == TIKTOK_IOS
    assert apps["Microsoft Outlook"] == App(Platform.IOS, NAME_PREFIX + "Microsoft Outlook")
    assert all(installed.matched_by is MatchedBy.NAME for installed in report.apps)
    tiktok = next(installed for installed in report.apps if installed.app == TIKTOK_IOS)
    assert tiktok.version == "28.5.0"
    family = CATALOG.family_of(tiktok.app)
    assert family is not None
    assert family.id == "tiktok"


def test_a_personal_android_work_profile_is_seen_in_part() -> None:
    report = one(ANDROID_BYOD)
    assert report.platform is Platform.ANDROID
    assert report.ownership is Ownership.PERSONAL
    assert report.visibility is Visibility.MANAGED_ONLY
    assert report.observed_at == dt.datetime(2023, 3, 14, 21, 44, 59, tzinfo=dt.UTC)


def test_a_paging_run_is_several_files_each_read_on_its_own() -> None:
    first = read(page(IPHONE, ANDROID_BYOD, next_link=NEXT_LINK), "managedDevices-page1.json")
    last = read(page(WINDOWS_LAPTOP), "managedDevices-page2.json")
    assert [r.device_id for r in first] == [IPHONE["id"], ANDROID_BYOD["id"]]
    assert [r.device_id for r in last] == [WINDOWS_LAPTOP["id"]]
    assert {r.where.source for r in last} == {"managedDevices-page2.json"}


def test_the_next_link_may_come_first() -> None:
    data = b'{"@odata.nextLink": "' + NEXT_LINK.encode() + b'", "value": ' + json.dumps([IPHONE]).encode() + b"}"
    assert [r.device_id for r in read(data)] == [IPHONE["id"]]


def test_an_empty_page_has_no_devices() -> None:
    assert read(page()) == []


# --- visibility (Intune "Discovered apps": personal devices show managed apps only) --------------------------


@pytest.mark.parametrize(("changes", "expected"), [
    ({}, Visibility.FULL),
    ({"isSupervised": False, "deviceEnrollmentType": "userEnrollment"}, Visibility.FULL),
    ({"managedDeviceOwnerType": "personal"}, Visibility.MANAGED_ONLY),
    ({"managedDeviceOwnerType": "unknown"}, Visibility.MANAGED_ONLY),
    ({"managedDeviceOwnerType": None}, Visibility.MANAGED_ONLY),
    ({"deviceEnrollmentType": "appleUserEnrollment"}, Visibility.MANAGED_ONLY),
    ({"deviceEnrollmentType": "appleUserEnrollmentWithServiceAccount"}, Visibility.MANAGED_ONLY),
    ({"detectedApps": []}, Visibility.MANAGED_ONLY),
    ({"operatingSystem": "iPadOS"}, Visibility.FULL),
    ({"operatingSystem": "macOS", "deviceEnrollmentType": "appleBulkWithoutUser"}, Visibility.FULL),
    ({"operatingSystem": "macOS", "managedDeviceOwnerType": "personal"}, Visibility.MANAGED_ONLY),
    ({"operatingSystem": "Android", "deviceEnrollmentType": "androidEnterpriseFullyManaged"},
     Visibility.MANAGED_ONLY),
    ({"operatingSystem": "Android", "deviceEnrollmentType": "androidEnterpriseCorporateWorkProfile"},
     Visibility.MANAGED_ONLY),
    ({"operatingSystem": "Android", "deviceEnrollmentType": "userEnrollment"}, Visibility.MANAGED_ONLY),
])
def test_visibility_follows_ownership_platform_and_enrollment(changes: dict[str, Any],
                                                              expected: Visibility) -> None:
    assert one(device(**changes)).visibility is expected


@pytest.mark.parametrize(("changes", "expected"), [
    ({}, Visibility.FULL),
    ({"osVersion": None}, Visibility.FULL),
    ({"managedDeviceOwnerType": "personal"}, Visibility.MANAGED_ONLY),
    ({"osVersion": "6.3.9600.20778"}, Visibility.MANAGED_ONLY),  # Windows 8.1: only managed apps
])
def test_windows_visibility(changes: dict[str, Any], expected: Visibility) -> None:
    assert one(device(WINDOWS_LAPTOP, **changes)).visibility is expected


@pytest.mark.parametrize(("system", "platform"), [
    ("iOS", Platform.IOS), ("iPadOS", Platform.IPADOS), ("Android", Platform.ANDROID), ("android", Platform.ANDROID),
    ("AndroidForWork", Platform.ANDROID), ("AndroidEnterprise", Platform.ANDROID), ("Windows", Platform.WINDOWS),
    ("macOS", Platform.MACOS), ("MacOS", Platform.MACOS)])
def test_operating_systems(system: str, platform: Platform) -> None:
    assert one(device(operatingSystem=system)).platform is platform


@pytest.mark.parametrize("system", ["Linux", "ChromeOS"])
def test_devices_outside_appbans_platforms_are_skipped(system: str) -> None:
    assert read(page(device(operatingSystem=system), ANDROID_BYOD)) == read(page(ANDROID_BYOD))


def test_a_device_that_never_synced_is_skipped() -> None:
    never = device(lastSyncDateTime="0001-01-01T00:00:00Z", detectedApps=[])
    assert read(page(never, ANDROID_BYOD)) == read(page(ANDROID_BYOD))


@pytest.mark.parametrize(("value", "expected"), [
    ("company", Ownership.CORPORATE), ("personal", Ownership.PERSONAL), ("unknown", None),
    ("unknownFutureValue", None), ("aNewOwnershipKind", None)])
def test_ownership_values_and_future_ones(value: str, expected: Ownership | None) -> None:
    assert one(device(managedDeviceOwnerType=value)).ownership is expected


@pytest.mark.parametrize(("changes", "holder"), [
    ({}, "els.peeters@example.gov.be"),
    ({"emailAddress": "els@example.gov.be; e.peeters@example.gov.be"}, "els@example.gov.be"),
    ({"emailAddress": None}, "els.peeters@example.gov.be"),
    ({"emailAddress": "", "userPrincipalName": "els@example.gov.be"}, "els@example.gov.be"),
    ({"emailAddress": None, "userPrincipalName": ""}, None),  # a userless (kiosk) device
    ({"emailAddress": None, "userPrincipalName": "not-an-address"}, None),
])
def test_the_holder_is_an_email_address(changes: dict[str, Any], holder: str | None) -> None:
    assert one(device(**changes)).holder == holder


def test_missing_optional_fields_are_none() -> None:
    bare = {"id": "d1", "operatingSystem": "iOS", "lastSyncDateTime": "2023-03-14T07:45:31Z",
            "detectedApps": [{"displayName": "TikTok"}]}
    report = one(bare)
    assert (report.ownership, report.holder, report.name) == (None, None, None)
    assert report.visibility is Visibility.MANAGED_ONLY
    assert [(a.app, a.version) for a in report.apps] == [(TIKTOK_IOS, None)]


def test_an_app_without_a_display_name_is_skipped() -> None:
    report = one(device(detectedApps=[{"id": "a1", "version": "1.0"}, detected("TikTok", "28", "ios")]))
    assert [a.app for a in report.apps] == [TIKTOK_IOS]


def test_an_identical_repeat_of_a_device_is_read_once() -> None:
    assert read(page(IPHONE, ANDROID_BYOD, IPHONE)) == read(page(IPHONE, ANDROID_BYOD))


# --- name matching ----------------------------------------------------------------------------------------------


def names_on(platform: Platform, *display_names: str, catalog: Catalog = CATALOG) -> list[App]:
    system = {Platform.IOS: "iOS", Platform.IPADOS: "iPadOS", Platform.ANDROID: "Android",
              Platform.WINDOWS: "Windows", Platform.MACOS: "macOS"}[platform]
    apps = [{"displayName": name} for name in display_names]
    [report] = read(page(device(operatingSystem=system, detectedApps=apps)), catalog=catalog)
    return [installed.app for installed in report.apps]


@pytest.mark.parametrize("name", ["TikTok", "tiktok ", "TIKTOK", "  TikTok", "\tTikTok\n"])
def test_tiktok_matches_the_family_on_ios(name: str) -> None:
    [app] = names_on(Platform.IOS, name)
    assert app == TIKTOK_IOS
    family = CATALOG.family_of(app)
    assert family is not None
    assert family.id == "tiktok"


@pytest.mark.parametrize("name", ["TikTok Downloader", "Tik Tok", "TikTok-", "TikTok for Business", "TikTo",
                                  "Downloader for TikTok", "global", "Asian markets", "Musically"])
def test_other_names_do_not_match(name: str) -> None:
    [app] = names_on(Platform.IOS, name)
    assert app == App(Platform.IOS, NAME_PREFIX + name.strip())
    assert CATALOG.family_of(app) is None


def test_names_match_only_where_the_family_has_an_identity() -> None:
    # TikTok has no Windows identity in the catalogue; TikTok Lite has Android identities only.
    assert names_on(Platform.WINDOWS, "TikTok") == [App(Platform.WINDOWS, NAME_PREFIX + "TikTok")]
    assert names_on(Platform.IOS, "TikTok Lite") == [App(Platform.IOS, NAME_PREFIX + "TikTok Lite")]
    [lite] = names_on(Platform.ANDROID, "tiktok lite")
    family = CATALOG.family_of(lite)
    assert family is not None
    assert family.id == "tiktok-lite"


def test_each_platform_gets_its_own_identity() -> None:
    assert names_on(Platform.IPADOS, "TikTok") == [App(Platform.IPADOS, "com.zhiliaoapp.musically")]
    assert names_on(Platform.ANDROID, "TikTok") == [App(Platform.ANDROID, "com.zhiliaoapp.musically")]
    assert names_on(Platform.ANDROID, "CapCut", "Douyin") == [App(Platform.ANDROID, "com.lemon.lvoverseas"),
                                                             App(Platform.ANDROID, "com.ss.android.ugc.aweme")]


def test_a_package_name_shown_as_the_name_is_that_identity() -> None:
    assert names_on(Platform.ANDROID, "com.ss.android.ugc.trill") == [App(Platform.ANDROID,
                                                                          "com.ss.android.ugc.trill")]
    # only an exact identity: a different case or another package stays a name
    assert names_on(Platform.ANDROID, "COM.SS.ANDROID.UGC.TRILL") == [
        App(Platform.ANDROID, NAME_PREFIX + "COM.SS.ANDROID.UGC.TRILL")]


def test_unmatched_names_cannot_collide_with_real_identifiers() -> None:
    [app] = names_on(Platform.ANDROID, "com.example.notbanned")
    assert app.identifier == NAME_PREFIX + "com.example.notbanned"
    assert ":" not in "com.example.notbanned"


def custom_catalog() -> Catalog:
    app = App(Platform.IOS, "com.example.short")
    asia = App(Platform.IOS, "com.example.short.asia")
    plus = App(Platform.IOS, "com.example.shortplus")
    family = AppFamily(id="short", name="Short", publisher="example", apps=frozenset({app, asia, plus}),
                       variants=(("Asian markets", asia), ("global", app), ("Short Plus", plus)))
    return Catalog(families={"short": family}, publishers={})


def test_several_identities_pick_the_first_listed_variant() -> None:
    catalog = custom_catalog()
    assert names_on(Platform.IOS, "short", catalog=catalog) == [App(Platform.IOS, "com.example.short.asia")]


def test_a_variant_name_that_names_the_product_matches_its_own_identity() -> None:
    catalog = custom_catalog()
    assert names_on(Platform.IOS, "short  plus", catalog=catalog) == [App(Platform.IOS, "com.example.shortplus")]
    # descriptive variant labels are not app names
    assert names_on(Platform.IOS, "global", "Asian Markets", catalog=catalog) == [
        App(Platform.IOS, NAME_PREFIX + "global"), App(Platform.IOS, NAME_PREFIX + "Asian Markets")]


def test_the_choice_follows_the_catalogues_variant_order() -> None:
    family = CATALOG.families["tiktok"]
    shuffled = AppFamily(family.id, family.name, family.publisher, family.apps, tuple(reversed(family.variants)))
    reversed_catalog = Catalog(families={"tiktok": shuffled}, publishers={})
    by_variants = names_on(Platform.IOS, "TikTok", catalog=reversed_catalog)
    assert by_variants == [App(Platform.IOS, "com.ss.iphone.ugc.Ame")]  # the first variant listed there
    no_variants = AppFamily(family.id, family.name, family.publisher, family.apps)
    plain = Catalog(families={"tiktok": no_variants}, publishers={})
    assert names_on(Platform.IOS, "TikTok", catalog=plain) == [App(Platform.IOS, "com.ss.iphone.ugc.Ame")]


def test_the_same_app_listed_twice_counts_once() -> None:
    report = one(device(detectedApps=[detected("TikTok", "28.5.0", "ios"), detected("tiktok", "28.4.0", "ios")]))
    assert [(a.app, a.version) for a in report.apps] == [(TIKTOK_IOS, "28.5.0")]


# --- bad input --------------------------------------------------------------------------------------------------

DEVICE_ID = IPHONE["id"]


def test_an_api_error_is_refused_with_what_graph_said() -> None:
    error = {"error": {"code": "Forbidden", "message": "Application is not authorized to perform this operation.",
                       "innerError": {"request-id": "0d1c", "date": "2023-03-14T08:00:00"}}}
    refused(error, "Microsoft Graph answered with an error", "Forbidden", "not authorized")


def test_a_truncated_file_is_refused() -> None:
    data = encode(page(IPHONE, ANDROID_BYOD))
    refused(data[: len(data) * 2 // 3], "cut short")


@pytest.mark.parametrize("data", [b"", b"value: []", b"\xff\xfe", b'{"value": [,]}', b"null", b"42"])
def test_what_is_not_json_is_refused(data: bytes) -> None:
    refused(data)


def test_a_top_level_list_is_refused() -> None:
    refused(encode([IPHONE]), "expected a JSON object", "value")


def test_an_amapi_page_is_refused() -> None:
    refused({"devices": [], "nextPageToken": "x"}, "no `value` list", "--format")


def test_devices_without_their_apps_are_refused() -> None:
    refused(page(device(detectedApps=None)), f"device 1 ({DEVICE_ID})", "`detectedApps` is missing",
            "$expand=detectedApps")


def test_a_page_of_detected_apps_alone_is_refused() -> None:
    apps_page = {"@odata.context": CONTEXT + "('0f3c9b6e-2a71-4d0e-9c55-8e1f4a7b2d10')/detectedApps",
                 "value": IPHONE["detectedApps"]}
    refused(apps_page, "device 1", "a detected app, not a managed device", "detectedApps")


@pytest.mark.parametrize(("changes", "fragments"), [
    ({"detectedApps": "TikTok"}, [f"device 1 ({DEVICE_ID})", "`detectedApps` must be a list"]),
    ({"detectedApps": ["TikTok"]}, [f"device 1 ({DEVICE_ID}), detectedApps[0]", "expected an object"]),
    ({"detectedApps": [{"displayName": {"en": "TikTok"}}]},
     [f"device 1 ({DEVICE_ID}), detectedApps[0]", "`displayName` must be text"]),
    ({"detectedApps": [{"displayName": "TikTok", "version": [28]}]},
     [f"device 1 ({DEVICE_ID}), detectedApps[0]", "`version` must be text"]),
    ({"operatingSystem": "Symbian"}, [f"device 1 ({DEVICE_ID})", "`operatingSystem` cannot be 'Symbian'",
                                      "iPadOS"]),
    ({"operatingSystem": None}, [f"device 1 ({DEVICE_ID})", "`operatingSystem` is missing"]),
    ({"operatingSystem": True}, [f"device 1 ({DEVICE_ID})", "`operatingSystem` must be text"]),
    ({"lastSyncDateTime": None}, [f"device 1 ({DEVICE_ID})", "`lastSyncDateTime` is missing"]),
    ({"lastSyncDateTime": "14/03/2023 07:45"}, [f"device 1 ({DEVICE_ID})", "`lastSyncDateTime` is not a timestamp"]),
    ({"lastSyncDateTime": "9999-12-31T23:59:59-23:59"},  # after year 9999 in UTC
     [f"device 1 ({DEVICE_ID})", "`lastSyncDateTime` is not a timestamp"]),
    ({"managedDeviceOwnerType": ["company"]}, [f"device 1 ({DEVICE_ID})", "`managedDeviceOwnerType` must be text"]),
    ({"emailAddress": {"primary": "a@b.eu"}}, [f"device 1 ({DEVICE_ID})", "`emailAddress` must be text"]),
    ({"id": None}, ["device 1", "`id` is missing"]),
    ({"id": 12.5e3, "operatingSystem": "OS/2"}, ["device 1 (12500", "`operatingSystem`"]),
])
def test_bad_values_are_refused_naming_file_record_and_field(changes: dict[str, Any],
                                                             fragments: list[str]) -> None:
    refused(page(ANDROID_BYOD, device(**changes)), *[f.replace("device 1", "device 2") for f in fragments])


def test_a_device_listed_twice_with_different_data_names_both_records() -> None:
    changed = device(detectedApps=[])
    refused(page(IPHONE, ANDROID_BYOD, changed), f"device 3 ({DEVICE_ID})", "`id`",
            "listed again with different data", "first as device 1")


def test_too_many_apps_are_refused() -> None:
    many = [{"displayName": f"App {i}"} for i in range(MAX_RECORD_APPS + 1)]
    refused(page(device(detectedApps=many)), f"device 1 ({DEVICE_ID})", "`detectedApps`",
            f"more than the {MAX_RECORD_APPS}")


def test_an_overlong_name_is_refused() -> None:
    refused(page(device(detectedApps=[{"displayName": "T" * 5000}])), "`displayName`", "longer than")


def test_deep_nesting_is_refused() -> None:
    depth = 50_000
    refused(b'{"value": [{"id": ' + b"[" * depth + b"]" * depth + b"}]}", "levels deep")


# --- properties -------------------------------------------------------------------------------------------------

FAST = support.fast(200)

json_values = support.json_values(
    words=["iOS", "Android", "company", "TikTok", "0001-01-01T00:00:00Z", "2023-03-14T07:45:31.1234567Z",
           "appleUserEnrollment"],
    keys=["id", "displayName", "operatingSystem", "detectedApps", "lastSyncDateTime", "deviceCount"],
    text_size=20, key_size=8, max_leaves=15)
DEVICE_KEYS = ["id", "operatingSystem", "managedDeviceOwnerType", "lastSyncDateTime", "detectedApps",
               "deviceEnrollmentType", "osVersion", "emailAddress", "userPrincipalName", "deviceName",
               "isSupervised"]
APP_KEYS = ["displayName", "version", "id", "platform", "publisher", "sizeInByte"]


def read_or_refuse(data: bytes) -> list[DeviceReport] | None:
    return support.read_or_refuse(lambda: read(data), SOURCE + ":")


@FAST
@given(value=json_values)
def test_any_json_in_place_of_a_device_is_read_or_refused(value: object) -> None:
    read_or_refuse(encode(page(IPHONE, value)))
    read_or_refuse(encode(value))


@FAST
@given(key=st.sampled_from(DEVICE_KEYS), value=json_values)
def test_any_value_for_a_device_field_is_read_or_refused(key: str, value: object) -> None:
    changed = device()
    changed[key] = value
    read_or_refuse(encode(page(changed)))


@FAST
@given(key=st.sampled_from(APP_KEYS), value=json_values)
def test_any_value_for_an_app_field_is_read_or_refused(key: str, value: object) -> None:
    changed = device()
    changed["detectedApps"][0][key] = value
    read_or_refuse(encode(page(changed)))


@FAST
@given(data=st.data())
def test_cut_or_corrupted_pages_are_read_or_refused(data: st.DataObject) -> None:
    read_or_refuse(support.cut_or_corrupted(data, encode(page(IPHONE, ANDROID_BYOD, next_link=NEXT_LINK))))


CATALOGUE_NAMES = {normal_name(family.name) for family in CATALOG.families.values()}
CATALOGUE_IDENTIFIERS = {app.identifier for family in CATALOG.families.values() for app in family.apps}
display_names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40).filter(
    lambda name: bool(name.strip()) and normal_name(name) not in CATALOGUE_NAMES
    and name.strip() not in CATALOGUE_IDENTIFIERS)
systems = st.sampled_from([("iOS", Platform.IOS), ("iPadOS", Platform.IPADOS), ("Android", Platform.ANDROID),
                           ("Windows", Platform.WINDOWS), ("macOS", Platform.MACOS)])


def spelled(name: str) -> st.SearchStrategy[str]:
    """`name` with any letter case and extra white space around and between its words."""
    space = st.sampled_from([" ", "  ", "\t", "\u00a0"])
    words = name.split()
    return st.builds(lambda cases, gaps, before, after: before + "".join(
        (w.upper() if c else w.lower()) + (g if i < len(words) - 1 else "")
        for i, (w, c, g) in enumerate(zip(words, cases, gaps, strict=True))) + after,
        st.lists(st.booleans(), min_size=len(words), max_size=len(words)),
        st.lists(space, min_size=len(words), max_size=len(words)), st.sampled_from(["", " "]),
        st.sampled_from(["", " ", "\n"]))


@FAST
@given(devices=st.lists(st.tuples(systems, st.lists(display_names, max_size=10)), min_size=1, max_size=4))
def test_generated_devices_round_trip(devices: list[tuple[tuple[str, Platform], list[str]]]) -> None:
    documents = [{"id": f"device-{n}", "operatingSystem": system, "managedDeviceOwnerType": "company",
                  "lastSyncDateTime": "2023-03-14T07:45:31.1234567Z",
                  "detectedApps": [{"displayName": name, "version": "1"} for name in names]}
                 for n, ((system, _), names) in enumerate(devices)]
    reports = read(page(*documents))
    assert [r.device_id for r in reports] == [d["id"] for d in documents]
    for report, ((_, platform), names) in zip(reports, devices, strict=True):
        assert report.platform is platform
        expected = {App(platform, NAME_PREFIX + name.strip()) for name in names}
        assert {installed.app for installed in report.apps} == expected
        assert len(report.apps) == len(expected)
        assert all(installed.matched_by is MatchedBy.NAME for installed in report.apps)
        assert all(CATALOG.family_of(installed.app) is None for installed in report.apps)


@FAST
@given(data=st.data(), family_id=st.sampled_from(sorted(CATALOG.families)), system=systems)
def test_catalogue_names_in_any_case_and_spacing_match(data: st.DataObject, family_id: str,
                                                       system: tuple[str, Platform]) -> None:
    family = CATALOG.families[family_id]
    name = data.draw(spelled(family.name))
    os_name, platform = system
    [report] = read(page({"id": "d", "operatingSystem": os_name, "lastSyncDateTime": "2023-03-14T07:45:31Z",
                          "detectedApps": [{"displayName": name}]}))
    [installed] = report.apps
    if any(app.platform is platform for app in family.apps):
        assert installed.app in family.apps
        assert installed.app.platform is platform
    else:
        assert installed.app == App(platform, NAME_PREFIX + name.strip())


@FAST
@given(name=display_names, affix=st.text(min_size=1, max_size=10).filter(str.strip))
def test_a_catalogue_name_inside_a_longer_name_never_matches(name: str, affix: str) -> None:
    names = CatalogNames(CATALOG)
    for family in CATALOG.families.values():
        for longer in (family.name + " " + affix, affix + " " + family.name, family.name + affix.strip()):
            if normal_name(longer) in CATALOGUE_NAMES:
                continue  # "TikTok" + " Lite" is another family's name
            assert CATALOG.family_of(names.match(Platform.ANDROID, longer)) is None
    assert CATALOG.family_of(names.match(Platform.IOS, name)) is None
