"""What the gate reads to keep its in-memory table current: the change feed, every finding, restriction versions.

Read-only. `gate_changes` rows are written by the repositories that change devices and findings, in the same
transaction as the change (appban.store.tables.GateChangeRow); the gate reads the rows after the last id it
has seen, and the ids below it that were still missing (a transaction that took its id earlier may commit
later: on PostgreSQL ids come from a sequence, in the order transactions ask, not the order they commit).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from appban.compliance import Key
from appban.store.findings import _COLUMNS, StoredFinding, _keyed  # the one reading of a findings row
from appban.store.tables import GateChangeRow, RestrictionRow

__all__ = ["GateFeed"]

_RANGES_PER_QUERY = 100
# pg_try_advisory_xact_lock key that lets one process at a time run the periodic refresh: the first 8 bytes,
# signed, of sha256(b"appban.gate.refresh").
_REFRESH_LOCK = -0x1B14_74F4_65CF_4AC9


class GateFeed:
    """The gate's reads, in one session (one transaction)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def last_change(self) -> int:
        """The newest change id (0 when there is none): read it before the data a full load reads."""
        return self._session.scalar(select(func.max(GateChangeRow.id))) or 0

    def ids_after(self, after: int) -> list[int]:
        """The change ids after `after`: a full load reads those just below its starting point, to find the ones
        still missing (taken by transactions not committed yet)."""
        return list(self._session.scalars(select(GateChangeRow.id).where(GateChangeRow.id > after)))

    def changes_after(self, after: int, limit: int) -> list[tuple[int, str]]:
        """(id, device) of the changes after `after`, oldest first, at most `limit`."""
        query = (select(GateChangeRow.id, GateChangeRow.device_id).where(GateChangeRow.id > after)
                 .order_by(GateChangeRow.id).limit(limit))
        return [(change_id, device) for change_id, device in self._session.execute(query)]

    def changes_in(self, ranges: Sequence[tuple[int, int]]) -> list[tuple[int, str]]:
        """(id, device) of the changes whose id is in one of the inclusive ranges, oldest first."""
        out: list[tuple[int, str]] = []
        for start in range(0, len(ranges), _RANGES_PER_QUERY):
            chunk = ranges[start:start + _RANGES_PER_QUERY]
            query = (select(GateChangeRow.id, GateChangeRow.device_id)
                     .where(or_(*(GateChangeRow.id.between(low, high) for low, high in chunk)))
                     .order_by(GateChangeRow.id))
            out += [(change_id, device) for change_id, device in self._session.execute(query)]
        return sorted(out)

    def all_findings(self) -> Iterator[tuple[Key, StoredFinding]]:
        """Every stored finding (the non-compliant pairs only: findings are sparse)."""
        yield from _keyed(self._session.execute(select(*_COLUMNS).execution_options(yield_per=5_000)))

    def restriction_versions(self) -> dict[str, int]:
        """The version in force of every restriction: one small query that tells whether to reload them."""
        return dict(self._session.execute(select(RestrictionRow.id, RestrictionRow.current_version)).all())

    def claim_refresh(self) -> bool:
        """Whether this transaction may run the periodic refresh: on PostgreSQL only one process at a time
        holds the claim (until the transaction ends); SQLite serialises writers anyway."""
        if self._session.get_bind().dialect.name != "postgresql":
            return True
        return bool(self._session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"),
                                         {"key": _REFRESH_LOCK}))
