"""The registry pair's Binary Star (zguide bstar): states, events, one transition function.

The registry on the host with the ``registry`` role starts as PRIMARY, the one on the
``registry_replica`` host as BACKUP.  Each beats its state to the other (PEER_INTERVAL_S);
silence past the peer's liveness is PEER_EXPIRED.  A write (register, heartbeat, ...) that
reaches a non-active registry whose peer is expired is a client's VOTE for failover: clients
only write to the second endpoint of their list when the first one failed them.  Without a
vote nothing changes hands, so a registry that merely lost sight of its peer while the
clients still reach the active one stays passive.

A registry that (re)starts while its peer is active goes passive and mirrors it, so a restart
never loses what the other one holds; it counts no vote before it has heard its peer or
waited out the peer's liveness (a lone registry takes writes after that wait).  Two active
registries (a partition between the hosts on which both sides' clients voted) resolve when
they hear each other: the backup sends its registrations to the primary (``registry_merge``)
and goes passive.
"""

from __future__ import annotations

from enum import Enum

from common.statemachine import transition_table

__all__ = ["PairEvent", "PairRole", "PairState", "initial_state", "transition"]


class PairRole(Enum):
    PRIMARY = "primary"  # the host with the `registry` role
    BACKUP = "backup"  # the host with the `registry_replica` role


class PairState(Enum):
    PRIMARY = "primary"  # primary, not yet knowing the peer's state
    BACKUP = "backup"  # backup, not yet knowing the peer's state
    ACTIVE = "active"  # takes writes, expires instances, publishes changes
    PASSIVE = "passive"  # mirrors the active one; answers reads, refuses writes


class PairEvent(Enum):
    PEER_PRIMARY = "peer_primary"
    PEER_BACKUP = "peer_backup"
    PEER_ACTIVE = "peer_active"
    PEER_PASSIVE = "peer_passive"
    PEER_EXPIRED = "peer_expired"
    VOTE = "vote"  # a client's write while the peer is expired


_P, _B, _A, _S = PairState.PRIMARY, PairState.BACKUP, PairState.ACTIVE, PairState.PASSIVE
_E = PairEvent
_STAY_ACTIVE = {(_A, e): _A for e in PairEvent}
_COMMON = {
    (_P, _E.PEER_BACKUP): _A, (_P, _E.PEER_ACTIVE): _S, (_P, _E.PEER_PASSIVE): _P,
    (_P, _E.PEER_PRIMARY): _P, (_P, _E.PEER_EXPIRED): _P, (_P, _E.VOTE): _A,
    (_B, _E.PEER_PRIMARY): _B, (_B, _E.PEER_ACTIVE): _S, (_B, _E.PEER_PASSIVE): _B,
    (_B, _E.PEER_BACKUP): _B, (_B, _E.PEER_EXPIRED): _B, (_B, _E.VOTE): _A,
    (_S, _E.PEER_PRIMARY): _A, (_S, _E.PEER_BACKUP): _A, (_S, _E.PEER_ACTIVE): _S,
    (_S, _E.PEER_EXPIRED): _S, (_S, _E.VOTE): _A,
}
_TABLES = {
    # two active: the primary stays and takes the backup's merge
    PairRole.PRIMARY: transition_table({**_COMMON, **_STAY_ACTIVE, (_S, _E.PEER_PASSIVE): _A},
                                       "primary registry"),
    # two active: the backup yields (after sending its merge); two passive: the primary wakes
    PairRole.BACKUP: transition_table({**_COMMON, **_STAY_ACTIVE, (_A, _E.PEER_ACTIVE): _S,
                                       (_S, _E.PEER_PASSIVE): _S}, "backup registry"),
}


def initial_state(role: PairRole) -> PairState:
    return _P if role is PairRole.PRIMARY else _B


def transition(role: PairRole, state: PairState, event: PairEvent) -> PairState:
    return _TABLES[role](state, event)
