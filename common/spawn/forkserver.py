"""The fork server: agents start as forks of a process that already imported the heavy modules.
This module is the launcher's handle on it; the process itself is common.spawn.server.

Started as a fresh interpreter (so agents inherit only what they need, not the launcher's CLI,
config schema and zmq context), it imports ``preload`` once, then forks one child per ``spawn``
request and reports every child's exit with its code.  A cold Python interpreter per agent
costs ~100 ms of imports each, which at 77 agents on 2 cores is seconds; a fork costs about a
millisecond.

The launcher talks to it over a socketpair, one JSON object per line:

    launcher -> server  {"op": "spawn", "id": str, "spec": {...}}    (AgentSpec.to_wire())
    server -> launcher  {"op": "spawned", "id": str, "pid": int}
                        {"op": "spawn_failed", "id": str, "error": str}
                        {"op": "exited", "pid": int, "code": int}   (negative: killed by signal)
                        {"op": "stopped" | "continued", "pid": int}  (SIGSTOP/SIGTSTP, SIGCONT)

Spawn requests sent together are forked as one batch and answered in one write.  If the
launcher dies, the socketpair closes; the server then stops every child (SIGTERM, then
SIGKILL) and exits, and each child also has PR_SET_PDEATHSIG, so no agent is orphaned.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any

from common.spawn.server import STOP_CHILDREN_S
from common.spawn.spec import AgentSpec

__all__ = ["ForkServer"]

log = logging.getLogger(__name__)

class ForkServer:
    """The launcher's handle on the fork-server process."""

    def __init__(self, preload: Sequence[str] = (), hide_env: Iterable[str] = ()) -> None:
        self.preload = list(preload)
        self.hide_env = set(hide_env)  # launcher variables no agent inherits (secrets)
        self.pid = 0
        self._proc: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._events: list[dict[str, Any]] = []
        self._next_id = 0
        self._abandoned: set[str] = set()  # spawn ids we stopped waiting for

    def start(self) -> None:
        """Start the server as a fresh interpreter (lean: only ``preload`` is imported, so
        every agent forked from it stays small), connected by a socketpair, with the
        launcher's environment less ``hide_env``."""
        ours, theirs = socket.socketpair()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "common.spawn.server", str(theirs.fileno()),
             ",".join(self.preload)], pass_fds=[theirs.fileno()], start_new_session=True,
            env={k: v for k, v in os.environ.items() if k not in self.hide_env})
        theirs.close()
        self.pid, self._sock = self._proc.pid, ours

    def fileno(self) -> int:
        assert self._sock is not None
        return self._sock.fileno()

    def spawn(self, spec: AgentSpec, timeout_s: float = 5.0) -> int:
        """Fork an agent from spec; returns its pid.  Exit events read meanwhile are kept."""
        result = self.spawn_many([spec], timeout_s)[0]
        if isinstance(result, Exception):
            raise result
        return result

    def spawn_many(self, specs: Sequence[AgentSpec],
                   timeout_s: float = 5.0) -> list[int | Exception]:
        """Fork an agent from each spec, the requests in one write and the answers read
        together: on a busy machine each wake-up of this process or of the server waits its
        turn for a core, and a batch pays that once, not once per agent.  Each result is
        the pid, or the error spawn() would raise for that spec."""
        rids = []
        for _ in specs:
            self._next_id += 1
            rids.append(str(self._next_id))
        self._send_lines([{"op": "spawn", "id": rid, "spec": spec.to_wire()}
                          for rid, spec in zip(rids, specs, strict=True)])
        answers: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout_s
        while len(answers) < len(rids) and time.monotonic() < deadline:
            for msg in self._unabandoned(self._read(deadline - time.monotonic())):
                if msg.get("id") in rids:
                    answers[msg["id"]] = msg
                else:  # read with the answers: kept, never dropped
                    self._events.append(msg)
        return [self._result(spec, rid, answers.get(rid), timeout_s)
                for rid, spec in zip(rids, specs, strict=True)]

    def _result(self, spec: AgentSpec, rid: str, answer: dict[str, Any] | None,
                timeout_s: float) -> int | Exception:
        if answer is None:
            self._abandoned.add(rid)
            return TimeoutError(f"fork server did not answer spawn of {spec.name} "
                                f"within {timeout_s:g} s")
        if answer["op"] == "spawned":
            return int(answer["pid"])
        return RuntimeError(f"cannot start {spec.name}: {answer.get('error')}")

    def events(self) -> list[dict[str, Any]]:
        """Exit, stop and continue events received so far (non-blocking)."""
        out, self._events = self._events + self._unabandoned(self._read(0)), []
        return out

    def _unabandoned(self, msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """msgs less the late answers to spawns that timed out: such a child was given up
        for failed (and is restarted), so it is killed here rather than left to run
        unsupervised on the agent's port."""
        out = []
        for msg in msgs:
            if msg.get("id") not in self._abandoned:
                out.append(msg)
                continue
            self._abandoned.discard(msg["id"])
            if msg.get("op") == "spawned":
                log.warning("killing pid %s: its spawn was answered after the launcher gave "
                            "up on it", msg["pid"])
                try:
                    os.kill(int(msg["pid"]), signal.SIGKILL)  # not a group: it may not lead one yet
                except ProcessLookupError:
                    pass
        return out

    def close(self, timeout_s: float = STOP_CHILDREN_S + 1) -> None:
        if self._sock is None:
            return
        self._sock.close()  # EOF: the server stops its remaining children and exits
        self._sock = None
        assert self._proc is not None
        try:
            self._proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)

    def _send_lines(self, msgs: list[dict[str, Any]]) -> None:
        assert self._sock is not None, "fork server not started"
        self._sock.sendall(b"".join(json.dumps(msg).encode() + b"\n" for msg in msgs))

    def _read(self, timeout_s: float) -> list[dict[str, Any]]:
        assert self._sock is not None
        ready, _, _ = select.select([self._sock], [], [], max(0.0, timeout_s))
        if not ready:
            return []
        data = self._sock.recv(65536)
        if not data:
            raise RuntimeError("fork server exited")
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        return [json.loads(line) for line in lines if line]
