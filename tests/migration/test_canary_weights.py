"""Weighted traffic: the registry's weights are honoured by clients, a session key sticks, a
call failing on one instance fails over once to another within the retry budget."""

from collections import Counter

import pytest

from common.base_agent.choice import Choice
from common.base_agent.client import CACHE_TTL_S
from common.base_agent.discovery import WatchingClient
from common.base_agent.errors import RemoteError
from common.base_agent.retry_budget import RetryBudget
from common.hub.report import action_stats
from common.testing.agents import EchoAgent
from common.testing.versions import TunableAgent
from common.testing.wait import wait_until

INTERVAL_S = 0.2
CALLS = 2000


@pytest.fixture
def two_instances(registry, agents):
    """Two live instances of Canary on their own sockets (blue and green)."""
    return [agents(EchoAgent("Canary", registry=registry.endpoint, multi_instance=True,
                             heartbeat_interval_s=INTERVAL_S)) for _ in range(2)]


def _who(client, instances, **kw):
    by_endpoint = {a.endpoint: a.instance_id for a in instances}
    return by_endpoint[client.resolve("Canary", **kw)]


def _set(client, registry, weights):
    client.call_endpoint(registry.endpoint, "weights", {"name": "Canary", "weights": weights})


@pytest.mark.parametrize("share", [10, 50, 75])
def test_weights_are_honoured_within_3_points_over_2000_calls(registry, two_instances, share):
    blue, green = two_instances
    with WatchingClient(registry.endpoint, source="test") as client:
        wait_until(lambda: len(client.view.endpoints("Canary")) == 2, 10, what="both listed")
        _set(client, registry, {blue.instance_id: 100 - share, green.instance_id: share})
        wait_until(lambda: all(r.get("weight") is not None for r in client.view.instances.values()
                               if r["name"] == "Canary"), 10, what="weights seen")
        for i in range(CALLS):
            assert client.call("Canary", "echo", i, timeout_s=2.0) == i
    # counted by the instances themselves: what each one served
    counts = {a.instance_id: action_stats(a.metrics)["echo"]["count"] for a in two_instances}
    assert sum(counts.values()) == CALLS
    assert abs(100 * counts[green.instance_id] / CALLS - share) <= 3, counts


def test_a_client_that_does_not_watch_the_registry_follows_weights_within_its_cache_ttl(
        registry, two_instances, client_factory):
    """`mesh load` and the agents' own clients do not watch the registry: a canary's weights
    must still reach them (they look a name up again every cache_ttl_s)."""
    blue, green = two_instances
    client = client_factory(registry.endpoint, source="test")
    first = client.call("Canary", "echo", "cached")  # one instance cached, no weights yet
    assert first == "cached"
    _set(client, registry, {blue.instance_id: 90, green.instance_id: 10})
    chosen = set()  # both instances chosen: the weights were looked up (the cache held one)
    wait_until(lambda: chosen.add(client.resolve("Canary")) or len(chosen) == 2,
               2 * CACHE_TTL_S + 1, interval_s=0.01, what="both chosen after a lookup")
    def served_so_far():
        return {a.instance_id: action_stats(a.metrics).get("echo", {}).get("count", 0)
                for a in two_instances}

    before = served_so_far()
    for i in range(1000):
        assert client.call("Canary", "echo", i, timeout_s=2.0) == i
    served = {iid: count - before[iid] for iid, count in served_so_far().items()}
    assert sum(served.values()) == 1000
    assert abs(100 * served[green.instance_id] / 1000 - 10) <= 3, served


def test_a_session_key_always_reaches_the_same_instance(registry, two_instances):
    blue, green = two_instances
    with WatchingClient(registry.endpoint, source="test") as client:
        wait_until(lambda: len(client.view.endpoints("Canary")) == 2, 10, what="both listed")
        _set(client, registry, {blue.instance_id: 50, green.instance_id: 50})
        wait_until(lambda: all(r.get("weight") == 50 for r in client.view.instances.values()
                               if r["name"] == "Canary"), 10, what="weights seen")
        keys = [f"user-{i}" for i in range(200)]
        first = {k: _who(client, two_instances, session_key=k) for k in keys}
        for _ in range(10):
            assert {k: _who(client, two_instances, session_key=k) for k in keys} == first
        assert 60 < Counter(first.values())[green.instance_id] < 140  # both get sessions
        # a shift to 80 % green moves only sessions from blue to green, never back
        _set(client, registry, {blue.instance_id: 20, green.instance_id: 80})
        wait_until(lambda: all(r.get("weight") in (20, 80) for r in
                               client.view.instances.values() if r["name"] == "Canary"),
                   10, what="new weights seen")
        after = {k: _who(client, two_instances, session_key=k) for k in keys}
    assert all(after[k] == green.instance_id for k in keys if first[k] == green.instance_id)
    assert Counter(after.values())[green.instance_id] > Counter(first.values())[
        green.instance_id]


def test_weights_for_an_unknown_instance_or_bad_number_are_refused(registry, two_instances,
                                                                     client_factory):
    client = client_factory(registry.endpoint)
    with pytest.raises(RemoteError, match="no live instance 'nope'"):
        _set(client, registry, {"nope": 1})
    with pytest.raises(RemoteError, match=r"payload.weights.\S+ must be a number"):
        _set(client, registry, {two_instances[0].instance_id: -1})


def test_rendezvous_moves_few_sessions_when_a_weight_changes():
    """Weighted rendezvous vs modulo hashing: 10 -> 25 % must move ~15 % of sessions, and
    only towards the instance that gained."""
    recs = [{"instance_id": "old", "endpoint": "a", "weight": 90.0},
            {"instance_id": "new", "endpoint": "b", "weight": 10.0}]
    keys = [f"s{i}" for i in range(5000)]
    before = {k: Choice(recs).pick(k)["instance_id"] for k in keys}
    recs[0]["weight"], recs[1]["weight"] = 75.0, 25.0
    after = {k: Choice(recs).pick(k)["instance_id"] for k in keys}
    moved = [k for k in keys if before[k] != after[k]]
    assert all(before[k] == "old" and after[k] == "new" for k in moved)
    assert 0.12 < len(moved) / len(keys) < 0.18
    assert 0.08 < sum(v == "new" for v in before.values()) / len(keys) < 0.12


def _stable_and_canary(registry, agents, client, canary_settings):
    """A good instance of Canary and a tunable one (canary_settings), half of the calls each,
    the client having seen the weights."""
    stable = agents(EchoAgent("Canary", registry=registry.endpoint, multi_instance=True,
                              heartbeat_interval_s=INTERVAL_S))
    canary = agents(TunableAgent("Canary", registry=registry.endpoint, multi_instance=True,
                                 heartbeat_interval_s=INTERVAL_S, settings=canary_settings))
    wait_until(lambda: len(client.view.endpoints("Canary")) == 2, 10, what="both listed")
    _set(client, registry, {stable.instance_id: 50, canary.instance_id: 50})
    wait_until(lambda: all(r.get("weight") == 50 for r in client.view.instances.values()
                           if r["name"] == "Canary"), 10, what="weights seen")
    return stable, canary


def _routes(client, calls, timeout_s):
    """How many calls (all answered) went each way: one endpoint, or two after a fail-over."""
    routes = Counter()
    for i in range(calls):
        assert client.call("Canary", "echo", i, timeout_s=timeout_s, retries=0) == i
        routes[tuple(client.route)] += 1
    return routes


def test_a_call_failing_on_the_canary_fails_over_once_to_the_stable_instance(registry, agents):
    """Envoy's retry with previous-host exclusion: an idempotent call answered ``internal`` by
    one weighted instance is sent once to the other; the failing instance still records the
    error (the judge sees it), and the retry budget bounds the extra load."""
    with WatchingClient(registry.endpoint, source="test") as client:
        stable, broken = _stable_and_canary(registry, agents, client, {"error_rate": 1.0})
        routes = _routes(client, 20, timeout_s=2.0)
        failed_over = routes[(broken.endpoint, stable.endpoint)]
        assert set(routes) == {(stable.endpoint,), (broken.endpoint, stable.endpoint)}, routes
        assert 5 <= failed_over <= 15  # its half, within what a weights refresh can shift
        assert broken.metrics.traffic.since(0.0, "echo")["error"] == ["internal"] * failed_over
        # not idempotent: never sent twice
        with pytest.raises(RemoteError, match="injected error"):
            for i in range(2):
                client.call("Canary", "echo", i, timeout_s=2.0, idempotent=False)
        assert client.route == [broken.endpoint]
        # a budget spent: the failure is the user's (no token, no second instance)
        client.budget = RetryBudget(ratio=0.0, min_per_s=0.0, burst=1.0)
        outcomes = Counter()
        for i in range(8):
            try:
                client.call("Canary", "echo", i, timeout_s=2.0, retries=0)
                outcomes["ok"] += 1
            except RemoteError:
                outcomes["failed"] += 1
            outcomes["to broken"] += client.route[0] == broken.endpoint
        assert outcomes["to broken"] >= 2  # one retried on the budget's token, the rest not
        assert outcomes["failed"] == outcomes["to broken"] - 1 == client.budget.refused


def test_the_retry_budget_allows_a_ratio_of_the_calls_plus_a_floor_per_second():
    now = [0.0]
    budget = RetryBudget(ratio=0.25, min_per_s=10.0, burst=10.0, clock=lambda: now[0])
    assert sum(budget.withdraw() for _ in range(15)) == 10  # the burst, then nothing
    for _ in range(40):
        budget.deposit()
    assert sum(budget.withdraw() for _ in range(15)) == 10  # 40 calls x 0.25
    now[0] += 0.5
    assert sum(budget.withdraw() for _ in range(15)) == 5  # 0.5 s x 10 a second
    with pytest.raises(ValueError, match="burst 0.5 >= 1"):
        RetryBudget(burst=0.5)


def test_a_call_the_canary_does_not_answer_in_time_is_answered_by_the_stable_one(registry,
                                                                                agents):
    with WatchingClient(registry.endpoint, source="test") as client:
        stable, hung = _stable_and_canary(registry, agents, client, {"delay_ms": 2000})
        routes = _routes(client, 4, timeout_s=0.3)
    assert set(routes) == {(stable.endpoint,), (hung.endpoint, stable.endpoint)}, routes
