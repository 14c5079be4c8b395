"""Seed 002's answers (`/api/v1/workflows/*`, `/api/v1/runs/start`, `/api/v1/files/*`), in
camelCase.

The workflow document's fields are stored as the caller wrote them and answered verbatim: the
seed lists `defaultConfig`'s tool/model/resource fields, a pipeline step's `type`, `cliId` and
`model`, and the graph's `nodes` and `edges`, and these models type those; anything else the
caller put there comes back as given (`extra="allow"`, on those three only)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from flowdeck.models.base import ApiModel, JsonValue, Timestamp
from flowdeck.models.enums import Granularity, RunStatus, WorkflowStatus

Number = int | float


class V1DefaultConfig(ApiModel):
    """The default sandbox config, as given (other keys come back too)."""

    model_config = ConfigDict(extra="allow")

    templateId: JsonValue = Field(default=None, description="The sandbox template (a string)")
    timeoutMs: JsonValue = Field(default=None, description="A step's timeout (milliseconds)")
    memoryMb: JsonValue = None
    cpuCount: JsonValue = None


class V1PipelineStep(ApiModel):
    """One role of the pipeline, as given (other keys come back too)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="The role", examples=["designer"])
    cliId: JsonValue = Field(default=None, description="The CLI tool (a string)")
    model: JsonValue = Field(default=None, description="The model (a string)")


class V1WorkflowGraph(ApiModel):
    """The Builder tab's graph, as given (other keys come back too)."""

    model_config = ConfigDict(extra="allow")

    nodes: list[JsonValue] = Field(default_factory=list)
    edges: list[JsonValue] = Field(default_factory=list)


class V1Display(ApiModel):
    """The list UI's display fields."""

    cliTools: list[str]
    cliToolSummary: str
    stepCount: int


class V1Workflow(ApiModel):
    """The workflow document."""

    id: str
    name: str
    description: str | None
    type: str | None
    defaultConfig: V1DefaultConfig
    maxIterations: int | None
    pipelineSteps: list[V1PipelineStep]
    personaPipelineSteps: list[V1PipelineStep]
    workflowGraph: V1WorkflowGraph
    defaultCheckerInstructions: str | None
    defaultOptimizerInstructions: str | None
    status: WorkflowStatus
    version: int
    createdAt: Timestamp
    updatedAt: Timestamp
    deletedAt: Timestamp | None
    display: V1Display


class V1WorkflowList(ApiModel):
    """Non-deleted workflows, newest first."""

    workflows: list[V1Workflow]
    total: int
    nextCursor: str | None


class V1Run(ApiModel):
    """A run in the Runs tab (prompt, branch and repository from its input, the PR from its
    output: whatever JSON the run was given)."""

    id: str
    workflowId: str
    runNumber: int | None
    displayId: str | None = Field(examples=["#3"])
    status: RunStatus
    prompt: JsonValue
    branchName: JsonValue
    githubRepoUrl: JsonValue
    prUrl: JsonValue
    error: str | None
    cost: Number | None
    createdAt: Timestamp
    startedAt: Timestamp | None
    completedAt: Timestamp | None


class V1RunList(ApiModel):
    """The Runs tab."""

    runs: list[V1Run]
    total: int
    nextCursor: str | None


class V1Kpis(ApiModel):
    """Totals over the window."""

    totalRuns: int
    completed: int
    failed: int
    cancelled: int
    successRate: Number | None
    p50DurationSeconds: Number | None
    p95DurationSeconds: Number | None
    totalCost: Number


class V1PeriodRuns(ApiModel):
    """Runs that started in one period."""

    period: str
    total: int
    completed: int
    failed: int
    cancelled: int


class V1PeriodSuccess(ApiModel):
    """The success rate of one period."""

    period: str
    successRate: Number | None


class V1StepTypeCost(ApiModel):
    """Cost by step type."""

    stepType: str
    cost: Number
    stepRuns: int


class V1StepStats(ApiModel):
    """Statistics of one step over the window."""

    stepId: str
    stepType: str
    runs: int
    attempts: int
    completed: int
    failed: int
    skipped: int
    avgDurationSeconds: Number | None
    totalCost: Number


class V1Analytics(ApiModel):
    """The Analytics tab."""

    workflowId: str
    days: int
    granularity: Granularity
    since: Timestamp
    until: Timestamp
    kpis: V1Kpis
    runsOverTime: list[V1PeriodRuns]
    successRateSeries: list[V1PeriodSuccess]
    costBreakdown: list[V1StepTypeCost]
    stepStats: list[V1StepStats]


class V1RelatedSchedule(ApiModel):
    """A schedule of the workflow."""

    id: str
    cronExpression: str
    timezone: str
    enabled: bool
    nextRunAt: Timestamp | None


class V1RelatedTemplate(ApiModel):
    """A template saved from the workflow."""

    id: str
    name: str
    category: str
    createdAt: Timestamp | None


class V1RelatedCopy(ApiModel):
    """A clone or fork of the workflow in this workspace."""

    id: str
    name: str
    slug: str
    kind: str | None
    createdAt: Timestamp


class V1RelatedSource(ApiModel):
    """What the workflow was made from."""

    kind: str
    id: str
    name: str | None
    available: bool
    isBuiltin: bool | None = None
    slug: str | None = None
    workspace: str | None = None


class V1Persona(ApiModel):
    """A role of the pipeline."""

    name: str | None
    model: JsonValue
    cliId: JsonValue


class V1Related(ApiModel):
    """The Related tab: the pipeline's roles as personas (Flowdeck has no issues nor learning
    versions: those lists are empty), and Flowdeck's own related objects beside."""

    workflowId: str
    schedules: list[V1RelatedSchedule]
    templates: list[V1RelatedTemplate]
    copies: list[V1RelatedCopy]
    forksElsewhere: int
    source: V1RelatedSource | None
    personas: list[V1Persona]
    issues: list[JsonValue] = Field(description="Always empty")
    learningVersions: list[JsonValue] = Field(description="Always empty")


class V1Version(ApiModel):
    """One snapshot."""

    versionId: str
    version: int
    changeSummary: str | None
    createdBy: str | None
    createdAt: Timestamp
    isCurrent: bool


class V1VersionList(ApiModel):
    """The Versions tab."""

    workflowId: str
    currentVersion: int
    versions: list[V1Version]


class V1WorkflowChanged(ApiModel):
    """Soft-delete and restore: the workflow as it is now."""

    success: bool
    workflow: V1Workflow


class V1PermanentlyDeleted(ApiModel):
    """A workflow deleted for good, and how many runs went with it."""

    success: bool
    workflowId: str
    deletedRunCount: int


class V1BulkItem(ApiModel):
    """The outcome for one id."""

    workflowId: str
    status: int = Field(description="An HTTP-like status for this id")
    result: str = Field(description="trashed, deleted or error")
    detail: str | None


class V1BulkDeleted(ApiModel):
    """Bulk soft-delete: each id on its own."""

    success: bool
    deletedCount: int
    results: list[V1BulkItem]


class V1RunStarted(ApiModel):
    """A run started from the Run button."""

    runId: str
    workflowId: str
    runNumber: int | None
    displayId: str | None
    status: RunStatus
    createdAt: Timestamp


class V1UploadUrl(ApiModel):
    """Where to PUT one file's bytes, and the id that names the file."""

    uploadUrl: str
    storageId: str
    method: Literal["PUT"]
    maxBytes: int


class V1Uploaded(ApiModel):
    """A stored file."""

    storageId: str
    size: int | None
    contentType: str | None
    uploadedAt: Timestamp | None
