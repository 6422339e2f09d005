"""Client: typed timeouts, Lazy Pirate retries, circuit breaker, cache invalidation."""

import threading
import time

import pytest

from common.base_agent.breaker import BreakerState
from common.base_agent.discovery import WatchingClient
from common.base_agent.errors import CircuitOpenError, MeshTimeoutError, NotFoundError
from common.testing.agents import EchoAgent
from common.testing.wait import wait_registered, wait_until

INTERVAL_S = 0.2


def test_timeout_names_the_peer_and_the_action(agents, client_factory):
    agent = agents(EchoAgent("Slow"))
    client = client_factory()
    with pytest.raises(MeshTimeoutError) as info:
        client.call_endpoint(agent.endpoint, "sleep", {"seconds": 1.0}, timeout_s=0.1,
                             retries=0, peer="Slow")
    assert info.value.peer == "Slow" and info.value.action == "sleep"
    assert "Slow did not answer 'sleep' within 0.1 s" in str(info.value)
    assert isinstance(info.value, TimeoutError)


def test_idempotent_call_is_retried_until_the_peer_appears(agents, client_factory):
    late = EchoAgent("Late", "tcp://127.0.0.1:0")
    late.setup()  # bound now, serving only once started
    endpoint = late.endpoint
    timer = threading.Timer(0.25, late.start)
    timer.start()
    try:
        client = client_factory()
        assert client.call_endpoint(endpoint, "echo", "x", timeout_s=0.2, retries=3) == "x"
    finally:
        timer.join()
        late.stop()


def test_non_idempotent_call_is_not_retried(registry, agents, client_factory):
    agents(EchoAgent("Once", registry=registry.endpoint, heartbeat_interval_s=INTERVAL_S))
    client = client_factory(registry.endpoint)
    wait_registered(client, "Once")
    with pytest.raises(MeshTimeoutError) as info:
        client.call("Once", "sleep", {"seconds": 0.5}, timeout_s=0.1, idempotent=False)
    assert info.value.attempts == 1


def test_circuit_opens_after_repeated_failures_and_closes_when_peer_returns(
        agents, client_factory):
    client = client_factory(breaker_threshold=3, breaker_reset_s=0.3)
    gone = EchoAgent("Shaky")
    gone.setup()
    endpoint = gone.endpoint
    gone.stop()  # the port is free again: nobody answers there
    for _ in range(3):
        with pytest.raises(MeshTimeoutError):
            client.call_endpoint(endpoint, "echo", 1, timeout_s=0.05, retries=0, peer="Shaky")
    assert client.breaker("Shaky").state is BreakerState.OPEN
    opened_at = time.monotonic()
    with pytest.raises(CircuitOpenError):
        client.call_endpoint(endpoint, "echo", 1, peer="Shaky")
    assert time.monotonic() - opened_at < 0.02  # refused at once, no network wait
    agents(EchoAgent("Shaky", endpoint))
    wait_until(lambda: time.monotonic() - opened_at >= 0.3, 2)  # the reset period passes
    assert client.call_endpoint(endpoint, "echo", 2, timeout_s=1.0, peer="Shaky") == 2
    assert client.breaker("Shaky").state is BreakerState.CLOSED


def test_cached_endpoint_is_invalidated_by_registry_events(registry, agents, zmq_ctx):
    with WatchingClient(registry.endpoint, ctx=zmq_ctx) as client:
        first = agents(EchoAgent("Mover", registry=registry.endpoint,
                                 heartbeat_interval_s=INTERVAL_S))
        wait_registered(client, "Mover")
        assert client.call("Mover", "echo", 1) == 1
        assert client.names.cached("Mover") == first.endpoint
        first.stop()
        wait_until(lambda: client.names.cached("Mover") is None, 5, what="cache invalidated")
        second = agents(EchoAgent("Mover", registry=registry.endpoint,
                                  heartbeat_interval_s=INTERVAL_S))
        wait_registered(client, "Mover")
        assert client.call("Mover", "echo", 2, retries=0) == 2
        assert client.names.cached("Mover") == second.endpoint != first.endpoint


def test_unknown_name_is_a_not_found_error(registry, client_factory):
    with pytest.raises(NotFoundError, match="Ghost"):
        client_factory(registry.endpoint).call("Ghost", "echo")
