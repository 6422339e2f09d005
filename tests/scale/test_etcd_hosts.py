"""Acceptance of the registry and leaders on etcd (issue #16): four hosts in network
namespaces on one bridge, a 3-member etcd cluster on three of them, and a mesh across all four
from one config with ``registry: {backend: etcd}``, each host started by its own ``mesh up``.

Then, as the issue asks: one host partitioned away (its side holds no leadership; healed, no
duplicates), one whole host killed with its etcd member (lookups keep answering, the central
hub role moves within 3 s, no live agent's registration lost), and every etcd member stopped
(``registry unavailable``, cached peers still served, recovery when etcd returns).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.testing.etcd import EtcdCluster, etcd_unavailable_reason
from common.testing.nhosts import NHosts
from common.testing.wait import wait_until

REASON = NHosts.unavailable_reason() or etcd_unavailable_reason()
pytestmark = [pytest.mark.skipif(REASON is not None, reason=REASON or ""),
              pytest.mark.slow, pytest.mark.timeout(150)]

HOSTS = ("h0", "h1", "h2", "h3")
ETCD_HOSTS = 3  # members on h0..h2
ETCD_PORTS = (23790, 23800)
MOVE_S = 3.0
MANAGERS = ("ModelManager", "ModelManagerStandby")  # the first one's name is the service's


def mesh_config(net: NHosts, workdir: Path) -> dict:
    """Every host: a registry agent, an edge hub (h0's is the central one by config; by
    election with etcd), an echo agent; a model manager on h0 and a standby on h1; the
    registry on the etcd of h0..h2."""
    hosts, agents = {}, []
    for i, host in enumerate(HOSTS):
        roles = ["registry", "hub_central" if i == 0 else "hub_edge"]
        hosts[host] = {"address": net.addresses[i], "roles": roles}
        if i < 2:
            hosts[host]["roles"].append("model_manager")
            hosts[host]["gpu"] = {"backend": "simulated",
                                  "devices": [{"name": f"GPU{i}", "vram_mb": 8000}]}
            agents.append({"name": MANAGERS[i], "host": host, "service": "model_manager",
                           "module": "main_pc.model_manager.agent:ModelManagerAgent",
                           "port": 7500 + i})
        agents += [
            {"name": f"Registry{i}", "host": host, "service": "registry",
             "module": "service_registry.etcd_agent:EtcdRegistry", "port": 7200 + i,
             "ports": {"events_port": 8200 + i}},
            {"name": f"Hub{i}", "host": host, "service": "hub",
             "module": "observability_hub.hub:ObservabilityHub", "port": 9001 + 10 * i,
             "ports": {"http_port": 9000 + 10 * i}},
            {"name": f"Echo{i}", "host": host, "module": "common.testing.agents:EchoAgent",
             "port": 7400 + i},
        ]
    return {"version": 1,
            "global": {"heartbeat_interval_s": 0.5, "stop_timeout_s": 3,
                       "log_dir": str(workdir / "logs"),
                       "health": {"interval_s": 0.5, "timeout_s": 0.5, "retries": 2,
                                  "start_period_s": 20}},
            "registry": {"backend": "etcd", "timeout_s": 0.5,
                         "endpoints": [f"http://{a}:{ETCD_PORTS[0]}"
                                       for a in net.addresses[:ETCD_HOSTS]]},
            "hosts": hosts, "agents": agents}


class Mesh:
    def __init__(self, net: NHosts, etcd: EtcdCluster, procs, workdir: Path) -> None:
        self.net, self.etcd, self.procs, self.workdir = net, etcd, procs, workdir
        self.config = mesh_config(net, workdir)
        self.path = workdir / "mesh.yaml"
        self.path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        self.client = Client(source="test")
        self.agents = {a["name"]: a for a in self.config["agents"]}

    def up(self, index: int) -> None:
        folder = self.workdir / HOSTS[index]
        folder.mkdir(exist_ok=True)
        self.procs.mesh("up", "--host", HOSTS[index], "--config", str(self.path),
                        "--run-dir", str(folder / "run"), ready=False,
                        prefix=self.net.prefix(index), cwd=str(folder))

    def endpoint(self, name: str) -> str:
        agent = self.agents[name]
        address = self.net.addresses[HOSTS.index(agent["host"])]
        return f"tcp://{address}:{agent['port']}"

    def call(self, name: str, action: str, payload=None):
        try:
            return self.client.call_endpoint(self.endpoint(name), action, payload,
                                             timeout_s=0.5, retries=0, peer=name)
        except MeshError:
            return None

    def names(self, registry: str) -> list[str] | None:
        found = self.call(registry, "list")
        return None if found is None else sorted(r["name"] for r in found)

    def active_hubs(self, hosts=(0, 1, 2, 3)) -> list[str]:
        hubs = [f"Hub{i}" for i in hosts]
        return [h for h in hubs if (self.call(h, "hub_info") or {}).get("active")]


@pytest.fixture
def mesh(procs, tmp_path):
    with NHosts(len(HOSTS)) as net:
        prefixes = [net.prefix(i) for i in range(ETCD_HOSTS)]
        with EtcdCluster(tmp_path / "etcd", net.addresses[:ETCD_HOSTS], ETCD_PORTS,
                         prefixes) as etcd:
            run = Mesh(net, etcd, procs, tmp_path)
            try:
                yield run
            finally:
                run.client.close()


def _all_registered(mesh: Mesh, registry: str, hosts) -> bool:
    want = {f"{kind}{i}" for i in hosts for kind in ("Registry", "Hub", "Echo")}
    names = mesh.names(registry)
    return names is not None and want <= set(names) and len(names) == len(set(names))


def test_four_hosts_on_etcd_survive_partition_host_loss_and_etcd_outage(mesh):
    mesh.up(0)  # first: h0 wins both elections, so that killing it moves both roles
    wait_until(lambda: mesh.active_hubs([0]) and _manager(mesh, 0).get("active"), 30,
               interval_s=0.1, what="h0's hub and model manager elected")
    for i in range(1, len(HOSTS)):
        mesh.up(i)
    wait_until(lambda: all(_all_registered(mesh, f"Registry{i}", range(4)) for i in range(4)),
               60, interval_s=0.2, what="all four hosts registered, seen by every host")
    assert mesh.active_hubs() == ["Hub0"] and not _manager(mesh, 1).get("active")
    wait_until(lambda: _central_sees(mesh, "Hub0", range(4)), 20, interval_s=0.2,
               what="the central hub sees every agent of every host passing")
    lease = mesh.client.call_endpoint(mesh.endpoint(MANAGERS[0]), "acquire",
                                      {"model": "m", "vram_mb": 1000, "hosts": ["h1"]},
                                      timeout_s=2)
    assert lease["state"] == "granted"
    _kill_host(mesh, 0, lease["lease_id"])
    _partition(mesh, lease["lease_id"])
    _etcd_outage(mesh)


def _partition(mesh: Mesh, lease_id: str) -> None:
    """h1 (the active model manager's host since h0 died) alone on one side: nothing there
    leads; the other side has one central hub and h0's model manager takes over with the
    lease.  Healed: one leader per role, one registration per agent."""
    cut, others = 1, [0, 2, 3]
    mesh.net.isolate(cut)
    started = time.monotonic()
    wait_until(lambda: _manager(mesh, 0).get("active"), MOVE_S + 1, interval_s=0.05,
               what="h0's model manager active on the majority side")
    moved_s = time.monotonic() - started
    assert mesh.call(MANAGERS[0], "lease", {"lease_id": lease_id})["state"] == "granted"
    assert len(wait_until(lambda: mesh.active_hubs(others), MOVE_S + 1, interval_s=0.05,
                          what="a central hub on the majority side")) == 1
    observer = _in_namespace(mesh, cut)

    def cut_side(name: str, action: str) -> dict:
        try:
            return observer.call_endpoint(mesh.endpoint(name), action, timeout_s=0.5,
                                          retries=0)
        except MeshError:
            return {}  # restarting: a manager that lost its election restarts as a standby

    try:
        wait_until(lambda: not cut_side("Hub1", "hub_info").get("active")
                   and not cut_side(MANAGERS[1], "status").get("active"), 3.0,
                   what="no leadership on the cut-off side")
        wait_until(lambda: cut_side("Registry1", "info").get("etcd") == "unavailable", 5.0,
                   what="the cut-off registry agent: registry unavailable (no quorum)")
    finally:
        observer.close()
    mesh.net.isolate(cut, cut=False)
    wait_until(lambda: all(_all_registered(mesh, f"Registry{i}", range(4)) for i in range(4)),
               15, interval_s=0.2, what="healed: every agent registered once, on every host")
    assert len(mesh.active_hubs()) == 1
    assert [bool(_manager(mesh, i).get("active")) for i in (0, 1)] == [True, False]
    print(f"partition: model manager moved to the majority side in {moved_s:.2f} s")


def _in_namespace(mesh: Mesh, index: int) -> Client:
    return Client(ctx=mesh.net.context(index), source="observer")


def _central_sees(mesh: Mesh, hub: str, hosts) -> bool:
    """The hub's /api/health lists every agent of hosts as passing (their own hubs forward
    their reports to it)."""
    index = int(hub[len("Hub"):])
    url = f"http://{mesh.net.addresses[index]}:{mesh.agents[hub]['ports']['http_port']}"
    try:
        with urllib.request.urlopen(f"{url}/api/health", timeout=1) as reply:
            view = json.loads(reply.read())
    except OSError:
        return False
    states = {a["name"]: a["state"] for a in view["agents"]}
    want = [a["name"] for a in mesh.config["agents"]
            if HOSTS.index(a["host"]) in hosts]
    return all(states.get(name) == "passing" for name in want)


def _manager(mesh: Mesh, index: int) -> dict:
    return mesh.call(MANAGERS[index], "status") or {}


def _kill_host(mesh: Mesh, victim: int, lease_id: str) -> None:
    """h0 dies with its etcd member, its central hub and its active model manager; the
    standby on h1 takes over and has the lease h0 granted.  h0 is started again after."""
    assert victim < ETCD_HOSTS
    live = [i for i in range(len(HOSTS)) if i != victim]
    failures, stop = [], threading.Event()

    def lookups() -> None:
        client = Client(source="lookups")
        try:
            while not stop.is_set():
                for i in live:
                    try:
                        client.call_endpoint(mesh.endpoint(f"Registry{i}"), "lookup",
                                             {"name": f"Echo{live[0]}"}, timeout_s=0.5,
                                             retries=0)
                    except MeshError as exc:
                        failures.append(str(exc))
                stop.wait(0.05)
        finally:
            client.close()

    thread = threading.Thread(target=lookups)
    thread.start()
    try:
        mesh.net.kill(victim)
        killed = time.monotonic()
        new = wait_until(lambda: mesh.active_hubs(live), MOVE_S + 2, interval_s=0.05,
                         what="a new central hub")
        moved_s = time.monotonic() - killed
        wait_until(lambda: (mesh.call(MANAGERS[1], "lease", {"lease_id": lease_id}) or {})
                   .get("state") == "granted", MOVE_S + 2, interval_s=0.05,
                   what="the standby model manager serving h0's lease")
        manager_s = time.monotonic() - killed
        wait_until(lambda: all(_all_registered(mesh, f"Registry{i}", live) for i in live),
                   5, what="every live agent still registered")
        stop.wait(3.0)  # lookups go on past the dead host's leases (2.5 s) running out
    finally:
        stop.set()
        thread.join(5)
    assert not failures, failures[:3]
    assert len(new) == 1
    assert moved_s <= MOVE_S, f"central hub moved after {moved_s:.2f} s"
    assert manager_s <= MOVE_S, f"model manager moved after {manager_s:.2f} s"
    for i in live:
        assert f"Echo{victim}" not in mesh.names(f"Registry{i}")
    wait_until(lambda: _central_sees(mesh, new[0], live), 10, interval_s=0.2,
               what="the new central hub sees every agent of the live hosts passing")
    print(f"host kill: central hub moved in {moved_s:.2f} s, model manager {manager_s:.2f} s")
    found = wait_until(lambda: mesh.call(f"Registry{live[0]}", "lookup", {"name": MANAGERS[0]}),
                       5, what="the service's name on the new model manager")
    assert [r["endpoint"] for r in found] == [mesh.endpoint(MANAGERS[1])]
    mesh.etcd.restart(victim)
    mesh.up(victim)
    wait_until(lambda: all(_all_registered(mesh, f"Registry{i}", range(4)) for i in range(4)),
               40, interval_s=0.2, what="the killed host back")


def _etcd_outage(mesh: Mesh) -> None:
    mesh.etcd.close()
    for i in range(len(HOSTS)):
        wait_until(lambda i=i: (mesh.call(f"Registry{i}", "info") or {}).get("etcd")
                   == "unavailable", 5, what=f"Registry{i} says registry unavailable")
        health = mesh.call(f"Registry{i}", "health")
        assert "registry unavailable" in str(health)
        assert _all_registered(mesh, f"Registry{i}", range(4))  # cached peers served
    assert mesh.call("Echo1", "echo", "still") == "still"
    for i in range(ETCD_HOSTS):
        mesh.etcd.restart(i)
    for i in range(len(HOSTS)):
        wait_until(lambda i=i: (mesh.call(f"Registry{i}", "info") or {}).get("etcd")
                   == "available", 15, what=f"Registry{i} recovered")
    wait_until(lambda: all(_all_registered(mesh, f"Registry{i}", range(4)) for i in range(4))
               and len(mesh.active_hubs()) == 1, 15, interval_s=0.2,
               what="everything registered and one central hub after the outage")
