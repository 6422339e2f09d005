"""The hub's side of Binary Star: its failover state, clients' votes, the sync flag.

Drives :func:`~observability_hub.states.transition`; the hub calls it with its lock held.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any

from common.hub.protocol import Role
from observability_hub.peer import EXPIRED, ForwardBuffer, PeerLink
from observability_hub.states import HubEvent, HubState, initial_state, transition

__all__ = ["FAILOVER_WINDOW_S", "VOTE_MEMORY_S", "Failover"]

log = logging.getLogger(__name__)

FAILOVER_WINDOW_S = 600.0  # failovers_recent counts this far back (MeshHubFailover)
VOTE_MEMORY_S = 2.0  # a client's failover vote counts this long (> peer expiry, 1 s)


class Failover:
    def __init__(self, role: Role, hub_name: str, has_peer: bool, buffer: ForwardBuffer) -> None:
        self.role = role
        self.hub_name = hub_name
        self.state = initial_state(role)
        if not has_peer and role is Role.CENTRAL:
            self.state = HubState.ACTIVE  # a single hub
        self.buffer = buffer
        self.peer: PeerLink | None = None
        self.failover_times: deque[float] = deque(maxlen=100)
        self.failovers_total = 0
        self.needs_sync = False
        self.elected = False  # the central role by etcd election, not Binary Star
        self._voted_at = -VOTE_MEMORY_S

    @property
    def active(self) -> bool:
        return self.state is HubState.ACTIVE

    @property
    def peer_state(self) -> str:
        return self.peer.peer_state if self.peer is not None else ""

    def fire(self, event: HubEvent) -> None:
        new = transition(self.role, self.state, event)
        if new is self.state:
            return
        log.warning("%s hub %s: %s -> %s on %s", self.role.value, self.hub_name,
                    self.state.value, new.value, event.value)
        if self.role is Role.EDGE and new is HubState.ACTIVE:
            self.failovers_total += 1
            self.failover_times.append(time.monotonic())
            self.buffer.clear()  # all of it is ingested here; the central pulls it by sync
        self.state = new

    def on_peer_state(self, state: str) -> None:
        event = HubEvent.PEER_EXPIRED if state == EXPIRED else HubEvent("peer_" + state)
        if self.role is Role.CENTRAL and event is HubEvent.PEER_ACTIVE:
            self.needs_sync = True
        self.fire(event)
        if event is HubEvent.PEER_EXPIRED and time.monotonic() - self._voted_at <= VOTE_MEMORY_S:
            self.fire(HubEvent.VOTE)

    def vote(self, body: dict[str, Any]) -> None:
        """A client failing over to us votes for takeover (on the central hub, any client
        while it waits as primary); a vote cast before we expire the peer ourselves counts
        when we do, if it is at most VOTE_MEMORY_S old."""
        home = self.role is Role.CENTRAL and self.state is HubState.PRIMARY
        if not (body.get("failover") or home):
            return
        self._voted_at = time.monotonic()
        if self.peer_state == EXPIRED:
            self.fire(HubEvent.VOTE)

    def synced(self) -> None:
        self.needs_sync = False
        self.fire(HubEvent.SYNCED)

    def handed_over(self) -> None:
        if self.role is Role.EDGE:
            self.fire(HubEvent.HANDOVER)

    def forwarding(self) -> bool:
        """Edge hubs forward to the central one while not active; elected hubs (etcd) to
        the leader while not it (observability_hub.leader)."""
        return (self.role is Role.EDGE or self.elected) and self.state is not HubState.ACTIVE

    def status(self) -> dict[str, Any]:
        now = time.monotonic()
        return {"role": self.role.value, "state": self.state.value, "active": self.active,
                "elected": self.elected,
                "peer_up": self.peer is not None and self.peer.up(),
                "peer_state": self.peer_state, "failovers_total": self.failovers_total,
                "failovers_recent": sum(1 for t in self.failover_times
                                        if now - t <= FAILOVER_WINDOW_S),
                "buffered": len(self.buffer), "dropped_total": self.buffer.dropped_total}
