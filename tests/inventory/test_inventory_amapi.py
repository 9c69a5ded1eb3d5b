"""Android Management API: pages of `enterprises.devices.list`, one Device, paging, and bad or hostile JSON."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appban.catalog import Catalog
from appban.errors import InvalidInput
from appban.inventory.amapi import AMAPI, AmapiFormat
from appban.inventory.interface import MAX_RECORD_APPS, DeviceReport, InventoryFormat, ReportDefaults, Visibility
from appban.model import App, Ownership, Platform

from . import support

SOURCE = "devices-page1.json"
CATALOG: Catalog = support.CATALOG
DEFAULTS = ReportDefaults()
TIKTOK = App(Platform.ANDROID, "com.zhiliaoapp.musically")

# A fully managed, company-owned phone as `enterprises.devices.list` returns it: field names and value shapes per
# the Device, HardwareInfo, SoftwareInfo, MemoryInfo, NetworkInfo, User and ApplicationReport schemas (int64
# values are JSON strings in protocol-buffer JSON; timestamps are RFC 3339 with up to nanoseconds). The policy
# enables application reports with `includeRemovedApps`, so Lemon8, uninstalled, is reported as REMOVED.
FULLY_MANAGED: dict[str, Any] = {
    "name": "enterprises/LC02my9vtl/devices/3f2a8b9c0d1e4f56",
    "managementMode": "DEVICE_OWNER",
    "state": "ACTIVE",
    "appliedState": "ACTIVE",
    "policyCompliant": True,
    "enrollmentTime": "2023-01-09T10:15:31.402Z",
    "lastStatusReportTime": "2023-03-14T08:01:02.123456789Z",
    "lastPolicySyncTime": "2023-03-14T07:59:40.5Z",
    "policyName": "enterprises/LC02my9vtl/policies/fully-managed",
    "appliedPolicyName": "enterprises/LC02my9vtl/policies/fully-managed",
    "appliedPolicyVersion": "12",
    "apiLevel": 33,
    "enrollmentTokenName": "enterprises/LC02my9vtl/enrollmentTokens/Xb3kzq",
    "softwareInfo": {"androidVersion": "13", "androidBuildNumber": "TQ2A.230305.008.C1",
                     "securityPatchLevel": "2023-03-05", "androidDevicePolicyVersionCode": 2530,
                     "androidDevicePolicyVersionName": "2.53.0", "primaryLanguageCode": "nl-BE"},
    "hardwareInfo": {"brand": "google", "hardware": "panther", "manufacturer": "Google", "model": "Pixel 7",
                     "serialNumber": "28131FDH2000AB", "deviceBasebandVersion": "g5300g-230112-230117-B-9489520"},
    "memoryInfo": {"totalRam": "7849627648", "totalInternalStorage": "1958932480"},
    "networkInfo": {"imei": "356938035643809", "wifiMacAddress": "f4:f5:e8:00:00:01",
                    "networkOperatorName": "Proximus"},
    "ownership": "COMPANY_OWNED",
    "userName": "enterprises/LC02my9vtl/users/113960946298571224851",
    "user": {"accountIdentifier": "staff-40211"},
    "applicationReports": [
        {"packageName": "com.zhiliaoapp.musically", "versionName": "28.5.4", "versionCode": 2022805040,
         "displayName": "TikTok", "state": "INSTALLED", "applicationSource": "INSTALLED_FROM_PLAY_STORE",
         "installerPackageName": "com.android.vending",
         "packageSha256Hash": "9d2c0f0d5e6c3b1a8e7f6d5c4b3a29180716f5e4d3c2b1a09f8e7d6c5b4a3921",
         "signingKeyCertFingerprints": ["194c8bd2ad9e0e6e1e5b1f8a2d0e4d0b3e7a7f21"],
         "events": [{"eventType": "INSTALLED", "createTime": "2023-03-01T18:22:09.301Z"}]},
        {"packageName": "com.google.android.apps.messaging", "versionName": "20230301_00_RC00",
         "versionCode": 183620031, "displayName": "Messages", "state": "INSTALLED",
         "applicationSource": "SYSTEM_APP_UPDATED_VERSION"},
        {"packageName": "com.google.android.apps.work.clouddpc", "versionName": "2.53.0", "versionCode": 2530,
         "displayName": "Android Device Policy", "state": "INSTALLED",
         "applicationSource": "INSTALLED_FROM_PLAY_STORE"},
        {"packageName": "com.bd.nproject", "versionName": "5.4.0", "versionCode": 540, "displayName": "Lemon8",
         "state": "REMOVED", "applicationSource": "INSTALLED_FROM_PLAY_STORE",
         "events": [{"eventType": "REMOVED", "createTime": "2023-03-13T12:00:00Z"}]},
    ],
}

# A personally-owned phone with a work profile: Android Device Policy is the profile owner and reports only the
# work profile's apps. No IMEI or serial number: they are not reported for personally-owned devices.
WORK_PROFILE: dict[str, Any] = {
    "name": "enterprises/LC02my9vtl/devices/31b5a7e2c0f94d88",
    "managementMode": "PROFILE_OWNER",
    "state": "ACTIVE",
    "appliedState": "ACTIVE",
    "enrollmentTime": "2023-02-20T16:40:00Z",
    "lastStatusReportTime": "2023-03-14T21:45:10.000000001Z",
    "lastPolicySyncTime": "2023-03-14T21:44:59Z",
    "policyName": "enterprises/LC02my9vtl/policies/byod",
    "apiLevel": 31,
    "hardwareInfo": {"brand": "samsung", "manufacturer": "samsung", "model": "SM-A536B"},
    "ownership": "PERSONALLY_OWNED",
    "userName": "enterprises/LC02my9vtl/users/118172632947330912345",
    "applicationReports": [
        {"packageName": "com.microsoft.office.outlook", "versionName": "4.2309.0", "displayName": "Outlook",
         "state": "INSTALLED", "applicationSource": "INSTALLED_FROM_PLAY_STORE"},
        {"packageName": "com.google.android.apps.work.clouddpc", "versionName": "2.53.0",
         "displayName": "Android Device Policy", "state": "INSTALLED"},
    ],
}


def device(base: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    """A copy of a documented device with some fields changed (None removes one)."""
    return support.changed(FULLY_MANAGED if base is None else base, **changes)


def page(*devices: Any, token: str | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {"devices": list(devices)}
    if token is not None:
        document["nextPageToken"] = token
    return document


def encode(document: object) -> bytes:
    return json.dumps(document, indent=2).encode()


def read(data: bytes | object, source: str = SOURCE) -> list[DeviceReport]:
    raw = data if isinstance(data, bytes) else encode(data)
    return support.read(AMAPI, raw, source, DEFAULTS, seconds=None)


def refused(data: bytes | object, *fragments: str) -> str:
    """The one problem reading `data` gives; it names the file and contains every fragment."""
    return str(support.refused(lambda: read(data), SOURCE, *fragments, prefix=SOURCE + ":", single=True,
                               located=False))


def identifiers(report: DeviceReport) -> set[str]:
    return {installed.app.identifier for installed in report.apps}


# --- the documented shapes --------------------------------------------------------------------------------------


def test_the_format_object_implements_the_contract() -> None:
    fmt: InventoryFormat = AMAPI
    assert fmt.name == "amapi"
    assert isinstance(AMAPI, AmapiFormat)


def test_a_fully_managed_company_phone_is_seen_whole() -> None:
    [report] = read(page(FULLY_MANAGED))
    assert report.device_id == "enterprises/LC02my9vtl/devices/3f2a8b9c0d1e4f56"
    assert report.platform is Platform.ANDROID
    assert report.visibility is Visibility.FULL
    assert report.ownership is Ownership.CORPORATE
    assert report.enrolled is True
    assert report.holder is None  # the API holds no e-mail address
    assert report.name == "Pixel 7"
    assert report.where.source == SOURCE
    assert report.observed_at == dt.datetime(2023, 3, 14, 8, 1, 2, 123456, tzinfo=dt.UTC)  # nanoseconds cut


def test_removed_apps_are_not_installed() -> None:
    [report] = read(page(FULLY_MANAGED))
    assert identifiers(report) == {"com.zhiliaoapp.musically", "com.google.android.apps.messaging",
                                   "com.google.android.apps.work.clouddpc"}
    assert "com.bd.nproject" not in identifiers(report)
    tiktok = next(installed for installed in report.apps if installed.app == TIKTOK)
    assert (tiktok.name, tiktok.version) == ("TikTok", "28.5.4")
    assert CATALOG.family_of(tiktok.app) is not None


def test_a_work_profile_shows_only_the_managed_side() -> None:
    [report] = read(page(WORK_PROFILE))
    assert report.visibility is Visibility.MANAGED_ONLY
    assert report.ownership is Ownership.PERSONAL
    assert report.observed_at == dt.datetime(2023, 3, 14, 21, 45, 10, tzinfo=dt.UTC)
    assert identifiers(report) == {"com.microsoft.office.outlook", "com.google.android.apps.work.clouddpc"}


def test_a_company_owned_phone_with_a_work_profile_is_still_seen_in_part() -> None:
    [report] = read(page(device(WORK_PROFILE, ownership="COMPANY_OWNED")))
    assert report.ownership is Ownership.CORPORATE
    assert report.visibility is Visibility.MANAGED_ONLY


def test_a_paging_run_is_several_files_each_read_on_its_own() -> None:
    second = device(WORK_PROFILE, name="enterprises/LC02my9vtl/devices/0c9d8e7f6a5b4c3d")
    first_page = read(page(FULLY_MANAGED, WORK_PROFILE, token="Cg0KCzNmMmE4YjljMGQxZRAB"), "devices-page1.json")
    last_page = read(page(second), "devices-page2.json")
    assert [r.device_id for r in first_page] == [FULLY_MANAGED["name"], WORK_PROFILE["name"]]
    assert [r.device_id for r in last_page] == [second["name"]]
    assert {r.where.source for r in first_page} == {"devices-page1.json"}
    assert {r.where.source for r in last_page} == {"devices-page2.json"}


def test_the_page_token_may_come_first() -> None:
    document = b'{"nextPageToken": "abc", "devices": ' + json.dumps([FULLY_MANAGED]).encode() + b"}"
    assert [r.device_id for r in read(document)] == [FULLY_MANAGED["name"]]


def test_an_enterprise_without_devices_answers_an_empty_object() -> None:
    assert read(b"{}") == []
    assert read(page()) == []


def test_a_single_device_is_read_as_the_api_and_pub_sub_give_it() -> None:
    [report] = read(WORK_PROFILE)
    assert report.device_id == WORK_PROFILE["name"]
    reordered = dict(sorted(WORK_PROFILE.items()))  # a tool that sorts keys: `apiLevel` comes first
    assert read(reordered) == [report]


def test_streaming_yields_devices_before_the_file_ends() -> None:
    data = encode(page(FULLY_MANAGED, WORK_PROFILE))
    cut = data[: data.index(b"31b5a7e2c0f94d88")]
    reports = AMAPI.read(io.BytesIO(cut), SOURCE, CATALOG, DEFAULTS)
    assert next(reports).device_id == FULLY_MANAGED["name"]
    with pytest.raises(InvalidInput, match="cut short"):
        next(reports)


# --- optional, missing and future values --------------------------------------------------------------------


def test_without_a_status_report_time_the_policy_sync_time_is_used() -> None:
    [report] = read(page(device(lastStatusReportTime=None)))
    assert report.observed_at == dt.datetime(2023, 3, 14, 7, 59, 40, 500000, tzinfo=dt.UTC)


def test_without_any_report_time_the_device_is_refused() -> None:
    refused(page(device(lastStatusReportTime=None, lastPolicySyncTime=None)),
            f"device 1 ({FULLY_MANAGED['name']})", "`lastStatusReportTime` is missing", "`lastPolicySyncTime`")


def test_missing_optional_fields_are_none() -> None:
    bare = {"name": "enterprises/e1/devices/d1", "lastStatusReportTime": "2023-03-14T08:00:00Z",
            "applicationReports": [{"packageName": "com.zhiliaoapp.musically"}]}
    [report] = read(page(bare))
    assert report.ownership is None
    assert report.name is None
    assert report.visibility is Visibility.MANAGED_ONLY  # no management mode: never claim the whole device
    assert [(a.app, a.name, a.version) for a in report.apps] == [(TIKTOK, None, None)]


@pytest.mark.parametrize(("ownership", "expected"), [
    ("COMPANY_OWNED", Ownership.CORPORATE), ("PERSONALLY_OWNED", Ownership.PERSONAL),
    ("OWNERSHIP_UNSPECIFIED", None), ("SHARED_OWNED_IN_A_FUTURE_API", None)])
def test_ownership_values_and_future_ones(ownership: str, expected: Ownership | None) -> None:
    [report] = read(page(device(ownership=ownership)))
    assert report.ownership is expected


@pytest.mark.parametrize(("mode", "expected"), [
    ("DEVICE_OWNER", Visibility.FULL), ("PROFILE_OWNER", Visibility.MANAGED_ONLY),
    ("MANAGEMENT_MODE_UNSPECIFIED", Visibility.MANAGED_ONLY), ("A_FUTURE_MODE", Visibility.MANAGED_ONLY)])
def test_management_modes_and_future_ones(mode: str, expected: Visibility) -> None:
    [report] = read(page(device(managementMode=mode)))
    assert report.visibility is expected


@pytest.mark.parametrize("state", [None, "INSTALLED", "APPLICATION_STATE_UNSPECIFIED", "A_FUTURE_STATE"])
def test_only_removed_means_gone(state: str | None) -> None:
    app: dict[str, Any] = {"packageName": "com.zhiliaoapp.musically"}
    if state is not None:
        app["state"] = state
    [report] = read(page(device(applicationReports=[app])))
    assert identifiers(report) == {"com.zhiliaoapp.musically"}


def test_an_app_reported_removed_and_installed_is_installed() -> None:
    apps = [{"packageName": "com.zhiliaoapp.musically", "state": "REMOVED"},
            {"packageName": "com.zhiliaoapp.musically", "state": "INSTALLED", "versionName": "28.5.4"}]
    [report] = read(page(device(applicationReports=apps)))
    assert [(a.app, a.version) for a in report.apps] == [(TIKTOK, "28.5.4")]


@pytest.mark.parametrize("state", ["ACTIVE", "DISABLED", "LOST", "PROVISIONING", "PREPARING_FOR_MIGRATION",
                                   "DEACTIVATED_BY_DEVICE_FINANCE", "A_FUTURE_STATE"])
def test_devices_in_any_state_but_deleted_are_reported(state: str) -> None:
    assert len(read(page(device(state=state, appliedState=state)))) == 1


@pytest.mark.parametrize("field", ["state", "appliedState"])
def test_deleted_devices_have_nothing_left_to_report(field: str) -> None:
    deleted = device()
    deleted[field] = "DELETED"
    assert read(page(deleted, WORK_PROFILE)) == read(page(WORK_PROFILE))


def test_a_device_without_application_reports_has_no_inventory() -> None:
    provisioning = device(state="PROVISIONING", applicationReports=None, lastStatusReportTime=None,
                          lastPolicySyncTime=None)
    assert read(page(provisioning, WORK_PROFILE)) == read(page(WORK_PROFILE))


def test_a_device_whose_apps_were_all_removed_reports_none() -> None:
    [report] = read(page(device(applicationReports=[{"packageName": "com.bd.nproject", "state": "REMOVED"}])))
    assert report.apps == ()


def test_an_identical_repeat_of_a_device_is_read_once() -> None:
    assert read(page(FULLY_MANAGED, WORK_PROFILE, FULLY_MANAGED)) == read(page(FULLY_MANAGED, WORK_PROFILE))


# --- bad input: one InvalidInput naming the file, the record and the field ----------------------------------


def test_an_api_error_is_refused_with_what_google_said() -> None:
    error = {"error": {"code": 403, "message": "Caller does not have permission", "status": "PERMISSION_DENIED"}}
    refused(error, "error", "403", "PERMISSION_DENIED", "Caller does not have permission")


def test_a_truncated_file_is_refused() -> None:
    data = encode(page(FULLY_MANAGED, WORK_PROFILE))
    refused(data[: len(data) // 2], "cut short")


@pytest.mark.parametrize("data", [b"", b"   ", b"devices: []", b"\xff\xfe{}", b'{"devices": [}', b"<xml/>"])
def test_what_is_not_json_is_refused(data: bytes) -> None:
    refused(data)


def test_a_top_level_list_is_refused() -> None:
    refused(encode([FULLY_MANAGED]), "expected a JSON object", "devices")


def test_a_page_of_another_format_is_refused() -> None:
    refused({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#deviceManagement/managedDevices",
             "value": []}, "no `devices` list", "--format")


NAME = FULLY_MANAGED["name"]


@pytest.mark.parametrize(("changes", "fragments"), [
    ({"applicationReports": "com.zhiliaoapp.musically"}, [f"device 1 ({NAME})", "`applicationReports`",
                                                          "must be a list"]),
    ({"applicationReports": [{"packageName": "not a package"}]},
     [f"device 1 ({NAME}), applicationReports[0]", "`packageName`", "not a valid android app identifier"]),
    ({"applicationReports": [{"displayName": "TikTok"}]},
     [f"device 1 ({NAME}), applicationReports[0]", "`packageName` is missing"]),
    ({"applicationReports": ["com.zhiliaoapp.musically"]},
     [f"device 1 ({NAME}), applicationReports[0]", "expected an object"]),
    ({"applicationReports": [{"packageName": "com.zhiliaoapp.musically", "versionName": ["28"]}]},
     [f"device 1 ({NAME}), applicationReports[0]", "`versionName` must be text"]),
    ({"lastStatusReportTime": "yesterday"}, [f"device 1 ({NAME})", "`lastStatusReportTime` is not a timestamp"]),
    ({"lastPolicySyncTime": True}, [f"device 1 ({NAME})", "`lastPolicySyncTime` is not a timestamp"]),
    ({"lastStatusReportTime": "0001-01-01T00:00:00+01:00"},  # before year 1 in UTC
     [f"device 1 ({NAME})", "`lastStatusReportTime` is not a timestamp"]),
    ({"managementMode": {"mode": "DEVICE_OWNER"}}, [f"device 1 ({NAME})", "`managementMode` must be text"]),
    ({"hardwareInfo": "Pixel 7"}, [f"device 1 ({NAME}), hardwareInfo", "expected an object"]),
    ({"name": None}, ["device 1", "`name` is missing"]),
    ({"name": "3f2a8b9c0d1e4f56"}, ["device 1", "`name` is not a device name", "enterprises/{enterpriseId}"]),
    ({"name": ["enterprises/e/devices/d"]}, ["device 1", "`name` must be text"]),
])
def test_bad_values_are_refused_naming_file_record_and_field(changes: dict[str, Any],
                                                             fragments: list[str]) -> None:
    refused(page(device(**changes)), *fragments)


def test_a_number_for_ownership_is_no_ownership_appban_knows() -> None:
    [report] = read(page(device(ownership=2)))
    assert report.ownership is None


def test_a_device_that_is_not_an_object_is_refused() -> None:
    refused(page(FULLY_MANAGED, "enterprises/e/devices/d"), "device 2", "expected an object")


def test_a_device_listed_twice_with_different_data_names_both_records() -> None:
    changed = device(lastStatusReportTime="2023-03-15T08:00:00Z")
    text = refused(page(FULLY_MANAGED, WORK_PROFILE, changed), f"device 3 ({NAME})", "`name`",
                   "listed again with different data", "first as device 1")
    assert text.count("\n") == 0


def test_too_many_app_reports_are_refused() -> None:
    many = [{"packageName": f"com.example.app{i}", "state": "INSTALLED"} for i in range(MAX_RECORD_APPS + 1)]
    refused(page(device(applicationReports=many)), f"device 1 ({NAME})", "`applicationReports`",
            f"more than the {MAX_RECORD_APPS}")


def test_an_overlong_value_is_refused() -> None:
    refused(page(device(applicationReports=[{"packageName": "a." + "b" * 5000}])), "`packageName`", "longer than")


def test_deep_nesting_is_refused() -> None:
    depth = 50_000
    refused(b'{"devices": [{"name": ' + b"[" * depth + b"]" * depth + b"}]}", "levels deep")


# --- properties -------------------------------------------------------------------------------------------------

FAST = support.fast(200)

json_values = support.json_values(
    words=["DEVICE_OWNER", "REMOVED", "DELETED", "COMPANY_OWNED", "2023-03-14T08:01:02Z", "com.zhiliaoapp.musically",
           "enterprises/e/devices/d", "0001-01-01T00:00:00+01:00"],
    keys=["name", "packageName", "state", "applicationReports", "lastStatusReportTime"],
    text_size=20, key_size=8, max_leaves=15)
DEVICE_KEYS = ["name", "managementMode", "state", "appliedState", "ownership", "lastStatusReportTime",
               "lastPolicySyncTime", "applicationReports", "hardwareInfo", "userName", "user"]
APP_KEYS = ["packageName", "state", "displayName", "versionName", "versionCode", "events"]


def read_or_refuse(data: bytes) -> list[DeviceReport] | None:
    return support.read_or_refuse(lambda: read(data), SOURCE + ":")


@FAST
@given(value=json_values)
def test_any_json_in_place_of_a_device_is_read_or_refused(value: object) -> None:
    read_or_refuse(encode(page(FULLY_MANAGED, value)))
    read_or_refuse(encode(value))


@FAST
@given(key=st.sampled_from(DEVICE_KEYS), value=json_values)
def test_any_value_for_a_device_field_is_read_or_refused(key: str, value: object) -> None:
    changed = device()
    changed[key] = value
    read_or_refuse(encode(page(changed)))
    read_or_refuse(encode(changed))


@FAST
@given(key=st.sampled_from(APP_KEYS), value=json_values)
def test_any_value_for_an_app_report_field_is_read_or_refused(key: str, value: object) -> None:
    changed = device()
    changed["applicationReports"][0][key] = value
    read_or_refuse(encode(page(changed)))


@FAST
@given(data=st.data())
def test_cut_or_corrupted_pages_are_read_or_refused(data: st.DataObject) -> None:
    read_or_refuse(support.cut_or_corrupted(data, encode(page(FULLY_MANAGED, WORK_PROFILE))))


segment = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
packages = st.builds(lambda parts: ".".join(parts), st.lists(segment, min_size=2, max_size=4))
app_states = st.sampled_from([None, "INSTALLED", "REMOVED", "APPLICATION_STATE_UNSPECIFIED"])


def generated_device(number: int, apps: list[tuple[str, str | None]], mode: str, ownership: str) -> dict[str, Any]:
    reports = []
    for package, state in apps:
        report: dict[str, Any] = {"packageName": package, "versionName": "1.0"}
        if state is not None:
            report["state"] = state
        reports.append(report)
    return {"name": f"enterprises/LC0test/devices/d{number}", "managementMode": mode, "ownership": ownership,
            "lastStatusReportTime": "2023-03-14T08:01:02.999999999Z", "applicationReports": reports}


@FAST
@given(devices=st.lists(st.tuples(st.lists(st.tuples(packages, app_states), max_size=12),
                                  st.sampled_from(["DEVICE_OWNER", "PROFILE_OWNER"]),
                                  st.sampled_from(["COMPANY_OWNED", "PERSONALLY_OWNED"])),
                        min_size=1, max_size=5),
       pretty=st.booleans())
def test_generated_devices_round_trip(devices: list[tuple[list[tuple[str, str | None]], str, str]],
                                      pretty: bool) -> None:
    documents = [generated_device(n, apps, mode, owner) for n, (apps, mode, owner) in enumerate(devices)]
    raw = json.dumps(page(*documents), indent=2 if pretty else None).encode()
    reports = read(raw)
    assert [r.device_id for r in reports] == [d["name"] for d in documents]
    for report, (apps, mode, owner) in zip(reports, devices, strict=True):
        installed = {package for package, state in apps if state != "REMOVED"}
        assert identifiers(report) == installed
        assert len(report.apps) == len(installed)
        assert all(a.app.platform is Platform.ANDROID for a in report.apps)
        assert report.visibility is (Visibility.FULL if mode == "DEVICE_OWNER" else Visibility.MANAGED_ONLY)
        assert report.ownership is (Ownership.CORPORATE if owner == "COMPANY_OWNED" else Ownership.PERSONAL)


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


class Trickle(io.RawIOBase):
    """A stream that gives a few bytes per read, as a socket or pipe may."""

    def __init__(self, data: bytes, size: int) -> None:
        self._chunks = chunks(data, size)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        piece = next(self._chunks, b"")
        memoryview(buffer)[: len(piece)] = piece
        return len(piece)


@FAST
@given(size=st.integers(1, 64))
def test_a_trickling_stream_reads_the_same(size: int) -> None:
    data = encode(page(FULLY_MANAGED, WORK_PROFILE))
    stream = io.BufferedReader(Trickle(data, size))
    assert list(AMAPI.read(stream, SOURCE, CATALOG, DEFAULTS)) == read(data)
