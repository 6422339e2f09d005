"""The dependency graph: cycles (one printed cycle per tangle) and topological start waves.

A graph here is a mapping ``name -> names it depends on``, in declaration order. Edges to names
that are not keys are ignored (unknown dependencies are reported by the checks, not here).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping, Sequence

__all__ = ["find_cycles", "topological_waves"]

Graph = Mapping[str, Sequence[str]]


def find_cycles(graph: Graph) -> list[list[str]]:
    """One cycle per strongly connected tangle, e.g. ``[A, B, C, A]``.

    Each cycle starts at the member declared first and is a shortest way back to it, so the
    report is stable and readable. Agents that merely depend on a cycle are not reported.
    """
    order = {name: index for index, name in enumerate(graph)}
    cycles = []
    for component in _strong_components(graph):
        members = set(component)
        start = min(component, key=order.__getitem__)
        if len(component) > 1 or start in graph[start]:
            cycles.append(_shortest_cycle(graph, start, members))
    cycles.sort(key=lambda cycle: order[cycle[0]])
    return cycles


def topological_waves(graph: Graph) -> list[list[str]]:
    """Kahn's algorithm in levels: wave k holds the agents whose dependencies all lie in waves
    before k. Within a wave, declaration order. ValueError if the graph has a cycle."""
    pending = {name: {dep for dep in deps if dep in graph} for name, deps in graph.items()}
    waves: list[list[str]] = []
    while pending:
        wave = [name for name, deps in pending.items() if not deps]
        if not wave:
            raise ValueError(f"dependency cycle among {sorted(pending)}")
        for name in wave:
            del pending[name]
        for deps in pending.values():
            deps.difference_update(wave)
        waves.append(wave)
    return waves


def _shortest_cycle(graph: Graph, start: str, members: set[str]) -> list[str]:
    """Breadth-first from `start` within `members` back to `start`."""
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for dep in graph[node]:
            if dep == start:
                path = [start]
                while node != start:
                    path.append(node)
                    node = parent[node]
                return [start, *reversed(path[1:]), start]
            if dep in members and dep not in parent:
                parent[dep] = node
                queue.append(dep)
    raise AssertionError(f"{start} is not on a cycle")  # unreachable for a strong component


def _strong_components(graph: Graph) -> list[list[str]]:
    """Tarjan's algorithm, iterative so that deep chains do not hit the recursion limit."""
    tarjan = _Tarjan(graph)
    for root in graph:
        if root not in tarjan.index:
            tarjan.run(root)
    return tarjan.components


class _Tarjan:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.index: dict[str, int] = {}
        self.low: dict[str, int] = {}
        self.stack: list[str] = []
        self.on_stack: set[str] = set()
        self.components: list[list[str]] = []

    def run(self, root: str) -> None:
        work = [self._visit(root)]
        while work:
            node, edges = work[-1]
            child = self._next_unvisited(node, edges)
            if child is not None:
                work.append(self._visit(child))
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                self.low[parent] = min(self.low[parent], self.low[node])
            if self.low[node] == self.index[node]:
                self.components.append(self._pop_component(node))

    def _visit(self, node: str) -> tuple[str, Iterator[str]]:
        self.index[node] = self.low[node] = len(self.index)
        self.stack.append(node)
        self.on_stack.add(node)
        return node, iter(self.graph[node])

    def _next_unvisited(self, node: str, edges: Iterator[str]) -> str | None:
        for dep in edges:
            if dep not in self.graph:
                continue
            if dep not in self.index:
                return dep
            if dep in self.on_stack:
                self.low[node] = min(self.low[node], self.index[dep])
        return None

    def _pop_component(self, node: str) -> list[str]:
        component = []
        while True:
            member = self.stack.pop()
            self.on_stack.discard(member)
            component.append(member)
            if member == node:
                return component
