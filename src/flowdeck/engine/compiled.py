"""A workflow version prepared for execution: graph maps and template references, built once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowdeck.domain.definition import StepDef, WorkflowDefinition
from flowdeck.domain.graph import ancestors, dependents_map
from flowdeck.domain.step_configs import StepFacts, step_facts
from flowdeck.domain.templating import iter_strings, referenced_names, referenced_steps


def _texts(step: StepDef, facts: StepFacts) -> list[tuple[str, bool]]:
    """Every template (False) and bare expression (True) the step evaluates."""
    texts: list[tuple[str, bool]] = []
    for name, value in step.config.items():
        if name in facts.verbatim:
            continue
        if name in facts.expressions and isinstance(value, str):
            texts.append((value, True))
        else:
            texts.extend((t, False) for t in iter_strings(value))
    if step.when:
        texts.append((step.when, True))
    return texts


def _needs(step: StepDef, facts: StepFacts, deps: dict[str, list[str]]) -> frozenset[str] | None:
    """Steps whose outputs the step reads; None means every ancestor's (a dynamic lookup)."""
    if facts.reads_all_ancestors:
        return frozenset(ancestors(deps, step.id))
    refs: set[str] = set()
    dynamic = False
    for text, expression in _texts(step, facts):
        found = referenced_steps(text, expression=expression)
        refs |= found
        if not found and "steps" in referenced_names(text, expression=expression):
            dynamic = True
    return None if dynamic else frozenset(refs)


def _branches(step: StepDef, facts: StepFacts) -> dict[str, frozenset[str]]:
    """Branch name → the steps it runs, for a step that chooses a branch."""
    return {name: frozenset(step.config.get(name) or []) for name in facts.branches}


@dataclass
class CompiledWorkflow:
    """The definition plus everything the engine looks up on the hot path."""

    definition: WorkflowDefinition
    steps: dict[str, StepDef] = field(init=False)
    facts: dict[str, StepFacts] = field(init=False)
    deps: dict[str, list[str]] = field(init=False)
    dependents: dict[str, list[str]] = field(init=False)
    needs: dict[str, frozenset[str] | None] = field(init=False)
    branches: dict[str, dict[str, frozenset[str]]] = field(init=False)

    def __post_init__(self) -> None:
        d = self.definition
        self.steps = {s.id: s for s in d.steps}
        self.facts = {s.id: step_facts(s.type) for s in d.steps}
        self.deps = d.dependency_map()
        self.dependents = dependents_map(self.deps)
        self.needs = {s.id: _needs(s, self.facts[s.id], self.deps) for s in d.steps}
        self.branches = {
            s.id: _branches(s, self.facts[s.id]) for s in d.steps if self.facts[s.id].branches
        }

    @classmethod
    def from_dict(cls, definition: dict[str, Any]) -> CompiledWorkflow:
        """Compile a stored (already validated) definition."""
        return cls(WorkflowDefinition.model_validate(definition))

    def roots(self) -> list[str]:
        """Steps with no dependencies."""
        return [sid for sid, deps in self.deps.items() if not deps]

    def branch_skips(self, step_id: str, output: Any) -> frozenset[str]:
        """The steps of the branches a completed step did not take (from its `branch`)."""
        branches = self.branches.get(step_id)
        if not branches or not isinstance(output, dict):
            return frozenset()
        taken = branches.get(str(output.get("branch")), frozenset())
        others = frozenset().union(
            *(t for name, t in branches.items() if name != output.get("branch"))
        )
        return others - taken

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
