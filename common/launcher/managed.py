"""One agent process under the supervisor: its definition, state and restart bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from common.config import AgentConfig
from common.launcher.state import AgentState, Backoff, Event, transition

__all__ = ["Managed", "managed"]


@dataclass
class Managed:
    cfg: AgentConfig
    backoff: Backoff
    key: str = ""  # NAME, or NAME@INSTANCE for a second instance (blue/green)
    instance: str = ""
    state: AgentState = AgentState.WAITING
    pid: int = 0
    restarts: int = 0
    started_at: float = 0.0
    ready_at: float = 0.0
    started_wall: float = 0.0  # time.time() of the last start and readiness, for operators
    ready_wall: float = 0.0
    restart_at: float = 0.0
    last_exit_code: int | None = None
    probe_failures: int = 0
    next_probe_at: float = 0.0
    due_at: float = 0.0  # while READY: when its probe needs the supervisor next (send, timeout)
    crash_loop: bool = False
    health_text: str = ""  # why its last health answer did not make it ready; "" if it did
    port_issues: list[str] = field(default_factory=list)  # common.launcher.port_audit
    replaced: bool = False  # `mesh reload` changed its entry: once stopped, start it again
    kill_at: float = 0.0  # while STOPPING: when a SIGTERM it ignored turns into SIGKILL
    short_runs: int = 0  # starts in a row that stayed up less than restart.stable_s

    def move(self, event: Event) -> None:
        self.state = transition(self.state, event)

    def status(self, now: float) -> dict[str, Any]:
        up = self.state in (AgentState.STARTING, AgentState.READY)
        return {"name": self.cfg.name, "instance": self.instance, "port": self.cfg.port,
                "module": self.cfg.module, "host": self.cfg.host, "pid": self.pid or None,
                "state": self.state.value, "ready": self.state is AgentState.READY,
                "restarts": self.restarts, "required": self.cfg.required,
                "uptime_s": round(now - self.started_at, 2) if up else 0.0,
                "last_exit_code": self.last_exit_code, "crash_loop": self.crash_loop,
                "health_text": self.health_text, "port_issues": list(self.port_issues),
                "started_at": self.started_wall, "ready_at": self.ready_wall}


def managed(cfg: AgentConfig, instance: str = "") -> Managed:
    key = f"{cfg.name}@{instance}" if instance else cfg.name
    return Managed(cfg, Backoff(cfg.restart.backoff_initial_s, cfg.restart.backoff_max_s),
                   key=key, instance=instance)
