"""The Definition tab: edit the YAML, see every error next to its step as you type, preview
the graph, and save a new version with a change summary."""

from __future__ import annotations

import re
from typing import Any

import yaml
from fastapi import APIRouter
from starlette.responses import Response

from flowdeck.domain.definition_text import DefinitionParseError, load_definition_text
from flowdeck.errors import InvalidInput
from flowdeck.ui.graph import layout
from flowdeck.ui.pages.workflow import tab
from flowdeck.ui.render import Page, PageDep, UiRoute

router = APIRouter(route_class=UiRoute, include_in_schema=False)
_QUOTED = re.compile(r"'([^']+)'")


def as_yaml(definition: dict[str, Any]) -> str:
    """A definition as block YAML, in its own key order."""
    return yaml.safe_dump(definition, sort_keys=False, allow_unicode=True, width=100)


def errors_by_step(errors: list[str], step_ids: list[str]) -> dict[str, list[str]]:
    """Each error under the first step it names ("" for errors about the whole workflow)."""
    known = set(step_ids)
    grouped: dict[str, list[str]] = {}
    for sentence in errors:
        named = [q for q in _QUOTED.findall(sentence) if q in known]
        where = named[0] if named else next((s for s in step_ids if f"steps.{s}" in sentence), "")
        grouped.setdefault(where, []).append(sentence)
    return grouped


async def check_text(page: Page, text: str) -> dict[str, Any]:
    """Parse and validate edited text: the parsed value, errors by step, warnings, a graph."""
    try:
        parsed = load_definition_text(text, max_bytes=page.services.settings.max_definition_bytes)
    except DefinitionParseError as exc:
        return dict(parsed=None, grouped={"": [str(exc)]}, warnings=[], graph=None, valid=False)
    result = await page.services.workflows.check(parsed)
    steps = parsed.get("steps") if isinstance(parsed, dict) else None
    ids = [s["id"] for s in steps or [] if isinstance(s, dict) and isinstance(s.get("id"), str)]
    grouped = errors_by_step(result.errors, ids)
    # Steps with an error are drawn as such in the preview, beside the list of sentences.
    marks = {step: "invalid" for step in grouped if step}
    graph = layout(parsed, marks) if isinstance(parsed, dict) else None
    return dict(
        parsed=parsed,
        grouped=grouped,
        warnings=result.warnings,
        graph=graph,
        valid=result.valid,
        step_ids=ids,
    )


@router.get("/ui/workflows/{workflow_id}/definition")
async def definition_tab(page: PageDep, workflow_id: str) -> Response:
    """The editor, filled with the current definition."""
    wf = await page.services.workflows.get(page.principal, workflow_id)
    text = as_yaml(wf.definition)
    return await tab(page, wf, "definition", text=text, **await check_text(page, text))


@router.post("/ui/workflows/{workflow_id}/definition/check")
async def check_definition(page: PageDep, workflow_id: str) -> Response:
    """Validation and graph preview of the text being typed (an htmx fragment)."""
    await page.services.workflows.get(page.principal, workflow_id)  # 404 for others' workflows
    text = (await page.form()).get("definition", "")
    return page.render("_definition_check.html", **await check_text(page, text))


@router.post("/ui/workflows/{workflow_id}/definition")
async def save_definition(page: PageDep, workflow_id: str) -> Response:
    """Save the edited definition as a new version."""
    form = await page.form()
    checked = await check_text(page, form.get("definition", ""))
    if checked["parsed"] is None:
        raise InvalidInput("The definition is invalid", errors=checked["grouped"][""])
    summary = (form.get("change_summary") or "").strip()[:500] or "Edited in the web UI"
    wf = await page.services.workflows.update(
        page.principal, workflow_id, {"definition": checked["parsed"], "change_summary": summary}
    )
    return page.redirect(f"/ui/workflows/{wf.id}/versions")
