"""Rows of the hot tables as the driver returns them (`raw.py`), turned into records."""

from __future__ import annotations

from functools import cache
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from flowdeck.domain.records import Run, StepRun
from flowdeck.domain.states import RunStatus, StepStatus
from flowdeck.store.raw import Driver
from flowdeck.store.tables import runs, step_runs
from flowdeck.store.types import JSONType, UTCDateTime

STEP_COLUMNS = [c.name for c in step_runs.c]
STEP_SELECT = ", ".join(f"step_runs.{name}" for name in STEP_COLUMNS)
RUN_COLUMNS = [c.name for c in runs.c if c.name != "event_seq"]
RUN_SELECT = ", ".join(f"runs.{name}" for name in RUN_COLUMNS)


def _decoded(db: Driver, table: sa.Table, names: list[str], row: tuple[Any, ...]) -> dict[str, Any]:
    _, json_columns, times = _kinds(table)
    data = dict(zip(names, row, strict=True))
    for name in json_columns & data.keys():
        data[name] = db.from_json(data[name])
    for name in times & data.keys():
        data[name] = db.from_time(data[name])
    return data


def encode(db: Driver, table: sa.Table, column: str, value: Any) -> Any:
    """A value for `table.column` as the driver takes it (JSON and timestamps converted, a
    status enum as its plain text)."""
    _, json_columns, times = _kinds(table)
    if column in json_columns:
        return db.json(value)
    if column in times:
        return db.time(value)
    return str(value) if isinstance(value, str) else value


def step_from(db: Driver, row: tuple[Any, ...]) -> StepRun:
    """A step run from a row of `STEP_SELECT`."""
    data = _decoded(db, step_runs, STEP_COLUMNS, row)
    data["status"] = StepStatus(data["status"])
    data["is_current"] = bool(data["is_current"])
    return StepRun(**data)


def run_from(db: Driver, row: tuple[Any, ...]) -> Run:
    """A run from a row of `RUN_SELECT`."""
    data = _decoded(db, runs, RUN_COLUMNS, row)
    data["status"] = RunStatus(data["status"])
    return Run(**data)


def step_params(db: Driver, step: StepRun) -> dict[str, Any]:
    """A step run as the parameters of an INSERT of every column."""
    return {name: encode(db, step_runs, name, getattr(step, name)) for name in STEP_COLUMNS}


def run_params(db: Driver, run: Run) -> dict[str, Any]:
    """A run as the parameters of an INSERT of every column."""
    values = {name: encode(db, runs, name, getattr(run, name)) for name in RUN_COLUMNS}
    return {**values, "event_seq": 0}


@cache
def _kinds(table: sa.Table) -> tuple[list[str], frozenset[str], frozenset[str]]:
    names = [c.name for c in table.c]
    json_columns = frozenset(c.name for c in table.c if c.type is JSONType)
    times = frozenset(c.name for c in table.c if isinstance(c.type, UTCDateTime))
    return names, json_columns, times


def select_all(table: sa.Table) -> str:
    """`SELECT <every column> FROM <table>`, in the table's column order."""
    return f"SELECT {', '.join(_kinds(table)[0])} FROM {table.name}"


def row_of(db: Driver, table: sa.Table, row: tuple[Any, ...]) -> Any:
    """A driver row of `select_all(table)` with attribute access and its JSON and timestamp
    columns decoded, as a SQLAlchemy row would have them."""
    return SimpleNamespace(**_decoded(db, table, _kinds(table)[0], row))
