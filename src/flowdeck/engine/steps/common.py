"""Helpers every step handler uses: render-and-validate a config, text, redaction."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from flowdeck.domain.step_configs import summarize_errors
from flowdeck.engine.steps.base import StepContext, StepFailed

ConfigT = TypeVar("ConfigT", bound=BaseModel)


def redact_text(ctx: StepContext, text: str) -> str:
    """`text` with the run's secrets masked."""
    redacted = ctx.redact(text)
    return redacted if isinstance(redacted, str) else str(redacted)


def as_text(value: Any) -> str:
    """A rendered value as text: strings as they are, anything else as JSON (like templates)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


async def validated_config(
    ctx: StepContext,
    model: type[ConfigT],
    *,
    text_maps: Iterable[str] = (),
    texts: Iterable[str] = (),
    verbatim: Iterable[str] = (),
) -> ConfigT:
    """Render the step's config and validate it; a bad config fails the step for good.

    A lone `{{ expr }}` renders to a native value, so the values of the `text_maps` fields
    (headers, env) and the `texts` fields (body) are written as text first. The `verbatim`
    fields (a script's code) are not templates at all and pass through untouched.
    """
    kept = {name: ctx.config[name] for name in verbatim if name in ctx.config}
    rendered = await ctx.render({k: v for k, v in ctx.config.items() if k not in kept})
    if isinstance(rendered, dict):
        for name in text_maps:
            value = rendered.get(name)
            if isinstance(value, dict):
                rendered[name] = {key: as_text(item) for key, item in value.items()}
        for name in texts:
            if rendered.get(name) is not None:
                rendered[name] = as_text(rendered[name])
    if isinstance(rendered, dict):
        rendered.update(kept)
    try:
        return model.model_validate(rendered)
    except ValidationError as exc:
        message = f"Invalid {ctx.step_type} config: {summarize_errors(exc)}"
        raise StepFailed(redact_text(ctx, message), retryable=False) from None
