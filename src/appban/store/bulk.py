"""How the repositories move many rows: `IN` lists of bounded size, and batches for executemany inserts.

A fleet has hundreds of thousands of devices; a statement per device would take minutes. Every bulk read
sends its ids `CHUNK` at a time (well inside SQLite's 32,766 bound variables and PostgreSQL's 65,535), and
every bulk write is one executemany per batch of `BATCH` rows, through the table itself: the ORM's bulk
insert costs twice as much per row, and a multi-row VALUES statement costs more still to compile.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Table, any_, bindparam, insert
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal, _TraverseInternalsType
from sqlalchemy.types import Boolean

from appban.store.tables import Base

__all__ = ["BATCH", "CHUNK", "COPY_FROM", "NULL", "among", "chunked", "copy_lines", "copy_text", "copy_time",
           "insert_rows"]

CHUNK = 5_000  # ids per `IN (...)`
BATCH = 10_000  # rows per executemany
COPY_FROM = 64  # below this many rows, COPY's extra round trips cost more than the INSERTs it saves

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
    still sends one INSERT per row, which made imports run at a tenth of what the server takes by COPY. A
    handful of rows (one device's report) go by executemany: there COPY's own round trips cost more.
    """
    table = entity.__table__
    assert isinstance(table, Table)
    statement = insert(table)
    copying = session.get_bind().dialect.name == "postgresql"
    count = 0
    for batch in chunked(rows, BATCH):
        if copying and len(batch) >= COPY_FROM:
            _copy(session, table, batch)
        else:
            session.execute(statement, batch)
        count += len(batch)
    return count


NULL = "\\N"  # COPY's text format: a missing value
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_BYTES = 1 << 20  # text sent to the server per write


def copy_text(value: str) -> str:
    """`value` as one field of COPY's text format (tab-separated): its backslashes, tabs and line breaks escaped."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_ESCAPES)
    return value


def copy_time(value: dt.datetime) -> str:
    """A UTC-aware time as COPY's text format takes a `timestamptz` (naive times are refused, as UTCDateTime does)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"refusing to store the naive time {value.isoformat()}: use a UTC-aware datetime")
    return value.astimezone(dt.UTC).isoformat()


def copy_lines(session: Session, entity: type[Base], names: Sequence[str], lines: Iterable[str]) -> None:
    """PostgreSQL only: COPY text already in COPY's text format (fields by `copy_text`, `copy_time`, `NULL`,
    tab-separated, each line ending in a line break; a piece may hold many lines) into these columns of the
    table of `entity`.

    For the bulk rows of an import: formatting a row as one f-string and sending text costs a fifth of
    `insert_rows`, which builds a dict per row and hands psycopg each value to adapt.
    """
    table = entity.__table__
    assert isinstance(table, Table)
    raw = session.connection().connection.driver_connection
    assert raw is not None
    columns = ", ".join(f'"{name}"' for name in names)
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
        pending: list[str] = []
        size = 0
        for piece in lines:
            pending.append(piece)
            size += len(piece)
            if size >= _COPY_BYTES:
                copy.write("".join(pending))
                pending, size = [], 0
        if pending:
            copy.write("".join(pending))


def _copy(session: Session, table: Table, batch: list[Mapping[str, Any]]) -> None:
    """COPY one batch; columns are those of the first row (every repository gives all rows the same keys).
    Values are bound as the column types would bind them, so type decorators (UTC times) still apply; a
    batch repeats the same few times and words thousands of times, so each distinct value is bound once."""
    names = list(batch[0])
    dialect = session.get_bind().dialect
    converters = [_converter(table.c[name].type.bind_processor(dialect)) for name in names]
    raw = session.connection().connection.driver_connection
    assert raw is not None
    columns = ", ".join(f'"{name}"' for name in names)
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
        write = copy.write_row
        if not any(converters):
            for row in batch:
                write([row[name] for name in names])
            return
        pairs = list(zip(names, converters, strict=True))
        for row in batch:
            write([convert(row[name]) if convert else row[name] for name, convert in pairs])


def _converter(process: Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
    """The column's bind processor, remembering what it made of each distinct value (None needs none)."""
    if process is None:
        return None
    seen: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        try:
            return seen[value]
        except KeyError:
            result = seen[value] = process(value)
            return result
        except TypeError:  # an unhashable value: bind it as it is
            return process(value)

    return convert


class _Among(ColumnElement[bool]):
    """`column IN (values)`; on PostgreSQL `column = ANY(%s)` with the values as one array parameter.

    An IN list of 5,000 ids is 5,000 bound parameters that SQLAlchemy expands and psycopg splits into the
    query text on every execution: at a million devices that cost more than the queries themselves.

    The element carries both parameters as children (an array one for PostgreSQL, an expanding one for the
    others) so that SQLAlchemy's statement cache sees them: a statement that holds `among` is compiled once and
    its values are taken afresh at each execution, as for any bound parameter. Compiling a statement afresh each
    time cost about 1.5 ms, a third of re-evaluating one device.
    """

    __visit_name__ = "appban_among"
    inherit_cache = True
    _is_implicitly_boolean = True  # a WHERE clause as it is: without it SQLite gets `IN (...) = 1`, which no index
    #                                can serve (every look-up became a scan of the table)
    _traverse_internals: _TraverseInternalsType = [  # noqa: RUF012 (SQLAlchemy reads it from the class)
        ("column", InternalTraversal.dp_clauseelement),
        ("array", InternalTraversal.dp_clauseelement),
        ("listed", InternalTraversal.dp_clauseelement),
    ]
    type = Boolean()

    def __init__(self, column: ColumnElement[Any], values: list[Any]) -> None:
        self.column = column
        self.array = bindparam(None, values, type_=ARRAY(column.type))
        self.listed = bindparam(None, values, type_=column.type, expanding=True)


def among(column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """Membership of a column in a (bounded) list of values, as fast as each database takes it."""
    return _Among(column, list(values))


@compiles(_Among)
def _in_list(element: _Among, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column.in_(element.listed), **kw)


@compiles(_Among, "postgresql")
def _any_array(element: _Among, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column == any_(element.array), **kw)
