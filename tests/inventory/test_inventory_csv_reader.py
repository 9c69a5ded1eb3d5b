"""The CSV inventory's fast reading (issue 3): block-wise decoding and the common-row path change nothing.

Every file here is also read the full way, row by row through `_record` and `_add` (what the reader did for
every row before), and the reports must be the same; errors must be the first of the file, at the same line,
whichever block they fall in.
"""

from __future__ import annotations

import csv
import io
import random

import pytest

from appban.errors import InvalidInput
from appban.inventory import DeviceReport, ReportDefaults, csv_format, csvsyntax
from appban.inventory.csv_format import CSV

from . import support

SOURCE = "fleet.csv"
COLUMNS = "device_id,platform,app_identifier,observed_at,app_name,app_version,ownership,visibility,device_name"


def read(data: bytes) -> list[DeviceReport]:
    return list(CSV.read(io.BytesIO(data), SOURCE, support.CATALOG, ReportDefaults()))


def read_the_full_way(data: bytes) -> list[DeviceReport]:
    """The reference: every row through the full path, the file decoded whole."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), strict=True))
    columns = tuple(cell.strip().lower() for cell in rows[0])
    devices: dict[str, csv_format._Device] = {}
    for number, cells in enumerate(rows[1:], start=2):
        if any(cell.strip() for cell in cells):
            csv_format._add(devices, csv_format._record(columns, cells, SOURCE, number, number), number, number)
    return [csv_format._report(device_id, device, SOURCE) for device_id, device in devices.items()]


def _as_tuples(reports: list[DeviceReport]) -> list[tuple[object, ...]]:
    return sorted((r.device_id, r.platform, r.observed_at, r.apps, r.visibility, r.ownership, r.name)
                  for r in reports)


def _fleet(seed: int, devices: int = 300) -> bytes:
    """Rows in runs per device with odd cells: spaces, quotes, names with commas, duplicates, empty device
    columns on later rows, CRLF endings, a byte-order mark, blank lines; some devices' rows scattered."""
    rng = random.Random(seed)
    lines = [COLUMNS]
    said: dict[int, str] = {}
    for n in range(devices):
        platform = rng.choice(["android", "ios", "Android"])
        observed = rng.choice(["2023-03-15T09:30:00Z", "1678872600", "2023-03-15T10:30:00+01:00"])
        said[n] = f"{platform},com.late.app{n},{observed}"
        for k in range(rng.randrange(0, 40)):
            app = f"com.vendor{rng.randrange(30)}.app{rng.randrange(50)}"
            if rng.random() < 0.1:
                app = f"  {app} "
            name = rng.choice(["", "", "Chat, Pro", 'say "hi"', "Ünïcode"])
            quoted = '"' + name.replace('"', '""') + '"' if name else ""
            device_cells = (f"{platform},{app},{observed},{quoted},1.{k}," + ("corporate,full,Phone" if k == 0 or
                            rng.random() < 0.7 else ",,"))
            lines.append(f"dev-{n:04d},{device_cells}")
        if rng.random() < 0.1:
            lines.append(f"dev-{n:04d},{platform},,{observed},,,,,")  # the device-only row
        if rng.random() < 0.05:
            lines.append(",,,,,,,,")
    for n in rng.sample(range(devices), 20):
        lines.append(f"dev-{n:04d},{said[n]},,,,,")
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode()


@pytest.mark.parametrize("seed", range(4))
def test_reports_are_those_of_the_full_way(seed: int) -> None:
    data = _fleet(seed)
    assert len(data) > 3 * csvsyntax.BLOCK  # several blocks
    assert _as_tuples(read(data)) == _as_tuples(read_the_full_way(data))


def test_a_quoted_cell_across_a_block_boundary_and_the_lines_after_it() -> None:
    head = COLUMNS + "\n"
    filler = "".join(f"d{n},android,com.a.b{n},2023-03-15T09:30:00Z,,,corporate,,\n" for n in range(3000))
    assert len(head + filler) > csvsyntax.BLOCK
    text = head + filler + 'x,android,com.x.y,2023-03-15T09:30:00Z,"two\nlines",,corporate,,\n' + "y,andriod,,,,,,,\n"
    error = support.refused(lambda: read(text.encode()), SOURCE, "`platform` cannot be 'andriod'", single=True)
    assert error.problems[0].where.line == 3000 + 4  # the header, 3000 rows, a row of two lines
    reports = read((text.rsplit("y,", 1)[0]).encode())
    assert [entry.name for r in reports if r.device_id == "x" for entry in r.apps] == ["two\nlines"]


@pytest.mark.parametrize(("bad", "fragment"), [
    (b"d,android,com.a\x00b,2023-03-15T09:30:00Z,,,corporate,,\n", "NUL byte"),
    (b"d,android,com.a.b,2023-03-15T09:30:00Z,\xff\xfe,,corporate,,\n", "not UTF-8 text (byte 40 of the line)"),
])
def test_a_bad_line_in_a_later_block_names_its_line(bad: bytes, fragment: str) -> None:
    good = "".join(f"d{n},android,com.a.b{n},2023-03-15T09:30:00Z,,,corporate,,\n" for n in range(5000)).encode()
    data = (COLUMNS + "\n").encode() + good + bad
    assert len(data) > 2 * csvsyntax.BLOCK
    error = support.refused(lambda: read(data), SOURCE, fragment, single=True)
    assert error.problems[0].where.line == 5002


def test_the_first_error_of_the_file_is_the_one_reported() -> None:
    """A bad row before a NUL byte in the same block: the row, as reading line by line found it first."""
    data = (COLUMNS + "\n" + "d,andriod,com.a.b,2023-03-15T09:30:00Z,,,,,\n").encode() + b"e,android,a\x00,x,,,,,\n"
    support.refused(lambda: read(data), SOURCE, "row 2", "`platform`", single=True, line=2)


def test_an_overlong_line_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_format, "MAX_LINE_BYTES", 200)
    rows = "".join(f"d{n},android,com.a.b{n},2023-03-15T09:30:00Z,,,corporate,,\n" for n in range(50))
    long = "e,android,com.a.b,2023-03-15T09:30:00Z," + "x" * 300 + ",,,,\n"
    support.refused(lambda: read((COLUMNS + "\n" + rows + long).encode()), SOURCE, "longer than 200 bytes",
                    single=True, line=52)
    support.refused(lambda: read((COLUMNS + "\n" + rows + long.rstrip("\n")).encode()), SOURCE,
                    "longer than 200 bytes", single=True, line=52)
    assert len(read((COLUMNS + "\n" + rows).encode())) == 50


def test_a_device_seen_after_other_devices_past_the_budget_is_still_refused(monkeypatch: pytest.MonkeyPatch,
                                                                           ) -> None:
    monkeypatch.setattr(csv_format, "GROUPING_BUDGET", 1000)
    rows = "".join(f"d{n},android,com.a.b,2023-03-15T09:30:00Z,,,corporate,,\n" for n in range(3000))
    data = (COLUMNS + "\n" + rows + "d5,android,com.a.c,2023-03-15T09:30:00Z,,,corporate,,\n").encode()
    with pytest.raises(InvalidInput, match="rows of device 'd5' are not together"):
        read(data)
