"""A launcher vouching for its agents: one liveness report per host instead of one per agent.

The launcher probes every agent it runs with ``health`` anyway.  A probe that carries
``{"vouch": {"hold_s": S, "unregistered": bool}}`` tells the agent that, for the next S
seconds, its launcher speaks for it: the registry and the hub hear of it in the launcher's
batches (``heartbeat_batch``, ``hub_report_batch``), built from the probe replies.  Each link
that can be spoken for (``vouched(request, health)``) holds its own heartbeats that long and
adds what the launcher needs to the reply: the registry link its instance id and whether it is
registered, the hub link its next ``hub_report``.  ``unregistered`` says the registry no longer
knows the instance (it expired it): the link registers again.

When the probes stop (the launcher is gone, or `mesh agent run` runs the agent alone, without
one) the hold runs out and the links beat on their own again, as before.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_HOLD_S", "VOUCH", "vouch_request"]

VOUCH = "vouch"
MAX_HOLD_S = 60.0  # a hold longer than this is cut to it: the agent's own beats must come back


def vouch_request(payload: Any) -> dict[str, Any] | None:
    """The vouch a health request carries, checked: ``{hold_s, unregistered}``; None if none
    or malformed (a malformed vouch is no vouch: the agent keeps beating)."""
    if not isinstance(payload, dict) or not isinstance(payload.get(VOUCH), dict):
        return None
    vouch = payload[VOUCH]
    hold = vouch.get("hold_s")
    if isinstance(hold, bool) or not isinstance(hold, int | float) or not 0 < hold:
        return None
    return {"hold_s": min(float(hold), MAX_HOLD_S),
            "unregistered": vouch.get("unregistered") is True}
