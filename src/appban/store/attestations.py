"""Attestations in the store: a holder's statement that a restriction's apps are gone from a device the source
cannot fully see. The latest statement per (device, restriction) is kept; every one is audited.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from appban.audit import AuditEvent
from appban.compliance.engine import Key
from appban.errors import InvalidInput, Location, NotFound, Problem
from appban.model import Attestation
from appban.store.audit_log import AuditLog
from appban.store.bulk import among, chunked
from appban.store.tables import AttestationRow, DeviceRow, RestrictionRow

__all__ = ["AttestationRepository"]


class AttestationRepository:
    """Attestations in one session (one transaction)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def record(self, attestation: Attestation, *, actor: str) -> Attestation:
        """Store an attestation, replacing an earlier one for the same pair (audited `attestation:create`, at
        the attestation's time).

        Raises InvalidInput when it expires before it is made, NotFound for an unknown device or restriction.
        """
        where = Location(f"attestation {attestation.device} {attestation.restriction}")
        for field, value in (("at", attestation.at), ("expires", attestation.expires)):
            if value.tzinfo is None or value.utcoffset() is None:
                raise InvalidInput([Problem(where, f"`{field}` has no time zone", "give times in UTC")])
        if attestation.expires <= attestation.at:
            raise InvalidInput([Problem(where, "`expires` is not after `at`")])
        if self._session.get(RestrictionRow, attestation.restriction) is None:
            raise NotFound(f"attestation: `restriction`: no restriction `{attestation.restriction}`")
        if self._session.get(DeviceRow, attestation.device) is None:
            raise NotFound(f"attestation: `device`: no device `{attestation.device}`")
        key = (attestation.device, attestation.restriction)
        row = self._session.get(AttestationRow, key)
        previous = None if row is None else row.at.astimezone(dt.UTC).isoformat()
        if row is None:
            row = AttestationRow(device_id=attestation.device, restriction_id=attestation.restriction)
            self._session.add(row)
        row.holder, row.at, row.expires = attestation.holder, attestation.at, attestation.expires
        self._session.flush()
        AuditLog(self._session).append(
            AuditEvent.ATTESTATION_CREATE, attestation.device, actor=actor, at=attestation.at,
            details={"restriction": attestation.restriction, "holder": attestation.holder,
                     "expires": attestation.expires.astimezone(dt.UTC).isoformat(), "replaces": previous})
        return attestation

    def get_many(self, keys: Iterable[Key]) -> dict[Key, Attestation]:
        """The attestations stored for these (device, restriction) pairs."""
        by_rule: dict[str, set[str]] = defaultdict(set)
        for device, rule in keys:
            by_rule[rule].add(device)
        out: dict[Key, Attestation] = {}
        for rule, devices in sorted(by_rule.items()):
            for chunk in chunked(sorted(devices)):
                for row in self._session.scalars(select(AttestationRow).where(
                        AttestationRow.restriction_id == rule, among(AttestationRow.device_id, chunk))):
                    out[(row.device_id, row.restriction_id)] = _attestation(row)
        return out

    def for_devices(self, ids: Iterable[str]) -> list[Attestation]:
        """Every attestation stored for these devices, expired ones included (the engine judges them)."""
        out: list[Attestation] = []
        for chunk in chunked(sorted(set(ids))):
            out += [_attestation(row) for row in self._session.scalars(
                select(AttestationRow).where(among(AttestationRow.device_id, chunk))
                .order_by(AttestationRow.device_id, AttestationRow.restriction_id))]
        return out

    def for_restriction(self, restriction_id: str) -> dict[str, Attestation]:
        """Every attestation for this restriction by device, expired ones included (the engine judges them)."""
        return {row.device_id: _attestation(row) for row in self._session.scalars(
            select(AttestationRow).where(AttestationRow.restriction_id == restriction_id))}

    def device_ids_for_restriction(self, restriction_id: str) -> set[str]:
        """The devices with an attestation for this restriction, expired ones included."""
        return set(self._session.scalars(select(AttestationRow.device_id)
                                         .where(AttestationRow.restriction_id == restriction_id)))

    def expiring(self, after: dt.datetime, until: dt.datetime) -> list[Key]:
        """The pairs whose attestation expires in (`after`, `until`]: a compliant pair is not a stored finding,
        so this is how a periodic refresh finds the attestations that ran out since its last run."""
        query = (select(AttestationRow.device_id, AttestationRow.restriction_id)
                 .where(AttestationRow.expires > after, AttestationRow.expires <= until)
                 .order_by(AttestationRow.device_id, AttestationRow.restriction_id))
        return [(device, rule) for device, rule in self._session.execute(query)]


def _attestation(row: AttestationRow) -> Attestation:
    return Attestation(device=row.device_id, restriction=row.restriction_id, holder=row.holder, at=row.at,
                       expires=row.expires)
