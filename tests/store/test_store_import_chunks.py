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

import pytest
from sqlalchemy import text

from appban.errors import InvalidInput
from appban.inventory import ReportDefaults
from appban.inventory.csv_format import CSV
from appban.service import import_stream, importing, load_context
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
