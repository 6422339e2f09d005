"""Batched liveness on a real three-host mesh (loopback 127.0.13.x): each launcher speaks for
its agents to the registry and hub, and crash and hang detection keep their bounds.  Probes
go every 5 s here, ten heartbeat intervals: between them only the agents' liveness stamps
keep them fresh at the registry and hub, and a stale stamp brings the next probe forward."""

from __future__ import annotations

import os
import signal
import time

import pytest

from common.base_agent.client import Client
from common.base_agent.protocol import ACTION_HEALTH, ACTION_LIST
from common.hub.protocol import ACTION_SNAPSHOT
from common.testing.loopback_hosts import host_names, n_host_config
from common.testing.mesh import MeshRun
from common.testing.wait import wait_until

INTERVAL_S = 0.5
PROBE_S = 5.0
HOSTS = tuple(host_names(3))


def _endpoint(config, name):
    agent = next(a for a in config["agents"] if a["name"] == name)
    return f"tcp://{config['hosts'][agent['host']]['address']}:{agent['port']}"


def _view(client, config):
    return {a["name"]: a for a in client.call_endpoint(
        _endpoint(config, "ObservabilityHub"), ACTION_SNAPSHOT, timeout_s=2.0)["agents"]}


def _detect(client, config, name, pid, sig):
    """Seconds from sig to the central hub showing name critical (or restarted)."""
    before = _view(client, config)[name]["restarts"]
    t0 = time.monotonic()
    os.kill(pid, sig)
    wait_until(lambda: (lambda a: a["state"] == "critical" or a["restarts"] > before)(
        _view(client, config)[name]), 10, interval_s=0.02, what=f"{name} critical")
    return time.monotonic() - t0


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_three_hosts_batched_liveness_keeps_detection_bounds(procs, tmp_path):
    config = n_host_config(tmp_path, 3, 9, prefix="127.0.13", interval_s=INTERVAL_S,
                           probe_s=PROBE_S)
    run = MeshRun(procs, tmp_path, config)
    client = Client(source="test")
    try:
        launchers = {host: run.up(host) for host in HOSTS}  # `mesh up --host NAME` each
        agents = run.wait_ready(HOSTS, timeout_s=40)
        names = [a["name"] for a in config["agents"]]
        # the central hub tracks every agent of the three hosts, each on its own host
        view = wait_until(lambda: (lambda v: v if all(v.get(n, {}).get("state") == "passing"
                                                        for n in names) else None)(
            _view(client, config)), 20, what="every agent passing at the central hub")
        hosts = {a["name"]: a["host"] for a in config["agents"]}
        assert {n: view[n]["host"] for n in names} == hosts
        assert {a["host"] for a in config["agents"]} == set(HOSTS)
        hub_hosts = client.call_endpoint(_endpoint(config, "ObservabilityHub"), ACTION_SNAPSHOT,
                                         timeout_s=2.0)["hosts"]
        assert [h["name"] for h in hub_hosts] == sorted(HOSTS)
        # the agents send no heartbeats of their own: their launcher speaks for them
        health = client.call_endpoint(_endpoint(config, "Echo002"), ACTION_HEALTH,
                                      timeout_s=2.0)
        checks = {c["name"]: c["detail"] for c in health["checks"]}
        assert checks == {"registry": "registered (its launcher beats for it)",
                          "hub": "reported by its launcher"}
        time.sleep(PROBE_S)  # a whole probe interval: stamps alone speak for the agents
        listed = client.call_endpoint(_endpoint(config, "ServiceRegistry"), ACTION_LIST,
                                      timeout_s=2.0)
        echoes = {r["name"]: r for r in listed if r["name"].startswith("Echo")}
        assert len(echoes) == 9
        assert max(r["heartbeat_age_s"] for r in echoes.values()) < 2.5 * INTERVAL_S
        view = _view(client, config)
        assert all(view[n]["state"] == "passing" for n in names), view
        # crash: the launcher's exit event (hub critical, or already restarted) in 0.5 s, and
        # the registry drops the instance at once (its expiry would take 2.5 intervals)
        on_pc3 = [n for n in names if hosts[n] == "pc3"]
        crashed = echoes[on_pc3[0]]["instance_id"]
        t_crash = time.monotonic()
        crash_s = _detect(client, config, on_pc3[0], agents[on_pc3[0]]["pid"], signal.SIGKILL)
        assert crash_s <= 0.5, crash_s
        wait_until(lambda: crashed not in {r["instance_id"] for r in client.call_endpoint(
            _endpoint(config, "ServiceRegistry"), ACTION_LIST, timeout_s=2.0)}, 5,
            interval_s=0.02, what="the crashed instance out of the registry")
        gone_s = time.monotonic() - t_crash
        assert gone_s < 1.2 * INTERVAL_S, gone_s  # expiry: 2.5 intervals after its last beat,
        # which was at most one interval before the kill
        print(f"crash at the hub {crash_s:.3f} s, out of the registry {gone_s:.3f} s")
        # forgotten, as after a partition that outlasted its expiry: the launcher's next batch
        # hears the registry does not know it, probes it at once (not in PROBE_S), and it
        # registers again at once (not at its next beat)
        forgotten = echoes[next(n for n in echoes if hosts[n] == "pc2")]
        registry = _endpoint(config, "ServiceRegistry")
        t_forgot = time.monotonic()
        client.call_endpoint(registry, "deregister", {"instance_id": forgotten["instance_id"]},
                             timeout_s=2.0)
        wait_until(lambda: forgotten["instance_id"] in {r["instance_id"] for r in
                                                        client.call_endpoint(
                   registry, ACTION_LIST, timeout_s=2.0)}, 10, interval_s=0.02,
                   what="the forgotten agent registered again")
        again_s = time.monotonic() - t_forgot
        print(f"registered again {again_s:.3f} s after the registry forgot it")
        assert again_s < 2 * INTERVAL_S, again_s  # the next batch, then at once
        # hang: silent in the batches; the hub says critical within 3 intervals
        hung = on_pc3[1]
        t_hang = time.time()
        hang_s = _detect(client, config, hung, agents[hung]["pid"], signal.SIGSTOP)
        assert hang_s <= 3 * INTERVAL_S + 0.1, hang_s
        # the stale stamp (seen within two intervals) brought its probe forward: killed as
        # hung after 3 failed probes of 0.5 s, not after the next 5 s probe
        hung_at = wait_until(lambda: next((e["ts"] for e in (run.status("pc3") or {}).get(
            "events", []) if e["event"] == "hung" and e["agent"] == hung), None), 10,
            what="the hung agent killed")
        assert hung_at - t_hang <= 2 * INTERVAL_S + 3 * INTERVAL_S + 0.5, hung_at - t_hang
        # a stuck launcher vouches for nobody: its agents beat on their own, none expires
        run.wait(("pc3",), lambda a: all(x["ready"] for x in a.values()), timeout_s=10,
                 what="pc3's agents ready again")

        def pc3_instances():
            listed = client.call_endpoint(_endpoint(config, "ServiceRegistry"), ACTION_LIST,
                                          timeout_s=2.0)
            return {r["name"]: (r["instance_id"], r["registered_at"]) for r in listed
                    if r["name"] in on_pc3}

        before = wait_until(lambda: (lambda i: i if len(i) == len(on_pc3) else None)(
            pc3_instances()), 10, what="pc3's agents registered")
        launchers["pc3"].signal(signal.SIGSTOP)
        try:
            time.sleep(6 * INTERVAL_S)  # the registry expires a silent instance after 2.5
            assert pc3_instances() == before  # none expired (nor registered again)
        finally:
            launchers["pc3"].signal(signal.SIGCONT)
    finally:
        client.close()
        run.close()
