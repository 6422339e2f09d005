"""ProcessControl: what the supervisor asks of the launcher that runs it.

The Supervisor only decides; the launcher (common.launcher.agent) acts on processes and
sockets for it.  ``key`` is the supervisor's: NAME, or NAME@INSTANCE for a second instance.
"""

from __future__ import annotations

from typing import Any, Protocol

from common.config import AgentConfig

__all__ = ["ProcessControl"]


class ProcessControl(Protocol):
    def spawn_many(self, agents: list[tuple[AgentConfig, str]]) -> list[int | Exception]:
        """Start each agent ``cfg`` as ``key``, together; for each, its pid or why it
        could not start."""
        ...

    def signal(self, pid: int, sig: int) -> None:
        """Send ``sig`` to the agent ``pid`` and what it started; gone is not an error."""
        ...

    def alive(self, pid: int) -> bool:
        """Whether ``pid`` still runs (a zombie does not)."""
        ...

    def probe(self, cfg: AgentConfig, key: str) -> None:
        """Send a health probe; its answer arrives as ``Supervisor.on_health``."""
        ...

    def outstanding_s(self, key: str) -> float:
        """How long ``key``'s probe has waited for its answer; 0.0 when none is out."""
        ...

    def forget(self, key: str) -> None:
        """Drop ``key``'s probe in flight and its socket: no stale answer counts later."""
        ...

    def exited(self, key: str) -> None:
        """``key``'s process exited: forget it, and tell the registry its instance is gone."""
        ...

    def remote_ready(self, name: str) -> bool:
        """Whether the agent ``name`` on another host answers its health probe."""
        ...

    def notify(self, event: dict[str, Any]) -> None:
        """Publish a process event: ``{event: started|exited|restarted|hung|crash_loop, ...}``."""
        ...
