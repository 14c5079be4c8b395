"""Validate a raw workflow definition, reporting every problem at once as plain sentences."""

from __future__ import annotations

import difflib
import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from flowdeck.domain import templating
from flowdeck.domain.branch_checks import branch_problems
from flowdeck.domain.credentials import credential_warnings
from flowdeck.domain.definition import InputSpec, StepDef, WorkflowDefinition
from flowdeck.domain.definition_meta import split_metadata
from flowdeck.domain.definition_text import DefinitionParseError as DefinitionParseError
from flowdeck.domain.definition_text import load_definition_text as load_definition_text
from flowdeck.domain.graph import ancestor_map, ancestors, find_cycles
from flowdeck.domain.inputs import input_type_problem, json_type_name
from flowdeck.domain.limits import MAX_DEFINITION_BYTES, json_problems
from flowdeck.domain.raw_steps import RawStep, read_step
from flowdeck.domain.step_configs import (
    BUILTIN_STEP_CONFIGS,
    CONTEXT_REGISTRY_KEY,
    CONTEXT_SKIP_LOOP_BODY,
    NO_FACTS,
    StepConfigRegistry,
    StepFacts,
    error_sentences,
    facts_of,
    loop_body_type_problem,
)

_BASE_NAMES = templating.CONTEXT_NAMES - {"loop"}


@dataclass(frozen=True)
class ValidationResult:
    """Every error and warning found; `definition` is the parsed workflow when valid."""

    errors: list[str]
    warnings: list[str]
    definition: WorkflowDefinition | None

    @property
    def valid(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors


class _Validator:
    """One validation pass; collects errors and warnings in a stable order."""

    def __init__(self, registry: StepConfigRegistry, max_steps: int) -> None:
        self.registry = registry
        self.max_steps = max_steps
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.steps: list[RawStep] = []
        self.deps: dict[str, list[str]] = {}
        self.declared_inputs: set[str] = set()
        self.ancestors: dict[str, set[str]] = {}
        self.has_cycle = False

    def run(self, raw: dict[Any, Any]) -> None:
        # Steps are validated one by one below, so one bad step does not hide the others.
        top = {**raw, "steps": []}
        try:
            WorkflowDefinition.model_validate(top)
        except ValidationError as exc:
            self.errors += error_sentences(exc, WorkflowDefinition)
        raw_steps = raw.get("steps")
        if "steps" not in raw:
            self.errors.append("steps: Field required")
        elif not isinstance(raw_steps, list):
            kind = json_type_name(raw_steps)
            self.errors.append(f"steps: Input should be a valid list, got {kind}")
        if not isinstance(raw_steps, list):
            raw_steps = []
        if len(raw_steps) > self.max_steps:
            self.errors.append(
                f"Workflow has {len(raw_steps)} steps; the limit is {self.max_steps}"
            )
            return
        for index, raw_step in enumerate(raw_steps):
            self.check_step_schema(index, raw_step)
        self.check_uniqueness(raw)
        self.check_graph()
        errors, warnings = branch_problems(self.steps, self.facts)
        self.errors += errors
        self.warnings += warnings
        for step in self.steps:
            self.check_step_templates(step)
        self.check_outputs(raw.get("outputs"))

    def check_step_schema(self, index: int, raw: Any) -> None:
        step = read_step(index, raw)
        self.steps.append(step)
        if not isinstance(raw, dict):
            kind = json_type_name(raw)
            self.errors.append(
                f"steps[{index}]: must be an object with an id and a type, got {kind}"
            )
            return
        try:
            StepDef.model_validate(raw)
        except ValidationError as exc:
            self.errors += error_sentences(exc, StepDef, label=step.label)
        if step.type is None:
            return
        model = self.registry.get(step.type)
        if model is None:
            close = difflib.get_close_matches(step.type, list(self.registry), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            known = ", ".join(self.registry)
            self.errors.append(
                f"{step.label} has unknown type '{step.type}'{hint}; known types: {known}"
            )
        elif isinstance(raw.get("config", {}), dict):
            self.check_config(step.label, "config", model, raw.get("config", {}))

    def check_config(self, label: str, path: str, model: type[BaseModel], config: Any) -> None:
        context = {CONTEXT_REGISTRY_KEY: self.registry, CONTEXT_SKIP_LOOP_BODY: True}
        try:
            model.model_validate(config, context=context)
        except ValidationError as exc:
            self.errors += error_sentences(exc, model, label=label, base=path)
        body_field = facts_of(model).loop_body
        body = config.get(body_field) if body_field else None
        if isinstance(body, dict) and isinstance(body.get("type"), str):
            problem = loop_body_type_problem(body["type"], self.registry)
            if problem is not None:
                self.errors.append(f"{label}: {path}.{body_field}.type: {problem}")
            elif isinstance(body.get("config", {}), dict):
                body_model = self.registry[body["type"]]
                where = f"{path}.{body_field}.config"
                self.check_config(label, where, body_model, body.get("config", {}))

    def check_uniqueness(self, raw: dict[Any, Any]) -> None:
        ids = Counter(step.id for step in self.steps if step.id is not None)
        self.errors += [f"Duplicate step id '{i}'" for i, count in ids.items() if count > 1]
        for key, noun in (("inputs", "input"), ("outputs", "output")):
            items = raw.get(key)
            names = Counter(
                item["name"]
                for item in (items if isinstance(items, list) else [])
                if isinstance(item, dict) and isinstance(item.get("name"), str)
            )
            self.errors += [
                f"Duplicate {noun} name '{n}'" for n, count in names.items() if count > 1
            ]
            if key == "inputs":
                self.declared_inputs = set(names)
                self.check_input_defaults(items if isinstance(items, list) else [])

    def check_input_defaults(self, items: list[Any]) -> None:
        for item in items:
            try:
                spec = InputSpec.model_validate(item)
            except ValidationError:
                continue  # Reported with the workflow's schema errors.
            if spec.default is None:
                continue
            if spec.required:
                self.warnings.append(
                    f"Input '{spec.name}' is required, so its default is never used"
                )
            problem = input_type_problem(spec.type, spec.default)
            if problem is not None:
                self.errors.append(f"Input '{spec.name}': default {problem}")

    def check_graph(self) -> None:
        for step in self.steps:
            if step.id is not None and step.id not in self.deps:
                self.deps[step.id] = []
        for step in self.steps:
            for dep, count in Counter(step.depends_on).items():
                if dep == step.id:
                    self.errors.append(f"{step.label} depends on itself")
                elif dep not in self.deps:
                    self.errors.append(f"{step.label} depends on '{dep}' which doesn't exist")
                elif step.id is not None:
                    if dep not in self.deps[step.id]:
                        self.deps[step.id].append(dep)
                    if count > 1:
                        self.warnings.append(
                            f"{step.label} lists '{dep}' more than once in depends_on"
                        )
        for cycle in find_cycles(self.deps):
            self.has_cycle = True
            self.errors.append("Cycle detected: " + " → ".join(cycle))

    def facts(self, step_type: str | None) -> StepFacts:
        """What the step type's config model declares (nothing for an unknown type)."""
        return facts_of(self.registry.get(step_type)) if step_type else NO_FACTS

    def step_texts(self, step: RawStep) -> Iterator[tuple[str, str, bool, bool]]:
        """(path, text, is_expression, loop_allowed) for every template of a step."""
        if step.when is not None:
            yield "when", step.when, True, False
        yield from _config_texts(self.facts, step.type, step.config, "config", False)

    def check_step_templates(self, step: RawStep) -> None:
        reported: set[str] = set()
        for path, text, is_expression, loop_allowed in self.step_texts(step):
            if not self.check_text(step.label, path, text, is_expression, loop_allowed):
                continue
            for ref in sorted(templating.referenced_steps(text, expression=is_expression)):
                if ref in reported:
                    continue
                reported.add(ref)
                if ref == step.id:
                    reason = "which is itself; a step cannot read its own output"
                elif ref not in self.deps:
                    reason = "which doesn't exist"
                elif step.id is None or ref not in self.upstream(step.id):
                    reason = "which is not one of its upstream dependencies"
                else:
                    continue
                self.errors.append(f"{step.label} references step '{ref}' {reason} (in {path})")

    def upstream(self, step_id: str) -> set[str]:
        """Ancestors of a step, computed once per step."""
        if not self.ancestors and not self.has_cycle:
            self.ancestors = ancestor_map(self.deps)
        if step_id not in self.ancestors:
            self.ancestors[step_id] = ancestors(self.deps, step_id)
        return self.ancestors[step_id]

    def check_text(
        self, label: str, path: str, text: str, is_expression: bool, loop_allowed: bool
    ) -> bool:
        """Report syntax, unknown variables and undeclared inputs; False when unparseable."""
        kind = "expression" if is_expression else "template"
        if not is_expression and not templating.is_template(text):
            return False
        problem = (templating.check_expression if is_expression else templating.check_template)(
            text
        )
        if problem is not None:
            self.errors.append(f"{label}: {path}: malformed {kind}: {problem}")
            return False
        allowed = _BASE_NAMES | templating.GLOBAL_NAMES | ({"loop"} if loop_allowed else set())
        for name in sorted(templating.referenced_names(text, expression=is_expression) - allowed):
            if name == "loop":
                self.errors.append(f"{label}: {path} uses 'loop', which exists only in a loop body")
            else:
                known = ", ".join(sorted(_BASE_NAMES | ({"loop"} if loop_allowed else set())))
                self.errors.append(
                    f"{label}: {path} uses unknown variable '{name}'; known: {known}"
                )
        if self.declared_inputs:
            names = templating.referenced_inputs(text, expression=is_expression)
            for name in sorted(names - self.declared_inputs):
                self.warnings.append(f"{label}: {path} reads input '{name}', which is not declared")
        return True

    def check_outputs(self, outputs: Any) -> None:
        for item in outputs if isinstance(outputs, list) else []:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                continue
            label = f"Output '{item['name']}'"
            for path, text in templating.iter_string_paths(item.get("value"), "value"):
                if self.check_text(label, path, text, False, False):
                    for ref in sorted(templating.referenced_steps(text) - set(self.deps)):
                        self.errors.append(f"{label} references step '{ref}' which doesn't exist")


def _config_texts(
    facts_for: Callable[[str | None], StepFacts],
    step_type: str | None,
    config: Mapping[str, Any],
    prefix: str,
    in_loop: bool,
) -> Iterator[tuple[str, str, bool, bool]]:
    """Templates and expressions of a config, as its type's facts say; a loop body's own
    config allows `loop`."""
    facts = facts_for(step_type)
    for key, value in config.items():
        path = f"{prefix}.{key}"
        if key in facts.branches or key in facts.verbatim:
            continue  # step ids, or not a template (a script's code: context on stdin)
        if isinstance(value, str) and key in facts.expressions:
            yield path, value, True, in_loop
        elif key == facts.loop_body and isinstance(value, dict):
            body_type, body_config = value.get("type"), value.get("config")
            if isinstance(body_config, dict):
                body_kind = body_type if isinstance(body_type, str) else None
                yield from _config_texts(facts_for, body_kind, body_config, f"{path}.config", True)
        else:
            for sub_path, text in templating.iter_string_paths(value, path):
                yield sub_path, text, False, in_loop


def _limit_problems(raw: Any, max_bytes: int) -> list[str]:
    """Nesting, NUL characters, non-finite numbers and size: checked before anything else,
    so no later check walks a value it cannot handle."""
    problems = json_problems(raw, "definition")
    if not problems:
        size = len(json.dumps(raw, separators=(",", ":"), ensure_ascii=False).encode())
        if size > max_bytes:
            problems.append(f"The definition is {size} bytes as JSON; the limit is {max_bytes}")
    return problems


def validate_definition(
    raw: Any,
    *,
    max_steps: int = 1000,
    max_bytes: int = MAX_DEFINITION_BYTES,
    step_configs: StepConfigRegistry | None = None,
) -> ValidationResult:
    """Validate a raw definition (parsed JSON/YAML); never raises for bad input."""
    if not isinstance(raw, dict):
        kind = json_type_name(raw)
        return ValidationResult(
            [f"The workflow definition must be an object, got {kind}"], [], None
        )
    problems = _limit_problems(raw, max_bytes)
    if problems:
        return ValidationResult(problems, [], None)
    # slug, tags, schedules…: the workflow's metadata, checked here, applied by the server.
    raw, _, meta_errors = split_metadata(raw)
    validator = _Validator(
        step_configs if step_configs is not None else BUILTIN_STEP_CONFIGS, max_steps
    )
    validator.run(raw)
    validator.errors += meta_errors
    definition = None
    if not validator.errors:
        try:
            definition = WorkflowDefinition.model_validate(raw)
        except ValidationError as exc:  # pragma: no cover - the checks above are a superset
            validator.errors += error_sentences(exc, WorkflowDefinition)
    # A problem seen by two schemas (a step's and its config's) is reported once.
    errors = list(dict.fromkeys(validator.errors))
    warnings = [*validator.warnings, *credential_warnings(raw)]
    return ValidationResult(errors, list(dict.fromkeys(warnings)), definition)
