"""The registry pair, client side: the ordered endpoints a client fails over along.

A mesh whose config gives a host the ``registry_replica`` role runs two registries (Binary
Star, service_registry.pair).  Every process gets them as one string, the primary first::

    tcp://10.0.0.1:7200,tcp://10.0.0.2:7200        (MESH_REGISTRY, AgentSpec.registry)

The passive registry answers reads (lookup, list, snapshot, info) from its mirror of the
active one and refuses writes with ``ErrorCode.PASSIVE``; a write arriving at it while it has
lost its peer is the client's vote for failover (zguide bstar).  A :class:`RegistryRing`
remembers which endpoint answered last and moves on to the next one when it times out or
refuses as passive.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from common.base_agent.errors import CircuitOpenError, MeshError, MeshTimeoutError
from common.base_agent.protocol import ErrorCode

__all__ = ["ACTION_MERGE", "ACTION_PEER", "PEER_INTERVAL_S", "PEER_LIVENESS", "SEPARATOR",
           "RegistryRing", "join_registries", "registry_endpoints"]

SEPARATOR = ","
ACTION_PEER = "registry_peer"  # {name, state, seq} -> {state, seq}: the pair's beat
ACTION_MERGE = "registry_merge"  # {instances, admitted}: a yielding backup's registrations
PEER_INTERVAL_S = 0.25
PEER_LIVENESS = 8  # the peer is expired after 2 s of silence (a starved CPU is not a failover)

CallEndpoint = Callable[..., Any]


def registry_endpoints(spec: str | None) -> list[str]:
    """The endpoints of a registry string, in order (empty for None or '')."""
    return [e.strip() for e in (spec or "").split(SEPARATOR) if e.strip()]


def join_registries(endpoints: list[str]) -> str:
    return SEPARATOR.join(endpoints)


def fails_over(exc: MeshError) -> bool:
    """Whether another registry endpoint may answer what this one did not."""
    return isinstance(exc, (MeshTimeoutError, CircuitOpenError)) or exc.code == ErrorCode.PASSIVE


class RegistryRing:
    """A registry string's endpoints and the one that answered last."""

    def __init__(self, spec: str | None) -> None:
        self.endpoints = registry_endpoints(spec)
        self.index = 0

    @property
    def endpoint(self) -> str:
        return self.endpoints[self.index]

    def advance(self) -> None:
        self.index = (self.index + 1) % len(self.endpoints)

    def peer(self, label: str) -> str:
        """The breaker's and errors' name for the current endpoint: one per endpoint when
        there are several (a dead primary's open circuit must not close off the replica)."""
        return label if len(self.endpoints) == 1 else f"{label}@{self.endpoint}"

    def call(self, call_endpoint: CallEndpoint, label: str, action: str, payload: Any = None,
             *, timeout_s: float, retries: int) -> Any:
        """``call_endpoint(endpoint, action, payload, ...)`` on each endpoint in turn from
        the last good one; raises the last failure when none answers."""
        if len(self.endpoints) > 1:
            retries = 0  # the next endpoint is the retry
        failure: MeshError | None = None
        for _ in range(len(self.endpoints)):
            try:
                return call_endpoint(self.endpoint, action, payload, timeout_s=timeout_s,
                                     retries=retries, peer=self.peer(label))
            except MeshError as exc:
                if not fails_over(exc):
                    raise
                failure = exc
                self.advance()
        if failure is None:
            raise MeshError("no registry endpoint given", ErrorCode.NOT_FOUND)
        raise failure
