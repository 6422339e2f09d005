"""Dependency waves for the launcher, and cycle reporting."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.config import ConfigError, MeshConfig, dependency_waves, load_config
from common.config.graph import find_cycles, topological_waves

GOOD = Path(__file__).parent / "good" / "two_hosts.yaml"


def mesh(*agents: tuple[str, str, list[str]]) -> MeshConfig:
    """A schema-valid config (semantic checks not run) from (name, host, dependencies)."""
    return MeshConfig.model_validate({
        "version": 1,
        "hosts": {"main_pc": {"address": "127.0.0.1"}, "pc2": {"address": "127.0.0.2"}},
        "agents": [{"name": name, "host": host, "module": f"m.{name.lower()}:{name}",
                    "port": 7000 + index, "dependencies": deps}
                   for index, (name, host, deps) in enumerate(agents)],
    })


def test_waves_of_the_good_config() -> None:
    config = load_config(GOOD)
    assert dependency_waves(config) == [
        ["ServiceRegistry"],
        ["ObservabilityHub", "ModelManagerAgent", "MemoryOrchestratorService"],
        ["MemoryClient", "TinyLlamaService"],
        ["AudioCapture"],
    ]
    assert dependency_waves(config, host="pc2") == [
        ["MemoryOrchestratorService"], ["TinyLlamaService"]]


def test_host_waves_keep_order_through_the_other_host() -> None:
    # C (main_pc) <- B (pc2) <- A (main_pc): A must not share C's wave on main_pc.
    config = mesh(("A", "main_pc", ["B"]), ("B", "pc2", ["C"]), ("C", "main_pc", []))
    assert dependency_waves(config, host="main_pc") == [["C"], ["A"]]
    assert dependency_waves(config, host="pc2") == [["B"]]


def test_cycle_raises_config_error_with_the_cycle() -> None:
    config = mesh(("A", "main_pc", ["B"]), ("B", "main_pc", ["A"]), ("C", "main_pc", ["A"]))
    with pytest.raises(ConfigError) as raised:
        dependency_waves(config)
    assert [str(issue) for issue in raised.value.errors] == [
        "agents[0].dependencies[0]: dependency cycle: A -> B -> A"]


def test_unknown_host_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        dependency_waves(mesh(("A", "main_pc", [])), host="pc3")


def test_find_cycles_reports_one_cycle_per_tangle_starting_at_the_first_declared() -> None:
    graph = {"X": ["Y"], "Y": ["Z"], "Z": ["X", "Y"], "S": ["S"], "D": ["X"], "E": []}
    assert find_cycles(graph) == [["X", "Y", "Z", "X"], ["S", "S"]]


def test_find_cycles_handles_a_long_chain_without_recursion() -> None:
    graph = {f"n{i}": [f"n{i + 1}"] for i in range(5000)}
    graph["n5000"] = ["n0"]
    cycles = find_cycles(graph)
    assert len(cycles) == 1 and len(cycles[0]) == 5002


@st.composite
def dags(draw: st.DrawFn) -> dict[str, list[str]]:
    size = draw(st.integers(min_value=1, max_value=15))
    names = [f"a{i}" for i in range(size)]
    return {name: draw(st.lists(st.sampled_from(names[:i]), unique=True) if i else st.just([]))
            for i, name in enumerate(names)}


@settings(max_examples=25, deadline=None)
@given(dags())
def test_waves_put_every_dependency_in_an_earlier_wave(graph: dict[str, list[str]]) -> None:
    waves = topological_waves(graph)
    level = {name: index for index, wave in enumerate(waves) for name in wave}
    assert sorted(level) == sorted(graph)
    for name, deps in graph.items():
        assert all(level[dep] < level[name] for dep in deps)
        assert level[name] == 0 or any(level[dep] == level[name] - 1 for dep in deps)
    assert find_cycles(graph) == []


@settings(max_examples=25, deadline=None)
@given(dags(), st.data())
def test_an_edge_closing_a_loop_is_always_reported(graph: dict[str, list[str]],
                                                   data: st.DataObject) -> None:
    head = data.draw(st.sampled_from(list(graph)))
    tail = data.draw(st.sampled_from(sorted(_reachable(graph, head) | {head})))
    graph[tail] = [*graph[tail], head]  # head reaches tail, so tail -> head closes a loop
    cycles = find_cycles(graph)
    assert cycles
    for cycle in cycles:
        assert cycle[0] == cycle[-1]
        assert all(b in graph[a] for a, b in zip(cycle, cycle[1:], strict=False))
    with pytest.raises(ValueError):
        topological_waves(graph)


def _reachable(graph: dict[str, list[str]], start: str) -> set[str]:
    seen, stack = set(), [start]
    while stack:
        for dep in graph[stack.pop()]:
            if dep not in seen:
                seen.add(dep)
                stack.append(dep)
    return seen
