"""Batches: pipelined calls packed many to a message still run, count and fail one by one."""

import msgpack
import pytest
import zmq

from common.base_agent import protocol
from common.base_agent.batch import (
    BATCH_HEADER,
    MAX_BATCH,
    decode_batch_replies,
    encode_batch,
)
from common.base_agent.errors import RemoteError
from common.base_agent.protocol import Request
from common.base_agent.requests import BATCH_BUDGET_S
from common.testing.agents import EchoAgent
from common.testing.wait import wait_registered


@pytest.fixture
def echo(registry, agents, client_factory):
    agent = agents(EchoAgent("Batcher", registry=registry.endpoint, heartbeat_interval_s=0.2))
    client = client_factory(registry.endpoint)
    wait_registered(client, "Batcher")
    return agent, client


@pytest.fixture
def dealer(zmq_ctx):
    def make(endpoint):
        sock = zmq_ctx.socket(zmq.DEALER)
        sock.linger = 0
        sock.rcvtimeo = 3000
        sock.connect(endpoint)
        return sock
    return make


@pytest.mark.parametrize("batch", [1, 7, 64, MAX_BATCH])
def test_pipeline_returns_every_result_in_order(echo, batch):
    agent, client = echo
    payloads = [{"seq": i} for i in range(3000)]
    assert client.pipeline("Batcher", "echo", payloads, batch=batch, window=500) == payloads
    assert agent.metrics.snapshot()["requests_total"] >= 3000


def test_each_call_of_a_batch_succeeds_or_fails_on_its_own(echo, dealer):
    agent, _ = echo
    sock = dealer(agent.endpoint)
    calls = [Request("echo", 1), Request("nope", None), Request("fail", {"code": "busy"}),
             Request("echo", 2)]
    sock.send_multipart(encode_batch(calls, "test"))
    header, body = sock.recv_multipart()
    assert header == BATCH_HEADER
    replies = decode_batch_replies(body)
    assert [r.id for r in replies] == [c.id for c in calls]
    assert [r.ok for r in replies] == [True, False, False, True]
    assert (replies[0].result, replies[3].result) == (1, 2)
    assert replies[1].code == protocol.ErrorCode.UNKNOWN_ACTION
    assert replies[2].code == "busy"


def test_pipeline_raises_the_remote_error_of_a_failing_call(echo):
    _, client = echo
    with pytest.raises(RemoteError, match="busy"):
        client.pipeline("Batcher", "fail", [{"code": "busy"}] * 3)


@pytest.mark.parametrize("body", [
    {"calls": "no"}, {"calls": []}, {"calls": [[1, "echo", None]]},
    {"calls": [["id", "", None]]}, {"calls": [["id", "echo", None]] * (MAX_BATCH + 1)}, [1, 2]])
def test_malformed_batch_is_refused_with_a_code_and_the_agent_keeps_serving(echo, dealer, body):
    agent, client = echo
    sock = dealer(agent.endpoint)
    sock.send_multipart([BATCH_HEADER, msgpack.packb(body)])
    reply = protocol.decode_reply(sock.recv_multipart())
    assert not reply.ok and reply.code == protocol.ErrorCode.BAD_REQUEST
    assert client.call("Batcher", "echo", "still here") == "still here"


def test_a_batch_longer_than_its_budget_answers_the_rest_unavailable(echo, dealer):
    agent, _ = echo
    sock = dealer(agent.endpoint)
    calls = [Request("sleep", {"seconds": 0.2}) for _ in range(6)]
    sock.send_multipart(encode_batch(calls, "test"))
    replies = decode_batch_replies(sock.recv_multipart()[1])
    ran = [r for r in replies if r.ok]
    assert 1 <= len(ran) <= BATCH_BUDGET_S / 0.2 + 1 < len(replies)
    assert all(r.code == protocol.ErrorCode.UNAVAILABLE for r in replies[len(ran):])
