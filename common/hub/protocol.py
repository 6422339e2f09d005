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
              leases_active, evictions_total, evictions_recent: [{n, model, gpu, for}],
              registry_instances}}                       # every gauges key optional
    reply: {hub, role, state, peer_state}

``seq`` grows by one per new report and is kept when an unacknowledged report is resent to
the other hub, so the hub counts gaps as lost heartbeats.  ``failover`` is True when the report
goes to the hub that is not the agent's home: the backup's vote to take over (Binary Star).

``hub_report_batch``  launcher -> its host's hub, every heartbeat interval: the ``hub_report``
bodies of the host's agents that answered its probes since the last batch (the agents send
none of their own while their launcher vouches for them; see common.hub.link)::

    {host, reports: [hub_report body + {host_name, age_s}]}
    reply: {hub, role, state, peer_state, accepted, rejected}

``hub_process_events``  launcher -> hub, at once when processes change (what changed since
the last request, in one: a launcher starting 500 agents sends a few dozen, not 500)::

    {events: [{host, agent, pid, event: started|exited|restarted|hung|crash_loop, code, ts}],
     failover}
    reply: {hub, role, state, peer_state}

``hub_peer``  hub <-> hub every PEER_INTERVAL_S: ``{hub, role, state}``; reply the same.
``hub_forward``  edge -> central: ``{hub, items: [{kind: report|event, age_s, body}],
dropped_total}``; reply ``{accepted}``.  ``age_s`` is how long ago the edge received it.
``hub_sync``  central -> edge on return: ``{hub}``; reply ``{items: [...]}`` (every agent's
latest report and recent events) and the edge becomes passive.
``hub_snapshot``  -> the ``/api/health`` document.  ``hub_alerts`` -> the ``/api/alerts`` one.
``hub_info``  -> ``{hub, role, state, http_url, peer}``.
``hub_event``  a sender (migration executor, model manager, a tool) -> either hub: one event
for the incident history ``{kind, summary, agent?, host?, detail?, ts?, id?}`` (kind one of
``EVENT_KINDS``; the same id sent twice is kept once); reply ``{id, stored}``.
``hub_events``  hub -> hub, the event log copied: ``{hub, events: [{id, ts, kind, agent, host,
summary, detail, origin}]}``; reply ``{stored}`` (how many ids were new).
``hub_events_query``  -> ``{events: [...]}`` for ``{since?, until?, agent?, host?, kind?,
limit?}`` (``mesh events``; the same as ``GET /api/events``).
"""

from __future__ import annotations

from common.strenum import StrEnum

__all__ = [
    "ACTION_ALERTS",
    "ACTION_EVENT",
    "ACTION_EVENTS",
    "ACTION_EVENTS_QUERY",
    "ACTION_FORWARD",
    "ACTION_INFO",
    "ACTION_PEER",
    "ACTION_PROCESS_EVENTS",
    "ACTION_REPORT",
    "ACTION_REPORT_BATCH",
    "ACTION_SNAPSHOT",
    "ACTION_SYNC",
    "CENTRAL_HTTP_PORT",
    "CENTRAL_ZMQ_PORT",
    "EDGE_HTTP_PORT",
    "EDGE_ZMQ_PORT",
    "EVENT_KINDS",
    "PEER_INTERVAL_S",
    "PEER_LIVENESS",
    "ProcessEvent",
    "Role",
]

ACTION_REPORT = "hub_report"
ACTION_REPORT_BATCH = "hub_report_batch"
ACTION_PROCESS_EVENTS = "hub_process_events"
ACTION_PEER = "hub_peer"
ACTION_FORWARD = "hub_forward"
ACTION_SYNC = "hub_sync"
ACTION_SNAPSHOT = "hub_snapshot"
ACTION_ALERTS = "hub_alerts"
ACTION_INFO = "hub_info"
ACTION_EVENT = "hub_event"
ACTION_EVENTS = "hub_events"
ACTION_EVENTS_QUERY = "hub_events_query"

# The kinds of the hubs' incident history (observability_hub.events); a kind may be
# refined below one of these with a dot: ``process.exited``, ``alert.firing``.
EVENT_KINDS = ("process", "health", "alert", "silence", "ack", "failover", "migration", "vram",
               "hub")

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
