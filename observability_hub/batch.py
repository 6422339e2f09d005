"""``hub_report_batch``: a launcher's word for every agent of its host in one request.

The launcher probes its agents and each probe's reply carries the agent's ``hub_report`` body
(common.hub.link: ``HubLink.vouched``); between probes it reads each agent's liveness stamp
(common.base_agent.stamp).  Once per heartbeat interval it sends ``reports``, the bodies its
probes brought since the last batch, each taken exactly as if the agent had sent it
(``hub_report``: views, SLOs, lost-report counts and the Binary Star vote unchanged), and
``alive``, the agents whose loops have turned within the interval: each refreshes its agent's
last heard time, as a report would, without new figures.  Every entry's ``age_s`` (how long
before the batch the probe was answered or the stamp written) dates it, so the batching
never makes a silent agent look fresher.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from common.base_agent.errors import BadRequest, MeshError
from common.base_agent.handlers import handler, require
from common.hub import protocol as hp

__all__ = ["ALIVE", "MAX_BATCH", "ReportBatchApi"]

log = logging.getLogger(__name__)

ALIVE = "alive"  # the kind of an alive entry where the hub takes and forwards items
MAX_BATCH = 10_000  # entries in one batch: a host's agents, with room
MAX_AGE_S = 60.0  # an entry older than this in a batch counts as this old


def _age_s(body: Any) -> float:
    age = body.get("age_s", 0.0) if isinstance(body, dict) else 0.0
    if isinstance(age, bool) or not isinstance(age, int | float) or age < 0:
        raise BadRequest("age_s must be a number >= 0")
    return min(float(age), MAX_AGE_S)


class ReportBatchApi:
    """Mixin for the hub: ``hub_report_batch {host, reports: [body], alive: [{agent,
    instance_id, age_s}]}`` -> ``{hub, role, state, peer_state, accepted, rejected}``."""

    if TYPE_CHECKING:  # the hub's own
        lock: Any

        def on_report(self, payload: Any, seen_at: float | None = None) -> dict[str, Any]: ...

        def _reply(self) -> dict[str, Any]: ...

        def _take(self, kind: str, body: dict[str, Any], seen_at: float) -> None: ...

    @handler(hp.ACTION_REPORT_BATCH)
    def on_report_batch(self, payload: Any) -> dict[str, Any]:
        reports = require(payload, "reports", list)
        alive = require(payload, "alive", list, [])
        if len(reports) + len(alive) > MAX_BATCH:
            raise BadRequest(f"payload.reports and payload.alive hold more than {MAX_BATCH}")
        accepted = rejected = 0
        now = time.monotonic()
        for body in reports:
            try:
                age = _age_s(body)
                self.on_report({k: v for k, v in body.items() if k != "age_s"}, now - age)
                accepted += 1
            except MeshError as exc:  # one bad body must not drop the others
                rejected += 1
                log.warning("hub_report_batch from %s: dropped a report: %s",
                            payload.get("host", "?"), exc)
        with self.lock:
            for entry in alive:
                try:
                    body = {"agent": require(entry, "agent", str),
                            "instance_id": require(entry, "instance_id", str)}
                    self._take(ALIVE, body, now - _age_s(entry))
                    accepted += 1
                except MeshError:
                    rejected += 1
        return {**self._reply(), "accepted": accepted, "rejected": rejected}
