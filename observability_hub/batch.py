"""``hub_report_batch``: a launcher's reports for every agent of its host in one request.

The launcher probes its agents anyway and each probe's reply carries the agent's ``hub_report``
body (common.hub.link: ``HubLink.vouched``); once per heartbeat interval the launcher sends the
bodies gathered since its last batch.  Each body is taken exactly as if the agent had sent it
(``hub_report``), so views, SLOs, lost-report counts and the Binary Star vote are unchanged.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from common.base_agent.errors import BadRequest, MeshError
from common.base_agent.handlers import handler, require
from common.hub import protocol as hp

__all__ = ["MAX_BATCH", "ReportBatchApi"]

log = logging.getLogger(__name__)

MAX_BATCH = 10_000  # reports in one batch: a host's agents, with room


class ReportBatchApi:
    """Mixin for the hub: ``hub_report_batch {host, reports: [body]}`` ->
    ``{hub, role, state, peer_state, accepted, rejected}``."""

    if TYPE_CHECKING:  # the hub's own: its hub_report handler and its reply
        def on_report(self, payload: Any) -> dict[str, Any]: ...

        def _reply(self) -> dict[str, Any]: ...

    @handler(hp.ACTION_REPORT_BATCH)
    def on_report_batch(self, payload: Any) -> dict[str, Any]:
        reports = require(payload, "reports", list)
        if len(reports) > MAX_BATCH:
            raise BadRequest(f"payload.reports holds {len(reports)}, more than {MAX_BATCH}")
        accepted = rejected = 0
        for body in reports:
            try:
                self.on_report(body)
                accepted += 1
            except MeshError as exc:  # one bad body must not drop the others
                rejected += 1
                log.warning("hub_report_batch from %s: dropped a report: %s",
                            payload.get("host", "?"), exc)
        return {**self._reply(), "accepted": accepted, "rejected": rejected}
