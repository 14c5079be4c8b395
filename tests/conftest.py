"""Fixtures: one database per test run, SQLite by default or PostgreSQL when
FLOWDECK_TEST_DATABASE_URL names one (a fresh database is created on that server)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from flowdeck.store.dialect import is_sqlite
from flowdeck.store.migrate import upgrade

TEST_DB_ENV = "FLOWDECK_TEST_DATABASE_URL"

# Property tests: quick on a developer's machine, thorough in CI (which sets CI=true).
settings.register_profile("dev", max_examples=12, stateful_step_count=20)
settings.register_profile(
    "ci",
    max_examples=60,
    stateful_step_count=40,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def _pg_admin_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return (
        make_url(url)
        .set(drivername="postgresql", database="postgres")
        .render_as_string(hide_password=False)
    )


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database for the whole run: a SQLite file to copy, or a fresh PG database."""
    url = os.environ.get(TEST_DB_ENV, "")
    if not url or is_sqlite(url):
        path = tmp_path_factory.mktemp("db") / "template.db"
        upgrade(f"sqlite:///{path}")
        yield f"sqlite:///{path}"
        return
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"flowdeck_test_{uuid.uuid4().hex[:10]}"
    admin = _pg_admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    test_url = make_url(url).set(database=name).render_as_string(hide_password=False)
    upgrade(test_url)
    try:
        yield test_url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def reset_postgres(url: str) -> None:
    """Empty every table of a PostgreSQL test database."""
    import psycopg
    from sqlalchemy.engine import make_url

    from flowdeck.store.tables import metadata

    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {names} CASCADE")


@pytest.fixture
def database_url(database_template: str, tmp_path: Path) -> Iterator[str]:
    """A database URL with the schema and no rows, private to this test."""
    if is_sqlite(database_template):
        src = Path(database_template.removeprefix("sqlite:///"))
        dst = tmp_path / "flowdeck.db"
        shutil.copy(src, dst)
        yield f"sqlite:///{dst}"
        return
    yield database_template
    reset_postgres(database_template)


@pytest.fixture
def is_postgres(database_url: str) -> bool:
    """True when the suite runs on PostgreSQL."""
    return not is_sqlite(database_url)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[object]:
    """A Store on the test database."""
    from flowdeck.store.store import Store

    s = Store.from_url(database_url, pool_size=5)
    try:
        yield s
    finally:
        await s.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On PostgreSQL, run only the tests that use the test database: the others (local
    `flowdeck run` on its throwaway SQLite store, pure checks) ran as they are on SQLite."""
    if not os.environ.get(TEST_DB_ENV):
        return
    kept, dropped = [], []
    for item in items:
        uses_db = "database_template" in getattr(item, "fixturenames", ())
        (kept if uses_db else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
