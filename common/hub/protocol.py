"""The hub protocol: action names, payloads, roles, ports.  Spoken by agents, launchers, the
two hubs and ``mesh health``; served by ``observability_hub``.  See docs/HUB.md.

Every message rides the common wire protocol (``common.base_agent.protocol``).

``hub_report``  agent -> its host's hub, every heartbeat interval (the agent's heartbeat)::

    {agent, instance_id, host, pid, endpoint, interval_s, seq, failover: bool,
     health: {status, checks: [{name, status, detail}]},
     metrics: {requests_total, errors_total, bad_frames_total},
     actions: {ACTION: {count, sum_s, buckets: [cumulative per LATENCY_BUCKETS_S, +Inf],
                        errors: {CODE: n}}},
     gauges: {vram: [{host?, gpu, name?, used_bytes, committed_bytes?, total_bytes}],
              leases_active, evictions_total,
              registry_instances}}                       # every gauges key optional
    reply: {hub, role, state, peer_state}

``seq`` grows by one per new report and is kept when an unacknowledged report is resent to
the other hub, so the hub counts gaps as lost heartbeats.  ``failover`` is True when the report
goes to the hub that is not the agent's home: the backup's vote to take over (Binary Star).

``hub_process_event``  launcher -> hub, at once when a process changes::

    {host, agent, pid, event: started|exited|restarted|hung|crash_loop, code, ts, failover}
    reply: {hub, role, state, peer_state}

``hub_peer``  hub <-> hub every PEER_INTERVAL_S: ``{hub, role, state}``; reply the same.
``hub_forward``  edge -> central: ``{hub, items: [{kind: report|event, age_s, body}],
dropped_total}``; reply ``{accepted}``.  ``age_s`` is how long ago the edge received it.
``hub_sync``  central -> edge on return: ``{hub}``; reply ``{items: [...]}`` (every agent's
latest report and recent events) and the edge becomes passive.
``hub_snapshot``  -> the ``/api/health`` document.  ``hub_alerts`` -> the ``/api/alerts`` one.
``hub_info``  -> ``{hub, role, state, http_url, peer}``.
"""

from __future__ import annotations

from common.strenum import StrEnum

__all__ = [
    "ACTION_ALERTS",
    "ACTION_FORWARD",
    "ACTION_INFO",
    "ACTION_PEER",
    "ACTION_PROCESS_EVENT",
    "ACTION_REPORT",
    "ACTION_SNAPSHOT",
    "ACTION_SYNC",
    "CENTRAL_HTTP_PORT",
    "CENTRAL_ZMQ_PORT",
    "EDGE_HTTP_PORT",
    "EDGE_ZMQ_PORT",
    "PEER_INTERVAL_S",
    "PEER_LIVENESS",
    "ProcessEvent",
    "Role",
]

ACTION_REPORT = "hub_report"
ACTION_PROCESS_EVENT = "hub_process_event"
ACTION_PEER = "hub_peer"
ACTION_FORWARD = "hub_forward"
ACTION_SYNC = "hub_sync"
ACTION_SNAPSHOT = "hub_snapshot"
ACTION_ALERTS = "hub_alerts"
ACTION_INFO = "hub_info"

# The dashboard and /metrics are HTTP on the well-known ports; the hub's ROUTER is one above.
CENTRAL_HTTP_PORT = 9000
CENTRAL_ZMQ_PORT = 9001
EDGE_HTTP_PORT = 9100
EDGE_ZMQ_PORT = 9101

PEER_INTERVAL_S = 0.2  # hub <-> hub state beats
PEER_LIVENESS = 5  # beats of silence after which the peer hub is expired (1 s)


class Role(StrEnum):
    CENTRAL = "central"  # Binary Star primary: MainPC
    EDGE = "edge"  # Binary Star backup: PC2


class ProcessEvent(StrEnum):
    STARTED = "started"
    EXITED = "exited"
    RESTARTED = "restarted"
    HUNG = "hung"
    CRASH_LOOP = "crash_loop"
