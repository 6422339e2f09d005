"""Build an agent's ``hub_report`` body from its health report and its metrics collector."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from common.base_agent.agent import BaseAgent

__all__ = ["GaugeSource", "action_stats", "build_report"]

log = logging.getLogger(__name__)


@runtime_checkable
class GaugeSource(Protocol):
    """An agent that reports gauges to the hub (VRAM per GPU, leases, evictions, registry
    size) defines this method; keys as in ``common.hub.protocol``'s ``gauges``."""

    def hub_gauges(self) -> dict[str, Any]: ...


def action_stats(collector: Any) -> dict[str, dict[str, Any]]:
    """Per-action counts, errors and cumulative latency buckets from an AgentMetrics."""
    out: dict[str, dict[str, Any]] = {}

    def entry(action: str) -> dict[str, Any]:
        return out.setdefault(action, {"count": 0, "sum_s": 0.0, "buckets": [], "errors": {}})

    for family in collector.collect():
        for sample in family.samples:
            action = sample.labels.get("action")
            if action is None:
                continue
            if sample.name == "mesh_agent_requests_total":
                entry(action)["count"] = int(sample.value)
            elif sample.name == "mesh_agent_errors_total":
                entry(action)["errors"][sample.labels["code"]] = int(sample.value)
            elif sample.name == "mesh_agent_request_duration_seconds_bucket":
                entry(action)["buckets"].append(int(sample.value))
            elif sample.name == "mesh_agent_request_duration_seconds_sum":
                entry(action)["sum_s"] = float(sample.value)
    return out


def build_report(agent: BaseAgent, seq: int, failover: bool,
                 health: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report body; health: the agent's health report if it has just been made."""
    health = agent.health() if health is None else health
    report = {"agent": agent.name, "instance_id": agent.instance_id, "host": agent.host,
              "pid": health["pid"], "endpoint": agent.endpoint,
              "interval_s": agent.heartbeat_interval_s, "seq": seq, "failover": failover,
              "health": {"status": health["status"], "checks": health["checks"]},
              "metrics": health["metrics"], "actions": action_stats(agent.metrics)}
    if agent.zap is not None:
        report["auth"] = agent.zap.summary()
    if isinstance(agent, GaugeSource):
        try:
            report["gauges"] = agent.hub_gauges()
        except Exception:  # a broken gauge must not stop the heartbeat
            log.exception("%s: hub_gauges raised", agent.name)
    return report
