"""The registry pair (Binary Star) in one process, real sockets: one active, the passive one
mirrors it and answers reads, takes over on a client's vote when the primary is gone, and a
primary that comes back goes passive with nothing lost or duplicated."""

import pytest

from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.base_agent.registries import join_registries
from common.testing.agents import EchoAgent
from common.testing.mesh import free_ports
from common.testing.wait import wait_until
from service_registry import ServiceRegistry

pytestmark = pytest.mark.timeout(60)

BEAT_S = 0.2
A, B = "127.0.14.1", "127.0.14.2"


def registry(tmp_path, name, ip, port, role, peer, db=None):
    settings = {"db_path": str(tmp_path / (db or f"{name}.db")), "role": role, "peer": peer}
    return ServiceRegistry(name, f"tcp://{ip}:{port}", settings=settings,
                           heartbeat_interval_s=BEAT_S)


def state(reg):
    return reg.pair.state.value


def names(client, endpoint):
    return sorted(r["name"] for r in client.call_endpoint(endpoint, "list", timeout_s=1.0,
                                                         retries=0))


@pytest.fixture
def pair(tmp_path, agents):
    pa, pb = free_ports(1, A)[0], free_ports(1, B)[0]
    ep_a, ep_b = f"tcp://{A}:{pa}", f"tcp://{B}:{pb}"
    primary = agents(registry(tmp_path, "RegA", A, pa, "primary", ep_b))
    backup = agents(registry(tmp_path, "RegB", B, pb, "backup", ep_a))
    wait_until(lambda: (state(primary), state(backup)) == ("active", "passive"), 10,
               what="primary active, backup passive")
    return primary, backup, ep_a, ep_b, pa


def test_passive_mirrors_and_refuses_writes(pair, agents, client_factory):
    primary, backup, ep_a, ep_b, _ = pair
    both = join_registries([ep_a, ep_b])
    agents(EchoAgent("Echo1", f"tcp://{B}:0", registry=both, heartbeat_interval_s=BEAT_S))
    client = client_factory(both)
    client.call_registry("admit", {"name": "Echo1", "endpoints": ["tcp://x:1", "tcp://x:2"]})
    wait_until(lambda: "Echo1" in names(client, ep_b), 5, what="the backup mirrors Echo1")
    assert wait_until(lambda: client.call_endpoint(ep_b, "snapshot")["admitted"], 5,
                      what="the admission mirrored") == {"Echo1": ["tcp://x:1", "tcp://x:2"]}
    with pytest.raises(MeshError) as refused:
        client.call_endpoint(ep_b, "prefer", {"instance_id": "x"}, retries=0)
    assert refused.value.code == "passive"
    assert client.call("Echo1", "echo", {"n": 1}) == {"n": 1}
    assert (state(primary), state(backup)) == ("active", "passive")


def test_failover_and_return_lose_nothing(pair, agents, tmp_path):
    primary, backup, ep_a, ep_b, port_a = pair
    both = join_registries([ep_a, ep_b])
    echo = agents(EchoAgent("Echo1", f"tcp://{B}:0", registry=both, heartbeat_interval_s=BEAT_S))
    client = Client(both, source="test")
    try:
        wait_until(lambda: "Echo1" in names(client, ep_b), 5, what="mirrored")
        client.call_registry("admit", {"name": "Echo1", "endpoints": ["tcp://x:1"]})
        wait_until(lambda: client.call_endpoint(ep_b, "snapshot")["admitted"], 5,
                   what="the admission mirrored (replication is asynchronous)")
        primary.stop(timeout_s=5.0)
        wait_until(lambda: state(backup) == "active", 5, interval_s=0.05,
                   what="the backup active on the agent's vote")
        wait_until(lambda: echo.links[0].registered and echo.links[0].endpoint == ep_b, 5,
                   what="Echo1 heartbeating the backup")
        client.invalidate()
        assert client.call("Echo1", "echo", {"n": 2}) == {"n": 2}
        # the primary comes back on its own database: it goes passive and mirrors the backup
        back = agents(registry(tmp_path, "RegA", A, port_a, "primary", ep_b))
        wait_until(lambda: state(back) == "passive", 5, what="the returning primary passive")
        wait_until(lambda: names(client, ep_a) == names(client, ep_b), 5, what="mirrored")
        assert state(backup) == "active"
        echoes = [r for r in client.call_endpoint(ep_a, "lookup", {"name": "Echo1"})]
        assert len(echoes) == 1 and echoes[0]["instance_id"] == echo.instance_id
        assert client.call_endpoint(ep_a, "snapshot")["admitted"] == {"Echo1": ["tcp://x:1"]}
    finally:
        client.close()


def test_restarted_backup_takes_no_write_before_it_hears_the_primary(pair, agents, tmp_path,
                                                                       client_factory):
    """Regression: a backup that (re)starts counted its not-yet-heard peer as expired, so the
    first write made it active beside a live primary (and a failback never held)."""
    primary, backup, ep_a, ep_b, _ = pair
    backup.stop(timeout_s=5.0)
    port_b = int(ep_b.rsplit(":", 1)[1])
    again = agents(registry(tmp_path, "RegB", B, port_b, "backup", ep_a, db="RegB2.db"))
    client = client_factory(None)
    with pytest.raises(MeshError) as refused:
        client.call_endpoint(ep_b, "register", {"name": "Early", "instance_id": "e1",
                                                "endpoint": "tcp://x:5"}, retries=0)
    assert refused.value.code == "passive"
    wait_until(lambda: state(again) == "passive", 5, what="the restarted backup passive")
    assert state(primary) == "active"
