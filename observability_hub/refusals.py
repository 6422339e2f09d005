"""Peers the mesh refused: every agent's ZAP handler counts clients whose CURVE key is not on
the allow-list and reports the count and the latest ones (address, key, identity if it is a
revoked one of ours) in its heartbeat.  The hub logs each new refusal with its address, and
serves the totals on ``/api/health`` (``security``) and ``/metrics``
(``mesh_auth_rejected_total``).  The report's other counts are served per agent too
(``security.auth``; ``/metrics``: ``mesh_auth_cut_total``, ``mesh_auth_sub_cut_total``,
``mesh_auth_handshake_failed_total`` and the gauge ``mesh_auth_allowlist_version``): messages
of revoked keys cut, revoked subscribers cut, failed CURVE handshakes, and the signed
allow-list version the agent holds (a host behind the others shows an older one)."""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

__all__ = ["Refusals"]

log = logging.getLogger(__name__)

RECENT_KEPT = 50
COUNTS = ("cut", "sub_cut", "handshake_failed", "list_version")  # from the report, per agent


class Refusals:
    def __init__(self) -> None:
        self.by_agent: dict[str, int] = {}
        self.auth: dict[str, dict[str, int]] = {}  # agent -> its COUNTS, as last reported
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_KEPT)

    def note(self, agent: str, auth: Any) -> None:
        """Take the ``auth`` part of agent's report; log the refusals not seen before."""
        if not isinstance(auth, dict) or not isinstance(auth.get("rejected"), int):
            return
        self.auth[agent] = {k: v for k in COUNTS
                            if isinstance(v := auth.get(k), int) and not isinstance(v, bool)}
        before = self.by_agent.get(agent, 0)
        count = auth["rejected"]
        self.by_agent[agent] = count
        fresh = count - before if count >= before else count  # a restart counts from 0
        recent = [r for r in auth.get("recent", []) if isinstance(r, dict)]
        for row in recent[-fresh:] if fresh > 0 else []:
            entry = {"agent": agent, **{k: row.get(k) for k in ("address", "key", "identity",
                                                                "mechanism", "ts")}}
            self.recent.append(entry)
            log.warning("%s refused a peer at %s (key %s%s)", agent, entry["address"],
                        str(entry["key"] or "none")[:12],
                        f", revoked identity {entry['identity']}" if entry["identity"] else "")

    def document(self) -> dict[str, Any]:
        return {"rejected_total": sum(self.by_agent.values()), "by_agent": dict(self.by_agent),
                "auth": {agent: dict(counts) for agent, counts in self.auth.items()},
                "recent": list(reversed(self.recent))}
