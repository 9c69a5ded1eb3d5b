"""appban's own CSV inventory, for any source without a format of its own (docs/inventory-csv.md).

One row per (device, app), a header row first. Required columns: `device_id`, `platform`, `app_identifier`,
`observed_at`; optional: `app_name`, `app_version`, `ownership`, `funding`, `enrolled`, `organisation`,
`holder`, `visibility`, `device_name`. A device with no apps is one row with `app_identifier` empty. A
device's rows must agree on the device's fields (an empty cell states nothing; two different values are an
error naming both rows). In a file up to `GROUPING_BUDGET` a device's rows may be anywhere; past it they must
be together, so that memory stays bounded however large the file.

The file is UTF-8 (a byte-order mark is allowed), comma-separated, with RFC 4180 quoting read strictly: a
stray quote, a NUL byte, a line over `MAX_LINE_BYTES` bytes or a field over the csv module's field size
limit is refused, as are unknown columns (with the closest known name), missing required columns, and rows
with more or fewer cells than the header. Errors name the file, the line, the row and the column.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import BinaryIO, cast

from appban.catalog import Catalog
from appban.errors import InvalidInput, Location
from appban.inventory.csvsyntax import StrictReader, header_columns
from appban.inventory.interface import MAX_RECORD_APPS, DeviceReport, InstalledApp, ReportDefaults, Visibility
from appban.inventory.records import MAX_TEXT, Record, app_identity, known_app
from appban.model import App, Funding, Ownership, Platform

__all__ = [
    "CSV",
    "DEVICE_COLUMNS",
    "GROUPING_BUDGET",
    "MAX_LINE_BYTES",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "CsvFormat",
    "UngroupedRows",
]

REQUIRED_COLUMNS = ("device_id", "platform", "app_identifier", "observed_at")
OPTIONAL_COLUMNS = ("app_name", "app_version", "ownership", "funding", "enrolled", "organisation", "holder",
                    "visibility", "device_name")
# The columns that describe the device, not the app: every row of one device must agree on them.
DEVICE_COLUMNS = ("platform", "observed_at", "ownership", "funding", "enrolled", "organisation", "holder",
                  "visibility", "device_name")
MAX_LINE_BYTES = 1024 * 1024
# A device's rows may be scattered through a file this big: its rows are held until the end. Past it, rows are
# reported device by device as each device's rows end (memory stays bounded for a 2 GB export), so a device
# whose rows come back after other devices' rows is refused.
GROUPING_BUDGET = 64 * 1024 * 1024

_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
_WORDS = ("platform", "ownership", "funding", "visibility")  # read case-insensitively: `iOS` is `ios`
_CACHED = 65_536  # identifier cells and bare apps remembered: a fleet lists a few thousand distinct apps
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(slots=True)
class _Device:
    line: int
    values: dict[str, tuple[object, int]] = field(default_factory=dict)  # column -> (value, row that set it)
    apps: dict[str, InstalledApp] = field(default_factory=dict)  # by identifier (one platform per device)
    cells: tuple[str, ...] = ()  # its id and device cells as its last fully read row wrote them


class UngroupedRows(InvalidInput):
    """Read as grouped, a file whose device rows are not together, though it is small enough to be read whole:
    an importer that can read it again does so without `grouped`."""


class CsvFormat:
    """Reads appban's documented CSV inventory.

    `grouped` reads a file as if its devices' rows were together from the first row (as every export we know
    writes them): each device is reported as soon as its rows end, so an importer stores the first devices
    while the rest is read, instead of after reading up to `GROUPING_BUDGET` whole. A device whose rows come
    back raises UngroupedRows (an InvalidInput) while within the budget, and the usual error past it.
    """

    name = "csv"

    def __init__(self, *, grouped: bool = False) -> None:
        self.grouped = grouped

    def read(self, stream: BinaryIO, source: str, catalog: Catalog, defaults: ReportDefaults,
             ) -> Iterator[DeviceReport]:
        consumed = [0]  # bytes read so far (the grouping budget)
        reader = StrictReader(stream, source, MAX_LINE_BYTES, consumed)
        with reader.reading():
            columns = header_columns(_header_of(reader), source, _COLUMNS, REQUIRED_COLUMNS)
            yield from _read_rows(reader, columns, source, consumed, grouped=self.grouped)


CSV = CsvFormat()


def _header_of(reader: StrictReader) -> Iterator[tuple[int, list[str]]]:
    """The header row as `header_columns` takes it: (line 1, cells)."""
    for cells in reader.rows:
        yield 1, cells
        return


def _read_rows(reader: StrictReader, columns: tuple[str, ...], source: str, consumed: list[int], *,
               grouped: bool = False) -> Iterator[DeviceReport]:
    """The reports of the rows after the header.

    The common row is the next app of the device of the row before, its device columns repeated cell for cell:
    one comparison of those cells (as the row before gave them) recognises it, and only its app is checked,
    through a cache of the identifier cells already found valid. Any other row goes the full way (`_add`),
    which reads every cell and names the one at fault. This loop is the import's per-row cost, so the common
    row calls no Python function.
    """
    width = len(columns)
    id_index = columns.index("device_id")
    key_of = operator.itemgetter(id_index, *(i for i, name in enumerate(columns) if name in DEVICE_COLUMNS))
    app_index = columns.index("app_identifier")
    name_index = columns.index("app_name") if "app_name" in columns else None
    version_index = columns.index("app_version") if "app_version" in columns else None
    valid: dict[object, dict[str, App]] = {platform: {} for platform in Platform}  # identifier cell -> App
    bare: dict[App, InstalledApp] = {}  # one InstalledApp per app listed without a name or a version
    devices: dict[str, _Device] = {}  # devices read and not yet reported (all of them while buffering)
    reported: dict[str, int] = {}  # device id -> line of its first row, once reported (streaming)
    current: str | None = None
    buffering = not grouped
    last_key: tuple[str, ...] | None = None
    device = _Device(0)
    known: dict[str, App] = {}
    end = reader.line_num  # the last line of the row before (the header)
    rows = reader.rows
    for row_number, cells in enumerate(rows, start=2):  # the header is row 1, as a spreadsheet numbers it
        line, end = end + 1, rows.line_num
        if len(cells) != width or key_of(cells) != last_key:
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != width:
                raise InvalidInput.at(source, f"row {row_number} has {len(cells)} cells, the header names "
                                      f"{width} columns", line=line)
            key = key_of(cells)
            device_id = cells[id_index].strip()
            if device_id != current:
                if not buffering and current is not None:
                    finished = devices.pop(current)
                    reported[current] = finished.line
                    yield _report(current, finished, source)
                if device_id in reported:
                    if grouped and consumed[0] <= GROUPING_BUDGET:
                        raise UngroupedRows.at(
                            source, f"row {row_number}: the rows of device {device_id!r} are not together",
                            line=line, hint="read the file again without `grouped`")
                    raise InvalidInput.at(
                        source, f"row {row_number}: the rows of device {device_id!r} are not together: they began "
                        f"at line {reported[device_id]}, and rows of other devices came between",
                        line=line, hint="sort the file by device_id (for example `sort -t, -k1,1 -s`, keeping the "
                        f"header first): files over {GROUPING_BUDGET // 2**20} MiB must list each device's rows "
                        "together")
                current = device_id
                if buffering and consumed[0] > GROUPING_BUDGET:
                    buffering = False  # past the budget: report what is complete, then stream device by device
                    for done in [other for other in devices if other != current]:
                        reported[done] = devices[done].line
                        yield _report(done, devices.pop(done), source)
            found = devices.get(device_id)
            last_key = key
            if found is None or found.cells != key:
                _full(devices, columns, cells, source, row_number, line)
                device = devices[device_id]
                device.cells = key
                known = valid[device.values["platform"][0]]
                continue
            device = found
            known = valid[device.values["platform"][0]]
        cell = cells[app_index]
        app = known.get(cell)
        if app is None:
            identifier = cell.strip()
            if not identifier:
                continue  # "a device with no apps" row, repeated
            app = known_app(cast(Platform, device.values["platform"][0]), identifier)
            if app is None or len(identifier) > MAX_TEXT:
                _full(devices, columns, cells, source, row_number, line)  # raises, naming the cell
                continue
            if len(known) >= _CACHED:
                known.clear()
            known[cell] = app
        apps = device.apps
        identifier = app.identifier
        if identifier in apps:
            continue  # listed twice: the first row's name and version are kept
        if len(apps) >= MAX_RECORD_APPS:
            _full(devices, columns, cells, source, row_number, line)  # raises: one app too many
            continue
        name = cells[name_index].strip() if name_index is not None else ""
        version = cells[version_index].strip() if version_index is not None else ""
        if name or version:
            if len(name) > MAX_TEXT or len(version) > MAX_TEXT:
                _full(devices, columns, cells, source, row_number, line)  # raises, naming the cell
                continue
            apps[identifier] = InstalledApp(app, name or None, version or None)
            continue
        entry = bare.get(app)
        if entry is None:
            if len(bare) >= _CACHED:
                bare.clear()
            entry = bare[app] = InstalledApp(app)
        apps[identifier] = entry
    for device_id, finished in devices.items():
        yield _report(device_id, finished, source)


def _full(devices: dict[str, _Device], columns: tuple[str, ...], cells: list[str], source: str, row: int,
          line: int) -> None:
    """The full way for one row: every cell read, the device's columns checked against its earlier rows."""
    _add(devices, _record(columns, cells, source, row, line), row, line)


def _record(columns: tuple[str, ...], cells: list[str], source: str, row: int, line: int) -> Record:
    values: dict[str, str] = {}
    for name, cell in zip(columns, cells, strict=True):
        value = cell.strip()
        if value:
            values[name] = value.lower() if name in _WORDS else value
    return Record(values, source, f"row {row}", line)


@functools.cache
def _choices(words: type[StrEnum]) -> Mapping[str, StrEnum]:
    return {member.value: member for member in words}


def _device_values(record: Record) -> dict[str, object]:
    holder = record.text("holder", required=False)
    if holder is not None and not _EMAIL.fullmatch(holder):
        raise record.fail("holder", f"{holder!r} is not an e-mail address")
    values: dict[str, object | None] = {
        "platform": record.choice("platform", _choices(Platform)),
        "observed_at": record.timestamp("observed_at"),
        "ownership": record.choice("ownership", _choices(Ownership), required=False),
        "funding": record.choice("funding", _choices(Funding), required=False),
        "enrolled": record.boolean("enrolled"),
        "organisation": record.text("organisation", required=False),
        "holder": holder,
        "visibility": record.choice("visibility", _choices(Visibility), required=False),
        "device_name": record.text("device_name", required=False),
    }
    return {name: value for name, value in values.items() if value is not None}


def _add(devices: dict[str, _Device], record: Record, row: int, line: int) -> None:
    device_id = record.required_text("device_id")
    values = _device_values(record)
    device = devices.setdefault(device_id, _Device(line))
    for name, value in values.items():
        known = device.values.setdefault(name, (value, row))
        if known[0] != value:
            raise record.fail(name, f"is {_show(value)} for device {device_id!r}, but row {known[1]} says "
                              f"{_show(known[0])}", "the rows of one device agree on the device's columns")
    identifier = record.text("app_identifier", required=False)
    if identifier is None:
        return
    app = app_identity(cast(Platform, values["platform"]), identifier, record, "app_identifier")
    if app.identifier not in device.apps and len(device.apps) >= MAX_RECORD_APPS:
        raise record.fail("app_identifier", f"is one app more than the {MAX_RECORD_APPS} accepted for one device")
    device.apps.setdefault(app.identifier, InstalledApp(app, record.text("app_name", required=False),
                                             record.text("app_version", required=False)))


def _report(device_id: str, device: _Device, source: str) -> DeviceReport:
    def value(name: str) -> object:  # typed by `_device_values`, which read each column
        return device.values.get(name, (None, 0))[0]

    return DeviceReport(
        device_id=device_id,
        platform=cast(Platform, value("platform")),
        observed_at=cast(dt.datetime, value("observed_at")),
        apps=tuple(device.apps.values()),
        visibility=cast(Visibility | None, value("visibility")) or Visibility.FULL,
        where=Location(source, device.line),
        ownership=cast(Ownership | None, value("ownership")),
        funding=cast(Funding | None, value("funding")),
        enrolled=cast(bool | None, value("enrolled")),
        organisation=cast(str | None, value("organisation")),
        holder=cast(str | None, value("holder")),
        name=cast(str | None, value("device_name")),
    )


def _show(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return str(value).lower()
    return repr(str(value))
