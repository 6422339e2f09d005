"""The alert rules the hub evaluates; ``rules/mesh.rules.yml`` holds the same rules in PromQL.

Each rule maps the health view to the instances currently matching it, keyed by a label set.
Thresholds are named constants here and written as the same numbers in the YAML.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["CRASH_LOOP_RESTARTS", "ERROR_RATIO_MAX", "LATENCY_P95_MAX_S", "RULES",
           "VRAM_RATIO_MAX", "Rule"]

ERROR_RATIO_MAX = 0.05
LATENCY_P95_MAX_S = 1.0
VRAM_RATIO_MAX = 0.95
CRASH_LOOP_RESTARTS = 3  # restarts within 5 minutes
STALE_INTERVALS = 3

Matches = dict[tuple[tuple[str, str], ...], str]  # label set -> description


@dataclass(frozen=True)
class Rule:
    name: str
    severity: str
    for_s: float
    summary: str
    match: Callable[[dict[str, Any]], Matches]


def _labels(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def _root_agents(view: dict[str, Any]) -> Iterator[dict[str, Any]]:
    return (a for a in view["agents"] if not a["affected"])


def _down(view: dict[str, Any]) -> Matches:
    return {_labels(agent=a["name"], host=a["host"]): "; ".join(a["reasons"])
            for a in _root_agents(view) if a["state"] == "critical"}


def _crash_loop(view: dict[str, Any]) -> Matches:
    return {_labels(agent=a["name"], host=a["host"]):
            f"{a['restarts_recent']} restarts in 5 min"
            for a in view["agents"]
            if a["restarts_recent"] >= CRASH_LOOP_RESTARTS or a["event"] == "crash_loop"}


def _stale(view: dict[str, Any]) -> Matches:
    return {_labels(agent=a["name"], host=a["host"]): f"last heartbeat {a['heartbeat_age_s']} s ago"
            for a in _root_agents(view) if a["heartbeat_age_s"] is not None
            and a["heartbeat_age_s"] > STALE_INTERVALS * a["interval_s"]}


def _errors(view: dict[str, Any]) -> Matches:
    return {_labels(agent=a["name"], host=a["host"]): f"{a['error_ratio']:.1%} of requests fail"
            for a in view["agents"]
            if a["error_ratio"] is not None and a["error_ratio"] > ERROR_RATIO_MAX}


def _latency(view: dict[str, Any]) -> Matches:
    return {_labels(agent=a["name"], host=a["host"]): f"p95 {a['latency_p95_s']:.3f} s"
            for a in view["agents"]
            if a["latency_p95_s"] is not None and a["latency_p95_s"] > LATENCY_P95_MAX_S}


def _vram(view: dict[str, Any]) -> Matches:
    out: Matches = {}
    for host in view["hosts"]:
        for gpu in host["gpus"]:
            total, used = gpu.get("total_bytes") or 0, gpu.get("used_bytes") or 0
            if total and used / total > VRAM_RATIO_MAX:
                out[_labels(host=host["name"], gpu=str(gpu.get("gpu", "0")))] = \
                    f"{used / total:.0%} of {total / 2**30:.1f} GiB used"
    return out


def _hub_flag(key: str, bad: Any, text: str) -> Callable[[dict[str, Any]], Matches]:
    def match(view: dict[str, Any]) -> Matches:
        hub = view.get("hub", {})
        return {_labels(hub=hub.get("name", "")): text} if hub.get(key) == bad else {}
    return match


def _failover(view: dict[str, Any]) -> Matches:
    hub = view.get("hub", {})
    if hub.get("failovers_recent", 0) > 0:
        return {_labels(hub=hub.get("name", "")):
                f"{hub['failovers_recent']} failover(s) in 10 min; active: {hub.get('name')}"}
    return {}


RULES: tuple[Rule, ...] = (
    Rule("MeshAgentDown", "critical", 10.0, "agent down (root cause)", _down),
    Rule("MeshAgentCrashLooping", "critical", 0.0, "agent restarting repeatedly", _crash_loop),
    Rule("MeshHeartbeatStale", "warning", 5.0, "heartbeats stopped arriving", _stale),
    Rule("MeshAgentHighErrorRate", "warning", 120.0, "error ratio above 5 %", _errors),
    Rule("MeshAgentHighLatencyP95", "warning", 120.0, "p95 latency above 1 s", _latency),
    Rule("MeshVramPressure", "warning", 60.0, "GPU memory above 95 %", _vram),
    Rule("MeshRegistryUnreachable", "critical", 30.0, "the hub cannot reach the registry",
         _hub_flag("registry_up", False, "registry unreachable from the hub")),
    Rule("MeshHubPeerDown", "warning", 30.0, "the other hub is unreachable",
         _hub_flag("peer_up", False, "peer hub silent")),
    Rule("MeshHubFailover", "warning", 0.0, "hub failover happened", _failover),
)
