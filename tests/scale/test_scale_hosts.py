"""Four hosts, not two names: the VRAM pool places on any host's GPU, the config and host plan
take any number of hosts."""

from __future__ import annotations

import os

import yaml

from common.config import load_config
from common.launcher import HostPlan
from common.testing.loopback_hosts import host_names, n_host_config
from common.testing.wait import wait_registered
from common.vram import LeaseClient
from main_pc.model_manager import ModelManagerAgent

GPUS = {"main_pc": 24000, "pc2": 12000, "pc3": 48000, "pc4": 16000}


def _gpu(vram_mb):
    return {"gpu": {"backend": "simulated", "devices": [{"name": f"GPU{vram_mb}",
                                                         "vram_mb": vram_mb}]}}


def test_vram_pool_places_on_the_gpus_of_four_hosts(agents, registry, client_factory):
    mgr = agents(ModelManagerAgent("ModelManagerAgent", registry=registry.endpoint,
                                   heartbeat_interval_s=0.2, settings={
                                       "hosts": {h: _gpu(mb) for h, mb in GPUS.items()},
                                       "reserve_mb": 0, "load_grace_s": 0.0}))
    assert [s.gpu for s in mgr.pool.slots] == ["main_pc:0", "pc2:0", "pc3:0", "pc4:0"]
    wait_registered(client_factory(registry.endpoint), "ModelManagerAgent")
    client = LeaseClient(client_factory(registry.endpoint),
                         holder={"name": "Big", "instance_id": "big-1", "host": "pc3"})
    big = client.acquire("big-model", 40000)  # fits pc3's 48 GB only
    assert big["status"] == "granted" and big["gpu"] == "pc3:0"
    pinned = client.acquire("small-model", 1000, hosts=["pc4"])
    assert pinned["status"] == "granted" and pinned["gpu"] == "pc4:0"
    gpus = {g["gpu"]: g for g in client.status()["gpus"]}
    assert set(gpus) == {"main_pc:0", "pc2:0", "pc3:0", "pc4:0"}


def test_a_four_host_config_plans_every_host(tmp_path):
    path = tmp_path / "mesh.yaml"
    path.write_text(yaml.safe_dump(n_host_config(tmp_path, 4, 8, prefix="127.0.13")))
    config = load_config(path)
    plans = {h: HostPlan(config, h) for h in host_names(4)}
    assert {h: len(p.agents) for h, p in plans.items()} == {
        "main_pc": 4, "pc2": 3, "pc3": 2, "pc4": 2}
    assert plans["pc4"].launcher_endpoint().startswith("tcp://127.0.13.4:")
    # every host's agents report to both hubs, their own host's first where it has one
    assert plans["pc2"].hub_endpoints[0].startswith("tcp://127.0.13.2:")
    assert len(plans["pc4"].hub_endpoints) == 2
    hub = next(a for a in config.agents if a.name == "ObservabilityHub")
    derived = plans["main_pc"].derived(hub)
    assert set(derived["hosts"].values()) == set(host_names(4))
    assert set(derived["launchers"]) == set(host_names(4))


def test_a_launcher_removes_the_stamp_files_of_its_dead_predecessors(tmp_path):
    import subprocess
    import sys

    from common.launcher import stamps

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True, timeout=30)
    dead = tmp_path / f"agentmesh-hx-{gone.stdout.strip()}.stamps"  # its launcher was SIGKILLed
    live = tmp_path / f"agentmesh-hx-{os.getppid()}.stamps"  # another launcher, running
    dead.write_bytes(b"\0" * 8)
    live.write_bytes(b"\0" * 8)
    stamps._remove_orphans(tmp_path, "hx")
    assert not dead.exists() and live.exists()
