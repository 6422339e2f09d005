"""Migrations against a real mesh: promotion, automatic rollback, zero failures under load."""

import threading

import pytest

from common.base_agent.client import Client
from common.base_agent.errors import MeshError

GATES = {"error_rate_max": 0.05, "latency_p95_ratio_max": 2.0, "latency_floor_ms": 5,
         "ready_timeout_s": 10}
PROBE = {"action": "echo", "payload": {"x": 1}, "interval_s": 0.02}


def worker_state(run):
    agents = [a for a in run.status("main_pc")["agents"] if a["name"] == "Worker"]
    registered = run.client.call_endpoint(_registry(run), "lookup", {"name": "Worker"})
    return agents, registered


def _registry(run):
    import yaml
    cfg = yaml.safe_load(run.config_path.read_text())
    return f"tcp://127.0.0.1:{cfg['agents'][0]['port']}"


def assert_single(run, port):
    agents, registered = worker_state(run)
    live = [a for a in agents if a["state"] != "stopped"]
    assert [a["port"] for a in live] == [port], agents
    assert [r["endpoint"] for r in registered][:1] == [f"tcp://127.0.0.1:{port}"], registered


class Load:
    """A steady client: echo every 5 ms through the registry (watching it), no retries."""

    def __init__(self, registry):
        self.registry = registry
        self.ok = self.failed = 0
        self.errors = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        client = Client(self.registry, source="load", watch=True)
        try:
            while not self.stop.is_set():
                try:
                    client.call("Worker", "echo", {"n": self.ok}, timeout_s=2.0, retries=0)
                    self.ok += 1
                except MeshError as exc:
                    self.failed += 1
                    self.errors.append(repr(exc))
                self.stop.wait(0.005)
        finally:
            client.close()


def test_good_change_is_promoted_with_no_failed_request_under_load(worker_mesh, ports):
    run, migrate = worker_mesh
    load = Load(_registry(run))
    load.thread.start()
    path = migrate.change([{"agent": "Worker", "settings": {"greeting": "v2"}, "port": ports[2],
                            "bake_s": 1.5, "gates": GATES, "probe": PROBE}])
    result = migrate("apply", path, "--yes")
    load.stop.set()
    load.thread.join(5)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "result: done" in result.stdout
    assert_single(run, ports[2])
    got = run.client.call_endpoint(f"tcp://127.0.0.1:{ports[2]}", "settings")
    assert got["settings"]["greeting"] == "v2"
    assert load.ok > 100 and load.failed == 0, load.errors[:3]
    history = migrate("history", "--json")
    assert '"state": "done"' in history.stdout


@pytest.mark.parametrize("bad", [
    {"crash_on_start": True},
    {"error_rate": 0.5, "delay_ms": 5},
    {"delay_ms": 15},  # 3x the old version's 5 ms
], ids=["crash-on-start", "error-rate", "3x-latency"])
def test_bad_change_is_rolled_back_automatically(worker_mesh, ports, bad):
    run, migrate = worker_mesh
    path = migrate.change([{"agent": "Worker", "settings": bad, "port": ports[2], "bake_s": 4,
                            "gates": GATES, "probe": PROBE}])
    result = migrate("apply", path, "--yes")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "BREACH" in result.stdout and "result: rolled_back" in result.stdout
    run.wait(("main_pc",), lambda a: [x["port"] for x in a.values()
                                      if x["name"] == "Worker"] == [ports[1]],
             what="new instance gone")
    assert_single(run, ports[1])
    got = run.client.call_endpoint(f"tcp://127.0.0.1:{ports[1]}", "echo", {"y": 2})
    assert got == {"y": 2}
