"""Roll health up along the dependency graph: root causes versus affected agents.

An agent is *affected* when something it depends on (directly or transitively) is critical.
A *root cause* is a critical agent none of whose own dependencies is critical: one dead
registry is one root cause and many affected agents, not fifty separate failures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["closure", "root_causes"]


def closure(agent: str, deps: Mapping[str, Sequence[str]],
            memo: dict[str, frozenset[str]]) -> frozenset[str]:
    """Every agent that agent depends on, transitively (cycles tolerated)."""
    found = memo.get(agent)
    if found is not None:
        return found
    seen: set[str] = set()
    stack = list(deps.get(agent, ()))
    while stack:
        dep = stack.pop()
        if dep in seen or dep == agent:
            continue
        seen.add(dep)
        stack.extend(deps.get(dep, ()))
    memo[agent] = frozenset(seen)
    return memo[agent]


def root_causes(critical: set[str], agents: Sequence[str],
                deps: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """For every affected agent, the root causes behind it (sorted); others are absent."""
    memo: dict[str, frozenset[str]] = {}
    roots = {a for a in critical if not closure(a, deps, memo) & critical}
    out: dict[str, list[str]] = {}
    for agent in agents:
        behind = closure(agent, deps, memo) & critical
        if behind:
            out[agent] = sorted(roots & behind) or sorted(behind)
    return out
