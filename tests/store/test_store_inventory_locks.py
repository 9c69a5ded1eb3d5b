"""Inventory write locks on PostgreSQL: pushes about different devices run side by side; the same device, or a
whole file against any push, waits (InventoryRepository.serialise_writes)."""

from __future__ import annotations

from collections.abc import Callable, Collection

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from appban.errors import StorageUnavailable
from appban.store import Database, InventoryRepository
from appban.store.inventories import PER_DEVICE_LOCKS

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

Locking = Collection[str] | None


def _waits(database: Database, first: Locking, second: Locking) -> bool:
    """Whether a transaction asking for `second` waits while another holds `first`."""
    with database.session() as holder:
        InventoryRepository(holder).serialise_writes(first)
        try:
            with database.session() as other:
                other.execute(text("SET LOCAL lock_timeout = '300ms'"))
                InventoryRepository(other).serialise_writes(second)
        except StorageUnavailable as error:  # the store's wrapping of the driver's error
            assert isinstance(error.__cause__, OperationalError) and "lock timeout" in str(error.__cause__)
            return True
        return False


@pytest.mark.parametrize(("first", "second", "waits"), [
    ({"phone-a"}, {"phone-b"}, False),  # two pushes, two devices: side by side
    ({"phone-a", "phone-b"}, {"phone-c", "phone-d"}, False),
    ({"phone-a"}, {"phone-a"}, True),  # the same device: one after the other, the newest report wins
    ({"phone-a", "phone-b"}, {"phone-b", "phone-c"}, True),
    (None, {"phone-z"}, True),  # a whole file keeps pushes out...
    ({"phone-z"}, None, True),  # ...and waits for those in flight
    (None, None, True),
    ({f"phone-{n}" for n in range(PER_DEVICE_LOCKS + 1)}, {"phone-x"}, True),  # too many to lock one by one
])
def test_who_waits_for_whom(database: Database, first: Locking, second: Locking, waits: bool) -> None:
    assert _waits(database, first, second) is waits


def test_a_later_call_in_the_same_transaction_takes_nothing_new(database: Database) -> None:
    def held(session_locks: Callable[[InventoryRepository], None]) -> int:
        with database.session() as session:
            session_locks(InventoryRepository(session))
            count = session.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                         "AND pid = pg_backend_pid()")).scalar_one()
            return int(count)

    def twice(repository: InventoryRepository) -> None:
        repository.serialise_writes({"phone-a", "phone-b"})
        repository.serialise_writes({"phone-a"})  # as apply_reports does for the import's own devices

    def whole_then_few(repository: InventoryRepository) -> None:
        repository.serialise_writes(None)
        repository.serialise_writes({"phone-a"})  # already covered by the whole lock

    assert held(twice) == 3  # the shared import lock and two devices
    assert held(whole_then_few) == 1
