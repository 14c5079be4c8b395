"""Checks of the steps a branching step (a condition) names, from its type's facts."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from flowdeck.domain.raw_steps import RawStep, strings
from flowdeck.domain.step_configs import StepFacts


def branch_problems(
    steps: Sequence[RawStep], facts_for: Callable[[str | None], StepFacts]
) -> tuple[list[str], list[str]]:
    """Errors and warnings about the steps a branching step (a condition) names: they must
    exist and depend on it; one under two branches, or a join of both, deserves a warning."""
    errors: list[str] = []
    warnings: list[str] = []
    by_id = {step.id: step for step in reversed(steps) if step.id is not None}
    for step in steps:
        fields = facts_for(step.type).branches
        if not fields:
            continue
        branches = {name: step.config.get(name) for name in fields}
        for branch, targets in branches.items():
            for target in strings(targets):
                if target == step.id:
                    errors.append(f"{step.label} lists itself under {branch}")
                elif target not in by_id:
                    errors.append(
                        f"{step.label} lists '{target}' under {branch}, "
                        f"but there is no step '{target}'"
                    )
                elif step.id not in by_id[target].depends_on:
                    errors.append(
                        f"{step.label} lists '{target}' under {branch}, "
                        f"but '{target}' does not depend on '{step.id}'"
                    )
        sets = {name: set(strings(t)) for name, t in branches.items()}
        warnings += _overlaps(steps, step, sets)
    return errors, warnings


def _overlaps(steps: Sequence[RawStep], step: RawStep, branches: dict[str, set[str]]) -> list[str]:
    """A step under two branches; a join of two branches that can never run."""
    warnings: list[str] = []
    names = list(branches)
    for a, b in ((x, y) for i, x in enumerate(names) for y in names[i + 1 :]):
        for target in sorted(branches[a] & branches[b]):
            warnings.append(f"{step.label} lists '{target}' under both {a} and {b}")
        for join in steps:
            upstream = set(join.depends_on)
            if (
                join.trigger_rule == "all_success"
                and upstream & branches[a]
                and upstream & branches[b]
            ):
                warnings.append(
                    f"{join.label} joins both branches of '{step.id}' with trigger_rule "
                    "all_success, so it is always skipped; use trigger_rule: none_failed"
                )
    return warnings
