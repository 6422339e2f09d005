"""The circuit breaker state machine, on an injected clock."""

import pytest

from common.base_agent.breaker import Breaker, BreakerState, Event, transition
from common.base_agent.errors import CircuitOpenError


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_opens_after_threshold_failures_and_half_opens_after_reset():
    clock = Clock()
    breaker = Breaker("peer", threshold=3, reset_after_s=5.0, clock=clock)
    for _ in range(3):
        breaker.before_call()
        breaker.failed()
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpenError, match="peer"):
        breaker.before_call()
    clock.now += 5.0
    breaker.before_call()
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.failed()
    assert breaker.state is BreakerState.OPEN
    clock.now += 5.0
    breaker.before_call()
    breaker.succeeded()
    assert breaker.state is BreakerState.CLOSED and breaker.failures == 0


def test_a_success_resets_the_count():
    breaker = Breaker("p", threshold=2, clock=Clock())
    breaker.failed()
    breaker.succeeded()
    breaker.failed()
    assert breaker.state is BreakerState.CLOSED


def test_impossible_transition_raises():
    with pytest.raises(ValueError, match="closed"):
        transition(BreakerState.CLOSED, Event.TRIAL)
