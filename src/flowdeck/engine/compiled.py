"""A workflow version prepared for execution: graph maps and template references, built once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowdeck.domain.definition import StepDef, WorkflowDefinition
from flowdeck.domain.graph import ancestors, dependents_map
from flowdeck.domain.templating import iter_strings, referenced_names, referenced_steps


def _texts(step: StepDef) -> list[tuple[str, bool]]:
    texts: list[tuple[str, bool]] = [(t, False) for t in iter_strings(step.config)]
    if step.when:
        texts.append((step.when, True))
    if step.type == "condition" and isinstance(step.config.get("expression"), str):
        texts.append((step.config["expression"], True))
    if step.type == "loop" and isinstance(step.config.get("items"), str):
        texts.append((step.config["items"], True))
    return texts


def _needs(step: StepDef, deps: dict[str, list[str]]) -> frozenset[str] | None:
    """Steps whose outputs the step's templates read; None means every ancestor."""
    if step.type == "script":
        return frozenset(ancestors(deps, step.id))
    refs: set[str] = set()
    dynamic = False
    for text, expression in _texts(step):
        found = referenced_steps(text, expression=expression)
        refs |= found
        if not found and "steps" in referenced_names(text, expression=expression):
            dynamic = True
    return None if dynamic else frozenset(refs)


@dataclass
class CompiledWorkflow:
    """The definition plus everything the engine looks up on the hot path."""

    definition: WorkflowDefinition
    steps: dict[str, StepDef] = field(init=False)
    deps: dict[str, list[str]] = field(init=False)
    dependents: dict[str, list[str]] = field(init=False)
    needs: dict[str, frozenset[str] | None] = field(init=False)
    untaken: dict[str, tuple[frozenset[str], frozenset[str]]] = field(init=False)

    def __post_init__(self) -> None:
        d = self.definition
        self.steps = {s.id: s for s in d.steps}
        self.deps = d.dependency_map()
        self.dependents = dependents_map(self.deps)
        self.needs = {s.id: _needs(s, self.deps) for s in d.steps}
        self.untaken = {}
        for s in d.steps:
            if s.type == "condition":
                then = frozenset(s.config.get("then") or [])
                other = frozenset(s.config.get("else") or [])
                self.untaken[s.id] = (then, other)

    @classmethod
    def from_dict(cls, definition: dict[str, Any]) -> CompiledWorkflow:
        """Compile a stored (already validated) definition."""
        return cls(WorkflowDefinition.model_validate(definition))

    def roots(self) -> list[str]:
        """Steps with no dependencies."""
        return [sid for sid, deps in self.deps.items() if not deps]

    def branch_skips(self, condition_id: str, branch: str) -> frozenset[str]:
        """The steps of the branch a condition did not take."""
        then, other = self.untaken.get(condition_id, (frozenset(), frozenset()))
        return other - then if branch == "then" else then - other

    def descendants_of(self, step_id: str) -> set[str]:
        """Every step downstream of `step_id`."""
        seen: set[str] = set()
        stack = [step_id]
        while stack:
            for nxt in self.dependents.get(stack.pop(), []):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen
