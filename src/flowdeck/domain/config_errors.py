"""Pydantic validation errors as the sentences Flowdeck reports (`steps[0].config.url: …`)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, get_args

from pydantic import BaseModel, ValidationError


def format_location(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic error location as `a.b[2].c`."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def error_message(error: Mapping[str, Any]) -> str:
    """A pydantic error's message without pydantic's 'Value error, ' prefix."""
    if error.get("type") in ("value_error", "assertion_error"):
        ctx = error.get("ctx") or {}
        if "error" in ctx:
            return str(ctx["error"])
    return str(error.get("msg", "invalid value"))


def summarize_errors(exc: ValidationError) -> str:
    """All errors of `exc` on one line: `loc: message; loc: message`."""
    parts = []
    for error in exc.errors():
        where = format_location(tuple(error["loc"]))
        message = error_message(error)
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _fields_at(model: type[BaseModel] | None, loc: tuple[int | str, ...]) -> list[str]:
    """The field names (aliases when set) of the model found at `loc` inside `model`."""
    for part in loc:
        if model is None:
            return []
        if isinstance(part, str):
            fields = model.model_fields.items()
            info = next((f for name, f in fields if part in (name, f.alias)), None)
            model = _model_in(info.annotation) if info is not None else None
    return [f.alias or name for name, f in model.model_fields.items()] if model else []


def error_sentences(
    exc: ValidationError, model: type[BaseModel], *, label: str = "", base: str = ""
) -> list[str]:
    """Pydantic errors as `<label>: <base>.<location>: <message>` sentences, with typo hints."""
    out = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        message = error_message(error)
        if error["type"] == "extra_forbidden" and loc and isinstance(loc[-1], str):
            close = difflib.get_close_matches(loc[-1], _fields_at(model, loc[:-1]), n=1)
            message = "unknown field" + (f" (did you mean '{close[0]}'?)" if close else "")
        elif error["type"] == "string_pattern_mismatch" and loc == ("id",):
            message = "may only contain letters, digits, '_' and '-'"
        elif loc and (error["type"] == "invalid_key" or loc[-1] == "[key]"):
            # YAML allows keys such as `1:`; JSON data does not.
            loc = loc[:-1] if loc[-1] == "[key]" else loc
            loc, message = loc[:-1], f"key {loc[-1]!r} must be a string"
        where = format_location(loc)
        if base:
            where = (
                f"{base}{where}" if where.startswith("[") else ".".join(filter(None, (base, where)))
            )
        parts = [p for p in (label, where) if p]
        out.append(": ".join([*parts, message]))
    return out
