"""Found by the fuzzers: a reply (or a batch's) over MAX_MESSAGE_BYTES was sent anyway (a hub
answered one 34 KB batch of hub_snapshot calls with 30 MB, which its client refuses and its
ROUTER queues); made-up action names took label series of their own; a legacy frame of nested
JSON killed the agent (RecursionError).  Regression tests, against a real agent."""

import pytest
import zmq

from common.base_agent import handler, protocol
from common.base_agent.batch import decode_batch_replies, encode_batch
from common.base_agent.errors import MeshError
from common.base_agent.sockets import new_socket
from common.testing.agents import EchoAgent

pytestmark = pytest.mark.timeout(30)


class Amplifier(EchoAgent):
    """``blob {size}`` answers size bytes: a small request, a big reply."""

    @handler("blob")
    def blob(self, payload):
        return b"x" * payload["size"]


@pytest.fixture
def amplifier(agents, client_factory):
    agent = agents(Amplifier("Amplifier", "tcp://127.0.0.1:0"))
    return agent, client_factory()


@pytest.fixture
def dealer(zmq_ctx):
    def connect(endpoint):
        sock = new_socket(zmq_ctx, zmq.DEALER)
        sock.setsockopt(zmq.MAXMSGSIZE, -1)  # to see what the agent really sends
        sock.connect(endpoint)
        return sock
    return connect


def _exchange(sock, frames):
    sock.send_multipart(frames)
    assert sock.poll(5000), "no reply within 5 s"
    return sock.recv_multipart()


def test_a_reply_over_the_size_limit_is_answered_too_large(amplifier):
    agent, client = amplifier
    assert len(client.call_endpoint(agent.endpoint, "blob", {"size": 1000})) == 1000
    with pytest.raises(MeshError) as info:
        client.call_endpoint(agent.endpoint, "blob", {"size": protocol.MAX_MESSAGE_BYTES})
    assert info.value.code == protocol.ErrorCode.TOO_LARGE
    assert client.call_endpoint(agent.endpoint, "echo", "after") == "after"


def test_a_batch_reply_over_the_size_limit_is_answered_too_large_per_call(amplifier, dealer):
    agent, _ = amplifier
    calls = [protocol.Request("blob", {"size": 400_000}) for _ in range(3)]
    header, body = _exchange(dealer(agent.endpoint), encode_batch(calls, "test"))
    assert len(body) < protocol.MAX_MESSAGE_BYTES
    replies = decode_batch_replies(body)
    assert [r.id for r in replies] == [c.id for c in calls]
    assert {(r.ok, r.code) for r in replies} == {(False, protocol.ErrorCode.TOO_LARGE)}


def test_made_up_actions_share_one_metrics_label(amplifier, dealer):
    agent, _ = amplifier
    sock = dealer(agent.endpoint)
    for i in range(300):
        reply = protocol.decode_reply(_exchange(sock, protocol.encode_request(
            protocol.Request(f"no_such_{i}"))))
        assert reply.code == protocol.ErrorCode.UNKNOWN_ACTION
    labels = {s.labels["action"] for m in agent.metrics.collect() for s in m.samples
              if "action" in s.labels}
    assert labels == {"_unknown"}


def test_a_legacy_frame_of_deeply_nested_json_is_refused_not_fatal(amplifier, dealer):
    agent, client = amplifier
    reply = protocol.decode_reply(_exchange(dealer(agent.endpoint),
                                            [b'{"a": ' + b"[" * 100_000]))
    assert reply.code == protocol.ErrorCode.BAD_FRAME
    assert client.call_endpoint(agent.endpoint, "echo", "alive") == "alive"
