"""Issue 4 benchmark: the gate (`/gate/auth`) under wrk, against the floor and the ceiling of this machine.

Run by hand (not in CI):  python bench/gate_bench.py --devices 100000

Needs Debian's `wrk` and `nginx` (`apt-get install -y wrk nginx-light`) and PostgreSQL (APPBAN_BENCH_POSTGRES,
default postgresql://postgres@127.0.0.1:5432/postgres). In one run, with the same wrk settings for every
target (threads, connections, duration, after a warm-up of the same shape):

(a) `/gate/auth` on the gate's own listener (APPBAN_GATE_LISTEN) of `appban serve`, and through uvicorn (one
    worker, uvloop + httptools, access log off), the decision log on, as in production, and once more through
    uvicorn with it off; on a fresh PostgreSQL database seeded through `appban org apply`, `appban policy
    apply` and `appban import --format csv` with a synthetic fleet: 5 % of devices hold TikTok (half past their
    grace period: denied, half inside it: warned), 3 % are personal phones whose source cannot see personal
    apps (unknown, counted as non-compliant: denied);
(b) a bare ASGI app that answers 200 and does nothing else, under the same uvicorn settings (the floor of any
    Python server);
(c) an nginx location that answers 200 itself (the ceiling);
(d) the full path: nginx `auth_request` to appban's listener (docs/gate.md's configuration: TCP, subrequest as
    HEAD), in front of a trivial upstream (an nginx server block that answers 200), against the same nginx with
    the auth location answering 200 itself (its static-auth twin); the same over a Unix socket, and to
    `/gate/auth` under uvicorn; and a bound: the subrequest proxied to an nginx server that answers 200 (what
    the twin gives once its auth answer comes over HTTP from a service that costs nothing);
(e) in process: `decide()` per call over the table the gate builds from the same database, and the whole
    `/gate/auth` handler per request (driven without an event loop: no socket, no HTTP parsing).

wrk rotates over many device ids with a Lua script (pre-built requests): 70 % allowed, 10 % warned (grace),
10 % denied (half non-compliant, half unknown), 10 % devices appban does not know. Every server and wrk share
the machine's cores unless `--pin split` (wrk on CPU 0, the servers on CPU 1). The server processes' CPU use
during each measured run is shown beside its figures: it says which side was the limit. At --connections
(64) every server here is saturated and its latency is mostly queueing (64 requests in flight / requests per
second), so (a) and (b) are also run at --light connections (4), below saturation, for the latency figure.
With --rounds N every target runs N times, interleaved; figures are medians, and ratios are the medians of
the ratios of the two runs in each round (measured one after the other), because the machine is shared.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import os
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
SERVER = os.environ.get("APPBAN_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
ORGANISATIONS = ROOT / "examples" / "organisations" / "organisations.yaml"
RESTRICTION = ROOT / "examples" / "restrictions" / "eu-commission-tiktok-2023.yaml"
TIKTOK = "com.zhiliaoapp.musically"
COMMON_APPS = [f"com.vendor{i}.app" for i in range(40)]
TOKEN_HEADER = "X-Appban-Gate-Token"  # noqa: S105 (a header name, not a secret)
GATE_PATH = "/gate/auth?service=mail"
SERVICE_PATH = "/owa/inbox"  # what a mail client asks nginx for in (d)
MIX = {"allowed": 0.70, "grace": 0.10, "late": 0.05, "unseen": 0.05, "ghost": 0.10}
TICKS = os.sysconf("SC_CLK_TCK")

# nginx in a prefix of its own (pid, logs and temporary files there), opening its `http` block: the benches
# (this one, load_bench.py) follow it with their upstreams and servers and close it
NGINX_HEAD = """\
worker_processes {workers};
{user}
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}

http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
"""

NGINX_CONF = NGINX_HEAD + """
    # as docs/gate.md, with keepalive at least wrk's connections: with fewer idle connections kept than
    # requests in flight, nginx opens and closes connections to appban under load
    upstream appban {{ server 127.0.0.1:{listen_port}; keepalive {keepalive}; }}  # the gate's own listener
    upstream appban_unix {{ server unix:{gate_socket}; keepalive {keepalive}; }}  # the same over a Unix socket
    upstream static_auth {{ server 127.0.0.1:{static_port}; keepalive {keepalive}; }}  # (c), as an auth service
    upstream appban_asgi {{ server 127.0.0.1:{appban_port}; keepalive {keepalive}; }}  # /gate/auth under uvicorn
    upstream mail {{ server 127.0.0.1:{mail_port}; keepalive {keepalive}; }}

    # the trivial upstream standing in for the mail service, and (c) the ceiling: nginx answering 200 itself
    server {{
        listen 127.0.0.1:{mail_port};
        location / {{ return 200; }}
    }}
    server {{
        listen 127.0.0.1:{static_port};
        location / {{ return 200; }}
    }}

{auth_servers}
    # (d) its static-auth twin: the same, with the auth location answering 200 itself
    server {{
        listen 127.0.0.1:{twin_port};
        location / {{
            auth_request /_static;
{auth_headers}
            proxy_pass http://mail;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
        location = /_static {{
            internal;
            return 200;
        }}
    }}
}}
"""

# (d) the full path, docs/gate.md's configuration (without TLS): the subrequest goes to the gate's own listener
# (APPBAN_GATE_LISTEN) as HEAD. nginx keeps an upstream connection after a header-only subrequest only when the
# answer has no body; to HEAD appban answers without one, so a denial does not cost a new connection.
AUTH_SERVER = """\
    server {{
        listen 127.0.0.1:{port};
        location / {{
            auth_request /_appban;
{auth_headers}
            proxy_pass http://mail;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
        location = /_appban {{
            internal;
{method}            proxy_pass http://{upstream}/gate/auth?service=mail;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Device-Id $http_x_device_id;  # in production: from the client certificate
            proxy_set_header X-Appban-Gate-Token "{token}";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
"""

AUTH_HEADERS = """\
            auth_request_set $appban_warning $upstream_http_x_appban_warning;
            auth_request_set $appban_reason $upstream_http_x_appban_reason;
            auth_request_set $appban_remediation $upstream_http_x_appban_remediation;
            auth_request_set $appban_decision $upstream_http_x_appban_decision_id;
            add_header X-Appban-Warning $appban_warning always;
            add_header X-Appban-Reason $appban_reason always;
            add_header X-Appban-Remediation $appban_remediation always;
            add_header X-Appban-Decision-Id $appban_decision always;"""

# wrk: every thread builds its requests once, then hands them out in turn (threads start at different ids)
WRK_SCRIPT = """\
local path = {path}
local extra = {{ {extra} }}
local ids = {{
{ids}
}}
local requests = {{}}
local count, at, started = 0, 0, 0

function setup(thread)
  thread:set("offset", started)
  started = started + 1
end

function init(args)
  for i, id in ipairs(ids) do
    local headers = {{ ["X-Device-Id"] = id }}
    for name, value in pairs(extra) do headers[name] = value end
    requests[i] = wrk.format("GET", path, headers)
  end
  count = #requests
  at = ((offset or 0) * 7919) % count
end

function request()
  at = at % count + 1
  return requests[at]
end
"""


# --- the bare ASGI app (b) ----------------------------------------------------------------------------------

async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers 200 with an empty body to every request, and does nothing else."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


def serve_bare(port: int) -> None:
    """uvicorn with the options `appban serve` passes (appban.server.serve), on the bare app."""
    import uvicorn

    uvicorn.run(bare_app, host="127.0.0.1", port=port, workers=1, loop="uvloop", http="httptools",
                access_log=False, lifespan="on", log_level="warning", server_header=False)


# --- the fleet ------------------------------------------------------------------------------------------------

@dataclass
class Fleet:
    rows: int = 0
    kinds: dict[str, list[str]] = field(default_factory=lambda: {kind: [] for kind in MIX})


def generate(path: Path, devices: int, seed: int = 11) -> Fleet:
    """A fleet CSV (docs/inventory-csv.md), 3 apps a device, in the European Commission and its departments.

    allowed: corporate, nothing banned (and 2 % personal phones not enrolled: out of the restriction's scope);
    grace: TikTok seen 2 hours ago (20-day grace period ahead: warned); late: TikTok seen 25 days ago (past its
    deadline, inventory not yet stale at 30 days: denied); unseen: personal, enrolled, the source sees managed
    apps only (unknown, which the restriction counts as non-compliant: denied).
    """
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    recent = (now - dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    old = (now - dt.timedelta(days=25)).strftime("%Y-%m-%dT%H:%M:%SZ")
    organisations = ["eu-commission"] * 3 + ["eu-commission-dg-digit", "eu-commission-dg-comm"]
    fleet = Fleet()
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["device_id", "platform", "app_identifier", "observed_at", "ownership", "enrolled",
                         "organisation", "holder", "visibility"])
        for n in range(devices):
            device = f"dev-{n:07d}"
            draw = rng.random()
            apps = rng.sample(COMMON_APPS, 3)
            observed, ownership, enrolled, visibility = recent, "corporate", "true", "full"
            if draw < 0.025:
                kind, observed, apps[-1] = "late", old, TIKTOK
            elif draw < 0.05:
                kind, apps[-1] = "grace", TIKTOK
            elif draw < 0.08:
                kind, ownership, visibility = "unseen", "personal", "managed_only"
            elif draw < 0.10:
                kind, ownership, enrolled = "allowed", "personal", "false"
            else:
                kind = "allowed"
            fleet.kinds[kind].append(device)
            organisation = rng.choice(organisations)
            for app in apps:
                writer.writerow([device, "android", app, observed, ownership, enrolled, organisation,
                                 f"holder{n}@example.eu", visibility])
                fleet.rows += 1
    return fleet


def rotation(fleet: Fleet, size: int, seed: int = 5) -> list[str]:
    """The device ids wrk cycles through, in MIX's proportions, shuffled."""
    rng = random.Random(seed)
    chosen: list[str] = []
    for kind, share in MIX.items():
        want = round(size * share)
        if kind == "ghost":
            chosen += [f"ghost-{n:07d}" for n in range(want)]
        else:
            pool = fleet.kinds[kind]
            chosen += [pool[i % len(pool)] for i in rng.sample(range(len(pool)), min(want, len(pool)))]
            chosen += [pool[i % len(pool)] for i in range(want - min(want, len(pool)))]  # small fleets: repeat
    rng.shuffle(chosen)
    return chosen


# --- processes, ports, CPU --------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def appban_command() -> list[str]:
    script = Path(sys.executable).with_name("appban")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from appban.cli import main; main()"]


def run_cli(args: Sequence[str], url: str) -> str:
    out = subprocess.run([*appban_command(), *args, "--database", url], capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        raise RuntimeError(f"appban {' '.join(args)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out.stdout


class Processes:
    """Every process the benchmark starts, stopped (by its pid) on the way out, whatever happened."""

    def __init__(self) -> None:
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, command: list[str], *, env: dict[str, str] | None = None,
              log: Path | None = None) -> subprocess.Popen[bytes]:
        out = log.open("wb") if log is not None else subprocess.DEVNULL
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.started.append((name, process))
        return process

    def stop(self, process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(sig)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def stop_all(self) -> None:
        for _, process in reversed(self.started):
            self.stop(process)


def process_tree(pid: int) -> list[int]:
    """A process and its descendants (nginx: the master and its workers)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += parents.get(current, [])
    return tree


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of these processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / TICKS


def wait_until(check: Any, timeout: float, what: str, process: subprocess.Popen[bytes] | None = None,
               log: Path | None = None) -> None:
    start = time.monotonic()
    while True:
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
            raise RuntimeError(f"{what} exited ({process.returncode}):\n{tail}")
        with contextlib.suppress(httpx.HTTPError, OSError):
            if check():
                return
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"{what}: not ready within {timeout:.0f} s")
        time.sleep(0.1)


# --- wrk --------------------------------------------------------------------------------------------------------

@dataclass
class Measure:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    errors: int
    server_cpu: float  # cores used by the server processes during the measured run
    wrk_cpu: float  # cores used by wrk


@dataclass
class Target:
    key: str
    label: str
    url: str
    script: Path
    pids: list[int]  # the server processes whose CPU use is measured
    connections: int | None = None  # wrk's connections, when not --connections


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def lua_script(path: Path, request_path: str, extra: dict[str, str], ids: Sequence[str]) -> Path:
    entries = ", ".join(f"[{json.dumps(name)}] = {json.dumps(value)}" for name, value in extra.items())
    lines = ",\n".join(", ".join(json.dumps(i) for i in ids[n:n + 8]) for n in range(0, len(ids), 8))
    path.write_text(WRK_SCRIPT.format(path=json.dumps(request_path), extra=entries, ids=lines))
    return path


def wrk(args: argparse.Namespace, target: Target, seconds: int) -> Measure:
    server_pids = target.pids
    command = ["wrk", f"-t{args.threads}", f"-c{target.connections or args.connections}", f"-d{seconds}s",
               "--latency", "-s", str(target.script), target.url]
    if args.pin == "split":
        command = ["taskset", "-c", "0", *command]
    before_server = cpu_seconds(server_pids)
    before_wrk = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    elapsed = time.monotonic() - start
    after_wrk = resource.getrusage(resource.RUSAGE_CHILDREN)
    server = (cpu_seconds(server_pids) - before_server) / elapsed
    client = (after_wrk.ru_utime + after_wrk.ru_stime - before_wrk.ru_utime - before_wrk.ru_stime) / elapsed
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.MULTILINE))
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return Measure(rps=rps, p50_ms=_ms(latency["50"]), p99_ms=_ms(latency["99"]), requests=requests,
                   non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
                   errors=sum(int(g) for g in errors.groups()) if errors else 0, server_cpu=server, wrk_cpu=client)


# --- in process (e) ---------------------------------------------------------------------------------------------

def in_process(url: str, token: str, ids: Sequence[str], log_path: Path) -> dict[str, float]:
    """decide() per call, and the whole /gate/auth handler per request, over the table the gate would load."""
    from appban.gate import DecisionLog, Follower, GateApp, Links, decide
    from appban.store import Database

    database = Database.open(url)
    try:
        follower = Follower(database, Links(secrets.token_bytes(32)))
        start = time.perf_counter()
        follower.load()
        load_seconds = time.perf_counter() - start
    finally:
        database.dispose()
    table = follower.table
    assert table is not None
    from appban.access import token_hash

    within = table.tokens[token_hash(token)].within
    now = dt.datetime.now(dt.UTC)
    calls = len(ids)
    best_decide = min(timeit.repeat(lambda: [decide(table, d, "mail", now, within=within) for d in ids],
                                    number=1, repeat=20)) / calls
    empty_loop = min(timeit.repeat(lambda: [(table, d, "mail", now, within) for d in ids], number=1,
                                   repeat=20)) / calls

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    def scopes() -> list[dict[str, Any]]:
        return [{"type": "http", "method": "GET", "path": "/gate/auth", "query_string": b"service=mail",
                 "headers": [(b"host", b"127.0.0.1"), (b"x-device-id", d.encode()),
                             (b"x-appban-gate-token", token.encode()), (b"x-original-uri", SERVICE_PATH.encode()),
                             (b"x-original-method", b"GET")]} for d in ids]

    def handler_time(log: DecisionLog) -> float:
        gate = GateApp(lambda: table, log, device_header="X-Device-Id", public_url="https://appban.example.eu")
        requests = scopes()

        def run() -> None:
            for scope in requests:
                coroutine = gate(scope, receive, send)
                try:  # nothing in the handler suspends: it runs to its end at the first step
                    coroutine.send(None)
                except StopIteration:
                    continue
                coroutine.close()
                raise RuntimeError("the gate handler suspended")

        return min(timeit.repeat(run, number=1, repeat=10)) / len(requests)

    handler_off = handler_time(DecisionLog(None))
    log = DecisionLog(log_path)
    log.start()
    try:
        handler_on = handler_time(log)
    finally:
        log.close()
    return {"load_s": load_seconds, "devices": len(table.devices), "decide_us": best_decide * 1e6,
            "loop_us": empty_loop * 1e6, "handler_us": handler_on * 1e6, "handler_nolog_us": handler_off * 1e6}


# --- the run ------------------------------------------------------------------------------------------------------

def create_database(name: str) -> str:
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = SERVER.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


def drop_database(name: str) -> None:
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def check_answers(base: str, kinds: dict[str, list[str]], headers: dict[str, str], path: str) -> None:
    """One request of each kind: the gate answers what the fleet says it should."""
    expected = {"allowed": (200, False), "grace": (200, True), "late": (403, False), "unseen": (403, False),
                "ghost": (403, False)}
    with httpx.Client(base_url=base, timeout=5) as client:
        for kind, (status, warned) in expected.items():
            device = kinds[kind][0] if kind != "ghost" else "ghost-0000000"
            answer = client.get(path, headers={**headers, "X-Device-Id": device})
            if answer.status_code != status or ("x-appban-warning" in answer.headers) != warned:
                raise RuntimeError(f"{base}{path} for {kind} device {device}: {answer.status_code} "
                                   f"{dict(answer.headers)} {answer.text[:200]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--ids", type=int, default=20_000, help="distinct device ids wrk rotates over")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=10, help="seconds measured, per target and round")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of wrk before each measured run")
    parser.add_argument("--rounds", type=int, default=1, help="runs of every target, interleaved; medians kept")
    parser.add_argument("--light", type=int, default=4,
                        help="connections of the extra latency runs of (a) and (b) below saturation")
    parser.add_argument("--pin", choices=["none", "split"], default="none",
                        help="split: wrk on CPU 0, every server on CPU 1 (nginx then runs one worker)")
    parser.add_argument("--bare-asgi", type=int, help=argparse.SUPPRESS)  # child: serve (b) on this port
    args = parser.parse_args()
    if args.bare_asgi:
        serve_bare(args.bare_asgi)
        return
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.path.exists(p)), None)
    if nginx is None or shutil.which("wrk") is None:
        sys.exit("needs Debian's wrk and nginx: apt-get install -y wrk nginx-light")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the clean-up below runs

    name = f"appban_gate_bench_{os.getpid()}_{secrets.token_hex(3)}"
    processes = Processes()
    pin = ["taskset", "-c", "1"] if args.pin == "split" else []
    with tempfile.TemporaryDirectory(prefix="gate-bench-") as tmp_name, contextlib.ExitStack() as cleanup:
        tmp = Path(tmp_name)
        url = create_database(name)
        cleanup.callback(drop_database, name)
        cleanup.callback(processes.stop_all)

        # the fleet, through appban's own commands; the gate token through the store (what `token create` does)
        start = time.perf_counter()
        fleet = generate(tmp / "fleet.csv", args.devices)
        run_cli(["org", "apply", str(ORGANISATIONS)], url)
        run_cli(["policy", "apply", str(RESTRICTION)], url)
        imported = run_cli(["import", "--format", "csv", str(tmp / "fleet.csv")], url)
        from appban.access import Role
        from appban.store import Database, TokenRepository

        database = Database.open(url)
        with database.session() as session:
            _, token = TokenRepository(session).create(name="bench-mail-proxy", organisation="eu-commission",
                                                       role=Role.GATE, expires=None, actor="gate-bench",
                                                       now=dt.datetime.now(dt.UTC))
        database.dispose()
        seeded = time.perf_counter() - start
        counts = {kind: len(ids) for kind, ids in fleet.kinds.items()}
        print(f"fleet: {args.devices:,} devices, {fleet.rows:,} (device, app) rows, seeded in {seeded:.0f} s "
              f"({', '.join(f'{k} {v:,}' for k, v in counts.items() if k != 'ghost')})")
        print("  " + " ".join(imported.split()[-40:])[:300])
        ids = rotation(fleet, args.ids)

        # the servers: appban twice (decision log on, off), the bare app, nginx
        ports = {key: free_port() for key in ("gate", "listen", "gate_nolog", "gate_unix", "bare", "mail", "static",
                                              "full", "full_unix", "full_asgi", "full_bound", "twin")}
        gate_socket = tmp / "gate.sock"
        env = {**os.environ, "APPBAN_DATABASE_URL": url, "APPBAN_SECRET": secrets.token_urlsafe(32),
               "APPBAN_PUBLIC_URL": "https://appban.example.eu", "APPBAN_GATE_REFRESH_SECONDS": "3600"}
        servers: dict[str, subprocess.Popen[bytes]] = {}
        listeners = {"gate": f"127.0.0.1:{ports['listen']}", "gate_unix": f"unix:{gate_socket}"}
        for key, log in (("gate", str(tmp / "decisions.jsonl")), ("gate_nolog", "off"),
                         ("gate_unix", str(tmp / "decisions-unix.jsonl"))):
            out = tmp / f"{key}.log"
            extra = {"APPBAN_GATE_LISTEN": listeners[key]} if key in listeners else {}
            servers[key] = processes.start(key, [*pin, *appban_command(), "serve", "--host", "127.0.0.1", "--port",
                                                 str(ports[key])], env={**env, "APPBAN_DECISION_LOG": log, **extra},
                                           log=out)
        servers["bare"] = processes.start("bare", [*pin, sys.executable, __file__, "--bare-asgi",
                                                   str(ports["bare"])], log=tmp / "bare.log")
        prefix = tmp / "nginx"
        prefix.mkdir()
        conf = NGINX_CONF.format(workers=1 if args.pin == "split" else "auto",
                                 user="user root;" if os.geteuid() == 0 else "", dir=prefix,
                                 appban_port=ports["gate"], mail_port=ports["mail"], static_port=ports["static"],
                                 twin_port=ports["twin"], keepalive=max(16, args.connections),
                                 listen_port=ports["listen"], gate_socket=gate_socket, auth_headers=AUTH_HEADERS,
                                 auth_servers="\n".join(
                                     AUTH_SERVER.format(port=ports[key], upstream=upstream, token=token,
                                                        method="            proxy_method HEAD;\n",
                                                        auth_headers=AUTH_HEADERS)
                                     for key, upstream in (("full", "appban"), ("full_unix", "appban_unix"),
                                                           ("full_asgi", "appban_asgi"),
                                                           ("full_bound", "static_auth"))))
        (prefix / "nginx.conf").write_text(conf)
        servers["nginx"] = processes.start("nginx", [*pin, nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                                                     "-e", str(prefix / "error.log"), "-g", "daemon off;"],
                                           log=tmp / "nginx.out")
        gate_headers = {TOKEN_HEADER: token, "X-Original-URI": SERVICE_PATH, "X-Original-Method": "GET"}
        for key in ("gate", "gate_nolog", "gate_unix"):
            base = f"http://127.0.0.1:{ports[key]}"
            wait_until(lambda base=base: httpx.get(f"{base}/gate/auth", timeout=2).status_code == 401, 300,
                       f"appban serve ({key})", servers[key], tmp / f"{key}.log")
            check_answers(base, fleet.kinds, gate_headers, GATE_PATH)
        check_answers(f"http://127.0.0.1:{ports['listen']}", fleet.kinds, gate_headers, GATE_PATH)
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{ports['bare']}/", timeout=2).status_code == 200, 30,
                   "bare ASGI", servers["bare"], tmp / "bare.log")
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{ports['static']}/", timeout=2).status_code == 200, 30,
                   "nginx", servers["nginx"], prefix / "error.log")
        for key in ("full", "full_unix", "full_asgi"):
            check_answers(f"http://127.0.0.1:{ports[key]}", fleet.kinds, {}, SERVICE_PATH)

        scripts = {"gate": lua_script(tmp / "gate.lua", GATE_PATH, gate_headers, ids),
                   "service": lua_script(tmp / "service.lua", SERVICE_PATH, {}, ids)}
        nginx_pids = process_tree(servers["nginx"].pid)
        gate_url, bare_url = f"http://127.0.0.1:{ports['gate']}/", f"http://127.0.0.1:{ports['bare']}/"
        listen_url = f"http://127.0.0.1:{ports['listen']}/"
        gate_pids, bare_pids = [servers["gate"].pid], [servers["bare"].pid]
        targets = [  # (a) and (b) side by side: their ratio is taken round by round
            Target("listen", "(a) /gate/auth on the gate's own listener", listen_url, scripts["gate"], gate_pids),
            Target("gate", "(a) /gate/auth through uvicorn (ASGI)", gate_url, scripts["gate"], gate_pids),
            Target("bare", "(b) bare ASGI app, same uvicorn settings", bare_url, scripts["gate"], bare_pids),
            Target("gate_nolog", "(a) /gate/auth through uvicorn, decision log off", f"http://127.0.0.1:{ports['gate_nolog']}/",
                   scripts["gate"], [servers["gate_nolog"].pid]),
            Target("static", "(c) nginx answering 200 itself", f"http://127.0.0.1:{ports['static']}/",
                   scripts["gate"], nginx_pids),
            Target("full", "(d) nginx auth_request -> appban listener -> upstream",
                   f"http://127.0.0.1:{ports['full']}/", scripts["service"], [*nginx_pids, *gate_pids]),
            Target("full_unix", "(d) the same, listener on a Unix socket", f"http://127.0.0.1:{ports['full_unix']}/",
                   scripts["service"], [*nginx_pids, servers["gate_unix"].pid]),
            Target("full_asgi", "(d) the same, to /gate/auth under uvicorn", f"http://127.0.0.1:{ports['full_asgi']}/",
                   scripts["service"], [*nginx_pids, *gate_pids]),
            Target("full_bound", "(d) bound: subrequest to nginx answering 200",
                   f"http://127.0.0.1:{ports['full_bound']}/", scripts["service"], nginx_pids),
            Target("twin", "(d) twin: auth location answering 200", f"http://127.0.0.1:{ports['twin']}/",
                   scripts["service"], nginx_pids),
            Target("listen_light", f"(a) own listener at {args.light} connections", listen_url, scripts["gate"],
                   gate_pids, args.light),
            Target("gate_light", f"(a) uvicorn /gate/auth at {args.light} connections", gate_url, scripts["gate"],
                   gate_pids, args.light),
            Target("bare_light", f"(b) bare ASGI at {args.light} connections", bare_url, scripts["gate"], bare_pids,
                   args.light),
        ]
        results: dict[str, list[Measure]] = {t.key: [] for t in targets}
        warmed: dict[str, list[Measure]] = {t.key: [] for t in targets}
        for number in range(args.rounds):
            for target in targets:
                warmed[target.key].append(wrk(args, target, args.warmup))
                measure = wrk(args, target, args.duration)
                results[target.key].append(measure)
                print(f"round {number + 1} {target.label:<46} {measure.rps:>9,.0f} req/s  p50 {measure.p50_ms:6.2f} "
                      f"ms  p99 {measure.p99_ms:6.2f} ms  non-2xx {measure.non_2xx / measure.requests:4.0%}  "
                      f"errors {measure.errors}  cpu server {measure.server_cpu:.2f} wrk {measure.wrk_cpu:.2f}",
                      flush=True)

        inproc = in_process(url, token, ids, tmp / "inprocess.jsonl")

        for key in ("gate", "gate_nolog", "gate_unix", "bare"):
            processes.stop(servers[key])
        processes.stop(servers["nginx"], signal.SIGQUIT)
        logged = sum(1 for _ in (tmp / "decisions.jsonl").open())
        processes.stop_all()
        # the logging appban answered (a) directly and (d) through nginx, warm-ups included
        asked_gate = sum(m.requests for key in ("gate", "listen", "full", "full_asgi", "gate_light", "listen_light")
                         for m in [*results[key], *warmed[key]])

    def median(key: str, attribute: str) -> float:
        return statistics.median(getattr(m, attribute) for m in results[key])

    print()
    print(f"`python bench/gate_bench.py --devices {args.devices} --rounds {args.rounds}"
          f"{' --pin split' if args.pin == 'split' else ''}`: wrk -t{args.threads} -c{args.connections} "
          f"-d{args.duration}s --latency after {args.warmup} s of warm-up, {args.ids:,} device ids in rotation; "
          f"{'wrk pinned to CPU 0, servers to CPU 1' if args.pin == 'split' else 'no pinning: all share 2 cores'}"
          f"; median of {args.rounds} round(s)")
    print()
    print("| target | requests/s | p50 ms | p99 ms | non-2xx | server CPU (cores) | wrk CPU (cores) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for target in targets:
        last = results[target.key]
        print(f"| {target.label} | {median(target.key, 'rps'):,.0f} | {median(target.key, 'p50_ms'):.2f} | "
              f"{median(target.key, 'p99_ms'):.2f} | {statistics.median(m.non_2xx / m.requests for m in last):.0%} | "
              f"{median(target.key, 'server_cpu'):.2f} | {median(target.key, 'wrk_cpu'):.2f} |")
    print(f"| (e) decide(), in process | {1e6 / inproc['decide_us']:,.0f} calls/s | {inproc['decide_us']:.2f} us "
          f"per call (loop alone {inproc['loop_us']:.2f} us) | | | | |")
    print(f"| (e) /gate/auth handler, in process (log on / off) | {1e6 / inproc['handler_us']:,.0f} | "
          f"{inproc['handler_us']:.2f} / {inproc['handler_nolog_us']:.2f} us per request | | | | |")
    print()
    def ratio(top: str, bottom: str) -> tuple[float, str]:
        """The median of the ratios round by round (each pair measured one after the other), and their range."""
        values = sorted(a.rps / b.rps for a, b in zip(results[top], results[bottom], strict=True))
        spread = f" (rounds: {values[0]:.2f} to {values[-1]:.2f})" if len(values) > 1 else ""
        return statistics.median(values), spread

    gate_ratio, gate_spread = ratio("listen", "bare")
    asgi_ratio, asgi_spread = ratio("gate", "bare")
    nolog_ratio, nolog_spread = ratio("gate_nolog", "bare")
    full_ratio, full_spread = ratio("full", "twin")
    full_asgi_ratio, full_asgi_spread = ratio("full_asgi", "twin")
    full_unix_ratio, full_unix_spread = ratio("full_unix", "twin")
    bound_ratio, bound_spread = ratio("full_bound", "twin")
    share_ratio, share_spread = ratio("full", "full_bound")
    floor_ratio, floor_spread = ratio("bare", "static")
    gate_p99 = median("listen", "p99_ms")

    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    print("| ratio | value | target |")
    print("|---|---:|---|")
    print(f"| gate (own listener) / bare ASGI | **{gate_ratio:.2f}**{gate_spread}, gate p99 {gate_p99:.2f} ms | "
          f">= 0.5 with p99 < 5 ms: {verdict(gate_ratio >= 0.5 and gate_p99 < 5)} |")
    print(f"| gate p99 at {args.light} connections | {median('listen_light', 'p99_ms'):.2f} ms (under uvicorn "
          f"{median('gate_light', 'p99_ms'):.2f} ms, bare ASGI {median('bare_light', 'p99_ms'):.2f} ms) | < 5 ms "
          f"below saturation: {verdict(median('listen_light', 'p99_ms') < 5)} |")
    print(f"| gate under uvicorn / bare ASGI | {asgi_ratio:.2f}{asgi_spread} | (the ASGI route) |")
    print(f"| gate under uvicorn, decision log off / bare ASGI | {nolog_ratio:.2f}{nolog_spread} | (what the log "
          "costs) |")
    print(f"| bare ASGI / nginx | {floor_ratio:.2f}{floor_spread} | (floor / ceiling) |")
    print(f"| full nginx path / static-auth twin | **{full_ratio:.2f}**{full_spread} | >= 0.5: "
          f"{verdict(full_ratio >= 0.5)} |")
    print(f"| full path, listener on a Unix socket / twin | **{full_unix_ratio:.2f}**{full_unix_spread} | >= 0.5: "
          f"{verdict(full_unix_ratio >= 0.5)} |")
    print(f"| bound: subrequest to nginx answering 200 / twin | {bound_ratio:.2f}{bound_spread} | (the most any "
          "auth service reached over HTTP can give here) |")
    print(f"| full path / bound | {share_ratio:.2f}{share_spread} | (appban against a free auth service) |")
    print(f"| full path to /gate/auth under uvicorn / twin | {full_asgi_ratio:.2f}{full_asgi_spread} | (the ASGI "
          "route) |")
    print(f"| decide() per call | **{inproc['decide_us']:.2f} us** | < 5 us: {verdict(inproc['decide_us'] < 5)} |")
    print()
    print(f"table: {inproc['devices']:,} devices loaded in {inproc['load_s']:.1f} s in process; decision log: "
          f"{logged:,} lines for {asked_gate:,} gate requests wrk counted (plus the checks and requests in flight)")


if __name__ == "__main__":
    main()
