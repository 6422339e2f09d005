"""`mesh reload` on a running mesh: exactly what changed restarts, in dependency order."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.launcher.conftest import agent

pytestmark = pytest.mark.timeout(90)

MESH = [sys.executable, "-m", "common.cli.main"]


def _mesh(run, *args, timeout=30):
    return subprocess.run([*MESH, *args, "--config", str(run.config_path),
                           "--run-dir", run.run_dir],
                          capture_output=True, text=True, timeout=timeout)


def _edit(run, change):
    data = yaml.safe_load(run.config_path.read_text())
    change({a["name"]: a for a in data["agents"]})
    run.config_path.write_text(yaml.safe_dump(data, sort_keys=False))


def _pids(run):
    return {name: a["pid"] for name, a in run.agents("main_pc", "pc2").items()}


def _settled(run, before, changed):
    """Every agent ready, the changed ones with a new pid."""
    def check(agents):
        return all(a["ready"] for a in agents.values()) and all(
            agents[n]["pid"] != before[n] for n in changed) and agents
    return run.wait(("main_pc", "pc2"), check, what=f"{sorted(changed)} restarted")


def test_reload_restarts_exactly_what_changed(mesh, ports):
    # Registry <- A <- B (pc2) <- C; A <- D; E alone on pc2
    run = mesh([agent("ServiceRegistry", "main_pc", ports[0],
                      module="service_registry.agent:ServiceRegistry", service="registry"),
                agent("A", "main_pc", ports[1], ["ServiceRegistry"]),
                agent("B", "pc2", ports[2], ["A"]),
                agent("C", "main_pc", ports[3], ["B"]),
                agent("D", "main_pc", ports[4], ["A"]),
                agent("E", "pc2", ports[5], ["ServiceRegistry"])])
    assert _mesh(run, "up", "--detach").returncode == 0
    try:
        run.wait_ready()
        before = _pids(run)

        _edit(run, lambda a: a["C"].update(settings={"greeting": "v2"}))
        dry = _mesh(run, "reload", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "main_pc: restart C (changed: settings)" in dry.stdout
        assert "pc2: nothing changed" in dry.stdout
        assert _pids(run) == before  # a dry run changes nothing

        out = _mesh(run, "reload")
        assert out.returncode == 0, out.stderr
        after = _settled(run, before, {"C"})
        assert {n for n in after if after[n]["pid"] != before[n]} == {"C"}
        got = run.client.call_endpoint(f"tcp://127.0.0.1:{ports[3]}", "settings")
        assert got["settings"]["greeting"] == "v2"

        before = _pids(run)
        _edit(run, lambda a: a["A"].update(port=ports[6]))
        out = _mesh(run, "reload", "--json")
        assert out.returncode == 0, out.stderr
        after = _settled(run, before, {"A", "D", "B"})
        assert {n for n in after if after[n]["pid"] != before[n]} == {"A", "D", "B"}
        assert run.client.call_endpoint(f"tcp://127.0.0.1:{ports[6]}", "health")

        before = _pids(run)
        good = run.config_path.read_text()
        _edit(run, lambda a: a["E"].update(dependencies=["Nope"]))
        bad = _mesh(run, "reload")
        assert bad.returncode == 2 and "Nope" in bad.stderr
        assert _pids(run) == before
        _edit(run, lambda a: a["E"].update(dependencies=["ServiceRegistry"], settings={
            "rulez": 3}, module="pc2.agents.services:AdvancedRouter"))  # a typed class
        typo = _mesh(run, "reload")
        assert typo.returncode == 2 and "agents[5].settings.rulez" in typo.stderr, typo.stderr
        assert _pids(run) == before
        run.config_path.write_text(good)
        same = _mesh(run, "reload")
        assert same.returncode == 0 and "pc2: nothing changed" in same.stdout
    finally:
        assert _mesh(run, "down").returncode == 0


def test_reload_kills_an_agent_that_ignores_sigterm(mesh, ports):
    """A replaced agent deaf to SIGTERM once stayed "stopping" for good, its new entry never
    started; it is SIGKILLed after global.stop_timeout_s like any other stop."""
    run = mesh([agent("ServiceRegistry", "main_pc", ports[0],
                      module="service_registry.agent:ServiceRegistry", service="registry"),
                agent("Deaf", "main_pc", ports[1], ["ServiceRegistry"],
                      module="common.testing.agents:DeafAgent")], stop_timeout_s=1)
    assert _mesh(run, "up", "--detach").returncode == 0
    try:
        run.wait_ready()
        before = _pids(run)
        _edit(run, lambda a: a["Deaf"].update(settings={"greeting": "v2"}))
        assert _mesh(run, "reload").returncode == 0
        _settled(run, before, {"Deaf"})
        got = run.client.call_endpoint(f"tcp://127.0.0.1:{ports[1]}", "settings")
        assert got["settings"]["greeting"] == "v2"
        log = Path(run.run_dir, "launcher-main_pc.log").read_text()
        assert "Deaf did not stop in time: SIGKILL" in log
    finally:
        assert _mesh(run, "down").returncode == 0
