"""A busy agent stays live: health answered and still registered while a handler waits on a
silent peer, and while it works through a long queue of requests.

Found by the chaos soak: a RequestCoordinator waiting (seconds, within its call deadline) on an
agent that had just been killed missed its heartbeats and health probes, so the registry
expired it and the launcher killed it as hung: one fault took its callers down with it.  And
after a stall it served its queued requests back to back (up to 256, seconds of work) without
a heartbeat in between, and the registry expired it again.
"""

import threading

import pytest
import zmq

from common.base_agent import handler, protocol
from common.base_agent.errors import MeshError
from common.base_agent.sockets import bind, new_socket
from common.kinds.base import MeshAgent
from common.testing.agents import EchoAgent
from common.testing.wait import wait_registered

FAST_HEARTBEAT_S = 0.2  # as the registry fixture's
WAIT_S = 1.5  # > the registry's TTL (2.5 heartbeats of 0.2 s) and the probe timeout below


class Caller(MeshAgent):
    @handler("relay")
    def relay(self, payload):
        try:
            self.client.call_endpoint(payload["to"], "echo", timeout_s=WAIT_S, retries=0)
        except MeshError as exc:
            return {"error": exc.code}
        return {"error": None}

    @handler("ping")
    def ping(self, payload=None):
        return "pong"


@pytest.mark.timeout(30)
def test_agent_waiting_on_a_silent_peer_answers_health_and_stays_registered(
        agents, registry, client_factory, zmq_ctx):
    silent = new_socket(zmq_ctx, zmq.ROUTER)  # a peer that reads nothing: a stopped process
    silent_endpoint = bind(silent, "tcp://127.0.0.1:0")
    caller = agents(Caller("Caller", registry=registry.endpoint,
                           heartbeat_interval_s=FAST_HEARTBEAT_S))
    client = client_factory(registry.endpoint)
    before = _registered(client, registry)
    relayed = {}
    waiter = threading.Thread(target=_relay, args=(client_factory(), caller, silent_endpoint,
                                                   relayed))
    waiter.start()
    try:
        _wait_for_request(silent)
        health = client.call_endpoint(caller.endpoint, "health", timeout_s=0.5, retries=0)
        assert health["instance_id"] == caller.instance_id
        assert client.call_endpoint(caller.endpoint, "ping", timeout_s=WAIT_S + 2) == "pong"
    finally:
        waiter.join(WAIT_S + 5)
        silent.close(linger=0)
    assert relayed == {"error": "timeout"}
    assert _registered(client, registry) == before  # never expired and registered anew


def _relay(client, caller, to, out):
    out.update(client.call_endpoint(caller.endpoint, "relay", {"to": to}, timeout_s=WAIT_S + 2,
                                    retries=0))


def _wait_for_request(sock):
    assert sock.poll(5000), "the caller never called the silent peer"


def _registered(client, registry):
    return _registered_as(client, registry, "Caller")


@pytest.mark.timeout(30)
def test_a_long_queue_of_requests_does_not_starve_heartbeats(agents, registry, client_factory,
                                                             zmq_ctx):
    echo = agents(EchoAgent("Busy", registry=registry.endpoint,
                            heartbeat_interval_s=FAST_HEARTBEAT_S))
    client = client_factory(registry.endpoint)
    before = _registered_as(client, registry, "Busy")
    dealer = zmq_ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(echo.endpoint)
    try:
        for _ in range(60):  # 1.8 s of work queued at once: over three TTLs
            dealer.send_multipart(protocol.encode_request(protocol.Request(
                "sleep", {"seconds": 0.03})))
        for _ in range(60):
            assert dealer.poll(5000), "a queued request was not answered"
            dealer.recv_multipart()
    finally:
        dealer.close()
    assert _registered_as(client, registry, "Busy") == before  # never expired


def _registered_as(client, registry, name):
    found = wait_registered(client, name)
    assert len(found) == 1
    return found[0]["instance_id"], found[0]["registered_at"]
