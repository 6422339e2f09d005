"""Hub failover: Binary Star states, events and the one transition function (STYLE 12).

The central hub is the primary, the edge hub the backup.  The backup takes over only when the
peer is expired *and* a client votes by failing over to it (a report or event flagged
``failover``): during a partition between the hosts the MainPC agents still reach the central
hub, cast no vote, and the edge stays passive, so there is no split brain.  When the central
hub returns it pulls the edge's state (``hub_sync``); answering that sync is the edge's
handover, after which exactly one hub, the central, is active.
"""

from __future__ import annotations

from enum import Enum

from common.hub.protocol import Role
from common.statemachine import transition_table

__all__ = ["FailoverError", "HubEvent", "HubState", "initial_state", "transition"]


class HubState(Enum):
    PRIMARY = "primary"  # central, waiting to learn the peer's state
    BACKUP = "backup"  # edge, waiting to learn the peer's state
    ACTIVE = "active"  # the one hub that owns the mesh view and notifies
    PASSIVE = "passive"  # edge forwarding to the active central hub


class HubEvent(Enum):
    PEER_PRIMARY = "peer_primary"
    PEER_BACKUP = "peer_backup"
    PEER_ACTIVE = "peer_active"
    PEER_PASSIVE = "peer_passive"
    PEER_EXPIRED = "peer_expired"
    VOTE = "vote"  # a client failed over to us while the peer is expired
    SYNCED = "synced"  # central: the edge's state is merged
    HANDOVER = "handover"  # edge: the central hub pulled our state


class FailoverError(ValueError):
    """An event that cannot happen in this state (e.g. two central hubs)."""


_P, _B, _A, _S = HubState.PRIMARY, HubState.BACKUP, HubState.ACTIVE, HubState.PASSIVE
_E = HubEvent

_CENTRAL: dict[tuple[HubState, HubEvent], HubState] = {
    (_P, _E.PEER_BACKUP): _A,
    (_P, _E.PEER_PASSIVE): _A,
    (_P, _E.PEER_ACTIVE): _P,  # pull the edge's state first
    (_P, _E.PEER_EXPIRED): _P,
    (_P, _E.VOTE): _A,  # a client reports and no edge hub is heard
    (_P, _E.SYNCED): _A,
    (_A, _E.PEER_BACKUP): _A,
    (_A, _E.PEER_PASSIVE): _A,
    (_A, _E.PEER_ACTIVE): _A,  # after a partition: we pull its state, it hands over
    (_A, _E.PEER_EXPIRED): _A,
    (_A, _E.VOTE): _A,
    (_A, _E.SYNCED): _A,
}

_EDGE: dict[tuple[HubState, HubEvent], HubState] = {
    (_B, _E.PEER_PRIMARY): _B,
    (_B, _E.PEER_ACTIVE): _S,
    (_B, _E.PEER_EXPIRED): _B,
    (_B, _E.VOTE): _A,
    (_B, _E.HANDOVER): _S,
    (_S, _E.PEER_PRIMARY): _S,
    (_S, _E.PEER_ACTIVE): _S,
    (_S, _E.PEER_EXPIRED): _S,
    (_S, _E.VOTE): _A,  # failover
    (_S, _E.HANDOVER): _S,
    (_A, _E.PEER_PRIMARY): _A,  # the central hub is back; it will pull our state
    (_A, _E.PEER_ACTIVE): _A,
    (_A, _E.PEER_EXPIRED): _A,
    (_A, _E.VOTE): _A,
    (_A, _E.HANDOVER): _S,
}


def initial_state(role: Role) -> HubState:
    return HubState.PRIMARY if role is Role.CENTRAL else HubState.BACKUP


_STEP = {Role.CENTRAL: transition_table(_CENTRAL, "central hub"),
         Role.EDGE: transition_table(_EDGE, "edge hub")}


def transition(role: Role, state: HubState, event: HubEvent) -> HubState:
    """The next state; raises FailoverError on an impossible (role, state, event)."""
    try:
        return _STEP[role](state, event)
    except ValueError as exc:
        raise FailoverError(str(exc)) from None
