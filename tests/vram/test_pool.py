"""VramPool policy, driven directly with a manual clock: the rules one by one."""

import pytest

from common.gpu.backend import MIB
from common.vram.protocol import NOTICE_GRANTED, NOTICE_UNLOAD, Decision, LeaseState
from main_pc.model_manager import GpuSlot, Policy, VramPool
from main_pc.model_manager import pool as pool_module
from main_pc.model_manager.lease import Holder, TransitionError, transition

pytestmark = pytest.mark.timeout(30)
GB = 1024 * MIB


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def make_pool(**policy):
    clock = Clock()
    slots = [GpuSlot("main_pc", 0, "RTX 4090", 24 * GB, GB // 2),
             GpuSlot("pc2", 0, "RTX 3060", 12 * GB, GB // 2)]
    defaults = {"min_idle_s": 0.0, "reserve_mb": 512, "min_resident_s": 0.0,
                "unknown_margin": 0.0, "load_grace_s": 0.0}
    return VramPool(slots, Policy(**{**defaults, **policy}), clock=clock), clock


def holder(name):
    return Holder(name, f"{name}-iid", f"tcp://127.0.0.1:1/{name}", 100, "main_pc")


def test_grant_places_by_preference_and_refuses_what_never_fits():
    pool, _ = make_pool()
    a = pool.acquire("suite", 6450 * MIB, hosts=["pc2", "main_pc"])
    assert a.decision() is Decision.GRANTED and a.gpu == "pc2:0"
    b = pool.acquire("big", 12 * GB, hosts=["pc2", "main_pc"])
    assert b.gpu == "main_pc:0"  # does not fit pc2 (12 GB minus reserve): placed on main_pc
    huge = pool.acquire("huge", 24 * GB)
    assert huge.decision() is Decision.REFUSED and huge.reason == "too_large"
    assert pool.acquire("x", GB, hosts=["pc3"]).reason == "unknown_host"


def test_queue_when_short_and_no_wait_refuses_and_grant_follows_release():
    pool, _ = make_pool()
    first = pool.acquire("a", 23 * GB, hosts=["main_pc"], pinned=True)
    no_wait = pool.acquire("b", 2 * GB, hosts=["main_pc"], wait=False)
    assert no_wait.decision() is Decision.REFUSED and no_wait.reason == "no_room"
    queued = pool.acquire("b", 2 * GB, hosts=["main_pc"])
    assert queued.decision() is Decision.QUEUED and queued.position == 0
    pool.release(first.lease_id)
    assert queued.state is LeaseState.GRANTED
    assert [n.action for n in pool.notices] == [NOTICE_GRANTED]


def test_eviction_asks_idle_lower_priority_lru_first_and_never_pinned():
    pool, clock = make_pool()
    pinned = pool.acquire("pinned", 8 * GB, hosts=["pc2"], pinned=True, holder=holder("p"))
    clock.now += 1
    old = pool.acquire("old", 2 * GB, hosts=["pc2"], holder=holder("old"))
    clock.now += 1
    new = pool.acquire("new", 1 * GB, hosts=["pc2"], holder=holder("new"))
    clock.now += 1
    pool.keepalive(old.lease_id, used=False)
    want = pool.acquire("want", 2 * GB, hosts=["pc2"], priority=1, holder=holder("w"))
    assert want.decision() is Decision.QUEUED and want.reason.startswith("evicting 1")
    assert [(n.action, n.lease.model) for n in pool.notices] == [(NOTICE_UNLOAD, "old")]
    assert old.state is LeaseState.EVICTING and pinned.state is LeaseState.GRANTED
    other = pool.acquire("other", 1, hosts=["pc2"])  # the freed room is held for `want`
    assert other.decision() is Decision.QUEUED
    pool.release(old.lease_id)
    assert want.state is LeaseState.GRANTED and new.state is LeaseState.GRANTED
    assert pool.counters["evictions"] == 1


def test_busy_higher_priority_and_holderless_leases_are_not_evicted():
    pool, clock = make_pool(min_idle_s=5.0, evict_equal_priority=False)
    busy = pool.acquire("busy", 10 * GB, hosts=["pc2"], holder=holder("busy"))
    want = pool.acquire("want", 4 * GB, hosts=["pc2"], priority=1, holder=holder("w"))
    assert want.decision() is Decision.QUEUED and busy.state is LeaseState.GRANTED
    clock.now += 6
    pool.keepalive(busy.lease_id)  # keeps it alive, not used: now idle
    pool.tick()
    assert busy.state is LeaseState.EVICTING
    pool2, _ = make_pool()
    pool2.acquire("anon", 11 * GB, hosts=["pc2"])  # no endpoint: nobody to ask
    assert pool2.acquire("w", 2 * GB, hosts=["pc2"], priority=5).decision() is Decision.QUEUED


def test_unanswered_eviction_is_abandoned_at_its_deadline():
    pool, clock = make_pool(evict_timeout_s=2.0, keepalive_ttl_s=100)
    victim = pool.acquire("v", 11 * GB, hosts=["pc2"], holder=holder("v"))
    want = pool.acquire("w", 2 * GB, hosts=["pc2"], priority=1, holder=holder("w"))
    assert victim.state is LeaseState.EVICTING
    clock.now += 2.5
    pool.tick()
    assert victim.state is LeaseState.LOADED and want.state is LeaseState.QUEUED
    assert pool.counters["eviction_timeouts"] == 1 and not pool.pending


def test_keepalive_expiry_and_reclaim_free_the_memory():
    pool, clock = make_pool(keepalive_ttl_s=3.0)
    a = pool.acquire("a", 4 * GB, hosts=["pc2"], holder=holder("a"))
    b = pool.acquire("b", 4 * GB, hosts=["pc2"], holder=holder("b"))
    clock.now += 2
    pool.keepalive(b.lease_id)
    clock.now += 2
    pool.tick()
    assert a.state is LeaseState.EXPIRED and b.state is LeaseState.GRANTED
    assert pool.reclaim(instance_id="b-iid") == [b.lease_id]
    assert pool.committed()["pc2:0"] == 0 and not pool.leases


def test_reconciliation_flags_over_use_and_corrects_later_estimates():
    pool, _ = make_pool()
    a = pool.acquire("tinyllama", 2800 * MIB, hosts=["pc2"])
    pool.report(a.lease_id, 3400 * MIB)
    assert a.over_use and a.committed_bytes == 3400 * MIB and pool.counters["over_use"] == 1
    again = pool.acquire("tinyllama", 2800 * MIB, hosts=["pc2"])
    assert again.granted_bytes == int(3400 * MIB * 1.05)
    small = pool.acquire("nllb", 2400 * MIB, hosts=["pc2"])
    pool.report(small.lease_id, 1500 * MIB)
    assert not small.over_use
    assert pool.acquire("nllb", 2400 * MIB).granted_bytes == int(1500 * MIB * 1.05)


def test_head_of_line_a_big_request_that_cannot_fit_does_not_block_a_small_one():
    """The live defect: LocalFineTunerAgent (14.4 GB) at the head of the queue, unable to get
    room without evicting busy priority-5 models, starved NLLBAdapter (2.5 GB) while 12.7 GB
    of the 4090 stood free."""
    pool, clock = make_pool(min_idle_s=30.0, max_pass_over=1, queue_deadline_s=60.0,
                            keepalive_ttl_s=1000.0)
    busy = [pool.acquire(f"busy{i}", 5400 * MIB, hosts=["main_pc"], priority=5,
                         holder=holder(f"busy{i}")) for i in range(2)]
    big = pool.acquire("LocalFineTuner", 14400 * MIB, hosts=["main_pc"], priority=2,
                       holder=holder("ft"))
    assert big.decision() is Decision.QUEUED
    for i in range(3):  # passed over more than max_pass_over: it could never fit, holds nothing
        clock.now += 10
        small = pool.acquire("NLLB", 2500 * MIB, hosts=["main_pc"], priority=1,
                             holder=holder(f"nllb{i}"))
        assert small.decision() is Decision.GRANTED, small.reason
        pool.release(small.lease_id)
    assert big.passed_over == 3 and big.reason.startswith("waiting_for_room: needs ")
    view = big.view(clock.now)
    assert (view["waited_s"], view["deadline_in_s"], view["passed_over"]) == (30.0, 30.0, 3)
    clock.now += 30
    pool.tick()  # never waits forever: refused at its deadline, saying what held the room
    assert big.decision() is Decision.REFUSED and big.state is LeaseState.REFUSED
    assert big.reason.startswith("deadline: not granted within 60 s; needs 14400 MB")
    assert "busy0 (5400 MB, priority 5)" in big.reason
    assert pool.counters["refused_deadline"] == 1 and not pool.queue()
    assert all(b.state is LeaseState.GRANTED for b in busy)


def test_a_request_passed_over_max_pass_over_times_holds_its_room_until_it_fits():
    pool, clock = make_pool(min_idle_s=100.0, max_pass_over=2)
    blockers = [pool.acquire(f"b{i}", 3 * GB, hosts=["pc2"], holder=holder(f"b{i}"))
                for i in range(3)]  # busy, but evictable one day: the big one could fit
    big = pool.acquire("big", 8 * GB, hosts=["pc2"], holder=holder("big"))
    passing = [pool.acquire(f"s{i}", GB // 2, hosts=["pc2"]) for i in range(2)]
    assert all(s.decision() is Decision.GRANTED for s in passing)
    assert big.reason.startswith("holding_room on pc2:0 (passed over 2 times)")
    late = pool.acquire("late", GB // 2, hosts=["pc2"])
    assert late.decision() is Decision.QUEUED  # room is there, but it is big's now
    assert [le.model for le in pool.queue()] == ["big", "late"]
    small_elsewhere = pool.acquire("elsewhere", GB // 2, hosts=["pc2", "main_pc"])
    assert small_elsewhere.gpu == "main_pc:0"  # big holds pc2 only
    for blocker in blockers[:2]:
        pool.release(blocker.lease_id)
        assert big.state is LeaseState.QUEUED and late.state is LeaseState.QUEUED
    pool.release(blockers[2].lease_id)
    assert big.state is LeaseState.GRANTED and late.state is LeaseState.GRANTED


def test_no_eviction_for_a_request_that_cannot_complete():
    pool, clock = make_pool(evict_timeout_s=10.0)
    pool.acquire("pinned", 7 * GB, hosts=["pc2"], pinned=True)
    idle = pool.acquire("idle", 3 * GB, hosts=["pc2"], holder=holder("idle"))
    clock.now += 1
    want = pool.acquire("want", 6 * GB, hosts=["pc2"], priority=1, holder=holder("w"))
    assert want.state is LeaseState.QUEUED and idle.state is LeaseState.GRANTED
    assert not pool.notices and not pool.pending  # evicting idle alone would not make room
    short = pool.acquire("short", 4 * GB, hosts=["pc2"], priority=1, deadline_s=5.0)
    assert short.state is LeaseState.QUEUED and idle.state is LeaseState.GRANTED
    assert not pool.notices  # it would fit, but the victim's 10 s exceed its 5 s deadline
    clock.now += 5
    pool.tick()
    assert short.decision() is Decision.REFUSED and "deadline: not granted within 5 s" \
        in short.reason and "pinned (7168 MB, pinned)" in short.reason
    assert idle.state is LeaseState.GRANTED and not pool.pending and not pool.notices
    can = pool.acquire("can", 4 * GB, hosts=["pc2"], priority=1, holder=holder("c"))
    assert can.reason.startswith("evicting 1") and idle.state is LeaseState.EVICTING
    assert [(n.action, n.lease.model) for n in pool.notices] == [(NOTICE_UNLOAD, "idle")]


def test_impossible_transitions_raise():
    pool, _ = make_pool()
    lease = pool.acquire("a", GB)
    pool.release(lease.lease_id)
    with pytest.raises(TransitionError, match="released -> granted"):
        transition(lease, LeaseState.GRANTED)


def test_a_model_never_measured_gets_headroom_and_a_measured_one_shrinks_to_reality():
    pool, _ = make_pool(unknown_margin=0.2)
    first = pool.acquire("whisper", 5000 * MIB, hosts=["pc2"])
    assert first.granted_bytes == 6000 * MIB
    pool.report(first.lease_id, 5500 * MIB)  # within the headroom: not over-use
    assert not first.over_use and first.granted_bytes == int(5500 * MIB * 1.05)
    assert pool.committed()["pc2:0"] == int(5500 * MIB * 1.05)


def test_a_fresh_or_still_loading_lease_is_not_evicted():
    pool, clock = make_pool(min_resident_s=10.0, load_grace_s=60.0)
    fresh = pool.acquire("fresh", 10 * GB, hosts=["pc2"], holder=holder("f"))
    want = pool.acquire("want", 4 * GB, hosts=["pc2"], priority=1, holder=holder("w"))
    assert want.state is LeaseState.QUEUED and fresh.state is LeaseState.GRANTED
    clock.now += 11
    pool.tick()  # resident long enough, but it never reported: still loading
    assert fresh.state is LeaseState.GRANTED
    pool.report(fresh.lease_id, 10 * GB)
    assert fresh.state is LeaseState.EVICTING


def test_tiny_leases_cannot_pile_up_without_bound(monkeypatch):
    monkeypatch.setattr(pool_module, "MAX_LEASES", 20)
    pool, _ = make_pool()
    granted = [pool.acquire(f"tiny{i}", MIB, holder=holder(f"h{i}")) for i in range(20)]
    assert all(le.decision() is Decision.GRANTED for le in granted)
    extra = pool.acquire("tiny-extra", MIB)
    assert extra.decision() is Decision.REFUSED and extra.reason == "too_many_leases"
    pool.release(granted[0].lease_id)
    assert pool.acquire("tiny-again", MIB).decision() is Decision.GRANTED
