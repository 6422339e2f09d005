"""What `mesh reload` changes on a running host: the difference between two configs.

Only what differs is touched: agents added to the host start, agents removed stop, agents
whose entry changed restart with the new entry and, where one of their ports changed, so do
the host's agents that depend on them (they were given the old endpoint; the moved agent may
be on another host, whose own launcher restarts it).  Everything else
keeps running.  Stops go dependents first; restarts and starts go in dependency order.
A change to ``global`` or to this host's own entry changes what every agent of the host is
given, so every agent restarts; a service (a hub, the VRAM pool) whose derived view of the
mesh changed (an agent added, a peer moved, a GPU listed) restarts to take it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from common.config import AgentConfig, MeshConfig
from common.launcher.plan import HostPlan

__all__ = ["ReloadPlan", "reload_plan"]


@dataclass(frozen=True)
class ReloadPlan:
    host: str
    stop: list[str] = field(default_factory=list)  # removed, dependents first
    restart: dict[str, str] = field(default_factory=dict)  # name -> why, in dependency order
    start: list[str] = field(default_factory=list)  # added, in dependency order

    @property
    def empty(self) -> bool:
        return not (self.stop or self.restart or self.start)

    def lines(self) -> list[str]:
        """The plan as an operator reads it, one action a line, in the order taken."""
        if self.empty:
            return [f"{self.host}: nothing changed"]
        out = [f"{self.host}: stop {name} (removed)" for name in self.stop]
        out += [f"{self.host}: restart {name} ({why})" for name, why in self.restart.items()]
        out += [f"{self.host}: start {name} (added)" for name in self.start]
        return out

    def to_data(self) -> dict[str, Any]:
        return {"host": self.host, "stop": self.stop, "restart": self.restart,
                "start": self.start}


def reload_plan(old_plan: HostPlan, new_plan: HostPlan) -> ReloadPlan:
    """What the host's launcher must do to go from running old_plan to running new_plan."""
    old, new, host = old_plan.config, new_plan.config, new_plan.host
    before, after = old_plan.agents, new_plan.agents
    order = [name for wave in new_plan.waves for name in wave]
    old_order = [name for wave in old_plan.waves for name in wave]
    everything = old.global_ != new.global_ or old.hosts.get(host) != new.hosts.get(host)
    why: dict[str, str] = {}
    for name in order:
        if name not in before:
            continue
        if everything:
            why[name] = "global or host settings changed"
        elif before[name] != after[name]:
            why[name] = _what_changed(before[name], after[name])
        elif old_plan.derived(before[name]) != new_plan.derived(after[name]):
            why[name] = "its view of the mesh changed: " + ", ".join(
                _changed_keys(old_plan.derived(before[name]), new_plan.derived(after[name])))
    moved = _moved(old, new)
    for name in order:
        if name in before and name not in why:
            hit = sorted(set(after[name].dependencies) & moved)
            if hit:
                why[name] = f"depends on {', '.join(hit)}, whose port changed"
    return ReloadPlan(host,
                      stop=[n for n in reversed(old_order) if n not in after],
                      restart={n: why[n] for n in order if n in why},
                      start=[n for n in order if n not in before])


def _moved(old: MeshConfig, new: MeshConfig) -> set[str]:
    """Agents of any host that kept their name but not their ports (or their host)."""
    before = {a.name: (a.host, dict(a.declared_ports())) for a in old.agents}
    after = {a.name: (a.host, dict(a.declared_ports())) for a in new.agents}
    return {name for name in before.keys() & after.keys() if before[name] != after[name]}


def _what_changed(old: AgentConfig, new: AgentConfig) -> str:
    return "changed: " + ", ".join(_changed_keys(old.model_dump(), new.model_dump()))


def _changed_keys(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
