"""Parked requests: a handler that cannot answer yet parks the request; the agent answers it
later (its handler runs again) or refuses it, and stays live meanwhile; a batch does not wait."""

import threading
import time

import pytest
import zmq

from common.base_agent import BaseAgent, handler, protocol
from common.base_agent.batch import decode_batch_replies, encode_batch
from common.base_agent.errors import MeshError, RemoteError
from common.base_agent.parked import Park
from common.base_agent.protocol import Request

pytestmark = pytest.mark.timeout(30)


class Gate(BaseAgent):
    """Answers ``enter`` once the gate is open; until then the request waits (its deadline)."""

    def on_setup(self):
        self.is_open = False

    @handler("enter")
    def enter(self, payload):
        if not self.is_open:
            raise Park(payload["deadline_s"], "the gate is shut")
        return payload["n"]

    @handler("open")
    def open_gate(self, payload=None):
        self.is_open = True
        self.answer_parked(self.parked.take())
        return len(self.parked)

    @handler("waiting")
    def waiting(self, payload=None):
        return len(self.parked)

    def on_tick(self):
        for request in self.parked.take(overdue_at=time.monotonic()):
            self.answer_parked([request], MeshError(f"{request.why} past the deadline",
                                                    protocol.ErrorCode.DEADLINE))


def test_parked_requests_are_answered_later_or_refused_at_their_deadline(agents,
                                                                         client_factory):
    gate = agents(Gate("Gate"))
    answers = {}

    def enter(n):
        answers[n] = client_factory().call_endpoint(gate.endpoint, "enter",
                                                    {"n": n, "deadline_s": 10.0}, timeout_s=15)

    threads = [threading.Thread(target=enter, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    client = client_factory()
    with pytest.raises(RemoteError, match="deadline: the gate is shut past the deadline"):
        client.call_endpoint(gate.endpoint, "enter", {"n": 9, "deadline_s": 0.2}, retries=0)
    while client.call_endpoint(gate.endpoint, "waiting") < 3:  # live while they wait
        time.sleep(0.02)
    assert client.call_endpoint(gate.endpoint, "open") == 0
    for thread in threads:
        thread.join(10)
    assert answers == {0: 0, 1: 1, 2: 2}
    reg = gate.metrics.registry  # each request counted once, when answered
    labels = {"agent": "Gate", "action": "enter"}
    assert reg.get_sample_value("mesh_agent_requests_total", labels) == 4
    assert reg.get_sample_value("mesh_agent_errors_total", {**labels, "code": "deadline"}) == 1


def test_a_call_in_a_batch_does_not_wait(agents, zmq_ctx):
    gate = agents(Gate("Gate"))
    sock = zmq_ctx.socket(zmq.DEALER)
    sock.linger, sock.rcvtimeo = 0, 3000
    sock.connect(gate.endpoint)
    sock.send_multipart(encode_batch([Request("enter", {"n": 1, "deadline_s": 5.0}),
                                      Request("waiting", None)], "test"))
    replies = decode_batch_replies(sock.recv_multipart()[1])
    assert replies[0].code == protocol.ErrorCode.UNAVAILABLE
    assert "a call in a batch does not wait" in replies[0].message
    assert (replies[1].ok, replies[1].result) == (True, 0)
    sock.close()
