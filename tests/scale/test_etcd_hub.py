"""The hub's central role by election, in one process on a real etcd: one hub active, and
the passive one forwards what its agents report to it."""

from __future__ import annotations

import pytest

from common.hub.link import hub_link
from common.testing.agents import EchoAgent
from common.testing.etcd import EtcdCluster, etcd_unavailable_reason
from common.testing.mesh import free_ports
from common.testing.wait import wait_until
from observability_hub.hub import ObservabilityHub

pytestmark = pytest.mark.skipif(etcd_unavailable_reason() is not None,
                                reason=str(etcd_unavailable_reason()))

HOST = "127.0.12.1"


@pytest.fixture
def etcd(tmp_path):
    with EtcdCluster(tmp_path / "etcd", [HOST], tuple(free_ports(2, HOST))) as cluster:
        yield cluster


def test_one_hub_is_active_and_sees_the_passive_ones_agents(etcd, agents, client_factory):
    ports = free_ports(2, HOST)
    endpoints = {f"Hub{i}": f"tcp://{HOST}:{port}" for i, port in enumerate(ports)}
    election = {"endpoints": etcd.endpoints, "ttl_s": 1.0, "candidates": endpoints}
    hubs = [agents(ObservabilityHub(name, endpoint, heartbeat_interval_s=0.2, settings={
        "role": "central" if i == 0 else "edge", "http_port": 0, "election": election}))
        for i, (name, endpoint) in enumerate(endpoints.items())]
    client = client_factory()
    info = lambda hub: client.call_endpoint(hub.endpoint, "hub_info", timeout_s=2)  # noqa: E731
    active = wait_until(lambda: [h for h in hubs if info(h)["active"]], 5.0,
                        what="one active hub")
    assert len(active) == 1
    passive = next(h for h in hubs if h is not active[0])
    agents(EchoAgent("Echo", f"tcp://{HOST}:0", heartbeat_interval_s=0.2,
                     links=[hub_link([passive.endpoint])]))  # reports to the passive hub only
    seen = lambda: next((a for a in client.call_endpoint(  # noqa: E731
        active[0].endpoint, "hub_snapshot", timeout_s=2).get("agents", [])
        if a.get("name") == "Echo"), None)
    wait_until(seen, 5.0, what="the active hub sees the passive hub's agent")
