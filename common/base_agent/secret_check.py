"""The ``secrets`` health check: which of its declared secrets an agent holds, by name only.

The launcher delivers each secret as an environment variable of the agent's process and tells
the agent which names it declared (``{NAME: optional}``).  The check reports ``NAME: set`` or
``NAME: not set (optional: feature off)``; a value never leaves the process.  A required secret
that is missing is critical (the launcher refuses to start such an agent, so this means the
process was started some other way).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from common.base_agent.health import CheckResult, Status

__all__ = ["SecretsCheck"]


class SecretsCheck:
    name = "secrets"

    def __init__(self, declared: Mapping[str, bool],
                 environ: Mapping[str, str] | None = None) -> None:
        self.declared = dict(declared)  # name -> optional
        self.environ = os.environ if environ is None else environ

    def check(self) -> CheckResult:
        parts, status = [], Status.PASSING
        for name, optional in sorted(self.declared.items()):
            if self.environ.get(name):
                parts.append(f"{name}: set")
            elif optional:
                parts.append(f"{name}: not set (optional: feature off)")
            else:
                parts.append(f"{name}: missing")
                status = Status.CRITICAL
        return CheckResult(self.name, status, "; ".join(parts))
