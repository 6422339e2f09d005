"""What a forked agent process does before it runs the agent described by its
`common.spawn.spec.AgentSpec` (sent over the fork server's socketpair, never argv).

The child leads its own process group (so a stop reaches anything it starts), dies with the
fork server (PR_SET_PDEATHSIG), names itself after the agent (``ps -o comm``), sends its stdout
and stderr to its own rotating log file, then runs the agent and exits with its status.
"""

from __future__ import annotations

import ctypes
import logging
import logging.handlers
import os
import signal
import sys
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

from common.spawn.spec import AgentSpec

__all__ = ["AgentLogHandler", "enter", "script_environment"]

PR_SET_NAME = 15
PR_SET_PDEATHSIG = 1


class AgentLogHandler(logging.handlers.RotatingFileHandler):
    """Size-rotated log of one agent process; fds 1 and 2 follow the file across rotations,
    so tracebacks and prints land in the current file too.  One writer per file."""

    def __init__(self, path: str, max_bytes: int, backups: int) -> None:
        super().__init__(path, maxBytes=max_bytes, backupCount=backups)
        self._follow()

    def doRollover(self) -> None:  # noqa: N802 - the stdlib's name
        super().doRollover()
        self._follow()

    def _follow(self) -> None:
        if self.stream is not None:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(self.stream.fileno(), 1)
            os.dup2(self.stream.fileno(), 2)


def _prctl(option: int, arg: Any) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, arg, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: best effort


def _detach(name: str, close_fds: Iterable[int]) -> None:
    os.setsid()
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    _prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]))
    for fd in close_fds:
        os.close(fd)
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def _setup_logging(spec: AgentSpec) -> None:
    from common.base_agent.logs import LOG_FORMAT, install_agent_field

    os.makedirs(os.path.dirname(spec.log_path) or ".", exist_ok=True)
    handler = AgentLogHandler(spec.log_path, spec.log_max_bytes, spec.log_backups)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    install_agent_field()
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(spec.log_level.upper())
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)


def _run_agent(spec: AgentSpec) -> int:
    from common.base_agent.loader import load_agent_class

    if spec.module is None:
        raise ValueError(f"{spec.name}: the spec names neither a module nor a script")
    cls = load_agent_class(spec.module)
    links = []
    if spec.hub_endpoints:
        from common.hub.link import hub_link

        links.append(hub_link(list(spec.hub_endpoints)))
    agent = cls(spec.name, spec.endpoint, registry=spec.registry, host=spec.host,
                settings=spec.settings, heartbeat_interval_s=spec.heartbeat_interval_s,
                ports=dict(spec.ports), links=links)
    if spec.stamps:
        from common.base_agent.stamp import LivenessStamp

        agent.stamp = LivenessStamp(spec.stamps, spec.stamp_slot,
                                    stale_s=spec.heartbeat_interval_s / 2)
    if spec.secrets:
        from common.base_agent.secret_check import SecretsCheck

        agent.add_check(SecretsCheck(dict(spec.secrets)))
    agent.run()
    return 0


def script_environment(spec: AgentSpec, inherited: Mapping[str, str]) -> dict[str, str]:
    """A legacy script's environment: the launcher's without its Python settings
    (``PYTHONPATH`` and the rest: the mesh's import path is not the script's), then the
    agent's own env (which may set ``PYTHONPATH`` for the script)."""
    env = {k: v for k, v in inherited.items() if not k.startswith("PYTHON")}
    env.update(spec.env)
    return env


def _exec_script(spec: AgentSpec, script: str) -> NoReturn:
    """Become the legacy script: its interpreter, its argv, its environment."""
    python = spec.python or sys.executable
    signal.signal(signal.SIGUSR1, signal.SIG_DFL)  # the fork server's SIG_IGN is not theirs
    os.execve(python, [python, script, *spec.args],
              script_environment(spec, os.environ))


def _pass_gate(gate: tuple[int, int] | None) -> None:
    """Wait until the fork server closed the gate's write end: its whole batch is forked."""
    if gate is None:
        return
    gate_r, gate_w = gate
    os.close(gate_w)  # our copy: the end of file comes once the server closes its own
    while os.read(gate_r, 1):
        pass
    os.close(gate_r)


def enter(spec: AgentSpec, close_fds: Iterable[int] = (),
          gate: tuple[int, int] | None = None) -> NoReturn:
    """Become the agent described by spec, once the gate (a pipe) opens; never returns."""
    code = 1
    try:
        parent = os.getppid()
        _pass_gate(gate)
        _detach(spec.name, close_fds)
        if os.getppid() != parent:  # the fork server died before PR_SET_PDEATHSIG was set:
            raise SystemExit(1)  # no agent runs on without it
        if spec.cwd:
            os.chdir(spec.cwd)
        _setup_logging(spec)
        if spec.script_path:
            _exec_script(spec, spec.script_path)
        os.environ.update(spec.env)
        code = _run_agent(spec)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        logging.getLogger(__name__).exception("agent %s failed", spec.name)
    finally:
        logging.shutdown()
        os._exit(code)
