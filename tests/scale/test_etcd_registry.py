"""The registry on etcd: a stateless agent per host, keys bound to leases, claims as etcd
transactions, lookups from a watch-fed copy, and `registry unavailable` while etcd is gone.
One real etcd member (Debian's /usr/bin/etcd) and two registry agents on two loopback hosts."""

from __future__ import annotations

import time

import pytest

from common.base_agent.discovery import RegistryView
from common.base_agent.errors import ConflictError, RemoteError
from common.testing.agents import EchoAgent
from common.testing.etcd import EtcdCluster, etcd_unavailable_reason
from common.testing.mesh import free_ports
from common.testing.wait import wait_until
from service_registry.etcd_agent import EtcdRegistry

pytestmark = pytest.mark.skipif(etcd_unavailable_reason() is not None,
                                reason=str(etcd_unavailable_reason()))

HOSTS = ("127.0.12.1", "127.0.12.2")
INTERVAL_S = 0.5


@pytest.fixture
def etcd(tmp_path):
    with EtcdCluster(tmp_path / "etcd", HOSTS[:1], tuple(free_ports(2, HOSTS[0]))) as cluster:
        yield cluster


@pytest.fixture
def registries(etcd, agents):
    """A registry agent on each host, both on the one etcd."""
    settings = {"etcd_endpoints": etcd.endpoints}
    return [agents(EtcdRegistry(f"Registry{i}", f"tcp://{host}:0", settings=settings,
                                heartbeat_interval_s=INTERVAL_S))
            for i, host in enumerate(HOSTS)]


def _record(name, iid, port, **extra):
    return {"name": name, "instance_id": iid, "endpoint": f"tcp://127.0.12.1:{port}",
            "host": "a", "capabilities": [], "pid": 1, "heartbeat_interval_s": 60.0, **extra}


def test_a_registration_on_one_host_is_looked_up_and_watched_on_the_other(
        registries, agents, client_factory):
    here, there = registries
    view = RegistryView(there.endpoint).start()
    try:
        agents(EchoAgent("Echo", "tcp://127.0.12.1:0", registry=here.endpoint,
                         heartbeat_interval_s=INTERVAL_S))
        assert view.wait_for(lambda v: v.endpoints("Echo"), 5.0)
        client = client_factory(there.endpoint)
        assert client.call("Echo", "echo", "hi") == "hi"
        found = client.call_endpoint(there.endpoint, "lookup", {"name": "Echo"})
        assert [r["host"] for r in found] == ["127.0.12.1"]
    finally:
        view.stop()


def test_claims_are_transactions_across_hosts(registries, client_factory):
    here, there = registries
    client = client_factory()
    client.call_endpoint(here.endpoint, "register", _record("Nlu", "nlu-1", 9101))
    with pytest.raises(ConflictError, match="nlu-1"):  # refused by the other host's agent
        client.call_endpoint(there.endpoint, "register", _record("Nlu", "nlu-2", 9102))
    for iid, port in (("b-1", 9103), ("b-2", 9104)):
        client.call_endpoint(there.endpoint, "register", _record("Blue", iid, port, multi=True))
    client.call_endpoint(here.endpoint, "prefer", {"instance_id": "b-2"})
    client.call_endpoint(here.endpoint, "weights", {"name": "Blue", "weights": {"b-1": 3}})
    found = wait_until(lambda: (r := client.call_endpoint(there.endpoint, "lookup",
                                                          {"name": "Blue"}))[0]["preferred"]
                       and r[1]["weight"] == 3.0 and r, 3.0, what="prefer and weights seen")
    assert [(r["instance_id"], r["weight"]) for r in found] == [("b-2", 0.0), ("b-1", 3.0)]
    client.call_endpoint(here.endpoint, "register", _record("Nlu", "nlu-new", 9101))
    assert [r["instance_id"] for r in client.call_endpoint(here.endpoint, "lookup",
                                                           {"name": "Nlu"})] == ["nlu-new"]


def test_heartbeats_keep_the_lease_and_silence_expires_it(registries, client_factory):
    """Registered through one host, kept alive through the other (no agent holds state),
    then silent: etcd deletes the key when the lease runs out."""
    here, there = registries
    client = client_factory()
    client.call_endpoint(here.endpoint, "register",
                         _record("Tts", "tts-1", 9201, heartbeat_interval_s=INTERVAL_S))
    lookup = lambda: client.call_endpoint(there.endpoint, "lookup", {"name": "Tts"})  # noqa: E731
    beats = 0
    while beats < 10:  # 3 s, longer than the lease (2 s): only the beats keep it
        client.call_endpoint(there.endpoint, "heartbeat", {"instance_id": "tts-1"})
        beats += 1
        assert lookup(), f"expired after {beats} heartbeats"
        time.sleep(0.3)  # the beat's pace (an agent's interval), not a wait for anything
    wait_until(lambda: not lookup(), 5.0, what="Tts expired with its lease")
    with pytest.raises(RemoteError) as info:
        client.call_endpoint(there.endpoint, "heartbeat", {"instance_id": "tts-1"})
    assert info.value.code == "not_found"  # the agent's link registers again on this


def test_registry_unavailable_while_etcd_is_gone_then_recovery(
        etcd, registries, agents, client_factory):
    here, there = registries
    agents(EchoAgent("Echo", "tcp://127.0.12.1:0", registry=here.endpoint,
                     heartbeat_interval_s=INTERVAL_S))
    client = client_factory()
    wait_until(lambda: client.call_endpoint(there.endpoint, "lookup", {"name": "Echo"}), 5.0)
    etcd.close()
    wait_until(lambda: client.call_endpoint(there.endpoint, "info")["etcd"] == "unavailable",
               5.0, what="registry unavailable")
    health = client.call_endpoint(there.endpoint, "health")
    assert "registry unavailable" in str(health)
    assert client.call_endpoint(there.endpoint, "lookup", {"name": "Echo"})  # cached peers
    with pytest.raises(RemoteError, match="registry unavailable") as info:
        client.call_endpoint(there.endpoint, "register", _record("Late", "late-1", 9301))
    assert info.value.code == "unavailable"
    etcd.restart(0)
    wait_until(lambda: client.call_endpoint(there.endpoint, "info")["etcd"] == "available",
               10.0, what="registry available again")
    client.call_endpoint(there.endpoint, "register", _record("Late", "late-1", 9301))
    wait_until(lambda: client.call_endpoint(here.endpoint, "lookup", {"name": "Echo"})
               and client.call_endpoint(here.endpoint, "lookup", {"name": "Late"}), 5.0,
               what="Echo still registered and Late registered after recovery")
