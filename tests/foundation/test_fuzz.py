"""10,000+ hostile frames to the registry and to an agent; both keep answering correctly."""

import pytest
import zmq

from common.base_agent import protocol
from common.testing.fuzz import hostile_messages
from common.testing.wait import wait_registered

FRAMES = 10_000


def _barrage(ctx, endpoint, seed):
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDTIMEO, 2000)
    sock.connect(endpoint)
    replies = 0
    for frames in hostile_messages(FRAMES, seed=seed):
        sock.send_multipart(frames)
        while sock.poll(0):
            sock.recv_multipart()
            replies += 1
    sock.close()
    return replies


@pytest.mark.timeout(120)
def test_registry_and_agent_survive_hostile_frames(procs, tmp_path, zmq_ctx, client_factory):
    reg = procs.registry(str(tmp_path / "r.db"), interval_s=0.5)
    agent = procs.agent(reg.endpoint, "Target", interval_s=0.5)
    client = client_factory(reg.endpoint)
    wait_registered(client, "Target")
    registry_replies = _barrage(zmq_ctx, reg.endpoint, seed=1)
    agent_replies = _barrage(zmq_ctx, agent.endpoint, seed=2)
    assert registry_replies > 0 and agent_replies > 0  # errors answered, not only dropped
    # still answering, correctly, within a normal deadline
    assert client.call("Target", "echo", {"after": "fuzz"}, timeout_s=5) == {"after": "fuzz"}
    names = {r["name"] for r in client.call_endpoint(reg.endpoint, "list", timeout_s=5)}
    assert {"ServiceRegistry", "Target"} <= names
    health = client.call("Target", "health", timeout_s=5)
    assert health["status"] == "passing" and health["metrics"]["bad_frames_total"] > 1000
    for handle in (reg, agent):
        assert handle.proc.poll() is None
    assert client.call_endpoint(reg.endpoint, protocol.ACTION_INFO, timeout_s=5)["instances"] >= 2
