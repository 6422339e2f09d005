"""BaseAgent: handlers, health, legacy health_check, metrics, logging, graceful stop."""

import json
import logging
import signal
import time

import pytest
import zmq

from common.base_agent import BaseAgent, CheckResult, Status, handler
from common.base_agent.errors import RemoteError, UnknownActionError
from common.testing.agents import EchoAgent
from common.testing.wait import wait_registered, wait_until


class Flaky:
    name = "disk"

    def check(self):
        return CheckResult("disk", Status.WARNING, "90% full")


def test_echo_health_and_error_codes(agents, client_factory):
    agent = agents(EchoAgent("Echo"))
    client = client_factory()
    assert client.call_endpoint(agent.endpoint, "echo", {"a": 1}) == {"a": 1}
    with pytest.raises(UnknownActionError) as info:
        client.call_endpoint(agent.endpoint, "nope")
    assert info.value.code == "unknown_action"
    with pytest.raises(RemoteError) as info:
        client.call_endpoint(agent.endpoint, "fail", {"code": "boom", "message": "as asked"})
    assert (info.value.code, info.value.remote_message) == ("boom", "as asked")
    health = client.call_endpoint(agent.endpoint, "health")
    assert health["status"] == "passing" and health["name"] == "Echo"
    assert {"uptime_s", "pid", "version", "host", "checks", "instance_id"} <= set(health)


def test_own_checks_decide_the_status(agents, client_factory):
    agent = EchoAgent("Checked")
    agent.add_check(Flaky())
    agents(agent)
    health = client_factory().call_endpoint(agent.endpoint, "health")
    assert health["status"] == "warning"
    assert health["checks"] == [{"name": "disk", "status": "warning", "detail": "90% full"}]


def test_legacy_health_check_request_gets_status_ok(agents, zmq_ctx):
    agent = agents(EchoAgent("Legacy"))
    req = zmq_ctx.socket(zmq.REQ)
    req.setsockopt(zmq.LINGER, 0)
    req.setsockopt(zmq.RCVTIMEO, 2000)
    req.connect(agent.endpoint)
    req.send(json.dumps({"action": "health_check"}).encode())
    reply = json.loads(req.recv())
    assert reply["status"] == "ok" and reply["name"] == "Legacy"
    req.close()


def test_metrics_count_requests_errors_and_latency(agents, client_factory):
    agent = agents(EchoAgent("Metered"))
    client = client_factory()
    for _ in range(3):
        client.call_endpoint(agent.endpoint, "echo", 1)
    with pytest.raises(RemoteError):
        client.call_endpoint(agent.endpoint, "fail")
    reg = agent.metrics.registry
    labels = {"agent": "Metered", "action": "echo"}
    assert reg.get_sample_value("mesh_agent_requests_total", labels) == 3
    assert reg.get_sample_value("mesh_agent_request_duration_seconds_count", labels) == 3
    assert reg.get_sample_value("mesh_agent_errors_total",
                                {"agent": "Metered", "action": "fail", "code": "internal"}) == 1


def test_every_log_record_carries_the_agent_name(agents, client_factory, caplog):
    class Chatty(BaseAgent):
        @handler("talk")
        def talk(self, payload):
            logging.getLogger("some.library").warning("said %s", payload)
            return "ok"

    agent = agents(Chatty("Chatty"))
    with caplog.at_level(logging.INFO):
        client_factory().call_endpoint(agent.endpoint, "talk", "hi")
    talk = [r for r in caplog.records if r.getMessage() == "said hi"]
    assert talk and talk[0].agent == "Chatty"
    assert all(r.agent == "Chatty" for r in caplog.records if r.threadName == "agent-Chatty")


def test_stop_is_bounded_and_kill_is_idempotent(agents):
    agent = EchoAgent("Stopper")
    agent.start()
    t0 = time.monotonic()
    assert agent.stop(timeout_s=2.0)
    assert time.monotonic() - t0 < 0.5
    agent.kill()
    agent.kill()


def test_bind_failure_raises_at_setup(agents):
    first = agents(EchoAgent("A"))
    with pytest.raises(zmq.ZMQError):
        EchoAgent("B", first.endpoint).setup()


def test_sigterm_stops_an_agent_process_gracefully(procs, registry, client_factory):
    proc = procs.agent(registry.endpoint, "Termed", interval_s=0.2)
    view_client = client_factory(registry.endpoint)
    wait_registered(view_client, "Termed")
    view_client.call("Termed", "echo", 1)
    t0 = time.monotonic()
    proc.signal(signal.SIGTERM)
    assert proc.proc.wait(5) == 0
    assert time.monotonic() - t0 < 2.0
    # graceful: it deregistered on the way out
    names = [r["name"] for r in view_client.call_endpoint(registry.endpoint, "list")]
    assert "Termed" not in names


def test_loop_does_not_spin_after_a_link_replaces_its_socket(agents):
    """Regression: a link's closed socket stayed in the poller, polled as fd 0 (always
    readable), and every agent whose hub link had failed over spun at full speed."""
    from common.hub.link import hub_link

    class Counting(EchoAgent):
        ticks = 0

        def on_tick(self):
            self.ticks += 1

    dead_hubs = ["tcp://127.0.0.1:1", "tcp://127.0.0.1:2"]  # the link fails over every 0.15 s
    agent = agents(Counting("Spinless", links=[hub_link(dead_hubs)], heartbeat_interval_s=0.2))
    link = agent.links[0]
    wait_until(lambda: link.failovers >= 2, 5, what="two failovers")
    before, t0 = agent.ticks, time.monotonic()
    wait_until(lambda: time.monotonic() - t0 >= 1.0, 2)  # one second of idling
    assert agent.ticks - before < 100  # one wake-up per 50 ms poll, plus a few for timers
