"""The model manager by election (``registry: {backend: etcd}``): one active, standbys elsewhere.

Every ``service: model_manager`` agent campaigns for ``model_manager`` (common.election).  The
leader is registered under the service's name (the name model agents call), serves the lease
protocol and writes its active leases to etcd (``/agentmesh/vram/leases``) whenever they
change.  A standby is registered as ``NAME-standby``, refuses the lease protocol with
``unavailable`` naming the leader, and when it wins the election it reads the leases back from
etcd (holders keep their leases and their GPUs, their keep-alives find them), removes the dead
leader's registration and takes the service's name.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from typing import Any

from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.base_agent.protocol import ACTION_DEREGISTER, ACTION_LOOKUP, ErrorCode
from common.election import Election, ElectionSettings
from common.etcd import EtcdClient
from main_pc.model_manager.lease import ACTIVE, Holder, Lease, transition
from main_pc.model_manager.pool import S, VramPool

__all__ = ["LEASES_KEY", "ROLE", "ManagerElection", "follow_election", "restore_leases",
           "saved_leases"]

log = logging.getLogger(__name__)

ROLE = "model_manager"
LEASES_KEY = "/agentmesh/vram/leases"
SAVE_EVERY_S = 0.1


def saved_leases(pool: VramPool) -> list[dict[str, Any]]:
    """The pool's leases that hold memory, as written to etcd."""
    return [{"lease_id": le.lease_id, "model": le.model, "requested_bytes": le.requested_bytes,
             "want_bytes": le.want_bytes, "granted_bytes": le.granted_bytes,
             "reported_bytes": le.reported_bytes, "priority": le.priority, "pinned": le.pinned,
             "hosts": list(le.hosts), "holder": le.holder.as_dict(), "gpu": le.gpu,
             "loaded": le.state is not S.GRANTED}
            for le in sorted(pool.leases.values(), key=lambda le: le.lease_id)
            if le.state in ACTIVE]


def restore_leases(pool: VramPool, records: list[dict[str, Any]]) -> list[str]:
    """Leases read back from etcd, granted again on their GPUs with a fresh keep-alive
    period; the pool's new lease ids start after theirs.  Returns their ids."""
    now = pool.tick()
    restored, top = [], 0
    for r in records:
        if r["gpu"] not in pool.by_gpu or r["lease_id"] in pool.leases:
            continue
        lease = Lease(r["lease_id"], r["model"], r["requested_bytes"], r["want_bytes"],
                      r["priority"], r["pinned"], tuple(r["hosts"]), Holder(**r["holder"]),
                      now, now, last_used_at=now, last_keepalive_at=now)
        transition(lease, S.GRANTED)
        lease.gpu, lease.granted_bytes, lease.granted_at = r["gpu"], r["granted_bytes"], now
        lease.reported_bytes = r["reported_bytes"]
        pool.tiers.granted(lease, lease.gpu)
        if r["loaded"]:
            transition(lease, S.LOADED)
        pool.leases[lease.lease_id] = lease
        restored.append(lease.lease_id)
        number = lease.lease_id[1:].partition("-")[0]
        top = max(top, int(number) if number.isdigit() else 0)
    pool._ids = itertools.count(top + 1)  # noqa: SLF001 (no new lease takes a restored id)
    return restored


class ManagerElection:
    def __init__(self, settings: ElectionSettings, agent_name: str, service_name: str) -> None:
        self.election = Election.from_settings(settings, ROLE, agent_name)
        self.service_name = service_name
        self.standby_name = f"{agent_name}-standby"
        self.active = False  # follows the election from the agent's loop
        self.stale: bool | None = None  # True once it led and lost: its pool may be stale
        self.took_over_at = 0.0
        self._etcd = EtcdClient(settings.endpoints, settings.timeout_s)
        self._saved: str | None = None
        self._next_save = 0.0

    def start(self) -> None:
        self.election.start()

    def stop(self) -> None:
        self.election.stop()
        self._etcd.close()

    def registered_name(self) -> str:
        return self.service_name if self.active else self.standby_name

    def require_active(self) -> None:
        if not self.active:
            raise MeshError(f"standby model manager; the active one is "
                            f"{self.election.holder or 'not elected yet'}", ErrorCode.UNAVAILABLE)

    def load(self) -> list[dict[str, Any]]:
        kv = self._etcd.get(LEASES_KEY)
        return json.loads(kv.value) if kv is not None else []

    def unchanged(self) -> bool:
        """The leases in etcd are the ones this manager wrote last."""
        try:
            kv = self._etcd.get(LEASES_KEY)
        except MeshError:
            return False
        return kv is not None and kv.value == self._saved

    def save(self, pool: VramPool, force: bool = False) -> None:
        """Write the leases to etcd when they changed (at most every SAVE_EVERY_S)."""
        now = time.monotonic()
        if not force and now < self._next_save:
            return
        self._next_save = now + SAVE_EVERY_S
        text = json.dumps(saved_leases(pool))
        if text != self._saved:
            try:
                self._etcd.put(LEASES_KEY, text)
                self._saved = text
            except MeshError as exc:
                log.warning("cannot save the VRAM leases to etcd: %s", exc)


def follow_election(agent: Any, elected: ManagerElection) -> None:
    """From the agent's loop: take over when elected, save the leases while active, stop
    serving the moment the leadership is lost.  Elected again, it resumes if the leases in
    etcd are still the ones it wrote (nobody led meanwhile), else it restarts: the pool it
    holds is stale, and a fresh process comes back as a standby."""
    leading = elected.election.is_leader
    if leading and not elected.active:
        if elected.stale is None:
            _take_over(agent, elected)
        elif elected.unchanged():
            log.warning("model manager %s leads again; its leases are current", agent.name)
            elected.active, elected.stale = True, None
        else:
            log.error("model manager %s: another one led meanwhile; restarting as a standby",
                      agent.name)
            agent.request_stop()
    elif elected.active and not leading:
        log.error("model manager %s lost the election: not serving", agent.name)
        elected.active, elected.stale = False, True
    elif elected.active:
        elected.save(agent.pool)


def _take_over(agent: Any, elected: ManagerElection) -> None:
    try:
        restored = restore_leases(agent.pool, elected.load())
    except MeshError as exc:
        log.warning("elected, but the leases cannot be read from etcd yet: %s", exc)
        return
    elected.active = True
    elected.took_over_at = time.monotonic()
    log.warning("model manager %s active (took over from %s); %d leases read back from etcd",
                agent.name, elected.election.took_over_from or "nobody", len(restored))
    _take_name(agent, elected.service_name)
    elected.save(agent.pool, force=True)


def _take_name(agent: Any, name: str) -> None:
    """Register under the service's name (the registry renames the instance in one step);
    the dead leader's registration is removed from a thread of its own, so that a registry
    slowed by etcd's own recovery does not hold up the loop that now serves the leases."""
    link = next((x for x in agent.links if x.name == "registry"), None)
    if link is None or agent.registry_endpoint is None:
        return
    threading.Thread(target=_evict, args=(agent.registry_endpoint, agent.ctx, name,
                                          agent.instance_id), daemon=True).start()
    link.record = agent.registration()
    link.registered = False


def _evict(registry: str, ctx: Any, name: str, own_id: str) -> None:
    with Client(registry, ctx=ctx, source="model-manager-takeover") as client:
        try:
            for old in client.call_endpoint(registry, ACTION_LOOKUP, {"name": name},
                                            timeout_s=2.0, retries=0):
                if old["instance_id"] != own_id:
                    client.call_endpoint(registry, ACTION_DEREGISTER,
                                         {"instance_id": old["instance_id"]}, timeout_s=2.0,
                                         retries=0)
        except MeshError as exc:  # it expires with its lease anyway
            log.warning("cannot remove the old leader's registration: %s", exc)
