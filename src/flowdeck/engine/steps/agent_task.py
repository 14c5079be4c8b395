"""The `agent_task` step: ask an agent's model to reach a goal (SPEC §3).

The agent's instructions are the system message; the rendered goal and context are the user
message. Secret values are masked out of both unless the step's own goal or context names them
(`{{ secrets.X }}`): only what the definition puts there on purpose reaches the model.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flowdeck.domain.step_configs import AgentTaskConfig
from flowdeck.domain.templating import referenced_secrets_in
from flowdeck.engine.agents import AgentProfile
from flowdeck.engine.redaction import Redactor
from flowdeck.engine.steps.base import Completed, StepContext, StepFailed, StepOutcome
from flowdeck.engine.steps.chat import ChatReply, Provider, chat
from flowdeck.engine.steps.common import as_text, validated_config

NO_PROVIDER = (
    "No LLM provider configured: set FLOWDECK_LLM_BASE_URL (and FLOWDECK_LLM_API_KEY), "
    "or give the agent a base_url"
)
_FENCE = re.compile(r"\A\s*```(?:json|JSON)?\s*\n?(?P<body>.*?)\n?\s*```\s*\Z", re.DOTALL)


def provider_for(ctx: StepContext, agent: AgentProfile) -> Provider:
    """The agent's own endpoint (with its own key, if any), else the server-wide one.

    The server-wide key goes only to the server-wide URL, never to an agent's own host.
    """
    if agent.base_url:
        return Provider(agent.base_url, agent.api_key)
    if ctx.env.llm_base_url:
        return Provider(ctx.env.llm_base_url, agent.api_key or ctx.env.llm_api_key)
    raise StepFailed(NO_PROVIDER, retryable=False)


def model_masker(ctx: StepContext) -> Redactor:
    """Masks every secret the step's goal and context do not name explicitly."""
    secrets = ctx.template_context.get("secrets") or {}
    named = referenced_secrets_in([ctx.config.get("goal"), ctx.config.get("context")])
    kept = [v for k, v in dict(secrets).items() if k in named]
    return Redactor({k: v for k, v in dict(secrets).items() if k not in named}, keep=kept)


def user_message(config: AgentTaskConfig) -> str:
    """The goal, the context under it, and how to answer when a schema is asked for."""
    parts = [config.goal]
    if config.context is not None:
        parts.append("Context:\n" + as_text(config.context))
    if config.output_schema is not None:
        schema = json.dumps(config.output_schema, ensure_ascii=False)
        parts.append(
            "Reply with only a JSON value (no prose, no code fence) that matches this "
            f"JSON Schema:\n{schema}"
        )
    return "\n\n".join(parts)


def parse_structured(text: str, schema: dict[str, Any]) -> tuple[Any, str | None]:
    """The JSON value in `text` and None, or None and why it does not fit `schema`."""
    import jsonschema

    fenced = _FENCE.match(text)
    raw = fenced.group("body") if fenced else text
    try:
        value = json.loads(raw)
    except ValueError as exc:
        return None, f"the reply is not JSON ({exc})"
    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return value, None
    where = "/".join(str(p) for p in error.absolute_path)
    message = error.message if len(error.message) <= 300 else error.message[:299] + "…"
    return None, f"{where or 'the value'}: {message}"


class AgentTaskHandler:
    """Calls the agent's model once (twice when a schema answer needs one repair)."""

    type_name = "agent_task"
    config_model = AgentTaskConfig

    async def execute(self, ctx: StepContext) -> StepOutcome:
        """Render the prompt, call the model, check the answer, report usage and cost."""
        config = await validated_config(ctx, AgentTaskConfig, texts=("goal",))
        if ctx.env.agents is None:
            raise StepFailed("Agents are not available on this worker", retryable=False)
        agent = await ctx.env.agents(ctx.workspace_id, config.agent_id)
        if agent is None:
            raise StepFailed(
                f"Agent '{config.agent_id}' not found in this workspace", retryable=False
            )
        provider = provider_for(ctx, agent)
        mask = model_masker(ctx)
        messages = [
            {"role": "system", "content": str(mask.redact(agent.instructions))},
            {"role": "user", "content": str(mask.redact(user_message(config)))},
        ]
        payload: dict[str, Any] = {"model": agent.model, "messages": messages}
        if agent.temperature is not None:
            payload["temperature"] = agent.temperature
        if agent.max_tokens is not None:
            payload["max_tokens"] = agent.max_tokens
        if config.output_schema is not None:
            payload["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": config.output_schema},
            }
        replies = [await chat(ctx, provider, payload, request_timeout=ctx.timeout_seconds)]
        result: Any = replies[0].text
        if config.output_schema is not None:
            result, problem = parse_structured(replies[0].text, config.output_schema)
            if problem is not None:
                repair = [
                    *messages,
                    {"role": "assistant", "content": replies[0].text},
                    {
                        "role": "user",
                        "content": f"That reply does not match the schema: {problem}. "
                        "Reply again with only the corrected JSON value.",
                    },
                ]
                payload = {**payload, "messages": repair}
                replies.append(
                    await chat(ctx, provider, payload, request_timeout=ctx.timeout_seconds)
                )
                result, problem = parse_structured(replies[1].text, config.output_schema)
            if problem is not None:
                raise StepFailed(
                    f"Agent '{agent.name}' did not return JSON matching output_schema after "
                    f"one repair attempt: {problem}",
                    retryable=True,
                    output=_output(agent, replies, replies[-1].text),
                )
        output = _output(agent, replies, result)
        return Completed(output, cost=output["cost"])


def _output(agent: AgentProfile, replies: list[ChatReply], result: Any) -> dict[str, Any]:
    input_tokens = sum(r.input_tokens for r in replies)
    output_tokens = sum(r.output_tokens for r in replies)
    usage: dict[str, Any] = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    if any(r.estimated_usage for r in replies):
        usage["estimated"] = True  # the provider reported none: characters / 4
    return {
        "text": result,
        "usage": usage,
        "cost": agent.cost(input_tokens, output_tokens),
        "model": replies[-1].model,
        "agent_id": agent.id,
    }
