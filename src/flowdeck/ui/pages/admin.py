"""The Templates gallery (install), and Settings for admins: API keys, secrets, agents."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from flowdeck.domain.records import SCOPES
from flowdeck.errors import InvalidInput
from flowdeck.services.agents import agent_view
from flowdeck.ui.render import Page, PageDep, UiRoute

router = APIRouter(route_class=UiRoute, include_in_schema=False)


@router.get("/ui/templates")
async def gallery(page: PageDep, category: str | None = None) -> Response:
    """Built-in and workspace templates."""
    listed = await page.services.templates.list_templates(
        page.principal, category=category or None, limit=200
    )
    return page.render("templates.html", templates=listed.items, category=category or "")


@router.post("/ui/templates/{template_id}/install")
async def install(page: PageDep, template_id: str) -> Response:
    """Create a workflow from a template and open it."""
    name = (await page.form()).get("name", "").strip() or None
    wf = await page.services.templates.install(page.principal, template_id, name=name)
    return page.redirect(f"/ui/workflows/{wf.id}")


async def _settings(page: Page, new_secret: str | None = None) -> Response:
    page.principal.require("workflows:admin")
    keys = await page.services.admin.list_keys(page.principal, limit=200)
    secrets = await page.services.admin.list_secrets(page.principal, limit=200)
    agents = await page.services.agents.list_agents(page.principal, limit=200)
    return page.render(
        "settings.html",
        keys=keys.items,
        secrets=secrets.items,
        agents=[agent_view(a) for a in agents.items],
        scopes=SCOPES,
        new_secret=new_secret,
    )


@router.get("/ui/settings")
async def settings(page: PageDep) -> Response:
    """Keys, secrets and agents of the workspace."""
    return await _settings(page)


@router.post("/ui/settings/keys")
async def create_key(page: PageDep) -> Response:
    """A new key; its secret is shown on this one page and never again."""
    form = await page.form()
    scopes = await page.form_lists("scopes")
    _, secret = await page.services.admin.create_key(page.principal, form.get("name", ""), scopes)
    response = await _settings(page, new_secret=secret)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/ui/settings/keys/{key_id}/revoke")
async def revoke_key(page: PageDep, key_id: str) -> Response:
    """Revoke a key."""
    await page.services.admin.revoke_key(page.principal, key_id)
    return page.redirect("/ui/settings")


@router.post("/ui/settings/secrets")
async def put_secret(page: PageDep) -> Response:
    """Store (or replace) a secret; its value is never shown."""
    form = await page.form()
    await page.services.admin.put_secret(
        page.principal, form.get("name", ""), form.get("value", "")
    )
    return page.redirect("/ui/settings")


@router.post("/ui/settings/secrets/{name}/delete")
async def delete_secret(page: PageDep, name: str) -> Response:
    """Delete a secret."""
    await page.services.admin.delete_secret(page.principal, name)
    return page.redirect("/ui/settings")


@router.post("/ui/settings/agents")
async def create_agent(page: PageDep) -> Response:
    """A new agent profile (the provider key, if given, is stored and never shown)."""
    form = await page.form()
    values: dict[str, object] = {
        "name": form.get("name", ""),
        "model": form.get("model", ""),
        "instructions": form.get("instructions", ""),
    }
    if form.get("base_url"):
        values["base_url"] = form["base_url"]
    if form.get("api_key"):
        values["api_key"] = form["api_key"]
    if form.get("temperature"):
        try:
            values["temperature"] = float(form["temperature"])
        except ValueError:
            raise InvalidInput("Invalid agent", errors=["temperature must be a number"]) from None
    await page.services.agents.create(page.principal, values)
    return page.redirect("/ui/settings")


@router.post("/ui/settings/agents/{agent_id}/delete")
async def delete_agent(page: PageDep, agent_id: str) -> Response:
    """Delete an agent profile."""
    await page.services.agents.delete(page.principal, agent_id)
    return page.redirect("/ui/settings")
