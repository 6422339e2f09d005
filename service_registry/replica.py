"""A registry's part in a pair: its Binary Star state, the gate on writes, mirror and merge.

:class:`Pair` drives :func:`~service_registry.bstar.transition` from the peer's beats
(:class:`~service_registry.pair.PairLink`) and from clients' writes (votes).  While passive it
mirrors the active registry through a :class:`~common.base_agent.discovery.RegistryView`
(snapshot + change events: Clone), and the registry adopts the mirror on every change, so
reads are answered and the copy is on disk.  Becoming active it adopts the mirror one last
time; yielding after a partition (backup, both active) it first sends its registrations to
the primary, which takes every one that claims nothing already held (:func:`merge`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

import zmq

from common.base_agent.discovery import RegistryView
from common.base_agent.errors import MeshError
from common.base_agent.handlers import handler, require
from common.base_agent.protocol import ErrorCode
from common.base_agent.registries import ACTION_MERGE, ACTION_PEER
from service_registry.bstar import PairEvent, PairRole, PairState, initial_state, transition
from service_registry.pair import EXPIRED, PairLink
from service_registry.state import Change, RegistryState

__all__ = ["WRITE_ACTIONS", "Pair", "PairHandlers", "merge"]

log = logging.getLogger(__name__)

# What a passive registry refuses (and what counts as a client's vote for failover).
WRITE_ACTIONS = ("register", "heartbeat", "heartbeat_batch", "deregister", "prefer", "admit",
                 "weights")


class PairHost(Protocol):
    """What the pair needs from its registry agent."""

    name: str
    seq: int
    state: RegistryState

    def take_over(self) -> None: ...

    def adopt(self, records: list[dict[str, Any]], admitted: dict[str, list[str]],
              seq: int) -> None: ...


class Pair:
    def __init__(self, host: PairHost, role: PairRole, peer: str) -> None:
        self.host = host
        self.role = role
        self.peer = peer
        self.state = initial_state(role)
        self.link: PairLink | None = None
        self.mirror: RegistryView | None = None
        self.failovers_total = 0
        self._mirror_ctx: zmq.Context | None = None
        self._mirrored = (-1, -1)  # (seq, resyncs) of the mirror last adopted

    def make_link(self, ctx: zmq.Context, agent: object) -> PairLink:
        """The agent's link factory: the socket opens at setup, not in __init__."""
        self.link = PairLink(ctx, self.peer, self.host.name, self.beat, self.on_peer_state)
        return self.link

    @property
    def active(self) -> bool:
        return self.state is PairState.ACTIVE

    def beat(self) -> dict[str, Any]:
        return {"name": self.host.name, "state": self.state.value, "seq": self.host.seq}

    def on_peer_state(self, state: str) -> None:
        self.fire(PairEvent.PEER_EXPIRED if state == EXPIRED else PairEvent("peer_" + state))

    def admit_write(self, action: str) -> None:
        """Let a write through, or raise PASSIVE.  A write is a vote for taking over when
        the peer is expired: silent for its liveness, not merely not heard yet (a registry
        that just started may be the stale one beside an active peer)."""
        if self.active:
            return
        peer = self.link.peer_state if self.link is not None else EXPIRED  # "": not heard yet
        if peer == EXPIRED:
            self.fire(PairEvent.VOTE)
        if not self.active:
            raise MeshError(f"{self.host.name} is the {self.state.value} registry (peer "
                            f"{peer or 'not heard yet'}); {action} goes to the active one",
                            ErrorCode.PASSIVE)

    def fire(self, event: PairEvent) -> None:
        new = transition(self.role, self.state, event)
        if new is self.state:
            return
        log.warning("%s registry %s: %s -> %s on %s", self.role.value, self.host.name,
                    self.state.value, new.value, event.value)
        old, self.state = self.state, new
        if new is PairState.ACTIVE:
            self.failovers_total += old is PairState.PASSIVE
            self.host.take_over()
            self._stop_mirror()
        elif new is PairState.PASSIVE:
            if old is PairState.ACTIVE and self.link is not None:
                self.link.merge(merge_payload(self.host.state))
            self._start_mirror()

    def tick(self) -> None:
        """From the registry's loop: while passive, adopt what the mirror has new."""
        view = self.mirror
        if view is None or not view.resyncs:
            return
        with view.changed:
            mark = (view.seq, view.resyncs)
            if mark == self._mirrored:
                return
            records, admitted = list(view.instances.values()), dict(view.admitted)
        self._mirrored = mark
        self.host.adopt(records, admitted, mark[0])

    def _start_mirror(self) -> None:
        self._stop_mirror()
        self._mirror_ctx = zmq.Context()  # its own: the agent's may end before the view's thread
        self.mirror = RegistryView(self.peer, ctx=self._mirror_ctx).start(timeout_s=None)
        self._mirrored = (-1, -1)

    def _stop_mirror(self) -> None:
        """Off the loop thread: the view may be inside a call with a 2 s deadline."""
        view, ctx = self.mirror, self._mirror_ctx
        self.mirror = self._mirror_ctx = None
        if view is not None and ctx is not None:
            threading.Thread(target=_close_view, args=(view, ctx), name="mirror-close",
                             daemon=True).start()

    def close(self) -> None:
        self._stop_mirror()

    def status(self) -> dict[str, Any]:
        return {"role": self.role.value, "state": self.state.value, "peer": self.peer,
                "peer_state": self.link.peer_state if self.link is not None else "",
                "failovers_total": self.failovers_total}


def _close_view(view: RegistryView, ctx: zmq.Context) -> None:
    view.stop(timeout_s=5.0)
    ctx.destroy(linger=0)


def merge_payload(state: RegistryState) -> dict[str, Any]:
    return {"instances": state.lookup(),
            "admitted": {name: sorted(eps) for name, eps in state.admitted.items()}}


def merge(state: RegistryState, payload: Any) -> list[Change]:
    """The peer's registrations that claim nothing we hold: each not known here, at an
    endpoint no instance here holds, for a name it may share; admissions are added."""
    changes: list[Change] = []
    held = {r["endpoint"] for r in state.records.values()}
    for record in require(payload, "instances", list):
        if not isinstance(record, dict) or record.get("instance_id") in state.records \
                or record.get("endpoint") in held:
            continue
        try:
            changes += state.register(record)
        except MeshError as exc:
            log.info("merge: %s not taken: %s", record.get("name"), exc.message)
            continue
        held.add(record["endpoint"])
    for name, endpoints in require(payload, "admitted", dict, {}).items():
        if isinstance(endpoints, list) and name not in state.admitted:
            state.admit(name, [e for e in endpoints if isinstance(e, str)])
    return changes


class PairHandlers:
    """Mixin for the registry agent: the pair's two actions."""

    pair: Pair | None
    seq: int
    state: Any  # a RegistryState (typed loosely: other mixins declare it narrower)
    _publish: Callable[[list[Change]], None]

    @handler(ACTION_PEER)
    def registry_peer(self, payload: Any) -> dict[str, Any]:
        """``registry_peer {name, state, seq}`` -> ``{state, seq}``: the peer's beat."""
        if self.pair is None or self.pair.link is None:
            raise MeshError("this registry has no peer", ErrorCode.BAD_REQUEST)
        self.pair.link.heard(require(payload, "state", str))
        return {"state": self.pair.state.value, "seq": self.seq}

    @handler(ACTION_MERGE)
    def registry_merge(self, payload: Any) -> dict[str, Any]:
        """``registry_merge {instances, admitted}`` -> ``{taken}``: a yielding peer's."""
        if self.pair is None or not self.pair.active:
            raise MeshError("only the active registry merges", ErrorCode.PASSIVE)
        changes = merge(self.state, payload)
        self._publish(changes)
        return {"taken": len(changes), "seq": self.seq}
