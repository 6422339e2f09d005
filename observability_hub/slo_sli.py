"""The SLIs from what the hub already aggregates: each agent's request counters and latency
histogram (its heartbeat's ``actions``) and whether its heartbeat is fresh.

Counters are turned into increments as PromQL's ``increase`` does: a counter that went down
(the agent restarted, or a new instance) counts from zero.  Heartbeat time is measured in
seconds between two samples: good while the agent is up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from common.base_agent.metrics import LATENCY_BUCKETS_S
from observability_hub.slo_spec import SloSpec

__all__ = ["Counters", "SliSampler", "counters"]

MAX_GAP_S = 60.0  # a longer gap between two samples (the hub was down) is not counted
Counters = dict[str, float]  # "requests", "errors", "le:<bound>"
Record = Callable[[str, str, float, float, float], None]  # (slo, agent, now, good, total)


def counters(actions: dict[str, Any]) -> Counters:
    """Requests, errors and the cumulative count under each latency bound, over all actions."""
    out: Counters = {"requests": 0.0, "errors": 0.0}
    for stats in actions.values():
        out["requests"] += float(stats.get("count", 0))
        out["errors"] += sum(float(v) for v in stats.get("errors", {}).values())
        for bound, value in zip(LATENCY_BUCKETS_S, stats.get("buckets", ()), strict=False):
            out[f"le:{bound!r}"] = out.get(f"le:{bound!r}", 0.0) + float(value)
    return out


def _increase(new: Counters, old: Counters | None, key: str) -> float:
    value = new.get(key, 0.0)
    if old is None:
        return 0.0
    before = old.get(key, 0.0)
    return value - before if value >= before else value


class SliSampler:
    """Feeds each SLO's good and total events per agent to ``record``."""

    def __init__(self, specs: list[SloSpec], record: Record) -> None:
        self.specs = specs
        self.record = record
        self.last: dict[str, tuple[str, Counters]] = {}  # agent -> (instance, counters)
        self.last_at: float | None = None

    def sample(self, agents: dict[str, tuple[str, dict[str, Any] | None, bool]],
               now: float) -> None:
        """agents: name -> (instance id, heartbeat actions or None, heartbeat fresh)."""
        dt = 0.0 if self.last_at is None or now - self.last_at > MAX_GAP_S \
            else max(0.0, now - self.last_at)
        self.last_at = now
        increments = {name: self._increments(name, instance, actions)
                      for name, (instance, actions, _) in agents.items()}
        for spec in self.specs:
            for name in spec.agents:
                if name not in agents:
                    continue
                if spec.sli == "heartbeat":
                    if dt > 0:
                        self.record(spec.name, name, now, dt if agents[name][2] else 0.0, dt)
                    continue
                inc = increments[name]
                if inc is None or inc["requests"] <= 0:
                    continue
                good = inc["requests"] - inc["errors"] if spec.sli == "availability" \
                    else inc.get(f"le:{spec.threshold_s!r}", 0.0)
                self.record(spec.name, name, now, max(0.0, good), inc["requests"])

    def _increments(self, name: str, instance: str,
                    actions: dict[str, Any] | None) -> Counters | None:
        if actions is None:
            return None
        new = counters(actions)
        previous = self.last.get(name)
        old = previous[1] if previous is not None and previous[0] == instance else \
            ({} if previous is not None else None)
        self.last[name] = (instance, new)
        return {key: _increase(new, old, key) for key in new}
