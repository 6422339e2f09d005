"""Detection with real processes: kill -9 (launcher event) and SIGSTOP (silence)."""

import signal
import time

import pytest
from hub_helpers import FAST_S, agent_state, get_json

from common.base_agent.errors import MeshError
from common.hub.client import ProcessEventClient
from common.hub.protocol import ACTION_PROCESS_EVENTS
from common.testing.wait import wait_until
from observability_hub.hub import ObservabilityHub

pytestmark = pytest.mark.timeout(40)


@pytest.fixture
def hub(agents):
    return agents(ObservabilityHub("Hub", heartbeat_interval_s=FAST_S,
                                   settings={"http_port": 0}))


def start_reporter(procs, hub, name):
    proc = procs.mesh("agent", "run", "common.testing.agents:HubEchoAgent", "--name", name,
                      "--settings", f'{{"hubs": ["{hub.endpoint}"]}}',
                      "--heartbeat-interval", str(FAST_S), "--log-level", "WARNING")
    wait_until(lambda: (agent_state(get_json(hub.http.url + "/api/health"), name) or {})
               .get("state") == "passing", 10, interval_s=0.02, what=f"{name} passing")
    return proc


def time_to_critical(hub, name, limit_s):
    """(seconds until the hub shows name critical, the agent's view at that moment)"""
    t0 = time.monotonic()

    def critical():
        agent = agent_state(get_json(hub.http.url + "/api/health"), name)
        return agent if agent["state"] == "critical" else None

    agent = wait_until(critical, limit_s, interval_s=0.005, what=f"{name} critical")
    return time.monotonic() - t0, agent


def test_kill9_is_critical_within_half_a_second_by_launcher_event(procs, hub, zmq_ctx):
    proc = start_reporter(procs, hub, "Victim")
    launcher = ProcessEventClient([hub.endpoint], host="main_pc", ctx=zmq_ctx)
    try:
        t0 = time.monotonic()
        proc.kill9()  # the launcher's waitpid returns here; it pushes the event at once
        assert launcher.push("Victim", proc.pid, "exited", code=-9)
        elapsed = time.monotonic() - t0 + time_to_critical(hub, "Victim", 0.5)[0]
    finally:
        launcher.close()
    assert elapsed <= 0.5
    doc = get_json(hub.http.url + "/api/health")
    assert "exited with code -9" in agent_state(doc, "Victim")["reasons"][0]
    assert doc["events"][0]["event"] == "exited"


def test_sigstop_is_critical_within_three_heartbeat_intervals(procs, hub):
    proc = start_reporter(procs, hub, "Sleeper")
    proc.signal(signal.SIGSTOP)
    try:
        elapsed, agent = time_to_critical(hub, "Sleeper", 3 * FAST_S + 0.5)
    finally:
        proc.signal(signal.SIGCONT)
    assert elapsed <= 3 * FAST_S
    assert agent["reasons"][0].startswith("no heartbeat for")
    wait_until(lambda: agent_state(get_json(hub.http.url + "/api/health"), "Sleeper")["state"]
               == "passing", 5, what="Sleeper back to passing after SIGCONT")


def test_process_events_go_in_one_request_and_a_bad_one_refuses_the_batch(hub, zmq_ctx,
                                                                           client_factory):
    """A launcher starting hundreds of agents sends what changed meanwhile in one request;
    the hub checks every event before it takes any, and names the bad one."""
    launcher = ProcessEventClient([hub.endpoint], host="pc2", ctx=zmq_ctx)
    try:
        for i in range(300):
            launcher.add(f"Echo{i:03d}", 1000 + i, "started")
        assert launcher.flush() and not launcher.queue
    finally:
        launcher.close()
    doc = get_json(hub.http.url + "/api/health")
    assert {e["agent"] for e in doc["events"]} <= {f"Echo{i:03d}" for i in range(300)}
    assert agent_state(doc, "Echo299")["pid"] == 1299
    bad = {"events": [{"host": "pc2", "agent": "Late", "pid": 1, "event": "started"},
                      {"host": "pc2", "agent": "Odd", "pid": 2, "event": "exploded"}]}
    client = client_factory()
    with pytest.raises(MeshError, match=r"payload.events\[1\].event must be one of"):
        client.call_endpoint(hub.endpoint, ACTION_PROCESS_EVENTS, bad, retries=0)
    assert agent_state(get_json(hub.http.url + "/api/health"), "Late") is None
