"""osquery: results-log lines (event, batched, snapshot, snapshot as events) of `apps` and `programs` queries, and
`osqueryi --json` rows; bad and hostile input."""

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
from appban.inventory import jsonstream, osquery
from appban.inventory.graph import CatalogNames
from appban.inventory.interface import DeviceReport, MatchedBy, ReportDefaults, ReportKind, Visibility
from appban.inventory.osquery import OSQUERY, Table, table_of
from appban.model import App, Platform

from . import support

SOURCE = "osqueryd.results.log"
CATALOG: Catalog = support.CATALOG
NAMES = CatalogNames(CATALOG)
T0 = 1678872600  # 2023-03-15T09:30:00Z
AT0 = dt.datetime(2023, 3, 15, 9, 30, tzinfo=dt.UTC)
HOST = "4AB2906D-5516-5794-AF54-86D1D7F533F3"  # --host_identifier=uuid
WIN_HOST = "0E5A3C7B-2F4D-4B0E-9C1A-6D8E2F3A4B5C"

# Rows as osquery writes them: every selected column, text values ("" for an empty one), from
# specs/darwin/apps.table and specs/windows/programs.table.
SAFARI: dict[str, Any] = {
    "name": "Safari.app", "path": "/Applications/Safari.app", "bundle_executable": "Safari",
    "bundle_identifier": "com.apple.Safari", "bundle_name": "Safari", "bundle_short_version": "16.3",
    "bundle_version": "18614.4.6.1.6", "bundle_package_type": "APPL", "environment": "", "element": "",
    "compiler": "com.apple.compilers.llvm.clang.1_0", "development_region": "en", "display_name": "Safari",
    "info_string": "", "minimum_system_version": "12.6", "category": "public.app-category.productivity",
    "applescript_enabled": "1", "copyright": "2003-2023 Apple Inc.", "last_opened_time": "1678800000.0",
}


def app_row(bundle: str, name: str, version: str = "1.0") -> dict[str, Any]:
    return dict(SAFARI, name=f"{name}.app", path=f"/Applications/{name}.app", bundle_executable=name,
                bundle_identifier=bundle, bundle_name=name, display_name=name, bundle_short_version=version,
                bundle_version=version)


TIKTOK_MAC = app_row("com.zhiliaoapp.musically", "TikTok", "28.5.0")  # the iOS app on an Apple silicon Mac
TIKTOK_STORE: dict[str, Any] = {  # an MSIX package, as osquery 5.17+ lists it
    "name": "TikTok", "version": "1.0.23.0", "install_location":
    "C:\\Program Files\\WindowsApps\\BytedancePte.TikTok_1.0.23.0_x64__6yccndn6064se", "install_source": "",
    "language": "", "publisher": "TikTok Pte. Ltd.", "uninstall_string": "", "install_date": "20230301",
    "identifying_number": "", "package_family_name": "BytedancePte.TikTok_6yccndn6064se", "upgrade_code": "",
}
CHROME_MSI: dict[str, Any] = {
    "name": "Google Chrome", "version": "125.0.6422.142", "install_location":
    "C:\\Program Files\\Google\\Chrome\\Application", "install_source": "", "language": "",
    "publisher": "Google LLC", "uninstall_string": "\"C:\\Program Files\\Google\\Chrome\\Application\\setup.exe\" "
    "--uninstall", "install_date": "20230210", "identifying_number": "{7C2A1F4E-3B1D-4F7C-9E0B-1A2B3C4D5E6F}",
    "package_family_name": "", "upgrade_code": "",
}


def line(action: str | None = "added", columns: object = None, /, **changes: Any) -> dict[str, Any]:
    """One line of the results log, as osquery 5 writes it (addLegacyFieldsAndDecorations)."""
    value: dict[str, Any] = {
        "name": "pack_appban_installed_apps", "hostIdentifier": HOST, "calendarTime": "Wed Mar 15 09:30:00 2023 UTC",
        "unixTime": T0, "epoch": 0, "counter": 4, "numerics": False,
        "decorations": {"host_uuid": HOST, "username": "jdoe"},
    }
    if columns is not None:
        value["columns"] = columns
    if action is not None:
        value["action"] = action
    value.update(changes)
    return value


def snapshot(rows: Any, /, **changes: Any) -> dict[str, Any]:
    return line("snapshot", None, snapshot=rows, **changes)


def batch(added: list[dict[str, Any]], removed: list[dict[str, Any]], /, **changes: Any) -> dict[str, Any]:
    return line(None, None, diffResults={"removed": removed, "added": added}, **changes)


def lines(*values: object) -> bytes:
    return b"".join(json.dumps(value).encode() + b"\n" for value in values)


def read(data: bytes, defaults: ReportDefaults | None = None) -> list[DeviceReport]:
    return support.read(OSQUERY, data, SOURCE, defaults)


def refused(data: bytes, *fragments: str, line_number: int | None = None,
            defaults: ReportDefaults | None = None) -> InvalidInput:
    return support.refused(lambda: read(data, defaults), SOURCE, *fragments, single=True, line=line_number)


def ids(report: DeviceReport) -> list[str]:
    return [entry.app.identifier for entry in report.apps]


# --- the published shapes ----------------------------------------------------------------------------------


def test_differential_event_lines_of_one_run_are_one_delta_report() -> None:
    data = lines(line("added", SAFARI), line("added", TIKTOK_MAC), line("removed", app_row("com.example.old", "Old")))
    (report,) = read(data)
    assert report.device_id == HOST
    assert report.platform is Platform.MACOS
    assert report.observed_at == AT0
    assert report.kind is ReportKind.DELTA
    assert [(a.app, a.name, a.version, a.matched_by) for a in report.apps] == [
        (App(Platform.MACOS, "com.apple.Safari"), "Safari", "16.3", MatchedBy.IDENTIFIER),
        (App(Platform.MACOS, "com.zhiliaoapp.musically"), "TikTok", "28.5.0", MatchedBy.IDENTIFIER),
    ]
    assert report.removed == (App(Platform.MACOS, "com.example.old"),)
    assert report.visibility is Visibility.FULL
    assert (report.where.source, report.where.line) == (SOURCE, 1)


def test_each_run_is_its_own_report_in_order() -> None:
    data = lines(line("added", SAFARI), line("removed", TIKTOK_MAC, unixTime=T0 + 3600, counter=5),
                 line("added", TIKTOK_MAC, unixTime=T0 + 7200, counter=6))
    first, second, third = read(data)
    assert [r.observed_at for r in (first, second, third)] == [AT0, AT0 + dt.timedelta(hours=1),
                                                               AT0 + dt.timedelta(hours=2)]
    assert (ids(first), first.removed) == (["com.apple.Safari"], ())
    assert (second.apps, second.removed) == ((), (App(Platform.MACOS, "com.zhiliaoapp.musically"),))
    assert (ids(third), third.removed, third.where.line) == (["com.zhiliaoapp.musically"], (), 3)


def test_an_update_removes_the_old_row_and_adds_the_new_one_and_the_app_stays() -> None:
    data = lines(line("removed", app_row("com.zhiliaoapp.musically", "TikTok", "28.4.0")),
                 line("added", app_row("com.zhiliaoapp.musically", "TikTok", "28.5.0")))
    (report,) = read(data)
    assert report.kind is ReportKind.DELTA
    assert [(a.app.identifier, a.version) for a in report.apps] == [("com.zhiliaoapp.musically", "28.5.0")]
    assert report.removed == ()


def test_the_first_run_of_an_epoch_holds_every_row_and_is_a_snapshot() -> None:
    (report,) = read(lines(line("added", SAFARI, counter=0), line("added", TIKTOK_MAC, counter=0)))
    assert report.kind is ReportKind.SNAPSHOT
    assert ids(report) == ["com.apple.Safari", "com.zhiliaoapp.musically"]
    # a counter-0 run with removals is not a full listing: it stays a delta
    (report,) = read(lines(line("added", SAFARI, counter=0), line("removed", TIKTOK_MAC, counter=0)))
    assert report.kind is ReportKind.DELTA


def test_a_snapshot_line_is_a_snapshot_report() -> None:
    (report,) = read(lines(snapshot([SAFARI, TIKTOK_MAC], name="pack_appban_apps_snapshot")))
    assert report.kind is ReportKind.SNAPSHOT
    assert ids(report) == ["com.apple.Safari", "com.zhiliaoapp.musically"]
    assert report.removed == ()


def test_snapshot_rows_logged_as_events_are_one_snapshot() -> None:
    data = lines(line("snapshot", SAFARI), line("snapshot", TIKTOK_MAC))  # --logger_snapshot_event_type=true
    (report,) = read(data)
    assert report.kind is ReportKind.SNAPSHOT
    assert ids(report) == ["com.apple.Safari", "com.zhiliaoapp.musically"]


def test_batched_lines_are_one_report_each() -> None:
    data = lines(batch([TIKTOK_MAC], [app_row("com.example.old", "Old")]),
                 batch([SAFARI, TIKTOK_MAC], [], unixTime=T0 + 60, epoch=1, counter=0))
    delta, full = read(data)
    assert (delta.kind, ids(delta), delta.removed) == (ReportKind.DELTA, ["com.zhiliaoapp.musically"],
                                                       (App(Platform.MACOS, "com.example.old"),))
    assert (full.kind, ids(full)) == (ReportKind.SNAPSHOT, ["com.apple.Safari", "com.zhiliaoapp.musically"])


def test_the_documentations_legacy_lines_with_hostname_and_text_numbers_are_read() -> None:
    legacy = {"action": "added", "columns": TIKTOK_MAC, "name": "apps", "hostname": "hostname.local",
              "calendarTime": "Tue Sep 30 17:37:30 2014", "unixTime": "1412123850", "epoch": "314159265",
              "counter": "1"}
    (report,) = read(lines(legacy))
    assert report.device_id == "hostname.local"
    assert report.observed_at == dt.datetime(2014, 10, 1, 0, 37, 30, tzinfo=dt.UTC)  # unixTime, not calendarTime
    assert report.kind is ReportKind.DELTA


def test_decorations_at_the_top_level_are_ignored() -> None:
    value = line("added", SAFARI)
    del value["decorations"]
    value.update(host_uuid=HOST, username="jdoe")  # --decorations_top_level
    (report,) = read(lines(value))
    assert ids(report) == ["com.apple.Safari"]


def test_windows_programs_with_a_package_family_name_are_matched_by_identifier() -> None:
    (report,) = read(lines(snapshot([TIKTOK_STORE, CHROME_MSI], hostIdentifier=WIN_HOST)))
    assert report.platform is Platform.WINDOWS
    store, chrome = report.apps
    assert (store.app, store.matched_by, store.name, store.version) == (
        App(Platform.WINDOWS, "BytedancePte.TikTok_6yccndn6064se"), MatchedBy.IDENTIFIER, "TikTok", "1.0.23.0")
    assert (chrome.app, chrome.matched_by) == (NAMES.match(Platform.WINDOWS, "Google Chrome"), MatchedBy.NAME)
    assert chrome.app.identifier.startswith("name:")
    assert report.visibility is Visibility.FULL  # the package_family_name column: osquery 5.17+, Store apps listed


def test_windows_programs_without_a_package_family_name_are_matched_by_name() -> None:
    old_schema = {key: value for key, value in TIKTOK_STORE.items() if key not in ("package_family_name",
                                                                                    "upgrade_code")}
    (report,) = read(lines(line("added", old_schema, hostIdentifier=WIN_HOST)))
    (entry,) = report.apps
    assert entry.app == NAMES.match(Platform.WINDOWS, "TikTok")
    assert entry.matched_by is MatchedBy.NAME
    # before osquery 5.17 `programs` does not list Microsoft Store packages: the device is seen in part
    assert report.visibility is Visibility.MANAGED_ONLY


def test_apps_without_a_usable_bundle_identifier_are_skipped_not_refused() -> None:
    rows = [app_row("", "NoId"), app_row("MyHelper", "Helper"), app_row("com.example.My App", "Spaces"), SAFARI]
    (report,) = read(lines(snapshot(rows)))
    assert ids(report) == ["com.apple.Safari"]


def test_lines_of_other_queries_are_skipped() -> None:
    processes = {"name": "osqueryd", "path": "/usr/local/bin/osqueryd", "pid": "97830"}
    debs = {"name": "curl", "version": "8.5.0", "source": "", "arch": "amd64", "revision": "", "status": "installed"}
    data = lines(line("added", processes, name="processes"), snapshot([debs], name="pack_linux_debs"),
                 line("added", SAFARI), snapshot([], name="empty_snapshot"),
                 {"log_type": "status", "severity": 0, "filename": "scheduler.cpp", "line": 83, "message": "x"})
    (report,) = read(data)
    assert ids(report) == ["com.apple.Safari"]
    assert read(b"") == []
    assert read(b"\n\n") == []


def test_the_table_is_told_by_its_columns() -> None:
    assert table_of(SAFARI) is Table.APPS
    assert table_of(TIKTOK_STORE) is Table.PROGRAMS
    assert table_of({"name": "x", "identifying_number": ""}) is Table.PROGRAMS
    assert table_of({"name": "x", "version": "1"}) is None
    assert table_of({"name": "x", "bundle_identifier": "", "uninstall_string": ""}) is Table.APPS


def test_runs_of_several_hosts_are_reports_of_each() -> None:
    data = lines(line("added", SAFARI), line("added", TIKTOK_STORE, hostIdentifier=WIN_HOST),
                 line("added", TIKTOK_MAC, unixTime=T0 + 60))
    mac, windows, mac_again = read(data)
    assert [r.device_id for r in (mac, windows, mac_again)] == [HOST, WIN_HOST, HOST]
    assert [r.platform for r in (mac, windows, mac_again)] == [Platform.MACOS, Platform.WINDOWS, Platform.MACOS]


# --- osqueryi --json ----------------------------------------------------------------------------------------


def shell(*rows: dict[str, Any]) -> bytes:
    return json.dumps(list(rows), indent=2).encode()


def test_osqueryi_rows_with_the_host_selected_are_a_snapshot() -> None:
    data = shell(dict(SAFARI, host_identifier=HOST), dict(TIKTOK_MAC, host_identifier=HOST))
    (report,) = read(data, ReportDefaults(observed_at=AT0))
    assert (report.device_id, report.kind, report.observed_at) == (HOST, ReportKind.SNAPSHOT, AT0)
    assert ids(report) == ["com.apple.Safari", "com.zhiliaoapp.musically"]


def test_osqueryi_rows_may_carry_their_time_and_several_hosts() -> None:
    data = shell(dict(SAFARI, host_identifier="mac-1", unix_time=str(T0)),
                 dict(TIKTOK_STORE, hostIdentifier="win-1", unix_time=T0 + 60))
    mac, windows = read(data)
    assert (mac.device_id, mac.platform, mac.observed_at) == ("mac-1", Platform.MACOS, AT0)
    assert (windows.device_id, windows.platform) == ("win-1", Platform.WINDOWS)
    assert read(b"[]") == []


def test_osqueryi_rows_without_a_host_or_a_time_are_refused_with_a_hint() -> None:
    refused(shell(SAFARI), "row 1", "`host_identifier` is missing", "system_info",
            defaults=ReportDefaults(observed_at=AT0))
    refused(shell(dict(SAFARI, host_identifier=HOST)), "do not say when", "--observed-at")
    refused(shell({"name": "curl", "version": "1", "host_identifier": HOST}), "row 1",
            "not a row of the `apps` or `programs` table", defaults=ReportDefaults(observed_at=AT0))
    refused(shell(dict(SAFARI, host_identifier="a"), dict(SAFARI, host_identifier="b"),
                  dict(SAFARI, host_identifier="a")), "row 3", "after another host",
            defaults=ReportDefaults(observed_at=AT0))


# --- bad input ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "fragments"), [
    (line("deleted", SAFARI), ["`action` cannot be 'deleted'", "one of: added, removed, snapshot"]),
    (line(None, SAFARI), ["`action` is missing"]),
    (line("added"), ["`columns` is missing"]),
    (line("snapshot"), ["`columns` is missing"]),
    (line("added", [SAFARI]), ["line 2, columns", "expected an object"]),
    (line("added", SAFARI, hostIdentifier={"uuid": HOST}), ["`hostIdentifier` must be text"]),
    (line("added", SAFARI, hostIdentifier=""), ["`hostIdentifier` is empty"]),
    (line("added", SAFARI, hostIdentifier=None), ["`hostIdentifier` is missing"]),
    (line("added", SAFARI, name=None), ["`name` is missing"]),
    (line("added", SAFARI, unixTime="yesterday"), ["`unixTime` is not a timestamp"]),
    (line("added", SAFARI, unixTime=None), ["`unixTime` is missing"]),
    (line("added", SAFARI, epoch="x"), ["`epoch` must be a whole number"]),
    (line("added", SAFARI, counter=-1), ["`counter` must be a whole number"]),
    (line("added", SAFARI, counter=True), ["`counter` must be text"]),
    (line("added", dict(SAFARI, bundle_identifier=["com.x.y"])), ["line 2, columns", "`bundle_identifier`"]),
    (line("added", dict(TIKTOK_STORE, package_family_name={"a": 1})), ["`package_family_name` must be text"]),
    (line("added", dict(TIKTOK_STORE, package_family_name="bad\x01name")),
     ["`package_family_name`", "not a valid windows app identifier"]),
    (snapshot("rows"), ["`snapshot` must be a list"]),
    (snapshot(["row"]), ["line 2, snapshot[0]", "expected an object"]),
    (line(None, diffResults=[]), ["line 2, diffResults", "expected an object"]),
    (line(None, diffResults={"added": {"a": SAFARI}}), ["`added` must be a list"]),
    (line("added", SAFARI, log_type=["status"]), ["`log_type` must be text"]),
    ("a line", ["line 2", "expected an object"]),
    ([1, 2], ["line 2", "expected an object"]),
])
def test_a_bad_line_is_refused_naming_the_line_and_field(value: object, fragments: list[str]) -> None:
    refused(lines(line("added", SAFARI, unixTime=T0 - 60), value), *fragments, line_number=2)


@pytest.mark.parametrize("raw", [
    b'{"name": "pack_appban_apps", "hostIdentifier": "h", "unixTime": 1678872600, "action": "add',  # cut short
    b"not json at all",
    b'{"name": "x"} trailing',
    b"{'name': 'x'}",
    b"\xff\xfe\x00",
    b"{" * 10_000 + b"}" * 10_000,
])
def test_what_is_not_a_json_line_is_refused_naming_the_line(raw: bytes) -> None:
    refused(lines(line("added", SAFARI)) + raw + b"\n" + lines(line("added", SAFARI)), "not valid JSON",
            line_number=2)


def test_a_bad_first_line_is_named_too() -> None:
    refused(b"garbage\n" + lines(line("added", SAFARI)), "not valid JSON", line_number=1)
    refused(b"42\n", "line 1", "expected an object", line_number=1)


def test_a_line_over_the_size_cap_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonstream, "MAX_LINE_BYTES", 4096)
    big = line("added", dict(SAFARI, copyright="x" * 5000))
    refused(lines(line("added", SAFARI), big), "longer than 4096 bytes", line_number=2)
    assert len(read(lines(line("added", SAFARI)))) == 1


def test_rows_of_two_tables_in_one_run_are_refused() -> None:
    refused(lines(line("added", SAFARI), line("added", TIKTOK_STORE)), "line 2, columns",
            "`programs` table in a run of `apps` rows", line_number=2)


def test_snapshot_and_differential_lines_in_one_run_are_refused() -> None:
    refused(lines(line("added", SAFARI), line("snapshot", TIKTOK_MAC)), "line 2", "`action`",
            "mixes snapshot and differential", line_number=2)


def test_a_run_split_by_other_lines_is_refused() -> None:
    data = lines(line("added", SAFARI), line("added", TIKTOK_STORE, hostIdentifier=WIN_HOST),
                 line("added", TIKTOK_MAC))
    refused(data, "line 3", "after other lines", "sort the log", line_number=3)


def test_a_run_with_too_many_apps_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(osquery, "MAX_RECORD_APPS", 5)
    rows = [line("added", app_row(f"com.example.a{i}", f"A{i}")) for i in range(6)]
    refused(lines(*rows), "line 6", "more than 5 apps", line_number=6)
    refused(lines(snapshot([app_row(f"com.example.a{i}", f"A{i}") for i in range(6)])), "more than 5 apps",
            line_number=1)


# --- properties ---------------------------------------------------------------------------------------------

json_values = support.json_values()
LINE_KEYS = ["name", "hostIdentifier", "hostname", "unixTime", "epoch", "counter", "action", "columns", "snapshot",
             "diffResults", "decorations", "log_type", "numerics"]
ROW_KEYS = ["bundle_identifier", "name", "display_name", "bundle_name", "bundle_short_version", "bundle_version",
            "package_family_name", "identifying_number", "version", "host_identifier", "unix_time"]
FAST = support.fast()


def read_or_refuse(data: bytes, defaults: ReportDefaults | None = None) -> list[DeviceReport] | None:
    return support.read_or_refuse(lambda: read(data, defaults), SOURCE, single=True)


@FAST
@given(key=st.sampled_from(LINE_KEYS), value=json_values,
       shape=st.sampled_from(["event", "snapshot", "batch"]))
def test_any_value_for_a_line_key_is_read_or_refused(key: str, value: object, shape: str) -> None:
    document = {"event": line("added", SAFARI), "snapshot": snapshot([SAFARI]), "batch": batch([SAFARI], [])}[shape]
    document[key] = value
    read_or_refuse(lines(line("added", TIKTOK_MAC), document))


@FAST
@given(key=st.sampled_from(ROW_KEYS), value=json_values, base=st.sampled_from([SAFARI, TIKTOK_STORE, CHROME_MSI]),
       shape=st.sampled_from(["event", "snapshot", "shell"]))
def test_any_value_for_a_row_key_is_read_or_refused(key: str, value: object, base: dict[str, Any],
                                                    shape: str) -> None:
    row = copy.deepcopy(base)
    row[key] = value
    if shape == "shell":
        row.setdefault("host_identifier", HOST)
        read_or_refuse(shell(row), ReportDefaults(observed_at=AT0))
    else:
        read_or_refuse(lines(line("added", row) if shape == "event" else snapshot([row])))


@FAST
@given(values=st.lists(json_values, min_size=1, max_size=4))
def test_any_json_lines_are_read_or_refused(values: list[object]) -> None:
    read_or_refuse(lines(*values))
    read_or_refuse(json.dumps(values).encode(), ReportDefaults(observed_at=AT0))


@FAST
@given(data=st.data())
def test_corrupted_logs_are_read_or_refused(data: st.DataObject) -> None:
    original = lines(line("added", SAFARI), batch([TIKTOK_MAC], [SAFARI], unixTime=T0 + 1),
                     snapshot([TIKTOK_STORE], hostIdentifier=WIN_HOST))
    read_or_refuse(support.corrupted(data, original))


bundles = st.from_regex(r"[a-z][a-z0-9-]{0,8}(\.[a-z0-9_-]{1,8}){1,3}", fullmatch=True)
hosts = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9.-]{0,20}", fullmatch=True)


@FAST
@given(runs=st.lists(st.tuples(hosts, st.lists(bundles, max_size=8), st.lists(bundles, max_size=4),
                               st.sampled_from(["event", "batch", "snapshot", "events-snapshot"])),
                     min_size=1, max_size=5))
def test_valid_logs_round_trip(runs: list[tuple[str, list[str], list[str], str]]) -> None:
    values: list[dict[str, Any]] = []
    for index, (host, added, removed, shape) in enumerate(runs):
        common: dict[str, Any] = {"hostIdentifier": host, "unixTime": T0 + index, "counter": 1 + index}
        if shape == "event":
            values += [line("removed", app_row(b, "X"), **common) for b in removed]
            values += [line("added", app_row(b, "X"), **common) for b in added]
        elif shape == "batch":
            values.append(batch([app_row(b, "X") for b in added], [app_row(b, "X") for b in removed], **common))
        elif shape == "snapshot":
            values.append(snapshot([app_row(b, "X") for b in added], **common))
        else:
            values += [line("snapshot", app_row(b, "X"), **common) for b in added]
    reports = read(lines(*values))
    expected = [run for run in runs if run[1] or (run[2] and run[3] in ("event", "batch"))]
    assert len(reports) == len(expected)
    for report, (host, added, removed, shape) in zip(reports, expected, strict=True):
        assert report.device_id == host
        assert ids(report) == list(dict.fromkeys(added))
        if shape in ("snapshot", "events-snapshot"):
            assert (report.kind, report.removed) == (ReportKind.SNAPSHOT, ())
        else:
            assert report.kind is ReportKind.DELTA
            assert [app.identifier for app in report.removed] == [b for b in dict.fromkeys(removed) if b not in added]
