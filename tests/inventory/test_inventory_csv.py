"""appban's CSV inventory: the documented example, grouping and agreement of rows, strict syntax, properties."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appban.catalog import Catalog
from appban.errors import InvalidInput
from appban.inventory import csv_format
from appban.inventory.csv_format import CSV, OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from appban.inventory.interface import DeviceReport, ReportDefaults, Visibility
from appban.inventory.records import IDENTIFIER_PATTERNS
from appban.model import App, Funding, Ownership, Platform

from . import support

SOURCE = "inventory.csv"
CATALOG: Catalog = support.CATALOG
DOC = Path(__file__).resolve().parents[2] / "docs" / "inventory-csv.md"
HEADER = "device_id,platform,app_identifier,observed_at,app_name,app_version,ownership,holder\n"
T0 = dt.datetime(2023, 3, 15, 9, 30, tzinfo=dt.UTC)


def read(data: bytes | str) -> list[DeviceReport]:
    raw = data.encode() if isinstance(data, str) else data
    return support.read(CSV, raw, SOURCE)


def refused(data: bytes | str, *fragments: str, line: int | None = None) -> InvalidInput:
    return support.refused(lambda: read(data), SOURCE, *fragments, line=line)


# --- the documented format ----------------------------------------------------------------------------------


def test_the_example_in_the_docs_reads_as_described() -> None:
    example = re.search(r"```csv\n(.*?)```", DOC.read_text(), re.S)
    assert example is not None
    phone, ipad, laptop = read(example.group(1))
    assert phone.device_id == "phone-0001"
    assert [a.app.identifier for a in phone.apps] == ["com.zhiliaoapp.musically", "com.whatsapp",
                                                      "org.mozilla.firefox"]
    assert (phone.ownership, phone.funding, phone.enrolled, phone.organisation, phone.holder, phone.name) == (
        Ownership.CORPORATE, Funding.FULL, True, "be-federal", "an.peeters@example.be", "An's phone")
    assert phone.apps[0].name == "TikTok" and phone.apps[0].version == "28.5.4"
    assert (ipad.device_id, ipad.platform, ipad.apps) == ("ipad-0042", Platform.IPADOS, ())
    assert ipad.observed_at == dt.datetime(2023, 3, 15, 9, 0, tzinfo=dt.UTC)  # 10:00+01:00
    assert laptop.visibility is Visibility.MANAGED_ONLY and phone.visibility is Visibility.FULL
    assert laptop.observed_at == dt.datetime(2023, 3, 15, 9, 30, tzinfo=dt.UTC)
    assert laptop.apps[0].app == App(Platform.WINDOWS, "Microsoft.WindowsCalculator_8wekyb3d8bbwe")


def test_the_docs_list_every_column() -> None:
    text = DOC.read_text()
    for column in REQUIRED_COLUMNS + OPTIONAL_COLUMNS:
        assert f"| `{column}` |" in text, column


def test_rows_of_one_device_are_grouped_wherever_they_are() -> None:
    reports = read(HEADER + "d1,android,com.example.a,2023-03-15T09:30:00Z,,,,\n"
                            "d2,ios,com.example.b,2023-03-15T09:30:00Z,,,,\n"
                            "d1,android,com.example.c,2023-03-15T09:30:00Z,,,,\n")
    assert [(r.device_id, [a.app.identifier for a in r.apps]) for r in reports] == [
        ("d1", ["com.example.a", "com.example.c"]), ("d2", ["com.example.b"])]
    assert reports[0].where.line == 2 and reports[1].where.line == 3


def test_empty_cells_state_nothing_and_values_merge() -> None:
    (report,) = read(HEADER + "d1,android,com.example.a,2023-03-15T09:30:00Z,,,,\n"
                              "d1,android,,2023-03-15T10:30:00+01:00,,,corporate,a@example.eu\n")
    assert report.ownership is Ownership.CORPORATE and report.holder == "a@example.eu"
    assert [a.app.identifier for a in report.apps] == ["com.example.a"]
    assert report.observed_at == T0
    assert report.funding is None and report.enrolled is None and report.organisation is None


def test_names_of_columns_and_words_ignore_case_and_spaces() -> None:
    data = " Device_ID , PLATFORM,App_Identifier,Observed_At ,Ownership,Visibility\n" \
           "d1, iOS ,com.example.a,2023-03-15T09:30:00Z,Corporate,Managed_Only\n"
    (report,) = read(data)
    assert (report.platform, report.ownership, report.visibility) == (
        Platform.IOS, Ownership.CORPORATE, Visibility.MANAGED_ONLY)


def test_utf8_bom_crlf_quotes_and_blank_lines_are_fine() -> None:
    data = ("\ufeff" + HEADER.replace("\n", "\r\n")
            + '\r\n"d,1",android,com.example.a,2023-03-15T09:30:00Z,"Say ""hi"", then\r\nleave",1.0,,\r\n'
            + "\r\n")
    (report,) = read(data.encode())
    assert report.device_id == "d,1"
    assert report.apps[0].name == 'Say "hi", then\r\nleave'


def test_times_may_be_seconds_or_milliseconds_since_1970() -> None:
    (report,) = read(HEADER + "d1,android,,1678872600,,,,\nd1,android,com.example.a,1678872600000,,,,\n")
    assert report.observed_at == T0


def test_the_same_app_twice_counts_once() -> None:
    (report,) = read(HEADER + "d1,android,com.example.a,2023-03-15,First,1,,\nd1,android,com.example.a,2023-03-15,"
                              "Second,2,,\n")
    assert [(a.name, a.version) for a in report.apps] == [("First", "1")]


def test_a_header_alone_is_no_devices() -> None:
    assert read(HEADER) == []


def test_identifiers_are_checked_per_platform() -> None:
    (report,) = read(HEADER + "w1,windows,Microsoft.WindowsCalculator_8wekyb3d8bbwe,2023-03-15,,,,\n")
    assert report.apps[0].app.platform is Platform.WINDOWS
    refused(HEADER + "a1,android,1com.example,2023-03-15,,,,\n", "row 2", "`app_identifier`",
            "not a valid android app identifier", line=2)


# --- errors name the row, the line and the column -----------------------------------------------------------


def test_rows_that_disagree_about_their_device_name_both_rows() -> None:
    data = (HEADER + "d1,android,com.example.a,2023-03-15T09:30:00Z,,,corporate,\n"
            "d2,android,com.example.a,2023-03-15T09:30:00Z,,,personal,\n"
            "d1,android,com.example.b,2023-03-15T09:30:00Z,,,personal,\n")
    refused(data, "row 4", "`ownership`", "'personal'", "device 'd1'", "row 2 says 'corporate'", line=4)
    refused(HEADER + "d1,android,,2023-03-15T09:30:00Z,,,,\nd1,ios,,2023-03-15T09:30:00Z,,,,\n",
            "row 3", "`platform`", "row 2 says 'android'")
    refused(HEADER + "d1,android,,2023-03-15T09:30:00Z,,,,\nd1,android,,2023-03-15T09:31:00Z,,,,\n",
            "row 3", "`observed_at`", "row 2 says 2023-03-15T09:30:00+00:00")


@pytest.mark.parametrize(("data", "fragments", "line"), [
    (HEADER + "d1,androidx,com.example.a,2023-03-15,,,,\n", ["row 2", "`platform` cannot be 'androidx'", "ios"], 2),
    (HEADER + ",android,com.example.a,2023-03-15,,,,\n", ["row 2", "`device_id` is missing"], 2),
    (HEADER + "d1,,com.example.a,2023-03-15,,,,\n", ["row 2", "`platform` is missing"], 2),
    (HEADER + "d1,android,com.example.a,,,,,\n", ["row 2", "`observed_at` is missing"], 2),
    (HEADER + "d1,android,com.example.a,yesterday,,,,\n", ["row 2", "`observed_at` is not a timestamp"], 2),
    (HEADER + "d1,android,com.example.a,2023-03-15,,,rented,\n", ["`ownership` cannot be 'rented'"], 2),
    (HEADER + "d1,android,com.example.a,2023-03-15,,,,someone\n", ["`holder` 'someone' is not an e-mail"], 2),
    (HEADER + "d1,android,com.example.a,2023-03-15,,,\n", ["row 2 has 7 cells", "8 columns"], 2),
    (HEADER + "d1,android,com.example.a,2023-03-15,,,,,\n", ["row 2 has 9 cells"], 2),
    ("device_id,platform,app_identifier,observed_at,enrolled\nd1,android,,2023-03-15,maybe\n",
     ["`enrolled` must be true or false"], 2),
    ("device_id,platform,app_identifier,observed_at,funding\nd1,android,,2023-03-15,half\n",
     ["`funding` cannot be 'half'", "partial"], 2),
    ("device_id,platform,app_identifier,observed_at,visibility\nd1,android,,2023-03-15,some\n",
     ["`visibility` cannot be 'some'", "managed_only"], 2),
    (HEADER + "d1,android,com.example.a,2023-03-15,\"multi\nline\",,,\nd2,android,bad id,2023-03-15,,,,\n",
     ["row 3", "`app_identifier`"], 4),
    (HEADER + "d1,android,com.example.a,2023-03-15," + "x" * 5000 + ",,,\n", ["`app_name` is longer than"], 2),
])
def test_bad_cells_are_refused_naming_row_and_column(data: str, fragments: list[str], line: int) -> None:
    refused(data, *fragments, line=line)


@pytest.mark.parametrize(("header", "fragments"), [
    ("device_id,platfrom,app_identifier,observed_at\n", ["unknown column `platfrom`", "did you mean `platform`?",
                                                         "lacks the required column `platform`"]),
    ("device_id,platform,app_identifier,observed_at,colour\n", ["unknown column `colour`", "known columns"]),
    ("device_id,platform,app_identifier,observed_at,platform\n", ["`platform` is named twice"]),
    ("device_id,platform,,app_identifier,observed_at\n", ["column 3 of the header has no name"]),
    ("device_id,app_identifier\n", ["lacks the required columns `platform`, `observed_at`"]),
    ("d1,android,com.example.a,2023-03-15\n", ["unknown column `d1`"]),
    ("\nd1,android,com.example.a,2023-03-15\n", ["the first line is blank"]),
])
def test_a_bad_header_is_refused_at_line_1(header: str, fragments: list[str]) -> None:
    refused(header + "d1,android,com.example.a,2023-03-15\n", *fragments, line=1)


def test_every_header_problem_is_reported_at_once() -> None:
    error = refused("device_idd,platfrom,app_identifier\n")
    assert len(error.problems) == 3


@pytest.mark.parametrize(("data", "fragments", "line"), [
    (b"", ["the file is empty"], None),
    ((HEADER + 'd1,android,"com.example.a,2023-03-15,,,,\n').encode(), ["not valid CSV", "quoted"], 2),
    ((HEADER + "d1,android,com.example.a,2023-03-15,,,,\n" + "d2,android,\x00,2023,,,,\n").encode(),
     ["NUL byte"], 3),
    (HEADER.encode() + "d1,android,com.example.a,2023-03-15,Café,,,\n".encode("latin-1"),
     ["not UTF-8 text"], 2),
    ("device_id,platform,app_identifier,observed_at\n".encode("utf-16"), ["NUL byte"], 1),
    ((HEADER + 'd1,android,"' + "a" * 200_000 + '",2023-03-15,,,,\n').encode(), ["field larger than field limit"],
     2),
    ((HEADER + 'd1,android,"com.example.a"x,2023-03-15,,,,\n').encode(), ["not valid CSV"], 2),
])
def test_broken_files_are_refused(data: bytes, fragments: list[str], line: int | None) -> None:
    refused(data, *fragments, line=line)


def test_an_overlong_line_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert csv_format.MAX_LINE_BYTES == 1024 * 1024
    monkeypatch.setattr(csv_format, "MAX_LINE_BYTES", 100)
    refused(HEADER + "d1,android,com.example.a,2023-03-15," + "x" * 200 + ",,,\n", "longer than 100 bytes", line=2)


def test_an_endless_line_is_refused() -> None:
    with support.deadline(10), pytest.raises(InvalidInput, match="longer than"):
        list(CSV.read(io.BufferedReader(support.Endless(b"x")), SOURCE, CATALOG, ReportDefaults()))


def test_too_many_apps_for_one_device_are_refused() -> None:
    rows = "".join(f"d1,android,com.example.a{i},2023-03-15,,,,\n" for i in range(20_001))
    refused(HEADER + rows, "row 20002", "more than the 20000 accepted")


# --- properties ---------------------------------------------------------------------------------------------

FAST = support.fast()
COLUMNS = list(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
VALID_ROW = {"device_id": "d1", "platform": "android", "app_identifier": "com.example.a",
             "observed_at": "2023-03-15T09:30:00Z", "app_name": "A", "app_version": "1", "ownership": "corporate",
             "funding": "full", "enrolled": "true", "organisation": "org", "holder": "a@example.eu",
             "visibility": "full", "device_name": "Phone"}


def write(rows: list[dict[str, str]], columns: list[str] = COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(column, "") for column in columns])
    return out.getvalue()


@FAST
@given(column=st.sampled_from(COLUMNS), value=st.text(max_size=40))
def test_any_text_in_any_cell_is_read_or_refused(column: str, value: str) -> None:
    data = write([dict(VALID_ROW, **{column: value}), dict(VALID_ROW, app_identifier="com.example.b")])
    support.read_or_refuse(lambda: read(data.encode("utf-8", "surrogatepass")), SOURCE)


@FAST
@given(data=st.binary(max_size=300))
def test_any_bytes_after_a_header_are_read_or_refused(data: bytes) -> None:
    support.read_or_refuse(lambda: read(HEADER.encode() + data), SOURCE)


@FAST
@given(data=st.binary(max_size=200))
def test_any_bytes_at_all_are_read_or_refused(data: bytes) -> None:
    support.read_or_refuse(lambda: read(data), SOURCE)


platforms = st.sampled_from(list(Platform))
identifier_text = {
    Platform.ANDROID: st.from_regex(r"[a-z][a-z0-9_]{0,6}(\.[a-z0-9_]{1,6}){1,3}", fullmatch=True),
    Platform.IOS: st.from_regex(r"[A-Za-z0-9-]{1,6}(\.[A-Za-z0-9-]{1,6}){1,3}", fullmatch=True),
    Platform.IPADOS: st.from_regex(r"[A-Za-z0-9-]{1,6}(\.[A-Za-z0-9-]{1,6}){1,3}", fullmatch=True),
    Platform.MACOS: st.from_regex(r"[A-Za-z0-9-]{1,6}(\.[A-Za-z0-9_-]{1,6}){1,3}", fullmatch=True),
    Platform.WINDOWS: st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._ -]{0,20}[A-Za-z0-9]", fullmatch=True),
}


@st.composite
def inventories(draw: st.DrawFn) -> tuple[dict[str, tuple[Platform, list[str]]], list[dict[str, str]]]:
    devices: dict[str, tuple[Platform, list[str]]] = {}
    for index in range(draw(st.integers(min_value=1, max_value=6))):
        platform = draw(platforms)
        apps = draw(st.lists(identifier_text[platform], max_size=8, unique=True))
        devices[f"device-{index}"] = (platform, apps)
    rows = [{"device_id": device, "platform": platform, "app_identifier": app, "observed_at": "2023-03-15T09:30Z"}
            for device, (platform, apps) in devices.items() for app in apps or [""]]
    return devices, draw(st.permutations(rows))


@FAST
@given(inventory=inventories())
def test_valid_inventories_round_trip_in_any_row_order(
        inventory: tuple[dict[str, tuple[Platform, list[str]]], list[dict[str, str]]]) -> None:
    devices, rows = inventory
    reports = {report.device_id: report for report in read(write(rows, list(REQUIRED_COLUMNS)))}
    assert set(reports) == set(devices)
    for device, (platform, apps) in devices.items():
        report = reports[device]
        assert report.platform is platform
        assert all(IDENTIFIER_PATTERNS[platform].fullmatch(a.app.identifier) for a in report.apps)
        assert sorted(a.app.identifier for a in report.apps) == sorted(apps)
        assert report.observed_at == T0
        assert report.visibility is Visibility.FULL


# --- bounded memory: grouping within a budget, streaming past it ---------------------------------------------


class _Counting(io.BytesIO):
    """A stream that remembers how far it has been read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.most = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.most = self.tell()
        return chunk


def _fleet_csv(devices: int, apps: int = 3) -> str:
    rows = [f"dev-{n:04d},android,com.vendor.app{k},2023-03-15T09:30Z,App {k},1.{k},corporate,"
            for n in range(devices) for k in range(apps)]
    return HEADER + "\n".join(rows) + "\n"


def test_past_the_budget_each_device_is_reported_as_soon_as_its_rows_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_format, "GROUPING_BUDGET", 0)
    data = _fleet_csv(5_000).encode()
    stream = _Counting(data)
    reports = CSV.read(stream, SOURCE, CATALOG, ReportDefaults())
    first = next(reports)
    assert first.device_id == "dev-0000" and len(first.apps) == 3
    assert stream.most < len(data) // 4  # read a small part of the file, not all of it
    rest = list(reports)
    assert [r.device_id for r in rest] == [f"dev-{n:04d}" for n in range(1, 5_000)]


def test_under_the_budget_a_devices_rows_may_be_scattered() -> None:
    reports = read(HEADER + "a,android,com.one.app,2023-03-15T09:30Z,,,,\n"
                   "b,android,com.two.app,2023-03-15T09:30Z,,,,\n"
                   "a,android,com.three.app,2023-03-15T09:30Z,,,,\n")
    assert {r.device_id: [a.app.identifier for a in r.apps] for r in reports} == {
        "a": ["com.one.app", "com.three.app"], "b": ["com.two.app"]}


def test_past_the_budget_scattered_rows_are_refused_naming_both_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_format, "GROUPING_BUDGET", 0)
    error = refused(HEADER + "a,android,com.one.app,2023-03-15T09:30Z,,,,\n"
                    "b,android,com.two.app,2023-03-15T09:30Z,,,,\n"
                    "a,android,com.three.app,2023-03-15T09:30Z,,,,\n",
                    "row 4", "device 'a'", "began at line 2", "sort the file by device_id", line=4)
    assert len(error.problems) == 1


def test_a_later_row_of_a_device_that_breaks_a_rule_is_still_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path for repeated device columns never hides a bad cell: a bad app or a disagreeing row
    goes the full way and is named."""
    refused(HEADER + "a,android,com.one.app,2023-03-15T09:30Z,,,,\n"
            "a,android,not an identifier,2023-03-15T09:30Z,,,,\n", "row 3", "app_identifier", line=3)
    refused(HEADER + "a,android,com.one.app,2023-03-15T09:30Z,,,,\n"
            "a,android,com.two.app,2023-03-16T09:30Z,,,,\n", "row 3", "observed_at", line=3)


@FAST
@given(inventory=inventories(), budget=st.sampled_from([0, 1, 200, 10**9]))
def test_streaming_and_grouping_read_a_grouped_file_alike(
        inventory: tuple[dict[str, tuple[Platform, list[str]]], list[dict[str, str]]], budget: int) -> None:
    _, rows = inventory
    grouped = sorted(rows, key=lambda row: row["device_id"])  # each device's rows together, in file order
    text = write(grouped, list(REQUIRED_COLUMNS))
    whole = read(text)
    original = csv_format.GROUPING_BUDGET
    csv_format.GROUPING_BUDGET = budget
    try:
        streamed = read(text)
    finally:
        csv_format.GROUPING_BUDGET = original
    assert sorted(streamed, key=lambda r: r.device_id) == sorted(whole, key=lambda r: r.device_id)
