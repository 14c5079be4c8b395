"""The typed definition schema agrees with the validator, the examples and the domain's sets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from flowdeck.cli.main import app
from flowdeck.definition import STEP_MODELS, Workflow, workflow_json_schema
from flowdeck.domain.definition import STEP_TYPES, StepDef, WorkflowDefinition
from flowdeck.domain.definition_meta import METADATA_FIELDS
from flowdeck.domain.records import SCOPES, TRIGGER_TYPES, WORKFLOW_STATUSES, Visibility
from flowdeck.domain.step_configs import BUILTIN_STEP_CONFIGS
from flowdeck.domain.validation import validate_definition
from flowdeck.models import Scope, TriggerType, WorkflowStatus
from flowdeck.models import Visibility as VisibilityEnum

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))
SCHEMA_LINE = "# yaml-language-server: $schema=../docs/workflow.schema.json"


def test_every_step_type_has_a_typed_step_with_its_config() -> None:
    assert list(STEP_MODELS) == list(STEP_TYPES)
    for step_type, model in STEP_MODELS.items():
        assert model.model_fields["config"].annotation is BUILTIN_STEP_CONFIGS[step_type]


def test_the_typed_models_have_the_validators_fields() -> None:
    step_fields = set(StepDef.model_fields) - {"type", "config"}
    assert step_fields | {"type", "config"} == set(STEP_MODELS["transform"].model_fields)
    assert set(Workflow.model_fields) == set(WorkflowDefinition.model_fields) | set(METADATA_FIELDS)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_point_at_the_schema_and_match_it(path: Path) -> None:
    text = path.read_text()
    assert text.splitlines()[0] == SCHEMA_LINE
    raw = yaml.safe_load(text)
    jsonschema.validate(raw, workflow_json_schema())
    assert validate_definition(raw).valid
    assert Workflow.model_validate(raw).to_definition() == raw


def test_enums_are_the_domains_sets() -> None:
    assert [e.value for e in TriggerType] == list(TRIGGER_TYPES)
    assert [e.value for e in WorkflowStatus] == list(WORKFLOW_STATUSES)
    assert [e.value for e in Scope] == list(SCOPES)
    assert [e.value for e in VisibilityEnum] == list(get_args(Visibility))


def test_metadata_is_validated_and_kept_out_of_the_definition() -> None:
    raw = {"name": "n", "slug": "n", "tags": ["a"], "steps": []}
    result = validate_definition(raw)
    assert result.valid and result.definition is not None
    assert "slug" not in result.definition.model_dump(exclude_unset=True)
    bad = validate_definition({**raw, "visibility": "secret", "schedules": [{"cron": 1}]})
    assert any(e.startswith("visibility") for e in bad.errors), bad.errors
    assert any(e.startswith("schedules[0].cron") for e in bad.errors), bad.errors


def test_flowdeck_schema_prints_the_schema() -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == workflow_json_schema()
