"""The reference docs are what the models say, and their examples are valid steps."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jsonschema
import pytest

from flowdeck.definition import workflow_json_schema
from flowdeck.docgen import EXAMPLES, main, render
from flowdeck.domain.definition import STEP_TYPES
from flowdeck.domain.validation import validate_definition

DOCS = Path(__file__).resolve().parents[2] / "docs"
pages = cache(render)
schema = cache(workflow_json_schema)


def test_committed_reference_matches_the_generator() -> None:
    stale = [rel for rel, text in pages().items() if (DOCS / rel).read_text() != text]
    assert stale == [], f"run `python -m flowdeck.docgen` to refresh: {stale}"


def test_check_mode_reports_a_stale_page(tmp_path: Path) -> None:
    assert main([str(tmp_path)]) == 0
    assert main([str(tmp_path), "--check"]) == 0
    (tmp_path / "steps" / "wait.md").write_text("stale\n")
    assert main([str(tmp_path), "--check"]) == 1


@pytest.mark.parametrize("step_type", STEP_TYPES)
def test_each_page_documents_config_output_and_a_valid_example(step_type: str) -> None:
    page = pages()[f"steps/{step_type}.md"]
    assert "## Config" in page and "## Output" in page and "```yaml" in page
    example = EXAMPLES[step_type]
    config = example["config"]
    branches = (
        [*config.get("then", []), *config.get("else", [])] if step_type == "condition" else []
    )
    upstream = sorted({"fetch", "extract"} - {example["id"]})
    steps = [{"id": d, "type": "transform", "config": {"value": [1]}} for d in upstream]
    steps.append(example)
    steps += [
        {"id": b, "type": "transform", "config": {"value": 1}, "depends_on": [example["id"]]}
        for b in branches
    ]
    definition = {
        "name": "Example",
        "inputs": [{"name": n} for n in ("item_id", "values", "version", "email")],
        "steps": steps,
    }
    jsonschema.validate(definition, schema())
    result = validate_definition(definition)
    assert result.valid, result.errors
