"""Headwind MDM: the agent's device information, lists of it, the server's device search; bad and hostile JSON."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appban.errors import InvalidInput
from appban.inventory import jsonstream
from appban.inventory.headwind import HEADWIND
from appban.inventory.interface import DeviceReport, ReportDefaults, Visibility
from appban.model import App, Platform

from . import support

SOURCE = "headwind.json"
OBSERVED = dt.datetime(2023, 3, 15, 9, 30, tzinfo=dt.UTC)
DEFAULTS = ReportDefaults(observed_at=OBSERVED)

# What hmdm-android posts to /rest/public/sync/info: DeviceInfo.java serialised by Jackson (nulls of DeviceInfo
# left out, Application's fields all written, as DeviceInfoProvider builds each installed app: name, pkg, version).
AGENT: dict[str, Any] = {
    "model": "SM-A515F",
    "permissions": [1, 1, 1, 0],
    "applications": [
        {"type": None, "name": "TikTok", "pkg": "com.zhiliaoapp.musically", "version": "28.5.4", "url": None,
         "showIcon": False, "remove": False, "runAfterInstall": False, "runAtBoot": False, "skipVersion": False,
         "iconText": None, "icon": None, "screenOrder": None, "keyCode": None},
        {"type": None, "name": "Headwind MDM", "pkg": "com.hmdm.launcher", "version": "6.36", "url": None,
         "showIcon": False, "remove": False, "runAfterInstall": False, "runAtBoot": False, "skipVersion": False,
         "iconText": None, "icon": None, "screenOrder": None, "keyCode": None},
    ],
    "files": [],
    "deviceId": "h0001",
    "phone": "+32470000000",
    "imei": "356938035643809",
    "mdmMode": True,
    "kioskMode": False,
    "batteryLevel": 87,
    "batteryCharging": "",
    "androidVersion": "13",
    "location": {"ts": 1678800000000, "lat": 50.85, "lon": 4.35},
    "launcherType": "",
    "launcherPackage": "com.hmdm.launcher",
    "defaultLauncher": True,
    "iccid": "8932000000000000000",
    "imsi": "206010000000000",
    "cpu": "arm64-v8a",
    "serial": "R58N00000000",
}


def agent(**changes: Any) -> dict[str, Any]:
    value = copy.deepcopy(AGENT)
    value.update(changes)
    return value


def search(*items: dict[str, Any], status: str = "OK") -> dict[str, Any]:
    """The server's answer to POST /rest/private/devices/search (Response wrapping DeviceListView)."""
    return {"status": status, "message": None,
            "data": {"configurations": {"1": {"id": 1, "name": "Office phones"}},
                     "devices": {"items": list(items), "totalItemsCount": len(items)}}}


def device_view(number: str, info: object, /, **changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {"id": 7, "configurationId": 1, "number": number, "description": "Reception tablet",
                             "lastUpdate": 1678872600000, "imei": "356938035643809", "statusCode": "green",
                             "info": info}
    value.update(changes)
    return value


def encode(value: object) -> bytes:
    return json.dumps(value).encode()


def read(data: bytes, defaults: ReportDefaults = DEFAULTS) -> list[DeviceReport]:
    return support.read(HEADWIND, data, SOURCE, defaults)


def refused(data: bytes, *fragments: str, defaults: ReportDefaults = DEFAULTS) -> InvalidInput:
    return support.refused(lambda: read(data, defaults), SOURCE, *fragments)


# --- the published shapes ----------------------------------------------------------------------------------


def test_an_agent_payload_is_one_android_device() -> None:
    (report,) = read(encode(AGENT))
    assert report.device_id == "h0001"
    assert report.platform is Platform.ANDROID
    assert report.observed_at == OBSERVED
    assert [(a.app, a.name, a.version) for a in report.apps] == [
        (App(Platform.ANDROID, "com.zhiliaoapp.musically"), "TikTok", "28.5.4"),
        (App(Platform.ANDROID, "com.hmdm.launcher"), "Headwind MDM", "6.36"),
    ]
    assert report.where.source == SOURCE


def test_the_agent_lists_only_configured_apps_so_the_device_is_seen_in_part() -> None:
    (report,) = read(encode(AGENT))
    assert report.visibility is Visibility.MANAGED_ONLY


def test_the_agent_payload_has_no_report_time() -> None:
    refused(encode(AGENT), "does not say when", "--observed-at", defaults=ReportDefaults())
    (report,) = read(encode(AGENT), ReportDefaults(observed_at=dt.datetime(2023, 3, 15, 9, 30)))
    assert report.observed_at == OBSERVED  # naive means UTC
    # the location fix time is not the inventory time
    assert report.observed_at != dt.datetime.fromtimestamp(AGENT["location"]["ts"] / 1000, dt.UTC)


def test_a_list_of_agent_payloads_is_several_devices() -> None:
    reports = read(encode([AGENT, agent(deviceId="h0002", applications=[])]))
    assert [r.device_id for r in reports] == ["h0001", "h0002"]
    assert reports[1].apps == ()
    assert read(b"[]") == []


def test_the_servers_device_search_is_read_with_its_times() -> None:
    document = search(device_view("h0001", AGENT), device_view("h0002", agent(deviceId="h0002"), lastUpdate=None,
                                                                description=None))
    first, second = read(encode(document))
    assert (first.device_id, first.name) == ("h0001", "Reception tablet")
    assert first.observed_at == dt.datetime(2023, 3, 15, 9, 30, tzinfo=dt.UTC)
    assert [a.app.identifier for a in first.apps] == ["com.zhiliaoapp.musically", "com.hmdm.launcher"]
    assert first.visibility is Visibility.MANAGED_ONLY
    assert (second.device_id, second.name, second.observed_at) == ("h0002", None, OBSERVED)


def test_the_server_number_names_the_device() -> None:
    (report,) = read(encode(search(device_view("office-17", agent(deviceId="old-number")))))
    assert report.device_id == "office-17"


def test_a_device_that_never_posted_its_information_has_no_report() -> None:
    assert read(encode(search(device_view("h0009", None)))) == []
    assert read(encode(search())) == []


def test_the_search_does_not_need_defaults_when_it_has_times() -> None:
    (report,) = read(encode(search(device_view("h0001", AGENT))), ReportDefaults())
    assert report.observed_at == dt.datetime(2023, 3, 15, 9, 30, tzinfo=dt.UTC)
    refused(encode(search(device_view("h0001", AGENT, lastUpdate=None))), "--observed-at",
            defaults=ReportDefaults())


@pytest.mark.parametrize("document", [
    {"status": "ERROR", "message": "error.permission.denied", "data": None},
    {"data": None, "message": "error.permission.denied", "status": "ERROR"},
    {"message": "error.permission.denied", "status": "ERROR"},
    {"data": {"devices": {"items": [device_view("h0001", AGENT)]}}, "status": "ERROR", "message": "late"},
])
def test_a_refused_search_says_so(document: dict[str, Any]) -> None:
    refused(encode(document), "answered 'ERROR'")


def test_a_device_listed_twice_alike_is_read_once_and_differently_is_refused() -> None:
    assert len(read(encode([AGENT, AGENT]))) == 1
    refused(encode([AGENT, agent(batteryLevel=12)]), "device 2", "`deviceId`", "listed again with different data",
            "first as device 1")
    assert len(read(encode(search(device_view("h1", AGENT), device_view("h1", AGENT))))) == 1
    refused(encode(search(device_view("h1", AGENT), device_view("h1", AGENT, lastUpdate=1678872700000))),
            "device 2 (h1)", "`number`", "listed again with different data")


def test_web_links_are_not_packages_and_duplicates_count_once() -> None:
    apps = [{"type": "web", "name": "Intranet", "pkg": None, "url": "https://intranet.example"},
            {"type": "app", "name": "A", "pkg": "com.example.a", "version": "1"},
            {"name": "A again", "pkg": "com.example.a", "version": "2"}]
    (report,) = read(encode(agent(applications=apps)))
    assert [(a.app.identifier, a.name, a.version) for a in report.apps] == [("com.example.a", "A", "1")]


def test_the_document_may_be_pretty_printed_and_keys_reordered() -> None:
    document = dict(sorted(search(device_view("h0001", AGENT)).items()))
    (report,) = read(json.dumps(document, indent=4).encode())
    assert report.device_id == "h0001"
    (report,) = read(b"\n\n  " + json.dumps(dict(sorted(AGENT.items())), indent=2).encode() + b"\n")
    assert report.device_id == "h0001"


# --- bad input ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("document", "fragments"), [
    (agent(deviceId=None), ["device", "`deviceId` is missing"]),
    (agent(deviceId={"id": 1}), ["`deviceId` must be text"]),
    (agent(deviceId=""), ["`deviceId` is empty"]),
    (agent(applications={"pkg": "com.example.a"}), ["device (h0001)", "`applications` must be a list"]),
    (agent(applications=["com.example.a"]), ["device (h0001), applications[0]", "expected an object"]),
    (agent(applications=[{"name": "no package"}]), ["device (h0001), applications[0]", "`pkg` is missing"]),
    (agent(applications=[{"pkg": "TikTok"}]), ["applications[0]", "`pkg`", "not a valid android app identifier"]),
    (agent(applications=[{"pkg": 42}]), ["applications[0]", "`pkg`"]),
    (agent(applications=[{"pkg": "com.example.a", "name": ["x"]}]), ["applications[0]", "`name` must be text"]),
    (agent(applications=[{"pkg": "com.example.a", "version": {"v": 1}}]), ["`version` must be text"]),
    ([AGENT, "h0002"], ["device 2", "expected an object"]),
    ([AGENT, agent(deviceId=None)], ["device 2", "`deviceId` is missing"]),
    (search(device_view("h0001", AGENT, number=None)), ["device 1", "`number` is missing"]),
    (search(device_view("h0001", "not an object")), ["device 1 (h0001), info", "expected an object"]),
    (search(device_view("h0001", AGENT, lastUpdate="yesterday")), ["device 1 (h0001)", "`lastUpdate`"]),
    (search(device_view("h0001", agent(applications=[{"pkg": "bad pkg"}]))),
     ["device 1 (h0001), info, applications[0]", "`pkg`"]),
    ({"status": "OK", "data": {"devices": {"total": 0}}}, ["no `data.devices.items` list"]),
    ({"status": "OK", "data": {"devices": {"items": [1]}}}, ["device 1", "expected an object"]),
    (42, ["expected a JSON object or a list"]),
    ("text", ["expected a JSON object or a list"]),
])
def test_bad_values_are_refused_naming_the_record_and_field(document: object, fragments: list[str]) -> None:
    refused(encode(document), *fragments)


def test_too_many_apps_are_refused() -> None:
    apps = [{"pkg": f"com.example.a{i}"} for i in range(20_001)]
    refused(encode(agent(applications=apps)), "`applications` lists 20001 entries")


@pytest.mark.parametrize("data", [
    b"",
    b"   ",
    b"{",
    b'{"deviceId": "h0001", "applications": [',
    b'[{"deviceId": "h0001"}, ',
    b'{"status": "OK", "data": {"devices": {"items": [{"number": "h1"',
    b'{"deviceId": "h0001"} trailing',
    b'{"deviceId": "h0001"}{"deviceId": "h0002"}',
    b"\xff\xfe{\x00}\x00",
    b'{"deviceId": "h\x00"}',
    b"{deviceId: 'h0001'}",
    b"<plist/>",
    b"\x00" * 100,
])
def test_what_is_not_json_is_refused(data: bytes) -> None:
    refused(data)


def test_deep_nesting_is_refused_quickly() -> None:
    depth = 100_000
    for document in (b'{"deviceId": "h1", "applications": ' + b"[" * depth + b"]" * depth + b"}",
                     b"[" * depth + b"]" * depth,
                     b'{"status": "OK", "data": {"devices": {"items": [' + b"[" * depth + b"]" * depth + b"]}}}"):
        refused(document, "levels deep")


def test_nesting_within_the_limit_is_read() -> None:
    nested: object = "deep"
    for _ in range(jsonstream.MAX_DEPTH - 4):
        nested = [nested]
    (report,) = read(encode(agent(model=nested)))
    assert report.device_id == "h0001"


def test_long_keys_cost_no_more_than_short_ones() -> None:
    key = "k" * 5000
    document = agent(files={key: {key: [1] * 200_000}})
    (report,) = read(encode(document))
    assert report.device_id == "h0001"


def test_a_record_with_too_many_values_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonstream, "MAX_RECORD_EVENTS", 1000)
    many = [{"pkg": f"com.example.a{i}"} for i in range(300)]
    refused(encode(agent(applications=many)), "more than 1000 JSON values")
    refused(encode([agent(applications=many)]), "more than 1000 JSON values")
    refused(encode(search(device_view("h1", agent(applications=many)))), "more than 1000 JSON values")


def test_a_huge_first_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonstream, "MAX_START_BYTES", 4096)
    refused(b'{"' + b"k" * 100_000 + b'": 1}', "JSON")


# --- properties ---------------------------------------------------------------------------------------------

json_values = support.json_values()
AGENT_KEYS = ["deviceId", "applications", "model", "imei", "phone", "batteryLevel", "permissions", "location",
              "mdmMode", "serial"]
APP_KEYS = ["pkg", "name", "version", "type", "remove"]
VIEW_KEYS = ["number", "lastUpdate", "description", "info"]
FAST = support.fast()


def read_or_refuse(data: bytes) -> list[DeviceReport] | None:
    return support.read_or_refuse(lambda: read(data), SOURCE)


@FAST
@given(key=st.sampled_from(AGENT_KEYS), value=json_values, shape=st.sampled_from(["one", "list", "search"]))
def test_any_value_for_a_device_key_is_read_or_refused(key: str, value: object, shape: str) -> None:
    payload = agent(**{key: value})
    document: object = {"one": payload, "list": [payload], "search": search(device_view("h1", payload))}[shape]
    read_or_refuse(encode(document))


@FAST
@given(key=st.sampled_from(APP_KEYS), value=json_values)
def test_any_value_for_an_app_key_is_read_or_refused(key: str, value: object) -> None:
    payload = agent()
    payload["applications"][0][key] = value
    read_or_refuse(encode(payload))


@FAST
@given(key=st.sampled_from(VIEW_KEYS), value=json_values)
def test_any_value_for_a_search_key_is_read_or_refused(key: str, value: object) -> None:
    read_or_refuse(encode(search(device_view("h1", AGENT, **{key: value}))))


@FAST
@given(document=json_values)
def test_any_json_document_is_read_or_refused(document: object) -> None:
    read_or_refuse(encode(document))


@FAST
@given(data=st.data())
def test_corrupted_documents_are_read_or_refused(data: st.DataObject) -> None:
    read_or_refuse(support.corrupted(data, encode(search(device_view("h1", AGENT)))))


packages = st.from_regex(r"[a-z][a-z0-9_]{0,8}(\.[a-z0-9_]{1,8}){1,3}", fullmatch=True)


@FAST
@given(devices=st.lists(st.lists(packages, max_size=15), min_size=1, max_size=5),
       shape=st.sampled_from(["list", "search"]))
def test_valid_documents_round_trip(devices: list[list[str]], shape: str) -> None:
    payloads = [agent(deviceId=f"h{index}", applications=[{"pkg": pkg, "name": pkg.upper(), "version": "1"}
                                                           for pkg in pkgs])
                for index, pkgs in enumerate(devices)]
    document: object = payloads if shape == "list" else search(*[device_view(p["deviceId"], p) for p in payloads])
    reports = read(encode(document))
    assert [r.device_id for r in reports] == [f"h{index}" for index in range(len(devices))]
    for report, pkgs in zip(reports, devices, strict=True):
        assert [a.app.identifier for a in report.apps] == list(dict.fromkeys(pkgs))
