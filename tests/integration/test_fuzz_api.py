"""Schemathesis against the whole API, on the suite's database: no request gets a 5xx.

The app's OpenAPI is loaded through ASGI; path parameters are mostly real ids (a workflow, a
run, a schedule, a template, an agent…), so requests get past 404s to the code behind them.
A bounded, derandomized run: a fixed number of examples per operation from a fixed seed.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi

from flowdeck.api.app import create_app
from flowdeck.config import Settings
from flowdeck.domain.clock import SystemClock
from flowdeck.services.auth import AuthService
from flowdeck.store.dialect import is_sqlite
from flowdeck.store.store import Store
from tests.conftest import reset_postgres

ADMIN_KEY = "fdk_fuzz_admin_0123456789abcdef0123"
HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}
EXAMPLES_PER_OPERATION = 25
SEED = 20260101

# Values that broke the server once: integers past the database's columns, text PostgreSQL
# refuses, digits that are not ASCII.
DICTIONARIES = {
    "edge_integers": {"values": [2**31, 2**63 - 1, 2**63, 2**64, 10**20, -(2**63) - 1, -1, 0]},
    "edge_strings": {
        "values": ["\x00", "a\x00b", "%00", "²", "99999999999999999999", "-1", "é" * 300]
    },
}

# Operations that destroy or disable what they touch get their own victims, so the seeds the
# other operations use stay alive whatever order the operations run in.
DESTRUCTIVE = frozenset(
    {
        ("DELETE", "/api/workflows/{workflow_id}"),
        ("POST", "/api/workflows/{workflow_id}/archive"),
        ("POST", "/api/workflows/{workflow_id}/unarchive"),
        ("POST", "/api/workflows/{workflow_id}/restore"),
        ("PATCH", "/api/workflows/{workflow_id}/status"),
        ("DELETE", "/api/workflows/runs/{run_id}"),
        ("DELETE", "/api/workflows/schedules/{schedule_id}"),
        ("DELETE", "/api/workflows/templates/{template_id}"),
        ("DELETE", "/api/agents/{agent_id}"),
        ("DELETE", "/api/keys/{key_id}"),
        ("DELETE", "/api/secrets/{name}"),
    }
)


def _transform(step_id: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "transform", "config": {"value": value}, **extra}


@contextlib.contextmanager
def _database(template: str, tmp: Path) -> Iterator[str]:
    """A database for this module: a copy of the SQLite template, or the PostgreSQL one
    (emptied afterwards, as the per-test fixture does)."""
    if is_sqlite(template):
        path = tmp / "fuzz.db"
        shutil.copy(template.removeprefix("sqlite:///"), path)
        yield f"sqlite:///{path}"
        return
    try:
        yield template
    finally:
        reset_postgres(template)


async def _bootstrap(url: str) -> None:
    store = Store.from_url(url, pool_size=1)
    try:
        await AuthService(store, SystemClock()).bootstrap(ADMIN_KEY)
    finally:
        await store.close()


class Seeder:
    """Creates the objects whose ids the fuzzer uses, through the API itself."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def call(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        resp = self.client.request(method, path, json=body, headers=HEADERS)
        assert resp.status_code == status, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json() if resp.content else None

    def workflow(self, name: str, steps: list[Any], **fields: Any) -> dict[str, Any]:
        body = {"definition": {"name": name, "steps": steps}, **fields}
        return dict(self.call("POST", "/api/workflows", body, 201)["workflow"])

    def finished_run(self, workflow_id: str) -> str:
        run_id = str(self.call("POST", f"/api/workflows/{workflow_id}/run", {}, 202)["run_id"])
        for _ in range(200):
            run = self.call("GET", f"/api/workflows/runs/{run_id}")["run"]
            if run["status"] in ("completed", "failed", "waiting"):
                return run_id
            time.sleep(0.05)  # the app runs in schemathesis' event loop thread
        raise AssertionError(f"run {run_id} did not settle")


def seed(client: Any) -> tuple[dict[str, str], dict[str, str]]:
    """(ids for most operations, ids for destructive ones), by path parameter name."""
    s = Seeder(client)
    main = s.workflow("Fuzz main", [_transform("a", 1), _transform("b", 2, depends_on=["a"])])
    victim = s.workflow("Fuzz victim", [_transform("a", 1)])
    gate = s.workflow(
        "Fuzz gate",
        [_transform("a", 1), {"id": "review", "type": "approval", "depends_on": ["a"]}],
    )
    s.workflow("Fuzz hook", [_transform("a", 1)], trigger_type="webhook")
    public = s.workflow("Fuzz public", [_transform("a", 1)], visibility="public")
    s.call("PUT", f"/api/workflows/{main['id']}", {"change_summary": "v2", "description": "2"})
    schedule = {"cron_expression": "0 9 * * 1-5"}
    ids = {
        "workflow_id": main["id"],
        "run_id": s.finished_run(main["id"]),
        "step_id": "review",
        "schedule_id": s.call("POST", f"/api/workflows/{main['id']}/schedules", schedule, 201)[
            "schedule_id"
        ],
        "template_id": s.call("POST", "/api/workflows/templates", {"workflow_id": main["id"]}, 201)[
            "id"
        ],
        "agent_id": s.call("POST", "/api/agents", {"name": "fuzz", "model": "m"}, 201)["id"],
        "name": "FUZZ_SECRET",
        "workspace_slug": "default",
        "slug": public["slug"],
        "version": "1",
    }
    ids["approval_run_id"] = s.finished_run(gate["id"])
    s.call("PUT", "/api/secrets/FUZZ_SECRET", {"value": "s3cret"}, 201)
    s.call("PUT", "/api/secrets/FUZZ_VICTIM", {"value": "s3cret"}, 201)
    victims = {
        "workflow_id": victim["id"],
        "run_id": s.finished_run(victim["id"]),
        "schedule_id": s.call("POST", f"/api/workflows/{victim['id']}/schedules", schedule, 201)[
            "schedule_id"
        ],
        "template_id": s.call(
            "POST", "/api/workflows/templates", {"workflow_id": victim["id"], "name": "v"}, 201
        )["id"],
        "agent_id": s.call("POST", "/api/agents", {"name": "victim", "model": "m"}, 201)["id"],
        "key_id": s.call(
            "POST", "/api/keys", {"name": "victim", "scopes": ["workflows:read"]}, 201
        )["key"]["id"],
        "name": "FUZZ_VICTIM",
    }
    return ids, victims


@pytest.fixture(scope="module")
def fuzz_schema(database_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The app on its own database, seeded, and its OpenAPI schema with the seeding hook."""
    tmp = tmp_path_factory.mktemp("fuzz")
    with _database(database_template, tmp) as url:
        asyncio.run(_bootstrap(url))
        app = create_app(Settings(data_dir=tmp / "data", database_url=url))
        try:
            with asgi.get_client(app) as client:  # starts the app's lifespan
                ids, victims = seed(client)
            config = SchemathesisConfig.from_dict(
                {
                    "seed": SEED,
                    "headers": HEADERS,
                    "request-timeout": 10,
                    "generation": {
                        "max-examples": EXAMPLES_PER_OPERATION,
                        "deterministic": True,
                        "with-security-parameters": False,
                        "dictionaries": {
                            "integer": {"dictionary": "edge_integers", "probability": 0.25},
                            "string": {"dictionary": "edge_strings", "probability": 0.25},
                        },
                    },
                    "dictionaries": DICTIONARIES,
                    "checks": {"enabled": False, "not_a_server_error": {"enabled": True}},
                    "phases": {"stateful": {"enabled": False}},
                }
            )
            schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
            schema.hook(_seeded_path_parameters(ids, victims))
            yield schema
        finally:
            asgi.shutdown_lifespans()


def _seeded_path_parameters(ids: dict[str, str], victims: dict[str, str]) -> Any:
    def flatmap_path_parameters(context: Any, path_parameters: Any) -> Any:
        """Mostly real ids; sometimes what was generated (malformed ids are fuzzed too)."""
        if not path_parameters:
            return st.just(path_parameters)
        op = context.operation
        pool = victims if (op.method.upper(), op.path) in DESTRUCTIVE else ids
        if op.path.endswith(("/approve", "/reject")):
            pool = {**pool, "run_id": ids["approval_run_id"]}
        choices = {
            name: st.sampled_from([pool[name], pool[name], value])
            if name in pool
            else st.just(value)
            for name, value in path_parameters.items()
        }
        return st.fixed_dictionaries(choices)

    return flatmap_path_parameters


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every operation the app documents."""
    paths = create_app(Settings()).openapi()["paths"]
    return [(method.upper(), path) for path, item in paths.items() for method in item]


OPERATIONS = _operations()


# Drawing bodies from the definition language's schema (a union of ten step types) takes
# tens of seconds for the workflow operations on a busy machine; the server's part is small.
FUZZ_TIMEOUT = 240


@pytest.mark.timeout(FUZZ_TIMEOUT)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_request_gets_a_server_error(fuzz_schema: Any, method: str, path: str) -> None:
    operation = fuzz_schema[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the first failure is reported
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def answers_without_a_server_error(case: Any) -> None:
        case.call_and_validate(checks=[not_a_server_error])

    # Boundary cases first (schemathesis' coverage phase: huge and negative numbers, NUL
    # characters, missing and wrong-typed fields), then random ones.
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    generation = fuzz_schema.config.generation_for(operation=operation, phase="coverage")
    for case in fuzz_schema.iter_coverage_cases(
        operation, generation_modes=modes, generation_config=generation
    ):
        case.call_and_validate(checks=[not_a_server_error])
    answers_without_a_server_error()


# Routes whose answers are checked against the document too: every status and content type
# documented, every body valid against its schema.
CONFORMANCE_SAMPLE = [
    ("GET", "/api/workflows"),
    ("POST", "/api/workflows"),
    ("GET", "/api/workflows/{workflow_id}"),
    ("PUT", "/api/workflows/{workflow_id}"),
    ("POST", "/api/workflows/{workflow_id}/run"),
    ("GET", "/api/workflows/runs/{run_id}"),
    ("GET", "/api/workflows/{workflow_id}/versions"),
    ("GET", "/api/schedules"),
    ("PATCH", "/api/workflows/schedules/{schedule_id}"),
    ("GET", "/api/agents/{agent_id}"),
    ("GET", "/api/approvals"),
    ("GET", "/api/me"),
    ("POST", "/api/workflows/validate"),
    ("GET", "/api/workflows/{workflow_id}/analytics"),
    ("GET", "/api/workflows/{workflow_id}/related"),
    ("GET", "/api/workflows/{workflow_id}/diff"),
    ("POST", "/api/workflows/{workflow_id}/clone"),
    ("POST", "/api/workflows/runs/{run_id}/resume"),
    ("GET", "/api/trash"),
    ("GET", "/api/workflows/templates"),
    ("GET", "/api/keys"),
    ("GET", "/api/public/{workspace_slug}/workflows/{slug}"),
    ("GET", "/api/schema/workflow.json"),
    ("POST", "/api/workflows/runs/{run_id}/steps/{step_id}/approve"),
]
CONFORMANCE_EXAMPLES = 10


@pytest.mark.timeout(FUZZ_TIMEOUT)
@pytest.mark.parametrize(
    ("method", "path"), CONFORMANCE_SAMPLE, ids=[f"{m} {p}" for m, p in CONFORMANCE_SAMPLE]
)
def test_answers_conform_to_the_document(fuzz_schema: Any, method: str, path: str) -> None:
    operation = fuzz_schema[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]

    @settings(
        max_examples=CONFORMANCE_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def answers_as_documented(case: Any) -> None:
        case.call_and_validate(checks=checks)

    answers_as_documented()
