"""The Alembic history builds exactly the tables the code declares, on both dialects."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from flowdeck.store.dialect import create_sync_engine
from flowdeck.store.migrate import upgrade
from flowdeck.store.tables import metadata


def test_migrations_match_the_declared_schema(database_url: str) -> None:
    engine = create_sync_engine(database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_upgrade_is_idempotent(database_url: str) -> None:
    upgrade(database_url)
    upgrade(database_url)
