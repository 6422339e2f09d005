"""Start mesh processes (registry, agents) for tests and benchmarks, and leave none behind.

Every process is started with ``mesh`` in a new session, its readiness line read with a
deadline, and killed with its whole process group when the tracker closes.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

from common.cli.ready import parse_ready

__all__ = ["MeshProcess", "ProcessTracker"]

READY_TIMEOUT_S = 20.0


@dataclass
class MeshProcess:
    proc: subprocess.Popen
    info: dict[str, Any] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def endpoint(self) -> str:
        return self.info["endpoint"]

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def kill9(self) -> None:
        self.signal(signal.SIGKILL)
        self.proc.wait(5)


def _read_ready(proc: subprocess.Popen, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    lines: list[bytes] = []
    while (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([proc.stdout], [], [], left)
        if not readable:
            break
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"process exited (rc={proc.wait(5)}) before ready: {lines}")
        info = parse_ready(line.decode())
        if info is not None:
            return info
        lines.append(line)
    raise TimeoutError(f"process {proc.pid} not ready within {timeout_s:g} s")


class ProcessTracker:
    """Spawns ``mesh`` subprocesses and guarantees they are gone at ``close()``."""

    def __init__(self, log_dir: str | None = None) -> None:
        self.procs: list[MeshProcess] = []
        self.log_dir = log_dir

    def mesh(self, *args: str, ready: bool = True, timeout_s: float = READY_TIMEOUT_S,
             prefix: tuple[str, ...] = (), cwd: str | None = None) -> MeshProcess:
        """Run ``mesh ARGS`` (after ``prefix``, e.g. ``ip netns exec NS``; in ``cwd``)."""
        argv = [*prefix, sys.executable, "-m", "common.cli.main", *args]
        stderr = self._stderr(args)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, cwd=cwd,
                                start_new_session=True)
        handle = MeshProcess(proc, argv=argv)
        self.procs.append(handle)
        if ready:
            handle.info = _read_ready(proc, timeout_s)
        return handle

    def _stderr(self, args: tuple[str, ...]) -> Any:
        if self.log_dir is None:
            return subprocess.DEVNULL
        path = os.path.join(self.log_dir, f"proc-{len(self.procs)}-{args[0]}.log")
        return open(path, "ab")  # noqa: SIM115 - closed with the process by the OS

    def registry(self, db: str, *, endpoint: str = "tcp://127.0.0.1:0",
                 interval_s: float = 1.0, **kw: Any) -> MeshProcess:
        return self.mesh("registry", "serve", "--endpoint", endpoint, "--db", db,
                         "--heartbeat-interval", str(interval_s), "--log-level", "WARNING", **kw)

    def agent(self, registry: str, name: str, spec: str = "common.testing.agents:EchoAgent",
              *, interval_s: float = 1.0, extra: tuple[str, ...] = ()) -> MeshProcess:
        return self.mesh("agent", "run", spec, "--name", name, "--registry", registry,
                         "--heartbeat-interval", str(interval_s), "--log-level", "WARNING",
                         *extra)

    def close(self, timeout_s: float = 5.0) -> list[int]:
        """Stop everything (SIGTERM, then SIGKILL of the group); returns pids still alive."""
        for handle in self.procs:
            handle.signal(signal.SIGTERM)
            handle.signal(signal.SIGCONT)  # a stopped process acts on SIGTERM only when resumed
        deadline = time.monotonic() + timeout_s
        for handle in self.procs:
            try:
                handle.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(handle.proc.pid, signal.SIGKILL)
                handle.proc.wait(5)
            if handle.proc.stdout is not None:
                handle.proc.stdout.close()
        return [h.pid for h in self.procs if psutil.pid_exists(h.pid)
                and psutil.Process(h.pid).status() != psutil.STATUS_ZOMBIE]
