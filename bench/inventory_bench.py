"""Issue 3 benchmark: inventory import, restriction apply, one-device re-evaluation, peak memory, on PostgreSQL.

Run by hand (not in CI):  python bench/inventory_bench.py --devices 20000
Each phase runs in its own process so that its peak memory (ru_maxrss) is its own. The import is measured
against a bare PostgreSQL `COPY` of the same (device, app) rows in the same run, as a ratio, because these
machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
SERVER = os.environ.get("APPBAN_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
TIKTOK = "com.zhiliaoapp.musically"
NOW = dt.datetime.now(dt.UTC)


def generate(path: Path, devices: int, apps_per_device: int, seed: int = 7) -> int:
    """A fleet CSV (docs/inventory-csv.md): long-tailed app popularity, 5 % of devices holding TikTok."""
    rng = random.Random(seed)
    catalogue = [f"com.vendor{i // 7}.app{i}" for i in range(5000)]
    weights = [1 / (rank + 1) ** 1.1 for rank in range(len(catalogue))]  # Zipf-like
    rows = 0
    observed = (NOW - dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["device_id", "platform", "app_identifier", "observed_at", "ownership", "visibility"])
        for n in range(devices):
            chosen = set(rng.choices(catalogue, weights, k=apps_per_device * 2))
            apps = sorted(chosen)[:apps_per_device]
            if rng.random() < 0.05:
                apps[-1] = TIKTOK
            for app in apps:
                writer.writerow([f"dev-{n:07d}", "android", app, observed, "corporate", "full"])
                rows += 1
    return rows


def create_database(name: str) -> str:
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return SERVER.rsplit("/", 1)[0] + f"/{name}"


def drop_database(name: str) -> None:
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def phase_copy(url: str, path: str) -> dict[str, float]:
    """Baseline: the same rows into an indexed table by COPY, the fastest way PostgreSQL takes them."""
    start = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE bench_apps (device_id text, platform text, identifier text, "
                     "observed_at timestamptz, PRIMARY KEY (device_id, platform, identifier))")
        conn.execute("CREATE INDEX ON bench_apps (platform, identifier)")
        with conn.cursor().copy("COPY bench_apps FROM STDIN") as copy, open(path) as handle:
            next(handle)
            for line in handle:
                device, platform, app, observed, _, _ = line.rstrip("\n").split(",")
                copy.write_row((device, platform, app, observed))
    return {"seconds": time.perf_counter() - start}


def phase_import(url: str, path: str) -> dict[str, float]:
    from typer.testing import CliRunner

    from appban.cli import app

    runner = CliRunner()
    orgs = ROOT / "examples" / "organisations" / "organisations.yaml"
    assert runner.invoke(app, ["org", "apply", str(orgs), "--database", url]).exit_code == 0
    start = time.perf_counter()
    result = runner.invoke(app, ["import", "--format", "csv", "--org", "eu-commission", path, "--database", url])
    seconds = time.perf_counter() - start
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return {"seconds": seconds}


def phase_rule(url: str) -> dict[str, float]:
    from typer.testing import CliRunner

    from appban.cli import app

    rule = ROOT / "examples" / "restrictions" / "eu-commission-tiktok-2023.yaml"
    start = time.perf_counter()
    result = CliRunner().invoke(app, ["policy", "apply", str(rule), "--database", url])
    seconds = time.perf_counter() - start
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return {"seconds": seconds, "output": result.stdout.strip().splitlines()[-1]}  # type: ignore[dict-item]


def phase_one_device(url: str, repeats: int) -> dict[str, float]:
    """Latency of one new report for one device, evaluated and stored (the gate's path to a fresh decision)."""
    from appban.errors import Location
    from appban.inventory import DeviceReport, InstalledApp, Visibility
    from appban.model import App, Platform
    from appban.service import ContextCache, apply_reports
    from appban.store import Database

    db = Database.open(url)
    contexts = ContextCache()  # what a long-running server keeps
    times: list[float] = []
    rng = random.Random(3)
    for n in range(repeats):
        device = f"dev-{rng.randrange(1000):07d}"
        apps = (InstalledApp(App(Platform.ANDROID, TIKTOK)),) if n % 2 else ()
        report = DeviceReport(device_id=device, platform=Platform.ANDROID,
                              observed_at=dt.datetime.now(dt.UTC), apps=apps, visibility=Visibility.FULL,
                              where=Location("bench"))
        start = time.perf_counter()
        with db.session() as session:
            apply_reports(session, contexts.get(session), [report], source_format="bench", source_file="bench",
                          now=dt.datetime.now(dt.UTC))
        times.append(time.perf_counter() - start)
    db.dispose()
    times.sort()
    return {"p50_ms": 1000 * statistics.median(times), "p99_ms": 1000 * times[int(0.99 * (len(times) - 1))]}


def child(args: argparse.Namespace) -> None:
    phase = args.phase
    if phase == "copy":
        result = phase_copy(args.url, args.file)
    elif phase == "import":
        result = phase_import(args.url, args.file)
    elif phase == "rule":
        result = phase_rule(args.url)
    else:
        result = phase_one_device(args.url, args.repeats)
    result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def run(phase: str, url: str, file: str = "", repeats: int = 200) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", phase, "--url", url, "--file", file,
                          "--repeats", str(repeats)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=20_000)
    parser.add_argument("--apps", type=int, default=80)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--child")
    parser.add_argument("--url", default="")
    parser.add_argument("--file", default="")
    args = parser.parse_args()
    if args.child:
        args.phase = args.child
        child(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fleet.csv"
        rows = generate(path, args.devices, args.apps)
        print(f"fleet: {args.devices} devices, {rows} (device, app) rows, {path.stat().st_size / 2**20:.0f} MiB")
        baseline_url = create_database("appban_bench_copy")
        url = create_database("appban_bench")
        try:
            copy = run("copy", baseline_url, str(path))
            imported = run("import", url, str(path))
            rule = run("rule", url)
            one = run("one", url, repeats=args.repeats)
        finally:
            drop_database("appban_bench_copy")
            drop_database("appban_bench")
    print(f"COPY baseline: {copy['seconds']:.1f} s ({rows / copy['seconds']:,.0f} rows/s), "
          f"peak {copy['peak_mib']:.0f} MiB")
    print(f"appban import: {imported['seconds']:.1f} s ({rows / imported['seconds']:,.0f} rows/s), "
          f"peak {imported['peak_mib']:.0f} MiB; ratio to COPY {copy['seconds'] / imported['seconds']:.2f}")
    print(f"apply a new restriction, all findings current: {rule['seconds']:.2f} s, peak {rule['peak_mib']:.0f} MiB"
          f" ({rule['output']})")
    print(f"one device re-evaluated after a report: p50 {one['p50_ms']:.1f} ms, p99 {one['p99_ms']:.1f} ms "
          f"over {args.repeats}, peak {one['peak_mib']:.0f} MiB")
    print("load average (1, 5, 15 min): " + ", ".join(f"{load:.2f}" for load in os.getloadavg()))


if __name__ == "__main__":
    main()
