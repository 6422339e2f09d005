"""An agent's life under the launcher: an Enum of states, one transition function, backoff."""

from __future__ import annotations

from enum import Enum

from common.statemachine import transition_table

__all__ = ["AgentState", "Backoff", "Event", "transition"]


class AgentState(Enum):
    WAITING = "waiting"  # for its dependencies to be ready
    STARTING = "starting"  # process up, health not answered yet
    READY = "ready"  # health answers
    BACKOFF = "backoff"  # exited or hung; restarts when the backoff ends
    STOPPING = "stopping"  # SIGTERM sent
    STOPPED = "stopped"  # not running and not to be restarted


class Event(Enum):
    SPAWN = "spawn"
    HEALTHY = "healthy"
    EXIT = "exit"  # the process exited (or was killed because it hung)
    RESTART_DUE = "restart_due"
    STOP = "stop"
    GIVE_UP = "give_up"  # restart policy says no more


_T = AgentState
_TRANSITIONS: dict[tuple[AgentState, Event], AgentState] = {
    (_T.WAITING, Event.SPAWN): _T.STARTING,
    (_T.STARTING, Event.HEALTHY): _T.READY,
    (_T.READY, Event.HEALTHY): _T.READY,
    (_T.STARTING, Event.EXIT): _T.BACKOFF,
    (_T.READY, Event.EXIT): _T.BACKOFF,
    (_T.BACKOFF, Event.RESTART_DUE): _T.WAITING,
    (_T.BACKOFF, Event.GIVE_UP): _T.STOPPED,
    (_T.WAITING, Event.STOP): _T.STOPPED,
    (_T.BACKOFF, Event.STOP): _T.STOPPED,
    (_T.STARTING, Event.STOP): _T.STOPPING,
    (_T.READY, Event.STOP): _T.STOPPING,
    (_T.STOPPING, Event.EXIT): _T.STOPPED,
    (_T.STOPPING, Event.STOP): _T.STOPPING,
    (_T.STOPPED, Event.STOP): _T.STOPPED,
    (_T.STOPPED, Event.RESTART_DUE): _T.WAITING,  # `mesh restart` of a stopped agent
}


transition = transition_table(_TRANSITIONS, "agent")


class Backoff:
    """Exponential restart delay: initial_s, doubling, capped at max_s; reset once stable."""

    def __init__(self, initial_s: float = 1.0, max_s: float = 60.0) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.current_s = initial_s

    def next_s(self) -> float:
        delay = self.current_s
        self.current_s = min(self.current_s * 2, self.max_s)
        return delay

    def reset(self) -> None:
        self.current_s = self.initial_s

    @property
    def stable_after_s(self) -> float:
        """Time READY after which a restart counts as a new start, not part of a loop."""
        return max(10.0, 10 * self.initial_s)
