"""The readiness line a foreground server prints once it serves: one JSON line on stdout.

Test helpers and the launcher read it to learn the real endpoint when port 0 was asked for.
"""

from __future__ import annotations

import json
import sys
from typing import Any

__all__ = ["READY_PREFIX", "announce_ready", "parse_ready"]

READY_PREFIX = "MESH-READY "


def announce_ready(info: dict[str, Any]) -> None:
    sys.stdout.write(READY_PREFIX + json.dumps(info) + "\n")
    sys.stdout.flush()


def parse_ready(line: str) -> dict[str, Any] | None:
    if not line.startswith(READY_PREFIX):
        return None
    return json.loads(line[len(READY_PREFIX):])
