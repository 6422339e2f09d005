"""Property: random acquire / release / holder crash / keep-alive expiry / estimate correction
sequences against a live manager (real sockets) never over-commit a GPU, never lose a pinned
lease, leak no lease, keep no queued lease past its deadline (one that reaches it is refused,
reason deadline), and grant every queued request once room exists."""

import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.base_agent import BaseAgent, handler
from common.base_agent.client import Client
from common.testing.wait import wait_until
from common.vram import LeaseClient
from common.vram.protocol import NOTICE_GRANTED, NOTICE_UNLOAD
from main_pc.model_manager import ModelManagerAgent
from tests.vram.conftest import manager_settings

pytestmark = pytest.mark.timeout(120)
TTL_S = 10.0
HOLDERS = 4  # holder 3 is stubborn: it ignores unload requests
USABLE_MB = {"main_pc:0": 24000 - 500, "pc2:0": 12000 - 500}
HOST_CHOICES = [["main_pc"], ["pc2"], ["pc2", "main_pc"], []]


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class NoticeSink(BaseAgent):
    """Stands in for the holders' endpoints: collects the manager's notices."""

    def on_setup(self):
        self.lock, self.unload = threading.Lock(), set()

    @handler(NOTICE_UNLOAD)
    def on_unload(self, payload):
        with self.lock:
            self.unload.add(payload["lease_id"])
        return {"ok": True}

    @handler(NOTICE_GRANTED)
    def on_granted(self, payload):
        return {"ok": True}


def acquire_op(sizes_mb):
    return st.tuples(st.just("acquire"), st.integers(0, 5), st.sampled_from(sizes_mb),
                     st.integers(0, 3), st.booleans(), st.integers(0, 3),
                     st.integers(0, HOLDERS - 1), st.sampled_from([None, 3.0, 8.0, 30.0]))


release_op = st.tuples(st.just("release"), st.integers(0, 50))
keepalive_op = st.tuples(st.just("keepalive"), st.integers(0, 50))
advance_op = st.tuples(st.just("advance"), st.sampled_from([1.0, 6.0, 11.0]))
ops = st.one_of(
    acquire_op([500, 1500, 2800, 6450, 9000, 13000]), release_op,
    st.tuples(st.just("crash"), st.integers(0, HOLDERS - 1)),
    keepalive_op, advance_op,
    st.tuples(st.just("report"), st.integers(0, 50), st.sampled_from([0.5, 0.9, 1.2, 1.4])),
)
# acquire-heavy: queues form, leases wait, deadlines pass
big = acquire_op([2800, 6450, 9000, 13000])
queue_ops = st.one_of(big, big, big, keepalive_op, keepalive_op, advance_op, release_op)


class Harness:
    def __init__(self, agents, zmq_ctx):
        self.clock = Clock()
        self.sink = agents(NoticeSink("Sink"))
        settings_ = manager_settings(keepalive_ttl_s=TTL_S, evict_timeout_s=5.0,
                                     unknown_margin=0.2, min_resident_s=2.0, load_grace_s=5.0,
                                     clock=self.clock, watch_registry=False)
        self.mgr = agents(ModelManagerAgent("ModelManagerAgent", settings=settings_))
        self.client = Client(ctx=zmq_ctx)
        # no registry here: every name resolves to the manager
        self.client.resolve = lambda name, timeout_s=0, session_key=None: self.mgr.endpoint
        self.leases = LeaseClient(self.client)
        self.mine: dict[str, dict] = {}  # lease id -> the view the test last saw
        self.pinned: set[str] = set()

    def holder(self, i):
        return {"name": f"h{i}", "instance_id": f"h{i}", "endpoint": self.sink.endpoint}

    def step(self, op):
        kind, *args = op
        live = sorted(self.mine)
        pick = (lambda n: live[n % len(live)]) if live else None
        if kind == "acquire":
            model, size, prio, pinned, hosts, who, deadline_s = args
            self.leases.holder = self.holder(who)
            view = self.leases.acquire(f"m{model}", size, priority=prio, pinned=pinned,
                                       hosts=HOST_CHOICES[hosts], deadline_s=deadline_s)
            if view["status"] != "refused":
                self.mine[view["lease_id"]] = view
                if pinned:
                    self.pinned.add(view["lease_id"])
        elif kind == "release" and pick:
            self.leases.release(pick(args[0]))
        elif kind == "crash":
            self.leases.holder_exited(instance_id=f"h{args[0]}")
        elif kind == "keepalive" and pick:
            self.leases.keepalive(pick(args[0]))
        elif kind == "advance":
            self.clock.now += args[0]
        elif kind == "report" and pick:
            view = self.leases.lease(pick(args[0]))
            if view["status"] == "granted":
                self.leases.report(view["lease_id"], int(view["granted_mb"] * args[1]) << 20)
        self.answer_unloads()

    def answer_unloads(self):
        """Well-behaved holders release what they are asked to unload (h3 never does)."""
        status = self.leases.status()
        asked = {le["lease_id"] for le in status["leases"]
                 if le["state"] == "evicting" and le["holder"]["name"] != "h3"}
        with self.sink.lock:
            pending = asked - self.sink.unload
        if pending:
            wait_until(lambda: not (asked - self.sink.unload), 3, what="unload notices")
        for lease_id in asked:
            self.leases.release(lease_id)

    def check(self):
        status = self.leases.status()
        by_id = {le["lease_id"]: le for le in status["leases"] + status["queue"]}
        for gpu in status["gpus"]:
            on_gpu = [le for le in status["leases"] if le["gpu"] == gpu["gpu"]]
            assert sum(le["granted_mb"] for le in on_gpu) <= USABLE_MB[gpu["gpu"]] + 0.5
            excess = sum(max(0.0, le["reported_mb"] - le["granted_mb"]) for le in on_gpu)
            assert gpu["committed_mb"] <= USABLE_MB[gpu["gpu"]] + excess + 0.5
        assert not [le for le in status["leases"] if le["pinned"] and le["state"] == "evicting"]
        overdue = [q for q in status["queue"] if q["deadline_in_s"] <= 0]
        assert not overdue, "a queued lease older than its deadline"
        for lease_id in list(self.mine):
            if lease_id in by_id:
                continue
            ended = self.leases.lease(lease_id)
            assert ended["state"] in ("released", "cancelled", "expired", "reclaimed",
                                      "refused"), ended
            if ended["state"] == "refused":
                assert ended["reason"].startswith("deadline: not granted within"), ended
            del self.mine[lease_id]
        assert set(by_id) == set(self.mine), "a lease the test does not know of: a leak"

    def drain_and_check_progress(self):
        """Free everything granted (queued requests kept alive): each queued one is granted,
        or refused at its deadline."""
        waiting = {q["lease_id"] for q in self.leases.status()["queue"]}
        for _ in range(12):
            status = self.leases.status()
            for lease in status["leases"]:
                self.leases.release(lease["lease_id"])
            for queued in status["queue"]:
                self.leases.keepalive(queued["lease_id"])
            self.clock.now += 6.0  # under the TTL; abandons a stubborn holder's eviction
            self.answer_unloads()
            if not self.leases.status()["queue"]:
                break
        for lease_id in waiting:
            assert self.leases.lease(lease_id)["state"] in ("granted", "released", "refused"), \
                lease_id


def run(agents, zmq_ctx, sequence):
    harness = Harness(agents, zmq_ctx)
    try:
        for op in sequence:
            harness.step(op)
            harness.check()
        harness.drain_and_check_progress()
        harness.check()
    finally:
        harness.client.close()
        harness.mgr.stop()
        harness.sink.stop()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.lists(ops, min_size=1, max_size=30))
def test_random_sequences_keep_the_pool_sound(agents, zmq_ctx, sequence):
    run(agents, zmq_ctx, sequence)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.lists(queue_ops, min_size=10, max_size=30))
def test_no_queued_lease_outlives_its_deadline(agents, zmq_ctx, sequence):
    run(agents, zmq_ctx, sequence)
