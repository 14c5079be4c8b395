"""Built-in workflow templates: YAML files shipped as package data beside this module.

Each file holds the template's metadata (`id`, `name`, `category`, `description`,
`trigger_type`, `requirements`) and its `definition`, an ordinary workflow definition.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

from flowdeck.domain.catalog import Template

_REQUIRED = ("id", "name", "category", "description", "definition")


class TemplateFileError(ValueError):
    """A built-in template file is malformed (a packaging bug, never user input)."""


def parse_template(text: str, source: str) -> Template:
    """A template from the text of one YAML file; TemplateFileError when malformed."""
    data: Any = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise TemplateFileError(f"{source}: a template file must hold a mapping")
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise TemplateFileError(f"{source}: missing {', '.join(missing)}")
    if not str(data["id"]).startswith("tpl_") or not isinstance(data["definition"], dict):
        raise TemplateFileError(f"{source}: id must start with tpl_ and definition be a mapping")
    return Template(
        id=str(data["id"]),
        name=str(data["name"]),
        category=str(data["category"]),
        description=str(data["description"]),
        definition=data["definition"],
        is_builtin=True,
        trigger_type=str(data.get("trigger_type", "manual")),
        requirements=tuple(str(r) for r in data.get("requirements") or ()),
    )


@cache
def builtin_templates() -> tuple[Template, ...]:
    """Every built-in template, ordered by id (read once per process)."""
    found: dict[str, Template] = {}
    for entry in resources.files(__name__).iterdir():
        if entry.name.endswith(".yaml"):
            template = parse_template(entry.read_text(encoding="utf-8"), entry.name)
            if template.id in found:
                raise TemplateFileError(f"{entry.name}: duplicate template id {template.id}")
            found[template.id] = template
    return tuple(found[key] for key in sorted(found))


def builtin_template(template_id: str) -> Template | None:
    """The built-in template with this id, if there is one."""
    return next((t for t in builtin_templates() if t.id == template_id), None)
