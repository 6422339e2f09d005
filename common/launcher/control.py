"""What the operator's tools on either host ask a launcher beyond status/restart/down.

Nothing is shared between the hosts but the network, so an agent's log is read by the
launcher of its host and sent back in bounded pieces:

    logs {name, instance?, lines?}                 -> {name, host, path, text, offset, file_id}
        the last ``lines`` lines (default 50) of the agent's log, at most MAX_LOG_BYTES;
        ``offset`` and ``file_id`` say where the file ends now, for a follow.
    logs {name, instance?, offset, file_id}        -> the same, ``text`` what came after offset
        at most MAX_LOG_BYTES, whole lines; the rest of the rotated file first when the log
        was rotated since (``file_id`` names the file read), then the new file from its start.

``pid_space`` tells a tool whether a launcher's pid means a process it can see itself.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.base_agent.errors import BadRequest, MeshError
from common.base_agent.handlers import handler, require
from common.base_agent.protocol import ErrorCode
from common.config.fields import AGENT_NAME_PATTERN

if TYPE_CHECKING:
    from common.launcher.plan import HostPlan

__all__ = ["DEFAULT_LINES", "MAX_LOG_BYTES", "LogControl", "pid_space", "read_log"]

MAX_LOG_BYTES = 64 * 1024  # one reply's text, well under the protocol's message limit
DEFAULT_LINES = 50
MAX_LINES = 10_000
_LABEL = re.compile(AGENT_NAME_PATTERN)


def pid_space() -> str:
    """This process's kernel (boot id) and pid namespace: two processes that report the same
    can see each other's pids."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{boot}/{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return ""


def _file_id(path: Path) -> str:
    st = path.stat()
    return f"{st.st_dev}:{st.st_ino}"


def _read(path: Path, start: int, size: int) -> bytes:
    with path.open("rb") as handle:
        handle.seek(start)
        return handle.read(size)


def _tail(path: Path, lines: int) -> dict[str, Any]:
    size = path.stat().st_size
    start = max(0, size - MAX_LOG_BYTES)
    data = _read(path, start, size - start)
    if start:  # the first line is cut: drop it
        data = data.partition(b"\n")[2]
    keep = lines + 1 if data.endswith(b"\n") else lines  # split leaves "" after a last \n
    text = b"\n".join(data.split(b"\n")[-keep:]) if lines else b""
    return {"text": text.decode(errors="replace"), "offset": size, "file_id": _file_id(path)}


def _after(path: Path, offset: int, file_id: str) -> dict[str, Any]:
    rotated = Path(f"{path}.1")
    if file_id and file_id != _file_id(path) and rotated.exists() \
            and _file_id(rotated) == file_id and offset < rotated.stat().st_size:
        path = rotated  # rotated since the last read: its rest first
    elif file_id != _file_id(path) or offset > path.stat().st_size:
        offset = 0  # a new file (rotated, or truncated): from its start
    data = _read(path, offset, MAX_LOG_BYTES)
    if len(data) < MAX_LOG_BYTES and b"\n" in data:  # whole lines; the rest comes next time
        data = data[:data.rindex(b"\n") + 1]
    elif len(data) < MAX_LOG_BYTES:
        data = b""
    return {"text": data.decode(errors="replace"), "offset": offset + len(data),
            "file_id": _file_id(path)}


def read_log(path: Path, payload: dict[str, Any]) -> dict[str, Any]:
    """A ``logs`` reply for the file at path (see the module docstring)."""
    if not path.exists():
        raise MeshError(f"no log at {path}", ErrorCode.NOT_FOUND)
    offset = require(payload, "offset", int, None)
    if offset is None:
        lines = require(payload, "lines", int, DEFAULT_LINES)
        if not 0 <= lines <= MAX_LINES:
            raise BadRequest(f"payload.lines must be 0..{MAX_LINES}, got {lines}")
        return _tail(path, lines)
    if offset < 0:
        raise BadRequest(f"payload.offset must be >= 0, got {offset}")
    return _after(path, offset, require(payload, "file_id", str, ""))


class LogControl:
    """The launcher's ``logs`` action (mixed into common.launcher.agent.Launcher)."""

    plan: HostPlan

    @handler("logs")
    def logs(self, payload: Any) -> dict[str, Any]:
        """Request ``logs {name, instance?, lines? | offset, file_id}``; reply ``{name, host,
        path, text, offset, file_id}`` (common.launcher.control)."""
        name = require(payload, "name", str)
        instance = require(payload, "instance", str, "")
        for field, value in (("name", name), ("instance", instance)):
            if value and not _LABEL.match(value):  # a file name under the log dir, no path
                raise BadRequest(f"payload.{field} {value!r} is not an agent or instance name")
        path = Path(self.plan.log_path(f"{name}.{instance}" if instance else name))
        return {"name": name, "host": self.plan.host, "path": str(path),
                **read_log(path, payload)}
