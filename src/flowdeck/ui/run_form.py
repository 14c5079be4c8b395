"""The Run dialog's form: one field per declared input, read back into typed values."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flowdeck.errors import InvalidInput

PREFIX = "input."


def _field_value(kind: str, text: str, name: str, errors: list[str]) -> Any:
    if kind == "string":
        return text
    if kind == "boolean":
        return text in ("true", "on", "1", "yes")
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text) if any(c in text for c in ".eE") else int(text)
        return json.loads(text)
    except ValueError:
        what = {"integer": "a whole number", "number": "a number"}.get(kind, "valid JSON")
        errors.append(f"Input '{name}' must be {what}; got '{text[:80]}'")
        return None


def read_inputs(definition: Mapping[str, Any], form: Mapping[str, str]) -> dict[str, Any]:
    """Typed run inputs from the form; a blank optional field is left out (its default applies).

    Raw JSON in `input_json` (the "advanced" box) is merged under the fields."""
    errors: list[str] = []
    values: dict[str, Any] = {}
    raw = (form.get("input_json") or "").strip()
    if raw:
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            errors.append('The JSON inputs must be an object, such as {"name": "value"}')
        else:
            values.update(parsed)
    for spec in definition.get("inputs") or []:
        name, kind = str(spec.get("name")), str(spec.get("type") or "any")
        if kind == "boolean" and f"{PREFIX}{name}.present" in form:
            values[name] = f"{PREFIX}{name}" in form
            continue
        text = form.get(f"{PREFIX}{name}", "")
        if text.strip() == "":
            continue
        values[name] = _field_value(kind, text.strip() if kind != "string" else text, name, errors)
    if errors:
        raise InvalidInput("The run's inputs are invalid", errors=errors)
    return values
