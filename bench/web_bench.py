"""Issue 6 benchmark: the dashboard's server time on a large PostgreSQL fleet.

Run by hand (not in CI), after `python bench/fleet_scale_bench.py --devices 200000 --keep` has left its fleet in
the database `appban_scale`:

    python bench/web_bench.py [--database postgresql+psycopg://postgres@127.0.0.1:5432/appban_scale]

It reuses that fleet (never drops or rebuilds it), applies examples/restrictions/eu-commission-tiktok-2023.yaml
if no restriction is stored, creates the dashboard user `bench-admin` (admin of eu-commission) if missing,
and times, in process through httpx's ASGI transport, N requests each of: a static file (the baseline, which
measures the transport and the middleware); the overview three ways: counted in the request (its kept counts
forgotten before each view, as on a new server), from kept counts (nothing changed), and while the data changes
(a change row written before each view, so the last counts are served and recounted in the background,
appban.service.summaries); the restriction page, the first page of the Devices list, a keyset page half-way
through the fleet, and the same page by OFFSET (what the list did before). `--report-runs` also times
`compliance_report` itself (what the overview computed before).
Prints a Markdown table with the median, the p95 and the ratio of each median to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import insert

from appban.access import Role
from appban.errors import Conflict
from appban.service import ComplianceCounts, CountsCache, compliance_report, load_context
from appban.store import Database, DeviceRepository, FindingRepository, RestrictionRepository, UserRepository
from appban.store.tables import GateChangeRow
from appban.web import create_web

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/appban_scale"
RESTRICTION = ROOT / "examples" / "restrictions" / "eu-commission-tiktok-2023.yaml"
USERNAME, PASSWORD = "bench-admin", "bench-password-0123456789"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def prepare(url: str) -> tuple[str, int, int]:
    """Apply the restriction if none is stored and make the user; returns (restriction, devices, findings)."""
    with Database.open(url) as database:
        with database.session() as session:
            stored = [r.restriction.id for r in RestrictionRepository(session).all_latest()]
        if not stored:
            subprocess.run([sys.executable, "-m", "appban", "policy", "apply", str(RESTRICTION), "--database", url],
                           check=True)
            with database.session() as session:
                stored = [r.restriction.id for r in RestrictionRepository(session).all_latest()]
        with database.session() as session, contextlib.suppress(Conflict):  # made by an earlier run
            UserRepository(session).create(username=USERNAME, organisation="eu-commission", role=Role.ADMIN,
                                           password=PASSWORD, actor="web-bench", now=dt.datetime.now(dt.UTC))
        with database.session() as session:
            devices = DeviceRepository(session).count()
            findings = sum(FindingRepository(session).counts().values())
    return sorted(stored)[0], devices, findings


async def measure(url: str, restriction: str, devices: int, runs: int) -> list[tuple[str, str, list[float]]]:
    with Database.open(url) as database:
        counts: CountsCache[ComplianceCounts] = CountsCache()
        app = create_web(database, secret=b"web-bench-secret-0123456789abcdef", counts=counts)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            page = await client.get("/login")
            found = CSRF.search(page.text)
            assert found is not None
            signed = await client.post("/login", data={"username": USERNAME, "password": PASSWORD,
                                                       "csrf": found.group(1), "next": "/"})
            assert signed.status_code == 303, signed.text
            with database.session() as session:
                middle = DeviceRepository(session).page(offset=devices // 2, limit=1)[0][0].id
            targets = [
                ("static file (baseline)", "/static/appban.css"),
                ("overview, counted in the request (a new server's first view)", "/"),
                ("overview, kept counts (no change since)", "/"),
                ("overview while the data changes (last counts served, recounted in the background)", "/"),
                ("restriction page, kept counts", f"/restrictions/{restriction}"),
                ("devices, first page", "/devices"),
                ("devices, keyset page half-way", f"/devices?start={devices // 2}&after={middle}"),
                ("devices, same page by OFFSET", f"/devices?start={devices // 2}"),
                ("devices holding TikTok (the app filter), first page", "/devices?app=com.zhiliaoapp.musically"),
            ]
            out = []
            for name, path in targets:
                first = await client.get(path)  # warm-up, and a check that the page works
                assert first.status_code == 200, (path, first.status_code)
                times = []
                for _ in range(runs):
                    if "counted in the request" in name:
                        counts.clear()
                    elif "data changes" in name:
                        change(database)
                    start = time.perf_counter()
                    response = await client.get(path)
                    times.append(time.perf_counter() - start)
                    assert response.status_code == 200
                out.append((name, path, times))
            return out


def change(database: Database) -> None:
    """What any change of a device or a finding leaves behind: a new `gate_changes` row (the data stamp moves)."""
    with database.session() as session:
        session.execute(insert(GateChangeRow).values(device_id="dev-0000000", at=dt.datetime.now(dt.UTC)))


def time_report(url: str, runs: int) -> list[float]:
    times = []
    with Database.open(url) as database, database.session() as session:
        context = load_context(session)
        for _ in range(runs):
            start = time.perf_counter()
            compliance_report(session, context, "eu-commission", dt.datetime.now(dt.UTC), days=30)
            times.append(time.perf_counter() - start)
    return times


def p95(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default=DEFAULT)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--report-runs", type=int, default=0, help="also time compliance_report (slow)")
    args = parser.parse_args()
    restriction, devices, findings = prepare(args.database)
    rows = asyncio.run(measure(args.database, restriction, devices, args.runs))
    if args.report_runs:
        rows.append(("compliance_report (before: read every device)", "(in process, no HTTP)",
                     time_report(args.database, args.report_runs)))
    base = statistics.median(rows[0][2])
    print(f"`python bench/web_bench.py --runs {args.runs}"
          + (f" --report-runs {args.report_runs}" if args.report_runs else "") + "` on PostgreSQL "
          f"({devices:,} devices, {findings:,} findings, restriction `{restriction}`, user admin of eu-commission; "
          "in process through httpx.ASGITransport, so the times are the server's plus the transport's)")
    print()
    print("| request | path | runs | median ms | p95 ms | median / baseline |")
    print("|---|---|---:|---:|---:|---:|")
    for name, path, times in rows:
        median = statistics.median(times)
        print(f"| {name} | `{path}` | {len(times)} | {median * 1000:.1f} | {p95(times) * 1000:.1f} | "
              f"{median / base:.1f} |")


if __name__ == "__main__":
    main()
