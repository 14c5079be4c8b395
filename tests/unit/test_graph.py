"""Graph functions: cycles are always found and topological levels respect every edge."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from flowdeck.domain.graph import (
    ancestor_map,
    ancestors,
    dependents_map,
    descendants,
    find_cycle,
    find_cycles,
    topological_levels,
)

Deps = dict[str, list[str]]


@st.composite
def dags(draw: st.DrawFn, min_size: int = 0) -> Deps:
    """A random DAG: each step depends only on steps defined before it (then shuffled)."""
    size = draw(st.integers(min_value=min_size, max_value=25))
    names = [f"s{i}" for i in range(size)]
    deps: Deps = {}
    for i, name in enumerate(names):
        deps[name] = draw(st.lists(st.sampled_from(names[:i]), max_size=4)) if i else []
    order = draw(st.permutations(names))
    return {name: deps[name] for name in order}


def is_path_of_edges(deps: Deps, path: list[str]) -> bool:
    """Each consecutive pair is an upstream → downstream edge."""
    return all(a in deps[b] for a, b in itertools.pairwise(path))


@given(dags())
def test_dag_has_no_cycle_and_levels_respect_edges(deps: Deps) -> None:
    assert find_cycle(deps) is None
    assert find_cycles(deps) == []
    levels = topological_levels(deps)
    level_of = {step: n for n, level in enumerate(levels) for step in level}
    assert sorted(level_of) == sorted(deps)
    assert sum(len(level) for level in levels) == len(deps)
    for step, upstream in deps.items():
        for dep in upstream:
            assert level_of[dep] < level_of[step]
    position = {step: i for i, step in enumerate(deps)}
    for level in levels:
        assert level == sorted(level, key=position.__getitem__)


@given(dags())
def test_levels_are_as_early_as_possible(deps: Deps) -> None:
    levels = topological_levels(deps)
    level_of = {step: n for n, level in enumerate(levels) for step in level}
    for step, upstream in deps.items():
        expected = 1 + max((level_of[d] for d in upstream), default=-1)
        assert level_of[step] == expected


@given(dags(min_size=2), st.data())
def test_back_edge_creates_a_cycle_that_is_reported(deps: Deps, data: st.DataObject) -> None:
    # Pick a pair (upstream, downstream) joined by a path, and add the back edge.
    pairs = [(a, d) for d in deps for a in ancestors(deps, d)]
    assume(pairs)
    upstream, downstream = data.draw(st.sampled_from(sorted(pairs)))
    deps[upstream] = [*deps[upstream], downstream]
    cycle = find_cycle(deps)
    assert cycle is not None
    assert cycle[0] == cycle[-1]
    assert len(set(cycle[:-1])) == len(cycle) - 1
    assert is_path_of_edges(deps, cycle)
    on_some_cycle = {step for c in find_cycles(deps) for step in c}
    first = next(step for step in deps if step in on_some_cycle)
    assert cycle[0] == first
    with pytest.raises(ValueError, match=r"^Cycle detected: "):
        topological_levels(deps)


@given(dags(min_size=1), st.data())
def test_self_loop_is_a_cycle(deps: Deps, data: st.DataObject) -> None:
    step = data.draw(st.sampled_from(sorted(deps)))
    deps[step] = [*deps[step], step]
    assert [step, step] in find_cycles(deps)


@given(dags())
def test_ancestor_map_matches_ancestors(deps: Deps) -> None:
    assert ancestor_map(deps) == {step: ancestors(deps, step) for step in deps}


@given(dags(), st.data())
def test_ancestors_and_descendants_are_mirror_images(deps: Deps, data: st.DataObject) -> None:
    assume(deps)
    step = data.draw(st.sampled_from(sorted(deps)))
    for other in deps:
        assert (other in ancestors(deps, step)) == (step in descendants(deps, other))
    assert step not in ancestors(deps, step)
    assert step not in descendants(deps, step)


def test_seed_cycle() -> None:
    deps = {"step_a": ["step_b"], "step_b": ["step_a"]}
    assert find_cycle(deps) == ["step_a", "step_b", "step_a"]


def test_cycle_starts_at_first_step_in_definition_order() -> None:
    deps = {"x": [], "c": ["b"], "a": ["c"], "b": ["a"]}
    assert find_cycle(deps) == ["c", "a", "b", "c"]


def test_one_cycle_per_tangle() -> None:
    deps = {"a": ["b"], "b": ["a"], "c": [], "d": ["e"], "e": ["d"], "f": ["a", "d"]}
    assert find_cycles(deps) == [["a", "b", "a"], ["d", "e", "d"]]


def test_unknown_dependencies_are_ignored() -> None:
    deps = {"a": ["ghost"], "b": ["a", "ghost"], "c": []}
    assert find_cycle(deps) is None
    assert topological_levels(deps) == [["a", "c"], ["b"]]
    assert ancestors(deps, "b") == {"a"}
    assert descendants(deps, "a") == {"b"}
    assert ancestors(deps, "ghost") == set()
    assert dependents_map(deps) == {"a": ["b"], "b": [], "c": []}


def test_levels_of_a_diamond() -> None:
    deps = {"fetch": [], "check": ["fetch"], "notify": ["check"], "alert": ["check"], "end": []}
    assert topological_levels(deps) == [["fetch", "end"], ["check"], ["notify", "alert"]]
    assert descendants(deps, "fetch") == {"check", "notify", "alert"}


def test_long_chain_has_no_recursion_limit() -> None:
    deps = {f"s{i}": [f"s{i - 1}"] if i else [] for i in range(5000)}
    assert find_cycle(deps) is None
    assert len(topological_levels(deps)) == 5000
    deps["s0"] = ["s4999"]
    cycle = find_cycle(deps)
    assert cycle is not None and len(cycle) == 5001
