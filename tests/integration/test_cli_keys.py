"""`flowdeck keys` on the test database, checked against the API on that same database."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from click.testing import Result
from typer.testing import CliRunner

from flowdeck.cli.main import app
from flowdeck.config import Settings
from flowdeck.domain.clock import SystemClock
from flowdeck.services.auth import AuthService, hash_key
from tests.integration.conftest import Api
from tests.integration.test_workflows_api import assert_problem


async def keys(settings: Settings, *args: str, columns: int = 200) -> Result:
    """Run `flowdeck keys ARGS` on the test database, in a thread (the command has its own loop)."""
    argv = ["keys", *args]
    argv += ["--data-dir", str(settings.data_dir), "--database-url", settings.resolved_database_url]
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, app, argv, env={"COLUMNS": str(columns)})


async def listed(settings: Settings, *args: str) -> list[dict[str, Any]]:
    result = await keys(settings, "list", "--json", *args)
    assert result.exit_code == 0, result.stderr
    found: list[dict[str, Any]] = json.loads(result.stdout)["keys"]
    return found


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_create_list_use_revoke(api: Api, settings: Settings) -> None:
    c = api.client
    made = await keys(
        settings, "create", "nightly ci", "--scope", "workflows:read", "-s", "workflows:run"
    )
    assert made.exit_code == 0, made.stderr
    secret = made.stdout.strip()
    assert made.stdout == secret + "\n" and secret.startswith("fdk_")  # alone, for scripts
    assert "shown once" in made.stderr and "nightly ci" in made.stderr

    assert (await c.get("/api/workflows", headers=bearer(secret))).status_code == 200
    assert_problem(await c.get("/api/keys", headers=bearer(secret)), 403)  # scopes as asked

    mine = [k for k in await listed(settings) if k["name"] == "nightly ci"]
    assert len(mine) == 1
    key = mine[0]
    assert key["scopes"] == ["workflows:read", "workflows:run"] and key["instance_admin"] is False
    assert key["last_used_at"] is not None and key["revoked_at"] is None
    assert key["prefix"] == secret[:12]

    table = await keys(settings, "list")
    assert table.exit_code == 0, table.stderr
    assert key["id"] in table.stdout and "nightly ci" in table.stdout and "admin" in table.stdout
    as_json = await keys(settings, "list", "--json")
    for output in (table.stdout, as_json.stdout):
        assert secret not in output and hash_key(secret) not in output

    revoked = await keys(settings, "revoke", key["id"])
    assert revoked.exit_code == 0, revoked.stderr
    assert key["id"] in revoked.stderr
    assert_problem(await c.get("/api/workflows", headers=bearer(secret)), 401)
    after = next(k for k in await listed(settings) if k["id"] == key["id"])
    assert after["revoked_at"] is not None
    assert (await c.get("/api/workflows", headers=api.headers)).status_code == 200  # others live

    again = await keys(settings, "revoke", key["id"])
    assert again.exit_code == 1
    assert f"API key '{key['id']}' not found" in again.stderr and "keys list" in again.stderr


async def test_create_json_and_instance_admin(api: Api, settings: Settings) -> None:
    c = api.client
    made = await keys(
        settings, "create", "ops", "--scope", "workflows:admin", "--instance-admin", "--json"
    )
    assert made.exit_code == 0, made.stderr
    body = json.loads(made.stdout)
    assert body["workspace"] == "default" and body["key"]["instance_admin"] is True
    assert body["key"]["scopes"] == ["workflows:admin"] and "key_hash" not in body["key"]
    assert (await c.get("/api/workspaces", headers=bearer(body["secret"]))).status_code == 200

    plain = await keys(settings, "create", "team", "--scope", "workflows:admin", "--json")
    secret = json.loads(plain.stdout)["secret"]
    assert (await c.get("/api/keys", headers=bearer(secret))).status_code == 200
    assert_problem(await c.get("/api/workspaces", headers=bearer(secret)), 403)


async def test_scopes_comma_separated_and_deduplicated(api: Api, settings: Settings) -> None:
    made = await keys(
        settings,
        "create",
        "x",
        "-s",
        "workflows:read, workflows:write",
        "-s",
        "workflows:read",
        "--json",
    )
    assert made.exit_code == 0, made.stderr
    assert json.loads(made.stdout)["key"]["scopes"] == ["workflows:read", "workflows:write"]


async def test_keys_belong_to_the_named_workspace(api: Api, settings: Settings) -> None:
    c, h = api.client, api.headers
    made = await c.post("/api/workspaces", json={"slug": "team-b"}, headers=h)
    assert made.status_code == 201
    created = await keys(
        settings, "create", "b-reader", "-s", "workflows:read", "-w", "team-b", "--json"
    )
    assert created.exit_code == 0, created.stderr
    key = json.loads(created.stdout)["key"]
    secret = json.loads(created.stdout)["secret"]
    assert (await c.get("/api/workflows", headers=bearer(secret))).status_code == 200

    assert key["id"] in {k["id"] for k in await listed(settings, "--workspace", "team-b")}
    assert key["id"] not in {k["id"] for k in await listed(settings)}
    wrong = await keys(settings, "revoke", key["id"])  # in `default` it does not exist
    assert wrong.exit_code == 1
    assert (await c.get("/api/workflows", headers=bearer(secret))).status_code == 200
    right = await keys(settings, "revoke", key["id"], "--workspace", "team-b")
    assert right.exit_code == 0, right.stderr
    assert_problem(await c.get("/api/workflows", headers=bearer(secret)), 401)


async def test_list_shows_every_key_past_one_page(api: Api, settings: Settings) -> None:
    auth = AuthService(api.store, SystemClock())
    async with api.store.read() as tx:
        ws = await tx.get_workspace_by_slug("default")
    assert ws is not None
    for i in range(201):
        await auth.create_key(ws.id, f"bulk-{i}", ["workflows:read"])
    names = [k["name"] for k in await listed(settings)]
    assert len(names) == 202 and names[0] == "bulk-200" and names[-1] == "admin"  # newest first


async def test_bad_arguments_are_usage_errors_and_write_nothing(
    api: Api, settings: Settings
) -> None:
    before = await listed(settings)
    cases: list[tuple[list[str], str]] = [
        (["create", "ci"], "A key needs at least one scope"),
        (["create", "ci", "-s", "root", "-s", "workflows:read"], "Unknown scope 'root'"),
        (["create", "  ", "-s", "workflows:read"], "name must not be empty"),
        (["create", "x" * 201, "-s", "workflows:read"], "at most 200 characters"),
        (["create", "ci", "-s", "workflows:read", "-w", "nope"], "Workspace 'nope' not found"),
        (["list", "--workspace", "nope"], "Workspace 'nope' not found"),
        (["list", "-w", "[/red]"], "Workspace '[/red]' not found"),  # data, not markup
        (["revoke", before[0]["id"], "--workspace", "nope"], "Workspace 'nope' not found"),
    ]
    for argv, message in cases:
        result = await keys(settings, *argv)
        assert result.exit_code == 2, (argv, result.output)
        assert message in result.stderr, (argv, result.stderr)
        assert result.stdout == ""
    both = await keys(settings, "create", "", "-s", "root")
    assert both.exit_code == 2
    assert "name must not be empty" in both.stderr and "Unknown scope 'root'" in both.stderr
    assert await listed(settings) == before
    assert all(k["revoked_at"] is None for k in await listed(settings))


async def test_revoking_an_unknown_key_fails(api: Api, settings: Settings) -> None:
    result = await keys(settings, "revoke", "key_nope")
    assert result.exit_code == 1
    assert "API key 'key_nope' not found" in result.stderr
    assert (await api.client.get("/api/workflows", headers=api.headers)).status_code == 200


def test_usage_errors_touch_no_data_dir(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    result = CliRunner().invoke(app, ["keys", "create", "ci", "--data-dir", str(fresh)])
    assert result.exit_code == 2 and "at least one scope" in result.stderr
    assert not fresh.exists()


def test_create_on_a_new_data_dir_bootstraps_the_instance(tmp_path: Path) -> None:
    """A first `keys create` makes the database, `default` and admin.key, as serve does."""
    data = tmp_path / "new"
    runner = CliRunner()
    args = ["--data-dir", str(data), "--database-url", f"sqlite:///{data / 'flowdeck.db'}"]
    made = runner.invoke(app, ["keys", "create", "ci", "-s", "workflows:read", *args])
    assert made.exit_code == 0, made.stderr
    admin_secret = (data / "admin.key").read_text().strip()
    assert admin_secret != made.stdout.strip()
    shown = runner.invoke(app, ["keys", "list", "--json", *args])
    names = {k["name"]: k for k in json.loads(shown.stdout)["keys"]}
    assert set(names) == {"ci", "admin"} and names["admin"]["instance_admin"] is True
