"""Properties of the pure hash chain (appban.audit): any change to any entry, anywhere, is caught.

It lives with the storage tests because the store is its only writer; it needs no database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from appban.audit import GENESIS_HASH, AuditEntry, AuditEvent, canonical_details, entry_hash, seal, verify_chain

EVENTS = st.sampled_from(list(AuditEvent))
TEXTS = st.text(max_size=12)
TIMES = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1),
                     timezones=st.just(dt.UTC))
HASHES = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
DETAILS = st.dictionaries(st.text(max_size=8), JSON, max_size=4)
FIELDS = {
    "seq": st.integers(-3, 10_000), "at": TIMES, "actor": TEXTS, "event": EVENTS, "subject": TEXTS,
    "details": DETAILS, "prev_hash": HASHES, "hash": HASHES,
}


@st.composite
def chains(draw: st.DrawFn, min_size: int = 1) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    for seq in range(1, draw(st.integers(min_size, 6)) + 1):
        entries.append(seal(seq, entries[-1].hash if entries else GENESIS_HASH, at=draw(TIMES), actor=draw(TEXTS),
                            event=draw(EVENTS), subject=draw(TEXTS), details=draw(DETAILS)))
    return entries


def _encoded(field: str, value: object) -> object:
    """What the hash sees of a field's value: details by their canonical JSON, times by their instant."""
    return canonical_details(value) if field == "details" and isinstance(value, dict) else value


@given(chains())
def test_an_intact_chain_verifies(entries: list[AuditEntry]) -> None:
    assert verify_chain(entries) == []


@given(chains(), st.data())
def test_any_change_to_any_field_of_any_entry_is_detected(entries: list[AuditEntry], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(entries) - 1), label="entry")
    field = data.draw(st.sampled_from(sorted(FIELDS)), label="field")
    entry = entries[index]
    value = data.draw(FIELDS[field], label="new value")
    assume(_encoded(field, value) != _encoded(field, getattr(entry, field)))
    changed: dict[str, Any] = {field: value}
    tampered = [*entries[:index], dataclasses.replace(entry, **changed), *entries[index + 1:]]
    assert verify_chain(tampered) != []


@given(chains(min_size=2), st.data())
def test_removing_any_entry_but_the_last_is_detected(entries: list[AuditEntry], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(entries) - 2))
    problems = verify_chain([*entries[:index], *entries[index + 1:]])
    assert problems and problems[0].endswith(f"entry {index + 1} is missing")


@given(chains(min_size=2), st.data())
def test_swapping_any_two_entries_is_detected(entries: list[AuditEntry], data: st.DataObject) -> None:
    first, second = sorted(data.draw(st.lists(st.integers(0, len(entries) - 1), min_size=2, max_size=2,
                                              unique=True)))
    swapped = list(entries)
    swapped[first], swapped[second] = swapped[second], swapped[first]
    assert verify_chain(swapped) != []


@given(chains(), st.data())
def test_inserting_a_sealed_entry_anywhere_but_the_end_is_detected(entries: list[AuditEntry],
                                                                   data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(entries) - 1))
    before = entries[index - 1] if index else None
    forged = seal(index + 1, before.hash if before else GENESIS_HASH, at=data.draw(TIMES), actor="mallory",
                  event=data.draw(EVENTS), subject="forged", details={})
    assert verify_chain([*entries[:index], forged, *entries[index:]]) != []


def test_the_hash_is_stable_across_representations() -> None:
    """Same instant in another zone, tuples for lists, another key order: the same hash, on any machine."""
    utc = dt.datetime(2023, 3, 15, 12, 0, tzinfo=dt.UTC)
    cet = utc.astimezone(dt.timezone(dt.timedelta(hours=1)))
    one = entry_hash(GENESIS_HASH, 1, utc, "a", AuditEvent.TOKEN_CREATE, "s", {"x": [1, 2], "y": "é"})
    two = entry_hash(GENESIS_HASH, 1, cet, "a", AuditEvent.TOKEN_CREATE, "s", {"y": "é", "x": (1, 2)})
    # sha256 of {"actor":"a","at":"2023-03-15T12:00:00.000000+00:00","details":{"x":[1,2],"y":"é"},
    # "event":"token:create","prev_hash":"000...000","seq":1,"subject":"s"} in UTF-8: stored chains depend on it
    assert one == two == "e0c037adab24626094131bf3b574d938f43faa9bf83989ca0a4e7cccca49ccb0"


def test_a_naive_time_cannot_be_sealed() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        seal(1, GENESIS_HASH, at=dt.datetime(2023, 3, 15), actor="a",
             event=AuditEvent.TOKEN_CREATE, subject="s", details={})


def test_a_message_names_the_entry() -> None:
    entry = seal(1, GENESIS_HASH, at=dt.datetime(2023, 3, 15, tzinfo=dt.UTC), actor="a",
                 event=AuditEvent.RESTRICTION_UPDATE, subject="eu-commission-tiktok-2023", details={})
    assert verify_chain([dataclasses.replace(entry, actor="b")]) == [
        "audit entry 1 (restriction:update eu-commission-tiktok-2023): hash does not match its content"]
