"""One call to an OpenAI-compatible Chat Completions endpoint (OpenAI, vLLM, Ollama, llama.cpp)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from flowdeck.engine.steps.base import StepContext, StepFailed
from flowdeck.engine.steps.common import as_text, redact_text
from flowdeck.engine.steps.http_request import build_request, exchange, retryable_status

# A model may think for minutes before its first byte; the step's own timeout still applies.
DEFAULT_TIMEOUT_SECONDS = 600.0
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class Provider:
    """Where to send chat requests and the key to send with them."""

    base_url: str
    api_key: str | None = None

    @property
    def endpoint(self) -> str:
        """The Chat Completions URL under `base_url` (which usually ends in `/v1`)."""
        return self.base_url.rstrip("/") + "/chat/completions"


@dataclass(frozen=True)
class ChatReply:
    """The assistant's text and what the exchange used."""

    text: str
    input_tokens: int
    output_tokens: int
    model: str
    estimated_usage: bool = False


def estimate_tokens(text: str) -> int:
    """A rough token count (characters / 4), used only when a provider reports no usage."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _error_detail(body: Any) -> str:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if body.get("detail"):
            return as_text(body["detail"])
    text = as_text(body).strip()
    return text[:300] + ("…" if len(text) > 300 else "")


def _usage(
    body: dict[str, Any], messages: list[dict[str, str]], text: str
) -> tuple[int, int, bool]:
    usage = body.get("usage")
    if isinstance(usage, dict):
        prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
        completion = usage.get("completion_tokens", usage.get("output_tokens"))
        if isinstance(prompt, int) and isinstance(completion, int):
            return prompt, completion, False
    prompt_text = "".join(m["content"] for m in messages)
    return estimate_tokens(prompt_text), estimate_tokens(text), True


async def chat(
    ctx: StepContext,
    provider: Provider,
    payload: dict[str, Any],
    *,
    request_timeout: float | None = None,
) -> ChatReply:
    """POST `payload` (model, messages, options) and read the first choice's text.

    Transport errors, 429 and 5xx fail the step retryably; other refusals for good.
    Cancelling the task closes the connection, which aborts the request.
    """
    headers = {"Accept": "application/json"}
    if provider.api_key:
        headers["Authorization"] = f"Bearer {provider.api_key}"
    limit = request_timeout or DEFAULT_TIMEOUT_SECONDS
    request = build_request(
        ctx, "POST", provider.endpoint, timeout=limit, headers=headers, json=payload
    )
    reply = await exchange(ctx, request, None)
    where = redact_text(ctx, provider.endpoint)
    if not 200 <= reply.status_code < 300:
        # Masked before it is cut short, so no cut can leave a piece of a secret unmasked.
        detail = _error_detail(ctx.redact(reply.body))
        raise StepFailed(
            f"The LLM provider at {where} answered HTTP {reply.status_code}: {detail}",
            retryable=retryable_status(reply.status_code),
        )
    body = reply.body
    try:
        message = body["choices"][0]["message"]
        text = message.get("content")
    except (TypeError, KeyError, IndexError, AttributeError):
        raise StepFailed(
            f"The LLM provider at {where} did not answer in the Chat Completions format",
            retryable=False,
        ) from None
    if isinstance(text, list):  # content parts
        text = "".join(str(p.get("text", "")) for p in text if isinstance(p, dict))
    if not isinstance(text, str) or not text.strip():
        raise StepFailed(f"The model at {where} returned no text", retryable=True)
    prompt_tokens, completion_tokens, estimated = _usage(body, payload["messages"], text)
    model = body.get("model") if isinstance(body.get("model"), str) else payload["model"]
    return ChatReply(text, prompt_tokens, completion_tokens, str(model), estimated)
