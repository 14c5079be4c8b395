"""What `workflows.apply` computes without the network: the document, the workflow it
targets, the request bodies and the changes it made."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flowdeck.client.shapes import Schedule, Workflow
from flowdeck.errors import InvalidInput

# Written at the top of a definition file, these set the workflow's own fields.
METADATA = ("slug", "tags", "trigger_type", "visibility")
# What `apply` reports as changed, beside the definition (a new version).
COMPARED = ("name", "description", "tags", "trigger_type", "visibility", "status")
# The server's reserved paths under /api/workflows (services/workflows.py keeps the same list).
RESERVED_SLUGS = frozenset(
    {"templates", "runs", "schedules", "validate", "bulk-delete", "fork", "trash"}
)


def slugify(name: str) -> str:
    """The slug a server derives from a name at creation ("Fetch and notify" →
    "fetch-and-notify"); the same rule as the server's, so a file without `slug` finds the
    workflow it created."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:90].strip("-")
    if slug in RESERVED_SLUGS:
        slug += "-workflow"
    return slug or "workflow"


def load_document(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """A definition document from a file (YAML or JSON) or a mapping."""
    if isinstance(source, Mapping):
        doc: Any = dict(source)
    else:
        from flowdeck.domain.definition_text import DefinitionParseError, load_definition_text

        path = Path(source)
        try:
            doc = load_definition_text(path.read_text())
        except OSError as exc:
            raise InvalidInput(f"Cannot read {path}: {exc.strerror}") from exc
        except DefinitionParseError as exc:
            raise InvalidInput(f"{path}: {exc}", errors=[str(exc)]) from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str) or not doc["name"]:
        raise InvalidInput("The definition needs a `name`", errors=["name: Field required"])
    return doc


def target(doc: Mapping[str, Any]) -> str:
    """The slug `apply` looks for: the file's own, or the one derived from its name."""
    slug = doc.get("slug")
    return slug if isinstance(slug, str) and slug else slugify(str(doc["name"]))


def split(doc: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The definition to send, and the workflow fields lifted from the top of the document.

    `schedules` stays in the definition: the server reconciles them when it is given them.
    """
    definition = {k: v for k, v in doc.items() if k not in METADATA}
    fields = {k: doc[k] for k in METADATA if k in doc}
    return definition, fields


def create_body(doc: Mapping[str, Any]) -> dict[str, Any]:
    """POST /api/workflows for a new workflow."""
    definition, fields = split(doc)
    if "slug" not in fields:
        fields["slug"] = target(doc)
    return {"definition": definition, **fields}


def update_body(doc: Mapping[str, Any]) -> dict[str, Any]:
    """PUT /api/workflows/{slug}: the definition and the fields (a slug never changes)."""
    definition, fields = split(doc)
    fields.pop("slug", None)
    return {"definition": definition, **fields}


def changed_fields(before: Workflow, after: Workflow) -> list[str]:
    """Which of the workflow's fields differ, `definition` first when a version was made."""
    changed = ["definition"] if after.version != before.version else []
    for name in COMPARED:
        if getattr(before, name) != getattr(after, name):
            changed.append(name)
    return changed


def schedule_label(schedule: Schedule) -> str:
    """How apply names a schedule: its cron and timezone."""
    return f"{schedule.cron_expression} ({schedule.timezone})"


def schedule_changes(before: list[Schedule], after: list[Schedule]) -> tuple[list[str], list[str]]:
    """Schedules added and removed, by cron and timezone."""
    old = {schedule_label(s) for s in before}
    new = {schedule_label(s) for s in after}
    return sorted(new - old), sorted(old - new)
