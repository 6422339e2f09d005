"""Real processes: a kill -9'd holder is reclaimed within a heartbeat timeout; an eviction makes
the holder really unload its torch weights (its RSS drops); requests for a model still waiting
for its lease are answered once it is in, and one whose deadline passes first is told why;
``mesh vram`` shows the pool."""

import json
import subprocess
import sys
import threading
import time

import psutil
import pytest

from common.base_agent.errors import RemoteError
from common.base_agent.heartbeat import HEARTBEAT_LIVENESS
from common.testing.wait import wait_registered, wait_until
from common.vram import LeaseClient
from tests.vram.conftest import manager_settings

pytestmark = pytest.mark.timeout(60)
INTERVAL_S = 0.3
MANAGER = "main_pc.model_manager.agent:ModelManagerAgent"
MODEL = "common.model_agent.agent:TorchModelAgent"


def start_mesh(procs, tmp_path, client_factory):
    reg = procs.registry(str(tmp_path / "reg.db"), interval_s=INTERVAL_S).endpoint
    procs.agent(reg, "ModelManagerAgent", MANAGER, interval_s=INTERVAL_S,
                extra=("--settings", json.dumps(manager_settings())))
    client = LeaseClient(client_factory(reg))
    wait_registered(client.client, "ModelManagerAgent")
    return reg, client


def holder(procs, reg, name, vram_mb, **settings):
    full = {"vram_mb": vram_mb, "weights_scale": 0.001, "keepalive_interval_s": 0.2,
            "hosts": ["pc2"], **settings}
    return procs.agent(reg, name, MODEL, interval_s=INTERVAL_S,
                       extra=("--settings", json.dumps(full)))


def lease_of(client, name):
    found = [le for le in client.status()["leases"] if le["holder"]["name"] == name]
    return found[0] if found and found[0]["state"] == "loaded" else None


@pytest.mark.torch
def test_kill_9_holder_is_reclaimed_within_one_heartbeat_timeout(procs, tmp_path,
                                                                  client_factory):
    reg, client = start_mesh(procs, tmp_path, client_factory)
    victim = holder(procs, reg, "Victim", 3000)
    wait_until(lambda: lease_of(client, "Victim"), 20, 0.05, "Victim loaded")
    killed_at = time.monotonic()
    victim.kill9()
    wait_until(lambda: not client.status()["leases"], 5, 0.02, "lease reclaimed")
    took_s = time.monotonic() - killed_at
    assert took_s <= HEARTBEAT_LIVENESS * INTERVAL_S + 0.3, took_s
    assert client.status()["counters"]["reclaimed"] == 1


@pytest.mark.torch
def test_eviction_really_unloads_the_holders_weights(procs, tmp_path, client_factory):
    reg, client = start_mesh(procs, tmp_path, client_factory)
    low = holder(procs, reg, "Low", 7000, weights_scale=0.03)  # 210 MB of real tensors
    wait_until(lambda: lease_of(client, "Low"), 20, 0.05, "Low loaded")
    rss_loaded = psutil.Process(low.pid).memory_info().rss
    holder(procs, reg, "High", 6000, priority=5)
    wait_until(lambda: lease_of(client, "High"), 20, 0.05, "High loaded after eviction")
    assert lease_of(client, "Low") is None
    status = client.client.call("Low", "model_status")
    assert status["state"] == "unloaded" and status["param_bytes"] == 0
    rss_after = psutil.Process(low.pid).memory_info().rss
    assert rss_loaded - rss_after >= 150 << 20, (rss_loaded >> 20, rss_after >> 20)


@pytest.mark.torch
def test_requests_for_a_model_waiting_for_its_lease_are_answered_once_it_is_in(
        procs, tmp_path, client_factory):
    reg, client = start_mesh(procs, tmp_path, client_factory)
    client.holder = {"name": "blocker"}  # no endpoint: nobody to evict, the model must wait
    blocker = client.acquire("blocker", 11000, hosts=["pc2"])
    holder(procs, reg, "Swapped", 3000, autoload=False)
    wait_registered(client.client, "Swapped")
    answers: dict[int, float] = {}

    def ask(seed: int) -> None:
        caller = client_factory(reg)
        answers[seed] = caller.call("Swapped", "infer", {"seed": seed, "deadline_s": 15.0},
                                    timeout_s=20, retries=0)["output"]

    threads = [threading.Thread(target=ask, args=(seed,)) for seed in range(3)]
    for thread in threads:
        thread.start()
    with pytest.raises(RemoteError, match="deadline: deadline 0.5 s passed: Swapped is still "
                       r"waiting for its VRAM lease \(queued at position 0: waiting_for_room"):
        client.client.call("Swapped", "infer", {"seed": 9, "deadline_s": 0.5}, retries=0)
    wait_until(lambda: client.client.call("Swapped", "model_status")["waiting"] == 3, 5, 0.05,
               "three requests waiting")
    client.release(blocker["lease_id"])
    for thread in threads:
        thread.join(20)
    assert sorted(answers) == [0, 1, 2]
    assert answers[1] == client.client.call("Swapped", "infer", {"seed": 1})["output"]
    status = client.client.call("Swapped", "model_status")
    assert status["state"] == "ready" and status["waiting"] == 0 and status["load_s"] > 0


def test_mesh_vram_prints_the_pool(procs, tmp_path, client_factory):
    reg, client = start_mesh(procs, tmp_path, client_factory)
    client.holder = {"name": "cli-test"}
    client.acquire("suite", 6450, hosts=["main_pc"], pinned=True)
    client.acquire("waits", 20000, hosts=["main_pc"], deadline_s=90)
    base = [sys.executable, "-m", "common.cli.main", "vram", "--registry", reg]
    out = subprocess.run([*base, "--json"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["gpus"][0]["committed_mb"] == 6450 and data["leases"][0]["pinned"]
    queued = data["queue"][0]
    assert queued["model"] == "waits" and 0 < queued["deadline_in_s"] <= 90 - queued["waited_s"]
    table = subprocess.run(base, capture_output=True, text=True, timeout=30,
                           env={"COLUMNS": "200", "PATH": ""})
    assert table.returncode == 0 and "suite" in table.stdout and "RTX 3060" in table.stdout
    assert "1 queued" in table.stdout and "deadline in s" in table.stdout
    bad = subprocess.run([*base[:-2], "--registry", reg, "--manager-name", "Nobody",
                          "--timeout", "0.3"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 1 and "Nobody" in bad.stderr
