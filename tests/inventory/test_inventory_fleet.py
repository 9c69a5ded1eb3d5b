"""Fleet: the host listing with software and the single-host answer, per platform and software source; bad and
hostile JSON."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appban.catalog import Catalog
from appban.errors import InvalidInput
from appban.inventory import jsonstream
from appban.inventory.fleet import FLEET
from appban.inventory.interface import DeviceReport, MatchedBy, ReportKind, Visibility
from appban.inventory.names import CatalogNames
from appban.model import App, Ownership, Platform

from . import support

SOURCE = "fleet-hosts.json"
CATALOG: Catalog = support.CATALOG
NAMES = CatalogNames(CATALOG)
DETAIL = dt.datetime(2023, 3, 15, 9, 30, tzinfo=dt.UTC)


def software(id_: int, name: Any, version: str, source: Any, **extra: Any) -> dict[str, Any]:
    """One software entry as Fleet serialises `fleet.Software` for a host (server/fleet/software.go)."""
    value: dict[str, Any] = {"id": id_, "name": name, "version": version, "source": source, "extension_id": "",
                             "extension_for": "", "browser": "", "generated_cpe": "", "vulnerabilities": None,
                             "display_name": ""}
    value.update(extra)
    return value


MAC_SOFTWARE = [
    software(321, "Safari.app", "16.3", "apps", bundle_identifier="com.apple.Safari",
             last_opened_at="2023-03-14T21:14:00Z", installed_paths=["/Applications/Safari.app"]),
    software(322, "TikTok.app", "28.5.0", "apps", bundle_identifier="com.zhiliaoapp.musically",
             last_opened_at="", installed_paths=["/Applications/TikTok.app"]),
    software(16923, "Automat", "0.8.0", "python_packages", installed_paths=["/usr/lib/some_path/"]),
    software(40, "uBlock Origin", "1.46.0", "chrome_extensions", extension_id="cjpalhdlnbpafiamejdnhcphjbkeiagm",
             extension_for="chrome", browser="chrome"),
    software(41, "wget", "1.21.3", "homebrew_packages"),
    software(42, "com.example.helper", "1.0", "apps"),  # no bundle identifier: skipped
]


def host(id_: int, uuid: str, platform: str, software_: list[dict[str, Any]] | None, /,
         **changes: Any) -> dict[str, Any]:
    """One host as `GET /api/v1/fleet/hosts?populate_software=...` lists it (fields of the REST API reference)."""
    value: dict[str, Any] = {
        "created_at": "2023-02-26T22:33:12Z", "updated_at": "2023-03-15T09:30:00Z", "id": id_,
        "detail_updated_at": "2023-03-15T09:30:00Z", "last_restarted_at": "2023-03-01T03:01:45Z",
        "software_updated_at": "2023-03-10T05:09:44Z", "label_updated_at": "2023-03-15T05:14:51Z",
        "policy_updated_at": "2023-03-15T05:14:51Z", "last_enrolled_at": "2023-02-26T22:33:12Z",
        "seen_time": "2023-03-15T10:03:39Z", "hostname": f"host-{id_}.local", "uuid": uuid, "platform": platform,
        "osquery_version": "5.17.0", "os_version": "", "build": "", "platform_like": "", "code_name": "",
        "uptime": 8305000000000, "memory": 2084032512, "cpu_type": "", "cpu_subtype": "", "cpu_brand": "",
        "cpu_physical_cores": 4, "cpu_logical_cores": 4, "hardware_vendor": "", "hardware_model": "",
        "hardware_version": "", "hardware_serial": "", "computer_name": f"Host {id_}",
        "display_name": f"Host {id_}", "public_ip": "", "primary_ip": "", "primary_mac": "",
        "distributed_interval": 10, "config_tls_refresh": 10, "logger_tls_period": 8, "additional": {},
        "status": "online", "display_text": f"Host {id_}", "team_id": None, "team_name": None,
        "gigs_disk_space_available": 174.98, "percent_disk_space_available": 71, "gigs_total_disk_space": 246,
        "issues": {"failing_policies_count": 1, "critical_vulnerabilities_count": 2, "total_issues_count": 3},
        "mdm": {"encryption_key_available": False, "enrollment_status": "On (manual)", "name": "Fleet",
                "server_url": "https://example.fleetdm.com/mdm/apple/mdm"},
    }
    if software_ is not None:
        value["software"] = software_
    value.update(changes)
    return value


def mdm(status: str | None) -> dict[str, Any]:
    return {"encryption_key_available": False, "enrollment_status": status, "name": "Fleet",
            "server_url": "https://example.fleetdm.com/mdm/apple/mdm"}


MAC = host(1, "392547DC-0000-0000-A87A-D701FF75BC65", "darwin", MAC_SOFTWARE)
WINDOWS = host(2, "0E5A3C7B-2F4D-4B0E-9C1A-6D8E2F3A4B5C", "windows", [
    software(501, "TikTok", "1.0.23.0", "programs", vendor="TikTok Pte. Ltd."),
    software(502, "Google Chrome", "125.0.6422.142", "programs", vendor="Google LLC",
             upgrade_code="{C1DFDF69-5945-32F2-A35E-EE94C99C7CF4}"),
    software(503, "Chocolatey", "2.2.2", "chocolatey_packages"),
    software(504, "", "1.0", "programs"),  # no name: skipped
], mdm=mdm("Off"))
IPHONE = host(3, "00008110-000A1C2E3F4A801E", "ios", [
    software(601, "TikTok", "28.5.0", "ios_apps", bundle_identifier="com.zhiliaoapp.musically"),
    software(602, "Outlook", "4.2310.0", "ios_apps", bundle_identifier="com.microsoft.Office.Outlook"),
], mdm=mdm("On (automatic)"), osquery_version="")
IPAD = host(4, "enrollment-id-12345", "ipados", [
    software(701, "Douyin", "25.0", "ipados_apps", bundle_identifier="com.ss.iphone.ugc.Aweme"),
], mdm=mdm("On (personal)"), osquery_version="", hardware_serial="")
PIXEL = host(5, "enrollment-id-67890", "android", [
    software(801, "TikTok", "33.1.4", "android_apps", application_id="com.zhiliaoapp.musically"),
], mdm=mdm("On (manual - personal)"), osquery_version="")
UBUNTU = host(6, "4C4C4544-0000-1010-8000-B7C04F333033", "ubuntu", [
    software(901, "curl", "8.5.0", "deb_packages"),
], mdm=None)
CHROMEBOOK = host(7, "chromebook-1", "chrome", [
    software(1001, "TikTok", "1", "chrome_extensions"),
], mdm=None)


def listing(*hosts: object, **extra: Any) -> dict[str, Any]:
    return {"hosts": list(hosts), **extra}


def encode(value: object) -> bytes:
    return json.dumps(value).encode()


def read(data: bytes) -> list[DeviceReport]:
    return support.read(FLEET, data, SOURCE)


def refused(data: bytes, *fragments: str) -> InvalidInput:
    return support.refused(lambda: read(data), SOURCE, *fragments, single=True)


def by_id(reports: list[DeviceReport]) -> dict[str, DeviceReport]:
    return {report.device_id: report for report in reports}


# --- the published shapes ----------------------------------------------------------------------------------


def test_a_listing_of_hosts_is_a_snapshot_of_each_app_platform_host() -> None:
    reports = read(encode(listing(MAC, WINDOWS, IPHONE, IPAD, PIXEL, UBUNTU, CHROMEBOOK)))
    assert [r.device_id for r in reports] == [MAC["uuid"], WINDOWS["uuid"], IPHONE["uuid"], IPAD["uuid"],
                                              PIXEL["uuid"]]
    assert [r.platform for r in reports] == [Platform.MACOS, Platform.WINDOWS, Platform.IOS, Platform.IPADOS,
                                             Platform.ANDROID]
    assert all(r.kind is ReportKind.SNAPSHOT and r.removed == () for r in reports)
    assert all(r.observed_at == DETAIL and r.enrolled is True for r in reports)


def test_a_mac_lists_its_apps_by_bundle_identifier_and_nothing_else() -> None:
    (report,) = read(encode(listing(MAC)))
    assert [(a.app, a.name, a.version, a.matched_by) for a in report.apps] == [
        (App(Platform.MACOS, "com.apple.Safari"), "Safari.app", "16.3", MatchedBy.IDENTIFIER),
        (App(Platform.MACOS, "com.zhiliaoapp.musically"), "TikTok.app", "28.5.0", MatchedBy.IDENTIFIER),
    ]
    assert report.visibility is Visibility.FULL
    assert report.name == "Host 1"
    assert report.ownership is None  # "On (manual)" says nothing of who owns it


def test_windows_programs_are_matched_by_name() -> None:
    (report,) = read(encode(listing(WINDOWS)))
    assert [(a.app, a.name, a.matched_by) for a in report.apps] == [
        (NAMES.match(Platform.WINDOWS, "TikTok"), "TikTok", MatchedBy.NAME),
        (NAMES.match(Platform.WINDOWS, "Google Chrome"), "Google Chrome", MatchedBy.NAME),
    ]


@pytest.mark.parametrize(("version", "visibility"), [
    ("5.17.0", Visibility.FULL), ("5.18.1", Visibility.FULL), ("6.0", Visibility.FULL),
    ("5.16.0", Visibility.MANAGED_ONLY), ("4.9.0", Visibility.MANAGED_ONLY), ("", Visibility.MANAGED_ONLY),
    (None, Visibility.MANAGED_ONLY), ("unknown", Visibility.MANAGED_ONLY),
])
def test_windows_is_seen_whole_only_by_an_agent_that_lists_store_apps(version: str | None,
                                                                        visibility: Visibility) -> None:
    (report,) = read(encode(listing(dict(WINDOWS, osquery_version=version))))
    assert report.visibility is visibility


def test_mobile_apps_are_read_by_their_identifiers() -> None:
    reports = by_id(read(encode(listing(IPHONE, IPAD, PIXEL))))
    assert [a.app for a in reports[IPHONE["uuid"]].apps] == [App(Platform.IOS, "com.zhiliaoapp.musically"),
                                                             App(Platform.IOS, "com.microsoft.Office.Outlook")]
    assert [a.app for a in reports[IPAD["uuid"]].apps] == [App(Platform.IPADOS, "com.ss.iphone.ugc.Aweme")]
    assert [a.app for a in reports[PIXEL["uuid"]].apps] == [App(Platform.ANDROID, "com.zhiliaoapp.musically")]


@pytest.mark.parametrize(("platform", "status", "visibility", "ownership"), [
    ("ios", "On (automatic)", Visibility.FULL, Ownership.CORPORATE),
    ("ios", "On (company-owned)", Visibility.FULL, Ownership.CORPORATE),
    ("ipados", "On (manual)", Visibility.FULL, None),
    ("ios", "On (personal)", Visibility.MANAGED_ONLY, Ownership.PERSONAL),
    ("ipados", "On (manual - personal)", Visibility.MANAGED_ONLY, Ownership.PERSONAL),
    ("ios", "Off", Visibility.MANAGED_ONLY, None),
    ("ios", "Pending", Visibility.MANAGED_ONLY, None),
    ("ios", None, Visibility.MANAGED_ONLY, None),
    ("android", "On (manual - personal)", Visibility.MANAGED_ONLY, Ownership.PERSONAL),
    ("android", "On (company-owned)", Visibility.MANAGED_ONLY, Ownership.CORPORATE),
    ("darwin", "On (personal)", Visibility.FULL, Ownership.PERSONAL),
])
def test_visibility_and_ownership_follow_the_enrollment(platform: str, status: str | None, visibility: Visibility,
                                                         ownership: Ownership | None) -> None:
    (report,) = read(encode(listing(host(9, "U9", platform, [], mdm=mdm(status)))))
    assert (report.visibility, report.ownership) == (visibility, ownership)
    (report,) = read(encode(listing(host(9, "U9", platform, [], mdm=None))))
    assert report.ownership is None


def test_a_single_host_answer_is_one_report() -> None:
    (report,) = read(encode({"host": IPHONE}))
    assert report.device_id == IPHONE["uuid"]
    assert [a.app.identifier for a in report.apps] == ["com.zhiliaoapp.musically", "com.microsoft.Office.Outlook"]
    assert read(encode({"host": UBUNTU})) == []


def test_filters_add_top_level_keys_that_are_ignored() -> None:
    document = listing(MAC, software_title={"id": 12, "name": "TikTok", "source": "apps"},
                       mobile_device_management_solution={"server_url": "http://some.url/mdm", "name": "Fleet",
                                                          "id": 999})
    (report,) = read(encode(document))
    assert report.device_id == MAC["uuid"]
    (report,) = read(encode(dict(sorted(document.items(), reverse=True))))  # keys in any order
    assert report.device_id == MAC["uuid"]


def test_the_report_time_is_the_latest_of_details_and_software() -> None:
    later = "2023-03-16T08:00:00Z"
    (report,) = read(encode(listing(dict(MAC, software_updated_at=later))))
    assert report.observed_at == dt.datetime(2023, 3, 16, 8, tzinfo=dt.UTC)
    (report,) = read(encode(listing(dict(MAC, detail_updated_at=None))))
    assert report.observed_at == dt.datetime(2023, 3, 10, 5, 9, 44, tzinfo=dt.UTC)


def test_a_host_not_yet_refreshed_or_without_a_uuid_has_no_report() -> None:
    fresh = dict(MAC, detail_updated_at="1970-01-02T00:00:00Z", software_updated_at="1970-01-02T00:00:00Z")
    assert read(encode(listing(fresh, dict(IPHONE, uuid="")))) == []


def test_hosts_without_software_are_skipped_but_a_listing_without_any_is_refused() -> None:
    (report,) = read(encode(listing(host(11, "U11", "darwin", None), MAC)))
    assert report.device_id == MAC["uuid"]
    refused(encode(listing(host(11, "U11", "darwin", None), host(12, "U12", "ios", None))),
            "no host lists its software", "populate_software")
    refused(encode({"host": host(11, "U11", "windows", None)}), "no host lists its software")
    assert read(encode(listing(dict(UBUNTU, software=None)))) == []  # no app platform host: nothing to ask for
    assert read(encode(listing())) == []


def test_out_of_scope_platforms_are_skipped() -> None:
    others = [host(20 + i, f"L{i}", platform, [software(1, "x", "1", "deb_packages")])
              for i, platform in enumerate(["ubuntu", "rhel", "centos", "debian", "fedora", "amzn", "arch", "chrome",
                                            "", "visionos"])]
    assert read(encode(listing(*others))) == []


def test_a_host_listed_twice_alike_is_read_once_and_differently_is_refused() -> None:
    assert len(read(encode(listing(MAC, MAC)))) == 1
    refused(encode(listing(MAC, dict(MAC, seen_time="2023-03-16T10:03:39Z"))), "host 2 (392547DC",
            "`uuid`", "listed again with different data", "first as host 1")


def test_an_api_error_is_refused_with_fleets_words() -> None:
    error = {"message": "Authentication failed", "errors": [{"name": "base", "reason": "Authentication failed"}],
             "uuid": "1272014b-902b-4b36-bcdb-75fde5eac1fc"}
    refused(encode(error), "Fleet answered with an error", "Authentication failed")
    refused(encode({"errors": "nope"}), "Fleet answered with an error")


# --- bad input ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("document", "fragments"), [
    (listing(dict(MAC, uuid=None)), ["host 1", "`uuid` is missing"]),
    (listing(dict(MAC, uuid={"a": 1})), ["host 1", "`uuid` must be text"]),
    (listing(dict(MAC, platform=["darwin"])), ["host 1 (392547DC", "`platform` must be text"]),
    (listing(dict(MAC, software={"a": 1})), ["`software` must be a list"]),
    (listing(dict(MAC, software=["com.apple.Safari"])), ["host 1 (392547DC", "software[0]", "expected an object"]),
    (listing(dict(MAC, detail_updated_at="yesterday")), ["`detail_updated_at` is not a timestamp"]),
    (listing(dict(MAC, detail_updated_at=None, software_updated_at=None)), ["`detail_updated_at` is missing"]),
    (listing(dict(MAC, mdm="On")), ["host 1 (392547DC", "mdm", "expected an object"]),
    (listing(dict(MAC, mdm={"enrollment_status": [1]})), ["`enrollment_status` must be text"]),
    (listing(dict(WINDOWS, osquery_version={"v": 5})), ["`osquery_version` must be text"]),
    (listing(dict(MAC, display_name=["x"])), ["`display_name` must be text"]),
    (listing(dict(IPHONE, software=[software(1, "TikTok", "1", "ios_apps")])),
     ["software[0]", "`bundle_identifier` is missing"]),
    (listing(dict(IPHONE, software=[software(1, "X", "1", "ios_apps", bundle_identifier="not a bundle")])),
     ["software[0]", "`bundle_identifier`", "not a valid ios app identifier"]),
    (listing(dict(PIXEL, software=[software(1, "X", "1", "android_apps", application_id="TikTok")])),
     ["software[0]", "`application_id`", "not a valid android app identifier"]),
    (listing(dict(MAC, software=[software(1, "X", "1", {"apps": True})])), ["software[0]", "`source` must be text"]),
    (listing(dict(MAC, software=[software(1, ["X"], "1", "apps", bundle_identifier="com.x.y")])),
     ["`name` must be text"]),
    (listing("a host"), ["host 1", "expected an object"]),
    ({"host": "a host"}, ["host", "expected an object"]),
    ({"hosts": {"uuid": "U1"}}, ["no `hosts` list"]),
    ({"count": 3}, ["no `hosts` list"]),
    ([MAC], ["expected a JSON object"]),
    ("hosts", ["expected a JSON object"]),
])
def test_bad_values_are_refused_naming_the_host_and_field(document: object, fragments: list[str]) -> None:
    refused(encode(document), *fragments)


@pytest.mark.parametrize("data", [
    b"",
    b"   ",
    b"{",
    b'{"hosts": [',
    b'{"hosts": [{"uuid": "U1", "platform": "darwin", "software": [',
    b'{"host": {"uuid": "U1"',
    b'{"hosts": []} trailing',
    b"{hosts: []}",
    b"\xff\xfe{\x00}\x00",
    b"<html>502 Bad Gateway</html>",
])
def test_what_is_not_json_is_refused(data: bytes) -> None:
    refused(data)


def test_deep_nesting_is_refused_quickly() -> None:
    depth = 100_000
    refused(b'{"hosts": [' + b"[" * depth + b"]" * depth + b"]}", "levels deep")
    refused(b'{"host": ' + b"[" * depth + b"]" * depth + b"}", "levels deep")


def test_a_host_with_too_many_values_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonstream, "MAX_RECORD_EVENTS", 1000)
    many = [software(i, f"A{i}", "1", "apps", bundle_identifier=f"com.example.a{i}") for i in range(300)]
    refused(encode(listing(dict(MAC, software=many))), "more than 1000 JSON values")
    refused(encode({"host": dict(MAC, software=many)}), "more than 1000 JSON values")


def test_too_many_software_entries_are_refused() -> None:
    many = [{"name": "x", "source": "npm_packages"}] * 20_001
    refused(encode(listing(dict(MAC, software=many))), "`software` lists 20001 entries")


# --- properties ---------------------------------------------------------------------------------------------

json_values = support.json_values()
HOST_KEYS = ["uuid", "platform", "software", "detail_updated_at", "software_updated_at", "mdm", "osquery_version",
             "display_name", "computer_name", "hostname", "id"]
SOFTWARE_KEYS = ["name", "version", "source", "bundle_identifier", "application_id", "vulnerabilities"]
FAST = support.fast()
BASES = [MAC, WINDOWS, IPHONE, IPAD, PIXEL]


def read_or_refuse(data: bytes) -> list[DeviceReport] | None:
    return support.read_or_refuse(lambda: read(data), SOURCE, single=True)


@FAST
@given(key=st.sampled_from(HOST_KEYS), value=json_values, base=st.sampled_from(BASES),
       single=st.booleans())
def test_any_value_for_a_host_key_is_read_or_refused(key: str, value: object, base: dict[str, Any],
                                                     single: bool) -> None:
    changed = copy.deepcopy(base)
    changed[key] = value
    read_or_refuse(encode({"host": changed} if single else listing(MAC, changed)))


@FAST
@given(key=st.sampled_from(SOFTWARE_KEYS), value=json_values, base=st.sampled_from(BASES))
def test_any_value_for_a_software_key_is_read_or_refused(key: str, value: object, base: dict[str, Any]) -> None:
    changed = copy.deepcopy(base)
    changed["software"][0][key] = value
    read_or_refuse(encode(listing(changed)))


@FAST
@given(document=json_values)
def test_any_json_document_is_read_or_refused(document: object) -> None:
    read_or_refuse(encode(document))
    read_or_refuse(encode({"hosts": document}))
    read_or_refuse(encode({"host": document}))


@FAST
@given(data=st.data())
def test_corrupted_documents_are_read_or_refused(data: st.DataObject) -> None:
    read_or_refuse(support.corrupted(data, encode(listing(MAC, IPHONE, WINDOWS))))


bundles = st.from_regex(r"[a-z][a-z0-9]{0,8}(\.[a-z][a-z0-9]{0,7}){1,3}", fullmatch=True)  # valid on every platform
OTHER_SOURCES = ["python_packages", "chrome_extensions", "deb_packages", "homebrew_packages", "vscode_extensions"]


@FAST
@given(hosts=st.lists(st.tuples(st.sampled_from(["darwin", "ios", "ipados", "android"]),
                                st.lists(st.tuples(bundles, st.booleans()), max_size=10)),
                      min_size=1, max_size=5))
def test_valid_listings_round_trip(hosts: list[tuple[str, list[tuple[str, bool]]]]) -> None:
    field = {"darwin": "bundle_identifier", "ios": "bundle_identifier", "ipados": "bundle_identifier",
             "android": "application_id"}
    source = {"darwin": "apps", "ios": "ios_apps", "ipados": "ipados_apps", "android": "android_apps"}
    values = []
    for index, (platform, entries) in enumerate(hosts):
        listed = [software(n, f"App {n}", "1", source[platform], **{field[platform]: bundle}) if app
                  else software(n, bundle, "1", OTHER_SOURCES[n % len(OTHER_SOURCES)])
                  for n, (bundle, app) in enumerate(entries)]
        values.append(host(index, f"U{index}", platform, listed))
    reports = read(encode(listing(*values)))
    assert [r.device_id for r in reports] == [f"U{index}" for index in range(len(hosts))]
    for report, (_platform, entries) in zip(reports, hosts, strict=True):
        assert [a.app.identifier for a in report.apps] == list(dict.fromkeys(b for b, app in entries if app))
