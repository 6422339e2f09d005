"""A circuit breaker per peer: an Enum of states and one transition function (STYLE 12)."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum

from common.base_agent.errors import CircuitOpenError
from common.statemachine import transition_table

__all__ = ["FAILURE_THRESHOLD", "RESET_AFTER_S", "Breaker", "BreakerState", "transition"]

FAILURE_THRESHOLD = 5  # consecutive failed calls that open the circuit
RESET_AFTER_S = 5.0  # time open before one trial call is let through


class BreakerState(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Event(Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    TRIP = "trip"  # a failure that reached the threshold
    TRIAL = "trial"  # reset time passed; the next call is a trial


_TRANSITIONS: dict[tuple[BreakerState, Event], BreakerState] = {
    (BreakerState.CLOSED, Event.SUCCESS): BreakerState.CLOSED,
    (BreakerState.CLOSED, Event.FAILURE): BreakerState.CLOSED,
    (BreakerState.CLOSED, Event.TRIP): BreakerState.OPEN,
    (BreakerState.OPEN, Event.TRIAL): BreakerState.HALF_OPEN,
    (BreakerState.HALF_OPEN, Event.SUCCESS): BreakerState.CLOSED,
    (BreakerState.HALF_OPEN, Event.FAILURE): BreakerState.OPEN,
    # A call that was already in flight when the circuit opened may still finish.
    (BreakerState.OPEN, Event.SUCCESS): BreakerState.CLOSED,
    (BreakerState.OPEN, Event.FAILURE): BreakerState.OPEN,
}


transition = transition_table(_TRANSITIONS, "breaker")


class Breaker:
    def __init__(self, peer: str, threshold: int = FAILURE_THRESHOLD,
                 reset_after_s: float = RESET_AFTER_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.peer = peer
        self.threshold = threshold
        self.reset_after_s = reset_after_s
        self.state = BreakerState.CLOSED
        self.failures = 0
        self._clock = clock
        self._opened_at = 0.0

    def before_call(self) -> None:
        """Raise CircuitOpenError while open; let one trial through after reset_after_s."""
        if self.state is BreakerState.CLOSED:
            return
        waited = self._clock() - self._opened_at
        if self.state is BreakerState.OPEN and waited >= self.reset_after_s:
            self.state = transition(self.state, Event.TRIAL)
            return
        raise CircuitOpenError(self.peer, max(0.0, self.reset_after_s - waited))

    def succeeded(self) -> None:
        self.failures = 0
        self.state = transition(self.state, Event.SUCCESS)

    def failed(self) -> None:
        self.failures += 1
        tripped = self.state is BreakerState.CLOSED and self.failures >= self.threshold
        self.state = transition(self.state, Event.TRIP if tripped else Event.FAILURE)
        if self.state is BreakerState.OPEN:
            self._opened_at = self._clock()
