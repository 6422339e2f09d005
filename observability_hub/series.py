"""The hub's last hour: ring buffers of each signal, one point every ``step_s``.

Per agent: request rate over the step, p95 latency and error ratio over the last ``window_s``
(from the deltas of the cumulative counters and histograms in its reports: a 10 s step holds
too few requests for a steady p95), and the heartbeat gap (the longest wait
between two of its reports within the step, or the current silence).  Per host: rate, p95 and
error ratio over all its agents' deltas.  Per GPU: VRAM used.  Per SLO: the share of its error
budget left (from the hub's SLO engine, when the config has ``slos:``).  The anomaly detector
and the dashboard's charts read these same points.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from observability_hub.window import histogram_quantile, totals

__all__ = ["AGENT_SIGNALS", "HOST_SIGNALS", "Point", "SeriesBook", "StepCounts"]

AGENT_SIGNALS = ("rate", "latency_p95_s", "error_ratio", "heartbeat_gap_s")
HOST_SIGNALS = ("rate", "latency_p95_s", "error_ratio")
GPU_SIGNAL = "vram_used_bytes"
SLO_SIGNAL = "budget_left"


@dataclass(frozen=True)
class Point:
    """One value of one series: ``scope`` agent|host|gpu, ``subject`` its name (a GPU is
    ``host/gpu``), ``signal`` one of the signals, ``t`` wall-clock seconds of the step."""

    scope: str
    subject: str
    signal: str
    t: float
    value: float

    @property
    def key(self) -> tuple[str, str, str]:
        return self.scope, self.subject, self.signal


@dataclass
class StepCounts:
    """Requests, errors and latency-bucket counts within one step."""

    requests: int = 0
    errors: int = 0
    buckets: list[int] = field(default_factory=list)

    def add(self, other: StepCounts) -> None:
        self.requests += other.requests
        self.errors += other.errors
        if not self.buckets:
            self.buckets = [0] * len(other.buckets)
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets, strict=False)]

    def signals(self, window: StepCounts, step_s: float, min_requests: int
                ) -> dict[str, float]:
        """This step's rate; p95 and error ratio over ``window`` if it holds at least
        min_requests requests."""
        out = {"rate": round(self.requests / step_s, 4)}
        return {**out, **window.ratios(min_requests)}

    def ratios(self, min_requests: int) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.requests >= min_requests:
            out["error_ratio"] = round(self.errors / self.requests, 5)
            p95 = histogram_quantile(0.95, [float(b) for b in self.buckets])
            if p95 is not None:
                out["latency_p95_s"] = round(p95, 6)
        return out


@dataclass
class _Agent:
    window: deque[StepCounts]
    last_totals: tuple[int, int, list[int]] | None = None
    last_heard: float | None = None
    max_gap_s: float = 0.0


class SeriesBook:
    """Ring buffers of ``history_s / step_s`` points per series; ``sample`` once per step."""

    def __init__(self, step_s: float, history_s: float, min_requests: int = 100,
                 window_s: float = 60.0) -> None:
        self.step_s = step_s
        self.window_steps = max(1, round(window_s / step_s))
        self.points_kept = max(2, int(history_s / step_s))
        self.min_requests = min_requests
        self.rings: dict[tuple[str, str, str], deque[tuple[float, float]]] = {}
        self._agents: dict[str, _Agent] = {}
        self._next_at: float | None = None

    def heard(self, agent: str, seen_at: float) -> None:
        """A report of agent arrived at monotonic time seen_at."""
        state = self._agent(agent)
        if state.last_heard is not None and seen_at > state.last_heard:
            state.max_gap_s = max(state.max_gap_s, seen_at - state.last_heard)
        if state.last_heard is None or seen_at > state.last_heard:
            state.last_heard = seen_at

    def due(self, now: float) -> bool:
        if self._next_at is None:
            self._next_at = now + self.step_s
            return False
        return now >= self._next_at

    def sample(self, view: Mapping[str, Any], actions: Mapping[str, dict[str, Any]],
               now: float, wall: float) -> list[Point]:
        """Take one step: ``view`` is the hub's health view (agents, hosts with GPUs),
        ``actions`` each live agent's latest cumulative action counters."""
        self._next_at = (self._next_at or now) + self.step_s
        if self._next_at < now:  # the hub was stalled: restart the grid
            self._next_at = now + self.step_s
        points: list[Point] = []
        hosts: dict[str, tuple[StepCounts, StepCounts]] = {}
        for agent in view.get("agents", []):
            name, host = agent["name"], agent["host"]
            counts = self._step_counts(name, actions.get(name))
            if counts is not None:
                window = self._window(name, counts)
                step_sum, window_sum = hosts.setdefault(host, (StepCounts(), StepCounts()))
                step_sum.add(counts)
                window_sum.add(window)
                points += [Point("agent", name, s, wall, v) for s, v in
                           counts.signals(window, self.step_s, self.min_requests).items()]
            gap = self._gap(name, now)
            if gap is not None:
                points.append(Point("agent", name, "heartbeat_gap_s", wall, gap))
        for host, (counts, window) in hosts.items():
            points += [Point("host", host, s, wall, v) for s, v in
                       counts.signals(window, self.step_s, self.min_requests).items()]
        points += _gpu_points(view.get("hosts", []), wall)
        points += [Point("slo", str(s["slo"]), SLO_SIGNAL, wall, float(s["budget_left"]))
                   for s in view.get("slos") or [] if isinstance(s.get("budget_left"),
                                                                  int | float)]
        self._store(points)
        return points

    def _step_counts(self, name: str, actions: dict[str, Any] | None) -> StepCounts | None:
        if actions is None:
            return None
        state = self._agent(name)
        now_totals = totals(actions)
        before, state.last_totals = state.last_totals, now_totals
        if before is None or now_totals[0] < before[0]:  # first sight, or a restarted agent
            state.window.clear()
            return None
        return StepCounts(now_totals[0] - before[0], now_totals[1] - before[1],
                          [b - a for a, b in zip(before[2], now_totals[2], strict=True)])

    def _agent(self, name: str) -> _Agent:
        state = self._agents.get(name)
        if state is None:
            state = self._agents[name] = _Agent(deque(maxlen=self.window_steps))
        return state

    def _window(self, name: str, counts: StepCounts) -> StepCounts:
        """The agent's counts over its last window_steps steps, this one included."""
        window = self._agents[name].window
        window.append(counts)
        out = StepCounts()
        for step in window:
            out.add(step)
        return out

    def _gap(self, name: str, now: float) -> float | None:
        state = self._agents.get(name)
        if state is None or state.last_heard is None:
            return None
        gap = max(state.max_gap_s, now - state.last_heard)
        state.max_gap_s = 0.0
        return round(gap, 3)

    def _store(self, points: Iterable[Point]) -> None:
        for p in points:
            ring = self.rings.get(p.key)
            if ring is None:
                ring = self.rings[p.key] = deque(maxlen=self.points_kept)
            ring.append((p.t, p.value))

    def forget(self, agent: str) -> None:
        self._agents.pop(agent, None)
        for key in [k for k in self.rings if k[0] == "agent" and k[1] == agent]:
            del self.rings[key]

    def series(self, scope: str, subject: str | None = None) -> dict[str, Any]:
        """``{subject: {signal: [[t, value], ...]}}`` of one scope (one subject if given)."""
        out: dict[str, dict[str, list[list[float]]]] = {}
        for (s, name, signal), ring in self.rings.items():
            if s == scope and (subject is None or name == subject):
                out.setdefault(name, {})[signal] = [[t, v] for t, v in ring]
        return out


def _gpu_points(hosts: Iterable[Mapping[str, Any]], wall: float) -> list[Point]:
    points = []
    for host in hosts:
        for gpu in host.get("gpus", []):
            used = gpu.get("used_bytes")
            if isinstance(used, int | float):
                subject = f"{host['name']}/{gpu.get('gpu', '0')}"
                points.append(Point("gpu", subject, GPU_SIGNAL, wall, float(used)))
    return points
