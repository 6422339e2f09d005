"""The model manager by election, in one process on a real etcd: one active, the standby
refuses naming it, and takes over with the leases read back when the active one goes."""

from __future__ import annotations

import pytest

from common.base_agent.errors import RemoteError
from common.testing.etcd import EtcdCluster, etcd_unavailable_reason
from common.testing.mesh import free_ports
from common.testing.wait import wait_until
from main_pc.model_manager.agent import ModelManagerAgent

pytestmark = pytest.mark.skipif(etcd_unavailable_reason() is not None,
                                reason=str(etcd_unavailable_reason()))

HOST = "127.0.12.1"
GPUS = {"h0": {"gpu": {"backend": "simulated", "devices": [{"name": "G0", "vram_mb": 8000}]}},
        "h1": {"gpu": {"backend": "simulated", "devices": [{"name": "G1", "vram_mb": 8000}]}}}


@pytest.fixture
def etcd(tmp_path):
    with EtcdCluster(tmp_path / "etcd", [HOST], tuple(free_ports(2, HOST))) as cluster:
        yield cluster


def _managers(etcd, agents):
    ports = free_ports(2, HOST)
    endpoints = {f"MM{i}": f"tcp://{HOST}:{port}" for i, port in enumerate(ports)}
    election = {"endpoints": etcd.endpoints, "ttl_s": 1.0, "candidates": endpoints}
    return [agents(ModelManagerAgent(name, endpoint, settings={
        "hosts": GPUS, "local_host": f"h{i}", "election": election}))
        for i, (name, endpoint) in enumerate(endpoints.items())]


def _status(client, manager):
    return client.call_endpoint(manager.endpoint, "status", timeout_s=2)


def test_the_standby_refuses_then_takes_over_with_the_leases(etcd, agents, client_factory):
    managers = _managers(etcd, agents)
    client = client_factory()
    active = wait_until(lambda: [m for m in managers if _status(client, m)["active"]], 5.0,
                        what="one active model manager")
    assert len(active) == 1
    leader = active[0]
    standby = next(m for m in managers if m is not leader)
    lease = client.call_endpoint(leader.endpoint, "acquire",
                                 {"model": "m", "vram_mb": 1000, "hosts": ["h1"]})
    assert lease["state"] == "granted"
    def refusal() -> RemoteError | None:
        try:
            client.call_endpoint(standby.endpoint, "lease", {"lease_id": lease["lease_id"]})
        except RemoteError as exc:
            return exc if f"the active one is {leader.name}" in str(exc) else None
        return None

    assert wait_until(refusal, 2.0, what="the standby names the leader").code == "unavailable"
    leader.stop()  # resigns: the standby need not wait out the leader's silence
    restored = wait_until(lambda: _status(client, standby)["active"] and client.call_endpoint(
        standby.endpoint, "lease", {"lease_id": lease["lease_id"]}), 3.0,
        what="the standby active with the lease")
    assert (restored["state"], restored["gpu"]) == ("granted", lease["gpu"])
    second = client.call_endpoint(standby.endpoint, "acquire",
                                  {"model": "m2", "vram_mb": 1000, "hosts": ["h1"]})
    assert second["lease_id"] != lease["lease_id"]  # new ids after the restored ones

