"""Fixtures for hub tests: a pair of in-process hubs that know each other."""

import pytest
from hub_helpers import FAST_S, free_port

from observability_hub.hub import ObservabilityHub


@pytest.fixture
def hub_pair(agents):
    """In-process central (127.0.0.1) and edge (127.0.0.2) hubs that know each other."""
    def make(central: dict | None = None, edge: dict | None = None):
        c_ep = f"tcp://127.0.0.1:{free_port()}"
        e_ep = f"tcp://127.0.0.2:{free_port('127.0.0.2')}"
        c = agents(ObservabilityHub("HubC", c_ep, heartbeat_interval_s=FAST_S, settings={
            "role": "central", "peer": e_ep, "http_port": 0, **(central or {})}))
        e = agents(ObservabilityHub("HubE", e_ep, heartbeat_interval_s=FAST_S, settings={
            "role": "edge", "peer": c_ep, "http_port": 0, **(edge or {})}))
        return c, e
    return make
