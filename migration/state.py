"""A migration's life: an Enum of states and one transition function that raises on the rest.

    planned --start--> running --finish--> done --reverse--> rolled_back
    running --breach|abort--> rolling_back --rolled_back--> rolled_back
    running|rolling_back --resume--> (same)        rolling_back --error--> failed
"""

from __future__ import annotations

from enum import Enum

__all__ = ["Event", "State", "transition"]


class State(Enum):
    PLANNED = "planned"
    RUNNING = "running"
    ROLLING_BACK = "rolling_back"
    DONE = "done"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"  # a rollback step failed: an operator must look


class Event(Enum):
    START = "start"
    RESUME = "resume"
    BREACH = "breach"  # a gate failed: automatic rollback
    ABORT = "abort"  # `mesh migrate rollback` of an unfinished migration
    FINISH = "finish"
    ROLLED_BACK = "rolled_back"
    REVERSE = "reverse"  # `mesh migrate rollback` of a finished one completed
    ERROR = "error"


_S, _E = State, Event
_TRANSITIONS = {
    (_S.PLANNED, _E.START): _S.RUNNING,
    (_S.RUNNING, _E.RESUME): _S.RUNNING,
    (_S.RUNNING, _E.FINISH): _S.DONE,
    (_S.RUNNING, _E.BREACH): _S.ROLLING_BACK,
    (_S.RUNNING, _E.ABORT): _S.ROLLING_BACK,
    (_S.RUNNING, _E.ERROR): _S.ROLLING_BACK,
    (_S.ROLLING_BACK, _E.RESUME): _S.ROLLING_BACK,
    (_S.ROLLING_BACK, _E.ABORT): _S.ROLLING_BACK,
    (_S.ROLLING_BACK, _E.ROLLED_BACK): _S.ROLLED_BACK,
    (_S.ROLLING_BACK, _E.ERROR): _S.FAILED,
    (_S.DONE, _E.REVERSE): _S.ROLLED_BACK,
    (_S.FAILED, _E.ABORT): _S.ROLLING_BACK,
}


def transition(state: State, event: Event) -> State:
    """The next state; ValueError on an impossible transition."""
    try:
        return _TRANSITIONS[(state, event)]
    except KeyError:
        raise ValueError(f"a migration cannot go from {state.value} on {event.value}") from None
