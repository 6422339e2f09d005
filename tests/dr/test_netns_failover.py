"""Host failover in network namespaces (one mesh, to keep CI short): a partition starts no
second copy of PC2's failover store; then PC2 lost: the store answers on MainPC within 5 s
with the data it had (no older than the shipping bound); PC2 back: it goes home, with what
was written meanwhile, and runs exactly once."""

import json
import subprocess
import sys
import time

import psutil
import pytest

from common.testing.drmesh import STORE, NsMesh
from common.testing.netns import TwoHosts
from common.testing.wait import wait_until

REASON = TwoHosts.unavailable_reason()
pytestmark = [pytest.mark.slow, pytest.mark.timeout(120),
              pytest.mark.skipif(REASON is not None, reason=REASON or "")]
GUEST = f"{STORE}@failover"


def ready(mesh, host, key):
    agent = mesh.agents(host).get(key)
    return agent if agent and agent["ready"] else None


def started(mesh):
    mesh.up(0)
    mesh.up(1)
    wait_until(lambda: ready(mesh, "pc2", STORE) and ready(mesh, "pc2", "Echo"), 40,
               interval_s=0.2, what="the store running on PC2")


def shipped_after(mesh, t):
    status = mesh.ask("main_pc", "failover_status") or {}
    return status.get("received", {}).get(STORE, 0.0) >= t


def test_partition_then_pc2_lost_store_moves_with_its_data_and_runs_once(tmp_path):
    with TwoHosts() as net:
        mesh = NsMesh(net, tmp_path)
        try:
            started(mesh)
            _partition_runs_the_store_on_one_side_at_a_time(mesh, net)
            mesh.client.call(STORE, "store", {"text": "before the loss", "key": "k1"},
                             idempotent=False)
            written = time.time()
            wait_until(lambda: shipped_after(mesh, written), 10, interval_s=0.1,
                       what="a copy taken after the write shipped to MainPC")
            mesh.kill_host(1)
            net.remove(1)
            lost = time.monotonic()
            got = wait_until(lambda: _get(mesh, "k1"), 15, interval_s=0.1,
                             what="the store answering on MainPC")
            rto = time.monotonic() - lost
            assert got["text"] == "before the loss"
            assert rto <= 5.0, f"store answered {rto:.2f} s after PC2 was lost"
            print(f"store on MainPC {rto:.2f} s after PC2 was lost")
            wait_until(lambda: ready(mesh, "main_pc", GUEST), 10, interval_s=0.1,
                       what="MainPC's launcher sees its guest ready")
            mesh.client.call(STORE, "store", {"text": "while away", "key": "k2"},
                             idempotent=False)
            shown = subprocess.run([*net.prefix(0), sys.executable, "-m", "common.cli.main",
                                    "failover", "status", "--json", "--config", "mesh.yaml"],
                                   cwd=mesh.folders["main_pc"], capture_output=True,
                                   text=True, timeout=30)
            main = next(h for h in json.loads(shown.stdout)["hosts"] if h["host"] == "main_pc")
            assert main["guests"] == {STORE: "running"} and STORE in main["received"], main

            net.restore(1)
            mesh.up(1)
            wait_until(lambda: ready(mesh, "pc2", STORE) and GUEST not in
                       mesh.agents("main_pc"), 40, interval_s=0.2, what="the store back home")
            mesh.client.invalidate()
            assert _get(mesh, "k2")["text"] == "while away"  # shipped home before it moved
            found = mesh.client.call_registry("lookup", {"name": STORE})
            assert len(found) == 1 and net.addresses[1] in found[0]["endpoint"], found
        finally:
            mesh.down()
            mesh.close()


def _partition_runs_the_store_on_one_side_at_a_time(mesh, net):
    """A cut cable, both hosts alive: PC2 fences its store before MainPC starts it (never
    both), and when the cable is back it goes home and runs once."""
    home = psutil.Process(mesh.agents("pc2")[STORE]["pid"])
    net.link(False)
    wait_until(lambda: not home.is_running(), 10, interval_s=0.02,
               what="PC2 fences its store")
    fenced_at = time.time()
    guest = wait_until(lambda: ready(mesh, "main_pc", GUEST), 15, interval_s=0.1,
                       what="MainPC runs the store")
    assert psutil.Process(guest["pid"]).create_time() > fenced_at  # never both
    net.link(True)
    wait_until(lambda: ready(mesh, "pc2", STORE) and GUEST not in mesh.agents("main_pc"),
               40, interval_s=0.2, what="the store back home")
    found = mesh.client.call_registry("lookup", {"name": STORE})
    assert len(found) == 1 and net.addresses[1] in found[0]["endpoint"], found


def _get(mesh, key):
    try:
        mesh.client.invalidate(STORE)
        return mesh.client.call(STORE, "get", {"key": key}, timeout_s=0.5, retries=0)
    except Exception:  # noqa: BLE001 - not answering yet
        return None
