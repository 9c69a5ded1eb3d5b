"""Per-organisation settings in the store: how old an inventory may be before a device's state is unknown.

An organisation without a setting inherits the nearest ancestor's, else the default (the service decides
that, from the tree); changing a setting is audited as an update of the organisation.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from appban.audit import AuditEvent
from appban.errors import InvalidInput, NotFound
from appban.store.audit_log import AuditLog
from appban.store.tables import OrganisationRow, OrganisationSettingsRow

__all__ = ["MAX_STALENESS_DAYS", "SettingsRepository"]

MAX_STALENESS_DAYS = 3650


class SettingsRepository:
    """Organisation settings in one session (one transaction)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def staleness_days(self) -> dict[str, int]:
        """organisation -> days, for the organisations that set one."""
        query = select(OrganisationSettingsRow.organisation_id, OrganisationSettingsRow.staleness_days)
        return dict(self._session.execute(query).all())

    def set_staleness(self, organisation_id: str, days: int, *, actor: str, now: dt.datetime) -> bool:
        """Set an organisation's staleness limit in days; False (and no audit entry) when it was already set so.

        Raises NotFound for an unknown organisation and InvalidInput for a number of days outside 1 to 3650.
        """
        if isinstance(days, bool) or not 1 <= days <= MAX_STALENESS_DAYS:
            raise InvalidInput.at(f"organisation {organisation_id}",
                                  f"`staleness_days`: {days!r} is not a number of days from 1 to {MAX_STALENESS_DAYS}")
        if self._session.get(OrganisationRow, organisation_id) is None:
            raise NotFound(f"no organisation `{organisation_id}`")
        row = self._session.get(OrganisationSettingsRow, organisation_id, with_for_update=True)
        previous = None if row is None else row.staleness_days
        if previous == days:
            return False
        if row is None:
            self._session.add(OrganisationSettingsRow(organisation_id=organisation_id, staleness_days=days))
        else:
            row.staleness_days = days
        self._session.flush()
        AuditLog(self._session).append(AuditEvent.ORGANISATION_UPDATE, organisation_id, actor=actor, at=now,
                                       details={"staleness_days": {"from": previous, "to": days}})
        return True
