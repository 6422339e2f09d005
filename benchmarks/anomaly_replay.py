"""Replay of the recorded reference mesh (benchmarks/data/anomaly_trace.json.gz) at accelerated
time, with injected anomalies, through the hub's own series (``SeriesBook``).

A replayed agent is the recorded one resampled: one-minute blocks of its seconds (requests,
errors, latency buckets, heartbeat arrivals), each from a random place in the recording (a
circular block bootstrap), laid end to end for as long as asked.  VRAM per GPU is played
in order from a random second, looping (its changes are model loads; cut into blocks they
would jump every minute).  ``Injection`` changes the replay from a given second: latency
scaled, errors added, VRAM rising, heartbeats jittered.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.base_agent.metrics import LATENCY_BUCKETS_S
from common.config.anomaly import AnomalyConfig
from observability_hub.series import Point, SeriesBook

__all__ = ["BLOCK_S", "Injection", "Recording", "Replay"]

BLOCK_S = 60
BOUNDS = (*LATENCY_BUCKETS_S, float("inf"))


class Recording:
    def __init__(self, path: Path) -> None:
        with gzip.open(path, "rt") as f:
            data = json.load(f)
        self.duration_s = int(data["duration_s"])
        self.deps: dict[str, list[str]] = data["deps"]
        self.hosts = {name: a["host"] for name, a in data["agents"].items()}
        self.seconds: dict[str, dict[int, tuple[int, int, list[int]]]] = {
            name: {i: (n, e, b) for i, n, e, b in a["steps"]} for name, a in data["agents"].items()}
        self.arrivals: dict[str, dict[int, list[float]]] = {}
        for name, a in data["agents"].items():
            by_second = self.arrivals[name] = {}
            for t in _arrivals(a["beats"]):
                by_second.setdefault(int(t), []).append(t)
        self.gpus: dict[str, list[float]] = {}
        for t, used in data["gpus"]:
            for gpu, value in used.items():
                series = self.gpus.setdefault(gpu, [])
                while len(series) <= int(t) and len(series) < self.duration_s:
                    series.append(float(value))
        self.meta = {k: data[k] for k in ("recorded_at", "rates", "phase_s", "duration_s",
                                          "loads")}

    def requests_per_s(self, name: str) -> float:
        return sum(n for n, _, _ in self.seconds[name].values()) / self.duration_s


def _arrivals(beats: list[list[float]]) -> list[float]:
    """Arrival times; a run of seqs the recorder missed is spread evenly over its gap."""
    out: list[float] = []
    for (seq0, t0), (seq1, t1) in zip(beats, beats[1:], strict=False):
        n = int(seq1 - seq0)
        out += [t0 + (t1 - t0) * k / n for k in range(n)] if n > 0 else []
    return out + [beats[-1][1]] if beats else out


@dataclass
class Injection:
    """From ``start_s`` to ``end_s`` of a replay: ``latency`` factor, ``error_ratio`` added,
    ``vram_mb_per_min`` rising, ``jitter_s`` of random delay on each heartbeat."""

    start_s: float
    end_s: float
    latency: float = 1.0
    error_ratio: float = 0.0
    vram_mb_per_min: float = 0.0
    jitter_s: float = 0.0

    def on(self, t: float) -> bool:
        return self.start_s <= t < self.end_s


def scale_latency(cumulative: list[int], factor: float) -> list[int]:
    """Cumulative bucket counts of the same requests, each factor times slower (uniform within
    its bucket)."""
    counts = [b - a for a, b in zip([0, *cumulative[:-1]], cumulative, strict=True)]
    moved = [0.0] * len(BOUNDS)
    lo = 0.0
    for count, hi in zip(counts, BOUNDS, strict=True):
        if count:
            top = hi if hi != float("inf") else lo * 2 or 1.0
            a, b = lo * factor, top * factor
            for j, bound in enumerate(BOUNDS):
                low_j = BOUNDS[j - 1] if j else 0.0
                overlap = max(0.0, min(b, bound) - max(a, low_j))
                if overlap > 0:
                    moved[j] += count * overlap / (b - a)
        lo = hi
    out, running = [], 0.0
    for value in moved:
        running += value
        out.append(round(running))
    out[-1] = cumulative[-1]
    return out


@dataclass
class _Agent:
    name: str
    source: str
    host: str
    blocks: list[int]  # the recording's second at which each replayed minute starts
    injection: Injection | None = None
    totals: list[Any] = field(default_factory=lambda: [0, 0, [0] * len(BOUNDS)])


class Replay:
    """``agents`` {replay name: recorded name} replayed for ``hours``; ``steps()`` drives a
    SeriesBook (the hub's) and yields each step's points."""

    def __init__(self, rec: Recording, agents: dict[str, str], hours: float, rng: random.Random,
                 cfg: AnomalyConfig, gpus: dict[str, Injection | None]) -> None:
        self.rec, self.step_s = rec, cfg.step_s
        self.n_blocks = int(hours * 3600 / BLOCK_S)
        blocks = lambda: [rng.randrange(rec.duration_s - BLOCK_S)  # noqa: E731
                          for _ in range(self.n_blocks)]
        self.agents = [_Agent(name, src, rec.hosts[src], blocks()) for name, src in agents.items()]
        self.gpus = {gpu: (rng.randrange(rec.duration_s), inj) for gpu, inj in gpus.items()}
        self.book = SeriesBook(cfg.step_s, 3600.0, cfg.min_requests, cfg.window_s)
        self.rng = rng

    def inject(self, name: str, injection: Injection) -> None:
        next(a for a in self.agents if a.name == name).injection = injection

    @property
    def agent_hours(self) -> float:
        return len(self.agents) * self.n_blocks * BLOCK_S / 3600

    def _source_second(self, blocks: list[int], t: int) -> int:
        return blocks[t // BLOCK_S] + t % BLOCK_S

    def _second(self, a: _Agent, t: int) -> None:
        src = self._source_second(a.blocks, t)
        n, e, b = self.rec.seconds[a.source].get(src, (0, 0, None))
        inj = a.injection if a.injection is not None and a.injection.on(t) else None
        if b is not None and n:
            if inj is not None and inj.latency != 1.0:
                b = scale_latency(b, inj.latency)
            a.totals[2] = [x + y for x, y in zip(a.totals[2], b, strict=True)]
        if inj is not None and inj.error_ratio:
            e += sum(1 for _ in range(n) if self.rng.random() < inj.error_ratio)
        a.totals[0] += n
        a.totals[1] += min(n, e)
        base = t - src
        for arrival in self.rec.arrivals[a.source].get(src, ()):
            delay = self.rng.uniform(0, inj.jitter_s) if inj and inj.jitter_s else 0.0
            self.book.heard(a.name, base + arrival + delay)

    def _gpu_used(self, gpu: str, t: int) -> float:
        offset, inj = self.gpus[gpu]
        series = self.rec.gpus[gpu]
        used = series[(offset + t) % len(series)]
        if inj is not None and inj.vram_mb_per_min and t >= inj.start_s:
            used += inj.vram_mb_per_min * 2**20 * (min(t, inj.end_s) - inj.start_s) / 60
        return used

    def steps(self) -> Iterator[tuple[float, list[Point], dict[str, Any]]]:
        """(step end, the SeriesBook's points, each agent's cumulative actions)."""
        step = int(self.step_s)
        hosts = sorted({a.host for a in self.agents} | {g.split("/")[0] for g in self.gpus})
        view_agents = [{"name": a.name, "host": a.host} for a in self.agents]
        for t0 in range(0, self.n_blocks * BLOCK_S, step):
            for a in self.agents:
                for t in range(t0, t0 + step):
                    self._second(a, t)
            end = float(t0 + step)
            view = {"agents": view_agents, "hosts": [
                {"name": h, "gpus": [{"gpu": g.split("/")[1], "used_bytes": self._gpu_used(g, t0)}
                                     for g in self.gpus if g.split("/")[0] == h]}
                for h in hosts]}
            actions = {a.name: {"all": {"count": a.totals[0], "errors": {"e": a.totals[1]},
                                        "buckets": list(a.totals[2])}} for a in self.agents}
            yield end, self.book.sample(view, actions, end, end), actions
