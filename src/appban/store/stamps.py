"""A cheap fingerprint of everything a policy context is built from, so a long-running process can keep its
compiled context until the policy in the store changes (appban.service.context.ContextCache).

Restriction versions, organisations and adoptions are only ever added or updated with a time, so a count and
the newest time of each change whenever they do; the few settings rows are read whole.
"""

from __future__ import annotations

from collections.abc import Hashable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from appban.store.tables import (
    AdoptionRow,
    GateChangeRow,
    InventoryReportRow,
    OrganisationRow,
    OrganisationSettingsRow,
    RestrictionVersionRow,
)

__all__ = ["data_stamp", "policy_stamp"]


def policy_stamp(session: Session) -> Hashable:
    """Equal stamps mean the same restrictions, organisations, adoptions and settings."""
    counts = session.execute(select(
        select(func.count()).select_from(RestrictionVersionRow).scalar_subquery(),
        select(func.max(RestrictionVersionRow.applied_at)).scalar_subquery(),
        select(func.count()).select_from(OrganisationRow).scalar_subquery(),
        select(func.max(OrganisationRow.updated_at)).scalar_subquery(),
        select(func.count()).select_from(AdoptionRow).scalar_subquery(),
        select(func.max(AdoptionRow.decided_at)).scalar_subquery(),
    )).one()
    settings = session.execute(select(OrganisationSettingsRow.organisation_id, OrganisationSettingsRow.staleness_days)
                               .order_by(OrganisationSettingsRow.organisation_id)).all()
    return (tuple(counts), tuple(tuple(row) for row in settings))


def data_stamp(session: Session) -> Hashable:
    """Equal stamps mean the same policy, devices, findings and inventory reports: what dashboard counts are
    computed from (appban.service.summaries). Every change of a device or a finding writes a `gate_changes`
    row and every report an `inventory_reports` row, so their newest ids move with any change (two index
    look-ups)."""
    newest = session.execute(select(select(func.max(GateChangeRow.id)).scalar_subquery(),
                                    select(func.max(InventoryReportRow.id)).scalar_subquery())).one()
    return (policy_stamp(session), tuple(newest))
