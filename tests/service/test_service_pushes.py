"""Small pushes stored together (issue 8) leave what each stored alone leaves, and fail one by one.

`import_pushes` folds many pushes into one transaction's statements; the same files imported one after the
other by `import_stream` must give the same devices, inventories, app rows, report history, findings and
finding history, and each push its own summary. A push that breaks a rule (a device of another
organisation, a placement outside the pusher's subtree) fails alone and writes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io

import pytest
from sqlalchemy import text

from appban.catalog import default_catalog
from appban.errors import InvalidInput
from appban.inventory import ReportDefaults
from appban.inventory.csv_format import CSV
from appban.model import Ownership
from appban.service import ImportSummary, Push, import_pushes, import_stream, load_context, push_batch
from appban.store import Database
from tests.store.store_examples import seed_examples

NOW = dt.datetime(2023, 3, 20, 12, 0, tzinfo=dt.UTC)
TIKTOK = "com.zhiliaoapp.musically"
HEADER = "device_id,platform,app_identifier,observed_at,app_name,ownership,organisation\n"
TABLES = {
    "devices": ("id", "organisation_id, platform, ownership, funding, enrolled, source_format"),
    "inventories": ("device_id", "observed_at, visibility, source_format, received_at"),
    "device_apps": ("device_id", "platform, identifier, name, matched_by, present_since"),
    "inventory_reports": ("device_id", "source_format, source_file, observed_at, kind, app_count, applied"),
    "findings": ("device_id", "restriction_id, state, reason, deadline, apps, shadow, since"),
    "finding_events": ("device_id", "restriction_id, at, state_from, state_to, shadow"),
}


def _file(prefix: str, n: int) -> bytes:
    """Push `n`: one to three devices, some holding TikTok, some placed in a child organisation."""
    rows = []
    for k in range(1 + n % 3):
        device = f"{prefix}-{n:02d}-{k}"
        organisation = "eu-commission-dg-digit" if n % 4 == 3 else "eu-commission"
        apps = [f"com.vendor{a}.app" for a in range((n + k) % 5)] + ([TIKTOK] if (n + k) % 3 == 0 else [])
        hour = 6 + k
        for app in apps or [""]:
            rows.append(f"{device},android,{app},2023-03-20T{hour:02d}:00:00Z,App,corporate,{organisation}\n")
    return (HEADER + "".join(rows)).encode()


def _push(prefix: str, n: int, home: str = "eu-commission", defaults: ReportDefaults | None = None) -> Push:
    options = defaults or ReportDefaults()
    reports = tuple(CSV.read(io.BytesIO(_file(prefix, n)), f"push-{n}.csv", default_catalog(), options))
    return Push(reports, f"push-{n}.csv", "csv", options, home)


def _contents(database: Database, prefix: str) -> dict[str, list[tuple[object, ...]]]:
    with database.session() as session:
        out = {}
        for table, (key, columns) in TABLES.items():
            rows = session.execute(text(f"SELECT {key}, {columns} FROM {table} WHERE {key} LIKE :p"),
                                   {"p": prefix + "-%"})
            out[table] = sorted((str(row[0]).removeprefix(prefix), *row[1:]) for row in rows)
        return out


def _summary(summary: ImportSummary | InvalidInput) -> tuple[object, ...]:
    assert isinstance(summary, ImportSummary), summary
    o = summary.outcome
    return (summary.source, summary.reports, summary.devices_created, summary.devices_updated, o.applied, o.ignored,
            o.changes, dict(o.states))


def test_pushes_stored_together_leave_what_each_stored_alone_leaves(database: Database) -> None:
    seed_examples(database)
    alone = []
    for n in range(24):
        with database.session() as session:
            alone.append(import_stream(session, load_context(session), CSV, io.BytesIO(_file("alone", n)),
                                       f"push-{n}.csv", ReportDefaults(organisation="eu-commission"), NOW))
    pushes = [_push("together", n) for n in range(24)]
    assert push_batch(pushes) == 24  # different devices, few reports: one batch
    with database.session() as session:
        together = import_pushes(session, load_context(session), pushes, NOW)
    assert [_summary(s) for s in together] == [_summary(s) for s in alone]
    contents = _contents(database, "together")
    assert contents == _contents(database, "alone")
    assert len(contents["devices"]) == 48 and len(contents["inventory_reports"]) == 48
    assert {row[2] for row in contents["findings"]} == {"grace"}  # TikTok holders, in grace since the report
    # a second round updates: newer reports apply, the devices count as seen before
    repeats = [_push("together", n, defaults=ReportDefaults(ownership=Ownership.CORPORATE)) for n in range(3)]
    with database.session() as session:
        again = import_pushes(session, load_context(session), repeats, NOW + dt.timedelta(hours=1))
    assert [(s.devices_created, s.outcome.ignored) for s in again if isinstance(s, ImportSummary)] == [
        (0, 1), (0, 2), (0, 3)]  # the same reports again: not newer than what is stored, so only kept in the history


def test_a_push_that_breaks_a_rule_fails_alone_and_writes_nothing(database: Database) -> None:
    seed_examples(database)
    with database.session() as session:
        import_pushes(session, load_context(session), [_push("stored", 0)], NOW)  # stored-00-0 in eu-commission
    intruder = Push(_push("stored", 0).reports, "intruder.csv", "csv", ReportDefaults(), "be-gent")
    below = _push("below", 3, home="eu-commission-dg-digit")  # places its devices in its own organisation
    upward = _push("upward", 1, home="eu-commission-dg-digit")  # places them in eu-commission, above it
    with database.session() as session:
        results = import_pushes(session, load_context(session),
                                [_push("good", 1), intruder, below, upward, _push("good", 2)], NOW)
    assert [type(r).__name__ for r in results] == ["ImportSummary", "InvalidInput", "ImportSummary", "InvalidInput",
                                                   "ImportSummary"]
    assert "device `stored-00-0` cannot be reported by `be-gent`" in str(results[1])
    assert "unknown organisation `eu-commission`" in str(results[3])
    assert _contents(database, "upward")["devices"] == []
    assert len(_contents(database, "good")["devices"]) == 5
    with database.session() as session:
        reports = session.execute(text("SELECT count(*) FROM inventory_reports WHERE source_file = 'intruder.csv'"))
        assert reports.scalar_one() == 0


def test_an_unknown_default_organisation_is_named_as_the_query_parameter(database: Database) -> None:
    seed_examples(database)
    push = _push("ghost", 1, defaults=ReportDefaults(organisation="nowhere"))
    with database.session() as session:
        [result] = import_pushes(session, load_context(session), [push], NOW)
    assert isinstance(result, InvalidInput)
    assert result.problems[0].where.source == "query.organisation"


@pytest.mark.parametrize(("devices", "expected"), [
    (["a", "b", "c"], 3),
    (["a", "b", "a", "c"], 2),  # the second report of `a` waits for the next batch, and all behind it
    (["a"], 1),
])
def test_a_batch_stops_before_a_device_it_already_holds(devices: list[str], expected: int) -> None:
    report = _push("x", 0).reports[0]
    pushes = [Push((dataclasses.replace(report, device_id=device),), "f", "csv", ReportDefaults(), "eu-commission")
              for device in devices]
    assert push_batch(pushes) == expected
