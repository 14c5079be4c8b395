"""Alembic environment: runs on the connection `flowdeck.store.migrate` hands in."""

from __future__ import annotations

from alembic import context

from flowdeck.store.dialect import create_sync_engine
from flowdeck.store.tables import metadata

config = context.config


def run_migrations() -> None:
    """Run migrations online, on a given connection or a fresh one."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_sync_engine(url)
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
