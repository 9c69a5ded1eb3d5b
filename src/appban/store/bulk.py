"""How the repositories move many rows: `IN` lists of bounded size, and batches for executemany inserts.

A fleet has hundreds of thousands of devices; a statement per device would take minutes. Every bulk read
sends its ids `CHUNK` at a time (well inside SQLite's 32,766 bound variables and PostgreSQL's 65,535), and
every bulk write is one executemany per batch of `BATCH` rows, through the table itself: the ORM's bulk
insert costs twice as much per row, and a multi-row VALUES statement costs more still to compile.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from appban.store.tables import Base

__all__ = ["BATCH", "CHUNK", "chunked", "insert_rows"]

CHUNK = 5_000  # ids per `IN (...)`
BATCH = 10_000  # rows per executemany

T = TypeVar("T")


def chunked(items: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    """`items` in lists of at most `size`, in order; nothing for no items."""
    if size < 1:
        raise ValueError(f"chunk size must be positive, not {size}")
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def insert_rows(session: Session, entity: type[Base], rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert rows (column name -> value) into the table of `entity`, `BATCH` rows per executemany; returns
    how many. The rows bypass the session's identity map, like every bulk statement.

    On PostgreSQL the rows go by `COPY ... FROM STDIN` instead, inside the same transaction: an executemany
    still sends one INSERT per row, which made imports run at a tenth of what the server takes by COPY.
    """
    table = entity.__table__
    assert isinstance(table, Table)
    statement = insert(table)
    copying = session.get_bind().dialect.name == "postgresql"
    count = 0
    for batch in chunked(rows, BATCH):
        if copying:
            _copy(session, table, batch)
        else:
            session.execute(statement, batch)
        count += len(batch)
    return count


def _copy(session: Session, table: Table, batch: list[Mapping[str, Any]]) -> None:
    """COPY one batch; columns are those of the first row (every repository gives all rows the same keys).
    Values are bound as the column types would bind them, so type decorators (UTC times) still apply."""
    names = list(batch[0])
    dialect = session.get_bind().dialect
    processors = [table.c[name].type.bind_processor(dialect) for name in names]
    raw = session.connection().connection.driver_connection
    assert raw is not None
    columns = ", ".join(f'"{name}"' for name in names)
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
        for row in batch:
            copy.write_row([process(row[name]) if process else row[name]
                            for name, process in zip(names, processors, strict=True)])
