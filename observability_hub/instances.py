"""Per-instance counters: during a blue/green migration two instances report under one name.

The aggregate view keys agents by name, so an old and a new instance would blur into one row
(and their counters, jumping back and forth between two processes, into nonsense rates).  Here
each report also feeds a window of its own, keyed by (name, instance id); an agent's view lists
its instances (requests, errors, error ratio, latency p95 over the window) whenever more than
one reported within ``LIVE_S``.  Instances silent for ``FORGET_S`` are dropped.
"""

from __future__ import annotations

from typing import Any

from observability_hub.window import RateWindow, totals

__all__ = ["FORGET_S", "LIVE_S", "Instances"]

LIVE_S = 10.0  # an instance that reported this recently is listed
FORGET_S = 120.0
MAX_PER_NAME = 16  # as the registry's limit of live instances per name


class _Instance:
    __slots__ = ("endpoint", "last_seen", "pid", "report", "version", "window")

    def __init__(self) -> None:
        self.window = RateWindow()
        self.last_seen = 0.0
        self.report: dict[str, Any] = {}


class Instances:
    def __init__(self) -> None:
        self.by_name: dict[str, dict[str, _Instance]] = {}

    def ingest(self, name: str, body: dict[str, Any], seen_at: float) -> None:
        iid = str(body.get("instance_id") or "")
        if not iid:
            return
        mine = self.by_name.setdefault(name, {})
        found = mine.get(iid)
        if found is None:
            if len(mine) >= MAX_PER_NAME:
                self._forget(name, seen_at, keep_one_slot=True)
            found = mine[iid] = _Instance()
        found.last_seen = seen_at
        found.report = body
        found.window.add(seen_at, body.get("actions") or {})

    def _forget(self, name: str, now: float, keep_one_slot: bool = False) -> None:
        mine = self.by_name.get(name, {})
        for iid in [i for i, x in mine.items() if now - x.last_seen > FORGET_S]:
            del mine[iid]
        if keep_one_slot and len(mine) >= MAX_PER_NAME:
            del mine[min(mine, key=lambda i: mine[i].last_seen)]

    def view(self, name: str, now: float) -> list[dict[str, Any]]:
        """name's instances that reported within LIVE_S, when there is more than one."""
        self._forget(name, now)
        live = {i: x for i, x in self.by_name.get(name, {}).items()
                if now - x.last_seen <= LIVE_S}
        if len(live) < 2:
            return []
        out = []
        for iid, x in sorted(live.items(), key=lambda kv: kv[1].report.get("endpoint", "")):
            requests, errors, _ = totals(x.report.get("actions") or {})
            out.append({"instance_id": iid, "endpoint": x.report.get("endpoint"),
                        "pid": x.report.get("pid"),
                        "health": (x.report.get("health") or {}).get("status"),
                        "heartbeat_age_s": round(now - x.last_seen, 3),
                        "requests_total": requests, "errors_total": errors,
                        "error_ratio": x.window.error_ratio(),
                        "latency_p95_s": x.window.quantile(0.95)})
        return out
