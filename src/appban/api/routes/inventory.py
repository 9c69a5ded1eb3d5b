"""`POST /api/v1/inventory/{format}`: a source pushes a report file; findings are current when it answers.

The body (up to `APPBAN_MAX_UPLOAD_BYTES`) is spooled to a temporary file as it arrives, then imported by
the same code as `appban import`, in one transaction: a malformed record anywhere is a 422 naming it, and
nothing of the file is stored. A small body (a device's check-in, a page of devices) is read first and stored
in one transaction with the small pushes that arrive beside it (group commit), each still judged and answered
on its own. A push is confined to the caller's subtree: the caller's organisation is the
default for devices the file does not place, and a record that places a device outside the subtree (or
names a device registered outside it) is refused with 422 naming the record, so a `source` token of one
organisation can neither add devices to another nor overwrite another's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import IO, Annotated, Any, BinaryIO, cast

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from appban.api.auth import Caller, Pusher
from appban.api.errors import responses
from appban.api.fields import ID_PATTERN, LINE_PATTERN, UtcDatetime
from appban.api.limits import spooled
from appban.api.scope import scoped
from appban.catalog import Catalog
from appban.errors import InvalidInput
from appban.inventory import FORMATS, DeviceReport, InventoryFormat, ReportDefaults, inventory_format
from appban.model import Funding, Ownership, Platform
from appban.service import GroupCommit, ImportSummary, Push, import_stream
from appban.service.importing import CHUNK_APPS, PUSH_DEVICES, confinement_problems, pusher_defaults
from appban.store import DeviceRepository
from appban.store.tables import ID_LENGTH

__all__ = ["ImportOut", "router"]

router = APIRouter(prefix="/inventory", tags=["inventory"])

_CHECK_BATCH = 2_000  # reports whose stored organisation is read in one query
# A body up to this size is read before its transaction and, if it reports few enough devices, stored in a
# batch with the pushes beside it; a larger one (a fleet's export) is streamed in a transaction of its own.
SMALL_PUSH_BYTES = 1 << 20

FORMAT_SCHEMA: dict[str, Any] = {"enum": sorted(FORMATS)}
UPLOAD_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
}, "description": "The file exactly as the device-management system exported it (any media type)."}}


class ImportOut(BaseModel):
    source: str
    format: str
    reports: int
    applied: int  # reports that became a device's current inventory
    ignored: int  # reports older than what was known (kept in the history)
    devices_created: int
    devices_updated: int
    findings_changed: int
    states: dict[str, int]  # new state -> findings that moved to it
    matched_by_name: dict[str, int]  # apps recognised by display name only: check the catalogue


class Confined:
    """A format whose reports must keep their devices inside `allowed` organisations: the file's placement,
    the stored device's and the default are all checked, before the importer sees a report."""

    def __init__(self, inner: InventoryFormat, session: Session, allowed: frozenset[str], home: str) -> None:
        self.name = inner.name
        self.inner = inner
        self.session = session
        self.allowed = allowed
        self.home = home

    def read(self, stream: BinaryIO, source: str, catalog: Catalog, defaults: ReportDefaults,
             ) -> Iterator[DeviceReport]:
        batch: list[DeviceReport] = []
        for report in self.inner.read(stream, source, catalog, defaults):
            batch.append(report)
            if len(batch) >= _CHECK_BATCH:
                yield from self._checked(batch, defaults)
                batch = []
        yield from self._checked(batch, defaults)

    def _checked(self, batch: list[DeviceReport], defaults: ReportDefaults) -> list[DeviceReport]:
        stored = DeviceRepository(self.session).get_many({r.device_id for r in batch})
        problems = confinement_problems(batch, stored, self.allowed, self.home, defaults.organisation)
        if problems:
            raise InvalidInput(problems)
        return batch


@router.post("/{format}", response_model=ImportOut, openapi_extra=UPLOAD_BODY, responses=responses(404),
             summary="Push an inventory file exported by a device-management system")
async def push_inventory(
    request: Request,
    format: Annotated[str, Path(max_length=32, json_schema_extra=FORMAT_SCHEMA,
                                description="The source format: " + ", ".join(sorted(FORMATS)) + ".")],
    caller: Pusher,
    organisation: Annotated[str | None, Query(pattern=ID_PATTERN, max_length=ID_LENGTH, description=(
        "Organisation of devices the file does not place (default: the caller's)."))] = None,
    ownership: Ownership | None = None,
    funding: Funding | None = None,
    enrolled: bool | None = None,
    observed_at: Annotated[UtcDatetime | None, Query(description="Report time, for formats without one.")] = None,
    platform: Annotated[Platform | None, Query(description="apple-mdm only: ios, ipados or macos.")] = None,
    name: Annotated[str, Query(max_length=200, pattern=LINE_PATTERN, description="Names the file in errors "
                                                                                   "and the report history.")] = "",
) -> ImportOut:
    if format not in FORMATS:
        raise InvalidInput.at("path.format", f"unknown inventory format {format!r}",
                              hint=f"one of: {', '.join(sorted(FORMATS))}")
    try:
        source_format = inventory_format(format, platform)
    except InvalidInput as error:
        raise InvalidInput.at("query.platform", error.problems[0].message, hint=error.problems[0].hint) from None
    spool = await spooled(request.stream(), caller.backend.limits.upload)
    try:
        defaults = ReportDefaults(organisation=organisation, ownership=ownership, funding=funding, enrolled=enrolled,
                                  observed_at=observed_at)
        source = name.strip() or f"{format} push"
        pushes = caller.backend.pushes
        if pushes is not None and spool.seek(0, os.SEEK_END) <= SMALL_PUSH_BYTES:
            spool.seek(0)
            summary = await run_in_threadpool(_push, pushes, caller, source_format, spool, source, defaults)
            if summary is not None:
                return _out(summary)
        spool.seek(0)
        return _out(await run_in_threadpool(_import, caller, source_format, spool, source, defaults))
    finally:
        spool.close()


def _push(pushes: GroupCommit[Push, ImportSummary], caller: Caller, source_format: InventoryFormat,
          stream: IO[bytes], source: str, defaults: ReportDefaults) -> ImportSummary | None:
    """A small file (a device, or a page of devices) stored together with the pushes that arrive beside it
    (service.group_commit); None when it turns out too large for that, for `_import` to stream."""
    reports: list[DeviceReport] = []
    devices: set[str] = set()
    apps = 0
    for report in source_format.read(cast(BinaryIO, stream), source, caller.backend.contexts.catalog, defaults):
        reports.append(report)
        devices.add(report.device_id)
        apps += len(report.apps)
        if len(devices) > PUSH_DEVICES or apps > CHUNK_APPS:
            return None
    return pushes.submit(Push(tuple(reports), source, source_format.name, defaults, caller.token.organisation))


def _import(caller: Caller, source_format: InventoryFormat, stream: IO[bytes], source: str,
            defaults: ReportDefaults) -> ImportSummary:
    with scoped(caller) as work:
        defaults = pusher_defaults(defaults, work.home, work.organisations)
        confined = Confined(source_format, work.session, work.organisations, work.home)
        return import_stream(work.session, work.context, confined, cast(BinaryIO, stream), source, defaults,
                             work.now)


def _out(summary: ImportSummary) -> ImportOut:
    outcome = summary.outcome
    return ImportOut(source=summary.source, format=summary.format, reports=summary.reports, applied=outcome.applied,
                     ignored=outcome.ignored, devices_created=summary.devices_created,
                     devices_updated=summary.devices_updated, findings_changed=outcome.changes,
                     states={str(state): count for state, count in sorted(outcome.states.items()) if count},
                     matched_by_name=dict(sorted(summary.matched_by_name.items())))

