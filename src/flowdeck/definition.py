"""Workflows as code: build a definition in Python, get the JSON the server accepts.

    from flowdeck.definition import HttpRequestConfig, HttpRequestStep, TransformConfig, \\
        TransformStep, Workflow

    wf = Workflow(
        name="Fetch and shape",
        slug="fetch-and-shape",
        steps=[
            HttpRequestStep(id="fetch", config=HttpRequestConfig(url="https://example.com/x")),
            TransformStep(
                id="shape",
                depends_on=["fetch"],
                config=TransformConfig(value="{{ steps.fetch.output.body }}"),
            ),
        ],
    )
    wf.to_definition()  # a dict: POST it, or dump it as YAML

`workflow_json_schema()` is the JSON Schema of a definition file (`flowdeck schema` prints it;
the server serves it at `/api/schema/workflow.json`).
"""

from __future__ import annotations

from flowdeck.domain.definition import InputSpec, OutputSpec, RetryPolicy
from flowdeck.domain.definition_meta import ScheduleSpec
from flowdeck.domain.definition_schema import (
    STEP_MODELS,
    AgentTaskStep,
    AnyStep,
    ApprovalStep,
    ConditionStep,
    HttpRequestStep,
    LoopStep,
    ScriptStep,
    Step,
    TransformStep,
    WaitStep,
    WebhookStep,
    Workflow,
    WorkflowDefinitionSchema,
    WorkflowStep,
    workflow_json_schema,
)
from flowdeck.domain.slugs import slugify
from flowdeck.domain.step_configs import (
    BUILTIN_STEP_CONFIGS,
    AgentTaskConfig,
    ApprovalConfig,
    ConditionConfig,
    HttpRequestConfig,
    LoopBody,
    LoopConfig,
    ScriptConfig,
    TransformConfig,
    WaitConfig,
    WebhookConfig,
    WorkflowConfig,
)

__all__ = [
    "BUILTIN_STEP_CONFIGS",
    "STEP_MODELS",
    "AgentTaskConfig",
    "AgentTaskStep",
    "AnyStep",
    "ApprovalConfig",
    "ApprovalStep",
    "ConditionConfig",
    "ConditionStep",
    "HttpRequestConfig",
    "HttpRequestStep",
    "InputSpec",
    "LoopBody",
    "LoopConfig",
    "LoopStep",
    "OutputSpec",
    "RetryPolicy",
    "ScheduleSpec",
    "ScriptConfig",
    "ScriptStep",
    "Step",
    "TransformConfig",
    "TransformStep",
    "WaitConfig",
    "WaitStep",
    "WebhookConfig",
    "WebhookStep",
    "Workflow",
    "WorkflowConfig",
    "WorkflowDefinitionSchema",
    "WorkflowStep",
    "slugify",
    "workflow_json_schema",
]
