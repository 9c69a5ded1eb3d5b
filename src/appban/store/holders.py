"""Holders in the store: the people devices are assigned to, by e-mail address (where notices go).

Devices name their holder by address without a foreign key: a source may report a holder appban has no
record of yet. A holder stored here always has an organisation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from appban.errors import InvalidInput, Location, Problem
from appban.model import Holder
from appban.store.bulk import BATCH, chunked, insert_rows
from appban.store.devices import UpsertCounts
from appban.store.tables import HolderRow, OrganisationRow

__all__ = ["HolderRepository"]

_FIELDS = ("organisation_id", "name", "language")


class HolderRepository:
    """Holders in one session (one transaction)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def upsert(self, holders: Sequence[Holder]) -> UpsertCounts:
        """Create new holders and update changed ones (the last of an address listed twice wins).

        Raises InvalidInput (nothing written) when a holder's organisation is not stored.
        """
        latest = {holder.email: holder for holder in holders}
        organisations = {holder.organisation for holder in latest.values()}
        known: set[str] = set()
        for chunk in chunked(sorted(organisations)):
            known.update(self._session.scalars(select(OrganisationRow.id).where(OrganisationRow.id.in_(chunk))))
        problems = [Problem(Location("holders"), f"holder `{holder.email}`: unknown organisation "
                            f"`{holder.organisation}`", "apply the organisations file first")
                    for holder in latest.values() if holder.organisation not in known]
        if problems:
            raise InvalidInput(problems)
        created = updated = unchanged = 0
        for chunk in chunked(latest):
            stored = {row.email: row for row in self._session.execute(
                select(HolderRow.email, *(getattr(HolderRow, f) for f in _FIELDS)).where(HolderRow.email.in_(chunk)))}
            new: list[dict[str, Any]] = []
            changed: list[dict[str, Any]] = []
            for email in chunk:
                holder = latest[email]
                values = {"email": email, "organisation_id": holder.organisation, "name": holder.name,
                          "language": holder.language}
                row = stored.get(email)
                if row is None:
                    new.append(values)
                elif any(values[field] != getattr(row, field) for field in _FIELDS):
                    changed.append(values)
                else:
                    unchanged += 1
            insert_rows(self._session, HolderRow, new)
            for batch in chunked(changed, BATCH):
                self._session.execute(update(HolderRow), batch)
            created += len(new)
            updated += len(changed)
        return UpsertCounts(created=created, updated=updated, unchanged=unchanged)

    def get_many(self, emails: Iterable[str]) -> dict[str, Holder]:
        """The stored holders among these addresses."""
        out: dict[str, Holder] = {}
        for chunk in chunked(set(emails)):
            for row in self._session.scalars(select(HolderRow).where(HolderRow.email.in_(chunk))):
                out[row.email] = Holder(email=row.email, organisation=row.organisation_id or "", name=row.name,
                                        language=row.language)
        return out
