"""Per-agent request metrics on an injected prometheus_client registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["LATENCY_BUCKETS_S", "AgentMetrics"]

# From 50 µs (a loopback round trip) to 10 s.
LATENCY_BUCKETS_S = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                     0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class AgentMetrics:
    """Requests, errors, latency per action, and dropped frames, labelled with the agent."""

    def __init__(self, agent: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.agent = agent
        self._requests = Counter("mesh_agent_requests_total", "Requests handled, by action",
                                 ["agent", "action"], registry=self.registry)
        self._errors = Counter("mesh_agent_errors_total", "Error replies, by action and code",
                               ["agent", "action", "code"], registry=self.registry)
        self._latency = Histogram("mesh_agent_request_duration_seconds",
                                  "Time from decode to reply, by action",
                                  ["agent", "action"], buckets=LATENCY_BUCKETS_S,
                                  registry=self.registry)
        self._dropped = Counter("mesh_agent_bad_frames_total",
                                "Malformed, oversized or wrong-version frames, by code",
                                ["agent", "code"], registry=self.registry)
        self._children: dict[str, tuple[Counter, Histogram]] = {}

    def observe(self, action: str, duration_s: float, error_code: str = "") -> None:
        pair = self._children.get(action)
        if pair is None:
            if len(self._children) >= 256:  # bound label cardinality against hostile actions
                action = "_other"
            pair = (self._requests.labels(self.agent, action),
                    self._latency.labels(self.agent, action))
            self._children[action] = pair
        pair[0].inc()
        pair[1].observe(duration_s)
        if error_code:
            self._errors.labels(self.agent, action, error_code).inc()

    def bad_frame(self, code: str) -> None:
        self._dropped.labels(self.agent, code).inc()

    def snapshot(self) -> dict[str, float]:
        """Totals for the health report and the hub: requests, errors, bad frames."""
        totals = {"requests_total": 0.0, "errors_total": 0.0, "bad_frames_total": 0.0}
        names = {"mesh_agent_requests_total": "requests_total",
                 "mesh_agent_errors_total": "errors_total",
                 "mesh_agent_bad_frames_total": "bad_frames_total"}
        for family in self.registry.collect():
            for sample in family.samples:
                key = names.get(sample.name)
                if key and sample.labels.get("agent") == self.agent:
                    totals[key] += sample.value
        return totals
