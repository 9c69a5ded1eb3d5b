"""osquery: the results log of scheduled queries over the `apps` (macOS) and `programs` (Windows) tables, and the
rows `osqueryi --json` prints.

What the file holds (osquery's documentation, github.com/osquery/osquery `docs/wiki/deployment/logging.md`, and
the code that writes it, `osquery/core/query.cpp`: `addLegacyFieldsAndDecorations`, `serializeQueryLogItem`,
`serializeQueryLogItemAsEvents`):

1. The **results log** (`/var/log/osquery/osqueryd.results.log`, and `osqueryd.snapshots.log`, of the default
   `filesystem` logger; the same lines reach other loggers), one JSON object a line. Every line carries `name`
   (the scheduled query, `pack_<pack>_<query>` for a pack query), `hostIdentifier`, `calendarTime`, `unixTime`,
   `epoch`, `counter`, `numerics` and `decorations` (or the decorations at the top level with
   `--decorations_top_level`; appban reads none of them). Older agents write `unixTime`, `epoch` and `counter` as
   text (`"1412123850"`), and the documentation's event examples name the host `hostname`: both are accepted. Four
   shapes of line:
   - event format (the default, `--logger_event_type=true`): one row a line, `"columns": {...}` with `"action":
     "added"` or `"removed"`;
   - batched format (`--logger_event_type=false`): one line a run, `"diffResults": {"added": [...], "removed":
     [...]}`;
   - snapshot (a query scheduled with `"snapshot": true`): `"action": "snapshot", "snapshot": [...]`;
   - snapshot as events (`--logger_snapshot_event_type=true`): one row a line, `"action": "snapshot"` with
     `"columns"`.
   A line whose `log_type` is `status` (aggregating loggers mix status lines in) is skipped; any other `action` is
   refused.
2. The output of **`osqueryi --json`**: a JSON list of rows. It names neither the host nor the time, so every row
   must carry the host, selected as a column `host_identifier` (or `hostIdentifier`), for example
   `osqueryi --json "SELECT a.*, s.uuid AS host_identifier FROM apps a CROSS JOIN system_info s"`; a row without
   one is refused with that hint. The time is a `unix_time` column if selected (the `time` table's), else the
   import's `--observed-at`. Consecutive rows of one host make one snapshot report.

Which table a row comes from is told by its columns (`specs/darwin/apps.table`, `specs/windows/programs.table`):
a row with `bundle_identifier` is an `apps` row; a row with any of `identifying_number`, `package_family_name`,
`upgrade_code`, `install_location`, `install_source`, `uninstall_string` (and no `bundle_identifier`) is a
`programs` row. A results log holds every scheduled query's results, so lines of other queries (`processes`,
`deb_packages`, ...) are skipped; schedule `SELECT * FROM apps` / `SELECT * FROM programs` (or keep those
columns). Rows of both tables in one run are refused.

- **Platform**: from the table: `apps` rows are macOS (the table exists only there), `programs` rows Windows.
- **Device id**: `hostIdentifier`, which is what osqueryd's `--host_identifier` flag makes it: `hostname` (the
  default; DHCP can change it), `uuid` (the platform's DMTF hardware UUID: the choice for appban, stable and the
  same id Fleet reports as the host `uuid`), `instance` (a UUID made at first start, kept in osquery's database),
  `ephemeral` (made at every start: unusable) or `specified` (`--specified_identifier`).
- **Apps**: an `apps` row is `App(macos, bundle_identifier)` (name: `display_name`, else `bundle_name`, else
  `name`; version: `bundle_short_version`, else `bundle_version`). macOS does not enforce the shape of a
  CFBundleIdentifier: a row without one, or with one no catalogue identity can have (no dot, spaces), names no app
  appban can target and is skipped, so that one odd helper app does not refuse a whole fleet's log.
  A `programs` row with a `package_family_name` (osquery 5.17.0 and later list MSIX / Microsoft Store packages in
  `programs`, "a combination of PackageName and PublisherHash that is used to uniquely identify applications across
  versions and architectures") is `App(windows, package_family_name)`, matched by identifier: the catalogue's
  Windows identities are package family names. Any other `programs` row (Windows Installer and registry programs)
  has no package family name; its `name` is matched to the catalogue the way Intune's detected apps are
  (`appban.inventory.names.CatalogNames`: exact family or product name, else the `name:` identity of the name
  itself), `matched_by=name`. A program without a name is skipped.
- **Runs**: consecutive lines of one host, query name, `unixTime`, `epoch` and `counter` are one run and make one
  report (lines of one run share these; one report per line would give several reports of one time, and a report
  not newer than what is known is not applied). Differential runs are `delta` reports (`removed` lists the removed
  rows' apps not added again in the run: an update logs the old row removed and the new one added). A run with
  `counter` 0 holds all the query's rows ("For initial query results that includes all records counter will be
  "0"", osquery 5.8.0 and later) and, having no removed rows, is a `snapshot` report: after a new epoch or a
  reinstalled agent the apps removed meanwhile are dropped instead of lingering. A snapshot run is a `snapshot`
  report. A run whose lines come back after another run began (lines of hosts interleaved by an aggregating
  logger) is refused: it cannot be one report any more; sort the log by `hostIdentifier` and `unixTime` first. A
  query scheduled with `"removed": false` never logs removals: do not schedule the apps query so.
- **Visibility**: **full** for `apps` (a desktop agent reads every application of the search paths). For
  `programs`, **full** only when the rows carry the `package_family_name` column, which proves osquery 5.17.0 or
  later, whose `programs` lists Microsoft Store packages, the way TikTok is installed on Windows; older agents
  cannot see Store apps, so their reports are **managed_only**: "no TikTok listed" is then not "no TikTok".
- An empty snapshot names no table and is skipped; an empty log (nothing changed since it was rotated) yields
  no report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, BinaryIO

from appban.catalog import Catalog
from appban.errors import InvalidInput, Location
from appban.inventory.interface import (
    MAX_RECORD_APPS,
    DeviceReport,
    InstalledApp,
    MatchedBy,
    ReportDefaults,
    ReportKind,
    Visibility,
)
from appban.inventory.jsonstream import json_lines, json_peek, json_records
from appban.inventory.names import CatalogNames
from appban.inventory.records import IDENTIFIER_PATTERNS, Record, app_identity, default_observed_at
from appban.model import App, Platform

__all__ = ["OSQUERY", "OsqueryFormat", "Table", "table_of"]

_ACTIONS = ("added", "removed", "snapshot")
_PROGRAM_COLUMNS = frozenset({"identifying_number", "package_family_name", "upgrade_code", "install_location",
                              "install_source", "uninstall_string"})
_SHELL_HOST_COLUMNS = ("host_identifier", "hostIdentifier")
_SHELL_HINT = ('select the host into every row, e.g. osqueryi --json "SELECT a.*, s.uuid AS host_identifier FROM '
               'apps a CROSS JOIN system_info s"')


class Table(Enum):
    """The osquery table a row comes from, and the platform its apps belong to."""

    APPS = Platform.MACOS
    PROGRAMS = Platform.WINDOWS


def table_of(row: Mapping[str, Any]) -> Table | None:
    """The table a row's columns show it comes from, or None for a row of any other table."""
    if "bundle_identifier" in row:
        return Table.APPS
    if not _PROGRAM_COLUMNS.isdisjoint(row):
        return Table.PROGRAMS
    return None


class OsqueryFormat:
    """Reads osquery results logs (event, batched and snapshot lines) and `osqueryi --json` rows."""

    name = "osquery"

    def read(self, stream: BinaryIO, source: str, catalog: Catalog, defaults: ReportDefaults,
             ) -> Iterator[DeviceReport]:
        first, stream = json_peek(stream)
        names = CatalogNames(catalog)
        if first == b"[":
            yield from _shell_rows(stream, source, names, defaults)
        else:  # JSON lines; what is not names its line
            yield from _results_log(stream, source, names)


OSQUERY = OsqueryFormat()


@dataclass(slots=True)
class _Run:
    """The lines of one run of one scheduled query on one host, read so far."""

    key: tuple[str, str, dt.datetime, int | None, int | None]
    where: Location
    observed_at: dt.datetime
    snapshot: bool
    counter: int | None
    table: Table | None = None
    added: dict[App, InstalledApp] = field(default_factory=dict)
    removed: dict[App, None] = field(default_factory=dict)
    every_row_has_family_name: bool = True

    @property
    def host(self) -> str:
        return self.key[0]

    def add(self, row: Record, table: Table, action: str, names: CatalogNames) -> None:
        if self.table is None:
            self.table = table
        elif table is not self.table:
            raise InvalidInput.at(row.source, f"{row.label}: a row of the `{table.name.lower()}` table in a run of "
                                  f"`{self.table.name.lower()}` rows", line=row.line,
                                  hint="a scheduled query reads one table")
        if "package_family_name" not in row.value:
            self.every_row_has_family_name = False
        installed = installed_app(row, table, names)
        if installed is None:
            return
        if action == "removed":
            self.removed.setdefault(installed.app)
        else:
            self.added.setdefault(installed.app, installed)
        if len(self.added) + len(self.removed) > MAX_RECORD_APPS:
            raise InvalidInput.at(row.source, f"{row.label}: the run lists more than {MAX_RECORD_APPS} apps",
                                  line=row.line)

    def report(self) -> DeviceReport | None:
        if self.table is None:
            return None
        complete = self.snapshot or (self.counter == 0 and not self.removed)
        visibility = Visibility.FULL
        if self.table is Table.PROGRAMS and not self.every_row_has_family_name:
            visibility = Visibility.MANAGED_ONLY
        return DeviceReport(
            device_id=self.host,
            platform=self.table.value,
            observed_at=self.observed_at,
            apps=tuple(self.added.values()),
            visibility=visibility,
            where=self.where,
            kind=ReportKind.SNAPSHOT if complete else ReportKind.DELTA,
            removed=() if complete else tuple(app for app in self.removed if app not in self.added),
        )


def installed_app(row: Record, table: Table, names: CatalogNames) -> InstalledApp | None:
    """The app one `apps` or `programs` row names, or None for a row that names none appban can target."""
    if table is Table.APPS:
        identifier = row.text("bundle_identifier", required=False)
        name = (row.text("display_name", required=False) or row.text("bundle_name", required=False)
                or row.text("name", required=False))
        version = row.text("bundle_short_version", required=False) or row.text("bundle_version", required=False)
        if identifier is None or not IDENTIFIER_PATTERNS[Platform.MACOS].fullmatch(identifier):
            return None
        return InstalledApp(App(Platform.MACOS, identifier), name, version)
    name = row.text("name", required=False)
    version = row.text("version", required=False)
    family_name = row.text("package_family_name", required=False)
    if family_name is not None:
        app = app_identity(Platform.WINDOWS, family_name, row, "package_family_name")
        return InstalledApp(app, name, version)
    if name is None:
        return None
    return InstalledApp(names.match(Platform.WINDOWS, name), name, version, MatchedBy.NAME)


# --- the results log -------------------------------------------------------------------------------------


def _results_log(stream: BinaryIO, source: str, names: CatalogNames) -> Iterator[DeviceReport]:
    run: _Run | None = None
    finished: set[tuple[str, str, dt.datetime, int | None, int | None]] = set()
    for number, value in json_lines(stream, source):
        line = Record.of(value, source, f"line {number}", number)
        if line.text("log_type", required=False) == "status":
            continue
        snapshot, rows = _rows(line)
        key = (_host(line), line.required_text("name"), _time(line), _count(line, "epoch"), _count(line, "counter"))
        if run is not None and run.key == key:
            if run.snapshot != snapshot:
                raise line.fail("action", "mixes snapshot and differential results in one run",
                                "a scheduled query logs either snapshots or differential results")
        else:
            if run is not None:
                report = run.report()
                if report is not None:
                    finished.add(run.key)
                    yield report
            if key in finished:
                raise InvalidInput.at(source, f"line {number}: more results of the run of `{key[1]}` on "
                                      f"{key[0][:80]!r} at {key[2].isoformat()}, after other lines", line=number,
                                      hint="the lines of one run must be consecutive: sort the log by "
                                      "hostIdentifier and unixTime, or import each host's log on its own")
            run = _Run(key, line.where(), key[2], snapshot, key[4])
        for action, row in rows:
            table = table_of(row.value)
            if table is not None:
                run.add(row, table, action, names)
    if run is not None:
        report = run.report()
        if report is not None:
            yield report


def _rows(line: Record) -> tuple[bool, list[tuple[str, Record]]]:
    """Whether the line holds snapshot rows, and its rows, each with its action."""
    if line.value.get("diffResults") is not None:
        diff = Record.of(line.value["diffResults"], line.source, f"{line.label}, diffResults", line.line)
        rows = [("removed", row) for row in diff.records("removed")]
        rows += [("added", row) for row in diff.records("added")]
        return False, rows
    action = line.text("action", required=False)
    if action is None:
        raise line.fail("action", "is missing, and there is no `diffResults`",
                        "is this an osquery results log? (status logs and other files are not)")
    if action not in _ACTIONS:
        raise line.fail("action", f"cannot be {action[:40]!r}", f"one of: {', '.join(_ACTIONS)}")
    if action == "snapshot" and line.value.get("snapshot") is not None:
        return True, [("snapshot", row) for row in line.records("snapshot")]
    if line.value.get("columns") is None:
        what = "`snapshot` or `columns`" if action == "snapshot" else "`columns`"
        raise line.fail("columns", f"is missing: an {action!r} line holds {what}")
    columns = Record.of(line.value["columns"], line.source, f"{line.label}, columns", line.line)
    return action == "snapshot", [(action, columns)]


def _host(line: Record) -> str:
    if line.has("hostIdentifier") or not line.has("hostname"):
        return line.required_text("hostIdentifier")
    return line.required_text("hostname")  # the documentation's examples of event and batched lines


def _time(line: Record) -> dt.datetime:
    observed = line.timestamp("unixTime")
    assert observed is not None
    return observed


def _count(line: Record, field_name: str) -> int | None:
    text = line.text(field_name, required=False)
    if text is None:
        return None
    if not text.isdigit() or len(text) > 20:
        raise line.fail(field_name, f"must be a whole number, not {text[:40]!r}")
    return int(text)


# --- osqueryi --json -------------------------------------------------------------------------------------


def _shell_rows(stream: BinaryIO, source: str, names: CatalogNames, defaults: ReportDefaults,
                ) -> Iterator[DeviceReport]:
    run: _Run | None = None
    finished: set[str] = set()
    for index, value in enumerate(json_records(stream, source, "item"), start=1):
        row = Record.of(value, source, f"row {index}")
        table = table_of(row.value)
        if table is None:
            raise InvalidInput.at(source, f"row {index}: not a row of the `apps` or `programs` table",
                                  hint="osqueryi --json \"SELECT * FROM apps\" (macOS) or \"... FROM programs\" "
                                  "(Windows), with the host as a `host_identifier` column")
        host = _shell_host(row)
        if run is None or run.host != host:
            if run is not None:
                finished.add(run.host)
                yield from _some(run.report())
            if host in finished:
                raise InvalidInput.at(source, f"row {index}: more rows of host {host[:80]!r} after another host's",
                                      hint="list each host's rows together")
            observed_at = row.timestamp("unix_time", required=False) or default_observed_at(
                defaults, source, "`osqueryi --json` rows do not say when they were taken",
                "select the time into every row (a `unix_time` column from the `time` table) or give it with "
                "--observed-at")
            run = _Run((host, "osqueryi", observed_at, None, None), Location(source), observed_at, True, None)
        run.add(row, table, "snapshot", names)
    if run is not None:
        yield from _some(run.report())


def _shell_host(row: Record) -> str:
    for column in _SHELL_HOST_COLUMNS:
        if row.has(column):
            return row.required_text(column)
    raise row.fail(_SHELL_HOST_COLUMNS[0], "is missing: `osqueryi --json` output names no host", _SHELL_HINT)


def _some(report: DeviceReport | None) -> Sequence[DeviceReport]:
    return () if report is None else (report,)
