"""Issue 8 fuzzing benchmark: hostile input to every importer, the policy parser, the APK/IPA readers, the API bodies.

Run by hand (not in CI; the test suite runs a bounded number of the same kinds of cases):

    python bench/fuzz_bench.py [--cases 10000] [--timeout 5] [--only csv,policy,...] [--seed 0]

Each target runs in a process of its own (so its peak memory is its own) for `--cases` hypothesis examples
(generation only: no shrinking, no example database). A case is *accepted* (read, parsed, answered 2xx/3xx),
*refused* (the project's own user-facing error, `appban.errors.AppbanError`, or an API answer 4xx), *unhandled*
(any other exception, or an API answer 5xx), or a *hang* (longer than `--timeout` seconds, stopped by SIGALRM).
The strategies are the test suite's (tests/inventory/support.py's JSON values and corruptions, each format's
documented samples and field names, tests/risk's archive builders and mutations, tests/api's seeded world),
imported rather than copied, mixed with structure-aware mutations of valid documents (one node of a valid
document replaced by any JSON/plist value), byte-level corruptions, and arbitrary bytes.

Targets: the seven inventory formats (`amapi`, `apple-mdm`, `graph`, `osquery`, `headwind`, `fleet`, `csv`),
`policy` (restriction and organisation files), `apk`/`ipa` (`appban.risk.assess` on mutated builds, and the
binary manifest parser), `api` (POST/PUT bodies of every route that takes one, through the ASGI app on a seeded
SQLite database, as the admin of the European Commission, per-token rate limit off).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.process
import os
import resource
import signal
import sys
import tempfile
import time
import traceback
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test suite's strategies and builders: `tests` is a package

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402 (after the path is set)
from hypothesis import seed as hypothesis_seed  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from appban.errors import AppbanError  # noqa: E402

INVENTORY = ["amapi", "apple-mdm", "graph", "osquery", "headwind", "fleet", "csv"]
TARGETS = [*INVENTORY, "policy", "apk", "ipa", "api"]
OBSERVED = dt.datetime(2023, 3, 15, 9, 30, tzinfo=dt.UTC)
PAGE = os.sysconf("SC_PAGE_SIZE")


class Hang(BaseException):  # not an error of the target: the case took too long
    """Raised by SIGALRM in the case that ran past the timeout (a BaseException: `except Exception` misses it)."""


@contextlib.contextmanager
def limit(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: object) -> None:
        raise Hang

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- strategies -------------------------------------------------------------------------------------------------

def replaced(data: st.DataObject, document: Any, values: st.SearchStrategy[Any]) -> Any:
    """A copy of `document` with one node (drawn by walking down from the root) replaced by a drawn value, or
    removed when it is a member of an object and the draw says so."""
    if not isinstance(document, dict | list) or not document or data.draw(st.integers(0, 4)) == 0:
        return data.draw(values)
    copy: Any = json.loads(json.dumps(document)) if not _has_bytes(document) else _deep(document)
    node = copy
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return copy
        key = data.draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, dict | list) and child and data.draw(st.booleans()):
            node = child
            continue
        if isinstance(node, dict) and data.draw(st.integers(0, 5)) == 0:
            del node[key]
        else:
            node[key] = data.draw(values)
        return copy


def _has_bytes(value: Any) -> bool:
    if isinstance(value, bytes | dt.datetime):
        return True
    if isinstance(value, dict):
        return any(_has_bytes(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_bytes(v) for v in value)
    return False


def _deep(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep(v) for v in value]
    return value


def json_documents(seeds: list[Any], keys: list[str], encode: Callable[[Any], bytes]) -> st.SearchStrategy[bytes]:
    """Valid documents with one node replaced, byte-corrupted or cut valid documents, any JSON, any bytes."""
    from tests.inventory import support

    values = support.json_values(keys=keys, words=keys)

    @st.composite
    def structured(draw: st.DrawFn) -> bytes:
        data = draw(st.data())
        return encode(replaced(data, draw(st.sampled_from(seeds)), values))

    @st.composite
    def corrupted(draw: st.DrawFn) -> bytes:
        data = draw(st.data())
        original = encode(draw(st.sampled_from(seeds)))
        return support.corrupted(data, original) if draw(st.booleans()) else support.cut_or_corrupted(data, original)

    return st.one_of(structured(), structured(), corrupted(), values.map(encode), st.binary(max_size=512))


@dataclass
class Target:
    strategy: st.SearchStrategy[Any]
    run: Callable[[Any], object]
    ok: Callable[[object], bool] = lambda answer: True  # for the API: whether the answer is not a 5xx


def inventory_target(name: str) -> Target:
    from tests.inventory import support

    from appban.catalog import default_catalog
    from appban.inventory import FORMATS, ReportDefaults

    catalog = default_catalog()
    fmt = FORMATS[name]
    defaults = ReportDefaults(observed_at=OBSERVED)
    strategy: st.SearchStrategy[bytes]
    if name == "amapi":
        import tests.inventory.test_inventory_amapi as m
        strategy = json_documents([m.page(m.FULLY_MANAGED, m.WORK_PROFILE), m.page(m.FULLY_MANAGED)],
                                  m.DEVICE_KEYS + m.APP_KEYS, m.encode)
    elif name == "graph":
        import tests.inventory.test_inventory_graph as g
        strategy = json_documents([g.page(g.IPHONE, g.ANDROID_BYOD, g.WINDOWS_LAPTOP), g.page(g.IPHONE)],
                                  g.DEVICE_KEYS + g.APP_KEYS, g.encode)
    elif name == "headwind":
        import tests.inventory.test_inventory_headwind as h
        strategy = json_documents([h.AGENT, h.search(h.device_view("h1", h.AGENT))],
                                  h.AGENT_KEYS + h.APP_KEYS + h.VIEW_KEYS, h.encode)
    elif name == "fleet":
        import tests.inventory.test_inventory_fleet as f
        strategy = json_documents([f.listing(*f.BASES), f.MAC], f.HOST_KEYS + f.SOFTWARE_KEYS, f.encode)
    elif name == "osquery":
        import tests.inventory.test_inventory_osquery as o
        lines = [o.line("added", o.TIKTOK_MAC), o.line("removed", o.SAFARI), o.line("added", o.CHROME_MSI)]

        def encode_lines(value: Any) -> bytes:
            return o.lines(*value) if isinstance(value, list) else o.lines(value)
        strategy = json_documents([lines, lines[:1]], o.LINE_KEYS + o.ROW_KEYS, encode_lines)
    elif name == "apple-mdm":
        import tests.inventory.test_inventory_apple_mdm as a
        seeds = [a.response(), [a.response(), a.response(UDID="D2")]]

        @st.composite
        def plists(draw: st.DrawFn) -> bytes:
            data = draw(st.data())
            document = replaced(data, draw(st.sampled_from(seeds)), a.plist_values)
            try:
                return a.binary(document) if draw(st.booleans()) else a.xml(document)
            except (TypeError, ValueError, OverflowError):  # not representable as a plist: send the seed cut
                return a.IOS_RESPONSE[: draw(st.integers(0, len(a.IOS_RESPONSE)))]

        @st.composite
        def corrupted_plists(draw: st.DrawFn) -> bytes:
            data = draw(st.data())
            original = draw(st.sampled_from([a.IOS_RESPONSE, a.binary(seeds[1])]))
            return support.corrupted(data, original, cut=draw(st.booleans()))
        strategy = st.one_of(plists(), plists(), corrupted_plists(),
                             st.sampled_from([a.BILLION_LAUGHS, a.EXTERNAL_ENTITY, a.PARAMETER_ENTITY]),
                             st.binary(max_size=512))
    else:  # csv
        import tests.inventory.test_inventory_csv as c
        cells = st.one_of(st.text(max_size=40), st.sampled_from([*c.VALID_ROW.values(), "", "\"", ",", "\r"]))

        @st.composite
        def tables(draw: st.DrawFn) -> bytes:
            columns = draw(st.lists(st.sampled_from(c.COLUMNS) | st.text(max_size=12), min_size=0, max_size=14))
            if draw(st.integers(0, 3)):
                columns = list(c.COLUMNS)
            rows = draw(st.lists(st.fixed_dictionaries({}, optional=dict.fromkeys(c.COLUMNS, cells)), max_size=6))
            mode = draw(st.integers(0, 2))  # 0: rows of drawn cells; 1: valid rows, one cell each drawn; 2: mixed
            if mode == 1:
                rows = [{**c.VALID_ROW, **dict(list(row.items())[:1])} if draw(st.booleans()) else dict(c.VALID_ROW)
                        for row in rows]
            elif mode == 2:
                rows = [{**c.VALID_ROW, **row} for row in rows]
            text = c.write(rows, columns)
            return text.encode("utf-8", "surrogatepass") if draw(st.integers(0, 3)) else text.encode("utf-16")

        @st.composite
        def corrupted_tables(draw: st.DrawFn) -> bytes:
            data = draw(st.data())
            return support.corrupted(data, c.write([c.VALID_ROW, {**c.VALID_ROW, "device_id": "d2"}]).encode())
        strategy = st.one_of(tables(), tables(), corrupted_tables(), st.binary(max_size=512))

    def run(data: bytes) -> object:
        return sum(1 for _ in fmt.read(io.BytesIO(data), f"fuzz.{name}", catalog, defaults))
    return Target(strategy, run)


def policy_target() -> Target:
    from tests.inventory import support
    from tests.policy.test_policy_restriction_parse import KEYS, SCALARS

    from appban.policy.organisations import parse_organisations
    from appban.policy.restriction import parse_restriction

    examples = [p.read_bytes() for p in sorted((ROOT / "examples" / "restrictions").glob("*.yaml"))]
    organisations = (ROOT / "examples" / "organisations" / "organisations.yaml").read_bytes()

    @st.composite
    def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
        data = draw(st.data())
        kind = draw(st.sampled_from(["restriction", "restriction", "organisations"]))
        original = draw(st.sampled_from(examples)) if kind == "restriction" else organisations
        return kind, support.corrupted(data, original, cut=draw(st.booleans()))

    garbage = st.dictionaries(st.sampled_from(KEYS), SCALARS, max_size=10).map(
        lambda fields: ("restriction", "\n".join(f"{k}: {'' if v is None else v}" for k, v in fields.items()).encode()))
    anything = st.tuples(st.sampled_from(["restriction", "organisations"]),
                         st.text(max_size=400).map(lambda text: text.encode("utf-8", "surrogatepass")))

    def run(case: tuple[str, bytes]) -> object:
        kind, raw = case
        text = raw.decode("utf-8", "replace")
        if kind == "restriction":
            return parse_restriction(text, "fuzz.yaml")
        return parse_organisations(text, "fuzz.yaml")
    return Target(st.one_of(mutated(), mutated(), garbage, anything), run)


def archive_target(kind: str) -> Target:
    from tests.risk.test_hostile import SEED_APK, SEED_AXML, SEED_IPA, _edits, _mutate

    from appban.catalog import default_catalog
    from appban.risk import assess
    from appban.risk.axml import parse_axml

    catalog = default_catalog()
    seed = SEED_APK if kind == "apk" else SEED_IPA
    whole = st.tuples(st.just("assess"), st.builds(_mutate, st.just(seed), _edits, st.none() | st.integers(0, 4000)))
    raw = st.tuples(st.just("assess"), st.binary(max_size=1024))
    strategies = [whole, whole, raw]
    if kind == "apk":
        strategies.append(st.tuples(st.just("axml"), st.builds(_mutate, st.just(SEED_AXML), _edits,
                                                               st.none() | st.integers(0, 2000))))

    def run(case: tuple[str, bytes]) -> object:
        how, data = case
        if how == "axml":
            return parse_axml(data, "fuzz.apk", "AndroidManifest.xml")
        return assess(io.BytesIO(data), f"fuzz.{kind}", catalog)
    return Target(st.one_of(*strategies), run)


def api_target() -> Target:
    from fastapi.testclient import TestClient
    from tests.api.conftest import A_IDS, EU_RESTRICTION, GHOST_IDS, seed
    from tests.inventory import support
    from tests.risk.test_hostile import SEED_APK, _edits, _mutate

    from appban.api import Limits, create_api
    from appban.store import Database

    directory = tempfile.mkdtemp(prefix="fuzz-api-")
    database = Database.open(f"sqlite:///{directory}/appban.db")
    database.upgrade()
    world = seed(database)
    world.client.close()
    app = create_api(database, limits=Limits(body=64 * 1024, upload=256 * 1024, rate=0.0))
    client = TestClient(app, raise_server_exceptions=True)
    headers = {"Authorization": f"Bearer {world.secrets['admin-a']}"}
    spec = app.openapi()
    schemas = spec.get("components", {}).get("schemas", {})

    def properties(operation: dict[str, Any]) -> list[str]:
        content = operation.get("requestBody", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema", {})
        ref = schema.get("$ref", "")
        if ref:
            schema = schemas.get(ref.rsplit("/", 1)[1], {})
        return sorted(schema.get("properties", {}))

    routes = [(method.upper(), path, properties(op), sorted(op.get("requestBody", {}).get("content", {})))
              for path, ops in spec["paths"].items() for method, op in ops.items()
              if method in ("post", "put", "patch") and "requestBody" in op]
    ids = sorted({*A_IDS.values(), *GHOST_IDS.values(), "amapi", "csv", "graph", "apple-mdm", "x"})
    words = [*ids, "require", "advise", "2023-03-15T09:30:00Z", "20d", "mandatory", "recommended", "admin", "gate"]
    values = support.json_values(words=words, keys=words)
    examples = {"exemption": {"id": "ex-fuzz", "restriction": A_IDS["restriction"], "device": "eu/phone-3",
                              "reason": "fuzz", "approver": "fuzz", "ends": "2030-01-01T00:00:00Z"},
                "restriction": {"text": EU_RESTRICTION}}
    path_values = st.sampled_from(ids) | st.text(min_size=1, max_size=20)

    @st.composite
    def requests(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
        method, template, props, types = draw(st.sampled_from(routes))
        path = template
        while "{" in path:
            start, end = path.index("{"), path.index("}")
            path = path[:start] + urllib.parse.quote(draw(path_values), safe="") + path[end + 1:]
        data = draw(st.data())
        if "application/json" in types:
            base = examples["restriction"] if "restrictions" in template else (
                examples["exemption"] if "exemptions" in template else dict.fromkeys(props, "x"))
            how = draw(st.integers(0, 4))
            if how == 0:
                return method, path, {"content": draw(st.binary(max_size=256)),
                                      "headers": {"Content-Type": "application/json"}}
            if how == 1 and "text" in base:
                text = support.corrupted(data, str(base["text"]).encode(), cut=draw(st.booleans()))
                return method, path, {"json": {**base, "text": text.decode("utf-8", "replace")}}
            if how == 2:
                return method, path, {"json": draw(values)}
            return method, path, {"json": replaced(data, base, values)}
        if "inventory" in template:
            return method, path, {"content": draw(st.binary(max_size=512))}
        build = _mutate(SEED_APK, draw(_edits), draw(st.none() | st.integers(0, 4000)))
        return method, path, {"content": build, "headers": {"Content-Type": "application/octet-stream"}}

    def run(case: tuple[str, str, dict[str, Any]]) -> object:
        method, path, options = case
        extra = options.pop("headers", {})
        return client.request(method, path, headers={**headers, **extra}, **options).status_code

    return Target(requests(), run, ok=lambda status: isinstance(status, int) and status < 500)


def make(name: str) -> Target:
    if name in INVENTORY:
        return inventory_target(name)
    if name == "policy":
        return policy_target()
    if name in ("apk", "ipa"):
        return archive_target(name)
    return api_target()


# --- the run ---------------------------------------------------------------------------------------------------------

@dataclass
class Result:
    name: str
    cases: int = 0
    accepted: int = 0
    refused: int = 0
    unhandled: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    hangs: int = 0
    slowest: float = 0.0
    seconds: float = 0.0
    rss_start_mib: float = 0.0
    rss_peak_mib: float = 0.0
    failed: str = ""


def rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE / 2**20


def fuzz(name: str, cases: int, timeout: float, seed: int, out: Connection) -> None:
    result = Result(name)
    logging.disable(logging.WARNING)  # the API logs every request: the table says what matters
    try:
        target = make(name)
        result.rss_start_mib = rss_mib()
        started = time.perf_counter()

        @settings(max_examples=cases, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
        @given(target.strategy)
        def case(value: Any) -> None:
            result.cases += 1
            began = time.perf_counter()
            try:
                with limit(timeout):
                    answer = target.run(value)
            except Hang:
                result.hangs += 1
                result.examples.setdefault("hang", repr(value)[:300])
            except AppbanError:
                result.refused += 1
            except Exception as error:  # the point: anything else is a finding
                frame = traceback.extract_tb(error.__traceback__)[-1]
                where = f"{type(error).__name__} at {Path(frame.filename).name}:{frame.lineno}"
                result.unhandled[where] += 1
                result.examples.setdefault(where, f"{error!s}"[:200] + " | input: " + repr(value)[:300])
            else:
                if target.ok(answer):
                    result.accepted += 1 if not isinstance(answer, int) or answer < 400 else 0
                    result.refused += 1 if isinstance(answer, int) and answer >= 400 else 0
                else:
                    where = f"HTTP {answer}"
                    result.unhandled[where] += 1
                    result.examples.setdefault(where, repr(value)[:300])
            result.slowest = max(result.slowest, time.perf_counter() - began)

        hypothesis_seed(seed)(case)()
        result.seconds = time.perf_counter() - started
    except BaseException as error:  # reported as the target's failure; the run goes on
        result.failed = f"{type(error).__name__}: {error}"[:500]
    result.rss_peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.send(result)
    out.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000, help="hypothesis examples per target")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds before a case counts as a hang")
    parser.add_argument("--only", default="", help="comma-separated targets (default: all): " + ", ".join(TARGETS))
    parser.add_argument("--cases-for", default="", help="per-target overrides, e.g. api=2000,apk=5000")
    parser.add_argument("--jobs", type=int, default=1, help="targets run at once (each in its own process)")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (the same seed draws the same cases)")
    args = parser.parse_args()
    chosen = [t.strip() for t in args.only.split(",") if t.strip()] or TARGETS
    unknown = sorted(set(chosen) - set(TARGETS))
    if unknown:
        sys.exit(f"unknown target(s): {', '.join(unknown)}; one of {', '.join(TARGETS)}")
    overrides = {k.strip(): int(v) for k, _, v in (p.partition("=") for p in args.cases_for.split(",") if p.strip())}
    load_before = os.getloadavg()
    context = multiprocessing.get_context("fork")
    pending = list(chosen)
    running: dict[str, tuple[multiprocessing.process.BaseProcess, Connection]] = {}
    done: dict[str, Result] = {}
    while pending or running:
        while pending and len(running) < max(1, args.jobs):
            name = pending.pop(0)
            receive, send = context.Pipe(duplex=False)
            child = context.Process(target=fuzz, args=(name, overrides.get(name, args.cases), args.timeout,
                                                      args.seed, send))
            child.start()
            send.close()
            running[name] = (child, receive)
        ready = multiprocessing.connection.wait([receive for _, receive in running.values()])
        for name, (process, receive) in list(running.items()):
            if receive not in ready:
                continue
            try:
                result: Result = receive.recv()
            except EOFError:
                result = Result(name, failed="the process died")
            process.join()
            del running[name]
            done[name] = result
            print(f"{name}: {result.cases} cases in {result.seconds:.0f} s, {sum(result.unhandled.values())} "
                  f"unhandled, {result.hangs} hangs" + (f" FAILED: {result.failed}" if result.failed else ""),
                  file=sys.stderr, flush=True)
    results = [done[name] for name in chosen]
    load_after = os.getloadavg()
    print(f"`python bench/fuzz_bench.py {' '.join(sys.argv[1:])}`: hypothesis {_version()}, seed {args.seed}, "
          f"timeout {args.timeout:g} s a case, each target in its own process; {os.cpu_count()} cores shared; load "
          f"average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, after "
          f"{load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    print()
    print("| target | cases | accepted | refused (AppbanError / 4xx) | unhandled | hangs | slowest case ms | "
          "cases/s | RSS at start MiB | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        rate = r.cases / r.seconds if r.seconds else 0.0
        print(f"| {r.name} | {r.cases:,} | {r.accepted:,} | {r.refused:,} | {sum(r.unhandled.values())} | {r.hangs} | "
              f"{r.slowest * 1000:.0f} | {rate:,.0f} | {r.rss_start_mib:.0f} | {r.rss_peak_mib:.0f} |")
    findings = [(r.name, where, n, r.examples.get(where, "")) for r in results for where, n in r.unhandled.items()]
    findings += [(r.name, "hang", r.hangs, r.examples.get("hang", "")) for r in results if r.hangs]
    findings += [(r.name, "target failed", 1, r.failed) for r in results if r.failed]
    if findings:
        print()
        print("| target | unhandled | count | first example |")
        print("|---|---|---:|---|")
        for name, where, count, example in findings:
            print(f"| {name} | {where} | {count} | `{example.replace('|', '/').replace('`', '')[:400]}` |")


def _version() -> str:
    import hypothesis

    return str(hypothesis.__version__)


if __name__ == "__main__":
    main()
