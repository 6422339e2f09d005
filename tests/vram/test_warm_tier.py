"""The warm tier and eviction by expected cost: pool rules with a manual clock, then model agents
over real sockets whose weights go to host RAM and come back from there faster than from disk."""

import random

import pytest

from common.model_agent import ModelState, TorchModelAgent
from common.testing.wait import wait_until
from common.vram.protocol import NOTICE_DROP_WARM, NOTICE_UNLOAD, Decision, LeaseState, Tier
from main_pc.model_manager import GpuSlot, Policy, VramPool
from tests.vram.conftest import HOSTS, INTERVAL_S
from tests.vram.test_pool import GB, Clock, holder

pytestmark = pytest.mark.timeout(60)


def warm_pool(budget_gb=8, **policy):
    clock = Clock()
    slots = [GpuSlot("main_pc", 0, "RTX 4090", 24 * GB, GB // 2)]
    defaults = {"min_idle_s": 0.0, "min_resident_s": 0.0, "unknown_margin": 0.0,
                "load_grace_s": 0.0, "estimate_margin": 0.0}
    return VramPool(slots, Policy(**{**defaults, **policy}), clock=clock,
                    warm_budgets={"main_pc": budget_gb * GB}), clock


def loaded(pool, model, size, **kw):
    lease = pool.acquire(model, size, holder=holder(model), **kw)
    pool.report(lease.lease_id, size)
    return lease


def test_released_weights_stay_warm_within_the_budget_and_come_back_warm_on_their_host():
    pool, clock = warm_pool(budget_gb=5)
    a = loaded(pool, "a", 3 * GB)
    b = loaded(pool, "b", 3 * GB)
    assert pool.release(a.lease_id, warm_bytes=3 * GB)[1] is True
    assert pool.tier_of("a") is Tier.WARM and pool.tiers.warm.used("main_pc") == 3 * GB
    _, kept = pool.release(b.lease_id, warm_bytes=3 * GB)  # 6 GB > 5: a's copy makes room
    assert kept and [(n.action, n.copy.model) for n in pool.notices] == [(NOTICE_DROP_WARM, "a")]
    assert pool.tier_of("a") is Tier.COLD and pool.tiers.warm.used("main_pc") == 3 * GB
    again = pool.acquire("b", 3 * GB, holder=holder("b"))
    assert again.tier is Tier.WARM and again.view(clock.now)["tier"] == "warm"
    assert pool.tier_of("b") is Tier.RESIDENT and not pool.tiers.warm.copies  # RAM back to the GPU
    assert pool.release(again.lease_id, warm_bytes=6 * GB)[1] is False  # over the budget
    assert pool.tier_bytes()["main_pc"] == {"resident": 0, "warm": 0, "cold": 6 * GB}


def test_the_warm_tier_never_holds_more_than_its_budget_and_pinned_leases_are_never_evicted():
    for seed in range(20):
        rng = random.Random(seed)
        pool, clock = warm_pool(budget_gb=rng.choice([0, 2, 6, 10]))
        budget = pool.tiers.warm.budgets["main_pc"]
        live = []
        for _ in range(150):
            clock.now += rng.uniform(0, 3)
            op = rng.random()
            if op < 0.45 or not live:
                size = rng.randint(1, 9) * GB
                lease = pool.acquire(f"m{rng.randint(0, 9)}", size, priority=rng.randint(0, 3),
                                     pinned=rng.random() < 0.15,
                                     holder=holder(f"h{rng.randint(0, 99)}"))
                if not lease.refused:
                    live.append(lease)
            elif op < 0.85:
                lease = live.pop(rng.randrange(len(live)))
                pool.release(lease.lease_id, warm_bytes=lease.requested_bytes)
            else:
                pool.keepalive(rng.choice(live).lease_id, used=True, uses=rng.randint(1, 5))
            live = [le for le in live if not le.ended]
            pool.notices.clear()
            assert pool.tiers.warm.used("main_pc") <= budget, seed
            assert not any(le.pinned and le.state is LeaseState.EVICTING for le in live), seed
            assert sum(pool.committed().values()) <= 24 * GB - GB // 2, seed


def test_victims_by_expected_cost_keep_a_busy_model_that_lru_would_evict():
    for eviction, victim in (("cost", "rare"), ("lru", "busy")):
        pool, clock = warm_pool(budget_gb=0, eviction=eviction)  # victims go to disk
        busy = loaded(pool, "busy", 10 * GB)
        pool.keepalive(busy.lease_id, used=True, uses=120)  # 2 a second over the last minute
        clock.now += 5
        loaded(pool, "rare", 10 * GB)  # used once, more recently
        clock.now += 5
        want = pool.acquire("want", 6 * GB, holder=holder("want"))
        assert want.decision() is Decision.QUEUED, eviction
        assert [(n.action, n.lease.model) for n in pool.notices] == [(NOTICE_UNLOAD, victim)]


def test_the_cost_of_an_eviction_counts_the_tier_it_would_go_to():
    pool, clock = warm_pool(budget_gb=8)  # the 6 GB model fits the warm tier, the 10 GB not
    big = loaded(pool, "big", 10 * GB)
    small = loaded(pool, "small", 6 * GB)
    for lease in (big, small):  # the same use: what differs is the reload
        pool.keepalive(lease.lease_id, used=True, uses=60)
    clock.now += 1
    pool.acquire("want", 10 * GB, holder=holder("want"))
    assert [n.lease.model for n in pool.notices] == ["small"]  # back from RAM in 0.3 s, not 10


def test_measured_load_times_replace_the_priors():
    pool, _ = warm_pool()
    lease = pool.acquire("m", 2 * GB, holder=holder("m"))
    assert pool.tiers.costs.reload_s("m", Tier.COLD, 2 * GB) == pytest.approx(2.0)  # 1 s/GB prior
    pool.report(lease.lease_id, 2 * GB, load_s=0.7, tier=Tier.COLD)
    assert pool.tiers.costs.reload_s("m", Tier.COLD, 2 * GB) == pytest.approx(0.7)
    assert pool.tiers.costs.view("m", 0.0)["cold_load_s"] == 0.7


def test_headroom_never_makes_a_request_impossible_that_its_declared_size_fits():
    """LocalFineTunerAgent (12 GB, never measured) beside 10.5 GB of busier, higher-priority
    models: 20 % headroom (14.4 GB) could never fit; its declared size can."""
    pool, _ = warm_pool(unknown_margin=0.2)
    for name in ("suite", "tinyllama"):
        loaded(pool, name, int(5.25 * GB), priority=5)
    lft = pool.acquire("lft", 12 * GB, priority=2, holder=holder("lft"))
    assert lft.decision() is Decision.GRANTED
    assert 12 * GB <= lft.granted_bytes < int(12 * GB * 1.2)


def test_a_waiting_request_ages_into_evicting_an_equal_one_and_is_not_starved():
    pool, clock = warm_pool(aging_s=30.0)
    lft = loaded(pool, "lft", 21 * GB, priority=2)
    nllb = pool.acquire("nllb", 3 * GB, priority=1, holder=holder("nllb"))
    assert nllb.decision() is Decision.QUEUED and not pool.notices  # priority 1 < 2
    for step in (20, 11):  # aged one level: now equal to lft's
        clock.now += step
        pool.keepalive(lft.lease_id)
        pool.keepalive(nllb.lease_id)
    assert [(n.action, n.lease.model) for n in pool.notices] == [(NOTICE_UNLOAD, "lft")]


# -- model agents over real sockets ---------------------------------------------------------

def model_agent(registry, name, vram_mb, tmp_path, **settings):
    return TorchModelAgent(name, registry=registry.endpoint, heartbeat_interval_s=INTERVAL_S,
                           settings={"vram_mb": vram_mb, "weights_scale": 0.02,
                                     "keepalive_interval_s": 0.2, "hosts": ["pc2"],
                                     "weights_dir": str(tmp_path / "weights"), **settings})


def warm_hosts(budget_mb):
    return {**HOSTS, "pc2": {"gpu": {**HOSTS["pc2"]["gpu"], "warm_ram_mb": budget_mb}}}


def cycle(lease_client, agent, action, tier):
    """Ask agent to load or unload; wait until the pool has its model in tier."""
    lease_client.client.call(agent.name, action, {})
    wait_until(lambda: lease_client.status()["models"].get(agent.name, {}).get("tier") == tier,
               20, what=f"{agent.name} {tier}")


@pytest.mark.torch
def test_an_evicted_model_comes_back_from_ram_faster_than_from_disk(manager, agents, registry,
                                                                      leases, tmp_path):
    manager(hosts=warm_hosts(4000), estimate_margin=0.0)
    a = agents(model_agent(registry, "ModelA", 3000, tmp_path))
    b = agents(model_agent(registry, "ModelB", 3000, tmp_path))
    client = leases()
    for agent in (a, b):  # first loads build the weights and write their checkpoints
        wait_until(lambda agent=agent: agent.state is ModelState.READY, 30, what="loaded")
    cycle(client, a, "unload", "warm")
    assert a.store.warm is not None
    cycle(client, a, "load", "resident")
    wait_until(lambda: client.status()["models"]["ModelA"]["warm_load_s"] is not None, 5,
               what="the warm load reported")
    assert a.loaded_from is Tier.WARM
    cycle(client, a, "unload", "warm")
    cycle(client, b, "unload", "warm")  # 6 GB > 4 GB: A's copy is dropped for B's
    assert client.status()["models"]["ModelA"]["tier"] == "cold"
    wait_until(lambda: a.store.warm is None, 5, what="A told to drop its RAM copy")
    cycle(client, a, "load", "resident")
    times = wait_until(lambda: (client.status()["models"]["ModelA"]
                                if client.status()["models"]["ModelA"]["cold_load_s"]
                                else None), 5, what="the disk load reported")
    assert a.loaded_from is Tier.COLD  # from its checkpoint on disk
    assert times["warm_load_s"] < times["cold_load_s"], times
    assert client.status()["tiers_mb"]["pc2"] == {"resident": 3000.0, "warm": 3000.0,
                                                  "cold": 0.0}


@pytest.mark.torch
def test_a_footprint_larger_than_declared_corrects_the_lease_and_the_next_estimate(
        manager, agents, registry, leases, tmp_path):
    manager(estimate_margin=0.0)  # the simulated GPU's "used" is what the weights take
    agent = agents(model_agent(registry, "Under", 2000, tmp_path, true_vram_mb=2600))
    wait_until(lambda: agent.state is ModelState.READY, 30, what="loaded")
    status = leases().status()
    (lease,) = status["leases"]
    assert (lease["granted_mb"], lease["reported_mb"], lease["vram_mb"]) == (2000, 2600, 2600)
    assert lease["over_use"] and status["estimates_mb"]["Under"] == 2600
    assert status["gpus"][1]["used_mb"] == pytest.approx(2600, rel=0.01)
    client = leases()
    cycle(client, agent, "unload", "cold")  # no warm tier here: dropped
    cycle(client, agent, "load", "resident")
    (again,) = leases().status()["leases"]
    assert again["granted_mb"] == 2600 and not again["over_use"]
