"""Canary migrations on a real mesh: traffic steps judged on real requests, decisions
journaled and shown, a multi-agent change applied whole or not at all, the hub keyed by
instance."""

import json
import os
import subprocess
import sys

import pytest

from common.base_agent.errors import RemoteError
from common.cli.hub_cmd import _health_table
from common.hub.report import build_report
from common.testing.agents import EchoAgent
from common.testing.mesh import MeshRun, free_ports, two_host_config
from common.testing.migrate import GATES, PROBE, TUNABLE, Load, Migrate, registry_endpoint
from observability_hub.aggregate import Aggregator


@pytest.mark.slow
def test_good_change_steps_traffic_and_journals_each_decision(worker_mesh, ports):
    run, migrate = worker_mesh
    load = Load(registry_endpoint(run))
    load.thread.start()
    path = migrate.change([{"agent": "Worker", "settings": {"greeting": "v2"}, "port": ports[2],
                            "bake_s": 3, "gates": GATES, "probe": PROBE}])
    result = migrate("apply", path, "--yes")
    load.stop.set()
    load.thread.join(5)
    assert result.returncode == 0, result.stdout + result.stderr
    assert load.failed == 0, load.errors[:3]
    shown = json.loads(migrate("show", "1", "--json").stdout)
    decisions = shown["decisions"]
    plan_steps = shown["plan"]["stages"][0]["agents"][0]["canary"]["steps"]
    assert [d["weight_pct"] for d in decisions if d["decision"] == "promote"] == plan_steps
    first = decisions[0]
    assert first["agent"] == "Worker" and first["metrics"]["latency"]["verdict"] in (
        "Pass", "Low", "NoData")
    for metric in ("latency", "errors"):
        m = first["metrics"][metric]
        assert m["n_new"] > 0 and m["n_old"] > 0
    lat = next(d for d in decisions if d["metrics"]["latency"]["verdict"] != "NoData")
    assert {"u", "p_greater", "effect", "median_old_ms", "alpha", "effect_min"} <= set(
        lat["metrics"]["latency"])
    text = migrate("show", "1").stdout
    assert "Mann-Whitney U" in text and "beta-binomial P(new worse)" in text
    assert "source:" in text


@pytest.mark.slow
def test_a_slower_version_is_judged_high_and_rolled_back_as_watch_follows(worker_mesh, ports):
    run, migrate = worker_mesh
    load = Load(registry_endpoint(run))
    load.thread.start()
    path = migrate.change([{"agent": "Worker", "settings": {"delay_ms": 15}, "port": ports[2],
                            "bake_s": 3, "gates": GATES, "probe": PROBE}])
    env = dict(os.environ)
    apply = subprocess.Popen([sys.executable, "-m", "common.cli.main", "migrate", "apply", path,
                              "--yes", "--config", str(run.config_path), "--run-dir",
                              run.run_dir], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, env=env)
    try:
        watched = migrate("watch", "1", "--timeout", "50", "--interval", "0.1")
        applied = apply.communicate(timeout=60)[0]
    finally:
        apply.kill()
        load.stop.set()
        load.thread.join(5)
    assert apply.returncode == 3, applied
    assert watched.returncode == 3, watched.stdout + watched.stderr
    assert "ROLLBACK - latency High" in watched.stdout, watched.stdout
    assert "migration 1: rolled_back" in watched.stdout
    shown = json.loads(migrate("show", "1", "--json").stdout)
    last = shown["decisions"][-1]
    assert last["decision"] == "rollback" and last["metrics"]["latency"]["verdict"] == "High"
    assert last["metrics"]["latency"]["effect"] > 1.0  # 5 ms -> 20 ms
    assert shown["state"] == "rolled_back"
    # the new instance was stopped only once its callers had left it: users saw nothing fail
    stop = [s for s in shown["steps"] if s["step"] == "rb:stop_new" and s["phase"] == "done"]
    assert [s["data"]["drained"] for s in stop] == [True], stop
    assert load.failed == 0 and load.ok > 100, load.errors[:3]


def three_workers(tmp_path, ports):
    """Worker1 <- Worker2 <- Worker3 (each depends on the one before): three stages."""
    agents = [{"name": "ServiceRegistry", "host": "main_pc",
               "module": "service_registry.agent:ServiceRegistry", "service": "registry",
               "port": ports[0]}]
    for i in (1, 2, 3):
        agents.append({"name": f"Worker{i}", "host": "main_pc", "module": TUNABLE,
                       "port": ports[i], "settings": {"delay_ms": 2, "greeting": "v1"},
                       "dependencies": ["ServiceRegistry"] + ([f"Worker{i - 1}"] if i > 1
                                                              else [])})
    return two_host_config(tmp_path, agents, health={"interval_s": 0.2, "timeout_s": 0.5,
                                                     "retries": 3})


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_breach_on_the_third_agent_leaves_all_three_on_their_old_versions(procs, tmp_path):
    ports = free_ports(7)
    run = MeshRun(procs, tmp_path, three_workers(tmp_path, ports))
    try:
        run.up("main_pc")
        run.wait_ready(("main_pc",))
        migrate = Migrate(run, tmp_path)
        changes = [{"agent": f"Worker{i}", "settings": {"greeting": "v2"}, "port": ports[3 + i],
                    "bake_s": 1, "gates": GATES, "probe": PROBE} for i in (1, 2)]
        changes.append({"agent": "Worker3", "settings": {"greeting": "v2", "error_rate": 0.5},
                        "port": ports[6], "bake_s": 1, "gates": GATES, "probe": PROBE})
        result = migrate("apply", migrate.change(changes), "--yes", timeout_s=200)
        assert result.returncode == 3, result.stdout + result.stderr
        out = result.stdout
        assert out.index("Worker1") < out.index("Worker2") < out.index("Worker3")
        assert "reversing stages 1..0" in out
        assert out.count("traffic: 25 -> 100 % to the new instance") == 3  # the plan says so
        history = json.loads(migrate("history", "--json").stdout)
        assert [m["state"] for m in history] == ["rolled_back", "done"]
        assert history[1]["kind"] == "rollback" and history[1]["agents"] == [
            "Worker2", "Worker1"]  # the finished ones, last first
        for i in (1, 2, 3):
            run.wait(("main_pc",), lambda a, i=i: [x["port"] for x in a.values()
                                                   if x["name"] == f"Worker{i}"],
                     what=f"Worker{i} running")
            lookup = run.client.call_endpoint(registry_endpoint(run), "lookup",
                                              {"name": f"Worker{i}"}, timeout_s=2.0)
            assert len(lookup) == 1, lookup
            got = run.client.call_endpoint(lookup[0]["endpoint"], "settings", timeout_s=2.0)
            assert got["settings"]["greeting"] == "v1", (i, got)
            assert got["settings"]["error_rate"] == 0.0
    finally:
        run.close()


def test_the_hub_shows_old_and_new_instances_apart(registry, agents, client_factory, capsys,
                                                  monkeypatch):
    """Two live instances of one name (blue/green), each reporting as agents do: the hub's
    view lists both with their own counters, not one blurred row."""
    old, new = [agents(EchoAgent("Canary", registry=registry.endpoint, multi_instance=True,
                                 heartbeat_interval_s=0.2)) for _ in range(2)]
    client = client_factory(registry.endpoint)
    for i in range(30):
        client.call_endpoint(old.endpoint, "echo", i)
    for i in range(9):
        client.call_endpoint(new.endpoint, "echo", i)
    for _ in range(3):
        with pytest.raises(RemoteError):
            client.call_endpoint(new.endpoint, "fail", {}, retries=0)
    hub = Aggregator({"Canary": []}, {"Canary": "main_pc"})
    for seq, at in enumerate((100.0, 101.0)):
        for agent in (old, new):
            hub.ingest_report(build_report(agent, seq + 1, False), at)
    view = next(a for a in hub.view(101.5)["agents"] if a["name"] == "Canary")
    by_id = {x["instance_id"]: x for x in view["instances"]}
    assert set(by_id) == {old.instance_id, new.instance_id}
    assert by_id[old.instance_id]["requests_total"] == 30
    assert by_id[old.instance_id]["errors_total"] == 0
    assert by_id[new.instance_id]["requests_total"] == 12
    assert by_id[new.instance_id]["errors_total"] == 3
    assert by_id[new.instance_id]["endpoint"] == new.endpoint
    # `mesh health` prints each instance on its own row under the agent
    monkeypatch.setenv("COLUMNS", "240")
    _health_table({**hub.view(101.5), "hub": {"name": "hub", "role": "central",
                                             "state": "ok"}})
    table = capsys.readouterr().out
    assert f"Canary@{old.instance_id[:12]}" in table and f"Canary@{new.instance_id[:12]}" in table
    assert "12 requests, 3 errors" in table and "30 requests, 0 errors" in table
