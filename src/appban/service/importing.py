"""Importing one inventory file: all of it or none of it, with findings current when it returns.

The file is read as a stream and handled in chunks of reports inside one transaction: memory stays bounded
for a 2 GB export, and any malformed record anywhere in the file rolls back everything the earlier chunks
wrote. A device's attributes come from the file first, then from what is stored, then from the defaults
given on the command line; a new device that none of them places in an organisation is refused.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import itertools
import queue
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, TypeVar, cast

from sqlalchemy.orm import Session

from appban.errors import InvalidInput, Location, Problem
from appban.inventory import DeviceReport, InventoryFormat, MatchedBy, ReportDefaults
from appban.inventory.csv_format import CsvFormat, UngroupedRows
from appban.model import Device, Funding, Ownership
from appban.service.context import PolicyContext
from appban.service.evaluation import Outcome, ReportBatch, apply_report_batches, apply_reports
from appban.store import DeviceRepository, InventoryRepository
from appban.store.inventories import PER_DEVICE_LOCKS

__all__ = [
    "CHUNK",
    "CHUNK_APPS",
    "GROUPED_FIRST_BYTES",
    "PUSH_DEVICES",
    "ImportSummary",
    "Push",
    "confinement_problems",
    "import_pushes",
    "import_stream",
    "push_batch",
    "pusher_defaults",
]

CHUNK = 2_000  # reports per round trip: large enough for bulk statements, small enough to bound memory
# App rows per chunk (a single report may have more): several chunks even for a few thousand devices, so that
# reading the file overlaps storing it (`_read_ahead`); each chunk costs a dozen round trips.
CHUNK_APPS = 40_000
# Devices a batch of pushes may report: each is locked on its own (store.inventories), so batches about
# different devices, in several server processes, run side by side.
PUSH_DEVICES = PER_DEVICE_LOCKS
PUSH_BATCH = 200  # pushes stored in one transaction, at most: a batch's wait stays short
# A CSV file past this is read as grouped first (`import_stream`): below it, reading it whole costs little.
GROUPED_FIRST_BYTES = 4 * 1024 * 1024

T = TypeVar("T")


@dataclass(slots=True)
class ImportSummary:
    source: str
    format: str
    reports: int = 0
    devices_created: int = 0
    devices_updated: int = 0
    matched_by_name: Counter[str] = field(default_factory=Counter)  # "platform:identifier (display name)"
    outcome: Outcome = field(default_factory=Outcome)


@dataclass(frozen=True, slots=True)
class Push:
    """A small file a source pushed, read already: imported with others in one transaction (`import_pushes`)."""

    reports: tuple[DeviceReport, ...]
    source: str
    format: str
    defaults: ReportDefaults
    home: str  # the pusher's organisation: the devices it reports stay in its subtree
    # what `push_batch` weighs each time it looks at the queue, worked out once
    devices: frozenset[str] = field(init=False)
    apps: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "devices", frozenset(report.device_id for report in self.reports))
        object.__setattr__(self, "apps", sum(len(report.apps) for report in self.reports))


def import_pushes(session: Session, context: PolicyContext, pushes: Sequence[Push], now: dt.datetime,
                  ) -> list[ImportSummary | InvalidInput]:
    """Import several pushes inside the caller's transaction, in about the statements of one.

    Each push is judged on its own (placement, confinement to its pusher's subtree): a push with a problem gets
    its InvalidInput and writes nothing, the others go on. Two pushes must not report the same device (the
    caller batches them so); the reports of each count in its own summary.
    """
    ids = set().union(*(push.devices for push in pushes))
    InventoryRepository(session).serialise_writes(ids)
    stored = DeviceRepository(session).get_many(ids)
    results: list[ImportSummary | InvalidInput] = []
    accepted: list[tuple[int, list[Device]]] = []
    subtrees: dict[str, frozenset[str]] = {}  # pushes of one batch mostly come from a few sources
    for index, push in enumerate(pushes):
        allowed = subtrees.get(push.home)
        if allowed is None:
            allowed = subtrees[push.home] = frozenset(context.tree.subtree(push.home))
        try:
            defaults = pusher_defaults(push.defaults, push.home, allowed)
        except InvalidInput as error:
            results.append(error)
            continue
        problems = confinement_problems(push.reports, stored, allowed, push.home, defaults.organisation)
        devices, placement = _device_records(context, push.reports, defaults, stored)
        if problems or placement:
            results.append(InvalidInput(problems or placement))
            continue
        summary = ImportSummary(source=push.source, format=push.format, reports=len(push.reports))
        _count_matched_by_name(summary, push.reports)
        results.append(summary)
        accepted.append((index, devices))
    if not accepted:
        return results
    repository = DeviceRepository(session)
    for source_format in sorted({pushes[index].format for index, _ in accepted}):
        group = [(index, devices) for index, devices in accepted if pushes[index].format == source_format]
        counts = repository.upsert([d for _, devices in group for d in devices], now=now, source_format=source_format,
                                   names={r.device_id: r.name for index, _ in group for r in pushes[index].reports
                                          if r.name})
        for index, devices in group:
            summary = cast(ImportSummary, results[index])
            summary.devices_created = sum(d.id in counts.created_ids for d in devices)
            summary.devices_updated = sum(d.id in counts.updated_ids for d in devices)
    outcomes = apply_report_batches(
        session, context, [ReportBatch(pushes[index].reports, pushes[index].format, pushes[index].source)
                           for index, _ in accepted],
        now=now, devices={device.id: device for _, devices in accepted for device in devices})
    for (index, _), outcome in zip(accepted, outcomes, strict=True):
        cast(ImportSummary, results[index]).outcome = outcome
    return results


def push_batch(queued: Sequence[Push]) -> int:
    """How many pushes from the head of `queued` go into the next batch (`service.group_commit`): in order of
    arrival, up to one chunk's reports and apps, and not past a push about a device already in the batch (it
    waits for the next batch, so the reports of a device are folded in the order they came)."""
    devices: set[str] = set()
    reports = apps = 0
    for count, push in enumerate(queued):
        if count and (count >= PUSH_BATCH or not devices.isdisjoint(push.devices)
                      or len(devices) + len(push.devices) > PUSH_DEVICES
                      or reports + len(push.reports) > CHUNK or apps + push.apps > CHUNK_APPS):
            return count
        devices |= push.devices
        reports += len(push.reports)
        apps += push.apps
    return len(queued)


def pusher_defaults(defaults: ReportDefaults, home: str, allowed: Collection[str]) -> ReportDefaults:
    """The defaults of a push by `home`, whose subtree is `allowed`: its own organisation places the devices
    the file does not, unless the push names another, which must be in the subtree (InvalidInput otherwise)."""
    default = defaults.organisation or home
    if default not in allowed:
        raise InvalidInput([Problem(Location("query.organisation"), f"unknown organisation `{default}`",
                                    "push for your organisation or one below it")])
    return dataclasses.replace(defaults, organisation=default)


def confinement_problems(reports: Sequence[DeviceReport], stored: Mapping[str, Device], allowed: Collection[str],
                         home: str, default: str | None) -> list[Problem]:
    """What in `reports`, pushed by `home`, would reach outside its subtree `allowed`: a device stored in
    another organisation, or one placed (by the file, as stored, or by `default`) outside the subtree."""
    problems: list[Problem] = []
    for report in reports:
        known = stored.get(report.device_id)
        if known is not None and known.organisation not in allowed:
            problems.append(Problem(report.where, f"device `{report.device_id}` cannot be reported by `{home}`",
                                    "each organisation reports its own devices"))
            continue
        placed = report.organisation or (known.organisation if known else None) or default
        if placed is not None and placed not in allowed:
            problems.append(Problem(report.where, f"device `{report.device_id}`: unknown organisation `{placed}`",
                                    f"a device pushed by `{home}` belongs to it or to an organisation below it"))
    return problems


def import_stream(session: Session, context: PolicyContext, fmt: InventoryFormat, stream: BinaryIO, source: str,
                  defaults: ReportDefaults, now: dt.datetime, progress: Callable[[int], None] | None = None,
                  ) -> ImportSummary:
    """Import one file inside the caller's transaction; raises InvalidInput naming the record at fault.

    A CSV file that can be read again and is larger than `GROUPED_FIRST_BYTES` is first read as grouped (each
    device stored as soon as its rows end, while the rest is read), under a savepoint; if its rows turn out
    not to be grouped, that attempt is rolled back and the file read again the usual way (whole, up to the
    grouping budget). Exports list each device's rows together, so the second reading is for hand-made files.
    """
    grouped = _grouped_reader(fmt, stream)
    if grouped is not None:
        start = stream.tell()
        InventoryRepository(session).serialise_writes(None)  # a whole file: the import lock, outside the savepoint
        reported = [0]

        def counted(count: int) -> None:
            reported[0] += count
            if progress is not None:
                progress(count)

        try:
            with session.begin_nested():
                return _import_once(session, context, grouped, stream, source, defaults, now, counted)
        except UngroupedRows:
            if progress is not None:
                progress(-reported[0])
            stream.seek(start)
    return _import_once(session, context, fmt, stream, source, defaults, now, progress)


def _grouped_reader(fmt: InventoryFormat, stream: BinaryIO) -> InventoryFormat | None:
    """The grouped reading of `fmt` for this stream, when it has one and it is worth a second reading."""
    if not isinstance(fmt, CsvFormat) or fmt.grouped or not stream.seekable():
        return None
    start = stream.tell()
    size = stream.seek(0, io.SEEK_END) - start
    stream.seek(start)
    return CsvFormat(grouped=True) if size > GROUPED_FIRST_BYTES else None


def _import_once(session: Session, context: PolicyContext, fmt: InventoryFormat, stream: BinaryIO, source: str,
                 defaults: ReportDefaults, now: dt.datetime, progress: Callable[[int], None] | None,
                 ) -> ImportSummary:
    summary = ImportSummary(source=source, format=fmt.name)
    chunks = _chunks(fmt.read(stream, source, context.catalog, defaults))
    if _reads_no_store(fmt):
        chunks = _read_ahead(chunks)
    try:
        _import_chunks(session, context, fmt, chunks, source, defaults, now, progress, summary)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # an early end (a bad record) stops the read-ahead thread now, not at garbage collection
    return summary


def _import_chunks(session: Session, context: PolicyContext, fmt: InventoryFormat, chunks: Iterator[list[DeviceReport]],
                   source: str, defaults: ReportDefaults, now: dt.datetime, progress: Callable[[int], None] | None,
                   summary: ImportSummary) -> None:
    # A push of a few devices (one chunk) locks just them, so pushes about different devices run side by side;
    # anything larger locks inventory writes whole (InventoryRepository.serialise_writes).
    head = list(itertools.islice(chunks, 2))
    few = {report.device_id for report in head[0]} if len(head) == 1 else None
    InventoryRepository(session).serialise_writes(few)
    for chunk in itertools.chain(head, chunks):
        devices = _devices(session, context, chunk, defaults)
        counts = DeviceRepository(session).upsert(
            devices, now=now, source_format=fmt.name, names={r.device_id: r.name for r in chunk if r.name})
        summary.devices_created += counts.created
        summary.devices_updated += counts.updated
        summary.reports += len(chunk)
        _count_matched_by_name(summary, chunk)
        outcome = apply_reports(session, context, chunk, source_format=fmt.name, source_file=source, now=now,
                                devices={device.id: device for device in devices})
        summary.outcome.merge(outcome)
        if progress is not None:
            progress(len(chunk))


def _count_matched_by_name(summary: ImportSummary, reports: Sequence[DeviceReport]) -> None:
    for report in reports:
        for entry in report.apps:
            if entry.matched_by is MatchedBy.NAME and not entry.app.identifier.startswith("name:"):
                summary.matched_by_name[f"{entry.app} ({entry.name})"] += 1


def _chunks(reports: Iterator[DeviceReport]) -> Iterator[list[DeviceReport]]:
    """Reports in lists of at most `CHUNK` reports and, but for a single report, `CHUNK_APPS` apps."""
    chunk: list[DeviceReport] = []
    apps = 0
    for report in reports:
        if chunk and apps + len(report.apps) > CHUNK_APPS:
            yield chunk
            chunk, apps = [], 0
        chunk.append(report)
        apps += len(report.apps)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk, apps = [], 0
    if chunk:
        yield chunk


def _read_ahead(items: Iterator[T]) -> Iterator[T]:
    """`items`, produced one ahead by a thread of their own while the caller works on the one before.

    An import's two halves use different resources: reading the file is this process's work, storing a chunk
    is mostly the database server's (COPY, indexes, foreign keys), during which this process only waits. Read
    one after the other they add up; read ahead, the reading of the next chunk hides in the wait for the last.
    At most three chunks exist at once (one stored, one queued, one being read), so memory stays bounded. An
    error in the file is raised here, in the caller's thread, when its chunk is reached; if the caller stops
    early, the reader stops at its next chunk and is waited for, so nothing reads the stream after we return.
    """
    queued: queue.Queue[tuple[bool, T | BaseException | None]] = queue.Queue(maxsize=1)
    stopped = threading.Event()

    def put(entry: tuple[bool, T | BaseException | None]) -> bool:
        while not stopped.is_set():
            try:
                queued.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((False, item)):
                    return
            put((True, None))
        except BaseException as error:  # handed over to the caller's thread, which raises it
            put((True, error))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    reader = threading.Thread(target=produce, name="appban-import-reader", daemon=True)
    reader.start()
    try:
        while True:
            done, value = queued.get()
            if done:
                if isinstance(value, BaseException):
                    raise value
                return
            yield cast(T, value)
    finally:
        stopped.set()
        reader.join()


def _reads_no_store(fmt: InventoryFormat) -> bool:
    """Whether reading `fmt` may run beside the session's work: the formats of `appban.inventory` are pure (the
    import contracts forbid them the store); a wrapper from a shell (the API's `Confined`) may query the
    session, which must not be used from two threads."""
    return type(fmt).__module__.startswith("appban.inventory.")


def _devices(session: Session, context: PolicyContext, chunk: list[DeviceReport], defaults: ReportDefaults,
             ) -> list[Device]:
    """The device records the chunk implies: file fields > stored fields > defaults."""
    stored = DeviceRepository(session).get_many({r.device_id for r in chunk})
    devices, problems = _device_records(context, chunk, defaults, stored)
    if problems:
        raise InvalidInput(problems)
    return devices


def _device_records(context: PolicyContext, chunk: Sequence[DeviceReport], defaults: ReportDefaults,
                    stored: Mapping[str, Device]) -> tuple[list[Device], list[Problem]]:
    problems: list[Problem] = []
    out: dict[str, Device] = {}
    for report in chunk:
        known = out.get(report.device_id) or stored.get(report.device_id)
        organisation = report.organisation or (known.organisation if known else None) or defaults.organisation
        if organisation is None:
            problems.append(Problem(report.where, f"device `{report.device_id}` has no organisation",
                                    "pass --org ORG for devices the file does not place"))
            continue
        if organisation not in context.tree:
            problems.append(Problem(report.where, f"device `{report.device_id}`: unknown organisation "
                                    f"`{organisation}`", "run `appban org apply` first"))
            continue
        ownership = report.ownership or (known.ownership if known else None) or defaults.ownership
        if ownership is None:
            problems.append(Problem(report.where, f"device `{report.device_id}`: ownership is not known",
                                    "pass --ownership corporate or --ownership personal"))
            continue
        funding = report.funding or (known.funding if known else None) or defaults.funding or (
            Funding.FULL if ownership is Ownership.CORPORATE else Funding.NONE)
        enrolled = _first_bool(report.enrolled, known.enrolled if known else None, defaults.enrolled, True)
        out[report.device_id] = Device(
            id=report.device_id, organisation=organisation, platform=report.platform, ownership=ownership,
            funding=funding, enrolled=enrolled, holder=report.holder or (known.holder if known else None),
            last_inventory=report.observed_at)
    return list(out.values()), problems


def _first_bool(*values: bool | None) -> bool:
    for value in values:
        if value is not None:
            return value
    return True
