"""What the hub knows about one agent, with flap damping and its own state.

Heartbeat silence and launcher events are facts and act at once; an agent's *reported*
health is damped: ``FAIL_THRESHOLD`` critical reports in a row before it shows critical,
``RECOVER_THRESHOLD`` good ones in a row before a critical agent shows passing again.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from common.base_agent.health import Status
from common.base_agent.heartbeat import expiry_s
from common.hub.protocol import ProcessEvent

__all__ = ["FAIL_THRESHOLD", "RECOVER_THRESHOLD", "AgentRecord", "AgentState"]

FAIL_THRESHOLD = 2
RECOVER_THRESHOLD = 2
RESTART_WINDOW_S = 300.0
MISSING_TRACKED = 1000  # seqs remembered per agent as missing; later ones count as lost
DOWN_EVENTS = (ProcessEvent.EXITED, ProcessEvent.HUNG, ProcessEvent.CRASH_LOOP)


class AgentState:
    PASSING = "passing"
    WARNING = "warning"
    CRITICAL = "critical"
    UNKNOWN = "unknown"  # configured, never heard
    ALL = ("passing", "warning", "critical", "unknown")


@dataclass
class AgentRecord:
    name: str
    host: str = ""
    instance_id: str = ""
    pid: int = 0
    endpoint: str = ""
    interval_s: float = 1.0
    last_seen: float | None = None  # monotonic
    seq: int = 0
    reports_total: int = 0
    lost_total: int = 0
    damped: Status = Status.PASSING
    fail_streak: int = 0
    ok_streak: int = 0
    report: dict[str, Any] = field(default_factory=dict)
    event: str = ""
    event_at: float = 0.0
    exit_code: int | None = None
    restarts: deque[float] = field(default_factory=lambda: deque(maxlen=64))
    restarts_total: int = 0
    missing: set[int] = field(default_factory=set)  # gaps that a late report may still fill

    def ingest(self, body: dict[str, Any], seen_at: float) -> None:
        """Take one report received at monotonic time seen_at."""
        seq = int(body.get("seq", 0))
        if body.get("instance_id") != self.instance_id:
            self.instance_id, self.seq = str(body.get("instance_id", "")), seq - 1
            self.missing.clear()
        if seq <= self.seq:  # late (it came the long way, through the edge) or repeated
            if seq in self.missing:
                self.missing.discard(seq)
                self.lost_total -= 1
                self.reports_total += 1
            return
        gap = seq - self.seq - 1
        if gap > 0 and not body.get("resync"):  # a resync carries only the latest report
            self.lost_total += gap
            if len(self.missing) + gap <= MISSING_TRACKED:
                self.missing.update(range(self.seq + 1, seq))
        self.seq = seq
        self.reports_total += 1
        if self.last_seen is None or seen_at > self.last_seen:
            self.last_seen = seen_at
        self.pid = int(body.get("pid", 0))
        self.endpoint = str(body.get("endpoint", ""))
        self.interval_s = float(body.get("interval_s", 1.0)) or 1.0
        self.report = body
        self._damp(Status(body.get("health", {}).get("status", "passing")))

    def _damp(self, raw: Status) -> None:
        if raw is Status.CRITICAL:
            self.fail_streak, self.ok_streak = self.fail_streak + 1, 0
            if self.fail_streak >= FAIL_THRESHOLD:
                self.damped = Status.CRITICAL
            return
        self.fail_streak, self.ok_streak = 0, self.ok_streak + 1
        if self.damped is not Status.CRITICAL or self.ok_streak >= RECOVER_THRESHOLD:
            self.damped = raw

    def on_event(self, event: ProcessEvent, code: int | None, pid: int, at: float) -> None:
        self.event, self.event_at, self.exit_code = event.value, at, code
        if pid:
            self.pid = pid
        if event is ProcessEvent.RESTARTED:
            self.restarts.append(at)
            self.restarts_total += 1

    def restarts_within(self, now: float, window_s: float = RESTART_WINDOW_S) -> int:
        return sum(1 for t in self.restarts if now - t <= window_s)

    def age_s(self, now: float) -> float | None:
        return None if self.last_seen is None else max(0.0, now - self.last_seen)

    def up(self, now: float) -> bool:
        age = self.age_s(now)
        return age is not None and age <= expiry_s(self.interval_s) and not self._down_event()

    def _down_event(self) -> bool:
        return self.event in DOWN_EVENTS and (self.last_seen is None
                                              or self.event_at >= self.last_seen)

    def state(self, now: float) -> tuple[str, list[str]]:
        """(state, reasons): launcher events and silence first, then damped health."""
        if self._down_event():
            return AgentState.CRITICAL, [self._event_reason()]
        age = self.age_s(now)
        if age is None:
            return AgentState.UNKNOWN, ["starting" if self.event else "no heartbeat yet"]
        if age > expiry_s(self.interval_s):
            return AgentState.CRITICAL, [f"no heartbeat for {age:.1f} s "
                                         f"(interval {self.interval_s:g} s)"]
        reasons = [f"{c['name']}: {c.get('detail', '')}" for c in
                   self.report.get("health", {}).get("checks", []) if c.get("status") != "passing"]
        if self.fail_streak and self.damped is not Status.CRITICAL:
            reasons.append(f"critical report {self.fail_streak}/{FAIL_THRESHOLD} (damped)")
            return AgentState.WARNING, reasons
        return self.damped.value, reasons

    def _event_reason(self) -> str:
        if self.event == ProcessEvent.EXITED:
            return f"process {self.pid} exited with code {self.exit_code}"
        if self.event == ProcessEvent.HUNG:
            return f"process {self.pid} hung (launcher)"
        return f"crash loop: {len(self.restarts)} restarts"
