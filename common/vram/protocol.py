"""The VRAM lease protocol spoken between model agents and the ModelManagerAgent.

Requests go to the manager (default name ``ModelManagerAgent``) over the mesh wire protocol
(common.base_agent.protocol).  Sizes on the wire are MB (``vram_mb``) where people write them
and bytes where measured (``used_bytes``).  A GPU is named ``HOST:INDEX`` (``main_pc:0``).

Manager actions
---------------
``acquire``   ``{model: str, vram_mb: int > 0, priority: int = 0 (higher wins), pinned: bool =
              False, hosts: [str] | None (allowed hosts, preferred first; None = any),
              wait: bool = True (False: refuse instead of queueing), deadline_s: float > 0 |
              None (how long it may stay queued; None: the pool's ``queue_deadline_s``),
              holder: {name, instance_id, endpoint, pid, host} (all optional; endpoint lets
              the manager ask for unloads and announce grants; instance_id ties the lease to
              the registry)}`` -> LeaseView with ``status`` granted | queued | refused.  Never
              a silent wait: queued carries ``position``, ``reason``, ``waited_s`` and
              ``deadline_in_s``; refused carries ``reason``.  A queued request not granted by
              its deadline ends refused, reason ``deadline: ...`` naming what held the room.
``release``   ``{lease_id, warm_bytes: int >= 0 = 0}`` -> LeaseView (state released, or
              cancelled when still queued) plus ``warm: bool``.  ``warm_bytes`` > 0 offers the
              weights the holder just unloaded to the warm tier (host RAM): ``warm`` true means
              keep them (the next lease of the model loads from RAM, ``tier: warm``), false
              means drop them now.
``keepalive`` ``{lease_id}`` -> LeaseView.  A lease (or queued request) without keepalive for
              ``keepalive_ttl_s`` expires.  Unknown lease -> error ``not_found``.
``touch``     ``{lease_id, uses: int >= 1 = 1}`` -> LeaseView; marks the model used now (idle
              time 0, LRU order) and counts ``uses`` requests served since the last touch
              (how often a model is used is half of what evicting it costs).
``report``    ``{lease_id, used_bytes: int >= 0, load_s: float >= 0 | None, tier: warm | cold |
              None}`` -> LeaseView plus ``over_use`` and ``estimate_mb`` (the corrected
              estimate for the next lease of this model).  ``load_s`` is how long the load
              from ``tier`` took (host RAM or disk); the pool keeps it per model and tier.
``lease``     ``{lease_id}`` -> LeaseView (for holders polling a queued request).
``holder_exited`` ``{instance_id} | {host, pid}`` -> ``{reclaimed: [lease_id]}``: the event a
              launcher sends when a holder process dies; the registry's expiry does the same.
``status``    ``{}`` -> ``{gpus: [...], leases: [LeaseView], queue: [LeaseView],
              counters: {...}}`` (what ``mesh vram`` prints).

LeaseView: ``{lease_id, status, state, model, vram_mb (committed), requested_mb, priority,
pinned, gpu, host, gpu_index, position, reason, holder, idle_s, granted_mb, reported_mb,
over_use, tier, waited_s, deadline_in_s, passed_over}`` (the last three while queued, else
None); ``tier`` is where the weights come from when granted: ``warm`` (the holder's RAM) or
``cold`` (disk).

Notices (manager -> holder endpoint, ordinary requests; the holder answers ``{ok: true}``)
------------------------------------------------------------------------------------------
``vram_unload``  ``{lease_id, reason, deadline_s}``: unload the weights, then ``release``.
``vram_granted`` ``{lease_id, gpu, host, gpu_index, vram_mb}``: a queued request was granted.
``vram_drop_warm`` ``{model}``: the warm tier needs the room: drop the weights kept in RAM.
``vram_manager_started`` ``{manager: instance_id}``: sent at start to every registered model
              agent: a restarted manager knows no lease, so holders check theirs now (a
              ``keepalive`` answered ``not_found``) rather than at their next keepalive.
"""

from __future__ import annotations

from common.strenum import StrEnum

__all__ = [
    "ACTION_ACQUIRE",
    "ACTION_HOLDER_EXITED",
    "ACTION_KEEPALIVE",
    "ACTION_LEASE",
    "ACTION_RELEASE",
    "ACTION_REPORT",
    "ACTION_STATUS",
    "ACTION_TOUCH",
    "DEFAULT_MANAGER",
    "HOLDER_CAPABILITY",
    "NOTICE_GRANTED",
    "NOTICE_STARTED",
    "NOTICE_DROP_WARM",
    "NOTICE_UNLOAD",
    "TERMINAL",
    "Tier",
    "Decision",
    "LeaseState",
    "Reason",
    "gpu_id",
]

DEFAULT_MANAGER = "ModelManagerAgent"

ACTION_ACQUIRE = "acquire"
ACTION_RELEASE = "release"
ACTION_KEEPALIVE = "keepalive"
ACTION_TOUCH = "touch"
ACTION_REPORT = "report"
ACTION_LEASE = "lease"
ACTION_HOLDER_EXITED = "holder_exited"
ACTION_STATUS = "status"

NOTICE_UNLOAD = "vram_unload"
NOTICE_GRANTED = "vram_granted"
NOTICE_STARTED = "vram_manager_started"
NOTICE_DROP_WARM = "vram_drop_warm"
HOLDER_CAPABILITY = "model"  # model agents register with it; the manager finds them by it


class Decision(StrEnum):
    """The answer to ``acquire`` (``status`` of a LeaseView)."""

    GRANTED = "granted"
    QUEUED = "queued"
    REFUSED = "refused"
    ENDED = "ended"  # the lease is over (released, expired, reclaimed, cancelled)


class LeaseState(StrEnum):
    QUEUED = "queued"  # waiting for room (maybe for an eviction it started)
    GRANTED = "granted"  # memory committed; the holder is loading
    LOADED = "loaded"  # the holder reported what it really uses
    EVICTING = "evicting"  # the holder was asked to unload and release
    RELEASED = "released"
    CANCELLED = "cancelled"  # released while still queued
    EXPIRED = "expired"  # no keepalive within keepalive_ttl_s
    RECLAIMED = "reclaimed"  # its holder process died
    REFUSED = "refused"  # queued past its deadline


TERMINAL = frozenset({LeaseState.RELEASED, LeaseState.CANCELLED, LeaseState.EXPIRED,
                      LeaseState.RECLAIMED, LeaseState.REFUSED})


class Reason(StrEnum):
    TOO_LARGE = "too_large"  # larger than any allowed GPU's capacity minus reserve
    NO_ROOM = "no_room"  # wait=False and no room now
    UNKNOWN_HOST = "unknown_host"
    QUEUE_FULL = "queue_full"
    TOO_MANY = "too_many_leases"  # the pool already holds MAX_LEASES live leases
    WAITING = "waiting_for_room"
    HOLDING = "holding_room"  # passed over max_pass_over times: later ones queue behind it
    DEADLINE = "deadline"  # not granted within its deadline
    EVICTING = "evicting"
    IDLE = "idle"
    PRIORITY = "preempted"  # evicted for a request of higher (or equal) priority


class Tier(StrEnum):
    """Where a model's weights are: on a GPU, in its holder's host RAM, or on disk only."""

    RESIDENT = "resident"
    WARM = "warm"
    COLD = "cold"


def gpu_id(host: str, index: int) -> str:
    return f"{host}:{index}"
