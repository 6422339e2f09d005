"""Gates watched during a bake: the new instances answer, stay up, keep errors and latency down.

Per agent, every ``probe.interval_s`` the executor sends its own probe request (``probe.action``,
default ``health``) to the new instance and times it; every ``STATUS_INTERVAL_S`` it reads the
launcher's view of the instance.  Breaches:

- the process exited or was restarted (crash), or the launcher no longer reports it ready;
- ``probe_failures_max`` probes in a row unanswered or answered with an error;
- error ratio of the last ``WINDOW`` probes above ``error_rate_max`` (at least MIN_SAMPLES);
- p95 of the last ``WINDOW`` probe latencies above ``latency_p95_ratio_max`` x the old
  version's baseline p95 (measured the same way before the switch) and more than
  ``latency_floor_ms`` above it (sub-millisecond noise is not a regression).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from common.base_agent.errors import MeshError
from migration.mesh import MeshControl

__all__ = ["BASELINE_PROBES", "GateBreach", "Target", "measure_p95_s", "watch"]

log = logging.getLogger(__name__)

WINDOW = 20
MIN_SAMPLES = 10
BASELINE_PROBES = 20
STATUS_INTERVAL_S = 0.2


class GateBreach(Exception):
    def __init__(self, agent: str, reason: str) -> None:
        super().__init__(f"{agent}: {reason}")
        self.agent = agent
        self.reason = reason
        self.at = time.monotonic()


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def measure_p95_s(mesh: MeshControl, endpoint: str, probe: dict[str, Any]) -> float:
    """Baseline: p95 of BASELINE_PROBES probe requests to endpoint (errors not counted)."""
    times = [mesh.probe(endpoint, probe["action"], probe["payload"], probe["timeout_s"])
             for _ in range(BASELINE_PROBES)]
    ok = [t for t, good in times if good]
    return p95(ok) if ok else probe["timeout_s"]


@dataclass
class Target:
    """One agent's new instance under watch."""

    agent: str
    host: str
    instance: str  # launcher label of the new instance ("" for stop-and-replace)
    endpoint: str
    probe: dict[str, Any]
    gates: dict[str, Any]
    baseline_p95_s: float
    restarts_at_start: int = 0
    window: deque = field(default_factory=lambda: deque(maxlen=WINDOW))
    failures_in_row: int = 0

    def check_probe(self, seconds: float, ok: bool) -> None:
        self.window.append((seconds, ok))
        self.failures_in_row = 0 if ok else self.failures_in_row + 1
        g = self.gates
        if self.failures_in_row >= g["probe_failures_max"]:
            raise GateBreach(self.agent, f"{self.failures_in_row} probes in a row failed")
        if len(self.window) < MIN_SAMPLES:
            return
        errors = sum(1 for _, good in self.window if not good) / len(self.window)
        if g["error_rate_max"] is not None and errors > g["error_rate_max"]:
            raise GateBreach(self.agent, f"error rate {errors:.0%} > {g['error_rate_max']:.0%}")
        good = [t for t, fine in self.window if fine]
        if g["latency_p95_ratio_max"] is None or len(good) < MIN_SAMPLES:
            return
        now_p95, base = p95(good), self.baseline_p95_s
        if (now_p95 > base * g["latency_p95_ratio_max"]
                and (now_p95 - base) * 1000 > g["latency_floor_ms"]):
            raise GateBreach(self.agent, f"latency p95 {now_p95 * 1000:.1f} ms > "
                             f"{g['latency_p95_ratio_max']}x baseline {base * 1000:.1f} ms")

    def check_process(self, mesh: MeshControl) -> None:
        try:
            found = mesh.instances(self.host, self.agent).get(self.instance)
        except MeshError as exc:
            log.warning("launcher %s did not answer: %s", self.host, exc)
            return  # the probes still judge the instance
        if found is None:
            raise GateBreach(self.agent, "the launcher no longer runs the new instance")
        if found["restarts"] > self.restarts_at_start or not found["ready"]:
            raise GateBreach(self.agent, f"new instance crashed (state {found['state']}, "
                             f"exit code {found['last_exit_code']})")


def watch(mesh: MeshControl, targets: list[Target], bake_s: float,
          on_tick: Callable[[float], None] | None = None) -> None:
    """Watch targets for bake_s; raises GateBreach on the first breach."""
    start = time.monotonic()
    end = start + bake_s
    next_status = start
    interval = min(t.probe["interval_s"] for t in targets) if targets else 0.05
    while (now := time.monotonic()) < end:
        if now >= next_status:
            for t in targets:
                t.check_process(mesh)
            next_status = now + STATUS_INTERVAL_S
            if on_tick is not None:
                on_tick(now - start)
        for t in targets:
            t.check_probe(*mesh.probe(t.endpoint, t.probe["action"], t.probe["payload"],
                                      t.probe["timeout_s"]))
        pause = min(interval, end - time.monotonic())
        if pause > 0:
            time.sleep(pause)  # pacing of the sampling loop, not synchronisation
