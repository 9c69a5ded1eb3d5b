"""Alembic's entry point for appban's migrations. Run them with `Database.upgrade()`, which passes the connection.

Batch mode is on for SQLite, whose ALTER TABLE cannot change columns or constraints: Alembic rebuilds the table
instead. `Database.upgrade` turns SQLite's foreign keys off around that and checks them before committing.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from appban.store.tables import Base


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    if context.is_offline_mode():
        raise RuntimeError("appban's migrations run against a database: use appban.store.Database.upgrade()")
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("run appban's migrations with appban.store.Database.upgrade(), which passes the "
                           "connection")
    run_migrations(connection)


main()
