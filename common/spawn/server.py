"""The fork-server process (common.spawn.forkserver is the launcher's handle on it).

Started as ``python -m common.spawn.server FD PRELOAD`` with one end of a socketpair, it
imports ``PRELOAD`` once, then forks one child per ``spawn`` request, in batches held at a gate
until the batch is forked, and reports each child's exit, stop and continue (the protocol:
common.spawn.forkserver).  Single-threaded, no zmq context, ever.  When the launcher's end
closes it stops its children (SIGTERM, then SIGKILL) and exits.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Sequence
from typing import Any

from common.spawn import child
from common.spawn.spec import AgentSpec
from common.spawn.stall import StallWatch

__all__ = ["Server", "main"]

log = logging.getLogger(__name__)

STOP_CHILDREN_S = 5.0


class Server:
    """Runs in the fork-server process: single-threaded, no zmq context, ever."""

    def __init__(self, sock: socket.socket, preload: Sequence[str]) -> None:
        self.sock = sock
        self._out: list[bytes] = []  # this turn's answers and events, sent together
        self.children: set[int] = set()
        self.stall = StallWatch()  # wakes idle agents when their launcher stalls
        self._buffer = b""
        for name in preload:
            try:
                importlib.import_module(name)
            except Exception as exc:  # the agent's own start will report it, with its name
                log.warning("fork server: cannot preload %s: %s", name, exc)
        self._wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the launcher's to handle
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # inherited: an agent ignores the
        # stall watch's wake-up until its loop installs its handler (BaseAgent.run)
        signal.set_wakeup_fd(wake_w)

    def serve(self) -> None:
        while True:
            watched: list[Any] = [self.sock, self._wake_r]
            ready, _, _ = select.select(watched, [], [], self.stall.wait_s())
            self.stall.check()
            if self._wake_r in ready:
                os.read(self._wake_r, 4096)
            if self.sock in ready and not self._handle_input():
                break
            self._reap()
            self._flush()
        self._stop_children()

    def _handle_input(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        spawns = [msg for msg in map(json.loads, filter(None, lines)) if msg.get("op") == "spawn"]
        if spawns:
            self._spawn_batch(spawns)
        return True

    def _spawn_batch(self, msgs: list[dict[str, Any]]) -> None:
        """Fork each; the children wait at a gate (a pipe) until the whole batch is forked.
        Where the kernel runs a new child before its parent (kernel.sched_child_runs_first,
        1 on this machine) each fork otherwise waited out its child's start-up: 12 ms a
        fork at 1,000 agents for 3 ms of work; and anywhere, the children's start-ups
        competed with the forking."""
        gate = os.pipe()
        try:
            for msg in msgs:
                self._spawn(msg, gate)
        finally:
            for fd in gate:
                os.close(fd)

    def _spawn(self, msg: dict[str, Any], gate: tuple[int, int]) -> None:
        try:
            spec = AgentSpec.from_wire(msg["spec"])
            pid = os.fork()
        except (OSError, TypeError) as exc:
            self._send({"op": "spawn_failed", "id": msg["id"], "error": str(exc)})
            return
        if pid == 0:
            child.enter(spec, close_fds=(self.sock.fileno(), self._wake_r), gate=gate)
        self.children.add(pid)
        if spec.stamps and spec.module is not None:
            self.stall.add(pid, spec.stamps, spec.heartbeat_interval_s)
        self._send({"op": "spawned", "id": msg["id"], "pid": pid})

    def _reap(self) -> None:
        """Report each child that exited, stopped or continued (SIGCHLD woke us for each):
        the launcher learns of a stopped agent here, at once, instead of reading /proc."""
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG | os.WUNTRACED | os.WCONTINUED)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if os.WIFSTOPPED(status) or os.WIFCONTINUED(status):
                self._send({"op": "stopped" if os.WIFSTOPPED(status) else "continued",
                            "pid": pid})
                continue
            self.children.discard(pid)
            self.stall.discard(pid)
            self._send({"op": "exited", "pid": pid, "code": os.waitstatus_to_exitcode(status)})

    def _send(self, msg: dict[str, Any]) -> None:
        self._out.append(json.dumps(msg).encode() + b"\n")

    def _flush(self) -> None:
        """One write for the turn: the launcher wakes once for a batch of spawns."""
        data, self._out = b"".join(self._out), []
        if not data:
            return
        try:
            self.sock.sendall(data)
        except OSError:
            pass  # the launcher is gone; serve() sees EOF and stops the children

    def _stop_children(self) -> None:
        for pid in list(self.children):
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_CHILDREN_S
        while self.children and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.02)
        for pid in list(self.children):
            _signal(pid, signal.SIGKILL)
        while self.children:
            self._reap()
            time.sleep(0.01)


def _signal(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # each agent leads its own process group
    except ProcessLookupError:
        pass


def main(argv: list[str]) -> None:
    """``python -m common.spawn.server FD PRELOAD``: run the server on inherited FD."""
    sock = socket.socket(fileno=int(argv[1]))
    Server(sock, [name for name in argv[2].split(",") if name]).serve()


if __name__ == "__main__":
    main(sys.argv)
