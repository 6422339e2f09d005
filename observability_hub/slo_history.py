"""The SLI history in memory: the current minute per SLO and agent, closed minutes per SLO for
the burn-rate windows, open incidents; each closed minute goes to the store.

Time is wall-clock seconds passed in by the caller (the hub's clock, or a benchmark's
accelerated one).  A minute bucket ``m`` holds what happened in ``[m, m + 60)``; a window of
``W`` seconds at ``now`` holds the buckets that start at or after ``now - W`` (at a minute
boundary: exactly the last ``W / 60`` minutes, as PromQL's ``rate(x[W])`` sees them with
one sample a minute).
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from observability_hub.slo_spec import BURN_WINDOWS_S, MINUTE_S, SLO_ALERTS, SloSpec
from observability_hub.slo_store import SliStore

__all__ = ["INCIDENT_QUIET_MINUTES", "SliHistory", "incident_ratio"]

KEEP_MINUTES_S = max(BURN_WINDOWS_S)
INCIDENT_QUIET_MINUTES = 5  # good minutes in a row that close an incident
_PAGE_FACTOR = max(a.factor for a in SLO_ALERTS)


def incident_ratio(spec: SloSpec) -> float:
    """A minute whose error ratio reaches this burns at the paging rate: part of an incident."""
    return min(_PAGE_FACTOR * spec.budget, 0.5)


class SliHistory:
    def __init__(self, specs: list[SloSpec], store: SliStore) -> None:
        self.specs = {s.name: s for s in specs}
        self.store = store
        self.minute: int | None = None
        self.current: dict[tuple[str, str], list[float]] = {}
        self.closed = {s: _Minutes() for s in self.specs}
        self.open: dict[tuple[str, str], dict[str, Any]] = {}
        for slo, minute, good, total in store.minutes(0):
            if slo in self.closed:
                self.closed[slo].add(minute, good, total)
        for incident in store.open_incidents():
            if incident["slo"] in self.specs:
                self.open[(incident["slo"], incident["agent"])] = incident

    def record(self, slo: str, agent: str, now: float, good: float, total: float) -> None:
        self.roll(now)
        cell = self.current.setdefault((slo, agent), [0.0, 0.0])
        cell[0] += good
        cell[1] += total

    def roll(self, now: float) -> bool:
        """Close the current minute once ``now`` is past it; True if one was closed."""
        minute = int(now // MINUTE_S) * MINUTE_S
        if self.minute is None:
            self.minute = minute
        elif minute > self.minute:
            self._close(self.minute)
            self.minute = minute
            return True
        return False

    def flush(self) -> None:
        """Write the current minute as it is (the hub stops); later events of the same
        minute add to it."""
        if self.minute is not None and self.current:
            self._close(self.minute)

    def _close(self, minute: int) -> None:
        totals = {slo: [0.0, 0.0] for slo in self.specs}
        for (slo, _), (good, total) in self.current.items():
            totals[slo][0] += good
            totals[slo][1] += total
        changed = self._incidents(minute)
        by_agent = {key: (g, t) for key, (g, t) in self.current.items()}
        for slo, (good, total) in totals.items():
            self.closed[slo].add(minute, good, total)
            self.closed[slo].trim(minute - KEEP_MINUTES_S)
        self.store.write_minute(minute, {s: (g, t) for s, (g, t) in totals.items()}, by_agent,
                                changed)
        self.current = {}
        if minute % 3600 == 0:
            self.store.prune(minute, KEEP_MINUTES_S, {s: p.window_s
                                                       for s, p in self.specs.items()})

    def _incidents(self, minute: int) -> list[dict[str, Any]]:
        changed = []
        keys = set(self.current) | set(self.open)
        for slo, agent in sorted(keys):
            good, total = self.current.get((slo, agent), (0.0, 0.0))
            bad = total > 0 and (total - good) / total >= incident_ratio(self.specs[slo])
            incident = self.open.get((slo, agent))
            if bad:
                if incident is None:
                    incident = self.open[(slo, agent)] = {"slo": slo, "agent": agent,
                                                          "start": minute, "bad": 0.0,
                                                          "total": 0.0, "open": 1}
                incident.update(end=minute + MINUTE_S, bad=incident["bad"] + total - good,
                                total=incident["total"] + total)
                changed.append(dict(incident))
            elif incident is not None and minute >= incident["end"] + \
                    (INCIDENT_QUIET_MINUTES - 1) * MINUTE_S:
                del self.open[(slo, agent)]
                changed.append({**incident, "open": 0})
        return changed

    def window(self, slo: str, window_s: int, now: float) -> tuple[float, float]:
        """(good, total) of the SLO's closed minutes and the current one within the window."""
        start = now - window_s
        good, total = self.closed[slo].since(start)
        if self.minute is not None and self.minute >= start:
            for (name, _), (g, t) in self.current.items():
                if name == slo:
                    good, total = good + g, total + t
        return good, total

    def error_ratios(self, slo: str, now: float) -> dict[int, float | None]:
        """Each burn window's error ratio (None without traffic, as PromQL's 0/0)."""
        out: dict[int, float | None] = {}
        for w in BURN_WINDOWS_S:
            good, total = self.window(slo, w, now)
            out[w] = (total - good) / total if total > 0 else None
        return out


class _Minutes:
    """Closed minutes of one SLO as running sums: a window's total is one subtraction."""

    def __init__(self) -> None:
        self.minutes: list[int] = []
        self.sums: list[tuple[float, float]] = [(0.0, 0.0)]  # before minutes[i]: sums[i]

    def add(self, minute: int, good: float, total: float) -> None:
        g, t = self.sums[-1]
        self.minutes.append(minute)
        self.sums.append((g + good, t + total))

    def since(self, start: float) -> tuple[float, float]:
        i = bisect_left(self.minutes, start)
        (g0, t0), (g1, t1) = self.sums[i], self.sums[-1]
        return g1 - g0, t1 - t0

    def trim(self, before: float) -> None:
        """Forget minutes before ``before`` once they are half the list."""
        i = bisect_left(self.minutes, before)
        if i and i * 2 >= len(self.minutes):
            self.minutes, self.sums = self.minutes[i:], self.sums[i:]
