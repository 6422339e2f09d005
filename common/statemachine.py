"""State machines as an Enum plus one transition function (STYLE 12): the shared mechanics.

    step = transition_table({(State.A, Event.GO): State.B, ...}, "agent")
    state = step(state, Event.GO)         # ValueError on an impossible transition
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from typing import TypeVar

__all__ = ["transition_table"]

S = TypeVar("S", bound=Enum)
E = TypeVar("E", bound=Enum)


def transition_table(table: Mapping[tuple[S, E], S], what: str) -> Callable[[S, E], S]:
    """The transition function of table; it raises ValueError naming what, state and event."""
    frozen = dict(table)

    def transition(state: S, event: E) -> S:
        try:
            return frozen[(state, event)]
        except KeyError:
            raise ValueError(f"{what} cannot go from {state.value} on {event.value}") from None

    return transition
