"""Seed 002's workflow document and how it becomes a Flowdeck definition: its `pipelineSteps`
(then `personaPipelineSteps`) are a chain of `agent_task` steps, each seeing the previous one's
output, with the run's `prompt` as the goal. The document itself is stored and returned as
given (beside the definition, in the workflow's reference)."""

from __future__ import annotations

import base64
import re
from typing import Any

from flowdeck.api.compat.common import iso_z
from flowdeck.domain.definition import MAX_TIMEOUT_SECONDS
from flowdeck.domain.records import Workflow
from flowdeck.errors import NotFound

# The write fields of seed 002's workflow document, stored and returned as given.
DOC_FIELDS = (
    "name",
    "description",
    "type",
    "defaultConfig",
    "maxIterations",
    "pipelineSteps",
    "personaPipelineSteps",
    "workflowGraph",
    "defaultCheckerInstructions",
    "defaultOptimizerInstructions",
)
NO_STEPS = "At least one of pipelineSteps or personaPipelineSteps must be provided"
# What runs/start puts in a run's input (the files' bytes under referenceImages).
RUN_INPUTS = [
    {"name": "prompt", "type": "string", "required": True},
    {"name": "githubRepoUrl", "type": "string"},
    {"name": "branchName", "type": "string"},
    {"name": "config", "type": "object"},
    {"name": "referenceImageIds", "type": "array"},
    {"name": "referenceImages", "type": "array"},
]
AGENT_INSTRUCTIONS = (
    "You are one role of a pipeline of agents. Do what your role asks of the goal; the "
    "previous role's output, when there is one, is in the context."
)
_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "description": (str, type(None)),
    "type": (str, type(None)),
    "defaultConfig": (dict, type(None)),
    "maxIterations": (int, type(None)),
    "pipelineSteps": (list, type(None)),
    "personaPipelineSteps": (list, type(None)),
    "workflowGraph": (dict, type(None)),
    "defaultCheckerInstructions": (str, type(None)),
    "defaultOptimizerInstructions": (str, type(None)),
}


def document_problems(doc: dict[str, Any], *, creating: bool) -> list[str]:
    """What is wrong with a (partial, unless `creating`) workflow document."""
    errors = []
    for name, value in doc.items():
        kinds = _TYPES.get(name)
        if kinds is not None and (not isinstance(value, kinds) or isinstance(value, bool)):
            errors.append(f"{name}: has the wrong type")
    for name in ("pipelineSteps", "personaPipelineSteps"):
        steps = doc.get(name)
        if isinstance(steps, list):
            for i, step in enumerate(steps):
                if not isinstance(step, dict) or not isinstance(step.get("type"), str):
                    errors.append(f"{name}[{i}]: must be an object with a string type")
    graph = doc.get("workflowGraph")
    if isinstance(graph, dict) and not all(
        isinstance(graph.get(k, []), list) for k in ("nodes", "edges")
    ):
        errors.append("workflowGraph: nodes and edges must be lists")
    if creating:
        if not doc.get("name"):
            errors.append("name: required")
        if not (doc.get("pipelineSteps") or doc.get("personaPipelineSteps")):
            errors.append(NO_STEPS)
    return errors


def agent_name(step: dict[str, Any]) -> str:
    """The Flowdeck agent a pipeline step runs on: named after its model (or CLI)."""
    model = step.get("model") or step.get("cliId") or "default"
    return str(model)[:200]


def _step_id(index: int, role: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", role.lower()).strip("_")[:40]
    return f"step_{index}_{slug}" if slug else f"step_{index}"


def _timeout(doc: dict[str, Any]) -> float | None:
    config = doc.get("defaultConfig") or {}
    ms = config.get("timeoutMs") if isinstance(config, dict) else None
    if isinstance(ms, int | float) and not isinstance(ms, bool) and ms > 0:
        return float(min(ms / 1000, MAX_TIMEOUT_SECONDS))
    return None


def pipeline(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The document's steps in run order: pipelineSteps, then personaPipelineSteps."""
    return [*(doc.get("pipelineSteps") or []), *(doc.get("personaPipelineSteps") or [])]


def definition_of(doc: dict[str, Any]) -> dict[str, Any]:
    """The Flowdeck definition that runs the document's pipeline."""
    steps: list[dict[str, Any]] = []
    timeout = _timeout(doc)
    for index, source in enumerate(pipeline(doc), start=1):
        role = str(source.get("type") or f"step {index}")
        config: dict[str, Any] = {
            "agent_id": agent_name(source),
            "goal": f"As the {role}: {{{{ inputs.prompt }}}}",
        }
        step: dict[str, Any] = {"id": _step_id(index, role), "type": "agent_task", "name": role}
        if steps:
            previous = steps[-1]["id"]
            config["context"] = f"{{{{ steps.{previous}.output }}}}"
            step["depends_on"] = [previous]
        step["config"] = config
        if timeout is not None:
            step["timeout_seconds"] = timeout
        steps.append(step)
    definition: dict[str, Any] = {"name": doc["name"], "inputs": RUN_INPUTS, "steps": steps}
    if doc.get("description") is not None:
        definition["description"] = doc["description"]
    if steps:
        definition["outputs"] = [
            {"name": "result", "value": f"{{{{ steps.{steps[-1]['id']}.output }}}}"}
        ]
    return definition


def display(doc: dict[str, Any]) -> dict[str, Any]:
    """The list UI's display fields: the CLI tools the pipeline uses."""
    tools = list(dict.fromkeys(str(s["cliId"]) for s in pipeline(doc) if s.get("cliId")))
    return {"cliTools": tools, "cliToolSummary": ", ".join(tools), "stepCount": len(pipeline(doc))}


def version_id(wf: Workflow, number: int) -> str:
    """An opaque version id: the workflow and the version, encoded."""
    return base64.urlsafe_b64encode(f"{wf.id}:{number}".encode()).decode().rstrip("=")


def version_number(wf: Workflow, opaque: str) -> int:
    """The version a `versionId` of this workflow names; NotFound for any other."""
    try:
        text = base64.urlsafe_b64decode(opaque + "=" * (-len(opaque) % 4)).decode()
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        text = ""
    owner, _, number = text.partition(":")
    if owner != wf.id or not number.isdigit() or len(number) > 9:
        raise NotFound(f"Version '{opaque}' not found for workflow '{wf.id}'")
    return int(number)


def stored_doc(extras: dict[str, Any], wf: Workflow) -> dict[str, Any]:
    doc = extras.get("v1")
    return dict(doc) if isinstance(doc, dict) else {"name": wf.name}


def document(wf: Workflow, extras: dict[str, Any]) -> dict[str, Any]:
    """The workflow as seed 002 answers it."""
    doc = stored_doc(extras, wf)
    return {
        "id": wf.id,
        "name": wf.name,
        "description": wf.description,
        "type": doc.get("type"),
        "defaultConfig": doc.get("defaultConfig") or {},
        "maxIterations": doc.get("maxIterations"),
        "pipelineSteps": doc.get("pipelineSteps") or [],
        "personaPipelineSteps": doc.get("personaPipelineSteps") or [],
        "workflowGraph": doc.get("workflowGraph") or {"nodes": [], "edges": []},
        "defaultCheckerInstructions": doc.get("defaultCheckerInstructions"),
        "defaultOptimizerInstructions": doc.get("defaultOptimizerInstructions"),
        "status": wf.status,
        "version": wf.version,
        "createdAt": iso_z(wf.created_at),
        "updatedAt": iso_z(wf.updated_at),
        "deletedAt": iso_z(wf.deleted_at),
        "display": display(doc),
    }


def camel(value: Any) -> Any:
    """Flowdeck's snake_case keys in camelCase, all the way down."""
    if isinstance(value, dict):
        return {_camel_key(k): camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel(v) for v in value]
    return value


def _camel_key(key: Any) -> Any:
    if not isinstance(key, str) or "_" not in key.strip("_"):
        return key
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)
