"""The working set of `apply_reports`: `evaluation.working_set` with whole inventories read for writing.

Folding reports needs every app of the devices' current inventories, and saving the folded ones needs the
stored rows to write only the difference. `InventoryRepository.get_for_update` reads both in one query and
keeps the rows for `save` on the same repository, so a report's path reads each stored row once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from sqlalchemy.orm import Session

from appban.compliance import Engine
from appban.model import Device
from appban.service.context import PolicyContext
from appban.store import (
    AttestationRepository,
    DeviceRepository,
    ExemptionRepository,
    FindingRepository,
    InventoryRepository,
)

__all__ = ["reports_working_set"]


def reports_working_set(session: Session, context: PolicyContext, device_ids: Iterable[str], now: dt.datetime,
                        inventories: InventoryRepository, known: Mapping[str, Device] | None = None) -> Engine:
    """An engine over these devices with everything that bears on them, findings as stored, inventories whole
    and remembered by `inventories` for its `save`. `known` devices, as the caller has just stored them in this
    transaction, are not read again when they cover every id."""
    ids = set(device_ids)
    if known is not None and ids <= known.keys():
        devices = {device_id: known[device_id] for device_id in ids}
    else:
        devices = DeviceRepository(session).get_many(ids)
    stored = FindingRepository(session).get_for_devices(ids)
    return Engine.restore(
        context.staleness, now, rules=context.rules.values(), devices=devices.values(),
        inventories=inventories.get_for_update(ids),
        exemptions=ExemptionRepository(session).active_for(
            ids, {device.holder for device in devices.values() if device.holder is not None}, now),
        attestations=AttestationRepository(session).for_devices(ids),
        findings={key: item.verdict for key, item in stored.items()})
