"""appban assess beside exodus-core and MobSF on the same real APKs, in one run (by hand, not CI).

    python bench/risk_bench.py [--peers /work/peers] [--apks /tmp/appban-real-apks] [--big-mib 20]
                               [--skip-mobsf] [--download-only] [--json OUT]

1. Real APKs: the fdroidserver source distribution on PyPI carries ~45 small real APKs and an IPA under
   tests/; `pip download --no-binary :all:` fetches it (inside a throwaway venv that has setuptools, wheel and
   babel, since pip prepares the sdist's metadata). They land in --apks, where tests/risk/test_real_world.py
   also finds them.
2. A ~20 MB APK: the largest real APK padded with a big stored asset and a second DEX of many classes (some
   of them tracker SDK names), re-zipped; it keeps the real manifest and signature files.
3. Peers, each in its own venv under --peers (never appban's dependencies): exodus-core (needs Debian's
   `dexdump`, installed with apt-get when missing) fed the offline ETIP snapshot appban ships, converted to the
   API's format; MobSF (Python 3.12+) whose static analysis is called in-process under Django. Offline, MobSF
   cannot download jadx, so its Java decompilation and the code analysis built on it are empty; its manifest,
   certificate and tracker steps (baksmali, bundled) run.
4. Each tool runs once per APK in a child process; wall time of the analysis is measured inside the child
   (imports and Django start-up excluded); peak memory is the child's own VmHWM (imports included) or that
   of the largest tool it ran (dexdump, MobSF's java), whichever is larger. (The child's ru_maxrss from wait4
   is not used: Linux folds the parent's RSS at fork into it.) appban's figure is for `appban.risk.assess`
   in-process; the CLI end to end is printed apart.

The peers are only run, never imported into appban; no code of theirs is copied here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAPSHOT = REPO / "src" / "appban" / "risk" / "data" / "exodus_trackers.json"
MiB = 1024 * 1024

# --- the drivers each peer venv runs (written to --peers/drivers at run time) ---------------------------------

APPBAN_DRIVER = r'''

def _peak_mib():
    # VmHWM is this process's own high-water mark (a new one since exec); ru_maxrss of the children covers the
    # tools it ran (dexdump, java). ru_maxrss of the driver itself would include the bench's RSS at fork.
    import resource
    hwm = 0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return max(hwm, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
import io, json, sys, time
t0 = time.perf_counter()
from appban.catalog import default_catalog
from appban.risk import assess, default_signatures
catalog = default_catalog(); default_signatures()
imported = time.perf_counter() - t0
path = sys.argv[1]
t = time.perf_counter()
with open(path, "rb") as stream:
    result = assess(stream, path, catalog, assessed_at="2026-11-28T00:00:00Z")
seconds = time.perf_counter() - t
b = result.android
print(json.dumps({"seconds": seconds, "startup": imported, "peak_mib": _peak_mib(),
                  "permissions": sorted(p.name for p in b.permissions) if b else [],
                  "trackers": sorted(t.name for t in b.trackers) if b else [],
                  "tracker_ids": sorted(t.tracker_id for t in b.trackers) if b else [],
                  "certificates": [c.subject for c in b.certificates] if b else [],
                  "rating": result.rating.value}))
'''

EXODUS_DRIVER = r'''

def _peak_mib():
    # VmHWM is this process's own high-water mark (a new one since exec); ru_maxrss of the children covers the
    # tools it ran (dexdump, java). ru_maxrss of the driver itself would include the bench's RSS at fork.
    import resource
    hwm = 0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return max(hwm, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
import json, logging, sys, time
from collections import namedtuple
logging.disable(logging.CRITICAL)
from exodus_core.analysis.static_analysis import StaticAnalysis
snapshot = json.load(open(sys.argv[2]))
path = sys.argv[1]
t = time.perf_counter()
analysis = StaticAnalysis(path)
# Offline: the ETIP snapshot appban ships stands in for the API download, in the API's own record shape.
Tracker = namedtuple("tracker", ["id", "name", "code_signature", "network_signature", "website", "categories",
                                 "creation_date"])
analysis.signatures = [Tracker(*(t.get(k) if t.get(k) is not None else "" for k in Tracker._fields))
                       for t in snapshot["trackers"]]
analysis._compile_signatures()
trackers = analysis.detect_trackers()
permissions = analysis.get_permissions()
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "peak_mib": _peak_mib(), "permissions": sorted(set(permissions)),
                  "trackers": sorted(t.name for t in trackers), "tracker_ids": sorted(t.id for t in trackers),
                  "classes": len(analysis.get_embedded_classes())}))
'''

MOBSF_DRIVER = r'''

def _peak_mib():
    # VmHWM is this process's own high-water mark (a new one since exec); ru_maxrss of the children covers the
    # tools it ran (dexdump, java). ru_maxrss of the driver itself would include the bench's RSS at fork.
    import resource
    hwm = 0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return max(hwm, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
import hashlib, json, logging, os, shutil, sys, time
from pathlib import Path
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mobsf.MobSF.settings")
logging.disable(logging.CRITICAL)
import django
django.setup()
from django.conf import settings
import mobsf.MobSF.utils as utils
# Offline, MobSF probes two web sites with a 5 s timeout each before updating its tracker list: stubbed, so
# its figures are its analysis, not network timeouts.
utils.is_internet_available = lambda: False
import mobsf.MalwareAnalyzer.views.Trackers as trackers_module
trackers_module.is_internet_available = lambda: False
from mobsf.StaticAnalyzer.views.android import apk as apk_module
path = Path(sys.argv[1])
data = path.read_bytes()
checksum = hashlib.md5(data).hexdigest()
app_dir = Path(settings.UPLD_DIR) / checksum
shutil.rmtree(app_dir, ignore_errors=True)
app_dir.mkdir(parents=True)
(app_dir / f"{checksum}.apk").write_bytes(data)
from mobsf.StaticAnalyzer.models import RecentScansDB
RecentScansDB.objects.filter(MD5=checksum).delete()
RecentScansDB(ANALYZER="static_analyzer", SCAN_TYPE="apk", FILE_NAME=path.name, APP_NAME="", PACKAGE_NAME="",
              VERSION_NAME="", MD5=checksum).save()
app_dic = {"dir": Path(settings.BASE_DIR), "app_name": path.name, "md5": checksum, "app_dir": app_dir,
           "tools_dir": (Path(settings.BASE_DIR) / "StaticAnalyzer" / "tools").as_posix(), "icon_path": ""}
apk_module.initialize_app_dic(app_dic, "apk")
t = time.perf_counter()
context, error = apk_module.apk_analysis_task(checksum, app_dic, True)
seconds = time.perf_counter() - t
context = context or {}
trackers = (context.get("trackers") or {}).get("trackers") or []
code = context.get("code_analysis") or {}
print(json.dumps({"seconds": seconds, "peak_mib": _peak_mib(), "error": error,
                  "permissions": sorted((context.get("permissions") or {}).keys()),
                  "trackers": sorted(t["name"] for t in trackers),
                  "code_findings": len((code.get("findings") or {})),
                  "java_files": len(list((app_dir / "java_source").rglob("*.java")))
                  if (app_dir / "java_source").exists() else 0}))
'''


# --- setup ----------------------------------------------------------------------------------------------------


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    print("$", " ".join(command), flush=True)
    return subprocess.run(command, check=True, text=True, **kwargs)  # type: ignore[call-overload, no-any-return]


def download_apks(peers: Path, target: Path) -> list[Path]:
    if target.is_dir() and len(list(target.glob("*.apk"))) >= 40:
        return sorted(target.glob("*.apk"))
    helper = peers / "dl"
    if not (helper / "bin" / "pip").exists():
        run([sys.executable, "-m", "venv", str(helper)])
        run([str(helper / "bin" / "pip"), "install", "-q", "setuptools", "wheel", "babel"])
    with tempfile.TemporaryDirectory() as tmp:
        # --no-build-isolation: pip prepares the sdist's metadata with the helper venv's setuptools, instead of
        # building babel from source in an isolated environment.
        run([str(helper / "bin" / "pip"), "download", "fdroidserver", "--no-deps", "--no-binary", ":all:",
             "--no-build-isolation", "-d", tmp])
        (sdist,) = Path(tmp).glob("fdroidserver-*.tar.gz")
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(sdist) as archive:
            for member in archive.getmembers():
                name = member.name
                if "/tests/" in name and name.lower().endswith((".apk", ".ipa")) and member.isfile():
                    source = archive.extractfile(member)
                    assert source is not None
                    (target / Path(name).name).write_bytes(source.read())
        (target / "SOURCE.txt").write_text(f"{sdist.name} from PyPI, tests/*.apk|*.ipa\n", encoding="utf-8")
    return sorted(target.glob("*.apk"))


def make_big_apk(source: Path, target: Path, size_mib: int) -> Path:
    """The real APK with a big second DEX (many classes, some of them tracker SDKs) and a stored asset."""
    sys.path.insert(0, str(REPO))
    from tests.risk.builders import dex  # the test suite's DEX writer

    classes = [f"org.bench.big.p{i // 500}.C{i}" for i in range(60_000)]
    classes += ["com.facebook.ads.AdView", "com.adjust.sdk.Adjust", "com.google.firebase.analytics.Analytics"]
    strings = [f"https://api{i}.bench.example.org/v1/x" for i in range(200)]
    big_dex = dex(classes, strings)
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as out:
        for info in original.infolist():
            out.writestr(info, original.read(info))
        out.writestr(zipfile.ZipInfo("classes2.dex", (2026, 1, 1, 0, 0, 0)), big_dex, zipfile.ZIP_DEFLATED)
        written = sum(i.compress_size for i in out.infolist())
        pad = max(0, size_mib * MiB - written - 4096)
        # Random bytes, stored: an asset that no compression shrinks, as media assets are.
        out.writestr(zipfile.ZipInfo("assets/media.bin", (2026, 1, 1, 0, 0, 0)), os.urandom(pad),
                     zipfile.ZIP_STORED)
    return target


def ensure_exodus(peers: Path) -> Path | None:
    venv = peers / "exodus"
    python = venv / "bin" / "python"
    if shutil.which("dexdump") is None:
        try:
            run(["apt-get", "install", "-y", "-qq", "dexdump"], env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        except (subprocess.CalledProcessError, FileNotFoundError) as error:
            print(f"exodus-core skipped: dexdump could not be installed ({error})")
            return None
    if not python.exists():
        run([sys.executable, "-m", "venv", str(venv)])
    if subprocess.run([str(python), "-c", "import exodus_core"], capture_output=True).returncode:
        run([str(venv / "bin" / "pip"), "install", "-q", "exodus-core"])
    return python


def find_python312() -> str | None:
    candidates = [shutil.which(n) for n in ("python3.13", "python3.12")]
    candidates += [str(p) for p in sorted(Path("/root/.pyenv/versions").glob("3.1[2-9]*/bin/python"))]
    for candidate in candidates:
        if candidate and subprocess.run([candidate, "-c", "import sys; assert sys.version_info >= (3, 12)"],
                                        capture_output=True).returncode == 0:
            return candidate
    return None


def ensure_mobsf(peers: Path) -> tuple[Path | None, str]:
    venv = peers / "mobsf"
    python = venv / "bin" / "python"
    if not python.exists():
        base = find_python312()
        if base is None:
            return None, "no Python 3.12+ on this machine (MobSF needs it)"
        run([base, "-m", "venv", str(venv)])
    if subprocess.run([str(python), "-c", "import mobsf"], capture_output=True).returncode:
        run([str(venv / "bin" / "pip"), "install", "-q", "mobsf"])
    if shutil.which("java") is None:
        print("note: no java; MobSF's baksmali (and so its tracker step) will find nothing")
    # MobSF's first start creates its database (~/.MobSF/db.sqlite3).
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mobsf.MobSF.settings"}
    subprocess.run([str(python), "-c", "import sys; sys.argv=['mobsf','db']; from mobsf.__main__ import main; main()"],
                   env=env, capture_output=True, text=True)
    return python, ""


# --- measuring ----------------------------------------------------------------------------------------------------


@dataclass
class Measure:
    tool: str
    seconds: float | None = None  # the analysis, inside the child
    wall: float | None = None  # the whole child process
    peak_mib: float | None = None
    permissions: list[str] = field(default_factory=list)
    trackers: list[str] = field(default_factory=list)
    tracker_ids: list[int] = field(default_factory=list)
    extra: dict[str, object] = field(default_factory=dict)
    error: str | None = None


def measure(tool: str, command: list[str], env: dict[str, str] | None = None, timeout: float = 900) -> Measure:
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(command, stdout=out, stderr=err, env=env, text=True)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                child.kill()
                pid, status, usage = os.wait4(child.pid, 0)
                break
            time.sleep(0.005)
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    result = Measure(tool, wall=wall, peak_mib=usage.ru_maxrss / 1024)
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if child.returncode or not lines:
        result.error = (stderr.strip().splitlines() or [f"exit {child.returncode}"])[-1][:200]
        return result
    data = json.loads(lines[-1])
    result.seconds = float(data.pop("seconds"))
    result.peak_mib = float(data.pop("peak_mib", result.peak_mib))
    result.permissions = list(data.pop("permissions", []))
    result.trackers = list(data.pop("trackers", []))
    result.tracker_ids = list(data.pop("tracker_ids", []))
    if data.get("error"):
        result.error = str(data["error"])[:200]
    result.extra = data
    return result


# --- report -------------------------------------------------------------------------------------------------------


def signature_of(tracker_id: int) -> str:
    for tracker in json.loads(SNAPSHOT.read_text(encoding="utf-8"))["trackers"]:
        if tracker["id"] == tracker_id:
            return str(tracker["code_signature"])
    return "?"


def fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peers", type=Path, default=Path("/work/peers"))
    parser.add_argument("--apks", type=Path, default=Path(os.environ.get(
        "APPBAN_REAL_APKS", str(Path(tempfile.gettempdir()) / "appban-real-apks"))))
    parser.add_argument("--big-mib", type=int, default=20)
    parser.add_argument("--skip-mobsf", action="store_true")
    parser.add_argument("--download-only", action="store_true")
    parser.add_argument("--json", type=Path, help="write every measure here")
    args = parser.parse_args()
    peers: Path = args.peers.resolve()
    if REPO in peers.parents or peers == REPO:
        parser.error("--peers must be outside the repository")
    peers.mkdir(parents=True, exist_ok=True)
    apks = download_apks(peers, args.apks)
    print(f"{len(apks)} real APKs in {args.apks}")
    if args.download_only:
        return 0
    biggest = max(apks, key=lambda p: p.stat().st_size)
    big = make_big_apk(biggest, peers / f"big-{args.big_mib}mib.apk", args.big_mib)
    print(f"big APK: {big} ({big.stat().st_size / MiB:.1f} MiB) = {biggest.name} + classes2.dex + stored asset")
    exodus_python = ensure_exodus(peers)
    mobsf_python, mobsf_reason = (None, "--skip-mobsf") if args.skip_mobsf else ensure_mobsf(peers)
    drivers = peers / "drivers"
    drivers.mkdir(exist_ok=True)
    for name, text in (("appban_driver.py", APPBAN_DRIVER), ("exodus_driver.py", EXODUS_DRIVER),
                       ("mobsf_driver.py", MOBSF_DRIVER)):
        (drivers / name).write_text(text, encoding="utf-8")
    appban_python = REPO / ".venv" / "bin" / "python"
    cli_start = measure("appban-cli", [str(REPO / ".venv" / "bin" / "appban"), "assess", str(apks[0]),
                                       "--format", "json", "-o", os.devnull])

    rows: list[dict[str, object]] = []
    for path in [*apks, big]:
        print(f"-- {path.name}", flush=True)
        row: dict[str, object] = {"apk": path.name, "size": path.stat().st_size}
        row["appban"] = measure("appban", [str(appban_python), str(drivers / "appban_driver.py"), str(path)])
        if exodus_python is not None:
            row["exodus"] = measure("exodus", [str(exodus_python), str(drivers / "exodus_driver.py"), str(path),
                                               str(SNAPSHOT)])
        if mobsf_python is not None:
            row["mobsf"] = measure("mobsf", [str(mobsf_python), str(drivers / "mobsf_driver.py"), str(path)],
                                   env={**os.environ, "DJANGO_SETTINGS_MODULE": "mobsf.MobSF.settings"})
        rows.append(row)
        print("   " + "; ".join(f"{m.tool} {fmt(m.seconds, 3)} s {fmt(m.peak_mib, 0)} MiB perms "
                                f"{len(m.permissions)} trackers {m.trackers}" + (f" ERROR {m.error}" if m.error else "")
                                for m in row.values() if isinstance(m, Measure)), flush=True)

    print()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores (shared), Python {platform.python_version()}, "
          f"{dt.date.today().isoformat()}")
    print(f"appban CLI end to end on {apks[0].name}: {fmt(cli_start.wall)} s, {fmt(cli_start.peak_mib, 0)} MiB")
    if mobsf_python is None:
        print(f"MobSF skipped: {mobsf_reason}")
    header = ("| APK | KiB | appban s | appban MiB | exodus s | exodus MiB | MobSF s | MobSF MiB | MobSF/appban | "
              "perms appban/androguard | perms exodus | perms MobSF | trackers appban | trackers exodus | "
              "trackers MobSF |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    ratios: list[float] = []
    disagreements: list[str] = []
    for row in rows:
        a: Measure = row["appban"]  # type: ignore[assignment]
        e: Measure | None = row.get("exodus")  # type: ignore[assignment]
        m: Measure | None = row.get("mobsf")  # type: ignore[assignment]
        ratio = (m.seconds / a.seconds) if m and m.seconds and a.seconds else None
        if ratio:
            ratios.append(ratio)
        print(f"| {str(row['apk'])[:38]} | {int(row['size']) // 1024} | {fmt(a.seconds, 3)} | {fmt(a.peak_mib, 0)} "
              f"| {fmt(e.seconds if e else None, 3)} | {fmt(e.peak_mib if e else None, 0)} "
              f"| {fmt(m.seconds if m else None, 3)} | {fmt(m.peak_mib if m else None, 0)} | {fmt(ratio, 0)}x "
              f"| {len(a.permissions)} | {len(e.permissions) if e else '—'} | {len(m.permissions) if m else '—'} "
              f"| {', '.join(a.trackers) or '-'} | {(', '.join(e.trackers) or '-') if e and not e.error else '—'} "
              f"| {(', '.join(m.trackers) or '-') if m and not m.error else '—'} |")
        for peer in (e, m):
            if peer is None:
                continue
            if peer.error:
                disagreements.append(f"{row['apk']}: {peer.tool} error: {peer.error}")
            only_ours = sorted(set(a.permissions) - set(peer.permissions))
            only_theirs = sorted(set(peer.permissions) - set(a.permissions))
            if only_ours or only_theirs:
                disagreements.append(f"{row['apk']}: permissions appban-only {only_ours}, {peer.tool}-only "
                                     f"{only_theirs}")
            only_ours = sorted(set(a.trackers) - set(peer.trackers))
            only_theirs = sorted(set(peer.trackers) - set(a.trackers))
            if only_ours or only_theirs:
                disagreements.append(f"{row['apk']}: trackers appban-only {only_ours}, {peer.tool}-only "
                                     f"{only_theirs}")
        if e is not None:
            for tracker_id in sorted(set(e.tracker_ids) ^ set(a.tracker_ids)):
                disagreements.append(f"  exodus:{tracker_id} code_signature {signature_of(tracker_id)!r}")
    print()
    if ratios:
        ratios.sort()
        print(f"MobSF static analysis / appban assess: min {ratios[0]:.0f}x, median {ratios[len(ratios) // 2]:.0f}x, "
              f"max {ratios[-1]:.0f}x over {len(ratios)} APKs")
    big_row = rows[-1]["appban"]
    assert isinstance(big_row, Measure)
    print(f"big APK ({big.stat().st_size / MiB:.1f} MiB): appban {fmt(big_row.seconds, 3)} s analysis, "
          f"{fmt(big_row.wall)} s process, {fmt(big_row.peak_mib, 0)} MiB peak "
          f"(targets: < 2 s, < 1024 MiB)")
    print("differences:" if disagreements else "differences: none")
    for line in disagreements:
        print(" ", line)
    if args.json:
        args.json.write_text(json.dumps([{k: (vars(v) if isinstance(v, Measure) else v) for k, v in r.items()}
                                         for r in rows], indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
