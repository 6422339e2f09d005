"""observability_hub: the central and edge hubs (health aggregation, alerts, /metrics,
dashboard, failover).  Imports only common/; the protocol and clients are in common.hub."""

from observability_hub.hub import HUB_NAME, ObservabilityHub

__all__ = ["HUB_NAME", "ObservabilityHub"]
