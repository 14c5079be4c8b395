"""The web UI in a real browser (Debian's chromium driven by Playwright) against a real
`flowdeck serve`: log in, install a template, start a run from the generated form and watch
it finish live, approve from the inbox, diff and roll back versions, and see a validation
error while typing. Every screen visited is saved as a screenshot."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowdeck.store.dialect import is_sqlite
from flowdeck.store.migrate import upgrade
from tests.conftest import TEST_DB_ENV
from tests.e2e.conftest import Server, launch_server

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("ui_browser"),
    # A browser on a loaded 2-core machine is slow; this only guards against a hang.
    pytest.mark.timeout(240),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's chromium is not installed (/usr/bin/chromium); .ci/run installs it",
    ),
]
sync_api = pytest.importorskip("playwright.sync_api")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 20_000
LIVE_DEFINITION: dict[str, Any] = {
    "name": "Live pipeline",
    "description": "Three steps, the first one slow enough to watch",
    "inputs": [
        {"name": "who", "type": "string", "required": True},
        {"name": "times", "type": "integer", "default": 2},
    ],
    "steps": [
        {"id": "warm_up", "type": "wait", "config": {"seconds": 1.5}},
        {
            "id": "greet",
            "type": "transform",
            "depends_on": ["warm_up"],
            "config": {"value": "hello {{ inputs.who }}"},
        },
        {
            "id": "repeat",
            "type": "transform",
            "depends_on": ["greet"],
            "config": {"value": "{{ inputs.times * 2 }}"},
        },
    ],
}
EDITABLE: dict[str, Any] = {
    "name": "Editable report",
    "description": "Fetch a number, then report it",
    "steps": [
        {"id": "source", "type": "transform", "config": {"value": 41}},
        {
            "id": "check",
            "type": "condition",
            "depends_on": ["source"],
            "config": {"expression": "steps.source.output > 40", "then": ["report"], "else": []},
        },
        {
            "id": "report",
            "type": "transform",
            "depends_on": ["source", "check"],
            "config": {"value": "{{ steps.source.output + 1 }}"},
        },
    ],
}


@pytest.fixture(scope="module")
def shots() -> Path:
    """Where screenshots go (FLOWDECK_SCREENSHOTS, else a folder under the temp dir)."""
    where = Path(os.environ.get("FLOWDECK_SCREENSHOTS") or "/tmp/flowdeck-ui-screenshots")
    where.mkdir(parents=True, exist_ok=True)
    return where


@contextmanager
def _own_database(root: Path) -> Iterator[str]:
    """A migrated database of the module's own: the suite's per-test databases are emptied
    after each test, and other tests may run on this worker while the module's server lives."""
    url = os.environ.get(TEST_DB_ENV, "")
    if not url or is_sqlite(url):
        path = root / "flowdeck.db"
        upgrade(f"sqlite:///{path}")
        yield f"sqlite:///{path}"
        return
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"flowdeck_ui_{uuid.uuid4().hex[:10]}"
    admin = make_url(url).set(drivername="postgresql", database="postgres")
    admin_url = admin.render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    own = make_url(url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(own)
        yield own
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """One `flowdeck serve` for the module, on a database of its own."""
    root = tmp_path_factory.mktemp("ui")
    with _own_database(root) as url:
        server = launch_server(root / "data", url)
        try:
            server.wait_ready(timeout=120)  # a busy CI machine: the first start bootstraps
            yield server, (server.data_dir / "admin.key").read_text().strip()
        finally:
            server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, ui_server: tuple[Server, str]) -> Iterator[Any]:
    """A logged-in page at 1280 px; fails the test on any browser console error."""
    server, key = ui_server
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(TIMEOUT_MS)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("dialog", lambda d: d.accept())
    pg.goto("/")
    pg.fill("#api_key", key)
    pg.click("button:has-text('Log in')")
    pg.wait_for_url("**/ui/")
    yield pg
    context.close()
    assert errors == [], errors


def _api(ui_server: tuple[Server, str]) -> httpx.Client:
    server, key = ui_server
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=10)


def test_log_in_and_install_a_template(page: Any, shots: Path) -> None:
    assert page.locator("h1").first.inner_text() == "Workflows"
    page.keyboard.press("Tab")  # keyboard users start at a skip link, then the navigation
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Workflows"
    page.screenshot(path=shots / "login-workflows-empty.png")
    page.click("nav >> text=Templates")
    page.screenshot(path=shots / "templates.png", full_page=True)
    card = page.locator(".template[data-template-id='tpl_route_by_threshold']")
    card.locator("input[name=name]").fill("Threshold router")
    card.locator("button:has-text('Install')").click()
    page.wait_for_url("**/ui/workflows/wf_*")
    assert "Threshold router" in page.locator("h1").inner_text()
    assert page.locator("svg.dag g.node").count() == 4
    assert page.locator("svg.dag .edge-label").all_text_contents() == ["then", "else"]
    page.screenshot(path=shots / "workflow-graph.png")


def test_a_run_started_from_the_form_completes_live(
    page: Any, shots: Path, ui_server: tuple[Server, str]
) -> None:
    with _api(ui_server) as api:
        created = api.post("/api/workflows", json={"definition": LIVE_DEFINITION})
        assert created.status_code == 201, created.text
        wf_id = created.json()["id"]
    page.goto(f"/ui/workflows/{wf_id}")
    page.click("text=Run…")
    page.fill("#input-who", "Ada")
    page.click("button:has-text('Dry run')")
    page.wait_for_selector("#plan >> text=Estimated cost")
    page.screenshot(path=shots / "run-dialog.png")
    page.click("button:has-text('Start run')")
    page.wait_for_url("**/ui/runs/run_*")
    page.evaluate("window.__notReloaded = true")
    nodes = page.locator("svg.dag g.node")
    assert nodes.count() == 3
    page.wait_for_function(
        "() => [...document.querySelectorAll('svg.dag g.node')]"
        ".every(n => n.dataset.status === 'completed')"
    )
    page.wait_for_selector("#run-status[data-status=completed]")
    page.wait_for_selector("tr[data-step-row=repeat][data-status=completed]")
    assert page.evaluate("window.__notReloaded") is True
    assert page.locator("#timeline li", has_text="run_completed").count() >= 1
    page.screenshot(path=shots / "run-completed.png", full_page=True)
    page.goto(f"/ui/runs?workflow_id={wf_id}")
    assert "completed" in page.locator("tr[data-run-id]").first.inner_text()
    page.screenshot(path=shots / "runs.png")
    page.goto(f"/ui/workflows/{wf_id}/analytics")
    assert page.locator(".kpi", has_text="runs").first.locator("b").inner_text() == "1"
    page.screenshot(path=shots / "analytics.png")


def test_approve_a_waiting_step_from_the_inbox(page: Any, shots: Path) -> None:
    page.goto("/ui/templates")
    page.locator(".template[data-template-id='tpl_approval_gate'] button").click()
    page.wait_for_url("**/ui/workflows/wf_*")
    page.click("text=Run…")
    page.fill("#input-change", "release 1.2")
    page.click("button:has-text('Start run')")
    page.wait_for_url("**/ui/runs/run_*")
    run_url = page.url
    page.wait_for_selector("svg.dag g.node[data-step-id=review][data-status=waiting]")
    page.click("nav >> text=Approvals")
    item = page.locator("form.approval", has_text="release 1.2")
    item.locator("input[name=comment]").fill("looks good")
    page.screenshot(path=shots / "approvals.png")
    item.locator("button:has-text('Approve')").click()
    page.wait_for_url("**/ui/approvals")
    assert page.locator("form.approval", has_text="release 1.2").count() == 0
    page.goto(run_url)
    page.wait_for_selector("#run-status[data-status=completed]")
    assert (
        page.locator("svg.dag g.node[data-step-id=publish]").get_attribute("data-status")
        == "completed"
    )


def test_versions_diff_and_rollback(page: Any, shots: Path, ui_server: tuple[Server, str]) -> None:
    with _api(ui_server) as api:
        created = api.post(
            "/api/workflows", json={"definition": {**LIVE_DEFINITION, "name": "Versioned"}}
        )
        wf_id = created.json()["id"]
        changed = {**LIVE_DEFINITION, "name": "Versioned", "steps": LIVE_DEFINITION["steps"][:2]}
        updated = api.put(
            f"/api/workflows/{wf_id}",
            json={"definition": changed, "change_summary": "Drop the repeat step"},
        )
        assert updated.status_code == 200, updated.text
    page.goto(f"/ui/workflows/{wf_id}/versions")
    page.select_option("select[name=a]", "1")
    page.select_option("select[name=b]", "2")
    page.click("button:has-text('Compare')")
    summary = page.locator(".diff-summary").inner_text()
    assert "repeat" in summary or "removed" in summary.lower(), summary
    page.screenshot(path=shots / "versions-diff.png", full_page=True)
    page.click("button:has-text('Roll back to v1')")
    page.wait_for_selector("tr[data-version='3']")
    assert "Rolled back to version 1" in page.locator("tr[data-version='3']").inner_text()
    page.goto(f"/ui/workflows/{wf_id}")
    assert page.locator("svg.dag g.node").count() == 3
    page.goto("/ui/workflows")
    page.screenshot(path=shots / "workflows.png")


def test_definition_tab_flags_a_broken_dependency_while_typing(
    page: Any, shots: Path, ui_server: tuple[Server, str]
) -> None:
    with _api(ui_server) as api:
        created = api.post("/api/workflows", json={"definition": EDITABLE})
        assert created.status_code == 201, created.text
        wf_id = created.json()["id"]
    page.goto(f"/ui/workflows/{wf_id}")
    page.click("nav.tabs >> text=Definition")
    assert page.locator(".validation[data-valid=true]").count() == 1
    editor = page.locator("#definition")
    text = editor.input_value()
    assert "- source" in text
    editor.fill(text.replace("- source", "- sorce", 1))
    error = page.locator("[data-error-step=check]", has_text="sorce")
    error.wait_for()
    assert (
        page.locator("svg.dag g.node[data-step-id=check]").get_attribute("data-status") == "invalid"
    )
    page.screenshot(path=shots / "definition-error.png", full_page=True)


def test_phone_width_keeps_the_navigation(
    browser: Any, ui_server: tuple[Server, str], shots: Path
) -> None:
    server, key = ui_server
    context = browser.new_context(base_url=server.url, viewport={"width": 390, "height": 800})
    pg = context.new_page()
    pg.goto("/ui/login")
    pg.fill("#api_key", key)
    pg.keyboard.press("Enter")
    pg.wait_for_url("**/ui/")
    assert pg.locator("nav[aria-label=Main] a").count() >= 5
    width = pg.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, width
    pg.screenshot(path=shots / "phone-workflows.png")
    context.close()
