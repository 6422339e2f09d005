"""The one heartbeat component (zguide Paranoid Pirate), used by agents, registry and hub.

A :class:`Heartbeat` tracks one peer: when our next beat is due, when we last heard from the
peer (any traffic counts), whether the peer is lost, and how long to wait before reconnecting
(doubling from one interval up to ``RECONNECT_MAX_S``).  The receiving side uses
:func:`expiry_s` to decide when a silent peer is gone.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = [
    "HEARTBEAT_INTERVAL_S",
    "HEARTBEAT_LIVENESS",
    "RECONNECT_MAX_S",
    "Heartbeat",
    "expiry_s",
]

HEARTBEAT_INTERVAL_S = 1.0
HEARTBEAT_LIVENESS = 3  # intervals of silence after which a peer is lost
RECONNECT_MAX_S = 32.0


def expiry_s(interval_s: float) -> float:
    """Silence after which a receiver expires a sender.

    Half an interval short of ``HEARTBEAT_LIVENESS`` intervals, so that a sender killed right
    after a beat is expired within ``HEARTBEAT_LIVENESS`` intervals of its death, including the
    receiver's sweep period (``interval_s / 10``), while two lost beats in a row are tolerated.
    """
    return interval_s * (HEARTBEAT_LIVENESS - 0.5)


class Heartbeat:
    """Liveness and send timing for one peer; any traffic from the peer resets liveness."""

    def __init__(self, interval_s: float = HEARTBEAT_INTERVAL_S,
                 liveness: int = HEARTBEAT_LIVENESS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if interval_s <= 0:
            raise ValueError(f"heartbeat interval_s must be > 0, got {interval_s}")
        self.interval_s = interval_s
        self.liveness = liveness
        self._clock = clock
        now = clock()
        self._next_send = now
        self._last_heard = now
        self._backoff_s = interval_s

    def send_due(self) -> bool:
        return self._clock() >= self._next_send

    def sent(self) -> None:
        self._next_send = self._clock() + self.interval_s

    def heard(self) -> None:
        self._last_heard = self._clock()
        self._backoff_s = self.interval_s

    def silence_s(self) -> float:
        return self._clock() - self._last_heard

    def peer_lost(self) -> bool:
        return self.silence_s() > self.interval_s * self.liveness

    def next_backoff_s(self) -> float:
        """The wait before the next reconnect; doubles on every call up to RECONNECT_MAX_S."""
        wait = self._backoff_s
        self._backoff_s = min(self._backoff_s * 2, RECONNECT_MAX_S)
        return wait

    def reset(self, delay_s: float = 0.0) -> None:
        """Forget the past: liveness counts from now and the next beat is due after delay_s."""
        now = self._clock()
        self._last_heard = now + delay_s
        self._next_send = now + delay_s

    def due_in_s(self) -> float:
        return max(0.0, self._next_send - self._clock())
