"""Real gauges reach the hub: the VRAM pool's per-GPU bytes and leases, the registry's size;
and a launcher's process event fails over to the edge hub when the central one is down."""

import pytest
from hub_helpers import FAST_S, free_port, get_json, get_text
from prometheus_client.parser import text_string_to_metric_families

from common.base_agent import protocol
from common.gpu.backend import MIB
from common.hub.client import ProcessEventClient
from common.hub.link import hub_link
from common.testing.wait import wait_registered, wait_until
from common.vram import LeaseClient
from main_pc.model_manager import ModelManagerAgent
from observability_hub.hub import ObservabilityHub
from service_registry import ServiceRegistry
from tests.vram.conftest import manager_settings

pytestmark = pytest.mark.timeout(30)

LEASE_MB = 6000
USED_MB = 5000
# The reporting agents' heartbeat: 1 s gives each report the longest ack deadline (0.5 s), as
# this test shares a loaded machine and, in-process, one GIL with the hub it reports to.
REPORT_S = 1.0
SCRAPE_S = 0.1


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The hub's /metrics as {(sample name, sorted labels): value}."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(get_text(url + "/metrics"))
            for s in family.samples}


@pytest.fixture
def mesh_with_hub(agents, tmp_path):
    """A central hub alone, a registry and a ModelManagerAgent that both report to it."""
    hub = agents(ObservabilityHub("Hub", heartbeat_interval_s=FAST_S,
                                  settings={"http_port": 0, "role": "central"}))
    link = hub_link([hub.endpoint])
    registry = agents(ServiceRegistry(settings={"db_path": str(tmp_path / "registry.db")},
                                      heartbeat_interval_s=REPORT_S, links=[link]))
    manager = agents(ModelManagerAgent("ModelManagerAgent", registry=registry.endpoint,
                                       heartbeat_interval_s=REPORT_S, links=[link],
                                       settings=manager_settings()))
    return hub, registry, manager


def wait_metrics(url: str, want: dict, what: str) -> dict:
    """Scrape until every wanted sample has its value; on timeout, show the difference."""
    last: dict = {}

    def match() -> bool:
        last.clear()
        last.update(scrape(url))
        return all(last.get(key) == value for key, value in want.items())

    try:
        wait_until(match, 15, interval_s=SCRAPE_S, what=what)
    except TimeoutError:
        assert {key: last.get(key) for key in want} == want
        raise
    return last


PC2 = (("gpu", "0"), ("host", "pc2"))
MAIN = (("gpu", "0"), ("host", "main_pc"))
MANAGER = (("agent", "ModelManagerAgent"),)


def test_pool_and_registry_gauges_reach_hub_metrics_and_health(mesh_with_hub, client_factory):
    hub, registry, _ = mesh_with_hub
    client = client_factory(registry.endpoint)
    holder = LeaseClient(client, holder={"name": "GaugeHolder"})
    wait_registered(client, "ModelManagerAgent")
    lease = holder.acquire("gauge-model", LEASE_MB, hosts=["pc2"])
    assert (lease["status"], lease["gpu"]) == ("granted", "pc2:0")
    instances = len(client.call_endpoint(registry.endpoint, protocol.ACTION_LIST, {}))
    assert instances >= 2  # the registry itself and the ModelManagerAgent
    got = wait_metrics(hub.http.url, {
        ("mesh_vram_committed_bytes", PC2): LEASE_MB * MIB,
        ("mesh_vram_total_bytes", PC2): 12000 * MIB,
        ("mesh_vram_committed_bytes", MAIN): 0,
        ("mesh_vram_leases_active", MANAGER): 1,
        ("mesh_vram_evictions_total", MANAGER): 0,
        ("mesh_registry_instances", (("agent", "ServiceRegistry"),)): instances},
        "granted lease and registry size on /metrics")
    assert sum(1 for key in got if key[0] == "mesh_vram_total_bytes") == 2  # no stray GPU
    health = get_json(hub.http.url + "/api/health")
    (gpu,) = next(h for h in health["hosts"] if h["name"] == "pc2")["gpus"]
    assert (gpu["agent"], gpu["gpu"], gpu["committed_bytes"], gpu["total_bytes"]) == (
        "ModelManagerAgent", "0", LEASE_MB * MIB, 12000 * MIB)

    holder.report(lease["lease_id"], USED_MB * MIB)  # loaded: the estimate replaces the ask
    (pc2,) = [g for g in holder.status()["gpus"] if g["gpu"] == "pc2:0"]
    wait_metrics(hub.http.url, {("mesh_vram_used_bytes", PC2): USED_MB * MIB,
                                ("mesh_vram_committed_bytes", PC2): pc2["committed_mb"] * MIB},
                 "reported usage on /metrics")


def test_lease_release_lowers_the_hub_gauges(mesh_with_hub, client_factory):
    hub, registry, _ = mesh_with_hub
    client = client_factory(registry.endpoint)
    holder = LeaseClient(client, holder={"name": "GaugeHolder"})
    wait_registered(client, "ModelManagerAgent")
    lease = holder.acquire("gauge-model", LEASE_MB, hosts=["main_pc"])
    wait_metrics(hub.http.url, {("mesh_vram_committed_bytes", MAIN): LEASE_MB * MIB,
                                ("mesh_vram_leases_active", MANAGER): 1}, "lease on main_pc")
    holder.release(lease["lease_id"])
    wait_metrics(hub.http.url, {("mesh_vram_committed_bytes", MAIN): 0,
                                ("mesh_vram_leases_active", MANAGER): 0}, "lease released")


def _event_seen(hub, agent: str):
    events = get_json(hub.http.url + "/api/health")["events"]
    return next((e for e in events if e["agent"] == agent), None)


def _push_and_check(central_endpoint, edge, zmq_ctx, agent):
    events = ProcessEventClient([central_endpoint, edge.endpoint], "pc2", ctx=zmq_ctx,
                                timeout_s=0.3)
    try:
        assert events.push(agent, 4242, "exited", code=3)
        assert events.index == 1 and not events.queue  # now talking to the edge hub
    finally:
        events.close()
    event = wait_until(lambda: _event_seen(edge, agent), 5, interval_s=0.05,
                       what="event on the edge hub")
    assert (event["event"], event["code"], event["pid"]) == ("exited", 3, 4242)


def test_process_event_fails_over_to_edge_when_central_never_started(agents, zmq_ctx):
    edge = agents(ObservabilityHub("HubE", f"tcp://127.0.0.2:{free_port('127.0.0.2')}",
                                   heartbeat_interval_s=FAST_S, settings={
                                       "role": "edge", "http_port": 0,
                                       "peer": f"tcp://127.0.0.1:{free_port()}"}))
    _push_and_check(f"tcp://127.0.0.1:{free_port()}", edge, zmq_ctx, "NeverCentral")


def test_process_event_fails_over_to_edge_when_central_killed(hub_pair, zmq_ctx):
    central, edge = hub_pair()
    wait_until(lambda: edge.failover.peer_state not in ("", "unknown", "expired"), 5,
               interval_s=0.02, what="edge hears the central hub")
    central.kill()
    _push_and_check(central.endpoint, edge, zmq_ctx, "CentralKilled")
    wait_until(lambda: edge.failover.active, 5, interval_s=0.05,
               what="edge takes over on the launcher's vote")
