"""The chaos soak's invariants: registrations lost, VRAM leases leaked.

``RemovalWatch`` watches the registry for the whole soak (its change events, and a snapshot
after any gap) and notes every removal (deregistered, expired, replaced) with whether the
instance's process was alive then.
``classify`` explains each removal by what the soak did; whatever it cannot explain is a
registration lost:

- ``dead``: the process was gone (killed by the soak, or by the launcher as hung);
- ``paused``: the soak had SIGSTOPped that process, within GRACE_S after its SIGCONT;
- ``partitioned``: a PC2 instance during a partition, within GRACE_S after the heal
  (unreachable for longer than the registry's TTL: expiring it is the registry's job);
- ``migrated``: an instance of the agent the migration workload moves (blue/green switch);
- ``lost``: a live, reachable instance removed; the registry expiring instances because the
  registry itself was paused is counted here.

At the end, every agent of the config must be registered again (``missing``).
``leaked_leases`` lists the pool's active leases whose holder is not a live registered instance,
and second leases of one holder.
"""

from __future__ import annotations

import time
from typing import Any

import psutil

from common.base_agent.discovery import RegistryView

__all__ = ["GRACE_S", "RemovalWatch", "classify", "leaked_leases", "pid_alive"]

GRACE_S = 5.0  # > the registry's TTL (2.5 heartbeat intervals) plus TCP's retransmission wait


def pid_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class RemovalWatch:
    """The registry's instances as a watcher sees them (RegistryView: events, and a fresh
    snapshot after any gap, e.g. across a registry restart); every instance that leaves the
    view is a removal, noted with whether its process was alive then."""

    def __init__(self, registry: str, clock_zero: float) -> None:
        self.zero = clock_zero
        self.removals: list[dict[str, Any]] = []
        self._known: dict[str, dict[str, Any]] = {}
        self.view = RegistryView(registry, on_change=self._changed)

    def start(self) -> None:
        self.view.start()

    def stop(self) -> None:
        self.view.stop()

    @property
    def resyncs(self) -> int:
        return self.view.resyncs

    def _changed(self, _name: str | None) -> None:
        """Called from the view's thread after each event or re-sync."""
        current = dict(self.view.instances)
        for instance_id in self._known.keys() - current.keys():
            record = self._known[instance_id]
            pid = int(record.get("pid") or 0)
            self.removals.append({
                "t_s": round(time.monotonic() - self.zero, 3), "name": record.get("name"),
                "instance_id": instance_id, "pid": pid, "alive": pid_alive(pid)})
        self._known = current


def classify(removals: list[dict[str, Any]], faults: list[dict[str, Any]], migrated: str,
             pc2: set[str]) -> list[dict[str, Any]]:
    """Each removal with its ``cause`` (see the module docstring); pc2: PC2's agents."""
    return [{**r, "cause": _cause(r, faults, migrated, pc2)} for r in removals]


def _cause(removal: dict[str, Any], faults: list[dict[str, Any]], migrated: str,
           pc2: set[str]) -> str:
    if not removal["alive"]:
        return "dead"
    if removal["name"] == migrated:
        return "migrated"
    t = removal["t_s"]
    for fault in faults:
        start, end = fault.get("t_s"), fault.get("resumed_s")
        if start is None or end is None or not start <= t <= end + GRACE_S:
            continue
        if fault["action"] == "stop" and fault["pid"] == removal["pid"]:
            return "paused"
        if fault["kind"] == "partition" and removal["name"] in pc2:
            return "partitioned"
    return "lost"


def leaked_leases(leases: list[dict[str, Any]], live: dict[str, str]) -> list[dict[str, Any]]:
    """live: registered instance id by agent name, for agents whose process is alive."""
    leaked, seen = [], set()
    for lease in leases:
        holder = lease.get("holder") or {}
        name, instance = holder.get("name"), holder.get("instance_id")
        if live.get(name) != instance or not pid_alive(int(holder.get("pid") or 0)) \
                or name in seen:
            leaked.append({"lease_id": lease["lease_id"], "model": lease["model"],
                           "holder": holder})
        seen.add(name)
    return leaked
