"""The launcher with real processes: order, restarts, hangs, backoff, stop, cross-host waits."""

import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from common.testing.mesh import MeshRun
from tests.launcher.conftest import agent, became_ready, registered_at

REGISTRY = "service_registry.agent:ServiceRegistry"
CRASHER = "common.testing.agents:CrashingAgent"


def chain(ports):
    """Registry <- A <- B (pc2) <- C <- D, and E beside A: depth 5 across both hosts."""
    return [agent("ServiceRegistry", "main_pc", ports[0], module=REGISTRY, service="registry"),
            agent("A", "main_pc", ports[1], ["ServiceRegistry"]),
            agent("B", "pc2", ports[2], ["A"]),
            agent("C", "main_pc", ports[3], ["B"], settings={"greeting": "hello", "n": 3},
                  ports={"pub_port": ports[5]}),
            agent("D", "main_pc", ports[4], ["C", "A"]),
            agent("E", "pc2", ports[6], ["ServiceRegistry"])]


def test_agents_start_in_dependency_order_and_get_their_settings(mesh, ports):
    run: MeshRun = mesh(chain(ports))
    run.up()
    agents = run.wait_ready()
    registered = registered_at(run.client.call_endpoint(f"tcp://127.0.0.1:{ports[0]}", "list"))
    deps = {a["name"]: a["dependencies"] for a in chain(ports)}
    for name, info in agents.items():
        for dep in deps[name]:
            assert info["started_at"] >= became_ready(agents, registered, name, dep) > 0, \
                (name, dep)
    got = run.client.call_endpoint(f"tcp://127.0.0.1:{ports[3]}", "settings")
    assert got["settings"] == {"greeting": "hello", "n": 3}
    assert got["ports"] == {"pub_port": ports[5]} and got["pid"] == agents["C"]["pid"]


def test_crashed_agent_is_restarted(mesh, ports):
    run = mesh(chain(ports)[:2])
    run.up("main_pc")
    before = run.wait_ready(("main_pc",))["A"]
    os.kill(before["pid"], signal.SIGKILL)
    after = run.wait(("main_pc",), lambda a: a["A"]["ready"] and a["A"]["pid"] != before["pid"],
                     what="A restarted")["A"]
    assert after["restarts"] == 1 and after["last_exit_code"] == -signal.SIGKILL


def test_hung_agent_is_killed_and_restarted(mesh, ports):
    run = mesh(chain(ports)[:2])
    run.up("main_pc")
    before = run.wait_ready(("main_pc",))["A"]
    stopped_at = time.monotonic()
    os.kill(before["pid"], signal.SIGSTOP)
    after = run.wait(("main_pc",), lambda a: a["A"]["ready"] and a["A"]["pid"] != before["pid"],
                     what="hung A replaced")["A"]
    # 2 probes of 0.3 s unanswered, then a restart after the 1 s initial backoff
    assert time.monotonic() - stopped_at < 5.0
    assert after["last_exit_code"] == -signal.SIGKILL
    assert not psutil.pid_exists(before["pid"]) or \
        psutil.Process(before["pid"]).status() == psutil.STATUS_ZOMBIE


def test_restart_backoff_grows_and_a_crash_loop_is_flagged(mesh, ports):
    restart = {"backoff_initial_s": 0.1, "backoff_max_s": 0.8}
    run = mesh([agent("Crasher", "main_pc", ports[0], module=CRASHER, restart=restart)])
    run.up("main_pc")
    run.wait(("main_pc",), lambda a: a["Crasher"]["restarts"] >= 5, timeout_s=20,
             what="5 restarts")
    report = run.status("main_pc")
    times = [e["ts"] for e in report["events"] if e["event"] == "restarted"]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(gaps) >= 3
    assert gaps[2] > gaps[0] * 1.5, gaps  # 0.1 -> 0.2 -> 0.4 ... plus start time
    assert any(e["event"] == "crash_loop" for e in report["events"])
    assert report["agents"][0]["crash_loop"]


def test_clean_stop_within_bound_leaves_no_process(mesh, ports):
    run = mesh(chain(ports))
    launcher = run.up()
    agents = run.wait_ready()
    pids = [a["pid"] for a in agents.values()]
    family = psutil.Process(launcher.pid).children(recursive=True)
    t0 = time.monotonic()
    launcher.signal(signal.SIGTERM)
    assert launcher.proc.wait(15) == 0
    assert time.monotonic() - t0 < 6.0
    gone, alive = psutil.wait_procs(family, timeout=2)
    assert not alive, [p.pid for p in alive]
    assert not [p for p in pids if psutil.pid_exists(p)
                and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def test_cross_host_dependency_is_waited_for_through_the_registry(mesh, ports):
    run = mesh(chain(ports))
    run.up("pc2")
    time.sleep(1.0)  # what matters is that nothing starts while main_pc is down
    waiting = run.agents("pc2")
    assert waiting["B"]["state"] == "waiting" and waiting["E"]["state"] == "waiting"
    run.up("main_pc")
    agents = run.wait_ready()
    registered = registered_at(run.client.call_endpoint(f"tcp://127.0.0.1:{ports[0]}", "list"))
    assert agents["B"]["started_at"] >= became_ready(agents, registered, "B", "A")


def test_a_second_launcher_for_the_same_host_refuses(mesh, ports):
    run = mesh(chain(ports)[:2])
    run.up("main_pc")
    run.wait_ready(("main_pc",))
    second = run.up("main_pc")
    assert second.proc.wait(15) == 1
    assert len(run.agents("main_pc")) == 2  # the first one is untouched


def test_agent_output_goes_to_a_rotated_log_file(mesh, ports, tmp_path):
    run = mesh(chain(ports)[:2], log_rotation={"max_bytes": 20_000, "backups": 2})
    run.up("main_pc")
    run.wait_ready(("main_pc",))
    run.client.call_endpoint(f"tcp://127.0.0.1:{ports[1]}", "log", {"lines": 1000, "size": 100})
    log_dir = tmp_path / "logs" / "main_pc"
    assert (log_dir / "A.log").exists() and (log_dir / "A.log.1").exists()
    assert not (log_dir / "A.log.3").exists()
    assert "[A]" in (log_dir / "A.log").read_text()


@pytest.mark.parametrize("args", [("nowhere",), ("main_pc", "--address", "pc2")])
def test_bad_up_arguments_are_refused(mesh, ports, args):
    run = mesh(chain(ports)[:2])
    assert run.up(*args).proc.wait(15) == 2


def test_legacy_script_is_health_checked_over_legacy_health_check(mesh, ports):
    script = str(Path(__file__).parent / "legacy" / "legacy_agent.py")
    run = mesh([{"name": "OldAgent", "host": "main_pc", "script_path": script,
                 "port": ports[0], "health_port": ports[1]}])
    run.up("main_pc")
    agents = run.wait_ready(("main_pc",))
    assert agents["OldAgent"]["ready"] and agents["OldAgent"]["pid"]


def test_ready_agents_are_probed_once_per_interval_not_flat_out(mesh, ports):
    """Regression: READY agents were re-probed as soon as each answer came back (~25/s each),
    which kept an idle 77-agent mesh at 1.5 cores."""
    run = mesh(chain(ports)[:2])  # health interval 0.3 s
    run.up("main_pc")
    run.wait_ready(("main_pc",))
    endpoint = f"tcp://127.0.0.1:{ports[1]}"
    first = run.client.call_endpoint(endpoint, "health")["metrics"]["requests_total"]
    t0 = time.monotonic()
    run.wait(("main_pc",), lambda a: time.monotonic() - t0 >= 1.5, what="1.5 s of probing")
    second = run.client.call_endpoint(endpoint, "health")["metrics"]["requests_total"]
    assert second - first <= 1.5 / 0.3 + 3  # one probe per interval, our own call, slack


def test_mesh_up_log_level_reaches_the_agents(mesh, ports):
    """`mesh up --log-level` once set only the launcher's own level: the plan never put it in
    the agents' specs, and each agent logged at INFO whatever was asked."""
    run = mesh(chain(ports)[:2])
    run.up("main_pc", "--log-level", "DEBUG")
    run.wait_ready(("main_pc",))
    run.client.call_endpoint(f"tcp://127.0.0.1:{ports[1]}", "log",
                             {"lines": 1, "size": 3, "level": "DEBUG"})
    assert " DEBUG " in (run.workdir / "logs" / "main_pc" / "A.log").read_text()
