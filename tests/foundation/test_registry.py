"""ServiceRegistry: register, lookup, watch, conflicts, TTL expiry, persistence, re-sync."""

import threading
import time

import pytest
import zmq

from common.base_agent import protocol
from common.base_agent.discovery import RegistryView
from common.base_agent.errors import BadRequest, ConflictError, RemoteError
from common.testing.agents import EchoAgent
from common.testing.wait import wait_registered, wait_until

INTERVAL_S = 0.2


def _record(name, iid, port, **extra):
    return {"name": name, "instance_id": iid, "endpoint": f"tcp://127.0.0.1:{port}",
            "host": "127.0.0.1", "capabilities": extra.pop("caps", []), "pid": 1,
            "heartbeat_interval_s": 60.0, **extra}


def test_register_lookup_by_name_and_capability_and_list(registry, client_factory):
    client = client_factory(registry.endpoint)
    reg = registry.endpoint
    client.call_endpoint(reg, "register", _record("Tts", "tts-1", 9001, caps=["speech"]))
    client.call_endpoint(reg, "register", _record("Stt", "stt-1", 9002, caps=["speech", "asr"]))
    assert [r["instance_id"] for r in client.call_endpoint(reg, "lookup", {"name": "Tts"})] == [
        "tts-1"]
    by_cap = client.call_endpoint(reg, "lookup", {"capability": "speech"})
    assert {r["name"] for r in by_cap} == {"Tts", "Stt"}
    listed = {r["name"] for r in client.call_endpoint(reg, "list")}
    assert {"Tts", "Stt", "ServiceRegistry"} <= listed
    assert client.resolve("Stt") == "tcp://127.0.0.1:9002"


def test_agent_registers_itself_and_is_called_by_name(registry, agents, client_factory):
    agents(EchoAgent("Echo", registry=registry.endpoint, heartbeat_interval_s=INTERVAL_S))
    client = client_factory(registry.endpoint)
    wait_registered(client, "Echo")
    assert client.call("Echo", "echo", "hello") == "hello"


def test_second_live_claimant_is_refused_unless_both_are_multi(registry, client_factory):
    client = client_factory()
    reg = registry.endpoint
    client.call_endpoint(reg, "register", _record("Nlu", "nlu-1", 9101))
    with pytest.raises(ConflictError, match="nlu-1"):
        client.call_endpoint(reg, "register", _record("Nlu", "nlu-2", 9102))
    client.call_endpoint(reg, "register", _record("Blue", "b-1", 9103, multi=True))
    client.call_endpoint(reg, "register", _record("Blue", "b-2", 9104, multi=True))
    client.call_endpoint(reg, "prefer", {"instance_id": "b-1"})
    found = client.call_endpoint(reg, "lookup", {"name": "Blue"})
    assert [r["instance_id"] for r in found] == ["b-1", "b-2"] and found[0]["preferred"]


def test_a_restart_on_the_same_endpoint_replaces_the_dead_instance(registry, client_factory):
    client = client_factory()
    reg = registry.endpoint
    client.call_endpoint(reg, "register", _record("Nlu", "nlu-old", 9201))
    client.call_endpoint(reg, "register", _record("Nlu", "nlu-new", 9201))
    assert [r["instance_id"] for r in client.call_endpoint(reg, "lookup", {"name": "Nlu"})] == [
        "nlu-new"]


@pytest.mark.parametrize("payload, field", [
    ({"instance_id": "x", "endpoint": "tcp://h:1"}, "payload.name"),
    ({"name": "x", "instance_id": "x", "endpoint": "http://h:1"}, "payload.endpoint"),
    ({"name": "x", "instance_id": "x", "endpoint": "tcp://h:1", "pid": "12"}, "payload.pid"),
    ({"name": "x", "instance_id": "x", "endpoint": "tcp://h:1", "capabilities": [1]},
     "payload.capabilities"),
    ("not a map", "payload must be a map"),
])
def test_bad_registrations_are_refused_naming_the_field(registry, client_factory, payload, field):
    with pytest.raises(RemoteError, match=field) as info:
        client_factory().call_endpoint(registry.endpoint, "register", payload)
    assert info.value.code == BadRequest.code


def test_watch_sees_register_and_deregister_in_order(registry, agents, zmq_ctx):
    view = RegistryView(registry.endpoint, ctx=zmq_ctx).start()
    try:
        agent = agents(EchoAgent("Watched", registry=registry.endpoint,
                                 heartbeat_interval_s=INTERVAL_S))
        assert view.wait_for(lambda v: v.endpoints("Watched") == [agent.endpoint], 5)
        agent.stop()
        assert view.wait_for(lambda v: not v.endpoints("Watched"), 5)
    finally:
        view.stop()


def test_ttl_expiry_after_kill9_within_three_intervals(procs, registry, zmq_ctx, client_factory):
    client = client_factory(registry.endpoint)
    gone = threading.Event()
    proc = procs.agent(registry.endpoint, "Doomed", interval_s=INTERVAL_S)
    wait_registered(client, "Doomed")
    view = RegistryView(registry.endpoint, ctx=zmq_ctx,
                        on_change=lambda name: name == "Doomed" and gone.set()).start()
    try:
        killed_at = time.monotonic()
        proc.kill9()
        assert gone.wait(3 * INTERVAL_S + 1.0)
        elapsed = time.monotonic() - killed_at
        assert not view.endpoints("Doomed")
        assert elapsed <= 3 * INTERVAL_S, f"expired after {elapsed:.3f} s"
    finally:
        view.stop()


def test_registry_kill9_and_restart_loses_no_registration(procs, tmp_path, client_factory):
    db = str(tmp_path / "reg.db")
    reg = procs.registry(db, interval_s=INTERVAL_S)
    client = client_factory(reg.endpoint)
    for i in range(20):
        client.call_endpoint(reg.endpoint, "register", _record(f"A{i}", f"a{i}", 9300 + i))
    agent = procs.agent(reg.endpoint, "Live", interval_s=INTERVAL_S)
    wait_registered(client, "Live")
    before = {r["instance_id"] for r in client.call_endpoint(reg.endpoint, "list")}
    reg.kill9()
    reg2 = procs.registry(db, endpoint=reg.endpoint, interval_s=INTERVAL_S)
    after = {r["instance_id"] for r in client.call_endpoint(reg2.endpoint, "list")}
    assert before - after <= {i for i in before if i.startswith("ServiceRegistry")}
    assert {f"a{i}" for i in range(20)} <= after
    # the live agent keeps heartbeating to the new process and is not expired
    time.sleep(4 * INTERVAL_S)  # longer than the TTL: what matters is what is left after it
    assert client.call("Live", "echo", 1) == 1
    assert agent.proc.poll() is None


def _forward_dropping(ctx, source, stop, drop_seq, ready):
    """A real PUB/SUB hop that loses one chosen event, like a slow joiner or a full queue."""
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(source)
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    ready.append(pub.bind_to_random_port("tcp://127.0.0.1"))
    while not stop.is_set():
        if sub.poll(20):
            frames = sub.recv_multipart()
            _, body = protocol.decode_event(frames)
            if body.get("seq") != drop_seq[0] or body.get("op") == "tick":
                pub.send_multipart(frames)
    sub.close()
    pub.close()


def test_two_watchers_converge_after_one_misses_an_event(registry, client_factory, zmq_ctx):
    client = client_factory()
    info = client.call_endpoint(registry.endpoint, "info")
    stop, port, drop = threading.Event(), [], [info["seq"] + 2]
    hop = threading.Thread(target=_forward_dropping,
                           args=(zmq_ctx, info["events_endpoint"], stop, drop, port))
    hop.start()
    wait_until(lambda: port, 2)
    direct = RegistryView(registry.endpoint, ctx=zmq_ctx).start()
    lossy = RegistryView(registry.endpoint, ctx=zmq_ctx,
                         events_endpoint=f"tcp://127.0.0.1:{port[0]}").start()
    try:
        for view in (direct, lossy):  # a tick heard: the SUB is connected (no slow joiner)
            assert view.wait_for(lambda v: v.last_event_at > 0, 5)
        for i in range(3):
            client.call_endpoint(registry.endpoint, "register", _record(f"W{i}", f"w{i}", 9400 + i))
        want = {r["instance_id"] for r in client.call_endpoint(registry.endpoint, "list")}
        for view in (direct, lossy):
            assert view.wait_for(lambda v: set(v.instances) == want, 5)
        assert lossy.resyncs >= 2 and direct.resyncs == 1
    finally:
        direct.stop()
        lossy.stop()
        stop.set()
        hop.join(2)
