"""Issue 8 load benchmark: gate traffic, inventory pushes and dashboard reads at once, at fixed rates, on PostgreSQL.

Run by hand (not in CI):  python bench/load_bench.py [--duration 60 --gate-rate 1000 --report-rate 100]

Needs Debian's `nginx` (`apt-get install -y nginx-light`) and PostgreSQL (APPBAN_BENCH_POSTGRES, default
postgresql://postgres@127.0.0.1:5432/postgres). A fresh database is seeded through appban's own commands, as
bench/gate_bench.py does (its fleet: 5 % TikTok, half past the deadline; 3 % personal phones the source cannot
see), then one `appban serve` (one uvicorn worker, its own gate listener, the decision log on) behind nginx,
docs/gate.md's configuration: `auth_request` to the listener, a trivial upstream behind. For `--duration`
seconds, after `--warmup` seconds of the same traffic (not counted), three open-loop streams run on fixed
schedules (a request is due at t0 + i / rate whatever the answers before it: a slow server does not slow the
client, and latency is measured from the time the request was due, so queueing shows, as in wrk2):

- gate: `--gate-rate` requests a second to nginx (a mail client's request; nginx asks appban), rotating over
  device ids in gate_bench's mix (70 % allowed, 10 % warned, 10 % denied, 10 % unknown to appban); every
  answer is checked against the device's kind (a wrong answer counts as an error);
- inventory: `--report-rate` pushes a second of one device's CSV report (`POST /api/v1/inventory/csv`), from
  `--sources` source tokens (each under the default per-token rate limit), over devices kept apart from the gate's
  rotation; one push in four installs or removes TikTok, so findings change and the gate follows the store;
- dashboard: `--dashboard-rate` page reads a second by a signed-in admin (overview, devices, restriction page).

Errors: a connection error, a timeout (`--timeout`), any status but the expected one. The resident memory (RSS)
of the appban server and of nginx (master and workers) is sampled every second; start, end and maximum are
printed (flat: no growth over the run). The client is one asyncio process (raw HTTP/1.1 keep-alive for the gate
stream and the others, at most `--connections` a stream) sharing the machine with the servers; its CPU use is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import os
import random
import re
import resource
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gate_bench import (  # the sibling script, importable once its directory is on the path
    AUTH_SERVER,
    COMMON_APPS,
    NGINX_HEAD,
    ORGANISATIONS,
    RESTRICTION,
    TIKTOK,
    Processes,
    appban_command,
    create_database,
    drop_database,
    free_port,
    generate,
    process_tree,
    rotation,
    run_cli,
    wait_until,
)

NGINX_CONF = NGINX_HEAD + """\
    upstream appban {{ server 127.0.0.1:{listen_port}; keepalive 64; }}
    upstream mail {{ server 127.0.0.1:{mail_port}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{mail_port};
        location / {{ return 200; }}
    }}
{auth_server}}}
"""
WARNING_HEADER = """\
            auth_request_set $appban_warning $upstream_http_x_appban_warning;
            add_header X-Appban-Warning $appban_warning always;"""
EXPECTED = {"allowed": (200, False), "grace": (200, True), "late": (403, False), "unseen": (403, False),
            "ghost": (403, False)}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
USERNAME, PASSWORD = "load-admin", "load-bench-password-0123456789"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


# --- the streams ----------------------------------------------------------------------------------------------------

@dataclass
class Stream:
    name: str
    due: int = 0  # requests whose time came within the measured window
    done: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds from due to answered
    service: list[float] = field(default_factory=list)  # seconds from sent to answered
    errors: Counter[str] = field(default_factory=Counter)


CLOSED = "closed by the server before answering"


class StaleConnection(Exception):
    """A reused keep-alive connection the server had closed: the request is sent again on a new one."""


class Connection:
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, raw: bytes) -> tuple[int, dict[str, str]]:
        self.writer.write(raw)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError(CLOSED)
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        else:
            await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.writer.close()
        return status, headers


class Pool:
    """At most `limit` keep-alive connections; a request finding none idle and the limit reached waits for one
    (its latency, counted from when it was due, includes the wait)."""

    def __init__(self, host: str, port: int, limit: int) -> None:
        self.host, self.port = host, port
        self.idle: asyncio.LifoQueue[Connection] = asyncio.LifoQueue()
        self.opened = 0  # connections opened in all
        self.open = 0  # connections open now
        self.limit = limit

    async def request(self, raw: bytes) -> tuple[int, dict[str, str]]:
        try:
            return await self._request(raw, fresh=False)
        except StaleConnection:  # the server closed an idle keep-alive connection as it was reused: not an error
            return await self._request(raw, fresh=True)

    async def _request(self, raw: bytes, *, fresh: bool) -> tuple[int, dict[str, str]]:
        reused = False
        if (fresh or self.idle.empty()) and self.open < self.limit:
            self.open += 1
            self.opened += 1
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except BaseException:
                self.open -= 1
                raise
            connection = Connection(reader, writer)
        else:
            connection, reused = await self.idle.get(), True
        try:
            answer = await connection.request(raw)
        except BaseException as error:  # an error or a timeout: the connection's state is unknown, drop it
            connection.writer.close()
            self.open -= 1
            if reused and isinstance(error, ConnectionError) and str(error) == CLOSED:
                raise StaleConnection from error
            raise
        if connection.writer.is_closing():
            self.open -= 1
        else:
            self.idle.put_nowait(connection)
        return answer

    def close(self) -> None:
        while not self.idle.empty():
            self.idle.get_nowait().writer.close()


async def paced(rate: float, start: float, end: float, measured_from: float, stream: Stream,
                send: Callable[[int], Awaitable[tuple[bool, str]]], timeout: float) -> None:
    """Start `send(i)` at start + i / rate until `end`, never waiting for answers (open loop)."""
    if rate <= 0:
        return
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    async def one(i: int, due: float, counted: bool) -> None:
        sent = loop.time()
        try:
            ok, why = await asyncio.wait_for(send(i), timeout)
        except TimeoutError:
            ok, why = False, "timeout"
        except (OSError, ConnectionError, asyncio.IncompleteReadError, httpx.HTTPError, ValueError) as error:
            ok, why = False, type(error).__name__
        finished = loop.time()
        if not counted:
            return
        stream.done += 1
        stream.latencies.append(finished - due)
        stream.service.append(finished - sent)
        if not ok:
            stream.errors[why] += 1

    for i in itertools.count():
        due = start + i / rate
        if due >= end:
            break
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        counted = due >= measured_from
        stream.due += counted
        task = asyncio.create_task(one(i, due, counted))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=timeout + 5)


# --- memory ---------------------------------------------------------------------------------------------------------

def rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
    return total / 2**20


async def sample_memory(groups: dict[str, int], samples: dict[str, list[float]], until: float) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < until:
        for name, root in groups.items():
            samples[name].append(rss_mib(process_tree(root)))
        await asyncio.sleep(1.0)


# --- the run --------------------------------------------------------------------------------------------------------

def report_csv(device: str, organisation: str, holder: str, apps: list[str], at: dt.datetime) -> bytes:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = ["device_id,platform,app_identifier,observed_at,ownership,enrolled,organisation,holder,visibility"]
    lines += [f"{device},android,{app},{stamp},corporate,true,{organisation},{holder},full" for app in apps]
    return ("\n".join(lines) + "\n").encode()


async def load(args: argparse.Namespace, ports: dict[str, int], gate_ids: list[tuple[str, str]],
               report_devices: list[str], source_tokens: list[str], cookie: str, restriction: str,
               memory_roots: dict[str, int]) -> tuple[dict[str, Stream], dict[str, list[float]], float, float]:
    loop = asyncio.get_running_loop()
    gate_pool = Pool("127.0.0.1", ports["nginx"], args.connections)
    gate_requests = [(f"GET /owa/inbox HTTP/1.1\r\nHost: mail.example.eu\r\nX-Device-Id: {device}\r\n\r\n".encode(),
                      EXPECTED[kind]) for device, kind in gate_ids]
    streams = {name: Stream(name) for name in ("gate", "inventory", "dashboard")}
    rng = random.Random(3)
    has_tiktok: dict[str, bool] = {}
    pages = ["/", "/devices", f"/restrictions/{restriction}"]
    api_pool = Pool("127.0.0.1", ports["serve"], args.connections)
    web_pool = Pool("127.0.0.1", ports["serve"], 16)
    host = f"127.0.0.1:{ports['serve']}"

    async def gate(i: int) -> tuple[bool, str]:
        raw, (status, warned) = gate_requests[i % len(gate_requests)]
        got, headers = await gate_pool.request(raw)
        if got != status:
            return False, f"status {got}"
        if bool(headers.get("x-appban-warning")) != warned:
            return False, "warning header"
        return True, ""

    async def inventory(i: int) -> tuple[bool, str]:
        device = report_devices[i % len(report_devices)]
        apps = rng.sample(COMMON_APPS, 3)
        if i % 4 == 0:
            has_tiktok[device] = not has_tiktok.get(device, False)
        if has_tiktok.get(device):
            apps[-1] = TIKTOK
        body = report_csv(device, "eu-commission", f"{device}@example.eu", apps, dt.datetime.now(dt.UTC))
        head = (f"POST /api/v1/inventory/csv HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer "
                f"{source_tokens[i % len(source_tokens)]}\r\nContent-Type: text/csv\r\n"
                f"Content-Length: {len(body)}\r\n\r\n")
        got, _ = await api_pool.request(head.encode() + body)
        return got == 200, f"status {got}"

    async def dashboard(i: int) -> tuple[bool, str]:
        raw = f"GET {pages[i % len(pages)]} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n\r\n".encode()
        got, _ = await web_pool.request(raw)
        return got == 200, f"status {got}"

    start = loop.time() + 0.5
    measured_from = start + args.warmup
    end = measured_from + args.duration
    samples: dict[str, list[float]] = {name: [] for name in memory_roots}
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(
        sample_memory(memory_roots, samples, end),
        paced(args.gate_rate, start, end, measured_from, streams["gate"], gate, args.timeout),
        paced(args.report_rate, start, end, measured_from, streams["inventory"], inventory, args.timeout),
        paced(args.dashboard_rate, start, end, measured_from, streams["dashboard"], dashboard, args.timeout))
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    gate_pool.close()
    api_pool.close()
    web_pool.close()
    client_cpu = (cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime)
    return streams, samples, client_cpu / (end - start), float(gate_pool.opened + api_pool.opened + web_pool.opened)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=20_000, help="the fleet seeded")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of the same traffic before, not counted")
    parser.add_argument("--gate-rate", type=float, default=1000.0, help="gate requests a second (through nginx)")
    parser.add_argument("--report-rate", type=float, default=100.0, help="inventory pushes a second")
    parser.add_argument("--dashboard-rate", type=float, default=2.0, help="dashboard page reads a second")
    parser.add_argument("--sources", type=int, default=4, help="source tokens the pushes are spread over")
    parser.add_argument("--ids", type=int, default=10_000, help="distinct device ids the gate stream rotates over")
    parser.add_argument("--connections", type=int, default=128, help="most gate connections the client opens")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of `appban serve`")
    parser.add_argument("--gate-process", action="store_true",
                        help="the gate's listener in an `appban serve` of its own, which gets no API traffic")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds before a request counts as an error")
    args = parser.parse_args()
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.path.exists(p)), None)
    if nginx is None:
        sys.exit("needs Debian's nginx: apt-get install -y nginx-light")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the clean-up below runs
    command = "python bench/load_bench.py " + " ".join(sys.argv[1:])
    load_before = os.getloadavg()

    name = f"appban_load_bench_{os.getpid()}_{secrets.token_hex(3)}"
    processes = Processes()
    with tempfile.TemporaryDirectory(prefix="load-bench-") as tmp_name, contextlib.ExitStack() as cleanup:
        tmp = Path(tmp_name)
        url = create_database(name)
        cleanup.callback(drop_database, name)
        cleanup.callback(processes.stop_all)

        started = time.perf_counter()
        fleet = generate(tmp / "fleet.csv", args.devices)
        run_cli(["org", "apply", str(ORGANISATIONS)], url)
        run_cli(["policy", "apply", str(RESTRICTION)], url)
        run_cli(["import", "--format", "csv", str(tmp / "fleet.csv")], url)
        from appban.access import Role
        from appban.store import Database, TokenRepository, UserRepository

        now = dt.datetime.now(dt.UTC)
        database = Database.open(url)
        with database.session() as session:
            tokens = TokenRepository(session)
            _, gate_token = tokens.create(name="load-mail-proxy", organisation="eu-commission", role=Role.GATE,
                                          expires=None, actor="load-bench", now=now)
            source_tokens = [tokens.create(name=f"load-source-{n}", organisation="eu-commission", role=Role.SOURCE,
                                           expires=None, actor="load-bench", now=now)[1] for n in range(args.sources)]
            UserRepository(session).create(username=USERNAME, organisation="eu-commission", role=Role.ADMIN,
                                           password=PASSWORD, actor="load-bench", now=now)
        database.dispose()
        seeded = time.perf_counter() - started
        # the gate rotates over devices the pushes never touch: their answers stay what the fleet says
        allowed = fleet.kinds["allowed"]
        report_devices = allowed[: max(1, len(allowed) // 5)]
        fleet.kinds["allowed"] = allowed[len(report_devices):]
        kind_of = {device: kind for kind, ids in fleet.kinds.items() for device in ids}
        gate_ids = [(device, kind_of.get(device, "ghost")) for device in rotation(fleet, args.ids)]

        ports = {key: free_port() for key in ("serve", "listen", "nginx", "mail", "gate-serve")}
        env = {**os.environ, "APPBAN_DATABASE_URL": url, "APPBAN_SECRET": secrets.token_urlsafe(32),
               "APPBAN_PUBLIC_URL": f"http://127.0.0.1:{ports['serve']}", "APPBAN_DECISION_LOG":
               str(tmp / "decisions.jsonl"), "APPBAN_GATE_LISTEN": f"127.0.0.1:{ports['listen']}"}
        watched: dict[str, int] = {}
        if args.gate_process:  # the gate's own process: nginx asks it; the API process has no gate listener
            gate_serve = processes.start("gate-serve", [*appban_command(), "serve", "--host", "127.0.0.1", "--port",
                                                        str(ports["gate-serve"])], env=env, log=tmp / "gate.log")
            watched["appban serve (gate)"] = gate_serve.pid
            env = {key: value for key, value in env.items() if key != "APPBAN_GATE_LISTEN"}
        serve = processes.start("serve", [*appban_command(), "serve", "--host", "127.0.0.1", "--port",
                                          str(ports["serve"]), "--workers", str(args.workers)], env=env,
                                log=tmp / "serve.log")
        prefix = tmp / "nginx"
        prefix.mkdir()
        (prefix / "nginx.conf").write_text(NGINX_CONF.format(
            workers="auto", user="user root;" if os.geteuid() == 0 else "", dir=prefix, listen_port=ports["listen"],
            mail_port=ports["mail"], auth_server=AUTH_SERVER.format(
                port=ports["nginx"], auth_headers=WARNING_HEADER, method="            proxy_method HEAD;\n",
                upstream="appban", token=gate_token)))
        proxy = processes.start("nginx", [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e",
                                          str(prefix / "error.log"), "-g", "daemon off;"], log=tmp / "nginx.out")
        base = f"http://127.0.0.1:{ports['serve']}"
        wait_until(lambda: httpx.get(f"{base}/healthz", timeout=2).status_code == 200, 300, "appban serve", serve,
                   tmp / "serve.log")
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{ports['nginx']}/", headers={
            "X-Device-Id": fleet.kinds["allowed"][0]}, timeout=2).status_code == 200, 120, "nginx + gate", proxy,
            prefix / "error.log")
        with httpx.Client(base_url=base, timeout=10) as client:
            found = CSRF.search(client.get("/login").text)
            if found is None:
                sys.exit("no CSRF field on /login")
            signed = client.post("/login", data={"username": USERNAME, "password": PASSWORD,
                                                 "csrf": found.group(1), "next": "/"})
            if signed.status_code != 303:
                sys.exit(f"dashboard login failed: {signed.status_code} {signed.text[:200]}")
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        restriction = "eu-commission-tiktok-2023"

        streams, samples, client_cores, opened = asyncio.run(load(
            args, ports, gate_ids, report_devices, source_tokens, cookie, restriction,
            {"appban serve": serve.pid, **watched, "nginx": proxy.pid}))
        load_after = os.getloadavg()
        serve_log = (tmp / "serve.log").read_text(errors="replace")
        # one worker's counters (several workers each keep their own): how many pushes a transaction stored
        grouped = dict(re.findall(r"^(appban_push_batches_total|appban_pushes_batched_total) (\d+)$",
                                  httpx.get(f"{base}/metrics", timeout=10).text, re.MULTILINE))

    print(f"`{command}` on PostgreSQL ({args.devices:,} devices, {fleet.rows:,} (device, app) rows, seeded through "
          f"`appban org apply`, `policy apply`, `import` in {seeded:.0f} s); one `appban serve` "
          f"({args.workers} uvicorn worker(s), "
          + ("the gate's listener in a second `appban serve` of its own" if args.gate_process else "own gate listener")
          + ", decision log on) behind nginx auth_request; "
          "open-loop client in one process "
          f"({client_cores:.2f} cores, {int(opened)} connections opened); {os.cpu_count()} cores shared; load average "
          f"before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, after {load_after[0]:.2f} "
          f"{load_after[1]:.2f} {load_after[2]:.2f}")
    print()
    print("| stream | rate/s asked | requests | answered/s | errors | p50 ms | p90 ms | p99 ms | max ms | "
          "p99 service ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rates = {"gate": args.gate_rate, "inventory": args.report_rate, "dashboard": args.dashboard_rate}
    for key, stream in streams.items():
        lat = stream.latencies
        errors = sum(stream.errors.values()) + (stream.due - stream.done)
        detail = (" (" + ", ".join(f"{why} {n}" for why, n in stream.errors.most_common(4)) + ")") if errors else ""
        print(f"| {key} | {rates[key]:g} | {stream.due:,} | {stream.done / args.duration:,.0f} | {errors}{detail} | "
              f"{percentile(lat, 0.5) * 1000:.1f} | {percentile(lat, 0.9) * 1000:.1f} | "
              f"{percentile(lat, 0.99) * 1000:.1f} | {max(lat, default=float('nan')) * 1000:.0f} | "
              f"{percentile(stream.service, 0.99) * 1000:.1f} |")
    print()
    print("latency: from the moment a request was due to its answer (queueing included); service: from sent.")
    print()
    print("| process | RSS start MiB | RSS end MiB | RSS max MiB | every 10 s (MiB) | samples (1/s, with warm-up) |")
    print("|---|---:|---:|---:|---|---:|")
    for key, values in samples.items():
        if values:
            trend = " ".join(f"{v:.0f}" for v in values[::10])
            print(f"| {key} | {values[0]:.0f} | {values[-1]:.0f} | {max(values):.0f} | {trend} | {len(values)} |")
    if statistics.mean(len(v) for v in samples.values()) < 2:
        print("(too few memory samples)")
    logged = Counter(_error_of(line) for line in serve_log.splitlines() if '"level":"error"' in line)
    print()
    print(f"server log: {sum(logged.values())} error line(s)")
    if grouped:
        batches, pushes = int(grouped.get("appban_push_batches_total", 0)), int(grouped.get(
            "appban_pushes_batched_total", 0))
        print(f"group commit (one worker's /metrics): {pushes:,} small pushes in {batches:,} transactions "
              f"({pushes / max(batches, 1):.1f} a transaction)")
    for what, count in logged.most_common(5):
        print(f"    {count} x {what}")


def _error_of(line: str) -> str:
    """What a JSON error line of the server's log says: its message and the last line of its traceback."""
    try:
        entry = json.loads(line)
    except ValueError:
        return line[:200]
    error = str(entry.get("error", "")).strip().splitlines()
    return f"{entry.get('message', '')}: {error[-1] if error else ''}"[:300]


if __name__ == "__main__":
    main()
