"""agent_task pieces that need no server: structured answers, masking, providers, estimates."""

from __future__ import annotations

import httpx
import pytest

from flowdeck.domain.definition import StepDef
from flowdeck.engine.agents import AgentProfile
from flowdeck.engine.steps.agent_task import (
    NO_PROVIDER,
    model_masker,
    parse_structured,
    provider_for,
)
from flowdeck.engine.steps.base import StepFailed
from flowdeck.services.costs import estimate_agent_step
from tests.unit.step_helpers import make_context

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


def test_parse_structured_accepts_fenced_json_and_explains_misfits() -> None:
    assert parse_structured('```json\n{"n": 3}\n```', SCHEMA) == ({"n": 3}, None)
    assert parse_structured('{"n": 3}', SCHEMA) == ({"n": 3}, None)
    value, problem = parse_structured('{"n": "three"}', SCHEMA)
    assert value is None and problem == "n: 'three' is not of type 'integer'"
    value, problem = parse_structured("three", SCHEMA)
    assert value is None and problem is not None and problem.startswith("the reply is not JSON")


async def test_only_named_secrets_stay_visible() -> None:
    async with httpx.AsyncClient() as http:
        ctx = make_context(
            {"agent_id": "a", "goal": "use {{ secrets.A }}", "context": "{{ secrets['B'] }}"},
            http=http,
            step_type="agent_task",
            template_context={"secrets": {"A": "aaa", "B": "bbb", "C": "ccc"}},
        )
        masker = model_masker(ctx)
    assert masker.redact("aaa bbb ccc") == "aaa bbb ***"


async def test_provider_choice_never_sends_the_server_key_elsewhere() -> None:
    async with httpx.AsyncClient() as http:
        ctx = make_context(
            {}, http=http, step_type="agent_task", llm_base_url="http://s/v1", llm_api_key="srv"
        )
        bare = make_context({}, http=http, step_type="agent_task")
    plain = AgentProfile(id="agent_1", name="a", model="m")
    own = AgentProfile(id="agent_2", name="b", model="m", base_url="http://own/v1")
    assert provider_for(ctx, plain).api_key == "srv"
    assert provider_for(ctx, plain).endpoint == "http://s/v1/chat/completions"
    assert provider_for(ctx, own).api_key is None
    with pytest.raises(StepFailed) as failed:
        provider_for(bare, plain)
    assert failed.value.message == NO_PROVIDER and not failed.value.retryable


def test_estimate_is_prompt_characters_over_four_at_the_agents_prices() -> None:
    agent = AgentProfile(
        id="agent_1",
        name="a",
        model="m",
        instructions="i" * 36,
        max_tokens=1000,
        price_per_1k_input=3.0,
        price_per_1k_output=6.0,
    )
    step = StepDef(id="s", type="agent_task", config={"agent_id": "agent_1", "goal": "g" * 4})
    estimate = estimate_agent_step(step, agent)
    assert (estimate.input_tokens, estimate.output_tokens) == (10, 1000)
    assert estimate.cost == 6.03
    templated = StepDef(id="s", type="agent_task", config={"agent_id": "{{ inputs.a }}"})
    assert "template" in (estimate_agent_step(templated, None).note or "")
