"""Parked requests: a handler that cannot answer yet raises :class:`Park`; the request waits,
with its deadline, until the agent answers it.

The agent's loop keeps the request's frames (no reply is sent) and, from its loop thread, later
either serves them again (:meth:`BaseAgent.answer_parked` puts them in the Backlog, so the
handler runs again, now able to answer, with the ordinary metrics and encoding) or refuses them
with an error.  Only a single request parks: inside a batch, :class:`Park` is answered
``unavailable`` at once (a batch is answered together).  The agent decides when: the model
agent parks ``infer`` while its model loads and answers when the weights are in, or refuses
what is past its deadline (common.model_agent.waiting).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

__all__ = ["Park", "ParkedRequest", "ParkedRequests"]


class Park(Exception):  # noqa: N818 - a signal to the dispatcher, not an error
    """Raised by a handler: keep this request, answer it within deadline_s."""

    def __init__(self, deadline_s: float, why: str) -> None:
        super().__init__(why)
        self.deadline_s, self.why = deadline_s, why


@dataclass(slots=True)
class ParkedRequest:
    frames: list[bytes]
    parked_at: float  # time.monotonic()
    until: float  # its deadline
    why: str


class ParkedRequests:
    """The parked requests of one agent, in arrival order; touched from its loop thread."""

    def __init__(self) -> None:
        self._waiting: list[ParkedRequest] = []

    def __len__(self) -> int:
        return len(self._waiting)

    def add(self, frames: list[bytes], park: Park) -> None:
        now = time.monotonic()
        self._waiting.append(ParkedRequest(frames, now, now + park.deadline_s, park.why))

    def take(self, overdue_at: float | None = None) -> list[ParkedRequest]:
        """Remove and return every parked request, or only those due by overdue_at."""
        if overdue_at is None:
            taken, self._waiting = self._waiting, []
            return taken
        taken = [r for r in self._waiting if r.until <= overdue_at]
        self._waiting = [r for r in self._waiting if r.until > overdue_at]
        return taken
