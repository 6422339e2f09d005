"""Risk scores 0-100 from measurable factors; the weights live in weights.yaml, not here.

Each factor has a value in 0..1 and a weight in points; the score is their weighted sum.
Factors: transitive dependents (with a floor for the registry and the model manager, which
every agent relies on without declaring it), the required flag, VRAM held, links to the other
host, restarts (launcher or hub), the hub's current state and error ratio, and the kind and
size of the change.  Unmeasured factors (no launcher or hub reachable) count 0 and say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from common.config import AgentConfig, MeshConfig
from migration.change import AgentChange
from migration.judge import JUDGE_DEFAULTS

__all__ = ["DEFAULT_WEIGHTS", "Factor", "Observed", "Risk", "dependents", "load_weights", "score"]

DEFAULT_WEIGHTS = Path(__file__).with_name("weights.yaml")
HEALTH_VALUES = {"passing": 0.0, "warning": 0.5, "critical": 1.0, "down": 1.0}


@dataclass(frozen=True)
class Factor:
    name: str
    weight: float
    value: float  # 0..1
    detail: str

    @property
    def points(self) -> float:
        return round(self.weight * self.value, 2)


@dataclass
class Risk:
    agent: str
    factors: list[Factor]
    band: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return round(min(100.0, sum(f.points for f in self.factors)), 1)

    def as_dict(self) -> dict[str, Any]:
        return {"agent": self.agent, "score": self.score, "band": self.band.get("name"),
                "factors": [{"name": f.name, "weight": f.weight, "value": round(f.value, 3),
                             "points": f.points, "detail": f.detail} for f in self.factors]}


@dataclass
class Observed:
    """What was measured on the running mesh, by agent name (absent: not measured)."""

    restarts: dict[str, int] = field(default_factory=dict)
    hub_state: dict[str, str] = field(default_factory=dict)
    error_ratio: dict[str, float] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)


def load_weights(path: str | Path | None = None) -> dict[str, Any]:
    with open(path or DEFAULT_WEIGHTS) as fh:
        data = yaml.safe_load(fh)
    total = sum(data["weights"].values())
    if abs(total - 100) > 1e-6:
        raise ValueError(f"{path or DEFAULT_WEIGHTS}: weights sum to {total}, not 100")
    for i, band in enumerate(data["bands"]):
        problem = check_traffic(band)
        if problem:
            raise ValueError(f"{path or DEFAULT_WEIGHTS}: bands[{i}] ({band['name']}): {problem}")
    return data


def check_traffic(band: dict[str, Any]) -> str | None:
    """What is wrong with a band's traffic steps and judge thresholds, if anything."""
    traffic = band.get("traffic") or {}
    steps = traffic.get("steps")
    if not steps or any(not 0 < s <= 100 for s in steps) or steps != sorted(set(steps)) \
            or steps[-1] != 100:
        return f"traffic.steps {steps!r} must rise within 1..100 and end at 100"
    if not traffic.get("step_bake_s", 0) > 0:
        return "traffic.step_bake_s must be > 0"
    if not isinstance(traffic.get("max_extensions"), int) or traffic["max_extensions"] < 0:
        return "traffic.max_extensions must be an integer >= 0"
    unknown = set(band.get("judge") or {}) - set(JUDGE_DEFAULTS)
    if unknown:
        return f"judge.{sorted(unknown)[0]} is not a judge threshold ({', '.join(JUDGE_DEFAULTS)})"
    return None


def dependents(config: MeshConfig, name: str) -> set[str]:
    """Every agent that depends on name, directly or through others."""
    reverse: dict[str, set[str]] = {}
    for agent in config.agents:
        for dep in agent.dependencies:
            reverse.setdefault(dep, set()).add(agent.name)
    found: set[str] = set()
    todo = [name]
    while todo:
        for parent in reverse.get(todo.pop(), ()):
            if parent not in found:
                found.add(parent)
                todo.append(parent)
    return found


def _ratio(value: float, saturation: float) -> float:
    return min(1.0, value / saturation) if saturation > 0 else 0.0


def _static(config: MeshConfig, agent: AgentConfig, w: dict[str, Any]) -> list[Factor]:
    weights, sat = w["weights"], w["saturation"]
    deps = dependents(config, agent.name)
    role = agent.service
    dep_value = max(_ratio(len(deps), sat["dependents"]), w["roles"].get(role, 0.0))
    hosts = {a.name: a.host for a in config.agents}
    links = [d for d in agent.dependencies if hosts.get(d, agent.host) != agent.host]
    links += [d for d in deps if hosts[d] != agent.host and agent.name in
              config.agent(d).dependencies]
    return [
        Factor("dependents", weights["dependents"], dep_value,
               f"{len(deps)} transitive dependents" + (f" ({role})" if role else "")),
        Factor("required", weights["required"], float(agent.required),
               "required" if agent.required else "optional"),
        Factor("vram", weights["vram"], _ratio(agent.resources.vram_mb, sat["vram_mb"]),
               f"{agent.resources.vram_mb} MB"),
        Factor("cross_host", weights["cross_host"], _ratio(len(links), sat["cross_host_links"]),
               f"{len(links)} links to the other host"),
    ]


def _observed(agent: AgentConfig, seen: Observed, w: dict[str, Any]) -> list[Factor]:
    weights, sat, name = w["weights"], w["saturation"], agent.name
    restarts = seen.restarts.get(name)
    state = seen.hub_state.get(name)
    ratio = seen.error_ratio.get(name)
    return [
        Factor("restarts", weights["restarts"], _ratio(restarts or 0, sat["restarts"]),
               "not measured" if restarts is None else f"{restarts} restarts"),
        Factor("health", weights["health"], HEALTH_VALUES.get(state or "", 0.0),
               state or "not measured (no hub)"),
        Factor("error_rate", weights["error_rate"], _ratio(ratio or 0.0, sat["error_rate"]),
               "not measured" if ratio is None else f"{ratio:.2%} errors"),
    ]


def _change(agent: AgentConfig, change: AgentChange, w: dict[str, Any]) -> list[Factor]:
    kinds = change.kinds()
    if agent.script_path and change.module:
        kinds.append("legacy")
    value = max((w["change_kinds"][k] for k in kinds), default=0.0)
    return [Factor("change_kind", w["weights"]["change_kind"], value, "+".join(kinds)),
            Factor("change_size", w["weights"]["change_size"],
                   _ratio(change.size(), w["saturation"]["change_fields"]),
                   f"{change.size()} fields")]


def band_for(score_: float, w: dict[str, Any]) -> dict[str, Any]:
    for band in w["bands"]:
        if score_ <= band["max_score"]:
            return dict(band)
    return dict(w["bands"][-1])


def score(config: MeshConfig, change: AgentChange, seen: Observed,
          w: dict[str, Any]) -> Risk:
    agent = config.agent(change.agent)
    risk = Risk(agent.name, [*_static(config, agent, w), *_observed(agent, seen, w),
                             *_change(agent, change, w)])
    risk.band = band_for(risk.score, w)
    return risk
