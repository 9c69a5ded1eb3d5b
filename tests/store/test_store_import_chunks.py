"""An import read ahead in small chunks (issue 3) stores what one chunk read in line stores, and nothing on error.

`import_stream` reads the next chunk of a pure format in a thread while the session stores the last one, and
cuts chunks by app rows as well as by reports. The same file imported both ways must leave the same
inventories, app rows, report history, devices and findings; a file with an error in its last row must leave
nothing, and no reading thread behind.
"""

from __future__ import annotations

import datetime as dt
import io
import threading
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from appban.catalog import default_catalog
from appban.errors import InvalidInput
from appban.inventory import InventoryFormat, ReportDefaults
from appban.inventory.csv_format import CSV, CsvFormat, UngroupedRows
from appban.service import ImportSummary, PolicyContext, import_stream, importing, load_context
from appban.store import Database

from .store_examples import seed_examples

NOW = dt.datetime(2023, 3, 20, 12, 0, tzinfo=dt.UTC)
TIKTOK = "com.zhiliaoapp.musically"
HEADER = "device_id,platform,app_identifier,observed_at,app_name,app_version,ownership\n"
TABLES = {
    "inventories": "device_id, observed_at, visibility, source_format, received_at",
    "device_apps": "device_id, platform, identifier, name, version, matched_by, present_since",
    "inventory_reports": "device_id, source_format, source_file, observed_at, received_at, kind, visibility, "
                         "app_count, applied",
    "devices": "id, organisation_id, platform, ownership, funding, enrolled",
    "findings": "device_id, restriction_id, state, reason, deadline, apps, shadow, since",
    "finding_events": "device_id, restriction_id, at, state_from, state_to, shadow",
}


def _fleet(prefix: str, devices: int = 60) -> str:
    rows = []
    for n in range(devices):
        apps = [f"com.vendor{k}.app" for k in range(n % 17)] + ([TIKTOK] if n % 5 == 0 else [])
        for k, app in enumerate(apps or [""]):
            rows.append(f"{prefix}-{n:03d},android,{app},2023-03-20T08:00:00Z,App {k},1.{k},corporate\n")
    return HEADER + "".join(rows)


def _import(database: Database, data: str) -> None:
    with database.session() as session:
        import_stream(session, load_context(session), CSV, io.BytesIO(data.encode()), "fleet.csv",
                      ReportDefaults(organisation="eu-commission"), NOW)


def _contents(database: Database, prefix: str) -> dict[str, list[tuple[object, ...]]]:
    with database.session() as session:
        out = {}
        for table, columns in TABLES.items():
            key = "id" if table == "devices" else "device_id"
            rows = session.execute(text(f"SELECT {columns} FROM {table} WHERE {key} LIKE :p"), {"p": prefix + "-%"})
            out[table] = sorted((str(row[0]).removeprefix(prefix), *row[1:]) for row in rows)
        return out


def test_read_ahead_in_small_chunks_stores_what_one_chunk_stores(database: Database,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    seed_examples(database)
    monkeypatch.setattr(importing, "CHUNK_APPS", 40)  # a chunk every few devices
    _import(database, _fleet("ahead"))
    monkeypatch.setattr(importing, "CHUNK_APPS", 10**9)
    monkeypatch.setattr(importing, "_reads_no_store", lambda fmt: False)
    _import(database, _fleet("inline"))
    ahead, inline = _contents(database, "ahead"), _contents(database, "inline")
    assert ahead == inline
    assert len(ahead["device_apps"]) > 400 and len(ahead["inventory_reports"]) == 60
    assert {row[2] for row in ahead["findings"]} == {"grace"}  # the TikTok holders, as the engine decided


def test_an_error_in_the_last_chunk_stores_nothing_and_stops_the_reader(database: Database,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    seed_examples(database)
    monkeypatch.setattr(importing, "CHUNK_APPS", 40)
    data = _fleet("bad") + "bad-999,andriod,com.a.b,2023-03-20T08:00:00Z,,,corporate\n"
    with pytest.raises(InvalidInput, match="`platform` cannot be 'andriod'"):
        _import(database, data)
    assert all(not rows for rows in _contents(database, "bad").values())
    assert not [thread for thread in threading.enumerate() if thread.name == "appban-import-reader"]


def test_a_caller_that_stops_early_stops_the_reader() -> None:
    produced: list[int] = []

    def numbers() -> importing.Iterator[int]:
        for n in range(1000):
            produced.append(n)
            yield n

    ahead = importing._read_ahead(numbers())
    assert next(ahead) == 0
    ahead.close()
    assert not [thread for thread in threading.enumerate() if thread.name == "appban-import-reader"]
    assert len(produced) <= 3


def _scattered(prefix: str, devices: int = 60) -> str:
    """`_fleet`'s rows with each device's first row moved to the end: no device's rows are together."""
    header, *rows = _fleet(prefix, devices).splitlines(keepends=True)
    firsts = {row.split(",", 1)[0]: row for row in reversed(rows)}
    moved = set(firsts.values())
    return header + "".join(row for row in rows if row not in moved) + "".join(firsts.values())


def _import_counting(database: Database, data: str, stream: io.IOBase | None = None) -> int:
    """Import, returning the net count the progress callback was given (what a progress bar would show)."""
    shown = [0]
    with database.session() as session:
        import_stream(session, load_context(session), CSV, stream or io.BytesIO(data.encode()), "fleet.csv",
                      ReportDefaults(organisation="eu-commission"), NOW, progress=lambda n: shown.__setitem__(
                          0, shown[0] + n))
    return shown[0]


def test_a_grouped_file_read_as_grouped_stores_what_reading_it_whole_stores(
        database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    seed_examples(database)
    monkeypatch.setattr(importing, "CHUNK_APPS", 40)
    monkeypatch.setattr(importing, "GROUPED_FIRST_BYTES", 0)  # every file is read as grouped first
    assert _import_counting(database, _fleet("grouped")) == 60
    monkeypatch.setattr(importing, "GROUPED_FIRST_BYTES", 10**12)
    _import(database, _fleet("whole"))
    assert _contents(database, "grouped") == _contents(database, "whole")


def test_a_scattered_file_is_read_again_whole_and_the_first_attempt_leaves_nothing(
        database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    seed_examples(database)
    monkeypatch.setattr(importing, "CHUNK_APPS", 40)
    monkeypatch.setattr(importing, "GROUPED_FIRST_BYTES", 0)
    attempts: list[bool] = []
    real = importing._import_once

    def watched(session: Session, context: PolicyContext, fmt: InventoryFormat, *rest: Any) -> ImportSummary:
        attempts.append(isinstance(fmt, CsvFormat) and fmt.grouped)
        return real(session, context, fmt, *rest)

    monkeypatch.setattr(importing, "_import_once", watched)
    assert _import_counting(database, _scattered("scattered")) == 60  # the first attempt's progress taken back
    assert attempts == [True, False]
    monkeypatch.setattr(importing, "GROUPED_FIRST_BYTES", 10**12)
    _import(database, _fleet("sorted"))
    scattered, ordered = _contents(database, "scattered"), _contents(database, "sorted")
    assert scattered == ordered  # one report a device in the history: nothing of the first attempt is left
    assert len(scattered["inventory_reports"]) == 60


def test_an_error_in_a_scattered_file_read_again_stores_nothing(database: Database,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    seed_examples(database)
    monkeypatch.setattr(importing, "CHUNK_APPS", 40)
    monkeypatch.setattr(importing, "GROUPED_FIRST_BYTES", 0)
    data = _scattered("oops") + "oops-999,andriod,com.a.b,2023-03-20T08:00:00Z,,,corporate\n"
    with pytest.raises(InvalidInput, match="`platform` cannot be 'andriod'"):
        _import(database, data)
    assert all(not rows for rows in _contents(database, "oops").values())


def test_a_stream_that_cannot_be_read_again_is_read_whole(database: Database,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    seed_examples(database)
    monkeypatch.setattr(importing, "GROUPED_FIRST_BYTES", 0)

    class OneWay(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            chunk = self.data.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    assert _import_counting(database, "", io.BufferedReader(OneWay(_scattered("oneway").encode()))) == 60
    assert len(_contents(database, "oneway")["inventory_reports"]) == 60


def test_grouped_reading_refuses_rows_that_come_back_while_within_the_budget() -> None:
    reports = CsvFormat(grouped=True).read(io.BytesIO(_scattered("x", 5).encode()), "x.csv", default_catalog(),
                                           ReportDefaults(organisation="eu-commission"))
    with pytest.raises(UngroupedRows, match=r"the rows of device 'x-00[0-4]' are not together"):
        list(reports)
    assert len(list(CSV.read(io.BytesIO(_scattered("x", 5).encode()), "x.csv", default_catalog(),
                             ReportDefaults(organisation="eu-commission")))) == 5
