"""MainPC lost, in network namespaces: the registry replica on PC2 takes over.

Two namespaces joined by a veth pair; each host its own folder and `mesh up` (common.testing.
drmesh: the registry primary on MainPC, the replica on PC2, PC2's agents).  MainPC's processes
are killed and its namespace deleted (a machine that lost power): within 5 s the replica is
active and PC2's agents still resolve each other afresh, past every TTL.  MainPC comes back
(`mesh up --host main_pc` on its old state): its registry goes passive, one registry is
active, and every live registration is there exactly once.
"""

import time

import pytest

from common.testing.drmesh import NsMesh
from common.testing.netns import TwoHosts
from common.testing.wait import wait_until

REASON = TwoHosts.unavailable_reason()
pytestmark = [pytest.mark.slow, pytest.mark.timeout(120),
              pytest.mark.skipif(REASON is not None, reason=REASON or "")]


def pair(mesh):
    states = []
    for endpoint in mesh.registries.split(","):
        try:
            info = mesh.client.call_endpoint(endpoint, "info", timeout_s=0.5, retries=0)
            states.append(info["pair"]["state"])
        except Exception:  # noqa: BLE001 - not answering is a state here
            states.append(None)
    return tuple(states)


def listed(mesh, endpoint):
    return sorted(r["name"] for r in mesh.client.call_endpoint(endpoint, "list",
                                                               timeout_s=1.0))


def test_mainpc_lost_replica_serves_pc2_and_mainpc_returns_passive(tmp_path):
    with TwoHosts() as net:
        mesh = NsMesh(net, tmp_path)
        primary, replica = mesh.registries.split(",")
        try:
            mesh.up(0)
            mesh.up(1)
            wait_until(lambda: pair(mesh) == ("active", "passive"), 40, interval_s=0.2,
                       what="the pair settled")
            wait_until(lambda: {"Echo", "Relay", "Memory"} <= set(listed(mesh, replica)), 40,
                       interval_s=0.2, what="the replica mirrors PC2's agents")

            mesh.kill_host(0)
            net.remove(0)
            lost = time.monotonic()
            mesh.observe_from(1)
            wait_until(lambda: pair(mesh)[1] == "active", 10, interval_s=0.05,
                       what="the replica active")
            took_over_s = time.monotonic() - lost
            assert took_over_s <= 5.0, f"replica active after {took_over_s:.2f} s"
            print(f"replica active {took_over_s:.2f} s after MainPC was removed")
            time.sleep(3.0)  # past every TTL: what still resolves is live
            reply = mesh.client.call("Relay", "relay", {"to": "Echo", "action": "echo",
                                                        "payload": 7, "fresh": True},
                                     timeout_s=2.0)
            assert reply == 7
            assert "ServiceRegistry" not in listed(mesh, replica)

            net.restore(0)
            mesh.up(0)
            wait_until(lambda: pair(mesh) == ("passive", "active"), 40, interval_s=0.2,
                       what="MainPC's registry back, passive")
            wait_until(lambda: listed(mesh, primary) == listed(mesh, replica), 10,
                       interval_s=0.1, what="the primary mirrors the replica")
            names = listed(mesh, primary)
            for name in ("Echo", "Relay", "RegistryReplica"):
                assert names.count(name) == 1, names
            wait_until(lambda: mesh.agents("pc2").get("Memory", {}).get("ready"), 20,
                       interval_s=0.2, what="PC2's fenced store running again")
        finally:
            mesh.down()
            mesh.close()
