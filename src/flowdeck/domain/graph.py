"""Pure functions over a step graph given as step id → ids it depends on (definition order).

Dependencies on ids that are not keys of the mapping are ignored here; validation reports
them separately. Cycle paths read in execution order, upstream → downstream.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence

Dependencies = Mapping[str, Sequence[str]]


def _known_deps(deps: Dependencies) -> dict[str, list[str]]:
    """Each step's dependencies on known steps, without repeats, in listed order."""
    return {step: [d for d in dict.fromkeys(deps[step]) if d in deps] for step in deps}


def dependents_map(deps: Dependencies) -> dict[str, list[str]]:
    """Step id → the steps that depend on it directly, in definition order."""
    dependents: dict[str, list[str]] = {step: [] for step in deps}
    for step, upstream in _known_deps(deps).items():
        for dep in upstream:
            dependents[dep].append(step)
    return dependents


def _strongly_connected(successors: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in successors:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, position = work[-1]
            children = successors[node]
            if position < len(children):
                work[-1] = (node, position + 1)
                child = children[position]
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
    return components


def _shortest_cycle_through(
    start: str, successors: Mapping[str, Sequence[str]], allowed: set[str]
) -> list[str]:
    """The shortest cycle from `start` back to itself within `allowed` (breadth first)."""
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in successors[node]:
            if child not in allowed:
                continue
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                path.reverse()
                return [*path, start]
            if child not in parent:
                parent[child] = node
                queue.append(child)
    raise AssertionError("a strongly connected component always has a cycle")  # pragma: no cover


def find_cycles(deps: Dependencies) -> list[list[str]]:
    """One cycle per tangle of steps, each starting at its first step in definition order."""
    dependents = dependents_map(deps)
    order = {step: i for i, step in enumerate(deps)}
    cycles: list[tuple[int, list[str]]] = []
    for component in _strongly_connected(dependents):
        members = set(component)
        start = min(component, key=order.__getitem__)
        if len(component) == 1 and start not in deps[start]:
            continue
        cycles.append((order[start], _shortest_cycle_through(start, dependents, members)))
    return [cycle for _, cycle in sorted(cycles)]


def find_cycle(deps: Dependencies) -> list[str] | None:
    """A cycle as a path with its start repeated at the end (e.g. a, b, a), or None."""
    cycles = find_cycles(deps)
    return cycles[0] if cycles else None


def topological_levels(deps: Dependencies) -> list[list[str]]:
    """Steps grouped into levels that can run together; ValueError when there is a cycle."""
    order = {step: i for i, step in enumerate(deps)}
    known = _known_deps(deps)
    remaining = {step: len(upstream) for step, upstream in known.items()}
    dependents = dependents_map(deps)
    current = [step for step in deps if remaining[step] == 0]
    levels: list[list[str]] = []
    placed = 0
    while current:
        levels.append(current)
        placed += len(current)
        ready: list[str] = []
        for step in current:
            for child in dependents[step]:
                remaining[child] -= 1
                if remaining[child] == 0:
                    ready.append(child)
        current = sorted(ready, key=order.__getitem__)
    if placed != len(order):
        cycle = find_cycle(deps) or []
        raise ValueError("Cycle detected: " + " → ".join(cycle))
    return levels


def _reach(start: str, edges: Mapping[str, Sequence[str]]) -> set[str]:
    seen: set[str] = set()
    queue = deque(edges.get(start, ()))
    while queue:
        node = queue.popleft()
        if node in seen or node not in edges:
            continue
        seen.add(node)
        queue.extend(edges[node])
    seen.discard(start)
    return seen


def ancestors(deps: Dependencies, step_id: str) -> set[str]:
    """Every step `step_id` depends on, directly or transitively (never itself)."""
    return _reach(step_id, deps)


def descendants(deps: Dependencies, step_id: str) -> set[str]:
    """Every step that depends on `step_id`, directly or transitively (never itself)."""
    return _reach(step_id, dependents_map(deps))


def ancestor_map(deps: Dependencies) -> dict[str, set[str]]:
    """Every step's ancestors at once (cheaper than one search per step); ValueError on cycle."""
    known = _known_deps(deps)
    found: dict[str, set[str]] = {}
    for level in topological_levels(deps):
        for step in level:
            found[step] = set(known[step]).union(*(found[dep] for dep in known[step]))
    return found
