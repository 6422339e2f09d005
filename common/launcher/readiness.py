"""Whether an agent's health answer makes it ready, and if not, the text an operator sees.

A BaseAgent is ready once it answers and, with a registry, is registered (a dependent that
calls it by name at once must find it).  A legacy script's ``health_check`` reply counts only
with a healthy status (``health.healthy``: ``ok``, ``ready``, ``healthy`` by default,
case-insensitive): the original's scripts answer ``{"status": "error"}`` while their
constructor still runs.  Either kind may also have to accept TCP connections on named ports
(``health.ports``), e.g. a script whose main port is bound only when its constructor ends.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from common.config import AgentConfig
from common.config.agent_schema import DEFAULT_HEALTHY

__all__ = ["CONNECT_TIMEOUT_S", "verdict"]

CONNECT_TIMEOUT_S = 0.2  # the launcher's own host: refused at once, or accepted at once
REPLY_TEXT_MAX = 200


def _registered(report: dict[str, Any]) -> bool:
    checks = report.get("checks")
    return not isinstance(checks, list) or all(
        c.get("status") == "passing" for c in checks
        if isinstance(c, dict) and c.get("name") == "registry")


def _reply_text(report: dict[str, Any]) -> str:
    first = {k: report[k] for k in ("status", "detail", "error", "message") if k in report}
    text = json.dumps({**first, **report}, default=str)  # what says why first
    return text if len(text) <= REPLY_TEXT_MAX else text[:REPLY_TEXT_MAX - 3] + "..."


def _accepts(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError:
        return False
    return True


def verdict(cfg: AgentConfig, report: dict[str, Any], address: str) -> tuple[bool, str]:
    """(ready, why not) for cfg's health answer report; address is its host's."""
    if cfg.script_path:
        healthy = {s.lower() for s in (cfg.health.healthy if cfg.health else DEFAULT_HEALTHY)}
        if str(report.get("status", "")).lower() not in healthy:
            return False, f"unhealthy reply: {_reply_text(report)}"
    elif not _registered(report):
        return False, "answering, not registered yet"
    for name, port in cfg.health_port_numbers().items():
        if not _accepts(address, port):
            return False, f"port {name} ({port}) not accepting connections"
    return True, ""
