"""The ModelManagerAgent over real sockets: lease protocol, model agents, reclaim, metrics."""

import pytest

from common.base_agent.errors import NotFoundError, RemoteError
from common.gpu.probe import GpuProbeAgent, probe_name
from common.model_agent import ModelState, TorchModelAgent
from common.testing.wait import wait_registered, wait_until
from tests.vram.conftest import HOSTS, INTERVAL_S

pytestmark = pytest.mark.timeout(30)


def model_agent(registry, name, vram_mb, **settings):
    return TorchModelAgent(name, registry=registry.endpoint, heartbeat_interval_s=INTERVAL_S,
                           settings={"vram_mb": vram_mb, "weights_scale": 0.001,
                                     "keepalive_interval_s": 0.2, "hosts": ["pc2"],
                                     **settings})


def test_lease_protocol_answers_granted_queued_refused(manager, leases):
    manager()
    client = leases(name="tester")
    wait_registered(client.client, "ModelManagerAgent")
    a = client.acquire("suite", 6450, hosts=["pc2"], pinned=True)
    assert (a["status"], a["gpu"], a["host"], a["gpu_index"]) == ("granted", "pc2:0", "pc2", 0)
    b = client.acquire("tinyllama", 2800, hosts=["pc2", "main_pc"])
    assert b["status"] == "granted" and b["gpu"] == "pc2:0"
    c = client.acquire("nllb", 2400, hosts=["pc2"])
    assert c["status"] == "queued" and c["position"] == 0 and c["reason"]
    refused = client.acquire("nllb", 2400, hosts=["pc2"], wait=False)
    assert (refused["status"], refused["reason"]) == ("refused", "no_room")
    assert client.acquire("x", 99999)["reason"] == "too_large"
    client.touch(a["lease_id"])
    report = client.report(b["lease_id"], 2000 << 20)
    assert report["state"] == "loaded" and report["estimate_mb"] == 2100.0
    assert client.release(b["lease_id"])["state"] == "released"
    assert client.lease(c["lease_id"])["status"] == "granted"
    with pytest.raises(NotFoundError):
        client.keepalive("L999-none")
    with pytest.raises(RemoteError, match="bad_request: payload.vram_mb"):
        client.client.call("ModelManagerAgent", "acquire", {"model": "m", "vram_mb": "big"})
    status = client.status()
    assert [g["gpu"] for g in status["gpus"]] == ["main_pc:0", "pc2:0"]
    pc2 = status["gpus"][1]
    assert pc2["committed_mb"] == 6450 + 2400 and pc2["capacity_mb"] == 12000
    assert {le["model"] for le in status["leases"]} == {"suite", "nllb"}


@pytest.mark.torch
def test_model_agents_evict_load_serve_and_release(manager, agents, registry, leases):
    mgr = manager()
    low = agents(model_agent(registry, "LowModel", 7000))
    wait_until(lambda: low.state is ModelState.READY, 10, what="low loaded")
    high = agents(model_agent(registry, "HighModel", 6000, priority=5))
    wait_until(lambda: high.state is ModelState.READY, 10, what="high loaded after eviction")
    assert low.state is ModelState.UNLOADED and low.model is None
    assert mgr.pool.counters["evictions"] == 1
    client = leases()
    out = client.client.call("HighModel", "infer", {"seed": 3})
    assert out["gpu"] == "pc2:0" and out["output"] == client.client.call(
        "HighModel", "infer", {"seed": 3})["output"]
    with pytest.raises(RemoteError, match="deadline: deadline 0.5 s passed: LowModel is still "
                                          "waiting for its VRAM lease"):  # High holds pc2
        client.client.call("LowModel", "infer", {"seed": 1, "deadline_s": 0.5}, retries=0)
    status = client.status()
    assert [(le["holder"]["name"], le["state"]) for le in status["leases"]] == [
        ("HighModel", "loaded")]
    assert status["gpus"][1]["used_mb"] == pytest.approx(6000, rel=0.05)  # reported use


@pytest.mark.torch
def test_graceful_stop_releases_and_a_silent_holder_is_reclaimed(manager, agents, registry,
                                                                 leases):
    mgr = manager()
    holder = agents(model_agent(registry, "Polite", 3000))
    wait_until(lambda: holder.state is ModelState.READY, 10, what="loaded")
    holder.stop()
    wait_until(lambda: not mgr.pool.leases, 5, what="lease released at stop")
    assert mgr.pool.counters["released"] == 1
    client = leases(name="Silent", instance_id="silent-1", endpoint="tcp://127.0.0.1:9")
    client.client.call_endpoint(registry.endpoint, "register", {
        "name": "Silent", "instance_id": "silent-1", "endpoint": "tcp://127.0.0.1:9",
        "host": "127.0.0.1", "pid": 1, "heartbeat_interval_s": INTERVAL_S})
    lease = client.acquire("m", 100)
    # it never heartbeats: the registry expires it, the manager reclaims its lease
    wait_until(lambda: mgr.pool.counters["reclaimed"] == 1, 5, what="lease reclaimed")
    assert client.lease(lease["lease_id"])["state"] == "reclaimed"
    other = leases(name="x", instance_id="x-1", host="pc2", pid=4321)
    second = other.acquire("m", 100)
    assert other.holder_exited(host="pc2", pid=4321) == [second["lease_id"]]
    assert other.lease(second["lease_id"])["state"] == "reclaimed"


def test_metrics_for_the_hub(manager, leases):
    mgr = manager()
    client = leases()
    wait_registered(client.client, "ModelManagerAgent")
    lease = client.acquire("m", 1000, hosts=["main_pc"])
    client.report(lease["lease_id"], 1200 << 20)
    reg = mgr.metrics.registry
    gpu = {"gpu": "main_pc:0"}
    assert reg.get_sample_value("mesh_vram_capacity_bytes", gpu) == 24000 << 20
    assert reg.get_sample_value("mesh_vram_committed_bytes", gpu) == 1200 << 20
    assert reg.get_sample_value("mesh_vram_used_bytes", gpu) == 1200 << 20
    assert reg.get_sample_value("mesh_vram_leases", gpu) == 1
    assert reg.get_sample_value("mesh_vram_overuse_events_total") == 1
    assert reg.get_sample_value("mesh_vram_evictions_total") == 0
    assert reg.get_sample_value("mesh_vram_queue_wait_seconds_count") == 1


def test_another_hosts_gpus_are_read_through_its_probe(agents, registry, leases):
    from main_pc.model_manager import ModelManagerAgent

    agents(GpuProbeAgent(probe_name("pc2"), registry=registry.endpoint,
                         heartbeat_interval_s=INTERVAL_S,
                         settings={"gpu": HOSTS["pc2"]["gpu"]}))
    hosts = {"main_pc": HOSTS["main_pc"], "pc2": {"gpu": {"backend": "nvml"}}}
    mgr = agents(ModelManagerAgent("ModelManagerAgent", registry=registry.endpoint,
                                   heartbeat_interval_s=INTERVAL_S, settings={"hosts": hosts}))
    assert [(s.gpu, s.name) for s in mgr.pool.slots] == [("main_pc:0", "RTX 4090"),
                                                          ("pc2:0", "RTX 3060")]
    assert mgr.gpus.backends["pc2"].kind == "probe"
