"""``heartbeat_batch``: one launcher keeps many instances alive in one request.

A launcher probes every agent of its host anyway; instead of each agent beating to the registry
on its own, the launcher sends the instance ids that answered since its last batch, once per
heartbeat interval.  Each listed instance is refreshed exactly as by its own ``heartbeat``;
the reply names the ids the registry does not know (expired, or never registered), so the
launcher can tell those agents to register again.  ``gone`` lists instances whose process the
launcher saw exit (a crash, a kill): they are deregistered at once, and the change published,
instead of expiring 2.5 intervals later while callers time out on them.  Any registry (the
SQLite one, a replica, an etcd-backed agent) serves it by mixing this in beside a ``state``
with ``heartbeat(id)`` raising ``NotFoundError`` for an unknown id and ``deregister(id)``,
a ``seq`` and ``_publish(changes)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from common.base_agent import protocol
from common.base_agent.errors import BadRequest, NotFoundError
from common.base_agent.handlers import handler, require

__all__ = ["MAX_BATCH", "BatchLiveness"]

MAX_BATCH = 10_000  # ids in one batch: a host's agents, with room


class _Beats(Protocol):
    def heartbeat(self, instance_id: str) -> None: ...

    def deregister(self, instance_id: str) -> list[Any]: ...


class BatchLiveness:
    """Mixin for a registry agent: ``heartbeat_batch {instance_ids: [str], gone?: [str]}`` ->
    ``{seq, refreshed, unknown: [str], removed: int}``."""

    state: _Beats
    seq: int
    _publish: Callable[[list[Any]], None]  # the registry's: apply and announce changes

    @handler(protocol.ACTION_HEARTBEAT_BATCH)
    def heartbeat_batch(self, payload: Any) -> dict[str, Any]:
        ids, gone = _ids(payload, "instance_ids"), _ids(payload, "gone", [])
        removed = 0
        for instance_id in gone:
            changes = self.state.deregister(instance_id)
            removed += len(changes)
            self._publish(changes)
        unknown = []
        for instance_id in ids:
            try:
                self.state.heartbeat(instance_id)
            except NotFoundError:
                unknown.append(instance_id)
        return {"seq": self.seq, "refreshed": len(ids) - len(unknown), "unknown": unknown,
                "removed": removed}


def _ids(payload: Any, field: str, default: Any = ...) -> list[str]:
    ids = require(payload, field, list, default)
    if len(ids) > MAX_BATCH or not all(isinstance(i, str) for i in ids):
        raise BadRequest(f"payload.{field} must be at most {MAX_BATCH} strings")
    return ids
