"""Issue #8, hostile input everywhere: over 100,000 hostile messages to every kind of socket a
mesh binds or subscribes with, from a mesh started by its launcher, and afterwards every agent
still answers correctly, none was restarted, and no process grew by more than RSS_BOUND_MB.

Targets: the ROUTER of the registry, an echo agent, the hub, the model manager, a stream
source and a stream stage (tcp) and the launcher's control socket (tcp); raw non-ZMTP bytes
to each of those and to the PUB sockets; hostile subscriptions to the registry's and the
streams' PUB sockets; a hostile publisher feeding a RegistryView and a stream stage (each
relaying the genuine publisher too); and hostile HTTP to the hub.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

import pytest
import zmq
from fuzz_mesh import TOKEN, TOKEN_VAR, Mesh, hub_health, mesh_config

from common.base_agent import BaseAgent, handler
from common.base_agent.discovery import RegistryView
from common.base_agent.protocol import TOPIC_REGISTRY
from common.base_agent.settings import AgentSettings
from common.base_agent.sockets import new_socket
from common.hub import protocol as hub_protocol
from common.testing.fuzz import (
    hostile_events,
    hostile_messages,
    hostile_subscriptions,
    oversized_messages,
)
from common.testing.fuzz import raw_stream_payloads as raw
from common.testing.fuzz_http import hostile_requests, http_barrage, request_status, slow_clients
from common.testing.fuzz_sockets import (
    HostilePublisher,
    dealer_barrage,
    raw_barrage,
    subscriber_barrage,
)
from common.testing.mesh import MeshRun, free_ports
from common.testing.wait import wait_until
from common.vram import protocol as vram_protocol

pytestmark = pytest.mark.timeout(150)
log = logging.getLogger(__name__)

RSS_BOUND_MB = 50
HUB_ACTIONS = tuple(getattr(hub_protocol, n) for n in hub_protocol.__all__
                    if n.startswith("ACTION_"))
VRAM_ACTIONS = tuple(getattr(vram_protocol, n) for n in vram_protocol.__all__
                     if n.startswith("ACTION_"))
READ_ONLY = ("status", "health", "health_check", "info")  # the launcher also takes down/restart


class HostileUpstream(BaseAgent):
    """The stage's upstream, as far as it knows: its stream is the test's hostile publisher."""

    class Settings(AgentSettings):
        pub_endpoint: str

    @handler("stream_info")
    def stream_info(self, payload=None):
        return {"pub_endpoint": self.settings.pub_endpoint, "published": 0}


class LateAgent(BaseAgent):
    """Registers after the flood: a RegistryView can only know it from genuine events."""


@pytest.fixture
def mesh(procs, tmp_path, client_factory, monkeypatch):
    monkeypatch.setenv(TOKEN_VAR, TOKEN)
    p = free_ports(10)
    run = MeshRun(procs, tmp_path, mesh_config(tmp_path, p))
    run.up("main_pc")
    run.wait_ready(("main_pc",), timeout_s=40)
    yield Mesh(run, p, client_factory(f"tcp://127.0.0.1:{p[0]}"))
    run.close()


def fuzz_routers(mesh: Mesh, ctx, scale: int, seed0: int = 0) -> Counter:
    plan = {"ServiceRegistry": (4, None), "Echo": (4, None), "ObservabilityHub": (4, HUB_ACTIONS),
            "ModelManagerAgent": (3, VRAM_ACTIONS), "AudioCapture": (1, None),
            "FusedAudioPreprocessor": (1, None), "launcher": (1, READ_ONLY)}
    sent: Counter = Counter()
    for seed, (name, (share, actions)) in enumerate(plan.items()):
        extra = {"actions": actions} if actions else {}
        messages = hostile_messages(share * scale, seed=seed0 + seed, oversize_every=0, **extra)
        sent[name], _ = dealer_barrage(ctx, mesh.routers[name], messages)
    return sent


def fuzz_oversized(mesh: Mesh, ctx, count: int) -> int:
    """On connections of their own: each one over ZMQ_MAXMSGSIZE makes the target hang up,
    losing what was in flight behind it."""
    return sum(dealer_barrage(ctx, ep, oversized_messages(count), barrier=False)[0]
               for ep in mesh.routers.values())


def fuzz_raw(mesh: Mesh) -> int:
    targets = [*mesh.routers.values(), *mesh.pubs.values()]
    return sum(raw_barrage(ep, raw(60, seed=i)) for i, ep in enumerate(targets))


def fuzz_pubs(mesh: Mesh, ctx, count: int) -> Counter:
    return Counter({name: subscriber_barrage(ctx, ep, hostile_subscriptions(count, seed=i))
                    for i, (name, ep) in enumerate(mesh.pubs.items())})


def _subscriber(ctx, endpoint: str, topic: bytes) -> zmq.Socket:
    """A SUB on the genuine publisher, whose messages the hostile one relays."""
    sock = new_socket(ctx, zmq.SUB)
    sock.setsockopt(zmq.SUBSCRIBE, topic)
    sock.connect(endpoint)
    return sock


def fuzz_registry_view(mesh: Mesh, ctx, agents, count: int) -> int:
    """A RegistryView whose SUB is fed by a hostile publisher relaying the registry's events;
    afterwards it still follows the genuine registry (an agent registered after the flood)."""
    genuine = _subscriber(ctx, mesh.events, TOPIC_REGISTRY)
    hostile = HostilePublisher(ctx, genuine)
    view = RegistryView(mesh.registry, ctx=ctx, events_endpoint=hostile.endpoint).start()
    try:
        hostile.wait_subscribed(TOPIC_REGISTRY)
        seq = mesh.call("ServiceRegistry", "info")["seq"]
        sent = hostile.flood(hostile_events(count, TOPIC_REGISTRY, seed=21, seq_base=seq))
        late = agents(LateAgent("Late", "tcp://127.0.0.1:0", registry=mesh.registry,
                               heartbeat_interval_s=0.3))
        wait_until(lambda: hostile.relay() >= 0 and view.endpoints("Late") == [late.endpoint]
                   and view.endpoints("Echo") == [mesh.routers["Echo"]], 10,
                   what="the view following the genuine registry after the flood")
        assert view.resyncs > 1  # hostile events were applied and forced re-syncs
    finally:
        view.stop()
        hostile.close()
        genuine.close()
    return sent


def fuzz_stage(mesh: Mesh, ctx, agents, count: int) -> int:
    """FusedAudioPreprocessor subscribes to 'HostileAudio' (the hostile publisher, relaying
    AudioCapture); afterwards it still processes the genuine frames."""
    genuine = _subscriber(ctx, mesh.pubs["AudioCapture"], b"audio")
    hostile = HostilePublisher(ctx, genuine)
    try:
        agents(HostileUpstream("HostileAudio", "tcp://127.0.0.1:0", registry=mesh.registry,
                               settings={"pub_endpoint": hostile.endpoint},
                               heartbeat_interval_s=0.3))
        hostile.wait_subscribed(b"audio", timeout_s=15)
        sent = hostile.flood(hostile_events(count, b"audio", seed=22))
        after = wait_until(lambda: _read_all(mesh, hostile, sent), 10, what="the flood read")
        assert after["rejected"] > 0, after
        wait_until(lambda: _read_all(mesh, hostile, sent)["published"] > after["published"] + 5,
                   10, what="the stage processing genuine frames after the flood")
    finally:
        hostile.close()
        genuine.close()
    return sent


def _read_all(mesh: Mesh, hostile: HostilePublisher, sent: int) -> dict | None:
    """The stage's stats once it has read every hostile message (relaying genuine ones)."""
    hostile.relay()
    stats = mesh.call("FusedAudioPreprocessor", "stream_stats")
    return stats if stats["received"] >= sent else None


def fuzz_http(mesh: Mesh) -> Counter:
    statuses, unanswered = http_barrage(mesh.http, hostile_requests(600, seed=23, token=TOKEN))
    assert unanswered == 0 and 500 not in statuses, statuses
    held = slow_clients(mesh.http, 20)  # over the cap of 16 connections per client
    try:
        get = b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n"
        assert request_status(mesh.http, get) == 503
        assert request_status(mesh.http, get, source="127.0.0.2") == 200
    finally:
        for sock in held:
            sock.close()
    return statuses


def check_all_answer(mesh: Mesh, pids_before: dict[str, int]) -> None:
    assert mesh.call("Echo", "echo", {"after": "fuzz"}) == {"after": "fuzz"}
    found = mesh.call("ServiceRegistry", "lookup", {"name": "Echo"})
    assert [r["endpoint"] for r in found] == [mesh.routers["Echo"]]
    assert "gpus" in mesh.call("ModelManagerAgent", "status")
    assert mesh.call("AudioCapture", "stream_info")["published"] > 0
    assert mesh.call("FusedAudioPreprocessor", "stream_stats")["subscribed"]
    doc = wait_until(lambda: hub_health(mesh), 5, what="GET /api/health")
    assert {"Echo", "ServiceRegistry"} <= {a["name"] for a in doc["agents"]}
    for name in mesh.routers:
        assert mesh.call(name, "health")["status"] == "passing", name
    agents = mesh.run.agents("main_pc")
    assert {n: a["restarts"] for n, a in agents.items()} == dict.fromkeys(agents, 0)
    assert {n: a["pid"] for n, a in agents.items()} == pids_before


def fuzz_zmq(mesh: Mesh, ctx, agents) -> dict[str, Counter]:
    """Every ZeroMQ socket type in turn; returns the messages sent, by socket type."""
    return {"ROUTER": fuzz_routers(mesh, ctx, scale=5000),
            "ROUTER (oversized)": Counter(all=fuzz_oversized(mesh, ctx, 20)),
            "PUB": fuzz_pubs(mesh, ctx, 4000),
            "SUB": Counter(RegistryView=fuzz_registry_view(mesh, ctx, agents, 5000),
                           FusedAudioPreprocessor=fuzz_stage(mesh, ctx, agents, 5000))}


def test_100k_hostile_messages_leave_every_agent_answering(mesh, zmq_ctx, agents):
    t0 = time.monotonic()
    warm = fuzz_routers(mesh, zmq_ctx, scale=500, seed0=100)  # first-touch allocations
    pids = {n: a["pid"] for n, a in mesh.run.agents("main_pc").items()}
    rss_before, handled_before = mesh.rss_mb(), mesh.handled()
    sent = fuzz_zmq(mesh, zmq_ctx, agents)
    connections, statuses = fuzz_raw(mesh), fuzz_http(mesh)
    handled = {n: c - handled_before[n] for n, c in mesh.handled().items()}
    check_all_answer(mesh, pids)
    rss_after = mesh.rss_mb()
    growth = {n: round(rss_after[n] - rss_before[n], 1) for n in rss_before}
    total = sum(sum(c.values()) for c in sent.values()) + sum(warm.values())
    log.info("fuzz: %d messages in %.1f s (warm-up %d); sent %s; ROUTER calls handled %s; "
             "raw connections %d; HTTP %s; RSS before %s MB, growth %s MB; the hub lists %d "
             "agents, the registry %d instances", total, time.monotonic() - t0,
             sum(warm.values()), sent, handled, connections, dict(statuses),
             {n: round(v, 1) for n, v in rss_before.items()}, growth,
             len(hub_health(mesh)["agents"]), mesh.call("ServiceRegistry", "info")["instances"])
    assert total >= 100_000
    assert max(growth.values()) < RSS_BOUND_MB, growth
    for name, count in sent["ROUTER"].items():
        assert handled[name] >= count, (name, handled[name], count)  # taken, not dropped
