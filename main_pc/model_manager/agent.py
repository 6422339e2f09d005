"""ModelManagerAgent: the VRAM pool served over the mesh (lease protocol: common.vram.protocol).

Settings: `main_pc.model_manager.settings.ModelManagerSettings` (the :class:`Policy` knobs,
``hosts`` and ``local_host`` derived from the config, ``watch_registry``).
Everything runs in the agent's loop thread; notices to holders never block it.
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import Any

from common.base_agent import BadRequest, BaseAgent, handler, require
from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.base_agent.protocol import ACTION_LOOKUP, ErrorCode
from common.base_agent.services import service_name
from common.gpu.backend import MIB
from common.gpu.probe import ProbeBackend
from common.vram import protocol as vp
from main_pc.model_manager.gauges import pool_gauges
from main_pc.model_manager.holders import HolderWatch
from main_pc.model_manager.hosts import HostGpus, build_hosts, warm_budgets
from main_pc.model_manager.lease import ACTIVE, Holder, Lease
from main_pc.model_manager.metrics import VramCollector
from main_pc.model_manager.outbox import Outbox
from main_pc.model_manager.pool import VramPool
from main_pc.model_manager.settings import ModelManagerSettings
from main_pc.model_manager.standby import ManagerElection, follow_election

__all__ = ["ModelManagerAgent"]

log = logging.getLogger(__name__)

ANNOUNCE_TIMEOUT_S = 0.5


class ModelManagerAgent(BaseAgent):
    capabilities = ("vram_pool",)
    service = "model_manager"
    Settings = ModelManagerSettings
    settings: ModelManagerSettings

    def on_setup(self) -> None:
        policy = self.settings  # the pool's Policy, and more
        remote = None
        if self.registry_endpoint:
            registry = self.registry_endpoint
            remote = lambda host, spec: ProbeBackend(registry, host, ctx=self.ctx)  # noqa: E731
        hosts = self.settings.hosts
        if not hosts:
            raise ValueError("settings.hosts: no GPUs to pool; the launcher derives them from "
                             "the config's hosts.*.gpu ({host: {gpu: {...}}} when run alone)")
        local = self.settings.local_host or next(iter(hosts))
        self.gpus: HostGpus = build_hosts(hosts, local, policy.reserve_mb, remote)
        self.pool = VramPool(self.gpus.slots, policy, warm_budgets=warm_budgets(hosts),
                             **self._clock_kw())
        self.outbox = Outbox(self.ctx, self.name)
        self.metrics.registry.register(VramCollector(self.pool, self.gpus.used_bytes))
        self.watch: HolderWatch | None = None
        if self.registry_endpoint and self.settings.watch_registry:
            self.watch = HolderWatch(self.registry_endpoint, self.ctx)
            self.watch.start()
        if self.elected is not None:
            self.elected.start()  # the leases come from etcd: nobody to tell about a start
        else:
            self._announce_start()

    @cached_property
    def elected(self) -> ManagerElection | None:
        """With registry backend etcd: active by election, else a standby (standby.py)."""
        election = self.settings.election
        return None if election is None else ManagerElection(
            election, self.name, service_name("model_manager") or self.name)

    def registration(self) -> dict[str, Any]:
        record = super().registration()
        return record if self.elected is None else {**record,
                                                    "name": self.elected.registered_name()}

    def _announce_start(self) -> None:
        """A fresh pool knows no lease: tell every registered model agent now, so that holders
        of a previous instance's leases learn it at once, not at their next keepalive."""
        if not self.registry_endpoint:
            return
        try:
            with Client(self.registry_endpoint, ctx=self.ctx, source=self.name) as client:
                holders = client.call_endpoint(
                    self.registry_endpoint, ACTION_LOOKUP, {"capability": vp.HOLDER_CAPABILITY},
                    timeout_s=ANNOUNCE_TIMEOUT_S, retries=0, peer="ServiceRegistry")
        except MeshError as exc:  # they will find out at their next keepalive
            log.warning("cannot list model agents to announce the start: %s", exc)
            return
        for holder in holders:
            self.outbox.send(holder["endpoint"], vp.NOTICE_STARTED, {"manager": self.instance_id})

    def _clock_kw(self) -> dict[str, Any]:
        clock = self.settings.clock  # tests inject a manual clock (in-process only)
        return {"clock": clock} if clock is not None else {}

    # -- the lease protocol ------------------------------------------------------------------
    @handler(vp.ACTION_ACQUIRE)
    def acquire(self, payload: Any) -> dict[str, Any]:
        self._serving()
        model = require(payload, "model", str)
        vram_mb = require(payload, "vram_mb", int | float)
        if not model or vram_mb <= 0:
            raise BadRequest("payload.model must be non-empty and payload.vram_mb > 0")
        hosts = require(payload, "hosts", list, [])
        if not all(isinstance(h, str) for h in hosts):
            raise BadRequest("payload.hosts must be a list of host names")
        deadline_s = require(payload, "deadline_s", int | float, None)
        if deadline_s is not None and deadline_s <= 0:
            raise BadRequest("payload.deadline_s must be > 0")
        holder = Holder.from_payload(require(payload, "holder", dict, {}))
        lease = self.pool.acquire(
            model, int(vram_mb * MIB), priority=require(payload, "priority", int, 0),
            pinned=require(payload, "pinned", bool, False), hosts=hosts, holder=holder,
            wait=require(payload, "wait", bool, True), deadline_s=deadline_s)
        if holder.instance_id and self.watch is not None:
            self.watch.watch(holder.instance_id)
        self._after_change(lease)
        return lease.view(self.pool.clock())

    @handler(vp.ACTION_RELEASE)
    def release(self, payload: Any) -> dict[str, Any]:
        self._serving()
        lease = self._lease(payload)
        warm_bytes = require(payload, "warm_bytes", int, 0)
        if warm_bytes < 0:
            raise BadRequest("payload.warm_bytes must be >= 0")
        _, warm = self.pool.release(lease.lease_id, warm_bytes)
        self._after_change(lease)
        return {**lease.view(self.pool.clock()), "warm": warm}

    @handler(vp.ACTION_KEEPALIVE)
    def keepalive(self, payload: Any) -> dict[str, Any]:
        self._serving()
        lease = self.pool.keepalive(self._lease(payload).lease_id)
        self._flush()
        return lease.view(self.pool.clock())

    @handler(vp.ACTION_TOUCH)
    def touch(self, payload: Any) -> dict[str, Any]:
        self._serving()
        uses = require(payload, "uses", int, 1)
        if uses < 1:
            raise BadRequest("payload.uses must be >= 1")
        lease = self.pool.keepalive(self._lease(payload).lease_id, used=True, uses=uses)
        self._flush()
        return lease.view(self.pool.clock())

    @handler(vp.ACTION_LEASE)
    def lease(self, payload: Any) -> dict[str, Any]:
        self._serving()
        return self._lease(payload).view(self.pool.clock())

    @handler(vp.ACTION_REPORT)
    def report(self, payload: Any) -> dict[str, Any]:
        self._serving()
        lease = self._lease(payload)
        used = require(payload, "used_bytes", int)
        if used < 0:
            raise BadRequest("payload.used_bytes must be >= 0")
        load_s = require(payload, "load_s", int | float, None)
        tier = require(payload, "tier", str, None)
        if (load_s is not None and load_s < 0) or tier not in (None, vp.Tier.WARM, vp.Tier.COLD):
            raise BadRequest("payload.load_s must be >= 0 and payload.tier warm or cold")
        if lease.state in ACTIVE:
            host, _, index = lease.gpu.rpartition(":")
            used = max(used, self.gpus.process_bytes(host, int(index), lease.holder.pid))
        self.pool.report(lease.lease_id, used, load_s=load_s,
                         tier=vp.Tier(tier) if tier else None)
        self._after_change(lease)
        estimate = self.pool.estimates.effective(lease.model, lease.requested_bytes)
        return {**lease.view(self.pool.clock()), "estimate_mb": round(estimate / MIB, 1)}

    @handler(vp.ACTION_HOLDER_EXITED)
    def holder_exited(self, payload: Any) -> dict[str, Any]:
        self._serving()
        instance_id = require(payload, "instance_id", str, "")
        pid = require(payload, "pid", int, 0)
        if not instance_id and not pid:
            raise BadRequest("payload needs instance_id, or host and pid")
        gone = self.reclaim(instance_id=instance_id, host=require(payload, "host", str, ""),
                            pid=pid, reason="holder exited (event)")
        return {"reclaimed": gone}

    @handler(vp.ACTION_STATUS)
    def status(self, payload: Any = None) -> dict[str, Any]:
        pool, now = self.pool, self.pool.tick()  # as of now: the overdue refused, not shown
        self._flush()
        committed, used = pool.committed(), self.gpus.used_bytes()
        gpus = []
        for slot in pool.slots:
            gpus.append({**slot.as_dict(),
                         "committed_mb": round(committed[slot.gpu] / MIB, 1),
                         "used_mb": round(used.get(slot.gpu, 0) / MIB, 1),
                         "free_mb": round((slot.usable_bytes - committed[slot.gpu]) / MIB, 1),
                         "peak_committed_mb": round(pool.peak_committed[slot.gpu] / MIB, 1)})
        active = [le.view(now) for le in pool.leases.values() if le.state in ACTIVE]
        return {"gpus": gpus, "leases": active, "queue": [le.view(now) for le in pool.queue()],
                "counters": dict(pool.counters),
                "estimates_mb": {m: round(b / MIB, 1) for m, b in pool.estimates.as_dict().items()},
                "tiers_mb": {h: {t: round(b / MIB, 1) for t, b in tiers.items()}
                             for h, tiers in pool.tier_bytes().items()},
                "warm": pool.tiers.warm.view(),
                "models": {m: {"tier": pool.tier_of(m).value, **pool.tiers.costs.view(m, now)}
                           for m in sorted(pool.tiers.homes)},
                "notices": {"sent": self.outbox.sent, "dropped": self.outbox.dropped},
                "active": self.elected.active if self.elected else True,
                "leader": self.elected.election.holder if self.elected else self.name}

    def hub_gauges(self) -> dict[str, Any]:
        """VRAM per GPU, active leases and evictions for the hub (common.hub.GaugeSource)."""
        return pool_gauges(self.pool, self.gpus.used_bytes())

    # -- reclaim, timers, notices ------------------------------------------------------------
    def reclaim(self, *, instance_id: str = "", host: str = "", pid: int = 0,
                reason: str = "holder exited") -> list[str]:
        """End a dead holder's leases; any event source (registry, launcher) calls this."""
        gone = self.pool.reclaim(instance_id=instance_id, host=host, pid=pid, reason=reason)
        if gone:
            log.info("reclaimed %s (%s)", gone, reason)
            self._sync_usage()
            self._flush()
        return gone

    def _serving(self) -> None:
        if self.elected is not None:
            self.elected.require_active()

    def on_tick(self) -> None:
        if self.elected is not None:
            follow_election(self, self.elected)
        self.pool.tick()
        if self.watch is not None:
            holders = {le.holder.instance_id for le in self.pool.leases.values()}
            for instance_id in self.watch.dead(holders - {""}):
                self.reclaim(instance_id=instance_id, reason="holder left the registry")
        self._flush()
        self.outbox.drain()

    def on_stop(self) -> None:
        if self.elected is not None:
            self.elected.stop()
        if self.watch is not None:
            self.watch.stop()
        self.outbox.close()
        for backend in self.gpus.backends.values():
            close = getattr(backend, "close", None)
            if close is not None:
                close()

    def _lease(self, payload: Any) -> Lease:
        lease_id = require(payload, "lease_id", str)
        try:
            return self.pool.get(lease_id)
        except KeyError:
            raise MeshError(f"no lease {lease_id!r}", ErrorCode.NOT_FOUND) from None

    def _after_change(self, lease: Lease) -> None:
        self._sync_usage(lease.gpu)
        self._flush()
        if self.elected is not None:  # in etcd before the holder hears of it
            self.elected.save(self.pool, force=True)

    def _sync_usage(self, gpu: str = "") -> None:
        """Feed holders' reports to simulated GPUs: their "used" is what holders report."""
        for slot in self.pool.slots:
            if gpu and slot.gpu != gpu:
                continue
            by_pid: dict[int, int] = {}
            for le in self.pool.leases.values():
                if le.gpu == slot.gpu and le.state in ACTIVE and le.reported_bytes:
                    by_pid[le.holder.pid] = by_pid.get(le.holder.pid, 0) + le.reported_bytes
            self.gpus.record(slot.host, slot.index, by_pid)

    def _flush(self) -> None:
        notices, self.pool.notices = self.pool.notices, []
        for notice in notices:
            if notice.copy is not None:
                if notice.copy.holder.endpoint:
                    self.outbox.send(notice.copy.holder.endpoint, notice.action,
                                     {"model": notice.copy.model})
                continue
            lease = notice.lease
            if lease is None or not lease.holder.endpoint:
                continue
            payload: dict[str, Any] = {"lease_id": lease.lease_id, "gpu": lease.gpu}
            if notice.action == vp.NOTICE_UNLOAD:
                payload.update(reason=lease.reason, deadline_s=self.pool.policy.evict_timeout_s)
            else:
                payload.update(lease.view(self.pool.clock()))
            self.outbox.send(lease.holder.endpoint, notice.action, payload)
        if notices:
            self.outbox.keep_only({le.holder.endpoint for le in self.pool.leases.values()}
                                  | {c.holder.endpoint
                                     for c in self.pool.tiers.warm.copies.values()})
