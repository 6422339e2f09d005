"""From a change file to a staged plan: risk per agent, strategy, definitions, bakes, gates.

Stages run low risk first (by band; within a band a dependency before its dependents, then by
score).  Low-band agents that do not depend on each other share a stage (up
to ``max_agents_per_low_stage``); every other agent gets a stage of its own.  A stage bakes as
long as its riskiest agent's band says (or the change file's ``bake_s``); each agent keeps the
gates of its band, tightened or loosened by the change file.

Strategy ``auto``: stop-and-replace for the registry (one store, one writer) and for agents that
hold VRAM (two copies would hold two GPU leases); blue/green for everything else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from common.config import AgentConfig, MeshConfig
from migration.change import AgentChange, ChangeFile, Gates
from migration.definitions import apply_change, endpoint, used_ports
from migration.judge import JUDGE_DEFAULTS
from migration.risk import Observed, Risk, dependents, score

__all__ = ["PortFinder", "build_plan", "choose_strategy"]

PortFinder = Callable[[str, int, set[int]], int]  # (host, start, taken) -> a free port there


def choose_strategy(agent: AgentConfig, change: AgentChange, default: str) -> tuple[str, str]:
    """(strategy, why)."""
    wanted = change.strategy or default
    if wanted != "auto":
        return wanted, "asked for in the change file"
    if agent.service == "registry":
        return "stop_and_replace", "the registry runs one store with one writer"
    if agent.resources.vram_mb > 0:
        return "stop_and_replace", f"holds {agent.resources.vram_mb} MB VRAM (one GPU lease)"
    return "blue_green", "stateless BaseAgent: new instance beside the old"


def _gates(band: dict[str, Any], *overrides: Gates | None) -> dict[str, Any]:
    gates = Gates(error_rate_max=band["error_rate_max"],
                  latency_p95_ratio_max=band["latency_p95_ratio_max"]).model_dump()
    for override in overrides:
        if override is not None:
            gates.update({k: getattr(override, k) for k in override.model_fields_set})
    return gates


def _agent_plan(config: MeshConfig, change_file: ChangeFile, change: AgentChange, risk: Risk,
                current: dict[str, AgentConfig], taken: set[int],
                free_port: PortFinder) -> dict[str, Any]:
    old = current[change.agent]
    strategy, why = choose_strategy(old, change, change_file.defaults.strategy)
    host = change.host or old.host
    port = change.port or old.port
    if strategy == "blue_green" and port == old.port and host == old.host:
        port = free_port(host, old.port + 1, taken)
    taken.add(port)
    new = apply_change(old, change, port)
    bake = change.bake_s if change.bake_s is not None else change_file.defaults.bake_s
    return {"agent": change.agent, "strategy": strategy, "why": why,
            "legacy": bool(old.script_path and change.module),
            "old": old.model_dump(mode="json", by_alias=True),
            "new": new.model_dump(mode="json", by_alias=True),
            "old_endpoint": endpoint(config, old), "new_endpoint": endpoint(config, new),
            "bake_s": risk.band["bake_s"] if bake is None else bake,
            "gates": _gates(risk.band, change_file.defaults.gates, change.gates),
            "probe": (change.probe or change_file.defaults.probe).model_dump(),
            "canary": _canary(risk.band, bake), "risk": risk.as_dict()}


def _canary(band: dict[str, Any], bake_s: float | None) -> dict[str, Any]:
    """The band's traffic steps and judge thresholds; a change file's bake_s split evenly."""
    traffic = band["traffic"]
    steps = list(traffic["steps"])
    step_bake = traffic["step_bake_s"] if bake_s is None else bake_s / len(steps)
    return {"steps": steps, "step_bake_s": step_bake,
            "max_extensions": traffic["max_extensions"],
            "judge": {**JUDGE_DEFAULTS, **(band.get("judge") or {})}}


def _group(config: MeshConfig, plans: list[dict[str, Any]], limit: int) -> list[list[dict]]:
    stages: list[list[dict[str, Any]]] = []
    for p in plans:
        last = stages[-1] if stages else None
        if (last is not None and len(last) < limit and p["risk"]["band"] == "low"
                and all(q["risk"]["band"] == "low" for q in last)
                and not any(_related(config, p["agent"], q["agent"]) for q in last)):
            last.append(p)
        else:
            stages.append([p])
    return stages


def _depths(config: MeshConfig, changed: set[str]) -> dict[str, int]:
    """Per changed agent: the longest chain of changed agents it depends on (0: none), so a
    dependency is migrated before its dependents within a band."""
    found: dict[str, int] = {}

    def depth(name: str, seen: frozenset[str]) -> int:
        if name not in found:
            deps = [d for d in config.agent(name).dependencies if d in changed and d not in seen]
            found[name] = max((1 + depth(d, seen | {name}) for d in deps), default=0)
        return found[name]

    return {name: depth(name, frozenset()) for name in changed}


def _related(config: MeshConfig, a: str, b: str) -> bool:
    return a in dependents(config, b) or b in dependents(config, a)


def build_plan(config: MeshConfig, change_file: ChangeFile, seen: Observed,
               weights: dict[str, Any], current: dict[str, AgentConfig],
               free_port: PortFinder) -> dict[str, Any]:
    """The plan as JSON-ready data (it is journaled as is).  A blue/green instance's port is
    the first from the old one up that free_port(host, start, taken) says is free there."""
    risks = {c.agent: score(config, c, seen, weights) for c in change_file.changes}
    taken = used_ports(config, current)
    bands = [b["name"] for b in weights["bands"]]
    depth = _depths(config, {c.agent for c in change_file.changes})
    ordered = sorted(change_file.changes, key=lambda c: (
        bands.index(risks[c.agent].band["name"]), depth[c.agent], risks[c.agent].score, c.agent))
    plans = [_agent_plan(config, change_file, c, risks[c.agent], current, taken, free_port)
             for c in ordered]
    stages = []
    for i, agents in enumerate(_group(config, plans, weights["max_agents_per_low_stage"])):
        stages.append({"index": i, "band": agents[-1]["risk"]["band"],
                       "bake_s": max(a["bake_s"] for a in agents), "agents": agents})
    return {"description": change_file.description, "stages": stages,
            "measured_from": seen.sources or ["config only"]}
